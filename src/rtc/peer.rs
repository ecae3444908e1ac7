//! [`PeerConnection`]: one `RTCPeerConnection` and its negotiation.
//!
//! Negotiation follows the W3C perfect negotiation pattern. Every operation
//! that touches the signaling state (making an offer, applying a remote
//! description, adding a candidate) runs on one queue, in order, so two of
//! them never interleave across an `await`. A remote offer that collides
//! with a local one is ignored by the impolite side and rolls the polite
//! side's offer back; either side may add or replace tracks at any moment.

use std::{
    cell::{Cell, RefCell},
    rc::{Rc, Weak},
};

use futures::{
    channel::mpsc::{self, UnboundedReceiver, UnboundedSender},
    StreamExt,
};
use peerlens_protocol::{
    IceCandidate, IceServer, OfferPolicy, SdpKind, SessionDescription, SignalPayload,
};
use wasm_bindgen::{closure::Closure, JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    MediaStream, MediaStreamTrack, MessageEvent, RtcConfiguration, RtcDataChannel,
    RtcDataChannelInit, RtcDataChannelState, RtcIceCandidateInit, RtcIceConnectionState,
    RtcIceTransportPolicy, RtcPeerConnection, RtcPeerConnectionIceEvent, RtcPeerConnectionState,
    RtcRtpTransceiver, RtcSdpType, RtcSessionDescriptionInit, RtcSignalingState, RtcTrackEvent,
};

use super::{bindings::*, stats::StatsSummary};
use crate::JsErrorInfo;

/// Which ICE candidates to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IcePolicy {
    /// Host, server-reflexive and relay candidates.
    #[default]
    All,
    /// TURN relay candidates only (hides the peers' addresses).
    Relay,
}

/// How to set up a [`PeerConnection`].
#[derive(Debug, Clone)]
pub struct PeerOptions {
    /// The polite side yields when both sides offer at once. Exactly one of
    /// the two peers must be polite.
    pub polite: bool,
    /// Who may offer. See [`OfferPolicy`].
    pub offer_policy: OfferPolicy,
    /// STUN and TURN servers.
    pub ice_servers: Vec<IceServer>,
    /// `iceTransportPolicy`.
    pub ice_transport_policy: IcePolicy,
    /// Open the reliable and the unreliable data channel. Both ends must
    /// agree, since the channels are pre-negotiated with fixed ids.
    pub data_channels: bool,
    /// This side makes the first offer. Exactly one side should be the
    /// initiator: the other waits for that offer, answers with its own
    /// tracks where they fit, and offers afterwards for the rest. Later
    /// renegotiations may start on either side.
    pub initiator: bool,
}

impl Default for PeerOptions {
    fn default() -> Self {
        Self {
            polite: false,
            offer_policy: OfferPolicy::Both,
            ice_servers: Vec::new(),
            ice_transport_policy: IcePolicy::All,
            data_channels: true,
            initiator: true,
        }
    }
}

/// The two data channels every peerlens connection may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataChannelKind {
    /// Ordered, retransmitted until delivered.
    Reliable,
    /// Unordered, never retransmitted: for state that the next message
    /// supersedes.
    Unreliable,
}

impl DataChannelKind {
    fn id(self) -> u16 {
        match self {
            Self::Reliable => 0,
            Self::Unreliable => 1,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Reliable => "peerlens-reliable",
            Self::Unreliable => "peerlens-unreliable",
        }
    }
}

/// A data channel message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataMessage {
    /// A string message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
}

/// The connection's overall state (`RTCPeerConnectionState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerState {
    /// Not started.
    New,
    /// ICE or DTLS in progress.
    Connecting,
    /// Media and data can flow.
    Connected,
    /// Connectivity was lost; it may come back.
    Disconnected,
    /// Connectivity failed; an ICE restart is needed.
    Failed,
    /// Closed.
    Closed,
}

impl PeerState {
    fn from_web(state: RtcPeerConnectionState) -> Self {
        match state {
            RtcPeerConnectionState::Connecting => Self::Connecting,
            RtcPeerConnectionState::Connected => Self::Connected,
            RtcPeerConnectionState::Disconnected => Self::Disconnected,
            RtcPeerConnectionState::Failed => Self::Failed,
            RtcPeerConnectionState::Closed => Self::Closed,
            _ => Self::New,
        }
    }

