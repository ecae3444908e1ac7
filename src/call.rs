//! [`Call`]: one peer connection over a 1:1 signaling server, such as the
//! sender/receiver relay.
//!
//! The codec's offer policy decides the role. The side that offers creates
//! its connection as soon as the socket is open and offers; since a relay
//! drops an offer when no receiver is registered yet, it sends the offer
//! again every [`OFFER_RETRY_MS`] until an answer arrives. The side that
//! answers holds its own tracks back until the offer comes, and adds them
//! before answering, so a two-way call needs a single offer.

use std::{cell::RefCell, rc::Rc, rc::Weak};

use futures::{
    channel::mpsc::{self, UnboundedReceiver, UnboundedSender},
    StreamExt,
};
use gloo_timers::future::IntervalStream;
use peerlens_protocol::{ClientMessage, IceServer, OfferPolicy, ServerMessage, SignalPayload};
use web_sys::{MediaStream, MediaStreamTrack};

use crate::{
    room::RoomError,
    rtc::{IcePolicy, PeerConnection, PeerEvent, PeerOptions, PeerState, RtcError, StatsSummary},
    signaling::{Signaling, SignalingEvent, SignalingState},
};

/// How often an unanswered offer is sent again.
pub const OFFER_RETRY_MS: u32 = 2_000;

/// How to start a call.
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    /// What this side sends, if anything.
    pub stream: Option<MediaStream>,
    /// STUN and TURN servers.
    pub ice_servers: Vec<IceServer>,
    /// `iceTransportPolicy`.
    pub ice_transport_policy: IcePolicy,
    /// Open the two data channels (both ends must agree; plain relay peers
    /// usually have none).
    pub data_channels: bool,
}

/// What a call reports.
#[derive(Debug, Clone)]
pub enum CallEvent {
    /// A remote track arrived.
    Track {
        /// The track.
        track: MediaStreamTrack,
        /// Its streams.
        streams: Vec<MediaStream>,
    },
    /// The connection state changed.
    State(PeerState),
    /// The signaling state changed.
    Signaling(SignalingState),
    /// Something failed; the call carries on.
    Error(RoomError),
}

struct Shared {
    signaling: Signaling,
    options: CallOptions,
    connection: RefCell<Option<PeerConnection>>,
    remote: RefCell<String>,
    events: UnboundedSender<CallEvent>,
}

/// A 1:1 call. Dropping it hangs up.
pub struct Call {
    shared: Rc<Shared>,
}

impl Call {
    /// Starts the call over `signaling`, whose events the call takes over.
    pub fn start(
        signaling: Signaling,
        signaling_events: UnboundedReceiver<SignalingEvent>,
        options: CallOptions,
    ) -> Result<(Self, UnboundedReceiver<CallEvent>), RoomError> {
        signaling.set_hello(Some(ClientMessage::Join {
            room: String::new(),
            name: String::new(),
            peer_id: None,
        }))?;
        let (events_tx, events) = mpsc::unbounded();
        let shared = Rc::new(Shared {
            signaling,
            options,
            connection: RefCell::new(None),
            remote: RefCell::new("remote".into()),
            events: events_tx,
        });
        // The answering side waits with its tracks held back.
        if shared.signaling.offer_policy() == OfferPolicy::RemoteOnly {
            shared.ensure_connection();
        }
        wasm_bindgen_futures::spawn_local(pump_signaling(Rc::downgrade(&shared), signaling_events));
        wasm_bindgen_futures::spawn_local(retry_offers(Rc::downgrade(&shared)));
        Ok((Self { shared }, events))
    }

    /// Whether this side makes the offers.
    pub fn is_offerer(&self) -> bool {
        self.shared.signaling.offer_policy() != OfferPolicy::RemoteOnly
    }

    /// The connection state.
    pub fn state(&self) -> PeerState {
        self.shared
            .connection
            .borrow()
            .as_ref()
            .map_or(PeerState::New, |c| c.state())
    }

    /// Swaps the sent track of `kind` without renegotiating.
    pub async fn replace_track(
        &self,
        kind: &str,
        track: Option<&MediaStreamTrack>,
    ) -> Result<(), RtcError> {
        let raw = self
            .shared
            .connection
            .borrow()
            .as_ref()
            .map(|c| c.as_raw().clone())
            .ok_or(RtcError::Closed)?;
        crate::rtc::replace_track_on(&raw, kind, track).await
    }

    /// Adds a track after the call started. Only the offering side may.
    pub fn add_track(
        &self,
        track: &MediaStreamTrack,
        stream: &MediaStream,
    ) -> Result<(), RtcError> {
        match self.shared.connection.borrow().as_ref() {
            Some(pc) => pc.add_track(track, stream),
            None => Err(RtcError::Closed),
        }
    }

    /// Restarts ICE. Only the offering side may.
    pub fn restart_ice(&self) -> Result<(), RtcError> {
        match self.shared.connection.borrow().as_ref() {
            Some(pc) => pc.restart_ice(),
            None => Err(RtcError::Closed),
        }
    }

    /// A `getStats()` summary.
    pub async fn stats(&self) -> Result<StatsSummary, RtcError> {
        let future = self
            .shared
            .connection
            .borrow()
            .as_ref()
            .map(|c| c.stats_detached())
            .ok_or(RtcError::Closed)?;
        future.await
    }

    /// Hangs up. Dropping does the same.
    pub fn hang_up(self) {}
}

