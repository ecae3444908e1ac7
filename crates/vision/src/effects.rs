//! [`EffectsPipeline`]: one camera frame in, one processed frame out.
//!
//! It decides per frame what must run: the face tracker (detection every
//! `detect_every` frames, landmarks in between) only when boxes or the mesh
//! are drawn, and the segmenter every `segment_every` frames, reusing the
//! last feathered mask in between. Options can change between any two
//! frames. The browser layer feeds it frames and a clock; it knows nothing
//! of workers or canvases.

use crate::{
    composite::{self, Background, Scratch},
    BoundingBox, FaceDetection, FaceDetector, FaceLandmarks, FaceMesh, FaceTracker, RgbaFrame,
    SegmenterModel, SelfieSegmenter, TrackerOptions, VisionError,
};

/// What replaces the background.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BackgroundEffect {
    /// The background stays as it is.
    None,
    /// Blurred with this radius, in pixels.
    Blur {
        /// About the Gaussian sigma.
        radius: u32,
    },
    /// Replaced by the image passed to [`EffectsPipeline::process`].
    Replace,
    /// Removed: filled with this colour (alpha 0 for transparent).
    Remove {
        /// RGBA.
        fill: [u8; 4],
    },
}

/// Which effects to draw, and how often the models run.
#[derive(Debug, Clone, PartialEq)]
pub struct EffectOptions {
    /// Face boxes with their 6 keypoints.
    pub face_boxes: bool,
    /// The 468 face mesh points.
    pub face_mesh: bool,
    /// The background effect.
    pub background: BackgroundEffect,
    /// Run face detection at least every this many frames; the landmarks
    /// track the face in between (0: only when tracking is lost).
    pub detect_every: u32,
    /// Run segmentation every this many frames (1: every frame).
    pub segment_every: u32,
    /// Feather the mask edge by this radius, in pixels.
    pub feather_radius: u32,
    /// Temporal smoothing of the mask, 0 (none) to just under 1.
    pub mask_smoothing: f32,
}

impl Default for EffectOptions {
    fn default() -> Self {
        Self {
            face_boxes: false,
            face_mesh: false,
            background: BackgroundEffect::None,
            detect_every: 10,
            segment_every: 1,
            feather_radius: 2,
            mask_smoothing: 0.5,
        }
    }
}

/// The three models, as ONNX bytes.
#[derive(Debug, Clone, Copy)]
pub struct EffectModels<'a> {
    /// BlazeFace short range.
    pub detector: &'a [u8],
    /// The face mesh.
    pub mesh: &'a [u8],
    /// The selfie segmenter.
    pub segmenter: &'a [u8],
    /// Which segmenter `segmenter` is.
    pub segmenter_model: SegmenterModel,
}

/// Milliseconds spent in each stage of one frame.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StageTimes {
    /// Face detection and landmarks.
    pub faces: f64,
    /// Segmentation, upsampling and feathering.
    pub segmentation: f64,
    /// Writing the frame over the background.
    pub compositing: f64,
    /// Drawing boxes, keypoints and mesh.
    pub drawing: f64,
}

/// What one call to [`EffectsPipeline::process`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FrameReport {
    /// Faces drawn (0 or 1: the tracker follows the most prominent face).
    pub faces: usize,
    /// Whether face detection ran on this frame.
    pub detected: bool,
    /// Whether segmentation ran on this frame (else the last mask was used).
    pub segmented: bool,
    /// Time per stage.
    pub ms: StageTimes,
}

/// Colours of the drawn marks.
const BOX_COLOUR: [u8; 4] = [0, 230, 118, 255];
const KEYPOINT_COLOUR: [u8; 4] = [255, 64, 129, 255];
const MESH_COLOUR: [u8; 4] = [64, 196, 255, 255];

