//! The JS API of the vision module as the main module sees it: where the
//! module is and which build runs (`configureVision`), the probe, the
//! module itself (`loadVision`), and `RawModel`, which loads it on first
//! use. The module is a wasm of its own; nothing here links tract.

use js_sys::{Array, Function, Reflect};
use peerlens_core::{EffectsError, VisionBuild};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::effects::vision::{self, VisionOptions};

#[wasm_bindgen(typescript_custom_section)]
const VISION_TYPES: &'static str = r#"
/** Where the vision module's files are, and which build runs. */
export interface VisionOptions {
  /** The directory URL holding `peerlens_worker.js`,
   * `peerlens_vision_loader.js` and the builds, when it is not the one of
   * this package's glue (a CDN). */
  baseUrl?: string;
  /** A build to run instead of the probed one. */
  build?: "simd128" | "relaxed-simd";
}

/** The vision module's exports, for diagnostics and benchmarks. */
export interface VisionModule {
  /** The build that runs: "simd128" or "relaxed-simd". */
  visionBuild(): string;
  /** "peerlens" (the default) or "tract": the kernels of models loaded
   * from now on. */
  setVisionKernels(kernels: "peerlens" | "tract"): void;
  /** GFLOP/s of one GEMM kernel on one shape, measured for `ms`. */
  benchVisionGemm(kernels: "peerlens" | "tract", m: number, k: number, n: number, ms: number): number;
}

/** The vision module as `loadVision()` returns it. */
export interface LoadedVision {
  /** Its exports. */
  module: VisionModule;
  /** The build that runs. */
  build: "simd128" | "relaxed-simd";
  /** Why it is not the build asked for, when it is not. */
  fallback: string | null;
}
"#;

#[wasm_bindgen]
extern "C" {
    /// `VisionOptions` in TypeScript.
    #[wasm_bindgen(typescript_type = "VisionOptions")]
    pub type JsVisionOptions;
    /// `Promise<LoadedVision>` in TypeScript.
    #[wasm_bindgen(typescript_type = "Promise<LoadedVision>")]
    pub type LoadedVisionPromise;
    /// `Promise<RawModel>` in TypeScript.
    #[wasm_bindgen(typescript_type = "Promise<RawModel>")]
    pub type RawModelPromise;
    /// A list of tensor shapes.
    #[wasm_bindgen(typescript_type = "number[][]")]
    pub type OutputShapes;
}

fn effects_error(e: &EffectsError) -> JsValue {
    e.clone().into()
}

/// Sets where the vision module's files are and which build runs, for the
/// effects and models created from now on. `{}` goes back to the files
/// next to this package and the probed build.
#[wasm_bindgen(js_name = configureVision)]
pub fn configure_vision(options: Option<JsVisionOptions>) -> Result<(), JsValue> {
    let options: VisionOptions = match options {
        Some(options) if !JsValue::from(&options).is_undefined() => {
            serde_wasm_bindgen::from_value(options.into()).map_err(crate::js::bad_options)?
        }
        _ => VisionOptions::default(),
    };
    vision::configure_vision(options);
    Ok(())
}

/// The best build of the vision module this browser can run, probed with
/// `WebAssembly.validate` on two tiny modules: `"relaxed-simd"`,
/// `"simd128"`, or `null` without WebAssembly SIMD.
#[wasm_bindgen(js_name = probeVisionBuild)]
pub fn probe_vision_build() -> Option<String> {
    vision::probed_build().map(|b| b.as_str().to_owned())
}

/// Loads the vision module on this page (once; later calls return the same
/// one): the configured or probed build, falling back to simd128 when the
/// relaxed-SIMD build does not compile.
#[wasm_bindgen(js_name = loadVision)]
pub fn load_vision() -> LoadedVisionPromise {
    future_to_promise(async {
        let loaded = vision::load_on_page()
            .await
            .map_err(|e| effects_error(&e))?;
        let out = js_sys::Object::new();
        Reflect::set(&out, &"module".into(), &loaded.module)?;
        Reflect::set(&out, &"build".into(), &loaded.build.as_str().into())?;
        let fallback = loaded.fallback.map_or(JsValue::NULL, JsValue::from);
        Reflect::set(&out, &"fallback".into(), &fallback)?;
        Ok(out.into())
    })
    .unchecked_into()
}

/// Low-level access to one vision model: runs an ONNX model on a tensor
/// you provide and returns its raw outputs, in the vision module (loaded
/// on the first `RawModel.load`). The effects use the decoded models; this
/// is for checking a model or timing it.
#[wasm_bindgen(js_name = RawModel)]
pub struct JsRawModel {
    inner: JsValue,
    build: VisionBuild,
}

/// Calls `object[name](...args)`.
fn call(object: &JsValue, name: &str, args: &Array) -> Result<JsValue, JsValue> {
    let method: Function = Reflect::get(object, &name.into())?.dyn_into()?;
    method.apply(object, args)
}

#[wasm_bindgen(js_class = RawModel)]
impl JsRawModel {
    /// Loads the vision module if need be, then loads and optimizes `onnx`
    /// for a fixed `inputShape`. `outputShapes` lists the expected
    /// outputs; `run` returns them in that order.
    pub fn load(
        onnx: js_sys::Uint8Array,
        input_shape: Vec<u32>,
        output_shapes: OutputShapes,
    ) -> RawModelPromise {
        let output_shapes: JsValue = output_shapes.into();
        future_to_promise(async move {
            let loaded = vision::load_on_page()
                .await
                .map_err(|e| effects_error(&e))?;
            let class: Function = Reflect::get(&loaded.module, &"RawModel".into())?.dyn_into()?;
            let shape: Array = input_shape.iter().map(|&d| JsValue::from(d)).collect();
            let args = Array::of3(&onnx, &shape, &output_shapes);
            let inner = Reflect::construct(&class, &args)?;
            Ok(JsRawModel {
                inner,
                build: loaded.build,
            }
            .into())
        })
        .unchecked_into()
    }

    /// The build of the vision module the model runs in.
    #[wasm_bindgen(getter)]
    pub fn build(&self) -> String {
        self.build.as_str().to_owned()
    }

    /// The model's matrix products as tract planned them: each node, the
    /// kernel it runs with, and its shape (`m` rows, `k` deep, `n`
    /// columns).
    #[wasm_bindgen(
        unchecked_return_type = "{ node: string; kernel: string; m: number; k: number; n: number }[]"
    )]
    pub fn matmuls(&self) -> Result<JsValue, JsValue> {
        call(&self.inner, "matmuls", &Array::new())
    }

    /// Runs the model once on `input`, timing each op: tract's op names
    /// with their node counts and total milliseconds, slowest first.
    #[wasm_bindgen(unchecked_return_type = "{ op: string; nodes: number; ms: number }[]")]
    pub fn profile(&self, input: &js_sys::Float32Array) -> Result<JsValue, JsValue> {
        call(&self.inner, "profile", &Array::of1(input))
    }

    /// Runs the model on `input` (row-major, the input shape's size).
    #[wasm_bindgen(unchecked_return_type = "Float32Array[]")]
    pub fn run(&self, input: &js_sys::Float32Array) -> Result<JsValue, JsValue> {
        call(&self.inner, "run", &Array::of1(input))
    }
}

impl Drop for JsRawModel {
    fn drop(&mut self) {
        // The model's memory is the vision module's.
        let _ = call(&self.inner, "free", &Array::new());
    }
}
