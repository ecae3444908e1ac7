//! The JS face of calls and rooms: the `Room` and `Call` classes and the
//! signaling codecs they take (`peerlens`, `relay`, `socketio`, or one
//! written in JavaScript).

use futures::{channel::mpsc::UnboundedReceiver, StreamExt};
use js_sys::{Array, Function, Object, Reflect};
use peerlens_protocol::{
    codec::{PeerlensCodec, RelayCodec, RelayRole, SocketIoCodec, SocketIoConfig},
    Codec, IceServer,
};
use serde::Deserialize;
use wasm_bindgen::prelude::*;
use web_sys::{MediaStream, MediaStreamTrack};

use crate::js::{bad_options, js_error, only, Running};
use crate::{
    Call, CallEvent, CallOptions, DataChannelKind, DataMessage, IcePolicy, JsCodec, LeaveReason,
    Room, RoomError, RoomEvent, RoomOptions, RtcError, Signaling, SignalingOptions, SignalingState,
    StatsSummary,
};

#[wasm_bindgen(typescript_custom_section)]
const TS_ROOM: &str = r#"
/** Which signaling protocol the server speaks. */
export type CodecOptions =
  /** The reference protocol (the default). */
  | "peerlens"
  | { kind: "peerlens" }
  /** The sender/receiver relay: exactly two clients, no rooms (use Call). */
  | { kind: "relay"; role: "sender" | "receiver" }
  /** A Socket.IO server (Engine.IO v4 text frames), with its event and field names. */
  | { kind: "socketio"; config?: Record<string, unknown> }
  /** Any server: translate the reference protocol's messages yourself. */
  | {
      kind: "js";
      encode: (message: object) => string | string[] | null;
      decode: (frame: string) => object | object[] | null;
      /** Whether the server has rooms; default true. */
      rooms?: boolean;
      /** A keepalive frame, sent every pingEveryMs; silence for deadAfterMs reconnects. */
      ping?: () => string;
      pingEveryMs?: number;
      deadAfterMs?: number;
    };

export interface PeerInfo { id: string; name: string }

export interface PeerStats {
  timestampMs: number;
  bytesSent: number;
  bytesReceived: number;
  bitrateOutBps: number;
  bitrateInBps: number;
  rttMs?: number;
  packetsLost: number;
  lossRatio: number;
  fpsIn?: number;
  fpsOut?: number;
  framesDecoded: number;
  localCandidateType?: string;
}

export type SignalingStateInfo =
  | { state: "connecting"; attempt: number }
  | { state: "open" }
  | { state: "reconnecting"; inMs: number; attempt: number }
  | { state: "closed" };

export interface RoomOptions {
  /** A ws:// or wss:// URL. */
  url: string;
  room: string;
  name?: string;
  /** Kept across reconnects; generated when missing. */
  peerId?: string;
  /** The most peers in the mesh, this client included; default 6. */
  maxPeers?: number;
  iceServers?: IceServerInit[];
  iceTransportPolicy?: "all" | "relay";
  /** Open the reliable and unreliable data channels; default true. */
  dataChannels?: boolean;
  codec?: CodecOptions;
  onJoined?: (id: string, peers: PeerInfo[], rejoined: boolean) => void;
  onPeerJoined?: (peer: PeerInfo) => void;
  onPeerLeft?: (id: string, reason: "left" | "failed") => void;
  onTrack?: (peer: string, track: MediaStreamTrack, streams: MediaStream[]) => void;
  onData?: (peer: string, channel: "reliable" | "unreliable", data: string | Uint8Array) => void;
  onPeerState?: (peer: string, state: RTCPeerConnectionState) => void;
  onSignaling?: (state: SignalingStateInfo) => void;
  /** Errors never end the room. Names: RoomFull, ServerError, BadSignal, ... */
  onError?: (error: Error) => void;
}

export interface CallOptions {
  url: string;
  /** What this side sends. */
  stream?: MediaStream;
  iceServers?: IceServerInit[];
  iceTransportPolicy?: "all" | "relay";
  dataChannels?: boolean;
  codec?: CodecOptions;
  onTrack?: (track: MediaStreamTrack, streams: MediaStream[]) => void;
  onState?: (state: RTCPeerConnectionState) => void;
  onSignaling?: (state: SignalingStateInfo) => void;
  onError?: (error: Error) => void;
}
"#;

