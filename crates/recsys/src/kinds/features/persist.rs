//! The `features` kind on disk: its config in the manifest, its tensors in
//! `weights.safetensors` (named by [`FeatureModel::tensors`]), the users and titles it was
//! trained on in `vocabulary.json`, and in `features.json` what turns raw ids into rows: each
//! feature's fitted lookup (vocabulary values, hash bins, bucket boundaries) and the side
//! information of every user and title it knows, so that it predicts without the data folder.

use serde::{Deserialize, Serialize};

use super::encode::LookupFile;
use super::{FeatureEncoder, FeatureModel, FeatureModelConfig, Lookup, SideTable};
use crate::Result;
use crate::contract::{Persist, Saved};
use crate::tensors::{Tensor, shapes};

/// The file holding the lookups and side information.
pub(crate) const FEATURES_FILE: &str = "features.json";

/// `features.json`.
#[derive(Serialize, Deserialize)]
struct FeaturesFile {
    /// One per feature, in the config's order.
    lookups: Vec<LookupFile>,
    /// Users' and titles' side information.
    side: SideTable,
}

impl Persist for FeatureModel {
    const KIND: &'static str = "features";
    type Config = FeatureModelConfig;

    fn config(&self) -> FeatureModelConfig {
        self.config.clone()
    }

    fn tensors(&self) -> Vec<Tensor<'_>> {
        FeatureModel::tensors(self)
    }

    fn files(&self) -> Vec<(&'static str, Vec<u8>)> {
        let file = FeaturesFile {
            lookups: self.encoder.lookups().iter().map(Lookup::to_file).collect(),
            side: self.side.clone(),
        };
        vec![(
            FEATURES_FILE,
            serde_json::to_vec(&file).expect("serialises"),
        )]
    }

    fn load(config: FeatureModelConfig, saved: &mut dyn Saved) -> Result<Self> {
        let (users, titles) = saved.vocabularies()?;
        let bytes = saved.file(FEATURES_FILE)?;
        let corrupt = |saved: &dyn Saved, reason: String| saved.corrupt(FEATURES_FILE, reason);
        let file: FeaturesFile =
            serde_json::from_slice(&bytes).map_err(|e| corrupt(saved, e.to_string()))?;
        let lookups = file
            .lookups
            .into_iter()
            .map(Lookup::from_file)
            .collect::<Result<Vec<_>>>()
            .map_err(|e| corrupt(saved, e.to_string()))?;
        let encoder = FeatureEncoder::from_parts(config.features.clone(), lookups)
            .map_err(|e| corrupt(saved, e.to_string()))?;
        // Seed 0 only sizes the tables: every value is replaced by the saved one.
        let mut model = FeatureModel::new(config, encoder, file.side, users, titles, 0)
            .map_err(|e| saved.corrupt("manifest.json", format!("model config: {e}")))?;
        let values = saved.tensors(&shapes(&model.tensors()))?;
        for (t, v) in model.tensors_mut().into_iter().zip(values) {
            *t = v;
        }
        Ok(model)
    }
}
