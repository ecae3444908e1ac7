//! A minimal W3C WebDriver client for chromedriver: just the commands the
//! end-to-end tests use, with a deadline on every request.

use std::{
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use base64::Engine as _;
use serde_json::{json, Value};

use crate::{free_port, wait_for};

/// Debian's chromedriver, listening on a free loopback port.
pub struct Chromedriver {
    child: Child,
    url: String,
}

impl Chromedriver {
    /// Starts chromedriver and waits until it reports ready.
    pub fn start() -> Self {
        let port = free_port();
        let child = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            // A process group of its own, which the browsers it starts
            // join: dropping the driver ends them all.
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start /usr/bin/chromedriver (cargo xtask setup installs it)");
        let url = format!("http://127.0.0.1:{port}");
        let driver = Self { child, url };
        wait_until_ready("chromedriver", &driver.url);
        driver
    }

    /// Opens headless Chromium with the fake camera and microphone.
    pub fn browser(&self) -> Browser {
        self.browser_with(&[], &[])
    }

    /// Opens headless Chromium with the usual flags, minus `remove`, plus
    /// `add`: to deny permissions or take the fake camera away.
    pub fn browser_with(&self, add: &[&str], remove: &[&str]) -> Browser {
        let profile = std::env::temp_dir().join(format!(
            "peerlens-e2e-{}-{}",
            std::process::id(),
            free_port()
        ));
        let mut args: Vec<String> = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
            "--autoplay-policy=no-user-gesture-required",
        ]
        .iter()
        .filter(|flag| !remove.contains(flag))
        .map(|flag| flag.to_string())
        .collect();
        args.extend(add.iter().map(|flag| flag.to_string()));
        args.push(format!("--user-data-dir={}", profile.display()));
        let caps = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": "/usr/bin/chromium",
                    "args": args,
                },
                "goog:loggingPrefs": { "browser": "ALL" },
                "timeouts": { "pageLoad": 30000, "script": 30000 },
            }}
        });
        Browser::open(&self.url, &caps, Some(profile))
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // The whole group: a browser whose session did not end cleanly
        // (chromedriver's quit can fail on a busy page) would otherwise
        // outlive the test, keep its camera and WebRTC running, and slow
        // every later test and benchmark.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits up to 20 s for the WebDriver server at `url` to say it is ready.
pub(crate) fn wait_until_ready(what: &str, url: &str) {
    wait_for(&format!("{what} to start"), Duration::from_secs(20), || {
        let status: Value = agent()
            .get(&format!("{url}/status"))
            .call()
            .ok()?
            .into_json()
            .ok()?;
        status["value"]["ready"].as_bool().filter(|ready| *ready)
    });
}

pub(crate) fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(60))
        .build()
}

