//! Live effects on camera streams: face boxes and keypoints, the face mesh,
//! and background blur, replacement or removal, written frame by frame to
//! a track generator (or, where there is none, drawn on a canvas whose
//! `captureStream()` is the track peers receive).
//!
//! ```text
//! camera track ─┬─ (transferred) ─ worker: MediaStreamTrackProcessor ─┐
//!               ├─ MediaStreamTrackProcessor ─ VideoFrames (transferred) ┤
//!               └─ <video> + requestVideoFrameCallback ─ ImageBitmaps ───┤
//!                                effects worker: the vision module draws
//! output: worker VideoTrackGenerator's track (transferred back)
//!       | MediaStreamTrackGenerator on the page (its writable transferred)
//!       | canvas.captureStream() (last resort; throttled in hidden pages)
//! ```
//!
//! The generator paths do no per-frame work on the page and keep the
//! input's timestamps; they are not throttled when the page is hidden, so
//! the effects keep running at the camera's rate behind another tab.
//! [`Effects::path`] and the stats say which path runs.
//!
//! This is the page's side. The models, tract and the drawing live in the
//! vision module (`peerlens-vision-wasm`), a wasm of its own that this
//! module never links: [`Effects::new`] starts a dedicated worker
//! (`peerlens_worker.js`, created with `new Worker(new URL(...,
//! import.meta.url), { type: "module" })` so bundlers see it) that loads the
//! build of the vision module this browser can run (see [`vision`]).
//! With [`Mode::Main`], where workers or `OffscreenCanvas` are missing, or
//! when the worker fails to start, the vision module is loaded on the page
//! instead and driven by the same messages. Where no build can run (no
//! WebAssembly SIMD, or the files are missing) the effects fail with a
//! typed error and `apply` passes the camera through.
//!
//! The models are fetched where the vision module runs, with progress
//! events. [`Effects::apply`] returns the processed stream at once: frames
//! pass through unprocessed until the models are loaded, and for good if
//! they fail to load, so the video never waits on a download and never
//! stops. [`Effects::load`] is the same but waits for the models and fails
//! with a typed [`EffectsError`].
//!
//! Frames are never queued: while one is processed, newer ones replace the
//! waiting one, and the dropped frames are counted in the stats.

pub(crate) mod bindings;
pub mod vision;

use std::{
    cell::{Cell, RefCell},
    rc::{Rc, Weak},
};

use futures::channel::{
    mpsc::{self, UnboundedReceiver, UnboundedSender},
    oneshot,
};
use js_sys::Array;
use peerlens_core::messages::{
    envelope, object_of, open_envelope, FrameStart, FromWorker, ToWorker,
};
use wasm_bindgen::{closure::Closure, JsCast, JsValue};
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{
    CanvasRenderingContext2d, HtmlCanvasElement, HtmlVideoElement, ImageBitmap, MediaStream,
    MediaStreamTrack, MessageEvent, Worker,
};

pub use peerlens_core::{
    BackgroundSetting, EffectSettings, EffectsConfig, EffectsError, EffectsStats, FramePath,
    FrameSource, Mode, ModelUrls, OutputKind, Progress, Segmenter, SourceKind, StageMs, Thread,
    VisionBuild, WhenHidden, WorkerFrames, WorkerOutput, WorkerRole, MAX_BLUR_RADIUS,
    MAX_FEATHER_RADIUS, MAX_MASK_SMOOTHING,
};
pub use vision::{configure_vision, probed_build, VisionOptions};

use bindings::{
    global_has, has, now, FrameCallbackVideo, MediaStreamTrackGenerator, MediaStreamTrackProcessor,
};

/// What the effects report while they run. More kinds may come: match
/// with a wildcard arm.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
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
    /// The output stream's video track is now this one: with
    /// [`WhenHidden::Camera`] on a captured canvas, the camera's while the
    /// page is hidden, the canvas's again when it is shown. Senders of the
    /// output should send this track (`replace_track`).
    OutputTrack(MediaStreamTrack),
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

/// Where the page's messages go.
enum Endpoint {
    /// The effects worker.
    Worker {
        worker: Worker,
        /// The face worker, in two-worker mode.
        faces: Option<Worker>,
        _on_message: Closure<dyn FnMut(MessageEvent)>,
        _on_error: Closure<dyn FnMut(web_sys::Event)>,
    },
    /// The vision module on this page, still loading.
    PageLoading,
    /// The vision module's `EffectsHost` on this page.
    Page {
        host: JsValue,
        _reply: Closure<dyn FnMut(JsValue)>,
    },
}

