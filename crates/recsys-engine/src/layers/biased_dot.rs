//! `BiasedDot`: the rating of biased matrix factorization, `g + b_u + b_i + ⟨p_u, q_i⟩`.
//!
//! Ranking, rating prediction: the "SVD" of the Netflix Prize (Koren, Bell & Volinsky, "Matrix
//! Factorization Techniques for Recommender Systems", IEEE Computer 2009, eq. 4), Surprise's
//! `SVD`. The layer reads the factor and bias tables directly (no gathered copy) and writes,
//! per example, the gradient of each looked-up row; [`SparseGrad::accumulate`] then sums the
//! rows a batch shares.
//!
//! [`SparseGrad::accumulate`]: super::SparseGrad::accumulate

use super::Embedding;

/// The four tables of a biased factorization: user and item factors (`dim` wide) and user and
/// item biases (`dim` 1), plus the global bias.
#[derive(Debug, Clone, Copy)]
pub struct BiasedDot<'a> {
    /// `p_u`, one row per user.
    pub user_factors: &'a Embedding,
    /// `q_i`, one row per item.
    pub item_factors: &'a Embedding,
    /// `b_u`, one value per user.
    pub user_bias: &'a Embedding,
    /// `b_i`, one value per item.
    pub item_bias: &'a Embedding,
    /// `g`, the global bias (the training mean, typically).
    pub global: f32,
}

/// Per-example gradients of [`BiasedDot::backward`], sized once for the largest batch.
#[derive(Debug, Clone, PartialEq)]
pub struct BiasedDotGrads {
    /// `[batch, dim]`: d loss / d p_u for each example's user row.
    pub user_factors: Vec<f32>,
    /// `[batch, dim]`: d loss / d q_i for each example's item row.
    pub item_factors: Vec<f32>,
    /// `[batch]`: d loss / d b_u.
    pub user_bias: Vec<f32>,
    /// `[batch]`: d loss / d b_i.
    pub item_bias: Vec<f32>,
}

impl BiasedDotGrads {
    /// Buffers for batches of up to `capacity` examples of `dim`-wide factors.
    pub fn new(capacity: usize, dim: usize) -> Self {
        BiasedDotGrads {
            user_factors: vec![0.0; capacity * dim],
            item_factors: vec![0.0; capacity * dim],
            user_bias: vec![0.0; capacity],
            item_bias: vec![0.0; capacity],
        }
    }
}

