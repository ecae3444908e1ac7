//! The element-wise maximum of the two halves of each block of a tensor:
//! the step a 2x2 max pool on a channels-last tensor is made of.
//!
//! The shipped face models take their 2x2 max pools as two such steps (see
//! `models/convert.py`, `maxpool_channels_last`): with x viewed as
//! `[outer, 2, half]`, out is `[outer, half]` with `out[o][i] = max(x[o][0][i],
//! x[o][1][i])`. tract runs each step as two slice copies and a scalar
//! element-wise Max; this reads x once, four lanes at a time.

/// `out[o * half + i] = max(x[o * 2 * half + i], x[o * 2 * half + half + i])`
/// for every `o` below `out.len() / half`.
///
/// The maximum is `if a < b { b } else { a }` (`f32x4.pmax`), so a NaN in
/// the first half passes through and one in the second does not, the same
/// in every build.
///
/// # Panics
/// If `half` is 0 or does not divide `out.len()`, or if `x` is not twice
/// as long as `out`.
pub fn max_of_halves(x: &[f32], half: usize, out: &mut [f32]) {
    assert!(half > 0, "max_of_halves: empty halves");
    assert_eq!(
        out.len() % half,
        0,
        "max_of_halves: out is not whole blocks"
    );
    assert_eq!(x.len(), out.len() * 2, "max_of_halves: x must be twice out");
    for (block, dst) in x.chunks_exact(2 * half).zip(out.chunks_exact_mut(half)) {
        let (a, b) = block.split_at(half);
        pmax(a, b, dst);
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn pmax(a: &[f32], b: &[f32], dst: &mut [f32]) {
    use core::arch::wasm32::{f32x4_pmax, v128, v128_load, v128_store};
    let n = dst.len();
    let vectors = n / 4;
    // SAFETY: a, b and dst each hold n floats (split_at and chunks_exact
    // above); the loop reads and writes whole 4-float groups below n, with
    // unaligned vector accesses, which wasm allows.
    unsafe {
        let (pa, pb, pd) = (a.as_ptr(), b.as_ptr(), dst.as_mut_ptr());
        for v in 0..vectors {
            let i = v * 4;
            let x = v128_load(pa.add(i) as *const v128);
            let y = v128_load(pb.add(i) as *const v128);
            v128_store(pd.add(i) as *mut v128, f32x4_pmax(x, y));
        }
    }
    scalar(
        &a[vectors * 4..],
        &b[vectors * 4..n],
        &mut dst[vectors * 4..],
    );
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn pmax(a: &[f32], b: &[f32], dst: &mut [f32]) {
    scalar(a, b, dst);
}

fn scalar(a: &[f32], b: &[f32], dst: &mut [f32]) {
    for ((d, &x), &y) in dst.iter_mut().zip(a).zip(b) {
        *d = if x < y { y } else { x };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_the_larger_of_each_pair_across_the_halves() {
        // Two blocks of halves of 3: [1 5 2 | 4 0 9], [7 7 -1 | -2 8 -3].
        let x = [
            1.0, 5.0, 2.0, 4.0, 0.0, 9.0, 7.0, 7.0, -1.0, -2.0, 8.0, -3.0,
        ];
        let mut out = [0.0; 6];
        max_of_halves(&x, 3, &mut out);
        assert_eq!(out, [4.0, 5.0, 9.0, 7.0, 8.0, -1.0]);
    }

    #[test]
    #[should_panic(expected = "twice")]
    fn refuses_mismatched_lengths() {
        max_of_halves(&[0.0; 6], 2, &mut [0.0; 4]);
    }
}
