//! Janus over its WebSocket API: a session, plugin handles, and the
//! EchoTest, VideoRoom and Streaming plugins on top.
//!
//! [`Janus::connect`] opens the socket (subprotocol `janus-protocol`),
//! creates a session and keeps it alive. [`Janus::attach`] gives a
//! [`JanusHandle`] on a plugin, whose requests resolve with the plugin's
//! answer and whose unsolicited events arrive on a channel.
//!
//! When the socket closes (Janus stopped or restarted), every pending
//! request fails with [`JanusError::Disconnected`], and every handle and
//! the session report it as an event. Nothing panics, and nothing waits
//! forever: each request has a deadline.

mod plugins;

use std::{
    cell::{Cell, RefCell},
    collections::HashMap,
    rc::{Rc, Weak},
};

use futures::{
    channel::{
        mpsc::{self, UnboundedReceiver, UnboundedSender},
        oneshot,
    },
    future::{select, Either},
    SinkExt, StreamExt,
};
use gloo_net::websocket::{futures::WebSocket, Message};
use gloo_timers::future::TimeoutFuture;
use peerlens_protocol::{
    janus::{plugin_error, Authentication, Incoming, Request, SUBPROTOCOL},
    IceCandidate, IceServer, SessionDescription,
};
use serde_json::Value;

pub use plugins::{EchoTest, JanusMediaEvent, StreamingPlayer, VideoRoom, VideoRoomOptions};

use crate::rtc::RtcError;

/// How to talk to Janus.
#[derive(Debug, Clone)]
pub struct JanusOptions {
    /// Milliseconds between keepalives; Janus drops a silent session after
    /// its `session_timeout` (60 s by default).
    pub keepalive_ms: u32,
    /// Deadline of each request, in milliseconds.
    pub request_timeout_ms: u32,
    /// A token or API secret, when Janus requires one.
    pub auth: Authentication,
    /// STUN and TURN servers for the peer connections to Janus.
    pub ice_servers: Vec<IceServer>,
}

impl Default for JanusOptions {
    fn default() -> Self {
        Self {
            keepalive_ms: 25_000,
            request_timeout_ms: 10_000,
            auth: Authentication::default(),
            ice_servers: Vec::new(),
        }
    }
}

/// Why a Janus operation failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JanusError {
    /// The WebSocket could not be opened.
    #[error("could not connect to Janus at {url}: {reason}")]
    Connect {
        /// The URL.
        url: String,
        /// What the browser said.
        reason: String,
    },
    /// The socket closed: Janus stopped, restarted or dropped us.
    #[error("the connection to Janus was lost")]
    Disconnected,
    /// Janus did not answer a request in time.
    #[error("Janus did not answer `{request}` within {ms} ms")]
    Timeout {
        /// The request.
        request: String,
        /// The deadline.
        ms: u32,
    },
    /// Janus refused a request.
    #[error("Janus error {code}: {reason}")]
    Janus {
        /// Janus's error code.
        code: i64,
        /// Its reason.
        reason: String,
    },
    /// The plugin refused a request.
    #[error("{plugin} error {code}: {reason}")]
    Plugin {
        /// The plugin.
        plugin: &'static str,
        /// The plugin's error code.
        code: i64,
        /// Its reason.
        reason: String,
    },
    /// Janus sent something this client cannot use.
    #[error("unexpected answer from Janus: {0}")]
    Protocol(String),
    /// The session timed out in Janus.
    #[error("the Janus session timed out")]
    SessionTimeout,
    /// The peer connection failed.
    #[error(transparent)]
    Rtc(#[from] RtcError),
    /// The session or handle was closed by this side.
    #[error("the Janus session is closed")]
    Closed,
}

impl JanusError {
    /// A stable name for the kind, used as the JS `Error.name`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Connect { .. } => "JanusConnectError",
            Self::Disconnected => "JanusDisconnected",
            Self::Timeout { .. } => "JanusTimeout",
            Self::Janus { .. } => "JanusError",
            Self::Plugin { .. } => "JanusPluginError",
            Self::Protocol(_) => "JanusProtocolError",
            Self::SessionTimeout => "JanusSessionTimeout",
            Self::Rtc(e) => e.name(),
            Self::Closed => "JanusClosed",
        }
    }

    /// A stable kebab-case code, the JS error's `code`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Connect { .. } => "connect",
            Self::Disconnected => "disconnected",
            Self::Timeout { .. } => "timeout",
            Self::Janus { .. } => "janus",
            Self::Plugin { .. } => "plugin",
            Self::Protocol(_) => "protocol",
            Self::SessionTimeout => "session-timeout",
            Self::Rtc(_) => "rtc",
            Self::Closed => "closed",
        }
    }
}

