//! Live video effects: face boxes and keypoints, the face mesh, and
//! background blur, replacement or removal, drawn on a canvas whose
//! `captureStream()` is the stream peers receive.
//!
//! ```text
//! camera track ─ MediaStreamTrackProcessor ─ VideoFrames ─┐   (transferred)
//!        └──── <video> + requestVideoFrameCallback ─ ImageBitmaps ┤
//!                                                        worker: EffectsPipeline
//!                                                          draws on the OffscreenCanvas
//! output = canvas.captureStream() video + the input's audio tracks
//! ```
//!
//! [`Effects::new`] starts a dedicated worker running this same wasm module
//! (or, with [`Mode::Main`] or where workers or `OffscreenCanvas` are
//! missing, the main thread) and fetches the models there, with progress
//! events. [`Effects::apply`] returns the processed stream at once: frames
//! pass through unprocessed until the models are loaded, and for good if
//! they fail to load, so the video never waits on a download and never
//! stops. [`Effects::load`] is the same but waits for the models and fails
//! with a typed [`EffectsError`].
//!
//! Frames are never queued: while one is processed, newer ones replace the
//! waiting one, and the dropped frames are counted in the stats.

pub(crate) mod bindings;
mod engine;
mod error;
mod load;
mod runner;
mod settings;
mod source;
mod worker;

use std::{
    cell::{Cell, RefCell},
    rc::{Rc, Weak},
};

use futures::channel::{
    mpsc::{self, UnboundedReceiver, UnboundedSender},
    oneshot,
};
use js_sys::Array;
use wasm_bindgen::{closure::Closure, JsCast, JsValue};
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{
    HtmlCanvasElement, HtmlVideoElement, ImageBitmap, ImageBitmapRenderingContext, MediaStream,
    MediaStreamTrack, MessageEvent, Worker, WorkerOptions, WorkerType,
};

pub use engine::{EffectsStats, SourceKind, StageMs, Thread};
pub use error::EffectsError;
pub use load::{fetch_bytes, load_pipeline, ModelUrls, Progress};
pub use settings::{
    BackgroundSetting, EffectSettings, EffectsConfig, FrameSource, Mode, Segmenter, WorkerOutput,
    MAX_BLUR_RADIUS, MAX_FEATHER_RADIUS, MAX_MASK_SMOOTHING,
};

use bindings::{global_has, has, now, AnyCanvas, FrameCallbackVideo, MediaStreamTrackProcessor};
use engine::Engine;
use runner::{Runner, StartSpec};
use source::{Report, Sink};
use worker::{envelope, open_envelope, FromWorker, ToWorker};

/// What the effects report while they run.
#[derive(Debug, Clone, PartialEq)]
pub enum EffectsEvent {
    /// Model bytes fetched so far.
    Progress(Progress),
    /// The models are loaded (milliseconds since the load started); the
    /// effects are drawn from the next frame on.
    Loaded {
        /// Fetch and load time.
        ms: f64,
    },
    /// Rates and timings over the last stats interval.
    Stats(EffectsStats),
    /// Something failed; the video goes on (unprocessed, if need be).
    Error(EffectsError),
}

/// A value set once, awaited by any number of callers.
struct Latch<T: Clone> {
    value: RefCell<Option<Result<T, EffectsError>>>,
    waiters: RefCell<Vec<oneshot::Sender<Result<T, EffectsError>>>>,
}

impl<T: Clone> Latch<T> {
    fn new() -> Self {
        Self {
            value: RefCell::new(None),
            waiters: RefCell::new(Vec::new()),
        }
    }

    /// Sets the value, unless it is already set.
    fn set(&self, value: Result<T, EffectsError>) {
        if self.value.borrow().is_some() {
            return;
        }
        *self.value.borrow_mut() = Some(value.clone());
        for waiter in self.waiters.borrow_mut().drain(..) {
            let _ = waiter.send(value.clone());
        }
    }

    async fn wait(&self) -> Result<T, EffectsError> {
        if let Some(value) = self.value.borrow().clone() {
            return value;
        }
        let (tx, rx) = oneshot::channel();
        self.waiters.borrow_mut().push(tx);
        rx.await.unwrap_or(Err(EffectsError::Stopped))
    }
}

/// The page's side of the bitmap path: at most one bitmap at the worker
/// and one waiting; a newer frame replaces the waiting one.
#[derive(Default)]
struct PageFrames {
    in_flight: bool,
    waiting: Option<ImageBitmap>,
    arrived: u64,
    dropped: u64,
    main_ms: f64,
}

