//! [`Room`]: a mesh of peer connections, one per other member, over any
//! codec whose server has rooms.
//!
//! The newcomer creates connections to the members its welcome lists;
//! members create theirs when the newcomer's first offer arrives. The lower
//! peer id is the polite side. A member is removed when the server says it
//! left, or when its connection has stayed failed for
//! [`RoomOptions::failed_peer_timeout_ms`]; a dropped signaling socket never
//! removes anyone, since peer-to-peer media does not pass through it. After
//! the socket comes back the room joins again with the same peer id, keeps
//! every live connection, and restarts ICE on the ones that failed.

use std::{cell::RefCell, collections::BTreeMap, rc::Rc, rc::Weak};

use futures::{
    channel::mpsc::{self, UnboundedReceiver, UnboundedSender},
    StreamExt,
};
use gloo_timers::future::IntervalStream;
use peerlens_protocol::{
    is_valid_peer_id, ClientMessage, ErrorCode, IceServer, PeerInfo, ProtocolError, ServerMessage,
    SignalPayload,
};
use web_sys::{MediaStream, MediaStreamTrack};

use crate::{
    rtc::{
        DataChannelKind, DataMessage, IcePolicy, PeerConnection, PeerEvent, PeerOptions, PeerState,
        RtcError, StatsSummary,
    },
    signaling::{Signaling, SignalingError, SignalingEvent, SignalingState},
};

/// How to join a room.
#[derive(Debug, Clone)]
pub struct RoomOptions {
    /// The room's name.
    pub room: String,
    /// The display name others see.
    pub name: String,
    /// This client's id; generated when `None`. It is kept across
    /// reconnects so that peers match their live connections again.
    pub peer_id: Option<String>,
    /// The most peers in the mesh, this client included (6 by default).
    pub max_peers: usize,
    /// ICE servers, used together with any the server hands out.
    pub ice_servers: Vec<IceServer>,
    /// `iceTransportPolicy`.
    pub ice_transport_policy: IcePolicy,
    /// Open the two data channels to every peer.
    pub data_channels: bool,
    /// Remove a peer whose connection stayed failed this long, in ms.
    pub failed_peer_timeout_ms: u32,
}

impl Default for RoomOptions {
    fn default() -> Self {
        Self {
            room: "lobby".into(),
            name: String::new(),
            peer_id: None,
            max_peers: 6,
            ice_servers: Vec::new(),
            ice_transport_policy: IcePolicy::All,
            data_channels: true,
            failed_peer_timeout_ms: 4_000,
        }
    }
}

/// Why a peer is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaveReason {
    /// The server said it left or disconnected.
    Left,
    /// Its connection failed and did not recover.
    Failed,
}

/// Errors a room reports. None of them ends the room.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RoomError {
    /// The codec's server has no rooms: use a `Call`.
    #[error("the {0} protocol has no rooms; use a Call")]
    NoRooms(&'static str),
    /// The signaling transport reported a problem.
    #[error(transparent)]
    Signaling(#[from] SignalingError),
    /// The server refused something.
    #[error("the server said {code}: {message}")]
    Server {
        /// Its code.
        code: ErrorCode,
        /// Its message.
        message: String,
    },
    /// A peer connection failed at something.
    #[error("peer {peer}: {error}")]
    Peer {
        /// The peer.
        peer: String,
        /// What failed.
        error: RtcError,
    },
    /// A peer sent signal data that is not an offer, answer or candidate.
    #[error("peer {from} sent unreadable signal data: {error}")]
    BadSignal {
        /// The sender.
        from: String,
        /// Why it could not be read.
        error: ProtocolError,
    },
    /// The mesh is at `max_peers`; the newcomer was not connected.
    #[error("the room is at its limit of {max} peers; {peer} was not connected")]
    Full {
        /// The peer that did not fit.
        peer: String,
        /// The limit.
        max: usize,
    },
}

impl RoomError {
    /// A stable name for the kind, used as the JS `Error.name`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::NoRooms(_) => "NoRooms",
            Self::Signaling(e) => e.name(),
            Self::Server { .. } => "ServerError",
            Self::Peer { error, .. } => error.name(),
            Self::BadSignal { .. } => "BadSignal",
            Self::Full { .. } => "RoomFull",
        }
    }
}

