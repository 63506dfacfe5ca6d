//! Data for recsys: where ratings come from and how they become training examples.
//!
//! STUB — being written (see the data helper's task). The public API below is fixed.
#![deny(missing_docs)]

use std::path::{Path, PathBuf};

/// One rating event.
#[derive(Debug, Clone, PartialEq)]
pub struct Rating {
    /// The user's raw id, as a string (MovieLens: "1".."943").
    pub user_id: String,
    /// The movie's title (MovieLens: decoded from latin-1).
    pub movie_title: String,
    /// The rating given.
    pub user_rating: f32,
    /// The numeric movie id, where the source has one.
    pub movie_id: Option<u32>,
    /// Seconds since the Unix epoch, where the source has one.
    pub timestamp: Option<i64>,
}

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// Placeholder.
    #[error("{0}")]
    Other(String),
}

/// Result alias.
pub type Result<T, E = DataError> = std::result::Result<T, E>;

/// StringLookup vocabulary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vocabulary {
    values: Vec<String>,
}

impl Vocabulary {
    /// Builds from values (sorted unique, byte order).
    pub fn from_values<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        let mut v: Vec<String> = values.into_iter().map(str::to_owned).collect();
        v.sort();
        v.dedup();
        Vocabulary { values: v }
    }
    /// Row for a value; 0 = OOV.
    pub fn lookup(&self, value: &str) -> u32 {
        self.values
            .binary_search_by(|v| v.as_str().cmp(value))
            .map(|i| i as u32 + 1)
            .unwrap_or(0)
    }
    /// Rows including OOV.
    pub fn num_rows(&self) -> usize {
        self.values.len() + 1
    }
    /// Values.
    pub fn values(&self) -> &[String] {
        &self.values
    }
    /// From stored values.
    pub fn from_sorted(values: Vec<String>) -> Result<Self> {
        Ok(Vocabulary { values })
    }
}

/// Column mapping.
pub struct ColumnNames {
    /// user column
    pub user_id: String,
    /// item column
    pub movie_title: String,
    /// rating column
    pub user_rating: String,
}

/// Reads a TSV/CSV interactions file.
pub fn read_interactions(_path: &Path, _columns: &ColumnNames) -> Result<Vec<Rating>> {
    todo!()
}

/// Shuffle + split.
pub fn split(_ratings: Vec<Rating>, _seed: u64, _train: usize, _test: usize) -> Result<(Vec<Rating>, Vec<Rating>)> {
    todo!()
}

/// Locate.
pub fn ml100k_dir(_data_dir: Option<&Path>) -> Result<PathBuf> {
    todo!()
}
