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
//! Each thread keeps its two tile buffers in a thread-local, so a warm call allocates nothing.

use std::cell::Cell;

use super::Dense;
use crate::parallel::{SharedMut, for_each_block};

/// Rows per tile: a multiple of the product kernel's 12-row register tile, small enough that
/// two tiles of 256-wide activations (24 KiB each) stay in L1/L2.
pub const TILE: usize = 24;
/// Batches smaller than this run on the calling thread only.
const PARALLEL_MIN_ROWS: usize = 256;

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

thread_local! {
    /// This thread's two tile buffers (taken out while in use, so re-entry allocates instead).
    static TILES: Cell<(Vec<f32>, Vec<f32>)> = const { Cell::new((Vec::new(), Vec::new())) };
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
    let tasks = if batch >= PARALLEL_MIN_ROWS {
        crate::parallel::tasks()
    } else {
        1
    };
    for_each_block(batch, tasks, &|_, rows| {
        let (mut a, mut b) = TILES.take();
        let widest = later.iter().map(|l| l.units).fold(first.units, usize::max);
        a.resize(TILE * widest, 0.0);
        b.resize(TILE * widest, 0.0);
        for start in rows.clone().step_by(TILE) {
            let end = (start + TILE).min(rows.end);
            // SAFETY: blocks of rows are disjoint, and so are their tiles.
            let dst = unsafe { out.range(start * out_units..end * out_units) };
            tile(first, parts, later, start..end, &mut a, &mut b, dst);
        }
        TILES.set((a, b));
    });
}

/// One tile of rows through every layer, ping-ponging between the buffers `a` and `b`.
fn tile(
    first: &Dense,
    parts: &[Projected<'_>],
    later: &[Dense],
    rows: std::ops::Range<usize>,
    a: &mut [f32],
    b: &mut [f32],
    out: &mut [f32],
) {
    let n = rows.len();
    if later.is_empty() {
        first_layer(first, parts, rows, out);
        return;
    }
    first_layer(first, parts, rows, a);
    let (mut x, mut y) = (a, b);
    for (l, layer) in later.iter().enumerate() {
        if l + 1 == later.len() {
            layer.forward(x, n, out);
        } else {
            layer.forward(x, n, y);
            std::mem::swap(&mut x, &mut y);
        }
    }
}

/// `z[i] = act₁(b₁ + Σ_f projected_f[slot_f(i)])` for the tile's rows.
fn first_layer(
    first: &Dense,
    parts: &[Projected<'_>],
    rows: std::ops::Range<usize>,
    z: &mut [f32],
) {
    let (n, u) = (rows.len(), first.units);
    let z = &mut z[..n * u];
    for (z, i) in z.chunks_exact_mut(u).zip(rows) {
        z.copy_from_slice(&first.bias);
        for part in parts {
            let slot = part.slots.get(i);
            for (z, &p) in z.iter_mut().zip(&part.rows[slot * u..][..u]) {
                *z += p;
            }
        }
    }
    first.activation.forward(z);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Activation;
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
        let first = dense(1, u1, Activation::Relu, 0.1);
        let later = [
            dense(u1, u2, Activation::Relu, 0.2),
            dense(u2, 1, Activation::Linear, 0.3),
        ];
        let user_rows = test_values(3 * u1, 0.4);
        let item_rows = test_values(7 * u1, 0.5);
        for batch in [1, 5, TILE, TILE + 1, 300, 1000] {
            let users: Vec<u32> = (0..batch as u32).map(|i| i * 7 % 3).collect();
            let items: Vec<u32> = (0..batch as u32).map(|i| i * 5 % 7).collect();
            for shared in [false, true] {
                let user_slots = if shared {
                    Which::Shared(2)
                } else {
                    Which::PerExample(&users)
                };
                let parts = [
                    Projected {
                        rows: &user_rows,
                        slots: user_slots,
                    },
                    Projected {
                        rows: &item_rows,
                        slots: Which::PerExample(&items),
                    },
                ];
                let mut h1 = vec![0.0; batch * u1];
                for (i, z) in h1.chunks_exact_mut(u1).enumerate() {
                    let user = if shared { 2 } else { users[i] as usize };
                    for (j, z) in z.iter_mut().enumerate() {
                        let pre = first.bias[j]
                            + user_rows[user * u1 + j]
                            + item_rows[items[i] as usize * u1 + j];
                        *z = pre.max(0.0);
                    }
                }
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
