//! The sender/receiver relay protocol: a server that pairs one `sender` with
//! one `receiver` socket and forwards `createOffer`, `createAnswer` and
//! `iceCandidate` between them, saying nothing of its own.

use serde_json::{json, Value};

use super::{Codec, CodecError, Decoded, OfferPolicy};
use crate::{ClientMessage, ProtocolError, SdpKind, ServerMessage, SignalPayload};

/// Which end of a relay call this client is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayRole {
    /// Registers as `sender` and makes the offer.
    Sender,
    /// Registers as `receiver`, adds its own tracks, and answers.
    Receiver,
}

impl RelayRole {
    /// The registration `type` of this role.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sender => "sender",
            Self::Receiver => "receiver",
        }
    }

    /// The other end.
    pub fn other(self) -> Self {
        match self {
            Self::Sender => Self::Receiver,
            Self::Receiver => Self::Sender,
        }
    }
}

/// The codec for relay servers. The far end's peer id is the name of its
/// role (`"sender"` or `"receiver"`), since the protocol has no ids.
#[derive(Debug, Clone)]
pub struct RelayCodec {
    role: RelayRole,
}

impl RelayCodec {
    /// A codec for one end of the call.
    pub fn new(role: RelayRole) -> Self {
        Self { role }
    }

    /// This client's role.
    pub fn role(&self) -> RelayRole {
        self.role
    }

    /// The peer id the far end's messages come from.
    pub fn remote_id(&self) -> &'static str {
        self.role.other().as_str()
    }

    fn not_allowed(reason: impl Into<String>) -> CodecError {
        CodecError::NotAllowed {
            codec: "relay",
            reason: reason.into(),
        }
    }
}

