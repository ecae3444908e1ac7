//! The JS export of the vision layer: `RawModel`, one tract model run on
//! a tensor. Built only with the `vision` feature.

use wasm_bindgen::prelude::*;

use crate::js::js_error;

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
