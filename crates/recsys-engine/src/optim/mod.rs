//! Optimizers with Keras's exact update rules, for dense tensors and for sparse embedding rows.
//!
//! One [`Optimizer`] value holds the hyperparameters; each parameter tensor owns its [`Slots`]
//! (Adagrad's accumulator, Adam's moments). Dense parameters update with
//! [`Optimizer::update_dense`]; embedding tables update only the rows a batch touched with
//! [`Optimizer::update_rows`].
//!
//! Sparse semantics: SGD and Adagrad leave an untouched row exactly as Keras does (unchanged), so
//! sparse updates are exact. Keras's Adam decays *every* row's moments each step; recsys's Adam
//! updates only touched rows of an embedding (the "lazy Adam" of TensorFlow Addons), which keeps
//! the cost proportional to the batch. Dense layers follow Keras's Adam exactly.

mod adagrad;
mod adam;
mod sgd;

pub use adagrad::Adagrad;
pub use adam::Adam;
pub use sgd::Sgd;

use std::ops::Range;

use crate::layers::SparseGrad;
use crate::pages::filled;
use crate::parallel::{SharedMut, for_each_block};
use crate::simd::PREFETCH_ROWS;
use crate::tower::{LookupProjection, lookup_dense::MAX_LOOKUPS};

/// One embedding table's share of a step's sparse update ([`Optimizer::update_lookups`]): the
/// lookup that holds its distinct rows and their gradients, the table and its optimizer state.
pub struct TableUpdate<'a> {
    /// The lookup, after its backward pass.
    pub lookup: &'a LookupProjection,
    /// The table, `[rows, lookup.dim()]`.
    pub table: &'a mut [f32],
    /// The table's optimizer state.
    pub slots: &'a mut Slots,
}

/// One table's rows to update, their gradients, and the table and its slots as parallel
/// blocks share them ([`Optimizer::update_lookups`]; [`Optimizer::update_rows`] on one thread).
struct SharedRows<'a> {
    rows: &'a [u32],
    values: &'a [f32],
    dim: usize,
    table: SharedMut<'a>,
    first: SharedMut<'a>,
    second: SharedMut<'a>,
}

impl<'a> SharedRows<'a> {
    /// `rows` of `table` (row width `dim`), their gradients `values` and `slots`, shared.
    fn new(
        rows: &'a [u32],
        values: &'a [f32],
        dim: usize,
        table: &'a mut [f32],
        slots: &'a mut Slots,
    ) -> Self {
        SharedRows {
            rows,
            values,
            dim,
            table: SharedMut::new(table),
            first: SharedMut::new(&mut slots.first),
            second: SharedMut::new(&mut slots.second),
        }
    }
}

/// Row `r` of a slot shared between parallel blocks, or nothing where the optimizer keeps no
/// such slot (SGD's, Adagrad's second).
///
/// # Safety
/// As [`SharedMut::range`]: no other view of the same elements may be alive.
#[allow(clippy::mut_from_ref)]
unsafe fn shared_slot_rows<'a>(v: &'a SharedMut<'_>, r: Range<usize>) -> &'a mut [f32] {
    // SAFETY: forwarded from the caller.
    if v.is_empty() {
        &mut []
    } else {
        unsafe { v.range(r) }
    }
}

/// Fewer rows than this are updated on the calling thread only.
const PARALLEL_MIN_ROWS: usize = 1024;

/// Per-parameter optimizer state, shaped like the parameter (Adam uses both slots, Adagrad one).
#[derive(Debug, Clone, PartialEq)]
pub struct Slots {
    /// First slot: Adagrad's accumulator, Adam's first moment.
    pub first: Vec<f32>,
    /// Second slot: Adam's second moment; empty otherwise.
    pub second: Vec<f32>,
}

/// The optimizers recsys trains with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Optimizer {
    /// Plain gradient descent, `w -= lr · g` (Keras `SGD` without momentum).
    Sgd(Sgd),
    /// Keras `Adagrad`, the TFRS ranking tutorial's optimizer.
    Adagrad(Adagrad),
    /// Keras `Adam` (lazy on embedding rows, see the module doc).
    Adam(Adam),
}

