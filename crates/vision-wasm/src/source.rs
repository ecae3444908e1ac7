//! Reading `VideoFrame`s from a `MediaStreamTrackProcessor`'s stream
//! without ever queueing them: before each frame is processed, frames
//! already waiting are taken and the older ones closed, so the newest is
//! always the one drawn.

use std::{
    cell::{Cell, RefCell},
    rc::Rc,
};

use futures::future::{select, Either};
use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::{closure::Closure, JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{MessageChannel, MessageEvent, ReadableStream, ReadableStreamDefaultReader};

use crate::{bindings::VideoFrame, engine::Engine, EffectsError, EffectsStats};

/// What the frame loop reports as it runs.
pub(crate) enum Report {
    Stats(EffectsStats),
    Error(EffectsError),
}

/// Where reports go: the page's event channel, or a message to the page.
pub(crate) type Sink = Rc<dyn Fn(Report)>;

/// A zero-delay macrotask (a message to ourselves), unlike `setTimeout`
/// never clamped to 4 ms. Awaiting it lets the stream deliver frames that
/// are already on their way.
struct Ticker {
    channel: MessageChannel,
    waiting: Rc<RefCell<Option<(u32, Function)>>>,
    next: Cell<u32>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
}

impl Ticker {
    fn new() -> Result<Self, JsValue> {
        let channel = MessageChannel::new()?;
        let waiting: Rc<RefCell<Option<(u32, Function)>>> = Rc::default();
        let slot = waiting.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            let id = event.data().as_f64().unwrap_or(-1.0) as u32;
            let due = matches!(&*slot.borrow(), Some((want, _)) if *want == id);
            if due {
                if let Some((_, resolve)) = slot.borrow_mut().take() {
                    let _ = resolve.call0(&JsValue::UNDEFINED);
                }
            }
        });
        channel
            .port1()
            .set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        Ok(Self {
            channel,
            waiting,
            next: Cell::new(0),
            _on_message: on_message,
        })
    }

    fn tick(&self) -> JsFuture {
        let id = self.next.get().wrapping_add(1);
        self.next.set(id);
        let waiting = self.waiting.clone();
        let promise = Promise::new(&mut |resolve, _| {
            *waiting.borrow_mut() = Some((id, resolve));
        });
        let _ = self.channel.port2().post_message(&JsValue::from(id));
        JsFuture::from(promise)
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.channel.port1().set_onmessage(None);
        self.channel.port1().close();
        self.channel.port2().close();
    }
}

/// Stops a running [`pump`].
#[derive(Clone)]
pub(crate) struct PumpHandle {
    stopped: Rc<Cell<bool>>,
    reader: ReadableStreamDefaultReader,
}

impl PumpHandle {
    pub(crate) fn stop(&self) {
        if !self.stopped.replace(true) {
            // Resolves the pending read with `done`, ending the loop, and
            // releases the processor's hold on the track.
            let _ = self.reader.cancel();
        }
    }
}

/// The frame (if any) in a `read()` result; `None` when the stream ended.
fn frame_of(chunk: &JsValue) -> Option<VideoFrame> {
    let done = Reflect::get(chunk, &"done".into())
        .ok()
        .and_then(|d| d.as_bool())
        .unwrap_or(true);
    if done {
        return None;
    }
    Reflect::get(chunk, &"value".into())
        .ok()
        .filter(|v| v.is_object())
        .map(JsCast::unchecked_into)
}