/// What a room reports.
#[derive(Debug, Clone)]
pub enum RoomEvent {
    /// The server welcomed this client (again, after a reconnect).
    Joined {
        /// This client's id.
        id: String,
        /// The members already there.
        peers: Vec<PeerInfo>,
        /// Whether this is a rejoin after the signaling reconnected.
        rejoined: bool,
    },
    /// A new member.
    PeerJoined(PeerInfo),
    /// A member is gone and its connection closed.
    PeerLeft {
        /// Its id.
        id: String,
        /// Why.
        reason: LeaveReason,
    },
    /// A member's track arrived.
    Track {
        /// From whom.
        peer: String,
        /// The track.
        track: MediaStreamTrack,
        /// Its streams.
        streams: Vec<MediaStream>,
    },
    /// A data channel message.
    Data {
        /// From whom.
        peer: String,
        /// On which channel.
        channel: DataChannelKind,
        /// The message.
        message: DataMessage,
    },
    /// A member's connection state changed.
    PeerState {
        /// Whose.
        peer: String,
        /// The new state.
        state: PeerState,
    },
    /// The signaling connection state changed.
    Signaling(SignalingState),
    /// Something failed; the room carries on.
    Error(RoomError),
}

struct Member {
    info: PeerInfo,
    connection: Option<PeerConnection>,
    /// Tells events of a replaced connection apart from the current one's.
    generation: u64,
    failed_since: Option<f64>,
}

struct State {
    options: RoomOptions,
    my_id: String,
    welcomed: bool,
    server_ice: Vec<IceServer>,
    members: BTreeMap<String, Member>,
    published: Option<MediaStream>,
    next_generation: u64,
}

struct Shared {
    signaling: Signaling,
    state: RefCell<State>,
    events: UnboundedSender<RoomEvent>,
}

/// A mesh room. See the module docs. Dropping it leaves the room and closes
/// every connection.
pub struct Room {
    shared: Rc<Shared>,
}

/// A random peer id from `[a-z0-9]`.
pub fn random_peer_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..16)
        .map(|_| {
            let i = (js_sys::Math::random() * ALPHABET.len() as f64) as usize;
            ALPHABET[i.min(ALPHABET.len() - 1)] as char
        })
        .collect()
}

impl Room {
    /// Joins a room through `signaling`, whose events the room takes over.
    pub fn join(
        signaling: Signaling,
        signaling_events: UnboundedReceiver<SignalingEvent>,
        mut options: RoomOptions,
    ) -> Result<(Self, UnboundedReceiver<RoomEvent>), RoomError> {
        if !signaling.has_rooms() {
            return Err(RoomError::NoRooms(signaling.codec_name()));
        }
        let my_id = match options.peer_id.take() {
            Some(id) if is_valid_peer_id(&id) => id,
            _ => random_peer_id(),
        };
        let join = ClientMessage::Join {
            room: options.room.clone(),
            name: options.name.clone(),
            peer_id: Some(my_id.clone()),
        };
        signaling.set_hello(Some(join))?;
        let (events_tx, events) = mpsc::unbounded();
        let shared = Rc::new(Shared {
            signaling,
            state: RefCell::new(State {
                options,
                my_id,
                welcomed: false,
                server_ice: Vec::new(),
                members: BTreeMap::new(),
                published: None,
                next_generation: 0,
            }),
            events: events_tx,
        });
        wasm_bindgen_futures::spawn_local(pump_signaling(Rc::downgrade(&shared), signaling_events));
        wasm_bindgen_futures::spawn_local(watch_failures(Rc::downgrade(&shared)));
        Ok((Self { shared }, events))
    }

    /// This client's peer id.
    pub fn id(&self) -> String {
        self.shared.state.borrow().my_id.clone()
    }

    /// The members currently in the mesh.
    pub fn peers(&self) -> Vec<PeerInfo> {
        self.shared
            .state
            .borrow()
            .members
            .values()
            .map(|m| m.info.clone())
            .collect()
    }

    /// A member's connection state, if it has a connection.
    pub fn peer_state(&self, peer: &str) -> Option<PeerState> {
        let state = self.shared.state.borrow();
        state
            .members
            .get(peer)?
            .connection
            .as_ref()
            .map(|c| c.state())
    }

    /// The signaling connection state.
    pub fn signaling_state(&self) -> SignalingState {
        self.shared.signaling.state()
    }

