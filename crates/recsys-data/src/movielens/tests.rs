//! Tests of the MovieLens 100k reader on small files written to temporary folders (and on the
//! real files when `RECSYS_DATA_DIR` is set), kept beside `movielens.rs` to keep that file short.

use super::*;
use std::path::PathBuf;

const GENRE_FLAGS: &str = "|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0";

struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    /// A valid three-movie, two-user, four-rating dataset.
    fn valid() -> Files {
        let dir = tempfile::tempdir().unwrap();
        let item = format!(
            "1|Toy Story (1995)|01-Jan-1995||http://x{GENRE_FLAGS}\n\
             2|Mis\u{e9}rables, Les (1995)|01-Jan-1995||http://y{GENRE_FLAGS}\n\
             267|unknown||||1|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
        );
        // u.item is latin-1: write é as the single byte 0xE9.
        let item_bytes: Vec<u8> = item.chars().map(|c| c as u8).collect();
        std::fs::write(dir.path().join("u.item"), item_bytes).unwrap();
        std::fs::write(
            dir.path().join("u.user"),
            "1|24|M|technician|85711\n10|53|F|other|T8H1N\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("u.data"),
            "10\t2\t3\t881250949\n1\t1\t5\t891717742\n1\t267\t1\t878887116\n10\t1\t4\t1\n",
        )
        .unwrap();
        Files { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> &Self {
        std::fs::write(self.path(name), contents).unwrap();
        self
    }

    fn load(&self) -> Result<MovieLens100k> {
        MovieLens100k::load(self.dir.path())
    }
}

fn parse_error_at(e: &DataError, file: &str, want_line: usize) -> String {
    match e {
        DataError::Parse { path, line, .. } => {
            assert!(path.ends_with(file), "{e}");
            assert_eq!(*line, want_line, "{e}");
        }
        other => panic!("expected a parse error, got {other:?}"),
    }
    e.to_string()
}

#[test]
fn loads_ratings_movies_and_users() {
    let ml = Files::valid().load().unwrap();
    assert_eq!(ml.ratings.len(), 4);
    assert_eq!(
        ml.ratings[0],
        Rating {
            user_id: "10".into(),
            movie_title: "Misérables, Les (1995)".into(),
            user_rating: 3.0,
            movie_id: Some(2),
            timestamp: Some(881250949),
        }
    );
    assert_eq!(ml.ratings[2].movie_title, "unknown");
    assert_eq!(ml.movies.len(), 3);
    assert_eq!(ml.movies[0].release_date, "01-Jan-1995");
    let genres: Vec<&str> = GENRES
        .iter()
        .zip(ml.movies[0].genres)
        .filter(|(_, on)| *on)
        .map(|(g, _)| *g)
        .collect();
    assert_eq!(genres, ["Animation", "Children's", "Comedy"]);
    assert!(ml.movies[2].genres[0]);
    assert_eq!(
        ml.users[1],
        User {
            id: 10,
            age: 53,
            gender: "F".into(),
            occupation: "other".into(),
            zip_code: "T8H1N".into(),
        }
    );
}

#[test]
fn wrong_column_count_names_file_and_line() {
    let f = Files::valid();
    f.write("u.data", "1\t1\t5\t1\n1\t1\t5\n");
    let s = parse_error_at(&f.load().unwrap_err(), "u.data", 2);
    assert!(
        s.contains("expected 4 '\\t'-separated fields, found 3"),
        "{s}"
    );

    f.write("u.data", "1\t1\t5\t1\n")
        .write("u.user", "1|24|M|technician\n");
    let s = parse_error_at(&f.load().unwrap_err(), "u.user", 1);
    assert!(
        s.contains("expected 5 '|'-separated fields, found 4"),
        "{s}"
    );

    f.write("u.item", "1|Toy Story|||\n");
    let s = parse_error_at(&f.load().unwrap_err(), "u.item", 1);
    assert!(s.contains("expected 24"), "{s}");
}

#[test]
fn non_numeric_fields_are_named() {
    let f = Files::valid();
    f.write("u.data", "1\t1\t5\t1\n1\t1\tfive\t1\n");
    let s = parse_error_at(&f.load().unwrap_err(), "u.data", 2);
    assert!(
        s.contains("field 3 (rating)") && s.contains("\"five\" is not a number"),
        "{s}"
    );

    f.write("u.data", "1\tx\t5\t1\n");
    let s = parse_error_at(&f.load().unwrap_err(), "u.data", 1);
    assert!(s.contains("field 2 (item id): \"x\""), "{s}");

    f.write("u.data", "1\t1\t5\t-\n");
    let s = parse_error_at(&f.load().unwrap_err(), "u.data", 1);
    assert!(s.contains("field 4 (timestamp)"), "{s}");
}

#[test]
fn nan_and_infinite_ratings_are_rejected() {
    let f = Files::valid();
    for bad in ["NaN", "inf", "-infinity"] {
        f.write("u.data", format!("1\t1\t5\t1\n\n1\t1\t{bad}\t1\n"));
        let s = parse_error_at(&f.load().unwrap_err(), "u.data", 3);
        assert!(s.contains("is not finite"), "{s}");
    }
}

#[test]
fn bad_genre_flag_is_named() {
    let f = Files::valid();
    f.write("u.item", "1|A|||u|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|2|0|0\n");
    let s = parse_error_at(&f.load().unwrap_err(), "u.item", 1);
    assert!(s.contains("field 22 (genre Thriller)"), "{s}");
}

#[test]
fn duplicated_ids_are_rejected() {
    let f = Files::valid();
    f.write("u.user", "1|24|M|technician|85711\n1|25|F|other|1\n");
    let s = parse_error_at(&f.load().unwrap_err(), "u.user", 2);
    assert!(s.contains("user id 1 is listed twice"), "{s}");
}

#[test]
fn unknown_item_id_names_file_line_and_id() {
    let f = Files::valid();
    f.write("u.data", "1\t1\t5\t1\n1\t999\t5\t1\n");
    let e = f.load().unwrap_err();
    assert!(
        matches!(
            e,
            DataError::UnknownId {
                line: 2,
                kind: "item",
                id: 999,
                ..
            }
        ),
        "{e:?}"
    );
    let s = e.to_string();
    assert!(
        s.contains("u.data:2: unknown item id 999 (not listed in u.item)"),
        "{s}"
    );
}

#[test]
fn unknown_user_id_is_rejected() {
    let f = Files::valid();
    f.write("u.data", "2\t1\t5\t1\n");
    let e = f.load().unwrap_err();
    assert!(
        matches!(
            e,
            DataError::UnknownId {
                line: 1,
                kind: "user",
                id: 2,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn invalid_utf8_in_u_data_names_the_line() {
    let f = Files::valid();
    f.write("u.data", b"1\t1\t5\t1\n1\t1\t5\t1\xff\n");
    let e = f.load().unwrap_err();
    assert!(
        matches!(
            e,
            DataError::InvalidUtf8 {
                line: 2,
                column: 8,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("u.data:2:"), "{e}");
}

#[test]
fn empty_files_are_errors() {
    for name in ["u.data", "u.item", "u.user"] {
        let f = Files::valid();
        f.write(name, "\n");
        let e = f.load().unwrap_err();
        assert!(
            matches!(&e, DataError::Empty { path, .. } if path.ends_with(name)),
            "{e:?}"
        );
        assert!(e.to_string().contains("has no rows"), "{e}");
    }
}

#[test]
fn missing_file_is_an_io_error_with_the_path() {
    let f = Files::valid();
    std::fs::remove_file(f.path("u.user")).unwrap();
    let e = f.load().unwrap_err();
    assert!(
        matches!(&e, DataError::Io { path, .. } if *path == f.path("u.user")),
        "{e:?}"
    );
    assert!(e.to_string().contains("u.user"), "{e}");
}

/// The real files, when `RECSYS_DATA_DIR` points at the folder holding `ml-100k/`.
#[test]
fn loads_the_real_movielens_100k_when_available() {
    let Some(data) = crate::testdata::data_dir() else {
        return;
    };
    let ml = MovieLens100k::load(&Path::new(&data).join("ml-100k")).unwrap();
    assert_eq!(ml.ratings.len(), 100_000);
    assert_eq!(ml.users.len(), 943);
    assert_eq!(ml.movies.len(), 1682);
    let titles: HashSet<&str> = ml.movies.iter().map(|m| m.title.as_str()).collect();
    assert_eq!(titles.len(), 1664);
    let rated: HashSet<&str> = ml.ratings.iter().map(|r| r.user_id.as_str()).collect();
    assert_eq!(rated.len(), 943);
    assert_eq!(
        ml.ratings[0],
        Rating {
            user_id: "196".into(),
            movie_title: "Kolya (1996)".into(),
            user_rating: 3.0,
            movie_id: Some(242),
            timestamp: Some(881250949),
        }
    );
    assert!(titles.contains("Misérables, Les (1995)"));
}
