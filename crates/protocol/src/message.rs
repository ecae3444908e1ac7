//! The message types of the `peerlens` protocol and their JSON form.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{is_valid_name, is_valid_peer_id, is_valid_room, ErrorCode, ProtocolError};

/// A peer as other members of its room see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerInfo {
    /// The peer's id, unique within the server.
    pub id: String,
    /// The display name the peer joined with.
    pub name: String,
}

/// One entry of `RTCConfiguration.iceServers`, as the server hands it out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    /// `stun:` or `turn:` URLs. A single string is accepted on input.
    #[serde(deserialize_with = "one_or_many")]
    pub urls: Vec<String>,
    /// TURN username.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// TURN credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(url) => vec![url],
        OneOrMany::Many(urls) => urls,
    })
}

/// A frame a client sends to the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ClientMessage {
    /// Enter a room.
    Join {
        /// The room to enter.
        room: String,
        /// The display name shown to the other peers.
        #[serde(default)]
        name: String,
        /// An id chosen by the client. The server adopts it when it is free,
        /// which lets a client that reconnects keep its identity, so that its
        /// peers match their live connections to it again.
        #[serde(rename = "peerId", default, skip_serializing_if = "Option::is_none")]
        peer_id: Option<String>,
    },
    /// Keep-alive; the server answers with `pong`.
    Ping,
    /// Relay `data` (an SDP or an ICE candidate) to one peer of the room.
    Signal {
        /// The id of the receiving peer.
        to: String,
        /// Opaque payload, relayed as it is.
        data: Value,
    },
    /// Leave the room; the connection stays open.
    Leave,
}

/// A frame the server sends to a client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ServerMessage {
    /// The answer to `join`.
    Welcome {
        /// The id the server gave this client.
        id: String,
        /// The peers already in the room.
        peers: Vec<PeerInfo>,
        /// ICE servers to configure peer connections with.
        #[serde(rename = "iceServers", default)]
        ice_servers: Vec<IceServer>,
    },
    /// A peer entered the room.
    PeerJoined {
        /// Who joined.
        peer: PeerInfo,
    },
    /// A peer left the room or disconnected.
    PeerLeft {
        /// The id of the peer that left.
        id: String,
    },
    /// A relayed `signal`.
    Signal {
        /// The id of the sending peer.
        from: String,
        /// The payload, as the sender sent it.
        data: Value,
    },
    /// The answer to `ping`.
    Pong,
    /// Something the client sent was refused.
    Error {
        /// A machine-readable code.
        code: ErrorCode,
        /// A human-readable explanation.
        message: String,
    },
}

const CLIENT_TYPES: &[&str] = &["join", "ping", "signal", "leave"];
const SERVER_TYPES: &[&str] = &[
    "welcome",
    "peer-joined",
    "peer-left",
    "signal",
    "pong",
    "error",
];

/// Splits a frame into its `type` and the whole object, or says why it is
/// not a message at all.
fn typed_object(text: &str, known: &[&str]) -> Result<(String, Value), ProtocolError> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| ProtocolError::InvalidJson(e.to_string()))?;
    let kind = match value.get("type") {
        Some(Value::String(kind)) if value.is_object() => kind.clone(),
        _ => return Err(ProtocolError::NotAMessage),
    };
    if !known.contains(&kind.as_str()) {
        return Err(ProtocolError::UnknownType(kind));
    }
    Ok((kind, value))
}

fn from_typed<T: serde::de::DeserializeOwned>(
    kind: String,
    value: Value,
) -> Result<T, ProtocolError> {
    serde_json::from_value(value).map_err(|e| ProtocolError::InvalidField {
        kind,
        reason: e.to_string(),
    })
}

impl ClientMessage {
    /// Reads a client frame, checking field values as well as shape.
    pub fn from_json(text: &str) -> Result<Self, ProtocolError> {
        let (kind, value) = typed_object(text, CLIENT_TYPES)?;
        let message: Self = from_typed(kind, value)?;
        message.validate()?;
        Ok(message)
    }

    fn validate(&self) -> Result<(), ProtocolError> {
        let invalid = |field, reason| Err(ProtocolError::InvalidValue { field, reason });
        match self {
            Self::Join {
                room,
                name,
                peer_id,
            } => {
                if !is_valid_room(room) {
                    return invalid("room", "must be 1 to 64 bytes with no control characters");
                }
                if !is_valid_name(name) {
                    return invalid(
                        "name",
                        "must be at most 64 bytes with no control characters",
                    );
                }
                if peer_id.as_deref().is_some_and(|id| !is_valid_peer_id(id)) {
                    return invalid("peerId", "must be 1 to 64 characters from [A-Za-z0-9_-]");
                }
                Ok(())
            }
            Self::Signal { to, .. } if !is_valid_peer_id(to) => invalid("to", "must be a peer id"),
            _ => Ok(()),
        }
    }

