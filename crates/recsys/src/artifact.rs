//! The saved model: one directory that holds everything needed to score raw strings, for
//! any kind.
//!
//! ```text
//! model/
//!   manifest.json        format + version, the kind and its config, training record, checksums
//!   weights.safetensors  the kind's tensors (the ranking model's named as TFRS names them)
//!   vocabulary.json      {"user_id": [...], "movie_title": [...]}, sorted, row = index + 1
//!   …                    files of the kind's own (features.json for the feature model)
//! ```
//!
//! What goes in and how it comes back is the kind's ([`Persist`]); this module writes and
//! checks. Saving is atomic: everything is written into a temporary sibling directory which is
//! then renamed into place, so a crash never leaves a half-written model where a good one was.
//! Loading checks the format version first ([`Error::Incompatible`]), then each file's size and
//! SHA-256 against the manifest ([`Error::Corrupt`]), then every tensor's shape.

mod legacy;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use recsys_data::{Values, Vocabulary, atomic};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::contract::{Model, Persist, Saved};
use crate::kinds::{AnyModel, AnyRecipe, ModelConfig};
use crate::tensors::Tensor;
use crate::train::{EpochReport, Metrics, RetrievalReport};
use crate::{Error, Result};

/// The format version this build writes. Version 4 records how a model was trained as one
/// tagged recipe (`training.recipe`, `kind` = `ranking`, `mf_sgd`, `bpmf` or `features`) and
/// the test's retrieval metrics as `training.test_retrieval`; version 3 added the `features`
/// kind (its lookups and side information in `features.json`, listed in `files`); version 2
/// added `biased_mf`; version 1 files hold `ranking` models. Older versions read unchanged
/// (their training record without its recipe).
pub const ARTIFACT_FORMAT_VERSION: u32 = 4;
/// The oldest format version this build reads.
pub const OLDEST_SUPPORTED: u32 = 1;

const FORMAT_NAME: &str = "recsys-model";
const MANIFEST: &str = "manifest.json";
const WEIGHTS: &str = "weights.safetensors";
const VOCABULARY: &str = "vocabulary.json";

/// `manifest.json`: what the directory holds and how it was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always `"recsys-model"`.
    pub format: String,
    /// The artifact format version.
    pub format_version: u32,
    /// The recsys version that wrote it.
    pub created_by: String,
    /// The kind (`model_kind`) and its shape (`model`).
    #[serde(flatten)]
    pub model: ModelConfig,
    /// How it was trained, when it was.
    pub training: Option<TrainingRecord>,
    /// Size and SHA-256 of each other file in the directory.
    pub files: BTreeMap<String, FileDigest>,
}

/// Size and checksum of one file of the artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    /// Length in bytes.
    pub bytes: u64,
    /// Lower-case hex SHA-256.
    pub sha256: String,
}

/// Where the training data came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DataSource {
    /// MovieLens 100k, split by `recsys_data::split` with this seed and these sizes.
    Movielens100k {
        /// The split's seed.
        seed: u64,
        /// Training examples.
        train: usize,
        /// Test examples.
        test: usize,
    },
    /// Interaction files given by the user.
    Files {
        /// The training file.
        train: PathBuf,
        /// The test file, if one was given.
        test: Option<PathBuf>,
        /// The header names of the user id, title and rating columns.
        columns: [String; 3],
        /// With `--stream`: the rows of the shuffle buffer the training file was spooled
        /// through (the training order depends on it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stream_shuffle_buffer: Option<usize>,
    },
}

/// The training run that produced a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingRecord {
    /// The data.
    pub data: DataSource,
    /// How it was trained (`None` in manifests older than version 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipe: Option<AnyRecipe>,
    /// Per-epoch metrics.
    pub epochs: Vec<EpochReport>,
    /// Test metrics after training, if evaluated.
    pub test: Option<Metrics>,
    /// Top-K retrieval on the test set, for recipes that train a retrieval task (multitask).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_retrieval: Option<RetrievalReport>,
}

