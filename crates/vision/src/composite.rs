//! Drawing effects onto RGBA frames: background blur, replacement and
//! removal through a person mask, feathered mask edges, and the marks for
//! face boxes, keypoints and mesh points.
//!
//! Everything works on packed RGBA buffers (4 bytes per pixel, rows
//! back to back) and reuses caller-owned scratch space, so a frame loop
//! allocates nothing after its first frame.

use crate::{BoundingBox, RgbaFrame, VisionError};

/// Scratch buffers reused from frame to frame.
#[derive(Debug, Default)]
pub struct Scratch {
    a: Vec<u8>,
    b: Vec<u8>,
    sums: Vec<u32>,
    columns: Vec<(u32, u32, u16)>,
    rows: Vec<(u32, u32, u16)>,
    line: Vec<u32>,
}

/// What replaces the background (where the mask says "not a person").
#[derive(Debug, Clone, Copy)]
pub enum Background<'a> {
    /// Leave the frame as it is.
    Keep,
    /// Blur the frame's own background with this radius, in pixels.
    Blur {
        /// Box radius of each of the three passes; about the Gaussian
        /// sigma.
        radius: u32,
    },
    /// Another image of the same size.
    Image(RgbaFrame<'a>),
    /// One colour; an alpha of 0 makes the background transparent.
    Fill([u8; 4]),
}

fn check_len(buf: &[u8], width: u32, height: u32, channels: usize) -> Result<(), VisionError> {
    let needed = width as usize * height as usize * channels;
    if width == 0 || height == 0 {
        return Err(VisionError::ZeroSize { width, height });
    }
    if buf.len() < needed {
        return Err(VisionError::BufferTooSmall {
            needed,
            got: buf.len(),
        });
    }
    Ok(())
}

/// Divides a window sum by the window size with a multiply: `sum * inv
/// >> 24`, rounding, exact for the sums of `u8` windows used here.
#[inline]
fn reciprocal(window: u32) -> u64 {
    ((1u64 << 24) + u64::from(window) / 2) / u64::from(window)
}

#[inline]
fn divide(sum: u32, inv: u64) -> u8 {
    ((u64::from(sum) * inv + (1 << 23)) >> 24).min(255) as u8
}

/// One box-blur pass along each row, from `src` to `dst`, edge pixels
/// repeated. Running sums make it O(1) per pixel whatever the radius.
fn box_rows(src: &[u8], dst: &mut [u8], width: usize, channels: usize, radius: usize) {
    let inv = reciprocal((2 * radius + 1) as u32);
    let last = width - 1;
    for (s, d) in src
        .chunks_exact(width * channels)
        .zip(dst.chunks_exact_mut(width * channels))
    {
        for c in 0..channels {
            let at = |i: usize| u32::from(s[i * channels + c]);
            let mut sum = at(0) * (radius as u32 + 1);
            for k in 1..=radius {
                sum += at(k.min(last));
            }
            // Edges clamp; the middle, most of the row, needs no clamping.
            let head = (radius + 1).min(width);
            let tail = width.saturating_sub(radius + 1).max(head);
            for x in 0..head {
                d[x * channels + c] = divide(sum, inv);
                sum += at((x + radius + 1).min(last));
                sum -= at(x.saturating_sub(radius));
            }
            for x in head..tail {
                d[x * channels + c] = divide(sum, inv);
                sum += u32::from(s[(x + radius + 1) * channels + c]);
                sum -= u32::from(s[(x - radius) * channels + c]);
            }
            for x in tail..width {
                d[x * channels + c] = divide(sum, inv);
                sum += at((x + radius + 1).min(last));
                sum -= at(x.saturating_sub(radius));
            }
        }
    }
}

