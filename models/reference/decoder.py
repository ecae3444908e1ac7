"""Reference pre- and post-processing for peerlens' vision models.

This is an independent Python implementation of what the Rust code in
crates/vision does. It follows MediaPipe's published calculator options (see
models/README.md for the graphs they come from) and the pixel conventions that
peerlens uses. It only needs numpy; the models themselves are run elsewhere
(make_fixtures.py, convert.py).

Coordinate conventions
----------------------
* Frame pixel coordinates are continuous: pixel (i, j) covers [i, i+1) x
  [j, j+1), so its centre is at (i + 0.5, j + 0.5). Boxes, keypoints,
  landmarks and ROIs are all given in these coordinates.
* "Pixel-index space" is shifted by half a pixel: pixel (i, j)'s centre is at
  index (i, j). Bilinear sampling works in index space.
* Images are HxWx3 uint8 RGB arrays; model tensors are NHWC float32.

All arithmetic is done in float64 and cast to float32 only for model inputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, asdict

import numpy as np

# --------------------------------------------------------------------------
# Model geometry and MediaPipe options
# --------------------------------------------------------------------------

FD_SIZE = 128  # face_detection_short_range input is 128x128
LM_SIZE = 192  # face_landmark input is 192x192
SEG_SIZE = (256, 256)  # selfie_segmentation (width, height)
SEG_LANDSCAPE_SIZE = (256, 144)  # selfie_segmentation_landscape (width, height)

# SsdAnchorsCalculator options (face_detection_short_range.pbtxt + face_detection.pbtxt)
ANCHOR_OPTIONS = dict(
    num_layers=4,
    min_scale=0.1484375,
    max_scale=0.75,
    input_size_width=128,
    input_size_height=128,
    anchor_offset_x=0.5,
    anchor_offset_y=0.5,
    strides=[8, 16, 16, 16],
    aspect_ratios=[1.0],
    fixed_anchor_size=True,
    interpolated_scale_aspect_ratio=1.0,
    reduce_boxes_in_lowest_layer=False,
)

# TensorsToDetectionsCalculator options
NUM_BOXES = 896
NUM_COORDS = 16
BOX_COORD_OFFSET = 0
KEYPOINT_COORD_OFFSET = 4
NUM_KEYPOINTS = 6
X_SCALE = Y_SCALE = W_SCALE = H_SCALE = 128.0
SCORE_CLIPPING_THRESH = 100.0
MIN_SCORE_THRESH = 0.5

# NonMaxSuppressionCalculator options (WEIGHTED, INTERSECTION_OVER_UNION)
MIN_SUPPRESSION_THRESHOLD = 0.3

# face_detection_front_detection_to_roi.pbtxt
DETECTION_ROI_START_KEYPOINT = 0  # right eye (on the image's left for a frontal face)
DETECTION_ROI_END_KEYPOINT = 1  # left eye
ROI_TARGET_ANGLE = 0.0
ROI_SCALE = 1.5

# face_landmark_landmarks_to_roi.pbtxt
LANDMARK_ROI_START = 33
LANDMARK_ROI_END = 263
NUM_LANDMARKS = 468

# face_landmark_*.pbtxt: ThresholdingCalculator on sigmoid(face flag)
FACE_PRESENCE_THRESHOLD = 0.5


# --------------------------------------------------------------------------
# Sampling
# --------------------------------------------------------------------------


def _taps(coords: np.ndarray):
    i0 = np.floor(coords).astype(np.int64)
    f = coords - i0
    return i0, i0 + 1, f


def bilinear_clamped(img: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Bilinear sample of img (HxWxC) at index-space points (xs along width, ys
    along height, any broadcastable shapes). Coordinates are clamped to
    [0, W-1] x [0, H-1] first (edge replication)."""
    h, w = img.shape[:2]
    xs = np.clip(np.asarray(xs, np.float64), 0.0, w - 1)
    ys = np.clip(np.asarray(ys, np.float64), 0.0, h - 1)
    x0, x1, fx = _taps(xs)
    y0, y1, fy = _taps(ys)
    x1 = np.minimum(x1, w - 1)
    y1 = np.minimum(y1, h - 1)
    im = img.astype(np.float64)
    fx = fx[..., None]
    fy = fy[..., None]
    top = im[y0, x0] * (1 - fx) + im[y0, x1] * fx
    bot = im[y1, x0] * (1 - fx) + im[y1, x1] * fx
    return top * (1 - fy) + bot * fy


