//! `Cross`: DCN-v2's cross layer, `x_{l+1} = x0 ⊙ (W x_l + b) + x_l`, full rank or low rank
//! (`W = U Vᵀ`).
//!
//! Ranking: Wang et al., "DCN V2: Improved Deep & Cross Network and Practical Lessons for
//! Web-scale Learning to Rank Systems" (WWW 2021), eq. 1 and §3.3; TFRS's
//! `tfrs.layers.dcn.Cross`, whose `projection_dim` is the low rank. A cross layer multiplies
//! each feature by a learned linear mix of all of them, so a stack of `l` layers builds every
//! feature interaction up to degree `l + 1` explicitly, which a ReLU tower learns only
//! approximately. The low-rank form costs `2·d·r` weights instead of `d²`.
//!
//! Layouts are TFRS's dense kernels (`[input, output]`, applied as `x · K`): full rank
//! `kernel = Wᵀ` (`[d, d]`); low rank `kernel = U` (`[d, r]`, no bias) and `kernel_v = V`
//! (`[r, d]`), so `W x = (x · U) · V`.

use crate::init::{InitRng, glorot_uniform_limit};
use crate::matmul::{Op, gemm};

/// One cross layer (ranking: DCN-v2's cross network).
#[derive(Debug, Clone, PartialEq)]
pub struct Cross {
    /// Width of `x0`, `x_l` and the output.
    pub dim: usize,
    /// `None`: full rank; `Some(r)`: `W = U·V` through `r` units.
    pub rank: Option<usize>,
    /// Full rank: `Wᵀ`, `[dim, dim]`; low rank: `U`, `[dim, r]`.
    pub kernel: Vec<f32>,
    /// Low rank: `V`, `[r, dim]`; empty at full rank.
    pub kernel_v: Vec<f32>,
    /// `b`, `[dim]`.
    pub bias: Vec<f32>,
}

/// Gradients of a [`Cross`] layer's parameters, shaped like them.
#[derive(Debug, Clone, PartialEq)]
pub struct CrossGrads {
    /// d loss / d kernel.
    pub kernel: Vec<f32>,
    /// d loss / d kernel_v (empty at full rank).
    pub kernel_v: Vec<f32>,
    /// d loss / d bias.
    pub bias: Vec<f32>,
}

/// What the forward pass keeps for the backward pass, and its scratch, sized for a batch.
#[derive(Debug, Clone)]
pub struct CrossBuffers {
    /// `z = W x_l + b`, `[batch, dim]`.
    z: Vec<f32>,
    /// Low rank: `h = x_l · U`, `[batch, r]`.
    h: Vec<f32>,
    /// d loss / d z.
    dz: Vec<f32>,
    /// Low rank: d loss / d h.
    dh: Vec<f32>,
}

impl Cross {
    /// A layer as TFRS initialises one: glorot-uniform kernels (`U` and `V` each for its own
    /// shape), zero bias.
    pub fn glorot(dim: usize, rank: Option<usize>, rng: &mut InitRng) -> Self {
        let mut fill = |rows: usize, cols: usize| {
            let mut w = vec![0.0; rows * cols];
            rng.fill_uniform(&mut w, glorot_uniform_limit(rows, cols));
            w
        };
        let (kernel, kernel_v) = match rank {
            None => (fill(dim, dim), Vec::new()),
            Some(r) => (fill(dim, r), fill(r, dim)),
        };
        Cross {
            dim,
            rank,
            kernel,
            kernel_v,
            bias: vec![0.0; dim],
        }
    }

    /// Zeroed gradient buffers for this layer.
    pub fn zero_grads(&self) -> CrossGrads {
        CrossGrads {
            kernel: vec![0.0; self.kernel.len()],
            kernel_v: vec![0.0; self.kernel_v.len()],
            bias: vec![0.0; self.dim],
        }
    }

    /// Buffers for batches of up to `max_batch` rows.
    pub fn buffers(&self, max_batch: usize) -> CrossBuffers {
        let r = self.rank.unwrap_or(0);
        CrossBuffers {
            z: vec![0.0; max_batch * self.dim],
            h: vec![0.0; max_batch * r],
            dz: vec![0.0; max_batch * self.dim],
            dh: vec![0.0; max_batch * r],
        }
    }