    /// The frame's JSON text.
    pub fn to_json(&self) -> String {
        // Serializing these types cannot fail: every key is a string and every
        // value is already JSON.
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl ServerMessage {
    /// Reads a server frame.
    pub fn from_json(text: &str) -> Result<Self, ProtocolError> {
        let (kind, value) = typed_object(text, SERVER_TYPES)?;
        from_typed(kind, value)
    }

    /// The frame's JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Shorthand for an `error` frame.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Error {
            code,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn join_reads_the_reference_form_with_and_without_peer_id() {
        let with =
            ClientMessage::from_json(r#"{"type":"join","room":"r1","name":"Ann","peerId":"p-1"}"#);
        assert_eq!(
            with,
            Ok(ClientMessage::Join {
                room: "r1".into(),
                name: "Ann".into(),
                peer_id: Some("p-1".into())
            })
        );
        let without =
            ClientMessage::from_json(r#"{"type":"join","room":"r1","name":"Ann"}"#).unwrap();
        assert_eq!(
            without.to_json(),
            r#"{"type":"join","room":"r1","name":"Ann"}"#
        );
    }

    #[test]
    fn server_messages_use_the_documented_field_names() {
        let welcome = ServerMessage::Welcome {
            id: "a".into(),
            peers: vec![PeerInfo {
                id: "b".into(),
                name: "Bo".into(),
            }],
            ice_servers: vec![IceServer {
                urls: vec!["stun:127.0.0.1:3478".into()],
                username: None,
                credential: None,
            }],
        };
        let value: Value = serde_json::from_str(&welcome.to_json()).unwrap();
        assert_eq!(
            value,
            json!({"type":"welcome","id":"a","peers":[{"id":"b","name":"Bo"}],
                   "iceServers":[{"urls":["stun:127.0.0.1:3478"]}]})
        );
        let joined = ServerMessage::PeerJoined {
            peer: PeerInfo {
                id: "b".into(),
                name: "Bo".into(),
            },
        };
        assert_eq!(
            joined.to_json(),
            r#"{"type":"peer-joined","peer":{"id":"b","name":"Bo"}}"#
        );
        let err = ServerMessage::error(ErrorCode::RoomFull, "full");
        assert_eq!(
            err.to_json(),
            r#"{"type":"error","code":"room-full","message":"full"}"#
        );
        assert_eq!(ServerMessage::from_json(&err.to_json()), Ok(err));
    }

    #[test]
    fn ice_server_urls_accept_a_single_string() {
        let server: IceServer =
            serde_json::from_value(json!({"urls":"turn:h:3478","username":"u","credential":"c"}))
                .unwrap();
        assert_eq!(server.urls, vec!["turn:h:3478".to_string()]);
    }

    #[test]
    fn malformed_frames_give_typed_errors() {
        assert!(matches!(
            ClientMessage::from_json("{"),
            Err(ProtocolError::InvalidJson(_))
        ));
        assert_eq!(
            ClientMessage::from_json("[1,2]"),
            Err(ProtocolError::NotAMessage)
        );
        assert_eq!(
            ClientMessage::from_json(r#"{"type":7}"#),
            Err(ProtocolError::NotAMessage)
        );
        assert_eq!(
            ClientMessage::from_json(r#"{"type":"welcome","id":"x","peers":[]}"#),
            Err(ProtocolError::UnknownType("welcome".into()))
        );
        assert!(matches!(
            ClientMessage::from_json(r#"{"type":"signal","data":{}}"#),
            Err(ProtocolError::InvalidField { kind, .. }) if kind == "signal"
        ));
        assert!(matches!(
            ClientMessage::from_json(r#"{"type":"join","room":""}"#),
            Err(ProtocolError::InvalidValue { field: "room", .. })
        ));
        assert!(matches!(
            ClientMessage::from_json(r#"{"type":"join","room":"r","peerId":"no spaces"}"#),
            Err(ProtocolError::InvalidValue {
                field: "peerId",
                ..
            })
        ));
        assert!(matches!(
            ServerMessage::from_json(r#"{"type":"peer-left"}"#),
            Err(ProtocolError::InvalidField { .. })
        ));
    }

    #[test]
    fn signal_data_is_relayed_untouched() {
        let data = json!({"sdp":{"type":"offer","sdp":"v=0\r\n"},"extra":[1,null,true]});
        let text = json!({"type":"signal","to":"b","data":data}).to_string();
        match ClientMessage::from_json(&text).unwrap() {
            ClientMessage::Signal { to, data: got } => {
                assert_eq!(to, "b");
                assert_eq!(got, data);
            }
            other => panic!("parsed as {other:?}"),
        }
    }
}