    /// The lowercase name the browser uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Connecting => "connecting",
            Self::Connected => "connected",
            Self::Disconnected => "disconnected",
            Self::Failed => "failed",
            Self::Closed => "closed",
        }
    }
}

/// Why a peer connection operation failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RtcError {
    /// The browser refused to create the connection (bad ICE server URL,
    /// or WebRTC disabled).
    #[error("could not create the peer connection ({0})")]
    Create(JsErrorInfo),
    /// This browser has no `RTCPeerConnection`: WebRTC is turned off, or
    /// left out of the build (Debian's WebKitGTK). Media and effects still
    /// work; calls cannot.
    #[error(
        "this browser has no RTCPeerConnection: WebRTC is turned off or left out of its build"
    )]
    NoWebRtc,
    /// This side may not offer on this protocol, so it cannot add tracks or
    /// restart ICE after the first negotiation.
    #[error("this side may not renegotiate: only the remote side offers on this protocol")]
    OfferNotAllowed,
    /// An offer, answer or candidate was refused by the browser.
    #[error("negotiation failed during {step} ({info})")]
    Negotiation {
        /// What was being done.
        step: &'static str,
        /// What the browser threw.
        info: JsErrorInfo,
    },
    /// A track operation failed.
    #[error("track operation failed ({0})")]
    Track(JsErrorInfo),
    /// A data channel is not open, or sending failed.
    #[error("data channel {0:?} is not open")]
    ChannelNotOpen(DataChannelKind),
    /// No sender carries a track of that kind.
    #[error("no {0} sender to replace")]
    NoSender(String),
    /// The connection is closed.
    #[error("the peer connection is closed")]
    Closed,
}

impl RtcError {
    /// A stable name for the kind, used as the JS `Error.name`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Create(_) => "PeerConnectionError",
            Self::NoWebRtc => "NoWebRtc",
            Self::OfferNotAllowed => "OfferNotAllowed",
            Self::Negotiation { .. } => "NegotiationError",
            Self::Track(_) => "TrackError",
            Self::ChannelNotOpen(_) => "ChannelNotOpen",
            Self::NoSender(_) => "NoSender",
            Self::Closed => "Closed",
        }
    }
}

/// What a [`PeerConnection`] reports.
#[derive(Debug, Clone)]
pub enum PeerEvent {
    /// Send this to the remote peer through signaling.
    Signal(SignalPayload),
    /// A remote track arrived.
    Track {
        /// The track.
        track: MediaStreamTrack,
        /// The remote streams it belongs to.
        streams: Vec<MediaStream>,
    },
    /// The connection state changed.
    State(PeerState),
    /// ICE failed and a restart began.
    IceRestart,
    /// A data channel opened.
    ChannelOpen(DataChannelKind),
    /// A data channel message arrived.
    Data(DataChannelKind, DataMessage),
    /// Something failed; the connection carries on if it can.
    Error(RtcError),
}

enum Op {
    /// `negotiationneeded` fired during the given negotiation round.
    Negotiate(u32),
    /// Offer if nothing was ever negotiated. Chromium fires no
    /// `negotiationneeded` for pre-negotiated data channels, so a
    /// connection with channels but no tracks would otherwise never start.
    Kick,
    Remote(SignalPayload),
}

#[derive(Default)]
struct Negotiation {
    ignore_offer: bool,
    pending_candidates: Vec<IceCandidate>,
    /// Tracks held back until the remote offer, on sides that never offer.
    pending_tracks: Vec<(MediaStreamTrack, MediaStream)>,
    offers_made: u32,
}

/// An event handler given to the browser, kept alive by its owner.
type Handler = Closure<dyn FnMut(JsValue)>;

struct Inner {
    pc: RtcPeerConnection,
    polite: bool,
    initiator: bool,
    policy: OfferPolicy,
    events: UnboundedSender<PeerEvent>,
    ops: UnboundedSender<Op>,
    negotiation: RefCell<Negotiation>,
    channels: RefCell<Vec<(DataChannelKind, RtcDataChannel)>>,
    closures: RefCell<Vec<Handler>>,
    channel_closures: RefCell<Vec<Handler>>,
    previous_stats: RefCell<Option<StatsSummary>>,
    /// Completed offer/answer exchanges.
    rounds: Rc<Cell<u32>>,
    closed: Cell<bool>,
}

