//! Bad input gets typed errors and never panics; tracking skips detection
//! while the face stays present; smoothing blends masks over time.

mod common;

use common::{model_bytes, png};
use peerlens_vision::{
    FaceDetector, FaceMesh, FaceTracker, RgbaFrame, Roi, SegmenterModel, SelfieSegmenter,
    TrackerOptions, VisionError,
};

fn is_model_error<T: std::fmt::Debug>(result: Result<T, VisionError>) -> bool {
    matches!(result, Err(VisionError::Model { .. }))
}

#[test]
fn corrupt_truncated_empty_and_wrong_models_are_typed_errors() {
    let bytes = model_bytes("face_detection_short_range");
    assert!(is_model_error(FaceDetector::load(&[])));
    assert!(is_model_error(FaceDetector::load(
        &bytes[..bytes.len() / 2]
    )));
    assert!(is_model_error(FaceDetector::load(&bytes[..100])));
    let mut corrupt = bytes.clone();
    for (i, b) in corrupt.iter_mut().enumerate().skip(64) {
        *b = b.wrapping_mul(31).wrapping_add(i as u8);
    }
    assert!(is_model_error(FaceDetector::load(&corrupt)));
    assert!(is_model_error(FaceDetector::load(
        b"definitely not protobuf"
    )));
    // A valid model of the wrong kind is refused: by shape inference when
    // the input size does not fit it, or else by its output shapes.
    let segmenter = model_bytes("selfie_segmentation");
    assert!(is_model_error(FaceDetector::load(&segmenter)));
    let landscape = model_bytes("selfie_segmentation_landscape");
    let err = SelfieSegmenter::load(&landscape, SegmenterModel::General).unwrap_err();
    assert!(matches!(err, VisionError::Model { .. }), "{err}");
    assert!(is_model_error(FaceMesh::load(&bytes)));
    assert!(is_model_error(SelfieSegmenter::load(
        &bytes,
        SegmenterModel::Landscape
    )));
}

#[test]
fn bad_frames_are_typed_errors() {
    let buf = vec![0u8; 100];
    assert!(matches!(
        RgbaFrame::packed(&buf, 0, 0),
        Err(VisionError::ZeroSize { .. })
    ));
    assert!(matches!(
        RgbaFrame::packed(&buf, 10, 10),
        Err(VisionError::BufferTooSmall { .. })
    ));
    let mut mesh = FaceMesh::load(&model_bytes("face_landmark")).unwrap();
    let frame = RgbaFrame::packed(&buf, 5, 5).unwrap();
    let empty = Roi {
        width: 0.0,
        ..Roi::default()
    };
    assert!(matches!(
        mesh.landmarks(&frame, &empty),
        Err(VisionError::EmptyRoi)
    ));
    let nan = Roi {
        width: f32::NAN,
        height: 1.0,
        ..Roi::default()
    };
    assert!(matches!(
        mesh.landmarks(&frame, &nan),
        Err(VisionError::EmptyRoi)
    ));
}

#[test]
fn odd_frame_sizes_run_without_panicking() {
    let mut detector = FaceDetector::load(&model_bytes("face_detection_short_range")).unwrap();
    let mut segmenter =
        SelfieSegmenter::load(&model_bytes("selfie_segmentation"), SegmenterModel::General)
            .unwrap();
    for (w, h) in [(1, 1), (1000, 1), (1, 700), (3, 2), (640, 480)] {
        let data = vec![128u8; (w * h * 4) as usize];
        let frame = RgbaFrame::packed(&data, w, h).unwrap();
        assert!(
            detector.detect(&frame).unwrap().is_empty(),
            "{w}x{h}: a grey frame has no face"
        );
        let mut alpha = vec![0u8; (w * h) as usize];
        segmenter
            .segment(&frame)
            .unwrap()
            .upsample_into(w, h, &mut alpha)
            .unwrap();
    }
}

#[test]
fn tracking_skips_detection_while_the_face_stays_present() {
    let image = png("images/astronaut.png");
    let frame = RgbaFrame::packed(&image.rgba, image.width, image.height).unwrap();
    let detector = FaceDetector::load(&model_bytes("face_detection_short_range")).unwrap();
    let mesh = FaceMesh::load(&model_bytes("face_landmark")).unwrap();
    let mut tracker = FaceTracker::new(
        detector,
        mesh,
        TrackerOptions {
            detect_every: 3,
            ..Default::default()
        },
    );

    let first = tracker.track(&frame).unwrap();
    assert!(first.detection.is_some(), "the first frame detects");
    let first_nose = first.landmarks.expect("a face").points[1];
    for frame_no in 1..=2 {
        let tracked = tracker.track(&frame).unwrap();
        assert!(
            tracked.detection.is_none(),
            "frame {frame_no} tracks without detecting"
        );
        let landmarks = tracked.landmarks.expect("still a face");
        let nose = landmarks.points[1];
        let drift = ((nose[0] - first_nose[0]).powi(2) + (nose[1] - first_nose[1]).powi(2)).sqrt();
        assert!(
            drift < 3.0,
            "a still image's landmarks stay put (drift {drift} px)"
        );
    }
    assert!(
        tracker.track(&frame).unwrap().detection.is_some(),
        "detect_every forces a detection"
    );

    let blank = png("images/no_face.png");
    let blank = RgbaFrame::packed(&blank.rgba, blank.width, blank.height).unwrap();
    let lost = tracker.track(&blank).unwrap();
    assert!(lost.landmarks.is_none(), "no face in the new scene");
    let again = tracker.track(&frame).unwrap();
    assert!(
        again.detection.is_some(),
        "a lost face is searched for again"
    );
}

#[test]
fn smoothing_blends_the_new_mask_with_the_previous_one() {
    let person = png("images/astronaut.png");
    let person = RgbaFrame::packed(&person.rgba, person.width, person.height).unwrap();
    let grey = vec![128u8; 512 * 512 * 4];
    let grey = RgbaFrame::packed(&grey, 512, 512).unwrap();
    let bytes = model_bytes("selfie_segmentation");
    let mut plain = SelfieSegmenter::load(&bytes, SegmenterModel::General).unwrap();
    let a = plain.segment(&person).unwrap().values.to_vec();
    let b = plain.segment(&grey).unwrap().values.to_vec();

    let mut smooth = SelfieSegmenter::load(&bytes, SegmenterModel::General).unwrap();
    smooth.set_smoothing(0.75);
    assert_eq!(
        smooth.segment(&person).unwrap().values,
        &a[..],
        "the first mask is not blended"
    );
    let blended = smooth.segment(&grey).unwrap().values.to_vec();
    let worst = blended
        .iter()
        .zip(a.iter().zip(&b))
        .map(|(m, (a, b))| (m - (0.75 * a + 0.25 * b)).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-5, "blend error {worst}");
    smooth.reset();
    assert_eq!(
        smooth.segment(&grey).unwrap().values,
        &b[..],
        "reset forgets the previous mask"
    );
}