/// Mesh points nearest BlazeFace's 6 keypoints (right eye, left eye, nose
/// tip, mouth centre, right ear, left ear), for tracked frames before any
/// detection calibrated the marks. Pairs are averaged.
const KEYPOINTS_FROM_MESH: [(usize, usize); 6] = [
    (33, 133),
    (362, 263),
    (1, 1),
    (13, 14),
    (234, 234),
    (454, 454),
];

/// The last detection's box and keypoints, relative to the landmarks'
/// extent on the same frame. Tracked frames place the marks with it, so
/// the box does not jump between the detector's box and the (larger) mesh
/// extent every `detect_every` frames.
#[derive(Debug, Clone, Copy)]
struct Calibration {
    bbox: [f32; 4],
    keypoints: [(f32, f32); 6],
}

impl Calibration {
    fn new(detection: &FaceDetection, extent: &BoundingBox) -> Option<Self> {
        let (w, h) = (extent.xmax - extent.xmin, extent.ymax - extent.ymin);
        if w <= 0.0 || h <= 0.0 {
            return None;
        }
        let rx = |x: f32| (x - extent.xmin) / w;
        let ry = |y: f32| (y - extent.ymin) / h;
        let b = &detection.bbox;
        Some(Self {
            bbox: [rx(b.xmin), ry(b.ymin), rx(b.xmax), ry(b.ymax)],
            keypoints: detection.keypoints.map(|(x, y)| (rx(x), ry(y))),
        })
    }

    fn place(&self, extent: &BoundingBox) -> (BoundingBox, [(f32, f32); 6]) {
        let (w, h) = (extent.xmax - extent.xmin, extent.ymax - extent.ymin);
        let ax = |r: f32| extent.xmin + r * w;
        let ay = |r: f32| extent.ymin + r * h;
        (
            BoundingBox {
                xmin: ax(self.bbox[0]),
                ymin: ay(self.bbox[1]),
                xmax: ax(self.bbox[2]),
                ymax: ay(self.bbox[3]),
            },
            self.keypoints.map(|(x, y)| (ax(x), ay(y))),
        )
    }
}

/// The face marks of one frame, owned, so they can cross to where the
/// frame is drawn (another worker, in two-worker mode).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FaceOverlay {
    /// The face box, in frame pixels.
    pub bbox: BoundingBox,
    /// BlazeFace's 6 keypoints.
    pub keypoints: [(f32, f32); 6],
    /// The 468 mesh points when the mesh is drawn, else empty.
    pub mesh: Vec<[f32; 3]>,
}

/// What [`FaceStage::run`] found on one frame.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FaceResult {
    /// The face to draw, if one is tracked.
    pub overlay: Option<FaceOverlay>,
    /// Whether face detection ran on this frame.
    pub detected: bool,
    /// Milliseconds it took.
    pub ms: f64,
}

/// The face half of [`EffectsPipeline`]: detection every `detect_every`
/// frames, landmark tracking in between, and the calibration that keeps
/// tracked boxes steady. It runs only when boxes or the mesh are drawn.
pub struct FaceStage {
    tracker: FaceTracker,
    calibration: Option<Calibration>,
}

impl std::fmt::Debug for FaceStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceStage").finish_non_exhaustive()
    }
}

fn tracker_options(options: &EffectOptions) -> TrackerOptions {
    TrackerOptions {
        detect_every: options.detect_every,
        ..TrackerOptions::default()
    }
}

impl FaceStage {
    /// Loads the detector and the mesh.
    pub fn load(
        detector: &[u8],
        mesh: &[u8],
        options: &EffectOptions,
    ) -> Result<Self, VisionError> {
        Ok(Self {
            tracker: FaceTracker::new(
                FaceDetector::load(detector)?,
                FaceMesh::load(mesh)?,
                tracker_options(options),
            ),
            calibration: None,
        })
    }

    /// Applies `options` from the next frame on.
    pub fn set_options(&mut self, options: &EffectOptions) {
        self.tracker.set_options(tracker_options(options));
    }

