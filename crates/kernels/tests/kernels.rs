//! The kernels against plain scalar references, in wasm (node, through
//! wasm-bindgen-test-runner): the GEMM tile on random shapes that cover
//! every edge tile, with every fused operation it accepts and every store
//! layout, and the depthwise routines on every stride, tap count and
//! length class. Without FMA the kernels add in the references' order, so
//! results must match exactly.
//!
//! Also here: what tract's dispatch picks with the kernels registered.
#![cfg(all(target_arch = "wasm32", target_feature = "simd128"))]

use peerlens_kernels::{KernelSet, GEMM, TRACT_GEMM};
use tract_data::internal::*;
use tract_linalg::{
    mmm::{AsInputValue, FusedSpec, MatMatMul},
    BinOp,
};
use wasm_bindgen_test::wasm_bindgen_test;

/// A small deterministic generator: the cases must be reproducible from
/// the seed printed with a failure.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// A value in [-1, 1).
    fn float(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
    fn floats(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.float()).collect()
    }
}

/// One fused operation, in the terms of the reference.
#[derive(Clone, Debug)]
enum Epilogue {
    Scalar(BinOp, f32),
    PerRow(BinOp, Vec<f32>),
    PerCol(BinOp, Vec<f32>),
    LeakyRelu(f32),
    /// A residual branch, with its own layout.
    AddUnicast(Layout, Vec<f32>),
}

/// How C (or a residual) is laid out: item strides of a row and a column.
#[derive(Clone, Copy, Debug)]
enum Layout {
    /// Columns contiguous: channels-first convolution outputs.
    RowMajor,
    /// Rows contiguous: channels-last outputs.
    ColMajor,
    /// Neither: every third element of a wider buffer.
    Strided,
}

impl Layout {
    const ALL: [Layout; 3] = [Layout::RowMajor, Layout::ColMajor, Layout::Strided];

    /// (row stride, column stride, buffer length) in items.
    fn strides(self, m: usize, n: usize) -> (usize, usize, usize) {
        match self {
            Layout::RowMajor => (n, 1, m * n),
            Layout::ColMajor => (1, m, m * n),
            Layout::Strided => (3 * n + 1, 3, m * (3 * n + 1)),
        }
    }
}

/// tract's semantics for `f(operand, accumulator)`, as its generic kernel.
fn apply(op: BinOp, operand: f32, acc: f32) -> f32 {
    match op {
        BinOp::Min => {
            if operand < acc {
                operand
            } else {
                acc
            }
        }
        BinOp::Max => {
            if operand > acc {
                operand
            } else {
                acc
            }
        }
        BinOp::Add => operand + acc,
        BinOp::Mul => operand * acc,
        BinOp::Sub => operand - acc,
        BinOp::SubF => acc - operand,
    }
}

const OPS: [BinOp; 6] = [
    BinOp::Min,
    BinOp::Max,
    BinOp::Add,
    BinOp::Mul,
    BinOp::Sub,
    BinOp::SubF,
];

/// C = A x B then the epilogue, sequentially in k like the kernels.
fn reference(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    b: &[f32],
    epilogue: &[Epilogue],
) -> Vec<f32> {
    let mut c = vec![0f32; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut sum = 0f32;
            for p in 0..k {
                sum += a[i * k + p] * b[p * n + j];
            }
            for e in epilogue {
                sum = match e {
                    Epilogue::Scalar(op, v) => apply(*op, *v, sum),
                    Epilogue::PerRow(op, v) => apply(*op, v[i], sum),
                    Epilogue::PerCol(op, v) => apply(*op, v[j], sum),
                    Epilogue::LeakyRelu(alpha) => {
                        if sum > 0.0 {
                            sum
                        } else {
                            alpha * sum
                        }
                    }
                    Epilogue::AddUnicast(layout, d) => {
                        let (rs, cs, _) = layout.strides(m, n);
                        sum + d[i * rs + j * cs]
                    }
                };
            }
            c[i * n + j] = sum;
        }
    }
    c
}

