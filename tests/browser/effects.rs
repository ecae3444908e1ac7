//! What the effects tests share: the models as blob URLs, and the vision
//! module's location. The tests run the real vision module, built by
//! `cargo xtask test` into `target/vision-web/debug` (which the test
//! runner serves, from the crate's directory).

use peerlens::effects::{configure_vision, VisionOptions};

pub(crate) const DETECTOR: &[u8] = include_bytes!("../../models/face_detection_short_range.onnx");
pub(crate) const MESH: &[u8] = include_bytes!("../../models/face_landmark.onnx");

/// Where xtask puts the debug builds of the vision module.
pub(crate) const VISION_BASE: &str = "/target/vision-web/debug/";

/// Points the effects at the vision module's debug builds.
pub(crate) fn use_test_vision() {
    configure_vision(VisionOptions {
        base_url: Some(VISION_BASE.into()),
        build: None,
    });
}

/// A `blob:` URL serving `bytes`.
pub(crate) fn blob_url(bytes: &[u8]) -> String {
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes));
    let blob = web_sys::Blob::new_with_u8_array_sequence(&parts).expect("a blob");
    web_sys::Url::create_object_url_with_blob(&blob).expect("an object URL")
}