    /// Tracks the face on `frame`, when `options` draw faces; otherwise
    /// forgets the track, so it does not go stale while off. `clock`
    /// returns milliseconds.
    pub fn run(
        &mut self,
        frame: &RgbaFrame<'_>,
        options: &EffectOptions,
        clock: &mut dyn FnMut() -> f64,
    ) -> Result<FaceResult, VisionError> {
        let t0 = clock();
        let mut result = FaceResult::default();
        if !(options.face_boxes || options.face_mesh) {
            self.tracker.reset();
            self.calibration = None;
            result.ms = clock() - t0;
            return Ok(result);
        }
        let tracked = self.tracker.track(frame)?;
        result.detected = tracked.detection.is_some();
        if let Some(landmarks) = tracked.landmarks {
            let marks = face_marks(
                landmarks,
                tracked.detection.as_ref(),
                &mut self.calibration,
                options.face_mesh,
            );
            result.overlay = Some(FaceOverlay {
                bbox: marks.bbox,
                keypoints: marks.keypoints,
                mesh: marks.mesh.map(<[[f32; 3]]>::to_vec).unwrap_or_default(),
            });
        } else if let Some(detection) = tracked.detection {
            self.calibration = None;
            result.overlay = Some(FaceOverlay {
                bbox: detection.bbox,
                keypoints: detection.keypoints,
                mesh: Vec::new(),
            });
        }
        result.ms = clock() - t0;
        Ok(result)
    }
}

/// The background half of [`EffectsPipeline`], and the drawing: the
/// segmenter every `segment_every` frames (the feathered mask reused in
/// between), the background effect, then the face marks it is given.
pub struct BackgroundStage {
    segmenter: SelfieSegmenter,
    alpha: Vec<u8>,
    alpha_size: (u32, u32),
    frames: u64,
    scratch: Scratch,
    /// The last mask at its own resolution, in 1/255 steps.
    levels: Vec<u8>,
    /// The options the mask was made with.
    segment_every: u32,
    feather_radius: u32,
}

impl std::fmt::Debug for BackgroundStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackgroundStage")
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

impl BackgroundStage {
    /// Loads the segmenter.
    pub fn load(
        segmenter: &[u8],
        model: SegmenterModel,
        options: &EffectOptions,
    ) -> Result<Self, VisionError> {
        let mut segmenter = SelfieSegmenter::load(segmenter, model)?;
        segmenter.set_smoothing(options.mask_smoothing);
        Ok(Self {
            segmenter,
            alpha: Vec::new(),
            alpha_size: (0, 0),
            frames: 0,
            scratch: Scratch::default(),
            levels: Vec::new(),
            segment_every: options.segment_every,
            feather_radius: options.feather_radius,
        })
    }

    /// Applies `options` from the next frame on.
    pub fn set_options(&mut self, options: &EffectOptions) {
        self.segmenter.set_smoothing(options.mask_smoothing);
        if options.segment_every != self.segment_every
            || options.feather_radius != self.feather_radius
        {
            // Recompute the mask on the next frame with the new settings.
            self.alpha_size = (0, 0);
        }
        self.segment_every = options.segment_every;
        self.feather_radius = options.feather_radius;
    }

