//! Inference through the whole tower a few rows at a time, so activations never leave the cache.
//!
//! Evaluation and serving run the same layers as training, but keep nothing for a backward pass.
//! Layer by layer over a whole batch, every activation matrix (20,000 × 256 floats for the
//! tutorial's test set: 20 MB) is written to memory and read back by the next product, and the
//! products run at memory speed. Here each block of [`TILE`] rows goes through every layer
//! before the next block starts: its activations (at most `TILE × widest layer` floats) stay in
//! L1/L2 and the products run at the speed of the FMA units. The first layer arrives already
//! projected per distinct id ([`LookupProjection`](super::LookupProjection), or the serving
//! path's precomputed item half), so a row's first activation is a sum of a few projected rows.
//!
//! When the tower ends in a hidden layer and a one-unit linear rating layer (the tutorial's
//! 256 → 64 → 1), those two run as one fused pass ([`dense_dot`]) that never writes the hidden
//! activations at all.
//!
//! Each thread keeps its tile buffers in a thread-local, so a warm call allocates nothing.

use std::cell::Cell;

use crate::layers::{Activation, Dense};
use crate::matmul::{DenseDot, dense_dot};
use crate::parallel::{SharedMut, for_each_block};
use crate::simd::{PREFETCH_ROWS, add_assign, elementwise, prefetch};

/// Rows per tile: a multiple of the product kernel's 12-row register tile, small enough that
/// two tiles of 256-wide activations (48 KiB each) stay in L2, large enough that each panel of
/// a layer's kernel, once in L1, serves four register tiles.
pub const TILE: usize = 48;
/// Batches smaller than this run on the calling thread only, when it is one of rayon's
/// workers (training, evaluation): a split costs a `join` on a warm pool, and 100 candidates
/// (one serving request) already gain from the second core.
const PARALLEL_MIN_ROWS: usize = 64;
/// The same, for a caller outside rayon's pool (a server's request thread): handing work to the
/// pool from outside wakes a worker and puts the caller to sleep on a lock until it is done,
/// which costs more than a small request's scoring; concurrent requests keep the cores busy.
const COLD_PARALLEL_MIN_ROWS: usize = 512;

/// Which projected row each example adds in: its own, or one row shared by the whole batch.
#[derive(Debug, Clone, Copy)]
pub enum Which<'a> {
    /// Example `i` adds row `slots[i]`.
    PerExample(&'a [u32]),
    /// Every example adds the same row (one user scored against many items).
    Shared(u32),
    /// Example `i` adds row `i` (rows projected per example, not per distinct id).
    Own,
}

/// One lookup's share of the first layer: projected rows `[rows, units]` and who uses which.
#[derive(Debug, Clone, Copy)]
pub struct Projected<'a> {
    /// `[rows, first.units]`, row-major: each distinct id's `embedding · kernel block`.
    pub rows: &'a [f32],
    /// Which row each example adds.
    pub slots: Which<'a>,
}

impl Which<'_> {
    fn get(&self, i: usize) -> usize {
        match *self {
            Which::PerExample(s) => s[i] as usize,
            Which::Shared(r) => r as usize,
            Which::Own => i,
        }
    }
}

/// A thread's working memory: two tiles of activations and the first layer's shared row.
#[derive(Default)]
struct Buffers {
    a: Vec<f32>,
    b: Vec<f32>,
    /// `b₁ + Σ` the rows every example shares ([`Which::Shared`]), computed once per call.
    base: Vec<f32>,
}

thread_local! {
    /// This thread's buffers (taken out while in use, so re-entry allocates instead).
    static BUFFERS: Cell<Option<Buffers>> = const { Cell::new(None) };
}

/// `out = later(act₁(b₁ + Σ_f projected_f[slot_f(i)]))` for `batch` examples: `first`
/// supplies the first layer's bias and activation (its kernel is already inside `parts`),
/// `later` are the layers after it (possibly none), `out` is `[batch, last units]`.
///
/// # Panics
/// If the layers' widths do not chain, or a slot or `out` is out of range.
pub fn forward_tiled(
    first: &Dense,
    parts: &[Projected<'_>],
    later: &[Dense],
    batch: usize,
    out: &mut [f32],
) {
    let mut width = first.units;
    for layer in later {
        assert_eq!(layer.input_dim, width, "layer widths must chain");
        width = layer.units;
    }
    let out_units = width;
    let out = SharedMut::new(&mut out[..batch * out_units]);
    let min_rows = match rayon::current_thread_index() {
        Some(_) => PARALLEL_MIN_ROWS,
        None => COLD_PARALLEL_MIN_ROWS,
    };
    let tasks = if batch >= min_rows {
        crate::parallel::tasks()
    } else {
        1
    };
    for_each_block(batch, tasks, &|_, rows| {
        let mut buf = BUFFERS.take().unwrap_or_default();
        let widest = later.iter().map(|l| l.units).fold(first.units, usize::max);
        buf.a.resize(TILE * widest, 0.0);
        buf.b.resize(TILE * widest, 0.0);
        shared_base(first, parts, &mut buf.base);
        for start in rows.clone().step_by(TILE) {
            let end = (start + TILE).min(rows.end);
            // SAFETY: blocks of rows are disjoint, and so are their tiles.
            let dst = unsafe { out.range(start * out_units..end * out_units) };
            let first = FirstLayer {
                first,
                parts,
                base: &buf.base,
                accumulate: false,
            };
            tile(&first, later, start..end, &mut buf.a, &mut buf.b, dst);
        }
        BUFFERS.set(Some(buf));
    });
}

/// The first layer of a tile: its pre-activation is `base` plus the per-example parts' rows
/// (plus what the tile's rows already hold, when `accumulate`).
pub(super) struct FirstLayer<'a> {
    pub(super) first: &'a Dense,
    pub(super) parts: &'a [Projected<'a>],
    pub(super) base: &'a [f32],
    /// Whether the output rows already hold a share of the pre-activation (the training
    /// tiles' own product on the lookups they take per example), which the sum adds to.
    pub(super) accumulate: bool,
}

