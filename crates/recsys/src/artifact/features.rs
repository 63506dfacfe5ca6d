//! The `features` model kind on disk: its config in the manifest, its tensors in
//! `weights.safetensors` (named by [`FeatureModel::tensors`]), the users and titles it was
//! trained on in `vocabulary.json`, and in `features.json` what turns raw ids into rows: each
//! feature's fitted lookup (vocabulary values, hash bins, bucket boundaries) and the side
//! information of every user and title it knows, so that it predicts without the data folder.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{
    FEATURES, MANIFEST, Manifest, ModelConfig, Parts, TrainingRecord, WEIGHTS, kind_mismatch,
    read_checked, read_files, save_parts,
};
use crate::kinds::features::encode::LookupFile;
use crate::kinds::features::{FeatureEncoder, FeatureModel, Lookup, SideTable};
use crate::kinds::ranking::weights;
use crate::{Error, Result};

/// The file holding the lookups and side information.
const FEATURES_FILE: &str = "features.json";

/// `features.json`.
#[derive(Serialize, Deserialize)]
struct FeaturesFile {
    /// One per feature, in the config's order.
    lookups: Vec<LookupFile>,
    /// Users' and titles' side information.
    side: SideTable,
}

/// Writes a feature model (and how it was trained) to `dir`, atomically, as
/// [`save`](super::save) writes a ranking model.
pub fn save_features(
    model: &FeatureModel,
    training: Option<&TrainingRecord>,
    dir: &Path,
) -> Result<()> {
    let file = FeaturesFile {
        lookups: model
            .encoder
            .lookups()
            .iter()
            .map(Lookup::to_file)
            .collect(),
        side: model.side.clone(),
    };
    let parts = Parts {
        kind: FEATURES,
        config: ModelConfig::Features(model.config.clone()),
        users: &model.user_vocabulary,
        titles: &model.title_vocabulary,
        tensors: model.tensors(),
        extra: vec![(
            FEATURES_FILE,
            serde_json::to_vec(&file).expect("serialises"),
        )],
    };
    save_parts(&parts, training, dir)
}

/// Reads the feature model in `dir`, whose manifest is `manifest`, checking checksums and
/// shapes.
pub(crate) fn load_features(dir: &Path, manifest: &Manifest) -> Result<FeatureModel> {
    let (users, titles, weight_bytes) = read_files(dir, manifest, FEATURES)?;
    let ModelConfig::Features(config) = manifest.model.clone() else {
        return Err(kind_mismatch(dir, manifest));
    };
    let corrupt = |file: &str, reason: String| Error::Corrupt {
        path: dir.join(file),
        reason,
    };
    let bytes = read_checked(dir, manifest, FEATURES_FILE)?;
    let file: FeaturesFile =
        serde_json::from_slice(&bytes).map_err(|e| corrupt(FEATURES_FILE, e.to_string()))?;
    let lookups = file
        .lookups
        .into_iter()
        .map(Lookup::from_file)
        .collect::<Result<Vec<_>>>()
        .map_err(|e| corrupt(FEATURES_FILE, e.to_string()))?;
    let encoder = FeatureEncoder::from_parts(config.features.clone(), lookups)
        .map_err(|e| corrupt(FEATURES_FILE, e.to_string()))?;
    let mut model = FeatureModel::new(config, encoder, file.side, users, titles, 0)
        .map_err(|e| corrupt(MANIFEST, format!("model config: {e}")))?;
    let expected: Vec<(String, Vec<usize>)> = model
        .tensors()
        .into_iter()
        .map(|(n, s, _)| (n, s))
        .collect();
    let values = weights::read_checked(&weight_bytes, &expected, &dir.join(WEIGHTS))?;
    for (t, v) in model.tensors_mut().into_iter().zip(values) {
        *t = v;
    }
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::{AnyModel, load, load_any};
    use crate::kinds::features::tests::{tiny, title, train_config};
    use crate::kinds::features::train::fit_features;
    use crate::train::Silent;

    fn trained() -> FeatureModel {
        let (m, data) = tiny(2, Some(3));
        fit_features(m, &data, None, &train_config(4), &mut Silent).unwrap()
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    #[test]
    fn save_then_load_predicts_bit_identically_and_ranks() {
        let (dot, data) = crate::kinds::features::tests::tiny_dot(1);
        let dot = fit_features(dot, &data, None, &train_config(4), &mut Silent).unwrap();
        for m in [trained(), dot] {
            save_load_rank(m);
        }
    }

    fn save_load_rank(m: FeatureModel) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("features");
        save_features(&m, None, &path).unwrap();
        let loaded = load_any(&path).unwrap();
        assert_eq!(loaded.manifest.model_kind, FEATURES);
        assert!(loaded.manifest.files.contains_key(FEATURES_FILE));
        let AnyModel::Features(back) = &loaded.model else {
            panic!("not a feature model")
        };
        assert_eq!(back, &m);
        let users = ["1", "2", "12", "999"];
        let titles = [title(0), title(1), title(7), "nope".into()];
        assert_eq!(
            bits(&m.predict(&users, &titles).unwrap()),
            bits(&loaded.model.predict(&users, &titles).unwrap())
        );
        let ranked = loaded.model.rank_all("1", 3).unwrap();
        assert_eq!(ranked.len(), 3);
        assert!(ranked[0].1 >= ranked[1].1 && ranked[1].1 >= ranked[2].1);
        // The ranking-model loader names the kind it found.
        let e = load(&path).unwrap_err().to_string();
        assert!(e.contains("\"features\""), "{e}");
    }

    #[test]
    fn a_tampered_features_file_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        save_features(&trained(), None, dir.path()).unwrap();
        let path = dir.path().join(FEATURES_FILE);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replacen("\"bins\":16", "\"bins\":17", 1)).unwrap();
        let e = load_any(dir.path()).unwrap_err();
        assert!(
            matches!(&e, Error::Corrupt { path, .. } if path.ends_with(FEATURES_FILE)),
            "{e}"
        );
        std::fs::remove_file(&path).unwrap();
        assert!(load_any(dir.path()).is_err());
    }
}
