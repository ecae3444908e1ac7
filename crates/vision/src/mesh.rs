//! `FaceMesh`: 468 face landmarks from a rotated face crop, and
//! `FaceTracker`, which runs detection only when tracking is lost.

use crate::{
    crop::{fill_roi_nhwc, Border},
    geometry::{BoundingBox, Roi},
    network::Network,
    FaceDetection, FaceDetector, Normalization, RgbaFrame, VisionError,
};

const NAME: &str = "face_landmark";
const SIZE: u32 = 192;
/// Number of landmarks of the face mesh.
pub const LANDMARKS: usize = 468;
/// MediaPipe scales the eye-to-eye box by this much to frame the face.
const ROI_SCALE: f32 = 1.5;
/// Landmarks whose line is level in an upright face: the outer corners of
/// the right and the left eye.
const RIGHT_EYE: usize = 33;
const LEFT_EYE: usize = 263;

/// The face mesh of one face, in frame pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceLandmarks {
    /// `(x, y, z)`: x and y in frame pixels; z is depth relative to the
    /// face's centre, in the same pixel scale, smaller is nearer.
    pub points: Vec<[f32; 3]>,
    /// Probability that the crop contains a face.
    pub presence: f32,
    /// The crop the landmarks came from.
    pub roi: Roi,
}

impl FaceLandmarks {
    /// The crop to look at next frame: the landmarks' bounding box, levelled
    /// on the eyes, squared and scaled as for a detection.
    pub fn next_roi(&self) -> Roi {
        let mut bbox = BoundingBox {
            xmin: f32::INFINITY,
            ymin: f32::INFINITY,
            xmax: f32::NEG_INFINITY,
            ymax: f32::NEG_INFINITY,
        };
        for p in &self.points {
            bbox.xmin = bbox.xmin.min(p[0]);
            bbox.ymin = bbox.ymin.min(p[1]);
            bbox.xmax = bbox.xmax.max(p[0]);
            bbox.ymax = bbox.ymax.max(p[1]);
        }
        let eye = |i: usize| (self.points[i][0], self.points[i][1]);
        Roi::around(bbox, eye(RIGHT_EYE), eye(LEFT_EYE), ROI_SCALE)
    }
}

impl Roi {
    /// The face crop for a detection: levelled on the eyes (keypoints 0 and
    /// 1), squared on the box's long side and scaled by 1.5.
    pub fn from_detection(detection: &FaceDetection) -> Self {
        let [right_eye, left_eye, ..] = detection.keypoints;
        Self::around(detection.bbox, right_eye, left_eye, ROI_SCALE)
    }
}

/// Face landmarks (MediaPipe's face mesh model, 192x192 input).
#[derive(Debug)]
pub struct FaceMesh {
    network: Network,
    result: FaceLandmarks,
}

impl FaceMesh {
    /// Loads `face_landmark.onnx` from its bytes.
    pub fn load(onnx: &[u8]) -> Result<Self, VisionError> {
        let shape = [1, SIZE as usize, SIZE as usize, 3];
        let network = Network::load(
            NAME,
            onnx,
            &shape,
            &[&[1, 1, 1, LANDMARKS * 3], &[1, 1, 1, 1]],
        )?;
        Ok(Self {
            network,
            result: FaceLandmarks {
                points: vec![[0.0; 3]; LANDMARKS],
                presence: 0.0,
                roi: Roi::default(),
            },
        })
    }

    /// Computes the landmarks of the face in `roi`.
    pub fn landmarks(
        &mut self,
        frame: &RgbaFrame<'_>,
        roi: &Roi,
    ) -> Result<&FaceLandmarks, VisionError> {
        if !(roi.width > 0.0 && roi.height > 0.0) {
            return Err(VisionError::EmptyRoi);
        }
        self.network.fill_input(|input| {
            fill_roi_nhwc(
                frame,
                roi,
                (SIZE, SIZE),
                Border::Zero,
                Normalization::ZeroToOne,
                input,
            )
        })?;
        let outputs = self.network.run(NAME)?;
        let (raw, flag) = (outputs.get(0), outputs.get(1));
        let size = SIZE as f32;
        let z_scale = roi.width / size;
        for (point, raw) in self.result.points.iter_mut().zip(raw.chunks_exact(3)) {
            let (x, y) = roi.to_frame(raw[0] / size - 0.5, raw[1] / size - 0.5);
            *point = [x, y, raw[2] * z_scale];
        }
        let logit = flag.first().copied().unwrap_or(f32::NEG_INFINITY);
        self.result.presence = 1.0 / (1.0 + (-logit).exp());
        self.result.roi = *roi;
        Ok(&self.result)
    }
}

/// Options of a [`FaceTracker`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackerOptions {
    /// Below this presence the face counts as lost and the next frame runs
    /// detection again.
    pub min_presence: f32,
    /// Run detection every this many frames, even while tracking holds:
    /// 1 detects on every frame, 0 only when tracking is lost.
    pub detect_every: u32,
}

impl Default for TrackerOptions {
    fn default() -> Self {
        Self {
            min_presence: 0.5,
            detect_every: 0,
        }
    }
}

/// What a [`FaceTracker`] found in one frame.
#[derive(Debug, Clone, Copy)]
pub struct Tracked<'a> {
    /// The landmarks, if a face is present.
    pub landmarks: Option<&'a FaceLandmarks>,
    /// The detection this frame ran, if it ran one.
    pub detection: Option<FaceDetection>,
}

/// Detection plus landmarks, as MediaPipe's face mesh runs them: detection
/// finds the face, then each frame's landmarks give the next frame's crop,
/// and detection runs again only when the face is lost.
#[derive(Debug)]
pub struct FaceTracker {
    detector: FaceDetector,
    mesh: FaceMesh,
    options: TrackerOptions,
    roi: Option<Roi>,
    since_detection: u32,
}

impl FaceTracker {
    /// Combines a detector and a mesh model.
    pub fn new(detector: FaceDetector, mesh: FaceMesh, options: TrackerOptions) -> Self {
        Self {
            detector,
            mesh,
            options,
            roi: None,
            since_detection: 0,
        }
    }

    /// Changes the options from the next frame on.
    pub fn set_options(&mut self, options: TrackerOptions) {
        self.options = options;
    }

    /// Forgets the tracked face; the next frame runs detection.
    pub fn reset(&mut self) {
        self.roi = None;
    }

    /// Tracks the most prominent face in `frame`.
    pub fn track(&mut self, frame: &RgbaFrame<'_>) -> Result<Tracked<'_>, VisionError> {
        // `since_detection` counts the frames tracked since the last
        // detection, so with `detect_every = n` every n-th frame detects.
        let due =
            self.options.detect_every > 0 && self.since_detection + 1 >= self.options.detect_every;
        let mut detection = None;
        let roi = match self.roi {
            Some(roi) if !due => {
                self.since_detection += 1;
                roi
            }
            _ => {
                self.since_detection = 0;
                match self.detector.detect(frame)?.first() {
                    Some(best) => {
                        detection = Some(*best);
                        Roi::from_detection(best)
                    }
                    None => {
                        self.roi = None;
                        return Ok(Tracked {
                            landmarks: None,
                            detection: None,
                        });
                    }
                }
            }
        };
        let landmarks = self.mesh.landmarks(frame, &roi)?;
        if landmarks.presence < self.options.min_presence {
            self.roi = None;
            return Ok(Tracked {
                landmarks: None,
                detection,
            });
        }
        self.roi = Some(landmarks.next_roi());
        Ok(Tracked {
            landmarks: Some(landmarks),
            detection,
        })
    }
}
