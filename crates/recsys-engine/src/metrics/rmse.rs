//! Root mean squared error, accumulated over every example seen (Keras `RootMeanSquaredError`).

/// Streaming RMSE (ranking: the tutorial's metric). Keras accumulates the squared errors and
/// the count over a whole epoch, so the epoch's value is over all examples, not an average of
/// batch RMSEs. Sums are kept in `f64` so 25M examples lose nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RootMeanSquaredError {
    sum_squared_error: f64,
    count: u64,
}

impl RootMeanSquaredError {
    /// Adds a batch of predictions and labels.
    pub fn update(&mut self, predictions: &[f32], labels: &[f32]) {
        for (&p, &y) in predictions.iter().zip(labels) {
            let e = p as f64 - y as f64;
            self.sum_squared_error += e * e;
        }
        self.count += predictions.len().min(labels.len()) as u64;
    }

    /// The RMSE so far; 0 before any example (as Keras reports).
    pub fn result(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            (self.sum_squared_error / self.count as f64).sqrt()
        }
    }

    /// The mean squared error so far.
    pub fn mean_squared_error(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum_squared_error / self.count as f64
        }
    }

    /// Examples seen.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Starts over (Keras resets metrics at the start of each epoch).
    pub fn reset(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accumulates_over_batches_not_averaging_them() {
        let mut m = RootMeanSquaredError::default();
        m.update(&[1.0, 2.0], &[0.0, 0.0]); // squared errors 1, 4
        m.update(&[3.0], &[0.0]); // 9
        let want = ((1.0 + 4.0 + 9.0) / 3.0f64).sqrt();
        assert!((m.result() - want).abs() < 1e-12);
        assert_eq!(m.count(), 3);
        m.reset();
        assert_eq!(m.result(), 0.0);
    }
}
