//! Here is a raw id, give me a row: Keras `StringLookup` vocabularies.
//!
//! The ranking tutorial maps user ids and movie titles to embedding rows with
//! `tf.keras.layers.StringLookup(vocabulary=np.unique(values), mask_token=None)`. Its semantics,
//! which a trained model's embedding tables depend on, are reproduced exactly: the vocabulary is
//! the sorted unique values in byte order, row 0 is the out-of-vocabulary row, and the value at
//! index `i` of the sorted list is row `i + 1`.

use crate::error::{DataError, Result};
use crate::strindex::StringSet;

/// A `StringLookup` vocabulary: sorted unique values, row 0 for anything unseen.
///
/// The values are stored end to end in one buffer (their bytes plus 8 bytes of offset each)
/// and lookups are O(1) through a hash table of row numbers (4 to 8 bytes a value), so a
/// vocabulary of 10 million user ids costs about 200 MB, not the 600 MB of a `Vec<String>`
/// with a `HashMap` beside it.
///
/// ```
/// use recsys_data::Vocabulary;
///
/// let users = Vocabulary::from_values(["2", "10", "1", "2"]);
/// assert_eq!(users.values(), ["1", "10", "2"]); // byte order, not numeric order
/// assert_eq!(users.lookup("1"), 1);
/// assert_eq!(users.lookup("2"), 3);
/// assert_eq!(users.lookup("999"), 0); // out of vocabulary
/// assert_eq!(users.num_rows(), 4);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Vocabulary {
    /// The sorted values; id `i` is row `i + 1`.
    values: StringSet,
}

impl Eq for Vocabulary {}

impl Vocabulary {
    /// Builds the vocabulary of `values`: sorted by bytes (Rust's `str` order, which is
    /// `np.unique`'s order), duplicates removed.
    ///
    /// # Panics
    ///
    /// If there are `u32::MAX` or more distinct values (rows are `u32`).
    pub fn from_values<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        let mut sorted: Vec<&str> = values.into_iter().collect();
        sorted.sort_unstable();
        sorted.dedup();
        Self::build(sorted)
    }

    /// Rebuilds a vocabulary from values stored by [`Vocabulary::values`] (for example in a
    /// saved model), checking that they are strictly increasing in byte order.
    ///
    /// # Errors
    ///
    /// [`DataError::VocabularyOrder`] at the first value not greater than the one before it.
    ///
    /// # Panics
    ///
    /// If there are `u32::MAX` or more values.
    pub fn from_sorted(values: Vec<String>) -> Result<Self> {
        if let Some(i) = values.windows(2).position(|w| w[0] >= w[1]) {
            return Err(DataError::VocabularyOrder {
                index: i + 1,
                previous: values[i].clone(),
                value: values[i + 1].clone(),
            });
        }
        Ok(Self::build(values.iter().map(String::as_str)))
    }

    /// A vocabulary of `values`, which the caller has sorted and deduplicated.
    pub(crate) fn build<'a, I>(values: I) -> Self
    where
        I: IntoIterator<Item = &'a str>,
        I::IntoIter: ExactSizeIterator,
    {
        let values = values.into_iter();
        assert!(
            values.len() < u32::MAX as usize,
            "a vocabulary holds at most u32::MAX - 1 values"
        );
        Vocabulary {
            values: StringSet::from_distinct(values),
        }
    }

    /// The row of `value`: `1..num_rows()` for a known value, 0 for anything else.
    pub fn lookup(&self, value: &str) -> u32 {
        self.values.find(value).map_or(0, |i| i + 1)
    }

    /// The value at `row`, or `None` for row 0 (out of vocabulary) and rows past the end.
    pub fn value(&self, row: u32) -> Option<&str> {
        let id = row.checked_sub(1)?;
        (usize::try_from(id).ok()? < self.values.len()).then(|| self.values.get(id))
    }

    /// The number of embedding rows needed: one per value plus the out-of-vocabulary row.
    pub fn num_rows(&self) -> usize {
        self.values.len() + 1
    }

    /// The sorted values; `values()[i]` is row `i + 1`.
    pub fn values(&self) -> Values<'_> {
        Values { set: &self.values }
    }

    /// Heap bytes held: the strings, their offsets and the lookup table.
    pub fn heap_bytes(&self) -> usize {
        self.values.heap_bytes()
    }
}

/// A vocabulary's sorted values, borrowed: index it (`values[i]` is a `&str`), iterate it, or
/// copy it out with [`to_vec`](Self::to_vec).
#[derive(Clone, Copy)]
pub struct Values<'a> {
    set: &'a StringSet,
}

impl<'a> Values<'a> {
    /// Number of values.
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.set.len() == 0
    }

    /// Value `i` (row `i + 1`), if there is one.
    pub fn get(&self, i: usize) -> Option<&'a str> {
        let id = u32::try_from(i).ok()?;
        (i < self.len()).then(|| self.set.get(id))
    }

    /// The values in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &'a str> + Clone + 'a {
        self.set.iter()
    }

    /// The values as owned strings.
    pub fn to_vec(&self) -> Vec<String> {
        self.iter().map(str::to_owned).collect()
    }
}

