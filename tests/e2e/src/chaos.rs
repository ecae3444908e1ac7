//! A signaling server that misbehaves on purpose: after the client's first
//! frame it sends one malformed frame of each kind, then a valid welcome and
//! a peer-joined, and counts connections, so a test can tell that the
//! client reported each bad frame and kept the same socket.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    thread::JoinHandle,
};

use futures_util::{SinkExt, StreamExt};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;

/// The frames sent before the welcome, with the error each must cause.
pub const MALFORMED: &[(&str, &str)] = &[
    ("bad JSON", "not json {"),
    ("unknown type", r#"{"type":"teleport","to":"mars"}"#),
    ("missing fields", r#"{"type":"welcome"}"#),
    ("huge payload", "HUGE"),
    ("binary frame", "BINARY"),
];

/// The running server; dropping it stops it.
pub struct ChaosServer {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ChaosServer {
    /// Starts on a free loopback port.
    pub fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let connections = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&connections);
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            runtime.block_on(async move {
                let accept = async {
                    while let Ok((stream, _)) = listener.accept().await {
                        count.fetch_add(1, Ordering::SeqCst);
                        tokio::spawn(misbehave(stream));
                    }
                };
                tokio::select! {
                    _ = accept => {}
                    _ = stopped => {}
                }
            });
            runtime.shutdown_background();
        });
        Self {
            addr,
            connections,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `ws://127.0.0.1:PORT/`
    pub fn ws_url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    /// How many WebSocket connections were accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

async fn misbehave(stream: tokio::net::TcpStream) {
    let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    // Wait for the join.
    match ws.next().await {
        Some(Ok(Message::Text(_))) => {}
        _ => return,
    }
    for (_, frame) in MALFORMED {
        let message = match *frame {
            "HUGE" => Message::text(format!(
                r#"{{"type":"error","code":"x","message":"{}"}}"#,
                "A".repeat(400 * 1024)
            )),
            "BINARY" => Message::binary(vec![0x7b, 0x00, 0xff]),
            text => Message::text(text),
        };
        if ws.send(message).await.is_err() {
            return;
        }
    }
    let good = [
        r#"{"type":"welcome","id":"me","peers":[],"iceServers":[]}"#,
        r#"{"type":"peer-joined","peer":{"id":"ghost","name":"Ghost"}}"#,
    ];
    for frame in good {
        if ws.send(Message::text(frame)).await.is_err() {
            return;
        }
    }
    while let Some(Ok(message)) = ws.next().await {
        if let Message::Text(text) = message {
            if text.contains(r#""type":"ping""#)
                && ws.send(Message::text(r#"{"type":"pong"}"#)).await.is_err()
            {
                return;
            }
        }
    }
}

impl Drop for ChaosServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
