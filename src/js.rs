//! The JavaScript face of the library: `#[wasm_bindgen]` wrappers with
//! typed options and real `Error`s.
//!
//! Every error that reaches JS is a `js_sys::Error` whose `name` is the
//! Rust error kind (such as `PermissionDenied`) and whose `code` property is
//! a stable kebab-case code, so apps can branch on either.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ops::Deref;
use std::rc::Rc;

use js_sys::Reflect;
use serde::Deserialize;
use wasm_bindgen::prelude::*;
use web_sys::MediaStream;

use crate::{Camera, CameraConstraints, MediaError};

#[wasm_bindgen(typescript_custom_section)]
const TS_CAMERA_OPTIONS: &str = r#"
/** What to ask the camera for. Sizes and frame rate are ideal values. */
export interface CameraOptions {
  width?: number;
  height?: number;
  frameRate?: number;
  /** A deviceId from enumerateDevices(); required exactly when given. */
  deviceId?: string;
  /** Open the microphone too. Defaults to false. */
  audio?: boolean;
}
"#;

#[wasm_bindgen]
extern "C" {
    /// The `CameraOptions` dictionary, as declared above.
    #[wasm_bindgen(typescript_type = "CameraOptions")]
    pub type CameraOptions;
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct CameraOptionsData {
    width: Option<u32>,
    height: Option<u32>,
    frame_rate: Option<f64>,
    device_id: Option<String>,
    audio: bool,
}

/// Builds the `Error` JS code receives: `name` and `code` set, `message`
/// from the Rust error.
pub(crate) fn js_error(name: &str, code: &str, message: &str) -> JsValue {
    let error = js_sys::Error::new(message);
    error.set_name(name);
    let _ = js_sys::Reflect::set(&error, &"code".into(), &code.into());
    error.into()
}

/// The error of an options object that does not fit its type.
pub(crate) fn bad_options(e: impl std::fmt::Display) -> JsValue {
    js_error("OptionsError", "bad-options", &e.to_string())
}

/// A shallow copy of `object` with only `keys`: what serde reads, without
/// the functions and images that sit next to it.
pub(crate) fn only(object: &JsValue, keys: &[&str]) -> JsValue {
    let copy = js_sys::Object::new();
    for key in keys {
        if let Ok(value) = Reflect::get(object, &(*key).into()) {
            if !value.is_undefined() {
                let _ = Reflect::set(&copy, &(*key).into(), &value);
            }
        }
    }
    copy.into()
}

thread_local! {
    /// What the page holds on to: every object started from JS and not yet
    /// stopped.
    static RUNNING: RefCell<HashMap<u32, Rc<dyn Any>>> = RefCell::default();
    static NEXT_ID: Cell<u32> = const { Cell::new(0) };
}

/// A running object behind a JS handle: a camera, effects, a room, a call,
/// a WHIP session, a Janus session or plugin.
///
/// wasm-bindgen frees a handle once the garbage collector finds nobody
/// holds it, and freeing would end the object: the call would drop because
/// an app kept no variable for its `Room`. Like the browser's own
/// `RTCPeerConnection` and `MediaStreamTrack`, these objects instead run
/// until they are stopped: the page keeps a reference of its own, which
/// [`Running::release`] gives up when the app calls `stop()`, `leave()`,
/// `hangUp()` or `close()`.
pub(crate) struct Running<T: 'static> {
    id: u32,
    value: Rc<T>,
}

impl<T: 'static> Running<T> {
    pub(crate) fn new(value: T) -> Self {
        Self::shared(Rc::new(value))
    }

    pub(crate) fn shared(value: Rc<T>) -> Self {
        let id = NEXT_ID.with(|n| {
            let id = n.get();
            n.set(id.wrapping_add(1));
            id
        });
        let held: Rc<dyn Any> = value.clone();
        RUNNING.with(|r| r.borrow_mut().insert(id, held));
        Running { id, value }
    }

    /// The value, for tasks that outlive a method call.
    pub(crate) fn rc(&self) -> Rc<T> {
        self.value.clone()
    }

    /// Gives up the page's reference: the object ends once its handle is
    /// dropped too (at once if `free()` was called, or when collected).
    pub(crate) fn release(&self) {
        // Taken out first: the value's `Drop` may start other JS objects.
        let held = RUNNING.with(|r| r.borrow_mut().remove(&self.id));
        drop(held);
    }
}

impl<T: 'static> Deref for Running<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

/// How many objects started from JS are still running: for leak tests.
#[wasm_bindgen(js_name = runningObjects)]
pub fn running_objects() -> u32 {
    RUNNING.with(|r| r.borrow().len() as u32)
}

impl From<MediaError> for JsValue {
    fn from(e: MediaError) -> Self {
        let code = match &e {
            MediaError::PermissionDenied(_) => "permission-denied",
            MediaError::NotFound(_) => "not-found",
            MediaError::Overconstrained { .. } => "overconstrained",
            MediaError::InsecureContext => "insecure-context",
            MediaError::NotReadable(_) => "not-readable",
            MediaError::Unsupported(_) => "unsupported",
            MediaError::Other(_) => "media-error",
        };
        js_error(e.name(), code, &e.to_string())
    }
}

/// An open camera. It runs until `stop()`, even when nothing holds this
/// object any more; `free()` only releases the handle.
#[wasm_bindgen(js_name = Camera)]
pub struct JsCamera {
    inner: Running<Camera>,
}

#[wasm_bindgen(js_class = Camera)]
impl JsCamera {
    /// Opens the camera. Rejects with an `Error` named `PermissionDenied`,
    /// `NotFound`, `Overconstrained`, `InsecureContext`, `NotReadable` or
    /// `Unsupported`.
    pub async fn open(options: Option<CameraOptions>) -> Result<JsCamera, JsValue> {
        let data: CameraOptionsData = match options {
            Some(options) => serde_wasm_bindgen::from_value(options.into())
                .map_err(|e| js_error("TypeError", "bad-options", &e.to_string()))?,
            None => CameraOptionsData::default(),
        };
        let constraints = CameraConstraints {
            width: data.width,
            height: data.height,
            frame_rate: data.frame_rate,
            device_id: data.device_id,
            audio: data.audio,
        };
        Ok(JsCamera {
            inner: Running::new(Camera::open(&constraints).await?),
        })
    }

    /// The captured stream, for a `<video>` element or a peer connection.
    #[wasm_bindgen(getter)]
    pub fn stream(&self) -> MediaStream {
        // `Clone::clone`: the JS `clone()` would copy the tracks.
        Clone::clone(self.inner.stream())
    }

    /// Stops every track and releases the devices.
    pub fn stop(&self) {
        self.inner.stop();
        self.inner.release();
    }
}