    /// Sends `stream` to every member, present and future.
    pub fn publish(&self, stream: &MediaStream) -> Result<(), RoomError> {
        let mut state = self.shared.state.borrow_mut();
        // `Clone::clone`, not the JS `MediaStream.clone()` that copies tracks.
        state.published = Some(Clone::clone(stream));
        for (id, member) in &state.members {
            if let Some(pc) = &member.connection {
                pc.add_stream(stream).map_err(|error| RoomError::Peer {
                    peer: id.clone(),
                    error,
                })?;
            }
        }
        Ok(())
    }

    /// Swaps the published track of `kind` on every connection, without
    /// renegotiating (device switching, screen share). Peers who join later
    /// get the new track too.
    pub async fn replace_track(
        &self,
        kind: &str,
        track: Option<&MediaStreamTrack>,
    ) -> Result<(), RoomError> {
        self.republish(kind, track);
        let ids: Vec<String> = self.shared.state.borrow().members.keys().cloned().collect();
        for id in ids {
            // Each await releases the borrow, so look the member up anew.
            let raw = {
                let state = self.shared.state.borrow();
                state
                    .members
                    .get(&id)
                    .and_then(|m| m.connection.as_ref())
                    .map(|c| c.as_raw().clone())
            };
            if let Some(raw) = raw {
                crate::rtc::replace_track_on(&raw, kind, track)
                    .await
                    .map_err(|error| RoomError::Peer {
                        peer: id.clone(),
                        error,
                    })?;
            }
        }
        Ok(())
    }

    /// Makes the stream future members get carry `track` for `kind`, and
    /// the published tracks of the other kinds.
    fn republish(&self, kind: &str, track: Option<&MediaStreamTrack>) {
        let mut state = self.shared.state.borrow_mut();
        let Some(old) = state.published.clone() else {
            return;
        };
        let Ok(stream) = MediaStream::new() else {
            return;
        };
        for kept in old.get_tracks().iter() {
            if let Ok(kept) = wasm_bindgen::JsCast::dyn_into::<MediaStreamTrack>(kept) {
                if kept.kind() != kind {
                    stream.add_track(&kept);
                }
            }
        }
        if let Some(track) = track {
            stream.add_track(track);
        }
        state.published = Some(stream);
    }

    /// Sends a text message to one member, or to all when `peer` is `None`.
    pub fn send_text(
        &self,
        peer: Option<&str>,
        channel: DataChannelKind,
        text: &str,
    ) -> Result<(), RoomError> {
        let state = self.shared.state.borrow();
        for (id, member) in &state.members {
            if peer.is_some_and(|p| p != id) {
                continue;
            }
            if let Some(pc) = &member.connection {
                pc.send_text(channel, text)
                    .map_err(|error| RoomError::Peer {
                        peer: id.clone(),
                        error,
                    })?;
            }
        }
        Ok(())
    }

    /// The `RTCPeerConnection` to one member, for what the room does not
    /// cover. Closing it is the room's job.
    pub fn raw_connection(&self, peer: &str) -> Option<web_sys::RtcPeerConnection> {
        let state = self.shared.state.borrow();
        state
            .members
            .get(peer)
            .and_then(|m| m.connection.as_ref())
            .map(|c| c.as_raw().clone())
    }

    /// Restarts ICE towards one member.
    pub fn restart_ice(&self, peer: &str) -> Result<(), RoomError> {
        let state = self.shared.state.borrow();
        match state.members.get(peer).and_then(|m| m.connection.as_ref()) {
            Some(pc) => pc.restart_ice().map_err(|error| RoomError::Peer {
                peer: peer.to_owned(),
                error,
            }),
            None => Err(RoomError::Peer {
                peer: peer.to_owned(),
                error: RtcError::Closed,
            }),
        }
    }

    /// A `getStats()` summary for one member's connection.
    pub async fn stats(&self, peer: &str) -> Result<StatsSummary, RoomError> {
        let raw_stats = {
            let state = self.shared.state.borrow();
            state
                .members
                .get(peer)
                .and_then(|m| m.connection.as_ref())
                .map(|pc| pc.stats_detached())
        };
        match raw_stats {
            Some(future) => future.await.map_err(|error| RoomError::Peer {
                peer: peer.to_owned(),
                error,
            }),
            None => Err(RoomError::Peer {
                peer: peer.to_owned(),
                error: RtcError::Closed,
            }),
        }
    }

    /// Leaves the room and closes every connection. Dropping does the same.
    pub fn leave(self) {}
}