enum Backend {
    /// A host of the vision module, with the messages held until it is
    /// ready.
    Host {
        endpoint: Endpoint,
        ready: bool,
        held: Vec<(JsValue, Array)>,
        frames: Rc<RefCell<PageFrames>>,
    },
    /// No build of the vision module runs here: `apply` passes the camera
    /// through.
    Unavailable,
    Stopped,
}

impl Backend {
    fn waiting(endpoint: Endpoint) -> Self {
        Self::Host {
            endpoint,
            ready: false,
            held: Vec::new(),
            frames: Rc::default(),
        }
    }
}

/// What a message is sent through, cloned out of the backend so that no
/// borrow is held while it is sent.
enum Sender {
    Worker(Worker),
    Page(JsValue),
}

impl Sender {
    fn send(&self, envelope: &JsValue, transfer: &Array) -> Result<(), JsValue> {
        match self {
            Self::Worker(worker) => worker.post_message_with_transfer(envelope, transfer),
            Self::Page(host) => {
                let post: js_sys::Function =
                    js_sys::Reflect::get(host, &"post".into())?.dyn_into()?;
                post.call1(host, envelope).map(drop)
            }
        }
    }
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
    /// `None` when the camera passes through (no vision module).
    path: Option<FramePath>,
    /// [`WhenHidden::Camera`] on a captured canvas.
    hidden_swap: Option<HiddenSwap>,
}

/// [`WhenHidden::Camera`] on a captured canvas: the output stream carries
/// a clone of the camera's track while the page is hidden.
struct HiddenSwap {
    document: web_sys::Document,
    camera: MediaStreamTrack,
    on_change: Closure<dyn FnMut()>,
}

impl HiddenSwap {
    /// Follows the page's visibility from now on (and swaps at once if
    /// the page is hidden already).
    fn start(
        inner: &Rc<Inner>,
        out: &MediaStream,
        canvas: &MediaStreamTrack,
        camera: &MediaStreamTrack,
    ) -> Option<Self> {
        let document = web_sys::window()?.document()?;
        let camera = MediaStreamTrack::clone(camera);
        let weak = Rc::downgrade(inner);
        // `Clone::clone`: the same JS objects (the inherent `clone()`s of
        // streams and tracks make new ones).
        let (out, canvas_track, camera_track, page) = (
            Clone::clone(out),
            Clone::clone(canvas),
            Clone::clone(&camera),
            document.clone(),
        );
        let on_change = move || {
            let (from, to) = if page.hidden() {
                (&canvas_track, &camera_track)
            } else {
                (&camera_track, &canvas_track)
            };
            if out.get_track_by_id(&from.id()).is_none() {
                return;
            }
            out.remove_track(from);
            out.add_track(to);
            if let Some(inner) = weak.upgrade() {
                inner.emit(EffectsEvent::OutputTrack(Clone::clone(to)));
            }
        };
        if document.hidden() {
            on_change();
        }
        let on_change = Closure::<dyn FnMut()>::new(on_change);
        document
            .add_event_listener_with_callback(
                "visibilitychange",
                on_change.as_ref().unchecked_ref(),
            )
            .ok()?;
        Some(Self {
            document,
            camera,
            on_change,
        })
    }

    fn stop(&self) {
        let _ = self.document.remove_event_listener_with_callback(
            "visibilitychange",
            self.on_change.as_ref().unchecked_ref(),
        );
        self.camera.stop();
    }
}

/// The worker's answer to a start with a `VideoTrackGenerator`.
type OutputReply = oneshot::Sender<Result<MediaStreamTrack, EffectsError>>;

/// How long `apply` waits for the worker's generator track before it
/// takes another path.
const OUTPUT_TIMEOUT_MS: u32 = 10_000;

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
    /// The build of the vision module that runs, and why it is not the one
    /// asked for, once a host said it is ready.
    build: RefCell<Option<(VisionBuild, Option<String>)>>,
    /// The output canvas's 2d context, when the worker sends frames back
    /// rather than drawing on a transferred canvas. Not a `bitmaprenderer`:
    /// WebKit's capture of one now and then carries only transparent
    /// frames for seconds (seen in the frame-path test).
    renderer: RefCell<Option<CanvasRenderingContext2d>>,
    /// Page time spent presenting those frames since the last stats:
    /// (milliseconds, frames).
    present_ms: Cell<(f64, u64)>,
    /// Whether the host can make a `VideoTrackGenerator` of a transferred
    /// track (it said so when ready).
    video_track_generator: Cell<bool>,
    /// Waiting for the worker's generator track.
    output_reply: RefCell<Option<OutputReply>>,
    /// Workers processing the frames (2 once a face worker started).
    workers: Cell<u32>,
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

