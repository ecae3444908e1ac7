//! Bindings web-sys lacks or gates behind unstable flags, for the page
//! side of the effects: `MediaStreamTrackProcessor` and
//! `requestVideoFrameCallback`.

use js_sys::{Object, Reflect};
use wasm_bindgen::prelude::*;

pub(crate) use peerlens_core::js::{global_has, now};

#[wasm_bindgen]
extern "C" {
    /// `MediaStreamTrackProcessor`: a video track as a stream of
    /// `VideoFrame`s.
    pub(crate) type MediaStreamTrackProcessor;
    #[wasm_bindgen(constructor, catch)]
    fn new(init: &Object) -> Result<MediaStreamTrackProcessor, JsValue>;
    #[wasm_bindgen(method, getter)]
    pub(crate) fn readable(this: &MediaStreamTrackProcessor) -> web_sys::ReadableStream;

    /// Chromium's `MediaStreamTrackGenerator`: a track whose frames are
    /// written to its `writable`.
    pub(crate) type MediaStreamTrackGenerator;
    #[wasm_bindgen(constructor, catch)]
    fn new(init: &Object) -> Result<MediaStreamTrackGenerator, JsValue>;
    #[wasm_bindgen(method, getter)]
    pub(crate) fn writable(this: &MediaStreamTrackGenerator) -> JsValue;

    /// A video element, for `requestVideoFrameCallback`.
    pub(crate) type FrameCallbackVideo;
    #[wasm_bindgen(method, js_name = requestVideoFrameCallback)]
    pub(crate) fn request_video_frame_callback(
        this: &FrameCallbackVideo,
        callback: &js_sys::Function,
    ) -> u32;
    #[wasm_bindgen(method, js_name = cancelVideoFrameCallback)]
    pub(crate) fn cancel_video_frame_callback(this: &FrameCallbackVideo, handle: u32);
}

/// Whether an object has a property `name`.
pub(crate) fn has(object: &JsValue, name: &str) -> bool {
    Reflect::has(object, &name.into()).unwrap_or(false)
}

impl MediaStreamTrackProcessor {
    /// A processor on `track` that keeps at most `buffer` unread frames.
    pub(crate) fn for_track(
        track: &web_sys::MediaStreamTrack,
        buffer: u32,
    ) -> Result<Self, JsValue> {
        let init = Object::new();
        Reflect::set(&init, &"track".into(), track)?;
        Reflect::set(&init, &"maxBufferSize".into(), &buffer.into())?;
        Self::new(&init)
    }
}

impl MediaStreamTrackGenerator {
    /// A video track generator, with the track it is.
    pub(crate) fn video() -> Result<(Self, web_sys::MediaStreamTrack), JsValue> {
        let init = Object::new();
        Reflect::set(&init, &"kind".into(), &"video".into())?;
        let generator = Self::new(&init)?;
        let track = generator.clone().unchecked_into();
        Ok((generator, track))
    }
}
