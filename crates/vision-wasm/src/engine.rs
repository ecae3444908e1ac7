//! The frame loop's body, shared by the worker and the main thread: one
//! camera image in (a `VideoFrame`, an `ImageBitmap` or a video element),
//! the processed frame drawn on the output canvas and delivered (see
//! [`Delivery`]): written to a track generator as a `VideoFrame` with the
//! input's timestamp, sent to the page as a bitmap, or left on a canvas
//! the page captures.
//!
//! Until the models are loaded, while no effect is on, or if a frame fails,
//! the image is drawn as it is: the video never stops.

use std::{
    cell::{Cell, RefCell},
    rc::Rc,
};

use futures::channel::oneshot;
use peerlens_vision::{
    draw_face, BackgroundStage, EffectOptions, FaceResult, FaceStage, FrameReport, RgbaFrame,
};
use wasm_bindgen::{Clamped, JsCast, JsValue};
use web_sys::ImageData;

use crate::{
    bindings::{now, scratch_canvas, AnyCanvas, Ctx2d, FrameWritable, FrameWriter, VideoFrame},
    faces::FaceLink,
    BackgroundSetting, EffectSettings, EffectsError, EffectsStats, OutputKind, SourceKind, StageMs,
    Thread, WorkerFrames, WorkerRole,
};

/// Where a drawn frame goes, besides the output canvas.
pub(crate) enum Delivery {
    /// Nowhere: the page captures the canvas (or draws it on the page).
    Canvas,
    /// To the page as an `ImageBitmap` (the output canvas is an
    /// `OffscreenCanvas` of this engine's own).
    Bitmaps(Presenter),
    /// To a track generator, as a `VideoFrame` of the output canvas.
    Generator(GeneratorSink),
}

/// The most frames written to a generator and not yet taken; beyond it a
/// frame is dropped (and counted) rather than queued.
const MAX_WRITES_IN_FLIGHT: u32 = 3;

/// Writes frames to a track generator's `writable`, keeping the input's
/// timestamps, never more than [`MAX_WRITES_IN_FLIGHT`] at a time.
pub(crate) struct GeneratorSink {
    writer: FrameWriter,
    in_flight: Rc<Cell<u32>>,
    /// Why a write failed, until it is reported.
    failure: Rc<RefCell<Option<String>>>,
}

impl GeneratorSink {
    pub(crate) fn new(writable: &FrameWritable) -> Result<Self, EffectsError> {
        let writer = writable
            .get_writer()
            .map_err(|e| EffectsError::browser("writing to the track generator", &e))?;
        Ok(Self {
            writer,
            in_flight: Rc::new(Cell::new(0)),
            failure: Rc::default(),
        })
    }

    /// Writes the canvas's current pixels as a frame stamped
    /// `timestamp_us`. `Ok(false)`: dropped, the generator is behind.
    fn write(&self, canvas: &AnyCanvas, timestamp_us: f64) -> Result<bool, EffectsError> {
        if let Some(reason) = self.failure.borrow_mut().take() {
            return Err(EffectsError::Worker(format!(
                "the track generator refused a frame: {reason}"
            )));
        }
        if self.in_flight.get() >= MAX_WRITES_IN_FLIGHT {
            return Ok(false);
        }
        let init = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&init, &"timestamp".into(), &timestamp_us.into());
        let frame = VideoFrame::new_from(canvas, &init)
            .map_err(|e| EffectsError::browser("making a frame of the output canvas", &e))?;
        match self.writer.write(&frame) {
            Ok(promise) => {
                self.in_flight.set(self.in_flight.get() + 1);
                // Once the write settles the frame is closed: the generator
                // has closed a frame it took already (closing again does
                // nothing), and one it refused (the track ended) would be
                // left to the garbage collector.
                let (in_flight, failure) = (self.in_flight.clone(), self.failure.clone());
                wasm_bindgen_futures::spawn_local(async move {
                    let written = wasm_bindgen_futures::JsFuture::from(promise).await;
                    in_flight.set(in_flight.get().saturating_sub(1));
                    frame.close();
                    if let Err(e) = written {
                        *failure.borrow_mut() =
                            Some(peerlens_core::JsErrorInfo::from_js(&e).to_string());
                    }
                });
                Ok(true)
            }
            Err(e) => {
                frame.close();
                Err(EffectsError::browser("writing to the track generator", &e))
            }
        }
    }
}

