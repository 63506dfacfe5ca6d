//! `Dense`: a fully connected layer, `act(x · kernel + bias)`, as Keras's `Dense`.
//!
//! Kernels are stored `[input_dim, units]` row-major, the layout Keras uses and the one the
//! TensorFlow parity fixture records, so weights move between the two without a transpose.

use super::Activation;
use crate::init::{InitRng, glorot_uniform_limit};
use crate::matmul::{Op, gemm};

/// A fully connected layer (ranking: the tutorial's rating tower is three of them).
#[derive(Debug, Clone, PartialEq)]
pub struct Dense {
    /// `[input_dim, units]`, row-major.
    pub kernel: Vec<f32>,
    /// `[units]`.
    pub bias: Vec<f32>,
    /// Width of the input.
    pub input_dim: usize,
    /// Width of the output.
    pub units: usize,
    /// Applied after the affine map.
    pub activation: Activation,
}

/// Gradients of a [`Dense`] layer's parameters, shaped like them.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseGrads {
    /// d loss / d kernel, `[input_dim, units]`.
    pub kernel: Vec<f32>,
    /// d loss / d bias, `[units]`.
    pub bias: Vec<f32>,
}

impl Dense {
    /// A layer with Keras's defaults: `glorot_uniform` kernel, zero bias.
    pub fn glorot(
        input_dim: usize,
        units: usize,
        activation: Activation,
        rng: &mut InitRng,
    ) -> Self {
        let mut kernel = vec![0.0; input_dim * units];
        rng.fill_uniform(&mut kernel, glorot_uniform_limit(input_dim, units));
        Dense {
            kernel,
            bias: vec![0.0; units],
            input_dim,
            units,
            activation,
        }
    }

    /// Zeroed gradient buffers for this layer.
    pub fn zero_grads(&self) -> DenseGrads {
        DenseGrads {
            kernel: vec![0.0; self.kernel.len()],
            bias: vec![0.0; self.units],
        }
    }

    /// `out = act(x · kernel + bias)` for `batch` rows; `x` is `[batch, input_dim]`,
    /// `out` is `[batch, units]` (only that prefix of each slice is used).
    pub fn forward(&self, x: &[f32], batch: usize, out: &mut [f32]) {
        let out = &mut out[..batch * self.units];
        for row in out.chunks_exact_mut(self.units) {
            row.copy_from_slice(&self.bias);
        }
        gemm(
            batch,
            self.input_dim,
            self.units,
            x,
            Op::N,
            &self.kernel,
            Op::N,
            1.0,
            out,
        );
        self.activation.forward(out);
    }

    /// Backward pass for `batch` rows.
    ///
    /// `d_out` holds d loss / d out and is overwritten with d loss / d pre-activation.
    /// Writes the parameter gradients into `grads` (overwriting) and, when `d_x` is given,
    /// d loss / d x (`[batch, input_dim]`, overwriting).
    pub fn backward(
        &self,
        x: &[f32],
        out: &[f32],
        batch: usize,
        d_out: &mut [f32],
        grads: &mut DenseGrads,
        d_x: Option<&mut [f32]>,
    ) {
        let n = batch * self.units;
        let d_z = &mut d_out[..n];
        self.activation.backward(&out[..n], d_z);
        // d kernel = xᵀ · d_z : [input_dim, batch] · [batch, units]
        gemm(
            self.input_dim,
            batch,
            self.units,
            x,
            Op::T,
            d_z,
            Op::N,
            0.0,
            &mut grads.kernel,
        );
        grads.bias.fill(0.0);
        for row in d_z.chunks_exact(self.units) {
            for (g, &d) in grads.bias.iter_mut().zip(row) {
                *g += d;
            }
        }
        if let Some(d_x) = d_x {
            // d x = d_z · kernelᵀ : [batch, units] · [units, input_dim]
            gemm(
                batch,
                self.units,
                self.input_dim,
                d_z,
                Op::N,
                &self.kernel,
                Op::T,
                0.0,
                d_x,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_gradient, test_values};

    fn layer(activation: Activation) -> Dense {
        let (i, u) = (4, 3);
        Dense {
            kernel: test_values(i * u, 0.3),
            bias: test_values(u, 1.1),
            input_dim: i,
            units: u,
            activation,
        }
    }

    /// loss = Σ out ⊙ r, so d loss / d out = r.
    fn loss(l: &Dense, x: &[f32], batch: usize, r: &[f32]) -> f64 {
        let mut out = vec![0.0; batch * l.units];
        l.forward(x, batch, &mut out);
        out.iter().zip(r).map(|(o, r)| *o as f64 * *r as f64).sum()
    }

    #[test]
    fn forward_matches_the_definition() {
        let l = layer(Activation::Relu);
        let x = test_values(2 * 4, 0.7);
        let mut out = vec![0.0; 6];
        l.forward(&x, 2, &mut out);
        for b in 0..2 {
            for u in 0..3 {
                let z: f32 = l.bias[u]
                    + (0..4)
                        .map(|i| x[b * 4 + i] * l.kernel[i * 3 + u])
                        .sum::<f32>();
                assert!((out[b * 3 + u] - z.max(0.0)).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        for activation in [Activation::Linear, Activation::Relu] {
            let l = layer(activation);
            let batch = 5;
            let mut x = test_values(batch * 4, 2.0);
            let r = test_values(batch * 3, 0.5);
            let mut out = vec![0.0; batch * 3];
            l.forward(&x, batch, &mut out);
            let mut d = r.clone();
            let mut grads = l.zero_grads();
            let mut d_x = vec![0.0; batch * 4];
            l.backward(&x, &out, batch, &mut d, &mut grads, Some(&mut d_x));

            let mut kernel = l.kernel.clone();
            check_gradient("kernel", &mut kernel, &grads.kernel, |k| {
                let mut l2 = l.clone();
                l2.kernel.copy_from_slice(k);
                loss(&l2, &x, batch, &r)
            });
            let mut bias = l.bias.clone();
            check_gradient("bias", &mut bias, &grads.bias, |b| {
                let mut l2 = l.clone();
                l2.bias.copy_from_slice(b);
                loss(&l2, &x, batch, &r)
            });
            let l_ref = l.clone();
            check_gradient("x", &mut x, &d_x, |x| loss(&l_ref, x, batch, &r));
        }
    }

    #[test]
    fn glorot_init_is_bounded_and_bias_zero() {
        let mut rng = InitRng::new(1);
        let l = Dense::glorot(64, 256, Activation::Relu, &mut rng);
        let lim = glorot_uniform_limit(64, 256);
        assert!(l.kernel.iter().all(|w| w.abs() <= lim));
        assert!(l.bias.iter().all(|&b| b == 0.0));
    }
}
