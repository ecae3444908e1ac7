//! The protocol core over real WebSockets: a server on a loopback port and
//! tokio-tungstenite clients.

use futures_util::SinkExt;
use peerlens_protocol::{ClientMessage, ErrorCode, PeerInfo, ServerMessage};
use peerlens_server::Config;
use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tokio_tungstenite::tungstenite::Message;

mod common;

use common::*;

#[tokio::test]
async fn healthz_answers_ok() {
    let server = start(Config::default()).await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    tcp.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("ok"), "{response}");
}

#[tokio::test]
async fn peers_see_each_other_join_signal_and_leave() {
    let server = start(Config::default()).await;
    let mut a = connect(&server).await;
    let mut b = connect(&server).await;
    let (a_id, peers) = join(&mut a, "room", "Ann", None).await;
    assert!(peers.is_empty());
    let (b_id, peers) = join(&mut b, "room", "Bo", None).await;
    assert_eq!(
        peers,
        vec![PeerInfo {
            id: a_id.clone(),
            name: "Ann".into()
        }]
    );
    assert_eq!(
        recv(&mut a).await,
        ServerMessage::PeerJoined {
            peer: PeerInfo {
                id: b_id.clone(),
                name: "Bo".into()
            }
        }
    );

    let offer = json!({"sdp": {"type": "offer", "sdp": "v=0\r\n"}});
    send(
        &mut a,
        &ClientMessage::Signal {
            to: b_id.clone(),
            data: offer.clone(),
        },
    )
    .await;
    assert_eq!(
        recv(&mut b).await,
        ServerMessage::Signal {
            from: a_id.clone(),
            data: offer
        }
    );
    silent(&mut a).await;

    send(&mut b, &ClientMessage::Leave).await;
    assert_eq!(
        recv(&mut a).await,
        ServerMessage::PeerLeft { id: b_id.clone() }
    );
    send(
        &mut a,
        &ClientMessage::Signal {
            to: b_id,
            data: json!({}),
        },
    )
    .await;
    assert_eq!(code_of(recv(&mut a).await), ErrorCode::UnknownPeer);
}

#[tokio::test]
async fn a_dropped_connection_leaves_its_room() {
    let server = start(Config::default()).await;
    let mut a = connect(&server).await;
    let mut b = connect(&server).await;
    join(&mut a, "room", "Ann", None).await;
    let (b_id, _) = join(&mut b, "room", "Bo", None).await;
    recv(&mut a).await; // peer-joined
    drop(b);
    assert_eq!(recv(&mut a).await, ServerMessage::PeerLeft { id: b_id });
}

#[tokio::test]
async fn signals_do_not_cross_rooms() {
    let server = start(Config::default()).await;
    let mut a = connect(&server).await;
    let mut b = connect(&server).await;
    join(&mut a, "one", "Ann", None).await;
    let (b_id, peers) = join(&mut b, "two", "Bo", None).await;
    assert!(peers.is_empty(), "rooms are separate");
    silent(&mut a).await;
    send(
        &mut a,
        &ClientMessage::Signal {
            to: b_id,
            data: json!({"x": 1}),
        },
    )
    .await;
    assert_eq!(code_of(recv(&mut a).await), ErrorCode::UnknownPeer);
    silent(&mut b).await;
}

#[tokio::test]
async fn the_room_cap_refuses_the_extra_peer() {
    let server = start(Config {
        room_cap: 2,
        ..Config::default()
    })
    .await;
    let mut a = connect(&server).await;
    let mut b = connect(&server).await;
    let mut c = connect(&server).await;
    join(&mut a, "r", "A", None).await;
    join(&mut b, "r", "B", None).await;
    send(
        &mut c,
        &ClientMessage::Join {
            room: "r".into(),
            name: "C".into(),
            peer_id: None,
        },
    )
    .await;
    assert_eq!(code_of(recv(&mut c).await), ErrorCode::RoomFull);
    // The refused client is still connected and may join another room.
    let (_, peers) = join(&mut c, "other", "C", None).await;
    assert!(peers.is_empty());
}

#[tokio::test]
async fn a_free_peer_id_is_adopted_and_kept_across_a_reconnect() {
    let server = start(Config::default()).await;
    let mut a = connect(&server).await;
    let mut watcher = connect(&server).await;
    join(&mut watcher, "r", "W", None).await;
    let (id, _) = join(&mut a, "r", "A", Some("client-chosen-1")).await;
    assert_eq!(id, "client-chosen-1");
    recv(&mut watcher).await; // peer-joined
    drop(a);
    assert_eq!(
        recv(&mut watcher).await,
        ServerMessage::PeerLeft { id: id.clone() }
    );
    let mut again = connect(&server).await;
    let (id_again, peers) = join(&mut again, "r", "A", Some("client-chosen-1")).await;
    assert_eq!(id_again, id, "the same id after reconnecting");
    assert_eq!(peers.len(), 1);
    // A second client asking for a taken id gets a fresh one.
    let mut thief = connect(&server).await;
    let (other, _) = join(&mut thief, "r", "T", Some("client-chosen-1")).await;
    assert_ne!(other, id);
}

#[tokio::test]
async fn ping_pong_and_bad_input_keep_the_connection_up() {
    let server = start(Config::default()).await;
    let mut a = connect(&server).await;
    send(&mut a, &ClientMessage::Ping).await;
    assert_eq!(recv(&mut a).await, ServerMessage::Pong);
    for bad in ["{", "[]", r#"{"type":"dance"}"#, r#"{"type":"signal"}"#] {
        a.send(Message::text(bad)).await.unwrap();
        assert_eq!(
            code_of(recv(&mut a).await),
            ErrorCode::BadMessage,
            "for {bad}"
        );
    }
    a.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    assert_eq!(code_of(recv(&mut a).await), ErrorCode::BadMessage);
    send(
        &mut a,
        &ClientMessage::Signal {
            to: "x".into(),
            data: json!({}),
        },
    )
    .await;
    assert_eq!(code_of(recv(&mut a).await), ErrorCode::NotJoined);
    join(&mut a, "r", "A", None).await;
    send(
        &mut a,
        &ClientMessage::Join {
            room: "r2".into(),
            name: "A".into(),
            peer_id: None,
        },
    )
    .await;
    assert_eq!(code_of(recv(&mut a).await), ErrorCode::AlreadyJoined);
    send(&mut a, &ClientMessage::Ping).await;
    assert_eq!(recv(&mut a).await, ServerMessage::Pong, "still connected");
}
