//! `recsys train --preset`: the presets as flag values, the flags only some recipes take, and
//! the one function that lays every flag given over the preset's recipe (the library's
//! [`Overrides`]; each recipe takes the flags it has, and any other is an error naming it).

use clap::Args;
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use recsys::contract::Overrides;
use recsys::kinds::AnyRecipe;
use recsys::preset::Preset;
use recsys::train::Shuffle;

use super::{OptimizerArg, TrainArgs};

/// `--preset`'s values: the library's presets, each with its summary as help.
pub fn parser() -> impl TypedValueParser<Value = Preset> {
    let values = Preset::ALL.map(|p| PossibleValue::new(p.name()).help(p.summary()));
    PossibleValuesParser::new(values)
        .map(|name| Preset::from_name(&name).expect("a listed preset name"))
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

impl TrainArgs {
    /// The values given on the command line, as the library's overrides.
    fn overrides(&self) -> Overrides {
        let (r, m, t) = (&self.recipe, &self.mf, &self.multitask);
        Overrides {
            epochs: r.epochs,
            batch_size: r.batch_size,
            optimizer: r.optimizer.map(OptimizerArg::kind),
            learning_rate: r.learning_rate,
            learning_rate_decay: m.learning_rate_decay,
            seed: r.seed,
            shuffle: r.no_shuffle.then_some(Shuffle::Off),
            validation_fraction: m.validation_fraction,
            patience: m.patience,
            embedding_dim: r.embedding_dim,
            layers: r.layers.clone(),
            init_weights: self.init_weights.clone(),
            factors: m.factors,
            burn_in: m.burn_in,
            samples: m.samples,
            noise_precision: m.noise_precision,
            factor_l2: m.factor_l2,
            bias_l2: m.bias_l2,
            init_std: m.init_std,
            rating_weight: t.rating_weight,
            retrieval_weight: t.retrieval_weight,
        }
    }

    /// The recipe: the preset's (or the `--features` file's), every flag given laid over it
    /// (checked later, by the library). A flag the recipe does not have is an error naming it.
    pub fn recipe(&self) -> anyhow::Result<AnyRecipe> {
        let (recipe, name) = match &self.features {
            Some(path) => (self.preset.with_feature_file(path)?, "features"),
            None => (self.preset.recipe(), self.preset.name()),
        };
        let recipe = recipe.with_flags(name, self.overrides())?;
        if self.stream && !recipe.streams() {
            anyhow::bail!(
                "--stream does not apply to --preset {name}: it streams the training of the \
                 tutorial's ranking model; this recipe holds its examples in memory"
            );
        }
        if self.train.is_some() && self.data.data_dir.is_some() && !recipe.reads_side_information()
        {
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
    use recsys::kinds::ranking::RankingRecipe;

    fn recipe(args: &[&str]) -> anyhow::Result<AnyRecipe> {
        let all = ["recsys", "train", "--out", "m"]
            .into_iter()
            .chain(args.iter().copied());
        let Command::Train(t) = Cli::try_parse_from(all)?.command else {
            panic!()
        };
        t.recipe()
    }

    fn ranking(args: &[&str]) -> RankingRecipe {
        match recipe(args).unwrap() {
            AnyRecipe::Ranking(r) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn no_preset_is_the_tutorial_and_flags_override_it() {
        assert_eq!(recipe(&[]).unwrap(), Preset::Tutorial.recipe());
        assert_eq!(ranking(&["--epochs", "5"]).schedule.epochs, 5);
        assert_eq!(ranking(&["--no-shuffle"]).schedule.shuffle, Shuffle::Off);
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
        let AnyRecipe::Bpmf(c) = got.unwrap() else {
            panic!()
        };
        assert_eq!((c.samples, c.seed, c.factors, c.burn_in), (7, 3, 4, 20));
        let AnyRecipe::MfSgd(c) = recipe(&[
            "--preset",
            "mf-sgd",
            "--epochs",
            "9",
            "--validation-fraction",
            "0.2",
        ])
        .unwrap() else {
            panic!()
        };
        let s = &c.schedule;
        assert_eq!((s.epochs, s.validation_fraction), (9, 0.2));
    }

    #[test]
    fn multitask_takes_the_tutorials_layers_and_its_weights_and_flags_win() {
        let r = ranking(&["--preset", "multitask"]);
        assert_eq!(r.model.hidden_layers, vec![256, 128]);
        let w = r.multitask.unwrap();
        assert_eq!((w.rating_weight, w.retrieval_weight), (1.0, 1.0));
        let r = ranking(&[
            "--preset",
            "multitask",
            "--retrieval-weight",
            "0",
            "--layers",
            "64",
            "--seed",
            "3",
        ]);
        let w = r.multitask.unwrap();
        assert_eq!((w.rating_weight, w.retrieval_weight), (1.0, 0.0));
        assert_eq!((r.model.hidden_layers, r.schedule.seed), (vec![64], 3));
        // A negative weight reaches the library's range check.
        let r = ranking(&["--preset", "multitask", "--rating-weight", "-1"]);
        assert!(r.multitask.unwrap().check().is_err());
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
        let AnyRecipe::Features(f) = got.unwrap() else {
            panic!()
        };
        let t = &f.train.schedule;
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