    /// Draws `frame` into `out` (packed RGBA of the frame's size) with the
    /// background effect of `options` and `face`'s marks. `replacement` is
    /// the background for [`BackgroundEffect::Replace`] and must have the
    /// frame's size; without it the background stays. `clock` returns
    /// milliseconds. The report's face fields are left to the caller.
    pub fn render(
        &mut self,
        frame: &RgbaFrame<'_>,
        face: Option<&FaceOverlay>,
        replacement: Option<&RgbaFrame<'_>>,
        out: &mut [u8],
        options: &EffectOptions,
        clock: &mut dyn FnMut() -> f64,
    ) -> Result<FrameReport, VisionError> {
        let (width, height) = (frame.width(), frame.height());
        let needed = width as usize * height as usize * 4;
        if out.len() < needed {
            return Err(VisionError::OutputSize {
                needed,
                got: out.len(),
            });
        }
        let mut report = FrameReport::default();
        let t1 = clock();
        let background = options.background;
        let needs_mask = background != BackgroundEffect::None
            && !(background == BackgroundEffect::Replace && replacement.is_none());
        if needs_mask {
            let every = u64::from(options.segment_every.max(1));
            let stale = self.alpha_size != (width, height);
            if stale || self.frames.is_multiple_of(every) {
                let pixels = width as usize * height as usize;
                self.alpha.resize(pixels, 0);
                let mask = self.segmenter.segment(frame)?;
                let (mw, mh) = (mask.width, mask.height);
                // Feather at the mask's own resolution, where it costs a
                // fraction, then scale up: the radius shrinks with the
                // mask, and bilinear scaling adds its own softness.
                self.levels.clear();
                self.levels.extend(
                    mask.values
                        .iter()
                        .map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8),
                );
                let radius =
                    (options.feather_radius as f32 * mw as f32 / width as f32).round() as u32;
                composite::feather(&mut self.levels, mw, mh, radius, &mut self.scratch)?;
                composite::upsample_alpha(
                    &self.levels,
                    mw,
                    mh,
                    &mut self.alpha,
                    width,
                    height,
                    &mut self.scratch,
                )?;
                self.alpha_size = (width, height);
                report.segmented = true;
            }
        }
        let t2 = clock();
        report.ms.segmentation = t2 - t1;

        let effect = match (background, replacement) {
            (BackgroundEffect::Blur { radius }, _) => Background::Blur { radius },
            (BackgroundEffect::Replace, Some(image)) => Background::Image(*image),
            (BackgroundEffect::Remove { fill }, _) => Background::Fill(fill),
            _ => Background::Keep,
        };
        if needs_mask {
            composite::composite(frame, &self.alpha, &effect, out, &mut self.scratch)?;
        } else {
            frame.copy_packed(out);
        }
        let t3 = clock();
        report.ms.compositing = t3 - t2;

        if let Some(face) = face {
            report.faces = 1;
            draw_face(out, width, height, face, options);
        }
        report.ms.drawing = clock() - t3;
        self.frames += 1;
        Ok(report)
    }
}

/// Draws `face`'s box and keypoints (when `options` draw boxes) and mesh
/// (when they draw the mesh) on `out`, packed RGBA of `width` x `height`:
/// what [`BackgroundStage::render`] does with the face it is given, for
/// marks that arrive after the frame was rendered (from another worker).
pub fn draw_face(
    out: &mut [u8],
    width: u32,
    height: u32,
    face: &FaceOverlay,
    options: &EffectOptions,
) {
    if out.len() < width as usize * height as usize * 4 {
        return;
    }
    if options.face_boxes {
        let thickness = (width.min(height) / 160).max(2);
        composite::draw_box(out, width, height, &face.bbox, BOX_COLOUR, thickness);
        let r = (width.min(height) as f32 / 120.0).max(2.0);
        for &(x, y) in &face.keypoints {
            composite::draw_dot(out, width, height, x, y, r, KEYPOINT_COLOUR);
        }
    }
    if options.face_mesh {
        for p in &face.mesh {
            composite::draw_dot(out, width, height, p[0], p[1], 1.0, MESH_COLOUR);
        }
    }
}

/// The effects on frames. See the module docs: a [`FaceStage`] and a
/// [`BackgroundStage`] on the same frame, one after the other.
pub struct EffectsPipeline {
    faces: FaceStage,
    background: BackgroundStage,
    options: EffectOptions,
}

impl std::fmt::Debug for EffectsPipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EffectsPipeline")
            .field("options", &self.options)
            .field("background", &self.background)
            .finish_non_exhaustive()
    }
}

