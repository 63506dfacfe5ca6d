//! The flags of `recsys train` laid over a preset's recipe: each recipe takes the ones it has
//! ([`Recipe::overlay`](super::Recipe::overlay)); a flag no recipe took is reported by name.

use std::path::PathBuf;

use crate::train::{OptimizerKind, Schedule, Shuffle};

macro_rules! overrides {
    ($($(#[$doc:meta])* $field:ident: $ty:ty = $flag:literal,)*) => {
        /// Values given on the command line, each `None` until given; a recipe's
        /// [`overlay`](super::Recipe::overlay) takes (and so clears) the ones it has.
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct Overrides {
            $($(#[$doc])* pub $field: Option<$ty>,)*
        }

        impl Overrides {
            /// The flags still set, as the command line spells them (without `--`).
            pub fn left(&self) -> Vec<&'static str> {
                let mut left = Vec::new();
                $(if self.$field.is_some() {
                    left.push($flag);
                })*
                left
            }

            /// Only the value of flag `flag`, the others cleared.
            pub fn only(&self, flag: &str) -> Overrides {
                Overrides {
                    $($field: if flag == $flag { self.$field.clone() } else { None },)*
                }
            }
        }
    };
}

overrides! {
    /// `--epochs`.
    epochs: usize = "epochs",
    /// `--batch-size`.
    batch_size: usize = "batch-size",
    /// `--optimizer`.
    optimizer: OptimizerKind = "optimizer",
    /// `--learning-rate`.
    learning_rate: f32 = "learning-rate",
    /// `--learning-rate-decay`.
    learning_rate_decay: f32 = "learning-rate-decay",
    /// `--seed`.
    seed: u64 = "seed",
    /// `--no-shuffle` (as [`Shuffle::Off`]).
    shuffle: Shuffle = "no-shuffle",
    /// `--validation-fraction`.
    validation_fraction: f64 = "validation-fraction",
    /// `--patience`.
    patience: usize = "patience",
    /// `--embedding-dim`.
    embedding_dim: usize = "embedding-dim",
    /// `--layers`.
    layers: Vec<usize> = "layers",
    /// `--init-weights`.
    init_weights: PathBuf = "init-weights",
    /// `--factors`.
    factors: usize = "factors",
    /// `--burn-in`.
    burn_in: usize = "burn-in",
    /// `--samples`.
    samples: usize = "samples",
    /// `--noise-precision`.
    noise_precision: f64 = "noise-precision",
    /// `--factor-l2`.
    factor_l2: f32 = "factor-l2",
    /// `--bias-l2`.
    bias_l2: f32 = "bias-l2",
    /// `--init-std`.
    init_std: f32 = "init-std",
    /// `--rating-weight`.
    rating_weight: f32 = "rating-weight",
    /// `--retrieval-weight`.
    retrieval_weight: f32 = "retrieval-weight",
}

/// Moves a given value into `target`.
pub(crate) fn take<T>(given: &mut Option<T>, target: &mut T) {
    if let Some(v) = given.take() {
        *target = v;
    }
}

impl Schedule {
    /// Takes the schedule's flags. A preset's patience is dropped when
    /// `--validation-fraction 0` leaves nothing to validate on and no `--patience` is given:
    /// its early stopping presupposed its split.
    pub fn overlay(&mut self, flags: &mut Overrides) {
        take(&mut flags.epochs, &mut self.epochs);
        take(&mut flags.batch_size, &mut self.batch_size);
        take(&mut flags.optimizer, &mut self.optimizer);
        take(&mut flags.learning_rate, &mut self.learning_rate);
        take(
            &mut flags.learning_rate_decay,
            &mut self.learning_rate_decay,
        );
        take(&mut flags.seed, &mut self.seed);
        take(&mut flags.shuffle, &mut self.shuffle);
        if flags.validation_fraction == Some(0.0) && flags.patience.is_none() {
            self.patience = 0;
        }
        take(
            &mut flags.validation_fraction,
            &mut self.validation_fraction,
        );
        take(&mut flags.patience, &mut self.patience);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedule_takes_its_flags_and_leaves_the_rest_by_name() {
        let mut flags = Overrides {
            epochs: Some(7),
            samples: Some(3),
            shuffle: Some(Shuffle::Off),
            ..Overrides::default()
        };
        let mut s = Schedule::default();
        s.overlay(&mut flags);
        assert_eq!((s.epochs, s.shuffle), (7, Shuffle::Off));
        assert_eq!(flags.left(), ["samples"]);
        assert_eq!(flags.only("samples").left(), ["samples"]);
        assert!(flags.only("epochs").left().is_empty());
    }

    #[test]
    fn no_validation_split_drops_the_presets_patience_unless_patience_is_given() {
        let preset = Schedule {
            validation_fraction: 0.1,
            patience: 2,
            ..Schedule::default()
        };
        let mut s = preset.clone();
        s.overlay(&mut Overrides {
            validation_fraction: Some(0.0),
            ..Overrides::default()
        });
        assert_eq!((s.validation_fraction, s.patience), (0.0, 0));
        let mut s = preset;
        s.overlay(&mut Overrides {
            validation_fraction: Some(0.0),
            patience: Some(4),
            ..Overrides::default()
        });
        assert_eq!(s.patience, 4);
        assert!(s.check().is_err(), "patience without a split is refused");
    }
}
