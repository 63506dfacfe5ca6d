//! The engine's own AVX-512 product, for the shapes recommenders have.
//!
//! A ranking model's products are tall and thin: a batch of thousands of rows times a weight
//! matrix of at most a few hundred columns, or the transpose of such a batch times another. A
//! general GEMM packs both operands into panels on every call (for the tutorial that is 12% of
//! an epoch, and an allocation per product); here neither the batch nor its transpose is packed:
//! a 12 × 32 register tile broadcasts `a`'s values straight from memory at any strides, and `b`
//! is read in place whenever its columns are contiguous (only a transposed `b`, always a small
//! weight matrix in this engine, is copied into a reused buffer). The tile keeps 24 of the 32
//! vector registers as accumulators, so the loop is bound by the FMA units, not by loads.
//!
//! Work is split across rayon's pool by rows of `c` (or by columns, when `c` is short), and
//! every element of `c` is summed over `k` in the same order whatever the split: results do not
//! depend on the number of threads.

use std::arch::x86_64::*;
use std::cell::Cell;

use super::Op;
use crate::simd::columns_avx512::{indices, lanes, nonzero_columns};

/// Rows of `c` per register tile.
const MR: usize = 12;
/// Columns of `c` per register tile: two 16-lane vectors.
const NR: usize = 32;
/// Depth of one pass over `k`, so a `KC × NR` panel of `b` (32 KiB) stays in L1.
const KC: usize = 256;
/// How many steps along `k` ahead of the kernel each row of `a` is prefetched.
const PREFETCH: usize = 32;
/// Products smaller than this many multiply-adds run on the calling thread only.
const PARALLEL_MIN: usize = 1 << 20;

/// Whether this CPU can run [`gemm`].
pub(super) fn available() -> bool {
    is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("popcnt")
}

thread_local! {
    /// The buffer a transposed `b` is copied into, kept between calls (taken out while in use,
    /// so a nested call on the same thread allocates its own instead of aliasing it).
    static TRANSPOSED: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
}

/// Pointers into the operands, shared by the threads that work on disjoint parts of `c`.
#[derive(Clone, Copy)]
struct Operands {
    /// `a[i, p]` is at `a + i·rsa + p·csa`.
    a: *const f32,
    rsa: usize,
    csa: usize,
    /// `b[p, j]` is at `b + p·rsb + j`.
    b: *const f32,
    rsb: usize,
    /// `c[i, j]` is at `c + i·rsc + j`.
    c: *mut f32,
    rsc: usize,
    k: usize,
    beta: f32,
}

// SAFETY: the threads given copies of `Operands` read `a` and `b` only and write disjoint
// blocks of `c` (see `split`).
unsafe impl Send for Operands {}
unsafe impl Sync for Operands {}

/// `c = a · b + beta · c` on AVX-512. The caller (`super::gemm`) has checked the slice lengths
/// and that `m`, `k` and `n` are not zero.
#[allow(clippy::too_many_arguments)]
pub(super) fn gemm(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    op_a: Op,
    b: &[f32],
    op_b: Op,
    beta: f32,
    c: &mut [f32],
) {
    let (rsa, csa) = match op_a {
        Op::N => (k, 1),
        Op::T => (1, m),
    };
    if n == 1 {
        // A matrix-vector product (a rating layer): one lane of each tile would do all the
        // work, so it gets loops of its own. `b` is k contiguous values in both layouts.
        // SAFETY: AVX-512 was detected before this backend was chosen.
        unsafe { matvec(m, k, a, rsa, csa, &b[..k], beta, &mut c[..m]) };
        return;
    }
    if m == 1 && op_b == Op::N {
        // One row times a matrix (a serving request's user half): a 1-row tile would chain
        // every product of its column into one register, so it gets a loop of its own.
        // SAFETY: AVX-512 was detected; the caller checked `a`, `b` and `c` against the shape.
        unsafe { row_times(&a[..k], b, n, beta, &mut c[..n]) };
        return;
    }
    let mut transposed = Vec::new();
    let b_ptr = match op_b {
        Op::N => b.as_ptr(),
        Op::T => {
            transposed = TRANSPOSED.take();
            transposed.clear();
            transposed.resize(k * n, 0.0);
            for (j, col) in b[..k * n].chunks_exact(k).enumerate() {
                for (p, &v) in col.iter().enumerate() {
                    transposed[p * n + j] = v;
                }
            }
            transposed.as_ptr()
        }
    };
    let ops = Operands {
        a: a.as_ptr(),
        rsa,
        csa,
        b: b_ptr,
        rsb: n,
        c: c.as_mut_ptr(),
        rsc: n,
        k,
        beta,
    };
    let parts = if m * n * k >= PARALLEL_MIN {
        rayon::current_num_threads()
    } else {
        1
    };
    // SAFETY: the caller checked that `a`, `b` and `c` hold `m×k`, `k×n` and `m×n` values at
    // these strides, and `transposed` (when used) holds `k×n`; `split` covers `c` once.
    unsafe { split(ops, 0..m, 0..n, parts) };
    if op_b == Op::T {
        TRANSPOSED.set(transposed);
    }
}

