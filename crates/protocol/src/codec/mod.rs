//! Codecs: how the messages of the `peerlens` protocol are spelled on the
//! wire of a particular signaling server.
//!
//! The library thinks in [`ClientMessage`]s and [`ServerMessage`]s. A codec
//! turns those into a server's text frames and back, so one room or call
//! implementation works against the reference server, a sender/receiver
//! `ws` relay or a Socket.IO app. Codecs hold no I/O: the browser transport
//! feeds them frames, sends what they return, and runs the heartbeat they
//! describe.

mod peerlens;
mod relay;
mod socketio;

pub use peerlens::PeerlensCodec;
pub use relay::{RelayCodec, RelayRole};
pub use socketio::{SocketIoCodec, SocketIoConfig, SocketIoFields};

use crate::{ClientMessage, ProtocolError, ServerMessage};

/// Frames larger than this are refused before they are parsed.
///
/// An SDP offer with audio, video and a data channel is 4 to 8 KiB; 256 KiB
/// leaves room for many m-lines while bounding what a hostile server can make
/// the client allocate.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 256 * 1024;

/// Why a frame could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The frame is not a valid message of the codec's protocol.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// The frame is bigger than the codec accepts.
    #[error("frame of {size} bytes exceeds the {limit}-byte limit")]
    TooLarge {
        /// The frame's size in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// A binary frame arrived on a text protocol.
    #[error("binary frame of {0} bytes on a text protocol")]
    Binary(usize),
    /// The protocol has no way to say this, or forbids this side to say it
    /// (a receiver's offer on the relay protocol, a room on a 1:1 relay).
    #[error("the {codec} protocol cannot send this: {reason}")]
    NotAllowed {
        /// The codec's name.
        codec: &'static str,
        /// Why.
        reason: String,
    },
    /// A codec defined in JavaScript threw or returned something unusable.
    #[error("the codec callback failed: {0}")]
    Callback(String),
}

/// What a codec made of one inbound frame.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decoded {
    /// Messages for the library, in order.
    pub messages: Vec<ServerMessage>,
    /// Frames to send straight back (handshakes, heartbeat answers).
    pub replies: Vec<String>,
}

impl Decoded {
    /// One message and no reply.
    pub fn message(message: ServerMessage) -> Self {
        Self {
            messages: vec![message],
            replies: Vec::new(),
        }
    }

    /// Nothing for the library and nothing to send.
    pub fn nothing() -> Self {
        Self::default()
    }
}

/// How a codec keeps its connection alive and notices a dead one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Heartbeat {
    /// Send [`Codec::ping`] this often, in milliseconds.
    pub ping_every_ms: Option<u32>,
    /// Treat the connection as dead after this long without any inbound
    /// frame, in milliseconds.
    pub dead_after_ms: Option<u32>,
}

/// Who may send offers on a codec's protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferPolicy {
    /// Either side: perfect negotiation resolves collisions.
    Both,
    /// Only the local side offers; the remote side only answers.
    LocalOnly,
    /// Only the remote side offers. The local side adds its tracks before it
    /// answers and may never renegotiate.
    RemoteOnly,
}

/// Translates between the library's messages and one server's frames.
pub trait Codec {
    /// A short name for errors and logs.
    fn name(&self) -> &'static str;

    /// Whether the server has rooms with peer lists and ids. Relay-style
    /// servers pair exactly two clients and have none.
    fn has_rooms(&self) -> bool {
        true
    }

    /// Who may offer on this protocol.
    fn offer_policy(&self) -> OfferPolicy {
        OfferPolicy::Both
    }

    /// Called each time a socket opens, before anything is sent: forget the
    /// previous connection's state and return frames to send first.
    fn on_open(&mut self) -> Vec<String> {
        Vec::new()
    }

    /// Whether queued messages may be sent yet. Protocols with a handshake
    /// (Socket.IO's namespace connect) become ready only once it completes.
    fn is_ready(&self) -> bool {
        true
    }

    /// Turns one library message into zero or more frames.
    fn encode(&mut self, message: &ClientMessage) -> Result<Vec<String>, CodecError>;

    /// Turns one inbound text frame into library messages.
    fn decode(&mut self, frame: &str) -> Result<Decoded, CodecError>;

    /// Turns one inbound binary frame into library messages. Text protocols
    /// refuse them.
    fn decode_binary(&mut self, frame: &[u8]) -> Result<Decoded, CodecError> {
        Err(CodecError::Binary(frame.len()))
    }

    /// The heartbeat this protocol wants, given what the server said so far.
    fn heartbeat(&self) -> Heartbeat {
        Heartbeat::default()
    }

    /// The frame the heartbeat sends, if the client pings.
    fn ping(&mut self) -> Option<String> {
        None
    }

    /// The largest inbound frame accepted, in bytes.
    fn max_frame_bytes(&self) -> usize {
        DEFAULT_MAX_FRAME_BYTES
    }
}

/// Refuses frames over the codec's limit, then decodes.
pub fn decode_checked(codec: &mut dyn Codec, frame: &str) -> Result<Decoded, CodecError> {
    let limit = codec.max_frame_bytes();
    if frame.len() > limit {
        return Err(CodecError::TooLarge {
            size: frame.len(),
            limit,
        });
    }
    codec.decode(frame)
}

/// Refuses binary frames over the codec's limit, then decodes.
pub fn decode_binary_checked(codec: &mut dyn Codec, frame: &[u8]) -> Result<Decoded, CodecError> {
    let limit = codec.max_frame_bytes();
    if frame.len() > limit {
        return Err(CodecError::TooLarge {
            size: frame.len(),
            limit,
        });
    }
    codec.decode_binary(frame)
}