impl Drop for GeneratorSink {
    fn drop(&mut self) {
        // Ends the generator's track; a write still in flight settles on
        // its own, and its callback closes its frame.
        let _ = self.writer.close();
    }
}

/// A frame between [`Engine::begin`] and [`Engine::finish`].
struct Drawing {
    t0: f64,
    timestamp: f64,
    /// The face worker's marks for this frame, when it was sent there.
    faces: Option<oneshot::Receiver<FaceResult>>,
    result: Result<Option<Rendered>, EffectsError>,
    /// Milliseconds spent waiting for the face worker.
    waited: f64,
}

/// A frame rendered into the engine's output pixels, not yet written out.
struct Rendered {
    width: u32,
    height: u32,
    t0: f64,
    t1: f64,
    ms: peerlens_vision::StageTimes,
}

/// Draws one camera image (already counted by [`Engine::arrived`]),
/// stamped `timestamp_us` (the input frame's, when it has one). In
/// two-worker mode this waits for the face worker's marks of the same
/// frame, segmenting meanwhile. The caller closes the image. An error
/// means the frame went out unprocessed; it is returned once per distinct
/// cause.
pub(crate) async fn draw(
    engine: &Rc<RefCell<Engine>>,
    image: &JsValue,
    width: u32,
    height: u32,
    timestamp_us: Option<f64>,
) -> Result<(), EffectsError> {
    let (mut drawing, link, interval_ms) = {
        let mut e = engine.borrow_mut();
        let drawing = e.begin(image, width, height, timestamp_us);
        (drawing, e.link.clone(), e.frame_interval_us / 1000.0)
    };
    let face = match (drawing.faces.take(), link) {
        (Some(marks), Some(link)) => {
            let t = now();
            let face = link.wait(marks, interval_ms).await;
            drawing.waited = now() - t;
            face
        }
        _ => None,
    };
    engine.borrow_mut().finish(image, drawing, face)
}

/// Sums over one stats interval.
#[derive(Default)]
struct Window {
    start: f64,
    arrived: u64,
    drawn: u64,
    processed: u64,
    main_ms: f64,
    ms: StageMs,
}

/// The background image, and its pixels scaled to cover the frame.
struct Replacement {
    image: JsValue,
    size: (u32, u32),
    pixels: Vec<u8>,
}

/// See the module docs.
pub(crate) struct Engine {
    /// Face tracking here (one-worker mode).
    faces: Option<FaceStage>,
    /// Face tracking in the face worker (two-worker mode).
    link: Option<Rc<FaceLink>>,
    /// Segmentation, compositing and drawing.
    background: Option<BackgroundStage>,
    options: EffectOptions,
    settings: EffectSettings,
    replacement: Option<Replacement>,
    output: AnyCanvas,
    out_ctx: Ctx2d,
    input: Option<(AnyCanvas, Ctx2d)>,
    size: (u32, u32),
    rgba: Vec<u8>,
    out: Vec<u8>,
    window: Window,
    interval_ms: f64,
    dropped: u64,
    frames: u64,
    processed: u64,
    open_frames: u32,
    last_timestamp: Option<f64>,
    frame_interval_us: f64,
    thread: Thread,
    source: SourceKind,
    /// The last frame error reported, so a failing frame is reported once
    /// rather than 30 times a second.
    last_error: Option<String>,
    /// Where each drawn frame goes.
    delivery: Delivery,
    output_kind: OutputKind,
    /// A JS buffer `VideoFrame.copyTo` fills with RGBA, and whether it
    /// holds the next frame (with the milliseconds the copy took).
    copy_buffer: Option<js_sys::Uint8Array>,
    copied: Option<f64>,
}

