//! Several server processes sharing rooms through a real redis-server on
//! loopback: clients on different processes see each other, signal each
//! other, share the room cap and the peer id space, and learn of leaves.

use std::{
    net::TcpListener as StdListener,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use futures_util::SinkExt;
use peerlens_protocol::{ClientMessage, ErrorCode, ServerMessage};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

mod common;

use common::*;

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// Starts the command `make` builds for a fresh port and waits until it
/// listens there. A process that exits first (another process may have
/// taken the port between `free_port` and its bind) is started again on
/// another port, twice at most; the panic then carries its stderr.
async fn listening(what: &str, make: impl Fn(u16) -> Command) -> (Process, u16) {
    let mut exits = Vec::new();
    for _ in 0..3 {
        let port = free_port();
        let stderr = std::env::temp_dir().join(format!(
            "peerlens-redis-test-{}-{port}.log",
            std::process::id()
        ));
        let log = std::fs::File::create(&stderr).expect("a temporary log file");
        let mut child = make(port)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {what}: {e}"));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                let _ = std::fs::remove_file(&stderr);
                return (Process(child), port);
            }
            if let Ok(Some(status)) = child.try_wait() {
                let text = std::fs::read_to_string(&stderr).unwrap_or_default();
                exits.push(format!("port {port}: {status}: {text}"));
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let text = std::fs::read_to_string(&stderr).unwrap_or_default();
                panic!("{what} did not listen on {port} within 30 s; its stderr: {text}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = std::fs::remove_file(&stderr);
    }
    panic!("{what} exited before listening, three times: {exits:#?}");
}

async fn redis() -> (Process, u16) {
    listening("redis-server (cargo xtask setup installs it)", |port| {
        let mut command = Command::new("redis-server");
        command
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"]);
        command
    })
    .await
}

async fn node(redis_port: u16, room_cap: usize) -> (Process, Server) {
    let (child, port) = listening("the peerlens-server binary", |port| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_peerlens-server"));
        command
            .args(["--port", &port.to_string(), "--static-dir", "/nonexistent"])
            .args(["--room-cap", &room_cap.to_string()])
            .args(["--redis", &format!("redis://127.0.0.1:{redis_port}")]);
        command
    })
    .await;
    let (stop, _) = tokio::sync::oneshot::channel();
    (
        child,
        Server {
            addr: format!("127.0.0.1:{port}").parse().unwrap(),
            _stop: stop,
        },
    )
}

#[tokio::test]
async fn clients_on_two_processes_share_a_room() {
    let (_redis, redis_port) = redis().await;
    let (_pa, a_server) = node(redis_port, 3).await;
    let (_pb, b_server) = node(redis_port, 3).await;

    let mut a = connect(&a_server).await;
    let mut b = connect(&b_server).await;
    let (a_id, peers) = join(&mut a, "shared", "Ann", Some("ann")).await;
    assert_eq!(a_id, "ann");
    assert!(peers.is_empty());
    let (b_id, peers) = join(&mut b, "shared", "Bob", Some("bob")).await;
    assert_eq!(
        peers.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        vec!["ann"]
    );
    match recv(&mut a).await {
        ServerMessage::PeerJoined { peer } => assert_eq!(peer.id, b_id),
        other => panic!("expected peer-joined, got {other:?}"),
    }

    // Signals cross processes, both ways.
    let data = json!({"description": {"type": "offer", "sdp": "v=0\r\n"}});
    send(
        &mut b,
        &ClientMessage::Signal {
            to: a_id.clone(),
            data: data.clone(),
        },
    )
    .await;
    assert_eq!(
        recv(&mut a).await,
        ServerMessage::Signal {
            from: b_id.clone(),
            data: data.clone()
        }
    );
    send(
        &mut a,
        &ClientMessage::Signal {
            to: b_id.clone(),
            data: data.clone(),
        },
    )
    .await;
    assert_eq!(
        recv(&mut b).await,
        ServerMessage::Signal {
            from: a_id.clone(),
            data
        }
    );

    // Ids are unique across processes.
    let mut c = connect(&a_server).await;
    let (c_id, _) = join(&mut c, "shared", "Cat", Some("bob")).await;
    assert_ne!(c_id, "bob");
    let _ = recv(&mut a).await;
    let _ = recv(&mut b).await;

    // The cap holds across processes: ann, bob and cat fill a room of 3.
    let mut d = connect(&b_server).await;
    send(
        &mut d,
        &ClientMessage::Join {
            room: "shared".into(),
            name: "Dan".into(),
            peer_id: None,
        },
    )
    .await;
    assert_eq!(code_of(recv(&mut d).await), ErrorCode::RoomFull);

    // Rooms stay apart across processes too.
    let (_, others) = join(&mut d, "elsewhere", "Dan", None).await;
    assert!(others.is_empty());
    send(
        &mut d,
        &ClientMessage::Signal {
            to: a_id.clone(),
            data: json!({}),
        },
    )
    .await;
    assert_eq!(code_of(recv(&mut d).await), ErrorCode::UnknownPeer);

    // A disconnect on one process reaches the other.
    b.close(None).await.unwrap();
    assert_eq!(
        recv(&mut a).await,
        ServerMessage::PeerLeft { id: b_id.clone() }
    );
    assert_eq!(recv(&mut c).await, ServerMessage::PeerLeft { id: b_id });
}

#[tokio::test]
async fn members_of_a_dead_process_do_not_haunt_the_room() {
    let (_redis, redis_port) = redis().await;
    let (pa, a_server) = node(redis_port, 2).await;
    let (_pb, b_server) = node(redis_port, 2).await;
    let mut a = connect(&a_server).await;
    join(&mut a, "r", "Ann", Some("ann")).await;
    let mut b = connect(&b_server).await;
    join(&mut b, "r", "Bob", Some("bob")).await;
    // Process A dies without cleaning up; once its liveness key expires,
    // its members no longer count.
    drop(pa);
    drop(a);
    b.close(None).await.unwrap();
    tokio::time::sleep(Duration::from_secs(16)).await;
    let mut c = connect(&b_server).await;
    let (_, peers) = join(&mut c, "r", "Cat", Some("ann")).await;
    assert!(peers.is_empty(), "ghost members: {peers:?}");
    let mut e = connect(&b_server).await;
    let (_, peers) = join(&mut e, "r", "Eve", None).await;
    assert_eq!(peers.len(), 1, "the room counts the living only");
    let _ = e.send(Message::Close(None)).await;
}
