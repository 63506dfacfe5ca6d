//! Ratings at scale: rows as ids, built while reading, never as strings.
//!
//! A MovieLens-25M-sized file holds 25 million rows; as [`Rating`]s (two `String`s each) it
//! needs several GB. An [`Encoder`] reads the file once, gives each user id and title a `u32`
//! as it first appears (interning the string once, in one arena), and keeps only
//! [`Examples`]: a `u32` user, a `u32` item and an `f32` rating per row, 12 bytes.
//! [`Encoder::finish`] then sorts the distinct strings into the two [`Vocabulary`]s (Keras
//! `StringLookup` order, exactly as [`Vocabulary::from_values`] over the same rows would) and
//! rewrites the ids in place into vocabulary rows.

use std::path::Path;

use crate::error::Result;
use crate::interactions::{ColumnNames, for_each_interaction};
use crate::strindex::StringSet;
use crate::{Examples, Rating, Vocabulary};

/// Distinct strings in first-seen order: ids `0..len` as they first appear.
#[derive(Debug, Default)]
struct Interner {
    strings: StringSet,
}

impl Interner {
    fn intern(&mut self, value: &str) -> u32 {
        self.strings.intern(value)
    }

    fn heap_bytes(&self) -> usize {
        self.strings.heap_bytes()
    }

    /// The sorted vocabulary, and for each first-seen id its vocabulary row.
    fn into_vocabulary(self) -> (Vocabulary, Vec<u32>) {
        let strings = self.strings;
        let order = sorted_ids(&strings);
        let vocabulary = Vocabulary::build(order.iter().map(|&id| strings.get(id)));
        drop(strings);
        let mut rows = vec![0u32; order.len()];
        for (row, &id) in (1u32..).zip(&order) {
            rows[id as usize] = row;
        }
        (vocabulary, rows)
    }
}

/// The ids of `strings` in the byte order of their strings.
///
/// Sorting ids by comparing the strings they name reads two strings scattered over the arena
/// per comparison: for 10 million user ids that took most of the ingest. Each id is sorted
/// with its string's first 8 bytes as a big-endian key (zero-padded) instead, and the strings
/// are read only to break ties of equal keys. The order is the same: keys that differ differ
/// first where the strings do (a string that ends there pads with 0, below any byte or equal
/// to a 0 byte, which ties and is settled by the strings).
fn sorted_ids(strings: &StringSet) -> Vec<u32> {
    let key = |id: u32| {
        let mut bytes = [0u8; 8];
        let s = strings.get(id).as_bytes();
        let n = s.len().min(8);
        bytes[..n].copy_from_slice(&s[..n]);
        u64::from_be_bytes(bytes)
    };
    let mut keyed: Vec<(u64, u32)> = (0..strings.len() as u32).map(|id| (key(id), id)).collect();
    keyed.sort_unstable_by(|a, b| {
        (a.0.cmp(&b.0)).then_with(|| strings.get(a.1).cmp(strings.get(b.1)))
    });
    keyed.into_iter().map(|(_, id)| id).collect()
}

/// Reads ratings into [`Examples`], interning user ids and titles as they appear.
///
/// ```
/// use recsys_data::{ColumnNames, Encoder};
///
/// # fn main() -> Result<(), recsys_data::DataError> {
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("train.tsv");
/// std::fs::write(&path, "user_id\tmovie_title\tuser_rating\n2\tHeat\t4\n10\tAlien\t3\n2\tAlien\t5\n")
///     .unwrap();
/// let mut encoder = Encoder::new();
/// let mut train = encoder.read_file(&path, &ColumnNames::default())?;
/// let (users, titles) = encoder.finish(&mut [&mut train]);
/// assert_eq!(users.values(), ["10", "2"]); // sorted, row 0 = out of vocabulary
/// assert_eq!(train.users, [2, 1, 2]);
/// assert_eq!(train.titles, [2, 1, 1]); // "Alien" = 1, "Heat" = 2
/// assert_eq!(train.ratings, [4.0, 3.0, 5.0]);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Default)]
pub struct Encoder {
    users: Interner,
    items: Interner,
}

impl Encoder {
    /// An encoder that has seen nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Encodes one row into `out`.
    pub fn push(&mut self, user_id: &str, movie_title: &str, rating: f32, out: &mut Examples) {
        let (user, item) = self.intern(user_id, movie_title);
        out.push(user, item, rating);
    }

    /// Interns one row's strings and returns its bytes as a [`crate::Spool`] stores them.
    pub(crate) fn encode(&mut self, user_id: &str, movie_title: &str, rating: f32) -> [u8; 12] {
        let (user, item) = self.intern(user_id, movie_title);
        crate::spool::row_bytes(user, item, rating)
    }

    /// The first-seen ids of a row's user and title.
    fn intern(&mut self, user_id: &str, movie_title: &str) -> (u32, u32) {
        (self.users.intern(user_id), self.items.intern(movie_title))
    }

    /// Encodes ratings already in memory (MovieLens 100k, a split), in order.
    pub fn encode_ratings(&mut self, ratings: &[Rating]) -> Examples {
        let mut out = Examples::default();
        out.reserve(ratings.len());
        for r in ratings {
            self.push(&r.user_id, &r.movie_title, r.user_rating, &mut out);
        }
        out.timestamps = ratings.iter().map(|r| r.timestamp).collect();
        out
    }

    /// Reads an interaction file (the format of [`crate::read_interactions`]) in one streaming
    /// pass, keeping 12 bytes per row plus each distinct string once.
    ///
    /// # Errors
    ///
    /// Those of [`crate::read_interactions`]: every parse error names the file and the line.
    pub fn read_file(&mut self, path: &Path, columns: &ColumnNames) -> Result<Examples> {
        // The columns grow by doubling; the spare capacity is never touched, so it costs
        // address space, not resident memory.
        let mut out = Examples::default();
        for_each_interaction(path, columns, |user, title, rating| {
            self.push(user, title, rating, &mut out);
        })?;
        Ok(out)
    }

    /// Heap bytes held by the interned strings and their tables.
    pub fn heap_bytes(&self) -> usize {
        self.users.heap_bytes() + self.items.heap_bytes()
    }

    /// Sorts what was seen into the user and title vocabularies (Keras `StringLookup` order:
    /// sorted unique values, row 0 = out of vocabulary) and rewrites the ids of every set in
    /// `sets` (all encoded by this encoder) into their rows.
    pub fn finish(self, sets: &mut [&mut Examples]) -> (Vocabulary, Vocabulary) {
        let (users, user_rows) = self.users.into_vocabulary();
        remap(sets.iter_mut().map(|s| &mut s.users), &user_rows);
        drop(user_rows);
        let (items, item_rows) = self.items.into_vocabulary();
        remap(sets.iter_mut().map(|s| &mut s.titles), &item_rows);
        (users, items)
    }
}

impl Encoder {
    /// [`finish`](Self::finish) for rows kept in [`crate::Spool`]s: the vocabularies, and the
    /// map from this encoder's first-seen ids to their rows, applied as the spools are read.
    pub fn finish_spooled(self) -> (Vocabulary, Vocabulary, crate::RowMap) {
        let (users, user_rows) = self.users.into_vocabulary();
        let (items, item_rows) = self.items.into_vocabulary();
        let map = crate::RowMap {
            users: user_rows,
            titles: item_rows,
        };
        (users, items, map)
    }
}

fn remap<'a>(columns: impl Iterator<Item = &'a mut Vec<u32>>, rows: &[u32]) {
    for column in columns {
        for id in column.iter_mut() {
            *id = rows[*id as usize];
        }
    }
}

#[cfg(test)]
mod tests;
