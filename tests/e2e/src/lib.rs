//! The end-to-end harness: a reference server on loopback, Debian's
//! chromedriver, and a small W3C WebDriver client to drive headless
//! Chromium through the demo.
//!
//! Everything binds to 127.0.0.1, every wait has a deadline, and every
//! process and session is torn down in `Drop`, also when a test fails.
#![forbid(unsafe_code)]

mod chaos;
pub mod demo_page;
mod external;
mod janus;
mod logged_site;
mod server;
mod webdriver;
mod webkit;

pub use chaos::{ChaosServer, MALFORMED};
pub use external::{cache_dir, ExternalServer};
pub use janus::{free_udp_port, Janus, RtpFeed, MOUNTPOINT};
pub use logged_site::LoggedSite;
pub use server::TestServer;
pub use webdriver::{Browser, Chromedriver, LogEntry, Screenshot};
pub use webkit::{WebKitDriver, MEDIA_ARGS, MINIBROWSER};

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

/// The workspace root: the one `cargo xtask` runs in, else the one cargo
/// runs this crate's tests in. The path compiled in comes last, because
/// cargo reuses built test binaries across checkouts that share a target
/// directory.
pub fn root() -> PathBuf {
    if let Some(dir) = std::env::var_os("PEERLENS_ROOT") {
        return PathBuf::from(dir);
    }
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .filter(|dir| dir.ends_with("tests/e2e"))
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .join("../..")
}

/// Chromium flags that keep a window at full speed while it is in the
/// background: otherwise Chromium slows a background page's canvas
/// capture (a processed video) to about a frame a second.
pub const UNTHROTTLED: [&str; 3] = [
    "--disable-renderer-backgrounding",
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
];

/// The Chromium flag that makes the fake camera play the face video
/// `cargo xtask setup` makes from the astronaut photo.
pub fn face_video_flag() -> String {
    format!(
        "--use-file-for-fake-video-capture={}",
        cache_dir().join("fixtures/face-640x480.y4m").display()
    )
}

/// Polls `check` every 100 ms until it returns `Some`, for at most
/// `timeout`; panics with `what` on timeout.
pub fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The built demo (`www/dist`), which `cargo xtask test` builds with trunk
/// before the end-to-end tests.
pub fn demo_dist() -> PathBuf {
    let dist = root().join("www/dist");
    assert!(
        dist.join("index.html").is_file(),
        "www/dist is not built; `cargo xtask test` builds it with trunk first"
    );
    dist
}

/// `target/<name>`, built by `cargo xtask test` before the end-to-end tests;
/// panics naming `file` when it is missing.
fn built(name: &str, file: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    let dir = target.join(name);
    assert!(
        dir.join(file).is_file(),
        "{} is not built; `cargo xtask test` builds it first",
        dir.display()
    );
    dir
}

/// The Vite app of tests/npm/app built against the npm package, with the
/// models (`target/npm-app`).
pub fn npm_app() -> PathBuf {
    built("npm-app", "index.html")
}

/// The media-server test site (`target/e2e-site`): tests/pages, the
/// library built with wasm-bindgen into `pkg/`, and the models. `cargo
/// xtask test` builds it before the end-to-end tests.
pub fn test_site() -> PathBuf {
    built("e2e-site", "pkg/peerlens.js")
}

/// A self-signed certificate for `127.0.0.1` and `localhost`, made with the
/// openssl command in a fresh temporary directory: (cert.pem, key.pem).
pub fn self_signed_cert() -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "peerlens-tls-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let status = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run openssl (cargo xtask setup installs it)");
    assert!(status.success(), "openssl could not make a certificate");
    (cert, key)
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}
