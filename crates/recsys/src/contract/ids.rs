//! Raw ids as a kind reads them: a list of strings of any owner ([`Ids`]), one id repeated
//! ([`Repeat`]), and labeled examples as rows of the vocabularies they were read with
//! ([`Labeled`]).

use recsys_data::{Examples, Vocabulary};

/// A list of raw ids (user ids or titles), whatever holds the strings.
pub trait Ids {
    /// How many.
    fn len(&self) -> usize;

    /// Whether there are none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `i`-th id.
    fn id(&self, i: usize) -> &str;
}

/// A slice as ids: pass `&slice` (a reference to the reference), since `dyn Ids` needs a sized
/// value behind it.
impl<T: AsRef<str>> Ids for &[T] {
    fn len(&self) -> usize {
        <[T]>::len(self)
    }
    fn id(&self, i: usize) -> &str {
        self[i].as_ref()
    }
}

impl<T: AsRef<str>, const N: usize> Ids for [T; N] {
    fn len(&self) -> usize {
        N
    }
    fn id(&self, i: usize) -> &str {
        self[i].as_ref()
    }
}

impl<T: AsRef<str>> Ids for Vec<T> {
    fn len(&self) -> usize {
        <[T]>::len(self)
    }
    fn id(&self, i: usize) -> &str {
        self[i].as_ref()
    }
}

/// One id, `n` times: a user's id beside `n` candidates.
#[derive(Debug, Clone, Copy)]
pub struct Repeat<'a> {
    id: &'a str,
    n: usize,
}

impl<'a> Repeat<'a> {
    /// `id` repeated `n` times.
    pub fn new(id: &'a str, n: usize) -> Self {
        Repeat { id, n }
    }
}

impl Ids for Repeat<'_> {
    fn len(&self) -> usize {
        self.n
    }
    fn id(&self, _: usize) -> &str {
        self.id
    }
}

/// Labeled examples as rows of the vocabularies they were read with, which need not be a
/// model's: a model maps each distinct row once ([`Labeled::rows_in`]), so an id it lacks
/// still has its string.
#[derive(Debug, Clone, Copy)]
pub struct Labeled<'a> {
    /// The examples.
    pub examples: &'a Examples,
    /// The vocabulary `examples.users` index.
    pub users: &'a Vocabulary,
    /// The vocabulary `examples.titles` index.
    pub titles: &'a Vocabulary,
    /// Times joined from elsewhere (MovieLens's `u.data`) for examples that carry none: one
    /// per example, `None` where unknown.
    pub times: Option<&'a [Option<i64>]>,
}

impl Labeled<'_> {
    /// When example `i` was rated: its own time, else the joined one, if known.
    pub fn time(&self, i: usize) -> Option<i64> {
        match (&self.examples.timestamps, self.times) {
            (Some(t), _) => Some(t[i]),
            (None, Some(joined)) => joined[i],
            (None, None) => None,
        }
    }

    /// The examples as rows of `users` and `titles` (row 0 for an id they lack), each distinct
    /// id looked up once; ratings and times unchanged.
    pub fn rows_in(&self, users: &Vocabulary, titles: &Vocabulary) -> Examples {
        let e = self.examples;
        Examples {
            users: remap(&e.users, self.users, users),
            titles: remap(&e.titles, self.titles, titles),
            ratings: e.ratings.clone(),
            timestamps: e.timestamps.clone(),
        }
    }
}

/// `rows` of `from` as rows of `to`, through one lookup per row of `from`.
fn remap(rows: &[u32], from: &Vocabulary, to: &Vocabulary) -> Vec<u32> {
    let map: Vec<u32> = (0..from.num_rows() as u32)
        .map(|r| from.value(r).map_or(0, |v| to.lookup(v)))
        .collect();
    rows.iter().map(|&r| map[r as usize]).collect()
}

/// The rows of each `(user_ids[i], titles[i])` pair in these vocabularies (row 0 for unseen
/// strings); an error if the two lists differ in length.
pub(crate) fn lookup_pairs(
    users: &Vocabulary,
    titles: &Vocabulary,
    user_ids: &dyn Ids,
    title_ids: &dyn Ids,
) -> crate::Result<(Vec<u32>, Vec<u32>)> {
    crate::Error::check_pairs(user_ids.len(), title_ids.len())?;
    let (mut user_rows, mut title_rows) = (Vec::new(), Vec::new());
    rows_of(&mut user_rows, users, user_ids);
    rows_of(&mut title_rows, titles, title_ids);
    Ok((user_rows, title_rows))
}

/// The rows of `ids` in `vocabulary` (0 for an id it lacks), into `rows` (cleared first).
pub(crate) fn rows_of(rows: &mut Vec<u32>, vocabulary: &Vocabulary, ids: &dyn Ids) {
    rows.clear();
    rows.extend((0..ids.len()).map(|i| vocabulary.lookup(ids.id(i))));
}

/// `(candidate, score)` pairs sorted best first (ties keep the candidates' order).
pub(crate) fn sort_ranked(candidates: &dyn Ids, scores: Vec<f32>) -> Vec<(String, f32)> {
    let mut ranked: Vec<(String, f32)> = (0..candidates.len())
        .map(|i| candidates.id(i).to_owned())
        .zip(scores)
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    ranked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_move_to_another_vocabulary_and_unknown_ids_to_row_zero() {
        let (data_users, model_users) = (
            Vocabulary::from_values(["a", "b", "c"]),
            Vocabulary::from_values(["b", "c", "d"]),
        );
        let titles = Vocabulary::from_values(["x"]);
        let e = Examples {
            users: vec![1, 2, 3, 0],
            titles: vec![1, 1, 1, 1],
            ratings: vec![1.0, 2.0, 3.0, 4.0],
            timestamps: None,
        };
        let labeled = Labeled {
            examples: &e,
            users: &data_users,
            titles: &titles,
            times: None,
        };
        let moved = labeled.rows_in(&model_users, &titles);
        assert_eq!(moved.users, vec![0, 1, 2, 0]);
        assert_eq!((moved.titles, moved.ratings), (e.titles, e.ratings));
        assert_eq!(Repeat::new("u", 3).id(2), "u");
        assert_eq!(Ids::len(&["p", "q"]), 2);
    }
}
