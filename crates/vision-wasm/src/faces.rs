//! Two-worker mode: face tracking in a worker of its own, in parallel
//! with segmentation and compositing in the effects worker.
//!
//! ```text
//! page ── Helper { port } ──> effects worker ── { module, build } ──> face worker
//!                              (compiled once)  <── ready ───────────
//!        frame N: pixels ── Track { timestamp } ──>  FaceStage::run
//!        segment + composite N                  <── Tracked { timestamp, marks }
//!        draw N's marks, write N
//! ```
//!
//! The effects worker ([`FaceLink`]) sends each frame's pixels with its
//! timestamp before it segments that frame, and waits for the marks of
//! that same timestamp before the frame goes out: the marks drawn on a
//! frame are always the ones found on it. The face worker ([`FaceWorker`],
//! entered through [`__peerlens_face_worker`]) runs the same
//! [`FaceStage`] the one-worker mode runs, so detection and tracking are
//! scheduled in one place.

use std::{
    cell::{Cell, RefCell},
    rc::Rc,
};

use futures::{
    channel::oneshot,
    future::{select, Either},
};
use js_sys::{Array, Float32Array, Uint8Array};
use peerlens_core::messages::{envelope, object_of, open_envelope};
use peerlens_vision::{BoundingBox, EffectOptions, FaceOverlay, FaceResult, FaceStage, RgbaFrame};
use serde::{Deserialize, Serialize};
use wasm_bindgen::{prelude::*, JsCast};
use web_sys::{MessageEvent, MessagePort};

use crate::{
    bindings::{now, sleep_ms},
    load::load_faces,
    EffectsError, ModelUrls, Progress, VisionBuild,
};

/// How long the face worker may take to start, in milliseconds.
const BOOT_TIMEOUT_MS: u32 = 5_000;

/// Marks later than this many frame intervals are given up on: the frame
/// goes out without them.
const LATE_FRAMES: f64 = 8.0;

/// After this many marks given up on in a row (seconds of no answer at
/// all, far beyond a busy machine's lateness), the face worker is taken
/// for gone and the faces are off.
const MAX_MISSES: u32 = 30;

/// From the effects worker to the face worker.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
enum ToFaces {
    /// Fetch and load the detector and the mesh.
    Load { urls: ModelUrls, detect_every: u32 },
    /// Track the face on the envelope's `pixels` (packed RGBA).
    Track {
        timestamp: f64,
        width: u32,
        height: u32,
        face_boxes: bool,
        face_mesh: bool,
        detect_every: u32,
    },
}

/// A face's box and keypoints; the mesh travels as the envelope's `mesh`
/// (a `Float32Array` of x, y, z triples).
#[derive(Debug, Serialize, Deserialize)]
struct Marks {
    bbox: [f32; 4],
    keypoints: [f32; 12],
}

/// From the face worker to the effects worker.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
enum FromFaces {
    /// The module runs; messages may be sent.
    Ready,
    /// The bootstrap could not instantiate the module (sent by the JS).
    BootError {
        message: String,
    },
    Progress(Progress),
    Loaded {
        ms: f64,
    },
    LoadFailed(EffectsError),
    /// The marks of the frame stamped `timestamp`; the envelope's
    /// `pixels` gives the buffer back.
    Tracked {
        timestamp: f64,
        detected: bool,
        ms: f64,
        face: Option<Marks>,
    },
    Error(EffectsError),
}

fn post(
    port: &MessagePort,
    message: &impl Serialize,
    objects: &[(&str, &JsValue)],
    transfer: &Array,
) {
    if let Ok(envelope) = envelope(message, objects) {
        let _ = port.post_message_with_transferable(&envelope, transfer);
    }
}

// ---------------------------------------------------------------------
// The face worker.

/// The face worker's state.
struct FaceWorker {
    port: MessagePort,
    stage: RefCell<Option<FaceStage>>,
    detect_every: Cell<u32>,
    rgba: RefCell<Vec<u8>>,
    last_error: RefCell<Option<String>>,
}