/// One box-blur pass down the columns, from `src` to `dst`: a row of
/// running sums moves down the image, so memory is read row by row.
fn box_columns(
    src: &[u8],
    dst: &mut [u8],
    row_len: usize,
    height: usize,
    radius: usize,
    sums: &mut Vec<u32>,
) {
    let inv = reciprocal((2 * radius + 1) as u32);
    let last = height - 1;
    let row = |y: usize| &src[y * row_len..][..row_len];
    sums.clear();
    sums.extend(row(0).iter().map(|&v| u32::from(v) * (radius as u32 + 1)));
    for k in 1..=radius {
        for (s, &v) in sums.iter_mut().zip(row(k.min(last))) {
            *s += u32::from(v);
        }
    }
    for (y, out) in dst.chunks_exact_mut(row_len).take(height).enumerate() {
        for (o, &s) in out.iter_mut().zip(sums.iter()) {
            *o = divide(s, inv);
        }
        let (entering, leaving) = (
            row((y + radius + 1).min(last)),
            row(y.saturating_sub(radius)),
        );
        for ((s, &e), &l) in sums.iter_mut().zip(entering).zip(leaving) {
            *s = *s + u32::from(e) - u32::from(l);
        }
    }
}

/// Blurs a packed image of `channels` bytes per pixel in place with three
/// box passes each way, which approximates a Gaussian of sigma ≈ `radius`.
pub fn blur(
    image: &mut [u8],
    width: u32,
    height: u32,
    channels: usize,
    radius: u32,
    scratch: &mut Scratch,
) -> Result<(), VisionError> {
    check_len(image, width, height, channels)?;
    if radius == 0 {
        return Ok(());
    }
    let (w, h) = (width as usize, height as usize);
    let len = w * h * channels;
    let image = &mut image[..len];
    scratch.a.resize(len, 0);
    let radius = radius as usize;
    for _ in 0..3 {
        box_rows(image, &mut scratch.a, w, channels, radius);
        box_columns(
            &scratch.a,
            image,
            w * channels,
            h,
            radius,
            &mut scratch.sums,
        );
    }
    Ok(())
}

/// Softens a mask's edges (one byte per pixel) so the cut-out does not
/// look jagged.
pub fn feather(
    mask: &mut [u8],
    width: u32,
    height: u32,
    radius: u32,
    scratch: &mut Scratch,
) -> Result<(), VisionError> {
    blur(mask, width, height, 1, radius, scratch)
}

/// Where each of `len` output positions samples a line of `src_len`
/// values, scaled by `src_len / len` with pixel centres aligned: the two
/// neighbours and the weight of the second, in 1/256.
fn bilinear_positions(len: usize, src_len: usize, out: &mut Vec<(u32, u32, u16)>) {
    let scale = src_len as f32 / len as f32;
    out.clear();
    out.extend((0..len).map(|i| {
        let p = ((i as f32 + 0.5) * scale - 0.5).clamp(0.0, (src_len - 1) as f32);
        let i0 = p as usize;
        (
            i0 as u32,
            (i0 + 1).min(src_len - 1) as u32,
            ((p - i0 as f32) * 256.0).round() as u16,
        )
    }));
}

/// Scales a one-byte-per-pixel mask up (or down) to `width` x `height`,
/// bilinearly, pixel centres aligned.
pub fn upsample_alpha(
    src: &[u8],
    src_width: u32,
    src_height: u32,
    out: &mut [u8],
    width: u32,
    height: u32,
    scratch: &mut Scratch,
) -> Result<(), VisionError> {
    check_len(src, src_width, src_height, 1)?;
    check_len(out, width, height, 1)?;
    let (sw, sh) = (src_width as usize, src_height as usize);
    let (w, h) = (width as usize, height as usize);
    bilinear_positions(w, sw, &mut scratch.columns);
    bilinear_positions(h, sh, &mut scratch.rows);
    scratch.line.resize(sw, 0);
    for (row, &(y0, y1, ty)) in out.chunks_exact_mut(w).zip(&scratch.rows) {
        // Blend the two source rows first, then each output pixel needs
        // one horizontal blend: values in 1/256 steps.
        let (r0, r1) = (
            &src[y0 as usize * sw..][..sw],
            &src[y1 as usize * sw..][..sw],
        );
        let ty = u32::from(ty);
        for ((l, &a), &b) in scratch.line.iter_mut().zip(r0).zip(r1) {
            *l = u32::from(a) * (256 - ty) + u32::from(b) * ty;
        }
        let line = &scratch.line;
        for (o, &(x0, x1, tx)) in row.iter_mut().zip(&scratch.columns) {
            let tx = u32::from(tx);
            let v = line[x0 as usize] * (256 - tx) + line[x1 as usize] * tx;
            *o = ((v + (1 << 15)) >> 16) as u8;
        }
    }
    Ok(())
}

