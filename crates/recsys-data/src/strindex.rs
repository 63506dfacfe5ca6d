//! Here is a string, give me its id — with every string stored once, end to end.
//!
//! A vocabulary of 10 million user ids must cost its bytes, not a `String` (24 bytes plus an
//! allocation) per value, nor a second copy as hash-map keys. [`StringSet`] keeps the strings
//! in one buffer with their end offsets (8 bytes a value), and [`StrIndex`] is an
//! open-addressing hash table of `u32` ids only, reading strings through a closure. Ids are
//! `0..len`, in insertion order.

use std::hash::{BuildHasher, RandomState};

/// The empty slot marker (ids are below `u32::MAX`).
const EMPTY: u32 = u32::MAX;

/// Open-addressing (linear probing) table of ids, kept at most 3/4 full.
#[derive(Clone, Default)]
pub(crate) struct StrIndex {
    slots: Vec<u32>,
    len: usize,
    hasher: RandomState,
}

impl std::fmt::Debug for StrIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StrIndex")
            .field("len", &self.len)
            .field("slots", &self.slots.len())
            .finish()
    }
}

impl StrIndex {
    /// An index of the strings `get(0..len)`.
    pub(crate) fn build<'a>(len: usize, get: impl Fn(u32) -> &'a str) -> Self {
        let mut index = StrIndex {
            slots: vec![EMPTY; slots_for(len)],
            len: 0,
            hasher: RandomState::new(),
        };
        for id in 0..len as u32 {
            index.place(index.hasher.hash_one(get(id)), id);
        }
        index.len = len;
        index
    }

    /// The id of `key`, if it has one.
    pub(crate) fn find<'a>(&self, key: &str, get: impl Fn(u32) -> &'a str) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut at = self.hasher.hash_one(key) as usize & mask;
        loop {
            match self.slots[at] {
                EMPTY => return None,
                id if get(id) == key => return Some(id),
                _ => at = (at + 1) & mask,
            }
        }
    }

    /// Records that `key` (absent, as [`find`](Self::find) said) has the next id, `len()`.
    /// `get` reads the strings already indexed, for when the table grows.
    pub(crate) fn insert_next<'a>(&mut self, key: &str, get: impl Fn(u32) -> &'a str) -> u32 {
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            *self = Self::grown(self, get);
        }
        let id = u32::try_from(self.len)
            .ok()
            .filter(|&id| id != EMPTY)
            .expect("at most u32::MAX - 1 distinct values");
        self.place(self.hasher.hash_one(key), id);
        self.len += 1;
        id
    }

    /// A copy with twice the slots (or the first ones), holding the same ids.
    fn grown<'a>(old: &StrIndex, get: impl Fn(u32) -> &'a str) -> StrIndex {
        let mut index = StrIndex {
            slots: vec![EMPTY; (old.slots.len() * 2).max(16)],
            len: old.len,
            hasher: old.hasher.clone(),
        };
        for &id in old.slots.iter().filter(|&&id| id != EMPTY) {
            index.place(index.hasher.hash_one(get(id)), id);
        }
        index
    }

    fn place(&mut self, hash: u64, id: u32) {
        let mask = self.slots.len() - 1;
        let mut at = hash as usize & mask;
        while self.slots[at] != EMPTY {
            at = (at + 1) & mask;
        }
        self.slots[at] = id;
    }

    /// Bytes the table itself holds (not the strings).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<u32>()
    }
}

/// Strings stored end to end in one buffer, ids `0..len` in insertion order, with an index.
#[derive(Clone, Default)]
pub(crate) struct StringSet {
    arena: String,
    /// `ends[id]`: where string `id` ends in `arena` (it starts where `id - 1` ends).
    ends: Vec<u64>,
    index: StrIndex,
}

impl std::fmt::Debug for StringSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl StringSet {
    /// The set of `values`, distinct and in the order given (ids `0..`).
    pub(crate) fn from_distinct<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        let mut set = StringSet::default();
        for v in values {
            set.arena.push_str(v);
            set.ends.push(set.arena.len() as u64);
        }
        set.index = StrIndex::build(set.len(), |id| set.get(id));
        set
    }

    /// Number of strings.
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// The string of `id`.
    ///
    /// # Panics
    /// If `id >= len()`.
    pub(crate) fn get(&self, id: u32) -> &str {
        get(&self.arena, &self.ends, id)
    }

    /// The strings, in id order.
    pub(crate) fn iter(&self) -> impl ExactSizeIterator<Item = &str> + Clone {
        (0..self.len() as u32).map(|id| self.get(id))
    }

    /// The id of `value`, if present.
    pub(crate) fn find(&self, value: &str) -> Option<u32> {
        self.index.find(value, |id| self.get(id))
    }

    /// The id of `value`, adding it (with the next id) if absent.
    pub(crate) fn intern(&mut self, value: &str) -> u32 {
        if let Some(id) = self.find(value) {
            return id;
        }
        let (arena, ends) = (&self.arena, &self.ends);
        let id = self.index.insert_next(value, |id| get(arena, ends, id));
        self.arena.push_str(value);
        self.ends.push(self.arena.len() as u64);
        id
    }

    /// Heap bytes held: the strings, their offsets and the index.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.arena.capacity() + self.ends.capacity() * 8 + self.index.heap_bytes()
    }
}

fn get<'a>(arena: &'a str, ends: &[u64], id: u32) -> &'a str {
    let id = id as usize;
    let start = if id == 0 { 0 } else { ends[id - 1] as usize };
    &arena[start..ends[id] as usize]
}

impl PartialEq for StringSet {
    fn eq(&self, other: &Self) -> bool {
        self.arena == other.arena && self.ends == other.ends
    }
}

/// A power of two at least 4/3 of `len` (at least 16).
fn slots_for(len: usize) -> usize {
    (len + len / 3 + 1).next_power_of_two().max(16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_built_value_and_nothing_else() {
        let values: Vec<String> = (0..1000).map(|i| format!("v{i}")).collect();
        let index = StrIndex::build(values.len(), |id| &values[id as usize]);
        for (i, v) in values.iter().enumerate() {
            assert_eq!(index.find(v, |id| &values[id as usize]), Some(i as u32));
        }
        assert_eq!(index.find("v1000", |id| &values[id as usize]), None);
        assert_eq!(StrIndex::default().find("x", |_| unreachable!()), None);
    }

    #[test]
    fn string_set_interns_once_and_stores_bytes_end_to_end() {
        let mut set = StringSet::default();
        assert_eq!(
            (set.intern("b"), set.intern("a"), set.intern("b")),
            (0, 1, 0)
        );
        assert_eq!(set.intern(""), 2);
        assert_eq!(set.iter().collect::<Vec<_>>(), ["b", "a", ""]);
        assert_eq!((set.find("a"), set.find("c")), (Some(1), None));
        assert_eq!(set, StringSet::from_distinct(["b", "a", ""]));
        assert_eq!(set.arena, "ba");
    }

    #[test]
    fn inserts_grow_the_table_and_keep_ids() {
        let mut values: Vec<String> = Vec::new();
        let mut index = StrIndex::default();
        for i in 0..500u32 {
            let key = format!("k{}", i % 250);
            let found = index.find(&key, |id| &values[id as usize]);
            let id = found.unwrap_or_else(|| {
                let id = index.insert_next(&key, |id| &values[id as usize]);
                values.push(key.clone());
                id
            });
            assert_eq!(id, i % 250);
        }
        assert_eq!(values.len(), 250);
        assert!(index.slots.len() * 3 >= 250 * 4);
    }
}
