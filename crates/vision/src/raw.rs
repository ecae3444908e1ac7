//! Running a model on a tensor of your own, for parity tests and
//! benchmarks that compare raw outputs across engines.

use crate::{network::Network, VisionError};

/// One matrix product of an optimized model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatMul {
    /// The graph node.
    pub node: String,
    /// The name of the kernel tract runs it with.
    pub kernel: String,
    /// Rows of the product (output channels of a convolution).
    pub m: usize,
    /// The shared dimension (input channels times kernel taps).
    pub k: usize,
    /// Columns (output positions).
    pub n: usize,
}

/// Time spent in one kind of op during a profiled run.
#[derive(Debug, Clone, PartialEq)]
pub struct OpTime {
    /// tract's name for the op (`OptMatMul`, `DepthWiseConv`, ...).
    pub op: String,
    /// How many nodes of the graph run it.
    pub nodes: usize,
    /// Their total time, in milliseconds.
    pub ms: f64,
}

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

    /// The matrix products of the optimized graph and the kernel each runs
    /// with: which kernels tract picked on this machine.
    pub fn matmuls(&self) -> Vec<MatMul> {
        self.network.matmuls()
    }

    /// Runs the model once on `input` with every node timed by `now`, a
    /// clock in milliseconds, and returns the time per kind of op, slowest
    /// first. The timing calls themselves add to the total.
    pub fn profile(
        &mut self,
        input: &[f32],
        now: &mut dyn FnMut() -> f64,
    ) -> Result<Vec<OpTime>, VisionError> {
        self.set_input(input)?;
        self.network.profile("raw", now)
    }

    /// Runs the model on `input` (row-major, the input shape's size).
    pub fn run(&mut self, input: &[f32]) -> Result<Vec<Vec<f32>>, VisionError> {
        self.set_input(input)?;
        let outputs = self.network.run("raw")?;
        Ok((0..self.outputs).map(|i| outputs.get(i).to_vec()).collect())
    }

    fn set_input(&mut self, input: &[f32]) -> Result<(), VisionError> {
        self.network.fill_input(|slot| {
            if slot.len() != input.len() {
                return Err(VisionError::OutputSize {
                    needed: slot.len(),
                    got: input.len(),
                });
            }
            slot.copy_from_slice(input);
            Ok(())
        })
    }
}
