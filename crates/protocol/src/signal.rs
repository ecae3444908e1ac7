//! The payload of a `signal`: a session description or an ICE candidate.
//!
//! Servers relay signal data without reading it, so its shape is fixed by the
//! clients alone. peerlens sends `{"description":{type,sdp}}` and
//! `{"candidate":{candidate,sdpMid,sdpMLineIndex}}`; codecs for other
//! servers map these to whatever fields those servers' clients use.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ProtocolError;

/// The `type` of an `RTCSessionDescription`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SdpKind {
    /// An offer.
    Offer,
    /// An answer.
    Answer,
    /// A provisional answer.
    Pranswer,
    /// Undo the last local or remote offer.
    Rollback,
}

impl SdpKind {
    /// The wire form, as `RTCSdpType` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Offer => "offer",
            Self::Answer => "answer",
            Self::Pranswer => "pranswer",
            Self::Rollback => "rollback",
        }
    }
}

/// An `RTCSessionDescriptionInit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionDescription {
    /// Offer or answer.
    #[serde(rename = "type")]
    pub kind: SdpKind,
    /// The SDP text. Empty only for rollbacks.
    #[serde(default)]
    pub sdp: String,
}

/// An `RTCIceCandidateInit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceCandidate {
    /// The `candidate:` line, or empty for end-of-candidates.
    pub candidate: String,
    /// The media stream identification tag the candidate belongs to.
    #[serde(rename = "sdpMid", default, skip_serializing_if = "Option::is_none")]
    pub sdp_mid: Option<String>,
    /// The index of the m-line the candidate belongs to.
    #[serde(
        rename = "sdpMLineIndex",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub sdp_m_line_index: Option<u16>,
    /// The ICE ufrag the candidate was gathered for; tells candidates of an
    /// ICE restart apart from stale ones.
    #[serde(
        rename = "usernameFragment",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub username_fragment: Option<String>,
}

/// What one peer connection tells the other through the signaling server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignalPayload {
    /// An offer or an answer.
    Description(SessionDescription),
    /// A trickled ICE candidate.
    Candidate(IceCandidate),
}

impl SignalPayload {
    /// Reads the `data` of a `signal` message.
    pub fn from_value(value: &Value) -> Result<Self, ProtocolError> {
        Self::deserialize(value).map_err(|e| ProtocolError::InvalidField {
            kind: "signal".into(),
            reason: format!("data: {e}"),
        })
    }

    /// The `data` of a `signal` message.
    pub fn to_value(&self) -> Value {
        // Every field is a string, a number or an enum with string names, so
        // conversion to a JSON value cannot fail.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn payloads_use_the_browser_field_names() {
        let offer = SignalPayload::Description(SessionDescription {
            kind: SdpKind::Offer,
            sdp: "v=0\r\n".into(),
        });
        assert_eq!(
            offer.to_value(),
            json!({"description":{"type":"offer","sdp":"v=0\r\n"}})
        );
        let cand = json!({"candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host",
            "sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"abcd"}});
        let parsed = SignalPayload::from_value(&cand).unwrap();
        assert_eq!(parsed.to_value(), cand);
    }

    #[test]
    fn browser_candidates_without_optional_fields_parse() {
        let parsed = SignalPayload::from_value(&json!({"candidate":{"candidate":""}})).unwrap();
        assert_eq!(
            parsed,
            SignalPayload::Candidate(IceCandidate {
                candidate: String::new(),
                sdp_mid: None,
                sdp_m_line_index: None,
                username_fragment: None,
            })
        );
    }

    #[test]
    fn malformed_payloads_are_typed_errors() {
        for bad in [
            json!({}),
            json!({"description":{"type":"bogus","sdp":""}}),
            json!({"candidate":{"sdpMid":"0"}}),
            json!("offer"),
        ] {
            assert!(
                matches!(
                    SignalPayload::from_value(&bad),
                    Err(ProtocolError::InvalidField { .. })
                ),
                "{bad}"
            );
        }
    }
}
