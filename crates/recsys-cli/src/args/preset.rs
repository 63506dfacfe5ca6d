//! `recsys train --preset`: the named recipes and the biased-MF flags, converted once (with
//! the recipe flags) into the library's [`Recipe`].

use clap::{Args, ValueEnum};
use recsys::kinds::features::FeatureRecipe;
use recsys::kinds::mf::MfTrainer;
use recsys::preset::{Preset, Recipe};
use recsys::train::TrainConfig;

use super::TrainArgs;

/// The presets, as flag values (see `recsys::preset::Preset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PresetArg {
    /// The TFRS ranking tutorial's model and recipe (the default).
    Tutorial,
    /// Biased matrix factorization by SGD with L2 and early stopping.
    MfSgd,
    /// Bayesian biased matrix factorization by Gibbs sampling: the most accurate.
    Best,
    /// TFRS's multitask tutorial: the ranking model trained for rating and retrieval at once.
    Multitask,
    /// Side features (configs/features.toml) with a DCN-v2 cross layer.
    Features,
}

/// Multitask settings (preset multitask). Unset flags take the preset's values.
#[derive(Debug, Args, Clone, Default)]
pub struct MultitaskArgs {
    /// multitask: weight of the rating task's MSE in the total loss, ≥ 0 [1].
    #[arg(long, allow_negative_numbers = true)]
    pub rating_weight: Option<f32>,
    /// multitask: weight of the retrieval task's in-batch softmax loss, ≥ 0 [1].
    #[arg(long, allow_negative_numbers = true)]
    pub retrieval_weight: Option<f32>,
}

/// Biased-MF settings (presets mf-sgd and best). Unset flags take the preset's values.
#[derive(Debug, Args, Clone, Default)]
pub struct MfArgs {
    /// Width of the user and item factors [mf-sgd: 100; best: 10 per draw].
    #[arg(long, allow_negative_numbers = true)]
    pub factors: Option<usize>,
    /// Share of the training data held out for validation and early stopping, in [0, 1)
    /// [mf-sgd: 0.1; features: 0.1; others: 0].
    #[arg(long, allow_negative_numbers = true)]
    pub validation_fraction: Option<f64>,
    /// best: Gibbs sweeps discarded before averaging [20].
    #[arg(long, allow_negative_numbers = true)]
    pub burn_in: Option<usize>,
    /// best: Gibbs draws averaged into the saved model [200].
    #[arg(long, allow_negative_numbers = true)]
    pub samples: Option<usize>,
    /// best: precision of the rating noise, α [1.5].
    #[arg(long, allow_negative_numbers = true)]
    pub noise_precision: Option<f64>,
    /// The learning rate is multiplied by this after each epoch [mf-sgd: 0.96; ranking: 1].
    #[arg(long, allow_negative_numbers = true)]
    pub learning_rate_decay: Option<f32>,
    /// mf-sgd: L2 coefficient on the factors each example looks up [0.15].
    #[arg(long, allow_negative_numbers = true)]
    pub factor_l2: Option<f32>,
    /// mf-sgd: L2 coefficient on the biases each example looks up [0.02].
    #[arg(long, allow_negative_numbers = true)]
    pub bias_l2: Option<f32>,
    /// mf-sgd: standard deviation of the factors' initialisation [0.1].
    #[arg(long, allow_negative_numbers = true)]
    pub init_std: Option<f32>,
    /// Stop after this many epochs without a better validation RMSE, keeping the best epoch
    /// (0: never; needs --validation-fraction) [mf-sgd: 3; features: 2; ranking: 0].
    #[arg(long, allow_negative_numbers = true)]
    pub patience: Option<usize>,
}

impl From<PresetArg> for Preset {
    fn from(p: PresetArg) -> Self {
        match p {
            PresetArg::Tutorial => Preset::Tutorial,
            PresetArg::MfSgd => Preset::MfSgd,
            PresetArg::Best => Preset::Best,
            PresetArg::Multitask => Preset::Multitask,
            PresetArg::Features => Preset::Features,
        }
    }
}

/// `Err` naming the first flag in `given` that was set: it does not apply to this preset.
fn refuse(preset: &str, given: &[(&str, bool)], hint: &str) -> anyhow::Result<()> {
    match given.iter().find(|(_, set)| *set) {
        Some((flag, _)) => anyhow::bail!("--{flag} does not apply to --preset {preset}; {hint}"),
        None => Ok(()),
    }
}

