//! Where the tutorial's ratings come from: the original MovieLens 100k files.
//!
//! TFRS reads `movielens/100k-ratings` from TensorFlow Datasets, which is built from `u.data`
//! (ratings), `u.item` (titles) and `u.user` (demographics) of GroupLens' `ml-100k.zip`. This
//! module reads those three files directly, with the same conventions: ratings in `u.data` file
//! order, user ids as decimal strings, titles decoded from latin-1 (the files predate UTF-8).
//! 1,682 items carry only 1,664 distinct titles, because a few movies are listed twice.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use crate::Rating;
use crate::error::{DataError, Result};
use crate::interactions::parse_rating;
use crate::lines::{latin1, numbered_lines, read_file, utf8_line};

/// The 19 genres of `u.genre`, in the order of [`Movie::genres`].
pub const GENRES: [&str; 19] = [
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
];

/// One row of `u.item`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Movie {
    /// The item id (field 1), as used by `u.data`.
    pub id: u32,
    /// The title (field 2), decoded from latin-1.
    pub title: String,
    /// The release date as written (field 3), e.g. `01-Jan-1995`; empty where unknown.
    pub release_date: String,
    /// The genre flags (the last 19 fields), in the order of [`GENRES`]; a movie can have several.
    pub genres: [bool; 19],
}

/// One row of `u.user`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The user id, as used by `u.data`.
    pub id: u32,
    /// Age in years.
    pub age: u32,
    /// Gender as written (`M` or `F`).
    pub gender: String,
    /// Occupation as written (one of `u.occupation`).
    pub occupation: String,
    /// Zip code as written (not always numeric).
    pub zip_code: String,
}

/// MovieLens 100k, read from an `ml-100k` folder.
///
/// ```no_run
/// # fn main() -> Result<(), recsys_data::DataError> {
/// let dir = recsys_data::ml100k_dir(None)?; // RECSYS_DATA_DIR, the cache, or a download
/// let ml = recsys_data::MovieLens100k::load(&dir)?;
/// assert_eq!(ml.ratings.len(), 100_000);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct MovieLens100k {
    /// The ratings of `u.data`, in file order, with `movie_id` and `timestamp` set.
    pub ratings: Vec<Rating>,
    /// The movies of `u.item`, in file order.
    pub movies: Vec<Movie>,
    /// The users of `u.user`, in file order.
    pub users: Vec<User>,
}

impl MovieLens100k {
    /// Reads `u.item`, `u.user` and `u.data` from `dir`, the `ml-100k` folder itself.
    ///
    /// # Errors
    ///
    /// [`DataError::Io`] for a missing or unreadable file, [`DataError::Empty`] for a file
    /// without rows, [`DataError::InvalidUtf8`] for non-UTF-8 bytes in `u.data` or `u.user`,
    /// [`DataError::Parse`] for a malformed row (wrong field count, a field that is not a number,
    /// a non-finite rating, a duplicated id), and [`DataError::UnknownId`] for a rating whose
    /// item is not in `u.item` or whose user is not in `u.user`. Each names the file and line.
    pub fn load(dir: &Path) -> Result<Self> {
        let movies = read_items(&dir.join("u.item"))?;
        let users = read_users(&dir.join("u.user"))?;
        let ratings = read_ratings(&dir.join("u.data"), &movies, &users)?;
        Ok(MovieLens100k {
            ratings,
            movies,
            users,
        })
    }
}

/// Splits a line into exactly `expected` fields, or reports how many it has.
fn fields<'a>(
    path: &Path,
    line: usize,
    text: &'a str,
    separator: char,
    expected: usize,
) -> Result<Vec<&'a str>> {
    let fields: Vec<&str> = text.split(separator).collect();
    if fields.len() == expected {
        Ok(fields)
    } else {
        Err(DataError::parse(
            path,
            line,
            format!(
                "expected {expected} {separator:?}-separated fields, found {}",
                fields.len()
            ),
        ))
    }
}

/// Parses field `number` (1-based, called `name`) as a number.
fn number<T: std::str::FromStr>(
    path: &Path,
    line: usize,
    number: usize,
    name: &str,
    field: &str,
) -> Result<T> {
    field.trim().parse().map_err(|_| {
        DataError::parse(
            path,
            line,
            format!("field {number} ({name}): {field:?} is not a valid number"),
        )
    })
}