#[derive(Serialize, Deserialize)]
struct VocabularyFile {
    user_id: Vec<String>,
    movie_title: Vec<String>,
}

/// [`VocabularyFile`] borrowed from a model, to write without copying the strings.
#[derive(Serialize)]
struct VocabularyFileRef<'a> {
    #[serde(serialize_with = "values_as_list")]
    user_id: Values<'a>,
    #[serde(serialize_with = "values_as_list")]
    movie_title: Values<'a>,
}

fn values_as_list<S: serde::Serializer>(values: &Values<'_>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(values.iter())
}

/// A model loaded from disk, with its manifest.
#[derive(Debug, Clone)]
pub struct Loaded<M> {
    /// The model, ready to predict.
    pub model: M,
    /// What the directory said about it.
    pub manifest: Manifest,
}

/// Writes `model` (and how it was trained) to the directory `dir`, atomically.
///
/// If `dir` exists it must be a recsys model (it is replaced) or empty; anything else is left
/// alone and reported, so a typo cannot wipe unrelated files.
pub fn save<M: Persist>(model: &M, training: Option<&TrainingRecord>, dir: &Path) -> Result<()> {
    let parts = Parts {
        kind: M::KIND,
        config: serde_json::to_value(model.config()).expect("a config serialises"),
        users: Model::user_vocabulary(model),
        titles: Model::title_vocabulary(model),
        tensors: model.tensors(),
        files: model.files(),
    };
    save_parts(&parts, training, dir)
}

/// [`save`] for a model of any kind.
pub fn save_any(model: &AnyModel, training: Option<&TrainingRecord>, dir: &Path) -> Result<()> {
    let parts = Parts {
        kind: model.kind(),
        config: model.config_json(),
        users: model.user_vocabulary(),
        titles: model.title_vocabulary(),
        tensors: model.tensors(),
        files: model.files(),
    };
    save_parts(&parts, training, dir)
}

/// What a model directory is written from, whatever the model's kind.
struct Parts<'a> {
    kind: &'static str,
    config: serde_json::Value,
    users: &'a Vocabulary,
    titles: &'a Vocabulary,
    /// Named `F32` tensors, streamed into `weights.safetensors`.
    tensors: Vec<Tensor<'a>>,
    /// Further files of this kind (name, contents), checksummed like the others.
    files: Vec<(&'static str, Vec<u8>)>,
}

/// `manifest.json` as it is written: the kind's config as the kind serialises it.
#[derive(Serialize)]
struct ManifestOut<'a> {
    format: &'a str,
    format_version: u32,
    created_by: String,
    model_kind: &'a str,
    model: &'a serde_json::Value,
    training: Option<&'a TrainingRecord>,
    files: BTreeMap<String, FileDigest>,
}

