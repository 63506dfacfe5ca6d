//! The feature model's recipe, declared in a TOML file rather than in code: which features,
//! each looked up through a vocabulary or hashed into bins, its embedding width and bucket
//! boundaries; the cross layers and the tower; how to train. `configs/features.toml` is the
//! documented example, and [`FeatureRecipe::default`] is the `--preset features` recipe.
//!
//! ```toml
//! [[feature]]
//! input = "user_zip"     # the first `prefix` characters of u.user's zip code
//! prefix = 2
//! hash_bins = 64         # hashed (FNV-1a) instead of a vocabulary
//! dim = 8
//! ```

use std::path::Path;

use recsys_engine::DotInteraction;
use serde::{Deserialize, Serialize};

use crate::train::{OptimizerKind, Schedule, Shuffle, ValidSchedule};
use crate::{Error, Result};

/// Which raw input a feature reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureInput {
    /// The user id (the interaction file's `user_id`).
    UserId,
    /// The movie title.
    MovieTitle,
    /// `u.user`'s age, bucketized.
    UserAge,
    /// `u.user`'s gender.
    UserGender,
    /// `u.user`'s occupation.
    UserOccupation,
    /// The first `prefix` characters of `u.user`'s zip code.
    UserZip,
    /// `u.item`'s 19 genre flags, multi-hot, mean-pooled.
    MovieGenres,
    /// The year of `u.item`'s release date: bucketized with `boundaries`, else one value each.
    MovieYear,
    /// The title's lower-cased alphanumeric tokens, mean-pooled.
    TitleTokens,
    /// When the rating was given (`u.data`), in `buckets` equal widths between the training
    /// data's first and last time.
    Timestamp,
}

impl FeatureInput {
    /// The name in the config file.
    pub fn name(self) -> &'static str {
        match self {
            FeatureInput::UserId => "user_id",
            FeatureInput::MovieTitle => "movie_title",
            FeatureInput::UserAge => "user_age",
            FeatureInput::UserGender => "user_gender",
            FeatureInput::UserOccupation => "user_occupation",
            FeatureInput::UserZip => "user_zip",
            FeatureInput::MovieGenres => "movie_genres",
            FeatureInput::MovieYear => "movie_year",
            FeatureInput::TitleTokens => "title_tokens",
            FeatureInput::Timestamp => "timestamp",
        }
    }

    /// Whether values are strings that a vocabulary or hash bins map to rows.
    fn is_categorical(self) -> bool {
        !matches!(
            self,
            FeatureInput::UserAge | FeatureInput::MovieGenres | FeatureInput::Timestamp
        )
    }
}

/// One feature: an input, how its values become rows, and its embedding width.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureSpec {
    /// The raw input.
    pub input: FeatureInput,
    /// Width of its embedding.
    pub dim: usize,
    /// Hash values into this many bins (FNV-1a, row 0 for a missing value) instead of a
    /// vocabulary of the training data's values (row 0 for unseen ones). Categorical inputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_bins: Option<u32>,
    /// Bucket boundaries, increasing: `user_age` (default the MovieLens age groups 18, 25, 35,
    /// 45, 50, 56) and `movie_year` (without them each year is a value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boundaries: Option<Vec<f64>>,
    /// `timestamp`: number of equal-width buckets (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buckets: Option<usize>,
    /// `user_zip`: characters kept (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<usize>,
}

/// The age groups of MovieLens 1M, which TensorFlow Datasets uses for MovieLens 100k's
/// `bucketized_user_age` as well: under 18, 18–24, 25–34, 35–44, 45–49, 50–55, 56+.
pub const DEFAULT_AGE_BOUNDARIES: [f64; 6] = [18.0, 25.0, 35.0, 45.0, 50.0, 56.0];
/// Timestamp buckets when a config names none.
pub const DEFAULT_TIMESTAMP_BUCKETS: usize = 100;
/// Zip-code characters kept when a config names none.
pub const DEFAULT_ZIP_PREFIX: usize = 3;

