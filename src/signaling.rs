//! The signaling transport: one WebSocket (gloo-net) that stays up.
//!
//! It reconnects with exponential backoff and jitter, queues outgoing
//! messages while the socket is down, runs the codec's heartbeat, and turns
//! every inbound frame into library messages through a [`Codec`]. A
//! malformed frame becomes an [`SignalingEvent::Error`]; it never closes the
//! socket.
//!
//! [`Signaling`] is a handle. Dropping it closes the socket and ends the
//! background task.

use std::{cell::RefCell, collections::VecDeque, rc::Rc};

use futures::{
    channel::mpsc::{self, UnboundedReceiver, UnboundedSender},
    future::{self, Either},
    SinkExt, StreamExt,
};
use gloo_net::websocket::{futures::WebSocket, Message, State as SocketState};
use gloo_timers::future::{IntervalStream, TimeoutFuture};
use peerlens_protocol::{
    codec::{decode_binary_checked, decode_checked},
    Backoff, ClientMessage, Codec, CodecError, ServerMessage,
};

/// Outgoing frames kept while the socket is down. Beyond this the oldest are
/// dropped, and an error says so: a client that stays offline for long must
/// not grow without bound.
pub const MAX_QUEUED_FRAMES: usize = 1024;

/// How long a socket may take to open before the attempt counts as failed.
const CONNECT_TIMEOUT_MS: u32 = 10_000;

/// The transport's connection state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignalingState {
    /// Opening a socket (the first time, or again after a drop).
    Connecting {
        /// 0 for the first try after a working connection.
        attempt: u32,
    },
    /// The socket is open and the codec's handshake is done: messages flow.
    Open,
    /// The socket dropped or could not open; the next try is scheduled.
    Reconnecting {
        /// Milliseconds until the next try.
        in_ms: u32,
        /// How many tries failed in a row.
        attempt: u32,
    },
    /// Closed for good, because the handle was dropped or `close` called.
    Closed,
}

/// Why something went wrong on the signaling path. None of these closes the
/// transport.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SignalingError {
    /// An inbound frame was malformed; it was skipped.
    #[error("skipped a malformed frame from the server: {0}")]
    Decode(CodecError),
    /// An outgoing message cannot be said in this codec.
    #[error("could not encode a message: {0}")]
    Encode(CodecError),
    /// The socket could not be opened or dropped.
    #[error("connection to the signaling server failed: {0}")]
    Connection(String),
    /// The heartbeat saw no frame from the server for too long.
    #[error("no frame from the server for {0} ms; reconnecting")]
    Timeout(u32),
    /// Too many frames queued while offline; the oldest were dropped.
    #[error("{0} queued frames were dropped while the socket was down")]
    QueueOverflow(usize),
}

impl SignalingError {
    /// A stable name for the kind, used as the JS `Error.name`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Decode(_) => "MalformedMessage",
            Self::Encode(_) => "EncodeError",
            Self::Connection(_) => "ConnectionError",
            Self::Timeout(_) => "HeartbeatTimeout",
            Self::QueueOverflow(_) => "QueueOverflow",
        }
    }
}

/// What the transport reports.
#[derive(Debug, Clone, PartialEq)]
pub enum SignalingEvent {
    /// The connection state changed.
    State(SignalingState),
    /// A message from the server.
    Message(ServerMessage),
    /// Something failed; the transport carries on.
    Error(SignalingError),
}

/// Reconnect and heartbeat settings.
#[derive(Debug, Clone)]
pub struct SignalingOptions {
    /// Delays between reconnect attempts.
    pub backoff: Backoff,
    /// Reconnect after a drop (true by default).
    pub reconnect: bool,
}

impl Default for SignalingOptions {
    fn default() -> Self {
        Self {
            backoff: Backoff::default(),
            reconnect: true,
        }
    }
}