fn save_parts(parts: &Parts, training: Option<&TrainingRecord>, dir: &Path) -> Result<()> {
    if dir.exists() && !is_replaceable(dir) {
        return Err(Error::InvalidInput(format!(
            "{}: exists and is not a recsys model directory; refusing to overwrite it",
            dir.display()
        )));
    }
    // Written whole beside `dir`, then swapped in (recsys_data::atomic).
    let tmp = atomic::temp_sibling(dir);
    if let Some(parent) = tmp.parent() {
        fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    if let Err(e) = write_all(parts, training, &tmp) {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    Ok(atomic::replace_dir(&tmp, dir)?)
}

fn is_replaceable(dir: &Path) -> bool {
    dir.join(MANIFEST).is_file()
        || fs::read_dir(dir)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false)
}

fn write_all(parts: &Parts, training: Option<&TrainingRecord>, tmp: &Path) -> Result<()> {
    fs::create_dir(tmp).map_err(|e| Error::io(tmp, e))?;
    // Both files are streamed to disk (hashed on the way), never built whole in memory.
    let vocab = VocabularyFileRef {
        user_id: parts.users.values(),
        movie_title: parts.titles.values(),
    };
    let mut files = BTreeMap::new();
    let weights_digest = write_streamed(&tmp.join(WEIGHTS), |w| {
        crate::tensors::write_tensors(&parts.tensors, w)
    })?;
    files.insert(WEIGHTS.to_owned(), weights_digest);
    let vocab_digest = write_streamed(&tmp.join(VOCABULARY), |w| {
        serde_json::to_writer(w, &vocab).map_err(std::io::Error::other)
    })?;
    files.insert(VOCABULARY.to_owned(), vocab_digest);
    for (name, bytes) in &parts.files {
        write_synced(&tmp.join(name), bytes)?;
        files.insert((*name).to_owned(), digest(bytes));
    }
    let manifest = ManifestOut {
        format: FORMAT_NAME,
        format_version: ARTIFACT_FORMAT_VERSION,
        created_by: format!("recsys {}", env!("CARGO_PKG_VERSION")),
        model_kind: parts.kind,
        model: &parts.config,
        training,
        files,
    };
    let manifest_bytes = serde_json::to_vec_pretty(&manifest).expect("manifest serialises");
    write_synced(&tmp.join(MANIFEST), &manifest_bytes)
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = fs::File::create(path).map_err(|e| Error::io(path, e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| Error::io(path, e))
}

/// Writes a file through `write`, buffered, hashing and counting the bytes on the way, then
/// syncs it; returns its digest.
fn write_streamed(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<FileDigest> {
    let file = fs::File::create(path).map_err(|e| Error::io(path, e))?;
    let mut out = Digesting {
        inner: std::io::BufWriter::with_capacity(1 << 20, file),
        hasher: Sha256::new(),
        bytes: 0,
    };
    write(&mut out)
        .and_then(|()| out.flush())
        .map_err(|e| Error::io(path, e))?;
    let file = out
        .inner
        .into_inner()
        .map_err(|e| Error::io(path, e.into_error()))?;
    file.sync_all().map_err(|e| Error::io(path, e))?;
    Ok(FileDigest {
        bytes: out.bytes,
        sha256: hex(&out.hasher.finalize()),
    })
}

/// A writer that hashes and counts what passes through it.
struct Digesting<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Digesting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn digest(bytes: &[u8]) -> FileDigest {
    FileDigest {
        bytes: bytes.len() as u64,
        sha256: hex(&Sha256::digest(bytes)),
    }
}

/// Reads the model in `dir`, of whichever kind its manifest names, checking version,
/// checksums and shapes.
pub fn load_any(dir: &Path) -> Result<Loaded<AnyModel>> {
    let manifest = read_manifest(dir)?;
    let model = AnyModel::load(manifest.model.clone(), &mut Directory::new(dir, &manifest))?;
    Ok(Loaded { model, manifest })
}

/// Reads the model in `dir` as kind `M`: a model of another kind is
/// [`Error::UnsupportedModelKind`], naming both (before any file but the manifest is read).
pub fn load<M: Persist + TryFrom<AnyModel, Error = AnyModel>>(dir: &Path) -> Result<Loaded<M>> {
    let manifest = read_manifest(dir)?;
    let other_kind = |kind: &str| Error::UnsupportedModelKind {
        path: dir.to_owned(),
        kind: kind.to_owned(),
        expected: M::KIND,
    };
    if manifest.model.kind() != M::KIND {
        return Err(other_kind(manifest.model.kind()));
    }
    let model = AnyModel::load(manifest.model.clone(), &mut Directory::new(dir, &manifest))?;
    let model = M::try_from(model).map_err(|other| other_kind(other.kind()))?;
    Ok(Loaded { model, manifest })
}

/// A model directory as a kind's loader reads it: every file checked against the manifest.
struct Directory<'a> {
    dir: &'a Path,
    manifest: &'a Manifest,
}

impl<'a> Directory<'a> {
    fn new(dir: &'a Path, manifest: &'a Manifest) -> Self {
        Directory { dir, manifest }
    }
}

impl Saved for Directory<'_> {
    fn vocabularies(&mut self) -> Result<(Vocabulary, Vocabulary)> {
        let bytes = read_checked(self.dir, self.manifest, VOCABULARY)?;
        let corrupt = |reason: String| self.corrupt(VOCABULARY, reason);
        let vocab: VocabularyFile =
            serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        let users =
            Vocabulary::from_sorted(vocab.user_id).map_err(|e| corrupt(format!("user_id: {e}")))?;
        let titles = Vocabulary::from_sorted(vocab.movie_title)
            .map_err(|e| corrupt(format!("movie_title: {e}")))?;
        Ok((users, titles))
    }

    fn file(&mut self, name: &str) -> Result<Vec<u8>> {
        read_checked(self.dir, self.manifest, name)
    }

    fn tensors(&mut self, expected: &[(String, Vec<usize>)]) -> Result<Vec<Vec<f32>>> {
        let bytes = read_checked(self.dir, self.manifest, WEIGHTS)?;
        crate::tensors::read_checked(&bytes, expected, &self.dir.join(WEIGHTS))
    }

    fn corrupt(&self, file: &str, reason: String) -> Error {
        Error::Corrupt {
            path: self.dir.join(file),
            reason,
        }
    }
}

/// The bytes of `dir/file`, checked against the size and SHA-256 `manifest` lists for it.
fn read_checked(dir: &Path, manifest: &Manifest, file: &str) -> Result<Vec<u8>> {
    let path = dir.join(file);
    let bytes = fs::read(&path).map_err(|e| Error::io(&path, e))?;
    let want = manifest.files.get(file).ok_or_else(|| Error::Corrupt {
        path: dir.join(MANIFEST),
        reason: format!("no checksum listed for {file}"),
    })?;
    let got = digest(&bytes);
    if got.bytes != want.bytes {
        let reason = format!(
            "{} bytes, the manifest says {} (truncated or replaced?)",
            got.bytes, want.bytes
        );
        return Err(Error::Corrupt { path, reason });
    }
    if got.sha256 != want.sha256 {
        return Err(Error::Corrupt {
            path,
            reason: "SHA-256 does not match the manifest (modified?)".into(),
        });
    }
    Ok(bytes)
}

/// `dir/manifest.json`, its format and version checked first.
pub fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join(MANIFEST);
    let bytes = fs::read(&path).map_err(|e| Error::io(&path, e))?;
    let corrupt = |reason: String| Error::Corrupt {
        path: path.clone(),
        reason,
    };
    // Read the version before the rest, so a newer layout is reported as such, not as garbage.
    let raw: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| corrupt(format!("not JSON: {e}")))?;
    if raw.get("format").and_then(|f| f.as_str()) != Some(FORMAT_NAME) {
        return Err(corrupt(format!(
            "not a recsys model manifest (no \"format\": \"{FORMAT_NAME}\")"
        )));
    }
    let found = raw
        .get("format_version")
        .and_then(|v| v.as_u64())
        .ok_or_else(|| corrupt("no format_version".into()))?;
    if !(OLDEST_SUPPORTED as u64..=ARTIFACT_FORMAT_VERSION as u64).contains(&found) {
        return Err(Error::Incompatible {
            path,
            found: found.min(u32::MAX as u64) as u32,
            oldest: OLDEST_SUPPORTED,
            newest: ARTIFACT_FORMAT_VERSION,
        });
    }
    let raw = match found {
        4.. => raw,
        _ => legacy::upgrade(raw),
    };
    serde_json::from_value(raw).map_err(|e| corrupt(e.to_string()))
}

#[cfg(test)]
mod tests;
