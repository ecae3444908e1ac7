//! `cargo xtask demo`: builds the demo page and serves it, with the
//! signaling WebSocket, from the reference server.

use std::process::Command;

use crate::{
    cmd::{run as run_cmd, Result},
    root, setup,
};

/// Builds www/ into www/dist with trunk, in release mode and offline (the
/// installed wasm-bindgen-cli matches Cargo.lock, so trunk needs no
/// download).
pub fn build_www() -> Result<()> {
    println!("\n== building the demo (www/) with trunk");
    run_cmd(
        Command::new("trunk")
            .args(["build", "--release", "--offline"])
            .current_dir(root().join("www")),
    )
}

pub fn run(args: &[String]) -> Result<()> {
    let mut host = "127.0.0.1".to_owned();
    let mut port = "8080".to_owned();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let value = rest.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--host" => host = value?.clone(),
            "--port" => port = value?.clone(),
            other => {
                return Err(format!(
                    "unknown option {other:?} (expected --host or --port)"
                ))
            }
        }
    }
    port.parse::<u16>()
        .map_err(|_| format!("--port must be a port number, not {port:?}"))?;
    setup::run()?;
    build_www()?;
    let shown = if host == "0.0.0.0" {
        "127.0.0.1"
    } else {
        host.as_str()
    };
    println!("\n== starting the server; open http://{shown}:{port}/ (Ctrl-C stops)");
    // Ctrl-C reaches the whole foreground process group: the server shuts
    // down gracefully and this process exits with it.
    run_cmd(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["run", "--quiet", "-p", "peerlens-server", "--"])
            .args(["--host", &host, "--port", &port, "--static-dir", "www/dist"])
            .current_dir(root()),
    )
}