impl TrainArgs {
    /// The recipe: the preset's values, overridden by every flag given (checked later, by the
    /// library). A flag that does not apply to the preset is an error naming it.
    pub fn recipe(&self) -> anyhow::Result<Recipe> {
        let (r, m) = (&self.recipe, &self.mf);
        let name = self.preset.to_possible_value().expect("no skipped values");
        let name = name.get_name();
        let ranking_only = [
            ("embedding-dim", r.embedding_dim.is_some()),
            ("layers", r.layers.is_some()),
            ("no-shuffle", r.no_shuffle),
            ("init-weights", self.init_weights.is_some()),
        ];
        let sgd_only = [
            ("epochs", r.epochs.is_some()),
            ("batch-size", r.batch_size.is_some()),
            ("learning-rate", r.learning_rate.is_some()),
            ("optimizer", r.optimizer.is_some()),
            ("learning-rate-decay", m.learning_rate_decay.is_some()),
            ("factor-l2", m.factor_l2.is_some()),
            ("bias-l2", m.bias_l2.is_some()),
            ("init-std", m.init_std.is_some()),
            ("patience", m.patience.is_some()),
        ];
        let bpmf_only = [
            ("burn-in", m.burn_in.is_some()),
            ("samples", m.samples.is_some()),
            ("noise-precision", m.noise_precision.is_some()),
        ];
        let weight_flags = [
            ("rating-weight", self.multitask.rating_weight.is_some()),
            (
                "retrieval-weight",
                self.multitask.retrieval_weight.is_some(),
            ),
        ];
        let mut recipe = match &self.features {
            Some(path) => {
                if !matches!(self.preset, PresetArg::Tutorial | PresetArg::Features) {
                    anyhow::bail!(
                        "--features RECIPE.toml trains the feature model; drop --preset {name}"
                    );
                }
                Recipe::Features(FeatureRecipe::read(path)?)
            }
            None => Preset::from(self.preset).recipe(),
        };
        let name = if self.features.is_some() {
            "features"
        } else {
            name
        };
        match &mut recipe {
            Recipe::Ranking {
                model,
                train,
                multitask,
            } => {
                let mf_flags = [
                    ("factors", m.factors.is_some()),
                    ("factor-l2", m.factor_l2.is_some()),
                    ("bias-l2", m.bias_l2.is_some()),
                    ("init-std", m.init_std.is_some()),
                ];
                let hint = "it trains the ranking model (use --preset mf-sgd or best for MF)";
                refuse(name, &[&mf_flags[..], &bpmf_only].concat(), hint)?;
                *model = r.model_over(model.clone());
                *train = TrainConfig {
                    learning_rate_decay: m.learning_rate_decay.unwrap_or(1.0),
                    validation_fraction: m.validation_fraction.unwrap_or(0.0),
                    patience: m.patience.unwrap_or(0),
                    ..r.train()
                };
                match multitask {
                    Some(w) => {
                        let t = &self.multitask;
                        w.rating_weight = t.rating_weight.unwrap_or(w.rating_weight);
                        w.retrieval_weight = t.retrieval_weight.unwrap_or(w.retrieval_weight);
                    }
                    None => refuse(name, &weight_flags, "use --preset multitask")?,
                }
            }
            Recipe::Features(f) => {
                let hint = "it trains the feature model (its recipe file sets the rest)";
                refuse(name, &ranking_only, hint)?;
                refuse(name, &weight_flags, "use --preset multitask")?;
                refuse(name, &[&sgd_only[4..8], &bpmf_only].concat(), hint)?;
                refuse(name, &[("factors", m.factors.is_some())], hint)?;
                let t = &mut f.train;
                t.epochs = r.epochs.unwrap_or(t.epochs);
                t.batch_size = r.batch_size.unwrap_or(t.batch_size);
                t.learning_rate = r.learning_rate.unwrap_or(t.learning_rate);
                t.optimizer = r.optimizer.map_or(t.optimizer, |o| o.kind());
                t.seed = r.seed.unwrap_or(t.seed);
                t.validation_fraction = m.validation_fraction.unwrap_or(t.validation_fraction);
                t.patience = m.patience.unwrap_or(t.patience);
            }
            Recipe::Mf(mf) => {
                let hint = "it trains a biased MF (see --help)";
                refuse(name, &ranking_only, hint)?;
                refuse(name, &weight_flags, "use --preset multitask")?;
                mf.validation_fraction = m.validation_fraction.unwrap_or(mf.validation_fraction);
                match &mut mf.trainer {
                    MfTrainer::Bpmf(c) => {
                        refuse(
                            name,
                            &sgd_only,
                            "Gibbs sampling has --burn-in and --samples",
                        )?;
                        c.factors = m.factors.unwrap_or(c.factors);
                        c.burn_in = m.burn_in.unwrap_or(c.burn_in);
                        c.samples = m.samples.unwrap_or(c.samples);
                        c.noise_precision = m.noise_precision.unwrap_or(c.noise_precision);
                        c.seed = r.seed.unwrap_or(c.seed);
                    }
                    MfTrainer::Sgd(c) => {
                        refuse(name, &bpmf_only, "those are --preset best's")?;
                        c.factors = m.factors.unwrap_or(c.factors);
                        c.epochs = r.epochs.unwrap_or(c.epochs);
                        c.batch_size = r.batch_size.unwrap_or(c.batch_size);
                        c.learning_rate = r.learning_rate.unwrap_or(c.learning_rate);
                        c.optimizer = r.optimizer.map_or(c.optimizer, |o| o.kind());
                        c.learning_rate_decay =
                            m.learning_rate_decay.unwrap_or(c.learning_rate_decay);
                        c.factor_l2 = m.factor_l2.unwrap_or(c.factor_l2);
                        c.bias_l2 = m.bias_l2.unwrap_or(c.bias_l2);
                        c.init_std = m.init_std.unwrap_or(c.init_std);
                        c.patience = m.patience.unwrap_or(c.patience);
                        c.seed = r.seed.unwrap_or(c.seed);
                    }
                }
            }
        }
        let plain_ranking = matches!(
            recipe,
            Recipe::Ranking {
                multitask: None,
                ..
            }
        );
        if self.stream && !plain_ranking {
            anyhow::bail!(
                "--stream does not apply to --preset {name}: it streams the training of the \
                 tutorial's ranking model; this recipe holds its examples in memory"
            );
        }
        let side_information = matches!(recipe, Recipe::Features(_));
        if self.train.is_some() && self.data.data_dir.is_some() && !side_information {
            anyhow::bail!(
                "--data-dir does not apply with --train to --preset {name}: it locates MovieLens, \
                 and the files given are read as they are (only the feature model reads side \
                 information from it)"
            );
        }
        Ok(recipe)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Cli, Command};
    use super::*;
    use clap::Parser;
    use recsys::kinds::mf::MfRecipe;

