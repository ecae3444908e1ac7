//! Where the page's messages are handled: in the effects worker (entered
//! by `worker.js` through [`__peerlens_effects_worker`]) or, in
//! main-thread mode, on the page (an [`EffectsHost`] the page side calls).
//! Either way the host loads the models, draws on the canvas it is given
//! and reports with [`FromWorker`] messages.
//!
//! On the page, nothing is structured-cloned: the canvas may be a canvas
//! element and a frame's `bitmap` the camera's video element. Replies are
//! delivered in a later microtask, so the page never handles one while it
//! is still sending.

use std::{cell::RefCell, rc::Rc};

use js_sys::Function;
use peerlens_core::messages::{
    envelope, object_of, open_envelope, FrameStart, FromWorker, ToWorker,
};
use wasm_bindgen::{prelude::*, JsCast};
use web_sys::{DedicatedWorkerGlobalScope, HtmlVideoElement, ImageBitmap, MessageEvent};

use crate::{
    bindings::{
        global_has, AnyCanvas, FrameWritable, MediaStreamTrackProcessor, VideoTrackGenerator,
    },
    engine::{Delivery, Engine, GeneratorSink},
    faces::FaceLink,
    runner::{Runner, StartSpec},
    source::{Report, Sink},
    EffectsError, OutputKind, Thread, VisionBuild,
};

/// Where a host's replies go.
#[derive(Clone)]
enum Outlet {
    /// The worker's global scope: `postMessage` to the page.
    Worker(DedicatedWorkerGlobalScope),
    /// The page's callback, called with each reply.
    Page(Function),
}

impl Outlet {
    /// Sends `message`, transferring the named object with it when given
    /// (a frame's `bitmap`, a generator's `track`).
    fn send(&self, message: &FromWorker, object: Option<(&str, &JsValue)>) {
        let objects: Vec<(&str, &JsValue)> = object.into_iter().collect();
        let sent = envelope(message, &objects).and_then(|envelope| match self {
            Self::Worker(scope) => match object {
                Some((_, object)) => {
                    scope.post_message_with_transfer(&envelope, &js_sys::Array::of1(object))
                }
                None => scope.post_message(&envelope),
            },
            Self::Page(callback) => {
                let callback = callback.clone();
                wasm_bindgen_futures::spawn_local(async move {
                    // What an app's callback throws is the page side's to
                    // report; the host has nothing to add.
                    let _ = callback.call1(&JsValue::NULL, &envelope);
                });
                Ok(())
            }
        });
        if let Err(e) = sent {
            // Say so rather than go quiet; this one always encodes.
            let failure = FromWorker::Error(EffectsError::browser("sending to the page", &e));
            if let (Self::Worker(scope), Ok(envelope)) = (self, envelope(&failure, &[])) {
                let _ = scope.post_message(&envelope);
            }
        }
    }

    fn thread(&self) -> Thread {
        match self {
            Self::Worker(_) => Thread::Worker,
            Self::Page(_) => Thread::Main,
        }
    }
}

/// One host's state: the models, the settings and the frame path.
struct Host {
    outlet: Outlet,
    /// This module, compiled, for a face worker (in a worker only).
    module: Option<JsValue>,
    runner: Rc<RefCell<Runner>>,
    engine: RefCell<Option<Rc<RefCell<Engine>>>>,
    sink: Sink,
}

impl Host {
    fn new(outlet: Outlet, module: Option<JsValue>) -> Rc<Self> {
        let sink: Sink = {
            let outlet = outlet.clone();
            Rc::new(move |report| {
                let message = match report {
                    Report::Stats(stats) => FromWorker::Stats(stats),
                    Report::Error(error) => FromWorker::Error(error),
                };
                outlet.send(&message, None);
            })
        };
        Rc::new(Self {
            outlet,
            module,
            runner: Rc::default(),
            engine: RefCell::new(None),
            sink,
        })
    }

    fn send(&self, message: &FromWorker) {
        self.outlet.send(message, None);
    }

    /// Handles one envelope from the page.
    fn receive(self: &Rc<Self>, data: &JsValue) {
        match open_envelope::<ToWorker>(data) {
            Ok(message) => self.handle(message, data),
            Err(reason) => self.send(&FromWorker::Error(EffectsError::Worker(format!(
                "the vision module got a message it does not understand: {reason}"
            )))),
        }
    }