/// What the session reports.
#[derive(Debug, Clone, PartialEq)]
pub enum JanusEvent {
    /// The session ended: the socket closed or Janus timed it out.
    Lost(JanusError),
    /// A frame from Janus could not be read; the session carries on.
    Malformed(String),
}

/// What a plugin handle reports, besides answers to its own requests.
#[derive(Debug, Clone, PartialEq)]
pub enum HandleEvent {
    /// A plugin event with its data and maybe an SDP.
    Event {
        /// `plugindata.data`.
        data: Value,
        /// An offer or answer from the plugin.
        jsep: Option<SessionDescription>,
    },
    /// The handle's PeerConnection is up in Janus.
    WebrtcUp,
    /// Janus started or stopped receiving `kind` media.
    Media {
        /// `audio` or `video`.
        kind: String,
        /// Receiving or not.
        receiving: bool,
    },
    /// Janus hung the PeerConnection up.
    Hangup(String),
    /// Janus sees losses.
    SlowLink,
    /// A candidate from Janus.
    Trickle(Option<IceCandidate>),
    /// The handle was detached.
    Detached,
    /// The session is gone.
    Lost(JanusError),
}

/// A plugin's answer to a request.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginReply {
    /// `plugindata.data`.
    pub data: Value,
    /// An offer or answer that came with it.
    pub jsep: Option<SessionDescription>,
}

struct Pending {
    reply: oneshot::Sender<Result<Incoming, JanusError>>,
    past_ack: bool,
}

struct Inner {
    url: String,
    options: JanusOptions,
    session: Cell<u64>,
    out: UnboundedSender<String>,
    pending: RefCell<HashMap<String, Pending>>,
    handles: RefCell<HashMap<u64, UnboundedSender<HandleEvent>>>,
    events: UnboundedSender<JanusEvent>,
    next_transaction: Cell<u64>,
    lost: RefCell<Option<JanusError>>,
}

/// A Janus session. Cloning shares it; when the last clone and every
/// handle are dropped, the session is destroyed and the socket closed.
#[derive(Clone)]
pub struct Janus {
    inner: Rc<Inner>,
}

impl Janus {
    /// Connects to `url` (`ws://` or `wss://`) and creates a session.
    pub async fn connect(
        url: &str,
        options: JanusOptions,
    ) -> Result<(Self, UnboundedReceiver<JanusEvent>), JanusError> {
        let socket =
            WebSocket::open_with_protocol(url, SUBPROTOCOL).map_err(|e| JanusError::Connect {
                url: url.to_owned(),
                reason: e.to_string(),
            })?;
        let (mut write, read) = socket.split();
        let (out, mut outgoing) = mpsc::unbounded::<String>();
        wasm_bindgen_futures::spawn_local(async move {
            while let Some(frame) = outgoing.next().await {
                if write.send(Message::Text(frame)).await.is_err() {
                    break;
                }
            }
            let _ = write.close().await;
        });
        let (events_tx, events) = mpsc::unbounded();
        let inner = Rc::new(Inner {
            url: url.to_owned(),
            options,
            session: Cell::new(0),
            out,
            pending: RefCell::default(),
            handles: RefCell::default(),
            events: events_tx,
            next_transaction: Cell::new(1),
            lost: RefCell::default(),
        });
        wasm_bindgen_futures::spawn_local(read_loop(Rc::downgrade(&inner), read));
        let reply = inner
            .call(Request::Create, "create")
            .await
            .map_err(|e| match e {
                JanusError::Disconnected => JanusError::Connect {
                    url: url.to_owned(),
                    reason: "the socket closed before the session was created".into(),
                },
                other => other,
            })?;
        let Incoming::Success { id: Some(id), .. } = reply else {
            return Err(JanusError::Protocol("`create` gave no session id".into()));
        };
        inner.session.set(id);
        wasm_bindgen_futures::spawn_local(keepalive(Rc::downgrade(&inner)));
        Ok((Self { inner }, events))
    }

    /// The session id Janus gave.
    pub fn session_id(&self) -> u64 {
        self.inner.session.get()
    }

    /// The options it was opened with.
    pub fn options(&self) -> &JanusOptions {
        &self.inner.options
    }

    /// Attaches a handle to `plugin` (such as `janus.plugin.videoroom`).
    pub async fn attach(
        &self,
        plugin: &str,
    ) -> Result<(JanusHandle, UnboundedReceiver<HandleEvent>), JanusError> {
        let reply = self
            .inner
            .call(
                Request::Attach {
                    plugin: plugin.to_owned(),
                },
                "attach",
            )
            .await?;
        let Incoming::Success { id: Some(id), .. } = reply else {
            return Err(JanusError::Protocol("`attach` gave no handle id".into()));
        };
        let (tx, rx) = mpsc::unbounded();
        self.inner.handles.borrow_mut().insert(id, tx);
        Ok((
            JanusHandle {
                id,
                janus: self.clone(),
                detached: Cell::new(false),
            },
            rx,
        ))
    }

