//! The one dispatch point: the only place in recsys that matches on which kind a model is.
//!
//! [`AnyModel`] holds a model of any kind and answers the contract by handing each call to the
//! kind; [`ModelConfig`] is the manifest's `model_kind` + `model`, tagged; [`AnyRecipe`] is a
//! way of training, tagged by `kind`; [`Portable`] is the graph a kind exports as. Adding a
//! kind adds one variant to each enum here and one arm to each macro; nothing else outside
//! the kind's folder changes (ARCHITECTURE.md, "Adding a model kind").

use serde::{Deserialize, Serialize};

use super::features::{FeatureModel, FeatureModelConfig, FeatureRecipe};
use super::mf::bpmf::BpmfConfig;
use super::mf::sgd::MfSgdConfig;
use super::mf::{BiasedMf, BiasedMfConfig};
use super::ranking::{RankingModel, RankingModelConfig, RankingRecipe};
use crate::contract::{
    Fitted, Ids, Labeled, Model, Overrides, Persist, Recipe, Saved, Score, TrainData,
};
use crate::tensors::Tensor;
use crate::train::{Metrics, TrainObserver};
use crate::{Error, Result};

/// `$body` with `$m` bound to the model inside `$model`, whatever its kind.
macro_rules! each_model {
    ($model:expr, $m:ident => $body:expr) => {
        match $model {
            AnyModel::Ranking($m) => $body,
            AnyModel::BiasedMf($m) => $body,
            AnyModel::Features($m) => $body,
        }
    };
}

/// `$body` with `$r` bound to the recipe inside `$recipe`, whatever its kind.
macro_rules! each_recipe {
    ($recipe:expr, $r:ident => $body:expr) => {
        match $recipe {
            AnyRecipe::Ranking($r) => $body,
            AnyRecipe::MfSgd($r) => $body,
            AnyRecipe::Bpmf($r) => $body,
            AnyRecipe::Features($r) => $body,
        }
    };
}

/// A model of any kind.
#[derive(Debug, Clone, PartialEq)]
pub enum AnyModel {
    /// The TFRS ranking model (`"ranking"`).
    Ranking(RankingModel),
    /// Biased matrix factorization (`"biased_mf"`).
    BiasedMf(BiasedMf),
    /// The side-feature model (`"features"`).
    Features(FeatureModel),
}

/// The shape of a model of any kind, as `manifest.json` holds it: `model_kind` names the kind,
/// `model` holds its config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model_kind", content = "model", rename_all = "snake_case")]
pub enum ModelConfig {
    /// Kind `"ranking"`.
    Ranking(RankingModelConfig),
    /// Kind `"biased_mf"` (since artifact version 2).
    BiasedMf(BiasedMfConfig),
    /// Kind `"features"` (since artifact version 3).
    Features(FeatureModelConfig),
}

/// Each kind into and out of [`AnyModel`] (out of it: the model back when it is of another
/// kind).
macro_rules! any_model_holds {
    ($($variant:ident($kind:ty)),*) => {$(
        impl From<$kind> for AnyModel {
            fn from(m: $kind) -> Self {
                AnyModel::$variant(m)
            }
        }

        impl TryFrom<AnyModel> for $kind {
            type Error = AnyModel;
            fn try_from(m: AnyModel) -> std::result::Result<Self, AnyModel> {
                match m {
                    AnyModel::$variant(m) => Ok(m),
                    other => Err(other),
                }
            }
        }
    )*};
}

any_model_holds!(
    Ranking(RankingModel),
    BiasedMf(BiasedMf),
    Features(FeatureModel)
);

impl AnyModel {
    /// The shape, tagged with the kind.
    pub fn config(&self) -> ModelConfig {
        match self {
            AnyModel::Ranking(m) => ModelConfig::Ranking(m.config()),
            AnyModel::BiasedMf(m) => ModelConfig::BiasedMf(m.config()),
            AnyModel::Features(m) => ModelConfig::Features(m.config()),
        }
    }

    /// The kind's own config, as the manifest's `model` holds it.
    pub fn config_json(&self) -> serde_json::Value {
        each_model!(self, m => serde_json::to_value(m.config()).expect("a config serialises"))
    }

    /// Every tensor, named, in the kind's order.
    pub fn tensors(&self) -> Vec<Tensor<'_>> {
        each_model!(self, m => m.tensors())
    }

    /// The kind's own files besides weights and vocabularies.
    pub fn files(&self) -> Vec<(&'static str, Vec<u8>)> {
        each_model!(self, m => m.files())
    }

    /// The model `config` describes, its parts read through `saved`.
    pub fn load(config: ModelConfig, saved: &mut dyn Saved) -> Result<Self> {
        Ok(match config {
            ModelConfig::Ranking(c) => RankingModel::load(c, saved)?.into(),
            ModelConfig::BiasedMf(c) => BiasedMf::load(c, saved)?.into(),
            ModelConfig::Features(c) => FeatureModel::load(c, saved)?.into(),
        })
    }

    /// The graph an export writes for this model, or an error naming a kind that has none.
    pub fn portable(&self) -> Result<Portable<'_>> {
        match self {
            AnyModel::Ranking(m) => Ok(Portable::Tower(m)),
            AnyModel::BiasedMf(m) => Ok(Portable::BiasedDot(m)),
            AnyModel::Features(m) => Err(Error::Unsupported {
                kind: m.kind(),
                what: "export (ONNX, TFLite and recsys-infer take ranking models and biased \
                       MFs)",
            }),
        }
    }
}

