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
pub(crate) fn read_items(path: &Path) -> Result<Vec<Movie>> {
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
        crate::side_info::release_year(f[2])
            .map_err(|m| DataError::parse(path, line, format!("field 3 (release date): {m}")))?;
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
pub(crate) fn read_users(path: &Path) -> Result<Vec<User>> {
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
mod tests;
