//! The JS face of the media-server clients: `Whip`, `Whep`, `Janus`,
//! `JanusEchoTest`, `JanusVideoRoom` and `JanusStreaming`.
//!
//! Results arrive through the callbacks of the options object; async calls
//! return promises that reject with `Error`s whose `name` and `code` are
//! set (and `status` for HTTP failures).

use futures::{channel::mpsc::UnboundedReceiver, StreamExt};
use js_sys::{Array, Function, Reflect};
use peerlens_protocol::{janus::Authentication, IceServer};
use serde::Deserialize;
use wasm_bindgen::prelude::*;
use web_sys::MediaStream;

use crate::janus::{
    EchoTest, Janus, JanusError, JanusEvent, JanusMediaEvent, JanusOptions, StreamingPlayer,
    VideoRoom, VideoRoomOptions,
};
use crate::js::{bad_options, js_error, only, Running};
use crate::rtc::IcePolicy;
use crate::whip::{WhipError, WhipEvent, WhipOptions, WhipSession};

#[wasm_bindgen(typescript_custom_section)]
const TS_MEDIA_SERVERS: &str = r#"
/** An RTCIceServer. */
export interface IceServerInit {
  urls: string | string[];
  username?: string;
  credential?: string;
}

/** Callbacks shared by the media-server clients. `feed` is the VideoRoom
 * publisher a track or state belongs to; it is undefined elsewhere. */
export interface MediaServerCallbacks {
  onTrack?: (track: MediaStreamTrack, streams: MediaStream[], feed?: number) => void;
  onState?: (state: RTCPeerConnectionState, feed?: number) => void;
  /** Errors after start. `name` "JanusDisconnected" means the session is gone. */
  onError?: (error: Error) => void;
}

export interface WhipOptions extends MediaServerCallbacks {
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** When empty, the endpoint's Link header servers are used. */
  iceServers?: IceServerInit[];
  iceTransportPolicy?: "all" | "relay";
  /** Send every candidate in the offer instead of trickling them with PATCH. */
  noTrickle?: boolean;
  /** An ICE restart was answered and applied. */
  onIceRestarted?: () => void;
}

export interface JanusOptions {
  keepaliveMs?: number;
  requestTimeoutMs?: number;
  token?: string;
  apiSecret?: string;
  iceServers?: IceServerInit[];
  /** The session was lost (socket closed, Janus stopped or timed it out). */
  onError?: (error: Error) => void;
}

export interface JanusVideoRoomOptions extends MediaServerCallbacks {
  room: number;
  display?: string;
  /** Create the room when missing; default true. */
  create?: boolean;
  maxPublishers?: number;
  onFeedJoined?: (feed: number, display: string) => void;
  onFeedLeft?: (feed: number) => void;
}

export interface JanusStreamingCallbacks extends MediaServerCallbacks {
  /** As Janus reports it: "starting", "started", "pausing", "stopping". */
  onStatus?: (status: string) => void;
}
"#;

#[wasm_bindgen]
extern "C" {
    /// `WhipOptions`, as declared above.
    #[wasm_bindgen(typescript_type = "WhipOptions")]
    pub type JsWhipOptions;
    /// `JanusOptions`, as declared above.
    #[wasm_bindgen(typescript_type = "JanusOptions")]
    pub type JsJanusOptions;
    /// `MediaServerCallbacks`, as declared above.
    #[wasm_bindgen(typescript_type = "MediaServerCallbacks")]
    pub type JsMediaServerCallbacks;
    /// `JanusVideoRoomOptions`, as declared above.
    #[wasm_bindgen(typescript_type = "JanusVideoRoomOptions")]
    pub type JsVideoRoomOptions;
    /// `JanusStreamingCallbacks`, as declared above.
    #[wasm_bindgen(typescript_type = "JanusStreamingCallbacks")]
    pub type JsStreamingCallbacks;
}

impl From<WhipError> for JsValue {
    fn from(e: WhipError) -> Self {
        let error = js_error(e.name(), e.code(), &e.to_string());
        if let Some(status) = e.status() {
            let _ = Reflect::set(&error, &"status".into(), &status.into());
        }
        error
    }
}

