//! Helpers shared by the server's WebSocket tests: a server on a loopback
//! port and tokio-tungstenite clients.
#![allow(dead_code)]

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use peerlens_protocol::{ClientMessage, ErrorCode, PeerInfo, ServerMessage};
use peerlens_server::{serve, Config};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::oneshot,
    time::timeout,
};
use tokio_tungstenite::{connect_async, tungstenite::Message, MaybeTlsStream, WebSocketStream};

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub struct Server {
    pub addr: std::net::SocketAddr,
    pub _stop: oneshot::Sender<()>,
}

pub async fn start(config: Config) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve(listener, config, async {
        let _ = stopped.await;
    }));
    Server { addr, _stop: stop }
}

pub async fn connect(server: &Server) -> Socket {
    let (socket, _) = connect_async(format!("ws://{}/ws", server.addr))
        .await
        .unwrap();
    socket
}

pub async fn send(socket: &mut Socket, message: &ClientMessage) {
    socket.send(Message::text(message.to_json())).await.unwrap();
}

pub async fn recv(socket: &mut Socket) -> ServerMessage {
    loop {
        let frame = timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("a frame within 5 s")
            .expect("the socket is open")
            .expect("a valid frame");
        if let Message::Text(text) = frame {
            return ServerMessage::from_json(&text).unwrap();
        }
    }
}

/// Asserts nothing arrives for a short while.
pub async fn silent(socket: &mut Socket) {
    if let Ok(Some(Ok(frame))) = timeout(Duration::from_millis(200), socket.next()).await {
        panic!("unexpected frame {frame:?}");
    }
}

pub async fn join(
    socket: &mut Socket,
    room: &str,
    name: &str,
    peer_id: Option<&str>,
) -> (String, Vec<PeerInfo>) {
    send(
        socket,
        &ClientMessage::Join {
            room: room.into(),
            name: name.into(),
            peer_id: peer_id.map(Into::into),
        },
    )
    .await;
    match recv(socket).await {
        ServerMessage::Welcome { id, peers, .. } => (id, peers),
        other => panic!("expected welcome, got {other:?}"),
    }
}

pub fn code_of(message: ServerMessage) -> ErrorCode {
    match message {
        ServerMessage::Error { code, .. } => code,
        other => panic!("expected an error, got {other:?}"),
    }
}
