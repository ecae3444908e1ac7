//! The f32 GEMM tile: 4 rows by 8 columns of C, in 8 v128 accumulators.
//!
//! tract drives a kernel with a list of fused operations per tile
//! (`FusedKerSpec`): clear, add the product of a packed A panel (4 values
//! per k) and a packed B panel (8 values per k), apply the epilogue, store.
//! Row `r` of the tile is held in `c[r][0]` (columns 0-3) and `c[r][1]`
//! (columns 4-7).
//!
//! Register budget per k step, for V8's 16 xmm registers on x86-64: 8
//! accumulators, one A vector, two B vectors and the four broadcasts of A
//! computed one at a time. tract's 8x8 tile needs 16 accumulators alone and
//! spills on every step.

use std::arch::wasm32::*;

use super::madd;

use tract_linalg::mmm::{FusedKerSpec, OutputStoreKer};

/// Rows of the tile: the M direction, output channels for a convolution.
pub const MR: usize = 4;
/// Columns of the tile: the N direction, output positions for a convolution.
pub const NR: usize = 8;

type Tile = [[v128; 2]; MR];

/// Returned for an operation the kernel declined in `can_fuse`, which tract
/// should never send; tract turns a non-zero return into an error.
const DECLINED: isize = 1;

/// The kernel entry point tract calls once per tile.
///
/// # Safety
/// `specs` must be a list tract built for this kernel's tile and packing:
/// every pointer in it valid for the tile it describes, ending with `Done`.
pub unsafe fn kernel(specs: &[FusedKerSpec<f32>]) -> isize {
    unsafe {
        let mut c: Tile = [[f32x4_splat(0.0); 2]; MR];
        for spec in specs {
            match *spec {
                FusedKerSpec::Done => break,
                FusedKerSpec::Clear => c = [[f32x4_splat(0.0); 2]; MR],
                FusedKerSpec::LoadTile(_, rows) => {
                    for (r, row) in c.iter_mut().enumerate() {
                        row[0] = v128_load(rows.add(r * NR) as *const v128);
                        row[1] = v128_load(rows.add(r * NR + 4) as *const v128);
                    }
                }
                // tract's semantics, as in its generic kernel: `f(operand, acc)`.
                // pmin/pmax are one instruction each on x86, where the
                // NaN-propagating min/max take several; `if m < acc { m } else
                // { acc }` is exactly pmin(acc, m).
                FusedKerSpec::ScalarMin(m) => scalar(&mut c, m, |a, s| f32x4_pmin(a, s)),
                FusedKerSpec::ScalarMax(m) => scalar(&mut c, m, |a, s| f32x4_pmax(a, s)),
                FusedKerSpec::ScalarAdd(m) => scalar(&mut c, m, |a, s| f32x4_add(a, s)),
                FusedKerSpec::ScalarMul(m) => scalar(&mut c, m, |a, s| f32x4_mul(a, s)),
                FusedKerSpec::ScalarSub(m) => scalar(&mut c, m, |a, s| f32x4_sub(s, a)),
                FusedKerSpec::ScalarSubF(m) => scalar(&mut c, m, |a, s| f32x4_sub(a, s)),
                FusedKerSpec::LeakyRelu(m) => scalar(&mut c, m, |a, s| {
                    v128_bitselect(a, f32x4_mul(s, a), f32x4_gt(a, f32x4_splat(0.0)))
                }),
                FusedKerSpec::PerRowMin(p) => per_row(&mut c, p, |a, s| f32x4_pmin(a, s)),
                FusedKerSpec::PerRowMax(p) => per_row(&mut c, p, |a, s| f32x4_pmax(a, s)),
                FusedKerSpec::PerRowAdd(p) => per_row(&mut c, p, |a, s| f32x4_add(a, s)),
                FusedKerSpec::PerRowMul(p) => per_row(&mut c, p, |a, s| f32x4_mul(a, s)),
                FusedKerSpec::PerRowSub(p) => per_row(&mut c, p, |a, s| f32x4_sub(s, a)),
                FusedKerSpec::PerRowSubF(p) => per_row(&mut c, p, |a, s| f32x4_sub(a, s)),
                FusedKerSpec::PerColMin(p) => per_col(&mut c, p, |a, s| f32x4_pmin(a, s)),
                FusedKerSpec::PerColMax(p) => per_col(&mut c, p, |a, s| f32x4_pmax(a, s)),
                FusedKerSpec::PerColAdd(p) => per_col(&mut c, p, |a, s| f32x4_add(a, s)),
                FusedKerSpec::PerColMul(p) => per_col(&mut c, p, |a, s| f32x4_mul(a, s)),
                FusedKerSpec::PerColSub(p) => per_col(&mut c, p, |a, s| f32x4_sub(s, a)),
                FusedKerSpec::PerColSubF(p) => per_col(&mut c, p, |a, s| f32x4_sub(a, s)),
                FusedKerSpec::AddUnicast(tile) => add_unicast(&mut c, &tile),
                FusedKerSpec::Store(tile) => {
                    if tile.item_size != 4 {
                        return DECLINED;
                    }
                    store(&c, &tile)
                }
                FusedKerSpec::AddMatMul { k, pa, pb, packing } => {
                    if packing != 0 {
                        return DECLINED;
                    }
                    add_mat_mul(&mut c, k, pa as *const f32, pb as *const f32)
                }
                FusedKerSpec::QScale(..)
                | FusedKerSpec::RoundingShiftRight(..)
                | FusedKerSpec::ShiftLeft(..)
                | FusedKerSpec::AddRowColProducts(..) => return DECLINED,
            }
        }
        0
    }
}