    /// Destroys the session and closes the socket. Dropping the last clone
    /// does the same.
    pub fn close(&self) {
        self.inner.close();
    }
}

impl Inner {
    fn transaction(&self) -> String {
        let n = self.next_transaction.get();
        self.next_transaction.set(n + 1);
        format!("pl{n}")
    }

    fn session(&self) -> Option<u64> {
        match self.session.get() {
            0 => None,
            id => Some(id),
        }
    }

    /// Sends `request` and waits for its answer: `success`, or for plugin
    /// messages the `event` after the `ack`.
    async fn call(&self, request: Request, name: &str) -> Result<Incoming, JanusError> {
        if let Some(lost) = self.lost.borrow().clone() {
            return Err(lost);
        }
        let transaction = self.transaction();
        let (tx, rx) = oneshot::channel();
        self.pending.borrow_mut().insert(
            transaction.clone(),
            Pending {
                reply: tx,
                past_ack: request.waits_past_ack(),
            },
        );
        let frame = request.to_frame(&transaction, self.session(), &self.options.auth);
        if self.out.unbounded_send(frame).is_err() {
            self.pending.borrow_mut().remove(&transaction);
            return Err(JanusError::Disconnected);
        }
        let ms = self.options.request_timeout_ms;
        match select(rx, TimeoutFuture::new(ms)).await {
            Either::Left((Ok(result), _)) => result,
            Either::Left((Err(_), _)) => Err(JanusError::Disconnected),
            Either::Right(_) => {
                self.pending.borrow_mut().remove(&transaction);
                Err(JanusError::Timeout {
                    request: name.to_owned(),
                    ms,
                })
            }
        }
    }

    /// Sends `request` without waiting for its `ack`.
    fn send(&self, request: Request) {
        let frame = request.to_frame(&self.transaction(), self.session(), &self.options.auth);
        let _ = self.out.unbounded_send(frame);
    }

    fn dispatch(&self, message: Incoming) {
        let transaction = match &message {
            Incoming::Ack { transaction }
            | Incoming::Success { transaction, .. }
            | Incoming::Error {
                transaction: Some(transaction),
                ..
            }
            | Incoming::Event {
                transaction: Some(transaction),
                ..
            } => Some(transaction.clone()),
            _ => None,
        };
        if let Some(transaction) = transaction {
            let mut pending = self.pending.borrow_mut();
            if let Some(waiting) = pending.remove(&transaction) {
                if matches!(message, Incoming::Ack { .. }) && waiting.past_ack {
                    pending.insert(transaction, waiting);
                    return;
                }
                let result = match message {
                    Incoming::Error { code, reason, .. } => Err(JanusError::Janus { code, reason }),
                    other => Ok(other),
                };
                let _ = waiting.reply.send(result);
                return;
            }
        }
        let to_handle = |sender: u64, event: HandleEvent| {
            if let Some(tx) = self.handles.borrow().get(&sender) {
                let _ = tx.unbounded_send(event);
            }
        };
        match message {
            Incoming::Event {
                sender, data, jsep, ..
            } => to_handle(sender, HandleEvent::Event { data, jsep }),
            Incoming::WebrtcUp { sender } => to_handle(sender, HandleEvent::WebrtcUp),
            Incoming::Media {
                sender,
                kind,
                receiving,
            } => to_handle(sender, HandleEvent::Media { kind, receiving }),
            Incoming::Hangup { sender, reason } => to_handle(sender, HandleEvent::Hangup(reason)),
            Incoming::SlowLink { sender } => to_handle(sender, HandleEvent::SlowLink),
            Incoming::Trickle { sender, candidate } => {
                to_handle(sender, HandleEvent::Trickle(candidate))
            }
            Incoming::Detached { sender } => {
                to_handle(sender, HandleEvent::Detached);
                self.handles.borrow_mut().remove(&sender);
            }
            Incoming::Timeout => self.lose(JanusError::SessionTimeout),
            // Acks of fire-and-forget requests, and kinds this client does
            // not use.
            Incoming::Ack { .. }
            | Incoming::Success { .. }
            | Incoming::Error { .. }
            | Incoming::Other { .. } => {}
        }
    }

