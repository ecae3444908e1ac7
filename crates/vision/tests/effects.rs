//! The effects pipeline on a real photo with the real models: boxes where
//! the detector finds the face, background removal and blur where the
//! segmenter sees background, live option changes, and the scheduling of
//! detection and segmentation.

mod common;

use common::{model_bytes, png};
use peerlens_vision::{
    BackgroundEffect, EffectModels, EffectOptions, EffectsPipeline, FaceDetector, RgbaFrame,
    SegmenterModel, SelfieSegmenter,
};

fn pipeline(options: EffectOptions) -> EffectsPipeline {
    let (detector, mesh, segmenter) = (
        model_bytes("face_detection_short_range"),
        model_bytes("face_landmark"),
        model_bytes("selfie_segmentation"),
    );
    EffectsPipeline::load(
        EffectModels {
            detector: &detector,
            mesh: &mesh,
            segmenter: &segmenter,
            segmenter_model: SegmenterModel::General,
        },
        options,
    )
    .expect("the models load")
}

fn clock() -> impl FnMut() -> f64 {
    let start = std::time::Instant::now();
    move || start.elapsed().as_secs_f64() * 1e3
}

/// The person mask at full size, straight from the segmenter.
fn reference_mask(frame: &RgbaFrame<'_>) -> Vec<u8> {
    let mut segmenter =
        SelfieSegmenter::load(&model_bytes("selfie_segmentation"), SegmenterModel::General)
            .unwrap();
    segmenter.set_smoothing(0.0);
    let mut alpha = vec![0u8; (frame.width() * frame.height()) as usize];
    segmenter
        .segment(frame)
        .unwrap()
        .upsample_into(frame.width(), frame.height(), &mut alpha)
        .unwrap();
    alpha
}

/// Pixels whose whole 21x21 neighbourhood has mask value `value`: safely
/// inside the person (255) or the background (0), away from the feathered
/// edge.
fn solid(alpha: &[u8], width: u32, height: u32, value: u8) -> Vec<(u32, u32)> {
    let at = |x: u32, y: u32| alpha[(y * width + x) as usize];
    let mut found = Vec::new();
    for y in (10..height - 10).step_by(7) {
        for x in (10..width - 10).step_by(7) {
            let uniform = (y - 10..=y + 10)
                .step_by(2)
                .all(|yy| (x - 10..=x + 10).step_by(2).all(|xx| at(xx, yy) == value));
            if uniform {
                found.push((x, y));
            }
        }
    }
    found
}

fn px(buf: &[u8], width: u32, x: u32, y: u32) -> [u8; 4] {
    let i = ((y * width + x) * 4) as usize;
    [buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]
}

#[test]
fn boxes_are_drawn_on_the_detected_face() {
    let image = png("images/astronaut.png");
    let frame = RgbaFrame::packed(&image.rgba, image.width, image.height).unwrap();
    let mut detector = FaceDetector::load(&model_bytes("face_detection_short_range")).unwrap();
    let face = detector.detect(&frame).unwrap()[0];
    let mut effects = pipeline(EffectOptions {
        face_boxes: true,
        ..EffectOptions::default()
    });
    let mut out = vec![0u8; image.rgba.len()];
    let report = effects
        .process(&frame, None, &mut out, &mut clock())
        .unwrap();
    assert_eq!(report.faces, 1);
    assert!(report.detected);
    let green = [0, 230, 118, 255];
    let top = face.bbox.ymin.round() as u32;
    let (left, right) = (face.bbox.xmin.round() as u32, face.bbox.xmax.round() as u32);
    let on_edge = (left + 4..right - 4)
        .filter(|&x| px(&out, image.width, x, top) == green)
        .count();
    assert!(
        on_edge as u32 >= (right - left) * 9 / 10,
        "{on_edge} box pixels on the top edge"
    );
    let centre = (
        ((face.bbox.xmin + face.bbox.xmax) / 2.0) as u32,
        ((face.bbox.ymin + face.bbox.ymax) / 2.0 + 8.0) as u32,
    );
    assert_eq!(
        px(&out, image.width, centre.0, centre.1),
        px(&image.rgba, image.width, centre.0, centre.1),
        "inside the box the face is untouched"
    );
}

#[test]
fn removal_fills_the_background_and_keeps_the_person() {
    let image = png("images/astronaut.png");
    let frame = RgbaFrame::packed(&image.rgba, image.width, image.height).unwrap();
    let alpha = reference_mask(&frame);
    let (person, background) = (
        solid(&alpha, image.width, image.height, 255),
        solid(&alpha, image.width, image.height, 0),
    );
    assert!(
        person.len() > 50 && background.len() > 50,
        "{} {}",
        person.len(),
        background.len()
    );
    let fill = [10, 20, 200, 0];
    let mut effects = pipeline(EffectOptions {
        background: BackgroundEffect::Remove { fill },
        mask_smoothing: 0.0,
        ..EffectOptions::default()
    });
    let mut out = vec![0u8; image.rgba.len()];
    effects
        .process(&frame, None, &mut out, &mut clock())
        .unwrap();
    for &(x, y) in &background {
        assert_eq!(px(&out, image.width, x, y), fill, "background at ({x},{y})");
    }
    for &(x, y) in &person {
        assert_eq!(
            px(&out, image.width, x, y),
            px(&image.rgba, image.width, x, y),
            "person at ({x},{y})"
        );
    }

    // Switched off live: the next frame is the input again.
    effects.set_options(EffectOptions::default());
    effects
        .process(&frame, None, &mut out, &mut clock())
        .unwrap();
    assert_eq!(out, image.rgba);
}

