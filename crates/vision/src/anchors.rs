//! SSD anchor generation for BlazeFace, following the options MediaPipe's
//! `SsdAnchorsCalculator` is configured with for the short-range face
//! detector.

/// The centre of one anchor, normalized to the model input. The short-range
/// detector uses fixed-size anchors, so width and height are always 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Anchor {
    pub x: f32,
    pub y: f32,
}

/// The anchor options of one SSD model.
pub(crate) struct AnchorOptions {
    pub input_width: u32,
    pub input_height: u32,
    pub strides: &'static [u32],
    pub offset: f32,
    /// Anchors per feature-map cell for each layer, after merging layers
    /// that share a stride.
    pub per_cell: fn(layers_with_stride: usize) -> usize,
}

/// The short-range BlazeFace options: strides 8, 16, 16, 16; one aspect
/// ratio plus the interpolated scale, i.e. two anchors per layer per cell.
pub(crate) const SHORT_RANGE: AnchorOptions = AnchorOptions {
    input_width: 128,
    input_height: 128,
    strides: &[8, 16, 16, 16],
    offset: 0.5,
    per_cell: |layers| 2 * layers,
};

/// Generates the anchors in the order the model's outputs use: layer by
/// layer (layers sharing a stride merged), row-major over the feature map,
/// then anchor by anchor within a cell.
pub(crate) fn generate(options: &AnchorOptions) -> Vec<Anchor> {
    let mut anchors = Vec::new();
    let mut layer = 0;
    while layer < options.strides.len() {
        let stride = options.strides[layer];
        let mut same = 0;
        while layer + same < options.strides.len() && options.strides[layer + same] == stride {
            same += 1;
        }
        let rows = options.input_height.div_ceil(stride);
        let cols = options.input_width.div_ceil(stride);
        for y in 0..rows {
            for x in 0..cols {
                let anchor = Anchor {
                    x: (x as f32 + options.offset) / cols as f32,
                    y: (y as f32 + options.offset) / rows as f32,
                };
                anchors.extend(std::iter::repeat_n(anchor, (options.per_cell)(same)));
            }
        }
        layer += same;
    }
    anchors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_range_has_896_anchors_on_two_grids() {
        let anchors = generate(&SHORT_RANGE);
        assert_eq!(anchors.len(), 896);
        // 16x16 cells with 2 anchors, then 8x8 cells with 6.
        assert_eq!(
            anchors[0],
            Anchor {
                x: 0.5 / 16.0,
                y: 0.5 / 16.0
            }
        );
        assert_eq!(anchors[1], anchors[0]);
        assert_eq!(
            anchors[2],
            Anchor {
                x: 1.5 / 16.0,
                y: 0.5 / 16.0
            }
        );
        assert_eq!(
            anchors[511],
            Anchor {
                x: 15.5 / 16.0,
                y: 15.5 / 16.0
            }
        );
        assert_eq!(
            anchors[512],
            Anchor {
                x: 0.5 / 8.0,
                y: 0.5 / 8.0
            }
        );
        assert_eq!(anchors[517], anchors[512]);
        assert_eq!(
            anchors[518],
            Anchor {
                x: 1.5 / 8.0,
                y: 0.5 / 8.0
            }
        );
        assert_eq!(
            anchors[895],
            Anchor {
                x: 7.5 / 8.0,
                y: 7.5 / 8.0
            }
        );
    }
}
