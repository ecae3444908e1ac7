//! Throughput of a GEMM kernel on one product shape, for `cargo xtask bench
//! vision`'s kernel table.
//!
//! What is timed is what a model's matrix-product node does on every run
//! once its operands are packed: the tiles, with a per-row bias and a ReLU
//! fused, stored row-major. Packing is left out: tract packs the weights
//! once at load, and the activations in a node of their own.

use tract_data::internal::*;
use tract_linalg::{
    mmm::{AsInputValue, FusedSpec, MatMatMul},
    BinOp,
};

/// The shortest batch of runs that is timed, in milliseconds.
pub const BATCH_MS: f64 = 5.0;

/// Runs `kernel` on an `m`x`k` by `k`x`n` product until `min_ms` have
/// passed on `now` (a millisecond clock), and returns GFLOP/s (two flops
/// per multiply-add), from the fastest of the timed batches.
pub fn gemm_gflops(
    kernel: &dyn MatMatMul,
    (m, k, n): (usize, usize, usize),
    now: &mut dyn FnMut() -> f64,
    min_ms: f64,
) -> TractResult<f64> {
    let values = |len: usize, seed: usize| -> Vec<f32> {
        (0..len)
            .map(|i| ((i * 7 + seed) % 13) as f32 / 13.0 - 0.5)
            .collect()
    };
    let (pack_a, pack_b) = &kernel.packings()[0];
    let a = tensor1(&values(m * k, 1)).into_shape(&[m, k])?;
    let b = tensor1(&values(k * n, 5)).into_shape(&[k, n])?;
    let pa = pack_a.prepare_one(&a, 1, 0)?;
    let pb = pack_b.prepare_one(&b, 0, 1)?;
    let bias = tensor1(&values(m, 3));
    let zero = tensor0(0f32);
    let mut c = Tensor::zero::<f32>(&[m, n])?;
    let flops = 2.0 * (m * k * n) as f64;
    // Batches of at least BATCH_MS, so the clock's resolution (a browser
    // page that is not cross-origin isolated sees performance.now() in
    // steps of 0.1 ms) stays within 2% of a batch.
    let mut batch = 1usize;
    let mut best = f64::INFINITY;
    let start = now();
    while now() - start < min_ms {
        let t0 = now();
        for _ in 0..batch {
            // SAFETY: the store view covers c, an m x n row-major tensor,
            // with the strides given; a, b and the bias have the shapes the
            // packers and the per-row spec expect, and all outlive the run.
            unsafe {
                let store = kernel.c_from_data_and_strides(4, n as isize, 1);
                let specs = [
                    FusedSpec::AddMatMul {
                        a: AsInputValue::Borrowed(&*pa),
                        b: AsInputValue::Borrowed(&*pb),
                        packing: 0,
                    },
                    FusedSpec::BinPerRow(bias.view(), BinOp::Add),
                    FusedSpec::BinScalar(&zero, BinOp::Max),
                    FusedSpec::Store(store.wrap(&c.view_mut())),
                ];
                kernel.run(m, n, &specs)?;
            }
        }
        let ms = now() - t0;
        if ms < BATCH_MS {
            batch *= 2;
            continue;
        }
        best = best.min(ms / batch as f64);
    }
    if !best.is_finite() {
        // The budget ran out while batches were still growing.
        bail!("no batch of the {m}x{k}x{n} product lasted {BATCH_MS} ms within {min_ms} ms");
    }
    Ok(flops / (best * 1e-3) / 1e9)
}