impl ModelConfig {
    /// The kind's name, as `model_kind` spells it.
    pub fn kind(&self) -> &'static str {
        match self {
            ModelConfig::Ranking(_) => RankingModel::KIND,
            ModelConfig::BiasedMf(_) => BiasedMf::KIND,
            ModelConfig::Features(_) => FeatureModel::KIND,
        }
    }
}

impl Model for AnyModel {
    fn kind(&self) -> &'static str {
        each_model!(self, m => m.kind())
    }
    fn user_vocabulary(&self) -> &recsys_data::Vocabulary {
        each_model!(self, m => Model::user_vocabulary(m))
    }
    fn title_vocabulary(&self) -> &recsys_data::Vocabulary {
        each_model!(self, m => Model::title_vocabulary(m))
    }
    fn num_parameters(&self) -> usize {
        each_model!(self, m => Model::num_parameters(m))
    }
    fn predict(&self, users: &dyn Ids, titles: &dyn Ids) -> Result<Vec<f32>> {
        each_model!(self, m => m.predict(users, titles))
    }
    fn evaluate(&self, test: &Labeled<'_>) -> Result<Metrics> {
        each_model!(self, m => m.evaluate(test))
    }
    fn out_of_vocabulary(&self) -> &'static str {
        each_model!(self, m => Model::out_of_vocabulary(m))
    }
    fn reads_times(&self) -> bool {
        each_model!(self, m => m.reads_times())
    }
    fn rank(&self, user_id: &str, candidates: &dyn Ids) -> Result<Vec<(String, f32)>> {
        each_model!(self, m => m.rank(user_id, candidates))
    }
    fn into_scorer(self) -> Box<dyn Score> {
        each_model!(self, m => m.into_scorer())
    }
}

/// The graph a model exports as: what ONNX, TFLite and `recsys-infer` write and read.
#[derive(Debug, Clone, Copy)]
pub enum Portable<'a> {
    /// Two embeddings, concatenated, dense ReLU layers down to one unit: TFRS's ranking
    /// model (ONNX and TFLite, `f32`, `f16` or `int8` weights).
    Tower(&'a RankingModel),
    /// `g + b_u + b_i + p_u·q_i`, clamped to the rating range (ONNX, `f32`).
    BiasedDot(&'a BiasedMf),
}

/// A way of training a model, with its settings: what `recsys train --preset` picks and the
/// manifest records as `training.recipe` (tagged by `kind`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AnyRecipe {
    /// The TFRS ranking model (rating alone, or multitask).
    Ranking(RankingRecipe),
    /// Biased MF by gradient descent.
    MfSgd(MfSgdConfig),
    /// Biased MF by Gibbs sampling (BPMF).
    Bpmf(BpmfConfig),
    /// The side-feature model.
    Features(FeatureRecipe),
}

/// An [`AnyRecipe`] whose every field has been checked.
#[derive(Debug, Clone)]
pub struct ValidAnyRecipe(ValidInner);

#[derive(Debug, Clone)]
enum ValidInner {
    Ranking(<RankingRecipe as Recipe>::Valid),
    MfSgd(<MfSgdConfig as Recipe>::Valid),
    Bpmf(<BpmfConfig as Recipe>::Valid),
    Features(<FeatureRecipe as Recipe>::Valid),
}

impl AnyRecipe {
    /// Checks every field, naming the first out of range.
    pub fn check(&self) -> Result<ValidAnyRecipe> {
        Ok(ValidAnyRecipe(match self {
            AnyRecipe::Ranking(r) => ValidInner::Ranking(r.check()?),
            AnyRecipe::MfSgd(r) => ValidInner::MfSgd(Recipe::check(r)?),
            AnyRecipe::Bpmf(r) => ValidInner::Bpmf(Recipe::check(r)?),
            AnyRecipe::Features(r) => ValidInner::Features(Recipe::check(r)?),
        }))
    }

    /// The seed, which also draws the MovieLens split.
    pub fn seed(&self) -> u64 {
        each_recipe!(self, r => r.seed())
    }

    /// Takes the flags of `flags` that this recipe has; the rest stay.
    pub fn overlay(&mut self, flags: &mut Overrides) {
        each_recipe!(self, r => r.overlay(flags))
    }

    /// Whether it trains from a spool on disk (`--stream`).
    pub fn streams(&self) -> bool {
        each_recipe!(self, r => r.streams())
    }

    /// The seed a spool's rows are shuffled with on their way to disk (`None`: file order).
    pub fn spool_shuffle_seed(&self) -> Option<u64> {
        each_recipe!(self, r => r.spool_shuffle_seed())
    }

    /// Whether it reads MovieLens's side information beside the ratings.
    pub fn reads_side_information(&self) -> bool {
        each_recipe!(self, r => r.reads_side_information())
    }
}

impl ValidAnyRecipe {
    /// Trains on `data`, reporting to `observer`, and evaluates on its test part.
    pub fn fit(
        &self,
        data: TrainData,
        observer: &mut dyn TrainObserver,
    ) -> Result<Fitted<AnyModel>> {
        fn any<M: Into<AnyModel>>(f: Fitted<M>) -> Fitted<AnyModel> {
            Fitted {
                model: f.model.into(),
                epochs: f.epochs,
                test: f.test,
                test_retrieval: f.test_retrieval,
                seconds: f.seconds,
            }
        }
        Ok(match &self.0 {
            ValidInner::Ranking(v) => any(RankingRecipe::fit(data, v, observer)?),
            ValidInner::MfSgd(v) => any(MfSgdConfig::fit(data, v, observer)?),
            ValidInner::Bpmf(v) => any(BpmfConfig::fit(data, v, observer)?),
            ValidInner::Features(v) => any(FeatureRecipe::fit(data, v, observer)?),
        })
    }
}
