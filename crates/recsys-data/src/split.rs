//! Which rows train and which test: a seeded shuffle anyone can reproduce.
//!
//! TensorFlow's `Dataset.shuffle` cannot be reproduced outside TensorFlow, so recsys defines its
//! own shuffle, spelled out exactly below so that other implementations (a Python check, a
//! future version of this crate) give the same permutation for the same seed.

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use crate::Rating;
use crate::error::{DataError, Result};

/// Shuffles `items` in place, reproducibly for a given `seed`.
///
/// The algorithm, exactly (so it can be reimplemented):
///
/// 1. `rng = ChaCha8Rng::seed_from_u64(seed)` (crate `rand_chacha` 0.3, `SeedableRng` of
///    `rand_core` 0.6, which expands the `u64` seed into a 32-byte key with PCG32).
/// 2. Fisher–Yates from the back: for `i` from `n - 1` down to `1` (nothing happens when
///    `n < 2`), draw `j = ((rng.next_u64() as u128 * (i as u128 + 1)) >> 64) as usize`, a
///    number in `0..=i` (widening multiply, no rejection, so one `u64` per step), then swap
///    `items[i]` and `items[j]`.
///
/// ```
/// let mut v: Vec<u32> = (0..10).collect();
/// recsys_data::shuffle(&mut v, 42);
/// let mut w: Vec<u32> = (0..10).collect();
/// recsys_data::shuffle(&mut w, 42);
/// assert_eq!(v, w); // same seed, same order
/// ```
pub fn shuffle<T>(items: &mut [T], seed: u64) {
    shuffle_with(items.len(), seed, |i, j| items.swap(i, j));
}

/// [`shuffle`]'s swaps for `len` items, handed to `swap(i, j)`: for data kept as several
/// columns, swapping every column at `(i, j)` gives each column exactly the permutation
/// [`shuffle`] gives a single slice, in place.
///
/// ```
/// let (mut a, mut b) = (vec![0, 1, 2, 3, 4], vec!['a', 'b', 'c', 'd', 'e']);
/// recsys_data::shuffle_with(5, 7, |i, j| {
///     a.swap(i, j);
///     b.swap(i, j);
/// });
/// let mut c = vec![0, 1, 2, 3, 4];
/// recsys_data::shuffle(&mut c, 7);
/// assert_eq!(a, c);
/// assert_eq!(b, c.iter().map(|&i| (b'a' + i as u8) as char).collect::<Vec<_>>());
/// ```
pub fn shuffle_with(len: usize, seed: u64, mut swap: impl FnMut(usize, usize)) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for i in (1..len).rev() {
        let j = ((u128::from(rng.next_u64()) * (i as u128 + 1)) >> 64) as usize;
        swap(i, j);
    }
}

/// Shuffles `ratings` with [`shuffle`] and `seed`, then returns the first `train` rows as the
/// training set and the next `test` rows as the test set; rows past `train + test` are dropped.
///
/// This mirrors the tutorial's `shuffled.take(80_000)` / `shuffled.skip(80_000).take(20_000)`,
/// with recsys's own shuffle (see [`shuffle`] for the exact algorithm).
///
/// # Errors
///
/// [`DataError::SplitTooLarge`] if `train + test` exceeds the number of ratings.
pub fn split(
    mut ratings: Vec<Rating>,
    seed: u64,
    train: usize,
    test: usize,
) -> Result<(Vec<Rating>, Vec<Rating>)> {
    let available = ratings.len();
    if train
        .checked_add(test)
        .is_none_or(|wanted| wanted > available)
    {
        return Err(DataError::SplitTooLarge {
            train,
            test,
            available,
        });
    }
    shuffle(&mut ratings, seed);
    let mut test_rows = ratings.split_off(train);
    test_rows.truncate(test);
    Ok((ratings, test_rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rating(i: usize) -> Rating {
        Rating {
            user_id: i.to_string(),
            movie_title: format!("movie {i}"),
            user_rating: 1.0,
            movie_id: Some(i as u32),
            timestamp: None,
        }
    }

    /// The documented algorithm, written out independently of [`shuffle`].
    fn documented_permutation(n: usize, seed: u64) -> Vec<usize> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut v: Vec<usize> = (0..n).collect();
        let mut i = n;
        while i > 1 {
            i -= 1;
            let r = rng.next_u64() as u128;
            let j = ((r * (i as u128 + 1)) >> 64) as usize;
            assert!(j <= i);
            v.swap(i, j);
        }
        v
    }

    #[test]
    fn shuffle_follows_the_documented_algorithm() {
        for (n, seed) in [(0, 1), (1, 1), (2, 7), (10, 42), (1000, 123)] {
            let mut v: Vec<usize> = (0..n).collect();
            shuffle(&mut v, seed);
            assert_eq!(v, documented_permutation(n, seed), "n={n} seed={seed}");
        }
    }

    #[test]
    fn shuffle_is_pinned_for_seed_42() {
        // Pinned so that a change of algorithm or of rand_chacha's stream is noticed.
        let mut v: Vec<u32> = (0..10).collect();
        shuffle(&mut v, 42);
        assert_eq!(v, PINNED_SEED_42);
    }
    const PINNED_SEED_42: [u32; 10] = [9, 7, 2, 5, 0, 1, 4, 3, 8, 6];

    #[test]
    fn shuffle_is_a_permutation_and_depends_on_the_seed() {
        let mut a: Vec<u32> = (0..100).collect();
        let mut b = a.clone();
        shuffle(&mut a, 1);
        shuffle(&mut b, 2);
        assert_ne!(a, b);
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn split_takes_train_then_test_from_the_shuffled_rows() {
        let rows: Vec<Rating> = (0..10).map(rating).collect();
        let (train, test) = split(rows.clone(), 42, 6, 3).unwrap();
        assert_eq!((train.len(), test.len()), (6, 3));
        let order = documented_permutation(10, 42);
        let expected: Vec<Rating> = order.iter().map(|&i| rating(i)).collect();
        assert_eq!(train, expected[..6]);
        assert_eq!(test, expected[6..9]);
        assert_eq!(split(rows, 42, 6, 3).unwrap(), (train, test));
    }

    #[test]
    fn split_may_use_every_row() {
        let rows: Vec<Rating> = (0..5).map(rating).collect();
        let (train, test) = split(rows, 0, 5, 0).unwrap();
        assert_eq!((train.len(), test.len()), (5, 0));
    }

    #[test]
    fn split_rejects_more_rows_than_available() {
        let rows: Vec<Rating> = (0..5).map(rating).collect();
        let e = split(rows.clone(), 0, 4, 2).unwrap_err();
        assert!(
            matches!(
                e,
                DataError::SplitTooLarge {
                    train: 4,
                    test: 2,
                    available: 5
                }
            ),
            "{e:?}"
        );
        let e = split(rows, 0, usize::MAX, 1).unwrap_err();
        assert!(matches!(e, DataError::SplitTooLarge { .. }), "{e:?}");
    }
}
