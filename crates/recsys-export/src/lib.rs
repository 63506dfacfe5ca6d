//! recsys-export: a recsys model as a file that runs outside recsys — ONNX (onnxruntime, tract)
//! or TensorFlow Lite (LiteRT) — taking raw user ids and movie titles, as the TFRS tutorial's
//! converted model does.
//!
//! The string → row lookup is part of the graph (ONNX `CategoryMapper`, TFLite hash tables),
//! with unseen strings on the out-of-vocabulary row 0, so the exported file predicts what
//! [`RankingModel::predict`] predicts. [`Inputs::Ids`] writes a graph that takes the rows
//! themselves and the vocabularies beside it. [`Precision`] stores the weights as `f32`, `f16`
//! or per-channel `int8`; [`dequantized_model`] is the model such a file computes, which is how
//! [`precision_change`] measures what the precision costs on a test set.
//!
//! ```
//! use recsys::data::Vocabulary;
//! use recsys::kinds::ranking::{RankingModel, RankingModelConfig};
//! use recsys_export::{ExportOptions, Format, Inputs, Precision};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let users = Vocabulary::from_values(["1", "2"]);
//! let titles = Vocabulary::from_values(["Heat (1995)", "Babe (1995)"]);
//! let model = RankingModel::new(RankingModelConfig::default(), users, titles, 42)?;
//!
//! let dir = tempfile::tempdir()?;
//! let options = ExportOptions { format: Format::Onnx, ..ExportOptions::default() };
//! let report = recsys_export::export_model(&model, &dir.path().join("m.onnx"), &options)?;
//! assert_eq!(report.inputs, Inputs::Strings);
//! assert!(report.bytes > 4 * model.num_parameters() as u64);
//!
//! let options = ExportOptions { format: Format::Tflite, precision: Precision::Int8, ..options };
//! let small = recsys_export::export_model(&model, &dir.path().join("m.tflite"), &options)?;
//! assert!(small.bytes < report.bytes / 3);
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod error;
mod file;
mod onnx;
mod tflite;
pub mod weights;

use std::path::{Path, PathBuf};

use recsys::artifact;
use recsys::contract::Model;
use recsys::data::{Rating, Vocabulary};
use recsys::kinds::Portable;
use recsys::kinds::mf::BiasedMf;
use recsys::kinds::ranking::RankingModel;
use recsys::kinds::ranking::evaluate;
use serde::Serialize;

pub use error::{Error, Result};
pub use weights::{Precision, dequantized_model, weight_bytes};

/// The names of the exported graphs' inputs and output.
pub mod names {
    /// String input: raw user ids, shape `[N]`.
    pub const USER_ID: &str = "user_id";
    /// String input: raw movie titles, shape `[N]`.
    pub const MOVIE_TITLE: &str = "movie_title";
    /// `int64` input of [`Inputs::Ids`](crate::Inputs::Ids): `user_embedding` rows, shape `[N]`.
    pub const USER_ROW: &str = "user_row";
    /// `int64` input of [`Inputs::Ids`](crate::Inputs::Ids): `movie_embedding` rows, shape `[N]`.
    pub const MOVIE_ROW: &str = "movie_row";
    /// Output: predicted ratings, shape `[N, 1]`.
    pub const RATING: &str = "rating";
}

/// The file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// ONNX, opset 13 (+ `ai.onnx.ml` 2 for string inputs).
    #[default]
    Onnx,
    /// TensorFlow Lite flatbuffer, built-in operators only.
    Tflite,
}

/// What the exported graph takes as input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Inputs {
    /// Raw strings (`user_id`, `movie_title`); the vocabularies are inside the file.
    #[default]
    Strings,
    /// Embedding rows as `int64` (`user_row`, `movie_row`); the vocabularies are written
    /// beside the file (see [`vocabulary_path`]).
    Ids,
}

impl Inputs {
    /// `"strings"` or `"ids"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Inputs::Strings => "strings",
            Inputs::Ids => "ids",
        }
    }
}

impl Precision {
    /// `"f32"`, `"f16"` or `"int8"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
            Precision::Int8 => "int8",
        }
    }
}

