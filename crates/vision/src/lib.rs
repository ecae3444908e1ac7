//! Portable on-device vision for peerlens.
//!
//! This crate owns everything between an RGBA camera frame and the numbers
//! the effects draw: turning a frame into a model's input tensor, and (with
//! the models) turning outputs back into frame coordinates. It depends on no
//! browser API, so it builds and is tested natively as well as in wasm.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod error;
mod frame;
mod letterbox;

pub use error::VisionError;
pub use frame::RgbaFrame;
pub use letterbox::{Letterbox, Normalization};
