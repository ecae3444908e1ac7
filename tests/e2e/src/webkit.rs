//! WebKitGTK through its own WebDriver (`WebKitWebDriver`), on an X
//! display of its own: Debian's MiniBrowser has no headless mode.
//!
//! wasm-bindgen-test-runner sends empty capabilities to a Safari-type
//! driver, so it cannot turn on WebKit's media settings; the sessions here
//! carry them in `webkitgtk:browserOptions`.

use std::{
    os::unix::process::CommandExt,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::json;

use crate::{free_port, webdriver::wait_until_ready, Browser};

/// MiniBrowser, as `libwebkit2gtk-4.1-0` ships it.
pub const MINIBROWSER: &str = "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser";

/// MiniBrowser's settings and features that the tests need: media
/// streams with mock capture devices (a 640x480 camera at 30 fps, no
/// prompt), WebRTC (which Debian's build lacks whatever the settings), the
/// standard `MediaStreamTrackProcessor` and `VideoTrackGenerator` in
/// workers, and WebGL in workers.
pub const MEDIA_ARGS: [&str; 4] = [
    "--enable-mock-capture-devices=true",
    "--enable-media-stream=true",
    "--enable-webrtc=true",
    "--features=+MediaStreamTrackProcessing,+MockCaptureDevices,+AllowWebGLInWorkers",
];

/// An Xvfb display on a free number; stopped (and its lock removed) on
/// drop.
struct Display {
    child: Child,
    number: u32,
}

impl Display {
    fn start() -> Self {
        for number in 90..190 {
            let socket = format!("/tmp/.X11-unix/X{number}");
            let lock = format!("/tmp/.X{number}-lock");
            if Path::new(&socket).exists() || Path::new(&lock).exists() {
                continue;
            }
            let mut child = Command::new("Xvfb")
                .arg(format!(":{number}"))
                .args(["-screen", "0", "1280x1024x24", "-nolisten", "tcp"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start Xvfb (cargo xtask setup installs the xvfb package)");
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if Path::new(&socket).exists() {
                    return Self { child, number };
                }
                if child.try_wait().ok().flatten().is_some() {
                    // Another server took the number meanwhile.
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("no free X display number in :90-:189 for Xvfb");
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        // TERM, not KILL: Xvfb removes its lock and socket on the way out.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `WebKitWebDriver` on a free loopback port, with an Xvfb display for the
/// browsers it starts.
pub struct WebKitDriver {
    child: Child,
    url: String,
    stderr: std::path::PathBuf,
    _display: Display,
}

impl WebKitDriver {
    /// Starts the driver with WebKit's default JavaScriptCore options:
    /// wasm SIMD, no relaxed SIMD (as in Safari).
    pub fn start() -> Self {
        Self::start_with_env(&[])
    }

    /// Starts the driver with extra environment variables, which the page
    /// processes inherit: JavaScriptCore's switches, such as
    /// `JSC_useWasmRelaxedSIMD=1`.
    pub fn start_with_env(env: &[(&str, &str)]) -> Self {
        let display = Display::start();
        let port = free_port();
        let stderr = std::env::temp_dir().join(format!(
            "peerlens-webkitdriver-{}-{port}.log",
            std::process::id()
        ));
        let log = std::fs::File::create(&stderr).expect("a log file for WebKitWebDriver");
        let child = Command::new("/usr/bin/WebKitWebDriver")
            .arg(format!("--port={port}"))
            .arg("--host=127.0.0.1")
            .env("DISPLAY", format!(":{}", display.number))
            .envs(env.iter().copied())
            // A process group of its own, with the browsers it starts:
            // dropping the driver ends them all.
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect(
                "start /usr/bin/WebKitWebDriver (cargo xtask setup installs webkit2gtk-driver)",
            );
        let url = format!("http://127.0.0.1:{port}");
        let driver = Self {
            child,
            url,
            stderr,
            _display: display,
        };
        wait_until_ready("WebKitWebDriver", &driver.url);
        driver
    }

    /// Opens MiniBrowser with the media settings of [`MEDIA_ARGS`].
    pub fn browser(&self) -> Browser {
        self.browser_with(&MEDIA_ARGS)
    }

    /// Opens MiniBrowser with exactly `args` (after `--automation`).
    pub fn browser_with(&self, args: &[&str]) -> Browser {
        let mut all = vec!["--automation"];
        all.extend_from_slice(args);
        let caps = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "MiniBrowser",
                "webkitgtk:browserOptions": { "binary": MINIBROWSER, "args": all },
                "timeouts": { "pageLoad": 30000, "script": 30000 },
            }}
        });
        // A MiniBrowser that exits at once (no display, an argument it does
        // not know) leaves the new-session request hanging until the
        // client's timeout: the driver's log says why.
        let url = self.url.clone();
        let stderr = self.stderr.clone();
        std::panic::catch_unwind(move || Browser::open(&url, &caps, None)).unwrap_or_else(|_| {
            panic!(
                "no WebKit session; WebKitWebDriver's log:\n{}",
                std::fs::read_to_string(&stderr).unwrap_or_default()
            )
        })
    }
}

impl Drop for WebKitDriver {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.stderr);
    }
}
