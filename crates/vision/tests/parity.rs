//! Parity with the reference: raw outputs against the TFLite interpreter
//! (onnxruntime for the segmenters' custom op), decoded results against the
//! Python reference decoder in models/reference. Fixtures are computed
//! offline and committed; see models/README.md.

mod common;

use common::{f, f32_file, json, model_bytes, png};
use peerlens_vision::{
    raw::RawModel, BoundingBox, FaceDetector, FaceMesh, RgbaFrame, Roi, SegmenterModel,
    SelfieSegmenter,
};

const CASES: [&str; 3] = ["astronaut", "two_faces", "no_face"];

fn shape(value: &serde_json::Value) -> Vec<usize> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect()
}

/// Runs the shipped model of one manifest case on its input.
fn run_case(case: &serde_json::Value) -> Vec<Vec<f32>> {
    let model = case["model"].as_str().unwrap();
    let input_shape = shape(&case["input"]["shape"]);
    let outputs: Vec<Vec<usize>> = case["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| shape(&o["shape"]))
        .collect();
    let output_refs: Vec<&[usize]> = outputs.iter().map(Vec::as_slice).collect();
    let mut net = RawModel::load(&model_bytes(model), &input_shape, &output_refs).unwrap();
    net.run(&f32_file(case["input"]["file"].as_str().unwrap()))
        .unwrap()
}

#[test]
fn raw_outputs_match_the_reference_within_1e_3_of_max_1_v() {
    let manifest = json("raw/manifest.json");
    let cases = manifest.as_array().unwrap();
    assert!(cases.len() >= 6, "the manifest lists every model and case");
    for case in cases {
        let model = case["model"].as_str().unwrap();
        let got = run_case(case);
        for (output, values) in case["outputs"].as_array().unwrap().iter().zip(&got) {
            let want = f32_file(output["file"].as_str().unwrap());
            assert_eq!(values.len(), want.len());
            let diff = values
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            // Box regressors are in input pixels (|v| up to ~500), where
            // 1e-3 is below f32 accumulation noise: onnxruntime itself
            // differs from TFLite by 2.6e-3 there. So the bound is 1e-3
            // absolute for |v| <= 1 and relative above.
            let scaled = values
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
                .fold(0.0f32, f32::max);
            println!(
                "{model} {} {}: max abs diff {diff:e}, scaled {scaled:e}",
                case["case"], output["name"]
            );
            assert!(
                scaled <= 1e-3,
                "{model} {}: max diff {scaled} x max(1, |v|)",
                output["name"]
            );
        }
    }
}

fn bbox(value: &serde_json::Value) -> BoundingBox {
    BoundingBox {
        xmin: f(&value["xmin"]),
        ymin: f(&value["ymin"]),
        xmax: f(&value["xmax"]),
        ymax: f(&value["ymax"]),
    }
}

fn roi(value: &serde_json::Value) -> Roi {
    Roi {
        x_center: f(&value["x_center"]),
        y_center: f(&value["y_center"]),
        width: f(&value["width"]),
        height: f(&value["height"]),
        rotation: f(&value["rotation"]),
    }
}

fn assert_roi_close(got: &Roi, want: &Roi, what: &str) {
    let tolerance = want.width * 0.01;
    assert!(
        (got.x_center - want.x_center).abs() <= tolerance,
        "{what}: {got:?} vs {want:?}"
    );
    assert!(
        (got.y_center - want.y_center).abs() <= tolerance,
        "{what}: {got:?} vs {want:?}"
    );
    assert!(
        (got.width - want.width).abs() <= tolerance,
        "{what}: {got:?} vs {want:?}"
    );
    assert!(
        (got.rotation - want.rotation).abs() <= 0.02,
        "{what}: {got:?} vs {want:?}"
    );
}

#[test]
fn detections_match_the_reference_decoder() {
    let mut detector = FaceDetector::load(&model_bytes("face_detection_short_range")).unwrap();
    for case in CASES {
        let reference = json(&format!("decoded/{case}.json"));
        let image = png(reference["image"].as_str().unwrap());
        let frame = RgbaFrame::packed(&image.rgba, image.width, image.height).unwrap();
        let got = detector.detect(&frame).unwrap().to_vec();
        let want = reference["detections"].as_array().unwrap();
        assert_eq!(got.len(), want.len(), "{case}: {got:?}");
        for want in want {
            let want_box = bbox(want);
            let best = got
                .iter()
                .max_by(|a, b| a.bbox.iou(&want_box).total_cmp(&b.bbox.iou(&want_box)))
                .unwrap();
            let iou = best.bbox.iou(&want_box);
            println!(
                "{case}: box IoU {iou:.4}, score {} vs {}",
                best.score, want["score"]
            );
            assert!(
                iou >= 0.98,
                "{case}: IoU {iou} for {best:?} vs {want_box:?}"
            );
            assert!(
                (best.score - f(&want["score"])).abs() < 0.02,
                "{case}: score"
            );
            for (k, point) in want["keypoints"].as_array().unwrap().iter().enumerate() {
                let (x, y) = best.keypoints[k];
                let err = ((x - f(&point[0])).powi(2) + (y - f(&point[1])).powi(2)).sqrt();
                assert!(
                    err <= want_box.width() * 0.02,
                    "{case}: keypoint {k} off by {err} px"
                );
            }
        }
    }
}

#[test]
fn no_face_gives_no_detection_and_two_faces_give_two() {
    let mut detector = FaceDetector::load(&model_bytes("face_detection_short_range")).unwrap();
    for (case, faces) in [("no_face", 0), ("two_faces", 2), ("astronaut", 1)] {
        let image = png(&format!("images/{case}.png"));
        let frame = RgbaFrame::packed(&image.rgba, image.width, image.height).unwrap();
        assert_eq!(detector.detect(&frame).unwrap().len(), faces, "{case}");
    }
}

#[test]
fn landmarks_match_the_reference_within_half_a_percent_of_the_face() {
    let reference = json("decoded/astronaut.json");
    let image = png("images/astronaut.png");
    let frame = RgbaFrame::packed(&image.rgba, image.width, image.height).unwrap();
    let mut detector = FaceDetector::load(&model_bytes("face_detection_short_range")).unwrap();
    let mut mesh = FaceMesh::load(&model_bytes("face_landmark")).unwrap();

    let want_roi = roi(&reference["face_roi"]);
    let detection = detector.detect(&frame).unwrap()[0];
    assert_roi_close(
        &Roi::from_detection(&detection),
        &want_roi,
        "ROI from the detection",
    );

    let landmarks = mesh.landmarks(&frame, &want_roi).unwrap().clone();
    let want = reference["landmarks"].as_array().unwrap();
    assert_eq!(landmarks.points.len(), want.len());
    let face_size = want_roi.width / 1.5;
    let mean_error = landmarks
        .points
        .iter()
        .zip(want)
        .map(|(p, w)| ((p[0] - f(&w[0])).powi(2) + (p[1] - f(&w[1])).powi(2)).sqrt())
        .sum::<f32>()
        / want.len() as f32;
    println!(
        "mean landmark error {mean_error:.3} px, {:.3}% of the face",
        100.0 * mean_error / face_size
    );
    assert!(
        mean_error <= 0.005 * face_size,
        "mean error {mean_error} px for a {face_size} px face"
    );
    let presence = f(&reference["face_presence"]);
    assert!(
        (landmarks.presence - presence).abs() < 0.01,
        "presence {} vs {presence}",
        landmarks.presence
    );
    assert!(landmarks.presence > 0.9);
    assert_roi_close(
        &landmarks.next_roi(),
        &roi(&reference["landmark_roi"]),
        "ROI from the landmarks",
    );
}

fn mask_iou(a: &[u8], b: &[u8]) -> f64 {
    let (mut inter, mut union) = (0usize, 0usize);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (x >= 128, y >= 128);
        inter += (x && y) as usize;
        union += (x || y) as usize;
    }
    if union == 0 {
        1.0
    } else {
        inter as f64 / union as f64
    }
}

