//! What the effects report while they run: rates, timings and where the
//! frames are processed. Plain data, sent from the vision module to the
//! page.

use serde::{Deserialize, Serialize};

/// Average milliseconds per processed frame in each stage.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StageMs {
    /// Reading the camera image's pixels.
    pub preprocess: f64,
    /// Face detection and landmarks.
    pub faces: f64,
    /// Segmentation, mask upsampling and feathering.
    pub segmentation: f64,
    /// The background effect.
    pub compositing: f64,
    /// Boxes, keypoints and mesh.
    pub drawing: f64,
    /// Writing the result to the output canvas.
    pub upload: f64,
    /// All of the above.
    pub total: f64,
}

/// Where the frames are processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Thread {
    /// A dedicated worker.
    #[default]
    Worker,
    /// The page's main thread.
    Main,
}

/// How frames reach the effects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SourceKind {
    /// `VideoFrame`s from a `MediaStreamTrackProcessor`.
    #[default]
    Processor,
    /// `ImageBitmap`s of a video element, sent to the worker.
    Bitmap,
    /// A video element drawn directly (main thread).
    Video,
}

/// How processed frames become the output track.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OutputKind {
    /// A `VideoTrackGenerator` in the worker, whose track was transferred
    /// to the page.
    VideoTrackGenerator,
    /// Chromium's `MediaStreamTrackGenerator` on the page, written by the
    /// vision module through its `writable`.
    MediaStreamTrackGenerator,
    /// `canvas.captureStream()` of the output canvas: throttled while the
    /// page is hidden.
    #[default]
    CanvasCapture,
}

impl OutputKind {
    /// Whether the output is a track generator (no canvas capture, no
    /// throttling in hidden pages).
    pub fn is_generator(self) -> bool {
        self != Self::CanvasCapture
    }
}

/// The way frames took through the effects: how they came in, how they
/// went out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FramePath {
    /// How camera frames reach the effects.
    pub input: SourceKind,
    /// How processed frames become the output track.
    pub output: OutputKind,
}

/// What a worker does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum WorkerRole {
    /// Everything: face tracking, segmentation and compositing (one
    /// worker, or the main thread).
    #[default]
    All,
    /// Face detection and landmarks (the second worker).
    Faces,
    /// Segmentation, compositing and drawing (the worker that writes the
    /// output).
    Background,
}

/// One worker's share of the frames.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerFrames {
    /// What it does.
    pub role: WorkerRole,
    /// Frames it worked on since `apply`.
    pub frames: u64,
    /// Its milliseconds per frame over the interval.
    pub ms: f64,
}

/// A stats event: rates over the last interval, totals since `apply`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EffectsStats {
    /// Camera frames arriving per second.
    pub fps_in: f64,
    /// Frames drawn to the output per second.
    pub fps_out: f64,
    /// Frames dropped because the effects were busy, since `apply`.
    pub dropped: u64,
    /// Frames drawn to the output since `apply`.
    pub frames: u64,
    /// Of those, frames that went through the models.
    pub processed: u64,
    /// Milliseconds per processed frame, by stage, over the interval.
    pub ms: StageMs,
    /// Milliseconds of the page's main thread spent per output frame.
    pub main_thread_ms: f64,
    /// Size of the wasm memory where the frames are processed.
    pub wasm_bytes: u64,
    /// JS objects held by that wasm instance.
    pub live_refs: u32,
    /// Camera frames received and not yet closed.
    pub open_frames: u32,
    /// Whether the models are loaded and some effect is on.
    pub active: bool,
    /// Where the frames are processed.
    pub thread: Thread,
    /// How the frames arrive.
    pub source: SourceKind,
    /// How they leave.
    pub output: OutputKind,
    /// The build of the vision module that processes them.
    pub build: crate::VisionBuild,
    /// Each worker's frames: one entry with one worker, two with two.
    #[serde(default)]
    pub workers: Vec<WorkerFrames>,
}