    /// The session is gone: fail everything that waits, tell everyone.
    fn lose(&self, error: JanusError) {
        if self.lost.borrow().is_some() {
            return;
        }
        *self.lost.borrow_mut() = Some(error.clone());
        for (_, waiting) in self.pending.borrow_mut().drain() {
            let _ = waiting.reply.send(Err(error.clone()));
        }
        for (_, handle) in self.handles.borrow_mut().drain() {
            let _ = handle.unbounded_send(HandleEvent::Lost(error.clone()));
        }
        let _ = self.events.unbounded_send(JanusEvent::Lost(error));
        self.out.close_channel();
    }

    fn close(&self) {
        if self.lost.borrow().is_some() {
            return;
        }
        if self.session().is_some() {
            self.send(Request::Destroy);
        }
        *self.lost.borrow_mut() = Some(JanusError::Closed);
        for (_, waiting) in self.pending.borrow_mut().drain() {
            let _ = waiting.reply.send(Err(JanusError::Closed));
        }
        self.handles.borrow_mut().clear();
        // The writer sends what is queued, then closes the socket.
        self.out.close_channel();
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.close();
    }
}

async fn read_loop(inner: Weak<Inner>, mut read: futures::stream::SplitStream<WebSocket>) {
    while let Some(frame) = read.next().await {
        let Some(inner) = inner.upgrade() else { return };
        let text = match frame {
            Ok(Message::Text(text)) => text,
            Ok(Message::Bytes(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(_) => break,
        };
        match Incoming::parse(&text) {
            Ok(message) => inner.dispatch(message),
            Err(e) => {
                let _ = inner
                    .events
                    .unbounded_send(JanusEvent::Malformed(e.to_string()));
            }
        }
    }
    if let Some(inner) = inner.upgrade() {
        inner.lose(JanusError::Disconnected);
    }
}

async fn keepalive(inner: Weak<Inner>) {
    loop {
        let ms = match inner.upgrade() {
            Some(inner) => inner.options.keepalive_ms.max(1_000),
            None => return,
        };
        TimeoutFuture::new(ms).await;
        let Some(inner) = inner.upgrade() else { return };
        if inner.lost.borrow().is_some() {
            return;
        }
        inner.send(Request::Keepalive);
    }
}

/// A handle on one plugin. Dropping it detaches it.
pub struct JanusHandle {
    id: u64,
    janus: Janus,
    detached: Cell<bool>,
}

impl JanusHandle {
    /// The handle id Janus gave.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The session it belongs to.
    pub fn janus(&self) -> &Janus {
        &self.janus
    }

    /// Sends a plugin request and waits for the plugin's answer. A plugin
    /// error (an `error` field in the answer) is [`JanusError::Plugin`].
    pub async fn request(
        &self,
        plugin: &'static str,
        body: Value,
        jsep: Option<SessionDescription>,
    ) -> Result<PluginReply, JanusError> {
        let name = body
            .get("request")
            .and_then(Value::as_str)
            .unwrap_or("message")
            .to_owned();
        let reply = self
            .janus
            .inner
            .call(
                Request::Message {
                    handle: self.id,
                    body,
                    jsep,
                },
                &name,
            )
            .await?;
        let (data, jsep) = match reply {
            Incoming::Event { data, jsep, .. } => (data, jsep),
            Incoming::Success { plugin_data, .. } => (plugin_data.unwrap_or(Value::Null), None),
            other => {
                return Err(JanusError::Protocol(format!(
                    "`{name}` was answered with {other:?}"
                )))
            }
        };
        if let Some((code, reason)) = plugin_error(&data) {
            return Err(JanusError::Plugin {
                plugin,
                code,
                reason,
            });
        }
        Ok(PluginReply { data, jsep })
    }

    /// Sends one of our candidates, or `None` once gathering completed.
    pub fn trickle(&self, candidate: Option<IceCandidate>) {
        self.janus.inner.send(Request::Trickle {
            handle: self.id,
            candidate,
        });
    }

    /// Hangs the handle's PeerConnection up in Janus.
    pub fn hangup(&self) {
        self.janus.inner.send(Request::Hangup { handle: self.id });
    }

    /// Detaches the handle. Dropping it does the same.
    pub fn detach(&self) {
        if self.detached.replace(true) {
            return;
        }
        self.janus.inner.handles.borrow_mut().remove(&self.id);
        if self.janus.inner.lost.borrow().is_none() {
            self.janus.inner.send(Request::Detach { handle: self.id });
        }
    }
}

impl Drop for JanusHandle {
    fn drop(&mut self) {
        self.detach();
    }
}

impl std::fmt::Debug for Janus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Janus")
            .field("url", &self.inner.url)
            .field("session", &self.inner.session.get())
            .finish()
    }
}