/// One peer connection. See the module docs.
///
/// Dropping it closes the connection and releases every callback it gave
/// the browser.
pub struct PeerConnection {
    inner: Rc<Inner>,
}

impl PeerConnection {
    /// Creates the connection and returns it with its events.
    pub fn new(options: PeerOptions) -> Result<(Self, UnboundedReceiver<PeerEvent>), RtcError> {
        if !peerlens_core::js::global_has("RTCPeerConnection") {
            return Err(RtcError::NoWebRtc);
        }
        let config = RtcConfiguration::new();
        let servers = js_sys::Array::new();
        for server in &options.ice_servers {
            // IceServer serializes with the browser's own field names.
            let value = serde_wasm_bindgen::to_value(server)
                .map_err(|e| RtcError::Create(JsErrorInfo::from_js(&e.into())))?;
            servers.push(&value);
        }
        config.set_ice_servers(&servers);
        config.set_ice_transport_policy(match options.ice_transport_policy {
            IcePolicy::All => RtcIceTransportPolicy::All,
            IcePolicy::Relay => RtcIceTransportPolicy::Relay,
        });
        let pc = RtcPeerConnection::new_with_configuration(&config)
            .map_err(|e| RtcError::Create(JsErrorInfo::from_js(&e)))?;
        let (events_tx, events) = mpsc::unbounded();
        let (ops_tx, ops) = mpsc::unbounded();
        let inner = Rc::new(Inner {
            pc,
            polite: options.polite,
            initiator: options.initiator,
            policy: options.offer_policy,
            events: events_tx,
            ops: ops_tx,
            negotiation: RefCell::default(),
            channels: RefCell::default(),
            closures: RefCell::default(),
            channel_closures: RefCell::default(),
            previous_stats: RefCell::default(),
            rounds: Rc::default(),
            closed: Cell::new(false),
        });
        inner.install_handlers();
        if options.data_channels {
            for kind in [DataChannelKind::Reliable, DataChannelKind::Unreliable] {
                inner.open_channel(kind);
            }
        }
        if options.data_channels && options.initiator {
            // Queued after a macrotask, so that a remote offer handed over
            // right after creation is applied first and makes the kick moot.
            let kick = inner.ops.clone();
            wasm_bindgen_futures::spawn_local(async move {
                gloo_timers::future::TimeoutFuture::new(0).await;
                let _ = kick.unbounded_send(Op::Kick);
            });
        }
        wasm_bindgen_futures::spawn_local(run_ops(Rc::downgrade(&inner), ops));
        Ok((Self { inner }, events))
    }

    /// The underlying `RTCPeerConnection`, for what this wrapper does not
    /// cover.
    pub fn as_raw(&self) -> &RtcPeerConnection {
        &self.inner.pc
    }

    /// Whether this side yields on collisions.
    pub fn is_polite(&self) -> bool {
        self.inner.polite
    }

    /// Feeds a signal that came from the remote peer.
    pub fn handle_signal(&self, payload: SignalPayload) {
        let _ = self.inner.ops.unbounded_send(Op::Remote(payload));
    }

    /// Sends a track to the peer. Negotiation follows by itself.
    ///
    /// On a side that never offers, tracks added before the first offer wait
    /// for it and go out in the answer; adding one later is an error.
    pub fn add_track(
        &self,
        track: &MediaStreamTrack,
        stream: &MediaStream,
    ) -> Result<(), RtcError> {
        self.inner.ensure_open()?;
        if self.inner.policy == OfferPolicy::RemoteOnly {
            if self.inner.pc.remote_description().is_some() {
                return Err(RtcError::OfferNotAllowed);
            }
            self.inner
                .negotiation
                .borrow_mut()
                .pending_tracks
                .push((Clone::clone(track), Clone::clone(stream)));
            return Ok(());
        }
        self.inner.pc.add_track_0(track, stream);
        Ok(())
    }

    /// Sends every track of `stream`. See [`add_track`](Self::add_track).
    pub fn add_stream(&self, stream: &MediaStream) -> Result<(), RtcError> {
        for track in stream.get_tracks().iter() {
            if let Ok(track) = track.dyn_into::<MediaStreamTrack>() {
                self.add_track(&track, stream)?;
            }
        }
        Ok(())
    }

