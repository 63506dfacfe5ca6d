//! How to train the ranking model, as `recsys train` runs it: its shape, the schedule, and
//! optionally TFRS's multitask training or starting weights — the kind's side of the fitting
//! contract ([`Recipe`]).

use std::path::PathBuf;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::multitask::{self, MultitaskWeights, ValidMultitaskWeights};
use super::{RankingModel, RankingModelConfig, evaluate, evaluate_spooled, fit_owned, weights};
use crate::contract::{DataRows, FitSeconds, Fitted, Overrides, Recipe, TrainData, take};
use crate::train::{Schedule, TrainObserver, ValidSchedule};
use crate::{Error, Result};

/// The ranking model's recipe, unchecked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankingRecipe {
    /// The model's shape.
    pub model: RankingModelConfig,
    /// How long and how fast to train.
    pub schedule: Schedule,
    /// Train for rating and retrieval at once with these loss weights (TFRS's multitask
    /// tutorial) instead of rating alone; the model saved is the same ranking model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multitask: Option<MultitaskWeights>,
    /// Start from these weights (safetensors, the parity fixture's names) instead of the seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_weights: Option<PathBuf>,
}

impl Default for RankingRecipe {
    /// The TFRS ranking tutorial.
    fn default() -> Self {
        RankingRecipe {
            model: RankingModelConfig::default(),
            schedule: Schedule::default(),
            multitask: None,
            init_weights: None,
        }
    }
}

/// A [`RankingRecipe`] whose every field has been checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidRankingRecipe {
    model: RankingModelConfig,
    schedule: ValidSchedule,
    multitask: Option<ValidMultitaskWeights>,
    init_weights: Option<PathBuf>,
}

impl Recipe for RankingRecipe {
    type Model = RankingModel;
    type Valid = ValidRankingRecipe;

    fn check(&self) -> Result<ValidRankingRecipe> {
        self.model.check()?;
        Ok(ValidRankingRecipe {
            model: self.model.clone(),
            schedule: self.schedule.clone().check()?,
            multitask: self.multitask.map(MultitaskWeights::check).transpose()?,
            init_weights: self.init_weights.clone(),
        })
    }

    fn seed(&self) -> u64 {
        self.schedule.seed
    }

    fn overlay(&mut self, flags: &mut Overrides) {
        take(&mut flags.embedding_dim, &mut self.model.embedding_dim);
        take(&mut flags.layers, &mut self.model.hidden_layers);
        self.schedule.overlay(flags);
        if let Some(path) = flags.init_weights.take() {
            self.init_weights = Some(path);
        }
        if let Some(w) = &mut self.multitask {
            take(&mut flags.rating_weight, &mut w.rating_weight);
            take(&mut flags.retrieval_weight, &mut w.retrieval_weight);
        }
    }

    /// Only the ranking model alone: multitask training holds its examples in memory.
    fn streams(&self) -> bool {
        self.multitask.is_none()
    }

    /// Shuffled once through the spool's buffer, as the tutorial's `shuffle().cache()`.
    fn spool_shuffle_seed(&self) -> Option<u64> {
        self.schedule.shuffle.seed_before(self.schedule.seed, 1)
    }

    fn fit(
        data: TrainData,
        valid: &ValidRankingRecipe,
        observer: &mut dyn TrainObserver,
    ) -> Result<Fitted<RankingModel>> {
        let clock = Instant::now();
        let seed = valid.schedule.get().seed;
        let mut model = RankingModel::new(valid.model.clone(), data.users, data.titles, seed)?;
        if let Some(path) = &valid.init_weights {
            weights::load_safetensors_file(&mut model, path)?;
        }
        let init = clock.elapsed().as_secs_f64();
        let schedule = &valid.schedule;
        let clock = Instant::now();
        let (history, mut test) = match (data.rows, &valid.multitask) {
            (DataRows::Memory { train, test }, Some(w)) => {
                let history = multitask::fit(&mut model, train, schedule, w, observer)?;
                (history, Test::Memory(test))
            }
            (DataRows::Memory { train, test }, None) => (
                fit_owned(&mut model, train, schedule, observer)?,
                Test::Memory(test),
            ),
            (DataRows::Spooled { .. }, Some(_)) => {
                return Err(Error::InvalidInput(
                    "--stream trains the ranking model alone; multitask training holds its \
                     examples in memory"
                        .into(),
                ));
            }
            (
                DataRows::Spooled {
                    mut train,
                    test,
                    map,
                },
                None,
            ) => {
                let history = super::fit_spooled(&mut model, &mut train, &map, schedule, observer)?;
                drop(train);
                (history, Test::Spooled { test, map })
            }
        };
        let fit = clock.elapsed().as_secs_f64();
        let clock = Instant::now();
        let (test, test_retrieval) = test.evaluate(&model, valid.multitask.is_some())?;
        Ok(Fitted {
            model,
            epochs: history.epochs,
            test,
            test_retrieval,
            seconds: FitSeconds {
                init,
                fit,
                evaluate: clock.elapsed().as_secs_f64(),
            },
        })
    }
}

/// The test examples of a fit, as they came.
enum Test {
    Memory(crate::train::Examples),
    Spooled {
        test: recsys_data::Spool,
        map: recsys_data::RowMap,
    },
}

impl Test {
    /// The trained model's test metrics, with the retrieval task's when it was trained as a
    /// multitask model; `None` without a test set.
    fn evaluate(
        &mut self,
        model: &RankingModel,
        multitask: bool,
    ) -> Result<(
        Option<crate::train::Metrics>,
        Option<crate::train::RetrievalReport>,
    )> {
        Ok(match self {
            Test::Memory(test) if test.is_empty() => (None, None),
            Test::Memory(test) if multitask => {
                let m = multitask::evaluate(model, test, 4096)?;
                (Some(m.rating), Some(m.retrieval))
            }
            Test::Memory(test) => (Some(evaluate(model, test, 4096)?), None),
            Test::Spooled { test, .. } if test.is_empty() => (None, None),
            Test::Spooled { test, map } => (Some(evaluate_spooled(model, test, map, 4096)?), None),
        })
    }
}