    fn handle(self: &Rc<Self>, message: ToWorker, data: &JsValue) {
        match message {
            ToWorker::Load { urls, segmenter } => {
                let host = self.clone();
                wasm_bindgen_futures::spawn_local(async move {
                    let progress = host.clone();
                    let on_progress: Rc<dyn Fn(crate::Progress)> =
                        Rc::new(move |p| progress.send(&FromWorker::Progress(p)));
                    let result = Runner::load(&host.runner, &urls, segmenter, on_progress).await;
                    host.send(&match result {
                        Ok(ms) => FromWorker::Loaded { ms },
                        Err(e) => FromWorker::LoadFailed(e),
                    });
                });
            }
            ToWorker::Start(frame) => self.start(data, frame),
            ToWorker::Frame {
                arrived,
                dropped,
                main_ms,
            } => {
                let engine = self.engine.borrow().clone();
                let image = object_of(data, "bitmap");
                let host = self.clone();
                wasm_bindgen_futures::spawn_local(async move {
                    if let Some(image) = image {
                        let size = match (
                            image.dyn_ref::<ImageBitmap>(),
                            image.dyn_ref::<HtmlVideoElement>(),
                        ) {
                            (Some(bitmap), _) => Some((bitmap.width(), bitmap.height())),
                            (None, Some(video)) => {
                                Some((video.video_width(), video.video_height()))
                            }
                            (None, None) => None,
                        };
                        if let (Some(engine), Some((width, height))) = (engine, size) {
                            {
                                let mut e = engine.borrow_mut();
                                e.page_counts(arrived, dropped, main_ms);
                                e.opened();
                            }
                            Runner::draw(&engine, &image, width, height, None, &host.sink).await;
                            engine.borrow_mut().closed();
                        }
                        // A bitmap is ours to close; the page's video is not.
                        if let Some(bitmap) = image.dyn_ref::<ImageBitmap>() {
                            bitmap.close();
                        }
                    }
                    if matches!(host.outlet, Outlet::Worker(_)) {
                        host.send(&FromWorker::FrameDone);
                    }
                });
            }
            ToWorker::Settings {
                settings,
                has_image,
            } => {
                let image = if has_image {
                    Some(object_of(data, "image").unwrap_or(JsValue::NULL))
                } else {
                    None
                };
                self.runner.borrow_mut().set_settings(settings, image);
            }
            ToWorker::Helper => match (object_of(data, "port"), &self.module) {
                (Some(port), Some(module)) => {
                    let outlet = self.outlet.clone();
                    let on_error: crate::faces::ErrorSink =
                        Rc::new(move |e| outlet.send(&FromWorker::Error(e), None));
                    let link = FaceLink::new(port.unchecked_into(), module, on_error);
                    self.runner.borrow_mut().set_link(link);
                }
                _ => self.send(&FromWorker::Error(EffectsError::Worker(
                    "two workers were asked for, but this one has no port or no compiled \
                     module to share; faces are tracked here"
                        .into(),
                ))),
            },
            ToWorker::Stop => self.stop(),
        }
    }

    fn start(self: &Rc<Self>, data: &JsValue, frame: FrameStart) {
        match self.frame_path(data, &frame) {
            Ok(spec) => {
                let started = self.runner.borrow_mut().start(spec, self.sink.clone());
                match started {
                    Ok(engine) => *self.engine.borrow_mut() = Some(engine),
                    Err(e) => self.send(&FromWorker::Error(e)),
                }
            }
            Err(e) => {
                if frame.output == OutputKind::VideoTrackGenerator {
                    // The camera clone is ours to end; the page waits for
                    // the track, and falls back.
                    if let Some(track) = object_of(data, "track") {
                        let _ = js_sys::Reflect::get(&track, &"stop".into())
                            .and_then(|stop| stop.dyn_into::<js_sys::Function>())
                            .and_then(|stop| stop.call0(&track));
                    }
                    self.send(&FromWorker::Output { error: Some(e) });
                } else {
                    self.send(&FromWorker::Error(e));
                }
            }
        }
    }

