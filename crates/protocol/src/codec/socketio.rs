//! Socket.IO servers, spoken over a raw WebSocket with Engine.IO v4 text
//! framing: the open handshake, the server's pings, the namespace connect,
//! and `42["event",payload]` events.
//!
//! Socket.IO apps each pick their own event and field names for joining and
//! for relaying offers, answers and candidates, so all of them are
//! configurable. The defaults mirror the reference protocol's names.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::{Codec, CodecError, Decoded, Heartbeat};
use crate::{
    ClientMessage, ErrorCode, IceServer, PeerInfo, ProtocolError, SdpKind, ServerMessage,
    SignalPayload,
};

/// Engine.IO's defaults, used until the server's open packet says otherwise.
const DEFAULT_PING_INTERVAL_MS: u32 = 25_000;
const DEFAULT_PING_TIMEOUT_MS: u32 = 20_000;

/// Event names a Socket.IO signaling app uses. Deserializes from camelCase
/// JSON with every field optional.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SocketIoConfig {
    /// The Socket.IO namespace, `/` by default.
    pub namespace: String,
    /// Client → server: enter a room.
    pub join_event: String,
    /// Client → server: leave the room.
    pub leave_event: String,
    /// Server → client: the answer to a join, with this client's id and the
    /// peers already there.
    pub welcome_event: String,
    /// Server → client: a peer entered the room.
    pub peer_joined_event: String,
    /// Server → client: a peer left.
    pub peer_left_event: String,
    /// Both ways: an SDP offer for or from one peer.
    pub offer_event: String,
    /// Both ways: an SDP answer.
    pub answer_event: String,
    /// Both ways: an ICE candidate.
    pub candidate_event: String,
    /// Server events that report an error, mapped to the error code they
    /// mean (`{"room_full": "room-full"}`). The payload's `message` field,
    /// or the payload itself when it is a string, becomes the message.
    pub error_events: BTreeMap<String, String>,
    /// Field names inside the payloads.
    pub fields: SocketIoFields,
}

impl Default for SocketIoConfig {
    fn default() -> Self {
        Self {
            namespace: "/".into(),
            join_event: "join".into(),
            leave_event: "leave".into(),
            welcome_event: "welcome".into(),
            peer_joined_event: "peer-joined".into(),
            peer_left_event: "peer-left".into(),
            offer_event: "offer".into(),
            answer_event: "answer".into(),
            candidate_event: "candidate".into(),
            error_events: BTreeMap::from([("error".to_string(), "error".to_string())]),
            fields: SocketIoFields::default(),
        }
    }
}

/// Field names inside Socket.IO payloads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SocketIoFields {
    /// Join: the room.
    pub room: String,
    /// Join and peer entries: the display name.
    pub name: String,
    /// Join: the id the client asks to keep across reconnects.
    pub join_peer_id: String,
    /// Welcome: this client's id.
    pub self_id: String,
    /// Welcome: the list of peers already in the room.
    pub peers: String,
    /// Welcome: the ICE servers, if the server hands any out.
    pub ice_servers: String,
    /// Peer entries, peer-joined and peer-left: a peer's id.
    pub peer_id: String,
    /// Outgoing offers, answers and candidates: the receiving peer.
    pub to: String,
    /// Incoming offers, answers and candidates: the sending peer.
    pub from: String,
    /// Offers and answers: the `{type, sdp}` description.
    pub description: String,
    /// Candidates: the `RTCIceCandidateInit`.
    pub candidate: String,
}

impl Default for SocketIoFields {
    fn default() -> Self {
        Self {
            room: "room".into(),
            name: "name".into(),
            join_peer_id: "peerId".into(),
            self_id: "id".into(),
            peers: "peers".into(),
            ice_servers: "iceServers".into(),
            peer_id: "id".into(),
            to: "to".into(),
            from: "from".into(),
            description: "description".into(),
            candidate: "candidate".into(),
        }
    }
}

/// The Socket.IO codec.
#[derive(Debug, Clone)]
pub struct SocketIoCodec {
    config: SocketIoConfig,
    /// The Engine.IO session is open (the server's `0` packet arrived).
    open: bool,
    /// The namespace is connected (the server's `40` arrived).
    connected: bool,
    ping_interval_ms: u32,
    ping_timeout_ms: u32,
}

