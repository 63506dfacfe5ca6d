//! Side features: the transforms that turn a user's demographics (`u.user`), a movie's genres,
//! release date and title (`u.item`) and a rating's time (`u.data`) into embedding rows, and
//! [`SideInfo`], which joins those files to an interaction by user id and title.
//!
//! These are the inputs of TFRS's featurization tutorial ("Using side features", with
//! `StringLookup`, `Hashing`, `Discretization` and `TextVectorization`), written as plain
//! functions. Every transform keeps row 0 for "unknown or missing", as [`Vocabulary`] does, so
//! the embedding table behind any feature has one row a model can learn for the values it never
//! saw.
//!
//! Hashing ([`hash_row`]) is FNV-1a 64 with its published constants: no per-process key (std's
//! `DefaultHasher` is SipHash with random keys), and bytes, not platform words, are hashed, so
//! the same string lands in the same bin on every run and every machine, and a saved model
//! keeps meaning what it meant.
//!
//! [`Vocabulary`]: crate::Vocabulary

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{DataError, Result};
use crate::movielens::{Movie, MovieLens100k, User};

/// FNV-1a's 64-bit offset basis (Fowler, Noll & Vo).
pub const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV-1a's 64-bit prime.
pub const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// The 64-bit FNV-1a hash of `bytes`: the same value on every run and platform.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_OFFSET_BASIS, |h, &b| {
        (h ^ b as u64).wrapping_mul(FNV_PRIME)
    })
}

/// The row of `value` among `bins` hash bins: `1 + fnv1a64(value) mod bins`, so rows run from 1
/// to `bins` and row 0 stays free for a missing value. A table for it has `bins + 1` rows.
///
/// # Panics
/// If `bins` is 0 (configurations are checked before any value is hashed).
pub fn hash_row(value: &str, bins: u32) -> u32 {
    assert!(bins > 0, "hash_row: zero bins");
    1 + (fnv1a64(value.as_bytes()) % bins as u64) as u32
}

/// The bucket of `value` among sorted `boundaries`, as Keras's `Discretization` numbers them:
/// the number of boundaries at or below `value`, from 0 (below the first) to
/// `boundaries.len()` (at or above the last). Add 1 for a row, keeping row 0 for "missing".
pub fn bucketize(value: f64, boundaries: &[f64]) -> u32 {
    boundaries.partition_point(|&b| b <= value) as u32
}

/// `buckets − 1` boundaries that cut `[min, max]` into `buckets` equal widths (TFRS's
/// featurization tutorial discretizes timestamps over `np.linspace(min, max)` the same way).
/// With `max <= min` every value falls into one bucket.
pub fn equal_width_boundaries(min: f64, max: f64, buckets: usize) -> Vec<f64> {
    if buckets < 2 || max <= min {
        return Vec::new();
    }
    let width = (max - min) / buckets as f64;
    (1..buckets).map(|i| min + width * i as f64).collect()
}

/// A title's tokens: lower-cased, split on every character that is not alphanumeric, empty
/// pieces dropped (`"Twelve Monkeys (1995)"` → `twelve`, `monkeys`, `1995`). An empty title has
/// no tokens.
pub fn tokenize(title: &str) -> impl Iterator<Item = String> + '_ {
    title
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
}

