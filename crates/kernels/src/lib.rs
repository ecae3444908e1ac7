//! peerlens's own compute kernels for tract, in wasm simd128.
//!
//! tract stays the graph engine: it parses, optimizes and plans the models.
//! This crate replaces the innermost loops where tract's wasm kernels leave
//! speed on the table on the machines most calls run on, and registers them
//! through tract-linalg's `inventory` tables, so no fork of tract is needed:
//!
//! - [`GEMM`], an f32 matrix-product tile of 4 rows by 8 columns: 8 vector
//!   accumulators, where tract's 8x8 tile holds 16. V8 has 16 vector
//!   registers on x86-64, so tract's tile spills there; ours does not. It
//!   fuses the bias, ReLU, clamp, leaky ReLU and residual-add epilogues and
//!   stores contiguous outputs with vector stores. A dispatch tier prefers it
//!   on x86 hosts only ([`host`], detected at run time); on ARM hosts, which
//!   have 32 vector registers, tract's own 8x8 keeps running.
//! - [`DEPTHWISE_W`] and [`DEPTHWISE_C`], depthwise convolution routines for
//!   channels-first and channels-last tensors. tract's channels-first routine
//!   is scalar at stride 2; ours deinterleaves with shuffles. Both compute
//!   two output runs per pass where tract computes one, so each tap's weights
//!   are loaded once for both.
//! - [`max_of_halves`], the element-wise maximum of the two halves of each
//!   block, which the models' 2x2 max pools are made of; the vision crate
//!   fuses the slices and Max tract would run into it.
//!
//! The kernels exist only in wasm32 builds with `simd128`; elsewhere
//! [`available`] is false and tract's own kernels run. [`set_kernel_set`]
//! switches back to tract's kernels at run time, to compare the two in one
//! page or to rule ours out when diagnosing a wrong result.
//!
//! The registration types are tract internals, outside its semver, so tract
//! is pinned to `=0.23.9` and the tests check that tract picks these kernels.
#![deny(missing_docs)]

use std::sync::{
    atomic::{AtomicBool, Ordering},
    OnceLock,
};

use tract_linalg::mmm::MatMatMul;

pub mod bench;
mod pool;
pub use pool::max_of_halves;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128;

/// The depthwise routines as plain functions, with tract's signatures
/// (`tract_linalg::routines::DepthwiseWF32` and `DepthwiseCF32`), for tests
/// and benchmarks to call directly.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub use simd128::{depthwise_c_ours as depthwise_c, depthwise_w_ours as depthwise_w};

/// The name tract knows our f32 GEMM kernel by.
pub const GEMM: &str = "peerlens_wasm_f32_4x8";
/// The name of our channels-first depthwise routine.
pub const DEPTHWISE_W: &str = "peerlens_wasm_depthwise_w_f32";
/// The name of our channels-last depthwise routine.
pub const DEPTHWISE_C: &str = "peerlens_wasm_depthwise_c_f32";
/// The name of tract's own wasm f32 GEMM kernel, which ours replaces on x86.
pub const TRACT_GEMM: &str = "wasm_f32_8x8";

/// What kind of processor runs the wasm, as far as it matters to kernel
/// choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Host {
    /// x86 or x86-64: 16 vector registers, where an 8-accumulator tile wins.
    X86,
    /// Anything else (ARM: 32 vector registers, where tract's 8x8 wins).
    Other,
}

/// The host's kind, probed once.
///
/// wasm hides the processor, but not the sign of the NaN that `inf - inf`
/// produces: x86's default NaN is negative, ARM's and RISC-V's are positive.
/// Engines compute float arithmetic with the hardware's instructions, so the
/// sign shows through (XNNPACK tells its x86 and ARM wasm builds apart the
/// same way).
pub fn host() -> Host {
    static HOST: OnceLock<Host> = OnceLock::new();
    *HOST.get_or_init(|| {
        // black_box keeps the compiler from folding the subtraction into a
        // constant NaN of its own choosing.
        let inf = std::hint::black_box(f32::INFINITY);
        let nan = inf - std::hint::black_box(f32::INFINITY);
        if nan.is_sign_negative() {
            Host::X86
        } else {
            Host::Other
        }
    })
}

/// Which kernels tract runs where ours apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelSet {
    /// This crate's kernels (the default).
    Peerlens,
    /// tract's own wasm kernels.
    Tract,
}

static USE_OURS: AtomicBool = AtomicBool::new(true);

/// Chooses the kernel set. The GEMM kernel is chosen when a model is
/// optimized, so this applies to models loaded afterwards; the depthwise
/// routines are chosen on every run, so it applies to them at once.
pub fn set_kernel_set(set: KernelSet) {
    USE_OURS.store(set == KernelSet::Peerlens, Ordering::Relaxed);
}

