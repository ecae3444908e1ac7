//! Room membership and message routing, independent of any socket.
//!
//! Every change to membership happens under one lock, and the frames it
//! causes are queued to the members' outboxes under that same lock, so every
//! member sees joins, leaves and signals in one consistent order.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
    time::SystemTime,
};

use peerlens_protocol::{ErrorCode, IceServer, PeerInfo, ServerMessage};
use rand::{distr::Alphanumeric, Rng};
use serde_json::Value;
use tokio::sync::{
    mpsc::{self, error::TrySendError},
    Notify,
};

use crate::turn::TurnConfig;

/// Where a member's outgoing frames go: its session's writer task, through
/// a bounded queue. A member that does not read fast enough to keep its
/// queue from filling is told to close ([`Outbox::overflowed`]) rather than
/// allowed to grow the server's memory.
#[derive(Clone, Debug)]
pub struct Outbox {
    tx: mpsc::Sender<String>,
    overflow: Arc<Notify>,
}

impl Outbox {
    /// A queue of `capacity` frames and its receiving end.
    pub fn new(capacity: usize) -> (Self, mpsc::Receiver<String>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (
            Self {
                tx,
                overflow: Arc::new(Notify::new()),
            },
            rx,
        )
    }

    /// Queues a frame; on a full queue, signals the overflow instead.
    pub fn send(&self, frame: String) {
        if let Err(TrySendError::Full(_)) = self.tx.try_send(frame) {
            self.overflow.notify_one();
        }
    }

    /// Completes when a frame could not be queued because the reader fell
    /// too far behind.
    pub async fn overflowed(&self) {
        self.overflow.notified().await;
    }
}

/// All rooms of one server process.
pub struct Hub {
    room_cap: usize,
    ice_servers: Vec<IceServer>,
    turn: Option<TurnConfig>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Room name → members in join order.
    rooms: HashMap<String, Vec<Member>>,
    /// Peer id → room name, for every joined peer of the process.
    rooms_by_peer: HashMap<String, String>,
}

struct Member {
    info: PeerInfo,
    outbox: Outbox,
}

/// Why a `join` was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The wire code.
    pub code: ErrorCode,
    /// A human-readable reason.
    pub message: String,
}

impl Hub {
    /// A hub whose rooms hold at most `room_cap` peers.
    pub fn new(room_cap: usize, ice_servers: Vec<IceServer>) -> Self {
        Self {
            room_cap,
            ice_servers,
            turn: None,
            state: Mutex::default(),
        }
    }

