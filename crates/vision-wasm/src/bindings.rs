//! Bindings web-sys lacks or gates behind unstable flags: `VideoFrame`
//! and one 2D context type that covers both `CanvasRenderingContext2D` and
//! `OffscreenCanvasRenderingContext2D` (their methods are called by name).

use js_sys::{Object, Reflect};
use wasm_bindgen::prelude::*;

pub(crate) use peerlens_core::js::{global_has, now};

#[wasm_bindgen]
extern "C" {
    /// A WebCodecs `VideoFrame`.
    pub(crate) type VideoFrame;
    #[wasm_bindgen(method, getter, js_name = displayWidth)]
    pub(crate) fn display_width(this: &VideoFrame) -> u32;
    #[wasm_bindgen(method, getter, js_name = displayHeight)]
    pub(crate) fn display_height(this: &VideoFrame) -> u32;
    /// Microseconds.
    #[wasm_bindgen(method, getter)]
    pub(crate) fn timestamp(this: &VideoFrame) -> f64;
    #[wasm_bindgen(method)]
    pub(crate) fn close(this: &VideoFrame);
    /// `copyTo(destination, options)`: resolves once the pixels are there.
    #[wasm_bindgen(method, catch, js_name = copyTo)]
    pub(crate) fn copy_to(
        this: &VideoFrame,
        destination: &js_sys::Uint8Array,
        options: &Object,
    ) -> Result<js_sys::Promise, JsValue>;
    #[wasm_bindgen(method, catch, js_name = allocationSize)]
    pub(crate) fn allocation_size(this: &VideoFrame, options: &Object) -> Result<f64, JsValue>;
    /// `new VideoFrame(canvas, { timestamp })`: the canvas's pixels now.
    #[wasm_bindgen(constructor, catch)]
    pub(crate) fn new_from(image: &JsValue, init: &Object) -> Result<VideoFrame, JsValue>;

    /// A `WritableStream` of video frames (a track generator's `writable`).
    pub(crate) type FrameWritable;
    #[wasm_bindgen(method, catch, js_name = getWriter)]
    pub(crate) fn get_writer(this: &FrameWritable) -> Result<FrameWriter, JsValue>;

    /// Its writer.
    pub(crate) type FrameWriter;
    /// Resolves once the frame is taken; the generator closes it.
    #[wasm_bindgen(method, catch)]
    pub(crate) fn write(this: &FrameWriter, frame: &VideoFrame)
        -> Result<js_sys::Promise, JsValue>;
    #[wasm_bindgen(method, catch)]
    pub(crate) fn close(this: &FrameWriter) -> Result<js_sys::Promise, JsValue>;

    /// The standard `VideoTrackGenerator` (in workers).
    pub(crate) type VideoTrackGenerator;
    #[wasm_bindgen(constructor, catch)]
    pub(crate) fn new() -> Result<VideoTrackGenerator, JsValue>;
    #[wasm_bindgen(method, getter)]
    pub(crate) fn writable(this: &VideoTrackGenerator) -> FrameWritable;
    #[wasm_bindgen(method, getter)]
    pub(crate) fn track(this: &VideoTrackGenerator) -> JsValue;

    /// `MediaStreamTrackProcessor`, in its worker form (`{ track }`).
    pub(crate) type MediaStreamTrackProcessor;
    #[wasm_bindgen(constructor, catch)]
    pub(crate) fn new(init: &Object) -> Result<MediaStreamTrackProcessor, JsValue>;
    #[wasm_bindgen(method, getter)]
    pub(crate) fn readable(this: &MediaStreamTrackProcessor) -> web_sys::ReadableStream;

    /// A canvas element or an `OffscreenCanvas`.
    pub(crate) type AnyCanvas;
    #[wasm_bindgen(method, getter)]
    pub(crate) fn width(this: &AnyCanvas) -> u32;
    #[wasm_bindgen(method, setter)]
    pub(crate) fn set_width(this: &AnyCanvas, width: u32);
    #[wasm_bindgen(method, getter)]
    pub(crate) fn height(this: &AnyCanvas) -> u32;
    #[wasm_bindgen(method, setter)]
    pub(crate) fn set_height(this: &AnyCanvas, height: u32);
    #[wasm_bindgen(method, catch, js_name = getContext)]
    fn get_context(this: &AnyCanvas, kind: &str, options: &Object) -> Result<JsValue, JsValue>;
    /// `OffscreenCanvas.transferToImageBitmap()`.
    #[wasm_bindgen(method, catch, js_name = transferToImageBitmap)]
    pub(crate) fn transfer_to_image_bitmap(
        this: &AnyCanvas,
    ) -> Result<web_sys::ImageBitmap, JsValue>;

    /// A 2D context of either kind of canvas.
    pub(crate) type Ctx2d;
    #[wasm_bindgen(method, catch, js_name = drawImage)]
    pub(crate) fn draw_image(
        this: &Ctx2d,
        image: &JsValue,
        dx: f64,
        dy: f64,
    ) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch, js_name = drawImage)]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn draw_image_cropped(
        this: &Ctx2d,
        image: &JsValue,
        sx: f64,
        sy: f64,
        sw: f64,
        sh: f64,
        dx: f64,
        dy: f64,
        dw: f64,
        dh: f64,
    ) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch, js_name = getImageData)]
    pub(crate) fn get_image_data(
        this: &Ctx2d,
        x: f64,
        y: f64,
        w: f64,
        h: f64,
    ) -> Result<web_sys::ImageData, JsValue>;
    #[wasm_bindgen(method, catch, js_name = putImageData)]
    pub(crate) fn put_image_data(
        this: &Ctx2d,
        data: &web_sys::ImageData,
        dx: f64,
        dy: f64,
    ) -> Result<(), JsValue>;

}