/// `base = b₁ + Σ` of the rows that every example shares: added once per call instead of once
/// per example (scoring many candidates for one user shares the user's row).
pub(super) fn shared_base(first: &Dense, parts: &[Projected<'_>], base: &mut Vec<f32>) {
    let u = first.units;
    base.clear();
    base.extend_from_slice(&first.bias);
    for part in parts {
        if let Which::Shared(row) = part.slots {
            let row = &part.rows[row as usize * u..][..u];
            base.iter_mut().zip(row).for_each(|(b, &p)| *b += p);
        }
    }
}

/// One tile of rows through every layer, ping-ponging between the buffers `a` and `b`.
fn tile(
    first: &FirstLayer<'_>,
    later: &[Dense],
    rows: std::ops::Range<usize>,
    a: &mut [f32],
    b: &mut [f32],
    out: &mut [f32],
) {
    let n = rows.len();
    if later.is_empty() {
        first_layer(first, rows, out);
        return;
    }
    first_layer(first, rows, a);
    let (mut x, mut y) = (a, b);
    for (l, layer) in later.iter().enumerate() {
        if l + 2 == later.len() && fused_head(layer, &later[l + 1], x, &mut out[..n]) {
            return;
        }
        if l + 1 == later.len() {
            layer.forward(x, n, out);
        } else {
            layer.forward(x, n, y);
            std::mem::swap(&mut x, &mut y);
        }
    }
}

/// Runs `hidden` then `last` on `x` (`[out.len(), hidden.input_dim]`) in one fused pass when
/// `last` is a linear one-unit rating layer and the engine's kernel is in use; `false` if not.
fn fused_head(hidden: &Dense, last: &Dense, x: &[f32], out: &mut [f32]) -> bool {
    let relu = match hidden.activation {
        Activation::Relu => true,
        Activation::Linear => false,
    };
    if last.units != 1 || last.activation != Activation::Linear {
        return false;
    }
    let layers = DenseDot {
        kernel: &hidden.kernel,
        bias: &hidden.bias,
        relu,
        out_kernel: &last.kernel,
        out_bias: last.bias[0],
    };
    dense_dot(x, hidden.input_dim, &layers, out)
}

elementwise! {
/// `z[i] = act₁(base + Σ_f projected_f[slot_f(i)])` over the per-example parts, for the tile's
/// rows (plus what `z` holds, when `layer.accumulate`).
pub(super) fn first_layer(layer: &FirstLayer<'_>, rows: std::ops::Range<usize>, z: &mut [f32]) {
    match (layer.first.activation, layer.accumulate) {
        (Activation::Relu, false) => each_example::<true, false>(layer, rows, z),
        (Activation::Relu, true) => each_example::<true, true>(layer, rows, z),
        (Activation::Linear, false) => each_example::<false, false>(layer, rows, z),
        (Activation::Linear, true) => each_example::<false, true>(layer, rows, z),
    }
}
}

/// [`first_layer`] for one activation and `accumulate`, known at compile time so that the
/// common case ([`one_pass`]) is one loop.
#[inline(always)]
fn each_example<const RELU: bool, const ACCUMULATE: bool>(
    layer: &FirstLayer<'_>,
    rows: std::ops::Range<usize>,
    z: &mut [f32],
) {
    let (n, u) = (rows.len(), layer.first.units);
    let z = &mut z[..n * u];
    let varying = || {
        layer
            .parts
            .iter()
            .filter(|p| !matches!(p.slots, Which::Shared(_)))
    };
    let end = rows.end;
    for (z, i) in z.chunks_exact_mut(u).zip(rows) {
        // The rows a few examples ahead: projected tables larger than L2 (evaluation's) are
        // read in the examples' order, which no hardware prefetcher predicts.
        if i + PREFETCH_ROWS < end {
            for p in varying() {
                prefetch(p.rows, p.slots.get(i + PREFETCH_ROWS) * u, u);
            }
        }
        let mut parts = varying().map(|p| &p.rows[p.slots.get(i) * u..][..u]);
        let (p, q) = (parts.next(), parts.next());
        if parts.next().is_none() {
            one_pass::<RELU, ACCUMULATE>(z, layer.base, p, q);
            continue;
        }
        // More than two per-example parts: one pass per part.
        let mut parts = varying().map(|p| &p.rows[p.slots.get(i) * u..][..u]);
        one_pass::<false, ACCUMULATE>(z, layer.base, parts.next(), None);
        for row in parts {
            add_assign(z, row);
        }
        layer.first.activation.forward(z);
    }
}

/// One example's first-layer output, for up to two per-example rows `p` and `q`, in a single
/// pass over its units: `z = act([z +] (base + p) + q)`, summed in the same order as the pass
/// per part that [`each_example`] keeps for more parts (so the outputs are the same bits).
/// Reading and writing `z` once, instead of once per part and once more for the activation,
/// made evaluating the tutorial's test set 8% faster on one core.
#[inline(always)]
fn one_pass<const RELU: bool, const ACCUMULATE: bool>(
    z: &mut [f32],
    base: &[f32],
    p: Option<&[f32]>,
    q: Option<&[f32]>,
) {
    let act = |v: f32| if RELU { v.max(0.0) } else { v };
    let start = |z: f32, s: f32| if ACCUMULATE { z + s } else { s };
    let base = &base[..z.len()];
    match (p, q) {
        (None, _) => z
            .iter_mut()
            .zip(base)
            .for_each(|(z, &b)| *z = act(start(*z, b))),
        (Some(p), None) => z
            .iter_mut()
            .zip(base.iter().zip(p))
            .for_each(|(z, (&b, &p))| *z = act(start(*z, b + p))),
        (Some(p), Some(q)) => z
            .iter_mut()
            .zip(base.iter().zip(p).zip(q))
            .for_each(|(z, ((&b, &p), &q))| *z = act(start(*z, b + p) + q)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::test_values;

    fn dense(input_dim: usize, units: usize, activation: Activation, seed: f32) -> Dense {
        Dense {
            kernel: test_values(input_dim * units, seed),
            bias: test_values(units, seed + 0.05),
            input_dim,
            units,
            activation,
        }
    }

    /// Tiled, in parallel, with per-example and shared slots, against the layers run one after
    /// another on the whole batch; batches that end mid-tile and ones big enough to be split.
    #[test]
    fn equals_the_layers_run_one_by_one() {
        let (u1, u2) = (40, 24);
        for activation in [Activation::Relu, Activation::Linear] {
            for third in [false, true] {
                check_against_layers(dense(1, u1, activation, 0.1), u2, third);
            }
        }
    }

    /// [`forward_tiled`] against the layers one by one, for a first layer `first` of `u1`
    /// units, with a third per-example part if `third`.
    fn check_against_layers(first: Dense, u2: usize, third: bool) {
        let u1 = first.units;
        let later = [
            dense(u1, u2, Activation::Relu, 0.2),
            dense(u2, 1, Activation::Linear, 0.3),
        ];
        let user_rows = test_values(3 * u1, 0.4);
        let item_rows = test_values(7 * u1, 0.5);
        let genre_rows = test_values(2 * u1, 0.6);
        for batch in [1, 5, TILE, TILE + 1, 300, 1000] {
            let users: Vec<u32> = (0..batch as u32).map(|i| i * 7 % 3).collect();
            let items: Vec<u32> = (0..batch as u32).map(|i| i * 5 % 7).collect();
            let genres: Vec<u32> = (0..batch as u32).map(|i| i % 2).collect();
            for shared in [false, true] {
                let user_slots = if shared {
                    Which::Shared(2)
                } else {
                    Which::PerExample(&users)
                };
                let mut parts = vec![
                    Projected {
                        rows: &user_rows,
                        slots: user_slots,
                    },
                    Projected {
                        rows: &item_rows,
                        slots: Which::PerExample(&items),
                    },
                ];
                if third {
                    parts.push(Projected {
                        rows: &genre_rows,
                        slots: Which::PerExample(&genres),
                    });
                }
                let mut h1 = vec![0.0; batch * u1];
                for (i, z) in h1.chunks_exact_mut(u1).enumerate() {
                    let user = if shared { 2 } else { users[i] as usize };
                    for (j, z) in z.iter_mut().enumerate() {
                        let mut pre = first.bias[j]
                            + user_rows[user * u1 + j]
                            + item_rows[items[i] as usize * u1 + j];
                        if third {
                            pre += genre_rows[genres[i] as usize * u1 + j];
                        }
                        *z = pre;
                    }
                }
                first.activation.forward(&mut h1);
                let mut h2 = vec![0.0; batch * u2];
                later[0].forward(&h1, batch, &mut h2);
                let mut want = vec![0.0; batch];
                later[1].forward(&h2, batch, &mut want);

                let mut got = vec![f32::NAN; batch + 1];
                forward_tiled(&first, &parts, &later, batch, &mut got);
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert!((g - w).abs() < 1e-5, "batch {batch} row {i}: {g} vs {w}");
                }
                assert!(got[batch].is_nan(), "wrote past the batch");
            }
        }
    }
}
