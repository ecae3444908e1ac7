//! Where the effects' models are, and how far their download got.

use crate::Segmenter;

/// Where the three models are.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelUrls {
    /// BlazeFace short range.
    pub detector: String,
    /// The face mesh.
    pub mesh: String,
    /// The selfie segmenter.
    pub segmenter: String,
}

impl ModelUrls {
    /// The file names of `models/` under `base` (a directory URL, with or
    /// without the trailing slash).
    pub fn under(base: &str, segmenter: Segmenter) -> Self {
        let base = base.trim_end_matches('/');
        let segmenter_file = segmenter.file_stem();
        Self {
            detector: format!("{base}/face_detection_short_range.onnx"),
            mesh: format!("{base}/face_landmark.onnx"),
            segmenter: format!("{base}/{segmenter_file}.onnx"),
        }
    }
}

/// Bytes received and, once every response said, the total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Progress {
    /// Bytes received so far, over all files.
    pub loaded: u64,
    /// The sum of the files' `Content-Length`s, when all are known.
    pub total: Option<u64>,
}
