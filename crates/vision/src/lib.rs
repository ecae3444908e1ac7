//! Portable on-device vision for peerlens.
//!
//! This crate owns everything between an RGBA camera frame and the numbers
//! the effects draw: turning a frame into a model's input tensor, running
//! the model with tract, and turning its outputs back into frame
//! coordinates. It depends on no browser API, so it builds and is tested
//! natively as well as in wasm.
//!
//! - [`FaceDetector`]: BlazeFace short range, boxes and 6 keypoints.
//! - [`FaceMesh`] and [`FaceTracker`]: 468 landmarks, tracked frame to frame.
//! - [`SelfieSegmenter`]: the person mask, general or landscape.
//! - [`EffectsPipeline`]: all of the above on one frame, scheduled.
//! - [`composite`]: background blur, replacement and removal through the
//!   mask, and the marks for boxes, keypoints and mesh points.
//!
//! Models load from bytes (a browser fetches them); each fixes its input
//! shape, is optimized once, and reuses one execution state and one input
//! buffer for every frame.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod anchors;
pub mod composite;
mod crop;
mod detector;
mod effects;
mod error;
mod frame;
mod fuse;
mod geometry;
mod letterbox;
mod mesh;
mod network;
pub mod raw;
mod segmenter;

/// The wasm kernels tract runs the models with (see `peerlens-kernels`).
pub use peerlens_kernels as kernels;

pub use detector::{FaceDetection, FaceDetector};
pub use effects::{
    draw_face, BackgroundEffect, BackgroundStage, EffectModels, EffectOptions, EffectsPipeline,
    FaceOverlay, FaceResult, FaceStage, FrameReport, StageTimes,
};
pub use error::VisionError;
pub use frame::RgbaFrame;
pub use geometry::{BoundingBox, Roi};
pub use letterbox::{Letterbox, Normalization};
pub use mesh::{FaceLandmarks, FaceMesh, FaceTracker, Tracked, TrackerOptions, LANDMARKS};
pub use segmenter::{Mask, SegmenterModel, SelfieSegmenter};
