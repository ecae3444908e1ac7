//! WHIP publish (RFC 9725) and WHEP play clients.
//!
//! Both follow the same HTTP exchange, on one `RTCPeerConnection` that
//! always offers:
//! - `POST` the offer (`application/sdp`) to the endpoint; `201 Created`
//!   brings the answer, the session's URL in `Location`, an `ETag`, and
//!   ICE servers in `Link` headers;
//! - `PATCH` the session with `application/trickle-ice-sdpfrag` bodies:
//!   candidates as they are gathered (`If-Match` with the ETag), and ICE
//!   restarts (`If-Match: *`), whose `200` answer carries the session's new
//!   credentials;
//! - `DELETE` the session on [`stop`](WhipSession::stop) or drop.
//!
//! Endpoints on another origin must allow it with CORS and expose the
//! `Location`, `ETag` and `Link` headers (`Access-Control-Expose-Headers`).

use std::{
    cell::{Cell, RefCell},
    rc::Rc,
};

use futures::{
    channel::{
        mpsc::{self, UnboundedReceiver, UnboundedSender},
        oneshot,
    },
    StreamExt,
};
use gloo_net::http::{Request, RequestBuilder, Response};
use peerlens_protocol::{
    whip::{
        apply_restart_answer, build_sdpfrag, parse_link_ice_servers, IceFragment, SDPFRAG_TYPE,
    },
    IceCandidate, IceServer, OfferPolicy, SdpKind, SessionDescription, SignalPayload,
};
use web_sys::{
    MediaStream, MediaStreamTrack, RtcConfiguration, RtcRtpTransceiverDirection,
    RtcRtpTransceiverInit,
};

use crate::rtc::{IcePolicy, PeerConnection, PeerEvent, PeerOptions, PeerState, RtcError};

/// How to reach a WHIP or WHEP endpoint.
#[derive(Debug, Clone, Default)]
pub struct WhipOptions {
    /// Sent as `Authorization: Bearer <token>` on every request.
    pub token: Option<String>,
    /// STUN and TURN servers. When empty, the servers the endpoint lists in
    /// `Link` headers are used.
    pub ice_servers: Vec<IceServer>,
    /// `iceTransportPolicy`.
    pub ice_transport_policy: IcePolicy,
    /// Send candidates with `PATCH` as they are gathered (trickle ICE).
    /// Without it, the client waits for gathering to finish and sends them
    /// all in the offer.
    pub no_trickle: bool,
}