enum Backend {
    /// The worker, with the messages held until it is ready.
    Worker {
        worker: Worker,
        ready: bool,
        held: Vec<(JsValue, Array)>,
        frames: Rc<RefCell<PageFrames>>,
        _on_message: Closure<dyn FnMut(MessageEvent)>,
        _on_error: Closure<dyn FnMut(web_sys::Event)>,
    },
    Main {
        runner: Rc<RefCell<Runner>>,
    },
    Stopped,
}

/// A `<video>` element playing the camera, calling back on each frame.
/// The frame callback of a [`VideoTap`], which re-requests itself through
/// this slot; emptying the slot ends it.
type FrameCallbackSlot = Rc<RefCell<Option<Closure<dyn FnMut(JsValue, JsValue)>>>>;

struct VideoTap {
    video: HtmlVideoElement,
    callback: FrameCallbackSlot,
    interval: Option<i32>,
}

impl VideoTap {
    fn stop(self) {
        let window = web_sys::window();
        if let (Some(window), Some(id)) = (&window, self.interval) {
            window.clear_interval_with_handle(id);
        }
        // Taking the closure breaks its self-reference; a callback already
        // requested finds it gone and does nothing.
        self.callback.borrow_mut().take();
        self.video.set_src_object(None);
        self.video.remove();
    }
}

/// What one `apply` set up on the page.
struct Applied {
    output: MediaStreamTrack,
    video: Option<VideoTap>,
}

struct Inner {
    config: EffectsConfig,
    urls: ModelUrls,
    events: UnboundedSender<EffectsEvent>,
    backend: RefCell<Backend>,
    booted: Latch<()>,
    loaded: Latch<f64>,
    settings: RefCell<EffectSettings>,
    image: RefCell<Option<JsValue>>,
    applied: RefCell<Option<Applied>>,
    stopped: Cell<bool>,
    /// The output canvas's `bitmaprenderer`, when the worker sends frames
    /// back rather than drawing on a transferred canvas.
    renderer: RefCell<Option<ImageBitmapRenderingContext>>,
    /// Page time spent presenting those frames since the last stats:
    /// (milliseconds, frames).
    present_ms: Cell<(f64, u64)>,
}

/// Live effects on camera streams. See the module docs.
pub struct Effects {
    inner: Rc<Inner>,
}

impl std::fmt::Debug for Effects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Effects")
            .field("config", &self.inner.config)
            .field("thread", &self.thread())
            .finish_non_exhaustive()
    }
}

/// How long the worker may take to start before the effects move to the
/// main thread.
const WORKER_BOOT_TIMEOUT_MS: u32 = 20_000;

/// The largest number of unread frames a processor keeps.
const PROCESSOR_BUFFER: u32 = 2;

/// `url` made absolute against the page (a worker would resolve it
/// against its own script URL).
fn resolve(url: &str) -> String {
    let page = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.base_uri().ok().flatten());
    match page {
        Some(page) => web_sys::Url::new_with_base(url, &page)
            .map(|u| u.href())
            .unwrap_or_else(|_| url.to_owned()),
        None => url.to_owned(),
    }
}

/// Why a worker cannot be used here, if it cannot.
fn worker_unavailable() -> Option<String> {
    for feature in ["Worker", "OffscreenCanvas"] {
        if !global_has(feature) {
            return Some(format!("this browser has no {feature}"));
        }
    }
    let glue = bindings::GLUE_URL.with(JsValue::clone);
    if glue.as_string().is_none() {
        return Some("the worker needs the wasm-bindgen `--target web` build".into());
    }
    None
}

impl Effects {
    /// Starts the effects and begins loading the models. Events (progress,
    /// loaded, stats, errors) arrive on the receiver.
    pub fn new(
        config: EffectsConfig,
    ) -> Result<(Self, UnboundedReceiver<EffectsEvent>), EffectsError> {
        config.settings.to_options()?;
        let (events_tx, events) = mpsc::unbounded();
        let urls = match &config.models {
            Some(urls) => ModelUrls {
                detector: resolve(&urls.detector),
                mesh: resolve(&urls.mesh),
                segmenter: resolve(&urls.segmenter),
            },
            None => {
                let base = if config.model_base.ends_with('/') {
                    config.model_base.clone()
                } else {
                    format!("{}/", config.model_base)
                };
                ModelUrls::under(&resolve(&base), config.segmenter.into())
            }
        };
        let inner = Rc::new(Inner {
            settings: RefCell::new(config.settings.clone()),
            config,
            urls,
            events: events_tx,
            backend: RefCell::new(Backend::Stopped),
            booted: Latch::new(),
            loaded: Latch::new(),
            image: RefCell::new(None),
            applied: RefCell::new(None),
            stopped: Cell::new(false),
            renderer: RefCell::new(None),
            present_ms: Cell::new((0.0, 0)),
        });
        let effects = Self { inner };
        let unavailable = match effects.inner.config.mode {
            Mode::Main => Some(None),
            Mode::Worker => worker_unavailable().map(Some),
        };
        match unavailable {
            None => {
                if let Err(reason) = effects.start_worker() {
                    effects.inner.to_main(Some(reason));
                }
            }
            Some(reason) => effects.inner.to_main(reason),
        }
        Ok((effects, events))
    }

