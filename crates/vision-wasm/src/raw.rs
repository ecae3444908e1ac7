//! The JS export of the vision layer: `RawModel`, one tract model run on
//! a tensor, and the kernel diagnostics that `cargo xtask bench vision`
//! reads. Built only with the `vision` feature.

use wasm_bindgen::prelude::*;

use crate::{bindings::now, js_error};

#[wasm_bindgen]
extern "C" {
    /// A list of tensor shapes.
    #[wasm_bindgen(typescript_type = "number[][]")]
    pub type Shapes;
    /// The matrix products of a model.
    #[wasm_bindgen(
        typescript_type = "{ node: string; kernel: string; m: number; k: number; n: number }[]"
    )]
    pub type MatMuls;
    /// A profiled run's time per op.
    #[wasm_bindgen(typescript_type = "{ op: string; nodes: number; ms: number }[]")]
    pub type OpTimes;
}

#[derive(serde::Serialize)]
struct MatMulJs<'a> {
    node: &'a str,
    kernel: &'a str,
    m: usize,
    k: usize,
    n: usize,
}

#[derive(serde::Serialize)]
struct OpTimeJs<'a> {
    op: &'a str,
    nodes: usize,
    ms: f64,
}

fn to_js<T: serde::Serialize>(value: &T) -> Result<JsValue, JsValue> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| js_error("VisionError", "bad-input", &e.to_string()))
}

fn kernel_set(name: &str) -> Result<peerlens_vision::kernels::KernelSet, JsValue> {
    use peerlens_vision::kernels::KernelSet;
    match name {
        "peerlens" => Ok(KernelSet::Peerlens),
        "tract" => Ok(KernelSet::Tract),
        other => Err(js_error(
            "TypeError",
            "bad-options",
            &format!("unknown kernel set {other:?}: expected \"peerlens\" or \"tract\""),
        )),
    }
}

/// Chooses the compute kernels of the vision models: `"peerlens"` (the
/// default: our GEMM and depthwise kernels where they are faster on this
/// host, and our fused pool op) or `"tract"` (tract as it comes: its own
/// kernels and nodes). The GEMM kernel and the fused ops are settled when a
/// model loads, so this applies to models loaded afterwards. For comparing
/// the two, or ruling ours out when a result looks wrong.
#[wasm_bindgen(js_name = setVisionKernels)]
pub fn set_vision_kernels(kernels: &str) -> Result<(), JsValue> {
    peerlens_vision::kernels::set_kernel_set(kernel_set(kernels)?);
    Ok(())
}

/// Measures a GEMM kernel of this build on one product shape (`m`x`k` by
/// `k`x`n`, bias and ReLU fused), for about `ms` milliseconds, and returns
/// its GFLOP/s. `kernels` is `"peerlens"` (our tile) or `"tract"` (tract's
/// 8x8). For benchmarks; it blocks the thread while it runs.
#[wasm_bindgen(js_name = benchVisionGemm)]
pub fn bench_vision_gemm(
    kernels: &str,
    m: usize,
    k: usize,
    n: usize,
    ms: f64,
) -> Result<f64, JsValue> {
    use peerlens_vision::kernels::{self, KernelSet};
    let kernel = match kernel_set(kernels)? {
        KernelSet::Peerlens => kernels::gemm(),
        KernelSet::Tract => kernels::tract_gemm(),
    }
    .ok_or_else(|| {
        js_error(
            "VisionError",
            "unsupported",
            "this build has no wasm simd128 kernels",
        )
    })?;
    kernels::bench::gemm_gflops(&*kernel, (m, k, n), &mut now, ms)
        .map_err(|e| js_error("VisionError", "bad-input", &format!("{e:#}")))
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

    /// The model's matrix products as tract planned them: each node, the
    /// kernel it runs with, and its shape (`m` rows, `k` deep, `n`
    /// columns).
    pub fn matmuls(&self) -> Result<MatMuls, JsValue> {
        let products = self.inner.matmuls();
        let rows: Vec<MatMulJs> = products
            .iter()
            .map(|p| MatMulJs {
                node: &p.node,
                kernel: &p.kernel,
                m: p.m,
                k: p.k,
                n: p.n,
            })
            .collect();
        Ok(to_js(&rows)?.unchecked_into())
    }

    /// Runs the model once on `input`, timing each op: tract's op names
    /// with their node counts and total milliseconds, slowest first.
    pub fn profile(&mut self, input: &[f32]) -> Result<OpTimes, JsValue> {
        let ops = self.inner.profile(input, &mut now).map_err(vision_error)?;
        let rows: Vec<OpTimeJs> = ops
            .iter()
            .map(|t| OpTimeJs {
                op: &t.op,
                nodes: t.nodes,
                ms: t.ms,
            })
            .collect();
        Ok(to_js(&rows)?.unchecked_into())
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
