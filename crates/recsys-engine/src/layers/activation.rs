//! Activations applied in place after a dense layer's affine map.

use crate::simd::elementwise;

/// The nonlinearity that follows a [`Dense`](super::Dense) layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Activation {
    /// The identity, for the final rating layer.
    #[default]
    Linear,
    /// `max(x, 0)`, as in the TFRS tutorial's hidden layers.
    Relu,
}

impl Activation {
    /// Applies the activation to `z` in place, turning pre-activations into outputs.
    pub fn forward(self, z: &mut [f32]) {
        if self == Activation::Relu {
            relu(z);
        }
    }

    /// Turns `d_out` (the gradient at the outputs) into the gradient at the pre-activations,
    /// in place. Uses the outputs rather than the inputs: for ReLU, `out > 0` exactly when the
    /// pre-activation was positive, so the forward pass need not keep a second buffer.
    pub fn backward(self, out: &[f32], d_out: &mut [f32]) {
        if self == Activation::Relu {
            relu_backward(out, d_out);
        }
    }
}

elementwise! {
    /// `z = max(z, 0)` in place.
    fn relu(z: &mut [f32]) {
        z.iter_mut().for_each(|v| *v = v.max(0.0));
    }
}

elementwise! {
    /// Zeroes `d` where the output was not positive. A select, not a branch: the compiler turns
    /// it into compare-and-mask over whole vectors (the branch on each sign compiled to scalar
    /// code, a quarter of a training step).
    fn relu_backward(out: &[f32], d: &mut [f32]) {
        for (d, &o) in d.iter_mut().zip(out) {
            *d = if o > 0.0 { *d } else { 0.0 };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relu_zeroes_negatives_and_their_gradients() {
        let mut z = vec![-1.0, 0.0, 2.0];
        Activation::Relu.forward(&mut z);
        assert_eq!(z, vec![0.0, 0.0, 2.0]);
        let mut d = vec![5.0, 5.0, 5.0];
        Activation::Relu.backward(&z, &mut d);
        assert_eq!(d, vec![0.0, 0.0, 5.0]);
    }

    #[test]
    fn linear_is_the_identity_both_ways() {
        let mut z = vec![-1.0, 3.0];
        Activation::Linear.forward(&mut z);
        assert_eq!(z, vec![-1.0, 3.0]);
        let mut d = vec![2.0, 4.0];
        Activation::Linear.backward(&z, &mut d);
        assert_eq!(d, vec![2.0, 4.0]);
    }
}