struct Shared {
    codec: Box<dyn Codec>,
    queue: VecDeque<String>,
    /// Sent first after every (re)connect, before the queue: a room's join.
    hello: Option<ClientMessage>,
    state: SignalingState,
    closed: bool,
}

/// A handle to the signaling transport. See the module docs.
pub struct Signaling {
    shared: Rc<RefCell<Shared>>,
    kick: UnboundedSender<()>,
    has_rooms: bool,
    offer_policy: peerlens_protocol::OfferPolicy,
    codec_name: &'static str,
}

impl Signaling {
    /// Starts connecting to `url` and returns the handle and its events.
    ///
    /// The returned receiver yields events until the handle is dropped.
    pub fn connect(
        url: &str,
        codec: Box<dyn Codec>,
        options: SignalingOptions,
    ) -> (Self, UnboundedReceiver<SignalingEvent>) {
        let has_rooms = codec.has_rooms();
        let offer_policy = codec.offer_policy();
        let codec_name = codec.name();
        let shared = Rc::new(RefCell::new(Shared {
            codec,
            queue: VecDeque::new(),
            hello: None,
            state: SignalingState::Connecting { attempt: 0 },
            closed: false,
        }));
        let (kick, kicks) = mpsc::unbounded();
        let (events_tx, events) = mpsc::unbounded();
        wasm_bindgen_futures::spawn_local(drive(
            url.to_owned(),
            Rc::clone(&shared),
            kicks,
            events_tx,
            options,
        ));
        (
            Self {
                shared,
                kick,
                has_rooms,
                offer_policy,
                codec_name,
            },
            events,
        )
    }

    /// Whether the codec's server has rooms (see [`Codec::has_rooms`]).
    pub fn has_rooms(&self) -> bool {
        self.has_rooms
    }

    /// Who may offer on this codec's protocol.
    pub fn offer_policy(&self) -> peerlens_protocol::OfferPolicy {
        self.offer_policy
    }

    /// The codec's name.
    pub fn codec_name(&self) -> &'static str {
        self.codec_name
    }

    /// The current connection state.
    pub fn state(&self) -> SignalingState {
        self.shared.borrow().state.clone()
    }

    /// Sends a message now, or as soon as the socket is back. Fails only when
    /// the codec cannot say it.
    pub fn send(&self, message: &ClientMessage) -> Result<(), SignalingError> {
        let frames = {
            let mut shared = self.shared.borrow_mut();
            shared
                .codec
                .encode(message)
                .map_err(SignalingError::Encode)?
        };
        {
            let mut shared = self.shared.borrow_mut();
            shared.queue.extend(frames);
        }
        let _ = self.kick.unbounded_send(());
        Ok(())
    }

    /// Sets the message sent first on every (re)connect, and sends it now if
    /// the socket is open. A room uses it for its join, so that a
    /// reconnected client is back in its room before anything else it sends.
    pub fn set_hello(&self, hello: Option<ClientMessage>) -> Result<(), SignalingError> {
        if let Some(message) = &hello {
            // Check now that the codec can say it, so the error is the caller's.
            self.shared
                .borrow_mut()
                .codec
                .encode(message)
                .map_err(SignalingError::Encode)?;
        }
        let open = self.state() == SignalingState::Open;
        self.shared.borrow_mut().hello = hello.clone();
        if let (true, Some(message)) = (open, hello) {
            self.send(&message)?;
        }
        Ok(())
    }

    /// Closes the socket for good.
    pub fn close(&self) {
        self.shared.borrow_mut().closed = true;
        let _ = self.kick.unbounded_send(());
    }
}

impl Drop for Signaling {
    fn drop(&mut self) {
        self.close();
    }
}

