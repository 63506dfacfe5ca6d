//! Why something went wrong, in words a user can act on.
//!
//! Every fallible function of this crate returns [`DataError`]. File errors carry the path; parse
//! errors also carry the 1-based line number, so a message reads like `u.data:17: ...` and points
//! straight at the offending row.

use std::path::PathBuf;

/// How to point recsys at a local copy of MovieLens 100k, appended to download failures.
pub(crate) const LOCAL_COPY_HINT: &str = "to use a local copy instead, pass `--data-dir DIR` or \
     set `RECSYS_DATA_DIR=DIR`, where DIR holds the unzipped `ml-100k/` folder";

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// A file or folder could not be read, written, created or renamed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A row could not be parsed: wrong number of columns, a field that is not a number, a
    /// rating that is NaN or infinite, a malformed quoted field.
    #[error("{}:{line}: {message}", path.display())]
    Parse {
        /// The file being read.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// What is wrong, naming the field where there is one.
        message: String,
    },

    /// A line of a file that must be UTF-8 is not.
    #[error(
        "{}:{line}: invalid UTF-8 at byte {column} of the line (the file must be UTF-8)",
        path.display()
    )]
    InvalidUtf8 {
        /// The file being read.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// The 1-based byte offset within the line of the first invalid byte.
        column: usize,
    },

    /// A row refers to an id that the file listing those ids does not contain (for example an
    /// item id in `u.data` missing from `u.item`).
    #[error("{}:{line}: unknown {kind} id {id} (not listed in {listed_in})", path.display())]
    UnknownId {
        /// The file being read.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// What kind of id: `"item"` or `"user"`.
        kind: &'static str,
        /// The id as written.
        id: u32,
        /// The file that should have listed it.
        listed_in: &'static str,
    },

    /// A side-information file (`u.user`, `u.item`, `u.data`) has no row for an id that an
    /// interaction needs (a user with no demographics, a title not in the catalogue).
    #[error("{}: no row for {what} {id:?} (its side features cannot be computed)", path.display())]
    NoSideInfo {
        /// The file that should hold the row.
        path: PathBuf,
        /// What was looked up: "user id", "title", "rating of".
        what: &'static str,
        /// The id as given.
        id: String,
    },

    /// A file has no header or no data rows.
    #[error("{}: {what}", path.display())]
    Empty {
        /// The file being read.
        path: PathBuf,
        /// What is missing: "is empty (no header row)" or "has no data rows".
        what: &'static str,
    },

    /// An interaction file's header lacks a required column.
    #[error(
        "{}: no column named {column:?} in the header (found: {})",
        path.display(),
        found.join(", ")
    )]
    MissingColumn {
        /// The file being read.
        path: PathBuf,
        /// The column that was looked for.
        column: String,
        /// The header's column names.
        found: Vec<String>,
    },

    /// A split asks for more rows than there are.
    #[error("cannot split {available} rows into {train} train + {test} test rows")]
    SplitTooLarge {
        /// Rows asked for the training set.
        train: usize,
        /// Rows asked for the test set.
        test: usize,
        /// Rows available.
        available: usize,
    },

    /// A synthetic data set's shape is out of range.
    #[error("invalid {field}: {allowed}, got {value}")]
    InvalidSpec {
        /// The setting, as the CLI flag spells it.
        field: String,
        /// What is allowed.
        allowed: String,
        /// What was given.
        value: String,
    },

    /// Stored vocabulary values are not strictly increasing in byte order (unsorted or
    /// duplicated), so they cannot be the output of [`crate::Vocabulary::from_values`].
    #[error("vocabulary is not strictly increasing at index {index}: {previous:?} then {value:?}")]
    VocabularyOrder {
        /// The 0-based index of the offending value.
        index: usize,
        /// The value before it.
        previous: String,
        /// The offending value.
        value: String,
    },

    /// A data folder given by the user does not hold MovieLens 100k.
    #[error(
        "{} does not hold MovieLens 100k: missing {}. Expected DIR/ml-100k/ with u.data, u.item \
         and u.user, where DIR is the folder given by `--data-dir DIR` or `RECSYS_DATA_DIR=DIR`{hint}",
        dir.display(),
        missing.join(", ")
    )]
    DatasetMissing {
        /// The folder that was given (the parent of `ml-100k/`).
        dir: PathBuf,
        /// What is missing, as paths relative to `dir`.
        missing: Vec<String>,
        /// Extra advice, possibly empty.
        hint: String,
    },

    /// Downloading MovieLens 100k failed (offline, HTTP error, body too large).
    #[error("downloading {url} failed: {reason}; {LOCAL_COPY_HINT}")]
    Download {
        /// The URL that was fetched.
        url: String,
        /// What went wrong.
        reason: String,
    },

    /// A downloaded archive is not a usable MovieLens 100k zip (corrupt, or a pinned file is absent).
    #[error("the archive downloaded from {url} is unusable: {reason}; {LOCAL_COPY_HINT}")]
    Archive {
        /// The URL it came from.
        url: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A file of a downloaded archive does not have its pinned SHA-256.
    #[error(
        "{file} in the archive downloaded from {url} has SHA-256 {actual}, expected {expected}: \
         the download is corrupt or was tampered with, and nothing was kept; {LOCAL_COPY_HINT}"
    )]
    ChecksumMismatch {
        /// The file, as named inside the archive (e.g. `ml-100k/u.data`).
        file: String,
        /// The URL it came from.
        url: String,
        /// The pinned digest, lowercase hex.
        expected: String,
        /// The digest of what was received, lowercase hex.
        actual: String,
    },

    /// No cache folder could be chosen because neither `XDG_CACHE_HOME` nor `HOME` is set.
    #[error(
        "cannot choose a cache folder for downloads: neither XDG_CACHE_HOME nor HOME is set; \
         {LOCAL_COPY_HINT}"
    )]
    NoCacheDir,
}

/// Result alias whose error defaults to [`DataError`].
pub type Result<T, E = DataError> = std::result::Result<T, E>;

impl DataError {
    /// An [`DataError::Io`] for `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            source,
        }
    }

    /// A [`DataError::Parse`] for `path` at 1-based `line`.
    pub(crate) fn parse(path: impl Into<PathBuf>, line: usize, message: impl Into<String>) -> Self {
        DataError::Parse {
            path: path.into(),
            line,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has_autotraits<T: Send + Sync + Unpin + 'static>() {}

    #[test]
    fn error_is_send_sync_static() {
        has_autotraits::<DataError>();
    }

    #[test]
    fn parse_error_reads_path_colon_line() {
        let e = DataError::parse("/x/u.data", 17, "bad");
        assert_eq!(e.to_string(), "/x/u.data:17: bad");
    }

    #[test]
    fn download_error_tells_how_to_use_a_local_copy() {
        let e = DataError::Download {
            url: "http://h/x.zip".into(),
            reason: "offline".into(),
        };
        let s = e.to_string();
        assert!(
            s.contains("downloading http://h/x.zip failed: offline"),
            "{s}"
        );
        assert!(
            s.contains("--data-dir DIR") && s.contains("RECSYS_DATA_DIR=DIR"),
            "{s}"
        );
    }
}