fn require_rows<T>(path: &Path, rows: Vec<T>) -> Result<Vec<T>> {
    if rows.is_empty() {
        Err(DataError::Empty {
            path: path.to_owned(),
            what: "has no rows",
        })
    } else {
        Ok(rows)
    }
}

/// Reads `u.item`: `id|title|release date|video release date|IMDb URL|19 genre flags`, latin-1.
fn read_items(path: &Path) -> Result<Vec<Movie>> {
    let bytes = read_file(path)?;
    let mut movies = Vec::new();
    let mut seen = HashSet::new();
    for (line, raw) in numbered_lines(&bytes) {
        let text = latin1(raw);
        let f = fields(path, line, &text, '|', 5 + GENRES.len())?;
        let id: u32 = number(path, line, 1, "movie id", f[0])?;
        if !seen.insert(id) {
            return Err(DataError::parse(
                path,
                line,
                format!("movie id {id} is listed twice"),
            ));
        }
        let mut genres = [false; 19];
        for (k, (flag, genre)) in f[5..].iter().zip(&mut genres).enumerate() {
            *genre = match *flag {
                "0" => false,
                "1" => true,
                other => {
                    return Err(DataError::parse(
                        path,
                        line,
                        format!(
                            "field {} (genre {}): expected 0 or 1, found {other:?}",
                            6 + k,
                            GENRES[k]
                        ),
                    ));
                }
            };
        }
        movies.push(Movie {
            id,
            title: f[1].to_owned(),
            release_date: f[2].to_owned(),
            genres,
        });
    }
    require_rows(path, movies)
}

/// Reads `u.user`: `id|age|gender|occupation|zip code`.
fn read_users(path: &Path) -> Result<Vec<User>> {
    let bytes = read_file(path)?;
    let mut users = Vec::new();
    let mut seen = HashSet::new();
    for (line, raw) in numbered_lines(&bytes) {
        let text = utf8_line(path, line, raw)?;
        let f = fields(path, line, text, '|', 5)?;
        let id: u32 = number(path, line, 1, "user id", f[0])?;
        if !seen.insert(id) {
            return Err(DataError::parse(
                path,
                line,
                format!("user id {id} is listed twice"),
            ));
        }
        users.push(User {
            id,
            age: number(path, line, 2, "age", f[1])?,
            gender: f[2].to_owned(),
            occupation: f[3].to_owned(),
            zip_code: f[4].to_owned(),
        });
    }
    require_rows(path, users)
}

/// Reads `u.data`: `user id<TAB>item id<TAB>rating<TAB>timestamp`.
fn read_ratings(path: &Path, movies: &[Movie], users: &[User]) -> Result<Vec<Rating>> {
    let titles: HashMap<u32, &str> = movies.iter().map(|m| (m.id, m.title.as_str())).collect();
    let user_ids: HashSet<u32> = users.iter().map(|u| u.id).collect();
    let bytes = read_file(path)?;
    let mut ratings = Vec::with_capacity(bytes.len() / 20);
    for (line, raw) in numbered_lines(&bytes) {
        let text = utf8_line(path, line, raw)?;
        let f = fields(path, line, text, '\t', 4)?;
        let user: u32 = number(path, line, 1, "user id", f[0])?;
        let item: u32 = number(path, line, 2, "item id", f[1])?;
        let user_rating = parse_rating(f[2])
            .map_err(|m| DataError::parse(path, line, format!("field 3 (rating): {m}")))?;
        let timestamp: i64 = number(path, line, 4, "timestamp", f[3])?;
        let Some(title) = titles.get(&item) else {
            return Err(DataError::UnknownId {
                path: path.to_owned(),
                line,
                kind: "item",
                id: item,
                listed_in: "u.item",
            });
        };
        if !user_ids.contains(&user) {
            return Err(DataError::UnknownId {
                path: path.to_owned(),
                line,
                kind: "user",
                id: user,
                listed_in: "u.user",
            });
        }
        ratings.push(Rating {
            user_id: user.to_string(),
            movie_title: (*title).to_owned(),
            user_rating,
            movie_id: Some(item),
            timestamp: Some(timestamp),
        });
    }
    require_rows(path, ratings)
}

#[cfg(test)]
mod tests {
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
        let Some(data) = std::env::var_os("RECSYS_DATA_DIR") else {
            eprintln!(
                "skipped: set RECSYS_DATA_DIR to the folder holding ml-100k/ to run this test"
            );
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
}