    fn recipe(args: &[&str]) -> anyhow::Result<Recipe> {
        let all = ["recsys", "train", "--out", "m"]
            .into_iter()
            .chain(args.iter().copied());
        let Command::Train(t) = Cli::try_parse_from(all)?.command else {
            panic!()
        };
        t.recipe()
    }

    #[test]
    fn no_preset_is_the_tutorial_and_flags_override_it() {
        assert_eq!(recipe(&[]).unwrap(), Preset::Tutorial.recipe());
        let Recipe::Ranking { train, .. } = recipe(&["--epochs", "5"]).unwrap() else {
            panic!()
        };
        assert_eq!(train.epochs, 5);
    }

    #[test]
    fn best_takes_its_values_and_explicit_flags_win() {
        assert_eq!(
            recipe(&["--preset", "best"]).unwrap(),
            Preset::Best.recipe()
        );
        let got = recipe(&[
            "--preset",
            "best",
            "--samples",
            "7",
            "--seed",
            "3",
            "--factors",
            "4",
        ]);
        let Recipe::Mf(MfRecipe {
            trainer: MfTrainer::Bpmf(c),
            ..
        }) = got.unwrap()
        else {
            panic!()
        };
        assert_eq!((c.samples, c.seed, c.factors, c.burn_in), (7, 3, 4, 20));
        let Recipe::Mf(MfRecipe {
            trainer: MfTrainer::Sgd(c),
            validation_fraction,
        }) = recipe(&[
            "--preset",
            "mf-sgd",
            "--epochs",
            "9",
            "--validation-fraction",
            "0.2",
        ])
        .unwrap()
        else {
            panic!()
        };
        assert_eq!((c.epochs, validation_fraction), (9, 0.2));
    }

