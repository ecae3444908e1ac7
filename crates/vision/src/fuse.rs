//! Rewrites of the decluttered graph that replace a group of tract's nodes
//! with one op of ours, where the profile (`cargo xtask bench vision`) shows
//! the group costing more than its arithmetic.
//!
//! [`MaxOfHalves`]: `Max(Slice(x, axis, 0..h), Slice(x, axis, h..2h))`, the
//! step the shipped face models' 2x2 max pools are made of. tract copies
//! both slices out and takes the maximum with a scalar loop; the fused op
//! reads x once, with simd128 in the browser
//! ([`peerlens_kernels::max_of_halves`]).

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::{array::Slice, binary::TypedBinOp};

/// The element-wise maximum of the two halves of `axis`: an input of `2h`
/// along it gives `h`, `out[.., i, ..] = max(x[.., i, ..], x[.., h + i, ..])`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MaxOfHalves {
    /// The axis that is halved.
    pub axis: usize,
}

impl Op for MaxOfHalves {
    fn name(&self) -> StaticName {
        "PeerlensMaxOfHalves".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!("axis: {}", self.axis)])
    }

    op_as_typed_op!();
}

impl EvalOp for MaxOfHalves {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let shape = input.shape();
        ensure!(
            self.axis < shape.len() && shape[self.axis] % 2 == 0,
            "{}: axis {} of {:?} cannot be halved",
            self.name(),
            self.axis,
            shape
        );
        let mut out_shape: TVec<usize> = shape.into();
        out_shape[self.axis] /= 2;
        // A block is one index of the axes before `axis`: its two halves are
        // contiguous, each `h` times the axes after it.
        let half = out_shape[self.axis..].iter().product::<usize>();
        let view = input.try_as_plain_ram()?;
        let x = view.as_slice::<f32>()?;
        let mut out = Tensor::zero::<f32>(&out_shape)?;
        if half > 0 {
            let mut dst = out.try_as_plain_ram_mut()?;
            peerlens_kernels::max_of_halves(x, half, dst.as_slice_mut::<f32>()?);
        }
        Ok(tvec!(out.into_tvalue()))
    }
}

impl TypedOp for MaxOfHalves {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let fact = inputs[0];
        ensure!(
            fact.datum_type == f32::datum_type(),
            "{} is f32 only",
            self.name()
        );
        let len = fact.shape[self.axis]
            .as_usize()
            .context("the halved axis must have a known length")?;
        ensure!(len % 2 == 0, "axis {} has odd length {len}", self.axis);
        let mut shape = fact.shape.to_tvec();
        shape[self.axis] = (len / 2).into();
        Ok(tvec!(f32::fact(shape)))
    }

    as_op!();
}