/// Computes the block `rows × cols` of `c`, in `parts` pieces run in parallel.
///
/// # Safety
/// `ops` must be valid for every element of the block, and no other thread may touch it.
unsafe fn split(
    ops: Operands,
    rows: std::ops::Range<usize>,
    cols: std::ops::Range<usize>,
    parts: usize,
) {
    let (m, n) = (rows.len(), cols.len());
    // Rows split at a tile boundary: a few tiles of rows (a 32-row weight gradient: 24 + 8)
    // split unevenly, so those split by columns when they can.
    let even_rows = m >= 8 * MR || m % (2 * MR) == 0 || n < 2 * NR;
    if parts > 1 && m >= 2 * MR && even_rows {
        let mid = rows.start + (m / 2).div_ceil(MR) * MR;
        let (lo, hi) = (parts / 2, parts - parts / 2);
        rayon::join(
            // SAFETY: the two halves of the rows are disjoint blocks of `c`.
            || unsafe { split(ops, rows.start..mid, cols.clone(), lo) },
            || unsafe { split(ops, mid..rows.end, cols.clone(), hi) },
        );
    } else if parts > 1 && n >= 2 * NR {
        let mid = cols.start + (n / 2).div_ceil(NR) * NR;
        let (lo, hi) = (parts / 2, parts - parts / 2);
        rayon::join(
            // SAFETY: the two halves of the columns are disjoint blocks of `c`.
            || unsafe { split(ops, rows.clone(), cols.start..mid, lo) },
            || unsafe { split(ops, rows.clone(), mid..cols.end, hi) },
        );
    } else {
        // SAFETY: forwarded from the caller; AVX-512 was detected before `gemm` was chosen.
        unsafe { block(ops, rows, cols) }
    }
}

/// Computes the block `rows × cols` of `c` on this thread, tile by tile.
#[target_feature(enable = "avx512f")]
unsafe fn block(ops: Operands, rows: std::ops::Range<usize>, cols: std::ops::Range<usize>) {
    let mut p0 = 0;
    while p0 < ops.k {
        let kc = KC.min(ops.k - p0);
        // The first pass over k applies beta; later passes add to what the first wrote.
        let beta = if p0 == 0 { ops.beta } else { 1.0 };
        // Row tiles outside, column panels inside: a tile's rows of `a` (MR × KC) stay in L1
        // across the panels, and the KC × n block of `b` stays in L2 across the row tiles.
        for i0 in rows.clone().step_by(MR) {
            let mr = MR.min(rows.end - i0);
            for j0 in cols.clone().step_by(NR) {
                let nr = NR.min(cols.end - j0);
                // The tile as a product of its own: operands offset to its corner, depth kc.
                let tile = Operands {
                    a: ops.a.wrapping_add(i0 * ops.rsa + p0 * ops.csa),
                    b: ops.b.wrapping_add(p0 * ops.rsb + j0),
                    c: ops.c.wrapping_add(i0 * ops.rsc + j0),
                    k: kc,
                    beta,
                    ..ops
                };
                // SAFETY: the tile lies inside the block the caller vouched for.
                unsafe { tile_dispatch(tile, mr, nr) }
            }
        }
        p0 += kc;
    }
}

/// Calls `$kernel::<R>$args` for the `R` among `$rows` that equals `$mr` (a block's last tile
/// of rows may be short, and each row count is its own compiled kernel).
macro_rules! by_rows {
    ($mr:expr, [$($r:literal),*], $kernel:ident $args:tt) => {
        match $mr {
            $($r => $kernel::<$r> $args,)*
            _ => unreachable!("a tile has fewer rows than this"),
        }
    };
}

