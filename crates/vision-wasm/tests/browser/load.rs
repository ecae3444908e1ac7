//! Loading the effects' models in the browser: progress, and typed errors
//! for a missing and a corrupt model. Models are served as blob URLs of
//! the repository's own files; the 404 comes from the test runner's HTTP
//! server.

use peerlens_core::{EffectsError, ModelUrls, Progress, Segmenter};
use peerlens_vision::{EffectOptions, SegmenterModel};
use peerlens_vision_wasm::{fetch_bytes, load_background, load_faces};
use wasm_bindgen_test::wasm_bindgen_test;

use super::{blob_url, DETECTOR, MESH, SEGMENTER};

#[wasm_bindgen_test]
async fn a_model_is_fetched_whole_with_monotonic_progress() {
    let url = blob_url(SEGMENTER);
    let mut seen: Vec<(u64, Option<u64>)> = Vec::new();
    let bytes = fetch_bytes(&url, &mut |got, total| seen.push((got, total)))
        .await
        .expect("the blob fetches");
    assert_eq!(bytes, SEGMENTER);
    assert!(
        seen.len() >= 2,
        "progress before and after the body: {seen:?}"
    );
    assert!(
        seen.windows(2).all(|w| w[0].0 <= w[1].0),
        "monotonic: {seen:?}"
    );
    assert_eq!(seen.last().map(|s| s.0), Some(SEGMENTER.len() as u64));
    for (_, total) in &seen {
        assert!(total.is_none() || *total == Some(SEGMENTER.len() as u64));
    }
}

#[wasm_bindgen_test]
async fn a_missing_model_is_a_typed_http_error() {
    let urls = ModelUrls::under("/peerlens-no-such-dir", Segmenter::General);
    let err = load_faces(&urls, &EffectOptions::default(), &mut |_| {})
        .await
        .expect_err("nothing is served there");
    match &err {
        EffectsError::Http { url, status } => {
            assert_eq!(status, &404);
            assert!(url.ends_with("face_detection_short_range.onnx"), "{url}");
        }
        other => panic!("expected an HTTP error, got {other:?}"),
    }
    assert_eq!(err.name(), "HttpError");
}

#[wasm_bindgen_test]
async fn a_corrupt_model_is_a_typed_model_error_naming_its_url() {
    let corrupt: Vec<u8> = MESH[..MESH.len() / 3].to_vec();
    let urls = ModelUrls {
        detector: blob_url(DETECTOR),
        mesh: blob_url(&corrupt),
        segmenter: blob_url(SEGMENTER),
    };
    let err = load_faces(&urls, &EffectOptions::default(), &mut |_| {})
        .await
        .expect_err("a truncated mesh model");
    match &err {
        EffectsError::Model { url, .. } => assert_eq!(url, &urls.mesh),
        other => panic!("expected a model error, got {other:?}"),
    }
}

#[wasm_bindgen_test]
async fn the_three_models_load_with_combined_progress() {
    let urls = ModelUrls {
        detector: blob_url(DETECTOR),
        mesh: blob_url(MESH),
        segmenter: blob_url(SEGMENTER),
    };
    let mut last = Progress::default();
    let mut calls = 0;
    let mut on_progress = |p: Progress| {
        assert!(
            p.loaded >= last.loaded,
            "progress went back: {last:?} -> {p:?}"
        );
        last = p;
        calls += 1;
    };
    load_faces(&urls, &EffectOptions::default(), &mut on_progress)
        .await
        .expect("the face models load in wasm");
    let faces = (DETECTOR.len() + MESH.len()) as u64;
    assert_eq!(last.loaded, faces);
    assert!(
        last.total.is_none() || last.total == Some(faces),
        "{last:?}"
    );
    assert!(calls >= 4, "{calls} progress events");
    last = Progress::default();
    let mut on_progress = |p: Progress| {
        assert!(p.loaded >= last.loaded, "progress went back");
        last = p;
    };
    load_background(
        &urls,
        SegmenterModel::General,
        &EffectOptions::default(),
        &mut on_progress,
    )
    .await
    .expect("the segmenter loads in wasm");
    assert_eq!(last.loaded, SEGMENTER.len() as u64);
}