/// Receives each drawn frame as an `ImageBitmap`.
pub(crate) type Presenter = std::rc::Rc<dyn Fn(web_sys::ImageBitmap)>;

impl Engine {
    /// An engine drawing on `output` (a canvas element or an
    /// `OffscreenCanvas`).
    pub(crate) fn new(
        output: AnyCanvas,
        thread: Thread,
        source: SourceKind,
        fps: f64,
        interval_ms: u32,
    ) -> Result<Self, EffectsError> {
        let out_ctx = output
            .context_2d(false)
            .map_err(|e| EffectsError::browser("getting the output canvas's 2D context", &e))?;
        Ok(Self {
            faces: None,
            link: None,
            background: None,
            options: EffectOptions::default(),
            settings: EffectSettings::default(),
            replacement: None,
            output,
            out_ctx,
            input: None,
            size: (0, 0),
            rgba: Vec::new(),
            out: Vec::new(),
            window: Window {
                start: now(),
                ..Window::default()
            },
            interval_ms: f64::from(interval_ms.max(50)),
            dropped: 0,
            frames: 0,
            processed: 0,
            open_frames: 0,
            last_timestamp: None,
            frame_interval_us: 1e6 / if fps > 0.0 { fps } else { 30.0 },
            thread,
            source,
            last_error: None,
            delivery: Delivery::Canvas,
            output_kind: OutputKind::CanvasCapture,
            copy_buffer: None,
            copied: None,
        })
    }

    /// Whether the next frame's pixels will be read (some effect is on and
    /// the models are loaded); else frames are drawn as they are.
    pub(crate) fn wants_pixels(&self) -> bool {
        self.active()
    }

    /// Whether some effect is on and its models are loaded.
    fn active(&self) -> bool {
        let s = &self.settings;
        let faces = self.faces.is_some() || self.link.as_ref().is_some_and(|l| l.loaded());
        ((s.face_boxes || s.face_mesh) && faces)
            || (s.background != BackgroundSetting::None && self.background.is_some())
    }

    /// The buffer for `VideoFrame.copyTo`, of `len` bytes.
    pub(crate) fn copy_buffer(&mut self, len: u32) -> js_sys::Uint8Array {
        match &self.copy_buffer {
            Some(buffer) if buffer.length() == len => buffer.clone(),
            _ => {
                let buffer = js_sys::Uint8Array::new_with_length(len);
                self.copy_buffer = Some(buffer.clone());
                buffer
            }
        }
    }

    /// The copy buffer holds the next frame's RGBA pixels; reading them
    /// took `ms`.
    pub(crate) fn copied(&mut self, ms: f64) {
        self.copied = Some(ms);
    }

    /// Where every drawn frame goes from now on (the output canvas must
    /// be an `OffscreenCanvas` for bitmaps), and the output path the stats
    /// report.
    pub(crate) fn deliver_to(&mut self, delivery: Delivery, kind: OutputKind) {
        self.delivery = delivery;
        self.output_kind = kind;
    }

    /// Hands over the loaded models (either may be missing: it did not
    /// load, or faces run in the face worker); effects start with the
    /// next frame.
    pub(crate) fn set_models(&mut self, models: Models) {
        let Models {
            mut faces,
            mut background,
        } = models;
        if let Some(stage) = faces.as_mut() {
            stage.set_options(&self.options);
        }
        if let Some(stage) = background.as_mut() {
            stage.set_options(&self.options);
        }
        if faces.is_some() {
            self.faces = faces;
        }
        if background.is_some() {
            self.background = background;
        }
    }

    /// Tracks faces in the face worker from now on.
    pub(crate) fn set_link(&mut self, link: Option<Rc<FaceLink>>) {
        self.link = link;
    }

    /// Takes the models back, when the frame path ends.
    pub(crate) fn take_models(&mut self) -> Models {
        Models {
            faces: self.faces.take(),
            background: self.background.take(),
        }
    }

