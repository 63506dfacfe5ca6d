//! The library's error type: every failure names what it was about (file, line, field).

use std::path::PathBuf;

/// Errors from recsys's library API.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or locating data failed (the message names the file and line).
    #[error(transparent)]
    Data(#[from] recsys_data::DataError),
    /// The engine rejected an input's shape or a setting (a candidate catalogue, a batch).
    #[error(transparent)]
    Engine(#[from] recsys_engine::EngineError),
    /// A hyperparameter is outside its allowed range.
    #[error("invalid {field}: {allowed}, got {value}")]
    Config {
        /// The setting's name, as the CLI flag spells it.
        field: &'static str,
        /// What is allowed.
        allowed: &'static str,
        /// What was given.
        value: String,
    },
    /// A configuration file (a feature recipe in TOML) could not be parsed.
    #[error("{}: {reason}", path.display())]
    ConfigFile {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line and the key.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A weights file is missing a tensor, has the wrong shape or dtype, or is not safetensors.
    #[error("{}: {reason}", path.display())]
    Weights {
        /// The weights file.
        path: PathBuf,
        /// What is wrong, naming the tensor.
        reason: String,
    },
    /// A saved model is damaged: a file missing, truncated, tampered with or inconsistent.
    #[error("{}: corrupt model artifact: {reason}", path.display())]
    Corrupt {
        /// The file at fault.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A saved model was written by a format version this build cannot read.
    #[error(
        "{}: model format version {found} is not supported (this recsys reads versions {oldest}..={newest}){hint}",
        path.display(),
        hint = if *found > *newest { "; upgrade recsys to load it" } else { "" }
    )]
    Incompatible {
        /// The manifest.
        path: PathBuf,
        /// The version in the file.
        found: u32,
        /// Oldest version supported.
        oldest: u32,
        /// Newest version supported.
        newest: u32,
    },
    /// A saved model is of another kind than the one a typed load asked for.
    #[error(
        "{}: model kind \"{kind}\" is not supported here (this needs a \"{expected}\" model; `recsys evaluate` and `recsys rank` read every kind)",
        path.display()
    )]
    UnsupportedModelKind {
        /// The model directory.
        path: PathBuf,
        /// The kind its manifest names.
        kind: String,
        /// The kind this operation needs.
        expected: &'static str,
    },
    /// A model kind cannot do what was asked (a feature model has no exported graph, say): the
    /// kind's answer through the model contract.
    #[error("model kind \"{kind}\" is not supported by {what}")]
    Unsupported {
        /// The kind, as the manifest names it.
        kind: &'static str,
        /// What it cannot do.
        what: &'static str,
    },
    /// Training diverged: the loss became NaN or infinite.
    #[error(
        "training diverged at epoch {epoch}, step {step}: the loss is {loss} (try a smaller --learning-rate)"
    )]
    Diverged {
        /// 1-based epoch.
        epoch: usize,
        /// 1-based step within the epoch.
        step: usize,
        /// The loss value.
        loss: f32,
    },
    /// A request the model cannot answer (empty input, mismatched lengths).
    #[error("{0}")]
    InvalidInput(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The error of `predict` given `users` user ids but `titles` titles.
    pub(crate) fn check_pairs(users: usize, titles: usize) -> Result<()> {
        if users == titles {
            return Ok(());
        }
        Err(Error::InvalidInput(format!(
            "predict: {users} user ids but {titles} movie titles; pass one of each per pair"
        )))
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
