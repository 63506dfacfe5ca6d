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

use crate::layers::SparseGrad;
use crate::pages::filled;

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
        match self {
            Optimizer::Sgd(o) => o.update(w, g),
            Optimizer::Adagrad(o) => o.update(w, g, &mut slots.first),
            Optimizer::Adam(o) => {
                let alpha = o.step_size(step);
                o.update(alpha, w, g, &mut slots.first, &mut slots.second)
            }
        }
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
        let alpha = match self {
            Optimizer::Adam(o) => o.step_size(step),
            _ => 0.0,
        };
        use crate::simd::{PREFETCH_ROWS, prefetch};
        for (i, (&row, g)) in rows.iter().zip(values.chunks_exact(dim)).enumerate() {
            if let Some(&ahead) = rows.get(i + PREFETCH_ROWS) {
                let at = ahead as usize * dim;
                prefetch(table, at, dim);
                prefetch(&slots.first, at, dim);
                prefetch(&slots.second, at, dim);
            }
            let r = row as usize * dim..(row as usize + 1) * dim;
            let w = &mut table[r.clone()];
            match self {
                Optimizer::Sgd(o) => o.update(w, g),
                Optimizer::Adagrad(o) => o.update(w, g, &mut slots.first[r]),
                Optimizer::Adam(o) => o.update(
                    alpha,
                    w,
                    g,
                    &mut slots.first[r.clone()],
                    &mut slots.second[r],
                ),
            }
        }
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