/// The first `chars` characters of a zip code, upper-cased (u.user holds Canadian codes such as
/// `T8H1N` beside US ones; the first digits of a US code name a region).
pub fn zip_prefix(zip: &str, chars: usize) -> String {
    zip.trim()
        .chars()
        .take(chars)
        .collect::<String>()
        .to_uppercase()
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The year of a `u.item` release date written `DD-Mon-YYYY` (`01-Jan-1995` → 1995); `None` for
/// an empty field (one movie has none). Anything else is an error message naming the value.
pub fn release_year(date: &str) -> std::result::Result<Option<i32>, String> {
    let date = date.trim();
    if date.is_empty() {
        return Ok(None);
    }
    let bad = || format!("{date:?} is not a date like 01-Jan-1995");
    let parts: Vec<&str> = date.split('-').collect();
    let [day, month, year] = parts[..] else {
        return Err(bad());
    };
    let day: u32 = day.parse().map_err(|_| bad())?;
    if !(1..=31).contains(&day) || !MONTHS.contains(&month) || year.len() != 4 {
        return Err(bad());
    }
    year.parse().map(Some).map_err(|_| bad())
}

/// MovieLens's side information, indexed for joining to interactions by user id and title.
///
/// Titles are the join key for movies because TFRS's split names movies by title only. A few
/// titles belong to two `u.item` rows (18 of 1,682); the first row in file order gives such a
/// title's genres and release date, and a user who rated both keeps the earlier timestamp.
#[derive(Debug, Clone, PartialEq)]
pub struct SideInfo {
    dir: PathBuf,
    users: HashMap<u32, User>,
    movies: Vec<Movie>,
    by_title: HashMap<String, u32>,
    timestamps: HashMap<(u32, u32), i64>,
}

impl SideInfo {
    /// Reads `u.user`, `u.item` and `u.data` from `dir`, the `ml-100k` folder (errors name the
    /// file and line, as [`MovieLens100k::load`] reports them).
    pub fn load(dir: &Path) -> Result<Self> {
        Ok(Self::from_movielens(MovieLens100k::load(dir)?, dir))
    }

    /// Reads `u.user` and `u.item` only: the profiles, without `u.data`'s times (for ratings
    /// that carry their own, or features that read none).
    pub fn load_profiles(dir: &Path) -> Result<Self> {
        let ml = MovieLens100k {
            movies: crate::movielens::read_items(&dir.join("u.item"))?,
            users: crate::movielens::read_users(&dir.join("u.user"))?,
            ratings: Vec::new(),
        };
        Ok(Self::from_movielens(ml, dir))
    }

    /// Indexes data already read from `dir` (named in errors).
    pub fn from_movielens(ml: MovieLens100k, dir: &Path) -> Self {
        let mut by_title = HashMap::new();
        let mut ids = HashMap::new();
        for (i, m) in ml.movies.iter().enumerate() {
            by_title.entry(m.title.clone()).or_insert(i as u32);
            ids.insert(m.id, by_title[&m.title]);
        }
        let mut timestamps = HashMap::new();
        for r in &ml.ratings {
            let (Some(item), Some(t), Ok(user)) = (r.movie_id, r.timestamp, r.user_id.parse())
            else {
                continue;
            };
            let slot = timestamps.entry((user, ids[&item])).or_insert(t);
            *slot = (*slot).min(t);
        }
        SideInfo {
            dir: dir.to_owned(),
            users: ml.users.into_iter().map(|u| (u.id, u)).collect(),
            movies: ml.movies,
            by_title,
            timestamps,
        }
    }

    /// The `u.user` row of `user_id`, or `None` if it has none (or the id is not a number).
    pub fn user(&self, user_id: &str) -> Option<&User> {
        self.users.get(&user_id.trim().parse().ok()?)
    }

    /// The `u.user` row of `user_id`, or an error naming `u.user` and the id.
    pub fn require_user(&self, user_id: &str) -> Result<&User> {
        self.user(user_id)
            .ok_or_else(|| self.missing("u.user", "user id", user_id))
    }

    /// The (first) `u.item` row titled `title`.
    pub fn movie(&self, title: &str) -> Option<&Movie> {
        Some(&self.movies[*self.by_title.get(title)? as usize])
    }

    /// The `u.item` row titled `title`, or an error naming `u.item` and the title.
    pub fn require_movie(&self, title: &str) -> Result<&Movie> {
        self.movie(title)
            .ok_or_else(|| self.missing("u.item", "title", title))
    }

    /// When `user_id` rated `title` (seconds since the epoch), if `u.data` says.
    pub fn timestamp(&self, user_id: &str, title: &str) -> Option<i64> {
        let user = user_id.trim().parse().ok()?;
        self.timestamps
            .get(&(user, *self.by_title.get(title)?))
            .copied()
    }

    /// The same lookup, or an error naming `u.data`, the user and the title.
    pub fn require_timestamp(&self, user_id: &str, title: &str) -> Result<i64> {
        self.timestamp(user_id, title).ok_or_else(|| {
            self.missing(
                "u.data",
                "rating of",
                &format!("user {user_id} for {title:?}"),
            )
        })
    }

    /// Every user row, in no particular order.
    pub fn users(&self) -> impl Iterator<Item = &User> {
        self.users.values()
    }

    /// Every movie row, in `u.item` order.
    pub fn movies(&self) -> &[Movie] {
        &self.movies
    }

    fn missing(&self, file: &str, what: &'static str, id: &str) -> DataError {
        DataError::NoSideInfo {
            path: self.dir.join(file),
            what,
            id: id.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests;
