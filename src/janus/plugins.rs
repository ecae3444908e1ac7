//! The EchoTest, VideoRoom and Streaming plugins: each pairs plugin
//! handles with peer connections and reports one kind of event.

use std::{cell::RefCell, collections::HashMap, rc::Rc};

use futures::{
    channel::mpsc::{self, UnboundedReceiver, UnboundedSender},
    future::{select, Either},
    StreamExt,
};
use peerlens_protocol::{OfferPolicy, SdpKind, SessionDescription, SignalPayload};
use serde_json::{json, Value};
use web_sys::{MediaStream, MediaStreamTrack};

use super::{HandleEvent, Janus, JanusError, JanusHandle};
use crate::rtc::{PeerConnection, PeerEvent, PeerOptions, PeerState};

const ECHOTEST: &str = "janus.plugin.echotest";
const VIDEOROOM: &str = "janus.plugin.videoroom";
const STREAMING: &str = "janus.plugin.streaming";

/// What the Janus plugins report. `feed` is the VideoRoom publisher a
/// subscription belongs to (`None` for EchoTest, Streaming and the own
/// publisher connection).
#[derive(Debug, Clone)]
pub enum JanusMediaEvent {
    /// A track arrived: the echo, a feed, or the mountpoint's media.
    Track {
        /// The feed it comes from.
        feed: Option<u64>,
        /// The track.
        track: MediaStreamTrack,
        /// Its streams.
        streams: Vec<MediaStream>,
    },
    /// A connection's state changed.
    State {
        /// The feed (`None`: the own connection).
        feed: Option<u64>,
        /// The new state.
        state: PeerState,
    },
    /// Janus says the connection is up (`webrtcup`).
    WebrtcUp {
        /// The feed.
        feed: Option<u64>,
    },
    /// VideoRoom: another publisher is there; its media follows as tracks.
    FeedJoined {
        /// Its id.
        feed: u64,
        /// Its display name.
        display: String,
    },
    /// VideoRoom: a publisher left or stopped publishing.
    FeedLeft {
        /// Its id.
        feed: u64,
    },
    /// Streaming: the playback status as Janus reports it (`starting`,
    /// `started`, `pausing`, `stopping`).
    Status(String),
    /// Janus hung a connection up.
    Hangup {
        /// The feed.
        feed: Option<u64>,
        /// Why.
        reason: String,
    },
    /// Something failed; with [`JanusError::Disconnected`] the session is
    /// gone.
    Error(JanusError),
}

type Events = UnboundedSender<JanusMediaEvent>;

fn peer_options(janus: &Janus, policy: OfferPolicy) -> PeerOptions {
    PeerOptions {
        polite: false,
        offer_policy: policy,
        ice_servers: janus.options().ice_servers.clone(),
        ice_transport_policy: crate::rtc::IcePolicy::All,
        data_channels: false,
        initiator: policy != OfferPolicy::RemoteOnly,
    }
}

/// Waits for the connection's next local description of `kind`, sending
/// the candidates gathered meanwhile to the handle. Other events (a track
/// arrives while the remote offer is applied) go to `backlog`.
async fn local_description(
    pc_events: &mut UnboundedReceiver<PeerEvent>,
    handle: &JanusHandle,
    kind: SdpKind,
    backlog: &mut Vec<PeerEvent>,
) -> Result<SessionDescription, JanusError> {
    let deadline =
        gloo_timers::future::TimeoutFuture::new(handle.janus().options().request_timeout_ms);
    futures::pin_mut!(deadline);
    loop {
        match select(pc_events.next(), deadline.as_mut()).await {
            Either::Left((Some(PeerEvent::Signal(SignalPayload::Description(d))), _))
                if d.kind == kind =>
            {
                return Ok(d);
            }
            Either::Left((Some(PeerEvent::Signal(SignalPayload::Candidate(c))), _)) => {
                handle.trickle(Some(c));
            }
            Either::Left((Some(PeerEvent::Error(e)), _)) => return Err(e.into()),
            Either::Left((Some(other), _)) => backlog.push(other),
            Either::Left((None, _)) => return Err(JanusError::Closed),
            Either::Right(_) => {
                return Err(JanusError::Timeout {
                    request: format!("the local {kind:?}"),
                    ms: handle.janus().options().request_timeout_ms,
                })
            }
        }
    }
}

