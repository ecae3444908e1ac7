//! The messages between the page side of the effects and the vision
//! module (in the effects worker, or on the page in main-thread mode).
//!
//! Messages are `{ m, canvas?, readable?, bitmap?, image? }`: `m` is a [`ToWorker`]
//! or [`FromWorker`] as a JS object, the rest are the transferable (or
//! cloneable) objects that go with it.

use js_sys::{Object, Reflect};
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;

use crate::{
    EffectSettings, EffectsError, EffectsStats, ModelUrls, OutputKind, Progress, Segmenter,
    SourceKind, VisionBuild,
};

/// What [`ToWorker::Start`] sets up.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FrameStart {
    /// How the frames arrive.
    pub source: SourceKind,
    /// How they leave.
    pub output: OutputKind,
    /// The camera's frame rate.
    pub fps: f64,
    /// How often stats are sent, in milliseconds.
    pub stats_interval_ms: u32,
    /// The camera's width: the size of a canvas the worker makes itself
    /// (for bitmaps sent back as [`FromWorker::Frame`], or a generator).
    pub width: u32,
    /// See `width`.
    pub height: u32,
}

/// From the page to the worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ToWorker {
    /// Fetch and load the models.
    Load {
        /// Where the models are.
        urls: ModelUrls,
        /// Which segmenter `urls.segmenter` is.
        segmenter: Segmenter,
    },
    /// Set up the frame path on `canvas`, reading `readable` when given.
    /// With [`OutputKind::MediaStreamTrackGenerator`] the envelope carries
    /// the generator's `writable`; with [`OutputKind::VideoTrackGenerator`]
    /// it carries the camera `track`, and the worker answers with
    /// [`FromWorker::Output`].
    Start(FrameStart),
    /// One `bitmap` (an `ImageBitmap`; on the page, a video element too),
    /// with the page's counts since the last one.
    Frame {
        /// Camera frames the page saw since the last message.
        arrived: u64,
        /// Of those, the ones the page dropped.
        dropped: u64,
        /// Page time spent on them, in milliseconds.
        main_ms: f64,
    },
    /// New settings, with a new background `image` when `has_image`.
    Settings {
        /// The settings, already checked.
        settings: EffectSettings,
        /// Whether the envelope carries a new background `image`.
        has_image: bool,
    },
    /// The envelope's `port` is a `MessagePort` to the face worker, which
    /// is waiting for this module, compiled, to be posted on it: face
    /// tracking runs there from now on (two-worker mode).
    Helper,
    /// End the frame path.
    Stop,
}

/// From the worker to the page.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum FromWorker {
    /// The module is running; messages may be sent.
    Ready {
        /// The build of the vision module that runs.
        build: VisionBuild,
        /// Why it is not the build the page asked for, when it is not
        /// (the relaxed-SIMD build did not compile here).
        fallback: Option<String>,
        /// Whether this host can take a camera track and give back a
        /// `VideoTrackGenerator`'s (a worker with both standard APIs).
        video_track_generator: bool,
    },
    /// The output track of [`OutputKind::VideoTrackGenerator`], as the
    /// envelope's `track`; or why there is none (the page falls back).
    Output {
        /// Why the generator could not be made, when it could not.
        error: Option<EffectsError>,
    },
    /// Model bytes fetched so far.
    Progress(Progress),
    /// The models are loaded.
    Loaded {
        /// Fetch and load time, in milliseconds.
        ms: f64,
    },
    /// The models did not load.
    LoadFailed(EffectsError),
    /// A stats interval ended.
    Stats(EffectsStats),
    /// Something went wrong; the video goes on.
    Error(EffectsError),
    /// The bitmap was drawn; the page may send the next.
    FrameDone,
    /// A drawn frame, as the envelope's `bitmap`, for a page that cannot
    /// capture a transferred canvas.
    Frame,
    /// The bootstrap could not import or instantiate the vision module
    /// (sent by the JS, never by Rust).
    BootError {
        /// What failed.
        message: String,
    },
}

/// A message object: `{ m: value }` plus the named objects.
pub fn envelope<T: Serialize>(
    message: &T,
    objects: &[(&str, &JsValue)],
) -> Result<JsValue, JsValue> {
    let envelope = Object::new();
    let value = serde_wasm_bindgen::to_value(message).map_err(JsValue::from)?;
    Reflect::set(&envelope, &"m".into(), &value)?;
    for (name, object) in objects {
        Reflect::set(&envelope, &(*name).into(), object)?;
    }
    Ok(envelope.into())
}

/// Reads `{ m }` of an envelope.
pub fn open_envelope<T: for<'de> Deserialize<'de>>(data: &JsValue) -> Result<T, String> {
    let value = Reflect::get(data, &"m".into()).map_err(|_| "no message".to_owned())?;
    serde_wasm_bindgen::from_value(value).map_err(|e| e.to_string())
}

/// A named object of an envelope, when present.
pub fn object_of(data: &JsValue, name: &str) -> Option<JsValue> {
    Reflect::get(data, &name.into())
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
}
