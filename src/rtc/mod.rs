//! Peer connections: a wrapper over `RTCPeerConnection` that negotiates by
//! itself (W3C perfect negotiation), trickles ICE both ways, restarts ICE
//! when it fails, and carries two data channels.

mod bindings;
mod peer;
mod stats;

pub(crate) use peer::replace_track_on;
pub use peer::{
    DataChannelKind, DataMessage, IcePolicy, PeerConnection, PeerEvent, PeerOptions, PeerState,
    RtcError,
};
pub use stats::StatsSummary;