fn set_state(
    shared: &RefCell<Shared>,
    events: &UnboundedSender<SignalingEvent>,
    state: SignalingState,
) {
    let changed = {
        let mut s = shared.borrow_mut();
        let changed = s.state != state;
        s.state = state.clone();
        changed
    };
    if changed {
        let _ = events.unbounded_send(SignalingEvent::State(state));
    }
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// How one socket's life ended.
enum Ended {
    /// The handle was dropped or closed.
    Closed,
    /// The socket dropped or went silent; reconnect.
    Dropped,
}

async fn drive(
    url: String,
    shared: Rc<RefCell<Shared>>,
    mut kicks: UnboundedReceiver<()>,
    events: UnboundedSender<SignalingEvent>,
    mut options: SignalingOptions,
) {
    loop {
        if shared.borrow().closed {
            break;
        }
        let attempt = options.backoff.attempt();
        set_state(&shared, &events, SignalingState::Connecting { attempt });
        let ended = match open_socket(&url).await {
            Ok(socket) => run_socket(socket, &shared, &mut kicks, &events, &mut options).await,
            Err(reason) => {
                let _ = events
                    .unbounded_send(SignalingEvent::Error(SignalingError::Connection(reason)));
                Ended::Dropped
            }
        };
        if matches!(ended, Ended::Closed) || shared.borrow().closed || !options.reconnect {
            break;
        }
        let attempt = options.backoff.attempt() + 1;
        let delay = options.backoff.next_delay_ms(js_sys::Math::random());
        set_state(
            &shared,
            &events,
            SignalingState::Reconnecting {
                in_ms: delay,
                attempt,
            },
        );
        // Wait out the delay, but stop at once if the handle is dropped.
        let mut sleep = TimeoutFuture::new(delay);
        loop {
            match future::select(sleep, kicks.next()).await {
                Either::Left(_) => break,
                Either::Right((None, _)) => {
                    shared.borrow_mut().closed = true;
                    break;
                }
                Either::Right((Some(()), rest)) => {
                    if shared.borrow().closed {
                        break;
                    }
                    sleep = rest;
                }
            }
        }
    }
    set_state(&shared, &events, SignalingState::Closed);
}

async fn open_socket(url: &str) -> Result<WebSocket, String> {
    let mut socket = WebSocket::open(url).map_err(|e| e.to_string())?;
    // The sink is ready once the socket leaves CONNECTING, open or not.
    let ready =
        future::poll_fn(|cx| futures::Sink::poll_ready(std::pin::Pin::new(&mut socket), cx));
    match future::select(Box::pin(ready), TimeoutFuture::new(CONNECT_TIMEOUT_MS)).await {
        Either::Left(_) => {}
        Either::Right(_) => {
            return Err(format!(
                "no answer from {url} within {CONNECT_TIMEOUT_MS} ms"
            ))
        }
    }
    match socket.state() {
        SocketState::Open => Ok(socket),
        _ => Err(format!("could not open {url}")),
    }
}

enum Input {
    Frame(Message),
    SocketError(String),
    SocketEnd,
    Kick,
    KicksEnded,
    Tick,
}

async fn run_socket(
    socket: WebSocket,
    shared: &Rc<RefCell<Shared>>,
    kicks: &mut UnboundedReceiver<()>,
    events: &UnboundedSender<SignalingEvent>,
    options: &mut SignalingOptions,
) -> Ended {
    let (mut sink, stream) = socket.split();
    let first = shared.borrow_mut().codec.on_open();
    let mut greeted = false;
    let mut last_inbound = now_ms();
    let mut last_ping = now_ms();

    let frames = stream
        .map(|item| match item {
            Ok(frame) => Input::Frame(frame),
            Err(e) => Input::SocketError(e.to_string()),
        })
        .chain(futures::stream::once(future::ready(Input::SocketEnd)));
    let kick_inputs = kicks
        .map(|()| Input::Kick)
        .chain(futures::stream::once(future::ready(Input::KicksEnded)));
    let ticks = IntervalStream::new(250).map(|()| Input::Tick);
    let mut inputs = futures::stream::select(frames, futures::stream::select(kick_inputs, ticks));

    for frame in first {
        if sink.send(Message::Text(frame)).await.is_err() {
            return Ended::Dropped;
        }
    }
    // Runs on every input: greet once the codec is ready, then flush.
    macro_rules! flush {
        () => {{
            let ready = shared.borrow().codec.is_ready();
            if ready {
                if !greeted {
                    greeted = true;
                    let hello = shared.borrow().hello.clone();
                    if let Some(hello) = hello {
                        let frames = shared.borrow_mut().codec.encode(&hello);
                        match frames {
                            Ok(frames) => {
                                for frame in frames.into_iter().rev() {
                                    shared.borrow_mut().queue.push_front(frame);
                                }
                            }
                            Err(e) => {
                                let _ = events.unbounded_send(SignalingEvent::Error(
                                    SignalingError::Encode(e),
                                ));
                            }
                        }
                    }
                    options.backoff.reset();
                    set_state(shared, events, SignalingState::Open);
                }
                loop {
                    let next = shared.borrow_mut().queue.pop_front();
                    let Some(frame) = next else { break };
                    if sink.send(Message::Text(frame.clone())).await.is_err() {
                        // Keep it for the next socket.
                        shared.borrow_mut().queue.push_front(frame);
                        return Ended::Dropped;
                    }
                }
            } else {
                trim_queue(shared, events);
            }
        }};
    }
    flush!();

    while let Some(input) = inputs.next().await {
        if shared.borrow().closed {
            return Ended::Closed;
        }
        match input {
            Input::Frame(frame) => {
                last_inbound = now_ms();
                let decoded = {
                    let mut s = shared.borrow_mut();
                    match &frame {
                        Message::Text(text) => decode_checked(s.codec.as_mut(), text),
                        Message::Bytes(bytes) => decode_binary_checked(s.codec.as_mut(), bytes),
                    }
                };
                match decoded {
                    Ok(decoded) => {
                        for reply in decoded.replies {
                            if sink.send(Message::Text(reply)).await.is_err() {
                                return Ended::Dropped;
                            }
                        }
                        for message in decoded.messages {
                            let _ = events.unbounded_send(SignalingEvent::Message(message));
                        }
                    }
                    Err(e) => {
                        let _ =
                            events.unbounded_send(SignalingEvent::Error(SignalingError::Decode(e)));
                    }
                }
            }
            Input::SocketError(reason) => {
                let _ = events
                    .unbounded_send(SignalingEvent::Error(SignalingError::Connection(reason)));
            }
            Input::SocketEnd => {
                trim_queue(shared, events);
                return Ended::Dropped;
            }
            Input::Kick | Input::Tick => {}
            Input::KicksEnded => return Ended::Closed,
        }
        {
            let heartbeat = shared.borrow().codec.heartbeat();
            let now = now_ms();
            if let Some(dead_after) = heartbeat.dead_after_ms {
                if now - last_inbound > f64::from(dead_after) {
                    let _ = events
                        .unbounded_send(SignalingEvent::Error(SignalingError::Timeout(dead_after)));
                    return Ended::Dropped;
                }
            }
            if let Some(every) = heartbeat.ping_every_ms {
                if greeted && now - last_ping >= f64::from(every) {
                    last_ping = now;
                    let ping = shared.borrow_mut().codec.ping();
                    if let Some(ping) = ping {
                        if sink.send(Message::Text(ping)).await.is_err() {
                            return Ended::Dropped;
                        }
                    }
                }
            }
        }
        flush!();
    }
    Ended::Dropped
}

fn trim_queue(shared: &RefCell<Shared>, events: &UnboundedSender<SignalingEvent>) {
    let dropped = {
        let mut s = shared.borrow_mut();
        let excess = s.queue.len().saturating_sub(MAX_QUEUED_FRAMES);
        s.queue.drain(..excess);
        excess
    };
    if dropped > 0 {
        let _ = events.unbounded_send(SignalingEvent::Error(SignalingError::QueueOverflow(
            dropped,
        )));
    }
}
