//! From raw interactions to embedding rows: each feature's lookup (a vocabulary of the training
//! data's values, hash bins, bucket boundaries, the fixed genre list), fitted once on the
//! training data, and the side information a model keeps so that it predicts without the data
//! folder.
//!
//! Every lookup keeps row 0 for "unknown or missing". While training, every user and title must
//! have its side information (the training job checks this against `u.user` and `u.item`, and
//! names the file and id when one is missing); when predicting, a user or title the model has
//! no side information for reads row 0 for each of those features, so new users still get a
//! score from what is known (their id's hash bin, the movie's features).

use std::collections::{BTreeMap, HashSet};

use recsys_data::{
    Examples, SideInfo, Vocabulary, bucketize, equal_width_boundaries, hash_row, release_year,
    tokenize, zip_prefix,
};
use recsys_engine::Ragged;
use serde::{Deserialize, Serialize};

use super::config::{
    DEFAULT_AGE_BOUNDARIES, DEFAULT_TIMESTAMP_BUCKETS, DEFAULT_ZIP_PREFIX, FeatureInput,
    FeatureSpec,
};
use crate::{Error, Result};

/// One interaction's raw inputs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interaction<'a> {
    /// The user id.
    pub user_id: &'a str,
    /// The movie title.
    pub title: &'a str,
    /// When the rating was given (seconds since the epoch), if known.
    pub timestamp: Option<i64>,
}

/// A user's `u.user` row, as the model keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserSide {
    /// Age in years.
    pub age: u32,
    /// Gender as written.
    pub gender: String,
    /// Occupation as written.
    pub occupation: String,
    /// Zip code as written.
    pub zip_code: String,
}

/// A title's `u.item` row (the first, for a title listed twice), as the model keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MovieSide {
    /// Release date as written (`01-Jan-1995`, or empty).
    pub release_date: String,
    /// Indices into [`recsys_data::GENRES`] of the genres set.
    pub genres: Vec<u8>,
}

/// The side information of every user and title a model knows, keyed by raw id and title.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SideTable {
    /// By user id.
    pub users: BTreeMap<String, UserSide>,
    /// By title.
    pub movies: BTreeMap<String, MovieSide>,
}

impl SideTable {
    /// Everything `u.user` and `u.item` hold.
    pub fn from_side_info(side: &SideInfo) -> Self {
        let users = side.users().map(|u| {
            let s = UserSide {
                age: u.age,
                gender: u.gender.clone(),
                occupation: u.occupation.clone(),
                zip_code: u.zip_code.clone(),
            };
            (u.id.to_string(), s)
        });
        let mut movies = BTreeMap::new();
        for m in side.movies() {
            movies.entry(m.title.clone()).or_insert_with(|| MovieSide {
                release_date: m.release_date.clone(),
                genres: (0..m.genres.len() as u8)
                    .filter(|&g| m.genres[g as usize])
                    .collect(),
            });
        }
        SideTable {
            users: users.collect(),
            movies,
        }
    }
}

/// How one feature's values become rows.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    /// The training data's values, sorted; row 0 for any other.
    Vocabulary(Vocabulary),
    /// [`hash_row`] into this many bins.
    Hash(u32),
    /// `1 + bucketize(value, boundaries)`.
    Buckets(Vec<f64>),
    /// Genre `g` is row `g + 1`.
    Genres,
}

/// [`Lookup`] as `features.json` stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LookupFile {
    /// A vocabulary's values, sorted.
    Vocabulary {
        /// The values (row = index + 1).
        values: Vec<String>,
    },
    /// Hash bins.
    Hash {
        /// How many.
        bins: u32,
    },
    /// Bucket boundaries.
    Buckets {
        /// Increasing.
        boundaries: Vec<f64>,
    },
    /// The 19 MovieLens genres.
    Genres,
}

impl Lookup {
    /// Rows of the table this lookup indexes, row 0 included.
    pub fn table_rows(&self) -> usize {
        match self {
            Lookup::Vocabulary(v) => v.num_rows(),
            Lookup::Hash(bins) => *bins as usize + 1,
            Lookup::Buckets(b) => b.len() + 2,
            Lookup::Genres => recsys_data::GENRES.len() + 1,
        }
    }

    /// The form saved in a model directory.
    pub fn to_file(&self) -> LookupFile {
        match self {
            Lookup::Vocabulary(v) => LookupFile::Vocabulary {
                values: v.values().to_vec(),
            },
            Lookup::Hash(bins) => LookupFile::Hash { bins: *bins },
            Lookup::Buckets(b) => LookupFile::Buckets {
                boundaries: b.clone(),
            },
            Lookup::Genres => LookupFile::Genres,
        }
    }

