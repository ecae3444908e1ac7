//! The `peerlens-server` binary as users run it: flags, JSON logs, and a
//! graceful shutdown on SIGINT that says goodbye to every client.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Duration,
};

use futures_util::StreamExt;
use tokio::time::timeout;
use tokio_tungstenite::{connect_async, tungstenite::Message};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

#[tokio::test]
async fn sigint_and_sigterm_close_every_session_with_a_close_frame_and_logs_json() {
    // Several rounds: the close frame must not depend on luck.
    for round in 0..3 {
        let port = free_port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_peerlens-server"))
            .args(["--port", &port.to_string(), "--static-dir", "/nonexistent"])
            .args(["--log-format", "json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let lines = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<_>>()
        });
        let url = format!("ws://127.0.0.1:{port}/ws");
        let mut socket = None;
        for _ in 0..100 {
            if let Ok((s, _)) = connect_async(&url).await {
                socket = Some(s);
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut socket = socket.expect("the server accepts connections");
        // SIGINT and SIGTERM alike.
        let signal = if round % 2 == 0 { "-INT" } else { "-TERM" };
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let mut closed_cleanly = false;
        while let Ok(Some(frame)) = timeout(Duration::from_secs(10), socket.next()).await {
            match frame {
                Ok(Message::Close(_)) => {
                    closed_cleanly = true;
                    break;
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        assert!(
            closed_cleanly,
            "round {round}: no close frame before the exit"
        );
        let exit = child.wait().unwrap();
        assert!(exit.success(), "round {round}: exit {exit:?}");
        let lines = lines.join().unwrap();
        let json_lines: Vec<serde_json::Value> = lines
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        assert!(
            json_lines
                .iter()
                .any(|l| l["fields"]["message"] == "shutting down"),
            "structured logs: {lines:#?}"
        );
    }
}