    /// Swaps the track a sender carries, without renegotiating: for device
    /// switching and screen share. `kind` is `"audio"` or `"video"`.
    pub async fn replace_track(
        &self,
        kind: &str,
        track: Option<&MediaStreamTrack>,
    ) -> Result<(), RtcError> {
        self.inner.ensure_open()?;
        replace_track_on(&self.inner.pc, kind, track).await
    }

    /// Starts an ICE restart: the next offer carries fresh credentials.
    pub fn restart_ice(&self) -> Result<(), RtcError> {
        self.inner.ensure_open()?;
        if self.inner.policy == OfferPolicy::RemoteOnly {
            return Err(RtcError::OfferNotAllowed);
        }
        restart_ice(&self.inner.pc);
        Ok(())
    }

    /// Sends a text message on a data channel.
    pub fn send_text(&self, kind: DataChannelKind, text: &str) -> Result<(), RtcError> {
        let channel = self.inner.open_channel_of(kind)?;
        channel
            .send_with_str(text)
            .map_err(|_| RtcError::ChannelNotOpen(kind))
    }

    /// Sends a binary message on a data channel.
    pub fn send_bytes(&self, kind: DataChannelKind, bytes: &[u8]) -> Result<(), RtcError> {
        let channel = self.inner.open_channel_of(kind)?;
        channel
            .send_with_u8_array(bytes)
            .map_err(|_| RtcError::ChannelNotOpen(kind))
    }

    /// The connection state.
    pub fn state(&self) -> PeerState {
        PeerState::from_web(self.inner.pc.connection_state())
    }

    /// Whether no negotiation is in progress.
    pub fn is_stable(&self) -> bool {
        self.inner.pc.signaling_state() == RtcSignalingState::Stable
    }

    /// How many offers this side has made.
    pub fn offers_made(&self) -> u32 {
        self.inner.negotiation.borrow().offers_made
    }

    /// The remote tracks currently being received.
    pub fn remote_tracks(&self) -> Vec<MediaStreamTrack> {
        self.inner
            .pc
            .get_transceivers()
            .iter()
            .filter_map(|t| t.dyn_into::<RtcRtpTransceiver>().ok())
            .filter(|t| {
                matches!(
                    t.current_direction(),
                    Some(web_sys::RtcRtpTransceiverDirection::Sendrecv)
                        | Some(web_sys::RtcRtpTransceiverDirection::Recvonly)
                )
            })
            .map(|t| t.receiver().track())
            .collect()
    }

    /// The ICE username fragment of the local description: it changes with
    /// every ICE restart.
    pub fn local_ice_ufrag(&self) -> Option<String> {
        let sdp = self.inner.pc.local_description()?.sdp();
        sdp.lines()
            .find_map(|l| l.strip_prefix("a=ice-ufrag:"))
            .map(|s| s.trim().to_owned())
    }

    /// A summary of `getStats()`. Bitrates are measured against the previous
    /// call, so call it at a steady interval.
    pub async fn stats(&self) -> Result<StatsSummary, RtcError> {
        self.stats_detached().await
    }

    /// [`stats`](Self::stats) as a future that does not borrow `self`.
    pub(crate) fn stats_detached(
        &self,
    ) -> impl std::future::Future<Output = Result<StatsSummary, RtcError>> + 'static {
        let inner = Rc::clone(&self.inner);
        async move {
            inner.ensure_open()?;
            let report =
                JsFuture::from(inner.pc.get_stats())
                    .await
                    .map_err(|e| RtcError::Negotiation {
                        step: "getStats",
                        info: JsErrorInfo::from_js(&e),
                    })?;
            let previous = inner.previous_stats.borrow().clone();
            let summary = StatsSummary::from_report(&report, previous.as_ref());
            *inner.previous_stats.borrow_mut() = Some(summary.clone());
            Ok(summary)
        }
    }

    /// Closes the connection. Dropping does the same.
    pub fn close(&self) {
        self.inner.close();
    }
}

impl Drop for PeerConnection {
    fn drop(&mut self) {
        self.inner.close();
    }
}

