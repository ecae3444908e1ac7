//! The typed error every fallible call of this crate returns.

/// What went wrong in the vision pipeline. Bad input never panics; it ends
/// up here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VisionError {
    /// A frame or tensor with a zero dimension.
    #[error("zero-size image ({width}x{height})")]
    ZeroSize {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
    /// The row stride is smaller than a row of pixels.
    #[error("stride of {stride} bytes is less than a {width}-pixel RGBA row")]
    StrideTooSmall {
        /// Stride in bytes.
        stride: usize,
        /// Width in pixels.
        width: u32,
    },
    /// The buffer is too small for the dimensions it claims.
    #[error("buffer of {got} bytes, {needed} needed")]
    BufferTooSmall {
        /// Bytes the dimensions need.
        needed: usize,
        /// Bytes provided.
        got: usize,
    },
    /// A frame whose size differs from the one a transform was fitted to.
    #[error("frame is {got:?}, expected {expected:?}")]
    FrameSize {
        /// The (width, height) the transform expects.
        expected: (u32, u32),
        /// The frame's (width, height).
        got: (u32, u32),
    },
    /// A region of interest with no area.
    #[error("the region of interest is empty")]
    EmptyRoi,
    /// Model bytes that are not a usable model: corrupt, truncated, or a
    /// different model than expected.
    #[error("cannot load the {model} model: {reason}")]
    Model {
        /// Which model.
        model: &'static str,
        /// What tract reported.
        reason: String,
    },
    /// Running a loaded model failed.
    #[error("running the {model} model failed: {reason}")]
    Inference {
        /// Which model.
        model: &'static str,
        /// What tract reported.
        reason: String,
    },
    /// An output buffer does not match the tensor it is meant to hold.
    #[error("output buffer of {got} values, {needed} needed")]
    OutputSize {
        /// Values the tensor needs.
        needed: usize,
        /// Values provided.
        got: usize,
    },
}
