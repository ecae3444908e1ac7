//! Every limit of the server, over real WebSockets: message size, rate,
//! connection count, idle timeout, slow readers, the Origin allow-list, and
//! TURN credentials in `welcome`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use hmac::{Hmac, Mac};
use peerlens_protocol::{ClientMessage, ErrorCode, ServerMessage};
use peerlens_server::{Config, Limits, OriginPolicy, TurnConfig};
use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    time::timeout,
};
use tokio_tungstenite::{
    connect_async,
    tungstenite::{client::IntoClientRequest, Message},
};

mod common;

use common::*;

fn limits(change: impl FnOnce(&mut Limits)) -> Config {
    let mut config = Config::default();
    change(&mut config.limits);
    config
}

#[tokio::test]
async fn oversized_messages_get_too_large_and_the_connection_stays() {
    let server = start(Config::default()).await;
    let mut socket = connect(&server).await;
    let big = json!({"type": "join", "room": "r", "name": "x".repeat(70 * 1024)}).to_string();
    socket.send(Message::text(big)).await.unwrap();
    assert_eq!(code_of(recv(&mut socket).await), ErrorCode::TooLarge);
    send(&mut socket, &ClientMessage::Ping).await;
    assert_eq!(recv(&mut socket).await, ServerMessage::Pong);
    // Far past the limit, the frame is not even read: the socket closes.
    let huge = "y".repeat(1024 * 1024);
    let _ = socket.send(Message::text(huge)).await;
    let closed = timeout(Duration::from_secs(5), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "a 1 MiB frame closes the connection");
}