    /// Starts the effects and waits for the models: fails with a typed
    /// error when one cannot be fetched or does not load.
    pub async fn load(
        config: EffectsConfig,
    ) -> Result<(Self, UnboundedReceiver<EffectsEvent>), EffectsError> {
        let (effects, events) = Self::new(config)?;
        effects.loaded().await?;
        Ok((effects, events))
    }

    /// Waits for the models; returns the load time in milliseconds.
    pub async fn loaded(&self) -> Result<f64, EffectsError> {
        self.inner.loaded.wait().await
    }

    /// Where the frames are processed (the main thread until the worker
    /// has started, and for good if it could not).
    pub fn thread(&self) -> Thread {
        match &*self.inner.backend.borrow() {
            Backend::Worker { ready: true, .. } => Thread::Worker,
            _ => Thread::Main,
        }
    }

    fn start_worker(&self) -> Result<(), String> {
        // A `blob:` URL made once per page (or, with wasm-bindgen's
        // `--split-linked-modules`, a file next to the module); never
        // revoked, since later workers reuse it.
        let url = wasm_bindgen::link_to!(module = "/src/effects/worker.js");
        let options = WorkerOptions::new();
        options.set_type(WorkerType::Module);
        options.set_name("peerlens-effects");
        let worker = Worker::new_with_options(&url, &options).map_err(|e| {
            format!(
                "cannot start the worker: {}",
                crate::JsErrorInfo::from_js(&e)
            )
        })?;
        let weak = Rc::downgrade(&self.inner);
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            if let Some(inner) = weak.upgrade() {
                inner.from_worker(event.data());
            }
        });
        let weak = Rc::downgrade(&self.inner);
        let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
            let message = js_sys::Reflect::get(&event, &"message".into())
                .ok()
                .and_then(|m| m.as_string())
                .unwrap_or_else(|| "the worker script failed".into());
            if let Some(inner) = weak.upgrade() {
                inner.worker_failed(message);
            }
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        let boot = js_sys::Object::new();
        let glue = bindings::GLUE_URL.with(JsValue::clone);
        let _ = js_sys::Reflect::set(&boot, &"glue".into(), &glue);
        let _ = js_sys::Reflect::set(&boot, &"module".into(), &wasm_bindgen::module());
        worker.post_message(&boot).map_err(|e| {
            format!(
                "cannot start the worker: {}",
                crate::JsErrorInfo::from_js(&e)
            )
        })?;
        *self.inner.backend.borrow_mut() = Backend::Worker {
            worker,
            ready: false,
            held: Vec::new(),
            frames: Rc::default(),
            _on_message: on_message,
            _on_error: on_error,
        };
        let settings = ToWorker::Settings {
            settings: self.inner.settings.borrow().clone(),
            has_image: false,
        };
        self.inner.post(&settings, &[], &[]);
        let load = ToWorker::Load {
            urls: self.inner.urls.clone(),
            segmenter: self.inner.config.segmenter,
        };
        self.inner.post(&load, &[], &[]);
        let weak = Rc::downgrade(&self.inner);
        spawn_local(async move {
            gloo_timers::future::TimeoutFuture::new(WORKER_BOOT_TIMEOUT_MS).await;
            if let Some(inner) = weak.upgrade() {
                let waiting = matches!(
                    &*inner.backend.borrow(),
                    Backend::Worker { ready: false, .. }
                );
                if waiting {
                    inner.worker_failed(format!(
                        "the worker did not start within {} s",
                        WORKER_BOOT_TIMEOUT_MS / 1000
                    ));
                }
            }
        });
        Ok(())
    }

    /// Changes the effects from the next frame on, without renegotiation.
    pub fn set_settings(&self, settings: EffectSettings) -> Result<(), EffectsError> {
        self.inner.set_settings(settings, None)
    }

    /// Sets the background image used by [`BackgroundSetting::Replace`]
    /// (any `ImageBitmapSource`: an image, canvas, bitmap, blob...).
    pub async fn set_background_image(&self, image: &JsValue) -> Result<(), EffectsError> {
        let bitmap: ImageBitmap = match image.dyn_ref::<ImageBitmap>() {
            Some(bitmap) => bitmap.clone(),
            None => {
                let promise = create_image_bitmap(image)
                    .map_err(|e| EffectsError::browser("reading the background image", &e))?;
                JsFuture::from(promise)
                    .await
                    .map_err(|e| EffectsError::browser("reading the background image", &e))?
                    .unchecked_into()
            }
        };
        let settings = self.inner.settings.borrow().clone();
        self.inner.set_settings(settings, Some(bitmap.into()))
    }

    /// The current settings.
    pub fn settings(&self) -> EffectSettings {
        self.inner.settings.borrow().clone()
    }

    /// Processes `stream`'s first video track. The returned stream carries
    /// the output canvas's video and `stream`'s audio tracks, unchanged.
    /// Applying again replaces the previous output (whose track ends).
    pub async fn apply(&self, stream: &MediaStream) -> Result<MediaStream, EffectsError> {
        let inner = &self.inner;
        if inner.stopped.get() {
            return Err(EffectsError::Stopped);
        }
        inner.booted.wait().await?;
        let track: MediaStreamTrack = stream
            .get_video_tracks()
            .get(0)
            .dyn_into()
            .map_err(|_| EffectsError::NoVideoTrack)?;
        inner.detach();
        let (width, height, fps) = track_geometry(&track);
        let document = web_sys::window()
            .and_then(|w| w.document())
            .ok_or_else(|| EffectsError::Unsupported("effects need a page (a document)".into()))?;
        let canvas: HtmlCanvasElement = document
            .create_element("canvas")
            .map_err(|e| EffectsError::browser("creating the output canvas", &e))?
            .unchecked_into();
        canvas.set_width(width);
        canvas.set_height(height);
        let processor = (inner.config.frame_source == FrameSource::Auto
            && global_has("MediaStreamTrackProcessor"))
        .then(|| MediaStreamTrackProcessor::for_track(&track, PROCESSOR_BUFFER).ok())
        .flatten();

        let worker_mode = matches!(&*inner.backend.borrow(), Backend::Worker { .. });
        let output;
        let video = if worker_mode {
            // Where the page cannot capture a transferred canvas (or the app
            // asks for it), the worker draws on its own canvas and sends the
            // frames back as bitmaps.
            let offscreen = if inner.config.worker_output == WorkerOutput::Transferred
                && captures_transferred_canvas()
            {
                Some(canvas.transfer_control_to_offscreen().map_err(|e| {
                    EffectsError::browser("transferring the canvas to the worker", &e)
                })?)
            } else {
                None
            };
            let readable = processor.as_ref().map(|p| p.readable());
            let source = if readable.is_some() {
                SourceKind::Processor
            } else {
                SourceKind::Bitmap
            };
            let start = ToWorker::Start {
                source,
                fps,
                stats_interval_ms: inner.config.stats_interval_ms,
                width,
                height,
            };
            let mut objects: Vec<(&str, JsValue)> = Vec::new();
            match offscreen {
                Some(offscreen) => objects.push(("canvas", offscreen.into())),
                None => {
                    let renderer = canvas
                        .get_context("bitmaprenderer")
                        .ok()
                        .flatten()
                        .and_then(|c| c.dyn_into::<ImageBitmapRenderingContext>().ok())
                        .ok_or_else(|| {
                            EffectsError::Unsupported(
                                "neither a transferable canvas nor a bitmaprenderer context".into(),
                            )
                        })?;
                    *inner.renderer.borrow_mut() = Some(renderer);
                }
            }
            if let Some(readable) = readable {
                objects.push(("readable", readable.into()));
            }
            let named: Vec<(&str, &JsValue)> = objects.iter().map(|(n, o)| (*n, o)).collect();
            let transfer: Vec<&JsValue> = objects.iter().map(|(_, o)| o).collect();
            inner.post(&start, &named, &transfer);
            // After the transfer: Firefox refuses to transfer a canvas
            // that is already captured.
            output = capture(&canvas)?;
            match source {
                SourceKind::Processor => None,
                _ => Some(inner.bitmap_tap(&document, &track, fps)?),
            }
        } else {
            let runner = match &*inner.backend.borrow() {
                Backend::Main { runner } => runner.clone(),
                _ => return Err(EffectsError::Stopped),
            };
            let readable = processor.as_ref().map(|p| p.readable());
            let source = if readable.is_some() {
                SourceKind::Processor
            } else {
                SourceKind::Video
            };
            output = capture(&canvas)?;
            let canvas: AnyCanvas = canvas.clone().unchecked_into();
            let engine = runner.borrow_mut().start(
                StartSpec {
                    canvas,
                    thread: Thread::Main,
                    source,
                    fps,
                    stats_interval_ms: inner.config.stats_interval_ms,
                    readable,
                    present: None,
                },
                inner.sink(),
            )?;
            match source {
                SourceKind::Processor => None,
                _ => Some(inner.video_tap(&document, &track, fps, engine)?),
            }
        };

        let tracks = Array::of1(&output);
        for audio in stream.get_audio_tracks().iter() {
            tracks.push(&audio);
        }
        let out = MediaStream::new_with_tracks(&tracks)
            .map_err(|e| EffectsError::browser("building the output stream", &e))?;
        *inner.applied.borrow_mut() = Some(Applied { output, video });
        Ok(out)
    }

    /// Stops the effects: ends the worker, the output track and the frame
    /// callbacks. The caller's own tracks keep running.
    pub fn stop(&self) {
        self.inner.stop();
    }
}