/// Runs the kernel compiled for exactly `mr` rows (the last tile of a block may be short).
#[target_feature(enable = "avx512f")]
unsafe fn tile_dispatch(t: Operands, mr: usize, nr: usize) {
    // SAFETY: forwarded from the caller.
    unsafe { by_rows!(mr, [12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1], kernel(t, nr)) }
}

/// The lanes of a 32-column tile that hold real columns when it has `nr` of them.
fn lane_masks(nr: usize) -> (__mmask16, __mmask16) {
    (lanes(nr), lanes(nr.saturating_sub(16)))
}

/// The register tile itself, `c[..R, ..nr] = a[..R, ..k] · b[..k, ..nr] + beta · c`: `R` rows ×
/// 32 columns of accumulators, masked to `nr` columns.
#[target_feature(enable = "avx512f")]
unsafe fn kernel<const R: usize>(t: Operands, nr: usize) {
    let (m0, m1) = lane_masks(nr);
    let mut acc = [[_mm512_setzero_ps(); 2]; R];
    for p in 0..t.k {
        // SAFETY: masked-off lanes are not read; the rest lie inside `b` and `a`.
        unsafe {
            let bp = t.b.wrapping_add(p * t.rsb);
            let b0 = _mm512_maskz_loadu_ps(m0, bp);
            let b1 = _mm512_maskz_loadu_ps(m1, bp.wrapping_add(16));
            let ap = t.a.wrapping_add(p * t.csa);
            // `a` is read in place at any strides, so the hardware prefetcher cannot see the
            // rows as one stream: fetch each row's line PREFETCH steps ahead (a hint only,
            // never a fault, even past the end).
            // When `a` holds the transpose, the tile's R values share one or two lines.
            let ahead = ap.wrapping_add(PREFETCH * t.csa);
            if t.rsa == 1 {
                _mm_prefetch::<_MM_HINT_T0>(ahead as *const i8);
                _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(R - 1) as *const i8);
            } else if t.csa != 1 || p % 16 == 0 {
                for r in 0..R {
                    _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(r * t.rsa) as *const i8);
                }
            }
            for (r, acc) in acc.iter_mut().enumerate() {
                let x = _mm512_set1_ps(*ap.wrapping_add(r * t.rsa));
                acc[0] = _mm512_fmadd_ps(x, b0, acc[0]);
                acc[1] = _mm512_fmadd_ps(x, b1, acc[1]);
            }
        }
    }
    let beta = _mm512_set1_ps(t.beta);
    for (r, acc) in acc.iter().enumerate() {
        // SAFETY: as above, for row `r` of `c`.
        unsafe {
            let cp = t.c.wrapping_add(r * t.rsc);
            for (h, (&v, mask)) in acc.iter().zip([m0, m1]).enumerate() {
                let cp = cp.wrapping_add(16 * h);
                let v = if t.beta == 0.0 {
                    v
                } else {
                    _mm512_fmadd_ps(beta, _mm512_maskz_loadu_ps(mask, cp), v)
                };
                _mm512_mask_storeu_ps(cp, mask, v);
            }
        }
    }
}

/// A rating tower's last two layers, `y = v · act(x · w + bias) + v0`, as one pass: the shapes
/// and slice lengths were checked by `super::dense_dot`.
pub(super) struct Head<'a> {
    /// The hidden layer, on its input rows.
    pub hidden: Hidden<'a>,
    /// `[h]`: the one-unit layer's kernel, and its bias `v0`.
    pub v: &'a [f32],
    pub v0: f32,
}