def bilinear_zero(img: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Bilinear sample of img (HxWxC) at index-space points, the image being
    extended with zeros: each of the four taps that falls outside the image
    contributes 0."""
    h, w = img.shape[:2]
    xs = np.asarray(xs, np.float64)
    ys = np.asarray(ys, np.float64)
    x0, x1, fx = _taps(xs)
    y0, y1, fy = _taps(ys)
    im = img.astype(np.float64)
    out = np.zeros(np.broadcast(xs, ys).shape + (img.shape[2],), np.float64)
    for yy, wy in ((y0, 1 - fy), (y1, fy)):
        for xx, wx in ((x0, 1 - fx), (x1, fx)):
            ok = (xx >= 0) & (xx < w) & (yy >= 0) & (yy < h)
            v = im[np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)]
            out += np.where(ok[..., None], v * (wx * wy)[..., None], 0.0)
    return out


# --------------------------------------------------------------------------
# Preprocessing
# --------------------------------------------------------------------------


@dataclass
class Letterbox:
    """Frame -> 128x128 tensor mapping: tensor_px = frame_px * scale + pad."""

    scale: float
    pad_x: float
    pad_y: float
    size: int = FD_SIZE

    def to_frame(self, x_norm, y_norm):
        """Normalized tensor coordinates ([0,1] over the 128x128 tensor) to
        frame pixel coordinates."""
        x = (np.asarray(x_norm, np.float64) * self.size - self.pad_x) / self.scale
        y = (np.asarray(y_norm, np.float64) * self.size - self.pad_y) / self.scale
        return x, y


def letterbox_params(width: int, height: int, size: int = FD_SIZE) -> Letterbox:
    s = min(size / width, size / height)
    return Letterbox(scale=s, pad_x=(size - width * s) / 2.0, pad_y=(size - height * s) / 2.0, size=size)


def face_detection_input(img: np.ndarray) -> tuple[np.ndarray, Letterbox]:
    """Letterbox the frame into 128x128, v/127.5 - 1. Returns ([1,128,128,3] f32, Letterbox)."""
    h, w = img.shape[:2]
    lb = letterbox_params(w, h)
    u = np.arange(FD_SIZE, dtype=np.float64)
    src_x = (u + 0.5 - lb.pad_x) / lb.scale - 0.5
    src_y = (u + 0.5 - lb.pad_y) / lb.scale - 0.5
    valid_x = (src_x > -1) & (src_x < w)
    valid_y = (src_y > -1) & (src_y < h)
    xs, ys = np.meshgrid(src_x, src_y)
    v = bilinear_clamped(img, xs, ys)
    valid = valid_y[:, None] & valid_x[None, :]
    v = np.where(valid[..., None], v, 0.0)
    t = v / 127.5 - 1.0
    return t[None].astype(np.float32), lb


@dataclass
class Roi:
    """Rotated rectangle in frame pixels; rotation in radians (clockwise on
    screen, as MediaPipe's NormalizedRect.rotation)."""

    x_center: float
    y_center: float
    width: float
    height: float
    rotation: float

    def to_dict(self):
        return {k: float(v) for k, v in asdict(self).items()}

    def crop_to_frame(self, u, v, size: int):
        """Crop-space point (u, v) in [0,size]^2 (continuous) to frame pixels."""
        nx = np.asarray(u, np.float64) / size - 0.5
        ny = np.asarray(v, np.float64) / size - 0.5
        dx = nx * self.width
        dy = ny * self.height
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        return self.x_center + dx * c - dy * s, self.y_center + dx * s + dy * c


def face_landmark_input(img: np.ndarray, roi: Roi) -> np.ndarray:
    """Warp the rotated ROI to 192x192, zero outside the frame, v/255."""
    u = np.arange(LM_SIZE, dtype=np.float64) + 0.5
    uu, vv = np.meshgrid(u, u)
    x, y = roi.crop_to_frame(uu, vv, LM_SIZE)
    v = bilinear_zero(img, x - 0.5, y - 0.5)
    return (v / 255.0)[None].astype(np.float32)


def _stretch_coords(src_len: int, dst_len: int) -> np.ndarray:
    return (np.arange(dst_len, dtype=np.float64) + 0.5) * (src_len / dst_len) - 0.5


def segmentation_input(img: np.ndarray, size=SEG_SIZE) -> np.ndarray:
    """Stretch the whole frame to size=(width, height), v/255."""
    h, w = img.shape[:2]
    tw, th = size
    xs, ys = np.meshgrid(_stretch_coords(w, tw), _stretch_coords(h, th))
    v = bilinear_clamped(img, xs, ys)
    return (v / 255.0)[None].astype(np.float32)


# --------------------------------------------------------------------------
# Face detection decoding
# --------------------------------------------------------------------------


def _calculate_scale(min_scale, max_scale, stride_index, num_strides):
    if num_strides == 1:
        return (min_scale + max_scale) * 0.5
    return min_scale + (max_scale - min_scale) * stride_index / (num_strides - 1.0)


def ssd_anchors(opts=ANCHOR_OPTIONS) -> np.ndarray:
    """SsdAnchorsCalculator. Returns [N, 4] (x_center, y_center, w, h), normalized."""
    anchors = []
    strides = opts["strides"]
    layer_id = 0
    n = opts["num_layers"]
    while layer_id < n:
        scales, ratios = [], []
        last = layer_id
        while last < len(strides) and strides[last] == strides[layer_id]:
            scale = _calculate_scale(opts["min_scale"], opts["max_scale"], last, len(strides))
            if last == 0 and opts["reduce_boxes_in_lowest_layer"]:
                ratios += [1.0, 2.0, 0.5]
                scales += [0.1, scale, scale]
            else:
                for r in opts["aspect_ratios"]:
                    ratios.append(r)
                    scales.append(scale)
                if opts["interpolated_scale_aspect_ratio"] > 0:
                    nxt = 1.0 if last == len(strides) - 1 else _calculate_scale(
                        opts["min_scale"], opts["max_scale"], last + 1, len(strides))
                    scales.append(math.sqrt(scale * nxt))
                    ratios.append(opts["interpolated_scale_aspect_ratio"])
            last += 1
        sizes = [(sc * math.sqrt(r), sc / math.sqrt(r)) for sc, r in zip(scales, ratios)]
        stride = strides[layer_id]
        fh = math.ceil(opts["input_size_height"] / stride)
        fw = math.ceil(opts["input_size_width"] / stride)
        for y in range(fh):
            for x in range(fw):
                for aw, ah in sizes:
                    xc = (x + opts["anchor_offset_x"]) / fw
                    yc = (y + opts["anchor_offset_y"]) / fh
                    if opts["fixed_anchor_size"]:
                        anchors.append((xc, yc, 1.0, 1.0))
                    else:
                        anchors.append((xc, yc, aw, ah))
        layer_id = last
    return np.array(anchors, np.float64)


@dataclass
class Detection:
    """A face detection. Coordinates are normalized tensor coordinates until
    project_detections() turns them into frame pixels."""

    xmin: float
    ymin: float
    xmax: float
    ymax: float
    score: float
    keypoints: np.ndarray  # [6, 2] (x, y)

    def to_dict(self):
        return {
            "xmin": float(self.xmin),
            "ymin": float(self.ymin),
            "xmax": float(self.xmax),
            "ymax": float(self.ymax),
            "score": float(self.score),
            "keypoints": [[float(x), float(y)] for x, y in self.keypoints],
        }


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


def decode_detections(regressors: np.ndarray, classificators: np.ndarray,
                      anchors: np.ndarray | None = None) -> list[Detection]:
    """TensorsToDetectionsCalculator: raw [1,896,16] + [1,896,1] -> detections
    with score >= MIN_SCORE_THRESH, in normalized tensor coordinates, in anchor
    order."""
    if anchors is None:
        anchors = ssd_anchors()
    raw = np.asarray(regressors, np.float64).reshape(NUM_BOXES, NUM_COORDS)
    logits = np.asarray(classificators, np.float64).reshape(NUM_BOXES)
    scores = sigmoid(np.clip(logits, -SCORE_CLIPPING_THRESH, SCORE_CLIPPING_THRESH))
    ax, ay, aw, ah = anchors.T
    o = BOX_COORD_OFFSET
    # reverse_output_order: x_center, y_center, w, h
    xc = raw[:, o + 0] / X_SCALE * aw + ax
    yc = raw[:, o + 1] / Y_SCALE * ah + ay
    w = raw[:, o + 2] / W_SCALE * aw
    h = raw[:, o + 3] / H_SCALE * ah
    out = []
    for i in range(NUM_BOXES):
        if scores[i] < MIN_SCORE_THRESH:
            continue
        xmin, xmax = xc[i] - w[i] / 2, xc[i] + w[i] / 2
        ymin, ymax = yc[i] - h[i] / 2, yc[i] + h[i] / 2
        bw, bh = xmax - xmin, ymax - ymin
        if not (bw >= 0 and bh >= 0):  # negative or NaN
            continue
        kp = np.empty((NUM_KEYPOINTS, 2))
        for k in range(NUM_KEYPOINTS):
            off = KEYPOINT_COORD_OFFSET + 2 * k
            kp[k, 0] = raw[i, off] / X_SCALE * aw[i] + ax[i]
            kp[k, 1] = raw[i, off + 1] / Y_SCALE * ah[i] + ay[i]
        out.append(Detection(xmin, ymin, xmax, ymax, float(scores[i]), kp))
    return out


def iou(a: Detection, b: Detection) -> float:
    """MediaPipe's OverlapSimilarity with INTERSECTION_OVER_UNION."""
    ix0, iy0 = max(a.xmin, b.xmin), max(a.ymin, b.ymin)
    ix1, iy1 = min(a.xmax, b.xmax), min(a.ymax, b.ymax)
    if ix1 < ix0 or iy1 < iy0:
        return 0.0
    inter = (ix1 - ix0) * (iy1 - iy0)
    area_a = (a.xmax - a.xmin) * (a.ymax - a.ymin)
    area_b = (b.xmax - b.xmin) * (b.ymax - b.ymin)
    norm = area_a + area_b - inter
    return inter / norm if norm > 0 else 0.0


def weighted_nms(dets: list[Detection], threshold: float = MIN_SUPPRESSION_THRESHOLD) -> list[Detection]:
    """NonMaxSuppressionCalculator, algorithm WEIGHTED.

    Repeatedly take the best remaining detection; every remaining detection
    whose IoU with it is > threshold (itself included) is a candidate. The
    output keeps the best one's score; its box (xmin, ymin, xmax, ymax) and
    keypoints are the score-weighted means over the candidates. Candidates
    are removed; the rest go round again. Output is in descending score
    order."""
    remaining = sorted(dets, key=lambda d: -d.score)
    out = []
    while remaining:
        top = remaining[0]
        candidates = [d for d in remaining if iou(d, top) > threshold]
        rest = [d for d in remaining if not iou(d, top) > threshold]
        if candidates:
            ws = np.array([d.score for d in candidates])
            total = ws.sum()
            box = np.array([[d.xmin, d.ymin, d.xmax, d.ymax] for d in candidates])
            kps = np.stack([d.keypoints for d in candidates])
            b = (box * ws[:, None]).sum(0) / total
            k = (kps * ws[:, None, None]).sum(0) / total
            out.append(Detection(b[0], b[1], b[2], b[3], top.score, k))
        else:
            out.append(top)
        if len(rest) == len(remaining):
            break
        remaining = rest
    return out


def project_detections(dets: list[Detection], lb: Letterbox) -> list[Detection]:
    """Remove the letterbox: normalized tensor coords -> frame pixels."""
    out = []
    for d in dets:
        x0, y0 = lb.to_frame(d.xmin, d.ymin)
        x1, y1 = lb.to_frame(d.xmax, d.ymax)
        kx, ky = lb.to_frame(d.keypoints[:, 0], d.keypoints[:, 1])
        out.append(Detection(float(x0), float(y0), float(x1), float(y1), d.score, np.stack([kx, ky], 1)))
    return out


def detect_faces(regressors, classificators, lb: Letterbox) -> list[Detection]:
    """Full detection post-processing: decode, weighted NMS, letterbox removal."""
    return project_detections(weighted_nms(decode_detections(regressors, classificators)), lb)


# --------------------------------------------------------------------------
# ROIs
# --------------------------------------------------------------------------


def normalize_radians(a: float) -> float:
    return a - 2 * math.pi * math.floor((a - (-math.pi)) / (2 * math.pi))


def _rect_to_roi(xmin, ymin, xmax, ymax, p0, p1) -> Roi:
    """DetectionsToRectsCalculator (rotation from p0 to p1, target angle 0)
    followed by RectTransformationCalculator (square_long, scale 1.5), in
    pixels."""
    rotation = normalize_radians(ROI_TARGET_ANGLE - math.atan2(-(p1[1] - p0[1]), p1[0] - p0[0]))
    w, h = xmax - xmin, ymax - ymin
    side = max(w, h)
    return Roi(
        x_center=(xmin + xmax) / 2,
        y_center=(ymin + ymax) / 2,
        width=side * ROI_SCALE,
        height=side * ROI_SCALE,
        rotation=rotation,
    )


def roi_from_detection(d: Detection) -> Roi:
    """face_detection_front_detection_to_roi (detection in frame pixels)."""
    kp = d.keypoints
    return _rect_to_roi(d.xmin, d.ymin, d.xmax, d.ymax,
                        kp[DETECTION_ROI_START_KEYPOINT], kp[DETECTION_ROI_END_KEYPOINT])


def roi_from_landmarks(lm: np.ndarray) -> Roi:
    """face_landmark_landmarks_to_roi: bbox of all landmarks (frame pixels),
    rotation from landmark 33 to 263, square_long, scale 1.5."""
    xy = np.asarray(lm, np.float64)[:, :2]
    xmin, ymin = xy.min(0)
    xmax, ymax = xy.max(0)
    return _rect_to_roi(xmin, ymin, xmax, ymax, xy[LANDMARK_ROI_START], xy[LANDMARK_ROI_END])


# --------------------------------------------------------------------------
# Landmarks and segmentation
# --------------------------------------------------------------------------


def project_landmarks(raw: np.ndarray, roi: Roi) -> np.ndarray:
    """[1,1,1,1404] model output (x, y, z in 192-px crop coordinates) ->
    [468, 3] frame pixels; z is scaled by roi.width / 192."""
    lm = np.asarray(raw, np.float64).reshape(NUM_LANDMARKS, 3)
    x, y = roi.crop_to_frame(lm[:, 0], lm[:, 1], LM_SIZE)
    z = lm[:, 2] * roi.width / LM_SIZE
    return np.stack([x, y, z], 1)


def face_presence(flag: np.ndarray) -> float:
    """[1,1,1,1] face flag logit -> probability."""
    return float(sigmoid(np.asarray(flag).reshape(-1)[0]))


def upsample_mask(mask: np.ndarray, width: int, height: int) -> np.ndarray:
    """Model mask [1,h,w,1] (probabilities, the graph ends in a Sigmoid) ->
    [height, width] float64 probabilities, bilinear with pixel-centre
    alignment, clamped at the edges."""
    m = np.asarray(mask, np.float64)
    m = m.reshape(m.shape[1], m.shape[2], 1)
    mh, mw = m.shape[:2]
    xs, ys = np.meshgrid(_stretch_coords(mw, width), _stretch_coords(mh, height))
    return bilinear_clamped(m, xs, ys)[..., 0]


def mask_to_u8(prob: np.ndarray) -> np.ndarray:
    """round(p * 255), half away from zero, clamped to [0, 255]."""
    return np.clip(np.floor(np.asarray(prob, np.float64) * 255.0 + 0.5), 0, 255).astype(np.uint8)
