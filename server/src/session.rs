//! One WebSocket connection: reads client frames, applies them to the
//! [`Hub`], and writes the frames the hub queues for it, within the
//! connection's [`Limits`].

use std::{sync::Arc, time::Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use peerlens_protocol::{ClientMessage, ErrorCode, ServerMessage};
use tokio::sync::{mpsc, watch};

use crate::{
    hub::Outbox,
    limits::{Limits, RateLimiter},
    Rooms,
};

/// WebSocket close code 1008: policy violation (RFC 6455).
const CLOSE_POLICY: u16 = 1008;
/// WebSocket close code 1013: try again later.
const CLOSE_TRY_AGAIN: u16 = 1013;

/// Refuses a connection with a protocol `error` and a close frame.
pub async fn refuse(socket: WebSocket, code: ErrorCode, message: &str) {
    let (mut sink, _) = socket.split();
    let _ = sink
        .send(Message::Text(
            ServerMessage::error(code, message).to_json().into(),
        ))
        .await;
    let _ = sink
        .send(Message::Close(Some(CloseFrame {
            code: CLOSE_TRY_AGAIN,
            reason: message.chars().take(100).collect::<String>().into(),
        })))
        .await;
}

/// Why the read loop ended.
#[derive(Debug)]
enum End {
    ClientClosed,
    ServerShutdown,
    Idle,
    TooSlow,
}

/// Serves one client until it closes, the socket fails, it idles out, falls
/// too far behind, or the server stops.
pub async fn run(
    socket: WebSocket,
    hub: Arc<Rooms>,
    limits: Limits,
    mut shutdown: watch::Receiver<bool>,
) {
    let (mut sink, mut stream) = socket.split();
    let (outbox, mut queued) = Outbox::new(limits.outbox_frames);
    // Control frames (pings, the final close) bypass the bounded queue.
    let (control, mut controls) = mpsc::unbounded_channel::<Message>();
    let writer = tokio::spawn(async move {
        loop {
            let message = tokio::select! {
                biased;
                control = controls.recv() => match control {
                    Some(message) => message,
                    None => break,
                },
                text = queued.recv() => match text {
                    Some(text) => Message::Text(text.into()),
                    None => break,
                },
            };
            let closing = matches!(message, Message::Close(_));
            if sink.feed(message).await.is_err() {
                return;
            }
            // Write whatever else is already queued before flushing: one
            // write for a burst (an offer and its candidates) instead of one
            // per frame.
            if !closing {
                while let Ok(text) = queued.try_recv() {
                    if sink.feed(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
            }
            if sink.flush().await.is_err() || closing {
                return;
            }
        }
        let _ = sink.send(Message::Close(None)).await;
    });

    let mut joined: Option<String> = None;
    let mut limiter = RateLimiter::new(limits.messages_per_second, limits.burst, Instant::now());
    let mut last_heard = Instant::now();
    let mut pings = tokio::time::interval(limits.ping_interval);
    pings.tick().await;
    let mut rate_warned_at: Option<Instant> = None;
    let end = loop {
        let frame = tokio::select! {
            frame = stream.next() => frame,
            _ = shutdown.wait_for(|stop| *stop) => break End::ServerShutdown,
            _ = outbox.overflowed() => break End::TooSlow,
            _ = pings.tick() => {
                if last_heard.elapsed() >= limits.idle_timeout {
                    break End::Idle;
                }
                let _ = control.send(Message::Ping(Vec::new().into()));
                continue;
            }
        };
        last_heard = Instant::now();
        let reply = match frame {
            Some(Ok(Message::Text(text))) => {
                if text.len() > limits.max_message_bytes {
                    Some(ServerMessage::error(
                        ErrorCode::TooLarge,
                        format!(
                            "a frame of {} bytes exceeds the {}-byte limit",
                            text.len(),
                            limits.max_message_bytes
                        ),
                    ))
                } else if !limiter.allow(Instant::now()) {
                    // One error per second at most: answering every dropped
                    // frame would let a flood double itself.
                    let warn = rate_warned_at.is_none_or(|t| t.elapsed().as_secs() >= 1);
                    if warn {
                        rate_warned_at = Some(Instant::now());
                    }
                    warn.then(|| {
                        ServerMessage::error(
                            ErrorCode::RateLimited,
                            format!(
                                "more than {} messages per second; messages are being dropped",
                                limits.messages_per_second
                            ),
                        )
                    })
                } else {
                    handle(&hub, &mut joined, &outbox, &text).await
                }
            }
            Some(Ok(Message::Binary(_))) => Some(ServerMessage::error(
                ErrorCode::BadMessage,
                "binary frames are not part of the protocol; send JSON text",
            )),
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break End::ClientClosed,
            // Pings are answered by the WebSocket layer itself; pongs only
            // prove the client is alive.
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => None,
        };
        if let Some(reply) = reply {
            outbox.send(reply.to_json());
        }
    };
    if let Some(id) = joined.take() {
        hub.leave(&id).await;
    }
    match end {
        End::Idle | End::TooSlow => {
            let reason = if matches!(end, End::Idle) {
                "idle timeout"
            } else {
                "too slow to read its messages"
            };
            tracing::info!(reason, "closing connection");
            let _ = control.send(Message::Close(Some(CloseFrame {
                code: CLOSE_POLICY,
                reason: reason.into(),
            })));
        }
        End::ClientClosed | End::ServerShutdown => {}
    }
    drop(outbox);
    drop(control);
    let _ = writer.await;
}

/// A `signal` frame with its payload left as JSON text.
#[derive(serde::Deserialize)]
struct RawSignal<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    to: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    data: &'a serde_json::value::RawValue,
}

/// Applies one text frame and returns the direct reply, if any. Frames for
/// other peers are queued by the hub.
async fn handle(
    hub: &Rooms,
    joined: &mut Option<String>,
    outbox: &Outbox,
    text: &str,
) -> Option<ServerMessage> {
    // The hot path: a signal from a joined peer is relayed without building
    // a JSON tree of its payload.
    if let (Some(from), Ok(signal)) = (joined.as_deref(), serde_json::from_str::<RawSignal>(text)) {
        if signal.kind == "signal" && peerlens_protocol::is_valid_peer_id(&signal.to) {
            return hub
                .signal(from, &signal.to, signal.data.get())
                .await
                .err()
                .map(|refusal| ServerMessage::error(refusal.code, refusal.message));
        }
    }
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
        ) => match hub
            .join(&room, &name, peer_id.as_deref(), outbox.clone())
            .await
        {
            Ok(id) => {
                tracing::info!(%room, %id, "joined");
                *joined = Some(id);
                None
            }
            Err(refusal) => Some(ServerMessage::error(refusal.code, refusal.message)),
        },
        (ClientMessage::Signal { to, data }, Some(from)) => hub
            .signal(from, &to, &data.to_string())
            .await
            .err()
            .map(|refusal| ServerMessage::error(refusal.code, refusal.message)),
        (ClientMessage::Leave, Some(id)) => {
            tracing::info!(%id, "left");
            hub.leave(id).await;
            *joined = None;
            None
        }
        (ClientMessage::Signal { .. } | ClientMessage::Leave, None) => Some(ServerMessage::error(
            ErrorCode::NotJoined,
            "join a room first",
        )),
    }
}