fn mix(fg: u8, bg: u8, alpha: u8) -> u8 {
    let (fg, bg, a) = (u32::from(fg), u32::from(bg), u32::from(alpha));
    ((fg * a + bg * (255 - a) + 127) / 255) as u8
}

/// Writes `frame` over `background` into `out` (packed RGBA of the frame's
/// size), weighting each pixel by `alpha`: 255 where the mask sees a
/// person, 0 where it sees background.
pub fn composite(
    frame: &RgbaFrame<'_>,
    alpha: &[u8],
    background: &Background<'_>,
    out: &mut [u8],
    scratch: &mut Scratch,
) -> Result<(), VisionError> {
    let (width, height) = (frame.width(), frame.height());
    check_len(alpha, width, height, 1)?;
    check_len(out, width, height, 4)?;
    let pixels = width as usize * height as usize;
    if let Background::Image(image) = background {
        if (image.width(), image.height()) != (width, height) {
            return Err(VisionError::FrameSize {
                expected: (width, height),
                got: (image.width(), image.height()),
            });
        }
    }
    // The frame, packed, as the foreground.
    frame.copy_packed(out);
    let background_pixels: &[u8] = match background {
        Background::Keep => return Ok(()),
        Background::Blur { radius } => {
            blur_behind(out, alpha, width, height, *radius, scratch);
            return Ok(());
        }
        Background::Image(image) => {
            scratch.b.resize(pixels * 4, 0);
            image.copy_packed(&mut scratch.b);
            &scratch.b
        }
        Background::Fill(colour) => {
            for (px, &a) in out.chunks_exact_mut(4).zip(alpha).take(pixels) {
                if a != 255 {
                    for c in 0..4 {
                        px[c] = mix(px[c], colour[c], a);
                    }
                }
            }
            return Ok(());
        }
    };
    for ((px, bg), &a) in out
        .chunks_exact_mut(4)
        .zip(background_pixels.chunks_exact(4))
        .zip(alpha)
        .take(pixels)
    {
        if a != 255 {
            for c in 0..4 {
                px[c] = mix(px[c], bg[c], a);
            }
        }
    }
    Ok(())
}

/// How much the background is shrunk before a blur of `radius`: a wide
/// blur leaves no detail that full resolution would keep, and blurring a
/// third of the pixels in each direction is nine times cheaper.
fn blur_factor(radius: u32) -> u32 {
    (radius / 3).clamp(1, 8)
}