/// Runs `kernel` through tract's own tiling (`MatMatMul::run`), which
/// hands the border tiles to the kernel through its scratch tile.
fn run(
    kernel: &dyn MatMatMul,
    (m, k, n): (usize, usize, usize),
    a: &[f32],
    b: &[f32],
    epilogue: &[Epilogue],
    layout: Layout,
) -> Vec<f32> {
    let (pack_a, pack_b) = &kernel.packings()[0];
    let a = tensor1(a).into_shape(&[m, k]).unwrap();
    let b = tensor1(b).into_shape(&[k, n]).unwrap();
    let pa = pack_a.prepare_one(&a, 1, 0).unwrap();
    let pb = pack_b.prepare_one(&b, 0, 1).unwrap();
    let (rs, cs, len) = layout.strides(m, n);
    let mut c = tensor1(&vec![f32::NAN; len]);
    // The operands live as long as the specs that borrow them.
    let scalars: Vec<Tensor> = epilogue
        .iter()
        .map(|e| match e {
            Epilogue::Scalar(_, v) | Epilogue::LeakyRelu(v) => tensor0(*v),
            _ => tensor0(0f32),
        })
        .collect();
    let vectors: Vec<Tensor> = epilogue
        .iter()
        .map(|e| match e {
            Epilogue::PerRow(_, v) | Epilogue::PerCol(_, v) | Epilogue::AddUnicast(_, v) => {
                tensor1(v)
            }
            _ => tensor1(&[0f32]),
        })
        .collect();
    unsafe {
        let mut specs = vec![FusedSpec::AddMatMul {
            a: AsInputValue::Borrowed(&*pa),
            b: AsInputValue::Borrowed(&*pb),
            packing: 0,
        }];
        for (ix, e) in epilogue.iter().enumerate() {
            specs.push(match e {
                Epilogue::Scalar(op, _) => FusedSpec::BinScalar(&scalars[ix], *op),
                Epilogue::PerRow(op, _) => FusedSpec::BinPerRow(vectors[ix].view(), *op),
                Epilogue::PerCol(op, _) => FusedSpec::BinPerCol(vectors[ix].view(), *op),
                Epilogue::LeakyRelu(_) => FusedSpec::LeakyRelu(&scalars[ix]),
                Epilogue::AddUnicast(layout, _) => {
                    let (rs, cs, _) = layout.strides(m, n);
                    let spec = kernel.c_from_data_and_strides(4, rs as isize, cs as isize);
                    FusedSpec::AddUnicast(spec.wrap(&vectors[ix].view()))
                }
            });
        }
        let store = kernel.c_from_data_and_strides(4, rs as isize, cs as isize);
        specs.push(FusedSpec::Store(store.wrap(&c.view_mut())));
        for spec in &specs {
            assert!(kernel.can_fuse(spec), "{} declines {spec:?}", kernel.name());
        }
        kernel.run(m, n, &specs).unwrap();
    }
    let c = c
        .try_as_plain_ram()
        .unwrap()
        .as_slice::<f32>()
        .unwrap()
        .to_vec();
    let mut out = vec![0f32; m * n];
    for i in 0..m {
        for j in 0..n {
            out[i * n + j] = c[i * rs + j * cs];
        }
    }
    out
}

fn ours() -> Box<dyn MatMatMul> {
    peerlens_kernels::gemm().expect("the kernel is registered in a simd128 build")
}

fn check(case: &str, got: &[f32], want: &[f32], n: usize) {
    for (ix, (g, w)) in got.iter().zip(want).enumerate() {
        // Exact, as floats: the kernel sums in the reference's order.
        assert!(
            g == w,
            "{case}: C[{}][{}] is {g}, the reference {w}",
            ix / n,
            ix % n
        );
    }
}