impl FaceWorker {
    fn receive(self: &Rc<Self>, data: &JsValue) {
        match open_envelope::<ToFaces>(data) {
            Ok(ToFaces::Load { urls, detect_every }) => {
                let worker = self.clone();
                wasm_bindgen_futures::spawn_local(async move {
                    let t0 = now();
                    let options = EffectOptions {
                        detect_every,
                        ..EffectOptions::default()
                    };
                    let port = worker.port.clone();
                    let result = load_faces(&urls, &options, &mut |p| {
                        post(&port, &FromFaces::Progress(p), &[], &Array::new())
                    })
                    .await;
                    let reply = match result {
                        Ok(stage) => {
                            worker.detect_every.set(detect_every);
                            *worker.stage.borrow_mut() = Some(stage);
                            FromFaces::Loaded { ms: now() - t0 }
                        }
                        Err(e) => FromFaces::LoadFailed(e),
                    };
                    post(&worker.port, &reply, &[], &Array::new());
                });
            }
            Ok(ToFaces::Track {
                timestamp,
                width,
                height,
                face_boxes,
                face_mesh,
                detect_every,
            }) => self.track(
                data,
                timestamp,
                width,
                height,
                face_boxes,
                face_mesh,
                detect_every,
            ),
            Err(reason) => post(
                &self.port,
                &FromFaces::Error(EffectsError::Worker(format!(
                    "the face worker got a message it does not understand: {reason}"
                ))),
                &[],
                &Array::new(),
            ),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn track(
        &self,
        data: &JsValue,
        timestamp: f64,
        width: u32,
        height: u32,
        face_boxes: bool,
        face_mesh: bool,
        detect_every: u32,
    ) {
        let t0 = now();
        let pixels = object_of(data, "pixels").and_then(|p| p.dyn_into::<Uint8Array>().ok());
        let mut reply = FromFaces::Tracked {
            timestamp,
            detected: false,
            ms: 0.0,
            face: None,
        };
        let mut mesh = None;
        let mut failure = None;
        let needed = width as usize * height as usize * 4;
        match (&pixels, self.stage.borrow_mut().as_mut()) {
            (Some(pixels), Some(stage)) if pixels.length() as usize == needed && needed > 0 => {
                let mut rgba = self.rgba.borrow_mut();
                rgba.resize(needed, 0);
                pixels.copy_to(&mut rgba);
                let options = EffectOptions {
                    face_boxes,
                    face_mesh,
                    detect_every,
                    ..EffectOptions::default()
                };
                if self.detect_every.replace(detect_every) != detect_every {
                    stage.set_options(&options);
                }
                let result = RgbaFrame::new(&rgba, width, height, width as usize * 4)
                    .map_err(|e| e.to_string())
                    .and_then(|frame| {
                        stage
                            .run(&frame, &options, &mut now)
                            .map_err(|e| e.to_string())
                    });
                match result {
                    Ok(result) => {
                        if let Some(overlay) = &result.overlay {
                            if !overlay.mesh.is_empty() {
                                let flat: Vec<f32> =
                                    overlay.mesh.iter().flatten().copied().collect();
                                mesh = Some(Float32Array::from(flat.as_slice()));
                            }
                        }
                        reply = FromFaces::Tracked {
                            timestamp,
                            detected: result.detected,
                            ms: now() - t0,
                            face: result.overlay.map(|o| Marks {
                                bbox: [o.bbox.xmin, o.bbox.ymin, o.bbox.xmax, o.bbox.ymax],
                                keypoints: std::array::from_fn(|i| {
                                    let (x, y) = o.keypoints[i / 2];
                                    if i % 2 == 0 {
                                        x
                                    } else {
                                        y
                                    }
                                }),
                            }),
                        };
                        *self.last_error.borrow_mut() = None;
                    }
                    Err(reason) => failure = Some(reason),
                }
            }
            _ => {}
        }
        let mut objects: Vec<(&str, &JsValue)> = Vec::new();
        let transfer = Array::new();
        let buffer = pixels.as_ref().map(|p| p.buffer());
        if let (Some(pixels), Some(buffer)) = (&pixels, &buffer) {
            objects.push(("pixels", pixels.as_ref()));
            transfer.push(buffer);
        }
        if let Some(mesh) = &mesh {
            objects.push(("mesh", mesh.as_ref()));
        }
        post(&self.port, &reply, &objects, &transfer);
        if let Some(reason) = failure {
            let repeated = self.last_error.borrow().as_deref() == Some(reason.as_str());
            if !repeated {
                *self.last_error.borrow_mut() = Some(reason.clone());
                post(
                    &self.port,
                    &FromFaces::Error(EffectsError::Frame(reason)),
                    &[],
                    &Array::new(),
                );
            }
        }
    }
}

/// The face worker's state and its message handler, kept for its life.
type FaceWorkerState = (Rc<FaceWorker>, Closure<dyn FnMut(MessageEvent)>);

thread_local! {
    static FACE_WORKER: RefCell<Option<FaceWorkerState>> = const { RefCell::new(None) };
}

/// The face worker's entry point, called by `worker.js` once the module
/// posted on `port` is instantiated. Not for apps.
#[doc(hidden)]
#[wasm_bindgen]
pub fn __peerlens_face_worker(port: MessagePort) {
    let worker = Rc::new(FaceWorker {
        port: port.clone(),
        stage: RefCell::new(None),
        detect_every: Cell::new(0),
        rgba: RefCell::new(Vec::new()),
        last_error: RefCell::new(None),
    });
    let receiver = worker.clone();
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        receiver.receive(&event.data());
    });
    port.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    post(&port, &FromFaces::Ready, &[], &Array::new());
    FACE_WORKER.with(|w| *w.borrow_mut() = Some((worker, on_message)));
}

