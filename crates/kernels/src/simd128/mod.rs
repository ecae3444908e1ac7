//! The wasm simd128 kernels and their registration into tract's tables.
//!
//! Everything that ties us to tract-linalg's registries is in this file: the
//! kernel object, the dispatch tier and the depthwise routines. The kernels
//! themselves are plain functions in `gemm` and `depthwise`.

mod depthwise;
mod gemm;

use std::arch::wasm32::v128;

/// `a * b + c`, lane by lane. In the relaxed-SIMD build this is
/// `f32x4.relaxed_madd`, which engines on FMA hardware compile to one
/// fused multiply-add (rounded once, so results may differ from the
/// simd128 build in the last bit); elsewhere a multiply and an add.
#[inline(always)]
pub(crate) fn madd(a: v128, b: v128, c: v128) -> v128 {
    #[cfg(target_feature = "relaxed-simd")]
    {
        std::arch::wasm32::f32x4_relaxed_madd(a, b, c)
    }
    #[cfg(not(target_feature = "relaxed-simd"))]
    {
        use std::arch::wasm32::{f32x4_add, f32x4_mul};
        f32x4_add(f32x4_mul(a, b), c)
    }
}

use std::sync::LazyLock;

use tract_data::prelude::{Datum, DatumType};
use tract_linalg::{
    isa::{Arch, IsaReq, IsaSet},
    mmm::{DynKernel, FusedSpec, Query, Suitable},
    mmm_routines::MmmRoutine,
    mmm_tiers::MmmTier,
    pack::Packing,
    routines::{Func, Routine, RoutineFactory},
};

use crate::{host, kernel_set, tier_choice, Host, KernelSet};

/// The GEMM kernel as tract sees it: a 4x8 tile over A packed in panels of
/// 4 rows and B in panels of 8 columns.
static GEMM_KERNEL: LazyLock<DynKernel<{ gemm::MR }, { gemm::NR }, f32>> = LazyLock::new(|| {
    let mut kernel = DynKernel::<{ gemm::MR }, { gemm::NR }, f32>::new(
        crate::GEMM,
        gemm::kernel,
        f32::packing(gemm::MR),
        f32::packing(gemm::NR),
    );
    // Without an arch, dispatch would treat it as portable Rust and rank it
    // below every kernel written for wasm.
    kernel.arch = Some(Arch::Wasm32Simd128);
    kernel.can_fuse = can_fuse;
    kernel
});

/// The fused operations the kernel implements: everything an f32 model
/// produces. The quantization steps are for integer accumulators; declining
/// them keeps them out of the epilogue.
fn can_fuse(spec: &FusedSpec) -> bool {
    !matches!(
        spec,
        FusedSpec::QScale(..)
            | FusedSpec::RoundingShiftRight(..)
            | FusedSpec::ShiftLeft(..)
            | FusedSpec::AddRowColProducts(..)
    )
}

inventory::submit! {
    MmmRoutine { make: || GEMM_KERNEL.mmm() }
}

fn tier_applies(_: &IsaSet) -> bool {
    host() == Host::X86
}

fn tier_preferred(
    _: &IsaSet,
    accumulator: DatumType,
    query: &Query,
    _: &[Suitable],
) -> Option<&'static str> {
    if accumulator != f32::datum_type() {
        return None;
    }
    tier_choice(host(), kernel_set(), query.n)
}

inventory::submit! {
    MmmTier {
        arch: Some(Arch::Wasm32Simd128),
        // tract's own wasm tier is 1: ours is asked first, and declining
        // (non-x86 hosts, GEMV, the tract kernel set) falls through to it.
        precedence: 2,
        name: "peerlens-wasm-x86",
        applies: tier_applies,
        preferred: tier_preferred,
    }
}

/// Above tract's own routines, which declare no boost.
const ROUTINE_BOOST: isize = 1;

inventory::submit! {
    Routine {
        func: Func::DepthwiseW,
        arch: Some(Arch::Wasm32Simd128),
        isa: IsaReq::ANY,
        boost: ROUTINE_BOOST,
        round_trip: false,
        factory: RoutineFactory::DepthwiseWF32 { name: crate::DEPTHWISE_W, run: depthwise_w },
    }
}

inventory::submit! {
    Routine {
        func: Func::DepthwiseC,
        arch: Some(Arch::Wasm32Simd128),
        isa: IsaReq::ANY,
        boost: ROUTINE_BOOST,
        round_trip: false,
        factory: RoutineFactory::DepthwiseCF32 { name: crate::DEPTHWISE_C, run: depthwise_c },
    }
}

/// tract caches the routine it picks for the life of the module, so the
/// switch back to tract's kernels is made here, per call.
unsafe fn depthwise_w(
    input: *const f32,
    output: *mut f32,
    taps: &[f32],
    offsets: &[isize],
    bias: f32,
    len: usize,
    in_stride: isize,
) {
    unsafe {
        if kernel_set() == KernelSet::Peerlens {
            depthwise::depthwise_w(input, output, taps, offsets, bias, len, in_stride)
        } else {
            tract_linalg::wasm::depthwise_w_f32(input, output, taps, offsets, bias, len, in_stride)
        }
    }
}

#[allow(clippy::too_many_arguments)]
unsafe fn depthwise_c(
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
        if kernel_set() == KernelSet::Peerlens {
            depthwise::depthwise_c(
                input,
                output,
                kernel,
                tap_indices,
                offsets,
                bias,
                channels,
                k_stride,
                len,
                in_stride,
                out_stride,
            )
        } else {
            tract_linalg::wasm::depthwise_c_f32(
                input,
                output,
                kernel,
                tap_indices,
                offsets,
                bias,
                channels,
                k_stride,
                len,
                in_stride,
                out_stride,
            )
        }
    }
}

/// Referenced from [`crate::register`], so that wasm-ld keeps this object
/// file, and with it the registrations above.
#[inline(never)]
pub(crate) fn anchor() {
    std::hint::black_box((
        &*GEMM_KERNEL as *const _ as *const (),
        depthwise_w as *const (),
        depthwise_c as *const (),
        tier_preferred as *const (),
    ));
}

/// The plain functions, for the tests and the benchmark to call directly.
pub use depthwise::{depthwise_c as depthwise_c_ours, depthwise_w as depthwise_w_ours};