/// Mixes a blurred copy of `out`'s own pixels in behind the person: the
/// frame is shrunk by [`blur_factor`] (block means), blurred there with the
/// scaled radius, and sampled back bilinearly only where the mask lets the
/// background through. Alpha stays the frame's.
fn blur_behind(
    out: &mut [u8],
    alpha: &[u8],
    width: u32,
    height: u32,
    radius: u32,
    scratch: &mut Scratch,
) {
    let f = blur_factor(radius) as usize;
    let (w, h) = (width as usize, height as usize);
    let (sw, sh) = (w.div_ceil(f), h.div_ceil(f));
    // Shrink to RGB block means.
    scratch.b.clear();
    scratch.b.resize(sw * sh * 3, 0);
    for sy in 0..sh {
        let rows = (sy * f)..((sy + 1) * f).min(h);
        let n_rows = rows.len() as u32;
        for sx in 0..sw {
            let cols = (sx * f)..((sx + 1) * f).min(w);
            let n = n_rows * cols.len() as u32;
            let mut acc = [0u32; 3];
            for y in rows.clone() {
                let line = &out[(y * w + cols.start) * 4..(y * w + cols.end) * 4];
                for px in line.chunks_exact(4) {
                    acc[0] += u32::from(px[0]);
                    acc[1] += u32::from(px[1]);
                    acc[2] += u32::from(px[2]);
                }
            }
            let o = (sy * sw + sx) * 3;
            for (mean, sum) in scratch.b[o..o + 3].iter_mut().zip(acc) {
                *mean = ((sum + n / 2) / n) as u8;
            }
        }
    }
    let small_radius = ((radius as f32 / f as f32).round() as usize).max(1);
    let mut small = std::mem::take(&mut scratch.b);
    scratch.a.resize(small.len(), 0);
    for _ in 0..3 {
        box_rows(&small, &mut scratch.a, sw, 3, small_radius);
        box_columns(
            &scratch.a,
            &mut small,
            sw * 3,
            sh,
            small_radius,
            &mut scratch.sums,
        );
    }
    bilinear_positions(w, sw, &mut scratch.columns);
    bilinear_positions(h, sh, &mut scratch.rows);
    scratch.line.resize(sw * 3, 0);
    for (y, &(y0, y1, ty)) in scratch.rows.iter().enumerate() {
        let mask = &alpha[y * w..][..w];
        if mask.iter().all(|&a| a == 255) {
            continue;
        }
        // The two small rows blended once, in 1/256 steps; then one
        // horizontal blend per output pixel that shows background.
        let ty = u32::from(ty);
        let (r0, r1) = (
            &small[y0 as usize * sw * 3..][..sw * 3],
            &small[y1 as usize * sw * 3..][..sw * 3],
        );
        for ((l, &a), &b) in scratch.line.iter_mut().zip(r0).zip(r1) {
            *l = u32::from(a) * (256 - ty) + u32::from(b) * ty;
        }
        let line = &scratch.line;
        let row = &mut out[y * w * 4..][..w * 4];
        for ((px, &a), &(x0, x1, tx)) in row.chunks_exact_mut(4).zip(mask).zip(&scratch.columns) {
            if a == 255 {
                continue;
            }
            let (x0, x1, tx) = (x0 as usize * 3, x1 as usize * 3, u32::from(tx));
            for c in 0..3 {
                let v = line[x0 + c] * (256 - tx) + line[x1 + c] * tx;
                let bg = ((v + (1 << 15)) >> 16) as u8;
                px[c] = if a == 0 { bg } else { mix(px[c], bg, a) };
            }
        }
    }
    scratch.b = small;
}

fn put(out: &mut [u8], width: u32, height: u32, x: i64, y: i64, colour: [u8; 4]) {
    if x < 0 || y < 0 || x >= i64::from(width) || y >= i64::from(height) {
        return;
    }
    let i = (y as usize * width as usize + x as usize) * 4;
    out[i..i + 4].copy_from_slice(&colour);
}

/// Draws the outline of `bbox`, `thickness` pixels wide, inside its edges.
/// Parts outside the image are clipped.
pub fn draw_box(
    out: &mut [u8],
    width: u32,
    height: u32,
    bbox: &BoundingBox,
    colour: [u8; 4],
    thickness: u32,
) {
    let (x0, y0) = (bbox.xmin.round() as i64, bbox.ymin.round() as i64);
    let (x1, y1) = (bbox.xmax.round() as i64 - 1, bbox.ymax.round() as i64 - 1);
    let t = i64::from(thickness.max(1));
    for y in y0..=y1 {
        for x in x0..=x1 {
            let edge = x - x0 < t || x1 - x < t || y - y0 < t || y1 - y < t;
            if edge {
                put(out, width, height, x, y, colour);
            }
        }
    }
}