    /// Changes the effects from the next frame on. `image` replaces the
    /// background image when given.
    pub(crate) fn set_settings(&mut self, settings: EffectSettings, image: Option<JsValue>) {
        if let Ok(options) = crate::options(&settings) {
            if let Some(stage) = self.faces.as_mut() {
                stage.set_options(&options);
            }
            if let Some(stage) = self.background.as_mut() {
                stage.set_options(&options);
            }
            self.options = options;
        }
        self.settings = settings;
        if let Some(image) = image {
            self.replacement = (!image.is_null() && !image.is_undefined()).then_some(Replacement {
                image,
                size: (0, 0),
                pixels: Vec::new(),
            });
        }
    }

    /// A camera frame arrived; `timestamp_us` (when known) lets frames the
    /// browser dropped before they reached us be counted too.
    pub(crate) fn arrived(&mut self, timestamp_us: Option<f64>) {
        self.window.arrived += 1;
        self.open_frames += 1;
        if let Some(ts) = timestamp_us {
            if let Some(last) = self.last_timestamp {
                let missing = ((ts - last) / self.frame_interval_us).round() - 1.0;
                if (1.0..1e6).contains(&missing) {
                    // Frames the processor dropped before we read them:
                    // they arrived too, as far as the camera goes.
                    self.dropped += missing as u64;
                    self.window.arrived += missing as u64;
                }
            }
            self.last_timestamp = Some(ts);
        }
    }

    /// Counts the page measured for the bitmap path: camera frames seen,
    /// frames it dropped while the worker was busy, and its time spent.
    pub(crate) fn page_counts(&mut self, arrived: u64, dropped: u64, main_ms: f64) {
        self.window.arrived += arrived;
        self.dropped += dropped;
        self.window.main_ms += main_ms;
    }

    /// A frame (an `ImageBitmap`) was received from the page.
    pub(crate) fn opened(&mut self) {
        self.open_frames += 1;
    }

    /// A received frame was closed (drawn or dropped).
    pub(crate) fn closed(&mut self) {
        self.open_frames = self.open_frames.saturating_sub(1);
    }

    /// Frames skipped because a newer one was waiting.
    pub(crate) fn dropped(&mut self, n: u64) {
        self.dropped += n;
    }

    fn resize(&mut self, width: u32, height: u32) -> Result<(), EffectsError> {
        if self.size == (width, height) {
            return Ok(());
        }
        self.output.resize(width, height);
        match &self.input {
            Some((canvas, _)) => canvas.resize(width, height),
            None => {
                let canvas = scratch_canvas(width, height)
                    .map_err(|e| EffectsError::browser("creating the scratch canvas", &e))?;
                let ctx = canvas
                    .context_2d(true)
                    .map_err(|e| EffectsError::browser("getting a 2D context", &e))?;
                self.input = Some((canvas, ctx));
            }
        }
        let bytes = width as usize * height as usize * 4;
        self.rgba.resize(bytes, 0);
        self.out.resize(bytes, 0);
        self.size = (width, height);
        Ok(())
    }

    /// Starts drawing one camera image (already counted by
    /// [`Engine::arrived`]), stamped `timestamp_us` (the input frame's,
    /// when it has one): reads its pixels, sends them to the face worker
    /// when there is one, and renders the background. [`draw`] finishes
    /// it. The caller closes the image after that.
    fn begin(
        &mut self,
        image: &JsValue,
        width: u32,
        height: u32,
        timestamp_us: Option<f64>,
    ) -> Drawing {
        let t0 = now();
        let timestamp = timestamp_us.unwrap_or(t0 * 1000.0);
        let mut drawing = Drawing {
            t0,
            timestamp,
            faces: None,
            result: Ok(None),
            waited: 0.0,
        };
        drawing.result = self.render(image, width, height, t0, timestamp, &mut drawing.faces);
        drawing
    }

