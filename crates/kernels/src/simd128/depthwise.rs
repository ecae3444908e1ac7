//! Depthwise convolution routines, with tract's signatures
//! (`tract_linalg::routines::DepthwiseWF32` and `DepthwiseCF32`).
//!
//! - `depthwise_w`: channels-first. One call computes `len` contiguous
//!   output points of one channel; output `i` reads input `offsets[t] + i *
//!   in_stride` for every tap `t`. tract's own routine is vectorized at
//!   input stride 1 only and runs a scalar loop at stride 2, which every
//!   downsampling layer of the segmenters uses. Here stride 2 deinterleaves
//!   with one shuffle per 4 outputs and tap, 32 outputs per pass.
//! - `depthwise_c`: channels-last. One call computes `len` output positions
//!   of `channels` contiguous channels. tract computes one position at a
//!   time; here two positions share each tap's weight loads.
//!
//! No vector load reads an input element the scalar definition does not:
//! the last element a run may touch is `offsets[t] + (len - 1) * in_stride`,
//! which can be the last element of the tensor.

use std::arch::wasm32::*;

use super::madd;

/// Channels-first depthwise run.
///
/// # Safety
/// `input.offset(offsets[t] + i * in_stride)` must be readable for every tap
/// `t` and every `i < len`, and `len` values writable from `output`;
/// `taps` and `offsets` have the same length.
pub unsafe fn depthwise_w(
    input: *const f32,
    output: *mut f32,
    taps: &[f32],
    offsets: &[isize],
    bias: f32,
    len: usize,
    in_stride: isize,
) {
    unsafe {
        match in_stride {
            // Already vectorized in tract: compute-bound at one multiply
            // and one add per tap and output, which no reordering changes.
            1 => tract_linalg::wasm::depthwise_w_f32(
                input, output, taps, offsets, bias, len, in_stride,
            ),
            2 => stride_2(input, output, taps, offsets, bias, len),
            _ => scalar_w(input, output, taps, offsets, bias, 0, len, in_stride),
        }
    }
}

/// The even-indexed elements `p[0], p[2], p[4], p[6]`, reading `p[0..=6]`
/// only: the second load starts at `p[3]`, so no lane lies past `p[6]`.
#[inline(always)]
unsafe fn evens(p: *const f32) -> v128 {
    unsafe {
        let lo = v128_load(p as *const v128);
        let hi = v128_load(p.add(3) as *const v128);
        i32x4_shuffle::<0, 2, 5, 7>(lo, hi)
    }
}

unsafe fn stride_2(
    input: *const f32,
    output: *mut f32,
    taps: &[f32],
    offsets: &[isize],
    bias: f32,
    len: usize,
) {
    unsafe {
        let biasv = f32x4_splat(bias);
        let mut i = 0usize;
        while i + 32 <= len {
            let mut acc = [biasv; 8];
            for (&tap, &offset) in taps.iter().zip(offsets) {
                let k = f32x4_splat(tap);
                let p = input.offset(offset).add(2 * i);
                for (v, a) in acc.iter_mut().enumerate() {
                    *a = madd(evens(p.add(8 * v)), k, *a);
                }
            }
            for (v, a) in acc.iter().enumerate() {
                v128_store(output.add(i + 4 * v) as *mut v128, *a);
            }
            i += 32;
        }
        while i + 4 <= len {
            let mut acc = biasv;
            for (&tap, &offset) in taps.iter().zip(offsets) {
                let p = input.offset(offset).add(2 * i);
                acc = madd(evens(p), f32x4_splat(tap), acc);
            }
            v128_store(output.add(i) as *mut v128, acc);
            i += 4;
        }
        scalar_w(input, output, taps, offsets, bias, i, len, 2);
    }
}

#[allow(clippy::too_many_arguments)]
unsafe fn scalar_w(
    input: *const f32,
    output: *mut f32,
    taps: &[f32],
    offsets: &[isize],
    bias: f32,
    from: usize,
    len: usize,
    in_stride: isize,
) {
    unsafe {
        for i in from..len {
            let mut sum = bias;
            for (&tap, &offset) in taps.iter().zip(offsets) {
                sum += tap * *input.offset(offset + i as isize * in_stride);
            }
            *output.add(i) = sum;
        }
    }
}