impl BiasedDot<'_> {
    /// Width of the factors.
    pub fn dim(&self) -> usize {
        self.user_factors.dim
    }

    /// The prediction for one `(user row, item row)` pair; the dot product sums in `f32`, in
    /// order, so the same tables always give the same bits.
    pub fn predict_one(&self, user: u32, item: u32) -> f32 {
        let dot: f32 = self
            .user_factors
            .row(user)
            .iter()
            .zip(self.item_factors.row(item))
            .map(|(a, b)| a * b)
            .sum();
        self.global + self.user_bias.row(user)[0] + self.item_bias.row(item)[0] + dot
    }

    /// `out[i]` = the prediction for `(users[i], items[i])`.
    pub fn forward(&self, users: &[u32], items: &[u32], out: &mut [f32]) {
        for ((o, &u), &i) in out.iter_mut().zip(users).zip(items) {
            *o = self.predict_one(u, i);
        }
    }

    /// Given `d_out[i]` = d loss / d prediction i, writes each example's row gradients into
    /// `grads` (prefixes of length `batch` and `batch · dim`) and returns d loss / d g.
    pub fn backward(
        &self,
        users: &[u32],
        items: &[u32],
        d_out: &[f32],
        grads: &mut BiasedDotGrads,
    ) -> f32 {
        let d = self.dim();
        let mut d_global = 0.0;
        for (b, ((&u, &i), &g)) in users.iter().zip(items).zip(d_out).enumerate() {
            let (p, q) = (self.user_factors.row(u), self.item_factors.row(i));
            let gp = &mut grads.user_factors[b * d..(b + 1) * d];
            for (gp, &q) in gp.iter_mut().zip(q) {
                *gp = g * q;
            }
            let gq = &mut grads.item_factors[b * d..(b + 1) * d];
            for (gq, &p) in gq.iter_mut().zip(p) {
                *gq = g * p;
            }
            grads.user_bias[b] = g;
            grads.item_bias[b] = g;
            d_global += g;
        }
        d_global
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_gradient, test_values};
    use crate::layers::SparseGrad;

    fn table(rows: usize, dim: usize, salt: f32) -> Embedding {
        Embedding {
            table: test_values(rows * dim, salt),
            rows,
            dim,
        }
    }

    #[test]
    fn forward_is_global_plus_biases_plus_dot() {
        let (p, q) = (table(3, 2, 0.1), table(4, 2, 0.2));
        let (bu, bi) = (table(3, 1, 0.3), table(4, 1, 0.4));
        let layer = BiasedDot {
            user_factors: &p,
            item_factors: &q,
            user_bias: &bu,
            item_bias: &bi,
            global: 3.5,
        };
        let mut out = [0.0; 2];
        layer.forward(&[2, 0], &[1, 3], &mut out);
        let want = |u: usize, i: usize| {
            3.5 + bu.table[u]
                + bi.table[i]
                + p.table[2 * u] * q.table[2 * i]
                + p.table[2 * u + 1] * q.table[2 * i + 1]
        };
        assert!((out[0] - want(2, 1)).abs() < 1e-6);
        assert!((out[1] - want(0, 3)).abs() < 1e-6);
    }

    #[test]
    fn gradients_of_every_table_match_finite_differences() {
        // loss = Σ_b w_b · prediction_b, with a user and an item looked up twice.
        let (users, items) = ([1u32, 0, 1, 2], [2u32, 2, 0, 1]);
        let w = test_values(users.len(), 0.7);
        let dim = 3;
        let mut tables = [
            table(3, dim, 0.1),
            table(3, dim, 0.2),
            table(3, 1, 0.3),
            table(3, 1, 0.4),
        ];
        let loss_of = |t: &[Embedding; 4], global: f32| {
            let layer = BiasedDot {
                user_factors: &t[0],
                item_factors: &t[1],
                user_bias: &t[2],
                item_bias: &t[3],
                global,
            };
            let mut out = vec![0.0; users.len()];
            layer.forward(&users, &items, &mut out);
            out.iter().zip(&w).map(|(o, w)| (o * w) as f64).sum::<f64>()
        };
        let mut grads = BiasedDotGrads::new(users.len(), dim);
        let layer = BiasedDot {
            user_factors: &tables[0],
            item_factors: &tables[1],
            user_bias: &tables[2],
            item_bias: &tables[3],
            global: 0.5,
        };
        let d_global = layer.backward(&users, &items, &w, &mut grads);
        let per_example = [
            (&grads.user_factors, &users, dim),
            (&grads.item_factors, &items, dim),
            (&grads.user_bias, &users, 1),
            (&grads.item_bias, &items, 1),
        ];
        let dense: Vec<Vec<f32>> = per_example
            .iter()
            .map(|(g, ids, dim)| {
                let mut s = SparseGrad::new(3, *dim, ids.len());
                s.accumulate(&ids[..], g, *dim, 0);
                let mut dense = vec![0.0; 3 * dim];
                for (slot, &row) in s.rows().iter().enumerate() {
                    dense[row as usize * dim..][..*dim]
                        .copy_from_slice(&s.values()[slot * dim..][..*dim]);
                }
                dense
            })
            .collect();
        for (k, name) in ["user_factors", "item_factors", "user_bias", "item_bias"]
            .iter()
            .enumerate()
        {
            let mut params = tables[k].table.clone();
            check_gradient(name, &mut params, &dense[k], |x| {
                tables[k].table.copy_from_slice(x);
                loss_of(&tables, 0.5)
            });
            tables[k].table = params;
        }
        let mut g = [0.5f32];
        check_gradient("global", &mut g, &[d_global], |x| loss_of(&tables, x[0]));
    }
}