    /// The processing half of [`Engine::begin`]: `Ok(None)` when the frame
    /// was drawn as it is.
    fn render(
        &mut self,
        image: &JsValue,
        width: u32,
        height: u32,
        t0: f64,
        timestamp: f64,
        faces: &mut Option<oneshot::Receiver<FaceResult>>,
    ) -> Result<Option<Rendered>, EffectsError> {
        if width == 0 || height == 0 {
            return Ok(None);
        }
        self.resize(width, height)?;
        if !self.active() {
            self.out_ctx
                .draw_image(image, 0.0, 0.0)
                .map_err(|e| EffectsError::browser("drawing a frame", &e))?;
            return Ok(None);
        }
        let copied = self.copied.take();
        let (t0, t1) = match (copied, &self.copy_buffer) {
            (Some(ms), Some(buffer)) if buffer.length() as usize == self.rgba.len() => {
                buffer.copy_to(&mut self.rgba);
                (t0 - ms, now())
            }
            _ => {
                let Some((_, input)) = &self.input else {
                    return Ok(None);
                };
                input
                    .draw_image(image, 0.0, 0.0)
                    .map_err(|e| EffectsError::browser("drawing a frame", &e))?;
                let data = input
                    .get_image_data(0.0, 0.0, f64::from(width), f64::from(height))
                    .map_err(|e| EffectsError::browser("reading a frame's pixels", &e))?;
                let pixels: js_sys::Uint8ClampedArray = js_sys::Reflect::get(&data, &"data".into())
                    .map_err(|e| EffectsError::browser("reading a frame's pixels", &e))?
                    .unchecked_into();
                pixels.copy_to(&mut self.rgba);
                (t0, now())
            }
        };

        let wants_image = self.settings.background == BackgroundSetting::Replace;
        if wants_image {
            self.scale_replacement(width, height)?;
        }
        let frame = RgbaFrame::new(&self.rgba, width, height, width as usize * 4)
            .map_err(|e| EffectsError::Frame(e.to_string()))?;
        let replacement = match (&self.replacement, wants_image) {
            (Some(r), true) if r.size == (width, height) => Some(
                RgbaFrame::new(&r.pixels, width, height, width as usize * 4)
                    .map_err(|e| EffectsError::Frame(e.to_string()))?,
            ),
            _ => None,
        };
        let options = &self.options;
        let wants_faces = options.face_boxes || options.face_mesh;
        // The face worker starts on this frame before the background is
        // segmented here, so the two run at the same time.
        let mut local = None;
        match (&self.link, self.faces.as_mut()) {
            (Some(link), _) if wants_faces && link.loaded() => {
                *faces = Some(link.track(timestamp, &self.rgba, width, height, options));
            }
            (_, Some(stage)) => {
                local = Some(
                    stage
                        .run(&frame, options, &mut now)
                        .map_err(|e| EffectsError::Frame(e.to_string()))?,
                );
            }
            _ => {}
        }
        let overlay = local.as_ref().and_then(|f| f.overlay.as_ref());
        let mut report = match self.background.as_mut() {
            Some(stage) => stage
                .render(
                    &frame,
                    overlay,
                    replacement.as_ref(),
                    &mut self.out,
                    options,
                    &mut now,
                )
                .map_err(|e| EffectsError::Frame(e.to_string()))?,
            None => {
                frame.copy_packed(&mut self.out);
                if let Some(overlay) = overlay {
                    draw_face(&mut self.out, width, height, overlay, options);
                }
                FrameReport::default()
            }
        };
        if let Some(local) = &local {
            report.ms.faces = local.ms;
        }
        Ok(Some(Rendered {
            width,
            height,
            t0,
            t1,
            ms: report.ms,
        }))
    }

