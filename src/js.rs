//! The JavaScript face of the library: `#[wasm_bindgen]` wrappers with
//! typed options and real `Error`s.
//!
//! Every error that reaches JS is a `js_sys::Error` whose `name` is the
//! Rust error kind (such as `PermissionDenied`) and whose `code` property is
//! a stable kebab-case code, so apps can branch on either.

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
        self.inner.stream().clone()
    }

    /// Stops every track and releases the devices.
    pub fn stop(&self) {
        self.inner.stop();
    }
}

#[wasm_bindgen]
extern "C" {
    /// A list of tensor shapes.
    #[wasm_bindgen(typescript_type = "number[][]")]
    pub type Shapes;
}

fn vision_error(e: peerlens_vision::VisionError) -> JsValue {
    {
        use peerlens_vision::VisionError as E;
        let (name, code) = match &e {
            E::Model { .. } => ("ModelError", "bad-model"),
            E::Inference { .. } => ("InferenceError", "inference-failed"),
            _ => ("VisionError", "bad-input"),
        };
        js_error(name, code, &e.to_string())
    }
}

/// Low-level access to one vision model: runs an ONNX model on a tensor
/// you provide and returns its raw outputs. The effects use the decoded
/// models; this is for checking a model or timing it.
#[wasm_bindgen(js_name = RawModel)]
pub struct JsRawModel {
    inner: peerlens_vision::raw::RawModel,
}

#[wasm_bindgen(js_class = RawModel)]
impl JsRawModel {
    /// Loads and optimizes `onnx` for a fixed `inputShape`. `outputShapes`
    /// lists the expected outputs; `run` returns them in that order.
    #[wasm_bindgen(constructor)]
    pub fn new(
        onnx: &[u8],
        input_shape: Vec<u32>,
        output_shapes: Shapes,
    ) -> Result<JsRawModel, JsValue> {
        let outputs: Vec<Vec<usize>> = serde_wasm_bindgen::from_value(output_shapes.into())
            .map_err(|e| js_error("TypeError", "bad-options", &e.to_string()))?;
        let outputs: Vec<&[usize]> = outputs.iter().map(Vec::as_slice).collect();
        let input: Vec<usize> = input_shape.iter().map(|&d| d as usize).collect();
        Ok(Self {
            inner: peerlens_vision::raw::RawModel::load(onnx, &input, &outputs)
                .map_err(vision_error)?,
        })
    }

    /// Runs the model on `input` (row-major, the input shape's size).
    pub fn run(&mut self, input: &[f32]) -> Result<Vec<js_sys::Float32Array>, JsValue> {
        let outputs = self.inner.run(input).map_err(vision_error)?;
        Ok(outputs
            .iter()
            .map(|o| js_sys::Float32Array::from(o.as_slice()))
            .collect())
    }
}
