//! Sampling a rotated region of a frame into a model's square input.

use crate::{geometry::Roi, Normalization, RgbaFrame, VisionError};

/// What sampling reads outside the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Border {
    /// Black, as for a face crop reaching past the frame's edge.
    Zero,
    /// The nearest edge pixel, as for a whole-frame resize.
    Clamp,
}

/// Writes the `roi` of `frame`, rotated upright, into `out` as an
/// `out_w`x`out_h` NHWC RGB tensor, sampling bilinearly.
pub(crate) fn fill_roi_nhwc(
    frame: &RgbaFrame<'_>,
    roi: &Roi,
    (out_w, out_h): (u32, u32),
    border: Border,
    norm: Normalization,
    out: &mut [f32],
) -> Result<(), VisionError> {
    let needed = (out_w * out_h * 3) as usize;
    if out.len() != needed {
        return Err(VisionError::OutputSize {
            needed,
            got: out.len(),
        });
    }
    let (sin, cos) = roi.rotation.sin_cos();
    let (w, h) = (frame.width() as i64, frame.height() as i64);
    let black = norm.apply(0.0);
    let (step_u, step_v) = (1.0 / out_w as f32, 1.0 / out_h as f32);
    // The sample point moves by a constant step per destination pixel, so
    // the rotation is applied incrementally.
    let (ux, uy) = (step_u * roi.width * cos, step_u * roi.width * sin);
    let (vx, vy) = (-step_v * roi.height * sin, step_v * roi.height * cos);
    let (ox, oy) = roi.to_frame(0.5 * step_u - 0.5, 0.5 * step_v - 0.5);
    for (v, row) in out.chunks_exact_mut(out_w as usize * 3).enumerate() {
        let (mut x, mut y) = (ox + v as f32 * vx - 0.5, oy + v as f32 * vy - 0.5);
        for px in row.chunks_exact_mut(3) {
            let (x0, y0) = (x.floor(), y.floor());
            let (fx, fy) = (x - x0, y - y0);
            let (x0, y0) = (x0 as i64, y0 as i64);
            if border == Border::Zero && (x0 < -1 || y0 < -1 || x0 >= w || y0 >= h) {
                px.fill(black);
            } else {
                let tap = |xi: i64, yi: i64| match border {
                    Border::Clamp => {
                        frame.pixel(xi.clamp(0, w - 1) as u32, yi.clamp(0, h - 1) as u32)
                    }
                    Border::Zero if xi < 0 || yi < 0 || xi >= w || yi >= h => [0u8; 4],
                    Border::Zero => frame.pixel(xi as u32, yi as u32),
                };
                let (a, b) = (tap(x0, y0), tap(x0 + 1, y0));
                let (c, d) = (tap(x0, y0 + 1), tap(x0 + 1, y0 + 1));
                for ch in 0..3 {
                    let top = a[ch] as f32 + (b[ch] as f32 - a[ch] as f32) * fx;
                    let bottom = c[ch] as f32 + (d[ch] as f32 - c[ch] as f32) * fx;
                    px[ch] = norm.apply(top + (bottom - top) * fy);
                }
            }
            x += ux;
            y += uy;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 4x4 image whose red channel is 10*x + y.
    fn ramp() -> Vec<u8> {
        (0..4u8)
            .flat_map(|y| (0..4u8).flat_map(move |x| [10 * x + y, 0, 0, 255]))
            .collect()
    }

    /// The red channel of a 2x2 crop of `data`, back in 0..255.
    fn crop_red(data: &[u8], roi: Roi) -> Vec<f32> {
        let frame = RgbaFrame::packed(data, 4, 4).unwrap();
        let mut out = vec![0.0; 2 * 2 * 3];
        fill_roi_nhwc(
            &frame,
            &roi,
            (2, 2),
            Border::Zero,
            Normalization::ZeroToOne,
            &mut out,
        )
        .unwrap();
        out.chunks(3).map(|p| (p[0] * 255.0).round()).collect()
    }

    #[test]
    fn an_unrotated_roi_is_a_plain_crop() {
        let roi = Roi {
            x_center: 2.0,
            y_center: 2.0,
            width: 2.0,
            height: 2.0,
            rotation: 0.0,
        };
        let red = crop_red(&ramp(), roi);
        assert_eq!(red, vec![11.0, 21.0, 12.0, 22.0]);
    }

    #[test]
    fn a_quarter_turn_rotates_the_crop() {
        let roi = Roi {
            x_center: 2.0,
            y_center: 2.0,
            width: 2.0,
            height: 2.0,
            rotation: std::f32::consts::FRAC_PI_2,
        };
        let red = crop_red(&ramp(), roi);
        // The crop's x axis points down the image, its y axis to the left.
        assert_eq!(red, vec![21.0, 22.0, 11.0, 12.0]);
    }

    #[test]
    fn outside_the_frame_is_black() {
        let data = vec![255u8; 4 * 4 * 4];
        let frame = RgbaFrame::packed(&data, 4, 4).unwrap();
        let roi = Roi {
            x_center: 100.0,
            y_center: 100.0,
            width: 2.0,
            height: 2.0,
            rotation: 0.3,
        };
        let mut out = vec![1.0; 2 * 2 * 3];
        fill_roi_nhwc(
            &frame,
            &roi,
            (2, 2),
            Border::Zero,
            Normalization::MinusOneToOne,
            &mut out,
        )
        .unwrap();
        assert!(out.iter().all(|&v| v == -1.0));
        fill_roi_nhwc(
            &frame,
            &roi,
            (2, 2),
            Border::Clamp,
            Normalization::MinusOneToOne,
            &mut out,
        )
        .unwrap();
        assert!(out.iter().all(|&v| v == 1.0), "clamping repeats the edge");
    }
}
