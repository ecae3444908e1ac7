//! The JavaScript face of the library: `#[wasm_bindgen]` wrappers with
//! typed options and real `Error`s.
//!
//! Every error that reaches JS is a `js_sys::Error` whose `name` is the
//! Rust error kind (such as `PermissionDenied`) and whose `code` property is
//! a stable kebab-case code, so apps can branch on either.

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

/// Parses the settings and takes out the replacement image, if any.
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

/// An open camera. `stop()` (or `free()`) stops its tracks.
#[wasm_bindgen(js_name = Camera)]
pub struct JsCamera {
    inner: Camera,
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
            inner: Camera::open(&constraints).await?,
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
    }
}