impl SocketIoCodec {
    /// A codec with the given names.
    pub fn new(config: SocketIoConfig) -> Self {
        Self {
            config,
            open: false,
            connected: false,
            ping_interval_ms: DEFAULT_PING_INTERVAL_MS,
            ping_timeout_ms: DEFAULT_PING_TIMEOUT_MS,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SocketIoConfig {
        &self.config
    }

    /// The namespace as it prefixes packets: empty for `/`, else `/ns,`.
    fn ns_prefix(&self) -> String {
        match self.config.namespace.as_str() {
            "" | "/" => String::new(),
            ns => format!("{ns},"),
        }
    }

    fn event(&self, name: &str, payload: Option<Value>) -> String {
        let array = match payload {
            Some(payload) => json!([name, payload]),
            None => json!([name]),
        };
        format!("42{}{}", self.ns_prefix(), array)
    }

    fn invalid(kind: &str, reason: impl Into<String>) -> CodecError {
        ProtocolError::InvalidField {
            kind: kind.to_owned(),
            reason: reason.into(),
        }
        .into()
    }

    fn string_field(payload: &Value, field: &str, event: &str) -> Result<String, CodecError> {
        match payload.get(field) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            _ => Err(Self::invalid(
                event,
                format!("missing string field `{field}`"),
            )),
        }
    }

    fn peer(&self, item: &Value, event: &str) -> Result<PeerInfo, CodecError> {
        let f = &self.config.fields;
        Ok(PeerInfo {
            id: Self::string_field(item, &f.peer_id, event)?,
            name: item
                .get(&f.name)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        })
    }

    /// Skips the namespace (`/ns,`) and ack id digits before a packet's data.
    fn packet_body<'a>(&self, rest: &'a str) -> &'a str {
        let mut rest = rest;
        if rest.starts_with('/') {
            rest = match rest.find(',') {
                Some(i) => &rest[i + 1..],
                None => "",
            };
        }
        rest.trim_start_matches(|c: char| c.is_ascii_digit())
    }

    fn decode_event(&self, body: &str) -> Result<Decoded, CodecError> {
        let array: Value =
            serde_json::from_str(body).map_err(|e| ProtocolError::InvalidJson(e.to_string()))?;
        let (name, payload) = match array.as_array().map(Vec::as_slice) {
            Some([Value::String(name)]) => (name.as_str(), Value::Null),
            Some([Value::String(name), payload, ..]) => (name.as_str(), payload.clone()),
            _ => return Err(ProtocolError::NotAMessage.into()),
        };
        let c = &self.config;
        let f = &c.fields;
        let message = if name == c.welcome_event {
            let peers = match payload.get(&f.peers) {
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|item| self.peer(item, name))
                    .collect::<Result<_, _>>()?,
                None | Some(Value::Null) => Vec::new(),
                Some(_) => return Err(Self::invalid(name, format!("`{}` is not a list", f.peers))),
            };
            let ice_servers = match payload.get(&f.ice_servers) {
                None | Some(Value::Null) => Vec::new(),
                Some(list) => Vec::<IceServer>::deserialize(list)
                    .map_err(|e| Self::invalid(name, format!("{}: {e}", f.ice_servers)))?,
            };
            ServerMessage::Welcome {
                id: Self::string_field(&payload, &f.self_id, name)?,
                peers,
                ice_servers,
            }
        } else if name == c.peer_joined_event {
            ServerMessage::PeerJoined {
                peer: self.peer(&payload, name)?,
            }
        } else if name == c.peer_left_event {
            let id = match &payload {
                Value::String(id) => id.clone(),
                _ => Self::string_field(&payload, &f.peer_id, name)?,
            };
            ServerMessage::PeerLeft { id }
        } else if name == c.offer_event || name == c.answer_event {
            let expected = if name == c.offer_event {
                SdpKind::Offer
            } else {
                SdpKind::Answer
            };
            let from = Self::string_field(&payload, &f.from, name)?;
            let description = payload
                .get(&f.description)
                .cloned()
                .ok_or_else(|| Self::invalid(name, format!("missing `{}`", f.description)))?;
            let data = json!({ "description": description });
            match SignalPayload::from_value(&data) {
                Ok(SignalPayload::Description(d)) if d.kind == expected => {}
                _ => {
                    return Err(Self::invalid(
                        name,
                        format!(
                            "`{}` is not an {} description",
                            f.description,
                            expected.as_str()
                        ),
                    ))
                }
            }
            ServerMessage::Signal { from, data }
        } else if name == c.candidate_event {
            let from = Self::string_field(&payload, &f.from, name)?;
            let candidate = payload
                .get(&f.candidate)
                .cloned()
                .ok_or_else(|| Self::invalid(name, format!("missing `{}`", f.candidate)))?;
            let data = json!({ "candidate": candidate });
            SignalPayload::from_value(&data).map_err(|_| {
                Self::invalid(name, format!("`{}` is not a candidate", f.candidate))
            })?;
            ServerMessage::Signal { from, data }
        } else if let Some(code) = c.error_events.get(name) {
            let message = match &payload {
                Value::String(s) => s.clone(),
                other => other
                    .get("message")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .unwrap_or_else(|| other.to_string()),
            };
            ServerMessage::Error {
                code: ErrorCode::parse(code),
                message,
            }
        } else {
            return Err(ProtocolError::UnknownType(name.to_owned()).into());
        };
        Ok(Decoded::message(message))
    }

    fn decode_socket_packet(&mut self, packet: &str) -> Result<Decoded, CodecError> {
        let mut chars = packet.chars();
        let kind = chars.next();
        let body = self.packet_body(chars.as_str());
        match kind {
            // CONNECT acknowledged: queued messages may go now.
            Some('0') => {
                self.connected = true;
                Ok(Decoded::nothing())
            }
            // DISCONNECT: the server dropped us from the namespace.
            Some('1') => {
                self.connected = false;
                Ok(Decoded::message(ServerMessage::Error {
                    code: ErrorCode::Other("disconnected".into()),
                    message: "the Socket.IO server closed the namespace".into(),
                }))
            }
            Some('2') => self.decode_event(body),
            // Acks are answers to emits with callbacks, which this codec
            // never requests.
            Some('3') => Ok(Decoded::nothing()),
            Some('4') => {
                let message = serde_json::from_str::<Value>(body)
                    .ok()
                    .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned))
                    .unwrap_or_else(|| body.to_owned());
                Ok(Decoded::message(ServerMessage::Error {
                    code: ErrorCode::Other("connect-error".into()),
                    message,
                }))
            }
            Some('5') | Some('6') => Err(Self::invalid(
                "binary-event",
                "binary Socket.IO events are not supported",
            )),
            _ => Err(ProtocolError::NotAMessage.into()),
        }
    }
}

