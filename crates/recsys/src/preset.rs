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

use crate::contract::Overrides;
use crate::kinds::AnyRecipe;
use crate::kinds::features::FeatureRecipe;
use crate::kinds::mf::bpmf::BpmfConfig;
use crate::kinds::mf::sgd::MfSgdConfig;
use crate::kinds::ranking::{RankingRecipe, multitask};
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
    /// Every preset, in `--help` order.
    pub const ALL: [Preset; 5] = [
        Preset::Tutorial,
        Preset::MfSgd,
        Preset::Best,
        Preset::Multitask,
        Preset::Features,
    ];

    /// Every preset's name, as `--preset` takes it.
    pub const NAMES: &'static str = "tutorial, mf-sgd, best, multitask or features";

    /// The name `--preset` takes.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Tutorial => "tutorial",
            Preset::MfSgd => "mf-sgd",
            Preset::Best => "best",
            Preset::Multitask => "multitask",
            Preset::Features => "features",
        }
    }

    /// One line on what it trains, for `--help`.
    pub fn summary(self) -> &'static str {
        match self {
            Preset::Tutorial => "The TFRS ranking tutorial's model and recipe (the default).",
            Preset::MfSgd => "Biased matrix factorization by SGD with L2 and early stopping.",
            Preset::Best => {
                "Bayesian biased matrix factorization by Gibbs sampling: the most accurate."
            }
            Preset::Multitask => {
                "TFRS's multitask tutorial: the ranking model trained for rating and retrieval."
            }
            Preset::Features => "Side features (configs/features.toml) with a DCN-v2 cross layer.",
        }
    }

    /// The recipe of a side-feature recipe file (`--features RECIPE.toml`) given with this
    /// preset: the file replaces the default preset's recipe or the `features` preset's; with
    /// another preset it is an error saying so (before the file is read).
    pub fn with_feature_file(self, path: &std::path::Path) -> Result<AnyRecipe> {
        if self != Preset::default() && !self.recipe().reads_side_information() {
            return Err(Error::InvalidInput(format!(
                "--features RECIPE.toml trains the feature model; drop --preset {}",
                self.name()
            )));
        }
        Ok(AnyRecipe::Features(FeatureRecipe::read(path)?))
    }

    /// The preset named `name`.
    pub fn from_name(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| Error::Config {
                field: "preset",
                allowed: Self::NAMES,
                value: name.to_owned(),
            })
    }

    /// The recipe, before any flag overrides it.
    pub fn recipe(self) -> AnyRecipe {
        match self {
            Preset::Tutorial => AnyRecipe::Ranking(RankingRecipe::default()),
            Preset::Multitask => AnyRecipe::Ranking(RankingRecipe {
                model: multitask::model_config(),
                multitask: Some(multitask::MultitaskWeights::default()),
                ..RankingRecipe::default()
            }),
            Preset::MfSgd => AnyRecipe::MfSgd(MfSgdConfig::default()),
            Preset::Best => AnyRecipe::Bpmf(BpmfConfig::default()),
            Preset::Features => AnyRecipe::Features(FeatureRecipe::default()),
        }
    }
}

impl AnyRecipe {
    /// `self` with the values in `flags` laid over it. A flag the recipe does not have is an
    /// error naming it, `name` (the preset it came from) and the presets that do take it.
    pub fn with_flags(mut self, name: &str, mut flags: Overrides) -> Result<Self> {
        let given = flags.clone();
        self.overlay(&mut flags);
        let Some(&flag) = flags.left().first() else {
            return Ok(self);
        };
        let takers: Vec<&str> = Preset::ALL
            .into_iter()
            .filter(|p| {
                let mut only = given.only(flag);
                p.recipe().overlay(&mut only);
                only.left().is_empty()
            })
            .map(Preset::name)
            .collect();
        Err(Error::InvalidInput(format!(
            "--{flag} does not apply to --preset {name}; it applies to --preset {}",
            takers.join(", ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_an_unknown_name_is_an_error_naming_the_flag() {
        for p in Preset::ALL {
            let name = serde_json::to_value(p).unwrap();
            assert_eq!(Preset::from_name(name.as_str().unwrap()).unwrap(), p);
            assert_eq!(p.name(), name.as_str().unwrap());
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
            AnyRecipe::Ranking(RankingRecipe::default())
        );
        let AnyRecipe::Ranking(r) = Preset::Multitask.recipe() else {
            panic!()
        };
        assert_eq!(r.model.hidden_layers, vec![256, 128]);
        assert!(r.multitask.unwrap().check().is_ok());
        let AnyRecipe::Features(f) = Preset::Features.recipe() else {
            panic!()
        };
        assert!(f.network.cross_layers > 0);
        for p in Preset::ALL {
            assert!(p.recipe().check().is_ok(), "{p:?}");
        }
    }

    #[test]
    fn a_flag_no_recipe_of_the_preset_takes_names_the_presets_that_do() {
        let flags = Overrides {
            samples: Some(3),
            ..Overrides::default()
        };
        let err = Preset::MfSgd
            .recipe()
            .with_flags("mf-sgd", flags)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--samples") && err.contains("best"), "{err}");
        let flags = Overrides {
            epochs: Some(2),
            ..Overrides::default()
        };
        assert!(
            Preset::Tutorial
                .recipe()
                .with_flags("tutorial", flags)
                .is_ok()
        );
    }
}
