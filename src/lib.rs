#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod error;
mod js;
pub mod media;
pub mod rtc;
pub mod signaling;

pub use error::JsErrorInfo;
pub use media::{devices, Camera, CameraConstraints, DeviceInfo, DeviceKind, MediaError};

/// The signaling protocol types, re-exported for apps that talk to the
/// reference server directly.
pub use peerlens_protocol as protocol;
/// The portable vision crate, re-exported for apps that run it themselves.
pub use peerlens_vision as vision;
