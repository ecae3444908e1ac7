//! A minimal W3C WebDriver client for chromedriver: just the commands the
//! end-to-end tests use, with a deadline on every request.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

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
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start /usr/bin/chromedriver (cargo xtask setup installs it)");
        let url = format!("http://127.0.0.1:{port}");
        let driver = Self { child, url };
        wait_for("chromedriver to start", Duration::from_secs(20), || {
            let status: Value = agent()
                .get(&format!("{}/status", driver.url))
                .call()
                .ok()?
                .into_json()
                .ok()?;
            status["value"]["ready"].as_bool().filter(|ready| *ready)
        });
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
        let response =
            post(&format!("{}/session", self.url), &caps).expect("a new WebDriver session");
        let id = response["value"]["sessionId"]
            .as_str()
            .expect("sessionId in the new-session response")
            .to_owned();
        Browser {
            session: format!("{}/session/{id}", self.url),
            profile,
        }
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(60))
        .build()
}

fn post(url: &str, body: &Value) -> Result<Value, String> {
    match agent().post(url).send_json(body) {
        Ok(response) => response.into_json().map_err(|e| e.to_string()),
        Err(ureq::Error::Status(code, response)) => Err(format!(
            "HTTP {code}: {}",
            response.into_string().unwrap_or_default()
        )),
        Err(e) => Err(e.to_string()),
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

/// A WebDriver session: one headless Chromium.
pub struct Browser {
    session: String,
    profile: PathBuf,
}

impl Browser {
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
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
