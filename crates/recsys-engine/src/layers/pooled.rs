//! Mean-pooled lookups: one vector for a feature with several values per example (a movie's
//! genres, a title's tokens), the mean of their embedding rows.
//!
//! Ranking: TFRS's featurization tutorial averages a title's token embeddings
//! (`GlobalAveragePooling1D` after `TextVectorization`); Keras's `Embedding(combiner="mean")`
//! and `tf.nn.embedding_lookup_sparse` do the same for multi-hot inputs. A feature with one
//! value per example is the case of one row, whose mean is the row itself, bit for bit.
//!
//! The values of a batch are ragged: example `i` looked up `ids[offsets[i]..offsets[i + 1]]`.
//! The gradient reaches only those rows, through a [`SparseGrad`].

use super::{Embedding, SparseGrad};

/// A batch of variable-length lookups: example `i` reads `ids[offsets[i]..offsets[i + 1]]`.
#[derive(Debug, Clone, Copy)]
pub struct Ragged<'a> {
    /// `batch + 1` increasing positions into `ids`, from 0.
    pub offsets: &'a [u32],
    /// The rows looked up, example after example.
    pub ids: &'a [u32],
}

impl Ragged<'_> {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// Whether there are no examples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The rows example `i` looked up.
    pub fn values(&self, i: usize) -> &[u32] {
        &self.ids[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }
}

impl Embedding {
    /// Writes the mean of example `i`'s rows to `out[i * stride + offset ..][..dim]` for each
    /// example (zeros for an example with no rows), side by side as [`gather`](Self::gather)
    /// writes single rows.
    pub fn gather_mean(&self, lookups: Ragged<'_>, out: &mut [f32], stride: usize, offset: usize) {
        for i in 0..lookups.len() {
            let o = &mut out[i * stride + offset..][..self.dim];
            o.fill(0.0);
            let rows = lookups.values(i);
            for &id in rows {
                o.iter_mut().zip(self.row(id)).for_each(|(a, &w)| *a += w);
            }
            if rows.len() > 1 {
                let inv = 1.0 / rows.len() as f32;
                o.iter_mut().for_each(|a| *a *= inv);
            }
        }
    }
}

impl SparseGrad {
    /// Sets the gradient of a batch of mean-pooled lookups: each row looked up by example `i`
    /// receives `d[i * stride + offset ..][..dim] / (rows of i)`, summed per distinct row.
    /// `scratch` holds the per-lookup gradients (grown as needed, then reused).
    pub fn accumulate_mean(
        &mut self,
        lookups: Ragged<'_>,
        d: &[f32],
        stride: usize,
        offset: usize,
        scratch: &mut Vec<f32>,
    ) {
        let dim = self.dim();
        scratch.clear();
        scratch.resize(lookups.ids.len() * dim, 0.0);
        for i in 0..lookups.len() {
            let rows = lookups.values(i);
            let scale = 1.0 / rows.len().max(1) as f32;
            let src = &d[i * stride + offset..][..dim];
            let start = lookups.offsets[i] as usize;
            for j in 0..rows.len() {
                let dst = &mut scratch[(start + j) * dim..][..dim];
                dst.iter_mut().zip(src).for_each(|(g, &v)| *g = v * scale);
            }
        }
        self.accumulate(lookups.ids, scratch, dim, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_gradient, test_values};

    const OFFSETS: [u32; 4] = [0, 3, 4, 4];
    const IDS: [u32; 4] = [1, 3, 1, 2];

    fn lookups() -> Ragged<'static> {
        Ragged {
            offsets: &OFFSETS,
            ids: &IDS,
        }
    }

    fn table(values: &[f32]) -> Embedding {
        Embedding {
            table: values.to_vec(),
            rows: 4,
            dim: 2,
        }
    }

    #[test]
    fn means_rows_per_example_and_one_row_is_itself() {
        let e = table(&[0.0, 0.0, 1.0, 2.0, 10.0, 20.0, 4.0, 8.0]);
        let mut out = vec![-1.0; 3 * 3];
        e.gather_mean(lookups(), &mut out, 3, 1);
        // Example 0: rows 1, 3, 1 → (1+4+1)/3, (2+8+2)/3; example 1: row 2; example 2: none.
        assert_eq!(out, vec![-1.0, 2.0, 4.0, -1.0, 10.0, 20.0, -1.0, 0.0, 0.0]);
    }

    #[test]
    fn gradient_matches_finite_differences_and_touches_only_used_rows() {
        let r = test_values(3 * 2, 0.6);
        let mut g = SparseGrad::new(4, 2, IDS.len());
        let mut scratch = Vec::new();
        g.accumulate_mean(lookups(), &r, 2, 0, &mut scratch);
        let mut touched: Vec<u32> = g.rows().to_vec();
        touched.sort();
        assert_eq!(touched, vec![1, 2, 3]);
        let mut dense = vec![0.0; 8];
        for (slot, &row) in g.rows().iter().enumerate() {
            dense[row as usize * 2..][..2].copy_from_slice(&g.values()[slot * 2..][..2]);
        }
        let loss = |t: &[f32]| {
            let mut out = vec![0.0; 3 * 2];
            table(t).gather_mean(lookups(), &mut out, 2, 0);
            out.iter().zip(&r).map(|(a, b)| *a as f64 * *b as f64).sum()
        };
        check_gradient("pooled", &mut test_values(8, 0.3), &dense, loss);
    }
}