/// Starts reading `readable` into `engine`. The loop ends when the stream
/// does or when the handle is stopped.
pub(crate) fn pump(
    readable: ReadableStream,
    engine: Rc<RefCell<Engine>>,
    sink: Sink,
) -> Result<PumpHandle, EffectsError> {
    let reader: ReadableStreamDefaultReader = readable
        .get_reader()
        .dyn_into()
        .map_err(|e| EffectsError::browser("reading the camera frames", &e))?;
    let ticker =
        Ticker::new().map_err(|e| EffectsError::browser("creating a MessageChannel", &e))?;
    let handle = PumpHandle {
        stopped: Rc::new(Cell::new(false)),
        reader: reader.clone(),
    };
    let stopped = handle.stopped.clone();
    // `VideoFrame.copyTo` with an RGBA conversion, until it fails once;
    // then the frames' pixels are read through a canvas.
    let copy_rgba = Rc::new(Cell::new(true));
    wasm_bindgen_futures::spawn_local(async move {
        let mut pending: Option<JsFuture> = None;
        loop {
            let read = pending
                .take()
                .unwrap_or_else(|| JsFuture::from(reader.read()));
            let Some(mut frame) = read.await.ok().as_ref().and_then(frame_of) else {
                break;
            };
            engine.borrow_mut().arrived(Some(frame.timestamp()));
            // Take any newer frame that is already waiting.
            let mut ended = false;
            loop {
                let next = JsFuture::from(reader.read());
                match select(next, ticker.tick()).await {
                    Either::Left((chunk, _)) => match chunk.ok().as_ref().and_then(frame_of) {
                        Some(newer) => {
                            frame.close();
                            let mut e = engine.borrow_mut();
                            e.closed();
                            e.dropped(1);
                            e.arrived(Some(newer.timestamp()));
                            frame = newer;
                        }
                        None => {
                            ended = true;
                            break;
                        }
                    },
                    Either::Right((_, next)) => {
                        pending = Some(next);
                        break;
                    }
                }
            }
            if stopped.get() {
                frame.close();
                engine.borrow_mut().closed();
                break;
            }
            let (width, height) = (frame.display_width(), frame.display_height());
            if copy_rgba.get() && engine.borrow().wants_pixels() {
                read_pixels(&frame, width, height, &engine, &copy_rgba).await;
            }
            let timestamp = frame.timestamp();
            let result = crate::engine::draw(&engine, &frame, width, height, Some(timestamp)).await;
            frame.close();
            let stats = {
                let mut e = engine.borrow_mut();
                e.closed();
                e.take_stats()
            };
            if let Err(e) = result {
                sink(Report::Error(e));
            }
            if let Some(stats) = stats {
                sink(Report::Stats(stats));
            }
            if ended {
                break;
            }
        }
        drop(ticker);
        // A read still pending resolves with `done` after cancel; release
        // the lock either way.
        stopped.set(true);
        let _ = reader.cancel();
    });
    Ok(handle)
}

/// Reads `frame`'s pixels as RGBA into the engine's copy buffer with
/// `VideoFrame.copyTo`, which converts from the camera's YUV without a
/// canvas. Clears `supported` if this browser cannot.
async fn read_pixels(
    frame: &VideoFrame,
    width: u32,
    height: u32,
    engine: &Rc<RefCell<Engine>>,
    supported: &Cell<bool>,
) {
    let t0 = crate::bindings::now();
    let options = js_sys::Object::new();
    let _ = Reflect::set(&options, &"format".into(), &"RGBA".into());
    let _ = Reflect::set(&options, &"colorSpace".into(), &"srgb".into());
    let len = u64::from(width) * u64::from(height) * 4;
    // A frame whose visible size is not its display size (scaled or
    // cropped) goes the canvas way, which scales.
    let Ok(size) = frame.allocation_size(&options) else {
        supported.set(false);
        return;
    };
    if size as u64 != len || len > u64::from(u32::MAX) {
        return;
    }
    let buffer = engine.borrow_mut().copy_buffer(len as u32);
    let copied = match frame.copy_to(&buffer, &options) {
        Ok(promise) => JsFuture::from(promise).await.is_ok(),
        Err(_) => false,
    };
    if copied {
        engine.borrow_mut().copied(crate::bindings::now() - t0);
    } else {
        supported.set(false);
    }
}