impl Drop for Effects {
    fn drop(&mut self) {
        self.inner.stop();
    }
}

/// Whether this browser can capture a canvas whose control went to a
/// worker (Chromium can; Firefox cannot). Tried once on a scratch canvas.
fn captures_transferred_canvas() -> bool {
    thread_local! {
        static CAN: bool = (|| {
            let document = web_sys::window()?.document()?;
            let canvas: HtmlCanvasElement = document.create_element("canvas").ok()?.unchecked_into();
            let _offscreen = canvas.transfer_control_to_offscreen().ok()?;
            let track = capture(&canvas).ok()?;
            track.stop();
            Some(())
        })()
        .is_some();
    }
    CAN.with(|can| *can)
}

/// The video track of `canvas.captureStream()`: a new frame each time the
/// canvas is drawn, so at the source's rate.
fn capture(canvas: &HtmlCanvasElement) -> Result<MediaStreamTrack, EffectsError> {
    let captured = canvas
        .capture_stream()
        .map_err(|e| EffectsError::browser("capturing the output canvas", &e))?;
    captured
        .get_video_tracks()
        .get(0)
        .dyn_into()
        .map_err(|_| EffectsError::Unsupported("canvas.captureStream() gave no track".into()))
}

/// The size and frame rate a track delivers, with 640x480 at 30 fps for
/// what it does not say.
fn track_geometry(track: &MediaStreamTrack) -> (u32, u32, f64) {
    let settings = track.get_settings();
    let get = |key: &str| {
        js_sys::Reflect::get(&settings, &key.into())
            .ok()
            .and_then(|v| v.as_f64())
            .filter(|v| v.is_finite() && *v > 0.0)
    };
    (
        get("width").map_or(640, |v| v as u32),
        get("height").map_or(480, |v| v as u32),
        get("frameRate").unwrap_or(30.0),
    )
}