/// The network over the concatenated feature embeddings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    /// DCN-v2 cross layers between the embeddings and the tower (0: none).
    #[serde(default)]
    pub cross_layers: usize,
    /// Low rank of each cross layer's `W = U Vᵀ`; absent: full rank.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_rank: Option<usize>,
    /// Widths of the hidden ReLU layers; a linear layer of width 1 follows.
    pub hidden_layers: Vec<usize>,
    /// While training, drop each hidden layer's outputs with this probability (inverted
    /// dropout, seeded); absent or 0: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropout: Option<f32>,
    /// `"dot"`: DLRM's feature interaction — the pairwise dot products of the feature
    /// embeddings (which then all need one `dim`) go to the tower beside the concatenated
    /// embeddings (or the cross layers' output); absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interaction: Option<Interaction>,
}

/// How feature embeddings interact before the tower, besides being concatenated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interaction {
    /// Every pair's dot product (DLRM, Naumov et al. 2019).
    Dot,
}

/// The feature model's shape: its features, in concatenation order, and its network. Saved in
/// the model's manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureModelConfig {
    /// The features.
    pub features: Vec<FeatureSpec>,
    /// Cross layers and tower.
    pub network: NetworkSpec,
    /// Predictions are clamped to `[low, high]` (the training ratings' range), once trained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip: Option<[f32; 2]>,
}

/// How to train the feature model: the schedule every kind shares, and weight decay on the
/// embedding rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "TrainTable", into = "TrainTable")]
pub struct FeatureTrainConfig {
    /// Epochs, batches, optimizer, learning rate, seed (weights, shuffles, validation split),
    /// validation split and early stopping; reshuffled every epoch unless the file says
    /// otherwise.
    pub schedule: Schedule,
    /// Weight decay on the embedding rows each batch uses, once per distinct row:
    /// `embedding_l2 / 2 · ‖row‖²` added to the batch's loss (reported as
    /// `regularization_loss`); 0: none.
    pub embedding_l2: f32,
}

impl Default for FeatureTrainConfig {
    fn default() -> Self {
        FeatureTrainConfig {
            schedule: Schedule {
                epochs: 20,
                batch_size: 256,
                optimizer: OptimizerKind::Adam,
                learning_rate: 0.001,
                learning_rate_decay: 1.0,
                seed: 42,
                shuffle: Shuffle::EachEpoch,
                validation_fraction: 0.1,
                patience: 2,
            },
            embedding_l2: 0.0,
        }
    }
}

/// `[train]` as the file spells it: every key optional (the defaults above), none unknown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct TrainTable {
    epochs: usize,
    batch_size: usize,
    optimizer: OptimizerKind,
    learning_rate: f32,
    learning_rate_decay: f32,
    seed: u64,
    shuffle: Shuffle,
    validation_fraction: f64,
    patience: usize,
    embedding_l2: f32,
}

impl Default for TrainTable {
    fn default() -> Self {
        FeatureTrainConfig::default().into()
    }
}

impl From<TrainTable> for FeatureTrainConfig {
    fn from(t: TrainTable) -> Self {
        FeatureTrainConfig {
            schedule: Schedule {
                epochs: t.epochs,
                batch_size: t.batch_size,
                optimizer: t.optimizer,
                learning_rate: t.learning_rate,
                learning_rate_decay: t.learning_rate_decay,
                seed: t.seed,
                shuffle: t.shuffle,
                validation_fraction: t.validation_fraction,
                patience: t.patience,
            },
            embedding_l2: t.embedding_l2,
        }
    }
}

impl From<FeatureTrainConfig> for TrainTable {
    fn from(c: FeatureTrainConfig) -> Self {
        let s = c.schedule;
        TrainTable {
            epochs: s.epochs,
            batch_size: s.batch_size,
            optimizer: s.optimizer,
            learning_rate: s.learning_rate,
            learning_rate_decay: s.learning_rate_decay,
            seed: s.seed,
            shuffle: s.shuffle,
            validation_fraction: s.validation_fraction,
            patience: s.patience,
            embedding_l2: c.embedding_l2,
        }
    }
}

