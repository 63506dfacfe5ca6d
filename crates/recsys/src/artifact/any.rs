//! Model directories of every kind: [`save_mf`] writes a [`BiasedMf`] (and
//! [`save_features`](super::save_features) a [`FeatureModel`]), [`load_any`] reads whichever
//! kind the manifest names into an [`AnyModel`], which predicts, ranks and evaluates.

use std::path::Path;

use recsys_data::{Rating, Vocabulary};

use super::{
    BIASED_MF, FEATURES, MANIFEST, Manifest, ModelConfig, Parts, RANKING, TrainingRecord, WEIGHTS,
    kind_mismatch, read_files, read_manifest, save_parts,
};
use crate::kinds::features::FeatureModel;
use crate::kinds::mf::BiasedMf;
use crate::kinds::ranking::RankingModel;
use crate::kinds::ranking::weights;
use crate::train::{Examples, Metrics};
use crate::{Error, Result};

/// A saved model of any kind.
#[derive(Debug, Clone, PartialEq)]
pub enum AnyModel {
    /// The TFRS ranking model (`"ranking"`).
    Ranking(RankingModel),
    /// Biased matrix factorization (`"biased_mf"`).
    BiasedMf(BiasedMf),
    /// The side-feature model (`"features"`).
    Features(FeatureModel),
}

/// A model of any kind loaded from disk, with its manifest.
#[derive(Debug, Clone)]
pub struct AnySaved {
    /// The model.
    pub model: AnyModel,
    /// What the directory said about it.
    pub manifest: Manifest,
}

impl AnyModel {
    /// The manifest's name for this kind.
    pub fn kind(&self) -> &'static str {
        match self {
            AnyModel::Ranking(_) => RANKING,
            AnyModel::BiasedMf(_) => BIASED_MF,
            AnyModel::Features(_) => FEATURES,
        }
    }

    /// The user vocabulary.
    pub fn user_vocabulary(&self) -> &Vocabulary {
        match self {
            AnyModel::Ranking(m) => &m.user_vocabulary,
            AnyModel::BiasedMf(m) => &m.user_vocabulary,
            AnyModel::Features(m) => &m.user_vocabulary,
        }
    }

    /// The title vocabulary.
    pub fn title_vocabulary(&self) -> &Vocabulary {
        match self {
            AnyModel::Ranking(m) => &m.title_vocabulary,
            AnyModel::BiasedMf(m) => &m.title_vocabulary,
            AnyModel::Features(m) => &m.title_vocabulary,
        }
    }

    /// Predicted ratings for `(user_ids[i], movie_titles[i])` pairs.
    pub fn predict<U: AsRef<str>, T: AsRef<str>>(
        &self,
        users: &[U],
        titles: &[T],
    ) -> Result<Vec<f32>> {
        match self {
            AnyModel::Ranking(m) => m.predict(users, titles),
            AnyModel::BiasedMf(m) => m.predict(users, titles),
            AnyModel::Features(m) => m.predict(users, titles),
        }
    }

    /// Scores `candidates` for one user, best first (ties keep the candidates' order).
    pub fn rank<T: AsRef<str>>(
        &self,
        user_id: &str,
        candidates: &[T],
    ) -> Result<Vec<(String, f32)>> {
        match self {
            AnyModel::Ranking(m) => m.rank(user_id, candidates),
            AnyModel::BiasedMf(_) | AnyModel::Features(_) => {
                let users = vec![user_id; candidates.len()];
                Ok(crate::kinds::ranking::sort_ranked(
                    candidates,
                    self.predict(&users, candidates)?,
                ))
            }
        }
    }

    /// Ranks every title in the vocabulary for one user, keeping `top`.
    pub fn rank_all(&self, user_id: &str, top: usize) -> Result<Vec<(String, f32)>> {
        let titles: Vec<&str> = self.title_vocabulary().values().iter().collect();
        let mut ranked = self.rank(user_id, &titles)?;
        ranked.truncate(top);
        Ok(ranked)
    }

    /// The model's metrics on `ratings`.
    pub fn evaluate(&self, ratings: &[Rating]) -> Result<Metrics> {
        match self {
            AnyModel::Ranking(m) => {
                crate::kinds::ranking::evaluate(m, &Examples::encode(m, ratings), 4096)
            }
            AnyModel::BiasedMf(m) => crate::kinds::mf::evaluate(m, &m.encode(ratings)),
            AnyModel::Features(m) => m.evaluate(ratings),
        }
    }
}

