//! The exporter's error type: every failure names the file (or the model directory) it is about.

use std::path::PathBuf;

/// Errors from exporting a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The model directory could not be loaded (missing, truncated or tampered files), or its
    /// test set could not be read; the message names the file.
    #[error(transparent)]
    Model(#[from] recsys::Error),
    /// A file could not be written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An exported file could not be read back: not one this crate wrote, or damaged.
    #[error("{}: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the tensor or node.
        reason: String,
    },
    /// The request cannot be carried out (an output path that is a directory, a model too large
    /// for the format); the message says what and where.
    #[error("{0}")]
    InvalidInput(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A file error keeps its path and cause as [`Error::Io`]; any other data error (none is
/// expected from writing) is reported as the model's.
impl From<recsys::data::DataError> for Error {
    fn from(e: recsys::data::DataError) -> Self {
        match e {
            recsys::data::DataError::Io { path, source } => Error::Io { path, source },
            other => Error::Model(other.into()),
        }
    }
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