/// What to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExportOptions {
    /// ONNX or TFLite.
    pub format: Format,
    /// Strings or rows in.
    pub inputs: Inputs,
    /// How the weights are stored.
    pub precision: Precision,
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExportReport {
    /// The format written.
    pub format: Format,
    /// Its inputs.
    pub inputs: Inputs,
    /// Its weights' precision.
    pub precision: Precision,
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Bytes of that taken by the weights (values, scales and biases).
    pub weight_bytes: usize,
    /// What the same weights take as `f32`.
    pub f32_weight_bytes: usize,
    /// The vocabularies file written beside it ([`Inputs::Ids`] only).
    pub vocabulary: Option<PathBuf>,
}

/// The exported file's bytes, without writing anything.
pub fn to_bytes(model: &RankingModel, options: &ExportOptions) -> Vec<u8> {
    match options.format {
        Format::Onnx => onnx::write(model, options.inputs, options.precision),
        Format::Tflite => tflite::write(model, options.inputs, options.precision),
    }
}

/// Where [`Inputs::Ids`] puts the vocabularies: `FILE` with its extension replaced by
/// `vocabulary.json` (`model.onnx` → `model.vocabulary.json`). The JSON is the model
/// directory's own `vocabulary.json`: `{"user_id": [...], "movie_title": [...]}`, row = index + 1.
pub fn vocabulary_path(out: &Path) -> PathBuf {
    out.with_extension("vocabulary.json")
}

/// Writes `model` to `out` (atomically; with [`Inputs::Ids`] the vocabularies too).
pub fn export_model(
    model: &RankingModel,
    out: &Path,
    options: &ExportOptions,
) -> Result<ExportReport> {
    let written = Written {
        bytes: to_bytes(model, options),
        users: &model.user_vocabulary,
        titles: &model.title_vocabulary,
        weight_bytes: weight_bytes(model, options.precision),
        f32_weight_bytes: weight_bytes(model, Precision::F32),
    };
    written.write(out, options)
}

/// An exported file's bytes, with what [`Written::write`] needs beside them.
struct Written<'a> {
    bytes: Vec<u8>,
    users: &'a Vocabulary,
    titles: &'a Vocabulary,
    weight_bytes: usize,
    f32_weight_bytes: usize,
}

impl Written<'_> {
    /// Writes the file to `out` (atomically; with [`Inputs::Ids`] the vocabularies first) and
    /// reports it.
    fn write(self, out: &Path, options: &ExportOptions) -> Result<ExportReport> {
        let vocabulary = write_vocabularies(out, options.inputs, self.users, self.titles)?;
        file::write_atomic(out, &self.bytes)?;
        Ok(ExportReport {
            format: options.format,
            inputs: options.inputs,
            precision: options.precision,
            path: out.to_owned(),
            bytes: self.bytes.len() as u64,
            weight_bytes: self.weight_bytes,
            f32_weight_bytes: self.f32_weight_bytes,
            vocabulary,
        })
    }
}

/// Writes a biased matrix factorization (`recsys train --preset best` or `mf-sgd`) to `out`,
/// atomically: ONNX with `f32` weights, taking strings or rows like [`export_model`]'s files
/// and computing what [`BiasedMf::predict`] computes (clamped to its rating range). Other
/// formats and precisions are errors that say so; nothing is written then.
pub fn export_mf(model: &BiasedMf, out: &Path, options: &ExportOptions) -> Result<ExportReport> {
    check_options(Portable::BiasedDot(model), options)?;
    let weight_bytes = 4 * model.num_parameters();
    let written = Written {
        bytes: onnx::write_mf(model, options.inputs),
        users: &model.user_vocabulary,
        titles: &model.title_vocabulary,
        weight_bytes,
        f32_weight_bytes: weight_bytes,
    };
    written.write(out, options)
}

/// With [`Inputs::Ids`], writes the vocabularies beside `out` and returns their path.
fn write_vocabularies(
    out: &Path,
    inputs: Inputs,
    users: &Vocabulary,
    titles: &Vocabulary,
) -> Result<Option<PathBuf>> {
    match inputs {
        Inputs::Strings => Ok(None),
        Inputs::Ids => {
            let path = vocabulary_path(out);
            let json = serde_json::json!({
                "user_id": users.values().to_vec(),
                "movie_title": titles.values().to_vec(),
            });
            file::write_atomic(&path, json.to_string().as_bytes())?;
            Ok(Some(path))
        }
    }
}

