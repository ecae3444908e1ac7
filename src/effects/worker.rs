//! The effects worker: the same wasm module, instantiated in a dedicated
//! worker by `worker.js` and entered through
//! [`__peerlens_effects_worker`]. It loads the models, draws on the
//! transferred `OffscreenCanvas`, and reports to the page.
//!
//! Messages are `{ m, canvas?, readable?, bitmap?, image? }`: `m` is a
//! [`ToWorker`] or [`FromWorker`] as a JS object, the rest are the
//! transferable (or cloneable) objects that go with it.

use std::{cell::RefCell, rc::Rc};

use js_sys::{Object, Reflect};
use serde::{Deserialize, Serialize};
use wasm_bindgen::{prelude::*, JsCast};
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent, ReadableStream};

use super::{
    engine::{EffectsStats, Engine, SourceKind, Thread},
    load::{ModelUrls, Progress},
    runner::{Runner, StartSpec},
    source::{Report, Sink},
    EffectSettings, EffectsError, Segmenter,
};

/// From the page to the worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub(crate) enum ToWorker {
    /// Fetch and load the models.
    Load {
        urls: ModelUrls,
        segmenter: Segmenter,
    },
    /// Set up the frame path on `canvas`, reading `readable` when given.
    Start {
        source: SourceKind,
        fps: f64,
        stats_interval_ms: u32,
        /// Without a `canvas`: draw on an `OffscreenCanvas` of this size
        /// and send each frame back as a [`FromWorker::Frame`].
        width: u32,
        height: u32,
    },
    /// One `bitmap`, with the page's counts since the last one.
    Frame {
        arrived: u64,
        dropped: u64,
        main_ms: f64,
    },
    /// New settings, with a new background `image` when `has_image`.
    Settings {
        settings: EffectSettings,
        has_image: bool,
    },
    /// End the frame path.
    Stop,
}

/// From the worker to the page.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub(crate) enum FromWorker {
    /// The module is running; messages may be sent.
    Ready,
    /// Model bytes fetched so far.
    Progress(Progress),
    /// The models are loaded.
    Loaded { ms: f64 },
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
    /// `worker.js` could not import or instantiate the module (sent by the
    /// JS, never by Rust).
    BootError { message: String },
}