/// The tensors of a biased MF: `user_factors`, `item_factors` (`[rows, factors]`), `user_bias`,
/// `item_bias` (`[rows]`) and `global_bias` (`[1]`).
fn mf_tensors(m: &BiasedMf) -> Vec<(String, Vec<usize>, &[f32])> {
    let k = m.config.factors;
    let (nu, ni) = (m.user_factors.rows, m.item_factors.rows);
    vec![
        (
            "user_factors".into(),
            vec![nu, k],
            &m.user_factors.table[..],
        ),
        (
            "item_factors".into(),
            vec![ni, k],
            &m.item_factors.table[..],
        ),
        ("user_bias".into(), vec![nu], &m.user_bias.table[..]),
        ("item_bias".into(), vec![ni], &m.item_bias.table[..]),
        (
            "global_bias".into(),
            vec![1],
            std::slice::from_ref(&m.global_bias),
        ),
    ]
}

/// Writes a biased MF (and how it was trained) to `dir`, atomically, as [`save`](super::save)
/// writes a ranking model.
pub fn save_mf(model: &BiasedMf, training: Option<&TrainingRecord>, dir: &Path) -> Result<()> {
    let parts = Parts {
        kind: BIASED_MF,
        config: ModelConfig::BiasedMf(model.config.clone()),
        users: &model.user_vocabulary,
        titles: &model.title_vocabulary,
        tensors: mf_tensors(model),
        extra: Vec::new(),
    };
    save_parts(&parts, training, dir)
}

