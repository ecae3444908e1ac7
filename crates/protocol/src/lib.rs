//! The `peerlens` signaling protocol: JSON text frames exchanged between a
//! browser client and a signaling server.
//!
//! This crate owns the wire format and nothing else. It has no I/O and no
//! browser or server dependency, so the library (in wasm) and the reference
//! server (native) parse and produce exactly the same bytes.
//!
//! Parsing never panics: every malformed frame becomes a [`ProtocolError`]
//! that says what was wrong, so the receiving side can answer with an error
//! message instead of dropping the connection.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod backoff;
pub mod codec;
mod error;
pub mod janus;
mod message;
mod signal;
pub mod whip;

pub use backoff::Backoff;
pub use codec::{Codec, CodecError, Decoded, Heartbeat, OfferPolicy};
pub use error::{ErrorCode, ProtocolError};
pub use message::{ClientMessage, IceServer, PeerInfo, ServerMessage};
pub use signal::{IceCandidate, SdpKind, SessionDescription, SignalPayload};

/// Longest accepted room name, peer name or peer id, in bytes.
///
/// Names travel in every `welcome` and `peer-joined`, so they are kept short.
pub const MAX_LABEL_LEN: usize = 64;

/// Checks that a client-chosen peer id is usable: 1 to [`MAX_LABEL_LEN`]
/// characters from `[A-Za-z0-9_-]`.
///
/// Ids end up in logs and in other clients' maps, so they are restricted to a
/// character set that needs no escaping anywhere.
pub fn is_valid_peer_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LABEL_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Checks that a room name is usable: 1 to [`MAX_LABEL_LEN`] bytes, with no
/// control characters.
pub fn is_valid_room(room: &str) -> bool {
    !room.is_empty() && room.len() <= MAX_LABEL_LEN && !room.chars().any(char::is_control)
}

/// Checks that a display name is usable: at most [`MAX_LABEL_LEN`] bytes,
/// with no control characters. An empty name is allowed.
pub fn is_valid_name(name: &str) -> bool {
    name.len() <= MAX_LABEL_LEN && !name.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_ids_are_restricted_to_a_safe_alphabet() {
        assert!(is_valid_peer_id("a-Z_09"));
        assert!(!is_valid_peer_id(""));
        assert!(!is_valid_peer_id("has space"));
        assert!(!is_valid_peer_id("é"));
        assert!(!is_valid_peer_id(&"x".repeat(MAX_LABEL_LEN + 1)));
        assert!(is_valid_peer_id(&"x".repeat(MAX_LABEL_LEN)));
    }

    #[test]
    fn rooms_and_names_reject_control_characters() {
        assert!(is_valid_room("Salle à manger"));
        assert!(!is_valid_room(""));
        assert!(!is_valid_room("a\nb"));
        assert!(is_valid_name(""));
        assert!(!is_valid_name("\u{7}bell"));
    }
}
