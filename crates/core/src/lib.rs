//! What peerlens's two wasm modules share. The main module (media, calls,
//! rooms, the page side of the effects) and the vision module (tract, the
//! models, the kernels and the effects engine, fetched on first use) are
//! built from different crates; this one holds the types that cross
//! between them: the effect settings and their checks, the effects' errors
//! and stats, the messages of the effects worker, and the `name`/`message`
//! pair read from thrown browser values. It has no tract and no vision
//! code, so the main module stays small.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod effects_error;
pub mod js;
mod js_error;
pub mod messages;
mod models;
mod settings;
mod stats;

pub use effects_error::EffectsError;
pub use js_error::JsErrorInfo;
pub use models::{ModelUrls, Progress};
pub use settings::{
    BackgroundSetting, EffectSettings, EffectsConfig, FrameSource, Mode, Segmenter, WhenHidden,
    WorkerOutput, MAX_BLUR_RADIUS, MAX_FEATHER_RADIUS, MAX_MASK_SMOOTHING,
};
pub use stats::{
    EffectsStats, FramePath, OutputKind, SourceKind, StageMs, Thread, WorkerFrames, WorkerRole,
};

use serde::{Deserialize, Serialize};

/// The builds of the vision module: the page picks one by probing the
/// browser's WebAssembly, and the effects' stats say which one ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VisionBuild {
    /// Fixed-width SIMD (`+simd128`): every current browser.
    #[default]
    Simd128,
    /// `+simd128,+relaxed-simd`: fused multiply-adds in the kernels, where
    /// the browser has relaxed SIMD.
    RelaxedSimd,
}

impl VisionBuild {
    /// The build's file stem in the npm package (`<stem>.js`,
    /// `<stem>_bg.wasm`).
    pub fn file_stem(self) -> &'static str {
        match self {
            Self::Simd128 => "peerlens_vision",
            Self::RelaxedSimd => "peerlens_vision_relaxed",
        }
    }

    /// The name JS sees (`"simd128"`, `"relaxed-simd"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Simd128 => "simd128",
            Self::RelaxedSimd => "relaxed-simd",
        }
    }

    /// The build a name stands for.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "simd128" => Some(Self::Simd128),
            "relaxed-simd" => Some(Self::RelaxedSimd),
            _ => None,
        }
    }
}

/// A JS `Error` with `name` and a kebab-case `code`, the shape every
/// peerlens error takes in JS.
pub fn js_error(name: &str, code: &str, message: &str) -> wasm_bindgen::JsValue {
    let error = js_sys::Error::new(message);
    error.set_name(name);
    let _ = js_sys::Reflect::set(&error, &"code".into(), &code.into());
    error.into()
}