    /// The canvas, the frames' source and where the drawn frames go, for
    /// `frame`'s paths. For [`OutputKind::VideoTrackGenerator`] the
    /// generator's track is sent to the page here.
    fn frame_path(&self, data: &JsValue, frame: &FrameStart) -> Result<StartSpec, EffectsError> {
        let own_canvas = || {
            web_sys::OffscreenCanvas::new(frame.width.max(1), frame.height.max(1))
                .map(|c| -> AnyCanvas { c.unchecked_into() })
                .map_err(|e| EffectsError::browser("creating a canvas", &e))
        };
        let mut readable = object_of(data, "readable").map(JsCast::unchecked_into);
        let (canvas, delivery) = match frame.output {
            OutputKind::MediaStreamTrackGenerator => {
                let writable: FrameWritable = object_of(data, "writable")
                    .ok_or_else(|| EffectsError::Worker("no generator to write to".into()))?
                    .unchecked_into();
                let canvas = match object_of(data, "canvas") {
                    Some(canvas) => canvas.unchecked_into(),
                    None => own_canvas()?,
                };
                (canvas, Delivery::Generator(GeneratorSink::new(&writable)?))
            }
            OutputKind::VideoTrackGenerator => {
                let track = object_of(data, "track")
                    .ok_or_else(|| EffectsError::Worker("no camera track to read".into()))?;
                let init = js_sys::Object::new();
                let _ = js_sys::Reflect::set(&init, &"track".into(), &track);
                let processor = MediaStreamTrackProcessor::new(&init)
                    .map_err(|e| EffectsError::browser("reading the camera in the worker", &e))?;
                let generator = VideoTrackGenerator::new()
                    .map_err(|e| EffectsError::browser("creating a VideoTrackGenerator", &e))?;
                let sink = GeneratorSink::new(&generator.writable())?;
                readable = Some(processor.readable());
                self.outlet.send(
                    &FromWorker::Output { error: None },
                    Some(("track", &generator.track())),
                );
                (own_canvas()?, Delivery::Generator(sink))
            }
            OutputKind::CanvasCapture => match object_of(data, "canvas") {
                // The page's canvas (transferred), which it captures.
                Some(canvas) => (canvas.unchecked_into(), Delivery::Canvas),
                // One of our own, whose frames go back as bitmaps.
                None => {
                    let outlet = self.outlet.clone();
                    let present: crate::engine::Presenter = Rc::new(move |bitmap| {
                        outlet.send(&FromWorker::Frame, Some(("bitmap", &bitmap)));
                    });
                    (own_canvas()?, Delivery::Bitmaps(present))
                }
            },
        };
        Ok(StartSpec {
            delivery,
            output: frame.output,
            canvas,
            thread: self.outlet.thread(),
            source: frame.source,
            fps: frame.fps,
            stats_interval_ms: frame.stats_interval_ms,
            readable,
        })
    }

    fn stop(&self) {
        self.runner.borrow_mut().stop();
        self.engine.borrow_mut().take();
    }
}

/// The ready message: this build, why it is not the one asked for, and
/// whether this host (a worker) can make a `VideoTrackGenerator` of a
/// transferred camera track.
fn ready(fallback: Option<String>, in_worker: bool) -> FromWorker {
    FromWorker::Ready {
        build: crate::BUILD,
        fallback,
        video_track_generator: in_worker
            && global_has("VideoTrackGenerator")
            && global_has("MediaStreamTrackProcessor"),
    }
}

/// The worker's host and its message handler, kept for the worker's life.
type WorkerHost = (Rc<Host>, Closure<dyn FnMut(MessageEvent)>);

thread_local! {
    static WORKER: RefCell<Option<WorkerHost>> = const { RefCell::new(None) };
}

/// The worker's entry point, called by `worker.js` once this module is
/// instantiated; `fallback` says why this build runs when the page asked
/// for another, and `module` is the compiled module, for a face worker.
/// Not for apps.
#[doc(hidden)]
#[wasm_bindgen]
pub fn __peerlens_effects_worker(
    fallback: Option<String>,
    module: Option<js_sys::WebAssembly::Module>,
) -> Result<(), JsValue> {
    let scope: DedicatedWorkerGlobalScope = js_sys::global().dyn_into()?;
    let host = Host::new(Outlet::Worker(scope.clone()), module.map(JsValue::from));
    let receiver = host.clone();
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        receiver.receive(&event.data());
    });
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    host.send(&ready(fallback, true));
    WORKER.with(|w| *w.borrow_mut() = Some((host, on_message)));
    Ok(())
}

/// The effects on the page's main thread: the page side of the effects
/// posts its messages here instead of to a worker. Not for apps.
#[doc(hidden)]
#[wasm_bindgen]
pub struct EffectsHost {
    host: Rc<Host>,
}

#[wasm_bindgen]
impl EffectsHost {
    /// A host that replies by calling `reply` with each message; it says
    /// it is ready at once, with `fallback` (why this build runs when the
    /// page asked for another).
    #[wasm_bindgen(constructor)]
    pub fn new(reply: Function, fallback: Option<String>) -> EffectsHost {
        let host = Host::new(Outlet::Page(reply), None);
        host.send(&ready(fallback, false));
        EffectsHost { host }
    }

    /// Handles one message from the page.
    pub fn post(&self, message: JsValue) {
        self.host.receive(&message);
    }

    /// The build of this module (`"simd128"`, `"relaxed-simd"`).
    #[wasm_bindgen(getter)]
    pub fn build(&self) -> String {
        VisionBuild::as_str(crate::BUILD).to_owned()
    }
}

impl Drop for EffectsHost {
    fn drop(&mut self) {
        self.host.stop();
    }
}
