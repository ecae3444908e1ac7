//! `cargo xtask`: the project's own automation, so that a fresh machine
//! needs only Rust and this repository.
//!
//! - `setup` installs whatever the build and the tests need and is missing;
//! - `demo` builds the demo page and serves it with the reference server;
//! - `test` runs every check and test and ends with `N passed, N failed`;
//! - `bench` runs a benchmark and prints its table;
//! - `pack` builds the npm package into `pkg/` with wasm-pack.

mod bench;
mod cmd;
mod demo;
mod pack;
mod setup;
mod size;
mod test;
mod vision;

use std::{path::PathBuf, process::ExitCode};

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  setup                 install the missing tools (wasm target, wasm-bindgen-cli,
                        trunk, geckodriver, chromium, chromedriver, firefox-esr)
  demo [--host H] [--port P]
                        setup, build www/ with trunk (release), serve it with the
                        reference server (default 127.0.0.1:8080); Ctrl-C stops
  test                  setup, then fmt, clippy (native + wasm32), native tests,
                        browser tests (Chromium + Firefox), end-to-end tests
  pack                  setup, build the npm package into pkg/: the main module
                        (wasm-pack, --target web), the vision module's two
                        builds, the effects worker and the loader
  bench vision|rtc|server|effects|media-server|size
                        run a benchmark (in headless Chromium, or on the npm
                        package's files for `size`); prints a table
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // The test harness and the benchmarks find the checkout through this
    // (see `peerlens_e2e::root`).
    std::env::set_var("PEERLENS_ROOT", root());
    let result = match args.first().map(String::as_str) {
        Some("setup") => setup::run(),
        Some("demo") => demo::run(&args[1..]),
        Some("test") => test::run(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("pack") => pack::run(&args[1..]),
        Some("-h" | "--help" | "help") => {
            print!("{USAGE}");
            Ok(())
        }
        _ => {
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: the parent of this crate's directory.
pub fn root() -> PathBuf {
    // `cargo run` also sets CARGO_MANIFEST_DIR in the process's
    // environment. Prefer it: cargo reuses a built xtask in another checkout
    // that shares the target directory (CI's cache), and the path compiled
    // in is then that other checkout's.
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .filter(|dir| dir.join("src/main.rs").exists())
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// The cargo target directory, honouring `CARGO_TARGET_DIR`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => root().join("target"),
    }
}