#[wasm_bindgen]
extern "C" {
    /// `RoomOptions`, as declared above.
    #[wasm_bindgen(typescript_type = "RoomOptions")]
    pub type JsRoomOptions;
    /// `CallOptions`, as declared above.
    #[wasm_bindgen(typescript_type = "CallOptions")]
    pub type JsCallOptions;
    /// `Promise<PeerStats>`.
    #[wasm_bindgen(typescript_type = "Promise<PeerStats>")]
    pub type PeerStatsPromise;
}

impl From<RoomError> for JsValue {
    fn from(e: RoomError) -> Self {
        let code = match &e {
            RoomError::NoRooms(_) => "no-rooms",
            RoomError::Signaling(_) => "signaling",
            RoomError::Server { .. } => "server",
            RoomError::Peer { .. } => "peer",
            RoomError::BadSignal { .. } => "bad-signal",
            RoomError::Full { .. } => "room-full",
        };
        let error = js_error(e.name(), code, &e.to_string());
        match &e {
            RoomError::Server { code, .. } => {
                let _ = Reflect::set(&error, &"serverCode".into(), &code.to_string().into());
            }
            RoomError::Peer { peer, .. } | RoomError::Full { peer, .. } => {
                let _ = Reflect::set(&error, &"peer".into(), &peer.into());
            }
            _ => {}
        }
        error
    }
}

impl From<RtcError> for JsValue {
    fn from(e: RtcError) -> Self {
        js_error(e.name(), "rtc", &e.to_string())
    }
}

fn function(options: &JsValue, name: &str) -> Option<Function> {
    Reflect::get(options, &name.into())
        .ok()
        .and_then(|f| f.dyn_into().ok())
}

fn call(f: &Option<Function>, args: &[JsValue]) {
    if let Some(f) = f {
        let _ = f.apply(&JsValue::NULL, &args.iter().collect::<Array>());
    }
}

/// The codec an options object names.
fn codec_of(options: &JsValue) -> Result<Box<dyn Codec>, JsValue> {
    let codec = Reflect::get(options, &"codec".into()).unwrap_or(JsValue::UNDEFINED);
    if codec.is_undefined() || codec.is_null() {
        return Ok(Box::new(PeerlensCodec));
    }
    let kind = codec
        .as_string()
        .or_else(|| {
            Reflect::get(&codec, &"kind".into())
                .ok()
                .and_then(|k| k.as_string())
        })
        .ok_or_else(|| bad_options("codec: a name or an object with `kind`"))?;
    match kind.as_str() {
        "peerlens" => Ok(Box::new(PeerlensCodec)),
        "relay" => {
            let role = Reflect::get(&codec, &"role".into())
                .ok()
                .and_then(|r| r.as_string());
            match role.as_deref() {
                Some("sender") => Ok(Box::new(RelayCodec::new(RelayRole::Sender))),
                Some("receiver") => Ok(Box::new(RelayCodec::new(RelayRole::Receiver))),
                _ => Err(bad_options(
                    "codec relay: role must be \"sender\" or \"receiver\"",
                )),
            }
        }
        "socketio" => {
            let config = Reflect::get(&codec, &"config".into()).unwrap_or(JsValue::UNDEFINED);
            let config: SocketIoConfig = if config.is_undefined() {
                SocketIoConfig::default()
            } else {
                serde_wasm_bindgen::from_value(config).map_err(bad_options)?
            };
            Ok(Box::new(SocketIoCodec::new(config)))
        }
        "js" => {
            let encode = function(&codec, "encode")
                .ok_or_else(|| bad_options("codec js: `encode` must be a function"))?;
            let decode = function(&codec, "decode")
                .ok_or_else(|| bad_options("codec js: `decode` must be a function"))?;
            let mut js = JsCodec::new(encode, decode);
            if let Some(rooms) = Reflect::get(&codec, &"rooms".into())
                .ok()
                .and_then(|r| r.as_bool())
            {
                js = js.with_rooms(rooms);
            }
            if let Some(ping) = function(&codec, "ping") {
                let number = |key: &str, default: f64| {
                    Reflect::get(&codec, &key.into())
                        .ok()
                        .and_then(|v| v.as_f64())
                        .unwrap_or(default)
                };
                js = js.with_ping(
                    ping,
                    number("pingEveryMs", 25_000.0) as u32,
                    number("deadAfterMs", 60_000.0) as u32,
                );
            }
            Ok(Box::new(js))
        }
        other => Err(bad_options(format!("unknown codec {other:?}"))),
    }
}