/// `out[i] = v0 + Σ_j v[j] · act(bias[j] + Σ_p x[i, p] · w[p, j])` for `out.len()` rows, on
/// this thread. The hidden activations never leave the registers: [`GROUP`] rows' 64 hidden
/// units at a time are summed over `k` in sixteen accumulators, finished (bias, activation)
/// and folded into the rows' scores.
///
/// `x` is usually a ReLU's output, mostly zeros: in the tutorial's trained model 72% of the
/// first layer's outputs are 0. Each group of rows sums over only the steps along `k` where one
/// of its rows is not zero: 36% of the steps there, against 46% for the 12 rows of the product
/// kernel's register tile, which this kernel replaced (evaluation 10% faster on one core). A
/// step where every row of the group is 0 adds exact zeros, so skipping it changes no result
/// (for finite weights); the other steps are summed in order, as the dense product does. The
/// units active for nearly every row (a fifth of them) keep their rows of `w` in L1.
pub(super) fn dense_dot(head: &Head<'_>, out: &mut [f32]) {
    if let [out] = out {
        // SAFETY: as below.
        *out = unsafe { head_row(head) };
        return;
    }
    out.fill(head.v0);
    let rows = out.len();
    for_each_group(head.hidden.x, head.hidden.k, rows, |t, x, steps| {
        let out = &mut out[t * GROUP..][..x.len() / head.hidden.k];
        // SAFETY: AVX-512 was detected before this backend was chosen; the caller checked that
        // `x` holds the rows of `k`, `w` holds `k × h` and `bias`, `v` `h`; every step is
        // below `k`.
        unsafe {
            by_rows!(
                out.len(),
                [4, 3, 2, 1],
                group_kernel(head, x.as_ptr(), steps, out.as_mut_ptr())
            )
        }
    });
}

/// Calls `f(t, x_t, steps)` for each group `t` of up to [`GROUP`] rows of `x` (`[rows, k]`):
/// `x_t` its rows, `steps` the steps along `k` where one of them is not zero, in order.
fn for_each_group(x: &[f32], k: usize, rows: usize, mut f: impl FnMut(usize, &[f32], &[u32])) {
    let (mut steps, mut masks) = (STEPS.take(), MASKS.take());
    steps.resize(k + 16, 0);
    masks.resize(k.div_ceil(16), 0);
    for t in 0..rows.div_ceil(GROUP) {
        let x = group_rows(x, k, rows, t);
        let n = live_steps(x, k, &mut masks, &mut steps);
        f(t, x, &steps[..n]);
    }
    STEPS.set(steps);
    MASKS.set(masks);
}

/// Group `t`'s rows of `x` (`rows` rows of `k`): [`GROUP`] of them, fewer in the last group.
fn group_rows(x: &[f32], k: usize, rows: usize, t: usize) -> &[f32] {
    &x[t * GROUP * k..][..GROUP.min(rows - t * GROUP) * k]
}

/// Writes to the front of `steps` (room for `k + 16`) the steps along `k` where some row of
/// `x` (rows of `k`) is not zero, in order, and returns how many; `masks` (one per 16 steps)
/// is left holding them as bits.
fn live_steps(x: &[f32], k: usize, masks: &mut [u16], steps: &mut [u32]) -> usize {
    // SAFETY: AVX-512 and POPCNT were detected before this backend was chosen.
    unsafe {
        nonzero_columns(x, k, masks);
        indices(masks, steps)
    }
}

/// Rows [`dense_dot`] sums over together. One load of a step's 64 columns of `w` serves them
/// all, and their steps where some row is not zero are few more than one row's alone (36% of
/// the steps against 28%, in the tutorial's model). Measured on one core: groups of 4 beat 2,
/// 3 and 6 by 1–3%.
const GROUP: usize = 4;

thread_local! {
    /// [`dense_dot`]'s list of a group's active steps, kept between calls.
    static STEPS: Cell<Vec<u32>> = const { Cell::new(Vec::new()) };
    /// Per 16 steps, which of them a group sums over.
    static MASKS: Cell<Vec<u16>> = const { Cell::new(Vec::new()) };
}

