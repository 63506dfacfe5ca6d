//! Stochastic gradient descent without momentum (Keras `SGD()`).

/// `w -= learning_rate · g`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sgd {
    /// Step size.
    pub learning_rate: f32,
}

impl Sgd {
    pub(crate) fn update(&self, w: &mut [f32], g: &[f32]) {
        for (w, &g) in w.iter_mut().zip(g) {
            *w -= self.learning_rate * g;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_against_the_gradient() {
        let mut w = vec![1.0, -1.0];
        Sgd { learning_rate: 0.5 }.update(&mut w, &[2.0, -4.0]);
        assert_eq!(w, vec![0.0, 1.0]);
    }
}