fn signaling_value(state: &SignalingState) -> JsValue {
    let object = Object::new();
    let set = |key: &str, value: JsValue| {
        let _ = Reflect::set(&object, &key.into(), &value);
    };
    match state {
        SignalingState::Connecting { attempt } => {
            set("state", "connecting".into());
            set("attempt", (*attempt).into());
        }
        SignalingState::Open => set("state", "open".into()),
        SignalingState::Reconnecting { in_ms, attempt } => {
            set("state", "reconnecting".into());
            set("inMs", (*in_ms).into());
            set("attempt", (*attempt).into());
        }
        SignalingState::Closed => set("state", "closed".into()),
    }
    object.into()
}

fn stats_value(s: &StatsSummary) -> JsValue {
    let object = Object::new();
    let set = |key: &str, value: JsValue| {
        let _ = Reflect::set(&object, &key.into(), &value);
    };
    let optional = |v: Option<f64>| v.map_or(JsValue::UNDEFINED, JsValue::from);
    set("timestampMs", s.timestamp_ms.into());
    set("bytesSent", s.bytes_sent.into());
    set("bytesReceived", s.bytes_received.into());
    set("bitrateOutBps", s.bitrate_out_bps.into());
    set("bitrateInBps", s.bitrate_in_bps.into());
    set("rttMs", optional(s.rtt_ms));
    set("packetsLost", s.packets_lost.into());
    set("lossRatio", s.loss_ratio.into());
    set("fpsIn", optional(s.fps_in));
    set("fpsOut", optional(s.fps_out));
    set("framesDecoded", s.frames_decoded.into());
    set(
        "localCandidateType",
        s.local_candidate_type
            .as_deref()
            .map_or(JsValue::UNDEFINED, JsValue::from),
    );
    object.into()
}

fn peer_value(id: &str, name: &str) -> JsValue {
    let object = Object::new();
    let _ = Reflect::set(&object, &"id".into(), &id.into());
    let _ = Reflect::set(&object, &"name".into(), &name.into());
    object.into()
}

fn channel_name(kind: DataChannelKind) -> &'static str {
    match kind {
        DataChannelKind::Reliable => "reliable",
        DataChannelKind::Unreliable => "unreliable",
    }
}

