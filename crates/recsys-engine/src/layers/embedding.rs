//! `Embedding`: a table of learned vectors, one row per vocabulary entry, updated sparsely.
//!
//! A batch touches a few thousand rows of a table that may hold millions. The gradient of a
//! lookup is therefore kept as a [`SparseGrad`]: the distinct rows the batch used and, for each,
//! the SUM of the gradients of every example that looked it up (TensorFlow deduplicates an
//! `IndexedSlices` gradient the same way before Adagrad squares it). Reading, updating and
//! writing then cost O(batch), never O(vocabulary).

use crate::init::InitRng;
use crate::tower::DistinctIds;

/// An embedding table (ranking and retrieval: the tutorial's user and movie embeddings).
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding {
    /// `[rows, dim]`, row-major; row 0 is the out-of-vocabulary row.
    pub table: Vec<f32>,
    /// Number of rows.
    pub rows: usize,
    /// Width of each row.
    pub dim: usize,
}

impl Embedding {
    /// A table with Keras's default initialiser, uniform in `[-limit, limit)`.
    pub fn uniform(rows: usize, dim: usize, limit: f32, rng: &mut InitRng) -> Self {
        let mut table = crate::pages::filled(rows * dim, 0.0);
        rng.fill_uniform(&mut table, limit);
        Embedding { table, rows, dim }
    }

    /// The vector of row `id`.
    ///
    /// # Panics
    /// If `id >= rows`; ids come from a vocabulary of the same size.
    pub fn row(&self, id: u32) -> &[f32] {
        let start = id as usize * self.dim;
        &self.table[start..start + self.dim]
    }

    /// Copies row `ids[i]` to `out[i * stride + offset ..][..dim]` for each `i`: with a stride
    /// wider than `dim`, several embeddings are written side by side (a concatenation for free).
    pub fn gather(&self, ids: &[u32], out: &mut [f32], stride: usize, offset: usize) {
        use crate::simd::{PREFETCH_ROWS, prefetch};
        for (i, &id) in ids.iter().enumerate() {
            if let Some(&ahead) = ids.get(i + PREFETCH_ROWS) {
                prefetch(&self.table, ahead as usize * self.dim, self.dim);
            }
            let start = i * stride + offset;
            out[start..start + self.dim].copy_from_slice(self.row(id));
        }
    }
}

/// The gradient of a batch of lookups: distinct rows and, for each, its summed gradient.
///
/// All buffers are sized once for the table and the largest batch.
#[derive(Debug, Clone)]
pub struct SparseGrad {
    ids: DistinctIds,
    values: Vec<f32>,
    dim: usize,
}

impl SparseGrad {
    /// Buffers for a `table_rows × dim` table and batches of up to `max_batch` lookups.
    pub fn new(table_rows: usize, dim: usize, max_batch: usize) -> Self {
        SparseGrad {
            ids: DistinctIds::new(table_rows, max_batch),
            values: Vec::with_capacity(max_batch.min(table_rows) * dim),
            dim,
        }
    }

    /// Sets the gradient of the batch `ids` to the sum, per row, of
    /// `d[i * stride + offset ..][..dim]` over the examples `i` that looked it up.
    pub fn accumulate(&mut self, ids: &[u32], d: &[f32], stride: usize, offset: usize) {
        let dim = self.dim;
        self.ids.index(ids);
        self.values.clear();
        self.values.resize(self.ids.rows().len() * dim, 0.0);
        self.ids
            .scatter_add(d, stride, offset, dim, &mut self.values);
    }

    /// Adds a second gradient of the same batch of lookups (another task's, in a multitask
    /// model), laid out as in [`accumulate`](Self::accumulate), to the row sums.
    pub fn add(&mut self, d: &[f32], stride: usize, offset: usize) {
        self.ids
            .scatter_add(d, stride, offset, self.dim, &mut self.values);
    }

    /// The distinct rows touched, in first-seen order.
    pub fn rows(&self) -> &[u32] {
        self.ids.rows()
    }

    /// The summed gradients, `[rows().len(), dim]`.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// Width of each row.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The rows touched and their summed gradients, to add a penalty's gradient to
    /// ([`L2::apply_rows`](super::L2::apply_rows)).
    pub(crate) fn rows_and_values_mut(&mut self) -> (&[u32], &mut [f32]) {
        (self.ids.rows(), &mut self.values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_gradient, test_values};

    #[test]
    fn gather_writes_rows_side_by_side() {
        let e = Embedding {
            table: (0..6).map(|v| v as f32).collect(),
            rows: 3,
            dim: 2,
        };
        let mut out = vec![-1.0; 2 * 3];
        e.gather(&[2, 0], &mut out, 3, 1);
        assert_eq!(out, vec![-1.0, 4.0, 5.0, -1.0, 0.0, 1.0]);
    }

    #[test]
    fn duplicate_lookups_sum_and_a_new_batch_starts_over() {
        let mut g = SparseGrad::new(5, 2, 4);
        let d = [1.0, 2.0, 10.0, 20.0, 100.0, 200.0];
        g.accumulate(&[3, 1, 3], &d, 2, 0);
        assert_eq!(g.rows(), &[3, 1]);
        assert_eq!(g.values(), &[101.0, 202.0, 10.0, 20.0]);
        g.accumulate(&[1], &d, 2, 0);
        assert_eq!(g.rows(), &[1]);
        assert_eq!(g.values(), &[1.0, 2.0]);
        // A second task's gradient of the same lookups adds to the same rows.
        g.add(&[0.5, 0.25], 2, 0);
        assert_eq!(g.values(), &[1.5, 2.25]);
    }

    #[test]
    fn sparse_gradient_matches_finite_differences() {
        // loss = Σ_i r_i · table[ids[i]]: the gradient of each row sums over its lookups.
        let (rows, dim) = (4, 3);
        let ids = [2u32, 0, 2, 3];
        let r = test_values(ids.len() * dim, 0.4);
        let mut e = Embedding {
            table: test_values(rows * dim, 0.9),
            rows,
            dim,
        };
        let mut g = SparseGrad::new(rows, dim, ids.len());
        g.accumulate(&ids, &r, dim, 0);
        let mut dense = vec![0.0; rows * dim];
        for (slot, &row) in g.rows().iter().enumerate() {
            dense[row as usize * dim..][..dim].copy_from_slice(&g.values()[slot * dim..][..dim]);
        }
        let loss = |t: &[f32]| {
            let e2 = Embedding {
                table: t.to_vec(),
                rows,
                dim,
            };
            let mut out = vec![0.0; ids.len() * dim];
            e2.gather(&ids, &mut out, dim, 0);
            out.iter().zip(&r).map(|(a, b)| *a as f64 * *b as f64).sum()
        };
        check_gradient("table", &mut e.table, &dense, loss);
    }
}