#[inline(always)]
fn scalar(c: &mut Tile, m: f32, op: impl Fn(v128, v128) -> v128) {
    let s = f32x4_splat(m);
    for row in c.iter_mut() {
        row[0] = op(row[0], s);
        row[1] = op(row[1], s);
    }
}

#[inline(always)]
unsafe fn per_row(c: &mut Tile, values: *const f32, op: impl Fn(v128, v128) -> v128) {
    unsafe {
        for (r, row) in c.iter_mut().enumerate() {
            let s = f32x4_splat(*values.add(r));
            row[0] = op(row[0], s);
            row[1] = op(row[1], s);
        }
    }
}

#[inline(always)]
unsafe fn per_col(c: &mut Tile, values: *const f32, op: impl Fn(v128, v128) -> v128) {
    unsafe {
        let lo = v128_load(values as *const v128);
        let hi = v128_load(values.add(4) as *const v128);
        for row in c.iter_mut() {
            row[0] = op(row[0], lo);
            row[1] = op(row[1], hi);
        }
    }
}

/// `c += A panel x B panel` over `k` steps.
///
/// A holds 4 row values per step, B 8 column values. The A vector is loaded
/// once and each row broadcast by a shuffle.
#[inline(always)]
unsafe fn add_mat_mul(c: &mut Tile, k: usize, mut a: *const f32, mut b: *const f32) {
    unsafe {
        let [[mut c00, mut c01], [mut c10, mut c11], [mut c20, mut c21], [mut c30, mut c31]] = *c;
        for _ in 0..k {
            let av = v128_load(a as *const v128);
            let b0 = v128_load(b as *const v128);
            let b1 = v128_load(b.add(4) as *const v128);
            let a0 = i32x4_shuffle::<0, 0, 0, 0>(av, av);
            c00 = madd(a0, b0, c00);
            c01 = madd(a0, b1, c01);
            let a1 = i32x4_shuffle::<1, 1, 1, 1>(av, av);
            c10 = madd(a1, b0, c10);
            c11 = madd(a1, b1, c11);
            let a2 = i32x4_shuffle::<2, 2, 2, 2>(av, av);
            c20 = madd(a2, b0, c20);
            c21 = madd(a2, b1, c21);
            let a3 = i32x4_shuffle::<3, 3, 3, 3>(av, av);
            c30 = madd(a3, b0, c30);
            c31 = madd(a3, b1, c31);
            a = a.add(MR);
            b = b.add(NR);
        }
        *c = [[c00, c01], [c10, c11], [c20, c21], [c30, c31]];
    }
}

/// Transposes the 4x4 block held as four row vectors into four column
/// vectors.
#[inline(always)]
fn transpose(r0: v128, r1: v128, r2: v128, r3: v128) -> [v128; 4] {
    let t0 = i32x4_shuffle::<0, 4, 1, 5>(r0, r1);
    let t1 = i32x4_shuffle::<2, 6, 3, 7>(r0, r1);
    let t2 = i32x4_shuffle::<0, 4, 1, 5>(r2, r3);
    let t3 = i32x4_shuffle::<2, 6, 3, 7>(r2, r3);
    [
        i32x4_shuffle::<0, 1, 4, 5>(t0, t2),
        i32x4_shuffle::<2, 3, 6, 7>(t0, t2),
        i32x4_shuffle::<0, 1, 4, 5>(t1, t3),
        i32x4_shuffle::<2, 3, 6, 7>(t1, t3),
    ]
}

