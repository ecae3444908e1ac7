//! A borrowed view of an RGBA frame, checked once so that the per-pixel code
//! can index it without further checks failing.

use crate::VisionError;

/// An RGBA8 image borrowed from a caller's buffer, with any row stride.
///
/// Browsers hand out frames whose rows are padded (a `VideoFrame` copied
/// with a layout, a WebGL readback), so the stride is explicit.
#[derive(Debug, Clone, Copy)]
pub struct RgbaFrame<'a> {
    data: &'a [u8],
    width: u32,
    height: u32,
    stride: usize,
}

impl<'a> RgbaFrame<'a> {
    /// Wraps `data` as a `width`x`height` image whose rows start every
    /// `stride` bytes. The last row needs only `4 * width` bytes.
    pub fn new(
        data: &'a [u8],
        width: u32,
        height: u32,
        stride: usize,
    ) -> Result<Self, VisionError> {
        if width == 0 || height == 0 {
            return Err(VisionError::ZeroSize { width, height });
        }
        let row = width as usize * 4;
        if stride < row {
            return Err(VisionError::StrideTooSmall { stride, width });
        }
        let needed = stride
            .checked_mul(height as usize - 1)
            .and_then(|n| n.checked_add(row))
            .ok_or(VisionError::BufferTooSmall {
                needed: usize::MAX,
                got: data.len(),
            })?;
        if data.len() < needed {
            return Err(VisionError::BufferTooSmall {
                needed,
                got: data.len(),
            });
        }
        Ok(Self {
            data,
            width,
            height,
            stride,
        })
    }

    /// Wraps a tightly packed buffer (`stride == 4 * width`).
    pub fn packed(data: &'a [u8], width: u32, height: u32) -> Result<Self, VisionError> {
        Self::new(data, width, height, width as usize * 4)
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Copies the image into `out` as packed rows (`4 * width` bytes each),
    /// whatever this frame's stride. `out` must hold the whole image.
    pub fn copy_packed(&self, out: &mut [u8]) {
        let row = self.width as usize * 4;
        for (y, dst) in out
            .chunks_exact_mut(row)
            .take(self.height as usize)
            .enumerate()
        {
            dst.copy_from_slice(&self.data[y * self.stride..][..row]);
        }
    }

    /// The RGBA bytes of pixel (`x`, `y`). Both must be in range, which the
    /// callers in this crate guarantee by clamping.
    pub(crate) fn pixel(&self, x: u32, y: u32) -> [u8; 4] {
        let i = y as usize * self.stride + x as usize * 4;
        [
            self.data[i],
            self.data[i + 1],
            self.data[i + 2],
            self.data[i + 3],
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_packed_drops_row_padding() {
        // 2x2 pixels in rows of 12 bytes: 8 of pixels, 4 of padding.
        let mut buf = Vec::new();
        for row in 0..2u8 {
            buf.extend((0..8).map(|i| row * 10 + i));
            buf.extend([99; 4]);
        }
        let frame = RgbaFrame::new(&buf, 2, 2, 12).unwrap();
        let mut out = vec![0u8; 16];
        frame.copy_packed(&mut out);
        let expected: Vec<u8> = (0..8).chain(10..18).collect();
        assert_eq!(out, expected);
    }

    #[test]
    fn rejects_zero_size_short_buffers_and_short_strides() {
        let buf = vec![0u8; 64];
        assert_eq!(
            RgbaFrame::packed(&buf, 0, 4).unwrap_err(),
            VisionError::ZeroSize {
                width: 0,
                height: 4
            }
        );
        assert_eq!(
            RgbaFrame::packed(&buf, 4, 5).unwrap_err(),
            VisionError::BufferTooSmall {
                needed: 80,
                got: 64
            }
        );
        assert_eq!(
            RgbaFrame::new(&buf, 4, 2, 8).unwrap_err(),
            VisionError::StrideTooSmall {
                stride: 8,
                width: 4
            }
        );
        assert!(
            RgbaFrame::new(&buf, 2, 3, 24).is_ok(),
            "the last row needs no padding"
        );
        assert!(RgbaFrame::new(&buf, 2, 4, usize::MAX).is_err());
    }

    #[test]
    fn reads_pixels_through_a_padded_stride() {
        let mut buf = vec![0u8; 2 * 12];
        buf[12..16].copy_from_slice(&[1, 2, 3, 4]);
        buf[16..20].copy_from_slice(&[5, 6, 7, 8]);
        let frame = RgbaFrame::new(&buf, 2, 2, 12).unwrap();
        assert_eq!(frame.pixel(0, 1), [1, 2, 3, 4]);
        assert_eq!(frame.pixel(1, 1), [5, 6, 7, 8]);
    }
}
