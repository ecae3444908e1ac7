//! The effects on live camera streams: the worker and main-thread frame
//! paths, live switching, stop, and pass-through when the models fail.

use futures::{future::Either, StreamExt};
use peerlens::effects::{
    Effects, EffectsConfig, EffectsEvent, EffectsStats, Mode, ModelUrls, Segmenter, Thread,
};
use peerlens::{Camera, CameraConstraints};
use wasm_bindgen_test::wasm_bindgen_test;

use super::effects::{blob_url, DETECTOR, MESH};

const LANDSCAPE: &[u8] = include_bytes!("../../models/selfie_segmentation_landscape.onnx");

fn model_urls() -> ModelUrls {
    ModelUrls {
        detector: blob_url(DETECTOR),
        mesh: blob_url(MESH),
        segmenter: blob_url(LANDSCAPE),
    }
}

fn config(mode: Mode, settings: &str) -> EffectsConfig {
    EffectsConfig {
        models: Some(model_urls()),
        segmenter: Segmenter::Landscape,
        mode,
        settings: serde_json::from_str(settings).expect("settings JSON"),
        stats_interval_ms: 200,
        ..EffectsConfig::default()
    }
}

/// The next stats event that satisfies `done`, failing after `timeout_ms`.
/// Errors reported on the way fail the test.
async fn stats_until(
    events: &mut futures::channel::mpsc::UnboundedReceiver<EffectsEvent>,
    timeout_ms: i32,
    mut done: impl FnMut(&EffectsStats) -> bool,
) -> EffectsStats {
    let deadline = js_sys::Date::now() + f64::from(timeout_ms);
    loop {
        let left = (deadline - js_sys::Date::now()).max(0.0) as i32;
        assert!(
            left > 0,
            "timed out after {timeout_ms} ms waiting for stats"
        );
        let next = events.next();
        let timer = Box::pin(super::sleep(left));
        match futures::future::select(next, timer).await {
            Either::Left((Some(EffectsEvent::Stats(stats)), _)) => {
                if done(&stats) {
                    return stats;
                }
            }
            Either::Left((Some(EffectsEvent::Error(e)), _)) => {
                wasm_bindgen_test::console_log!("effects error: {e}")
            }
            Either::Left((Some(other), _)) => {
                wasm_bindgen_test::console_log!("event: {other:?}");
            }
            Either::Left((None, _)) => panic!("the effects' events ended"),
            Either::Right(_) => panic!("timed out after {timeout_ms} ms waiting for stats"),
        }
    }
}

#[wasm_bindgen_test]
async fn effects_run_in_a_worker_and_process_camera_frames() {
    let camera = Camera::open(&CameraConstraints::default().size(640, 480))
        .await
        .expect("the fake camera opens");
    let (effects, mut events) = Effects::load(config(Mode::Worker, r#"{"faceBoxes":true}"#))
        .await
        .expect("the models load in the worker");
    assert_eq!(effects.thread(), Thread::Worker);
    let output = effects.apply(camera.stream()).await.expect("apply");
    wasm_bindgen_test::console_log!("applied: {:?}", output.get_video_tracks().get(0));
    assert_eq!(output.get_video_tracks().length(), 1);
    let stats = stats_until(&mut events, 20_000, |s| s.processed >= 10).await;
    assert!(stats.active, "{stats:?}");
    assert_eq!(stats.thread, Thread::Worker);
    effects.stop();
}