/// Why a WHIP or WHEP operation failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WhipError {
    /// The request did not reach the endpoint, or CORS blocked it.
    #[error("{step}: the request failed ({reason})")]
    Network {
        /// What was being done.
        step: &'static str,
        /// What the browser said.
        reason: String,
    },
    /// The endpoint refused the request with a 4xx status.
    #[error("{step}: the endpoint refused it with HTTP {status}: {body}")]
    Rejected {
        /// What was being done.
        step: &'static str,
        /// The status.
        status: u16,
        /// The start of the response body.
        body: String,
    },
    /// The endpoint failed with a 5xx status.
    #[error("{step}: the endpoint failed with HTTP {status}: {body}")]
    ServerError {
        /// What was being done.
        step: &'static str,
        /// The status.
        status: u16,
        /// The start of the response body.
        body: String,
    },
    /// The endpoint answered something this client cannot use.
    #[error("{step}: {reason}")]
    Protocol {
        /// What was being done.
        step: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// The peer connection failed.
    #[error(transparent)]
    Rtc(#[from] RtcError),
    /// The session was stopped.
    #[error("the session is stopped")]
    Stopped,
}

impl WhipError {
    /// A stable name for the kind, used as the JS `Error.name`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Network { .. } => "WhipNetworkError",
            Self::Rejected { .. } => "WhipRejected",
            Self::ServerError { .. } => "WhipServerError",
            Self::Protocol { .. } => "WhipProtocolError",
            Self::Rtc(e) => e.name(),
            Self::Stopped => "WhipStopped",
        }
    }

    /// A stable kebab-case code, the JS error's `code`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Network { .. } => "network",
            Self::Rejected { .. } => "rejected",
            Self::ServerError { .. } => "server-error",
            Self::Protocol { .. } => "protocol",
            Self::Rtc(_) => "rtc",
            Self::Stopped => "stopped",
        }
    }

    /// The HTTP status, for [`Rejected`](Self::Rejected) and
    /// [`ServerError`](Self::ServerError).
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Rejected { status, .. } | Self::ServerError { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// What a session reports.
#[derive(Debug, Clone)]
pub enum WhipEvent {
    /// The connection state changed.
    State(PeerState),
    /// A track arrived (WHEP).
    Track {
        /// The track.
        track: MediaStreamTrack,
        /// The streams it belongs to.
        streams: Vec<MediaStream>,
    },
    /// An ICE restart was answered and applied.
    IceRestarted,
    /// Something failed; the session carries on if it can.
    Error(WhipError),
}

/// Longest response body kept in an error.
const BODY_IN_ERROR: usize = 200;

/// A trickle `PATCH` status that means the session does not take trickled
/// candidates (RFC 9725 4.3.1): stop sending them.
fn trickle_unsupported(status: u16) -> bool {
    matches!(status, 405 | 422 | 501)
}

struct Inner {
    pc: PeerConnection,
    endpoint: String,
    options: WhipOptions,
    resource: RefCell<Option<String>>,
    etag: RefCell<Option<String>>,
    /// The current remote description, the base an ICE restart patches.
    remote_sdp: RefCell<Option<String>>,
    link_servers: RefCell<Vec<IceServer>>,
    /// Candidates waiting for the session URL or a restart's new ETag.
    pending: RefCell<Vec<IceCandidate>>,
    trickle: Cell<bool>,
    stopped: Cell<bool>,
    events: UnboundedSender<WhipEvent>,
}

/// A WHIP or WHEP session. Dropping it deletes the session on the server
/// and closes the connection; [`stop`](Self::stop) does the same and waits
/// for the server's answer.
pub struct WhipSession {
    inner: Rc<Inner>,
}

/// What the session sends or receives.
enum Direction<'a> {
    Publish(&'a MediaStream),
    Play,
}

impl WhipSession {
    /// Publishes every track of `stream` to a WHIP endpoint. Resolves once
    /// the endpoint answered; media flows when the state becomes
    /// `Connected`.
    pub async fn publish(
        endpoint: &str,
        stream: &MediaStream,
        options: WhipOptions,
    ) -> Result<(Self, UnboundedReceiver<WhipEvent>), WhipError> {
        Self::start(endpoint, Direction::Publish(stream), options).await
    }

    /// Plays from a WHEP endpoint: receives audio and video. The tracks
    /// arrive as [`WhipEvent::Track`].
    pub async fn play(
        endpoint: &str,
        options: WhipOptions,
    ) -> Result<(Self, UnboundedReceiver<WhipEvent>), WhipError> {
        Self::start(endpoint, Direction::Play, options).await
    }

    async fn start(
        endpoint: &str,
        direction: Direction<'_>,
        options: WhipOptions,
    ) -> Result<(Self, UnboundedReceiver<WhipEvent>), WhipError> {
        let (pc, peer_events) = PeerConnection::new(PeerOptions {
            polite: false,
            offer_policy: OfferPolicy::LocalOnly,
            ice_servers: options.ice_servers.clone(),
            ice_transport_policy: options.ice_transport_policy,
            data_channels: false,
            initiator: true,
        })?;
        match direction {
            Direction::Publish(stream) => {
                for track in stream.get_tracks().iter() {
                    let track: MediaStreamTrack = wasm_bindgen::JsCast::unchecked_into(track);
                    let init = RtcRtpTransceiverInit::new();
                    init.set_direction(RtcRtpTransceiverDirection::Sendonly);
                    init.set_streams(&js_sys::Array::of1(stream));
                    pc.as_raw()
                        .add_transceiver_with_media_stream_track_and_init(&track, &init);
                }
            }
            Direction::Play => {
                for kind in ["audio", "video"] {
                    let init = RtcRtpTransceiverInit::new();
                    init.set_direction(RtcRtpTransceiverDirection::Recvonly);
                    pc.as_raw().add_transceiver_with_str_and_init(kind, &init);
                }
            }
        }
        let (events_tx, events) = mpsc::unbounded();
        let inner = Rc::new(Inner {
            pc,
            endpoint: endpoint.to_owned(),
            trickle: Cell::new(!options.no_trickle),
            options,
            resource: RefCell::default(),
            etag: RefCell::default(),
            remote_sdp: RefCell::default(),
            link_servers: RefCell::default(),
            pending: RefCell::default(),
            stopped: Cell::new(false),
            events: events_tx,
        });
        let (started_tx, started) = oneshot::channel();
        wasm_bindgen_futures::spawn_local(drive(
            Rc::downgrade(&inner),
            peer_events,
            Some(started_tx),
        ));
        match started.await {
            Ok(Ok(())) => Ok((Self { inner }, events)),
            Ok(Err(e)) => {
                inner.pc.close();
                Err(e)
            }
            Err(_) => Err(WhipError::Stopped),
        }
    }

    /// The session's URL on the server (from `Location`, made absolute).
    pub fn resource_url(&self) -> Option<String> {
        self.inner.resource.borrow().clone()
    }

    /// The ICE servers the endpoint listed in `Link` headers.
    pub fn link_ice_servers(&self) -> Vec<IceServer> {
        self.inner.link_servers.borrow().clone()
    }

    /// The peer connection, for stats and track control.
    pub fn peer(&self) -> &PeerConnection {
        &self.inner.pc
    }

    /// Restarts ICE: the new credentials go to the server in a `PATCH`
    /// with `If-Match: *`, and [`WhipEvent::IceRestarted`] follows its
    /// answer. The connection also restarts by itself when ICE fails.
    pub fn restart_ice(&self) -> Result<(), WhipError> {
        if self.inner.stopped.get() {
            return Err(WhipError::Stopped);
        }
        Ok(self.inner.pc.restart_ice()?)
    }

    /// Deletes the session on the server and closes the connection. The
    /// connection closes even when the `DELETE` fails.
    pub async fn stop(&self) -> Result<(), WhipError> {
        if self.inner.stopped.replace(true) {
            return Ok(());
        }
        self.inner.pc.close();
        let resource = self.inner.resource.borrow().clone();
        match resource {
            Some(url) => {
                let request = with_auth(Request::delete(&url), &self.inner.options);
                let response = send(request.build(), "deleting the session").await?;
                check(response, "deleting the session").await.map(|_| ())
            }
            None => Ok(()),
        }
    }
}

impl Drop for WhipSession {
    fn drop(&mut self) {
        if self.inner.stopped.get() {
            return;
        }
        let inner = Rc::clone(&self.inner);
        wasm_bindgen_futures::spawn_local(async move {
            let session = WhipSession { inner };
            let _ = session.stop().await;
        });
    }
}

fn with_auth(request: RequestBuilder, options: &WhipOptions) -> RequestBuilder {
    match &options.token {
        Some(token) => request.header("Authorization", &format!("Bearer {token}")),
        None => request,
    }
}

async fn send(
    request: Result<Request, gloo_net::Error>,
    step: &'static str,
) -> Result<Response, WhipError> {
    let request = request.map_err(|e| WhipError::Network {
        step,
        reason: e.to_string(),
    })?;
    request.send().await.map_err(|e| WhipError::Network {
        step,
        reason: e.to_string(),
    })
}

/// Turns a 4xx or 5xx into its error; passes other responses through.
async fn check(response: Response, step: &'static str) -> Result<Response, WhipError> {
    let status = response.status();
    if status < 400 {
        return Ok(response);
    }
    let mut body = response.text().await.unwrap_or_default();
    if body.len() > BODY_IN_ERROR {
        let mut cut = BODY_IN_ERROR;
        while !body.is_char_boundary(cut) {
            cut -= 1;
        }
        body.truncate(cut);
    }
    Err(if status >= 500 {
        WhipError::ServerError { step, status, body }
    } else {
        WhipError::Rejected { step, status, body }
    })
}

/// `url` resolved against `base`.
fn resolve(url: &str, base: &str) -> Option<String> {
    web_sys::Url::new_with_base(url, base)
        .ok()
        .map(|u| u.href())
}

/// Runs the session: answers the connection's offers over HTTP and trickles
/// its candidates. `started` learns how the first `POST` went.
async fn drive(
    inner: std::rc::Weak<Inner>,
    mut peer_events: UnboundedReceiver<PeerEvent>,
    mut started: Option<oneshot::Sender<Result<(), WhipError>>>,
) {
    while let Some(event) = peer_events.next().await {
        let Some(inner) = inner.upgrade() else { break };
        if inner.stopped.get() {
            break;
        }
        match event {
            PeerEvent::Signal(SignalPayload::Description(offer))
                if offer.kind == SdpKind::Offer =>
            {
                if inner.resource.borrow().is_none() {
                    let result = if inner.trickle.get() {
                        inner.post_offer(offer.sdp).await
                    } else {
                        // Without trickle the offer waits for every
                        // candidate.
                        wait_for_gathering(&inner.pc).await;
                        let sdp = inner
                            .pc
                            .as_raw()
                            .local_description()
                            .map(|d| d.sdp())
                            .unwrap_or(offer.sdp);
                        inner.pending.borrow_mut().clear();
                        inner.post_offer(sdp).await
                    };
                    let failed = result.is_err();
                    match started.take() {
                        Some(tx) => {
                            let _ = tx.send(result);
                        }
                        None => {
                            if let Err(e) = result {
                                inner.emit(WhipEvent::Error(e));
                            }
                        }
                    }
                    if failed {
                        break;
                    }
                } else {
                    match inner.restart(offer.sdp).await {
                        Ok(()) => inner.emit(WhipEvent::IceRestarted),
                        Err(e) => inner.emit(WhipEvent::Error(e)),
                    }
                }
                inner.flush_candidates().await;
            }
            PeerEvent::Signal(SignalPayload::Candidate(candidate)) => {
                inner.pending.borrow_mut().push(candidate);
                inner.flush_candidates().await;
            }
            PeerEvent::Signal(SignalPayload::Description(_)) => {}
            PeerEvent::Track { track, streams } => inner.emit(WhipEvent::Track { track, streams }),
            PeerEvent::State(state) => inner.emit(WhipEvent::State(state)),
            PeerEvent::Error(e) => inner.emit(WhipEvent::Error(e.into())),
            PeerEvent::IceRestart | PeerEvent::ChannelOpen(_) | PeerEvent::Data(..) => {}
        }
    }
    if let Some(tx) = started.take() {
        let _ = tx.send(Err(WhipError::Stopped));
    }
}

/// Resolves when ICE gathering completes, or after 5 s.
async fn wait_for_gathering(pc: &PeerConnection) {
    for _ in 0..100 {
        if pc.as_raw().ice_gathering_state() == web_sys::RtcIceGatheringState::Complete {
            return;
        }
        gloo_timers::future::TimeoutFuture::new(50).await;
    }
}

impl Inner {
    fn emit(&self, event: WhipEvent) {
        let _ = self.events.unbounded_send(event);
    }

    async fn post_offer(&self, sdp: String) -> Result<(), WhipError> {
        const STEP: &str = "posting the offer";
        let request = with_auth(Request::post(&self.endpoint), &self.options)
            .header("Content-Type", "application/sdp")
            .body(sdp);
        let response = check(send(request, STEP).await?, STEP).await?;
        if response.status() != 201 {
            return Err(WhipError::Protocol {
                step: STEP,
                reason: format!("expected 201 Created, got {}", response.status()),
            });
        }
        let headers = response.headers();
        let location = headers.get("location").ok_or(WhipError::Protocol {
            step: STEP,
            reason: "the 201 has no Location header (is it exposed to CORS?)".into(),
        })?;
        let resource = resolve(&location, &self.endpoint).ok_or(WhipError::Protocol {
            step: STEP,
            reason: format!("Location {location:?} is not a URL"),
        })?;
        *self.etag.borrow_mut() = headers.get("etag");
        let links = headers.get("link");
        let servers = parse_link_ice_servers(&links.iter().map(String::as_str).collect::<Vec<_>>());
        if self.options.ice_servers.is_empty() && !servers.is_empty() {
            self.use_ice_servers(&servers);
        }
        *self.link_servers.borrow_mut() = servers;
        let answer = response.text().await.map_err(|e| WhipError::Network {
            step: STEP,
            reason: e.to_string(),
        })?;
        if !answer.starts_with("v=") {
            return Err(WhipError::Protocol {
                step: STEP,
                reason: "the 201 body is not an SDP answer".into(),
            });
        }
        *self.resource.borrow_mut() = Some(resource);
        *self.remote_sdp.borrow_mut() = Some(answer.clone());
        self.pc
            .handle_signal(SignalPayload::Description(SessionDescription {
                kind: SdpKind::Answer,
                sdp: answer,
            }));
        Ok(())
    }

    /// Gives the connection the endpoint's ICE servers; candidates gathered
    /// from then on use them.
    fn use_ice_servers(&self, servers: &[IceServer]) {
        let config = RtcConfiguration::new();
        let list = js_sys::Array::new();
        for server in servers {
            if let Ok(value) = serde_wasm_bindgen::to_value(server) {
                list.push(&value);
            }
        }
        config.set_ice_servers(&list);
        if self.options.ice_transport_policy == IcePolicy::Relay {
            config.set_ice_transport_policy(web_sys::RtcIceTransportPolicy::Relay);
        }
        if let Err(e) = self
            .pc
            .as_raw()
            .set_configuration_with_configuration(&config)
        {
            self.emit(WhipEvent::Error(WhipError::Protocol {
                step: "using the endpoint's ICE servers",
                reason: crate::JsErrorInfo::from_js(&e).to_string(),
            }));
        }
    }

    /// An ICE restart: the new offer's credentials go in a `PATCH` with
    /// `If-Match: *`; the answer's credentials and candidates replace those
    /// of the current remote description.
    async fn restart(&self, offer_sdp: String) -> Result<(), WhipError> {
        const STEP: &str = "restarting ICE";
        let resource = self.resource.borrow().clone().ok_or(WhipError::Stopped)?;
        // Candidates of the new generation wait for the new ETag.
        let body = build_sdpfrag(&offer_sdp, &[], false);
        let request = with_auth(Request::patch(&resource), &self.options)
            .header("Content-Type", SDPFRAG_TYPE)
            .header("If-Match", "*")
            .body(body);
        let response = check(send(request, STEP).await?, STEP).await?;
        if response.status() != 200 {
            return Err(WhipError::Protocol {
                step: STEP,
                reason: format!(
                    "expected 200 with the new credentials, got {}",
                    response.status()
                ),
            });
        }
        *self.etag.borrow_mut() = response.headers().get("etag");
        let text = response.text().await.map_err(|e| WhipError::Network {
            step: STEP,
            reason: e.to_string(),
        })?;
        let fragment = IceFragment::parse(&text);
        let previous = self.remote_sdp.borrow().clone().ok_or(WhipError::Stopped)?;
        let sdp = apply_restart_answer(&previous, &fragment).map_err(|e| WhipError::Protocol {
            step: STEP,
            reason: e.to_string(),
        })?;
        *self.remote_sdp.borrow_mut() = Some(sdp.clone());
        self.pc
            .handle_signal(SignalPayload::Description(SessionDescription {
                kind: SdpKind::Answer,
                sdp,
            }));
        Ok(())
    }

    /// Sends the waiting candidates in one `PATCH`, once the session URL
    /// is known.
    async fn flush_candidates(&self) {
        const STEP: &str = "sending candidates";
        let Some(resource) = self.resource.borrow().clone() else {
            return;
        };
        let candidates = std::mem::take(&mut *self.pending.borrow_mut());
        let local = self.pc.as_raw().local_description().map(|d| d.sdp());
        let (true, false, Some(local)) = (self.trickle.get(), candidates.is_empty(), local) else {
            return;
        };
        // Only candidates of the current credentials.
        let ufrag = IceFragment::parse(&local).ufrag;
        let current: Vec<IceCandidate> = candidates
            .into_iter()
            .filter(|c| c.username_fragment.is_none() || c.username_fragment == ufrag)
            .collect();
        if current.is_empty() {
            return;
        }
        let mut request = with_auth(Request::patch(&resource), &self.options)
            .header("Content-Type", SDPFRAG_TYPE);
        if let Some(etag) = self.etag.borrow().as_deref() {
            request = request.header("If-Match", etag);
        }
        let body = build_sdpfrag(&local, &current, false);
        match send(request.body(body), STEP).await {
            Ok(response) if trickle_unsupported(response.status()) => self.trickle.set(false),
            // 412: the candidates belong to credentials a restart replaced;
            // they are useless now.
            Ok(response) if response.status() == 412 => {}
            Ok(response) => {
                if let Err(e) = check(response, STEP).await {
                    self.emit(WhipEvent::Error(e));
                }
            }
            Err(e) => self.emit(WhipEvent::Error(e)),
        }
    }
}