/// `Σ_{p ∈ steps} x[r, p] · w[p, j0 .. j0 + 64]` for the `R` rows at `x` (`[R, k]`), as four
/// vectors a row (lanes past `h` zero); the sum runs over `steps` in order (the other steps
/// add zero), one accumulator per vector, as the dense product does. Each row's value at a
/// step is broadcast straight from `x`, and one load of a step's 64 columns of `w` serves
/// every row.
///
/// # Safety
/// `x` must hold `R` rows of `layer.k`, `layer.w` `k × h` values, and every step must be
/// below `k`.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn group_sums<const R: usize>(
    layer: &Hidden<'_>,
    x: *const f32,
    steps: &[u32],
    j0: usize,
) -> [[__m512; 4]; R] {
    let (w, h, k) = (layer.w, layer.h, layer.k);
    let masks = group_masks(h, j0);
    let mut acc = [[_mm512_setzero_ps(); 4]; R];
    for &p in steps {
        let p = p as usize;
        // SAFETY: masked-off lanes are not read; the rest lie inside `w` and `x` (`p < k`).
        unsafe {
            let wp = w.as_ptr().wrapping_add(p * h + j0);
            let b: [__m512; 4] =
                std::array::from_fn(|v| _mm512_maskz_loadu_ps(masks[v], wp.wrapping_add(16 * v)));
            for (r, acc) in acc.iter_mut().enumerate() {
                let xr = _mm512_set1_ps(*x.wrapping_add(r * k + p));
                for (acc, &b) in acc.iter_mut().zip(&b) {
                    *acc = _mm512_fmadd_ps(xr, b, *acc);
                }
            }
        }
    }
    acc
}

/// The lanes of the four vectors of columns `j0 .. j0 + 64` that hold real columns of `h`.
fn group_masks(h: usize, j0: usize) -> [__mmask16; 4] {
    let (m0, m1) = lane_masks(h - j0);
    let (m2, m3) = lane_masks(h.saturating_sub(j0 + NR));
    [m0, m1, m2, m3]
}

/// Adds to `out[..R]` [`dense_dot`]'s sum for `R` rows of `x` (`[R, k]`), summed over `steps`
/// ([`group_sums`]). Each 32 of the 64 columns a pass is folded into the score in the same
/// operations, in the same order, as the 12-row kernel this replaced, so scores are unchanged.
#[target_feature(enable = "avx512f")]
unsafe fn group_kernel<const R: usize>(
    head: &Head<'_>,
    x: *const f32,
    steps: &[u32],
    out: *mut f32,
) {
    for j0 in (0..head.hidden.h).step_by(2 * NR) {
        // SAFETY: forwarded from the caller.
        let acc = unsafe { group_sums::<R>(&head.hidden, x, steps, j0) };
        let masks = group_masks(head.hidden.h, j0);
        for panel in 0..2 {
            let jp = j0 + NR * panel;
            if jp >= head.hidden.h {
                break;
            }
            let (n0, n1) = (masks[2 * panel], masks[2 * panel + 1]);
            // SAFETY: masked lanes read as zero and add nothing; the rest lie inside `bias`
            // and `v`.
            let at = |s: &[f32], mask, off: usize| unsafe {
                _mm512_maskz_loadu_ps(mask, s.as_ptr().wrapping_add(jp + off))
            };
            let bias = [at(head.hidden.bias, n0, 0), at(head.hidden.bias, n1, 16)];
            let weight = [at(head.v, n0, 0), at(head.v, n1, 16)];
            for (r, acc) in acc.iter().enumerate() {
                let mut z = [
                    _mm512_add_ps(acc[2 * panel], bias[0]),
                    _mm512_add_ps(acc[2 * panel + 1], bias[1]),
                ];
                if head.hidden.relu {
                    z = z.map(|z| _mm512_max_ps(z, _mm512_setzero_ps()));
                }
                let share = _mm512_fmadd_ps(z[1], weight[1], _mm512_mul_ps(z[0], weight[0]));
                // SAFETY: the caller gives `out` room for `R` scores.
                unsafe { *out.wrapping_add(r) += _mm512_reduce_add_ps(share) };
            }
        }
    }
}

/// A hidden dense layer on its input rows, `act(x · w + bias)`: the shapes and slice lengths
/// checked by `super::dense_rows` or `super::dense_dot`.
pub(super) struct Hidden<'a> {
    /// `[rows, k]`, row-major.
    pub x: &'a [f32],
    pub k: usize,
    /// `[k, h]`, row-major.
    pub w: &'a [f32],
    pub h: usize,
    /// `[h]`.
    pub bias: &'a [f32],
    pub relu: bool,
}

