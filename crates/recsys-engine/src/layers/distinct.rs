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
    /// `slot_of[row]` is the row's position in `rows`, or `NONE`.
    slot_of: Vec<u32>,
    rows: Vec<u32>,
    slots: Vec<u32>,
}

const NONE: u32 = u32::MAX;

impl DistinctIds {
    /// Buffers for a table of `table_rows` rows and batches of up to `max_batch` lookups.
    pub fn new(table_rows: usize, max_batch: usize) -> Self {
        DistinctIds {
            slot_of: vec![NONE; table_rows],
            rows: Vec::with_capacity(max_batch.min(table_rows)),
            slots: Vec::with_capacity(max_batch),
        }
    }

    /// Indexes a new batch, forgetting the previous one.
    pub fn index(&mut self, ids: &[u32]) {
        self.clear();
        for &id in ids {
            let slot = match self.slot_of[id as usize] {
                NONE => {
                    let slot = self.rows.len() as u32;
                    self.slot_of[id as usize] = slot;
                    self.rows.push(id);
                    slot
                }
                s => s,
            };
            self.slots.push(slot);
        }
    }

    /// Forgets the batch, touching only the rows it used.
    pub fn clear(&mut self) {
        for &r in &self.rows {
            self.slot_of[r as usize] = NONE;
        }
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
        for (i, &slot) in self.slots.iter().enumerate() {
            let src = &d[i * stride + offset..][..dim];
            for (g, &v) in sums[slot as usize * dim..][..dim].iter_mut().zip(src) {
                *g += v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
