//! `DistinctIds`: which rows a batch looked up, once each, and where each example's row went.
//!
//! A batch of 8,192 MovieLens ratings names about 900 users and 1,400 titles. Anything that
//! depends on a row only (its embedding, its embedding's product with a weight matrix, its
//! gradient) can be computed once per distinct row and shared by the examples that name it.

/// The distinct rows of a batch of lookups, in first-seen order, and each example's slot.
///
/// Buffers are sized once; [`index`](Self::index) resets only the rows the previous batch
/// touched, so its cost follows the batch, not the table.
#[derive(Debug, Clone)]
pub struct DistinctIds {
    map: SlotMap,
    rows: Vec<u32>,
    slots: Vec<u32>,
}

const NONE: u32 = u32::MAX;

/// Tables more than this many times larger than a batch are indexed by [`SlotMap::Hashed`].
const DENSE_MAX_RATIO: usize = 16;

/// Row → slot, for the rows of the current batch.
#[derive(Debug, Clone)]
enum SlotMap {
    /// `slot_of[row]` is the row's slot, or `NONE`: one entry per table row, the fastest
    /// lookup while the table is not much larger than a batch.
    Dense(Vec<u32>),
    /// Open addressing (linear probing) over a power of two of at least twice the batch: for
    /// a table of 10 million users, a prediction of one pair would otherwise write 40 MB.
    Hashed {
        /// Row in each bucket, or `NONE`.
        keys: Vec<u32>,
        /// Its slot.
        slots: Vec<u32>,
    },
}

impl SlotMap {
    fn new(table_rows: usize, max_batch: usize) -> Self {
        if table_rows <= DENSE_MAX_RATIO * max_batch.max(1) {
            return SlotMap::Dense(vec![NONE; table_rows]);
        }
        let buckets = (2 * max_batch).next_power_of_two().max(2);
        SlotMap::Hashed {
            keys: vec![NONE; buckets],
            slots: vec![0; buckets],
        }
    }

    /// The bucket holding `row`, or the empty one where it belongs (the table never fills: it
    /// has twice as many buckets as a batch has rows).
    fn bucket(keys: &[u32], row: u32) -> usize {
        let mask = keys.len() - 1;
        let mut b = (u64::from(row).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize & mask;
        while keys[b] != NONE && keys[b] != row {
            b = (b + 1) & mask;
        }
        b
    }

    /// The slot of `row`, inserting `next` for it if absent; whether it was inserted.
    fn slot(&mut self, row: u32, next: u32) -> (u32, bool) {
        match self {
            SlotMap::Dense(slot_of) => match slot_of[row as usize] {
                NONE => {
                    slot_of[row as usize] = next;
                    (next, true)
                }
                s => (s, false),
            },
            SlotMap::Hashed { keys, slots } => {
                let b = Self::bucket(keys, row);
                if keys[b] == row {
                    return (slots[b], false);
                }
                keys[b] = row;
                slots[b] = next;
                (next, true)
            }
        }
    }

    /// Empties the map of `rows`, every row in it in the order they were inserted.
    fn clear(&mut self, rows: &[u32]) {
        match self {
            SlotMap::Dense(slot_of) => rows.iter().for_each(|&r| slot_of[r as usize] = NONE),
            SlotMap::Hashed { keys, .. } if rows.len() * 4 > keys.len() => keys.fill(NONE),
            SlotMap::Hashed { keys, .. } => {
                // Latest first: the buckets a row probed past on insertion held rows inserted
                // before it, which are all still there, so probing finds it again.
                for &r in rows.iter().rev() {
                    let b = Self::bucket(keys, r);
                    keys[b] = NONE;
                }
            }
        }
    }
}

impl DistinctIds {
    /// Buffers for a table of `table_rows` rows and batches of up to `max_batch` lookups.
    pub fn new(table_rows: usize, max_batch: usize) -> Self {
        DistinctIds {
            map: SlotMap::new(table_rows, max_batch),
            rows: Vec::with_capacity(max_batch.min(table_rows)),
            slots: Vec::with_capacity(max_batch),
        }
    }

    /// Indexes a new batch, forgetting the previous one.
    pub fn index(&mut self, ids: &[u32]) {
        self.clear();
        for &id in ids {
            let (slot, inserted) = self.map.slot(id, self.rows.len() as u32);
            if inserted {
                self.rows.push(id);
            }
            self.slots.push(slot);
        }
    }

    /// Forgets the batch, touching only the rows it used.
    pub fn clear(&mut self) {
        self.map.clear(&self.rows);
        self.rows.clear();
        self.slots.clear();
    }

