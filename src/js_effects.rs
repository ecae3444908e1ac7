//! The JS face of the effects: the `Effects` class. Built only with the
//! `vision` feature.

use std::rc::Rc;

use futures::StreamExt;
use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;
use web_sys::MediaStream;

use crate::effects::{EffectSettings, Effects, EffectsConfig, EffectsEvent, Thread};
use crate::js::{bad_options, only, Running};

#[wasm_bindgen(typescript_custom_section)]
const TS_EFFECTS: &str = r#"
/** What happens to the background. */
export type BackgroundSetting =
  | { kind: "none" }
  | { kind: "blur"; radius: number }
  /** `image`: any ImageBitmapSource, scaled to cover the frame. */
  | { kind: "replace"; image?: ImageBitmapSource }
  /** `color`: RGBA, 0-255; transparent black by default. */
  | { kind: "remove"; color?: [number, number, number, number] };

/** Which effects run. Every field is optional; `{}` draws nothing. */
export interface EffectSettings {
  faceBoxes?: boolean;
  faceMesh?: boolean;
  background?: BackgroundSetting;
  /** Detection every N frames (1: every frame), landmark tracking in between. */
  detectEvery?: number;
  /** Segmentation every N frames; the mask is reused in between. */
  segmentEvery?: number;
  featherRadius?: number;
  /** 0 (none) to 0.95. */
  maskSmoothing?: number;
}

export interface EffectsStats {
  fpsIn: number;
  fpsOut: number;
  dropped: number;
  frames: number;
  processed: number;
  ms: {
    preprocess: number; faces: number; segmentation: number;
    compositing: number; drawing: number; upload: number; total: number;
  };
  mainThreadMs: number;
  wasmBytes: number;
  liveRefs: number;
  openFrames: number;
  active: boolean;
  thread: "worker" | "main";
  source: "processor" | "bitmap" | "video";
  /** How the frames become the output track. */
  output: OutputKind;
  /** The build of the vision module that processes the frames. */
  build: "simd128" | "relaxed-simd";
  /** Each worker's share: one entry ("all") with one worker; with two,
   * "background" (segmentation, compositing, the output) and "faces". */
  workers: { role: "all" | "faces" | "background"; frames: number; ms: number }[];
}

/** "videoTrackGenerator" (the standard one, in the worker),
 * "mediaStreamTrackGenerator" (Chromium's, on the page) or "canvasCapture"
 * (the last resort, throttled while the page is hidden). */
export type OutputKind = "videoTrackGenerator" | "mediaStreamTrackGenerator" | "canvasCapture";

/** How frames come in and go out. */
export interface FramePath {
  input: "processor" | "bitmap" | "video";
  output: OutputKind;
}

export interface EffectsOptions {
  /** The directory holding the model files; default "models". */
  modelBase?: string;
  /** Explicit model URLs, overriding modelBase. */
  models?: { detector: string; mesh: string; segmenter: string };
  segmenter?: "landscape" | "general";
  /** "worker" (default; the main thread where workers cannot) or "main". */
  mode?: "worker" | "main";
  /** "auto" (MediaStreamTrackProcessor where there is one) or "video". */
  frameSource?: "auto" | "video";
  /** "generator" (default: a track generator the vision module writes
   * frames to; a captured canvas where there is none), "transferred" (a
   * captured canvas the worker draws on) or "bitmaps" (a captured canvas
   * showing the worker's frames, sent back as ImageBitmaps). */
  workerOutput?: "generator" | "transferred" | "bitmaps";
  /** 1 or 2 workers: with 2, face tracking runs in a second worker, in
   * parallel with segmentation. Default: 2 where
   * navigator.hardwareConcurrency is at least 2. */
  workers?: 1 | 2;
  /** What a captured-canvas output (no track generator: Firefox) carries
   * while the page is hidden: "freeze" (default: the last processed
   * frames, never the raw camera) or "camera" (the camera's track, swapped
   * in until the page is shown; see onOutputTrack). */
  whenHidden?: "freeze" | "camera";
  settings?: EffectSettings;
  statsIntervalMs?: number;
  onProgress?: (progress: { loaded: number; total?: number }) => void;
  onLoaded?: (ms: number) => void;
  onStats?: (stats: EffectsStats) => void;
  /** Errors after start: a frame that failed, a worker that fell back. */
  onError?: (error: Error) => void;
  /** The output stream's video track changed (whenHidden: "camera"):
   * send this one, e.g. with room.replaceTrack("video", track). */
  onOutputTrack?: (track: MediaStreamTrack) => void;
}
"#;