// ---------------------------------------------------------------------
// The effects worker's side.

/// Where the link's errors go (the page, as error events).
pub(crate) type ErrorSink = Rc<dyn Fn(EffectsError)>;

#[derive(Default)]
struct LinkState {
    /// `Some(Ok)` once the face worker runs, `Some(Err)` if it failed to.
    ready: Option<Result<(), EffectsError>>,
    ready_waiters: Vec<oneshot::Sender<Result<(), EffectsError>>>,
    load_reply: Option<oneshot::Sender<Result<f64, EffectsError>>>,
    progress: Option<Rc<dyn Fn(Progress)>>,
    loaded: bool,
    waiting: Option<(f64, oneshot::Sender<FaceResult>)>,
    /// Frames the face worker tracked, and its milliseconds over the
    /// current stats interval.
    frames: u64,
    window_ms: f64,
    window_frames: u64,
    /// A pixel buffer given back, for the next frame.
    spare: Option<Uint8Array>,
    misses: u32,
}

/// The effects worker's end of the face worker. See the module docs.
pub(crate) struct FaceLink {
    port: MessagePort,
    state: Rc<RefCell<LinkState>>,
    on_error: ErrorSink,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
}

impl FaceLink {
    /// Hands `module` (this module, compiled) to the face worker waiting
    /// on `port`.
    pub(crate) fn new(port: MessagePort, module: &JsValue, on_error: ErrorSink) -> Rc<Self> {
        let state: Rc<RefCell<LinkState>> = Rc::default();
        let on_message = {
            let state = state.clone();
            let on_error = on_error.clone();
            Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
                receive(&state, &on_error, &event.data());
            })
        };
        port.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        let boot = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&boot, &"module".into(), module);
        let _ = js_sys::Reflect::set(
            &boot,
            &"build".into(),
            &VisionBuild::as_str(crate::BUILD).into(),
        );
        if let Err(e) = port.post_message(&boot) {
            state.borrow_mut().ready = Some(Err(EffectsError::browser(
                "sending the vision module to the face worker",
                &e,
            )));
        }
        Rc::new(Self {
            port,
            state,
            on_error,
            _on_message: on_message,
        })
    }

    /// Waits until the face worker runs; an error if it does not start.
    pub(crate) async fn ready(&self) -> Result<(), EffectsError> {
        if let Some(ready) = self.state.borrow().ready.clone() {
            return ready;
        }
        let (tx, rx) = oneshot::channel();
        self.state.borrow_mut().ready_waiters.push(tx);
        match select(rx, sleep_ms(BOOT_TIMEOUT_MS)).await {
            Either::Left((Ok(ready), _)) => ready,
            Either::Left((Err(_), _)) => Err(EffectsError::Stopped),
            Either::Right(_) => {
                let failed = Err(EffectsError::Worker(format!(
                    "the face worker did not start within {} s",
                    BOOT_TIMEOUT_MS / 1000
                )));
                self.state.borrow_mut().ready = Some(failed.clone());
                failed
            }
        }
    }

    /// Loads the detector and the mesh in the face worker; returns the
    /// milliseconds it took.
    pub(crate) async fn load(
        &self,
        urls: &ModelUrls,
        detect_every: u32,
        progress: Rc<dyn Fn(Progress)>,
    ) -> Result<f64, EffectsError> {
        self.ready().await?;
        let (tx, rx) = oneshot::channel();
        {
            let mut state = self.state.borrow_mut();
            state.load_reply = Some(tx);
            state.progress = Some(progress);
        }
        post(
            &self.port,
            &ToFaces::Load {
                urls: urls.clone(),
                detect_every,
            },
            &[],
            &Array::new(),
        );
        rx.await.unwrap_or(Err(EffectsError::Stopped))
    }

    /// Whether the face worker has its models (and still answers).
    pub(crate) fn loaded(&self) -> bool {
        self.state.borrow().loaded
    }

    /// Sends the frame stamped `timestamp` (packed RGBA) to be tracked;
    /// its marks arrive on the receiver.
    pub(crate) fn track(
        &self,
        timestamp: f64,
        rgba: &[u8],
        width: u32,
        height: u32,
        options: &EffectOptions,
    ) -> oneshot::Receiver<FaceResult> {
        let (tx, rx) = oneshot::channel();
        let buffer = {
            let mut state = self.state.borrow_mut();
            state.waiting = Some((timestamp, tx));
            match state.spare.take() {
                Some(b) if b.length() as usize == rgba.len() => b,
                _ => Uint8Array::new_with_length(rgba.len() as u32),
            }
        };
        buffer.copy_from(rgba);
        let transfer = Array::of1(&buffer.buffer());
        post(
            &self.port,
            &ToFaces::Track {
                timestamp,
                width,
                height,
                face_boxes: options.face_boxes,
                face_mesh: options.face_mesh,
                detect_every: options.detect_every,
            },
            &[("pixels", buffer.as_ref())],
            &transfer,
        );
        rx
    }

    /// Waits for the marks `track` asked for, at most a few frame
    /// intervals; `None` if they are late (or the face worker is gone).
    pub(crate) async fn wait(
        &self,
        marks: oneshot::Receiver<FaceResult>,
        frame_interval_ms: f64,
    ) -> Option<FaceResult> {
        let limit = (frame_interval_ms * LATE_FRAMES).clamp(200.0, 2000.0) as u32;
        match select(marks, sleep_ms(limit)).await {
            Either::Left((Ok(result), _)) => {
                self.state.borrow_mut().misses = 0;
                Some(result)
            }
            _ => {
                let gone = {
                    let mut state = self.state.borrow_mut();
                    state.waiting = None;
                    state.misses += 1;
                    let gone = state.misses >= MAX_MISSES && state.loaded;
                    if gone {
                        state.loaded = false;
                    }
                    gone
                };
                if gone {
                    (self.on_error)(EffectsError::Worker(format!(
                        "the face worker stopped answering ({MAX_MISSES} frames in a row \
                         over {limit} ms); the faces are off"
                    )));
                }
                None
            }
        }
    }

    /// Frames tracked since the start, and milliseconds per frame since
    /// the last call.
    pub(crate) fn take_window(&self) -> (u64, f64) {
        let mut state = self.state.borrow_mut();
        let ms = if state.window_frames == 0 {
            0.0
        } else {
            state.window_ms / state.window_frames as f64
        };
        state.window_ms = 0.0;
        state.window_frames = 0;
        (state.frames, ms)
    }
}