/// `createImageBitmap(source)` on the page.
fn create_image_bitmap(source: &JsValue) -> Result<js_sys::Promise, JsValue> {
    let global = js_sys::global();
    let create: js_sys::Function =
        js_sys::Reflect::get(&global, &"createImageBitmap".into())?.dyn_into()?;
    create.call1(&global, source)?.dyn_into()
}

/// A hidden `<video>` playing `track`, in the document (browsers may not
/// call back for a detached one).
fn hidden_video(
    document: &web_sys::Document,
    track: &MediaStreamTrack,
) -> Result<HtmlVideoElement, EffectsError> {
    let fail = |e: JsValue| EffectsError::browser("playing the camera in a video element", &e);
    let video: HtmlVideoElement = document
        .create_element("video")
        .map_err(fail)?
        .unchecked_into();
    video.set_muted(true);
    video.set_autoplay(true);
    let _ = video.set_attribute("playsinline", "");
    let _ = video.set_attribute(
        "style",
        "position:fixed;left:0;top:0;width:2px;height:2px;opacity:0;pointer-events:none",
    );
    let only_video = MediaStream::new_with_tracks(&Array::of1(track)).map_err(fail)?;
    video.set_src_object(Some(&only_video));
    let parent = document
        .body()
        .map(web_sys::Node::from)
        .or_else(|| document.document_element().map(web_sys::Node::from))
        .ok_or_else(|| EffectsError::Unsupported("the document has no body".into()))?;
    parent.append_child(&video).map_err(fail)?;
    let _ = video.play();
    Ok(video)
}