#[wasm_bindgen]
extern "C" {
    /// The `EffectsOptions` dictionary, as declared above.
    #[wasm_bindgen(typescript_type = "EffectsOptions")]
    pub type EffectsOptions;
    /// The `EffectSettings` dictionary, as declared above.
    #[wasm_bindgen(typescript_type = "EffectSettings")]
    pub type JsEffectSettings;
}

/// The callbacks of the options.
#[derive(Default)]
struct Callbacks {
    progress: Option<Function>,
    loaded: Option<Function>,
    stats: Option<Function>,
    error: Option<Function>,
    output_track: Option<Function>,
}

fn callback(options: &JsValue, name: &str) -> Option<Function> {
    Reflect::get(options, &name.into())
        .ok()
        .and_then(|f| f.dyn_into().ok())
}

fn settings_of(value: &JsValue) -> Result<(EffectSettings, Option<JsValue>), JsValue> {
    if !value.is_object() {
        return Err(bad_options("the settings must be an object"));
    }
    let background = Reflect::get(value, &"background".into())
        .ok()
        .filter(JsValue::is_object);
    let image = background
        .as_ref()
        .and_then(|b| Reflect::get(b, &"image".into()).ok())
        .filter(|i| !i.is_undefined() && !i.is_null());
    let plain = only(
        value,
        &[
            "faceBoxes",
            "faceMesh",
            "detectEvery",
            "segmentEvery",
            "featherRadius",
            "maskSmoothing",
        ],
    );
    if let Some(background) = &background {
        let _ = Reflect::set(
            &plain,
            &"background".into(),
            &only(background, &["kind", "radius", "color"]),
        );
    }
    let settings: EffectSettings = serde_wasm_bindgen::from_value(plain).map_err(bad_options)?;
    Ok((settings, image))
}

/// Live video effects. `Effects.load(options)` resolves once the models are
/// loaded; `apply(stream)` returns the processed stream. They run until
/// `stop()`, even when nothing holds this object any more; `free()` only
/// releases the handle.
#[wasm_bindgen(js_name = Effects)]
pub struct JsEffects {
    inner: Running<Effects>,
}

#[wasm_bindgen(js_class = Effects)]
impl JsEffects {
    /// Starts the effects and begins loading the models, without waiting.
    /// `apply` works at once: frames pass through until the models load.
    pub fn create(options: Option<EffectsOptions>) -> Result<JsEffects, JsValue> {
        let options: JsValue = options.map(Into::into).unwrap_or(JsValue::UNDEFINED);
        let mut config = EffectsConfig::default();
        let mut callbacks = Callbacks::default();
        let mut image = None;
        if options.is_object() {
            let plain = only(
                &options,
                &[
                    "modelBase",
                    "models",
                    "segmenter",
                    "mode",
                    "frameSource",
                    "workerOutput",
                    "workers",
                    "whenHidden",
                    "statsIntervalMs",
                ],
            );
            config = serde_wasm_bindgen::from_value(plain).map_err(bad_options)?;
            if let Ok(settings) = Reflect::get(&options, &"settings".into()) {
                if !settings.is_undefined() {
                    let (settings, settings_image) = settings_of(&settings)?;
                    config.settings = settings;
                    image = settings_image;
                }
            }
            callbacks = Callbacks {
                progress: callback(&options, "onProgress"),
                loaded: callback(&options, "onLoaded"),
                stats: callback(&options, "onStats"),
                error: callback(&options, "onError"),
                output_track: callback(&options, "onOutputTrack"),
            };
        }
        let (effects, mut events) = Effects::new(config)?;
        let effects = Rc::new(effects);
        if let Some(image) = image {
            let effects = effects.clone();
            wasm_bindgen_futures::spawn_local(async move {
                let _ = effects.set_background_image(&image).await;
            });
        }
        wasm_bindgen_futures::spawn_local(async move {
            while let Some(event) = events.next().await {
                let (f, arg) = match event {
                    EffectsEvent::Progress(p) => (
                        &callbacks.progress,
                        serde_wasm_bindgen::to_value(&p).unwrap_or(JsValue::NULL),
                    ),
                    EffectsEvent::Loaded { ms } => (&callbacks.loaded, ms.into()),
                    EffectsEvent::Stats(s) => (
                        &callbacks.stats,
                        serde_wasm_bindgen::to_value(&s).unwrap_or(JsValue::NULL),
                    ),
                    EffectsEvent::Error(e) => (&callbacks.error, e.into()),
                    EffectsEvent::OutputTrack(track) => (&callbacks.output_track, track.into()),
                };
                if let Some(f) = f {
                    // An app's callback that throws must not end the events.
                    let _ = f.call1(&JsValue::UNDEFINED, &arg);
                }
            }
        });
        Ok(JsEffects {
            inner: Running::shared(effects),
        })
    }

