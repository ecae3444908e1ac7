//! The vision module of peerlens: tract, the three models, our kernels and
//! the effects engine, built as a wasm of its own. The main module (calls,
//! rooms, the page side of the effects) never links it: it fetches this
//! one on the first use of anything that needs it, in the effects worker
//! (`worker.js`, the bootstrap shipped next to it) or, in main-thread mode,
//! on the page.
//!
//! It is built twice: with `+simd128`, and with `+simd128,+relaxed-simd`,
//! where the kernels' multiply-adds are fused. The page probes which one
//! the browser can run; [`BUILD`] says which one this is.
//!
//! ```text
//! page (main module)              vision module (this crate)
//! Effects ── ToWorker messages ──> host: Runner ─ Engine ─ EffectsPipeline
//!         <── FromWorker ────────        (frames in, drawn frames out)
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod bindings;
mod engine;
mod faces;
mod host;
mod load;
mod raw;
mod runner;
mod source;

pub use load::{fetch_bytes, load_background, load_faces};
pub use peerlens_core::VisionBuild;
pub(crate) use peerlens_core::{
    js_error, BackgroundSetting, EffectSettings, EffectsError, EffectsStats, JsErrorInfo,
    ModelUrls, OutputKind, Progress, Segmenter, SourceKind, StageMs, Thread, WorkerFrames,
    WorkerRole,
};
use peerlens_vision::{BackgroundEffect, EffectOptions, SegmenterModel};
use wasm_bindgen::prelude::*;

/// This build of the vision module.
pub const BUILD: VisionBuild = if cfg!(target_feature = "relaxed-simd") {
    VisionBuild::RelaxedSimd
} else {
    VisionBuild::Simd128
};

/// Which build of the vision module this is: `"simd128"` or
/// `"relaxed-simd"`.
#[wasm_bindgen(js_name = visionBuild)]
pub fn vision_build() -> String {
    BUILD.as_str().to_owned()
}

/// Checks `settings` and turns them into the vision crate's options.
pub fn options(settings: &EffectSettings) -> Result<EffectOptions, EffectsError> {
    settings.check()?;
    Ok(EffectOptions {
        face_boxes: settings.face_boxes,
        face_mesh: settings.face_mesh,
        background: match settings.background {
            BackgroundSetting::None => BackgroundEffect::None,
            BackgroundSetting::Blur { radius } => BackgroundEffect::Blur { radius },
            BackgroundSetting::Replace => BackgroundEffect::Replace,
            BackgroundSetting::Remove { color } => BackgroundEffect::Remove { fill: color },
        },
        detect_every: settings.detect_every,
        segment_every: settings.segment_every,
        feather_radius: settings.feather_radius,
        mask_smoothing: settings.mask_smoothing,
    })
}

/// The vision crate's model for a segmenter setting.
pub fn segmenter_model(segmenter: Segmenter) -> SegmenterModel {
    match segmenter {
        Segmenter::Landscape => SegmenterModel::Landscape,
        Segmenter::General => SegmenterModel::General,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pages_defaults_are_the_vision_crates() {
        let page = EffectSettings::default();
        assert_eq!(options(&page).unwrap(), EffectOptions::default());
    }

    #[test]
    fn settings_map_to_the_vision_options() {
        let s: EffectSettings = serde_json::from_str(
            r#"{"faceMesh":true,"background":{"kind":"remove","color":[1,2,3,4]},"segmentEvery":3}"#,
        )
        .unwrap();
        let o = options(&s).unwrap();
        assert!(o.face_mesh && !o.face_boxes);
        assert_eq!(
            o.background,
            BackgroundEffect::Remove { fill: [1, 2, 3, 4] }
        );
        assert_eq!(o.segment_every, 3);
        let bad: EffectSettings = serde_json::from_str(r#"{"segmentEvery":0}"#).unwrap();
        assert!(matches!(options(&bad), Err(EffectsError::Options(_))));
    }
}