/// Finds, for each group of [`GROUP`] rows of `x` (`[rows, k]`), the steps along `k` where one
/// of its rows is not zero: group `t`'s are `steps[ends[t - 1]..ends[t]]` (from 0 for the
/// first). `live` (a mask per 16 steps) gets every group's steps ORed in: the tile's.
pub(super) fn find_groups(
    x: &[f32],
    k: usize,
    rows: usize,
    (steps, ends, masks): (&mut Vec<u32>, &mut Vec<u32>, &mut Vec<u16>),
    live: &mut [u16],
) {
    steps.clear();
    ends.clear();
    masks.resize(k.div_ceil(16), 0);
    live.fill(0);
    for t in 0..rows.div_ceil(GROUP) {
        let at = steps.len();
        steps.resize(at + k + 16, 0);
        let n = live_steps(group_rows(x, k, rows, t), k, masks, &mut steps[at..]);
        steps.truncate(at + n);
        ends.push(steps.len() as u32);
        live.iter_mut()
            .zip(masks.iter())
            .for_each(|(l, &m)| *l |= m);
    }
}

/// Calls `f(t, x_t, steps)` for each group `t` of [`find_groups`]' groups of `x`.
fn each_found_group(
    x: &[f32],
    k: usize,
    (steps, ends): (&[u32], &[u32]),
    mut f: impl FnMut(usize, &[f32], &[u32]),
) {
    let rows = x.len() / k;
    let mut start = 0;
    for (t, &end) in ends.iter().enumerate() {
        f(t, group_rows(x, k, rows, t), &steps[start..end as usize]);
        start = end as usize;
    }
}

/// `out = act(bias + x · w)` (`out`: `[rows, h]`) on this thread, each group of [`GROUP`] rows
/// summed over only the steps along `k` where one of its rows is not zero, as [`dense_dot`]
/// does: the product a training tile runs on a ReLU's output. The groups' steps are
/// [`find_groups`]' for the same rows.
pub(super) fn dense_rows(layer: &Hidden<'_>, groups: (&[u32], &[u32]), out: &mut [f32]) {
    let (k, h) = (layer.k, layer.h);
    let rows = out.len() / h;
    each_found_group(&layer.x[..rows * k], k, groups, |t, x, steps| {
        let out = &mut out[t * GROUP * h..][..x.len() / k * h];
        // SAFETY: AVX-512 was detected before this backend was chosen; the caller checked that
        // `x` holds the rows of `k`, `w` holds `k × h` and `bias` `h`; every step is below `k`.
        unsafe {
            by_rows!(
                x.len() / k,
                [4, 3, 2, 1],
                rows_kernel(layer, x.as_ptr(), steps, out.as_mut_ptr())
            )
        }
    });
}

/// Writes `out[..R, ..h]` for [`dense_rows`]: [`group_sums`] plus the bias, then the ReLU.
#[target_feature(enable = "avx512f")]
unsafe fn rows_kernel<const R: usize>(
    layer: &Hidden<'_>,
    x: *const f32,
    steps: &[u32],
    out: *mut f32,
) {
    let h = layer.h;
    for j0 in (0..h).step_by(2 * NR) {
        // SAFETY: forwarded from the caller.
        let acc = unsafe { group_sums::<R>(layer, x, steps, j0) };
        let masks = group_masks(h, j0);
        for (v, &mask) in masks.iter().enumerate() {
            // SAFETY: masked lanes are neither read nor written; the rest lie inside `bias`
            // and row `r` of `out` (the caller gives it `R` rows of `h`).
            unsafe {
                let bias =
                    _mm512_maskz_loadu_ps(mask, layer.bias.as_ptr().wrapping_add(j0 + 16 * v));
                for (r, acc) in acc.iter().enumerate() {
                    let mut z = _mm512_add_ps(acc[v], bias);
                    if layer.relu {
                        z = _mm512_max_ps(z, _mm512_setzero_ps());
                    }
                    _mm512_mask_storeu_ps(out.wrapping_add(r * h + j0 + 16 * v), mask, z);
                }
            }
        }
    }
}

