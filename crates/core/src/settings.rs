//! The effect settings apps pass in (from Rust or, as camelCase objects,
//! from JS), checked here on the page; the vision module turns them into
//! the vision crate's options.

use serde::{Deserialize, Serialize};

use crate::EffectsError;

/// The largest blur radius accepted, in pixels.
pub const MAX_BLUR_RADIUS: u32 = 64;
/// The largest mask feathering radius accepted, in pixels.
pub const MAX_FEATHER_RADIUS: u32 = 32;
/// The strongest temporal mask smoothing accepted.
pub const MAX_MASK_SMOOTHING: f32 = 0.95;

/// What happens to the background.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum BackgroundSetting {
    /// Left as it is.
    #[default]
    None,
    /// Blurred.
    Blur {
        /// Radius in pixels (about the Gaussian sigma), 1 to
        /// [`MAX_BLUR_RADIUS`].
        radius: u32,
    },
    /// Replaced by the image given with the settings (scaled to cover the
    /// frame). Without an image the background stays.
    Replace,
    /// Removed: filled with a colour.
    Remove {
        /// RGBA; alpha 0 (the default) is transparent.
        #[serde(default)]
        color: [u8; 4],
    },
}

/// Which effects run, and how often the models run. Every field has a
/// default, so `{}` is valid (and draws nothing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EffectSettings {
    /// Face boxes with their 6 keypoints.
    pub face_boxes: bool,
    /// The 468 face mesh points.
    pub face_mesh: bool,
    /// The background effect.
    pub background: BackgroundSetting,
    /// Run face detection at least every this many frames and track the
    /// face with its landmarks in between (0: only when the track is lost).
    pub detect_every: u32,
    /// Run segmentation every this many frames and reuse the mask in
    /// between (1: every frame).
    pub segment_every: u32,
    /// Feather the mask edge by this radius, in pixels.
    pub feather_radius: u32,
    /// Temporal smoothing of the mask, from 0 (none) to
    /// [`MAX_MASK_SMOOTHING`].
    pub mask_smoothing: f32,
}

impl Default for EffectSettings {
    fn default() -> Self {
        // The vision crate's `EffectOptions::default()`; a test of the
        // vision module checks that the two agree.
        Self {
            face_boxes: false,
            face_mesh: false,
            background: BackgroundSetting::None,
            detect_every: 10,
            segment_every: 1,
            feather_radius: 2,
            mask_smoothing: 0.5,
        }
    }
}

impl EffectSettings {
    /// Whether any effect is on; with none, frames are copied as they are
    /// and no model runs.
    pub fn any(&self) -> bool {
        self.face_boxes || self.face_mesh || self.background != BackgroundSetting::None
    }

    /// Checks the ranges: a typed error for a value out of range.
    pub fn check(&self) -> Result<(), EffectsError> {
        let bad = |what: String| Err(EffectsError::Options(what));
        if let BackgroundSetting::Blur { radius } = self.background {
            if radius == 0 || radius > MAX_BLUR_RADIUS {
                return bad(format!(
                    "blur radius {radius} is outside 1..={MAX_BLUR_RADIUS}"
                ));
            }
        }
        if self.segment_every == 0 {
            return bad("segmentEvery must be at least 1".into());
        }
        if self.feather_radius > MAX_FEATHER_RADIUS {
            return bad(format!(
                "featherRadius {} is above {MAX_FEATHER_RADIUS}",
                self.feather_radius
            ));
        }
        if !(0.0..=MAX_MASK_SMOOTHING).contains(&self.mask_smoothing) {
            return bad(format!(
                "maskSmoothing {} is outside 0..={MAX_MASK_SMOOTHING}",
                self.mask_smoothing
            ));
        }
        Ok(())
    }
}

/// Where the work runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Mode {
    /// A dedicated worker drawing on an `OffscreenCanvas`; the main thread
    /// when the browser cannot.
    #[default]
    Worker,
    /// Everything on the page's main thread.
    Main,
}

/// How frames are taken from the camera track.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FrameSource {
    /// `MediaStreamTrackProcessor` where the page has it, else a video
    /// element paced by `requestVideoFrameCallback`.
    #[default]
    Auto,
    /// Always the video element (as `ImageBitmap`s in worker mode).
    Video,
}

/// How the processed frames become the output track.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum WorkerOutput {
    /// A track generator written by the vision module, frame by frame,
    /// with no per-frame work on the page and no throttling in hidden
    /// tabs: the standard `VideoTrackGenerator` in the worker (the camera
    /// track is transferred there), else Chromium's
    /// `MediaStreamTrackGenerator` on the page (its `writable` is
    /// transferred). Where neither can run (no `MediaStreamTrackProcessor`
    /// for the input), a captured canvas as with `Transferred`.
    #[default]
    Generator,
    /// `canvas.captureStream()` of the page's canvas, which the worker
    /// draws on through `transferControlToOffscreen()`; bitmaps where the
    /// browser cannot capture such a canvas (Firefox).
    Transferred,
    /// The worker draws on a canvas of its own and sends each frame to the
    /// page as an `ImageBitmap`, which a `bitmaprenderer` context shows.
    /// Each frame is captured as it arrives; see BENCHMARKS.md.
    Bitmaps,
}

