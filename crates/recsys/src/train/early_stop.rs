//! Early stopping on a validation split: keep the epoch with the lowest validation RMSE, and
//! stop once `patience` epochs in a row have not beaten it (Keras's `EarlyStopping` with
//! `restore_best_weights=True`).

/// The best model so far and how many epochs have passed without a better one.
#[derive(Debug, Clone)]
pub(crate) struct BestEpoch<M> {
    best: Option<(f64, M)>,
    since_best: usize,
    patience: usize,
}

impl<M: Clone> BestEpoch<M> {
    /// Stop after `patience` epochs without improvement (0: never stop early).
    pub(crate) fn new(patience: usize) -> Self {
        BestEpoch {
            best: None,
            since_best: 0,
            patience,
        }
    }

    /// Records an epoch's validation RMSE, keeping a copy of `model` if it is the best so far;
    /// returns whether training should stop.
    pub(crate) fn record(&mut self, rmse: f64, model: &M) -> bool {
        if self.best.as_ref().is_none_or(|(b, _)| rmse < *b) {
            self.best = Some((rmse, model.clone()));
            self.since_best = 0;
            return false;
        }
        self.since_best += 1;
        self.patience > 0 && self.since_best >= self.patience
    }

    /// The best model recorded, if any.
    pub(crate) fn into_best(self) -> Option<M> {
        self.best.map(|(_, m)| m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_lowest_and_stops_after_patience_epochs_without_it() {
        let mut b = BestEpoch::new(2);
        assert!(!b.record(1.0, &"a"));
        assert!(!b.record(0.5, &"b"));
        assert!(!b.record(0.7, &"c"));
        assert!(b.record(0.5, &"d"), "a tie is not an improvement");
        assert_eq!(b.into_best(), Some("b"));
        let mut never = BestEpoch::new(0);
        assert!((0..10).all(|i| !never.record(i as f64, &i)));
        assert_eq!(never.into_best(), Some(0));
        assert_eq!(BestEpoch::<u8>::new(1).into_best(), None);
    }
}
