//! Boxes, points and rotated rectangles in frame pixel coordinates.

/// An axis-aligned box in frame pixels.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct BoundingBox {
    /// Left edge.
    pub xmin: f32,
    /// Top edge.
    pub ymin: f32,
    /// Right edge.
    pub xmax: f32,
    /// Bottom edge.
    pub ymax: f32,
}

impl BoundingBox {
    /// Width in pixels.
    pub fn width(&self) -> f32 {
        self.xmax - self.xmin
    }

    /// Height in pixels.
    pub fn height(&self) -> f32 {
        self.ymax - self.ymin
    }

    /// Area, zero for an empty or inverted box.
    pub fn area(&self) -> f32 {
        self.width().max(0.0) * self.height().max(0.0)
    }

    /// Intersection over union with `other`; 0 when either is empty.
    pub fn iou(&self, other: &Self) -> f32 {
        let inter = Self {
            xmin: self.xmin.max(other.xmin),
            ymin: self.ymin.max(other.ymin),
            xmax: self.xmax.min(other.xmax),
            ymax: self.ymax.min(other.ymax),
        }
        .area();
        let union = self.area() + other.area() - inter;
        if union > 0.0 {
            inter / union
        } else {
            0.0
        }
    }
}

/// A rotated rectangle in frame pixels: the region a face-landmark model
/// looks at.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Roi {
    /// Centre, x.
    pub x_center: f32,
    /// Centre, y.
    pub y_center: f32,
    /// Width before rotation.
    pub width: f32,
    /// Height before rotation.
    pub height: f32,
    /// Clockwise rotation in radians (image y points down).
    pub rotation: f32,
}

impl Roi {
    /// Maps a point given relative to the ROI (`-0.5..0.5` on each axis,
    /// before rotation) to frame pixels.
    pub fn to_frame(&self, nx: f32, ny: f32) -> (f32, f32) {
        let (sin, cos) = self.rotation.sin_cos();
        let (dx, dy) = (nx * self.width, ny * self.height);
        (
            self.x_center + dx * cos - dy * sin,
            self.y_center + dx * sin + dy * cos,
        )
    }

    /// The rectangle MediaPipe derives from a set of points and two of them
    /// that define "horizontal": centred on the points' bounding box,
    /// rotated so that `from` → `to` is level, made square on its long side
    /// and scaled by `scale`.
    pub(crate) fn around(bbox: BoundingBox, from: (f32, f32), to: (f32, f32), scale: f32) -> Self {
        let rotation = normalize_radians(-(-(to.1 - from.1)).atan2(to.0 - from.0));
        let side = bbox.width().max(bbox.height()) * scale;
        Self {
            x_center: (bbox.xmin + bbox.xmax) / 2.0,
            y_center: (bbox.ymin + bbox.ymax) / 2.0,
            width: side,
            height: side,
            rotation,
        }
    }
}

/// Wraps an angle into `[-π, π)`.
fn normalize_radians(angle: f32) -> f32 {
    use std::f32::consts::PI;
    angle - 2.0 * PI * ((angle + PI) / (2.0 * PI)).floor()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_of_known_boxes() {
        let a = BoundingBox {
            xmin: 0.0,
            ymin: 0.0,
            xmax: 2.0,
            ymax: 2.0,
        };
        let b = BoundingBox {
            xmin: 1.0,
            ymin: 1.0,
            xmax: 3.0,
            ymax: 3.0,
        };
        assert!((a.iou(&b) - 1.0 / 7.0).abs() < 1e-6);
        assert_eq!(a.iou(&a), 1.0);
        assert_eq!(a.iou(&BoundingBox::default()), 0.0);
    }

    #[test]
    fn roi_rotation_levels_the_eyes() {
        let bbox = BoundingBox {
            xmin: 0.0,
            ymin: 0.0,
            xmax: 100.0,
            ymax: 50.0,
        };
        // Left eye lower than the right one: the head tilts clockwise.
        let roi = Roi::around(bbox, (30.0, 20.0), (70.0, 60.0), 1.5);
        assert!(
            (roi.rotation - std::f32::consts::FRAC_PI_4).abs() < 1e-6,
            "{}",
            roi.rotation
        );
        assert_eq!((roi.width, roi.height), (150.0, 150.0));
        assert_eq!((roi.x_center, roi.y_center), (50.0, 25.0));
        // The ROI's own x axis points from one eye to the other.
        let (x, y) = roi.to_frame(0.5, 0.0);
        assert!((x - (50.0 + 75.0 * 0.5f32.sqrt())).abs() < 1e-3);
        assert!((y - (25.0 + 75.0 * 0.5f32.sqrt())).abs() < 1e-3);
    }

    #[test]
    fn angles_wrap_into_one_turn() {
        use std::f32::consts::PI;
        assert!((normalize_radians(3.0 * PI / 2.0) + PI / 2.0).abs() < 1e-5);
        assert!((normalize_radians(-3.0 * PI / 2.0) - PI / 2.0).abs() < 1e-5);
    }
}