impl Drop for Room {
    fn drop(&mut self) {
        let _ = self.shared.signaling.set_hello(None);
        let _ = self.shared.signaling.send(&ClientMessage::Leave);
        let members = std::mem::take(&mut self.shared.state.borrow_mut().members);
        drop(members);
    }
}

impl Shared {
    fn emit(&self, event: RoomEvent) {
        let _ = self.events.unbounded_send(event);
    }

    /// Creates the connection to `peer` if it has none. Returns false when
    /// the mesh is full.
    ///
    /// `initiator`: this side is the newcomer and starts the negotiation.
    fn connect(self: &Rc<Self>, peer: &str, initiator: bool) -> bool {
        let mut state = self.state.borrow_mut();
        let has_live = state
            .members
            .get(peer)
            .and_then(|m| m.connection.as_ref())
            .is_some_and(|c| c.state() != PeerState::Closed);
        if has_live {
            return true;
        }
        let connected = state
            .members
            .values()
            .filter(|m| m.connection.is_some())
            .count();
        if connected + 1 >= state.options.max_peers {
            let max = state.options.max_peers;
            drop(state);
            self.emit(RoomEvent::Error(RoomError::Full {
                peer: peer.to_owned(),
                max,
            }));
            return false;
        }
        let mut ice_servers = state.server_ice.clone();
        ice_servers.extend(state.options.ice_servers.iter().cloned());
        let options = PeerOptions {
            polite: state.my_id.as_str() < peer,
            offer_policy: self.signaling.offer_policy(),
            ice_servers,
            ice_transport_policy: state.options.ice_transport_policy,
            data_channels: state.options.data_channels,
            initiator,
        };
        let (pc, events) = match PeerConnection::new(options) {
            Ok(created) => created,
            Err(error) => {
                drop(state);
                self.emit(RoomEvent::Error(RoomError::Peer {
                    peer: peer.to_owned(),
                    error,
                }));
                return false;
            }
        };
        if let Some(stream) = &state.published {
            if let Err(error) = pc.add_stream(stream) {
                let _ = self
                    .events
                    .unbounded_send(RoomEvent::Error(RoomError::Peer {
                        peer: peer.to_owned(),
                        error,
                    }));
            }
        }
        state.next_generation += 1;
        let generation = state.next_generation;
        let member = state
            .members
            .entry(peer.to_owned())
            .or_insert_with(|| Member {
                info: PeerInfo {
                    id: peer.to_owned(),
                    name: String::new(),
                },
                connection: None,
                generation,
                failed_since: None,
            });
        member.connection = Some(pc);
        member.generation = generation;
        member.failed_since = None;
        drop(state);
        wasm_bindgen_futures::spawn_local(pump_peer(
            Rc::downgrade(self),
            peer.to_owned(),
            generation,
            events,
        ));
        true
    }

    fn remove(&self, peer: &str, reason: LeaveReason) {
        let removed = self.state.borrow_mut().members.remove(peer);
        if removed.is_some() {
            self.emit(RoomEvent::PeerLeft {
                id: peer.to_owned(),
                reason,
            });
        }
    }

    fn on_server(self: &Rc<Self>, message: ServerMessage) {
        match message {
            ServerMessage::Welcome {
                id,
                peers,
                ice_servers,
            } => {
                let rejoined = {
                    let mut state = self.state.borrow_mut();
                    let rejoined = state.welcomed;
                    state.welcomed = true;
                    state.my_id = id.clone();
                    state.server_ice = ice_servers;
                    for peer in &peers {
                        state
                            .members
                            .entry(peer.id.clone())
                            .or_insert_with(|| Member {
                                info: peer.clone(),
                                connection: None,
                                generation: 0,
                                failed_since: None,
                            })
                            .info = peer.clone();
                    }
                    rejoined
                };
                self.emit(RoomEvent::Joined {
                    id,
                    peers: peers.clone(),
                    rejoined,
                });
                for peer in &peers {
                    self.connect(&peer.id, true);
                }
                if rejoined {
                    self.restart_broken();
                }
            }
            ServerMessage::PeerJoined { peer } => {
                let is_new = {
                    let mut state = self.state.borrow_mut();
                    match state.members.get_mut(&peer.id) {
                        Some(member) => {
                            member.info = peer.clone();
                            false
                        }
                        None => {
                            state.members.insert(
                                peer.id.clone(),
                                Member {
                                    info: peer.clone(),
                                    connection: None,
                                    generation: 0,
                                    failed_since: None,
                                },
                            );
                            true
                        }
                    }
                };
                // A member rejoining after a server restart keeps its live
                // connection; only a new one is announced.
                if is_new {
                    self.emit(RoomEvent::PeerJoined(peer));
                }
            }
            ServerMessage::PeerLeft { id } => self.remove(&id, LeaveReason::Left),
            ServerMessage::Signal { from, data } => match SignalPayload::from_value(&data) {
                Ok(payload) => {
                    if self.connect(&from, false) {
                        let state = self.state.borrow();
                        if let Some(pc) =
                            state.members.get(&from).and_then(|m| m.connection.as_ref())
                        {
                            pc.handle_signal(payload);
                        }
                    }
                }
                Err(error) => self.emit(RoomEvent::Error(RoomError::BadSignal { from, error })),
            },
            ServerMessage::Pong => {}
            ServerMessage::Error { code, message } => {
                self.emit(RoomEvent::Error(RoomError::Server { code, message }))
            }
        }
    }