impl Shared {
    fn emit(&self, event: CallEvent) {
        let _ = self.events.unbounded_send(event);
    }

    fn ensure_connection(self: &Rc<Self>) {
        if self
            .connection
            .borrow()
            .as_ref()
            .is_some_and(|c| c.state() != PeerState::Closed)
        {
            return;
        }
        let options = PeerOptions {
            // The answering side yields: it never offers anyway.
            polite: self.signaling.offer_policy() == OfferPolicy::RemoteOnly,
            offer_policy: self.signaling.offer_policy(),
            ice_servers: self.options.ice_servers.clone(),
            ice_transport_policy: self.options.ice_transport_policy,
            data_channels: self.options.data_channels,
            initiator: self.signaling.offer_policy() != OfferPolicy::RemoteOnly,
        };
        match PeerConnection::new(options) {
            Ok((pc, events)) => {
                if let Some(stream) = &self.options.stream {
                    if let Err(error) = pc.add_stream(stream) {
                        self.emit(CallEvent::Error(RoomError::Peer {
                            peer: self.remote.borrow().clone(),
                            error,
                        }));
                    }
                }
                *self.connection.borrow_mut() = Some(pc);
                wasm_bindgen_futures::spawn_local(pump_peer(Rc::downgrade(self), events));
            }
            Err(error) => self.emit(CallEvent::Error(RoomError::Peer {
                peer: self.remote.borrow().clone(),
                error,
            })),
        }
    }

    fn on_signaling(self: &Rc<Self>, event: SignalingEvent) {
        match event {
            SignalingEvent::State(state) => {
                if state == SignalingState::Open {
                    if self.signaling.offer_policy() != OfferPolicy::RemoteOnly {
                        self.ensure_connection();
                    }
                    // A connection that broke while signaling was down can
                    // restart now.
                    if let Some(pc) = self.connection.borrow().as_ref() {
                        if matches!(pc.state(), PeerState::Failed | PeerState::Disconnected) {
                            let _ = pc.restart_ice();
                        }
                    }
                }
                self.emit(CallEvent::Signaling(state));
            }
            SignalingEvent::Message(ServerMessage::Signal { from, data }) => {
                *self.remote.borrow_mut() = from.clone();
                match SignalPayload::from_value(&data) {
                    Ok(payload) => {
                        self.ensure_connection();
                        if let Some(pc) = self.connection.borrow().as_ref() {
                            pc.handle_signal(payload);
                        }
                    }
                    Err(error) => self.emit(CallEvent::Error(RoomError::BadSignal { from, error })),
                }
            }
            SignalingEvent::Message(ServerMessage::Error { code, message }) => {
                self.emit(CallEvent::Error(RoomError::Server { code, message }))
            }
            SignalingEvent::Message(_) => {}
            SignalingEvent::Error(error) => self.emit(CallEvent::Error(error.into())),
        }
    }

    fn on_peer(&self, event: PeerEvent) {
        match event {
            PeerEvent::Signal(payload) => {
                let message = ClientMessage::Signal {
                    to: self.remote.borrow().clone(),
                    data: payload.to_value(),
                };
                if let Err(e) = self.signaling.send(&message) {
                    self.emit(CallEvent::Error(e.into()));
                }
            }
            PeerEvent::Track { track, streams } => self.emit(CallEvent::Track { track, streams }),
            PeerEvent::State(state) => self.emit(CallEvent::State(state)),
            PeerEvent::Error(error) => self.emit(CallEvent::Error(RoomError::Peer {
                peer: self.remote.borrow().clone(),
                error,
            })),
            PeerEvent::IceRestart | PeerEvent::ChannelOpen(_) | PeerEvent::Data(..) => {}
        }
    }

    /// Sends the pending local offer again, if one is waiting for an answer.
    fn resend_offer(&self) {
        let pending = self.connection.borrow().as_ref().and_then(|pc| {
            let raw = pc.as_raw();
            (raw.signaling_state() == web_sys::RtcSignalingState::HaveLocalOffer)
                .then(|| raw.local_description())
                .flatten()
        });
        if let Some(desc) = pending {
            let payload = SignalPayload::Description(peerlens_protocol::SessionDescription {
                kind: peerlens_protocol::SdpKind::Offer,
                sdp: desc.sdp(),
            });
            let message = ClientMessage::Signal {
                to: self.remote.borrow().clone(),
                data: payload.to_value(),
            };
            let _ = self.signaling.send(&message);
        }
    }
}

async fn pump_signaling(shared: Weak<Shared>, mut events: UnboundedReceiver<SignalingEvent>) {
    while let Some(event) = events.next().await {
        let Some(shared) = shared.upgrade() else {
            break;
        };
        shared.on_signaling(event);
    }
}

async fn pump_peer(shared: Weak<Shared>, mut events: UnboundedReceiver<PeerEvent>) {
    while let Some(event) = events.next().await {
        let Some(shared) = shared.upgrade() else {
            break;
        };
        shared.on_peer(event);
    }
}

async fn retry_offers(shared: Weak<Shared>) {
    let mut ticks = IntervalStream::new(OFFER_RETRY_MS);
    while ticks.next().await.is_some() {
        let Some(shared) = shared.upgrade() else {
            break;
        };
        if shared.signaling.offer_policy() != OfferPolicy::RemoteOnly
            && shared.signaling.state() == SignalingState::Open
        {
            shared.resend_offer();
        }
    }
}