/// `d_kernel += xᵀ · d_z` (`x`: `[rows, k]`, `d_z`: `[rows, h]`, `d_kernel`: `[k, h]`) on this
/// thread, each group of [`GROUP`] rows adding into only the kernel rows of the steps where one
/// of its rows of `x` is not zero: the rows of `x` a ReLU left at zero add nothing to them. The
/// groups' steps are [`find_groups`]' for the same rows.
pub(super) fn add_kernel_grad(
    x: &[f32],
    k: usize,
    groups: (&[u32], &[u32]),
    d_z: &[f32],
    h: usize,
    d_kernel: &mut [f32],
) {
    let rows = d_z.len() / h;
    each_found_group(&x[..rows * k], k, groups, |t, x, steps| {
        let d_z = &d_z[t * GROUP * h..][..x.len() / k * h];
        // SAFETY: AVX-512 was detected before this backend was chosen; the caller checked that
        // `x` holds the rows of `k`, `d_z` the same rows of `h` and `d_kernel` `k × h`; every
        // step is below `k`.
        unsafe {
            by_rows!(
                x.len() / k,
                [4, 3, 2, 1],
                grad_kernel(x.as_ptr(), k, d_z.as_ptr(), h, steps, d_kernel.as_mut_ptr())
            )
        }
    });
}

/// [`add_kernel_grad`] for `R` rows: each step's row of `d_kernel`, 64 columns at a time, gets
/// `Σ_r x[r, p] · d_z[r]` added in row order, the rows of `d_z` held in registers.
#[target_feature(enable = "avx512f")]
unsafe fn grad_kernel<const R: usize>(
    x: *const f32,
    k: usize,
    d_z: *const f32,
    h: usize,
    steps: &[u32],
    d_kernel: *mut f32,
) {
    for j0 in (0..h).step_by(2 * NR) {
        let masks = group_masks(h, j0);
        // SAFETY (all three blocks): masked lanes are neither read nor written; the rest lie
        // inside row `r` of `d_z`, row `p < k` of `d_kernel`, and `x` (the caller's contract).
        let dz: [[__m512; 4]; R] = std::array::from_fn(|r| {
            std::array::from_fn(|v| unsafe {
                _mm512_maskz_loadu_ps(masks[v], d_z.wrapping_add(r * h + j0 + 16 * v))
            })
        });
        for &p in steps {
            let p = p as usize;
            let row = d_kernel.wrapping_add(p * h + j0);
            let mut acc: [__m512; 4] = std::array::from_fn(|v| unsafe {
                _mm512_maskz_loadu_ps(masks[v], row.wrapping_add(16 * v))
            });
            for (r, dz) in dz.iter().enumerate() {
                let xr = _mm512_set1_ps(unsafe { *x.wrapping_add(r * k + p) });
                for (acc, &dz) in acc.iter_mut().zip(dz) {
                    *acc = _mm512_fmadd_ps(xr, dz, *acc);
                }
            }
            for (v, acc) in acc.into_iter().enumerate() {
                unsafe { _mm512_mask_storeu_ps(row.wrapping_add(16 * v), masks[v], acc) };
            }
        }
    }
}

/// Columns of `b` per pass of [`row_chunk`]: eight vectors.
const ROW_CHUNK: usize = 128;

/// [`dense_dot`] for a single row, from [`row_chunk`]'s sums.
#[target_feature(enable = "avx512f")]
unsafe fn head_row(head: &Head<'_>) -> f32 {
    let mut total = _mm512_setzero_ps();
    for j0 in (0..head.hidden.h).step_by(ROW_CHUNK) {
        let nc = ROW_CHUNK.min(head.hidden.h - j0);
        // SAFETY: `x` holds `k` values and `w` `k × h` (checked by the caller).
        let sums = unsafe {
            row_chunk(
                &head.hidden.x[..head.hidden.k],
                head.hidden.w.as_ptr().wrapping_add(j0),
                head.hidden.h,
                nc,
            )
        };
        for (v, z) in sums.into_iter().enumerate().take(nc.div_ceil(16)) {
            let mask = lanes(nc - 16 * v);
            // SAFETY: masked lanes are not read; the rest lie inside `bias` and `v`.
            let (bias, weight) = unsafe {
                let at = |s: &[f32]| s.as_ptr().wrapping_add(j0 + 16 * v);
                (
                    _mm512_maskz_loadu_ps(mask, at(head.hidden.bias)),
                    _mm512_maskz_loadu_ps(mask, at(head.v)),
                )
            };
            let mut z = _mm512_add_ps(z, bias);
            if head.hidden.relu {
                z = _mm512_max_ps(z, _mm512_setzero_ps());
            }
            total = _mm512_fmadd_ps(z, weight, total);
        }
    }
    _mm512_reduce_add_ps(total) + head.v0
}

