use super::*;

/// A file of `n` rows, user `u{i % 7}`, title `t{i % 5}`, rating `i` (distinct, so rows can be
/// told apart after a shuffle).
fn file(dir: &tempfile::TempDir, n: usize) -> PathBuf {
    let path = dir.path().join("rows.tsv");
    let mut text = String::from("user_id\tmovie_title\tuser_rating\n");
    for i in 0..n {
        text.push_str(&format!("u{}\tt{}\t{i}\n", i % 7, i % 5));
    }
    std::fs::write(&path, text).unwrap();
    path
}

/// Every row of `spool` in batches of `size`: (user row, title row, rating), and the batch
/// lengths.
fn read_all(spool: &mut Spool, map: &RowMap, size: usize) -> (Vec<(u32, u32, f32)>, Vec<usize>) {
    let (mut rows, mut lens) = (Vec::new(), Vec::new());
    spool
        .for_each_batch::<DataError>(map, size, |u, t, y| {
            lens.push(y.len());
            rows.extend(u.iter().zip(t).zip(y).map(|((&u, &t), &y)| (u, t, y)));
            Ok(())
        })
        .unwrap();
    (rows, lens)
}

fn spooled(path: &Path, shuffle: Option<SpoolShuffle>) -> (Spool, RowMap) {
    let mut encoder = Encoder::new();
    let spool = encoder
        .spool_file(path, &ColumnNames::default(), shuffle)
        .unwrap();
    let (_, _, map) = encoder.finish_spooled();
    (spool, map)
}

/// The rows as in-memory training holds them: read, encoded, then shuffled with `seed`.
fn in_memory(path: &Path, seed: Option<u64>) -> Vec<(u32, u32, f32)> {
    let mut encoder = Encoder::new();
    let mut rows = encoder.read_file(path, &ColumnNames::default()).unwrap();
    encoder.finish(&mut [&mut rows]);
    let mut all: Vec<_> = (0..rows.len())
        .map(|i| (rows.users[i], rows.titles[i], rows.ratings[i]))
        .collect();
    if let Some(seed) = seed {
        crate::shuffle(&mut all, seed);
    }
    all
}

#[test]
fn without_shuffle_the_spool_is_the_file_in_batches() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(&dir, 23);
    let (mut spool, map) = spooled(&path, None);
    assert_eq!(spool.len(), 23);
    let (rows, lens) = read_all(&mut spool, &map, 10);
    assert_eq!(lens, [10, 10, 3]);
    assert_eq!(rows, in_memory(&path, None));
}

#[test]
fn a_buffer_that_holds_the_file_gives_the_in_memory_shuffle() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(&dir, 50);
    let shuffle = SpoolShuffle {
        buffer: 50,
        seed: 9,
    };
    let (mut spool, map) = spooled(&path, Some(shuffle));
    let (rows, _) = read_all(&mut spool, &map, 8);
    assert_eq!(rows, in_memory(&path, Some(9)));
    assert_ne!(rows, in_memory(&path, None));
}

#[test]
fn a_small_buffer_mixes_every_row_in_once_and_replays_the_same_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(&dir, 200);
    let shuffle = SpoolShuffle {
        buffer: 16,
        seed: 3,
    };
    let (mut spool, map) = spooled(&path, Some(shuffle));
    let (first, _) = read_all(&mut spool, &map, 32);
    let (second, _) = read_all(&mut spool, &map, 32);
    assert_eq!(first, second, "every epoch reads the same order");
    let (again, _) = read_all(&mut spooled(&path, Some(shuffle)).0, &map, 32);
    assert_eq!(first, again, "the order follows the seed");

    let mut sorted = first.clone();
    sorted.sort_by(|a, b| a.2.total_cmp(&b.2));
    assert_eq!(sorted, in_memory(&path, None), "each row exactly once");
    assert_ne!(first, in_memory(&path, None));
    // A row leaves the buffer no earlier than `buffer` rows before its place in the file.
    for (position, row) in first.iter().enumerate() {
        assert!(row.2 as usize <= position + 16, "{row:?} at {position}");
    }
}

#[test]
fn bad_rows_name_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.tsv");
    std::fs::write(
        &path,
        "user_id\tmovie_title\tuser_rating\n1\tA\t4\n2\tB\tfour\n",
    )
    .unwrap();
    let err = Encoder::new()
        .spool_file(&path, &ColumnNames::default(), None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("bad.tsv:3") && err.contains("four"), "{err}");

    std::fs::write(&path, "user_id\tmovie_title\tuser_rating\n").unwrap();
    let err = Encoder::new()
        .spool_file(&path, &ColumnNames::default(), None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no data rows"), "{err}");
}

#[test]
fn an_error_from_the_consumer_stops_the_reading() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(&dir, 30);
    let (mut spool, map) = spooled(&path, None);
    let mut batches = 0;
    let result = spool.for_each_batch(&map, 10, |_, _, _| {
        batches += 1;
        Err(DataError::Io {
            path: "x".into(),
            source: std::io::Error::other("stop"),
        })
    });
    assert!(result.is_err());
    assert_eq!(batches, 1);
}

#[test]
fn a_map_from_another_encoder_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(&dir, 30);
    let (mut spool, _) = spooled(&path, None);
    let err = spool
        .for_each_batch::<DataError>(&RowMap::default(), 10, |_, _, _| Ok(()))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("<spool of") && err.contains("never saw"),
        "{err}"
    );
}

#[test]
fn an_empty_spool_has_no_batches() {
    let mut spool = Spool::empty().unwrap();
    assert!(spool.is_empty());
    let (rows, lens) = read_all(&mut spool, &RowMap::default(), 4);
    assert!(rows.is_empty() && lens.is_empty());
}

/// The buffer's order is `tf.data`'s algorithm written out plainly: the first `buffer` rows
/// fill it; each later row takes a uniformly drawn slot (draws from the seed's own stream) and
/// sends out the row it held; what is left goes out in `shuffle_with`'s order. Drawing each
/// slot a row ahead (to prefetch it) must not change which slots are drawn.
#[test]
fn a_small_buffer_draws_the_slots_of_the_plain_algorithm() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(&dir, 120);
    let (buffer, seed) = (16, 5);
    let (mut spool, map) = spooled(&path, Some(SpoolShuffle { buffer, seed }));
    let (got, _) = read_all(&mut spool, &map, 32);

    let rows = in_memory(&path, None);
    let mut rng = ChaCha8Rng::seed_from_u64(!seed);
    let (mut held, mut want) = (Vec::new(), Vec::new());
    for row in rows {
        if held.len() < buffer {
            held.push(row);
            continue;
        }
        let j = ((u128::from(rng.next_u64()) * buffer as u128) >> 64) as usize;
        want.push(std::mem::replace(&mut held[j], row));
    }
    shuffle_with(held.len(), seed, |i, j| held.swap(i, j));
    want.extend(held);
    assert_eq!(got, want);
}