    /// Reads the saved form back; a vocabulary out of order, zero hash bins or boundaries that
    /// are not finite and increasing are errors.
    pub fn from_file(file: LookupFile) -> Result<Self> {
        Ok(match file {
            LookupFile::Vocabulary { values } => {
                Lookup::Vocabulary(Vocabulary::from_sorted(values)?)
            }
            LookupFile::Hash { bins: 0 } => {
                return Err(Error::InvalidInput("a hash lookup with 0 bins".into()));
            }
            LookupFile::Hash { bins } => Lookup::Hash(bins),
            LookupFile::Buckets { boundaries }
                if boundaries.iter().any(|b| !b.is_finite())
                    || boundaries.windows(2).any(|w| w[0] >= w[1]) =>
            {
                return Err(Error::InvalidInput(format!(
                    "bucket boundaries {boundaries:?} are not finite and increasing"
                )));
            }
            LookupFile::Buckets { boundaries } => Lookup::Buckets(boundaries),
            LookupFile::Genres => Lookup::Genres,
        })
    }

    fn row_of_str(&self, value: &str) -> u32 {
        match self {
            Lookup::Vocabulary(v) => v.lookup(value),
            Lookup::Hash(bins) => hash_row(value, *bins),
            _ => 0,
        }
    }
}

/// A feature's raw values for one interaction, before its lookup.
enum Raw {
    /// Strings (one, several, or none: missing).
    Strings(Vec<String>),
    /// A number, or none: missing.
    Number(Option<f64>),
    /// Rows already (genres), or none.
    Rows(Vec<u32>),
}

fn raw(spec: &FeatureSpec, ex: &Interaction, side: &SideTable, years_as_numbers: bool) -> Raw {
    use FeatureInput::*;
    let user = side.users.get(ex.user_id.trim());
    let movie = side.movies.get(ex.title);
    let one = |s: Option<String>| Raw::Strings(s.into_iter().collect());
    match spec.input {
        UserId => one(Some(ex.user_id.to_owned())),
        MovieTitle => one(Some(ex.title.to_owned())),
        UserGender => one(user.map(|u| u.gender.clone())),
        UserOccupation => one(user.map(|u| u.occupation.clone())),
        UserZip => {
            let n = spec.prefix.unwrap_or(DEFAULT_ZIP_PREFIX);
            one(user.map(|u| zip_prefix(&u.zip_code, n)))
        }
        UserAge => Raw::Number(user.map(|u| u.age as f64)),
        MovieGenres => Raw::Rows(movie.map_or_else(Vec::new, |m| {
            m.genres.iter().map(|&g| g as u32 + 1).collect()
        })),
        MovieYear => {
            let year = movie.and_then(|m| release_year(&m.release_date).ok().flatten());
            if years_as_numbers {
                Raw::Number(year.map(f64::from))
            } else {
                one(year.map(|y| y.to_string()))
            }
        }
        TitleTokens => Raw::Strings(tokenize(ex.title).collect()),
        Timestamp => Raw::Number(ex.timestamp.map(|t| t as f64)),
    }
}

/// The rows of every feature for a list of interactions: feature `f` of example `i` looked up
/// `ids[f][offsets[f][i]..offsets[f][i + 1]]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FeatureRows {
    offsets: Vec<Vec<u32>>,
    ids: Vec<Vec<u32>>,
}

impl FeatureRows {
    /// Empty rows for `features` features.
    pub fn new(features: usize) -> Self {
        FeatureRows {
            offsets: vec![vec![0]; features],
            ids: vec![Vec::new(); features],
        }
    }

    /// Number of interactions.
    pub fn len(&self) -> usize {
        self.offsets.first().map_or(0, |o| o.len() - 1)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of features.
    pub fn features(&self) -> usize {
        self.offsets.len()
    }

    /// Feature `f`'s lookups.
    pub fn feature(&self, f: usize) -> Ragged<'_> {
        Ragged {
            offsets: &self.offsets[f],
            ids: &self.ids[f],
        }
    }

    /// The most rows any one interaction looks up for feature `f`.
    pub fn max_values(&self, f: usize) -> usize {
        let o = &self.offsets[f];
        o.windows(2)
            .map(|w| (w[1] - w[0]) as usize)
            .max()
            .unwrap_or(0)
    }

    /// Replaces the contents with the interactions `order[..]` of `from`, in that order.
    pub fn select_from(&mut self, from: &FeatureRows, order: &[usize]) {
        for f in 0..self.offsets.len() {
            let (offsets, ids) = (&mut self.offsets[f], &mut self.ids[f]);
            offsets.truncate(1);
            ids.clear();
            let src = from.feature(f);
            for &i in order {
                ids.extend_from_slice(src.values(i));
                offsets.push(ids.len() as u32);
            }
        }
    }