impl From<JanusError> for JsValue {
    fn from(e: JanusError) -> Self {
        let error = js_error(e.name(), e.code(), &e.to_string());
        if let JanusError::Plugin { code, .. } | JanusError::Janus { code, .. } = &e {
            let _ = Reflect::set(&error, &"janusCode".into(), &(*code as f64).into());
        }
        error
    }
}

/// The callbacks an options object carries.
#[derive(Default, Clone)]
struct Callbacks {
    track: Option<Function>,
    state: Option<Function>,
    error: Option<Function>,
    ice_restarted: Option<Function>,
    feed_joined: Option<Function>,
    feed_left: Option<Function>,
    status: Option<Function>,
}

impl Callbacks {
    fn of(options: &JsValue) -> Self {
        let get = |name: &str| -> Option<Function> {
            Reflect::get(options, &name.into())
                .ok()
                .and_then(|f| f.dyn_into().ok())
        };
        Self {
            track: get("onTrack"),
            state: get("onState"),
            error: get("onError"),
            ice_restarted: get("onIceRestarted"),
            feed_joined: get("onFeedJoined"),
            feed_left: get("onFeedLeft"),
            status: get("onStatus"),
        }
    }

    fn call(f: &Option<Function>, args: &[JsValue]) {
        if let Some(f) = f {
            let _ = f.apply(&JsValue::NULL, &args.iter().collect::<Array>());
        }
    }
}

fn feed_value(feed: Option<u64>) -> JsValue {
    feed.map_or(JsValue::UNDEFINED, |f| JsValue::from(f as f64))
}

