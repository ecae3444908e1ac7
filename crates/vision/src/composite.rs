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

/// One box-blur pass along rows (`horizontal`) or columns, from `src` to
/// `dst`, with edge pixels repeated. Running sums make it O(1) per pixel
/// whatever the radius.
fn box_pass(
    src: &[u8],
    dst: &mut [u8],
    width: usize,
    height: usize,
    channels: usize,
    radius: usize,
    horizontal: bool,
) {
    let (lines, len) = if horizontal {
        (height, width)
    } else {
        (width, height)
    };
    let index = |line: usize, i: usize| {
        if horizontal {
            (line * width + i) * channels
        } else {
            (i * width + line) * channels
        }
    };
    let window = (2 * radius + 1) as u32;
    let last = len - 1;
    for line in 0..lines {
        for c in 0..channels {
            let at = |i: usize| u32::from(src[index(line, i) + c]);
            // The window around i = 0, edges repeated.
            let mut sum: u32 = (0..=2 * radius)
                .map(|k| at(k.saturating_sub(radius).min(last)))
                .sum();
            for i in 0..len {
                dst[index(line, i) + c] = ((sum + window / 2) / window) as u8;
                let leaving = at(i.saturating_sub(radius).min(last));
                let entering = at((i + radius + 1).min(last));
                sum = sum + entering - leaving;
            }
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
        box_pass(image, &mut scratch.a, w, h, channels, radius, true);
        box_pass(&scratch.a, image, w, h, channels, radius, false);
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
            scratch.b.clear();
            scratch.b.extend_from_slice(&out[..pixels * 4]);
            let mut blurred = std::mem::take(&mut scratch.b);
            blur(&mut blurred, width, height, 4, *radius, scratch)?;
            scratch.b = blurred;
            &scratch.b
        }
        Background::Image(image) => {
            scratch.b.resize(pixels * 4, 0);
            image.copy_packed(&mut scratch.b);
            &scratch.b
        }
        Background::Fill(colour) => {
            for (px, &a) in out.chunks_exact_mut(4).zip(alpha).take(pixels) {
                for c in 0..4 {
                    px[c] = mix(px[c], colour[c], a);
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
        for c in 0..4 {
            px[c] = mix(px[c], bg[c], a);
        }
    }
    Ok(())
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
