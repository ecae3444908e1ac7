//! One WebSocket connection: reads client frames, applies them to the
//! [`Hub`], and writes the frames the hub queues for it.

use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use peerlens_protocol::{ClientMessage, ErrorCode, ServerMessage};
use tokio::sync::{mpsc, watch};

use crate::Hub;

/// Serves one client until it closes, the socket fails or the server stops.
pub async fn run(socket: WebSocket, hub: Arc<Hub>, mut shutdown: watch::Receiver<bool>) {
    let (mut sink, mut stream) = socket.split();
    let (outbox, mut queued) = mpsc::unbounded_channel::<String>();
    let writer = tokio::spawn(async move {
        while let Some(text) = queued.recv().await {
            if sink.send(Message::Text(text.into())).await.is_err() {
                return;
            }
        }
        let _ = sink.send(Message::Close(None)).await;
    });

    let mut joined: Option<String> = None;
    loop {
        let frame = tokio::select! {
            frame = stream.next() => frame,
            _ = shutdown.wait_for(|stop| *stop) => break,
        };
        let reply = match frame {
            Some(Ok(Message::Text(text))) => handle(&hub, &mut joined, &outbox, &text),
            Some(Ok(Message::Binary(_))) => Some(ServerMessage::error(
                ErrorCode::BadMessage,
                "binary frames are not part of the protocol; send JSON text",
            )),
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
            // Pings are answered by the WebSocket layer itself.
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => None,
        };
        if let Some(reply) = reply {
            let _ = outbox.send(reply.to_json());
        }
    }
    if let Some(id) = joined.take() {
        hub.leave(&id);
    }
    drop(outbox);
    let _ = writer.await;
}

/// Applies one text frame and returns the direct reply, if any. Frames for
/// other peers are queued by the hub.
fn handle(
    hub: &Hub,
    joined: &mut Option<String>,
    outbox: &mpsc::UnboundedSender<String>,
    text: &str,
) -> Option<ServerMessage> {
    let message = match ClientMessage::from_json(text) {
        Ok(message) => message,
        Err(e) => return Some(ServerMessage::error(e.code(), e.to_string())),
    };
    match (message, joined.as_deref()) {
        (ClientMessage::Ping, _) => Some(ServerMessage::Pong),
        (ClientMessage::Join { .. }, Some(id)) => Some(ServerMessage::error(
            ErrorCode::AlreadyJoined,
            format!("already in a room as {id:?}; send leave first"),
        )),
        (
            ClientMessage::Join {
                room,
                name,
                peer_id,
            },
            None,
        ) => match hub.join(&room, &name, peer_id.as_deref(), outbox.clone()) {
            Ok(id) => {
                tracing::info!(%room, %id, "joined");
                *joined = Some(id);
                None
            }
            Err(refusal) => Some(ServerMessage::error(refusal.code, refusal.message)),
        },
        (ClientMessage::Signal { to, data }, Some(from)) => hub
            .signal(from, &to, data)
            .err()
            .map(|refusal| ServerMessage::error(refusal.code, refusal.message)),
        (ClientMessage::Leave, Some(id)) => {
            hub.leave(id);
            *joined = None;
            None
        }
        (ClientMessage::Signal { .. } | ClientMessage::Leave, None) => Some(ServerMessage::error(
            ErrorCode::NotJoined,
            "join a room first",
        )),
    }
}