impl Inner {
    fn sink(self: &Rc<Self>) -> Sink {
        let events = self.events.clone();
        Rc::new(move |report| {
            let event = match report {
                Report::Stats(stats) => EffectsEvent::Stats(stats),
                Report::Error(error) => EffectsEvent::Error(error),
            };
            let _ = events.unbounded_send(event);
        })
    }

    fn emit(&self, event: EffectsEvent) {
        let _ = self.events.unbounded_send(event);
    }

    /// Posts to the worker, or holds the message until it is ready.
    fn post(&self, message: &ToWorker, objects: &[(&str, &JsValue)], transfer: &[&JsValue]) {
        let envelope = match envelope(message, objects) {
            Ok(envelope) => envelope,
            Err(e) => {
                self.emit(EffectsEvent::Error(EffectsError::browser(
                    "encoding a message for the worker",
                    &e,
                )));
                return;
            }
        };
        let transfer: Array = transfer.iter().copied().collect();
        if let Backend::Worker {
            worker,
            ready,
            held,
            ..
        } = &mut *self.backend.borrow_mut()
        {
            if *ready {
                if let Err(e) = worker.post_message_with_transfer(&envelope, &transfer) {
                    self.emit(EffectsEvent::Error(EffectsError::browser(
                        "sending to the worker",
                        &e,
                    )));
                }
            } else {
                held.push((envelope, transfer));
            }
        }
    }

    fn from_worker(self: &Rc<Self>, data: JsValue) {
        let message = match open_envelope::<FromWorker>(&data) {
            Ok(message) => message,
            Err(reason) => {
                self.emit(EffectsEvent::Error(EffectsError::Worker(format!(
                    "the page got a message it does not understand: {reason}"
                ))));
                return;
            }
        };
        match message {
            FromWorker::Ready => {
                if let Backend::Worker {
                    worker,
                    ready,
                    held,
                    ..
                } = &mut *self.backend.borrow_mut()
                {
                    *ready = true;
                    for (envelope, transfer) in held.drain(..) {
                        let _ = worker.post_message_with_transfer(&envelope, &transfer);
                    }
                }
                self.booted.set(Ok(()));
            }
            FromWorker::BootError { message } => self.worker_failed(message),
            FromWorker::Progress(p) => self.emit(EffectsEvent::Progress(p)),
            FromWorker::Loaded { ms } => {
                self.loaded.set(Ok(ms));
                self.emit(EffectsEvent::Loaded { ms });
            }
            FromWorker::LoadFailed(e) => {
                self.loaded.set(Err(e.clone()));
                self.emit(EffectsEvent::Error(e));
            }
            FromWorker::Stats(mut stats) => {
                let (ms, frames) = self.present_ms.replace((0.0, 0));
                if frames > 0 {
                    stats.main_thread_ms += ms / frames as f64;
                }
                self.emit(EffectsEvent::Stats(stats));
            }
            FromWorker::Frame => {
                let t0 = now();
                if let Some(bitmap) = worker::object_of(&data, "bitmap") {
                    let bitmap: ImageBitmap = bitmap.unchecked_into();
                    match &*self.renderer.borrow() {
                        Some(renderer) => renderer.transfer_from_image_bitmap(&bitmap),
                        None => bitmap.close(),
                    }
                }
                let (ms, frames) = self.present_ms.get();
                self.present_ms.set((ms + now() - t0, frames + 1));
            }
            FromWorker::Error(e) => self.emit(EffectsEvent::Error(e)),
            FromWorker::FrameDone => {
                let frames = match &*self.backend.borrow() {
                    Backend::Worker { frames, .. } => frames.clone(),
                    _ => return,
                };
                frames.borrow_mut().in_flight = false;
                let waiting = frames.borrow_mut().waiting.take();
                if let Some(bitmap) = waiting {
                    self.send_bitmap(&frames, bitmap);
                }
            }
        }
    }

    /// The worker could not start (or died before it was ready): the
    /// effects move to the main thread. After it was ready, the canvas is
    /// the worker's, so the failure is reported and the video stops
    /// updating; `apply` again to recover.
    fn worker_failed(self: &Rc<Self>, reason: String) {
        let ready = match &*self.backend.borrow() {
            Backend::Worker { ready, .. } => *ready,
            _ => return,
        };
        if ready {
            self.emit(EffectsEvent::Error(EffectsError::Worker(reason)));
            return;
        }
        if let Backend::Worker { worker, .. } = &*self.backend.borrow() {
            worker.terminate();
        }
        self.to_main(Some(reason));
    }