    #[test]
    fn multitask_takes_the_tutorials_layers_and_its_weights_and_flags_win() {
        let Recipe::Ranking {
            model, multitask, ..
        } = recipe(&["--preset", "multitask"]).unwrap()
        else {
            panic!()
        };
        assert_eq!(model.hidden_layers, vec![256, 128]);
        let w = multitask.unwrap();
        assert_eq!((w.rating_weight, w.retrieval_weight), (1.0, 1.0));
        let Recipe::Ranking {
            model,
            train,
            multitask,
        } = recipe(&[
            "--preset",
            "multitask",
            "--retrieval-weight",
            "0",
            "--layers",
            "64",
            "--seed",
            "3",
        ])
        .unwrap()
        else {
            panic!()
        };
        let w = multitask.unwrap();
        assert_eq!((w.rating_weight, w.retrieval_weight), (1.0, 0.0));
        assert_eq!((model.hidden_layers, train.seed), (vec![64], 3));
        // A negative weight reaches the library's range check.
        let Recipe::Ranking { multitask, .. } =
            recipe(&["--preset", "multitask", "--rating-weight", "-1"]).unwrap()
        else {
            panic!()
        };
        assert!(multitask.unwrap().check().is_err());
    }

    #[test]
    fn flags_of_another_recipe_and_unknown_presets_are_errors_naming_the_flag() {
        let err = |args: &[&str]| recipe(args).unwrap_err().to_string();
        assert!(err(&["--preset", "best", "--layers", "8"]).contains("--layers"));
        assert!(err(&["--preset", "best", "--epochs", "8"]).contains("--epochs"));
        assert!(err(&["--preset", "mf-sgd", "--samples", "8"]).contains("--samples"));
        assert!(err(&["--factors", "8"]).contains("--factors"));
        assert!(err(&["--rating-weight", "1"]).contains("--rating-weight"));
        assert!(
            err(&["--preset", "best", "--retrieval-weight", "1"]).contains("--retrieval-weight")
        );
        let unknown = err(&["--preset", "fastest"]);
        assert!(
            unknown.contains("--preset") && unknown.contains("best"),
            "{unknown}"
        );
    }

    #[test]
    fn data_dir_with_train_files_is_only_for_the_feature_model() {
        let with =
            |preset: &str| recipe(&["--preset", preset, "--train", "t.tsv", "--data-dir", "d"]);
        for preset in ["tutorial", "mf-sgd", "best", "multitask"] {
            let e = with(preset).unwrap_err().to_string();
            assert!(e.contains("--data-dir") && e.contains(preset), "{e}");
        }
        assert!(with("features").is_ok());
        assert!(recipe(&["--preset", "best", "--data-dir", "d"]).is_ok());
    }

    #[test]
    fn features_takes_the_shipped_recipe_and_its_training_flags() {
        assert_eq!(
            recipe(&["--preset", "features"]).unwrap(),
            Preset::Features.recipe()
        );
        let got = recipe(&[
            "--preset",
            "features",
            "--epochs",
            "7",
            "--patience",
            "5",
            "--validation-fraction",
            "0.2",
            "--optimizer",
            "adagrad",
        ]);
        let Recipe::Features(f) = got.unwrap() else {
            panic!()
        };
        let t = &f.train;
        assert_eq!((t.epochs, t.patience, t.validation_fraction), (7, 5, 0.2));
        assert_eq!(t.optimizer, recsys::train::OptimizerKind::Adagrad);
        let err = |args: &[&str]| recipe(args).unwrap_err().to_string();
        assert!(err(&["--preset", "features", "--factors", "3"]).contains("--factors"));
        assert!(err(&["--preset", "features", "--layers", "8"]).contains("--layers"));
        assert!(err(&["--preset", "features", "--factor-l2", "1"]).contains("--factor-l2"));
        let missing = err(&["--features", "/nonexistent/r.toml"]);
        assert!(missing.contains("/nonexistent/r.toml"), "{missing}");
        let both = err(&["--features", "r.toml", "--preset", "mf-sgd"]);
        assert!(both.contains("--features"), "{both}");
    }
}