impl Inner {
    fn ensure_open(&self) -> Result<(), RtcError> {
        if self.closed.get() {
            Err(RtcError::Closed)
        } else {
            Ok(())
        }
    }

    fn emit(&self, event: PeerEvent) {
        let _ = self.events.unbounded_send(event);
    }

    fn open_channel_of(&self, kind: DataChannelKind) -> Result<RtcDataChannel, RtcError> {
        self.channels
            .borrow()
            .iter()
            .find(|(k, c)| *k == kind && c.ready_state() == RtcDataChannelState::Open)
            .map(|(_, c)| c.clone())
            .ok_or(RtcError::ChannelNotOpen(kind))
    }

    fn install_handlers(&self) {
        let pc = &self.pc;
        let mut closures = self.closures.borrow_mut();

        let ops = self.ops.clone();
        let rounds = Rc::clone(&self.rounds);
        let on_negotiation = Closure::<dyn FnMut(JsValue)>::new(move |_| {
            let _ = ops.unbounded_send(Op::Negotiate(rounds.get()));
        });
        pc.set_onnegotiationneeded(Some(on_negotiation.as_ref().unchecked_ref()));
        closures.push(on_negotiation);

        let events = self.events.clone();
        let on_candidate = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
            let Ok(event) = event.dyn_into::<RtcPeerConnectionIceEvent>() else {
                return;
            };
            // A null candidate marks the end of gathering; trickle needs no
            // message for it.
            if let Some(candidate) = event.candidate() {
                let _ = events.unbounded_send(PeerEvent::Signal(SignalPayload::Candidate(
                    IceCandidate {
                        candidate: candidate.candidate(),
                        sdp_mid: candidate.sdp_mid(),
                        sdp_m_line_index: candidate.sdp_m_line_index(),
                        username_fragment: get_string(&candidate, "usernameFragment"),
                    },
                )));
            }
        });
        pc.set_onicecandidate(Some(on_candidate.as_ref().unchecked_ref()));
        closures.push(on_candidate);

        let events = self.events.clone();
        let on_track = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
            let Ok(event) = event.dyn_into::<RtcTrackEvent>() else {
                return;
            };
            let streams = event
                .streams()
                .iter()
                .filter_map(|s| s.dyn_into::<MediaStream>().ok())
                .collect();
            let _ = events.unbounded_send(PeerEvent::Track {
                track: event.track(),
                streams,
            });
        });
        pc.set_ontrack(Some(on_track.as_ref().unchecked_ref()));
        closures.push(on_track);

        let events = self.events.clone();
        let weak_pc = pc.clone();
        let on_state = Closure::<dyn FnMut(JsValue)>::new(move |_| {
            let _ = events.unbounded_send(PeerEvent::State(PeerState::from_web(
                weak_pc.connection_state(),
            )));
        });
        pc.set_onconnectionstatechange(Some(on_state.as_ref().unchecked_ref()));
        closures.push(on_state);

        let events = self.events.clone();
        let ice_pc = pc.clone();
        let policy = self.policy;
        let on_ice_state = Closure::<dyn FnMut(JsValue)>::new(move |_| {
            // A side that never offers cannot restart; the other side will.
            if ice_pc.ice_connection_state() == RtcIceConnectionState::Failed
                && policy != OfferPolicy::RemoteOnly
            {
                restart_ice(&ice_pc);
                let _ = events.unbounded_send(PeerEvent::IceRestart);
            }
        });
        pc.set_oniceconnectionstatechange(Some(on_ice_state.as_ref().unchecked_ref()));
        closures.push(on_ice_state);
    }

    fn open_channel(&self, kind: DataChannelKind) {
        let init = RtcDataChannelInit::new();
        init.set_negotiated(true);
        init.set_id(kind.id());
        if kind == DataChannelKind::Unreliable {
            init.set_ordered(false);
            init.set_max_retransmits(0);
        }
        let channel = self
            .pc
            .create_data_channel_with_data_channel_dict(kind.label(), &init);
        channel.set_binary_type(web_sys::RtcDataChannelType::Arraybuffer);

        let events = self.events.clone();
        let on_message = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
            let Ok(event) = event.dyn_into::<MessageEvent>() else {
                return;
            };
            let data = event.data();
            let message = if let Some(text) = data.as_string() {
                DataMessage::Text(text)
            } else if let Ok(buffer) = data.dyn_into::<js_sys::ArrayBuffer>() {
                DataMessage::Binary(js_sys::Uint8Array::new(&buffer).to_vec())
            } else {
                return;
            };
            let _ = events.unbounded_send(PeerEvent::Data(kind, message));
        });
        channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        let events = self.events.clone();
        let on_open = Closure::<dyn FnMut(JsValue)>::new(move |_| {
            let _ = events.unbounded_send(PeerEvent::ChannelOpen(kind));
        });
        channel.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        let mut closures = self.channel_closures.borrow_mut();
        closures.push(on_message);
        closures.push(on_open);
        self.channels.borrow_mut().push((kind, channel));
    }

    fn close(&self) {
        if self.closed.replace(true) {
            return;
        }
        let pc = &self.pc;
        pc.set_onnegotiationneeded(None);
        pc.set_onicecandidate(None);
        pc.set_ontrack(None);
        pc.set_onconnectionstatechange(None);
        pc.set_oniceconnectionstatechange(None);
        for (_, channel) in self.channels.borrow().iter() {
            channel.set_onmessage(None);
            channel.set_onopen(None);
            channel.close();
        }
        pc.close();
        self.emit(PeerEvent::State(PeerState::Closed));
        // The closures may be running right now (close called from an
        // event); they are freed with `Inner`, after the handlers are gone.
    }

    fn signaling_stable(&self) -> bool {
        self.pc.signaling_state() == RtcSignalingState::Stable
    }

    async fn negotiate(&self) {
        if self.policy == OfferPolicy::RemoteOnly {
            // Before the first offer, needed negotiation is the normal state
            // of a side that waits; after it, the app asked for something
            // only an offer could carry.
            if self.pc.remote_description().is_some() && self.signaling_stable() {
                self.emit(PeerEvent::Error(RtcError::OfferNotAllowed));
            }
            return;
        }
        // The browser fires the event again once back in stable if the
        // negotiation is still needed.
        if !self.signaling_stable() {
            return;
        }
        // Only the initiator makes the first offer. When both sides' first
        // offers collide on a connection whose only m-line is the data
        // channel, Chromium 156's polite side gathers no candidates after
        // rolling its offer back, and ICE never leaves `new`. The browser
        // fires again after the first exchange if anything is left over.
        if !self.initiator && self.pc.remote_description().is_none() {
            return;
        }
        if let Err(e) = JsFuture::from(set_local_description_implicit(&self.pc)).await {
            self.emit(PeerEvent::Error(RtcError::Negotiation {
                step: "creating an offer",
                info: JsErrorInfo::from_js(&e),
            }));
            return;
        }
        self.negotiation.borrow_mut().offers_made += 1;
        self.send_local_description();
    }

    fn send_local_description(&self) {
        if let Some(desc) = self.pc.local_description() {
            let kind = match desc.type_() {
                RtcSdpType::Offer => SdpKind::Offer,
                RtcSdpType::Answer => SdpKind::Answer,
                RtcSdpType::Pranswer => SdpKind::Pranswer,
                _ => return,
            };
            self.emit(PeerEvent::Signal(SignalPayload::Description(
                SessionDescription {
                    kind,
                    sdp: desc.sdp(),
                },
            )));
        }
    }

    async fn apply_remote(&self, payload: SignalPayload) {
        match payload {
            SignalPayload::Description(desc) => self.apply_description(desc).await,
            SignalPayload::Candidate(candidate) => {
                if self.pc.remote_description().is_none() {
                    self.negotiation
                        .borrow_mut()
                        .pending_candidates
                        .push(candidate);
                } else {
                    self.add_candidate(candidate).await;
                }
            }
        }
    }

    async fn apply_description(&self, desc: SessionDescription) {
        let stable = self.signaling_stable();
        // An answer while stable is a duplicate or answers an offer this
        // side already rolled back: nothing to apply.
        if desc.kind == SdpKind::Answer && stable {
            return;
        }
        let collision = desc.kind == SdpKind::Offer && !stable;
        let ignore = !self.polite && collision;
        self.negotiation.borrow_mut().ignore_offer = ignore;
        if ignore {
            return;
        }
        let init = RtcSessionDescriptionInit::new(match desc.kind {
            SdpKind::Offer => RtcSdpType::Offer,
            SdpKind::Answer => RtcSdpType::Answer,
            SdpKind::Pranswer => RtcSdpType::Pranswer,
            SdpKind::Rollback => RtcSdpType::Rollback,
        });
        init.set_sdp(&desc.sdp);
        if let Err(e) = JsFuture::from(self.pc.set_remote_description(&init)).await {
            self.emit(PeerEvent::Error(RtcError::Negotiation {
                step: "applying the remote description",
                info: JsErrorInfo::from_js(&e),
            }));
            return;
        }
        if desc.kind == SdpKind::Offer {
            let pending = std::mem::take(&mut self.negotiation.borrow_mut().pending_tracks);
            for (track, stream) in pending {
                self.pc.add_track_0(&track, &stream);
            }
            if let Err(e) = JsFuture::from(set_local_description_implicit(&self.pc)).await {
                self.emit(PeerEvent::Error(RtcError::Negotiation {
                    step: "creating an answer",
                    info: JsErrorInfo::from_js(&e),
                }));
                return;
            }
            self.finish_round();
            self.send_local_description();
        } else {
            self.finish_round();
        }
        let candidates = std::mem::take(&mut self.negotiation.borrow_mut().pending_candidates);
        for candidate in candidates {
            self.add_candidate(candidate).await;
        }
    }

    /// Counts a completed exchange. Runs right after the await that made the
    /// state stable, before the `negotiationneeded` the browser may fire at
    /// the end of the round, so that event counts for the new round.
    fn finish_round(&self) {
        if self.signaling_stable() {
            self.rounds.set(self.rounds.get().wrapping_add(1));
        }
    }

    async fn add_candidate(&self, candidate: IceCandidate) {
        let init = RtcIceCandidateInit::new(&candidate.candidate);
        init.set_sdp_mid(candidate.sdp_mid.as_deref());
        init.set_sdp_m_line_index(candidate.sdp_m_line_index);
        if let Some(ufrag) = &candidate.username_fragment {
            set_string(&init, "usernameFragment", ufrag);
        }
        let result = JsFuture::from(
            self.pc
                .add_ice_candidate_with_opt_rtc_ice_candidate_init(Some(&init)),
        )
        .await;
        if let Err(e) = result {
            // Candidates of an offer this side ignored are expected to fail.
            if !self.negotiation.borrow().ignore_offer {
                self.emit(PeerEvent::Error(RtcError::Negotiation {
                    step: "adding an ICE candidate",
                    info: JsErrorInfo::from_js(&e),
                }));
            }
        }
    }
}