    fn push(&mut self, f: usize, rows: impl IntoIterator<Item = u32>) {
        let before = self.ids[f].len();
        self.ids[f].extend(rows);
        if self.ids[f].len() == before {
            self.ids[f].push(0);
        }
        self.offsets[f].push(self.ids[f].len() as u32);
    }
}

/// Each feature's spec and fitted lookup.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureEncoder {
    specs: Vec<FeatureSpec>,
    lookups: Vec<Lookup>,
}

impl FeatureEncoder {
    /// Fits each feature's lookup on the training interactions: vocabularies of the values
    /// they hold, timestamp buckets between their first and last time.
    pub fn fit(specs: &[FeatureSpec], train: &[Interaction], side: &SideTable) -> Self {
        let lookups = specs.iter().map(|s| fit_lookup(s, train, side)).collect();
        FeatureEncoder {
            specs: specs.to_vec(),
            lookups,
        }
    }

    /// An encoder from saved lookups; errors if they do not match the specs.
    pub fn from_parts(specs: Vec<FeatureSpec>, lookups: Vec<Lookup>) -> Result<Self> {
        if specs.len() != lookups.len() {
            return Err(Error::InvalidInput(format!(
                "{} features but {} lookups",
                specs.len(),
                lookups.len()
            )));
        }
        Ok(FeatureEncoder { specs, lookups })
    }

    /// The features' specs.
    pub fn specs(&self) -> &[FeatureSpec] {
        &self.specs
    }

    /// The features' lookups.
    pub fn lookups(&self) -> &[Lookup] {
        &self.lookups
    }

    /// The rows of every feature for `interactions`.
    pub fn encode(&self, interactions: &[Interaction], side: &SideTable) -> FeatureRows {
        let mut rows = FeatureRows::new(self.specs.len());
        for ex in interactions {
            for (f, (spec, lookup)) in self.specs.iter().zip(&self.lookups).enumerate() {
                rows.push(f, rows_of(spec, lookup, ex, side));
            }
        }
        rows
    }

    /// The rows of every feature for `examples`, given as rows of `users` and `titles`, example
    /// `i` rated at `time(i)`: each distinct user's and title's features are computed once,
    /// from its string, and shared by its examples.
    pub fn encode_examples(
        &self,
        examples: &Examples,
        (users, titles): (&Vocabulary, &Vocabulary),
        time: impl Fn(usize) -> Option<i64>,
        side: &SideTable,
    ) -> FeatureRows {
        let mut rows = FeatureRows::new(self.specs.len());
        for (f, (spec, lookup)) in self.specs.iter().zip(&self.lookups).enumerate() {
            let of = |ex: &Interaction| rows_of(spec, lookup, ex, side);
            let columns = ((&examples.users[..], users), (&examples.titles[..], titles));
            match Key::of(spec.input).pick(columns) {
                Some(((keys, vocabulary), alone)) => {
                    let cached = per_row(keys, vocabulary, |id| of(&alone(id)));
                    for &k in keys {
                        rows.push(f, cached[k as usize].iter().copied());
                    }
                }
                None => {
                    for i in 0..examples.len() {
                        rows.push(f, of(&Interaction::at(time(i))));
                    }
                }
            }
        }
        rows
    }

    /// [`fit`](Self::fit) on examples given as rows of `users` and `titles`, rated at
    /// `times`: each feature's values are those of the distinct users or titles the examples
    /// name (and their times).
    pub fn fit_examples(
        specs: &[FeatureSpec],
        examples: &Examples,
        (users, titles): (&Vocabulary, &Vocabulary),
        times: &[i64],
        side: &SideTable,
    ) -> Self {
        let distinct = |rows: &[u32], vocabulary: &Vocabulary| -> Vec<u32> {
            let mut seen = vec![false; vocabulary.num_rows()];
            rows.iter()
                .filter(|&&r| !std::mem::replace(&mut seen[r as usize], true))
                .copied()
                .collect()
        };
        fn text(v: &Vocabulary, r: u32) -> &str {
            v.value(r).unwrap_or("")
        }
        let user_rows = distinct(&examples.users, users);
        let title_rows = distinct(&examples.titles, titles);
        let lookups = specs
            .iter()
            .map(|spec| {
                let columns = ((&user_rows[..], users), (&title_rows[..], titles));
                let interactions: Vec<Interaction> = match Key::of(spec.input).pick(columns) {
                    Some(((rows, vocabulary), alone)) => {
                        rows.iter().map(|&r| alone(text(vocabulary, r))).collect()
                    }
                    None => times.iter().map(|&t| Interaction::at(Some(t))).collect(),
                };
                fit_lookup(spec, &interactions, side)
            })
            .collect();
        FeatureEncoder {
            specs: specs.to_vec(),
            lookups,
        }
    }
}