fn channel_of(name: &str) -> Result<DataChannelKind, JsValue> {
    match name {
        "reliable" => Ok(DataChannelKind::Reliable),
        "unreliable" => Ok(DataChannelKind::Unreliable),
        other => Err(bad_options(format!(
            "channel {other:?}: \"reliable\" or \"unreliable\""
        ))),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConnectionData {
    url: String,
    #[serde(default)]
    room: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    peer_id: Option<String>,
    #[serde(default)]
    max_peers: Option<usize>,
    #[serde(default)]
    ice_servers: Vec<IceServer>,
    #[serde(default)]
    ice_transport_policy: Option<String>,
    #[serde(default)]
    data_channels: Option<bool>,
}

fn connection_data(options: &JsValue) -> Result<(ConnectionData, IcePolicy), JsValue> {
    let plain = only(
        options,
        &[
            "url",
            "room",
            "name",
            "peerId",
            "maxPeers",
            "iceServers",
            "iceTransportPolicy",
            "dataChannels",
        ],
    );
    let data: ConnectionData = serde_wasm_bindgen::from_value(plain).map_err(bad_options)?;
    let policy = match data.ice_transport_policy.as_deref() {
        None | Some("all") => IcePolicy::All,
        Some("relay") => IcePolicy::Relay,
        Some(other) => return Err(bad_options(format!("iceTransportPolicy {other:?}"))),
    };
    Ok((data, policy))
}

/// A mesh room over any signaling server. `leave()` leaves it and closes
/// every peer connection; the published stream's tracks are the caller's
/// to stop. Until then the room stays joined, even when nothing holds this
/// object any more; `free()` only releases the handle.
#[wasm_bindgen(js_name = Room)]
pub struct JsRoom {
    inner: Option<Running<Room>>,
}

#[wasm_bindgen(js_class = Room)]
impl JsRoom {
    /// Connects to the signaling server and joins the room. Events arrive
    /// through the callbacks; throws `OptionsError` or `NoRooms`.
    pub fn join(options: JsRoomOptions) -> Result<JsRoom, JsValue> {
        let options: JsValue = options.into();
        let (data, policy) = connection_data(&options)?;
        let codec = codec_of(&options)?;
        let (signaling, signaling_events) =
            Signaling::connect(&data.url, codec, SignalingOptions::default());
        let defaults = RoomOptions::default();
        let (room, events) = Room::join(
            signaling,
            signaling_events,
            RoomOptions {
                room: data.room,
                name: data.name,
                peer_id: data.peer_id,
                max_peers: data.max_peers.unwrap_or(defaults.max_peers),
                ice_servers: data.ice_servers,
                ice_transport_policy: policy,
                data_channels: data.data_channels.unwrap_or(defaults.data_channels),
                failed_peer_timeout_ms: defaults.failed_peer_timeout_ms,
            },
        )?;
        pump_room(events, &options);
        Ok(JsRoom {
            inner: Some(Running::new(room)),
        })
    }

    fn room(&self) -> Result<&Room, JsValue> {
        self.inner
            .as_deref()
            .ok_or_else(|| js_error("Closed", "closed", "the room was left"))
    }

    /// This client's peer id.
    #[wasm_bindgen(getter)]
    pub fn id(&self) -> Option<String> {
        self.inner.as_deref().map(Room::id)
    }

    /// The members, this client excluded.
    #[wasm_bindgen(getter, unchecked_return_type = "PeerInfo[]")]
    pub fn peers(&self) -> Array {
        self.inner
            .as_ref()
            .map(|r| {
                r.peers()
                    .iter()
                    .map(|p| peer_value(&p.id, &p.name))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Sends `stream` to every member, now and later.
    pub fn publish(&self, stream: &MediaStream) -> Result<(), JsValue> {
        Ok(self.room()?.publish(stream)?)
    }

    /// Swaps the `"audio"` or `"video"` track sent to every member, without
    /// renegotiating (device switch, screen share). `null` sends nothing.
    #[wasm_bindgen(js_name = replaceTrack)]
    pub async fn replace_track(
        &self,
        kind: String,
        track: Option<MediaStreamTrack>,
    ) -> Result<(), JsValue> {
        Ok(self.room()?.replace_track(&kind, track.as_ref()).await?)
    }

    /// Sends text on a data channel to one member, or to all when `peer`
    /// is null.
    #[wasm_bindgen(js_name = sendText)]
    pub fn send_text(
        &self,
        peer: Option<String>,
        channel: String,
        text: String,
    ) -> Result<(), JsValue> {
        Ok(self
            .room()?
            .send_text(peer.as_deref(), channel_of(&channel)?, &text)?)
    }

    /// A `getStats()` summary of the connection to `peer`; bitrates are
    /// measured since the previous call.
    #[wasm_bindgen(unchecked_return_type = "PeerStats")]
    pub async fn stats(&self, peer: String) -> Result<JsValue, JsValue> {
        Ok(stats_value(&self.room()?.stats(&peer).await?))
    }

    /// Restarts ICE towards `peer`.
    #[wasm_bindgen(js_name = restartIce)]
    pub fn restart_ice(&self, peer: String) -> Result<(), JsValue> {
        Ok(self.room()?.restart_ice(&peer)?)
    }

    /// The RTCPeerConnection to `peer`, for what the room does not cover.
    #[wasm_bindgen(js_name = peerConnection)]
    pub fn peer_connection(&self, peer: String) -> Option<web_sys::RtcPeerConnection> {
        self.inner.as_deref().and_then(|r| r.raw_connection(&peer))
    }

    /// Leaves the room and closes every connection.
    pub fn leave(&mut self) {
        if let Some(room) = self.inner.take() {
            // The last reference: dropping it leaves.
            room.release();
        }
    }
}

fn pump_room(mut events: UnboundedReceiver<RoomEvent>, options: &JsValue) {
    let on = |name| function(options, name);
    let (joined, peer_joined, peer_left, track, data, peer_state, signaling, error) = (
        on("onJoined"),
        on("onPeerJoined"),
        on("onPeerLeft"),
        on("onTrack"),
        on("onData"),
        on("onPeerState"),
        on("onSignaling"),
        on("onError"),
    );
    wasm_bindgen_futures::spawn_local(async move {
        while let Some(event) = events.next().await {
            match event {
                RoomEvent::Joined {
                    id,
                    peers,
                    rejoined,
                } => {
                    let list: Array = peers.iter().map(|p| peer_value(&p.id, &p.name)).collect();
                    call(&joined, &[id.into(), list.into(), rejoined.into()]);
                }
                RoomEvent::PeerJoined(p) => call(&peer_joined, &[peer_value(&p.id, &p.name)]),
                RoomEvent::PeerLeft { id, reason } => {
                    let reason = match reason {
                        LeaveReason::Left => "left",
                        LeaveReason::Failed => "failed",
                    };
                    call(&peer_left, &[id.into(), reason.into()]);
                }
                RoomEvent::Track {
                    peer,
                    track: t,
                    streams,
                } => {
                    let streams: Array = streams.into_iter().collect();
                    call(&track, &[peer.into(), t.into(), streams.into()]);
                }
                RoomEvent::Data {
                    peer,
                    channel,
                    message,
                } => {
                    let value: JsValue = match message {
                        DataMessage::Text(text) => text.into(),
                        DataMessage::Binary(bytes) => js_sys::Uint8Array::from(&bytes[..]).into(),
                    };
                    call(&data, &[peer.into(), channel_name(channel).into(), value]);
                }
                RoomEvent::PeerState { peer, state } => {
                    call(&peer_state, &[peer.into(), state.as_str().into()])
                }
                RoomEvent::Signaling(state) => call(&signaling, &[signaling_value(&state)]),
                RoomEvent::Error(e) => call(&error, &[e.into()]),
            }
        }
    });
}

/// A 1:1 call over a signaling server, such as the sender/receiver relay.
/// `hangUp()` closes it. Until then the call goes on, even when nothing
/// holds this object any more; `free()` only releases the handle.
#[wasm_bindgen(js_name = Call)]
pub struct JsCall {
    inner: Option<Running<Call>>,
}

#[wasm_bindgen(js_class = Call)]
impl JsCall {
    /// Connects and starts the call. Events arrive through the callbacks.
    pub fn start(options: JsCallOptions) -> Result<JsCall, JsValue> {
        let options: JsValue = options.into();
        let (data, policy) = connection_data(&options)?;
        let codec = codec_of(&options)?;
        let stream = Reflect::get(&options, &"stream".into())
            .ok()
            .and_then(|s| s.dyn_into::<MediaStream>().ok());
        let (signaling, signaling_events) =
            Signaling::connect(&data.url, codec, SignalingOptions::default());
        let (inner, mut events) = Call::start(
            signaling,
            signaling_events,
            CallOptions {
                stream,
                ice_servers: data.ice_servers,
                ice_transport_policy: policy,
                data_channels: data.data_channels.unwrap_or(false),
            },
        )?;
        let (track, state, signaling, error) = (
            function(&options, "onTrack"),
            function(&options, "onState"),
            function(&options, "onSignaling"),
            function(&options, "onError"),
        );
        wasm_bindgen_futures::spawn_local(async move {
            while let Some(event) = events.next().await {
                match event {
                    CallEvent::Track { track: t, streams } => {
                        let streams: Array = streams.into_iter().collect();
                        call(&track, &[t.into(), streams.into()]);
                    }
                    CallEvent::State(s) => call(&state, &[s.as_str().into()]),
                    CallEvent::Signaling(s) => call(&signaling, &[signaling_value(&s)]),
                    CallEvent::Error(e) => call(&error, &[e.into()]),
                }
            }
        });
        Ok(JsCall {
            inner: Some(Running::new(inner)),
        })
    }

    fn call(&self) -> Result<&Call, JsValue> {
        self.inner
            .as_deref()
            .ok_or_else(|| js_error("Closed", "closed", "the call was hung up"))
    }

    /// Whether this side makes the offers.
    #[wasm_bindgen(getter, js_name = isOfferer)]
    pub fn is_offerer(&self) -> bool {
        self.inner.as_deref().is_some_and(Call::is_offerer)
    }

    /// The connection state.
    #[wasm_bindgen(getter)]
    pub fn state(&self) -> String {
        self.inner
            .as_deref()
            .map_or("closed", |c| c.state().as_str())
            .to_owned()
    }

    /// Swaps the `"audio"` or `"video"` track without renegotiating.
    #[wasm_bindgen(js_name = replaceTrack)]
    pub async fn replace_track(
        &self,
        kind: String,
        track: Option<MediaStreamTrack>,
    ) -> Result<(), JsValue> {
        Ok(self.call()?.replace_track(&kind, track.as_ref()).await?)
    }

    /// A `getStats()` summary.
    #[wasm_bindgen(unchecked_return_type = "PeerStats")]
    pub async fn stats(&self) -> Result<JsValue, JsValue> {
        Ok(stats_value(&self.call()?.stats().await?))
    }

    /// Restarts ICE (offering side only).
    #[wasm_bindgen(js_name = restartIce)]
    pub fn restart_ice(&self) -> Result<(), JsValue> {
        Ok(self.call()?.restart_ice()?)
    }

    /// Hangs up.
    #[wasm_bindgen(js_name = hangUp)]
    pub fn hang_up(&mut self) {
        if let Some(call) = self.inner.take() {
            // The last reference: dropping it hangs up.
            call.release();
        }
    }
}
