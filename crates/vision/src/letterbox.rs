//! Fitting a frame of any size into a model's square (or fixed) input
//! without distorting it, and mapping model coordinates back.
//!
//! The frame is scaled uniformly to fit, centred, and the rest is padded
//! with black, as MediaPipe's `ImageToTensorCalculator` does with
//! `keep_aspect_ratio`. Detections come back normalized to the padded
//! input, so [`Letterbox::to_frame`] undoes exactly this transform.

use crate::{RgbaFrame, VisionError};

/// How 8-bit channel values map to the model's input range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Normalization {
    /// `v / 255`, for models trained on `[0, 1]` (the segmenter).
    ZeroToOne,
    /// `v / 127.5 - 1`, for models trained on `[-1, 1]` (BlazeFace, mesh).
    MinusOneToOne,
}

impl Normalization {
    pub(crate) fn apply(self, v: f32) -> f32 {
        match self {
            Self::ZeroToOne => v * (1.0 / 255.0),
            Self::MinusOneToOne => v * (1.0 / 127.5) - 1.0,
        }
    }
}

/// The uniform scale and centring that fit a source size into a
/// destination size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Letterbox {
    src_w: u32,
    src_h: u32,
    dst_w: u32,
    dst_h: u32,
    /// Destination pixels per source pixel.
    pub scale: f32,
    /// Destination columns of padding left of the image.
    pub pad_x: f32,
    /// Destination rows of padding above the image.
    pub pad_y: f32,
}

impl Letterbox {
    /// The letterbox of a `src_w`x`src_h` frame in a `dst_w`x`dst_h` input.
    pub fn fit(src_w: u32, src_h: u32, dst_w: u32, dst_h: u32) -> Result<Self, VisionError> {
        for (width, height) in [(src_w, src_h), (dst_w, dst_h)] {
            if width == 0 || height == 0 {
                return Err(VisionError::ZeroSize { width, height });
            }
        }
        let scale = (dst_w as f32 / src_w as f32).min(dst_h as f32 / src_h as f32);
        Ok(Self {
            src_w,
            src_h,
            dst_w,
            dst_h,
            scale,
            pad_x: (dst_w as f32 - src_w as f32 * scale) / 2.0,
            pad_y: (dst_h as f32 - src_h as f32 * scale) / 2.0,
        })
    }

    /// Whether this letterbox was fitted to `frame`'s size.
    pub fn fits(&self, frame: &RgbaFrame<'_>) -> bool {
        (frame.width(), frame.height()) == (self.src_w, self.src_h)
    }

    /// Maps a point normalized to the model input (`0..1` on each axis) to
    /// frame pixels.
    pub fn to_frame(&self, x: f32, y: f32) -> (f32, f32) {
        (
            (x * self.dst_w as f32 - self.pad_x) / self.scale,
            (y * self.dst_h as f32 - self.pad_y) / self.scale,
        )
    }