/// Makes the interaction that holds one user id or one title alone.
type Alone = fn(&str) -> Interaction<'_>;

/// Which part of an interaction a feature reads: its user, its title, or its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    User,
    Title,
    Time,
}

impl Key {
    fn of(input: FeatureInput) -> Self {
        use FeatureInput::*;
        match input {
            UserId | UserAge | UserGender | UserOccupation | UserZip => Key::User,
            MovieTitle | MovieGenres | MovieYear | TitleTokens => Key::Title,
            Timestamp => Key::Time,
        }
    }

    /// Of a user and a title column, the one this key reads, with the interaction that holds
    /// one of its ids alone; `None` for the time.
    fn pick<T>(self, (user, title): (T, T)) -> Option<(T, Alone)> {
        match self {
            Key::User => Some((user, Interaction::user)),
            Key::Title => Some((title, Interaction::title)),
            Key::Time => None,
        }
    }
}

impl Interaction<'_> {
    /// A user alone (what user features read).
    fn user(user_id: &str) -> Interaction<'_> {
        Interaction {
            user_id,
            title: "",
            timestamp: None,
        }
    }

    /// A title alone (what title features read).
    fn title(title: &str) -> Interaction<'_> {
        Interaction {
            user_id: "",
            title,
            timestamp: None,
        }
    }

    /// A time alone.
    fn at(timestamp: Option<i64>) -> Interaction<'static> {
        Interaction {
            user_id: "",
            title: "",
            timestamp,
        }
    }
}

/// `rows_of(string of row r)` for each row `r` of `vocabulary` that `used` names, computed once
/// each (the others left empty).
fn per_row(
    used: &[u32],
    vocabulary: &Vocabulary,
    rows_of: impl Fn(&str) -> Vec<u32>,
) -> Vec<Vec<u32>> {
    let mut cached: Vec<Option<Vec<u32>>> = vec![None; vocabulary.num_rows()];
    for &r in used {
        cached[r as usize].get_or_insert_with(|| rows_of(vocabulary.value(r).unwrap_or("")));
    }
    cached.into_iter().map(Option::unwrap_or_default).collect()
}

/// One feature's rows for one interaction (empty when its value is missing).
fn rows_of(spec: &FeatureSpec, lookup: &Lookup, ex: &Interaction, side: &SideTable) -> Vec<u32> {
    let numbers = matches!(lookup, Lookup::Buckets(_));
    match raw(spec, ex, side, numbers) {
        Raw::Strings(v) => v.iter().map(|s| lookup.row_of_str(s)).collect(),
        Raw::Number(x) => match (lookup, x) {
            (Lookup::Buckets(b), Some(x)) => vec![1 + bucketize(x, b)],
            _ => Vec::new(),
        },
        Raw::Rows(r) => r,
    }
}

fn fit_lookup(spec: &FeatureSpec, train: &[Interaction], side: &SideTable) -> Lookup {
    use FeatureInput::*;
    match spec.input {
        MovieGenres => Lookup::Genres,
        UserAge => Lookup::Buckets(
            spec.boundaries
                .clone()
                .unwrap_or_else(|| DEFAULT_AGE_BOUNDARIES.to_vec()),
        ),
        Timestamp => {
            let times = train.iter().filter_map(|e| e.timestamp);
            let (lo, hi) = times.fold((i64::MAX, i64::MIN), |(l, h), t| (l.min(t), h.max(t)));
            let n = spec.buckets.unwrap_or(DEFAULT_TIMESTAMP_BUCKETS);
            Lookup::Buckets(equal_width_boundaries(lo as f64, hi as f64, n))
        }
        MovieYear if spec.boundaries.is_some() => {
            Lookup::Buckets(spec.boundaries.clone().unwrap_or_default())
        }
        _ => match spec.hash_bins {
            Some(bins) => Lookup::Hash(bins),
            None => {
                let mut seen = HashSet::new();
                for ex in train {
                    if let Raw::Strings(v) = raw(spec, ex, side, false) {
                        seen.extend(v);
                    }
                }
                Lookup::Vocabulary(Vocabulary::from_values(seen.iter().map(String::as_str)))
            }
        },
    }
}

#[cfg(test)]
pub(crate) mod tests;