/// What the output carries while the page is hidden, where it is a
/// captured canvas (no track generator): browsers throttle or stop a
/// hidden page's drawing, so that canvas cannot follow the camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum WhenHidden {
    /// The canvas stays: peers see the last processed frames, never the
    /// raw camera.
    #[default]
    Freeze,
    /// The output stream's video track is swapped for the camera's while
    /// the page is hidden, and back when it is shown; each swap is an
    /// event naming the track to send.
    Camera,
}

/// Which segmenter to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Segmenter {
    /// 144x256: the one for landscape video, and the faster.
    #[default]
    Landscape,
    /// 256x256.
    General,
}

impl Segmenter {
    /// The model's file name in `models/`, without `.onnx`.
    pub fn file_stem(self) -> &'static str {
        match self {
            Self::Landscape => "selfie_segmentation_landscape",
            Self::General => "selfie_segmentation",
        }
    }
}

/// How the effects are loaded and run (`peerlens::effects::Effects`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EffectsConfig {
    /// The directory URL that holds the models (the files of `models/`),
    /// absolute or relative to the page.
    pub model_base: String,
    /// The three model URLs, when they are not the files of
    /// `model_base` (hashed names, a CDN); overrides `model_base`.
    pub models: Option<crate::ModelUrls>,
    /// Which segmenter to load (and which `models.segmenter` is).
    pub segmenter: Segmenter,
    /// Worker or main thread.
    pub mode: Mode,
    /// How frames are taken from the camera.
    pub frame_source: FrameSource,
    /// How the processed frames become the output track.
    pub worker_output: WorkerOutput,
    /// The effects to start with.
    pub settings: EffectSettings,
    /// How often stats events come, in milliseconds.
    pub stats_interval_ms: u32,
    /// How many workers process the frames: 1 (face tracking and the
    /// background in one), or 2 (face tracking in a second worker, in
    /// parallel with segmentation and compositing). `None`: 2 where
    /// `navigator.hardwareConcurrency` is at least 2. Only in worker
    /// mode; the main thread is always one.
    pub workers: Option<u32>,
    /// What a captured-canvas output carries while the page is hidden
    /// (the generator outputs keep running and ignore it).
    pub when_hidden: WhenHidden,
}

impl Default for EffectsConfig {
    fn default() -> Self {
        Self {
            model_base: "models".into(),
            models: None,
            segmenter: Segmenter::default(),
            mode: Mode::default(),
            frame_source: FrameSource::default(),
            worker_output: WorkerOutput::default(),
            settings: EffectSettings::default(),
            stats_interval_ms: 1000,
            workers: None,
            when_hidden: WhenHidden::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn js_shaped_settings_parse_and_check() {
        let s: EffectSettings = serde_json::from_str(
            r#"{"faceBoxes":true,"background":{"kind":"blur","radius":12},"segmentEvery":2}"#,
        )
        .unwrap();
        assert!(s.face_boxes && !s.face_mesh);
        assert_eq!(s.background, BackgroundSetting::Blur { radius: 12 });
        assert_eq!(s.segment_every, 2);
        assert_eq!(s.detect_every, EffectSettings::default().detect_every);
        assert!(s.check().is_ok());

        let removal: EffectSettings =
            serde_json::from_str(r#"{"background":{"kind":"remove"}}"#).unwrap();
        assert_eq!(
            removal.background,
            BackgroundSetting::Remove {
                color: [0, 0, 0, 0]
            }
        );
    }

    #[test]
    fn when_hidden_is_freeze_unless_asked_and_a_closed_set() {
        let config: EffectsConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(config.when_hidden, WhenHidden::Freeze);
        let config: EffectsConfig = serde_json::from_str(r#"{"whenHidden":"camera"}"#).unwrap();
        assert_eq!(config.when_hidden, WhenHidden::Camera);
        assert!(serde_json::from_str::<EffectsConfig>(r#"{"whenHidden":"blank"}"#).is_err());
    }

    #[test]
    fn out_of_range_settings_are_typed_errors() {
        for json in [
            r#"{"background":{"kind":"blur","radius":0}}"#,
            r#"{"background":{"kind":"blur","radius":65}}"#,
            r#"{"segmentEvery":0}"#,
            r#"{"maskSmoothing":1.0}"#,
            r#"{"maskSmoothing":-0.1}"#,
            r#"{"featherRadius":33}"#,
        ] {
            let s: EffectSettings = serde_json::from_str(json).unwrap();
            assert!(
                matches!(s.check(), Err(EffectsError::Options(_))),
                "{json} should be rejected"
            );
        }
        let none = EffectSettings::default();
        assert!(!none.any());
        assert!(none.check().is_ok());
    }
}