/// A message object: `{ m: value }` plus the named objects.
pub(crate) fn envelope<T: Serialize>(
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
pub(crate) fn open_envelope<T: for<'de> Deserialize<'de>>(data: &JsValue) -> Result<T, String> {
    let value = Reflect::get(data, &"m".into()).map_err(|_| "no message".to_owned())?;
    serde_wasm_bindgen::from_value(value).map_err(|e| e.to_string())
}

/// A named object of an envelope, when present.
pub(crate) fn object_of(data: &JsValue, name: &str) -> Option<JsValue> {
    Reflect::get(data, &name.into())
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
}

struct WorkerState {
    scope: DedicatedWorkerGlobalScope,
    runner: Rc<RefCell<Runner>>,
    engine: Option<Rc<RefCell<Engine>>>,
    sink: Sink,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
}

thread_local! {
    static STATE: RefCell<Option<WorkerState>> = const { RefCell::new(None) };
}

fn post(scope: &DedicatedWorkerGlobalScope, message: &FromWorker) {
    post_with(scope, message, None);
}

/// Posts `message`, transferring `bitmap` with it when given.
fn post_with(scope: &DedicatedWorkerGlobalScope, message: &FromWorker, bitmap: Option<&JsValue>) {
    let sent = match bitmap {
        Some(bitmap) => envelope(message, &[("bitmap", bitmap)]).and_then(|envelope| {
            scope.post_message_with_transfer(&envelope, &js_sys::Array::of1(bitmap))
        }),
        None => envelope(message, &[]).and_then(|envelope| scope.post_message(&envelope)),
    };
    if let Err(e) = sent {
        // Say so rather than go quiet; this one always encodes.
        let failure = FromWorker::Error(EffectsError::browser("sending to the page", &e));
        if let Ok(envelope) = envelope(&failure, &[]) {
            let _ = scope.post_message(&envelope);
        }
    }
}

/// The worker's entry point, called by `worker.js` once the module is
/// instantiated. Not for apps.
#[doc(hidden)]
#[wasm_bindgen]
pub fn __peerlens_effects_worker() -> Result<(), JsValue> {
    let scope: DedicatedWorkerGlobalScope = js_sys::global().dyn_into()?;
    let sink: Sink = {
        let scope = scope.clone();
        Rc::new(move |report| {
            let message = match report {
                Report::Stats(stats) => FromWorker::Stats(stats),
                Report::Error(error) => FromWorker::Error(error),
            };
            post(&scope, &message);
        })
    };
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(|event: MessageEvent| {
        let data = event.data();
        match open_envelope::<ToWorker>(&data) {
            Ok(message) => handle(message, &data),
            Err(reason) => STATE.with(|s| {
                if let Some(state) = s.borrow().as_ref() {
                    post(
                        &state.scope,
                        &FromWorker::Error(EffectsError::Worker(format!(
                            "the worker got a message it does not understand: {reason}"
                        ))),
                    );
                }
            }),
        }
    });
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    post(&scope, &FromWorker::Ready);
    STATE.with(|s| {
        *s.borrow_mut() = Some(WorkerState {
            scope,
            runner: Rc::default(),
            engine: None,
            sink,
            _on_message: on_message,
        })
    });
    Ok(())
}

fn handle(message: ToWorker, data: &JsValue) {
    let Some((scope, runner, sink)) = STATE.with(|s| {
        s.borrow()
            .as_ref()
            .map(|st| (st.scope.clone(), st.runner.clone(), st.sink.clone()))
    }) else {
        return;
    };
    match message {
        ToWorker::Load { urls, segmenter } => {
            wasm_bindgen_futures::spawn_local(async move {
                let progress_scope = scope.clone();
                let result = Runner::load(&runner, &urls, segmenter, &mut |p| {
                    post(&progress_scope, &FromWorker::Progress(p))
                })
                .await;
                post(
                    &scope,
                    &match result {
                        Ok(ms) => FromWorker::Loaded { ms },
                        Err(e) => FromWorker::LoadFailed(e),
                    },
                );
            });
        }
        ToWorker::Start {
            source,
            fps,
            stats_interval_ms,
            width,
            height,
        } => {
            // The page's canvas, or one of our own whose frames go back.
            let (canvas, present) = match object_of(data, "canvas") {
                Some(canvas) => (canvas, None),
                None => match web_sys::OffscreenCanvas::new(width.max(1), height.max(1)) {
                    Ok(canvas) => {
                        let scope = scope.clone();
                        let present: super::engine::Presenter = Rc::new(move |bitmap| {
                            post_with(&scope, &FromWorker::Frame, Some(&bitmap));
                        });
                        (canvas.into(), Some(present))
                    }
                    Err(e) => {
                        post(
                            &scope,
                            &FromWorker::Error(EffectsError::browser("creating a canvas", &e)),
                        );
                        return;
                    }
                },
            };
            let spec = StartSpec {
                present,
                canvas: canvas.unchecked_into(),
                thread: Thread::Worker,
                source,
                fps,
                stats_interval_ms,
                readable: object_of(data, "readable").map(JsCast::unchecked_into::<ReadableStream>),
            };
            let started = runner.borrow_mut().start(spec, sink);
            match started {
                Ok(engine) => STATE.with(|s| {
                    if let Some(state) = s.borrow_mut().as_mut() {
                        state.engine = Some(engine);
                    }
                }),
                Err(e) => post(&scope, &FromWorker::Error(e)),
            }
        }
        ToWorker::Frame {
            arrived,
            dropped,
            main_ms,
        } => {
            let engine = STATE.with(|s| s.borrow().as_ref().and_then(|st| st.engine.clone()));
            if let Some(bitmap) = object_of(data, "bitmap") {
                let bitmap: web_sys::ImageBitmap = bitmap.unchecked_into();
                if let Some(engine) = engine {
                    {
                        let mut e = engine.borrow_mut();
                        e.page_counts(arrived, dropped, main_ms);
                        e.opened();
                    }
                    Runner::draw(&engine, &bitmap, bitmap.width(), bitmap.height(), &sink);
                    engine.borrow_mut().closed();
                }
                bitmap.close();
            }
            post(&scope, &FromWorker::FrameDone);
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
            runner.borrow_mut().set_settings(settings, image);
        }
        ToWorker::Stop => {
            runner.borrow_mut().stop();
            STATE.with(|s| {
                if let Some(state) = s.borrow_mut().as_mut() {
                    state.engine = None;
                }
            });
        }
    }
}
