//! The vision module's browser tests, run by wasm-bindgen-test in headless
//! Chromium and Firefox (`cargo xtask test`), once per build: simd128,
//! and (in Chromium) relaxed SIMD, built in a target directory of its own.
//! The models against their reference fixtures, the kernels tract picks,
//! and the models' loading with its typed errors.
#![cfg(target_arch = "wasm32")]

use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

#[path = "browser/load.rs"]
mod load;
#[path = "browser/models.rs"]
mod models;

pub(crate) const DETECTOR: &[u8] =
    include_bytes!("../../../models/face_detection_short_range.onnx");
pub(crate) const MESH: &[u8] = include_bytes!("../../../models/face_landmark.onnx");
pub(crate) const SEGMENTER: &[u8] = include_bytes!("../../../models/selfie_segmentation.onnx");
pub(crate) const LANDSCAPE: &[u8] =
    include_bytes!("../../../models/selfie_segmentation_landscape.onnx");

/// A `blob:` URL serving `bytes`.
pub(crate) fn blob_url(bytes: &[u8]) -> String {
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes));
    let blob = web_sys::Blob::new_with_u8_array_sequence(&parts).expect("a blob");
    web_sys::Url::create_object_url_with_blob(&blob).expect("an object URL")
}

/// The build under test is the one xtask asked for
/// (`PEERLENS_VISION_BUILD` when this binary was compiled): the relaxed
/// run really runs the relaxed-SIMD build.
#[wasm_bindgen_test]
fn the_build_under_test_is_the_one_asked_for() {
    let asked = option_env!("PEERLENS_VISION_BUILD").unwrap_or("simd128");
    assert_eq!(peerlens_vision_wasm::BUILD.as_str(), asked);
    assert_eq!(peerlens_vision_wasm::vision_build(), asked);
}

/// One model run on a committed reference input, with tract's native
/// outputs for the same input (crates/vision/tests/fixtures).
struct VisionCase {
    model: &'static [u8],
    input: &'static [u8],
    input_shape: &'static [usize],
    outputs: &'static [(&'static [usize], &'static [u8])],
}

macro_rules! fixture {
    ($path:literal) => {
        include_bytes!(concat!("../../vision/tests/fixtures/", $path))
    };
}

const VISION_CASES: &[VisionCase] = &[
    VisionCase {
        model: include_bytes!("../../../models/face_detection_short_range.onnx"),
        input: fixture!("raw/face_detection_short_range.astronaut.input.f32"),
        input_shape: &[1, 128, 128, 3],
        outputs: &[
            (
                &[1, 896, 16],
                fixture!("tract/face_detection_short_range.astronaut.regressors.f32"),
            ),
            (
                &[1, 896, 1],
                fixture!("tract/face_detection_short_range.astronaut.classificators.f32"),
            ),
        ],
    },
    VisionCase {
        model: include_bytes!("../../../models/face_landmark.onnx"),
        input: fixture!("raw/face_landmark.astronaut.input.f32"),
        input_shape: &[1, 192, 192, 3],
        outputs: &[
            (
                &[1, 1, 1, 1404],
                fixture!("tract/face_landmark.astronaut.conv2d_21.f32"),
            ),
            (
                &[1, 1, 1, 1],
                fixture!("tract/face_landmark.astronaut.conv2d_31.f32"),
            ),
        ],
    },
    VisionCase {
        model: include_bytes!("../../../models/selfie_segmentation.onnx"),
        input: fixture!("raw/selfie_segmentation.astronaut.input.f32"),
        input_shape: &[1, 256, 256, 3],
        outputs: &[(
            &[1, 256, 256, 1],
            fixture!("tract/selfie_segmentation.astronaut.activation_10.f32"),
        )],
    },
    VisionCase {
        model: include_bytes!("../../../models/selfie_segmentation_landscape.onnx"),
        input: fixture!("raw/selfie_segmentation_landscape.astronaut.input.f32"),
        input_shape: &[1, 144, 256, 3],
        outputs: &[(
            &[1, 144, 256, 1],
            fixture!("tract/selfie_segmentation_landscape.astronaut.segment_back.f32"),
        )],
    },
];

fn floats(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

#[wasm_bindgen_test]
fn vision_models_in_wasm_match_native_tract() {
    use peerlens_vision::raw::RawModel;
    for case in VISION_CASES {
        let shapes: Vec<&[usize]> = case.outputs.iter().map(|(shape, _)| *shape).collect();
        let mut model =
            RawModel::load(case.model, case.input_shape, &shapes).expect("the model loads in wasm");
        let got = model
            .run(&floats(case.input))
            .expect("the model runs in wasm");
        for ((_, native), got) in case.outputs.iter().zip(&got) {
            let native = floats(native);
            assert_eq!(got.len(), native.len());
            let worst = got
                .iter()
                .zip(&native)
                .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
                .fold(0.0f32, f32::max);
            assert!(
                worst <= 1e-4,
                "input {:?}: wasm differs from native by {worst} x max(1, |v|)",
                case.input_shape
            );
        }
    }
}