    /// The distinct rows, in first-seen order.
    pub fn rows(&self) -> &[u32] {
        &self.rows
    }

    /// For each example, the position of its row in [`rows`](Self::rows).
    pub fn slots(&self) -> &[u32] {
        &self.slots
    }

    /// Adds each example's gradient, `d[i * stride + offset ..][..dim]`, to its distinct row's
    /// sum in `sums` (`[rows().len(), dim]`): how per-example gradients become row gradients.
    pub fn scatter_add(
        &self,
        d: &[f32],
        stride: usize,
        offset: usize,
        dim: usize,
        sums: &mut [f32],
    ) {
        scatter_rows(d, stride, offset, dim, &self.slots, sums);
    }
}

/// Adds example `i`'s gradient, `d[i * stride + offset ..][..dim]`, to row `slots[i]` of `sums`
/// (`[rows, dim]`), in example order: [`DistinctIds::scatter_add`] for examples in another
/// order than the batch's (the tiled step's).
pub(crate) fn scatter_rows(
    d: &[f32],
    stride: usize,
    offset: usize,
    dim: usize,
    slots: &[u32],
    sums: &mut [f32],
) {
    for (i, &slot) in slots.iter().enumerate() {
        let src = &d[i * stride + offset..][..dim];
        for (g, &v) in sums[slot as usize * dim..][..dim].iter_mut().zip(src) {
            *g += v;
        }
    }
}

/// Writes to `order` the indices of `keys` (each below `key_count`) grouped by key, keys in
/// increasing order and each key's indices in increasing order: a counting sort, O(keys +
/// key_count), with `starts` as its buckets. Grouping a batch's examples by user this way lets
/// the examples a tile of rows takes share their first-layer input.
pub fn group_by_key(keys: &[u32], key_count: usize, starts: &mut Vec<u32>, order: &mut Vec<u32>) {
    starts.clear();
    starts.resize(key_count + 1, 0);
    for &k in keys {
        starts[k as usize + 1] += 1;
    }
    for k in 0..key_count {
        starts[k + 1] += starts[k];
    }
    order.resize(keys.len(), 0);
    for (i, &k) in keys.iter().enumerate() {
        let at = &mut starts[k as usize];
        order[*at as usize] = i as u32;
        *at += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_are_grouped_by_key_in_order() {
        let (mut starts, mut order) = (Vec::new(), vec![9; 10]);
        group_by_key(&[2, 0, 2, 1, 0], 3, &mut starts, &mut order);
        assert_eq!(order, [1, 4, 3, 0, 2]);
        group_by_key(&[], 3, &mut starts, &mut order);
        assert!(order.is_empty());
    }

    #[test]
    fn rows_once_in_first_seen_order_and_slots_per_example() {
        let mut d = DistinctIds::new(10, 5);
        d.index(&[7, 3, 7, 0, 3]);
        assert_eq!(d.rows(), &[7, 3, 0]);
        assert_eq!(d.slots(), &[0, 1, 0, 2, 1]);
        d.index(&[3]);
        assert_eq!(d.rows(), &[3]);
        assert_eq!(d.slots(), &[0]);
    }

    /// Tables far larger than a batch are hashed; both maps index the same batches alike,
    /// batch after batch (each clearing the last), with ids that collide in the hash.
    #[test]
    fn hashed_and_dense_maps_agree_over_many_batches() {
        let rows = 1_000_000;
        let mut dense = DistinctIds {
            map: SlotMap::Dense(vec![NONE; rows]),
            rows: Vec::new(),
            slots: Vec::new(),
        };
        let mut hashed = DistinctIds::new(rows, 64);
        assert!(matches!(hashed.map, SlotMap::Hashed { .. }));
        let mut state = 7u64;
        for batch in 0..200 {
            let n = 1 + batch % 64;
            let ids: Vec<u32> = (0..n)
                .map(|_| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    // Few distinct values, many repeats, spread over the table.
                    ((state >> 33) % 40) as u32 * 24_989 + (batch % 3) as u32
                })
                .collect();
            dense.index(&ids);
            hashed.index(&ids);
            assert_eq!(hashed.rows(), dense.rows(), "batch {batch}");
            assert_eq!(hashed.slots(), dense.slots(), "batch {batch}");
        }
        hashed.clear();
        if let SlotMap::Hashed { keys, .. } = &hashed.map {
            assert!(
                keys.iter().all(|&k| k == NONE),
                "cleared table still holds rows"
            );
        }
    }
}
