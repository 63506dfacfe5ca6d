//! `L2`: a weight-decay penalty on the embedding rows a batch looks up.
//!
//! Ranking, rating prediction: the `λ(‖p_u‖² + ‖q_i‖² + b_u² + b_i²)` term of biased matrix
//! factorization (Koren, Bell & Volinsky 2009, eq. 5), applied per example as Funk's SGD and
//! Surprise's `SVD` apply it, so a row is penalised as often as it is used. Keras reports such
//! penalties as `regularization_loss`; here the penalty of a batch is its mean over the batch,
//! comparable to the MSE beside it.

use super::{Embedding, SparseGrad};

/// `weight / 2 · ‖row‖²` per lookup (the gradient `weight · row` matches Surprise's update).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct L2 {
    /// The penalty's coefficient (`λ`); 0 turns it off.
    pub weight: f32,
}

impl L2 {
    /// The mean penalty over the lookups `ids` of `table`, and, scaled by `grad_scale`, its
    /// gradient added to each example's row gradient `d[i * dim ..][..dim]`.
    ///
    /// `grad_scale` is the factor the loss's own gradient carries (`1 / batch` for a mean), so
    /// that `loss + penalty` is the objective whose gradient lands in `d`.
    pub fn apply(&self, table: &Embedding, ids: &[u32], grad_scale: f32, d: &mut [f32]) -> f64 {
        if self.weight == 0.0 || ids.is_empty() {
            return 0.0;
        }
        let dim = table.dim;
        let mut sum = 0.0f64;
        for (b, &id) in ids.iter().enumerate() {
            let row = table.row(id);
            for (g, &w) in d[b * dim..(b + 1) * dim].iter_mut().zip(row) {
                *g += grad_scale * self.weight * w;
                sum += (w as f64) * (w as f64);
            }
        }
        0.5 * self.weight as f64 * sum / ids.len() as f64
    }
}

impl L2 {
    /// Weight decay on the rows a batch used, once per distinct row whatever the number of
    /// lookups (the form for mean-pooled features, whose per-lookup share of a row varies):
    /// adds `weight · row` to each touched row's gradient in `grad` and returns the penalty
    /// `weight / 2 · Σ ‖row‖²` over those rows.
    pub fn apply_rows(&self, table: &Embedding, grad: &mut SparseGrad) -> f64 {
        if self.weight == 0.0 {
            return 0.0;
        }
        let dim = table.dim;
        let (rows, values) = grad.rows_and_values_mut();
        let mut sum = 0.0f64;
        for (g, &r) in values.chunks_exact_mut(dim).zip(rows) {
            for (g, &w) in g.iter_mut().zip(table.row(r)) {
                *g += self.weight * w;
                sum += (w as f64) * (w as f64);
            }
        }
        0.5 * self.weight as f64 * sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_gradient, test_values};
    use crate::layers::SparseGrad;

    #[test]
    fn penalty_is_half_lambda_squared_norm_per_lookup() {
        let t = Embedding {
            table: vec![0.0, 0.0, 1.0, 2.0],
            rows: 2,
            dim: 2,
        };
        let mut d = vec![0.0; 4];
        let p = L2 { weight: 0.1 }.apply(&t, &[1, 0], 1.0, &mut d);
        assert!((p - 0.5 * 0.1 * 5.0 / 2.0).abs() < 1e-7, "{p}");
        assert_eq!(d, vec![0.1, 0.2, 0.0, 0.0]);
        assert_eq!(L2 { weight: 0.0 }.apply(&t, &[1], 1.0, &mut d), 0.0);
    }

    #[test]
    fn row_decay_counts_each_touched_row_once_and_matches_finite_differences() {
        let (rows, dim) = (4, 2);
        let ids = [2u32, 0, 2];
        let l2 = L2 { weight: 0.3 };
        let t = Embedding {
            table: test_values(rows * dim, 0.7),
            rows,
            dim,
        };
        let mut g = SparseGrad::new(rows, dim, ids.len());
        g.accumulate(&ids, &[0.0; 6], dim, 0);
        let penalty = l2.apply_rows(&t, &mut g);
        let mut dense = vec![0.0; rows * dim];
        for (slot, &row) in g.rows().iter().enumerate() {
            dense[row as usize * dim..][..dim].copy_from_slice(&g.values()[slot * dim..][..dim]);
        }
        let loss = |x: &[f32]| {
            let sq = |r: usize| (x[r * dim] as f64).powi(2) + (x[r * dim + 1] as f64).powi(2);
            0.15 * (sq(0) + sq(2))
        };
        assert!((penalty - loss(&t.table)).abs() < 1e-6);
        check_gradient("row decay", &mut t.table.clone(), &dense, loss);
        assert_eq!(L2 { weight: 0.0 }.apply_rows(&t, &mut g), 0.0);
    }

    #[test]
    fn gradient_matches_finite_differences_with_repeated_rows() {
        let (rows, dim) = (3, 2);
        let ids = [2u32, 0, 2];
        let l2 = L2 { weight: 0.3 };
        let mut t = Embedding {
            table: test_values(rows * dim, 0.5),
            rows,
            dim,
        };
        // The penalty is a mean over lookups: scale the gradient by 1 / lookups to match.
        let scale = 1.0 / ids.len() as f32;
        let mut d = vec![0.0; ids.len() * dim];
        l2.apply(&t, &ids, scale, &mut d);
        let mut g = SparseGrad::new(rows, dim, ids.len());
        g.accumulate(&ids, &d, dim, 0);
        let mut dense = vec![0.0; rows * dim];
        for (slot, &row) in g.rows().iter().enumerate() {
            dense[row as usize * dim..][..dim].copy_from_slice(&g.values()[slot * dim..][..dim]);
        }
        let mut params = t.table.clone();
        check_gradient("l2", &mut params, &dense, |x| {
            t.table.copy_from_slice(x);
            let mut scratch = vec![0.0; ids.len() * dim];
            l2.apply(&t, &ids, 1.0, &mut scratch)
        });
    }
}