/// The tile's columns, 8 vectors of the 4 rows each.
#[inline(always)]
fn columns(c: &Tile) -> [v128; NR] {
    let lo = transpose(c[0][0], c[1][0], c[2][0], c[3][0]);
    let hi = transpose(c[0][1], c[1][1], c[2][1], c[3][1]);
    [lo[0], lo[1], lo[2], lo[3], hi[0], hi[1], hi[2], hi[3]]
}

/// Writes the tile to C. Two layouts get vector stores: rows contiguous
/// (channels-first outputs) and columns contiguous (channels-last outputs,
/// and the scratch tile tract uses for partial tiles at the edges).
#[inline(always)]
unsafe fn store(c: &Tile, tile: &OutputStoreKer) {
    unsafe {
        let (ptr, rs, cs) = (tile.ptr, tile.row_byte_stride, tile.col_byte_stride);
        if cs == 4 {
            for (r, row) in c.iter().enumerate() {
                let p = ptr.offset(rs * r as isize);
                v128_store(p as *mut v128, row[0]);
                v128_store(p.add(16) as *mut v128, row[1]);
            }
        } else if rs == 4 {
            for (j, col) in columns(c).iter().enumerate() {
                v128_store(ptr.offset(cs * j as isize) as *mut v128, *col);
            }
        } else {
            let values = to_array(c);
            for r in 0..MR {
                for j in 0..NR {
                    let p = ptr.offset(rs * r as isize + cs * j as isize) as *mut f32;
                    *p = values[r * NR + j];
                }
            }
        }
    }
}

/// Adds a tile of C-shaped values (a residual branch) to the tile.
#[inline(always)]
unsafe fn add_unicast(c: &mut Tile, tile: &OutputStoreKer) {
    unsafe {
        let (ptr, rs, cs) = (
            tile.ptr as *const u8,
            tile.row_byte_stride,
            tile.col_byte_stride,
        );
        if cs == 4 {
            for (r, row) in c.iter_mut().enumerate() {
                let p = ptr.offset(rs * r as isize);
                row[0] = f32x4_add(row[0], v128_load(p as *const v128));
                row[1] = f32x4_add(row[1], v128_load(p.add(16) as *const v128));
            }
        } else if rs == 4 {
            let mut cols = [f32x4_splat(0.0); NR];
            for (j, col) in cols.iter_mut().enumerate() {
                *col = v128_load(ptr.offset(cs * j as isize) as *const v128);
            }
            // Columns back to rows: the transpose is its own inverse.
            let lo = transpose(cols[0], cols[1], cols[2], cols[3]);
            let hi = transpose(cols[4], cols[5], cols[6], cols[7]);
            for (r, row) in c.iter_mut().enumerate() {
                row[0] = f32x4_add(row[0], lo[r]);
                row[1] = f32x4_add(row[1], hi[r]);
            }
        } else {
            let mut values = [0f32; MR * NR];
            for r in 0..MR {
                for j in 0..NR {
                    values[r * NR + j] =
                        *(ptr.offset(rs * r as isize + cs * j as isize) as *const f32);
                }
            }
            for (r, row) in c.iter_mut().enumerate() {
                row[0] = f32x4_add(
                    row[0],
                    v128_load(values.as_ptr().add(r * NR) as *const v128),
                );
                row[1] = f32x4_add(
                    row[1],
                    v128_load(values.as_ptr().add(r * NR + 4) as *const v128),
                );
            }
        }
    }
}

#[inline(always)]
fn to_array(c: &Tile) -> [f32; MR * NR] {
    let mut values = [0f32; MR * NR];
    for (r, row) in c.iter().enumerate() {
        // SAFETY: `values` holds MR * NR floats and row r's 8 start at r * NR.
        unsafe {
            v128_store(values.as_mut_ptr().add(r * NR) as *mut v128, row[0]);
            v128_store(values.as_mut_ptr().add(r * NR + 4) as *mut v128, row[1]);
        }
    }
    values
}