pub(crate) fn post(url: &str, body: &Value) -> Result<Value, String> {
    match agent().post(url).send_json(body) {
        Ok(response) => response.into_json().map_err(|e| e.to_string()),
        Err(ureq::Error::Status(code, response)) => Err(format!(
            "HTTP {code}: {}",
            response.into_string().unwrap_or_default()
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// A decoded screenshot: RGBA pixels.
pub struct Screenshot {
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
}

impl Screenshot {
    fn decode(png_bytes: &[u8]) -> Self {
        let mut decoder = png::Decoder::new(png_bytes);
        decoder.set_transformations(png::Transformations::normalize_to_color8());
        let mut reader = decoder.read_info().expect("a PNG screenshot");
        let mut buffer = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buffer).expect("PNG pixels");
        let channels = info.color_type.samples();
        let rgba = buffer[..info.buffer_size()]
            .chunks_exact(channels)
            .flat_map(|p| match channels {
                4 => [p[0], p[1], p[2], p[3]],
                3 => [p[0], p[1], p[2], 255],
                _ => [p[0], p[0], p[0], 255],
            })
            .collect();
        Screenshot {
            width: info.width,
            height: info.height,
            rgba,
        }
    }

    /// How many distinct colours the pixels have: a blank or one-colour
    /// page has one or two.
    pub fn distinct_colours(&self) -> usize {
        let mut seen = std::collections::HashSet::new();
        for p in self.rgba.chunks_exact(4) {
            seen.insert([p[0], p[1], p[2]]);
        }
        seen.len()
    }

    /// The standard deviation of the luma over the whole image.
    pub fn luma_std(&self) -> f64 {
        let luma: Vec<f64> = self
            .rgba
            .chunks_exact(4)
            .map(|p| 0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]))
            .collect();
        let mean = luma.iter().sum::<f64>() / luma.len().max(1) as f64;
        (luma.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / luma.len().max(1) as f64).sqrt()
    }
}

/// One browser console message.
#[derive(Debug, Clone)]
pub struct LogEntry {
    /// `SEVERE`, `WARNING`, `INFO`, ...
    pub level: String,
    /// The message, with its source.
    pub message: String,
}

/// A WebDriver session: one headless Chromium, or one WebKit under Xvfb
/// ([`crate::WebKitDriver`]).
pub struct Browser {
    session: String,
    /// The profile directory to remove when the session ends.
    profile: Option<PathBuf>,
}

impl Browser {
    /// Starts a session on the driver at `driver_url` with `caps`.
    pub(crate) fn open(driver_url: &str, caps: &Value, profile: Option<PathBuf>) -> Self {
        let response =
            post(&format!("{driver_url}/session"), caps).expect("a new WebDriver session");
        let id = response["value"]["sessionId"]
            .as_str()
            .expect("sessionId in the new-session response")
            .to_owned();
        Browser {
            session: format!("{driver_url}/session/{id}"),
            profile,
        }
    }

    /// Loads `url` and waits for the page's load event.
    pub fn goto(&self, url: &str) {
        post(&format!("{}/url", self.session), &json!({ "url": url }))
            .unwrap_or_else(|e| panic!("navigate to {url}: {e}"));
    }

    /// Runs `script` as a function body in the page and returns its value.
    pub fn execute(&self, script: &str) -> Value {
        let response = post(
            &format!("{}/execute/sync", self.session),
            &json!({ "script": script, "args": [] }),
        )
        .unwrap_or_else(|e| panic!("execute {script:?}: {e}"));
        response["value"].clone()
    }

    /// Runs `script` as an async function body: it calls its last argument
    /// with the result.
    pub fn execute_async(&self, script: &str) -> Value {
        let response = post(
            &format!("{}/execute/async", self.session),
            &json!({ "script": script, "args": [] }),
        )
        .unwrap_or_else(|e| panic!("execute_async {script:?}: {e}"));
        response["value"].clone()
    }

    /// The WebDriver id of the first element matching `css`.
    fn element(&self, css: &str) -> String {
        let response = post(
            &format!("{}/element", self.session),
            &json!({ "using": "css selector", "value": css }),
        )
        .unwrap_or_else(|e| panic!("find {css:?}: {e}"));
        response["value"]
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element id for {css:?}: {response}"))
            .to_owned()
    }

    /// Emulates a phone's screen (`width` x `height` CSS pixels, touch-less),
    /// through chromedriver's DevTools endpoint: headless windows cannot
    /// be made narrower than 500 px.
    pub fn emulate_screen(&self, width: u32, height: u32) {
        post(
            &format!("{}/goog/cdp/execute", self.session),
            &json!({
                "cmd": "Emulation.setDeviceMetricsOverride",
                "params": { "width": width, "height": height, "deviceScaleFactor": 3, "mobile": true },
            }),
        )
        .unwrap_or_else(|e| panic!("emulate a {width}x{height} screen: {e}"));
    }

    /// Opens a new tab in front of the current one (which becomes hidden)
    /// and switches to it; returns the handle of the tab that was current.
    pub fn open_tab_in_front(&self) -> String {
        let current = agent()
            .get(&format!("{}/window", self.session))
            .call()
            .ok()
            .and_then(|r| r.into_json::<Value>().ok())
            .and_then(|v| v["value"].as_str().map(str::to_owned))
            .expect("the current window handle");
        let opened = post(
            &format!("{}/window/new", self.session),
            &json!({ "type": "tab" }),
        )
        .unwrap_or_else(|e| panic!("open a tab: {e}"));
        let handle = opened["value"]["handle"]
            .as_str()
            .expect("the new tab's handle");
        self.switch_to(handle);
        current
    }

    /// Brings the tab or window `handle` to the front and drives it.
    pub fn switch_to(&self, handle: &str) {
        post(
            &format!("{}/window", self.session),
            &json!({ "handle": handle }),
        )
        .unwrap_or_else(|e| panic!("switch to {handle}: {e}"));
    }

    /// Clicks the element matching `css` as a user would: a real input
    /// event, which counts as a user gesture.
    pub fn click(&self, css: &str) {
        let id = self.element(css);
        post(&format!("{}/element/{id}/click", self.session), &json!({}))
            .unwrap_or_else(|e| panic!("click {css:?}: {e}"));
    }

    /// Replaces the text of the input matching `css` by typing `text`.
    pub fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css);
        post(&format!("{}/element/{id}/clear", self.session), &json!({}))
            .unwrap_or_else(|e| panic!("clear {css:?}: {e}"));
        post(
            &format!("{}/element/{id}/value", self.session),
            &json!({ "text": text }),
        )
        .unwrap_or_else(|e| panic!("type into {css:?}: {e}"));
    }

    /// Saves a screenshot of the window to `path` (PNG) and returns it
    /// decoded.
    pub fn screenshot(&self, path: &Path) -> Screenshot {
        let response = agent()
            .get(&format!("{}/screenshot", self.session))
            .call()
            .unwrap_or_else(|e| panic!("take a screenshot: {e}"))
            .into_json::<Value>()
            .unwrap_or_else(|e| panic!("read the screenshot: {e}"));
        let encoded = response["value"].as_str().expect("a base64 screenshot");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .expect("base64 PNG");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("create the screenshot folder");
        }
        std::fs::write(path, &bytes).expect("save the screenshot");
        Screenshot::decode(&bytes)
    }

    /// Console messages logged since the last call (chromedriver's log
    /// endpoint).
    pub fn console(&self) -> Vec<LogEntry> {
        let response = post(
            &format!("{}/se/log", self.session),
            &json!({ "type": "browser" }),
        )
        .unwrap_or_else(|e| panic!("read the browser log: {e}"));
        response["value"]
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .map(|e| LogEntry {
                        level: e["level"].as_str().unwrap_or_default().to_owned(),
                        message: e["message"].as_str().unwrap_or_default().to_owned(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = agent().delete(&self.session).call();
        if let Some(profile) = &self.profile {
            let _ = std::fs::remove_dir_all(profile);
        }
    }
}
