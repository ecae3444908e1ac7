//! `SelfieSegmenter`: the person/background mask of a frame, at model
//! resolution and upsampled to the frame, optionally smoothed over time.

use crate::{
    crop::{fill_roi_nhwc, Border},
    geometry::Roi,
    network::Network,
    Normalization, RgbaFrame, VisionError,
};

/// Which selfie-segmentation model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmenterModel {
    /// `selfie_segmentation.onnx`: 256x256.
    General,
    /// `selfie_segmentation_landscape.onnx`: 256 wide, 144 high; faster,
    /// made for 16:9 frames.
    Landscape,
}

impl SegmenterModel {
    fn name(self) -> &'static str {
        match self {
            Self::General => "selfie_segmentation",
            Self::Landscape => "selfie_segmentation_landscape",
        }
    }

    /// The model's input (and mask) width and height.
    pub fn size(self) -> (u32, u32) {
        match self {
            Self::General => (256, 256),
            Self::Landscape => (256, 144),
        }
    }
}

/// Selfie segmentation: which pixels belong to the person.
#[derive(Debug)]
pub struct SelfieSegmenter {
    network: Network,
    model: SegmenterModel,
    mask: Vec<f32>,
    has_mask: bool,
    smoothing: f32,
}

impl SelfieSegmenter {
    /// Loads a segmentation model from its bytes.
    pub fn load(onnx: &[u8], model: SegmenterModel) -> Result<Self, VisionError> {
        let (w, h) = model.size();
        let (w, h) = (w as usize, h as usize);
        let network = Network::load(model.name(), onnx, &[1, h, w, 3], &[&[1, h, w, 1]])?;
        Ok(Self {
            network,
            model,
            mask: vec![0.0; w * h],
            has_mask: false,
            smoothing: 0.0,
        })
    }

    /// Blends each new mask with the previous one: `0` is off, `0.9` keeps
    /// 90% of the previous mask. Steadies the edges from frame to frame.
    pub fn set_smoothing(&mut self, smoothing: f32) {
        self.smoothing = smoothing.clamp(0.0, 0.99);
    }

    /// Forgets the previous mask, for example after a cut in the video.
    pub fn reset(&mut self) {
        self.has_mask = false;
    }

    /// Segments `frame`; the whole frame is stretched to the model's input.
    pub fn segment(&mut self, frame: &RgbaFrame<'_>) -> Result<Mask<'_>, VisionError> {
        let (w, h) = self.model.size();
        let whole = Roi {
            x_center: frame.width() as f32 / 2.0,
            y_center: frame.height() as f32 / 2.0,
            width: frame.width() as f32,
            height: frame.height() as f32,
            rotation: 0.0,
        };
        self.network.fill_input(|input| {
            fill_roi_nhwc(
                frame,
                &whole,
                (w, h),
                Border::Clamp,
                Normalization::ZeroToOne,
                input,
            )
        })?;
        let name = self.model.name();
        let outputs = self.network.run(name)?;
        let fresh = outputs.get(0);
        if fresh.len() != self.mask.len() {
            return Err(VisionError::Inference {
                model: name,
                reason: format!(
                    "mask of {} values, expected {}",
                    fresh.len(),
                    self.mask.len()
                ),
            });
        }
        let keep = if self.has_mask { self.smoothing } else { 0.0 };
        for (m, &p) in self.mask.iter_mut().zip(fresh) {
            *m = *m * keep + p.clamp(0.0, 1.0) * (1.0 - keep);
        }
        self.has_mask = true;
        Ok(Mask {
            values: &self.mask,
            width: w,
            height: h,
        })
    }

    /// The last mask, if any frame was segmented since the last reset.
    pub fn last_mask(&self) -> Option<Mask<'_>> {
        let (width, height) = self.model.size();
        self.has_mask.then_some(Mask {
            values: &self.mask,
            width,
            height,
        })
    }
}

/// A person mask at model resolution: the probability that each pixel
/// belongs to the person.
#[derive(Debug, Clone, Copy)]
pub struct Mask<'a> {
    /// Row-major probabilities in `0..1`.
    pub values: &'a [f32],
    /// Width in mask pixels.
    pub width: u32,
    /// Height in mask pixels.
    pub height: u32,
}

impl Mask<'_> {
    /// Upsamples the mask to `width`x`height` (bilinear, pixel centres
    /// aligned) into `out` as alpha bytes, 255 for the person.
    pub fn upsample_into(
        &self,
        width: u32,
        height: u32,
        out: &mut [u8],
    ) -> Result<(), VisionError> {
        if width == 0 || height == 0 {
            return Err(VisionError::ZeroSize { width, height });
        }
        let needed = width as usize * height as usize;
        if out.len() != needed {
            return Err(VisionError::OutputSize {
                needed,
                got: out.len(),
            });
        }
        let (mw, mh) = (self.width as usize, self.height as usize);
        let (sx, sy) = (mw as f32 / width as f32, mh as f32 / height as f32);
        // Where each output column and row samples the mask: the two
        // neighbours and the weight of the second, in 1/256.
        let position = |i: usize, scale: f32, len: usize| {
            let p = ((i as f32 + 0.5) * scale - 0.5).clamp(0.0, (len - 1) as f32);
            let i0 = p as usize;
            (
                i0,
                (i0 + 1).min(len - 1),
                ((p - i0 as f32) * 256.0).round() as u32,
            )
        };
        let columns: Vec<(usize, usize, u32)> =
            (0..width as usize).map(|x| position(x, sx, mw)).collect();
        // The mask in 1/255 steps, the precision of the output.
        let levels: Vec<u32> = self
            .values
            .iter()
            .map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u32)
            .collect();
        for (y, row) in out.chunks_exact_mut(width as usize).enumerate() {
            let (y0, y1, ty) = position(y, sy, mh);
            let (r0, r1) = (&levels[y0 * mw..][..mw], &levels[y1 * mw..][..mw]);
            for (alpha, &(x0, x1, tx)) in row.iter_mut().zip(&columns) {
                let top = r0[x0] * (256 - tx) + r0[x1] * tx;
                let bottom = r1[x0] * (256 - tx) + r1[x1] * tx;
                *alpha = ((top * (256 - ty) + bottom * ty + (1 << 15)) >> 16) as u8;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upsampling_interpolates_between_mask_pixels() {
        let values = [0.0, 1.0, 0.0, 1.0];
        let mask = Mask {
            values: &values,
            width: 2,
            height: 2,
        };
        let mut out = vec![0u8; 4 * 2];
        mask.upsample_into(4, 2, &mut out).unwrap();
        assert_eq!(&out[..4], &[0, 64, 191, 255]);
        assert_eq!(&out[4..], &out[..4]);
        assert!(mask.upsample_into(4, 2, &mut [0u8; 3]).is_err());
        assert!(mask.upsample_into(0, 2, &mut []).is_err());
    }
}