/// A [`FeatureRecipe`] whose every field has been checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidFeatureRecipe {
    recipe: FeatureRecipe,
    schedule: ValidSchedule,
}

impl ValidFeatureRecipe {
    /// The checked recipe.
    pub fn get(&self) -> &FeatureRecipe {
        &self.recipe
    }

    /// The checked schedule.
    pub fn schedule(&self) -> &ValidSchedule {
        &self.schedule
    }
}

/// A whole feature recipe: the TOML file's three parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureRecipe {
    /// `[[feature]]` tables.
    #[serde(rename = "feature")]
    pub features: Vec<FeatureSpec>,
    /// `[network]`.
    pub network: NetworkSpec,
    /// `[train]` (every field optional).
    #[serde(default)]
    pub train: FeatureTrainConfig,
}

impl Default for FeatureRecipe {
    /// `--preset features`: the same text as `configs/features.toml`.
    fn default() -> Self {
        Self::from_toml(include_str!("../../../configs/features.toml"))
            .expect("configs/features.toml parses")
    }
}

impl FeatureRecipe {
    /// Parses a recipe (errors name the line and the key).
    pub fn from_toml(text: &str) -> std::result::Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())
    }

    /// Reads and parses a recipe file; errors name the file.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_toml(&text).map_err(|reason| Error::ConfigFile {
            path: path.to_owned(),
            reason,
        })
    }

    /// The model's shape.
    pub fn model(&self) -> FeatureModelConfig {
        FeatureModelConfig {
            features: self.features.clone(),
            network: self.network.clone(),
            clip: None,
        }
    }

    /// Checks the shape and the training settings, naming the first bad field.
    pub fn check(&self) -> Result<ValidFeatureRecipe> {
        self.model().check()?;
        let t = &self.train;
        if !(t.embedding_l2.is_finite() && (0.0..=100.0).contains(&t.embedding_l2)) {
            return Err(Error::Config {
                field: "train.embedding_l2",
                allowed: "a number in [0, 100]",
                value: t.embedding_l2.to_string(),
            });
        }
        Ok(ValidFeatureRecipe {
            schedule: t.schedule.clone().check()?,
            recipe: self.clone(),
        })
    }
}

fn bad(
    field: &'static str,
    allowed: &'static str,
    i: usize,
    spec: &FeatureSpec,
    v: String,
) -> Error {
    Error::Config {
        field,
        allowed,
        value: format!("{v} (feature {}, {})", i + 1, spec.input.name()),
    }
}

impl FeatureModelConfig {
    /// Checks every feature and the network: widths from 1 to 65,536, each input once, each
    /// option given only to the inputs that use it, boundaries finite and increasing.
    pub fn check(&self) -> Result<()> {
        const WIDTH: &str = "an integer from 1 to 65536";
        if self.features.is_empty() {
            return Err(Error::Config {
                field: "feature",
                allowed: "at least one [[feature]]",
                value: "none".into(),
            });
        }
        for (i, spec) in self.features.iter().enumerate() {
            if self.features[..i].iter().any(|s| s.input == spec.input) {
                let why = "each input at most once".into();
                return Err(bad("feature.input", "each input once", i, spec, why));
            }
            spec.check(i)?;
        }
        let n = &self.network;
        for &w in n.hidden_layers.iter().chain(n.cross_rank.as_slice()) {
            if !(1..=65536).contains(&w) {
                return Err(Error::Config {
                    field: "network.hidden_layers / network.cross_rank",
                    allowed: WIDTH,
                    value: w.to_string(),
                });
            }
        }
        if let Some(r) = n.dropout
            && !(r.is_finite() && (0.0..1.0).contains(&r))
        {
            return Err(Error::Config {
                field: "network.dropout",
                allowed: "a number in [0, 1)",
                value: r.to_string(),
            });
        }
        if n.interaction == Some(Interaction::Dot) {
            if self.features.len() < 2 {
                return Err(Error::Config {
                    field: "network.interaction",
                    allowed: "\"dot\" with at least two features",
                    value: "one feature".into(),
                });
            }
            let first = &self.features[0];
            if let Some(f) = self.features.iter().find(|f| f.dim != first.dim) {
                return Err(Error::Config {
                    field: "network.interaction",
                    allowed: "\"dot\" with every feature of one dim",
                    value: format!(
                        "{} has dim {}, {} has dim {}",
                        first.input.name(),
                        first.dim,
                        f.input.name(),
                        f.dim
                    ),
                });
            }
        }
        if n.cross_layers > 16 {
            return Err(Error::Config {
                field: "network.cross_layers",
                allowed: "an integer from 0 to 16",
                value: n.cross_layers.to_string(),
            });
        }
        Ok(())
    }