/// Reads the model in `dir`, of whichever kind its manifest names, checking version,
/// checksums and shapes.
pub fn load_any(dir: &Path) -> Result<AnySaved> {
    let manifest = read_manifest(dir)?;
    if manifest.model_kind == RANKING {
        let saved = super::load(dir)?;
        return Ok(AnySaved {
            model: AnyModel::Ranking(saved.model),
            manifest: saved.manifest,
        });
    }
    if manifest.model_kind == FEATURES {
        return Ok(AnySaved {
            model: AnyModel::Features(super::features::load_features(dir, &manifest)?),
            manifest,
        });
    }
    let (users, titles, bytes) = read_files(dir, &manifest, BIASED_MF)?;
    let ModelConfig::BiasedMf(config) = manifest.model.clone() else {
        return Err(kind_mismatch(dir, &manifest));
    };
    let mut model = BiasedMf::zeros(config, users, titles).map_err(|e| Error::Corrupt {
        path: dir.join(MANIFEST),
        reason: format!("model config: {e}"),
    })?;
    let expected: Vec<(String, Vec<usize>)> = mf_tensors(&model)
        .into_iter()
        .map(|(n, s, _)| (n, s))
        .collect();
    let mut values = weights::read_checked(&bytes, &expected, &dir.join(WEIGHTS))?.into_iter();
    for t in [
        &mut model.user_factors.table,
        &mut model.item_factors.table,
        &mut model.user_bias.table,
        &mut model.item_bias.table,
    ] {
        *t = values.next().expect("one value vector per expected tensor");
    }
    model.global_bias = values.next().expect("global_bias")[0];
    Ok(AnySaved {
        model: AnyModel::BiasedMf(model),
        manifest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::{ARTIFACT_FORMAT_VERSION, load};
    use crate::train::Silent;

    const USERS: [&str; 3] = ["42", "1", "unknown"];
    const TITLES: [&str; 3] = ["A (1990)", "C (1992)", "nope"];
    const FEATURE_TITLES: [&str; 3] = ["Movie 0 (1990)", "Movie 3 (1993)", "nope"];

    #[test]
    fn mf_save_then_load_predicts_bit_identically_and_records_the_kind() {
        let m = crate::kinds::mf::tests::tiny();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mf");
        save_mf(&m, None, &path).unwrap();
        let loaded = load_any(&path).unwrap();
        assert_eq!(loaded.manifest.model_kind, BIASED_MF);
        assert_eq!(loaded.manifest.format_version, ARTIFACT_FORMAT_VERSION);
        assert_eq!(loaded.model, AnyModel::BiasedMf(m.clone()));
        let (a, b) = (
            m.predict(&USERS, &TITLES).unwrap(),
            loaded.model.predict(&USERS, &TITLES).unwrap(),
        );
        assert_eq!(
            a.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            b.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
        let ranked = loaded.model.rank_all("42", 2).unwrap();
        assert_eq!(ranked.len(), 2);
        assert!(ranked[0].1 >= ranked[1].1);
    }

    #[test]
    fn the_ranking_loader_refuses_an_mf_model_naming_its_kind() {
        let dir = tempfile::tempdir().unwrap();
        save_mf(&crate::kinds::mf::tests::tiny(), None, dir.path()).unwrap();
        match load(dir.path()) {
            Err(Error::UnsupportedModelKind { kind, .. }) => assert_eq!(kind, BIASED_MF),
            other => panic!("expected UnsupportedModelKind, got {other:?}"),
        }
        let msg = load(dir.path()).unwrap_err().to_string();
        assert!(msg.contains("\"biased_mf\""), "{msg}");
    }

    #[test]
    fn a_manifest_whose_config_is_not_its_kinds_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        save_mf(&crate::kinds::mf::tests::tiny(), None, dir.path()).unwrap();
        let path = dir.path().join(MANIFEST);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("\"biased_mf\"", "\"ranking\"")).unwrap();
        assert!(matches!(load_any(dir.path()), Err(Error::Corrupt { .. })));
    }

    #[test]
    fn every_committed_fixture_loads_through_load_any() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat");
        for (v, kind) in [(1, RANKING), (2, BIASED_MF), (3, FEATURES)] {
            let dir = root.join(format!("artifact_v{v}"));
            let loaded = load_any(&dir).unwrap();
            assert_eq!(
                (loaded.manifest.format_version, loaded.model.kind()),
                (v, kind)
            );
            let want: Vec<f32> = serde_json::from_str(
                &std::fs::read_to_string(root.join(format!("artifact_v{v}_predictions.json")))
                    .unwrap(),
            )
            .unwrap();
            let (users, titles) = match v {
                1 => (USERS, ["Speed (1994)", "Café, Le (1990)", "nope"]),
                2 => (USERS, TITLES),
                _ => (USERS, FEATURE_TITLES),
            };
            let got = loaded.model.predict(&users, &titles).unwrap();
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() <= 1e-6, "v{v}: {got:?} vs {want:?}");
            }
        }
    }

    /// Writes `tests/compat/artifact_vN` and the predictions it must keep making.
    fn write_fixture(v: u32, model: &AnyModel, titles: [&str; 3]) {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat");
        let dir = root.join(format!("artifact_v{v}"));
        match model {
            AnyModel::BiasedMf(m) => save_mf(m, None, &dir).unwrap(),
            AnyModel::Features(m) => crate::artifact::save_features(m, None, &dir).unwrap(),
            AnyModel::Ranking(m) => crate::artifact::save(m, None, &dir).unwrap(),
        }
        let p = model.predict(&USERS, &titles).unwrap();
        let json = serde_json::to_string(&p).unwrap();
        std::fs::write(root.join(format!("artifact_v{v}_predictions.json")), json).unwrap();
    }

    /// Writes the version-2 fixture (a tiny synthetic biased MF); run by hand once:
    /// `cargo test -p recsys write_mf_compat_fixture -- --ignored`.
    #[test]
    #[ignore]
    fn write_mf_compat_fixture() {
        write_fixture(
            2,
            &AnyModel::BiasedMf(crate::kinds::mf::tests::tiny()),
            TITLES,
        );
    }

    /// Writes the version-3 fixture (a tiny feature model with a low-rank cross layer, trained
    /// for a few epochs); run by hand once:
    /// `cargo test -p recsys write_features_compat_fixture -- --ignored`.
    #[test]
    #[ignore]
    fn write_features_compat_fixture() {
        let (m, data) = crate::kinds::features::tests::tiny(1, Some(2));
        let cfg = crate::kinds::features::tests::train_config(5);
        let m =
            crate::kinds::features::train::fit_features(m, &data, None, &cfg, &mut Silent).unwrap();
        assert_eq!(ARTIFACT_FORMAT_VERSION, 3);
        write_fixture(3, &AnyModel::Features(m), FEATURE_TITLES);
    }

    #[test]
    fn public_types_are_send_sync_unpin() {
        fn has_autotraits<T: Send + Sync + Unpin>() {}
        has_autotraits::<AnyModel>();
        has_autotraits::<AnySaved>();
        has_autotraits::<BiasedMf>();
        has_autotraits::<crate::kinds::mf::bpmf::ValidBpmfConfig>();
        has_autotraits::<crate::kinds::mf::sgd::ValidMfSgdConfig>();
    }
}