impl Optimizer {
    /// The learning rate.
    pub fn learning_rate(&self) -> f32 {
        match self {
            Optimizer::Sgd(o) => o.learning_rate,
            Optimizer::Adagrad(o) => o.learning_rate,
            Optimizer::Adam(o) => o.learning_rate,
        }
    }

    /// The same optimizer with another learning rate (a schedule's step; the state in its
    /// [`Slots`] is untouched).
    pub fn with_learning_rate(self, learning_rate: f32) -> Self {
        match self {
            Optimizer::Sgd(_) => Optimizer::Sgd(Sgd { learning_rate }),
            Optimizer::Adagrad(o) => Optimizer::Adagrad(Adagrad { learning_rate, ..o }),
            Optimizer::Adam(o) => Optimizer::Adam(Adam { learning_rate, ..o }),
        }
    }

    /// Fresh state for a parameter of `len` values.
    pub fn slots(&self, len: usize) -> Slots {
        match self {
            Optimizer::Sgd(_) => Slots {
                first: Vec::new(),
                second: Vec::new(),
            },
            Optimizer::Adagrad(o) => Slots {
                first: filled(len, o.initial_accumulator_value),
                second: Vec::new(),
            },
            Optimizer::Adam(_) => Slots {
                first: filled(len, 0.0),
                second: filled(len, 0.0),
            },
        }
    }

    /// Applies one update to a dense parameter. `step` counts updates from 1 (Adam's bias
    /// correction needs it).
    pub fn update_dense(&self, step: u64, w: &mut [f32], g: &[f32], slots: &mut Slots) {
        let alpha = self.step_size(step);
        self.update_row(alpha, w, g, &mut slots.first, &mut slots.second);
    }

    /// Applies one update to the rows of `table` that `grad` touched.
    pub fn update_sparse(
        &self,
        step: u64,
        table: &mut [f32],
        grad: &SparseGrad,
        slots: &mut Slots,
    ) {
        self.update_rows(step, table, grad.dim(), grad.rows(), grad.values(), slots)
    }