/// Whether a graph of this form can be written with these options: a tower (the ranking
/// model) in every format and precision, a biased dot product as ONNX with `f32` weights; the
/// error says what was asked.
pub fn check_options(graph: Portable<'_>, options: &ExportOptions) -> Result<()> {
    match graph {
        Portable::Tower(_) => Ok(()),
        Portable::BiasedDot(_)
            if options.format == Format::Onnx && options.precision == Precision::F32 =>
        {
            Ok(())
        }
        Portable::BiasedDot(_) => Err(Error::InvalidInput(format!(
            "a biased MF exports to ONNX with f32 weights only (asked: {} with {} weights)",
            match options.format {
                Format::Onnx => "onnx",
                Format::Tflite => "tflite",
            },
            options.precision.as_str()
        ))),
    }
}

/// Writes the graph a model exports as ([`recsys::kinds::AnyModel::portable`]) to `out`:
/// a tower through [`export_model`], a biased dot product through [`export_mf`].
pub fn export_graph(
    graph: Portable<'_>,
    out: &Path,
    options: &ExportOptions,
) -> Result<ExportReport> {
    match graph {
        Portable::Tower(model) => export_model(model, out, options),
        Portable::BiasedDot(model) => export_mf(model, out, options),
    }
}

/// Loads the model directory `model_dir` (checking its version, checksums and shapes) and
/// exports it to `out` ([`export_graph`]). A missing or corrupt model, or a kind that has no
/// exported graph, is an error naming it; nothing is written then.
pub fn export(model_dir: &Path, out: &Path, options: &ExportOptions) -> Result<ExportReport> {
    let saved = artifact::load_any(model_dir)?;
    export_graph(saved.model.portable()?, out, options)
}

/// Reads back an ONNX file with string inputs that [`export`] wrote, as the model it computes
/// (weights widened or dequantized as the graph does). Errors name the file.
pub fn load_onnx(path: &Path) -> Result<RankingModel> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    onnx::read(&bytes, path)
}

/// The TFRS tutorial's last steps, after the model is saved: export it, load the exported
/// file, predict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TutorialExport {
    /// The ONNX file (string inputs, `f32`).
    pub onnx: ExportReport,
    /// The TFLite file (string inputs, `f32`).
    pub tflite: ExportReport,
    /// The user scored.
    pub user_id: String,
    /// The title scored.
    pub movie_title: String,
    /// The score of the model loaded back from the ONNX file.
    pub exported_score: f32,
    /// The saved model's score for the same pair.
    pub saved_score: f32,
    /// Whether the two are bit-identical.
    pub identical: bool,
}

/// Exports the model saved in `model_dir` to `<model_dir>.onnx` and `<model_dir>.tflite`,
/// loads the ONNX file back ([`load_onnx`]) and scores `(user_id, movie_title)` with both.
pub fn tutorial_export(
    model_dir: &Path,
    user_id: &str,
    movie_title: &str,
) -> Result<TutorialExport> {
    let model = artifact::load::<RankingModel>(model_dir)?.model;
    let beside = |ext: &str| {
        let mut name = model_dir.as_os_str().to_owned();
        name.push(ext);
        PathBuf::from(name)
    };
    let onnx_options = ExportOptions::default();
    let onnx = export_model(&model, &beside(".onnx"), &onnx_options)?;
    let tflite_options = ExportOptions {
        format: Format::Tflite,
        ..onnx_options
    };
    let tflite = export_model(&model, &beside(".tflite"), &tflite_options)?;
    let exported = load_onnx(&onnx.path)?;
    let exported_score = exported.predict(&[user_id], &[movie_title])?[0];
    let saved_score = model.predict(&[user_id], &[movie_title])?[0];
    Ok(TutorialExport {
        onnx,
        tflite,
        user_id: user_id.into(),
        movie_title: movie_title.into(),
        exported_score,
        saved_score,
        identical: exported_score.to_bits() == saved_score.to_bits(),
    })
}

/// What storing the weights at a lower precision costs on a test set.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PrecisionChange {
    /// The precision measured.
    pub precision: Precision,
    /// Test examples.
    pub examples: usize,
    /// Test RMSE of the `f32` model.
    pub f32_rmse: f64,
    /// Test RMSE of the model the exported file computes.
    pub exported_rmse: f64,
    /// `exported_rmse - f32_rmse`.
    pub change: f64,
}

