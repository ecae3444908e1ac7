//! Error codes carried on the wire, and the typed error for frames that do
//! not parse.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The `code` of a server `error` message.
///
/// Codes are kebab-case strings on the wire. A code this version does not
/// know is kept verbatim in [`ErrorCode::Other`] rather than rejected, so an
/// older client keeps working against a newer server.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The room already holds its maximum number of peers.
    RoomFull,
    /// The frame was not valid JSON or not a valid protocol message.
    BadMessage,
    /// The client sent a room message before `join`.
    NotJoined,
    /// The client sent `join` while already in a room.
    AlreadyJoined,
    /// A `signal` named a peer that is not in the sender's room.
    UnknownPeer,
    /// The client sent too many messages too fast.
    RateLimited,
    /// The frame exceeded the server's size limit.
    TooLarge,
    /// The connection was refused because of its `Origin`.
    ForbiddenOrigin,
    /// The server holds its maximum number of connections.
    ServerFull,
    /// A code this version of the protocol does not know.
    Other(String),
}

impl ErrorCode {
    /// The wire form of the code.
    pub fn as_str(&self) -> &str {
        match self {
            Self::RoomFull => "room-full",
            Self::BadMessage => "bad-message",
            Self::NotJoined => "not-joined",
            Self::AlreadyJoined => "already-joined",
            Self::UnknownPeer => "unknown-peer",
            Self::RateLimited => "rate-limited",
            Self::TooLarge => "too-large",
            Self::ForbiddenOrigin => "forbidden-origin",
            Self::ServerFull => "server-full",
            Self::Other(code) => code,
        }
    }

    /// Reads a code from its wire form. Never fails: unknown codes are kept.
    pub fn parse(code: &str) -> Self {
        match code {
            "room-full" => Self::RoomFull,
            "bad-message" => Self::BadMessage,
            "not-joined" => Self::NotJoined,
            "already-joined" => Self::AlreadyJoined,
            "unknown-peer" => Self::UnknownPeer,
            "rate-limited" => Self::RateLimited,
            "too-large" => Self::TooLarge,
            "forbidden-origin" => Self::ForbiddenOrigin,
            "server-full" => Self::ServerFull,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = String::deserialize(deserializer)?;
        Ok(Self::parse(&code))
    }
}

/// Why a frame could not be read as a protocol message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// The frame is not JSON.
    #[error("not valid JSON: {0}")]
    InvalidJson(String),
    /// The frame is JSON but not an object with a string `type`.
    #[error("a message must be a JSON object with a string \"type\"")]
    NotAMessage,
    /// The `type` is not one this side accepts.
    #[error("unknown message type {0:?}")]
    UnknownType(String),
    /// The `type` is known but a field is missing or has the wrong shape.
    #[error("invalid {kind:?} message: {reason}")]
    InvalidField {
        /// The message type.
        kind: String,
        /// What serde reported.
        reason: String,
    },
    /// A field parsed but its value is not allowed (too long, bad characters).
    #[error("invalid {field}: {reason}")]
    InvalidValue {
        /// The field name as on the wire.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl ProtocolError {
    /// The wire error code a server answers this error with.
    pub fn code(&self) -> ErrorCode {
        ErrorCode::BadMessage
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_codes_survive() {
        for code in [
            ErrorCode::RoomFull,
            ErrorCode::BadMessage,
            ErrorCode::NotJoined,
            ErrorCode::AlreadyJoined,
            ErrorCode::UnknownPeer,
            ErrorCode::RateLimited,
            ErrorCode::TooLarge,
            ErrorCode::ForbiddenOrigin,
            ErrorCode::ServerFull,
        ] {
            assert_eq!(ErrorCode::parse(code.as_str()), code);
        }
        let json = serde_json::to_string(&ErrorCode::Other("teapot".into())).unwrap();
        assert_eq!(json, "\"teapot\"");
        let back: ErrorCode = serde_json::from_str(&json).unwrap();
        assert_eq!(back, ErrorCode::Other("teapot".into()));
    }
}