/// `c = a · b + beta · c` for one row `a` of `k` values and `b` of `k × n`, row-major.
#[target_feature(enable = "avx512f")]
unsafe fn row_times(a: &[f32], b: &[f32], n: usize, beta: f32, c: &mut [f32]) {
    for j0 in (0..n).step_by(ROW_CHUNK) {
        let nc = ROW_CHUNK.min(n - j0);
        // SAFETY: `b` holds `k × n` values (checked by the caller).
        let sums = unsafe { row_chunk(a, b.as_ptr().wrapping_add(j0), n, nc) };
        for (v, sum) in sums.into_iter().enumerate().take(nc.div_ceil(16)) {
            let mask = lanes(nc - 16 * v);
            let cp = c.as_mut_ptr().wrapping_add(j0 + 16 * v);
            // SAFETY: masked lanes are not touched; the rest lie inside `c`.
            unsafe {
                let sum = if beta == 0.0 {
                    sum
                } else {
                    _mm512_fmadd_ps(_mm512_set1_ps(beta), _mm512_maskz_loadu_ps(mask, cp), sum)
                };
                _mm512_mask_storeu_ps(cp, mask, sum);
            }
        }
    }
}

/// `a · b[.., ..nc]` for one row `a` (all of it) and the first `nc ≤ 128` columns of `b`
/// (row stride `rsb`), as eight vectors whose lanes past `nc` are zero. Even and odd steps
/// along `k` go to separate accumulators, so even four vectors keep eight chains of
/// multiply-adds in flight instead of waiting on each other's latency.
#[target_feature(enable = "avx512f")]
unsafe fn row_chunk(a: &[f32], b: *const f32, rsb: usize, nc: usize) -> [__m512; 8] {
    let nv = nc.div_ceil(16);
    let masks: [__mmask16; 8] = std::array::from_fn(|v| lanes(nc.saturating_sub(16 * v)));
    let mut acc = [[_mm512_setzero_ps(); 8]; 2];
    for (p, &x) in a.iter().enumerate() {
        let x = _mm512_set1_ps(x);
        let acc = &mut acc[p % 2];
        let bp = b.wrapping_add(p * rsb);
        for v in 0..8 {
            if v < nv {
                // SAFETY: masked-off lanes are not read; the rest lie inside `b`.
                let bv = unsafe { _mm512_maskz_loadu_ps(masks[v], bp.wrapping_add(16 * v)) };
                acc[v] = _mm512_fmadd_ps(x, bv, acc[v]);
            }
        }
    }
    std::array::from_fn(|v| _mm512_add_ps(acc[0][v], acc[1][v]))
}

/// `c = a · b + beta · c` for a column vector `b` of `k` values, `a` at strides `(rsa, csa)`
/// with one of them 1; written as plain loops the compiler vectorises for AVX-512.
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn matvec(
    m: usize,
    k: usize,
    a: &[f32],
    rsa: usize,
    csa: usize,
    b: &[f32],
    beta: f32,
    c: &mut [f32],
) {
    if csa == 1 {
        // Rows of `a` are contiguous: one dot product per row, in 16 independent lanes.
        for (i, ci) in c.iter_mut().enumerate() {
            let row = &a[i * rsa..i * rsa + k];
            let mut lanes = [0.0f32; 16];
            let (body, tail) = (row.chunks_exact(16), row.len() / 16 * 16);
            for (chunk, bs) in body.zip(b.chunks_exact(16)) {
                for ((l, &x), &y) in lanes.iter_mut().zip(chunk).zip(bs) {
                    *l += x * y;
                }
            }
            let mut sum: f32 = lanes.iter().sum();
            for (x, y) in row[tail..].iter().zip(&b[tail..]) {
                sum += x * y;
            }
            *ci = if beta == 0.0 { sum } else { sum + beta * *ci };
        }
    } else {
        // Columns of `a` are contiguous (`a` holds the transpose): c += b[p] · a[p, ..].
        debug_assert_eq!(rsa, 1);
        for v in c.iter_mut() {
            *v = if beta == 0.0 { 0.0 } else { beta * *v };
        }
        for (p, &bp) in b.iter().enumerate() {
            for (v, &x) in c.iter_mut().zip(&a[p * csa..p * csa + m]) {
                *v += bp * x;
            }
        }
    }
}
