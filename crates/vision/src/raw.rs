//! Running a model on a tensor of your own, for parity tests and
//! benchmarks that compare raw outputs across engines.

use crate::{network::Network, VisionError};

/// A model run directly on input tensors, outputs returned as they are.
#[derive(Debug)]
pub struct RawModel {
    network: Network,
    outputs: usize,
}

impl RawModel {
    /// Loads ONNX `bytes` with a fixed input shape, expecting outputs of the
    /// given shapes (in any order in the graph; returned in this order).
    pub fn load(
        bytes: &[u8],
        input_shape: &[usize],
        output_shapes: &[&[usize]],
    ) -> Result<Self, VisionError> {
        Ok(Self {
            network: Network::load("raw", bytes, input_shape, output_shapes)?,
            outputs: output_shapes.len(),
        })
    }

    /// Runs the model on `input` (row-major, the input shape's size).
    pub fn run(&mut self, input: &[f32]) -> Result<Vec<Vec<f32>>, VisionError> {
        self.network.fill_input(|slot| {
            if slot.len() != input.len() {
                return Err(VisionError::OutputSize {
                    needed: slot.len(),
                    got: input.len(),
                });
            }
            slot.copy_from_slice(input);
            Ok(())
        })?;
        let outputs = self.network.run("raw")?;
        Ok((0..self.outputs).map(|i| outputs.get(i).to_vec()).collect())
    }
}
