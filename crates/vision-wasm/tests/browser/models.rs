//! The models in wasm: raw outputs against the same reference fixtures as
//! the native parity tests (crates/vision/tests/parity.rs), at the same
//! tolerance, so a kernel that is wrong only in wasm fails here; and which
//! kernels tract picks for the models' products in this browser.

use peerlens_vision::{
    kernels::{self, Host, KernelSet},
    raw::RawModel,
};
use wasm_bindgen_test::wasm_bindgen_test;

const FIXTURES: &str = "../../../vision/tests/fixtures/raw/";

/// One reference case: a model, its input and its outputs, as committed.
struct Case {
    model: &'static str,
    onnx: &'static [u8],
    input: &'static [u8],
    input_shape: &'static [usize],
    outputs: &'static [(&'static [u8], &'static [usize])],
}

macro_rules! fixture {
    ($file:literal) => {
        include_bytes!(concat!("../../../vision/tests/fixtures/raw/", $file))
    };
}

const CASES: &[Case] = &[
    Case {
        model: "face_detection_short_range",
        onnx: super::DETECTOR,
        input: fixture!("face_detection_short_range.astronaut.input.f32"),
        input_shape: &[1, 128, 128, 3],
        outputs: &[
            (
                fixture!("face_detection_short_range.astronaut.regressors.f32"),
                &[1, 896, 16],
            ),
            (
                fixture!("face_detection_short_range.astronaut.classificators.f32"),
                &[1, 896, 1],
            ),
        ],
    },
    Case {
        model: "face_detection_short_range (two faces)",
        onnx: super::DETECTOR,
        input: fixture!("face_detection_short_range.two_faces.input.f32"),
        input_shape: &[1, 128, 128, 3],
        outputs: &[
            (
                fixture!("face_detection_short_range.two_faces.regressors.f32"),
                &[1, 896, 16],
            ),
            (
                fixture!("face_detection_short_range.two_faces.classificators.f32"),
                &[1, 896, 1],
            ),
        ],
    },
    Case {
        model: "face_landmark",
        onnx: super::MESH,
        input: fixture!("face_landmark.astronaut.input.f32"),
        input_shape: &[1, 192, 192, 3],
        outputs: &[
            (
                fixture!("face_landmark.astronaut.conv2d_21.f32"),
                &[1, 1, 1, 1404],
            ),
            (
                fixture!("face_landmark.astronaut.conv2d_31.f32"),
                &[1, 1, 1, 1],
            ),
        ],
    },
    Case {
        model: "selfie_segmentation",
        onnx: super::SEGMENTER,
        input: fixture!("selfie_segmentation.astronaut.input.f32"),
        input_shape: &[1, 256, 256, 3],
        outputs: &[(
            fixture!("selfie_segmentation.astronaut.activation_10.f32"),
            &[1, 256, 256, 1],
        )],
    },
    Case {
        model: "selfie_segmentation_landscape",
        onnx: super::LANDSCAPE,
        input: fixture!("selfie_segmentation_landscape.astronaut.input.f32"),
        input_shape: &[1, 144, 256, 3],
        outputs: &[(
            fixture!("selfie_segmentation_landscape.astronaut.segment_back.f32"),
            &[1, 144, 256, 1],
        )],
    },
];

