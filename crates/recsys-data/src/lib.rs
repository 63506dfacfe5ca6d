//! Data for recsys: where ratings come from and how they become training examples.
//!
//! The modules follow the data path of TensorFlow Recommenders' MovieLens ranking tutorial:
//!
//! 1. [`download`](ml100k_dir): find MovieLens 100k in a folder the user names or in the cache,
//!    or download it and verify it against pinned SHA-256 digests;
//! 2. [`MovieLens100k`]: read `u.data`, `u.item` and `u.user` into [`Rating`]s, [`Movie`]s and
//!    [`User`]s, or [`read_interactions`] from any TSV/CSV file with a header — or, for files
//!    of millions of rows, an [`Encoder`] that streams them into compact [`Examples`]
//!    (12 bytes a row) and the vocabularies, or into a [`Spool`] on disk that training reads
//!    back a batch at a time;
//! 3. [`split`] / [`shuffle`]: a documented, seeded shuffle and a train/test split;
//! 4. [`Vocabulary`]: Keras `StringLookup` semantics, raw id to embedding row;
//! 5. [`SideInfo`] and the feature transforms ([`hash_row`], [`bucketize`], [`tokenize`], …):
//!    side features of users and movies, joined by user id and title.
//!
//! [`atomic`] writes a file, or replaces a whole folder, so that a reader sees the old or the new
//! contents and never a half-written mix.
//!
//! Bad input gives a [`DataError`] naming the file and line, never a panic. The library never
//! prints; download progress goes to a [`DownloadObserver`].
//!
//! # Example
//!
//! ```
//! use recsys_data::{ColumnNames, Vocabulary, read_interactions, split};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("ratings.csv");
//! std::fs::write(
//!     &path,
//!     "user_id,movie_title,user_rating\n\
//!      1,\"Game, The (1997)\",4\n\
//!      10,Heat (1995),5\n\
//!      2,Heat (1995),3\n",
//! )?;
//!
//! let ratings = read_interactions(&path, &ColumnNames::default())?;
//! assert_eq!(ratings[0].movie_title, "Game, The (1997)");
//!
//! let users = Vocabulary::from_values(ratings.iter().map(|r| r.user_id.as_str()));
//! assert_eq!(users.values(), ["1", "10", "2"]); // byte order, like np.unique
//! assert_eq!(users.lookup("2"), 3);
//! assert_eq!(users.lookup("unseen"), 0); // row 0: out of vocabulary
//!
//! let (train, test) = split(ratings, 42, 2, 1)?;
//! assert_eq!((train.len(), test.len()), (2, 1));
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

pub mod atomic;
mod download;
mod encoded;
mod error;
mod examples;
mod interactions;
mod lines;
mod movielens;
mod side_info;
mod split;
mod spool;
mod strindex;
mod synth;
mod vocab;

// Where the shared MovieLens copy is, for tests: one locator for the whole workspace, given to
// other crates' tests by the `testdata` feature (enabled in their dev-dependencies only).
#[cfg(any(test, feature = "testdata"))]
#[doc(hidden)]
pub mod testdata;

pub use download::{
    DATA_DIR_ENV, DownloadObserver, ML100K_URL, NoProgress, PINNED_FILES, data_dir_from_env,
    default_cache_dir, ml100k_dir, ml100k_dir_with,
};
pub use encoded::Encoder;
pub use error::{DataError, Result};
pub use examples::Examples;
pub use interactions::{ColumnNames, for_each_interaction, read_interactions};
pub use movielens::{GENRES, Movie, MovieLens100k, User};
pub use side_info::{
    FNV_OFFSET_BASIS, FNV_PRIME, SideInfo, bucketize, equal_width_boundaries, fnv1a64, hash_row,
    release_year, tokenize, zip_prefix,
};
pub use split::{shuffle, shuffle_with, split};
pub use spool::{RowMap, Spool, SpoolShuffle};
pub use synth::{SynthRows, SynthSpec, SynthSummary, write_synthetic};
pub use vocab::{Values, Vocabulary};

/// One rating event: a user, a movie and the rating given.
#[derive(Debug, Clone, PartialEq)]
pub struct Rating {
    /// The user's raw id, as a string (MovieLens: "1".."943").
    pub user_id: String,
    /// The movie's title (MovieLens: decoded from latin-1).
    pub movie_title: String,
    /// The rating given (MovieLens: 1 to 5).
    pub user_rating: f32,
    /// The numeric movie id, where the source has one.
    pub movie_id: Option<u32>,
    /// Seconds since the Unix epoch, where the source has one.
    pub timestamp: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has_autotraits<T: Send + Sync + Unpin>() {}

    #[test]
    fn public_types_are_send_sync_unpin() {
        has_autotraits::<Rating>();
        has_autotraits::<Vocabulary>();
        has_autotraits::<MovieLens100k>();
        has_autotraits::<ColumnNames>();
        has_autotraits::<Encoder>();
        has_autotraits::<Examples>();
        has_autotraits::<DataError>();
        has_autotraits::<SideInfo>();
    }
}
