//! The end-to-end harness: a reference server on loopback, Debian's
//! chromedriver, and a small W3C WebDriver client to drive headless
//! Chromium through the demo.
//!
//! Everything binds to 127.0.0.1, every wait has a deadline, and every
//! process and session is torn down in `Drop`, also when a test fails.
#![forbid(unsafe_code)]

mod chaos;
mod external;
mod server;
mod webdriver;

pub use chaos::{ChaosServer, MALFORMED};
pub use external::{cache_dir, ExternalServer};
pub use server::TestServer;
pub use webdriver::{Browser, Chromedriver, LogEntry};

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
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

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}