fn streams_value(streams: Vec<MediaStream>) -> JsValue {
    streams.into_iter().collect::<Array>().into()
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct WhipOptionsData {
    token: Option<String>,
    ice_servers: Vec<IceServer>,
    ice_transport_policy: Option<String>,
    no_trickle: bool,
}

fn whip_options(options: &JsValue) -> Result<WhipOptions, JsValue> {
    let data: WhipOptionsData = if options.is_undefined() || options.is_null() {
        WhipOptionsData::default()
    } else {
        let plain = only(
            options,
            &["token", "iceServers", "iceTransportPolicy", "noTrickle"],
        );
        serde_wasm_bindgen::from_value(plain).map_err(bad_options)?
    };
    let ice_transport_policy = match data.ice_transport_policy.as_deref() {
        None | Some("all") => IcePolicy::All,
        Some("relay") => IcePolicy::Relay,
        Some(other) => return Err(bad_options(format!("iceTransportPolicy {other:?}"))),
    };
    Ok(WhipOptions {
        token: data.token,
        ice_servers: data.ice_servers,
        ice_transport_policy,
        no_trickle: data.no_trickle,
    })
}

fn pump_whip(mut events: UnboundedReceiver<WhipEvent>, callbacks: Callbacks) {
    wasm_bindgen_futures::spawn_local(async move {
        while let Some(event) = events.next().await {
            match event {
                WhipEvent::Track { track, streams } => {
                    Callbacks::call(&callbacks.track, &[track.into(), streams_value(streams)])
                }
                WhipEvent::State(state) => {
                    Callbacks::call(&callbacks.state, &[state.as_str().into()])
                }
                WhipEvent::IceRestarted => Callbacks::call(&callbacks.ice_restarted, &[]),
                WhipEvent::Error(e) => Callbacks::call(&callbacks.error, &[e.into()]),
            }
        }
    });
}

/// A WHIP publish session (RFC 9725). `stop()` sends the DELETE. Until
/// then it runs, even when nothing holds this object any more; `free()`
/// only releases the handle.
#[wasm_bindgen(js_name = Whip)]
pub struct JsWhip {
    inner: Running<WhipSession>,
}

/// A WHEP playback session. The media arrives through `onTrack`. It runs
/// until `stop()`, like `Whip`.
#[wasm_bindgen(js_name = Whep)]
pub struct JsWhep {
    inner: Running<WhipSession>,
}

macro_rules! whip_methods {
    ($ty:ident, $class:literal) => {
        #[wasm_bindgen(js_class = $class)]
        impl $ty {
            /// The session's URL on the server.
            #[wasm_bindgen(getter, js_name = resourceUrl)]
            pub fn resource_url(&self) -> Option<String> {
                self.inner.resource_url()
            }

            /// The ICE servers the endpoint listed in `Link` headers.
            #[wasm_bindgen(getter, js_name = linkIceServers)]
            pub fn link_ice_servers(&self) -> Result<JsValue, JsValue> {
                let serializer =
                    serde_wasm_bindgen::Serializer::new().serialize_maps_as_objects(true);
                serde::Serialize::serialize(&self.inner.link_ice_servers(), &serializer)
                    .map_err(bad_options)
            }

            /// Restarts ICE with a `PATCH` (`If-Match: *`); `onIceRestarted`
            /// follows the answer.
            #[wasm_bindgen(js_name = restartIce)]
            pub fn restart_ice(&self) -> Result<(), JsValue> {
                Ok(self.inner.restart_ice()?)
            }

            /// Deletes the session on the server and closes the connection.
            pub async fn stop(&self) -> Result<(), JsValue> {
                let stopped = self.inner.stop().await;
                self.inner.release();
                Ok(stopped?)
            }

            /// The underlying RTCPeerConnection, for stats.
            #[wasm_bindgen(getter, js_name = peerConnection)]
            pub fn peer_connection(&self) -> web_sys::RtcPeerConnection {
                self.inner.peer().as_raw().clone()
            }
        }
    };
}

whip_methods!(JsWhip, "Whip");
whip_methods!(JsWhep, "Whep");

#[wasm_bindgen(js_class = Whip)]
impl JsWhip {
    /// Publishes `stream` to a WHIP endpoint. Rejects with `WhipRejected`
    /// (4xx, `status` set), `WhipServerError` (5xx), `WhipNetworkError` or
    /// `WhipProtocolError`.
    pub async fn publish(
        endpoint: String,
        stream: MediaStream,
        options: Option<JsWhipOptions>,
    ) -> Result<JsWhip, JsValue> {
        let options: JsValue = options.map_or(JsValue::UNDEFINED, Into::into);
        let callbacks = Callbacks::of(&options);
        let (inner, events) =
            WhipSession::publish(&endpoint, &stream, whip_options(&options)?).await?;
        pump_whip(events, callbacks);
        Ok(JsWhip {
            inner: Running::new(inner),
        })
    }
}

#[wasm_bindgen(js_class = Whep)]
impl JsWhep {
    /// Plays from a WHEP endpoint. Rejects like `Whip.publish`.
    pub async fn play(endpoint: String, options: Option<JsWhipOptions>) -> Result<JsWhep, JsValue> {
        let options: JsValue = options.map_or(JsValue::UNDEFINED, Into::into);
        let callbacks = Callbacks::of(&options);
        let (inner, events) = WhipSession::play(&endpoint, whip_options(&options)?).await?;
        pump_whip(events, callbacks);
        Ok(JsWhep {
            inner: Running::new(inner),
        })
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct JanusOptionsData {
    keepalive_ms: Option<u32>,
    request_timeout_ms: Option<u32>,
    token: Option<String>,
    api_secret: Option<String>,
    ice_servers: Vec<IceServer>,
}

/// A Janus session over WebSocket. `close()` destroys it. Until then it is
/// kept alive, even when nothing holds this object any more; `free()` only
/// releases the handle.
#[wasm_bindgen(js_name = Janus)]
pub struct JsJanus {
    inner: Running<Janus>,
}

#[wasm_bindgen(js_class = Janus)]
impl JsJanus {
    /// Connects to Janus's WebSocket API and creates a session. Rejects
    /// with `JanusConnectError`, `JanusTimeout` or `JanusError`.
    pub async fn connect(url: String, options: Option<JsJanusOptions>) -> Result<JsJanus, JsValue> {
        let options: JsValue = options.map_or(JsValue::UNDEFINED, Into::into);
        let data: JanusOptionsData = if options.is_undefined() || options.is_null() {
            JanusOptionsData::default()
        } else {
            let plain = only(
                &options,
                &[
                    "keepaliveMs",
                    "requestTimeoutMs",
                    "token",
                    "apiSecret",
                    "iceServers",
                ],
            );
            serde_wasm_bindgen::from_value(plain).map_err(bad_options)?
        };
        let defaults = JanusOptions::default();
        let config = JanusOptions {
            keepalive_ms: data.keepalive_ms.unwrap_or(defaults.keepalive_ms),
            request_timeout_ms: data
                .request_timeout_ms
                .unwrap_or(defaults.request_timeout_ms),
            auth: Authentication {
                token: data.token,
                api_secret: data.api_secret,
            },
            ice_servers: data.ice_servers,
        };
        let on_error = Callbacks::of(&options).error;
        let (inner, mut events) = Janus::connect(&url, config).await?;
        wasm_bindgen_futures::spawn_local(async move {
            while let Some(event) = events.next().await {
                let error: JsValue = match event {
                    JanusEvent::Lost(e) => e.into(),
                    JanusEvent::Malformed(reason) => {
                        js_error("JanusProtocolError", "protocol", &reason)
                    }
                };
                Callbacks::call(&on_error, &[error]);
            }
        });
        Ok(JsJanus {
            inner: Running::new(inner),
        })
    }

    /// The session id.
    #[wasm_bindgen(getter, js_name = sessionId)]
    pub fn session_id(&self) -> f64 {
        self.inner.session_id() as f64
    }

    /// Destroys the session and closes the socket.
    pub fn close(&self) {
        self.inner.close();
        self.inner.release();
    }
}

fn pump_janus(mut events: UnboundedReceiver<JanusMediaEvent>, callbacks: Callbacks) {
    wasm_bindgen_futures::spawn_local(async move {
        while let Some(event) = events.next().await {
            match event {
                JanusMediaEvent::Track {
                    feed,
                    track,
                    streams,
                } => Callbacks::call(
                    &callbacks.track,
                    &[track.into(), streams_value(streams), feed_value(feed)],
                ),
                JanusMediaEvent::State { feed, state } => {
                    Callbacks::call(&callbacks.state, &[state.as_str().into(), feed_value(feed)])
                }
                JanusMediaEvent::FeedJoined { feed, display } => Callbacks::call(
                    &callbacks.feed_joined,
                    &[feed_value(Some(feed)), display.into()],
                ),
                JanusMediaEvent::FeedLeft { feed } => {
                    Callbacks::call(&callbacks.feed_left, &[feed_value(Some(feed))])
                }
                JanusMediaEvent::Status(status) => {
                    Callbacks::call(&callbacks.status, &[status.into()])
                }
                JanusMediaEvent::Error(e) => Callbacks::call(&callbacks.error, &[e.into()]),
                JanusMediaEvent::WebrtcUp { .. } | JanusMediaEvent::Hangup { .. } => {}
            }
        }
    });
}

/// Janus's EchoTest: publishes a stream and receives it back through
/// `onTrack`. `stop()` closes the connection and detaches; until then it
/// runs, even when nothing holds this object any more.
#[wasm_bindgen(js_name = JanusEchoTest)]
pub struct JsEchoTest {
    inner: Running<EchoTest>,
}

#[wasm_bindgen(js_class = JanusEchoTest)]
impl JsEchoTest {
    /// Starts the echo of `stream`.
    pub async fn start(
        janus: &JsJanus,
        stream: MediaStream,
        callbacks: Option<JsMediaServerCallbacks>,
    ) -> Result<JsEchoTest, JsValue> {
        let callbacks = Callbacks::of(&callbacks.map_or(JsValue::UNDEFINED, Into::into));
        let janus = Janus::clone(&janus.inner);
        let (inner, events) = EchoTest::start(&janus, &stream).await?;
        pump_janus(events, callbacks);
        Ok(JsEchoTest {
            inner: Running::new(inner),
        })
    }

    /// Ends the echo.
    pub fn stop(&self) {
        self.inner.stop();
        self.inner.release();
    }

    /// The RTCPeerConnection to Janus, for stats.
    #[wasm_bindgen(getter, js_name = peerConnection)]
    pub fn peer_connection(&self) -> web_sys::RtcPeerConnection {
        self.inner.peer().as_raw().clone()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VideoRoomOptionsData {
    room: u64,
    #[serde(default)]
    display: String,
    #[serde(default)]
    create: Option<bool>,
    #[serde(default)]
    max_publishers: Option<u32>,
}

/// A Janus VideoRoom: publishes one stream and receives every other
/// publisher's through `onTrack` (with their feed id). `leave()`
/// unpublishes, unsubscribes and detaches; until then it stays in the
/// room, even when nothing holds this object any more.
#[wasm_bindgen(js_name = JanusVideoRoom)]
pub struct JsVideoRoom {
    inner: Running<VideoRoom>,
}

#[wasm_bindgen(js_class = JanusVideoRoom)]
impl JsVideoRoom {
    /// Joins a room as a publisher of `stream`.
    pub async fn join(
        janus: &JsJanus,
        stream: MediaStream,
        options: JsVideoRoomOptions,
    ) -> Result<JsVideoRoom, JsValue> {
        let options: JsValue = options.into();
        let callbacks = Callbacks::of(&options);
        let plain = only(&options, &["room", "display", "create", "maxPublishers"]);
        let data: VideoRoomOptionsData =
            serde_wasm_bindgen::from_value(plain).map_err(bad_options)?;
        let defaults = VideoRoomOptions::default();
        let janus = Janus::clone(&janus.inner);
        let (inner, events) = VideoRoom::join(
            &janus,
            VideoRoomOptions {
                room: data.room,
                display: data.display,
                create: data.create.unwrap_or(defaults.create),
                max_publishers: data.max_publishers.unwrap_or(defaults.max_publishers),
            },
            &stream,
        )
        .await?;
        pump_janus(events, callbacks);
        Ok(JsVideoRoom {
            inner: Running::new(inner),
        })
    }

    /// This side's publisher id.
    #[wasm_bindgen(getter)]
    pub fn id(&self) -> f64 {
        self.inner.id() as f64
    }

    /// Leaves the room.
    pub fn leave(&self) {
        self.inner.leave();
        self.inner.release();
    }
}

/// Receive-only playback of a Janus Streaming mountpoint. `stop()` ends
/// it; until then it plays, even when nothing holds this object any more.
#[wasm_bindgen(js_name = JanusStreaming)]
pub struct JsStreaming {
    inner: Running<StreamingPlayer>,
}

#[wasm_bindgen(js_class = JanusStreaming)]
impl JsStreaming {
    /// Watches mountpoint `id`.
    pub async fn watch(
        janus: &JsJanus,
        id: f64,
        callbacks: Option<JsStreamingCallbacks>,
    ) -> Result<JsStreaming, JsValue> {
        if !(id >= 0.0 && id.fract() == 0.0) {
            return Err(bad_options(format!("mountpoint id {id} is not an integer")));
        }
        let callbacks = Callbacks::of(&callbacks.map_or(JsValue::UNDEFINED, Into::into));
        let janus = Janus::clone(&janus.inner);
        let (inner, events) = StreamingPlayer::watch(&janus, id as u64).await?;
        pump_janus(events, callbacks);
        Ok(JsStreaming {
            inner: Running::new(inner),
        })
    }

    /// Pauses; the connection stays up.
    pub async fn pause(&self) -> Result<(), JsValue> {
        Ok(self.inner.pause().await?)
    }

    /// Resumes after `pause()`.
    pub async fn resume(&self) -> Result<(), JsValue> {
        Ok(self.inner.resume().await?)
    }

    /// Stops watching and closes the connection.
    pub async fn stop(&self) -> Result<(), JsValue> {
        let stopped = self.inner.stop().await;
        self.inner.release();
        Ok(stopped?)
    }
}