/// Forwards a connection's and a handle's events until either ends (the
/// connection's events start with those that arrived during setup).
/// `on_event` sees plugin events first; what it returns is reported.
async fn pump(
    feed: Option<u64>,
    handle: Rc<JanusHandle>,
    pc: Rc<PeerConnection>,
    mut pc_events: impl futures::Stream<Item = PeerEvent> + Unpin,
    mut handle_events: UnboundedReceiver<HandleEvent>,
    events: Events,
    mut on_event: impl FnMut(&Value) -> Vec<JanusMediaEvent>,
) {
    let send = |event| {
        let _ = events.unbounded_send(event);
    };
    loop {
        match select(pc_events.next(), handle_events.next()).await {
            Either::Left((Some(event), _)) => match event {
                PeerEvent::Signal(SignalPayload::Candidate(c)) => handle.trickle(Some(c)),
                PeerEvent::Track { track, streams } => send(JanusMediaEvent::Track {
                    feed,
                    track,
                    streams,
                }),
                PeerEvent::State(state) => {
                    send(JanusMediaEvent::State { feed, state });
                    if state == PeerState::Closed {
                        return;
                    }
                }
                PeerEvent::Error(e) => send(JanusMediaEvent::Error(e.into())),
                _ => {}
            },
            Either::Right((Some(event), _)) => match event {
                HandleEvent::Event { data, jsep } => {
                    for event in on_event(&data) {
                        send(event);
                    }
                    // A renegotiation offered by the plugin.
                    if let Some(jsep) = jsep {
                        pc.handle_signal(SignalPayload::Description(jsep));
                    }
                }
                HandleEvent::WebrtcUp => send(JanusMediaEvent::WebrtcUp { feed }),
                HandleEvent::Hangup(reason) => send(JanusMediaEvent::Hangup { feed, reason }),
                HandleEvent::Trickle(Some(c)) => {
                    pc.handle_signal(SignalPayload::Candidate(c));
                }
                HandleEvent::Lost(e) => {
                    send(JanusMediaEvent::Error(e));
                    pc.close();
                    return;
                }
                HandleEvent::Detached => return,
                HandleEvent::Trickle(None) | HandleEvent::Media { .. } | HandleEvent::SlowLink => {}
            },
            Either::Left((None, _)) | Either::Right((None, _)) => return,
        }
    }
}

/// Attaches `plugin`, offers `stream` with `body`, applies the answer and
/// starts forwarding events. Returns the handle and the connection.
async fn publish(
    janus: &Janus,
    plugin: &'static str,
    stream: &MediaStream,
    body: Value,
    handle: Option<(JanusHandle, UnboundedReceiver<HandleEvent>)>,
    events: Events,
    on_event: impl FnMut(&Value) -> Vec<JanusMediaEvent> + 'static,
) -> Result<(Rc<JanusHandle>, Rc<PeerConnection>), JanusError> {
    let (handle, handle_events) = match handle {
        Some(pair) => pair,
        None => janus.attach(plugin).await?,
    };
    let (pc, mut pc_events) = PeerConnection::new(peer_options(janus, OfferPolicy::LocalOnly))?;
    pc.add_stream(stream)?;
    let mut backlog = Vec::new();
    let offer = local_description(&mut pc_events, &handle, SdpKind::Offer, &mut backlog).await?;
    let reply = handle.request(plugin, body, Some(offer)).await?;
    let answer = reply.jsep.ok_or_else(|| {
        JanusError::Protocol(format!("{plugin} answered the offer without an SDP"))
    })?;
    pc.handle_signal(SignalPayload::Description(answer));
    Ok(Negotiated {
        handle,
        handle_events,
        pc,
        backlog,
        pc_events,
    }
    .run(None, events, on_event))
}