    /// `out = x0 ⊙ (W x_l + b) + x_l` for `batch` rows (`[batch, dim]` each), keeping `z` in
    /// `buf` for [`backward`](Self::backward).
    pub fn forward(
        &self,
        x0: &[f32],
        xl: &[f32],
        batch: usize,
        buf: &mut CrossBuffers,
        out: &mut [f32],
    ) {
        let (d, n) = (self.dim, batch * self.dim);
        let z = &mut buf.z[..n];
        for row in z.chunks_exact_mut(d) {
            row.copy_from_slice(&self.bias);
        }
        match self.rank {
            None => gemm(batch, d, d, xl, Op::N, &self.kernel, Op::N, 1.0, z),
            Some(r) => {
                let h = &mut buf.h[..batch * r];
                gemm(batch, d, r, xl, Op::N, &self.kernel, Op::N, 0.0, h);
                gemm(batch, r, d, h, Op::N, &self.kernel_v, Op::N, 1.0, z);
            }
        }
        for (((o, &a), &zi), &x) in out[..n].iter_mut().zip(&x0[..n]).zip(&*z).zip(&xl[..n]) {
            *o = a * zi + x;
        }
    }

    /// Backward pass for `batch` rows after [`forward`](Self::forward) with the same inputs.
    ///
    /// Writes the parameter gradients into `grads` (overwriting), adds d loss / d x0 into
    /// `d_x0`, and writes d loss / d x_l into `d_xl` (overwriting).
    #[allow(clippy::too_many_arguments)]
    pub fn backward(
        &self,
        x0: &[f32],
        xl: &[f32],
        batch: usize,
        buf: &mut CrossBuffers,
        d_out: &[f32],
        grads: &mut CrossGrads,
        d_x0: &mut [f32],
        d_xl: &mut [f32],
    ) {
        let (d, n) = (self.dim, batch * self.dim);
        let (z, dz) = (&buf.z[..n], &mut buf.dz[..n]);
        for i in 0..n {
            dz[i] = d_out[i] * x0[i];
            d_x0[i] += d_out[i] * z[i];
        }
        grads.bias.fill(0.0);
        for row in dz.chunks_exact(d) {
            grads.bias.iter_mut().zip(row).for_each(|(g, &v)| *g += v);
        }
        let d_xl = &mut d_xl[..n];
        d_xl.copy_from_slice(&d_out[..n]);
        match self.rank {
            None => {
                gemm(d, batch, d, xl, Op::T, dz, Op::N, 0.0, &mut grads.kernel);
                gemm(batch, d, d, dz, Op::N, &self.kernel, Op::T, 1.0, d_xl);
            }
            Some(r) => {
                let (h, dh) = (&buf.h[..batch * r], &mut buf.dh[..batch * r]);
                gemm(r, batch, d, h, Op::T, dz, Op::N, 0.0, &mut grads.kernel_v);
                gemm(batch, d, r, dz, Op::N, &self.kernel_v, Op::T, 0.0, dh);
                gemm(d, batch, r, xl, Op::T, dh, Op::N, 0.0, &mut grads.kernel);
                gemm(batch, r, d, dh, Op::N, &self.kernel, Op::T, 1.0, d_xl);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_gradient, test_values};

    const D: usize = 4;
    const BATCH: usize = 3;

    fn layer(rank: Option<usize>) -> Cross {
        let mut l = Cross::glorot(D, rank, &mut InitRng::new(3));
        l.bias = test_values(D, 0.2);
        l
    }

    /// loss = Σ out ⊙ r, so d loss / d out = r.
    fn loss(l: &Cross, x0: &[f32], xl: &[f32], r: &[f32]) -> f64 {
        let mut out = vec![0.0; BATCH * D];
        l.forward(x0, xl, BATCH, &mut l.buffers(BATCH), &mut out);
        out.iter().zip(r).map(|(o, r)| *o as f64 * *r as f64).sum()
    }

    #[test]
    fn forward_matches_the_definition_at_both_ranks() {
        for rank in [None, Some(2)] {
            let l = layer(rank);
            let (x0, xl) = (test_values(BATCH * D, 0.1), test_values(BATCH * D, 0.7));
            let mut out = vec![0.0; BATCH * D];
            l.forward(&x0, &xl, BATCH, &mut l.buffers(BATCH), &mut out);
            // W[i][j], from the layout: full Wᵀ = kernel; low rank W = (U·V)ᵀ.
            let w = |i: usize, j: usize| match rank {
                None => l.kernel[j * D + i],
                Some(r) => (0..r)
                    .map(|k| l.kernel[j * r + k] * l.kernel_v[k * D + i])
                    .sum(),
            };
            for b in 0..BATCH {
                for i in 0..D {
                    let wx: f32 = (0..D).map(|j| w(i, j) * xl[b * D + j]).sum();
                    let want = x0[b * D + i] * (wx + l.bias[i]) + xl[b * D + i];
                    assert!((out[b * D + i] - want).abs() < 1e-5, "{rank:?}");
                }
            }
        }
    }

    #[test]
    fn gradients_match_finite_differences_at_both_ranks() {
        for rank in [None, Some(2)] {
            let l = layer(rank);
            let (mut x0, mut xl) = (test_values(BATCH * D, 0.1), test_values(BATCH * D, 0.7));
            let r = test_values(BATCH * D, 1.3);
            let mut buf = l.buffers(BATCH);
            let mut out = vec![0.0; BATCH * D];
            l.forward(&x0, &xl, BATCH, &mut buf, &mut out);
            let mut grads = l.zero_grads();
            let (mut d_x0, mut d_xl) = (vec![0.5; BATCH * D], vec![9.0; BATCH * D]);
            l.backward(
                &x0, &xl, BATCH, &mut buf, &r, &mut grads, &mut d_x0, &mut d_xl,
            );
            // d_x0 is added to: take away what it held.
            d_x0.iter_mut().for_each(|g| *g -= 0.5);

            let with = |set: &dyn Fn(&mut Cross)| {
                let mut l2 = l.clone();
                set(&mut l2);
                l2
            };
            let (x0c, xlc) = (x0.clone(), xl.clone());
            check_gradient("kernel", &mut l.kernel.clone(), &grads.kernel, |k| {
                loss(&with(&|c| c.kernel.copy_from_slice(k)), &x0c, &xlc, &r)
            });
            check_gradient("kernel_v", &mut l.kernel_v.clone(), &grads.kernel_v, |k| {
                loss(&with(&|c| c.kernel_v.copy_from_slice(k)), &x0c, &xlc, &r)
            });
            check_gradient("bias", &mut l.bias.clone(), &grads.bias, |b| {
                loss(&with(&|c| c.bias.copy_from_slice(b)), &x0c, &xlc, &r)
            });
            check_gradient("x0", &mut x0, &d_x0, |x| loss(&l, x, &xlc, &r));
            check_gradient("xl", &mut xl, &d_xl, |x| loss(&l, &x0c, x, &r));
        }
    }

    #[test]
    fn the_first_layer_of_a_stack_sees_x0_twice_and_the_gradients_add() {
        // x1 = x0 ⊙ (W x0 + b) + x0: the layer's two inputs are one tensor.
        let l = layer(Some(3));
        let mut x0 = test_values(BATCH * D, 0.4);
        let r = test_values(BATCH * D, 0.9);
        let mut buf = l.buffers(BATCH);
        let mut out = vec![0.0; BATCH * D];
        l.forward(&x0, &x0, BATCH, &mut buf, &mut out);
        let (mut d_x0, mut d_xl) = (vec![0.0; BATCH * D], vec![0.0; BATCH * D]);
        let mut grads = l.zero_grads();
        l.backward(
            &x0, &x0, BATCH, &mut buf, &r, &mut grads, &mut d_x0, &mut d_xl,
        );
        let total: Vec<f32> = d_x0.iter().zip(&d_xl).map(|(a, b)| a + b).collect();
        check_gradient("x0", &mut x0, &total, |x| loss(&l, x, x, &r));
    }
}