impl Codec for SocketIoCodec {
    fn name(&self) -> &'static str {
        "socketio"
    }

    fn on_open(&mut self) -> Vec<String> {
        self.open = false;
        self.connected = false;
        // Engine.IO v4 speaks first: wait for its open packet.
        Vec::new()
    }

    fn is_ready(&self) -> bool {
        self.connected
    }

    fn encode(&mut self, message: &ClientMessage) -> Result<Vec<String>, CodecError> {
        let c = &self.config;
        let f = &c.fields;
        let frame = match message {
            ClientMessage::Join {
                room,
                name,
                peer_id,
            } => {
                let mut payload = Map::new();
                payload.insert(f.room.clone(), json!(room));
                payload.insert(f.name.clone(), json!(name));
                if let Some(id) = peer_id {
                    payload.insert(f.join_peer_id.clone(), json!(id));
                }
                self.event(&c.join_event, Some(Value::Object(payload)))
            }
            ClientMessage::Leave => self.event(&c.leave_event, None),
            // The server pings; the client only answers.
            ClientMessage::Ping => return Ok(Vec::new()),
            ClientMessage::Signal { to, data } => {
                let (event, field, value) = match SignalPayload::from_value(data)? {
                    SignalPayload::Description(d) => {
                        let event = match d.kind {
                            SdpKind::Offer => &c.offer_event,
                            SdpKind::Answer => &c.answer_event,
                            other => {
                                return Err(CodecError::NotAllowed {
                                    codec: "socketio",
                                    reason: format!(
                                        "no event for a {} description",
                                        other.as_str()
                                    ),
                                })
                            }
                        };
                        (event, &f.description, json!(d))
                    }
                    SignalPayload::Candidate(cand) => {
                        (&c.candidate_event, &f.candidate, json!(cand))
                    }
                };
                let mut payload = Map::new();
                payload.insert(f.to.clone(), json!(to));
                payload.insert(field.clone(), value);
                self.event(event, Some(Value::Object(payload)))
            }
        };
        Ok(vec![frame])
    }

    fn decode(&mut self, frame: &str) -> Result<Decoded, CodecError> {
        let mut chars = frame.chars();
        match chars.next() {
            Some('0') => {
                let open: Value = serde_json::from_str(chars.as_str())
                    .map_err(|e| ProtocolError::InvalidJson(e.to_string()))?;
                let ms = |key: &str, default: u32| {
                    open.get(key)
                        .and_then(Value::as_u64)
                        .map_or(default, |v| v.min(u64::from(u32::MAX)) as u32)
                };
                self.ping_interval_ms = ms("pingInterval", DEFAULT_PING_INTERVAL_MS);
                self.ping_timeout_ms = ms("pingTimeout", DEFAULT_PING_TIMEOUT_MS);
                self.open = true;
                let connect = format!("40{}", self.ns_prefix());
                Ok(Decoded {
                    messages: Vec::new(),
                    replies: vec![connect],
                })
            }
            // The server closes the session; the socket close follows.
            Some('1') => Ok(Decoded::nothing()),
            Some('2') => Ok(Decoded {
                messages: Vec::new(),
                replies: vec![format!("3{}", chars.as_str())],
            }),
            Some('3') | Some('6') => Ok(Decoded::nothing()),
            Some('4') => self.decode_socket_packet(chars.as_str()),
            _ => Err(ProtocolError::NotAMessage.into()),
        }
    }

    fn heartbeat(&self) -> Heartbeat {
        Heartbeat {
            ping_every_ms: None,
            dead_after_ms: Some(self.ping_interval_ms.saturating_add(self.ping_timeout_ms)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names of a Flask-SocketIO style app, as the tests' server uses.
    fn app_config() -> SocketIoConfig {
        serde_json::from_value(json!({
            "joinEvent": "join_room", "leaveEvent": "leave_room",
            "welcomeEvent": "room_users", "peerJoinedEvent": "user_joined",
            "peerLeftEvent": "user_left", "candidateEvent": "ice_candidate",
            "errorEvents": {"room_full": "room-full"},
            "fields": {"name": "username", "joinPeerId": "client_id", "selfId": "you",
                       "peers": "users", "peerId": "uid", "to": "target", "from": "sender"}
        }))
        .unwrap()
    }

    fn connected(config: SocketIoConfig) -> SocketIoCodec {
        let mut codec = SocketIoCodec::new(config);
        assert!(codec.on_open().is_empty());
        let open = codec
            .decode(r#"0{"sid":"s1","upgrades":[],"pingInterval":5000,"pingTimeout":4000,"maxPayload":1000000}"#)
            .unwrap();
        assert_eq!(open.replies, vec!["40"]);
        assert!(!codec.is_ready());
        codec.decode(r#"40{"sid":"n1"}"#).unwrap();
        assert!(codec.is_ready());
        codec
    }

    #[test]
    fn handshake_ready_state_and_heartbeat_follow_the_open_packet() {
        let mut codec = connected(SocketIoConfig::default());
        assert_eq!(codec.heartbeat().dead_after_ms, Some(9000));
        assert_eq!(codec.decode("2").unwrap().replies, vec!["3"]);
        codec.on_open();
        assert!(!codec.is_ready(), "a new socket must redo the handshake");
    }

    #[test]
    fn namespaces_prefix_every_packet() {
        let mut codec = SocketIoCodec::new(SocketIoConfig {
            namespace: "/call".into(),
            ..SocketIoConfig::default()
        });
        let open = codec
            .decode(r#"0{"sid":"s","pingInterval":1,"pingTimeout":1}"#)
            .unwrap();
        assert_eq!(open.replies, vec!["40/call,"]);
        codec.decode(r#"40/call,{"sid":"x"}"#).unwrap();
        assert!(codec.is_ready());
        assert_eq!(
            codec.encode(&ClientMessage::Leave).unwrap(),
            vec![r#"42/call,["leave"]"#]
        );
        let decoded = codec.decode(r#"42/call,["peer-left",{"id":"b"}]"#).unwrap();
        assert_eq!(
            decoded.messages,
            vec![ServerMessage::PeerLeft { id: "b".into() }]
        );
    }

    #[test]
    fn custom_event_and_field_names_map_both_ways() {
        let mut codec = connected(app_config());
        let join = codec
            .encode(&ClientMessage::Join {
                room: "r".into(),
                name: "Ann".into(),
                peer_id: Some("p1".into()),
            })
            .unwrap();
        assert_eq!(
            join,
            vec![r#"42["join_room",{"client_id":"p1","room":"r","username":"Ann"}]"#]
        );
        let welcome = codec
            .decode(r#"42["room_users",{"you":"p1","users":[{"uid":"p0","username":"Bo"}]}]"#)
            .unwrap();
        assert_eq!(
            welcome.messages,
            vec![ServerMessage::Welcome {
                id: "p1".into(),
                peers: vec![PeerInfo {
                    id: "p0".into(),
                    name: "Bo".into()
                }],
                ice_servers: vec![]
            }]
        );
        let offer = json!({"description":{"type":"offer","sdp":"v=0\r\n"}});
        let frame = codec
            .encode(&ClientMessage::Signal {
                to: "p0".into(),
                data: offer.clone(),
            })
            .unwrap();
        assert_eq!(
            frame,
            vec![r#"42["offer",{"description":{"sdp":"v=0\r\n","type":"offer"},"target":"p0"}]"#]
        );
        let inbound = codec
            .decode(
                r#"42["ice_candidate",{"sender":"p0","candidate":{"candidate":"c","sdpMid":"0"}}]"#,
            )
            .unwrap();
        assert_eq!(
            inbound.messages,
            vec![ServerMessage::Signal {
                from: "p0".into(),
                data: json!({"candidate":{"candidate":"c","sdpMid":"0"}})
            }]
        );
        let full = codec.decode(r#"42["room_full",{"room":"r"}]"#).unwrap();
        assert!(matches!(
            &full.messages[..],
            [ServerMessage::Error {
                code: ErrorCode::RoomFull,
                ..
            }]
        ));
        let left = codec.decode(r#"42["user_left",{"uid":"p0"}]"#).unwrap();
        assert_eq!(
            left.messages,
            vec![ServerMessage::PeerLeft { id: "p0".into() }]
        );
    }

    #[test]
    fn malformed_packets_are_typed_errors() {
        let mut codec = connected(app_config());
        for frame in [
            "",
            "9",
            "42{not an array}",
            r#"42[1,2]"#,
            r#"42["teleport",{}]"#,
            r#"42["user_joined",{"username":"no id"}]"#,
            r#"42["offer",{"sender":"p0","description":{"type":"answer","sdp":""}}]"#,
            r#"42["ice_candidate",{"sender":"p0"}]"#,
            r#"451-["offer",{"_placeholder":true,"num":0}]"#,
        ] {
            assert!(
                matches!(codec.decode(frame), Err(CodecError::Protocol(_))),
                "{frame:?} should be a protocol error"
            );
        }
        assert!(codec.is_ready(), "errors must not reset the session");
    }

    #[test]
    fn server_kicks_and_connect_errors_become_error_messages() {
        let mut codec = connected(SocketIoConfig::default());
        let err = codec.decode(r#"44{"message":"not authorized"}"#).unwrap();
        assert_eq!(
            err.messages,
            vec![ServerMessage::Error {
                code: ErrorCode::Other("connect-error".into()),
                message: "not authorized".into()
            }]
        );
        codec.decode("41").unwrap();
        assert!(!codec.is_ready());
    }
}