/// Answers the offer a plugin sent (Streaming `watch`, VideoRoom
/// subscriber `join`) and sends the answer with `start`.
async fn subscribe(
    janus: &Janus,
    plugin: &'static str,
    feed: Option<u64>,
    body: Value,
    events: Events,
    on_event: impl FnMut(&Value) -> Vec<JanusMediaEvent> + 'static,
) -> Result<(Rc<JanusHandle>, Rc<PeerConnection>), JanusError> {
    let (handle, handle_events) = janus.attach(plugin).await?;
    let reply = handle.request(plugin, body, None).await?;
    let offer = reply
        .jsep
        .filter(|j| j.kind == SdpKind::Offer)
        .ok_or_else(|| JanusError::Protocol(format!("{plugin} sent no offer to subscribe to")))?;
    let (pc, mut pc_events) = PeerConnection::new(peer_options(janus, OfferPolicy::RemoteOnly))?;
    pc.handle_signal(SignalPayload::Description(offer));
    let mut backlog = Vec::new();
    let answer = local_description(&mut pc_events, &handle, SdpKind::Answer, &mut backlog).await?;
    handle
        .request(plugin, json!({ "request": "start" }), Some(answer))
        .await?;
    Ok(Negotiated {
        handle,
        handle_events,
        pc,
        backlog,
        pc_events,
    }
    .run(feed, events, on_event))
}

/// A handle and its connection once the offer and answer are exchanged.
struct Negotiated {
    handle: JanusHandle,
    handle_events: UnboundedReceiver<HandleEvent>,
    pc: PeerConnection,
    /// Connection events that arrived during the exchange.
    backlog: Vec<PeerEvent>,
    pc_events: UnboundedReceiver<PeerEvent>,
}

impl Negotiated {
    /// Starts forwarding the events; returns the shared handle and
    /// connection.
    fn run(
        self,
        feed: Option<u64>,
        events: Events,
        on_event: impl FnMut(&Value) -> Vec<JanusMediaEvent> + 'static,
    ) -> (Rc<JanusHandle>, Rc<PeerConnection>) {
        let (handle, pc) = (Rc::new(self.handle), Rc::new(self.pc));
        wasm_bindgen_futures::spawn_local(pump(
            feed,
            Rc::clone(&handle),
            Rc::clone(&pc),
            futures::stream::iter(self.backlog).chain(self.pc_events),
            self.handle_events,
            events,
            on_event,
        ));
        (handle, pc)
    }
}

/// Janus's EchoTest: sends a stream and receives it back.
pub struct EchoTest {
    handle: Rc<JanusHandle>,
    pc: Rc<PeerConnection>,
}

impl EchoTest {
    /// Sends every track of `stream` to the EchoTest plugin. The echo
    /// arrives as [`JanusMediaEvent::Track`].
    pub async fn start(
        janus: &Janus,
        stream: &MediaStream,
    ) -> Result<(Self, UnboundedReceiver<JanusMediaEvent>), JanusError> {
        let (tx, rx) = mpsc::unbounded();
        let body = json!({ "audio": true, "video": true });
        let (handle, pc) = publish(janus, ECHOTEST, stream, body, None, tx, |_| Vec::new()).await?;
        Ok((Self { handle, pc }, rx))
    }

    /// The peer connection to Janus, for stats.
    pub fn peer(&self) -> &PeerConnection {
        &self.pc
    }

    /// Ends the echo: closes the connection and detaches the handle.
    pub fn stop(&self) {
        self.pc.close();
        self.handle.detach();
    }
}

impl Drop for EchoTest {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How to join a VideoRoom.
#[derive(Debug, Clone)]
pub struct VideoRoomOptions {
    /// The numeric room id.
    pub room: u64,
    /// The display name others see.
    pub display: String,
    /// Create the room when it does not exist.
    pub create: bool,
    /// The publisher limit of a room this side creates.
    pub max_publishers: u32,
}

impl Default for VideoRoomOptions {
    fn default() -> Self {
        Self {
            room: 1234,
            display: String::new(),
            create: true,
            max_publishers: 16,
        }
    }
}

struct Subscription {
    handle: Rc<JanusHandle>,
    pc: Rc<PeerConnection>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.pc.close();
        self.handle.detach();
    }
}