impl EffectsPipeline {
    /// Loads the three models.
    pub fn load(models: EffectModels<'_>, options: EffectOptions) -> Result<Self, VisionError> {
        Ok(Self {
            faces: FaceStage::load(models.detector, models.mesh, &options)?,
            background: BackgroundStage::load(models.segmenter, models.segmenter_model, &options)?,
            options,
        })
    }

    /// The current options.
    pub fn options(&self) -> &EffectOptions {
        &self.options
    }

    /// Changes the effects from the next frame on.
    pub fn set_options(&mut self, options: EffectOptions) {
        self.faces.set_options(&options);
        self.background.set_options(&options);
        self.options = options;
    }

    /// Processes `frame` into `out` (packed RGBA of the frame's size).
    /// `replacement` is the background for [`BackgroundEffect::Replace`]
    /// and must have the frame's size; without it the background stays.
    /// `clock` returns milliseconds.
    pub fn process(
        &mut self,
        frame: &RgbaFrame<'_>,
        replacement: Option<&RgbaFrame<'_>>,
        out: &mut [u8],
        clock: &mut dyn FnMut() -> f64,
    ) -> Result<FrameReport, VisionError> {
        let needed = frame.width() as usize * frame.height() as usize * 4;
        if out.len() < needed {
            return Err(VisionError::OutputSize {
                needed,
                got: out.len(),
            });
        }
        let face = self.faces.run(frame, &self.options, clock)?;
        let mut report = self.background.render(
            frame,
            face.overlay.as_ref(),
            replacement,
            out,
            &self.options,
            clock,
        )?;
        report.detected = face.detected;
        report.ms.faces = face.ms;
        Ok(report)
    }
}

/// What is drawn for one face, borrowing the tracker's landmarks.
struct FaceMarks<'a> {
    bbox: BoundingBox,
    keypoints: [(f32, f32); 6],
    /// The mesh points, when the mesh is drawn.
    mesh: Option<&'a [[f32; 3]]>,
}

/// The box, keypoints and (if wanted) mesh points of a tracked face. On
/// frames that ran detection they are the detection's own, and they
/// calibrate the tracked frames that follow (see [`Calibration`]).
fn face_marks<'a>(
    landmarks: &'a FaceLandmarks,
    detection: Option<&FaceDetection>,
    calibration: &mut Option<Calibration>,
    with_mesh: bool,
) -> FaceMarks<'a> {
    let mesh = with_mesh.then_some(landmarks.points.as_slice());
    let points = &landmarks.points;
    let mut extent = BoundingBox {
        xmin: f32::MAX,
        ymin: f32::MAX,
        xmax: f32::MIN,
        ymax: f32::MIN,
    };
    for p in points {
        extent.xmin = extent.xmin.min(p[0]);
        extent.ymin = extent.ymin.min(p[1]);
        extent.xmax = extent.xmax.max(p[0]);
        extent.ymax = extent.ymax.max(p[1]);
    }
    if let Some(detection) = detection {
        *calibration = Calibration::new(detection, &extent);
        return FaceMarks {
            bbox: detection.bbox,
            keypoints: detection.keypoints,
            mesh,
        };
    }
    if let Some(calibration) = calibration {
        let (bbox, keypoints) = calibration.place(&extent);
        return FaceMarks {
            bbox,
            keypoints,
            mesh,
        };
    }
    let mut keypoints = [(0.0, 0.0); 6];
    for (k, (a, b)) in KEYPOINTS_FROM_MESH.iter().enumerate() {
        if let (Some(pa), Some(pb)) = (points.get(*a), points.get(*b)) {
            keypoints[k] = ((pa[0] + pb[0]) / 2.0, (pa[1] + pb[1]) / 2.0);
        }
    }
    FaceMarks {
        bbox: extent,
        keypoints,
        mesh,
    }
}