#[test]
fn masks_match_the_reference_with_iou_of_at_least_0_99() {
    for (model, name, key) in [
        (SegmenterModel::General, "selfie_segmentation", "mask"),
        (
            SegmenterModel::Landscape,
            "selfie_segmentation_landscape",
            "mask_landscape",
        ),
    ] {
        let mut segmenter = SelfieSegmenter::load(&model_bytes(name), model).unwrap();
        for case in CASES {
            let reference = json(&format!("decoded/{case}.json"));
            let image = png(reference["image"].as_str().unwrap());
            let frame = RgbaFrame::packed(&image.rgba, image.width, image.height).unwrap();
            let mut got = vec![0u8; (image.width * image.height) as usize];
            segmenter
                .segment(&frame)
                .unwrap()
                .upsample_into(image.width, image.height, &mut got)
                .unwrap();
            let want =
                std::fs::read(common::fixtures().join(reference[key].as_str().unwrap())).unwrap();
            let iou = mask_iou(&got, &want);
            let person = got.iter().filter(|&&v| v >= 128).count() as f64 / got.len() as f64;
            println!(
                "{name} {case}: mask IoU {iou:.4} ({:.1}% person)",
                person * 100.0
            );
            assert!(iou >= 0.99, "{name} {case}: IoU {iou}");
        }
    }
}

/// tract's own outputs on the reference inputs, committed so that the wasm
/// build (tests/browser.rs) can be held to the native one. Regenerate with
/// `PEERLENS_BLESS=1 cargo test -p peerlens-vision --test parity`.
#[test]
fn native_tract_outputs_are_the_committed_ones() {
    let bless = std::env::var_os("PEERLENS_BLESS").is_some();
    let manifest = json("raw/manifest.json");
    for case in manifest.as_array().unwrap() {
        let model = case["model"].as_str().unwrap();
        let got = run_case(case);
        for (output, values) in case["outputs"].as_array().unwrap().iter().zip(&got) {
            let file = format!(
                "tract/{model}.{}.{}.f32",
                case["case"].as_str().unwrap(),
                output["name"].as_str().unwrap()
            );
            if bless {
                let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
                std::fs::create_dir_all(common::fixtures().join("tract")).unwrap();
                std::fs::write(common::fixtures().join(&file), bytes).unwrap();
                continue;
            }
            let committed = f32_file(&file);
            let worst = values
                .iter()
                .zip(&committed)
                .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
                .fold(0.0f32, f32::max);
            assert_eq!(values.len(), committed.len(), "{file}");
            // Not zero: tract picks other x86 kernels on AVX2 and AVX-512
            // hosts (FMA or not, other tile sizes), which sum in another
            // order; 1.06e-5 was seen between an AVX-512 Xeon and an AVX2
            // EPYC. A real change of the graph or its kernels moves more.
            assert!(
                worst <= 1e-4,
                "{file}: tract's native output moved by {worst}; re-bless if intended"
            );
        }
    }
}