fn floats(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn load(case: &Case) -> RawModel {
    let shapes: Vec<&[usize]> = case.outputs.iter().map(|(_, s)| *s).collect();
    RawModel::load(case.onnx, case.input_shape, &shapes)
        .unwrap_or_else(|e| panic!("{} loads: {e}", case.model))
}

/// parity.rs's bound: 1e-3 absolute for |v| <= 1, relative above (the box
/// regressors are in input pixels).
fn assert_parity(case: &Case, set: KernelSet) {
    let mut model = load(case);
    let got = model.run(&floats(case.input)).expect("the model runs");
    for ((file, _), values) in case.outputs.iter().zip(&got) {
        let want = floats(file);
        assert_eq!(values.len(), want.len(), "{}", case.model);
        let scaled = values
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
            .fold(0.0f32, f32::max);
        assert!(
            scaled <= 1e-3,
            "{} with {set:?} kernels: max diff {scaled} x max(1, |v|) against {FIXTURES}",
            case.model
        );
    }
}

#[wasm_bindgen_test]
fn the_models_match_the_reference_fixtures_in_wasm() {
    kernels::set_kernel_set(KernelSet::Peerlens);
    for case in CASES {
        assert_parity(case, KernelSet::Peerlens);
    }
}

#[wasm_bindgen_test]
fn the_models_match_the_reference_fixtures_with_tracts_own_kernels() {
    kernels::set_kernel_set(KernelSet::Tract);
    for case in CASES {
        assert_parity(case, KernelSet::Tract);
    }
    kernels::set_kernel_set(KernelSet::Peerlens);
}

/// What the browser says it runs on; wasm itself hides it.
fn browser_on_x86() -> bool {
    let navigator = web_sys::window().expect("a window").navigator();
    let platform = navigator.platform().unwrap_or_default();
    let agent = navigator.user_agent().unwrap_or_default();
    [platform, agent].iter().any(|s| {
        s.contains("x86_64") || s.contains("x86-64") || s.contains("i686") || s.contains("Win64")
    })
}

#[wasm_bindgen_test]
fn tract_picks_our_kernels_for_the_models_products() {
    kernels::set_kernel_set(KernelSet::Peerlens);
    let x86 = browser_on_x86();
    assert_eq!(
        kernels::host() == Host::X86,
        x86,
        "the NaN-sign probe agrees with the browser"
    );
    let gemm = if x86 {
        kernels::GEMM
    } else {
        kernels::TRACT_GEMM
    };
    for case in CASES {
        let products = load(case).matmuls();
        let matrices: Vec<_> = products.iter().filter(|p| p.n > 1).collect();
        assert!(!matrices.is_empty(), "{} has matrix products", case.model);
        for p in matrices {
            assert_eq!(
                p.kernel, gemm,
                "{}: {} ({}x{}x{})",
                case.model, p.node, p.m, p.k, p.n
            );
        }
    }
    assert_eq!(
        kernels::picked_depthwise(),
        (Some(kernels::DEPTHWISE_W), Some(kernels::DEPTHWISE_C)),
        "the depthwise routines"
    );
    // Models loaded while tract's set is chosen keep tract's tile.
    kernels::set_kernel_set(KernelSet::Tract);
    let products = load(&CASES[0]).matmuls();
    kernels::set_kernel_set(KernelSet::Peerlens);
    assert!(products
        .iter()
        .filter(|p| p.n > 1)
        .all(|p| p.kernel == kernels::TRACT_GEMM));
}

#[wasm_bindgen_test]
fn a_profiled_run_times_the_ops_it_ran() {
    let case = &CASES[3];
    let mut model = load(case);
    let performance = web_sys::window()
        .and_then(|w| w.performance())
        .expect("performance");
    let mut clock = || performance.now();
    let ops = model
        .profile(&floats(case.input), &mut clock)
        .expect("a profiled run");
    let names: Vec<&str> = ops.iter().map(|t| t.op.as_str()).collect();
    for expected in ["OptMatMul", "DepthWiseConv"] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    assert!(
        ops.windows(2).all(|w| w[0].ms >= w[1].ms),
        "slowest first: {ops:?}"
    );
    let total: f64 = ops.iter().map(|t| t.ms).sum();
    assert!(total > 0.0, "{ops:?}");
    assert!(ops.iter().all(|t| t.nodes > 0));
}

/// The face models' pool steps run as our fused op with our kernel set,
/// and as tract's own nodes with tract's (the baseline the benchmark
/// compares against).
#[wasm_bindgen_test]
fn the_pool_steps_are_fused_with_our_set_only() {
    let case = CASES
        .iter()
        .find(|c| c.model == "face_detection_short_range")
        .expect("the detection case");
    let performance = web_sys::window()
        .and_then(|w| w.performance())
        .expect("performance");
    let mut clock = || performance.now();
    let mut ops = |set| {
        kernels::set_kernel_set(set);
        let mut model = load(case);
        kernels::set_kernel_set(KernelSet::Peerlens);
        let ops = model
            .profile(&floats(case.input), &mut clock)
            .expect("a profiled run");
        ops.into_iter().map(|t| t.op).collect::<Vec<_>>()
    };
    let ours = ops(KernelSet::Peerlens);
    let theirs = ops(KernelSet::Tract);
    assert!(
        ours.iter().any(|op| op == "PeerlensMaxOfHalves"),
        "{ours:?}"
    );
    assert!(
        !theirs.iter().any(|op| op == "PeerlensMaxOfHalves"),
        "{theirs:?}"
    );
}