    /// Runs everything on the main thread from now on. `reason` is why the
    /// worker was not used, when it was wanted.
    fn to_main(self: &Rc<Self>, reason: Option<String>) {
        let runner: Rc<RefCell<Runner>> = Rc::default();
        runner
            .borrow_mut()
            .set_settings(self.settings.borrow().clone(), self.image.borrow().clone());
        *self.backend.borrow_mut() = Backend::Main {
            runner: runner.clone(),
        };
        if let Some(reason) = reason {
            self.emit(EffectsEvent::Error(EffectsError::Worker(reason)));
        }
        self.booted.set(Ok(()));
        let weak: Weak<Inner> = Rc::downgrade(self);
        let urls = self.urls.clone();
        let segmenter = self.config.segmenter;
        let events = self.events.clone();
        spawn_local(async move {
            let result = Runner::load(&runner, &urls, segmenter, &mut |p| {
                let _ = events.unbounded_send(EffectsEvent::Progress(p));
            })
            .await;
            if let Some(inner) = weak.upgrade() {
                match &result {
                    Ok(ms) => inner.emit(EffectsEvent::Loaded { ms: *ms }),
                    Err(e) => inner.emit(EffectsEvent::Error(e.clone())),
                }
                inner.loaded.set(result);
            }
        });
    }

    fn set_settings(
        &self,
        settings: EffectSettings,
        image: Option<JsValue>,
    ) -> Result<(), EffectsError> {
        if self.stopped.get() {
            return Err(EffectsError::Stopped);
        }
        settings.to_options()?;
        *self.settings.borrow_mut() = settings.clone();
        if let Some(image) = &image {
            *self.image.borrow_mut() = Some(image.clone());
        }
        let main = match &*self.backend.borrow() {
            Backend::Main { runner } => Some(runner.clone()),
            _ => None,
        };
        match main {
            Some(runner) => runner.borrow_mut().set_settings(settings, image),
            None => {
                let message = ToWorker::Settings {
                    settings,
                    has_image: image.is_some(),
                };
                match &image {
                    // Cloned, not transferred: the app keeps its bitmap.
                    Some(image) => self.post(&message, &[("image", image)], &[]),
                    None => self.post(&message, &[], &[]),
                }
            }
        }
        Ok(())
    }

    /// Sends one bitmap with the page's counts, or keeps it waiting while
    /// the worker is busy (closing the one it replaces).
    fn send_bitmap(&self, frames: &Rc<RefCell<PageFrames>>, bitmap: ImageBitmap) {
        let mut f = frames.borrow_mut();
        if f.in_flight {
            if let Some(older) = f.waiting.replace(bitmap) {
                older.close();
                f.dropped += 1;
            }
            return;
        }
        f.in_flight = true;
        let message = ToWorker::Frame {
            arrived: std::mem::take(&mut f.arrived),
            dropped: std::mem::take(&mut f.dropped),
            main_ms: std::mem::take(&mut f.main_ms),
        };
        drop(f);
        let bitmap: JsValue = bitmap.into();
        self.post(&message, &[("bitmap", &bitmap)], &[&bitmap]);
    }

    /// The bitmap path: each camera frame of a hidden video becomes an
    /// `ImageBitmap` for the worker.
    fn bitmap_tap(
        self: &Rc<Self>,
        document: &web_sys::Document,
        track: &MediaStreamTrack,
        fps: f64,
    ) -> Result<VideoTap, EffectsError> {
        let frames = match &*self.backend.borrow() {
            Backend::Worker { frames, .. } => frames.clone(),
            _ => return Err(EffectsError::Stopped),
        };
        *frames.borrow_mut() = PageFrames::default();
        let weak = Rc::downgrade(self);
        self.tap(document, track, fps, move |video, gap| {
            let t0 = now();
            {
                let mut f = frames.borrow_mut();
                f.arrived += 1 + gap;
                f.dropped += gap;
            }
            let Ok(promise) = create_image_bitmap(video) else {
                return;
            };
            let weak = weak.clone();
            let task_frames = frames.clone();
            spawn_local(async move {
                let frames = task_frames;
                let t1 = now();
                let Ok(bitmap) = JsFuture::from(promise).await else {
                    return;
                };
                let bitmap: ImageBitmap = bitmap.unchecked_into();
                match weak.upgrade() {
                    Some(inner) if !inner.stopped.get() => {
                        inner.send_bitmap(&frames, bitmap);
                        frames.borrow_mut().main_ms += now() - t1;
                    }
                    _ => bitmap.close(),
                }
            });
            frames.borrow_mut().main_ms += now() - t0;
        })
    }