#[test]
fn blur_smooths_the_background_only() {
    let image = png("images/astronaut.png");
    let frame = RgbaFrame::packed(&image.rgba, image.width, image.height).unwrap();
    let alpha = reference_mask(&frame);
    let background = solid(&alpha, image.width, image.height, 0);
    let person = solid(&alpha, image.width, image.height, 255);
    let mut effects = pipeline(EffectOptions {
        background: BackgroundEffect::Blur { radius: 6 },
        mask_smoothing: 0.0,
        ..EffectOptions::default()
    });
    let mut out = vec![0u8; image.rgba.len()];
    effects
        .process(&frame, None, &mut out, &mut clock())
        .unwrap();
    // Local contrast: mean absolute difference between horizontal
    // neighbours, over the background points.
    let contrast = |buf: &[u8]| {
        background
            .iter()
            .map(|&(x, y)| {
                let (a, b) = (px(buf, image.width, x, y), px(buf, image.width, x + 1, y));
                (0..3)
                    .map(|c| (i32::from(a[c]) - i32::from(b[c])).abs())
                    .sum::<i32>() as f64
            })
            .sum::<f64>()
            / background.len() as f64
    };
    let (before, after) = (contrast(&image.rgba), contrast(&out));
    assert!(
        after < before * 0.5,
        "background contrast {before:.2} -> {after:.2}"
    );
    for &(x, y) in &person {
        assert_eq!(
            px(&out, image.width, x, y),
            px(&image.rgba, image.width, x, y)
        );
    }
}

#[test]
fn detection_and_segmentation_run_on_their_schedule() {
    let image = png("images/astronaut.png");
    let frame = RgbaFrame::packed(&image.rgba, image.width, image.height).unwrap();
    let mut effects = pipeline(EffectOptions {
        face_mesh: true,
        background: BackgroundEffect::Blur { radius: 4 },
        detect_every: 4,
        segment_every: 3,
        ..EffectOptions::default()
    });
    let mut out = vec![0u8; image.rgba.len()];
    let mut detected = Vec::new();
    let mut segmented = Vec::new();
    for _ in 0..9 {
        let report = effects
            .process(&frame, None, &mut out, &mut clock())
            .unwrap();
        assert_eq!(report.faces, 1);
        detected.push(report.detected);
        segmented.push(report.segmented);
    }
    assert_eq!(
        detected,
        [true, false, false, false, true, false, false, false, true],
        "detect, track three frames, detect again: every fourth frame"
    );
    assert_eq!(
        segmented,
        [true, false, false, true, false, false, true, false, false],
        "segment every third frame, reuse the mask in between"
    );
}

#[test]
fn a_frame_without_a_face_draws_nothing_and_a_short_output_is_an_error() {
    let image = png("images/no_face.png");
    let frame = RgbaFrame::packed(&image.rgba, image.width, image.height).unwrap();
    let mut effects = pipeline(EffectOptions {
        face_boxes: true,
        face_mesh: true,
        ..EffectOptions::default()
    });
    let mut out = vec![0u8; image.rgba.len()];
    let report = effects
        .process(&frame, None, &mut out, &mut clock())
        .unwrap();
    assert_eq!(report.faces, 0);
    assert_eq!(out, image.rgba);
    let mut short = vec![0u8; 16];
    assert!(effects
        .process(&frame, None, &mut short, &mut clock())
        .is_err());
}

/// Tracked frames draw the box where the detection frame did: the marks
/// do not jump to the landmarks' extent between detections.
#[test]
fn the_box_stays_put_between_detections() {
    let image = png("images/astronaut.png");
    let frame = RgbaFrame::packed(&image.rgba, image.width, image.height).unwrap();
    let mut effects = pipeline(EffectOptions {
        face_boxes: true,
        detect_every: 10,
        ..EffectOptions::default()
    });
    let green = [0, 230, 118, 255];
    // The extent of the box colour: (xmin, ymin, xmax, ymax).
    let box_extent = |out: &[u8]| -> [i64; 4] {
        let mut e = [i64::MAX, i64::MAX, i64::MIN, i64::MIN];
        for (i, p) in out.chunks_exact(4).enumerate() {
            if p == green {
                let (x, y) = (
                    (i as u32 % image.width) as i64,
                    (i as u32 / image.width) as i64,
                );
                e = [e[0].min(x), e[1].min(y), e[2].max(x), e[3].max(y)];
            }
        }
        e
    };
    let mut out = vec![0u8; image.rgba.len()];
    let detected = effects
        .process(&frame, None, &mut out, &mut clock())
        .unwrap();
    assert!(detected.detected);
    let first = box_extent(&out);
    for _ in 0..3 {
        let tracked = effects
            .process(&frame, None, &mut out, &mut clock())
            .unwrap();
        assert!(!tracked.detected && tracked.faces == 1);
        let again = box_extent(&out);
        let moved = first
            .iter()
            .zip(again)
            .map(|(a, b)| (a - b).abs())
            .max()
            .unwrap();
        assert!(
            moved <= 3,
            "the box moved by {moved} px on a tracked frame: {first:?} -> {again:?}"
        );
    }
}