    /// Finishes a frame [`Engine::begin`] started, with the marks the face
    /// worker found on it when there is one: draws them, writes the frame
    /// out and delivers it. An error means the frame went out
    /// unprocessed; it is returned once per distinct cause.
    fn finish(
        &mut self,
        image: &JsValue,
        drawing: Drawing,
        face: Option<FaceResult>,
    ) -> Result<(), EffectsError> {
        let Drawing {
            t0,
            timestamp,
            result,
            waited,
            ..
        } = drawing;
        let mut result = result.and_then(|rendered| match rendered {
            Some(rendered) => self.upload(rendered, face, waited),
            None => Ok(()),
        });
        if result.is_err() {
            // Never lose the frame: draw it as it came.
            let _ = self.out_ctx.draw_image(image, 0.0, 0.0);
        }
        // Whether the frame reached the output (`false`: the generator was
        // behind, and the frame is counted as dropped).
        let delivered = match &self.delivery {
            Delivery::Canvas => Ok(true),
            Delivery::Bitmaps(present) => self
                .output
                .transfer_to_image_bitmap()
                .map(|bitmap| {
                    present(bitmap);
                    true
                })
                .map_err(|e| EffectsError::browser("handing a frame to the page", &e)),
            Delivery::Generator(sink) => sink.write(&self.output, timestamp),
        };
        let reached = match delivered {
            Ok(reached) => reached,
            Err(e) => {
                if result.is_ok() {
                    result = Err(e);
                }
                false
            }
        };
        if reached {
            self.frames += 1;
            self.window.drawn += 1;
        } else {
            self.dropped += 1;
        }
        if self.thread == Thread::Main {
            self.window.main_ms += now() - t0;
        }
        match result {
            Ok(()) => Ok(()),
            Err(e) => {
                let text = e.to_string();
                if self.last_error.as_deref() == Some(text.as_str()) {
                    Ok(())
                } else {
                    self.last_error = Some(text);
                    Err(e)
                }
            }
        }
    }

    /// Draws the face worker's marks on the rendered pixels and writes
    /// them to the output canvas.
    fn upload(
        &mut self,
        rendered: Rendered,
        face: Option<FaceResult>,
        waited: f64,
    ) -> Result<(), EffectsError> {
        let Rendered {
            width,
            height,
            t0,
            t1,
            mut ms,
        } = rendered;
        if let Some(face) = face {
            let t = now();
            if let Some(overlay) = &face.overlay {
                draw_face(&mut self.out, width, height, overlay, &self.options);
            }
            ms.drawing += now() - t;
            ms.faces = face.ms;
        }
        let t2 = now();
        // The ImageData is a view of wasm memory, used at once.
        let image_data =
            ImageData::new_with_u8_clamped_array_and_sh(Clamped(&self.out), width, height)
                .map_err(|e| EffectsError::browser("wrapping the output pixels", &e))?;
        self.out_ctx
            .put_image_data(&image_data, 0.0, 0.0)
            .map_err(|e| EffectsError::browser("writing the output frame", &e))?;
        let t3 = now();

        self.processed += 1;
        let w = &mut self.window;
        w.processed += 1;
        w.ms.preprocess += t1 - t0;
        w.ms.faces += ms.faces;
        w.ms.segmentation += ms.segmentation;
        w.ms.compositing += ms.compositing;
        w.ms.drawing += ms.drawing;
        w.ms.upload += t3 - t2;
        // The worker's own time: not the wait for the face worker.
        w.ms.total += t3 - t0 - waited;
        self.last_error = None;
        Ok(())
    }