impl Drop for FaceLink {
    fn drop(&mut self) {
        self.port.set_onmessage(None);
        self.port.close();
    }
}

/// The face worker's answer to a load.
fn load_done(state: &Rc<RefCell<LinkState>>, result: Result<f64, EffectsError>) {
    let reply = {
        let mut s = state.borrow_mut();
        s.loaded = result.is_ok();
        s.progress = None;
        s.load_reply.take()
    };
    if let Some(reply) = reply {
        let _ = reply.send(result);
    }
}

fn receive(state: &Rc<RefCell<LinkState>>, on_error: &ErrorSink, data: &JsValue) {
    let message = match open_envelope::<FromFaces>(data) {
        Ok(message) => message,
        Err(reason) => {
            on_error(EffectsError::Worker(format!(
                "the face worker sent a message we do not understand: {reason}"
            )));
            return;
        }
    };
    match message {
        FromFaces::Ready | FromFaces::BootError { .. } => {
            let ready = match message {
                FromFaces::BootError { message } => Err(EffectsError::Unsupported(format!(
                    "the face worker could not start the vision module: {message}"
                ))),
                _ => Ok(()),
            };
            let waiters = {
                let mut s = state.borrow_mut();
                s.ready = Some(ready.clone());
                std::mem::take(&mut s.ready_waiters)
            };
            for waiter in waiters {
                let _ = waiter.send(ready.clone());
            }
        }
        FromFaces::Progress(p) => {
            let progress = state.borrow().progress.clone();
            if let Some(progress) = progress {
                progress(p);
            }
        }
        FromFaces::Loaded { ms } => load_done(state, Ok(ms)),
        FromFaces::LoadFailed(e) => load_done(state, Err(e)),
        FromFaces::Tracked {
            timestamp,
            detected,
            ms,
            face,
        } => {
            let mut s = state.borrow_mut();
            if let Some(pixels) = object_of(data, "pixels").and_then(|p| p.dyn_into().ok()) {
                s.spare = Some(pixels);
            }
            s.frames += 1;
            s.window_frames += 1;
            s.window_ms += ms;
            // Marks of a frame given up on are dropped: only the frame
            // being drawn may get marks.
            if s.waiting.as_ref().is_some_and(|(t, _)| *t == timestamp) {
                if let Some((_, reply)) = s.waiting.take() {
                    let mesh = object_of(data, "mesh")
                        .and_then(|m| m.dyn_into::<Float32Array>().ok())
                        .map(|m| {
                            m.to_vec()
                                .chunks_exact(3)
                                .map(|p| [p[0], p[1], p[2]])
                                .collect()
                        })
                        .unwrap_or_default();
                    let overlay = face.map(|m| FaceOverlay {
                        bbox: BoundingBox {
                            xmin: m.bbox[0],
                            ymin: m.bbox[1],
                            xmax: m.bbox[2],
                            ymax: m.bbox[3],
                        },
                        keypoints: std::array::from_fn(|i| {
                            (m.keypoints[2 * i], m.keypoints[2 * i + 1])
                        }),
                        mesh,
                    });
                    let _ = reply.send(FaceResult {
                        overlay,
                        detected,
                        ms,
                    });
                }
            }
        }
        FromFaces::Error(e) => on_error(e),
    }
}
