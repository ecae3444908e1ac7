//! `FaceDetector`: BlazeFace short range on a letterboxed 128x128 input,
//! decoded and merged as MediaPipe's face detection graph does.

use crate::{
    anchors::{self, Anchor},
    geometry::BoundingBox,
    network::Network,
    Letterbox, Normalization, RgbaFrame, VisionError,
};

const NAME: &str = "face_detection_short_range";
const SIZE: u32 = 128;
const ANCHORS: usize = 896;
const COORDS: usize = 16;
/// MediaPipe's `min_score_thresh` for this model.
const MIN_SCORE: f32 = 0.5;
/// MediaPipe's `min_suppression_threshold` for weighted NMS.
const NMS_IOU: f32 = 0.3;
/// Raw scores are clipped before the sigmoid (`score_clipping_thresh`).
const SCORE_CLIP: f32 = 100.0;

/// One detected face, in frame pixels.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FaceDetection {
    /// The face box.
    pub bbox: BoundingBox,
    /// Confidence in `0..1`.
    pub score: f32,
    /// Right eye, left eye, nose tip, mouth centre, right ear tragion, left
    /// ear tragion (the person's left and right).
    pub keypoints: [(f32, f32); 6],
}

/// Face detection with BlazeFace (short range, faces within about 2 m).
#[derive(Debug)]
pub struct FaceDetector {
    network: Network,
    anchors: Vec<Anchor>,
    letterbox: Option<Letterbox>,
    candidates: Vec<FaceDetection>,
    remaining: Vec<FaceDetection>,
    detections: Vec<FaceDetection>,
}

impl FaceDetector {
    /// Loads `face_detection_short_range.onnx` from its bytes.
    pub fn load(onnx: &[u8]) -> Result<Self, VisionError> {
        let shape = [1, SIZE as usize, SIZE as usize, 3];
        let network = Network::load(
            NAME,
            onnx,
            &shape,
            &[&[1, ANCHORS, COORDS], &[1, ANCHORS, 1]],
        )?;
        Ok(Self {
            network,
            anchors: anchors::generate(&anchors::SHORT_RANGE),
            letterbox: None,
            candidates: Vec::with_capacity(ANCHORS),
            remaining: Vec::with_capacity(ANCHORS),
            detections: Vec::new(),
        })
    }

    /// Finds the faces in `frame`, best first.
    pub fn detect(&mut self, frame: &RgbaFrame<'_>) -> Result<&[FaceDetection], VisionError> {
        let letterbox = match self.letterbox {
            Some(lb) if lb.fits(frame) => lb,
            _ => {
                let lb = Letterbox::fit(frame.width(), frame.height(), SIZE, SIZE)?;
                self.letterbox = Some(lb);
                lb
            }
        };
        self.network
            .fill_input(|input| letterbox.fill_nhwc(frame, Normalization::MinusOneToOne, input))?;
        let outputs = self.network.run(NAME)?;
        self.candidates.clear();
        decode(
            outputs.get(0),
            outputs.get(1),
            &self.anchors,
            &mut self.candidates,
        );
        weighted_nms(
            &mut self.candidates,
            &mut self.remaining,
            &mut self.detections,
        );
        for detection in &mut self.detections {
            to_frame(detection, &letterbox);
        }
        Ok(&self.detections)
    }
}

/// Turns raw regressors and score logits into candidate detections, in
/// coordinates normalized to the model input.
fn decode(boxes: &[f32], scores: &[f32], anchors: &[Anchor], out: &mut Vec<FaceDetection>) {
    let scale = SIZE as f32;
    for ((raw, &logit), anchor) in boxes.chunks_exact(COORDS).zip(scores).zip(anchors) {
        let score = 1.0 / (1.0 + (-logit.clamp(-SCORE_CLIP, SCORE_CLIP)).exp());
        if score < MIN_SCORE {
            continue;
        }
        let (xc, yc) = (raw[0] / scale + anchor.x, raw[1] / scale + anchor.y);
        let (w, h) = (raw[2] / scale, raw[3] / scale);
        let mut keypoints = [(0.0, 0.0); 6];
        for (k, point) in keypoints.iter_mut().enumerate() {
            *point = (
                raw[4 + 2 * k] / scale + anchor.x,
                raw[5 + 2 * k] / scale + anchor.y,
            );
        }
        out.push(FaceDetection {
            bbox: BoundingBox {
                xmin: xc - w / 2.0,
                ymin: yc - h / 2.0,
                xmax: xc + w / 2.0,
                ymax: yc + h / 2.0,
            },
            score,
            keypoints,
        });
    }
}