    /// Starts the effects and resolves once the models are loaded. Rejects
    /// with an `Error` named `HttpError`, `FetchError`, `ModelError` or
    /// `OptionsError`.
    pub async fn load(options: Option<EffectsOptions>) -> Result<JsEffects, JsValue> {
        let effects = Self::create(options)?;
        if let Err(e) = effects.inner.loaded().await {
            // The caller gets no handle to stop them with.
            effects.stop();
            return Err(e.into());
        }
        Ok(effects)
    }

    /// Resolves with the load time in milliseconds once the models are
    /// loaded; rejects as `load` does.
    pub fn loaded(&self) -> Promise {
        let effects = self.inner.rc();
        future_to_promise(async move { Ok(effects.loaded().await?.into()) })
    }

    /// Resolves with the processed stream: the effects' video and the
    /// input's audio tracks.
    pub fn apply(&self, stream: MediaStream) -> Promise {
        let effects = self.inner.rc();
        future_to_promise(async move { Ok(effects.apply(&stream).await?.into()) })
    }

    /// Changes the effects from the next frame on. Resolves once a new
    /// background image, if any, is taken.
    #[wasm_bindgen(js_name = setOptions)]
    pub fn set_options(&self, settings: JsEffectSettings) -> Promise {
        let effects = self.inner.rc();
        let settings: JsValue = settings.into();
        future_to_promise(async move {
            let (settings, image) = settings_of(&settings)?;
            effects.set_settings(settings)?;
            if let Some(image) = image {
                effects.set_background_image(&image).await?;
            }
            Ok(JsValue::UNDEFINED)
        })
    }

    /// "worker" or "main": where the frames are processed.
    #[wasm_bindgen(getter)]
    pub fn thread(&self) -> String {
        match self.inner.thread() {
            Thread::Worker => "worker".into(),
            Thread::Main => "main".into(),
        }
    }

    /// 2 when face tracking runs in a worker of its own, else 1.
    #[wasm_bindgen(getter)]
    pub fn workers(&self) -> u32 {
        self.inner.workers()
    }

    /// How frames come in and become the output track since the last
    /// `apply` (`{ input, output }`); `null` before it, and while the
    /// camera passes through.
    #[wasm_bindgen(getter, unchecked_return_type = "FramePath | null")]
    pub fn path(&self) -> JsValue {
        self.inner
            .path()
            .and_then(|p| serde_wasm_bindgen::to_value(&p).ok())
            .unwrap_or(JsValue::NULL)
    }

    /// The build of the vision module that runs ("simd128" or
    /// "relaxed-simd"), once it runs; `null` before, and where none can.
    #[wasm_bindgen(getter, js_name = visionBuild)]
    pub fn vision_build(&self) -> Option<String> {
        self.inner
            .vision_build()
            .map(|(build, _)| build.as_str().to_owned())
    }

    /// Why the vision build that runs is not the one the probe chose (the
    /// relaxed-SIMD build did not compile), or `null`.
    #[wasm_bindgen(getter, js_name = visionFallback)]
    pub fn vision_fallback(&self) -> Option<String> {
        self.inner.vision_build().and_then(|(_, fallback)| fallback)
    }

    /// Stops the effects: the worker, the output track and the frame
    /// callbacks. The input's tracks keep running.
    pub fn stop(&self) {
        self.inner.stop();
        self.inner.release();
    }
}