    /// Width of the concatenated embeddings.
    pub fn input_width(&self) -> usize {
        self.features.iter().map(|f| f.dim).sum()
    }

    /// The dot interaction over the features' embeddings, when the network has one.
    pub fn dot_interaction(&self) -> Option<DotInteraction> {
        (self.network.interaction == Some(Interaction::Dot)).then(|| DotInteraction {
            features: self.features.len(),
            dim: self.features[0].dim,
        })
    }

    /// Width of the tower's input: the concatenated embeddings (or the cross layers' output,
    /// as wide), then the interaction's dot products.
    pub fn tower_input_width(&self) -> usize {
        self.input_width() + self.dot_interaction().map_or(0, |d| d.output_width())
    }

    /// Whether a feature reads the rating's timestamp.
    pub fn uses_timestamp(&self) -> bool {
        self.features
            .iter()
            .any(|f| f.input == FeatureInput::Timestamp)
    }
}

impl FeatureSpec {
    fn check(&self, i: usize) -> Result<()> {
        use FeatureInput::*;
        let input = self.input;
        if !(1..=65536).contains(&self.dim) {
            let v = self.dim.to_string();
            return Err(bad("feature.dim", "an integer from 1 to 65536", i, self, v));
        }
        let unused = |field: &'static str, given: bool| {
            if given {
                Err(bad(
                    field,
                    "not used by this input",
                    i,
                    self,
                    "a value".into(),
                ))
            } else {
                Ok(())
            }
        };
        unused(
            "feature.hash_bins",
            self.hash_bins.is_some() && !input.is_categorical(),
        )?;
        unused(
            "feature.boundaries",
            self.boundaries.is_some() && !matches!(input, UserAge | MovieYear),
        )?;
        unused(
            "feature.buckets",
            self.buckets.is_some() && input != Timestamp,
        )?;
        unused("feature.prefix", self.prefix.is_some() && input != UserZip)?;
        if let Some(b) = self.hash_bins
            && !(1..=1 << 24).contains(&b)
        {
            let allowed = "an integer from 1 to 16777216";
            return Err(bad("feature.hash_bins", allowed, i, self, b.to_string()));
        }
        if let Some(b) = &self.boundaries
            && (b.is_empty()
                || b.iter().any(|v| !v.is_finite())
                || b.windows(2).any(|w| w[0] >= w[1]))
        {
            let allowed = "finite numbers, strictly increasing, at least one";
            return Err(bad(
                "feature.boundaries",
                allowed,
                i,
                self,
                format!("{b:?}"),
            ));
        }
        if let Some(n) = self.buckets
            && !(1..=1_000_000).contains(&n)
        {
            let allowed = "an integer from 1 to 1000000";
            return Err(bad("feature.buckets", allowed, i, self, n.to_string()));
        }
        if let Some(n) = self.prefix
            && !(1..=10).contains(&n)
        {
            return Err(bad(
                "feature.prefix",
                "an integer from 1 to 10",
                i,
                self,
                n.to_string(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_config_parses_and_checks() {
        let r = FeatureRecipe::default();
        r.check().unwrap();
        assert!(
            r.features
                .iter()
                .any(|f| f.input == FeatureInput::TitleTokens)
        );
        assert!(r.features.iter().any(|f| f.hash_bins.is_some()));
        let dlrm = FeatureRecipe::from_toml(include_str!("../../../configs/dlrm.toml")).unwrap();
        dlrm.check().unwrap();
        assert_eq!(dlrm.model().dot_interaction().unwrap().output_width(), 28);
    }

    fn parse_err(text: &str) -> String {
        FeatureRecipe::from_toml(text).unwrap_err()
    }

    fn check_err(text: &str) -> String {
        FeatureRecipe::from_toml(text)
            .unwrap()
            .check()
            .unwrap_err()
            .to_string()
    }

    const NET: &str = "[network]\nhidden_layers = [8]\n";

    #[test]
    fn unknown_keys_and_inputs_are_errors_naming_them() {
        let e = parse_err(&format!(
            "[[feature]]\ninput = \"shoe_size\"\ndim = 4\n{NET}"
        ));
        assert!(e.contains("shoe_size") && e.contains("line 2"), "{e}");
        let e = parse_err(&format!(
            "[[feature]]\ninput = \"user_id\"\ndim = 4\nbins = 3\n{NET}"
        ));
        assert!(e.contains("bins"), "{e}");
        let e = parse_err("[[feature]]\ninput = \"user_id\"\ndim = 4\n");
        assert!(e.contains("network"), "{e}");
    }

    #[test]
    fn bad_values_name_the_field_the_feature_and_the_value() {
        let f = |body: &str| format!("[[feature]]\n{body}\n{NET}");
        let cases = [
            ("input = \"user_id\"\ndim = 0", "feature.dim"),
            (
                "input = \"user_age\"\ndim = 4\nhash_bins = 10",
                "feature.hash_bins",
            ),
            (
                "input = \"user_id\"\ndim = 4\nhash_bins = 0",
                "feature.hash_bins",
            ),
            (
                "input = \"user_age\"\ndim = 4\nboundaries = [30, 20]",
                "feature.boundaries",
            ),
            (
                "input = \"user_id\"\ndim = 4\nboundaries = [1]",
                "feature.boundaries",
            ),
            (
                "input = \"timestamp\"\ndim = 4\nbuckets = 0",
                "feature.buckets",
            ),
            (
                "input = \"user_zip\"\ndim = 4\nprefix = 11",
                "feature.prefix",
            ),
            (
                "input = \"movie_title\"\ndim = 4\nprefix = 2",
                "feature.prefix",
            ),
        ];
        for (body, field) in cases {
            let e = check_err(&f(body));
            assert!(e.contains(field) && e.contains("feature 1"), "{body}: {e}");
        }
        let twice = "[[feature]]\ninput = \"user_id\"\ndim = 4\n\n[[feature]]\ninput = \"user_id\"\ndim = 2\n";
        assert!(check_err(&format!("{twice}{NET}")).contains("feature 2"));
        let e = check_err(&format!("feature = []\n{NET}"));
        assert!(e.contains("feature"), "{e}");
        let e = check_err(
            "[[feature]]\ninput = \"user_id\"\ndim = 4\n[network]\nhidden_layers = [0]\n",
        );
        assert!(e.contains("hidden_layers"), "{e}");
        let e = check_err(&format!(
            "[[feature]]\ninput = \"user_id\"\ndim = 4\n{NET}dropout = 1.0\n"
        ));
        assert!(e.contains("network.dropout"), "{e}");
        let e = check_err(&format!(
            "[[feature]]\ninput = \"user_id\"\ndim = 4\n{NET}[train]\nembedding_l2 = -1\n"
        ));
        assert!(e.contains("train.embedding_l2"), "{e}");
        let e = check_err(&format!(
            "[[feature]]\ninput = \"user_id\"\ndim = 4\n{NET}[train]\nlearning_rate = -1\n"
        ));
        assert!(e.contains("learning-rate"), "{e}");
    }

    #[test]
    fn a_missing_file_is_an_error_naming_it() {
        let e = FeatureRecipe::read(Path::new("/nonexistent/f.toml")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/f.toml"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.toml");
        std::fs::write(&p, "[[feature]\n").unwrap();
        let e = FeatureRecipe::read(&p).unwrap_err().to_string();
        assert!(e.contains("bad.toml") && e.contains("line 1"), "{e}");
    }
}