    /// Hands out TURN credentials in every `welcome`.
    pub fn with_turn(mut self, turn: Option<TurnConfig>) -> Self {
        self.turn = turn;
        self
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-updated
        // in a way that matters more than refusing service, so recover.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds a peer to `room`, sends it `welcome` and tells the others.
    /// Returns the id it was given: `wanted_id` when that id is free.
    pub fn join(
        &self,
        room: &str,
        name: &str,
        wanted_id: Option<&str>,
        outbox: Outbox,
    ) -> Result<String, Refusal> {
        let mut state = self.state();
        let members = state.rooms.get(room).map_or(0, Vec::len);
        if members >= self.room_cap {
            return Err(Refusal {
                code: ErrorCode::RoomFull,
                message: format!("room {room:?} already has {members} peers"),
            });
        }
        let id = match wanted_id {
            Some(id) if !state.rooms_by_peer.contains_key(id) => id.to_owned(),
            _ => loop {
                let id = random_id();
                if !state.rooms_by_peer.contains_key(&id) {
                    break id;
                }
            },
        };
        let info = PeerInfo {
            id: id.clone(),
            name: name.to_owned(),
        };
        let members = state.rooms.entry(room.to_owned()).or_default();
        let mut ice_servers = self.ice_servers.clone();
        if let Some(turn) = &self.turn {
            ice_servers.push(turn.credentials(&id, SystemTime::now()));
        }
        let welcome = ServerMessage::Welcome {
            id: id.clone(),
            peers: members.iter().map(|m| m.info.clone()).collect(),
            ice_servers,
        };
        outbox.send(welcome.to_json());
        let joined = ServerMessage::PeerJoined { peer: info.clone() }.to_json();
        for member in members.iter() {
            member.outbox.send(joined.clone());
        }
        members.push(Member { info, outbox });
        state.rooms_by_peer.insert(id.clone(), room.to_owned());
        Ok(id)
    }

    /// Removes a peer from its room and tells the others. Does nothing for
    /// an id that is not joined.
    pub fn leave(&self, id: &str) {
        let mut state = self.state();
        let Some(room) = state.rooms_by_peer.remove(id) else {
            return;
        };
        let Some(members) = state.rooms.get_mut(&room) else {
            return;
        };
        members.retain(|m| m.info.id != id);
        let left = ServerMessage::PeerLeft { id: id.to_owned() }.to_json();
        for member in members.iter() {
            member.outbox.send(left.clone());
        }
        if members.is_empty() {
            state.rooms.remove(&room);
        }
    }

    /// Relays `data` from `from` to `to`, if both are in the same room.
    pub fn signal(&self, from: &str, to: &str, data: Value) -> Result<(), Refusal> {
        self.signal_json(from, to, &data.to_string())
    }

    /// [`signal`](Self::signal) with `data` as JSON text, relayed without
    /// being parsed again.
    pub fn signal_json(&self, from: &str, to: &str, data: &str) -> Result<(), Refusal> {
        let state = self.state();
        let unknown = || Refusal {
            code: ErrorCode::UnknownPeer,
            message: format!("no peer {to:?} in your room"),
        };
        let room = state.rooms_by_peer.get(from).ok_or_else(unknown)?;
        if state.rooms_by_peer.get(to) != Some(room) {
            return Err(unknown());
        }
        let target = state
            .rooms
            .get(room)
            .and_then(|members| members.iter().find(|m| m.info.id == to))
            .ok_or_else(unknown)?;
        target.outbox.send(signal_frame(from, data));
        Ok(())
    }

    /// Number of peers currently in `room`.
    pub fn room_size(&self, room: &str) -> usize {
        self.state().rooms.get(room).map_or(0, Vec::len)
    }
}

/// A `signal` frame around already-serialized `data`. Peer ids are
/// restricted to `[A-Za-z0-9_-]`, so `from` needs no escaping.
pub(crate) fn signal_frame(from: &str, data: &str) -> String {
    format!(r#"{{"type":"signal","from":"{from}","data":{data}}}"#)
}

/// A fresh 12-character alphanumeric peer id.
pub(crate) fn random_id() -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(12)
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tokio::sync::mpsc::Receiver;

    use super::*;

    fn unbounded_channel() -> (Outbox, Receiver<String>) {
        Outbox::new(64)
    }

    fn drain(rx: &mut Receiver<String>) -> Vec<ServerMessage> {
        std::iter::from_fn(|| rx.try_recv().ok())
            .map(|text| ServerMessage::from_json(&text).unwrap())
            .collect()
    }

    #[test]
    fn signals_never_cross_rooms() {
        let hub = Hub::new(6, vec![]);
        let (a_tx, mut a_rx) = unbounded_channel();
        let (b_tx, mut b_rx) = unbounded_channel();
        let a = hub.join("one", "A", None, a_tx).unwrap();
        let b = hub.join("two", "B", None, b_tx).unwrap();
        let refused = hub.signal(&a, &b, json!({})).unwrap_err();
        assert_eq!(refused.code, ErrorCode::UnknownPeer);
        drain(&mut a_rx);
        assert!(drain(&mut b_rx)
            .iter()
            .all(|m| !matches!(m, ServerMessage::Signal { .. })));
    }

    #[test]
    fn a_taken_peer_id_is_not_adopted_and_a_freed_one_is() {
        let hub = Hub::new(6, vec![]);
        let (tx, _rx) = unbounded_channel();
        assert_eq!(hub.join("r", "A", Some("me"), tx.clone()).unwrap(), "me");
        let other = hub.join("r", "B", Some("me"), tx.clone()).unwrap();
        assert_ne!(other, "me");
        hub.leave("me");
        assert_eq!(hub.join("r", "C", Some("me"), tx).unwrap(), "me");
    }

    #[test]
    fn empty_rooms_are_forgotten() {
        let hub = Hub::new(2, vec![]);
        let (tx, _rx) = unbounded_channel();
        let a = hub.join("r", "A", None, tx.clone()).unwrap();
        let b = hub.join("r", "B", None, tx.clone()).unwrap();
        assert!(hub.join("r", "C", None, tx.clone()).is_err());
        hub.leave(&a);
        hub.leave(&b);
        assert_eq!(hub.room_size("r"), 0);
        assert!(hub.state().rooms.is_empty());
    }
}

#[cfg(test)]
mod outbox_tests {
    use super::*;

    #[tokio::test]
    async fn a_full_outbox_signals_overflow_instead_of_growing() {
        let (outbox, mut rx) = Outbox::new(2);
        outbox.send("a".into());
        outbox.send("b".into());
        let overflowed = outbox.clone();
        let waiter = tokio::spawn(async move { overflowed.overflowed().await });
        outbox.send("c".into());
        tokio::time::timeout(std::time::Duration::from_secs(1), waiter)
            .await
            .expect("the overflow is signalled")
            .unwrap();
        assert_eq!(rx.recv().await.as_deref(), Some("a"));
        assert_eq!(rx.recv().await.as_deref(), Some("b"));
        assert!(
            rx.try_recv().is_err(),
            "the frame that did not fit is dropped"
        );
    }
}