/// Draws a filled disc of `radius` pixels centred on (`x`, `y`).
pub fn draw_dot(
    out: &mut [u8],
    width: u32,
    height: u32,
    x: f32,
    y: f32,
    radius: f32,
    colour: [u8; 4],
) {
    let r = radius.max(0.5);
    let (cx, cy) = (x, y);
    for py in (cy - r).floor() as i64..=(cy + r).ceil() as i64 {
        for px in (cx - r).floor() as i64..=(cx + r).ceil() as i64 {
            let (dx, dy) = (px as f32 + 0.5 - cx, py as f32 + 0.5 - cy);
            if dx * dx + dy * dy <= r * r {
                put(out, width, height, px, py, colour);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(width: u32, height: u32) -> Vec<u8> {
        // A fixed pseudo-random pattern (an LCG), so the test is the same
        // every run.
        let mut state = 12345u32;
        (0..width * height * 4)
            .map(|_| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (state >> 16) as u8
            })
            .collect()
    }

    fn variance(values: impl Iterator<Item = u8>) -> f64 {
        let v: Vec<f64> = values.map(f64::from).collect();
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64
    }

    #[test]
    fn blur_keeps_flat_images_and_smooths_noise() {
        let mut scratch = Scratch::default();
        let mut flat = vec![77u8; 20 * 10 * 4];
        blur(&mut flat, 20, 10, 4, 3, &mut scratch).unwrap();
        assert!(flat.iter().all(|&v| v == 77));

        let mut image = noise(32, 32);
        let before = variance(image.iter().copied());
        let mut radius_zero = image.clone();
        blur(&mut radius_zero, 32, 32, 4, 0, &mut scratch).unwrap();
        assert_eq!(radius_zero, image, "radius 0 is the identity");
        blur(&mut image, 32, 32, 4, 4, &mut scratch).unwrap();
        let after = variance(image.iter().copied());
        assert!(after < before / 20.0, "variance {before} -> {after}");
    }

    #[test]
    fn blur_spreads_a_point_symmetrically() {
        let mut scratch = Scratch::default();
        let mut mask = vec![0u8; 21 * 21];
        mask[10 * 21 + 10] = 255;
        feather(&mut mask, 21, 21, 1, &mut scratch).unwrap();
        let at = |x: usize, y: usize| mask[y * 21 + x];
        assert!(at(10, 10) > at(11, 10) && at(11, 10) > at(13, 10));
        assert_eq!(at(9, 10), at(11, 10));
        assert_eq!(at(10, 9), at(10, 11));
        assert_eq!(at(0, 0), 0);
    }

    #[test]
    fn the_mask_picks_frame_or_background() {
        let (w, h) = (4u32, 2u32);
        let frame_px: Vec<u8> = [10u8, 20, 30, 255].repeat((w * h) as usize);
        let frame = RgbaFrame::packed(&frame_px, w, h).unwrap();
        // Left half person, right half background.
        let alpha: Vec<u8> = (0..w * h)
            .map(|i| if i % w < 2 { 255 } else { 0 })
            .collect();
        let mut out = vec![0u8; (w * h * 4) as usize];
        let mut scratch = Scratch::default();

        composite(
            &frame,
            &alpha,
            &Background::Fill([0, 255, 0, 0]),
            &mut out,
            &mut scratch,
        )
        .unwrap();
        assert_eq!(
            &out[0..4],
            &[10, 20, 30, 255],
            "person pixels are the frame"
        );
        assert_eq!(
            &out[8..12],
            &[0, 255, 0, 0],
            "removed background is the fill"
        );

        let bg_px: Vec<u8> = [200u8, 100, 50, 255].repeat((w * h) as usize);
        let bg = RgbaFrame::packed(&bg_px, w, h).unwrap();
        composite(
            &frame,
            &alpha,
            &Background::Image(bg),
            &mut out,
            &mut scratch,
        )
        .unwrap();
        assert_eq!(&out[12..16], &[200, 100, 50, 255]);
        assert_eq!(&out[4..8], &[10, 20, 30, 255]);

        let half = vec![128u8; (w * h) as usize];
        composite(
            &frame,
            &half,
            &Background::Image(bg),
            &mut out,
            &mut scratch,
        )
        .unwrap();
        assert_eq!(&out[0..4], &[105, 60, 40, 255], "a soft edge mixes both");

        let small = RgbaFrame::packed(&bg_px[..8], 2, 1).unwrap();
        assert!(matches!(
            composite(
                &frame,
                &alpha,
                &Background::Image(small),
                &mut out,
                &mut scratch
            ),
            Err(VisionError::FrameSize { .. })
        ));
        assert!(matches!(
            composite(
                &frame,
                &alpha[..3],
                &Background::Keep,
                &mut out,
                &mut scratch
            ),
            Err(VisionError::BufferTooSmall { .. })
        ));
    }

    #[test]
    fn blurred_background_is_smooth_and_the_person_untouched() {
        let (w, h) = (32u32, 32u32);
        let pixels = noise(w, h);
        let frame = RgbaFrame::packed(&pixels, w, h).unwrap();
        let alpha: Vec<u8> = (0..w * h)
            .map(|i| if i % w < 16 { 255 } else { 0 })
            .collect();
        let mut out = vec![0u8; (w * h * 4) as usize];
        let mut scratch = Scratch::default();
        composite(
            &frame,
            &alpha,
            &Background::Blur { radius: 3 },
            &mut out,
            &mut scratch,
        )
        .unwrap();
        let region = |buf: &[u8], left: bool| {
            buf.chunks_exact(4)
                .enumerate()
                .filter(|(i, _)| ((*i as u32 % w) < 16) == left)
                .map(|(_, px)| px[0])
                .collect::<Vec<u8>>()
        };
        assert_eq!(region(&out, true), region(&pixels, true));
        let before = variance(region(&pixels, false).into_iter());
        let after = variance(region(&out, false).into_iter());
        assert!(
            after < before / 5.0,
            "background variance {before} -> {after}"
        );
    }

    #[test]
    fn boxes_and_dots_land_where_asked_and_clip() {
        let (w, h) = (10u32, 10u32);
        let mut out = vec![0u8; (w * h * 4) as usize];
        let red = [255, 0, 0, 255];
        let bbox = BoundingBox {
            xmin: 2.0,
            ymin: 3.0,
            xmax: 7.0,
            ymax: 8.0,
        };
        draw_box(&mut out, w, h, &bbox, red, 1);
        let at = |out: &[u8], x: u32, y: u32| out[((y * w + x) * 4) as usize];
        assert_eq!(at(&out, 2, 3), 255);
        assert_eq!(at(&out, 6, 7), 255);
        assert_eq!(at(&out, 4, 3), 255);
        assert_eq!(at(&out, 4, 5), 0, "the inside stays clear");
        assert_eq!(at(&out, 7, 3), 0, "xmax is exclusive");
        let off = BoundingBox {
            xmin: -5.0,
            ymin: -5.0,
            xmax: 50.0,
            ymax: 2.0,
        };
        draw_box(&mut out, w, h, &off, red, 2);
        assert_eq!(at(&out, 9, 0), 255);
        draw_dot(&mut out, w, h, 5.0, 5.0, 1.0, [0, 0, 255, 255]);
        assert_eq!(out[((5 * w + 5) * 4 + 2) as usize], 255);
        assert_eq!(out[((5 * w + 8) * 4 + 2) as usize], 0);
        draw_dot(&mut out, w, h, -10.0, 50.0, 3.0, red);
    }
}
