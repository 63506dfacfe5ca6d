//! `DotInteraction`: DLRM's feature interaction — the dot product of every pair of feature
//! vectors (Naumov et al. 2019, "Deep Learning Recommendation Model").
//!
//! An example brings `F` vectors of the same width `d` (one per embedded feature, plus the
//! bottom MLP's output for dense features). An MLP on their concatenation has to learn
//! multiplicative interactions from additions and ReLUs; DLRM hands them over directly as the
//! `F(F−1)/2` pairwise dot products `⟨x_i, x_j⟩, i < j`, which the top MLP then reads (usually
//! beside the dense vector itself). Self-products `⟨x_i, x_i⟩` are left out, as in DLRM's
//! default.

/// The pairwise dot products of `features` vectors of `dim` values each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DotInteraction {
    /// `F`: vectors per example.
    pub features: usize,
    /// `d`: each vector's width.
    pub dim: usize,
}

impl DotInteraction {
    /// Width of one example's input, `F · d`.
    pub fn input_width(&self) -> usize {
        self.features * self.dim
    }

    /// Width of one example's output, `F(F−1)/2`.
    pub fn output_width(&self) -> usize {
        self.features * self.features.saturating_sub(1) / 2
    }

    /// The pairs `(i, j)`, `i < j`, in output order: row by row of the upper triangle.
    fn pairs(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        (0..self.features).flat_map(move |i| (i + 1..self.features).map(move |j| (i, j)))
    }

    /// `out[b, p] = ⟨x[b, i], x[b, j]⟩` for the `p`-th pair `(i, j)`, for `batch` examples:
    /// `x` is `[batch, F·d]`, `out` `[batch, F(F−1)/2]`.
    ///
    /// # Panics
    /// If a buffer is shorter than `batch` examples need (a bug in the caller).
    pub fn forward(&self, x: &[f32], batch: usize, out: &mut [f32]) {
        let (w_in, w_out, d) = (self.input_width(), self.output_width(), self.dim);
        if w_out == 0 {
            return; // one feature: no pairs (and no zero-width chunks to walk)
        }
        let x = &x[..batch * w_in];
        let out = &mut out[..batch * w_out];
        for (x, out) in x.chunks_exact(w_in).zip(out.chunks_exact_mut(w_out)) {
            for ((i, j), o) in self.pairs().zip(out.iter_mut()) {
                let (a, b) = (&x[i * d..(i + 1) * d], &x[j * d..(j + 1) * d]);
                *o = a.iter().zip(b).map(|(a, b)| a * b).sum();
            }
        }
    }

    /// Given `d_out` = d loss / d `out`, writes d loss / d `x` into `d_x` (overwriting it):
    /// each pair's gradient flows to each side scaled by the other side,
    /// `d x_i += d_out[p] · x_j` and `d x_j += d_out[p] · x_i`.
    ///
    /// # Panics
    /// If a buffer is shorter than `batch` examples need (a bug in the caller).
    pub fn backward(&self, x: &[f32], d_out: &[f32], batch: usize, d_x: &mut [f32]) {
        let (w_in, w_out, d) = (self.input_width(), self.output_width(), self.dim);
        let d_x = &mut d_x[..batch * w_in];
        d_x.fill(0.0);
        if w_out == 0 {
            return;
        }
        let rows = x.chunks_exact(w_in).zip(d_out.chunks_exact(w_out));
        for ((x, d_out), d_x) in rows.zip(d_x.chunks_exact_mut(w_in)) {
            for ((i, j), &g) in self.pairs().zip(d_out) {
                for k in 0..d {
                    d_x[i * d + k] += g * x[j * d + k];
                    d_x[j * d + k] += g * x[i * d + k];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_gradient, test_values};

    #[test]
    fn forward_is_every_pairs_dot_product_in_upper_triangle_order() {
        let layer = DotInteraction {
            features: 3,
            dim: 2,
        };
        assert_eq!((layer.input_width(), layer.output_width()), (6, 3));
        // Two examples: vectors (1,2), (3,4), (5,6) and (0,1), (1,0), (2,2).
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.0, 1.0, 1.0, 0.0, 2.0, 2.0];
        let mut out = [0.0; 6];
        layer.forward(&x, 2, &mut out);
        assert_eq!(out, [11.0, 17.0, 39.0, 0.0, 2.0, 2.0]);
    }

    #[test]
    fn one_feature_has_no_pairs() {
        let layer = DotInteraction {
            features: 1,
            dim: 4,
        };
        assert_eq!(layer.output_width(), 0);
        let mut out = [];
        layer.forward(&[1.0; 4], 1, &mut out);
        let mut d_x = [9.0; 4];
        layer.backward(&[1.0; 4], &[], 1, &mut d_x);
        assert_eq!(d_x, [0.0; 4]);
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let layer = DotInteraction {
            features: 4,
            dim: 3,
        };
        let batch = 2;
        let mut x = test_values(batch * layer.input_width(), 0.3);
        // loss = Σ c_p · out_p with fixed, distinct weights, so every pair's gradient counts.
        let weights = test_values(batch * layer.output_width(), 1.7);
        let loss = |x: &[f32]| {
            let mut out = vec![0.0; weights.len()];
            layer.forward(x, batch, &mut out);
            out.iter().zip(&weights).map(|(o, w)| (o * w) as f64).sum()
        };
        let mut d_x = vec![0.0; x.len()];
        layer.backward(&x, &weights, batch, &mut d_x);
        check_gradient("dot interaction d_x", &mut x, &d_x, loss);
    }
}