#[wasm_bindgen_test]
fn gemm_matches_the_reference_on_every_edge_tile_and_layout() {
    let kernel = ours();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // Every remainder of M against the 4-row tile and of N against the
    // 8-column tile, one to three tiles deep, and k from 0 up.
    for m in 1..=13 {
        for n in 1..=19 {
            let k = [0, 1, 3, 8, 17][(m + n) % 5];
            let a = rng.floats(m * k);
            let b = rng.floats(k * n);
            let want = reference(m, k, n, &a, &b, &[]);
            for layout in Layout::ALL {
                let got = run(&*kernel, (m, k, n), &a, &b, &[], layout);
                check(&format!("m={m} k={k} n={n} {layout:?}"), &got, &want, n);
            }
        }
    }
}

#[wasm_bindgen_test]
fn gemm_matches_the_reference_with_every_fused_operation() {
    let kernel = ours();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for round in 0..12 {
        let (m, k, n) = (1 + rng.below(21), rng.below(40), 1 + rng.below(37));
        let a = rng.floats(m * k);
        let b = rng.floats(k * n);
        let mut epilogues: Vec<Vec<Epilogue>> = Vec::new();
        for op in OPS {
            epilogues.push(vec![Epilogue::Scalar(op, rng.float())]);
            epilogues.push(vec![Epilogue::PerRow(op, rng.floats(m))]);
            epilogues.push(vec![Epilogue::PerCol(op, rng.floats(n))]);
        }
        epilogues.push(vec![Epilogue::LeakyRelu(0.1 + rng.float().abs())]);
        for layout in Layout::ALL {
            let (_, _, len) = layout.strides(m, n);
            epilogues.push(vec![Epilogue::AddUnicast(layout, rng.floats(len))]);
        }
        // What the models fuse: bias, residual, then ReLU6.
        let (_, _, len) = Layout::RowMajor.strides(m, n);
        epilogues.push(vec![
            Epilogue::PerRow(BinOp::Add, rng.floats(m)),
            Epilogue::AddUnicast(Layout::RowMajor, rng.floats(len)),
            Epilogue::Scalar(BinOp::Max, 0.0),
            Epilogue::Scalar(BinOp::Min, 0.5),
        ]);
        for epilogue in &epilogues {
            let want = reference(m, k, n, &a, &b, epilogue);
            let layout = Layout::ALL[round % 3];
            let got = run(&*kernel, (m, k, n), &a, &b, epilogue, layout);
            check(
                &format!("m={m} k={k} n={n} {layout:?} {epilogue:?}"),
                &got,
                &want,
                n,
            );
        }
    }
}

#[wasm_bindgen_test]
fn gemm_matches_the_reference_on_the_models_shapes() {
    let kernel = ours();
    let mut rng = Rng(7);
    // Pointwise convolutions of the detector (channels-last) and the
    // segmenter (channels-first), with bias and ReLU.
    for (m, k, n) in [
        (24, 24, 4096),
        (96, 96, 64),
        (16, 72, 1024),
        (72, 16, 1024),
        (28, 24, 4096),
    ] {
        let a = rng.floats(m * k);
        let b = rng.floats(k * n);
        let epilogue = [
            Epilogue::PerRow(BinOp::Add, rng.floats(m)),
            Epilogue::Scalar(BinOp::Max, 0.0),
        ];
        let want = reference(m, k, n, &a, &b, &epilogue);
        for layout in [Layout::RowMajor, Layout::ColMajor] {
            let got = run(&*kernel, (m, k, n), &a, &b, &epilogue, layout);
            check(&format!("m={m} k={k} n={n} {layout:?}"), &got, &want, n);
        }
    }
}

#[wasm_bindgen_test]
fn tracts_8x8_agrees_with_the_same_reference() {
    // The reference is tract's semantics, not ours: the kernel we replace
    // meets it too.
    let kernel = peerlens_kernels::tract_gemm().expect("tract's wasm kernel");
    let mut rng = Rng(11);
    for (m, k, n) in [(5, 9, 11), (16, 3, 8), (9, 17, 30)] {
        let a = rng.floats(m * k);
        let b = rng.floats(k * n);
        let epilogue = [
            Epilogue::PerRow(BinOp::Add, rng.floats(m)),
            Epilogue::LeakyRelu(0.2),
        ];
        let want = reference(m, k, n, &a, &b, &epilogue);
        let got = run(&*kernel, (m, k, n), &a, &b, &epilogue, Layout::RowMajor);
        check(&format!("tract m={m} k={k} n={n}"), &got, &want, n);
    }
}

