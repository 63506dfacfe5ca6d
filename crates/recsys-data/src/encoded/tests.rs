use super::*;
use crate::{DataError, read_interactions};

fn write(dir: &tempfile::TempDir, name: &str, contents: &[u8]) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

fn encode_one(contents: &[u8]) -> Result<(Examples, Vocabulary, Vocabulary)> {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "ratings.csv", contents);
    let mut encoder = Encoder::new();
    let mut rows = encoder.read_file(&path, &ColumnNames::default())?;
    let (users, items) = encoder.finish(&mut [&mut rows]);
    Ok((rows, users, items))
}

/// The reference: every row as strings, vocabularies from all of them, rows looked up.
fn reference(ratings: &[Rating]) -> (Examples, Vocabulary, Vocabulary) {
    let users = Vocabulary::from_values(ratings.iter().map(|r| r.user_id.as_str()));
    let items = Vocabulary::from_values(ratings.iter().map(|r| r.movie_title.as_str()));
    let rows = Examples {
        users: ratings.iter().map(|r| users.lookup(&r.user_id)).collect(),
        titles: ratings
            .iter()
            .map(|r| items.lookup(&r.movie_title))
            .collect(),
        ratings: ratings.iter().map(|r| r.user_rating).collect(),
        timestamps: None,
    };
    (rows, users, items)
}

#[test]
fn encoding_a_file_equals_reading_it_as_strings_then_looking_up() {
    let contents = "\u{feff}user_id,movie_title,user_rating,extra\r\n\
        10,\"Game, The (1997)\",2.5,x\r\n\r\n\
        2,Misérables,5,y\n\
        10,Heat (1995),1,z\n\
        1,Misérables, 4 ,w\n";
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "r.csv", contents.as_bytes());
    let strings = read_interactions(&path, &ColumnNames::default()).unwrap();
    assert_eq!(
        encode_one(contents.as_bytes()).unwrap(),
        reference(&strings)
    );
}

#[test]
fn train_and_test_share_vocabularies_over_both() {
    let dir = tempfile::tempdir().unwrap();
    let header = "user_id\tmovie_title\tuser_rating\n";
    let train = write(
        &dir,
        "train.tsv",
        format!("{header}b\tX\t1\na\tY\t2\n").as_bytes(),
    );
    let test = write(
        &dir,
        "test.tsv",
        format!("{header}c\tX\t3\nb\tZ\t4\n").as_bytes(),
    );
    let mut encoder = Encoder::new();
    let columns = ColumnNames::default();
    let mut tr = encoder.read_file(&train, &columns).unwrap();
    let mut te = encoder.read_file(&test, &columns).unwrap();
    let (users, items) = encoder.finish(&mut [&mut tr, &mut te]);
    assert_eq!(users.values(), ["a", "b", "c"]);
    assert_eq!(items.values(), ["X", "Y", "Z"]);
    assert_eq!((tr.users, tr.titles), (vec![2, 1], vec![1, 2]));
    assert_eq!((te.users, te.titles), (vec![3, 2], vec![1, 3]));
}

#[test]
fn encoding_ratings_in_memory_matches_the_reference() {
    let r = |u: &str, t: &str, v: f32| Rating {
        user_id: u.into(),
        movie_title: t.into(),
        user_rating: v,
        movie_id: None,
        timestamp: None,
    };
    let ratings: Vec<Rating> = (0..300)
        .map(|i| {
            r(
                &format!("{}", i * 7 % 31),
                &format!("t{}", i % 17),
                i as f32,
            )
        })
        .collect();
    let mut encoder = Encoder::new();
    let mut rows = encoder.encode_ratings(&ratings);
    let (users, items) = encoder.finish(&mut [&mut rows]);
    assert_eq!((rows, users, items), reference(&ratings));
}

#[test]
fn a_bad_line_names_the_file_and_the_line() {
    let e = encode_one(b"user_id,movie_title,user_rating\n1,a,1\n\n2,b\n").unwrap_err();
    assert!(matches!(e, DataError::Parse { line: 4, .. }), "{e:?}");
    let s = e.to_string();
    assert!(
        s.contains("ratings.csv:4:") && s.contains("expected 3 fields"),
        "{s}"
    );
    let e = encode_one(b"user_id,movie_title,user_rating\n1,a,1\n1,\xff,2\n").unwrap_err();
    assert!(
        e.to_string().contains("ratings.csv:3: invalid UTF-8"),
        "{e}"
    );
}