type Subscriptions = Rc<RefCell<HashMap<u64, Option<Subscription>>>>;

/// A VideoRoom: publishes one stream and subscribes to every other
/// publisher, each on its own connection.
pub struct VideoRoom {
    id: u64,
    publisher: Rc<JanusHandle>,
    pc: Rc<PeerConnection>,
    subscriptions: Subscriptions,
}

/// The publishers listed in a VideoRoom event, as (id, display).
fn publishers(data: &Value) -> Vec<(u64, String)> {
    data.get("publishers")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|p| {
                    let id = p.get("id")?.as_u64()?;
                    let display = p
                        .get("display")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned();
                    Some((id, display))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The publisher a VideoRoom event says left.
fn departed(data: &Value) -> Option<u64> {
    ["unpublished", "leaving", "kicked"]
        .iter()
        .find_map(|key| data.get(*key).and_then(Value::as_u64))
}

impl VideoRoom {
    /// Joins `options.room` as a publisher of `stream`, creating the room
    /// if asked, and subscribes to the publishers already there and to
    /// those who come later.
    pub async fn join(
        janus: &Janus,
        options: VideoRoomOptions,
        stream: &MediaStream,
    ) -> Result<(Self, UnboundedReceiver<JanusMediaEvent>), JanusError> {
        let (tx, rx) = mpsc::unbounded();
        let (handle, handle_events) = janus.attach(VIDEOROOM).await?;
        let room = options.room;
        if options.create {
            let exists = handle
                .request(
                    VIDEOROOM,
                    json!({ "request": "exists", "room": room }),
                    None,
                )
                .await?;
            if exists.data.get("exists").and_then(Value::as_bool) != Some(true) {
                let created = handle
                    .request(
                        VIDEOROOM,
                        json!({ "request": "create", "room": room,
                                "publishers": options.max_publishers }),
                        None,
                    )
                    .await;
                match created {
                    // 427: another client created it meanwhile.
                    Ok(_) | Err(JanusError::Plugin { code: 427, .. }) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        let joined = handle
            .request(
                VIDEOROOM,
                json!({ "request": "join", "ptype": "publisher", "room": room,
                        "display": options.display }),
                None,
            )
            .await?;
        let id = joined
            .data
            .get("id")
            .and_then(Value::as_u64)
            .ok_or_else(|| JanusError::Protocol("the VideoRoom join gave no id".into()))?;
        let subscriptions: Subscriptions = Rc::default();
        let on_event = {
            let janus = janus.clone();
            let subscriptions = Rc::clone(&subscriptions);
            let tx = tx.clone();
            move |data: &Value| {
                let mut out = Vec::new();
                for (feed, display) in publishers(data) {
                    if feed != id {
                        out.push(JanusMediaEvent::FeedJoined { feed, display });
                        follow(&janus, room, feed, &subscriptions, &tx);
                    }
                }
                if let Some(feed) = departed(data) {
                    if subscriptions.borrow_mut().remove(&feed).is_some() {
                        out.push(JanusMediaEvent::FeedLeft { feed });
                    }
                }
                out
            }
        };
        let (publisher, pc) = publish(
            janus,
            VIDEOROOM,
            stream,
            json!({ "request": "publish", "audio": true, "video": true }),
            Some((handle, handle_events)),
            tx.clone(),
            on_event,
        )
        .await?;
        for (feed, display) in publishers(&joined.data) {
            let _ = tx.unbounded_send(JanusMediaEvent::FeedJoined { feed, display });
            follow(janus, room, feed, &subscriptions, &tx);
        }
        Ok((
            Self {
                id,
                publisher,
                pc,
                subscriptions,
            },
            rx,
        ))
    }

    /// This side's publisher id in the room.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The publishers this side is subscribed to.
    pub fn feeds(&self) -> Vec<u64> {
        self.subscriptions.borrow().keys().copied().collect()
    }

    /// The publishing connection, for stats.
    pub fn peer(&self) -> &PeerConnection {
        &self.pc
    }

    /// Leaves the room: unsubscribes, unpublishes and detaches.
    pub fn leave(&self) {
        self.subscriptions.borrow_mut().clear();
        self.pc.close();
        self.publisher.detach();
    }
}

impl Drop for VideoRoom {
    fn drop(&mut self) {
        self.leave();
    }
}

/// Subscribes to `feed` in the background, once.
fn follow(janus: &Janus, room: u64, feed: u64, subscriptions: &Subscriptions, events: &Events) {
    if subscriptions.borrow().contains_key(&feed) {
        return;
    }
    // Reserved now, so a second announcement does not subscribe twice.
    subscriptions.borrow_mut().insert(feed, None);
    let (janus, subscriptions, events) = (janus.clone(), Rc::clone(subscriptions), events.clone());
    wasm_bindgen_futures::spawn_local(async move {
        let body = json!({ "request": "join", "ptype": "subscriber", "room": room,
                           "streams": [{ "feed": feed }] });
        match subscribe(&janus, VIDEOROOM, Some(feed), body, events.clone(), |_| {
            Vec::new()
        })
        .await
        {
            Ok((handle, pc)) => {
                let mut subs = subscriptions.borrow_mut();
                // It may have left while the subscription was set up.
                if let Some(slot) = subs.get_mut(&feed) {
                    *slot = Some(Subscription { handle, pc });
                } else {
                    drop(subs);
                    Subscription { handle, pc };
                }
            }
            Err(e) => {
                subscriptions.borrow_mut().remove(&feed);
                let _ = events.unbounded_send(JanusMediaEvent::Error(e));
            }
        }
    });
}

/// Receive-only playback of a Streaming mountpoint.
pub struct StreamingPlayer {
    handle: Rc<JanusHandle>,
    pc: Rc<PeerConnection>,
    events: Events,
}

/// The status a Streaming event reports.
fn streaming_status(data: &Value) -> Vec<JanusMediaEvent> {
    data.get("result")
        .and_then(|r| r.get("status"))
        .and_then(Value::as_str)
        .map(|s| vec![JanusMediaEvent::Status(s.to_owned())])
        .unwrap_or_default()
}

impl StreamingPlayer {
    /// Watches mountpoint `id`. Its media arrives as
    /// [`JanusMediaEvent::Track`].
    pub async fn watch(
        janus: &Janus,
        id: u64,
    ) -> Result<(Self, UnboundedReceiver<JanusMediaEvent>), JanusError> {
        let (tx, rx) = mpsc::unbounded();
        let (handle, pc) = subscribe(
            janus,
            STREAMING,
            None,
            json!({ "request": "watch", "id": id }),
            tx.clone(),
            streaming_status,
        )
        .await?;
        Ok((
            Self {
                handle,
                pc,
                events: tx,
            },
            rx,
        ))
    }

    /// Sends a control request; the status Janus answers with is reported
    /// like the unsolicited ones.
    async fn control(&self, request: &str) -> Result<(), JanusError> {
        let reply = self
            .handle
            .request(STREAMING, json!({ "request": request }), None)
            .await?;
        for event in streaming_status(&reply.data) {
            let _ = self.events.unbounded_send(event);
        }
        Ok(())
    }

    /// Pauses the stream; the connection stays up.
    pub async fn pause(&self) -> Result<(), JanusError> {
        self.control("pause").await
    }

    /// Resumes a paused stream.
    pub async fn resume(&self) -> Result<(), JanusError> {
        self.control("start").await
    }

    /// Stops watching: Janus tears the connection down.
    pub async fn stop(&self) -> Result<(), JanusError> {
        let result = self.control("stop").await;
        self.pc.close();
        self.handle.detach();
        result
    }

    /// The receiving connection, for stats.
    pub fn peer(&self) -> &PeerConnection {
        &self.pc
    }
}

impl Drop for StreamingPlayer {
    fn drop(&mut self) {
        self.pc.close();
        self.handle.detach();
    }
}