    /// After the signaling comes back, connections that broke while it was
    /// down could not restart ICE; they can now.
    fn restart_broken(&self) {
        let state = self.state.borrow();
        for member in state.members.values() {
            if let Some(pc) = &member.connection {
                if matches!(pc.state(), PeerState::Failed | PeerState::Disconnected) {
                    let _ = pc.restart_ice();
                }
            }
        }
    }

    fn on_peer(&self, peer: &str, generation: u64, event: PeerEvent) {
        let current = self
            .state
            .borrow()
            .members
            .get(peer)
            .is_some_and(|m| m.generation == generation);
        if !current {
            return;
        }
        match event {
            PeerEvent::Signal(payload) => {
                let message = ClientMessage::Signal {
                    to: peer.to_owned(),
                    data: payload.to_value(),
                };
                if let Err(e) = self.signaling.send(&message) {
                    self.emit(RoomEvent::Error(e.into()));
                }
            }
            PeerEvent::Track { track, streams } => self.emit(RoomEvent::Track {
                peer: peer.to_owned(),
                track,
                streams,
            }),
            PeerEvent::State(state) => {
                if let Some(member) = self.state.borrow_mut().members.get_mut(peer) {
                    member.failed_since = match state {
                        PeerState::Failed => member.failed_since.or(Some(js_sys::Date::now())),
                        _ => None,
                    };
                }
                self.emit(RoomEvent::PeerState {
                    peer: peer.to_owned(),
                    state,
                });
            }
            PeerEvent::IceRestart | PeerEvent::ChannelOpen(_) => {}
            PeerEvent::Data(channel, message) => self.emit(RoomEvent::Data {
                peer: peer.to_owned(),
                channel,
                message,
            }),
            PeerEvent::Error(error) => self.emit(RoomEvent::Error(RoomError::Peer {
                peer: peer.to_owned(),
                error,
            })),
        }
    }
}

async fn pump_signaling(shared: Weak<Shared>, mut events: UnboundedReceiver<SignalingEvent>) {
    while let Some(event) = events.next().await {
        let Some(shared) = shared.upgrade() else {
            break;
        };
        match event {
            SignalingEvent::State(state) => shared.emit(RoomEvent::Signaling(state)),
            SignalingEvent::Message(message) => shared.on_server(message),
            SignalingEvent::Error(error) => shared.emit(RoomEvent::Error(error.into())),
        }
    }
}

async fn pump_peer(
    shared: Weak<Shared>,
    peer: String,
    generation: u64,
    mut events: UnboundedReceiver<PeerEvent>,
) {
    while let Some(event) = events.next().await {
        let Some(shared) = shared.upgrade() else {
            break;
        };
        shared.on_peer(&peer, generation, event);
    }
}

async fn watch_failures(shared: Weak<Shared>) {
    let mut ticks = IntervalStream::new(500);
    while ticks.next().await.is_some() {
        let Some(shared) = shared.upgrade() else {
            break;
        };
        let now = js_sys::Date::now();
        let expired: Vec<String> = {
            let state = shared.state.borrow();
            let timeout = f64::from(state.options.failed_peer_timeout_ms);
            state
                .members
                .iter()
                .filter(|(_, m)| m.failed_since.is_some_and(|t| now - t >= timeout))
                .map(|(id, _)| id.clone())
                .collect()
        };
        for id in expired {
            shared.remove(&id, LeaveReason::Failed);
        }
    }
}