    /// Applies one update to the distinct rows each lookup of a step touched
    /// ([`LookupProjection::rows`], gradients [`LookupProjection::row_grads`]), in each
    /// lookup's table: [`update_rows`](Self::update_rows) for all of them at once, their rows
    /// split evenly across cores. A batch of a 10-million-user set names 8,000 distinct users
    /// and 3,400 items; one core per table left the user table's core with twice the work.
    /// Rows are distinct within a table, so no two cores touch the same memory, and each row's
    /// update is the same as alone.
    ///
    /// # Panics
    /// If a table or its slots are shorter than a row needs, or more than
    /// [`MAX_LOOKUPS`] tables are given.
    pub fn update_lookups(&self, step: u64, updates: &mut [TableUpdate<'_>]) {
        assert!(updates.len() <= MAX_LOOKUPS, "at most {MAX_LOOKUPS} tables");
        let alpha = self.step_size(step);
        let total: usize = updates.iter().map(|u| u.lookup.rows().len()).sum();
        let mut shared: [Option<SharedRows<'_>>; MAX_LOOKUPS] = Default::default();
        for (s, u) in shared.iter_mut().zip(updates.iter_mut()) {
            let (rows, values) = (u.lookup.rows(), u.lookup.row_grads());
            *s = Some(SharedRows::new(
                rows,
                values,
                u.lookup.dim(),
                u.table,
                u.slots,
            ));
        }
        let tasks = if total >= PARALLEL_MIN_ROWS {
            crate::parallel::tasks()
        } else {
            1
        };
        for_each_block(total, tasks, &|_, block| {
            let mut offset = 0;
            for s in shared.iter().flatten() {
                let n = s.rows.len();
                let lo = block.start.clamp(offset, offset + n) - offset;
                let hi = block.end.clamp(offset, offset + n) - offset;
                // SAFETY: the rows of one table are distinct, and blocks take disjoint
                // ranges of them.
                unsafe { self.update_shared(alpha, s, lo..hi) };
                offset += n;
            }
        });
    }

    /// Updates rows `range` of `s.rows` (see [`update_lookups`](Self::update_lookups)).
    ///
    /// # Safety
    /// No other thread may update the same rows of the same table at the same time.
    unsafe fn update_shared(&self, alpha: f32, s: &SharedRows<'_>, range: Range<usize>) {
        let d = s.dim;
        for i in range.clone() {
            if let Some(&ahead) = s.rows[..range.end].get(i + PREFETCH_ROWS) {
                let at = ahead as usize * d..(ahead as usize + 1) * d;
                s.table.prefetch(at.clone());
                s.first.prefetch(at.clone());
                s.second.prefetch(at);
            }
            let r = s.rows[i] as usize * d..(s.rows[i] as usize + 1) * d;
            let g = &s.values[i * d..][..d];
            // SAFETY: forwarded from the caller.
            let (w, first, second) = unsafe {
                (
                    s.table.range(r.clone()),
                    shared_slot_rows(&s.first, r.clone()),
                    shared_slot_rows(&s.second, r),
                )
            };
            self.update_row(alpha, w, g, first, second);
        }
    }

    /// Adam's step size at `step` (0 for the others, which do not use it).
    fn step_size(&self, step: u64) -> f32 {
        match self {
            Optimizer::Adam(o) => o.step_size(step),
            _ => 0.0,
        }
    }

    /// One row's update: weights `w`, gradient `g`, its slots' rows `first` and `second`.
    fn update_row(
        &self,
        alpha: f32,
        w: &mut [f32],
        g: &[f32],
        first: &mut [f32],
        second: &mut [f32],
    ) {
        match self {
            Optimizer::Sgd(o) => o.update(w, g),
            Optimizer::Adagrad(o) => o.update(w, g, first),
            Optimizer::Adam(o) => o.update(alpha, w, g, first, second),
        }
    }

    /// Applies one update to rows `rows` of `table` (row width `dim`), whose gradients are
    /// `values` (`[rows.len(), dim]`); other rows are left untouched.
    pub fn update_rows(
        &self,
        step: u64,
        table: &mut [f32],
        dim: usize,
        rows: &[u32],
        values: &[f32],
        slots: &mut Slots,
    ) {
        let alpha = self.step_size(step);
        let shared = SharedRows::new(rows, values, dim, table, slots);
        // SAFETY: this thread alone holds the table and its slots, and updates one row at a
        // time.
        unsafe { self.update_shared(alpha, &shared, 0..rows.len()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_rows_update_as_the_dense_rule_would_on_those_rows_only() {
        let opts = [
            Optimizer::Sgd(Sgd { learning_rate: 0.1 }),
            Optimizer::Adagrad(Adagrad::keras(0.1)),
            Optimizer::Adam(Adam::keras(0.01)),
        ];
        for opt in opts {
            let (rows, dim) = (4, 2);
            let table: Vec<f32> = (0..8).map(|v| v as f32 * 0.1).collect();
            let mut grad = SparseGrad::new(rows, dim, 2);
            grad.accumulate(&[2, 0], &[0.5, -0.25, 1.0, 2.0], dim, 0);

            let mut sparse = table.clone();
            let mut s_slots = opt.slots(sparse.len());
            opt.update_sparse(1, &mut sparse, &grad, &mut s_slots);

            // The same update, row by row, with the dense rule.
            let mut dense = table.clone();
            let mut d_slots = opt.slots(dense.len());
            let mut g = vec![0.0; 8];
            g[4..6].copy_from_slice(&[0.5, -0.25]);
            g[0..2].copy_from_slice(&[1.0, 2.0]);
            opt.update_dense(1, &mut dense, &g, &mut d_slots);

            assert_eq!(&sparse[2..4], &table[2..4], "{opt:?}: untouched row moved");
            assert_eq!(&sparse[6..8], &table[6..8], "{opt:?}: untouched row moved");
            for r in [0..2, 4..6] {
                assert_eq!(&sparse[r.clone()], &dense[r], "{opt:?}");
            }
        }
    }
}