    /// Scales the background image to cover `width` x `height` (centred,
    /// cropped), once per image and size.
    fn scale_replacement(&mut self, width: u32, height: u32) -> Result<(), EffectsError> {
        let Some(r) = self.replacement.as_mut() else {
            return Ok(());
        };
        if r.size == (width, height) {
            return Ok(());
        }
        let dims = |key: &str| {
            js_sys::Reflect::get(&r.image, &key.into())
                .ok()
                .and_then(|v| v.as_f64())
                .unwrap_or(0.0)
        };
        let (iw, ih) = (dims("width"), dims("height"));
        if iw <= 0.0 || ih <= 0.0 {
            return Err(EffectsError::Options(
                "the background image has no size".into(),
            ));
        }
        let canvas = scratch_canvas(width, height)
            .map_err(|e| EffectsError::browser("creating the scratch canvas", &e))?;
        let ctx = canvas
            .context_2d(true)
            .map_err(|e| EffectsError::browser("getting a 2D context", &e))?;
        let (w, h) = (f64::from(width), f64::from(height));
        let scale = (w / iw).max(h / ih);
        let (sw, sh) = (w / scale, h / scale);
        ctx.draw_image_cropped(
            &r.image,
            (iw - sw) / 2.0,
            (ih - sh) / 2.0,
            sw,
            sh,
            0.0,
            0.0,
            w,
            h,
        )
        .map_err(|e| EffectsError::browser("drawing the background image", &e))?;
        let data = ctx
            .get_image_data(0.0, 0.0, w, h)
            .map_err(|e| EffectsError::browser("reading the background image", &e))?;
        let pixels: js_sys::Uint8ClampedArray = js_sys::Reflect::get(&data, &"data".into())
            .map_err(|e| EffectsError::browser("reading the background image", &e))?
            .unchecked_into();
        r.pixels.resize(width as usize * height as usize * 4, 0);
        pixels.copy_to(&mut r.pixels);
        r.size = (width, height);
        Ok(())
    }

    /// The stats for the interval just ended, when it has.
    pub(crate) fn take_stats(&mut self) -> Option<EffectsStats> {
        let t = now();
        let elapsed = t - self.window.start;
        if elapsed < self.interval_ms {
            return None;
        }
        let w = std::mem::replace(
            &mut self.window,
            Window {
                start: t,
                ..Window::default()
            },
        );
        let per = |sum: f64, n: u64| if n == 0 { 0.0 } else { sum / n as f64 };
        let n = w.processed;
        Some(EffectsStats {
            fps_in: w.arrived as f64 * 1000.0 / elapsed,
            fps_out: w.drawn as f64 * 1000.0 / elapsed,
            dropped: self.dropped,
            frames: self.frames,
            processed: self.processed,
            ms: StageMs {
                preprocess: per(w.ms.preprocess, n),
                faces: per(w.ms.faces, n),
                segmentation: per(w.ms.segmentation, n),
                compositing: per(w.ms.compositing, n),
                drawing: per(w.ms.drawing, n),
                upload: per(w.ms.upload, n),
                total: per(w.ms.total, n),
            },
            main_thread_ms: per(w.main_ms, w.drawn),
            wasm_bytes: wasm_bytes(),
            live_refs: wasm_bindgen::externref_heap_live_count(),
            open_frames: self.open_frames,
            active: self.active(),
            workers: self.worker_frames(per(w.ms.total, n)),
            thread: self.thread,
            source: self.source,
            output: self.output_kind,
            build: crate::BUILD,
        })
    }
}

impl Engine {
    /// Each worker's frames: this one's, and the face worker's when there
    /// is one.
    fn worker_frames(&self, ms: f64) -> Vec<WorkerFrames> {
        match &self.link {
            None => vec![WorkerFrames {
                role: WorkerRole::All,
                frames: self.processed,
                ms,
            }],
            Some(link) => {
                let (frames, face_ms) = link.take_window();
                vec![
                    WorkerFrames {
                        role: WorkerRole::Background,
                        frames: self.processed,
                        ms,
                    },
                    WorkerFrames {
                        role: WorkerRole::Faces,
                        frames,
                        ms: face_ms,
                    },
                ]
            }
        }
    }
}

/// The loaded models, wherever they are not yet in use.
#[derive(Default)]
pub(crate) struct Models {
    pub(crate) faces: Option<FaceStage>,
    pub(crate) background: Option<BackgroundStage>,
}

/// The size of this instance's wasm memory.
pub(crate) fn wasm_bytes() -> u64 {
    wasm_bindgen::memory()
        .dyn_into::<js_sys::WebAssembly::Memory>()
        .ok()
        .and_then(|m| {
            js_sys::Reflect::get(&m.buffer(), &"byteLength".into())
                .ok()
                .and_then(|v| v.as_f64())
        })
        .unwrap_or(0.0) as u64
}
