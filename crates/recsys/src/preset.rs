//! Named training recipes: `recsys train --preset NAME`. Flags given beside a preset override
//! its values.
//!
//! | preset | model | test RMSE on TFRS's split (median of 5 seeds) |
//! |---|---|---|
//! | `tutorial` | the TFRS ranking model, 3 epochs of Adagrad | 1.1146 |
//! | `mf-sgd` | biased MF, SGD with L2 and early stopping | 0.9232 |
//! | `best` | biased MF, Bayesian (BPMF) by Gibbs sampling | 0.9006 |
//! | `multitask` | the ranking model trained for rating and retrieval (TFRS multitask) | see docs |
//! | `features` | side features (`configs/features.toml`), DCN-v2 cross layer, ReLU tower | see docs |
//!
//! (Measured on this project's machine; commands and ranges in `docs/experiments.md`.)

use serde::{Deserialize, Serialize};

use crate::kinds::features::FeatureRecipe;
use crate::kinds::mf::bpmf::BpmfConfig;
use crate::kinds::mf::sgd::MfSgdConfig;
use crate::kinds::mf::{MfRecipe, MfTrainer};
use crate::kinds::ranking::RankingModelConfig;
use crate::kinds::ranking::multitask::MultitaskWeights;
use crate::train::TrainConfig;
use crate::{Error, Result};

/// A named recipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// The TFRS ranking tutorial, unchanged: embeddings of 32, dense layers 256 → 64 → 1, 3
    /// epochs of Adagrad 0.1 in batches of 8192. It reproduces TFRS's numbers (test RMSE about
    /// 1.11), which is its point; it stops far short of convergence.
    #[default]
    Tutorial,
    /// Biased matrix factorization by SGD (Funk / Surprise's `SVD`): 100 factors, batch 1,
    /// learning rate 0.005 decayed ×0.96 per epoch, L2 0.15 on factors and 0.02 on biases
    /// (chosen on a validation split), early stopping after 3 epochs without a better RMSE on
    /// 10% of the training data held out. Why it works: the biases carry most of the signal a
    /// user's and a movie's average give, and the strong per-lookup L2 keeps the factors of
    /// users and movies with few ratings small.
    MfSgd,
    /// The most accurate recipe found: Bayesian biased MF (BPMF, Salakhutdinov & Mnih 2008)
    /// by Gibbs sampling — 10 factors, noise precision 1.5 (chosen on a validation split), 20
    /// burn-in sweeps, then 200 draws averaged; trained on all the training data. Why it works:
    /// averaging the posterior's draws integrates over the factors instead of picking one
    /// point, and the Gaussian–Wishart hyperpriors set each side's regularization from the data
    /// (no L2 to tune); the averaged draws are saved as one biased MF of 2,000 factors.
    Best,
    /// TFRS's multitask tutorial: the ranking model (embeddings of 32, dense 256 → 128 → 1)
    /// trained for rating prediction and for retrieval (in-batch softmax over the embeddings'
    /// dot products) at once, loss weights 1 and 1, 3 epochs of Adagrad 0.1 in batches of
    /// 8192. Its test report adds top-K accuracy over the catalogue; it saves a ranking model.
    Multitask,
    /// The side-feature model of `configs/features.toml`: user id, title, age group, gender,
    /// occupation, zip prefix (hashed), genres (pooled), release-year buckets and title tokens
    /// (hashed, pooled), one full-rank DCN-v2 cross layer and a ReLU tower 64 → 32 → 1, Adam
    /// 0.001 in batches of 256, weight decay 0.02 on the embedding rows used, early stopping on
    /// 10% of the training data (test RMSE 0.9276, docs/experiments.md). Why: side
    /// features let users and movies with few ratings borrow from those who share their
    /// features, and the cross layer learns feature interactions (a gender × genre taste)
    /// explicitly.
    Features,
}

impl Preset {
    /// Every preset's name, as `--preset` takes it.
    pub const NAMES: &'static str = "tutorial, mf-sgd, best, multitask or features";

    /// The preset named `name`.
    pub fn from_name(name: &str) -> Result<Self> {
        match name {
            "tutorial" => Ok(Preset::Tutorial),
            "mf-sgd" => Ok(Preset::MfSgd),
            "best" => Ok(Preset::Best),
            "multitask" => Ok(Preset::Multitask),
            "features" => Ok(Preset::Features),
            other => Err(Error::Config {
                field: "preset",
                allowed: Self::NAMES,
                value: other.to_owned(),
            }),
        }
    }

    /// The recipe, before any flag overrides it.
    pub fn recipe(self) -> Recipe {
        match self {
            Preset::Tutorial => Recipe::Ranking {
                model: RankingModelConfig::default(),
                train: TrainConfig::default(),
                multitask: None,
            },
            Preset::Multitask => Recipe::Ranking {
                model: crate::kinds::ranking::multitask::model_config(),
                train: TrainConfig::default(),
                multitask: Some(MultitaskWeights::default()),
            },
            Preset::MfSgd => Recipe::Mf(MfRecipe {
                trainer: MfTrainer::Sgd(MfSgdConfig::default()),
                validation_fraction: 0.1,
            }),
            Preset::Best => Recipe::Mf(MfRecipe {
                trainer: MfTrainer::Bpmf(BpmfConfig::default()),
                validation_fraction: 0.0,
            }),
            Preset::Features => Recipe::Features(FeatureRecipe::default()),
        }
    }
}

/// What a preset trains: the ranking model, a biased MF or the side-feature model.
#[derive(Debug, Clone, PartialEq)]
pub enum Recipe {
    /// The TFRS ranking model.
    Ranking {
        /// Its shape.
        model: RankingModelConfig,
        /// How to train it.
        train: TrainConfig,
        /// Also train the retrieval task, with these loss weights (multitask).
        multitask: Option<MultitaskWeights>,
    },
    /// Biased matrix factorization.
    Mf(MfRecipe),
    /// The side-feature model.
    Features(FeatureRecipe),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_an_unknown_name_is_an_error_naming_the_flag() {
        for p in [
            Preset::Tutorial,
            Preset::MfSgd,
            Preset::Best,
            Preset::Multitask,
            Preset::Features,
        ] {
            let name = serde_json::to_value(p).unwrap();
            assert_eq!(Preset::from_name(name.as_str().unwrap()).unwrap(), p);
        }
        let err = Preset::from_name("fastest").unwrap_err().to_string();
        assert!(
            err.contains("preset") && err.contains("fastest") && err.contains("best"),
            "{err}"
        );
    }

    #[test]
    fn tutorial_is_todays_default_and_every_preset_checks() {
        assert_eq!(
            Preset::default().recipe(),
            Recipe::Ranking {
                model: RankingModelConfig::default(),
                train: TrainConfig::default(),
                multitask: None,
            }
        );
        let Recipe::Ranking {
            model, multitask, ..
        } = Preset::Multitask.recipe()
        else {
            panic!()
        };
        assert_eq!(model.hidden_layers, vec![256, 128]);
        assert!(multitask.unwrap().check().is_ok());
        let Recipe::Features(f) = Preset::Features.recipe() else {
            panic!()
        };
        assert!(f.check().is_ok() && f.network.cross_layers > 0);
        for p in [Preset::MfSgd, Preset::Best] {
            let Recipe::Mf(r) = p.recipe() else { panic!() };
            match r.trainer {
                MfTrainer::Bpmf(c) => assert!(c.check().is_ok()),
                MfTrainer::Sgd(c) => assert!(c.check().is_ok()),
            }
        }
    }
}
