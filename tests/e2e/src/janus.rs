//! Debian's Janus 1.1 on loopback, with its configuration generated into a
//! fresh temporary directory, and ffmpeg feeding a Streaming mountpoint
//! over RTP.
//!
//! Only the WebSocket transport runs, bound to 127.0.0.1; only the
//! EchoTest, VideoRoom and Streaming plugins load; ICE gathers on the
//! loopback address only.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc, Arc,
    },
    time::Duration,
};

use crate::{free_port, root};

/// Where Debian installs Janus's modules.
const MODULES: &str = "/usr/lib/x86_64-linux-gnu/janus";

/// The Streaming mountpoint the harness configures, fed by [`RtpFeed`].
pub const MOUNTPOINT: u64 = 1;

/// Modules of `kind` (`plugins`, `transports`, ...) in Debian's folder,
/// except `keep`: the ones to disable.
fn others(kind: &str, keep: &[&str]) -> String {
    let dir = PathBuf::from(MODULES).join(kind);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".so") && !keep.contains(&n.as_str()))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names.join(",")
}

/// A running Janus; dropping it kills the process and removes its
/// configuration.
pub struct Janus {
    child: Option<Child>,
    ws_port: u16,
    rtp_port: u16,
    dir: PathBuf,
    exited: Arc<AtomicBool>,
}

impl Janus {
    /// Starts Janus and waits (at most 30 s) until its WebSocket transport
    /// listens. Sessions time out after 60 s of silence.
    pub fn start() -> Self {
        Self::start_with_session_timeout(60)
    }

    /// Starts Janus with sessions that time out after `seconds` without a
    /// request or keepalive.
    pub fn start_with_session_timeout(seconds: u32) -> Self {
        let ws_port = free_port();
        let rtp_port = free_udp_port();
        let dir =
            std::env::temp_dir().join(format!("peerlens-janus-{}-{ws_port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        // Media ports from a range of its own, away from other tests.
        let media = 30_000 + (ws_port % 100) * 100;
        let write = |name: &str, text: String| {
            std::fs::write(dir.join(name), text).expect("write the Janus configuration");
        };
        write(
            "janus.jcfg",
            format!(
                r#"general: {{
  configs_folder = "{dir}"
  plugins_folder = "{MODULES}/plugins"
  transports_folder = "{MODULES}/transports"
  events_folder = "{MODULES}/events"
  loggers_folder = "{MODULES}/loggers"
  debug_level = 4
  session_timeout = {seconds}
}}
media: {{
  rtp_port_range = "{media}-{media_end}"
}}
nat: {{
  ice_enforce_list = "127.0.0.1"
  ignore_mdns = true
}}
plugins: {{
  disable = "{plugins}"
}}
transports: {{
  disable = "{transports}"
}}
loggers: {{
  disable = "{loggers}"
}}
events: {{
  broadcast = false
  disable = "{events}"
}}
"#,
                dir = dir.display(),
                media_end = media + 99,
                plugins = others(
                    "plugins",
                    &[
                        "libjanus_echotest.so",
                        "libjanus_videoroom.so",
                        "libjanus_streaming.so"
                    ]
                ),
                transports = others("transports", &["libjanus_websockets.so"]),
                loggers = others("loggers", &[]),
                events = others("events", &[]),
            ),
        );
        write(
            "janus.transport.websockets.jcfg",
            format!(
                "general: {{\n  json = \"plain\"\n  ws = true\n  ws_port = {ws_port}\n  ws_ip = \"127.0.0.1\"\n  wss = false\n}}\nadmin: {{\n  admin_ws = false\n  admin_wss = false\n}}\n"
            ),
        );
        write("janus.plugin.echotest.jcfg", "general: {\n}\n".into());
        write("janus.plugin.videoroom.jcfg", "general: {\n}\n".into());
        write(
            "janus.plugin.streaming.jcfg",
            format!(
                r#"general: {{
}}
test-clip: {{
  type = "rtp"
  id = {MOUNTPOINT}
  description = "tests/fixtures/clip-320x240.webm over RTP"
  media = (
    {{
      type = "video"
      mid = "v"
      port = {rtp_port}
      pt = 100
      codec = "vp8"
    }}
  )
}}
"#
            ),
        );
        let mut child = Command::new("janus")
            .arg("-F")
            .arg(&dir)
            .arg("-C")
            .arg(dir.join("janus.jcfg"))
            .args(["--disable-colors", "--log-stdout"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start janus (cargo xtask setup installs it)");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        let exited = Arc::new(AtomicBool::new(false));
        let exited_flag = Arc::clone(&exited);
        let verbose = std::env::var_os("PEERLENS_JANUS_LOG").is_some();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if verbose {
                    eprintln!("janus: {line}");
                }
                if line.contains("WebSockets thread started") {
                    let _ = tx.send(());
                }
            }
            exited_flag.store(true, Ordering::SeqCst);
        });
        let janus = Self {
            child: Some(child),
            ws_port,
            rtp_port,
            dir,
            exited,
        };
        rx.recv_timeout(Duration::from_secs(30))
            .expect("Janus did not start its WebSocket transport within 30 s");
        janus
    }

    /// `ws://127.0.0.1:PORT`
    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.ws_port)
    }

    /// The UDP port the Streaming mountpoint takes video RTP on.
    pub fn rtp_port(&self) -> u16 {
        self.rtp_port
    }

    /// Kills Janus abruptly (SIGKILL): no goodbyes to its clients.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether the process has ended.
    pub fn has_exited(&self) -> bool {
        self.exited.load(Ordering::SeqCst)
    }
}

impl Drop for Janus {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A UDP port on 127.0.0.1 that was free a moment ago.
pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free loopback UDP port")
}

/// ffmpeg sending the committed test clip, looped in real time, as VP8 RTP
/// to a loopback port. Dropping it stops ffmpeg.
pub struct RtpFeed {
    child: Child,
}

impl RtpFeed {
    /// Starts feeding `port` with `tests/fixtures/clip-320x240.webm`.
    pub fn start(port: u16) -> Self {
        let clip = root().join("tests/fixtures/clip-320x240.webm");
        let child = Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
            .args(["-stream_loop", "-1", "-i"])
            .arg(&clip)
            .args(["-an", "-c:v", "copy", "-f", "rtp", "-payload_type", "100"])
            .arg(format!("rtp://127.0.0.1:{port}?pkt_size=1200"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start ffmpeg (cargo xtask setup installs it)");
        Self { child }
    }
}

impl Drop for RtpFeed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
