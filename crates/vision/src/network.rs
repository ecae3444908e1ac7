//! One ONNX model, loaded once and run on every frame.
//!
//! Loading fixes the input shape, lets tract optimize the graph for it, and
//! spawns one execution state that every call reuses. The input tensor is
//! allocated once too: callers write the next frame into it in place.

use std::sync::Arc;

use tract_onnx::prelude::*;

use crate::VisionError;

/// A loaded model with a fixed input shape.
#[derive(Debug)]
pub(crate) struct Network {
    state: TypedSimpleState,
    input: Arc<Tensor>,
    /// For each expected output, its index among the graph's outputs:
    /// converters do not agree on output order, so outputs are matched by
    /// shape.
    order: Vec<usize>,
}

impl Network {
    /// Parses ONNX `bytes`, fixes the input to `input_shape` and checks that
    /// the optimized graph produces `outputs` (their shapes, in order).
    pub fn load(
        name: &'static str,
        bytes: &[u8],
        input_shape: &[usize],
        outputs: &[&[usize]],
    ) -> Result<Self, VisionError> {
        let bad = |stage: &'static str| {
            move |e: TractError| VisionError::Model {
                model: name,
                reason: format!("{stage}: {e:#}"),
            }
        };
        if bytes.is_empty() {
            return Err(VisionError::Model {
                model: name,
                reason: "no model bytes".into(),
            });
        }
        // Our kernels must be linked in before tract first asks which
        // kernels exist.
        peerlens_kernels::register();
        let mut model = tract_onnx::onnx()
            .model_for_read(&mut &*bytes)
            .map_err(bad("not a valid ONNX model"))?
            .with_input_fact(0, f32::fact(input_shape).into())
            .map_err(bad("input shape"))?
            .into_typed()
            .map_err(bad("typing"))?
            .into_decluttered()
            .map_err(bad("decluttering"))?;
        // Our fused ops, with our kernels; tract's own nodes otherwise, so
        // that `KernelSet::Tract` is tract as it comes.
        if peerlens_kernels::kernel_set() == peerlens_kernels::KernelSet::Peerlens {
            crate::fuse::max_of_halves(&mut model).map_err(bad("fusing"))?;
        }
        model.optimize().map_err(bad("optimizing"))?;
        let got: Vec<Vec<usize>> = model
            .output_outlets()
            .map_err(bad("outputs"))?
            .iter()
            .map(|outlet| {
                let fact = model.outlet_fact(*outlet)?;
                Ok(fact
                    .shape
                    .as_concrete()
                    .map(<[usize]>::to_vec)
                    .unwrap_or_default())
            })
            .collect::<TractResult<_>>()
            .map_err(bad("output shapes"))?;
        let order: Option<Vec<usize>> = outputs
            .iter()
            .map(|want| got.iter().position(|g| g == want))
            .collect();
        let order = match order {
            Some(order) if got.len() == outputs.len() => order,
            _ => {
                return Err(VisionError::Model {
                    model: name,
                    reason: format!("outputs have shapes {got:?}, expected {outputs:?}"),
                })
            }
        };
        let plan = model.into_runnable().map_err(bad("planning"))?;
        let state = plan.spawn().map_err(bad("spawning state"))?;
        let input = Arc::new(Tensor::zero::<f32>(input_shape).map_err(bad("input"))?);
        Ok(Self {
            state,
            input,
            order,
        })
    }

    /// Lets `fill` overwrite the input tensor's values with the next frame.
    pub fn fill_input<R>(&mut self, fill: impl FnOnce(&mut [f32]) -> R) -> R {
        if Arc::get_mut(&mut self.input).is_none() {
            // tract lets go of every reference at the end of a run, so this
            // copy never happens in practice; it keeps the code total.
            self.input = Arc::new((*self.input).clone());
        }
        let mut view = Arc::get_mut(&mut self.input).and_then(|t| t.as_plain_ram_mut());
        match view.as_mut().map(|v| v.as_slice_mut::<f32>()) {
            Some(Ok(values)) => fill(values),
            _ => fill(&mut []),
        }
    }

    /// Runs the model on the current input.
    pub fn run(&mut self, name: &'static str) -> Result<Outputs<'_>, VisionError> {
        let values = self
            .state
            .run(tvec!(TValue::from_const(Arc::clone(&self.input))))
            .map_err(|e| VisionError::Inference {
                model: name,
                reason: format!("{e:#}"),
            })?;
        Ok(Outputs {
            values,
            order: &self.order,
        })
    }
}

impl Network {
    /// The matrix products of the optimized graph, with the kernel tract
    /// picked for each.
    pub fn matmuls(&self) -> Vec<crate::raw::MatMul> {
        use tract_onnx::tract_core::ops::matmul::optimized::OptMatMul;
        let model = self.state.plan().model();
        model
            .nodes()
            .iter()
            .filter_map(|node| {
                let op = node.op_as::<OptMatMul>()?;
                let dim = |d: &TDim| {
                    d.as_i64()
                        .and_then(|v| usize::try_from(v).ok())
                        .unwrap_or(0)
                };
                Some(crate::raw::MatMul {
                    node: node.name.clone(),
                    kernel: op
                        .mmm
                        .first()
                        .map(|k| k.name().to_string())
                        .unwrap_or_default(),
                    m: dim(op.m()),
                    k: op.guess_k().as_ref().map(dim).unwrap_or(0),
                    n: dim(op.n()),
                })
            })
            .collect()
    }

    /// Runs the model on the current input, timing every node with `now`
    /// (milliseconds), and returns the time per kind of op, slowest first.
    pub fn profile(
        &mut self,
        name: &'static str,
        now: &mut dyn FnMut() -> f64,
    ) -> Result<Vec<crate::raw::OpTime>, VisionError> {
        use tract_onnx::tract_core::plan::eval;
        let mut times: Vec<crate::raw::OpTime> = Vec::new();
        self.state
            .run_plan_with_eval(
                tvec!(TValue::from_const(Arc::clone(&self.input))),
                |session, state, node, inputs| {
                    let start = now();
                    let outputs = eval(session, state, node, inputs);
                    let ms = now() - start;
                    let op = node.op().name().to_string();
                    match times.iter_mut().find(|t| t.op == op) {
                        Some(t) => {
                            t.nodes += 1;
                            t.ms += ms;
                        }
                        None => times.push(crate::raw::OpTime { op, nodes: 1, ms }),
                    }
                    outputs
                },
            )
            .map_err(|e| VisionError::Inference {
                model: name,
                reason: format!("{e:#}"),
            })?;
        times.sort_by(|a, b| b.ms.total_cmp(&a.ms));
        Ok(times)
    }
}

/// The outputs of one run, in the order the caller declared them.
pub(crate) struct Outputs<'a> {
    values: TVec<TValue>,
    order: &'a [usize],
}

impl Outputs<'_> {
    /// The values of declared output `index`; empty if it is not f32.
    pub fn get(&self, index: usize) -> &[f32] {
        self.order
            .get(index)
            .and_then(|&i| self.values.get(i))
            .and_then(|t| t.as_plain_ram())
            .and_then(|view| view.as_slice::<f32>().ok())
            .unwrap_or(&[])
    }
}
