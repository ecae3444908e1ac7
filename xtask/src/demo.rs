//! `cargo xtask demo`: builds the demo page and serves it, with the
//! signaling WebSocket, from the reference server; starts the media
//! services its Echo, Playback and Relay pages use (Janus, ffmpeg and the
//! relay, on 127.0.0.1) and tells the page where they are.

use std::process::{Command, Stdio};

use crate::{
    cmd::{run as run_cmd, Result},
    root, setup,
};

/// Builds www/ into www/dist with trunk, in release mode and offline (the
/// installed wasm-bindgen-cli matches Cargo.lock, so trunk needs no
/// download), and puts the vision module's release builds next to it,
/// where the page's loader looks for them.
pub fn build_www() -> Result<()> {
    let vision = root().join("target/vision-web/release");
    crate::vision::build(true, &vision)?;
    println!("\n== building the demo (www/) with trunk");
    run_cmd(
        Command::new("trunk")
            .args(["build", "--release", "--offline"])
            .current_dir(root().join("www")),
    )?;
    crate::vision::copy(&vision, &root().join("www/dist"))
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
    let services = start_services()?;
    let shown = if host == "0.0.0.0" {
        "127.0.0.1"
    } else {
        host.as_str()
    };
    println!("\n== starting the server; open http://{shown}:{port}/ (Ctrl-C stops)");
    // Ctrl-C reaches the whole foreground process group: the server shuts
    // down gracefully and this process exits with it.
    let served = run_cmd(
        Command::new(cargo())
            .args(["run", "--quiet", "-p", "peerlens-server", "--"])
            .args(["--host", &host, "--port", &port, "--static-dir", "www/dist"])
            .current_dir(root()),
    );
    stop_services(services);
    served
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// Where the services binary writes where the services listen; the page
/// fetches it.
fn services_file() -> std::path::PathBuf {
    root().join("www/dist/services.json")
}

/// Starts the media services (tests/e2e/src/bin/services.rs) and waits
/// until they have written `www/dist/services.json`. Their standard input
/// is a pipe: when this process ends, they end too.
fn start_services() -> Result<std::process::Child> {
    println!("\n== starting the media services: Janus, ffmpeg and the relay (127.0.0.1)");
    let file = services_file();
    let _ = std::fs::remove_file(&file);
    let mut child = Command::new(cargo())
        .args([
            "run",
            "--quiet",
            "-p",
            "peerlens-e2e",
            "--bin",
            "services",
            "--",
        ])
        .arg(&file)
        .stdin(Stdio::piped())
        .current_dir(root())
        .spawn()
        .map_err(|e| format!("cannot start the media services: {e}"))?;
    // Building the binary the first time takes a while.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(900);
    while !file.is_file() {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("the media services exited early ({status})"));
        }
        if std::time::Instant::now() > deadline {
            stop_services(child);
            return Err("the media services did not start within 15 minutes".into());
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    Ok(child)
}

fn stop_services(mut child: std::process::Child) {
    drop(child.stdin.take());
    let _ = child.wait();
    let _ = std::fs::remove_file(services_file());
}
