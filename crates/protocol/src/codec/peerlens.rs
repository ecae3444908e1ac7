//! The reference protocol, spelled as it is: one JSON object per frame.

use super::{Codec, CodecError, Decoded, Heartbeat};
use crate::{ClientMessage, ServerMessage};

/// How often the client pings the reference server.
const PING_EVERY_MS: u32 = 10_000;
/// Three missed pongs mean the connection is gone even if the socket has not
/// noticed yet (a suspended laptop, a dropped NAT mapping).
const DEAD_AFTER_MS: u32 = 3 * PING_EVERY_MS + 2_000;

/// The codec for the reference server and any server that speaks its
/// protocol.
#[derive(Debug, Clone, Default)]
pub struct PeerlensCodec;

impl Codec for PeerlensCodec {
    fn name(&self) -> &'static str {
        "peerlens"
    }

    fn encode(&mut self, message: &ClientMessage) -> Result<Vec<String>, CodecError> {
        Ok(vec![message.to_json()])
    }

    fn decode(&mut self, frame: &str) -> Result<Decoded, CodecError> {
        Ok(Decoded::message(ServerMessage::from_json(frame)?))
    }

    fn heartbeat(&self) -> Heartbeat {
        Heartbeat {
            ping_every_ms: Some(PING_EVERY_MS),
            dead_after_ms: Some(DEAD_AFTER_MS),
        }
    }

    fn ping(&mut self) -> Option<String> {
        Some(ClientMessage::Ping.to_json())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ProtocolError;

    #[test]
    fn frames_are_the_reference_json() {
        let mut codec = PeerlensCodec;
        let frames = codec
            .encode(&ClientMessage::Join {
                room: "r".into(),
                name: "n".into(),
                peer_id: Some("p".into()),
            })
            .unwrap();
        assert_eq!(
            frames,
            vec![r#"{"type":"join","room":"r","name":"n","peerId":"p"}"#.to_string()]
        );
        assert_eq!(
            codec.decode(r#"{"type":"pong"}"#).unwrap().messages,
            vec![ServerMessage::Pong]
        );
        assert_eq!(codec.ping().as_deref(), Some(r#"{"type":"ping"}"#));
    }

    #[test]
    fn malformed_frames_are_protocol_errors() {
        let mut codec = PeerlensCodec;
        assert!(matches!(
            codec.decode("not json"),
            Err(CodecError::Protocol(ProtocolError::InvalidJson(_)))
        ));
        assert!(matches!(
            codec.decode(r#"{"type":"teleport"}"#),
            Err(CodecError::Protocol(ProtocolError::UnknownType(t))) if t == "teleport"
        ));
        assert!(matches!(
            codec.decode(r#"{"type":"welcome"}"#),
            Err(CodecError::Protocol(ProtocolError::InvalidField { .. }))
        ));
        assert_eq!(codec.decode_binary(&[1, 2, 3]), Err(CodecError::Binary(3)));
    }

    #[test]
    fn oversized_frames_are_refused_before_parsing() {
        let mut codec = PeerlensCodec;
        let huge = format!(
            r#"{{"type":"error","code":"x","message":"{}"}}"#,
            "a".repeat(300_000)
        );
        assert!(matches!(
            super::super::decode_checked(&mut codec, &huge),
            Err(CodecError::TooLarge { limit, .. }) if limit == super::super::DEFAULT_MAX_FRAME_BYTES
        ));
    }
}