/// Channels-first reference: `len` outputs of one channel.
fn depthwise_w_reference(
    input: &[f32],
    center: usize,
    taps: &[f32],
    offsets: &[isize],
    bias: f32,
    len: usize,
    stride: isize,
) -> Vec<f32> {
    (0..len)
        .map(|i| {
            let mut sum = bias;
            for (tap, offset) in taps.iter().zip(offsets) {
                sum += tap * input[(center as isize + offset + i as isize * stride) as usize];
            }
            sum
        })
        .collect()
}

#[wasm_bindgen_test]
fn depthwise_w_matches_the_reference_at_every_stride() {
    let mut rng = Rng(0xdead_beef);
    for taps in [1usize, 2, 3, 5, 9, 25] {
        for stride in [1isize, 2, 3] {
            for len in [
                1usize, 2, 3, 4, 5, 7, 8, 15, 16, 31, 32, 33, 35, 63, 64, 65, 129,
            ] {
                // Taps on a 2D grid of width `row`, like a 3x3 or 5x5 window.
                let side = (taps as f64).sqrt().ceil() as isize;
                let row = len as isize * stride + side;
                let offsets: Vec<isize> = (0..taps as isize)
                    .map(|t| (t / side) * row + t % side)
                    .collect();
                let kernel = rng.floats(taps);
                let last = offsets.iter().max().unwrap() + (len as isize - 1) * stride;
                // The buffer ends at the last element the run may read.
                let input = rng.floats(last as usize + 1);
                let want = depthwise_w_reference(&input, 0, &kernel, &offsets, 0.25, len, stride);
                let mut got = vec![f32::NAN; len];
                unsafe {
                    peerlens_kernels::depthwise_w(
                        input.as_ptr(),
                        got.as_mut_ptr(),
                        &kernel,
                        &offsets,
                        0.25,
                        len,
                        stride,
                    )
                };
                check(
                    &format!("taps={taps} stride={stride} len={len}"),
                    &got,
                    &want,
                    len,
                );
            }
        }
    }
}

#[wasm_bindgen_test]
fn depthwise_c_matches_the_reference_on_channel_blocks() {
    let mut rng = Rng(0x1234_5678);
    for taps in [1usize, 3, 9, 25] {
        for channels in [1usize, 3, 4, 7, 8, 15, 16, 17, 24, 28, 42, 64, 88] {
            for len in [1usize, 2, 3, 5, 8] {
                for stride in [1isize, 2] {
                    // Taps spread over a window of whole positions.
                    let offsets: Vec<isize> = (0..taps as isize)
                        .map(|t| t * channels as isize * 3)
                        .collect();
                    let tap_indices: Vec<usize> = (0..taps).rev().collect();
                    let kernel = rng.floats(taps * channels);
                    let bias = rng.floats(channels);
                    let in_stride = channels as isize * stride;
                    let out_stride = channels as isize + 5;
                    let input_len = (*offsets.last().unwrap() + (len as isize - 1) * in_stride)
                        as usize
                        + channels;
                    let input = rng.floats(input_len);
                    let out_len = (len - 1) * out_stride as usize + channels;
                    let mut want = vec![f32::NAN; out_len];
                    for i in 0..len {
                        for c in 0..channels {
                            let mut sum = bias[c];
                            for (&kix, &off) in tap_indices.iter().zip(&offsets) {
                                sum += kernel[kix * channels + c]
                                    * input[(i as isize * in_stride + off) as usize + c];
                            }
                            want[i * out_stride as usize + c] = sum;
                        }
                    }
                    let mut got = vec![f32::NAN; out_len];
                    unsafe {
                        peerlens_kernels::depthwise_c(
                            input.as_ptr(),
                            got.as_mut_ptr(),
                            kernel.as_ptr(),
                            &tap_indices,
                            &offsets,
                            bias.as_ptr(),
                            channels,
                            channels,
                            len,
                            in_stride,
                            out_stride,
                        )
                    };
                    let case = format!("taps={taps} channels={channels} len={len} stride={stride}");
                    for (ix, (g, w)) in got.iter().zip(&want).enumerate() {
                        // The gaps between output positions stay untouched (NaN).
                        assert!(
                            g == w || (g.is_nan() && w.is_nan()),
                            "{case}: output[{ix}] is {g}, the reference {w}"
                        );
                    }
                }
            }
        }
    }
}

