//! Interaction files larger than memory: encoded once into a spool, read back a batch at a time.
//!
//! [`Encoder::read_file`] keeps 12 bytes a row in memory: 300 MB for MovieLens 25M, and more
//! than a machine has for a few billion rows. [`Encoder::spool_file`] reads the file the same
//! way (interning each string once, errors naming file and line) but writes each row's 12 bytes
//! to an anonymous temporary file, deleted when the [`Spool`] is dropped. Training then reads
//! the spool back once per epoch, a batch at a time, mapping first-seen ids to vocabulary rows
//! as it goes ([`RowMap`]): memory is the vocabularies, the model and one batch, whatever the
//! number of rows. Reading 12 bytes a row back from the page cache costs a fraction of a
//! percent of an epoch; parsing the text again each epoch would cost more than the epoch.
//!
//! Rows reach the spool through a shuffle buffer, as `tf.data`'s `shuffle(buffer_size)` does,
//! so that a file sorted by user still gives mixed batches; every epoch replays the spool in
//! the same order, as the tutorial's `shuffle(…).batch(…).cache()` replays its batches. When
//! the whole file fits the buffer, the order is exactly [`crate::shuffle`]'s over the file's
//! rows: the order in-memory training uses, so the two train the same model.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use crate::encoded::Encoder;
use crate::error::{DataError, Result};
use crate::interactions::{ColumnNames, for_each_interaction};
use crate::split::shuffle_with;

/// Bytes of one spooled row: user id, title id (first-seen, little-endian `u32`s) and rating
/// (little-endian `f32`).
const ROW_BYTES: usize = 12;

/// How rows are shuffled on their way into a [`Spool`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpoolShuffle {
    /// Rows held at once (`tf.data`'s `buffer_size`); at least 1.
    pub buffer: usize,
    /// The shuffle's seed.
    pub seed: u64,
}

/// An interaction file's rows as first-seen ids in a temporary file, in training order.
#[derive(Debug)]
pub struct Spool {
    file: File,
    rows: usize,
    /// What the spool holds, for error messages: `"<spool of train.tsv>"`.
    name: PathBuf,
    /// Raw bytes of one batch being read back.
    bytes: Vec<u8>,
    users: Vec<u32>,
    titles: Vec<u32>,
    ratings: Vec<f32>,
}

/// For each first-seen id of an [`Encoder`], its row in the vocabulary
/// [`Encoder::finish_spooled`] built.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RowMap {
    /// User rows, indexed by first-seen user id.
    pub users: Vec<u32>,
    /// Title rows, indexed by first-seen title id.
    pub titles: Vec<u32>,
}

impl Encoder {
    /// Reads an interaction file (the format of [`crate::read_interactions`]) in one pass into
    /// a [`Spool`], shuffled through a buffer when `shuffle` is given; memory holds the
    /// distinct strings and the buffer, never the rows.
    ///
    /// # Errors
    ///
    /// Those of [`crate::read_interactions`], naming the file and line, and
    /// [`DataError::Io`] if the temporary file cannot be created or written.
    pub fn spool_file(
        &mut self,
        path: &Path,
        columns: &ColumnNames,
        shuffle: Option<SpoolShuffle>,
    ) -> Result<Spool> {
        let name = PathBuf::from(format!("<spool of {}>", path.display()));
        let io = |source| DataError::Io {
            path: name.clone(),
            source,
        };
        let file = tempfile::tempfile().map_err(io)?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let mut buffer = ShuffleBuffer::new(shuffle);
        let mut written: std::io::Result<()> = Ok(());
        let rows = for_each_interaction(path, columns, |user, title, rating| {
            let row = self.encode(user, title, rating);
            if let Some(row) = buffer.push(row)
                && written.is_ok()
            {
                written = out.write_all(&row);
            }
        })?;
        written.map_err(io)?;
        for row in buffer.drain() {
            out.write_all(&row).map_err(io)?;
        }
        let file = out.into_inner().map_err(|e| io(e.into_error()))?;
        Ok(Spool::new(file, rows as usize, name))
    }
}

impl Spool {
    fn new(file: File, rows: usize, name: PathBuf) -> Self {
        Spool {
            file,
            rows,
            name,
            bytes: Vec::new(),
            users: Vec::new(),
            titles: Vec::new(),
            ratings: Vec::new(),
        }
    }

