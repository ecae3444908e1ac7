//! Servers written in other languages, run as child processes: the npm `ws`
//! relay and the python-socketio rooms server in `tests/servers/`.
//!
//! Each binds 127.0.0.1 on a free port and prints a line when it listens;
//! the harness waits for that line, with a deadline, and kills the process
//! in `Drop`.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use crate::{free_port, root};

/// `~/.cache/peerlens`, where `cargo xtask setup` installs npm and PyPI
/// packages.
pub fn cache_dir() -> PathBuf {
    PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into())).join(".cache/peerlens")
}

/// A child-process server on a loopback port.
pub struct ExternalServer {
    child: Child,
    port: u16,
}

impl ExternalServer {
    fn start(mut command: Command, port: u16, ready: &str) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("start {command:?}: {e} (cargo xtask setup installs it)"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        let ready = ready.to_owned();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains(&ready) {
                    let _ = tx.send(());
                }
            }
        });
        let server = Self { child, port };
        rx.recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("{command:?} did not report ready within 30 s"));
        server
    }

    /// The sender/receiver relay (npm `ws`), also serving `tests/pages`.
    pub fn relay() -> Self {
        let port = free_port();
        let mut command = Command::new("node");
        command
            .arg(root().join("tests/servers/relay.cjs"))
            .args(["--port", &port.to_string(), "--static"])
            .arg(root().join("tests/pages"))
            .env("NODE_PATH", cache_dir().join("node/node_modules"));
        Self::start(command, port, "relay listening")
    }

    /// The python-socketio rooms server.
    pub fn socketio() -> Self {
        let port = free_port();
        let mut command = Command::new(cache_dir().join("signal-venv/bin/python"));
        command
            .arg(root().join("tests/servers/socketio_rooms.py"))
            .args(["--port", &port.to_string()]);
        Self::start(command, port, "socketio listening")
    }

    /// The aiortc WHIP/WHEP test endpoint (`tests/servers/whip_endpoint.py`),
    /// requiring `token` as a bearer token when given.
    pub fn whip_endpoint(token: Option<&str>) -> Self {
        let port = free_port();
        let mut command = Command::new(cache_dir().join("signal-venv/bin/python"));
        command
            .arg(root().join("tests/servers/whip_endpoint.py"))
            .args(["--port", &port.to_string()]);
        if let Some(token) = token {
            command.args(["--token", token]);
        }
        Self::start(command, port, "whip endpoint listening")
    }

    /// coturn on loopback with the shared-secret scheme. Relaying to
    /// 127.0.0.1 peers needs `--allow-loopback-peers`.
    pub fn coturn(secret: &str) -> Self {
        let port = free_port();
        let relay_base = 40_000 + (port % 20_000);
        let mut command = Command::new("turnserver");
        command
            .args(["-n", "--no-cli", "--no-tls", "--no-dtls", "--fingerprint"])
            .args(["--listening-ip", "127.0.0.1", "--relay-ip", "127.0.0.1"])
            .args(["--listening-port", &port.to_string()])
            .args(["--min-port", &relay_base.to_string()])
            .args(["--max-port", &(relay_base + 200).to_string()])
            .args(["--use-auth-secret", "--static-auth-secret", secret])
            .args(["--realm", "peerlens.test", "--allow-loopback-peers"])
            .args(["--log-file", "stdout", "--simple-log"])
            .arg("--pidfile")
            .arg(std::env::temp_dir().join(format!("peerlens-turn-{port}.pid")))
            .arg("--userdb")
            .arg(std::env::temp_dir().join(format!("peerlens-turn-{port}.db")));
        Self::start(command, port, "Total General servers")
    }

    /// redis-server on loopback, without persistence.
    pub fn redis() -> Self {
        let port = free_port();
        let mut command = Command::new("redis-server");
        command
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"]);
        Self::start(command, port, "Ready to accept connections")
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`
    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `ws://127.0.0.1:PORT`
    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }
}

impl Drop for ExternalServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