#[test]
fn nan_and_infinite_ratings_are_errors_at_their_line() {
    for bad in ["NaN", "nan", "inf", "-inf"] {
        let file = format!("user_id,movie_title,user_rating\n1,a,1\n2,b,{bad}\n");
        let e = encode_one(file.as_bytes()).unwrap_err();
        let s = e.to_string();
        assert!(
            matches!(e, DataError::Parse { line: 3, .. }),
            "{bad}: {e:?}"
        );
        assert!(
            s.contains("column \"user_rating\"") && s.contains("not finite"),
            "{s}"
        );
    }
}

#[test]
fn empty_files_and_headers_without_rows_are_errors() {
    let e = encode_one(b"").unwrap_err();
    assert!(
        e.to_string()
            .ends_with("ratings.csv: is empty (no header row)"),
        "{e}"
    );
    let e = encode_one(b"\n\r\n").unwrap_err();
    assert!(matches!(e, DataError::Empty { .. }), "{e:?}");
    let e = encode_one(b"user_id,movie_title,user_rating\n\n").unwrap_err();
    assert!(
        e.to_string().contains("has a header but no data rows"),
        "{e}"
    );
    let e = encode_one(b"user_id,title,user_rating\n1,a,1\n").unwrap_err();
    assert!(matches!(&e, DataError::MissingColumn { column, .. } if column == "movie_title"));
}

#[test]
fn memory_is_twelve_bytes_a_row_plus_each_distinct_string_once() {
    // 20,000 rows naming 3 users and 2 titles: the encoder holds 5 strings, not 40,000.
    let mut file = String::from("user_id\tmovie_title\tuser_rating\n");
    for i in 0..20_000 {
        let user = ["a fairly long user id", "another user", "u3"][i % 3];
        let title = ["A Title That Is Long (1999)", "B (2000)"][i % 2];
        file.push_str(&format!("{user}\t{title}\t{}\n", i % 5 + 1));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "big.tsv", file.as_bytes());
    let mut encoder = Encoder::new();
    let rows = encoder.read_file(&path, &ColumnNames::default()).unwrap();
    assert_eq!(rows.len(), 20_000);
    // Columns grow by doubling: at most twice the 12 bytes a row, and nothing else per row.
    assert!(
        rows.heap_bytes() <= 2 * 12 * rows.len(),
        "{}",
        rows.heap_bytes()
    );
    assert!(encoder.heap_bytes() < 1024, "{}", encoder.heap_bytes());
    let (users, items) = encoder.finish(&mut []);
    assert_eq!((users.num_rows(), items.num_rows()), (4, 3));
}

#[test]
fn many_distinct_values_intern_once_each_in_first_seen_order() {
    let mut interner = Interner::default();
    for round in 0..2 {
        for i in 0..5_000u32 {
            assert_eq!(
                interner.intern(&format!("id{}", 4_999 - i)),
                i,
                "round {round}"
            );
        }
    }
    assert_eq!(interner.strings.get(0), "id4999");
    let (vocabulary, rows) = interner.into_vocabulary();
    assert_eq!(vocabulary.num_rows(), 5_001);
    assert_eq!(vocabulary.value(rows[0]), Some("id4999"));
    assert_eq!(vocabulary.lookup("id0"), rows[4_999]);
}

#[test]
fn ids_sort_in_the_byte_order_of_their_strings_ties_of_eight_bytes_included() {
    let values = [
        "abcdefghi",
        "a\0b",
        "",
        "abcdefgh\0",
        "b",
        "a",
        "abcdefg",
        "a\0",
        "abcdefgh",
        "é",
        "abcdefgh\u{1}",
        "ÿ",
        "10",
        "9",
        "100",
        "abcdefgi",
        "abcdefgha",
    ];
    let mut strings = StringSet::default();
    for v in values {
        strings.intern(v);
    }
    let got: Vec<&str> = sorted_ids(&strings)
        .into_iter()
        .map(|id| strings.get(id))
        .collect();
    let mut want = values.to_vec();
    want.sort_unstable();
    assert_eq!(got, want);
}