/// Starts a face worker: the same bootstrap, told to wait for the
/// compiled module on a port. Returns the worker and the port's other end,
/// for the effects worker.
fn start_face_worker(build: VisionBuild) -> Result<(Worker, web_sys::MessagePort), JsValue> {
    let worker = vision::start_worker()?;
    let channel = web_sys::MessageChannel::new()?;
    let boot = js_sys::Object::new();
    js_sys::Reflect::set(&boot, &"build".into(), &build.as_str().into())?;
    js_sys::Reflect::set(&boot, &"port".into(), &channel.port2())?;
    if let Err(e) = worker.post_message_with_transfer(&boot, &Array::of1(&channel.port2())) {
        worker.terminate();
        return Err(e);
    }
    Ok((worker, channel.port1()))
}

/// The number of workers to use when the config leaves it open: two
/// where the machine has two cores or more.
fn default_workers() -> u32 {
    let cores = web_sys::window()
        .map(|w| w.navigator().hardware_concurrency())
        .unwrap_or(1.0);
    if cores >= 2.0 {
        2
    } else {
        1
    }
}

/// Why a worker cannot be used here, if it cannot.
fn worker_unavailable() -> Option<String> {
    for feature in ["Worker", "OffscreenCanvas"] {
        if !global_has(feature) {
            return Some(format!("this browser has no {feature}"));
        }
    }
    None
}

