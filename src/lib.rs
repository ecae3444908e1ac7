#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod call;
pub mod effects;
/// Turning the untyped values browsers throw into data Rust can match on.
pub mod error {
    pub use peerlens_core::JsErrorInfo;
}
pub mod janus;
mod js;
pub mod js_codec;
mod js_effects;
mod js_media_server;
mod js_room;
mod js_vision;
pub mod media;
pub mod room;
pub mod rtc;
pub mod signaling;
pub mod whip;

pub use call::{Call, CallEvent, CallOptions};
pub use js_codec::JsCodec;
pub use media::{devices, Camera, CameraConstraints, DeviceInfo, DeviceKind, MediaError};
pub use peerlens_core::JsErrorInfo;
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
/// The portable vision crate, re-exported for Rust apps that run the
/// models themselves, with the `vision` feature (off by default: the
/// effects and `RawModel` run it in the vision module, a wasm of its own).
#[cfg(feature = "vision")]
pub use peerlens_vision as vision;