#[tokio::test]
async fn floods_are_rate_limited_with_one_error_and_then_recover() {
    let server = start(limits(|l| {
        l.messages_per_second = 5;
        l.burst = 5;
    }))
    .await;
    let mut socket = connect(&server).await;
    for _ in 0..20 {
        send(&mut socket, &ClientMessage::Ping).await;
    }
    let mut pongs = 0;
    let mut limited = 0;
    while let Ok(Some(Ok(Message::Text(text)))) =
        timeout(Duration::from_millis(300), socket.next()).await
    {
        match ServerMessage::from_json(&text).unwrap() {
            ServerMessage::Pong => pongs += 1,
            ServerMessage::Error {
                code: ErrorCode::RateLimited,
                ..
            } => limited += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!((5..=6).contains(&pongs), "{pongs} pongs");
    assert_eq!(limited, 1, "one rate-limited error, not one per frame");
    tokio::time::sleep(Duration::from_millis(500)).await;
    send(&mut socket, &ClientMessage::Ping).await;
    assert_eq!(recv(&mut socket).await, ServerMessage::Pong);
}

#[tokio::test]
async fn connections_past_the_maximum_get_server_full() {
    let server = start(limits(|l| l.max_connections = 2)).await;
    let mut a = connect(&server).await;
    let _b = connect(&server).await;
    let mut c = connect(&server).await;
    assert_eq!(code_of(recv(&mut c).await), ErrorCode::ServerFull);
    send(&mut a, &ClientMessage::Ping).await;
    assert_eq!(recv(&mut a).await, ServerMessage::Pong);
    // A slot frees when a connection closes.
    drop(c);
    drop(_b);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut d = connect(&server).await;
    send(&mut d, &ClientMessage::Ping).await;
    assert_eq!(recv(&mut d).await, ServerMessage::Pong);
}

#[tokio::test]
async fn silent_connections_time_out_and_live_ones_do_not() {
    let server = start(limits(|l| {
        l.idle_timeout = Duration::from_millis(900);
        l.ping_interval = Duration::from_millis(300);
    }))
    .await;
    let mut live = connect(&server).await;
    // The silent client is raw TCP: it does the handshake and then never
    // answers, as a vanished laptop would, and records what it is sent.
    let mut silent = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    silent
        .write_all(
            format!(
                "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                server.addr
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    // `live` keeps reading, so tungstenite answers the server's pings.
    let reader = tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while tokio::time::Instant::now() < deadline {
            match timeout(Duration::from_millis(100), live.next()).await {
                Ok(Some(Ok(Message::Close(_)))) | Ok(None) => return Err("closed"),
                _ => {}
            }
        }
        Ok(live)
    });
    let mut received = Vec::new();
    timeout(Duration::from_secs(5), silent.read_to_end(&mut received))
        .await
        .expect("the server closed the silent connection")
        .unwrap();
    let text = String::from_utf8_lossy(&received);
    let body = &received[text.find("\r\n\r\n").expect("a handshake answer") + 4..];
    // Server frames are unmasked: [0x80 | opcode, length, payload...].
    let mut frames = Vec::new();
    let mut rest = body;
    while rest.len() >= 2 {
        let (opcode, len) = (rest[0] & 0x0f, usize::from(rest[1] & 0x7f));
        frames.push((opcode, rest[2..2 + len].to_vec()));
        rest = &rest[2 + len..];
    }
    assert!(
        frames.iter().any(|(op, _)| *op == 0x9),
        "the server pinged: {frames:?}"
    );
    let close = frames
        .iter()
        .find(|(op, _)| *op == 0x8)
        .expect("a close frame");
    assert_eq!(u16::from_be_bytes([close.1[0], close.1[1]]), 1008);
    assert_eq!(&close.1[2..], b"idle timeout");
    let mut live = reader
        .await
        .unwrap()
        .expect("the live connection stays open");
    send(&mut live, &ClientMessage::Ping).await;
    assert_eq!(recv(&mut live).await, ServerMessage::Pong);
}

#[tokio::test]
async fn a_reader_that_falls_behind_is_closed_and_its_peers_told() {
    let server = start(limits(|l| {
        l.outbox_frames = 8;
        l.messages_per_second = 10_000;
        l.burst = 10_000;
    }))
    .await;
    let mut slow = connect(&server).await;
    let mut fast = connect(&server).await;
    let (slow_id, _) = join(&mut slow, "r", "slow", None).await;
    join(&mut fast, "r", "fast", None).await;
    // `slow` never reads; `fast` keeps sending it signals.
    let payload = json!({"candidate": {"candidate": "x".repeat(4000)}});
    let mut left = false;
    for _ in 0..5_000 {
        let signal = ClientMessage::Signal {
            to: slow_id.clone(),
            data: payload.clone(),
        };
        if fast.send(Message::text(signal.to_json())).await.is_err() {
            break;
        }
        if let Ok(Some(Ok(Message::Text(text)))) =
            timeout(Duration::from_millis(1), fast.next()).await
        {
            if ServerMessage::from_json(&text).unwrap()
                == (ServerMessage::PeerLeft {
                    id: slow_id.clone(),
                })
            {
                left = true;
                break;
            }
        }
    }
    if !left {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while tokio::time::Instant::now() < deadline {
            if let Ok(Some(Ok(Message::Text(text)))) =
                timeout(Duration::from_millis(200), fast.next()).await
            {
                if ServerMessage::from_json(&text).unwrap()
                    == (ServerMessage::PeerLeft {
                        id: slow_id.clone(),
                    })
                {
                    left = true;
                    break;
                }
            }
        }
    }
    assert!(left, "the slow reader was dropped from the room");
}

async fn connect_with_origin(server: &Server, origin: &str) -> Socket {
    let mut request = format!("ws://{}/ws", server.addr)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("Origin", origin.parse().unwrap());
    connect_async(request).await.unwrap().0
}

#[tokio::test]
async fn only_allowed_origins_may_connect() {
    let server = start(Config::default()).await;
    let mut evil = connect_with_origin(&server, "https://evil.example").await;
    assert_eq!(code_of(recv(&mut evil).await), ErrorCode::ForbiddenOrigin);
    for origin in ["http://localhost:5173", "http://127.0.0.1:8081"] {
        let mut ok = connect_with_origin(&server, origin).await;
        send(&mut ok, &ClientMessage::Ping).await;
        assert_eq!(recv(&mut ok).await, ServerMessage::Pong, "{origin}");
    }
    let own = format!("http://{}", server.addr);
    let mut ok = connect_with_origin(&server, &own).await;
    send(&mut ok, &ClientMessage::Ping).await;
    assert_eq!(recv(&mut ok).await, ServerMessage::Pong);

    let strict = start(Config {
        origins: OriginPolicy {
            allow_local: false,
            allowed: vec!["https://app.example.org".into()],
        },
        ..Config::default()
    })
    .await;
    let mut local = connect_with_origin(&strict, "http://localhost:5173").await;
    assert_eq!(code_of(recv(&mut local).await), ErrorCode::ForbiddenOrigin);
    let mut listed = connect_with_origin(&strict, "https://app.example.org").await;
    send(&mut listed, &ClientMessage::Ping).await;
    assert_eq!(recv(&mut listed).await, ServerMessage::Pong);
}

#[tokio::test]
async fn welcome_carries_time_limited_turn_credentials() {
    let server = start(Config {
        turn: Some(TurnConfig {
            secret: "s3cret".into(),
            urls: vec!["turn:127.0.0.1:3478?transport=udp".into()],
            ttl: Duration::from_secs(3600),
        }),
        ..Config::default()
    })
    .await;
    let mut socket = connect(&server).await;
    send(
        &mut socket,
        &ClientMessage::Join {
            room: "r".into(),
            name: String::new(),
            peer_id: Some("alice".into()),
        },
    )
    .await;
    let ServerMessage::Welcome { ice_servers, .. } = recv(&mut socket).await else {
        panic!("expected welcome");
    };
    let turn = ice_servers
        .iter()
        .find(|s| s.urls.iter().any(|u| u.starts_with("turn:")))
        .expect("a TURN server");
    let username = turn.username.clone().expect("a username");
    let (expiry, peer) = username.split_once(':').expect("expiry:peer");
    assert_eq!(peer, "alice");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let expiry: u64 = expiry.parse().unwrap();
    assert!(
        (now + 3590..=now + 3610).contains(&expiry),
        "{expiry} vs {now}"
    );
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(b"s3cret").unwrap();
    mac.update(username.as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    assert_eq!(turn.credential.as_deref(), Some(expected.as_str()));
}
