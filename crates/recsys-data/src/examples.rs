//! Examples as columns of vocabulary rows: what every model kind trains and is evaluated on.
//!
//! One row per interaction: a `u32` user row, a `u32` title row and an `f32` rating (12 bytes),
//! and, when the source records it (MovieLens's `u.data`), the time of the rating. No strings:
//! each distinct id lives once, in the [`Vocabulary`] the rows index. An [`crate::Encoder`]
//! builds them while reading a file; [`Examples::encode_with`] maps ratings already in memory
//! through given vocabularies.

use crate::{Rating, Vocabulary};

/// Interactions as columns: index `i` of each column is example `i`.
///
/// Straight from an [`crate::Encoder`] the ids are first-seen ids; after
/// [`crate::Encoder::finish`] they are the rows of the returned vocabularies.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Examples {
    /// Each example's user row.
    pub users: Vec<u32>,
    /// Each example's movie title (item) row.
    pub titles: Vec<u32>,
    /// Each example's rating.
    pub ratings: Vec<f32>,
    /// When each rating was given (seconds since the epoch), if the source records it for
    /// every example (MovieLens's `u.data` does; interaction files have no such column).
    pub timestamps: Option<Vec<i64>>,
}

impl Examples {
    /// Maps each rating's user id and title through these vocabularies (row 0 for a string
    /// they lack); the times are kept when every rating has one.
    pub fn encode_with(users: &Vocabulary, titles: &Vocabulary, ratings: &[Rating]) -> Self {
        Examples {
            users: ratings.iter().map(|r| users.lookup(&r.user_id)).collect(),
            titles: ratings
                .iter()
                .map(|r| titles.lookup(&r.movie_title))
                .collect(),
            ratings: ratings.iter().map(|r| r.user_rating).collect(),
            timestamps: ratings.iter().map(|r| r.timestamp).collect(),
        }
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.ratings.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ratings.is_empty()
    }

    /// Heap bytes held by the columns.
    pub fn heap_bytes(&self) -> usize {
        let times = self.timestamps.as_ref().map_or(0, |t| t.capacity() * 8);
        (self.users.capacity() + self.titles.capacity() + self.ratings.capacity()) * 4 + times
    }

    /// The examples in consecutive batches of `size` (the last one ragged): users, titles,
    /// ratings.
    pub fn batches(&self, size: usize) -> impl Iterator<Item = (&[u32], &[u32], &[f32])> {
        let size = size.max(1);
        let (u, t, y) = (&self.users, &self.titles, &self.ratings);
        u.chunks(size)
            .zip(t.chunks(size))
            .zip(y.chunks(size))
            .map(|((u, t), y)| (u, t, y))
    }

    /// The examples in a new order (`order[i]` is the source of position `i`).
    pub fn permuted(&self, order: &[usize]) -> Self {
        Examples {
            users: order.iter().map(|&i| self.users[i]).collect(),
            titles: order.iter().map(|&i| self.titles[i]).collect(),
            ratings: order.iter().map(|&i| self.ratings[i]).collect(),
            timestamps: (self.timestamps.as_ref()).map(|t| order.iter().map(|&i| t[i]).collect()),
        }
    }

    /// Shuffles the examples in place, in the order [`crate::shuffle`]`(_, seed)` gives.
    pub fn shuffle(&mut self, seed: u64) {
        let mut times = self.timestamps.take();
        crate::shuffle_with(self.len(), seed, |i, j| {
            self.users.swap(i, j);
            self.titles.swap(i, j);
            self.ratings.swap(i, j);
            if let Some(t) = &mut times {
                t.swap(i, j);
            }
        });
        self.timestamps = times;
    }

    pub(crate) fn push(&mut self, user: u32, item: u32, rating: f32) {
        self.users.push(user);
        self.titles.push(item);
        self.ratings.push(rating);
    }

    pub(crate) fn reserve(&mut self, rows: usize) {
        self.users.reserve_exact(rows);
        self.titles.reserve_exact(rows);
        self.ratings.reserve_exact(rows);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rating(user: &str, title: &str, r: f32, t: Option<i64>) -> Rating {
        Rating {
            user_id: user.into(),
            movie_title: title.into(),
            user_rating: r,
            movie_id: None,
            timestamp: t,
        }
    }

    #[test]
    fn encodes_through_vocabularies_and_keeps_times_only_when_all_have_one() {
        let users = Vocabulary::from_values(["1", "2"]);
        let titles = Vocabulary::from_values(["A", "B"]);
        let timed = [
            rating("2", "A", 4.0, Some(9)),
            rating("3", "B", 1.0, Some(7)),
        ];
        let e = Examples::encode_with(&users, &titles, &timed);
        assert_eq!((e.users, e.titles), (vec![2, 0], vec![1, 2]));
        assert_eq!(e.timestamps, Some(vec![9, 7]));
        let partly = [rating("1", "A", 4.0, Some(9)), rating("1", "B", 1.0, None)];
        assert_eq!(
            Examples::encode_with(&users, &titles, &partly).timestamps,
            None
        );
    }

    #[test]
    fn shuffle_and_permuted_move_every_column_together() {
        let e = Examples {
            users: (0..50).collect(),
            titles: (100..150).collect(),
            ratings: (0..50).map(|i| i as f32).collect(),
            timestamps: Some((1000..1050).collect()),
        };
        let mut shuffled = e.clone();
        shuffled.shuffle(3);
        let mut order: Vec<usize> = (0..50).collect();
        crate::shuffle(&mut order, 3);
        assert_eq!(shuffled, e.permuted(&order));
        assert_ne!(shuffled, e);
        let t = shuffled.timestamps.as_ref().unwrap();
        assert!((0..50).all(|i| t[i] == 1000 + shuffled.users[i] as i64));
    }
}