/// Replaces every `Max` of the two halves of one f32 tensor's axis with a
/// [`MaxOfHalves`], in a decluttered model; returns how many it replaced.
/// The slices stay if anything else reads them.
pub fn max_of_halves(model: &mut TypedModel) -> TractResult<usize> {
    let mut fused = 0;
    for id in model.eval_order()? {
        let node = model.node(id);
        let Some(bin) = node.op_as::<TypedBinOp>() else {
            continue;
        };
        if bin.0.name() != "Max" || bin.1.is_some() || node.inputs.len() != 2 {
            continue;
        }
        let slice = |ix: usize| {
            let producer = model.node(node.inputs[ix].node);
            producer.op_as::<Slice>().map(|s| {
                (
                    producer.inputs[0],
                    s.axis,
                    s.start.to_usize(),
                    s.end.to_usize(),
                )
            })
        };
        let (Some((x0, axis0, s0, e0)), Some((x1, axis1, s1, e1))) = (slice(0), slice(1)) else {
            continue;
        };
        if x0 != x1 || axis0 != axis1 {
            continue;
        }
        let fact = model.outlet_fact(x0)?;
        let Ok(len) = fact.shape[axis0].to_usize() else {
            continue;
        };
        let half = len / 2;
        let ranges = [(s0.ok(), e0.ok()), (s1.ok(), e1.ok())];
        let lower = (Some(0), Some(half));
        let upper = (Some(half), Some(len));
        let halves = (ranges[0] == lower && ranges[1] == upper)
            || (ranges[0] == upper && ranges[1] == lower);
        if fact.datum_type != f32::datum_type() || len % 2 != 0 || half == 0 || !halves {
            continue;
        }
        let mut patch = TypedModelPatch::new(format!("fuse max of halves into {}", node.name));
        let x = patch.tap_model(model, x0)?;
        let out = patch.wire_node(&node.name, MaxOfHalves { axis: axis0 }, &[x])?;
        patch.shunt_outside(model, OutletId::new(id, 0), out[0])?;
        patch.apply(model)?;
        fused += 1;
    }
    if fused > 0 {
        // Drops the slices nothing reads any more.
        model.compact()?;
    }
    Ok(fused)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    fn path(name: &str) -> std::path::PathBuf {
        let dir = std::env::var_os("CARGO_MANIFEST_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
        dir.join("../../models").join(format!("{name}.onnx"))
    }

    /// The ONNX graph's Max nodes: in these models, the pool steps
    /// `models/convert.py` wrote.
    fn onnx_maxes(name: &str) -> usize {
        let proto = tract_onnx::onnx().proto_model_for_path(path(name)).unwrap();
        let graph = proto.graph.unwrap();
        graph.node.iter().filter(|n| n.op_type == "Max").count()
    }

    /// Max nodes of two slices (a ReLU is a Max too, of a constant).
    fn maxes_of_slices(model: &TypedModel) -> usize {
        model
            .nodes()
            .iter()
            .filter(|n| n.op_as::<TypedBinOp>().is_some_and(|b| b.0.name() == "Max"))
            .filter(|n| {
                n.inputs
                    .iter()
                    .all(|i| model.node(i.node).op_as::<Slice>().is_some())
            })
            .count()
    }

    fn decluttered(name: &str, input: &[usize]) -> TypedModel {
        let path = path(name);
        tract_onnx::onnx()
            .model_for_path(&path)
            .unwrap()
            .with_input_fact(0, f32::fact(input).into())
            .unwrap()
            .into_typed()
            .unwrap()
            .into_decluttered()
            .unwrap()
    }

    fn outputs(model: TypedModel, input: &Tensor) -> Vec<Tensor> {
        let plan = model.into_optimized().unwrap().into_runnable().unwrap();
        plan.run(tvec!(input.clone().into_tvalue()))
            .unwrap()
            .into_iter()
            .map(|v| v.into_tensor())
            .collect()
    }

    /// Every pool step of the face models is fused, and the outputs are
    /// those of tract's own nodes, bit for bit (a maximum selects, it does
    /// not round).
    #[test]
    fn fuses_every_pool_step_of_the_face_models_and_changes_no_output() {
        for (name, input) in [
            ("face_detection_short_range", [1, 128, 128, 3]),
            ("face_landmark", [1, 192, 192, 3]),
        ] {
            let steps = onnx_maxes(name);
            assert!(steps >= 2, "{name}: {steps} pool steps in the ONNX graph");
            let plain = decluttered(name, &input);
            let mut fused = plain.clone();
            let count = max_of_halves(&mut fused).unwrap();
            assert_eq!(count, steps, "{name}: fused steps");
            assert_eq!(maxes_of_slices(&plain), steps, "{name}: steps before");
            assert_eq!(maxes_of_slices(&fused), 0, "{name}: a Max is left");
            let left = fused
                .nodes()
                .iter()
                .filter(|n| n.op_as::<Slice>().is_some())
                .count();
            let before = plain
                .nodes()
                .iter()
                .filter(|n| n.op_as::<Slice>().is_some())
                .count();
            assert_eq!(before - left, 2 * steps, "{name}: slices dropped");
            let len: usize = input.iter().product();
            let values: Vec<f32> = (0..len)
                .map(|i| ((i * 31) % 255) as f32 / 127.5 - 1.0)
                .collect();
            let x = tensor1(&values).into_shape(&input).unwrap();
            let (want, got) = (outputs(plain, &x), outputs(fused, &x));
            assert_eq!(want.len(), got.len());
            for (w, g) in want.iter().zip(&got) {
                assert_eq!(w, g, "{name}: an output changed");
            }
        }
    }

    #[test]
    fn leaves_a_max_of_unrelated_slices_alone() {
        let mut model = TypedModel::default();
        let x = model.add_source("x", f32::fact([2, 6])).unwrap();
        let a = model.wire_node("a", Slice::new(1, 0, 3), &[x]).unwrap()[0];
        // 2..5 is not the upper half of 6.
        let b = model.wire_node("b", Slice::new(1, 2, 5), &[x]).unwrap()[0];
        let max = model
            .wire_node("max", tract_onnx::tract_core::ops::math::max(), &[a, b])
            .unwrap();
        model.select_output_outlets(&max).unwrap();
        assert_eq!(max_of_halves(&mut model).unwrap(), 0);
    }
}