impl Codec for RelayCodec {
    fn name(&self) -> &'static str {
        "relay"
    }

    fn has_rooms(&self) -> bool {
        false
    }

    fn offer_policy(&self) -> OfferPolicy {
        match self.role {
            RelayRole::Sender => OfferPolicy::LocalOnly,
            RelayRole::Receiver => OfferPolicy::RemoteOnly,
        }
    }

    fn encode(&mut self, message: &ClientMessage) -> Result<Vec<String>, CodecError> {
        match message {
            // Registering a role is this protocol's join; the room name has
            // no meaning to a relay.
            ClientMessage::Join { .. } => Ok(vec![json!({"type": self.role.as_str()}).to_string()]),
            // The relay has no leave or keep-alive: closing the socket is
            // how a client leaves.
            ClientMessage::Leave | ClientMessage::Ping => Ok(Vec::new()),
            ClientMessage::Signal { data, .. } => {
                let frame = match SignalPayload::from_value(data)? {
                    SignalPayload::Description(desc) => match (desc.kind, self.role) {
                        (SdpKind::Offer, RelayRole::Sender) => {
                            json!({"type": "createOffer", "sdp": desc})
                        }
                        (SdpKind::Answer, RelayRole::Receiver) => {
                            json!({"type": "createAnswer", "sdp": desc})
                        }
                        (kind, role) => {
                            return Err(Self::not_allowed(format!(
                                "a {} cannot send an {}; only the sender offers",
                                role.as_str(),
                                kind.as_str()
                            )))
                        }
                    },
                    SignalPayload::Candidate(candidate) => {
                        json!({"type": "iceCandidate", "candidate": candidate})
                    }
                };
                Ok(vec![frame.to_string()])
            }
        }
    }

    fn decode(&mut self, frame: &str) -> Result<Decoded, CodecError> {
        let value: Value =
            serde_json::from_str(frame).map_err(|e| ProtocolError::InvalidJson(e.to_string()))?;
        let kind = match value.get("type") {
            Some(Value::String(kind)) => kind.as_str(),
            _ => return Err(ProtocolError::NotAMessage.into()),
        };
        let (field, wrapper, expected) = match kind {
            "createOffer" => ("sdp", "description", Some(SdpKind::Offer)),
            "createAnswer" => ("sdp", "description", Some(SdpKind::Answer)),
            "iceCandidate" => ("candidate", "candidate", None),
            other => return Err(ProtocolError::UnknownType(other.to_owned()).into()),
        };
        let inner = value
            .get(field)
            .cloned()
            .ok_or(ProtocolError::InvalidField {
                kind: kind.to_owned(),
                reason: format!("missing field `{field}`"),
            })?;
        let data = json!({ wrapper: inner });
        let payload =
            SignalPayload::from_value(&data).map_err(|_| ProtocolError::InvalidField {
                kind: kind.to_owned(),
                reason: format!("`{field}` is not a valid {wrapper}"),
            })?;
        if let (Some(expected), SignalPayload::Description(desc)) = (expected, &payload) {
            if desc.kind != expected {
                return Err(ProtocolError::InvalidField {
                    kind: kind.to_owned(),
                    reason: format!("carries an {} description", desc.kind.as_str()),
                }
                .into());
            }
        }
        Ok(Decoded::message(ServerMessage::Signal {
            from: self.remote_id().to_owned(),
            data: payload.to_value(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn signal(data: Value) -> ClientMessage {
        ClientMessage::Signal {
            to: "x".into(),
            data,
        }
    }

    #[test]
    fn frames_match_the_relay_protocol_exactly() {
        let mut sender = RelayCodec::new(RelayRole::Sender);
        let join = ClientMessage::Join {
            room: "ignored".into(),
            name: String::new(),
            peer_id: None,
        };
        assert_eq!(sender.encode(&join).unwrap(), vec![r#"{"type":"sender"}"#]);
        let offer = json!({"description":{"type":"offer","sdp":"v=0\r\n"}});
        let frame: Value =
            serde_json::from_str(&sender.encode(&signal(offer)).unwrap()[0]).unwrap();
        assert_eq!(
            frame,
            json!({"type":"createOffer","sdp":{"type":"offer","sdp":"v=0\r\n"}})
        );
        let cand = json!({"candidate":{"candidate":"candidate:x","sdpMid":"0","sdpMLineIndex":0}});
        let frame: Value = serde_json::from_str(&sender.encode(&signal(cand)).unwrap()[0]).unwrap();
        assert_eq!(
            frame,
            json!({"type":"iceCandidate","candidate":{"candidate":"candidate:x","sdpMid":"0","sdpMLineIndex":0}})
        );

        let mut receiver = RelayCodec::new(RelayRole::Receiver);
        assert_eq!(
            receiver.encode(&join).unwrap(),
            vec![r#"{"type":"receiver"}"#]
        );
        let answer = json!({"description":{"type":"answer","sdp":"v=0\r\n"}});
        let frame: Value =
            serde_json::from_str(&receiver.encode(&signal(answer)).unwrap()[0]).unwrap();
        assert_eq!(
            frame,
            json!({"type":"createAnswer","sdp":{"type":"answer","sdp":"v=0\r\n"}})
        );
        assert!(receiver.encode(&ClientMessage::Ping).unwrap().is_empty());
    }

    #[test]
    fn only_the_sender_offers() {
        let mut receiver = RelayCodec::new(RelayRole::Receiver);
        let offer = json!({"description":{"type":"offer","sdp":"v=0\r\n"}});
        assert!(matches!(
            receiver.encode(&signal(offer)),
            Err(CodecError::NotAllowed { codec: "relay", .. })
        ));
        assert_eq!(receiver.offer_policy(), OfferPolicy::RemoteOnly);
        let mut sender = RelayCodec::new(RelayRole::Sender);
        let answer = json!({"description":{"type":"answer","sdp":"v=0\r\n"}});
        assert!(sender.encode(&signal(answer)).is_err());
        assert_eq!(sender.offer_policy(), OfferPolicy::LocalOnly);
    }

    #[test]
    fn inbound_frames_become_signals_from_the_other_role() {
        let mut receiver = RelayCodec::new(RelayRole::Receiver);
        let decoded = receiver
            .decode(r#"{"type":"createOffer","sdp":{"type":"offer","sdp":"v=0\r\n"}}"#)
            .unwrap();
        assert_eq!(
            decoded.messages,
            vec![ServerMessage::Signal {
                from: "sender".into(),
                data: json!({"description":{"type":"offer","sdp":"v=0\r\n"}})
            }]
        );
        let decoded = receiver
            .decode(r#"{"type":"iceCandidate","candidate":{"candidate":"c","sdpMLineIndex":1}}"#)
            .unwrap();
        assert_eq!(
            decoded.messages,
            vec![ServerMessage::Signal {
                from: "sender".into(),
                data: json!({"candidate":{"candidate":"c","sdpMLineIndex":1}})
            }]
        );
    }

    #[test]
    fn malformed_relay_frames_are_typed_errors() {
        let mut codec = RelayCodec::new(RelayRole::Sender);
        for (frame, check) in [
            ("{", "json"),
            ("[]", "not-a-message"),
            (r#"{"type":"hello"}"#, "unknown"),
            (r#"{"type":"createAnswer"}"#, "field"),
            (r#"{"type":"createAnswer","sdp":"answer"}"#, "field"),
            (
                r#"{"type":"createAnswer","sdp":{"type":"offer","sdp":""}}"#,
                "field",
            ),
            (r#"{"type":"iceCandidate","candidate":{}}"#, "field"),
        ] {
            let err = codec.decode(frame).unwrap_err();
            let ok = matches!(
                (check, &err),
                ("json", CodecError::Protocol(ProtocolError::InvalidJson(_)))
                    | (
                        "not-a-message",
                        CodecError::Protocol(ProtocolError::NotAMessage)
                    )
                    | (
                        "unknown",
                        CodecError::Protocol(ProtocolError::UnknownType(_))
                    )
                    | (
                        "field",
                        CodecError::Protocol(ProtocolError::InvalidField { .. })
                    )
            );
            assert!(ok, "{frame} gave {err:?}");
        }
    }
}