impl Effects {
    /// Starts the effects and begins loading the vision module and the
    /// models. Events (progress, loaded, stats, errors) arrive on the
    /// receiver.
    pub fn new(
        config: EffectsConfig,
    ) -> Result<(Self, UnboundedReceiver<EffectsEvent>), EffectsError> {
        config.settings.check()?;
        if let Some(n) = config.workers {
            if !(1..=2).contains(&n) {
                return Err(EffectsError::Options(format!(
                    "workers must be 1 or 2, not {n}"
                )));
            }
        }
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
                ModelUrls::under(&resolve(&base), config.segmenter)
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
            build: RefCell::new(None),
            renderer: RefCell::new(None),
            present_ms: Cell::new((0.0, 0)),
            video_track_generator: Cell::new(false),
            output_reply: RefCell::new(None),
            workers: Cell::new(1),
        });
        let effects = Self { inner };
        let build = match vision::chosen_build() {
            Ok(build) => build,
            Err(e) => {
                effects.inner.unavailable(e);
                return Ok((effects, events));
            }
        };
        let unavailable = match effects.inner.config.mode {
            Mode::Main => Some(None),
            Mode::Worker => worker_unavailable().map(Some),
        };
        match unavailable {
            None => {
                if let Err(reason) = effects.start_worker(build) {
                    effects.inner.to_main(Some(reason));
                }
            }
            Some(reason) => effects.inner.to_main(reason),
        }
        Ok((effects, events))
    }

    /// Starts the effects and waits for the models: fails with a typed
    /// error when the vision module or a model cannot be fetched or does
    /// not load.
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
            Backend::Host {
                endpoint: Endpoint::Worker { .. },
                ready: true,
                ..
            } => Thread::Worker,
            _ => Thread::Main,
        }
    }

    /// The way frames take through the effects since the last `apply`:
    /// how they come in and how they become the output track. `None`
    /// before `apply`, and while the camera passes through (no vision
    /// module).
    pub fn path(&self) -> Option<FramePath> {
        self.inner.applied.borrow().as_ref().and_then(|a| a.path)
    }

    /// How many workers process the frames: 2 when face tracking runs in
    /// a worker of its own, else 1 (the main thread counts as one).
    pub fn workers(&self) -> u32 {
        match self.thread() {
            Thread::Worker => self.inner.workers.get(),
            Thread::Main => 1,
        }
    }

    /// The build of the vision module that runs, once it runs, with the
    /// reason it is not the one asked for when it is not (the relaxed-SIMD
    /// build did not compile).
    pub fn vision_build(&self) -> Option<(VisionBuild, Option<String>)> {
        self.inner.build.borrow().clone()
    }

    fn start_worker(&self, build: VisionBuild) -> Result<(), String> {
        let worker = vision::start_worker().map_err(|e| {
            format!(
                "cannot start the worker: {}",
                crate::JsErrorInfo::from_js(&e)
            )
        })?;
        let weak = Rc::downgrade(&self.inner);
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            if let Some(inner) = weak.upgrade() {
                inner.from_host(event.data());
            }
        });
        let weak = Rc::downgrade(&self.inner);
        let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
            let message = js_sys::Reflect::get(&event, &"message".into())
                .ok()
                .and_then(|m| m.as_string())
                .unwrap_or_else(|| "the worker script failed to load".into());
            if let Some(inner) = weak.upgrade() {
                inner.worker_failed(message);
            }
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        // The bootstrap's one message: which build to load (from the
        // directory of the worker's own script).
        let boot = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&boot, &"build".into(), &build.as_str().into());
        worker.post_message(&boot).map_err(|e| {
            format!(
                "cannot start the worker: {}",
                crate::JsErrorInfo::from_js(&e)
            )
        })?;
        let faces = match self.inner.worker_count() {
            2 => match start_face_worker(build) {
                Ok((faces, port)) => Some((faces, port)),
                Err(e) => {
                    self.inner
                        .emit(EffectsEvent::Error(EffectsError::Worker(format!(
                            "cannot start the face worker, so one worker does everything: {}",
                            crate::JsErrorInfo::from_js(&e)
                        ))));
                    None
                }
            },
            _ => None,
        };
        let (faces, port) = faces.unzip();
        *self.inner.backend.borrow_mut() = Backend::waiting(Endpoint::Worker {
            worker,
            faces,
            _on_message: on_message,
            _on_error: on_error,
        });
        if let Some(port) = port {
            // Before the models load: the effects worker loads the face
            // models in the face worker.
            self.inner
                .post(&ToWorker::Helper, &[("port", &port)], &[&port]);
            self.inner.workers.set(2);
        }
        self.inner.post_setup();
        let weak = Rc::downgrade(&self.inner);
        spawn_local(async move {
            gloo_timers::future::TimeoutFuture::new(WORKER_BOOT_TIMEOUT_MS).await;
            if let Some(inner) = weak.upgrade() {
                let waiting = matches!(
                    &*inner.backend.borrow(),
                    Backend::Host {
                        endpoint: Endpoint::Worker { .. },
                        ready: false,
                        ..
                    }
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
    /// Where the vision module cannot run, the stream carries a clone of
    /// the camera's track, unprocessed.
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
        let in_worker = match &*inner.backend.borrow() {
            Backend::Host { endpoint, .. } => Some(matches!(endpoint, Endpoint::Worker { .. })),
            Backend::Unavailable => None,
            Backend::Stopped => return Err(EffectsError::Stopped),
        };
        let Some(in_worker) = in_worker else {
            // `MediaStreamTrack::clone` is the JS `clone()` (the inherent
            // method, not `Clone`): a track of its own, so stopping the
            // output leaves the caller's camera on.
            let output = MediaStreamTrack::clone(&track);
            return inner.output_stream(stream, output, None, None);
        };
        let generators = inner.config.worker_output == WorkerOutput::Generator
            && inner.config.frame_source == FrameSource::Auto;
        // The standard path: the camera track goes to the worker, whose
        // `VideoTrackGenerator` track comes back.
        if generators && in_worker && inner.video_track_generator.get() {
            match inner
                .apply_worker_generator(&track, fps, width, height)
                .await
            {
                Ok(output) => {
                    let path = FramePath {
                        input: SourceKind::Processor,
                        output: OutputKind::VideoTrackGenerator,
                    };
                    return inner.output_stream(stream, output, None, Some(path));
                }
                // Said, and another path taken.
                Err(e) => inner.emit(EffectsEvent::Error(e)),
            }
        }
        let processor = (inner.config.frame_source == FrameSource::Auto
            && global_has("MediaStreamTrackProcessor"))
        .then(|| MediaStreamTrackProcessor::for_track(&track, PROCESSOR_BUFFER).ok())
        .flatten();
        let readable = processor.as_ref().map(|p| p.readable());
        // Chromium's path: the page's processor feeds the host, which
        // writes to the page's generator.
        let generator = match (
            &readable,
            generators && global_has("MediaStreamTrackGenerator"),
        ) {
            (Some(_), true) => MediaStreamTrackGenerator::video().ok(),
            _ => None,
        };
        if let (Some(readable), Some((generator, output))) = (&readable, generator) {
            let start = inner.start_message(
                SourceKind::Processor,
                OutputKind::MediaStreamTrackGenerator,
                (width, height, fps),
            );
            let readable: JsValue = readable.clone().into();
            let writable = generator.writable();
            let objects = [("readable", &readable), ("writable", &writable)];
            // Transferred to a worker; on the page, handed over as they are.
            let transfer: Vec<&JsValue> = if in_worker {
                vec![&readable, &writable]
            } else {
                Vec::new()
            };
            inner.post(&start, &objects, &transfer);
            let path = FramePath {
                input: SourceKind::Processor,
                output: OutputKind::MediaStreamTrackGenerator,
            };
            return inner.output_stream(stream, output, None, Some(path));
        }
        inner.apply_canvas(stream, &track, readable, in_worker, (width, height, fps))
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
    /// The workers the config asks for (worker mode only).
    fn worker_count(&self) -> u32 {
        self.config.workers.unwrap_or_else(default_workers)
    }

    /// The message that sets up a frame path for a camera of `geometry`
    /// (width, height, fps).
    fn start_message(
        &self,
        source: SourceKind,
        output: OutputKind,
        (width, height, fps): (u32, u32, f64),
    ) -> ToWorker {
        ToWorker::Start(FrameStart {
            source,
            output,
            fps,
            stats_interval_ms: self.config.stats_interval_ms,
            width,
            height,
        })
    }

    /// The standard generator path: a clone of `track` goes to the worker,
    /// which reads it with a `MediaStreamTrackProcessor` and answers with
    /// its `VideoTrackGenerator`'s track.
    async fn apply_worker_generator(
        &self,
        track: &MediaStreamTrack,
        fps: f64,
        width: u32,
        height: u32,
    ) -> Result<MediaStreamTrack, EffectsError> {
        let (reply, answer) = oneshot::channel();
        *self.output_reply.borrow_mut() = Some(reply);
        let start = self.start_message(
            SourceKind::Processor,
            OutputKind::VideoTrackGenerator,
            (width, height, fps),
        );
        // The worker owns the clone; the caller keeps its camera.
        let camera: JsValue = MediaStreamTrack::clone(track).into();
        self.post(&start, &[("track", &camera)], &[&camera]);
        let timeout = gloo_timers::future::TimeoutFuture::new(OUTPUT_TIMEOUT_MS);
        match futures::future::select(answer, timeout).await {
            futures::future::Either::Left((Ok(track), _)) => track,
            futures::future::Either::Left((Err(_), _)) => Err(EffectsError::Stopped),
            futures::future::Either::Right(_) => {
                self.output_reply.borrow_mut().take();
                self.post(&ToWorker::Stop, &[], &[]);
                Err(EffectsError::Worker(format!(
                    "the worker sent no generator track within {} s",
                    OUTPUT_TIMEOUT_MS / 1000
                )))
            }
        }
    }

    /// The last resort: the host draws on a canvas the page captures
    /// (transferred to the worker, or the worker's frames drawn on its 2d
    /// context), reading `readable` or frames of a video element.
    fn apply_canvas(
        self: &Rc<Self>,
        stream: &MediaStream,
        track: &MediaStreamTrack,
        readable: Option<web_sys::ReadableStream>,
        in_worker: bool,
        (width, height, fps): (u32, u32, f64),
    ) -> Result<MediaStream, EffectsError> {
        let document = web_sys::window()
            .and_then(|w| w.document())
            .ok_or_else(|| EffectsError::Unsupported("effects need a page (a document)".into()))?;
        let canvas: HtmlCanvasElement = document
            .create_element("canvas")
            .map_err(|e| EffectsError::browser("creating the output canvas", &e))?
            .unchecked_into();
        canvas.set_width(width);
        canvas.set_height(height);
        let source = match (&readable, in_worker) {
            (Some(_), _) => SourceKind::Processor,
            (None, true) => SourceKind::Bitmap,
            (None, false) => SourceKind::Video,
        };
        let start = self.start_message(source, OutputKind::CanvasCapture, (width, height, fps));
        let mut objects: Vec<(&str, JsValue)> = Vec::new();
        let mut transfer: Vec<JsValue> = Vec::new();
        if in_worker {
            // Where the page cannot capture a transferred canvas (or the
            // app asks for bitmaps), the worker draws on its own canvas and
            // sends the frames back as bitmaps.
            if self.config.worker_output != WorkerOutput::Bitmaps && captures_transferred_canvas() {
                let offscreen = canvas.transfer_control_to_offscreen().map_err(|e| {
                    EffectsError::browser("transferring the canvas to the worker", &e)
                })?;
                objects.push(("canvas", offscreen.clone().into()));
                transfer.push(offscreen.into());
            } else {
                let renderer = canvas
                    .get_context("2d")
                    .ok()
                    .flatten()
                    .and_then(|c| c.dyn_into::<CanvasRenderingContext2d>().ok())
                    .ok_or_else(|| {
                        EffectsError::Unsupported(
                            "neither a transferable canvas nor a 2d context".into(),
                        )
                    })?;
                *self.renderer.borrow_mut() = Some(renderer);
            }
            if let Some(readable) = readable {
                objects.push(("readable", readable.clone().into()));
                transfer.push(readable.into());
            }
        } else {
            // On the page nothing is cloned: the host draws on this canvas
            // and reads this stream.
            objects.push(("canvas", canvas.clone().into()));
            if let Some(readable) = readable {
                objects.push(("readable", readable.into()));
            }
        }
        let named: Vec<(&str, &JsValue)> = objects.iter().map(|(n, o)| (*n, o)).collect();
        let transfer: Vec<&JsValue> = transfer.iter().collect();
        self.post(&start, &named, &transfer);
        // After the transfer: Firefox refuses to transfer a canvas that is
        // already captured.
        let output = capture(&canvas)?;
        let video = match source {
            SourceKind::Processor => None,
            SourceKind::Bitmap => Some(self.bitmap_tap(&document, track, fps)?),
            SourceKind::Video => Some(self.video_tap(&document, track, fps)?),
        };
        let path = FramePath {
            input: source,
            output: OutputKind::CanvasCapture,
        };
        self.output_stream(stream, output, video, Some(path))
    }

    fn emit(&self, event: EffectsEvent) {
        let _ = self.events.unbounded_send(event);
    }

    /// Posts to the host, or holds the message until it is ready.
    fn post(&self, message: &ToWorker, objects: &[(&str, &JsValue)], transfer: &[&JsValue]) {
        let envelope = match envelope(message, objects) {
            Ok(envelope) => envelope,
            Err(e) => {
                self.emit(EffectsEvent::Error(EffectsError::browser(
                    "encoding a message for the vision module",
                    &e,
                )));
                return;
            }
        };
        let transfer: Array = transfer.iter().copied().collect();
        let sender = match &mut *self.backend.borrow_mut() {
            Backend::Host {
                endpoint,
                ready,
                held,
                ..
            } => match (endpoint, *ready) {
                (Endpoint::Worker { worker, .. }, true) => Sender::Worker(worker.clone()),
                (Endpoint::Page { host, .. }, true) => Sender::Page(host.clone()),
                _ => {
                    held.push((envelope, transfer));
                    return;
                }
            },
            _ => return,
        };
        if let Err(e) = sender.send(&envelope, &transfer) {
            self.emit(EffectsEvent::Error(EffectsError::browser(
                "sending to the vision module",
                &e,
            )));
        }
    }

    /// The first messages to a new host: the settings (with the background
    /// image, if one was set) and the models to load.
    fn post_setup(&self) {
        let image = self.image.borrow().clone();
        let settings = ToWorker::Settings {
            settings: self.settings.borrow().clone(),
            has_image: image.is_some(),
        };
        match &image {
            Some(image) => self.post(&settings, &[("image", image)], &[]),
            None => self.post(&settings, &[], &[]),
        }
        let load = ToWorker::Load {
            urls: self.urls.clone(),
            segmenter: self.config.segmenter,
        };
        self.post(&load, &[], &[]);
    }

    /// The stream `apply` returns: `output` and `stream`'s audio tracks.
    fn output_stream(
        self: &Rc<Self>,
        stream: &MediaStream,
        output: MediaStreamTrack,
        video: Option<VideoTap>,
        path: Option<FramePath>,
    ) -> Result<MediaStream, EffectsError> {
        let tracks = Array::of1(&output);
        for audio in stream.get_audio_tracks().iter() {
            tracks.push(&audio);
        }
        let out = MediaStream::new_with_tracks(&tracks)
            .map_err(|e| EffectsError::browser("building the output stream", &e))?;
        let canvas = path.is_some_and(|p| p.output == OutputKind::CanvasCapture);
        let camera = stream
            .get_video_tracks()
            .get(0)
            .dyn_into::<MediaStreamTrack>();
        let hidden_swap = match camera {
            Ok(camera) if canvas && self.config.when_hidden == WhenHidden::Camera => {
                HiddenSwap::start(self, &out, &output, &camera)
            }
            _ => None,
        };
        *self.applied.borrow_mut() = Some(Applied {
            output,
            video,
            path,
            hidden_swap,
        });
        Ok(out)
    }

    fn from_host(self: &Rc<Self>, data: JsValue) {
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
            FromWorker::Ready {
                build,
                fallback,
                video_track_generator,
            } => {
                self.video_track_generator.set(video_track_generator);
                let (sender, held) = match &mut *self.backend.borrow_mut() {
                    Backend::Host {
                        endpoint,
                        ready,
                        held,
                        ..
                    } => {
                        *ready = true;
                        let sender = match endpoint {
                            Endpoint::Worker { worker, .. } => Sender::Worker(worker.clone()),
                            Endpoint::Page { host, .. } => Sender::Page(host.clone()),
                            Endpoint::PageLoading => return,
                        };
                        (sender, std::mem::take(held))
                    }
                    _ => return,
                };
                *self.build.borrow_mut() = Some((build, fallback));
                for (envelope, transfer) in held {
                    if let Err(e) = sender.send(&envelope, &transfer) {
                        self.emit(EffectsEvent::Error(EffectsError::browser(
                            "sending to the vision module",
                            &e,
                        )));
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
                // A face worker that did not start (or was given up on)
                // leaves one worker doing everything: the stats say so.
                if !stats.workers.is_empty() {
                    self.workers.set(stats.workers.len() as u32);
                }
                let (ms, frames) = self.present_ms.replace((0.0, 0));
                if frames > 0 {
                    stats.main_thread_ms += ms / frames as f64;
                }
                self.emit(EffectsEvent::Stats(stats));
            }
            FromWorker::Frame => {
                let t0 = now();
                if let Some(bitmap) = object_of(&data, "bitmap") {
                    let bitmap: ImageBitmap = bitmap.unchecked_into();
                    if let Some(renderer) = &*self.renderer.borrow() {
                        if let Some(canvas) = renderer.canvas() {
                            if canvas.width() != bitmap.width()
                                || canvas.height() != bitmap.height()
                            {
                                canvas.set_width(bitmap.width());
                                canvas.set_height(bitmap.height());
                            }
                        }
                        let _ = renderer.draw_image_with_image_bitmap(&bitmap, 0.0, 0.0);
                    }
                    bitmap.close();
                }
                let (ms, frames) = self.present_ms.get();
                self.present_ms.set((ms + now() - t0, frames + 1));
            }
            FromWorker::Error(e) => self.emit(EffectsEvent::Error(e)),
            FromWorker::Output { error } => {
                let track = match error {
                    Some(e) => Err(e),
                    None => object_of(&data, "track")
                        .and_then(|t| t.dyn_into::<MediaStreamTrack>().ok())
                        .ok_or_else(|| {
                            EffectsError::Worker("the worker sent no generator track".into())
                        }),
                };
                match self.output_reply.borrow_mut().take() {
                    Some(reply) => {
                        if let Err(Ok(track)) = reply.send(track) {
                            // `apply` gave up waiting: nobody will use it.
                            track.stop();
                        }
                    }
                    None => {
                        if let Ok(track) = track {
                            track.stop();
                        }
                    }
                }
            }
            FromWorker::FrameDone => {
                let frames = match &*self.backend.borrow() {
                    Backend::Host { frames, .. } => frames.clone(),
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
            Backend::Host {
                endpoint: Endpoint::Worker { .. },
                ready,
                ..
            } => *ready,
            _ => return,
        };
        if ready {
            self.emit(EffectsEvent::Error(EffectsError::Worker(reason)));
            return;
        }
        if let Backend::Host {
            endpoint: Endpoint::Worker { worker, faces, .. },
            ..
        } = &*self.backend.borrow()
        {
            worker.terminate();
            if let Some(faces) = faces {
                faces.terminate();
            }
        }
        self.workers.set(1);
        self.to_main(Some(reason));
    }

    /// Runs everything on the main thread from now on: loads the vision
    /// module on the page and drives it with the same messages. `reason`
    /// is why the worker was not used, when it was wanted.
    fn to_main(self: &Rc<Self>, reason: Option<String>) {
        *self.backend.borrow_mut() = Backend::waiting(Endpoint::PageLoading);
        if let Some(reason) = reason {
            self.emit(EffectsEvent::Error(EffectsError::Worker(reason)));
        }
        self.post_setup();
        let weak: Weak<Inner> = Rc::downgrade(self);
        spawn_local(async move {
            let loaded = vision::load_on_page().await;
            let Some(inner) = weak.upgrade() else {
                return;
            };
            if inner.stopped.get() {
                return;
            }
            let vision = match loaded {
                Ok(vision) => vision,
                Err(e) => return inner.unavailable(e),
            };
            let weak = Rc::downgrade(&inner);
            let reply = Closure::<dyn FnMut(JsValue)>::new(move |message: JsValue| {
                if let Some(inner) = weak.upgrade() {
                    inner.from_host(message);
                }
            });
            let host = js_sys::Reflect::get(&vision.module, &"EffectsHost".into())
                .and_then(|class| class.dyn_into::<js_sys::Function>())
                .and_then(|class| {
                    let fallback = vision.fallback.clone().map_or(JsValue::NULL, JsValue::from);
                    let args = Array::of2(reply.as_ref().unchecked_ref(), &fallback);
                    js_sys::Reflect::construct(&class, &args)
                });
            match host {
                Ok(host) => {
                    if let Backend::Host { endpoint, .. } = &mut *inner.backend.borrow_mut() {
                        *endpoint = Endpoint::Page {
                            host,
                            _reply: reply,
                        };
                    }
                }
                Err(e) => inner.unavailable(EffectsError::browser(
                    "starting the vision module on the page",
                    &e,
                )),
            }
        });
    }

    /// No build of the vision module can run: the effects fail with
    /// `error` and `apply` passes the camera through.
    fn unavailable(&self, error: EffectsError) {
        *self.backend.borrow_mut() = Backend::Unavailable;
        self.emit(EffectsEvent::Error(error.clone()));
        self.loaded.set(Err(error));
        self.booted.set(Ok(()));
    }

    fn set_settings(
        &self,
        settings: EffectSettings,
        image: Option<JsValue>,
    ) -> Result<(), EffectsError> {
        if self.stopped.get() {
            return Err(EffectsError::Stopped);
        }
        settings.check()?;
        *self.settings.borrow_mut() = settings.clone();
        if let Some(image) = &image {
            *self.image.borrow_mut() = Some(image.clone());
        }
        let message = ToWorker::Settings {
            settings,
            has_image: image.is_some(),
        };
        match &image {
            // Cloned, not transferred: the app keeps its bitmap.
            Some(image) => self.post(&message, &[("image", image)], &[]),
            None => self.post(&message, &[], &[]),
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
            Backend::Host { frames, .. } => frames.clone(),
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
    /// goes to the host on the page, which draws it as it is presented.
    fn video_tap(
        self: &Rc<Self>,
        document: &web_sys::Document,
        track: &MediaStreamTrack,
        fps: f64,
    ) -> Result<VideoTap, EffectsError> {
        let weak = Rc::downgrade(self);
        self.tap(document, track, fps, move |video, gap| {
            if let Some(inner) = weak.upgrade() {
                let message = ToWorker::Frame {
                    arrived: 1 + gap,
                    dropped: gap,
                    main_ms: 0.0,
                };
                inner.post(&message, &[("bitmap", video)], &[]);
            }
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
        self.output_reply.borrow_mut().take();
        let applied = self.applied.borrow_mut().take();
        if let Some(applied) = applied {
            if applied.path.is_some() {
                // The host stops writing before the output ends.
                self.post(&ToWorker::Stop, &[], &[]);
            }
            applied.output.stop();
            if let Some(video) = applied.video {
                video.stop();
            }
            if let Some(swap) = applied.hidden_swap {
                swap.stop();
            }
        }
        if let Backend::Host { frames, .. } = &*self.backend.borrow() {
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
            Backend::Host { endpoint, .. } => match endpoint {
                Endpoint::Worker { worker, faces, .. } => {
                    worker.set_onmessage(None);
                    worker.set_onerror(None);
                    worker.terminate();
                    if let Some(faces) = faces {
                        faces.terminate();
                    }
                }
                Endpoint::Page { host, .. } => {
                    // `free()` ends the host's frame path and its models.
                    if let Ok(free) = js_sys::Reflect::get(&host, &"free".into())
                        .and_then(|f| f.dyn_into::<js_sys::Function>())
                    {
                        let _ = free.call0(&host);
                    }
                }
                Endpoint::PageLoading => {}
            },
            Backend::Unavailable | Backend::Stopped => {}
        }
        self.booted.set(Err(EffectsError::Stopped));
        self.loaded.set(Err(EffectsError::Stopped));
    }
}