/// Channels-last depthwise run: point `i`, channel `c` is `bias[c]` plus
/// every `kernel[tap_indices[t] * k_stride + c] * input[i * in_stride +
/// offsets[t] + c]`.
///
/// # Safety
/// As tract's `DepthwiseCF32`: for every tap, every `i < len` and every
/// `c < channels`, the input and kernel elements above readable, `channels`
/// values readable from `bias` and writable from `output.offset(i *
/// out_stride)`; `tap_indices` and `offsets` have the same length.
#[allow(clippy::too_many_arguments)]
pub unsafe fn depthwise_c(
    input: *const f32,
    output: *mut f32,
    kernel: *const f32,
    tap_indices: &[usize],
    offsets: &[isize],
    bias: *const f32,
    channels: usize,
    k_stride: usize,
    len: usize,
    in_stride: isize,
    out_stride: isize,
) {
    unsafe {
        let taps = || tap_indices.iter().zip(offsets);
        let mut i = 0usize;
        while i + 2 <= len {
            let in0 = input.offset(i as isize * in_stride);
            let in1 = in0.offset(in_stride);
            let out0 = output.offset(i as isize * out_stride);
            let out1 = out0.offset(out_stride);
            let mut c = 0usize;
            while c + 16 <= channels {
                let mut a = [v128_load(bias.add(c) as *const v128); 4];
                for (q, acc) in a.iter_mut().enumerate().skip(1) {
                    *acc = v128_load(bias.add(c + 4 * q) as *const v128);
                }
                let mut b = a;
                for (&kix, &off) in taps() {
                    let k = kernel.add(kix * k_stride + c);
                    let x0 = in0.offset(off).add(c);
                    let x1 = in1.offset(off).add(c);
                    for q in 0..4 {
                        let w = v128_load(k.add(4 * q) as *const v128);
                        a[q] = madd(v128_load(x0.add(4 * q) as *const v128), w, a[q]);
                        b[q] = madd(v128_load(x1.add(4 * q) as *const v128), w, b[q]);
                    }
                }
                for q in 0..4 {
                    v128_store(out0.add(c + 4 * q) as *mut v128, a[q]);
                    v128_store(out1.add(c + 4 * q) as *mut v128, b[q]);
                }
                c += 16;
            }
            while c + 4 <= channels {
                let mut a = v128_load(bias.add(c) as *const v128);
                let mut b = a;
                for (&kix, &off) in taps() {
                    let w = v128_load(kernel.add(kix * k_stride + c) as *const v128);
                    a = madd(v128_load(in0.offset(off).add(c) as *const v128), w, a);
                    b = madd(v128_load(in1.offset(off).add(c) as *const v128), w, b);
                }
                v128_store(out0.add(c) as *mut v128, a);
                v128_store(out1.add(c) as *mut v128, b);
                c += 4;
            }
            scalar_c(
                in0,
                out0,
                kernel,
                tap_indices,
                offsets,
                bias,
                c,
                channels,
                k_stride,
            );
            scalar_c(
                in1,
                out1,
                kernel,
                tap_indices,
                offsets,
                bias,
                c,
                channels,
                k_stride,
            );
            i += 2;
        }
        if i < len {
            let in0 = input.offset(i as isize * in_stride);
            let out0 = output.offset(i as isize * out_stride);
            let mut c = 0usize;
            while c + 4 <= channels {
                let mut a = v128_load(bias.add(c) as *const v128);
                for (&kix, &off) in taps() {
                    let w = v128_load(kernel.add(kix * k_stride + c) as *const v128);
                    a = madd(v128_load(in0.offset(off).add(c) as *const v128), w, a);
                }
                v128_store(out0.add(c) as *mut v128, a);
                c += 4;
            }
            scalar_c(
                in0,
                out0,
                kernel,
                tap_indices,
                offsets,
                bias,
                c,
                channels,
                k_stride,
            );
        }
    }
}

/// Channels `from..channels` of one channels-last output position.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn scalar_c(
    input: *const f32,
    output: *mut f32,
    kernel: *const f32,
    tap_indices: &[usize],
    offsets: &[isize],
    bias: *const f32,
    from: usize,
    channels: usize,
    k_stride: usize,
) {
    unsafe {
        for c in from..channels {
            let mut sum = *bias.add(c);
            for (&kix, &off) in tap_indices.iter().zip(offsets) {
                sum += *kernel.add(kix * k_stride + c) * *input.offset(off).add(c);
            }
            *output.add(c) = sum;
        }
    }
}