/// MediaPipe's weighted non-maximum suppression: the best remaining
/// candidate absorbs every candidate overlapping it by more than the
/// threshold (itself included), and its box and keypoints become their
/// score-weighted mean. It keeps its own score.
fn weighted_nms(
    candidates: &mut [FaceDetection],
    remaining: &mut Vec<FaceDetection>,
    out: &mut Vec<FaceDetection>,
) {
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    out.clear();
    remaining.clear();
    remaining.extend_from_slice(candidates);
    while let Some(&best) = remaining.first() {
        let mut merged = FaceDetection {
            score: best.score,
            ..FaceDetection::default()
        };
        let mut total = 0.0;
        remaining.retain(|c| {
            if best.bbox.iou(&c.bbox) <= NMS_IOU {
                return true;
            }
            total += c.score;
            merged.bbox.xmin += c.bbox.xmin * c.score;
            merged.bbox.ymin += c.bbox.ymin * c.score;
            merged.bbox.xmax += c.bbox.xmax * c.score;
            merged.bbox.ymax += c.bbox.ymax * c.score;
            for (m, p) in merged.keypoints.iter_mut().zip(&c.keypoints) {
                m.0 += p.0 * c.score;
                m.1 += p.1 * c.score;
            }
            false
        });
        if total > 0.0 {
            let b = &mut merged.bbox;
            for v in [&mut b.xmin, &mut b.ymin, &mut b.xmax, &mut b.ymax] {
                *v /= total;
            }
            for p in &mut merged.keypoints {
                p.0 /= total;
                p.1 /= total;
            }
            out.push(merged);
        } else {
            // Only an empty box overlaps nothing, not even itself.
            remaining.retain(|c| c != &best);
            out.push(best);
        }
    }
}

fn to_frame(detection: &mut FaceDetection, letterbox: &Letterbox) {
    let b = &mut detection.bbox;
    (b.xmin, b.ymin) = letterbox.to_frame(b.xmin, b.ymin);
    (b.xmax, b.ymax) = letterbox.to_frame(b.xmax, b.ymax);
    for p in &mut detection.keypoints {
        *p = letterbox.to_frame(p.0, p.1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(xmin: f32, score: f32) -> FaceDetection {
        FaceDetection {
            bbox: BoundingBox {
                xmin,
                ymin: 0.0,
                xmax: xmin + 1.0,
                ymax: 1.0,
            },
            score,
            keypoints: [(xmin, 0.5); 6],
        }
    }

    #[test]
    fn weighted_nms_merges_overlaps_and_keeps_the_best_score() {
        let mut candidates = vec![det(0.0, 0.6), det(0.1, 0.9), det(5.0, 0.7)];
        let (mut remaining, mut out) = (Vec::new(), Vec::new());
        weighted_nms(&mut candidates, &mut remaining, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].score, 0.9);
        let expected_xmin = (0.1 * 0.9 + 0.0 * 0.6) / 1.5;
        assert!((out[0].bbox.xmin - expected_xmin).abs() < 1e-6);
        assert!((out[0].keypoints[3].0 - expected_xmin).abs() < 1e-6);
        assert_eq!(out[1], det(5.0, 0.7));
    }

    #[test]
    fn decode_applies_anchor_offsets_and_the_score_threshold() {
        let anchors = [Anchor { x: 0.25, y: 0.75 }, Anchor { x: 0.5, y: 0.5 }];
        let mut boxes = vec![0.0; 2 * COORDS];
        boxes[0] = 12.8; // +0.1 in x
        boxes[2] = 64.0; // width 0.5
        boxes[3] = 32.0; // height 0.25
        boxes[4] = -12.8; // first keypoint -0.1 in x
        let scores = [4.0, -4.0];
        let mut out = Vec::new();
        decode(&boxes, &scores, &anchors, &mut out);
        assert_eq!(out.len(), 1, "the second anchor's score is below 0.5");
        let d = out[0];
        assert!((d.bbox.xmin - (0.35 - 0.25)).abs() < 1e-6);
        assert!((d.bbox.ymax - (0.75 + 0.125)).abs() < 1e-6);
        assert!((d.keypoints[0].0 - 0.15).abs() < 1e-6);
        assert!((d.score - 1.0 / (1.0 + (-4.0f32).exp())).abs() < 1e-6);
    }
}