    /// Main-thread mode without a processor: each frame of a hidden video
    /// is drawn as it is presented.
    fn video_tap(
        self: &Rc<Self>,
        document: &web_sys::Document,
        track: &MediaStreamTrack,
        fps: f64,
        engine: Rc<RefCell<Engine>>,
    ) -> Result<VideoTap, EffectsError> {
        let sink = self.sink();
        self.tap(document, track, fps, move |video, gap| {
            let video: &HtmlVideoElement = video.unchecked_ref();
            let (w, h) = (video.video_width(), video.video_height());
            engine.borrow_mut().page_counts(1 + gap, gap, 0.0);
            Runner::draw(&engine, video, w, h, &sink);
        })
    }

    /// A hidden video of `track` calling `on_frame(video, frames_missed)`
    /// for each presented frame: by `requestVideoFrameCallback`, or by a
    /// timer at the track's frame rate where there is none.
    fn tap(
        &self,
        document: &web_sys::Document,
        track: &MediaStreamTrack,
        fps: f64,
        mut on_frame: impl FnMut(&JsValue, u64) + 'static,
    ) -> Result<VideoTap, EffectsError> {
        let video = hidden_video(document, track)?;
        let callback: FrameCallbackSlot = Rc::default();
        let with_rvfc = has(&video, "requestVideoFrameCallback");
        let slot = Rc::downgrade(&callback);
        let element = video.clone();
        let mut last_presented: Option<f64> = None;
        let closure =
            Closure::<dyn FnMut(JsValue, JsValue)>::new(move |_now: JsValue, metadata: JsValue| {
                let video: &JsValue = element.as_ref();
                let presented = js_sys::Reflect::get(&metadata, &"presentedFrames".into())
                    .ok()
                    .and_then(|v| v.as_f64());
                let gap = match (last_presented, presented) {
                    (Some(last), Some(now)) if now > last + 1.0 => (now - last - 1.0) as u64,
                    _ => 0,
                };
                if presented.is_some() {
                    last_presented = presented;
                }
                if with_rvfc || element.ready_state() >= 2 {
                    on_frame(video, gap);
                }
                if with_rvfc {
                    if let Some(callback) = slot.upgrade() {
                        if let Some(closure) = callback.borrow().as_ref() {
                            element
                                .unchecked_ref::<FrameCallbackVideo>()
                                .request_video_frame_callback(closure.as_ref().unchecked_ref());
                        }
                    }
                }
            });
        let mut interval = None;
        if with_rvfc {
            video
                .unchecked_ref::<FrameCallbackVideo>()
                .request_video_frame_callback(closure.as_ref().unchecked_ref());
        } else if let Some(window) = web_sys::window() {
            let period = (1000.0 / fps.clamp(1.0, 120.0)) as i32;
            interval = window
                .set_interval_with_callback_and_timeout_and_arguments_0(
                    closure.as_ref().unchecked_ref(),
                    period,
                )
                .ok();
        }
        *callback.borrow_mut() = Some(closure);
        Ok(VideoTap {
            video,
            callback,
            interval,
        })
    }

    /// Undoes the last `apply` on the page side.
    fn detach(&self) {
        self.renderer.borrow_mut().take();
        if let Some(applied) = self.applied.borrow_mut().take() {
            applied.output.stop();
            if let Some(video) = applied.video {
                video.stop();
            }
        }
        if let Backend::Worker { frames, .. } = &*self.backend.borrow() {
            if let Some(waiting) = frames.borrow_mut().waiting.take() {
                waiting.close();
            }
        }
    }

    fn stop(&self) {
        if self.stopped.replace(true) {
            return;
        }
        self.detach();
        match std::mem::replace(&mut *self.backend.borrow_mut(), Backend::Stopped) {
            Backend::Worker { worker, .. } => {
                worker.set_onmessage(None);
                worker.set_onerror(None);
                worker.terminate();
            }
            Backend::Main { runner } => runner.borrow_mut().stop(),
            Backend::Stopped => {}
        }
        self.booted.set(Err(EffectsError::Stopped));
        self.loaded.set(Err(EffectsError::Stopped));
    }
}