/// node's `process.arch`: the real processor, which wasm hides.
fn node_arch() -> String {
    let global = js_sys::global();
    let process = js_sys::Reflect::get(&global, &"process".into()).expect("node's process");
    js_sys::Reflect::get(&process, &"arch".into())
        .ok()
        .and_then(|a| a.as_string())
        .expect("process.arch")
}

#[wasm_bindgen_test]
fn the_host_probe_tells_the_processor_node_runs_on() {
    let arch = node_arch();
    let want = match arch.as_str() {
        "x64" | "ia32" => peerlens_kernels::Host::X86,
        _ => peerlens_kernels::Host::Other,
    };
    assert_eq!(peerlens_kernels::host(), want, "process.arch is {arch}");
}

#[wasm_bindgen_test]
fn dispatch_picks_our_kernels_on_x86_and_tracts_when_asked() {
    peerlens_kernels::set_kernel_set(KernelSet::Peerlens);
    let expect = match peerlens_kernels::host() {
        peerlens_kernels::Host::X86 => GEMM,
        peerlens_kernels::Host::Other => TRACT_GEMM,
    };
    for (m, k, n) in [(24, 24, 4096), (96, 96, 64), (16, 16, 2)] {
        assert_eq!(
            peerlens_kernels::picked_gemm(m, k, n).as_deref(),
            Some(expect),
            "{m}x{k}x{n}"
        );
    }
    // A matrix-vector product stays with tract's GEMV kernels.
    assert_ne!(
        peerlens_kernels::picked_gemm(64, 64, 1).as_deref(),
        Some(GEMM)
    );
    assert_eq!(
        peerlens_kernels::picked_depthwise(),
        (
            Some(peerlens_kernels::DEPTHWISE_W),
            Some(peerlens_kernels::DEPTHWISE_C)
        )
    );

    peerlens_kernels::set_kernel_set(KernelSet::Tract);
    assert_eq!(
        peerlens_kernels::picked_gemm(24, 24, 4096).as_deref(),
        Some(TRACT_GEMM)
    );
    assert_eq!(
        peerlens_kernels::picked_depthwise(),
        (
            Some("wasm_simd128_depthwise_w_f32"),
            Some("wasm_simd128_depthwise_c_f32")
        )
    );
    peerlens_kernels::set_kernel_set(KernelSet::Peerlens);
}

#[wasm_bindgen_test]
fn max_of_halves_matches_the_reference_on_every_tail_length() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // Halves of 1 to 4 vectors plus every tail of 0 to 3 lanes, and the
    // models' sizes (a channels-last row of 24 or 48 channels, a row pair).
    let mut halves: Vec<usize> = (1..=19).collect();
    halves.extend([24, 48, 64 * 24]);
    for half in halves {
        let blocks = 1 + rng.below(5);
        let mut x = rng.floats(blocks * 2 * half);
        // Ties, and equal values of opposite sign.
        if half > 2 {
            x[half] = x[0];
            x[1] = 0.0;
            x[half + 1] = -0.0;
        }
        let mut got = vec![f32::NAN; blocks * half];
        peerlens_kernels::max_of_halves(&x, half, &mut got);
        for o in 0..blocks {
            for i in 0..half {
                let (a, b) = (x[o * 2 * half + i], x[o * 2 * half + half + i]);
                let want = if a < b { b } else { a };
                let g = got[o * half + i];
                assert!(
                    g.to_bits() == want.to_bits(),
                    "half {half}, block {o}, lane {i}: got {g}, want {want} (max of {a} and {b})"
                );
            }
        }
    }
}
