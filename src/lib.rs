#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod call;
#[cfg(feature = "vision")]
pub mod effects;
pub mod error;
pub mod janus;
mod js;
pub mod js_codec;
#[cfg(feature = "vision")]
mod js_effects;
mod js_media_server;
mod js_room;
#[cfg(feature = "vision")]
mod js_vision;
pub mod media;
pub mod room;
pub mod rtc;
pub mod signaling;
pub mod whip;

pub use call::{Call, CallEvent, CallOptions};
pub use error::JsErrorInfo;
pub use js_codec::JsCodec;
pub use media::{devices, Camera, CameraConstraints, DeviceInfo, DeviceKind, MediaError};
pub use room::{LeaveReason, Room, RoomError, RoomEvent, RoomOptions};
pub use rtc::{
    DataChannelKind, DataMessage, IcePolicy, PeerConnection, PeerEvent, PeerOptions, PeerState,
    RtcError, StatsSummary,
};
pub use signaling::{Signaling, SignalingError, SignalingEvent, SignalingOptions, SignalingState};
pub use whip::{WhipError, WhipEvent, WhipOptions, WhipSession};

/// The signaling protocol types, re-exported for apps that talk to the
/// reference server directly.
pub use peerlens_protocol as protocol;
/// The portable vision crate, re-exported for apps that run it themselves
/// (with the `vision` feature, on by default).
#[cfg(feature = "vision")]
pub use peerlens_vision as vision;