/// The kernel set in force.
pub fn kernel_set() -> KernelSet {
    if USE_OURS.load(Ordering::Relaxed) {
        KernelSet::Peerlens
    } else {
        KernelSet::Tract
    }
}

/// Whether this build has the kernels: wasm32 with `simd128`.
pub const fn available() -> bool {
    cfg!(all(target_arch = "wasm32", target_feature = "simd128"))
}

/// Keeps the registrations in the binary. wasm-ld drops every object file
/// that nothing references, and `inventory`'s registrations are referenced
/// by nothing but the linker's constructor list, so whoever loads a model
/// calls this first. Cheap, and idempotent.
pub fn register() {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    simd128::anchor();
}

/// Which GEMM kernel our dispatch tier asks for, on `host`, with the
/// kernel set `set`, for an f32 product with `n` columns (`None`: unknown
/// at optimization time). `None` leaves the choice to tract's own tier.
///
/// This is the tier's whole policy, as a pure function so that it can be
/// checked for hosts other than the one running the tests.
pub fn tier_choice(host: Host, set: KernelSet, n: Option<usize>) -> Option<&'static str> {
    match (host, set, n) {
        // A single column is a matrix-vector product, for tract's GEMV kernels.
        (Host::X86, KernelSet::Peerlens, Some(n)) if n > 1 => Some(GEMM),
        _ => None,
    }
}

/// Our GEMM kernel, to run or measure directly; `None` where
/// [`available`] is false.
pub fn gemm() -> Option<Box<dyn MatMatMul>> {
    named_kernel(GEMM)
}

/// tract's own wasm GEMM kernel, for comparison; `None` where
/// [`available`] is false.
pub fn tract_gemm() -> Option<Box<dyn MatMatMul>> {
    named_kernel(TRACT_GEMM)
}

fn named_kernel(name: &str) -> Option<Box<dyn MatMatMul>> {
    register();
    tract_linalg::MmmDispatch::native()
        .runnable()
        .iter()
        .find(|k| k.name() == name)
        .cloned()
}

/// The kernel tract's dispatch picks for an f32 product of these dims on
/// this host, by name.
pub fn picked_gemm(m: usize, k: usize, n: usize) -> Option<String> {
    register();
    let query = tract_linalg::mmm::Query::plain(
        tract_data::prelude::DatumType::F32,
        Some(m),
        Some(k),
        Some(n),
    );
    tract_linalg::MmmDispatch::native()
        .pick(&query)
        .map(|(kernel, _, _)| kernel.name().to_string())
}

/// The routines tract runs for channels-first and channels-last depthwise
/// convolution on this host, by name, with the kernel set in force.
pub fn picked_depthwise() -> (Option<&'static str>, Option<&'static str>) {
    register();
    use tract_linalg::routines::{best_for, Func};
    let isa = tract_linalg::isa::native();
    let name = |func| {
        let routine = best_for(func, tract_data::prelude::DatumType::F32, &isa)?;
        let name = routine.name();
        // Ours delegate to tract's while the tract set is chosen.
        Some(match (name, kernel_set()) {
            (DEPTHWISE_W, KernelSet::Tract) => "wasm_simd128_depthwise_w_f32",
            (DEPTHWISE_C, KernelSet::Tract) => "wasm_simd128_depthwise_c_f32",
            (name, _) => name,
        })
    };
    (name(Func::DepthwiseW), name(Func::DepthwiseC))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tier_asks_for_our_tile_on_x86_only() {
        assert_eq!(
            tier_choice(Host::X86, KernelSet::Peerlens, Some(1024)),
            Some(GEMM)
        );
        assert_eq!(
            tier_choice(Host::X86, KernelSet::Peerlens, Some(2)),
            Some(GEMM)
        );
        // ARM: tract's 8x8, which has the registers it needs there.
        assert_eq!(
            tier_choice(Host::Other, KernelSet::Peerlens, Some(1024)),
            None
        );
        // Matrix-vector products and unknown widths stay with tract.
        assert_eq!(tier_choice(Host::X86, KernelSet::Peerlens, Some(1)), None);
        assert_eq!(tier_choice(Host::X86, KernelSet::Peerlens, None), None);
        assert_eq!(tier_choice(Host::X86, KernelSet::Tract, Some(1024)), None);
    }

    #[test]
    #[cfg(not(target_arch = "wasm32"))]
    fn native_builds_have_no_kernels_and_tract_picks_its_own() {
        assert!(!available());
        assert!(gemm().is_none());
        assert_ne!(picked_gemm(64, 64, 1024).as_deref(), Some(GEMM));
    }
}