/// The test RMSE of `graph` and of its `precision` export, on `test`; only a tower's weights
/// are stored at other precisions than `f32` ([`check_options`]), another graph is an error.
pub fn precision_change(
    graph: Portable<'_>,
    test: &[Rating],
    precision: Precision,
) -> Result<PrecisionChange> {
    let Portable::Tower(model) = graph else {
        return Err(Error::InvalidInput(
            "only a ranking model's weights are stored below f32".into(),
        ));
    };
    let examples = model.encode(test);
    let f32_rmse = evaluate(model, &examples, 4096)?.root_mean_squared_error;
    let exported = dequantized_model(model, precision);
    let exported_rmse = evaluate(&exported, &examples, 4096)?.root_mean_squared_error;
    Ok(PrecisionChange {
        precision,
        examples: examples.len(),
        f32_rmse,
        exported_rmse,
        change: exported_rmse - f32_rmse,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use recsys::data::Vocabulary;
    use recsys::kinds::ranking::RankingModelConfig;

    pub(crate) fn tiny_model() -> RankingModel {
        let users = Vocabulary::from_values(["1", "2", "42"]);
        let titles = Vocabulary::from_values(["A (1990)", "B (1991)", "C (1992)"]);
        let config = RankingModelConfig {
            embedding_dim: 4,
            hidden_layers: vec![8, 4],
        };
        RankingModel::new(config, users, titles, 7).unwrap()
    }

    fn has_autotraits<T: Send + Sync + Unpin>() {}

    #[test]
    fn public_types_are_send_sync_unpin() {
        has_autotraits::<Error>();
        has_autotraits::<ExportOptions>();
        has_autotraits::<ExportReport>();
        has_autotraits::<PrecisionChange>();
    }

    #[test]
    fn ids_export_writes_the_vocabularies_beside_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("m.onnx");
        let options = ExportOptions {
            inputs: Inputs::Ids,
            ..ExportOptions::default()
        };
        let report = export_model(&tiny_model(), &out, &options).unwrap();
        let vocab = report.vocabulary.unwrap();
        assert_eq!(vocab, dir.path().join("m.vocabulary.json"));
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(vocab).unwrap()).unwrap();
        assert_eq!(json["user_id"][2], "42");
        assert_eq!(std::fs::metadata(&out).unwrap().len(), report.bytes);
    }

    #[test]
    fn a_missing_or_corrupt_model_is_an_error_naming_the_file_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let model_dir = dir.path().join("model");
        let out = dir.path().join("m.onnx");
        let err = export(&model_dir, &out, &ExportOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("manifest.json"), "{err}");
        artifact::save(&tiny_model(), None, &model_dir).unwrap();
        let weights = model_dir.join("weights.safetensors");
        let mut bytes = std::fs::read(&weights).unwrap();
        bytes.truncate(bytes.len() - 8);
        std::fs::write(&weights, bytes).unwrap();
        let err = export(&model_dir, &out, &ExportOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("weights.safetensors"), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn tutorial_export_writes_both_files_beside_the_model_and_reloads_identically() {
        let dir = tempfile::tempdir().unwrap();
        let model_dir = dir.path().join("model");
        artifact::save(&tiny_model(), None, &model_dir).unwrap();
        let t = tutorial_export(&model_dir, "42", "B (1991)").unwrap();
        assert_eq!(t.onnx.path, dir.path().join("model.onnx"));
        assert_eq!(t.tflite.path, dir.path().join("model.tflite"));
        assert!(t.identical, "{t:?}");
        assert!(t.tflite.bytes > 0 && t.onnx.bytes > 0);
    }

    #[test]
    fn int8_costs_little_rmse_and_f32_costs_none() {
        let m = tiny_model();
        let rating = |u: &str, t: &str, r: f32| Rating {
            user_id: u.into(),
            movie_title: t.into(),
            user_rating: r,
            movie_id: None,
            timestamp: None,
        };
        let test = [rating("1", "A (1990)", 4.0), rating("42", "C (1992)", 1.0)];
        let same = precision_change(Portable::Tower(&m), &test, Precision::F32).unwrap();
        assert_eq!(same.change, 0.0);
        let int8 = precision_change(Portable::Tower(&m), &test, Precision::Int8).unwrap();
        assert!(int8.change.abs() < 0.01 && int8.change != 0.0, "{int8:?}");
        assert_eq!(int8.examples, 2);
    }
}