async fn run_ops(inner: Weak<Inner>, mut ops: UnboundedReceiver<Op>) {
    while let Some(op) = ops.next().await {
        let Some(inner) = inner.upgrade() else { break };
        if inner.closed.get() {
            break;
        }
        match op {
            Op::Negotiate(round) => {
                // A round that completed since the event fired may have
                // covered what it asked for; the browser fires again at the
                // end of a round if anything is still unnegotiated.
                if round == inner.rounds.get() {
                    inner.negotiate().await;
                }
            }
            Op::Kick => {
                if inner.pc.local_description().is_none() && inner.pc.remote_description().is_none()
                {
                    inner.negotiate().await;
                }
            }
            Op::Remote(payload) => inner.apply_remote(payload).await,
        }
    }
}

/// Swaps the track of the first live transceiver of `kind` on `pc`.
pub(crate) async fn replace_track_on(
    pc: &RtcPeerConnection,
    kind: &str,
    track: Option<&MediaStreamTrack>,
) -> Result<(), RtcError> {
    let sender = pc
        .get_transceivers()
        .iter()
        .filter_map(|t| t.dyn_into::<RtcRtpTransceiver>().ok())
        .filter(|t| !t.stopped())
        .find(|t| t.receiver().track().kind() == kind)
        .map(|t| t.sender())
        .ok_or_else(|| RtcError::NoSender(kind.to_owned()))?;
    JsFuture::from(sender.replace_track(track))
        .await
        .map(|_| ())
        .map_err(|e| RtcError::Track(JsErrorInfo::from_js(&e)))
}