impl<'a> IntoIterator for Values<'a> {
    type Item = &'a str;
    type IntoIter = Box<dyn ExactSizeIterator<Item = &'a str> + 'a>;

    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.set.iter())
    }
}

impl std::ops::Index<usize> for Values<'_> {
    type Output = str;

    /// # Panics
    /// If `i >= len()`.
    fn index(&self, i: usize) -> &str {
        self.get(i).expect("vocabulary index out of range")
    }
}

impl std::fmt::Debug for Values<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<S: AsRef<str>> PartialEq<[S]> for Values<'_> {
    fn eq(&self, other: &[S]) -> bool {
        self.len() == other.len() && self.iter().zip(other).all(|(a, b)| a == b.as_ref())
    }
}

impl<S: AsRef<str>, const N: usize> PartialEq<[S; N]> for Values<'_> {
    fn eq(&self, other: &[S; N]) -> bool {
        *self == other[..]
    }
}

impl<S: AsRef<str>> PartialEq<Vec<S>> for Values<'_> {
    fn eq(&self, other: &Vec<S>) -> bool {
        *self == other[..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_sort_as_strings() {
        let v = Vocabulary::from_values(["2", "10", "1", "100", "9"]);
        assert_eq!(v.values(), ["1", "10", "100", "2", "9"]);
        for (i, value) in v.values().iter().enumerate() {
            assert_eq!(v.lookup(value) as usize, i + 1);
        }
    }

    #[test]
    fn unseen_values_map_to_row_zero() {
        let v = Vocabulary::from_values(["a", "b"]);
        assert_eq!(v.lookup("c"), 0);
        assert_eq!(v.lookup(""), 0);
        assert_eq!(v.lookup("A"), 0);
        assert_eq!(v.value(0), None);
        assert_eq!(v.value(3), None);
        assert_eq!(v.value(2), Some("b"));
    }

    #[test]
    fn duplicates_collapse_to_one_row() {
        let v = Vocabulary::from_values(["x", "y", "x", "x"]);
        assert_eq!(v.num_rows(), 3);
        assert_eq!(v.lookup("x"), 1);
        assert_eq!(v.lookup("y"), 2);
    }

    #[test]
    fn byte_order_puts_uppercase_and_ascii_before_accents() {
        let v = Vocabulary::from_values(["é", "e", "Z", "a"]);
        assert_eq!(v.values(), ["Z", "a", "e", "é"]);
    }

    #[test]
    fn empty_vocabulary_has_only_the_oov_row() {
        let v = Vocabulary::from_values([]);
        assert_eq!(v.num_rows(), 1);
        assert_eq!(v.lookup("x"), 0);
        assert_eq!(Vocabulary::from_sorted(vec![]).unwrap(), v);
    }

    #[test]
    fn values_cost_their_bytes_plus_at_most_16_bytes_each() {
        let values: Vec<String> = (0..10_000)
            .map(|i| format!("a long user id {i:08}"))
            .collect();
        let v = Vocabulary::from_sorted(values.clone()).unwrap();
        let strings: usize = values.iter().map(String::len).sum();
        // One buffer of bytes, an 8-byte offset each and a table of at most 8 bytes each: no
        // `String` (24 bytes + an allocation) per value, no second copy as hash keys.
        assert!(
            v.heap_bytes() <= strings * 2 + 16 * values.len(),
            "{}",
            v.heap_bytes()
        );
        assert_eq!(v.lookup("a long user id 00009999"), 10_000);
        assert_eq!(v.values()[9_999], *"a long user id 00009999");
        assert_eq!(v.values().get(10_000), None);
        assert_eq!(v.values().iter().len(), 10_000);
        assert_eq!(v.values().to_vec(), values);
    }

    #[test]
    fn from_sorted_round_trips_values() {
        let v = Vocabulary::from_values(["b", "a", "c"]);
        let back = Vocabulary::from_sorted(v.values().to_vec()).unwrap();
        assert_eq!(back, v);
        assert_eq!(back.lookup("c"), 3);
    }

    #[test]
    fn from_sorted_rejects_unsorted_values() {
        let e = Vocabulary::from_sorted(vec!["a".into(), "c".into(), "b".into()]).unwrap_err();
        assert!(
            matches!(&e, DataError::VocabularyOrder { index: 2, previous, value }
                if previous == "c" && value == "b"),
            "{e:?}"
        );
    }

    #[test]
    fn from_sorted_rejects_duplicates() {
        let e = Vocabulary::from_sorted(vec!["a".into(), "a".into()]).unwrap_err();
        assert!(
            matches!(e, DataError::VocabularyOrder { index: 1, .. }),
            "{e:?}"
        );
    }

    #[test]
    fn from_sorted_rejects_numeric_order() {
        // "10" < "2" in byte order, so numeric order is not sorted.
        let e = Vocabulary::from_sorted(vec!["1".into(), "2".into(), "10".into()]).unwrap_err();
        assert!(e.to_string().contains("\"2\" then \"10\""), "{e}");
    }
}