    /// Writes the letterboxed frame into `out` as an NHWC RGB tensor of
    /// `dst_h * dst_w * 3` values, sampling bilinearly. Allocates nothing.
    pub fn fill_nhwc(
        &self,
        frame: &RgbaFrame<'_>,
        norm: Normalization,
        out: &mut [f32],
    ) -> Result<(), VisionError> {
        let needed = self.dst_w as usize * self.dst_h as usize * 3;
        if out.len() != needed {
            return Err(VisionError::OutputSize {
                needed,
                got: out.len(),
            });
        }
        if !self.fits(frame) {
            return Err(VisionError::FrameSize {
                expected: (self.src_w, self.src_h),
                got: (frame.width(), frame.height()),
            });
        }
        let black = norm.apply(0.0);
        let inv = 1.0 / self.scale;
        let max_x = (self.src_w - 1) as f32;
        let max_y = (self.src_h - 1) as f32;
        for (dy, row) in out.chunks_exact_mut(self.dst_w as usize * 3).enumerate() {
            // Pixel centres map to pixel centres.
            let sy = (dy as f32 + 0.5 - self.pad_y) * inv - 0.5;
            let inside_y = sy > -1.0 && sy < self.src_h as f32;
            let sy = sy.clamp(0.0, max_y);
            let (y0, fy) = (sy.floor() as u32, sy.fract());
            let y1 = (y0 + 1).min(self.src_h - 1);
            for (dx, px) in row.chunks_exact_mut(3).enumerate() {
                let sx = (dx as f32 + 0.5 - self.pad_x) * inv - 0.5;
                if !inside_y || sx <= -1.0 || sx >= self.src_w as f32 {
                    px.fill(black);
                    continue;
                }
                let sx = sx.clamp(0.0, max_x);
                let (x0, fx) = (sx.floor() as u32, sx.fract());
                let x1 = (x0 + 1).min(self.src_w - 1);
                let (a, b) = (frame.pixel(x0, y0), frame.pixel(x1, y0));
                let (c, d) = (frame.pixel(x0, y1), frame.pixel(x1, y1));
                for ch in 0..3 {
                    let top = a[ch] as f32 + (b[ch] as f32 - a[ch] as f32) * fx;
                    let bottom = c[ch] as f32 + (d[ch] as f32 - c[ch] as f32) * fx;
                    px[ch] = norm.apply(top + (bottom - top) * fy);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solid(width: u32, height: u32, rgba: [u8; 4]) -> Vec<u8> {
        rgba.iter()
            .copied()
            .cycle()
            .take((width * height * 4) as usize)
            .collect()
    }

    #[test]
    fn a_wide_frame_is_padded_above_and_below() {
        let data = solid(8, 4, [255, 0, 255, 255]);
        let frame = RgbaFrame::packed(&data, 8, 4).unwrap();
        let lb = Letterbox::fit(8, 4, 4, 4).unwrap();
        assert_eq!((lb.scale, lb.pad_x, lb.pad_y), (0.5, 0.0, 1.0));
        let mut out = vec![9.0; 4 * 4 * 3];
        lb.fill_nhwc(&frame, Normalization::MinusOneToOne, &mut out)
            .unwrap();
        let rows: Vec<&[f32]> = out.chunks(12).collect();
        assert!(rows[0].iter().all(|&v| v == -1.0), "top padding is black");
        assert!(
            rows[3].iter().all(|&v| v == -1.0),
            "bottom padding is black"
        );
        for px in rows[1].chunks(3).chain(rows[2].chunks(3)) {
            assert_eq!(px, [1.0, -1.0, 1.0]);
        }
    }

    #[test]
    fn bilinear_sampling_follows_a_gradient() {
        // A horizontal ramp 0, 85, 170, 255 downsampled 2x samples between
        // source pixels.
        let mut data = Vec::new();
        for _ in 0..4 {
            for v in [0u8, 85, 170, 255] {
                data.extend_from_slice(&[v, v, v, 255]);
            }
        }
        let frame = RgbaFrame::packed(&data, 4, 4).unwrap();
        let lb = Letterbox::fit(4, 4, 2, 2).unwrap();
        let mut out = vec![0.0; 2 * 2 * 3];
        lb.fill_nhwc(&frame, Normalization::ZeroToOne, &mut out)
            .unwrap();
        assert!((out[0] - 42.5 / 255.0).abs() < 1e-6, "got {}", out[0]);
        assert!((out[3] - 212.5 / 255.0).abs() < 1e-6, "got {}", out[3]);
    }

    #[test]
    fn to_frame_inverts_the_letterbox() {
        let lb = Letterbox::fit(640, 480, 128, 128).unwrap();
        // The image's corners land on the edges of the content area.
        let (x, y) = lb.to_frame(0.0, lb.pad_y / 128.0);
        assert!(x.abs() < 1e-3 && y.abs() < 1e-3);
        let (x, y) = lb.to_frame(1.0, 1.0 - lb.pad_y / 128.0);
        assert!((x - 640.0).abs() < 1e-3 && (y - 480.0).abs() < 1e-3);
    }

    #[test]
    fn wrong_sizes_are_errors_not_panics() {
        assert!(Letterbox::fit(0, 10, 128, 128).is_err());
        let data = solid(4, 4, [0; 4]);
        let frame = RgbaFrame::packed(&data, 4, 4).unwrap();
        let lb = Letterbox::fit(4, 4, 2, 2).unwrap();
        let mut short = vec![0.0; 5];
        assert_eq!(
            lb.fill_nhwc(&frame, Normalization::ZeroToOne, &mut short),
            Err(VisionError::OutputSize { needed: 12, got: 5 })
        );
        let other = Letterbox::fit(8, 8, 2, 2).unwrap();
        let mut out = vec![0.0; 12];
        assert!(other
            .fill_nhwc(&frame, Normalization::ZeroToOne, &mut out)
            .is_err());
    }
}