impl AnyCanvas {
    /// The canvas's 2D context. `read_back` asks for a context tuned for
    /// `getImageData` (a CPU-side backing store).
    pub(crate) fn context_2d(&self, read_back: bool) -> Result<Ctx2d, JsValue> {
        let options = Object::new();
        Reflect::set(&options, &"willReadFrequently".into(), &read_back.into())?;
        Reflect::set(&options, &"desynchronized".into(), &false.into())?;
        let context = self.get_context("2d", &options)?;
        if context.is_null() || context.is_undefined() {
            return Err("the canvas has no 2D context".into());
        }
        Ok(context.unchecked_into())
    }

    /// Sets the size, only when it changes (setting it clears the canvas).
    pub(crate) fn resize(&self, width: u32, height: u32) {
        if self.width() != width {
            self.set_width(width);
        }
        if self.height() != height {
            self.set_height(height);
        }
    }
}

/// A canvas for scratch work: an `OffscreenCanvas` where there is one,
/// else a detached canvas element.
pub(crate) fn scratch_canvas(width: u32, height: u32) -> Result<AnyCanvas, JsValue> {
    if global_has("OffscreenCanvas") {
        return Ok(web_sys::OffscreenCanvas::new(width, height)?.unchecked_into());
    }
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or_else(|| JsValue::from_str("no OffscreenCanvas and no document"))?;
    let canvas: AnyCanvas = document.create_element("canvas")?.unchecked_into();
    canvas.resize(width, height);
    Ok(canvas)
}

/// Resolves after `ms` milliseconds (`setTimeout`, on the page or in a
/// worker).
pub(crate) fn sleep_ms(ms: u32) -> wasm_bindgen_futures::JsFuture {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let global = js_sys::global();
        let set_timeout = Reflect::get(&global, &"setTimeout".into())
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
        match set_timeout {
            Some(set_timeout) => {
                let _ = set_timeout.call2(&global, &resolve, &ms.into());
            }
            None => {
                let _ = resolve.call0(&JsValue::UNDEFINED);
            }
        }
    });
    wasm_bindgen_futures::JsFuture::from(promise)
}