    /// An empty spool (no test file).
    pub fn empty() -> Result<Self> {
        let name = PathBuf::from("<empty spool>");
        let file = tempfile::tempfile().map_err(|source| DataError::Io {
            path: name.clone(),
            source,
        })?;
        Ok(Spool::new(file, 0, name))
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Reads the spool from its start in batches of `size` rows (the last one ragged), maps
    /// the ids through `map` and hands each batch to `f(users, titles, ratings)`, stopping at
    /// the first error. The batch buffers are allocated on the first call and reused.
    ///
    /// # Errors
    ///
    /// [`DataError::Io`] naming the spool if it cannot be read back; `f`'s own errors.
    pub fn for_each_batch<E: From<DataError>>(
        &mut self,
        map: &RowMap,
        size: usize,
        mut f: impl FnMut(&[u32], &[u32], &[f32]) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let size = size.max(1);
        self.file
            .seek(SeekFrom::Start(0))
            .map_err(|source| self.io(source))?;
        let mut left = self.rows;
        while left > 0 {
            let n = left.min(size);
            self.read_batch(map, n)?;
            f(&self.users, &self.titles, &self.ratings)?;
            left -= n;
        }
        Ok(())
    }

    /// Reads the next `n` rows into the batch buffers, ids mapped to rows.
    fn read_batch(&mut self, map: &RowMap, n: usize) -> Result<()> {
        self.bytes.resize(n * ROW_BYTES, 0);
        self.file
            .read_exact(&mut self.bytes)
            .map_err(|source| self.io(source))?;
        self.users.clear();
        self.titles.clear();
        self.ratings.clear();
        for row in self.bytes.chunks_exact(ROW_BYTES) {
            let word = |i: usize| [row[i], row[i + 1], row[i + 2], row[i + 3]];
            let (user, title) = (u32::from_le_bytes(word(0)), u32::from_le_bytes(word(4)));
            let (Some(&user), Some(&title)) =
                (map.users.get(user as usize), map.titles.get(title as usize))
            else {
                return Err(self.io(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("row names user {user} or title {title}, which the encoder never saw"),
                )));
            };
            self.users.push(user);
            self.titles.push(title);
            self.ratings.push(f32::from_le_bytes(word(8)));
        }
        Ok(())
    }

    fn io(&self, source: std::io::Error) -> DataError {
        DataError::Io {
            path: self.name.clone(),
            source,
        }
    }
}

/// `tf.data`'s shuffle buffer: holds up to `buffer` rows; once full, each new row takes the
/// place of a uniformly drawn one, which goes out. The rows left at the end go out in
/// [`shuffle_with`]'s order, which makes the whole output exactly that shuffle when nothing
/// went out early.
struct ShuffleBuffer {
    rows: Vec<[u8; ROW_BYTES]>,
    capacity: usize,
    /// `None`: no shuffling, rows pass straight through.
    rng: Option<(ChaCha8Rng, u64)>,
    /// The slot the next row will take once the buffer is full, drawn one row ahead so that
    /// its cache line is on its way while the next line of text is parsed: the slots are
    /// random over the whole buffer (12 MB for a million rows). Waiting for each one made
    /// spooling a 25M-row file take 9.6–12.9 s instead of 6.6–7.4 s.
    next: usize,
}

impl ShuffleBuffer {
    fn new(shuffle: Option<SpoolShuffle>) -> Self {
        match shuffle {
            None => ShuffleBuffer {
                rows: Vec::new(),
                capacity: 0,
                rng: None,
                next: 0,
            },
            Some(s) => {
                // The eviction draws use a stream of their own, so that the final shuffle is
                // exactly `shuffle_with(len, seed)`.
                let mut rng = ChaCha8Rng::seed_from_u64(!s.seed);
                let capacity = s.buffer.max(1);
                let next = draw(&mut rng, capacity);
                ShuffleBuffer {
                    rows: Vec::new(),
                    capacity,
                    rng: Some((rng, s.seed)),
                    next,
                }
            }
        }
    }

    /// Takes `row`; returns the row that goes out now, if one does.
    fn push(&mut self, row: [u8; ROW_BYTES]) -> Option<[u8; ROW_BYTES]> {
        let Some((rng, _)) = &mut self.rng else {
            return Some(row);
        };
        if self.rows.len() < self.capacity {
            self.rows.push(row);
            return None;
        }
        let j = std::mem::replace(&mut self.next, draw(rng, self.capacity));
        prefetch(&self.rows[self.next]);
        Some(std::mem::replace(&mut self.rows[j], row))
    }

    /// The rows still held, shuffled.
    fn drain(mut self) -> impl Iterator<Item = [u8; ROW_BYTES]> {
        if let Some((_, seed)) = self.rng {
            let rows = &mut self.rows;
            shuffle_with(rows.len(), seed, |i, j| rows.swap(i, j));
        }
        self.rows.into_iter()
    }
}

/// Asks the CPU to start loading `row`'s cache line (a hint: it reads nothing).
#[inline(always)]
fn prefetch(row: &[u8; ROW_BYTES]) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults or changes memory.
    #[allow(unused_unsafe)]
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(row.as_ptr().cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = row;
}

/// A slot of a buffer of `capacity` rows, uniformly (the high half of a 64×64-bit product).
fn draw(rng: &mut ChaCha8Rng, capacity: usize) -> usize {
    ((u128::from(rng.next_u64()) * capacity as u128) >> 64) as usize
}

/// One row's bytes as [`Spool`] stores them.
pub(crate) fn row_bytes(user: u32, title: u32, rating: f32) -> [u8; ROW_BYTES] {
    let mut row = [0u8; ROW_BYTES];
    row[0..4].copy_from_slice(&user.to_le_bytes());
    row[4..8].copy_from_slice(&title.to_le_bytes());
    row[8..12].copy_from_slice(&rating.to_le_bytes());
    row
}

#[cfg(test)]
mod tests;
