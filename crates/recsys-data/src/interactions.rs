//! Ratings from any table: TSV or CSV files with a header row.
//!
//! The CLI trains on files other than MovieLens (for example the peers' exported split), so the
//! three columns the ranking model needs are found by header name, and every other column is
//! ignored. The format is small enough to parse by hand (see [`read_interactions`]), which keeps
//! the line numbers of errors exact.

use std::borrow::Cow;
use std::path::Path;

use crate::Rating;
use crate::error::{DataError, Result};
use crate::lines::{LineReader, utf8_line};

/// The header names of the three columns [`read_interactions`] reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnNames {
    /// Name of the user id column (default `user_id`).
    pub user_id: String,
    /// Name of the item column (default `movie_title`).
    pub movie_title: String,
    /// Name of the rating column (default `user_rating`).
    pub user_rating: String,
}

impl Default for ColumnNames {
    /// The tutorial's feature names: `user_id`, `movie_title`, `user_rating`.
    fn default() -> Self {
        ColumnNames {
            user_id: "user_id".to_owned(),
            movie_title: "movie_title".to_owned(),
            user_rating: "user_rating".to_owned(),
        }
    }
}

/// Reads ratings from a TSV or CSV file with a header row. Returned ratings have no `movie_id`
/// and no `timestamp`.
///
/// This holds every row as [`Rating`]s (two `String`s each); for large files, read with
/// [`for_each_interaction`] or [`crate::Encoder::read_file`], which keep no strings per row.
///
/// The format:
///
/// - UTF-8; a leading byte-order mark is dropped; lines end in `\n` or `\r\n`; blank lines
///   are skipped.
/// - The first line is the header. The file is tab-separated if it contains a tab, else
///   comma-separated. The columns named by `columns` are read (the first one, if a name
///   repeats); other columns are ignored. Every row has as many fields as the header.
/// - A field that starts with `"` is quoted: it ends at the next lone `"`, a doubled `""`
///   inside it stands for one `"`, and it may contain the delimiter (`"Game, The (1997)"`).
///   Quoted fields cannot span lines. A `"` later in an unquoted field is kept as it is.
/// - The rating is a finite number (`4`, `4.0`, `3.5`; spaces around it are allowed).
///
/// # Errors
///
/// - [`DataError::Io`] if the file cannot be read;
/// - [`DataError::Empty`] if it has no header or no data rows;
/// - [`DataError::MissingColumn`] if a column of `columns` is not in the header;
/// - [`DataError::InvalidUtf8`] for a line that is not UTF-8;
/// - [`DataError::Parse`] for a row with the wrong number of fields, a malformed quoted field, or
///   a rating that is not a finite number, naming the line and the column.
pub fn read_interactions(path: &Path, columns: &ColumnNames) -> Result<Vec<Rating>> {
    let mut ratings = Vec::new();
    for_each_interaction(path, columns, |user_id, movie_title, user_rating| {
        ratings.push(Rating {
            user_id: user_id.to_owned(),
            movie_title: movie_title.to_owned(),
            user_rating,
            movie_id: None,
            timestamp: None,
        });
    })?;
    Ok(ratings)
}

/// Reads the file [`read_interactions`] reads, one line at a time, calling
/// `row(user_id, movie_title, user_rating)` for each row in file order; memory stays at one
/// line whatever the file's size. Returns the number of rows.
///
/// # Errors
///
/// Those of [`read_interactions`], for the same files; rows before a bad line have already
/// been passed to `row`.
pub fn for_each_interaction(
    path: &Path,
    columns: &ColumnNames,
    mut row: impl FnMut(&str, &str, f32),
) -> Result<u64> {
    let mut lines = LineReader::open(path)?;
    let Some((header_line, header_bytes)) = lines.next_line()? else {
        return Err(DataError::Empty {
            path: path.to_owned(),
            what: "is empty (no header row)",
        });
    };
    let header = Header::parse(path, header_line, header_bytes, columns)?;
    let mut rows = 0u64;
    while let Some((line, raw)) = lines.next_line()? {
        let (user_id, movie_title, user_rating) = header.row(path, line, raw)?;
        row(&user_id, &movie_title, user_rating);
        rows += 1;
    }
    if rows == 0 {
        return Err(DataError::Empty {
            path: path.to_owned(),
            what: "has a header but no data rows",
        });
    }
    Ok(rows)
}

/// An interaction file's header: its field names, delimiter and the three columns' positions.
struct Header {
    names: Vec<String>,
    delimiter: char,
    user: usize,
    title: usize,
    rating: usize,
}

impl Header {
    /// Parses the header line, finding the columns named by `columns`.
    fn parse(path: &Path, line: usize, bytes: &[u8], columns: &ColumnNames) -> Result<Self> {
        let text = utf8_line(path, line, bytes)?;
        let delimiter = if text.contains('\t') { '\t' } else { ',' };
        let names: Vec<String> = split_fields(text, delimiter)
            .map_err(|m| DataError::parse(path, line, format!("header: {m}")))?
            .into_iter()
            .map(|name| name.trim().to_owned())
            .collect();
        let find = |name: &str| {
            names
                .iter()
                .position(|h| h == name)
                .ok_or_else(|| DataError::MissingColumn {
                    path: path.to_owned(),
                    column: name.to_owned(),
                    found: names.clone(),
                })
        };
        let (user, title, rating) = (
            find(&columns.user_id)?,
            find(&columns.movie_title)?,
            find(&columns.user_rating)?,
        );
        Ok(Header {
            names,
            delimiter,
            user,
            title,
            rating,
        })
    }

    /// Parses one data row into `(user_id, movie_title, user_rating)`.
    fn row<'a>(
        &self,
        path: &Path,
        line: usize,
        raw: &'a [u8],
    ) -> Result<(Cow<'a, str>, Cow<'a, str>, f32)> {
        let text = utf8_line(path, line, raw)?;
        let mut fields =
            split_fields(text, self.delimiter).map_err(|m| DataError::parse(path, line, m))?;
        if fields.len() != self.names.len() {
            let message = format!(
                "expected {} fields like the header, found {}",
                self.names.len(),
                fields.len()
            );
            return Err(DataError::parse(path, line, message));
        }
        let rating = parse_rating(&fields[self.rating]).map_err(|m| {
            let column = &self.names[self.rating];
            DataError::parse(path, line, format!("column {column:?}: {m}"))
        })?;
        let take = |fields: &mut Vec<Cow<'a, str>>, i: usize| std::mem::take(&mut fields[i]);
        let user = take(&mut fields, self.user);
        // The same column may be named twice (user and title): take from a fresh copy then.
        let title = if self.title == self.user {
            user.clone()
        } else {
            take(&mut fields, self.title)
        };
        Ok((user, title, rating))
    }
}

/// Parses a rating, accepting only finite numbers (surrounding spaces allowed).
pub(crate) fn parse_rating(field: &str) -> Result<f32, String> {
    let value: f32 = field
        .trim()
        .parse()
        .map_err(|_| format!("rating {field:?} is not a number"))?;
    if value.is_finite() {
        Ok(value)
    } else {
        Err(format!("rating {field:?} is not finite"))
    }
}

/// Splits one line into fields at `delimiter`, honouring double-quoted fields with `""` escapes.
/// The error message names the 1-based field.
fn split_fields(line: &str, delimiter: char) -> Result<Vec<Cow<'_, str>>, String> {
    let mut fields = Vec::new();
    let mut rest = line;
    loop {
        let field_number = fields.len() + 1;
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let after = loop {
                match chars.next() {
                    None => return Err(format!("field {field_number}: unterminated quoted field")),
                    Some((i, '"')) => {
                        if quoted[i + 1..].starts_with('"') {
                            value.push('"');
                            chars.next();
                        } else {
                            break &quoted[i + 1..];
                        }
                    }
                    Some((_, c)) => value.push(c),
                }
            };
            fields.push(Cow::Owned(value));
            match after.chars().next() {
                None => return Ok(fields),
                Some(c) if c == delimiter => rest = &after[c.len_utf8()..],
                Some(c) => {
                    return Err(format!(
                        "field {field_number}: unexpected {c:?} after a closing quote"
                    ));
                }
            }
        } else {
            match rest.find(delimiter) {
                None => {
                    fields.push(Cow::Borrowed(rest));
                    return Ok(fields);
                }
                Some(end) => {
                    fields.push(Cow::Borrowed(&rest[..end]));
                    rest = &rest[end + delimiter.len_utf8()..];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn write(dir: &tempfile::TempDir, name: &str, contents: &[u8]) -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    fn read(contents: &[u8]) -> Result<Vec<Rating>> {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "ratings.csv", contents);
        read_interactions(&path, &ColumnNames::default())
    }

    fn r(user: &str, title: &str, rating: f32) -> Rating {
        Rating {
            user_id: user.into(),
            movie_title: title.into(),
            user_rating: rating,
            movie_id: None,
            timestamp: None,
        }
    }

    fn fields(line: &str, delimiter: char) -> Vec<String> {
        split_fields(line, delimiter)
            .unwrap()
            .into_iter()
            .map(Cow::into_owned)
            .collect()
    }

    #[test]
    fn field_splitter_handles_quotes_and_escapes() {
        assert_eq!(fields("a,b,,c", ','), ["a", "b", "", "c"]);
        assert_eq!(fields("", ','), [""]);
        assert_eq!(fields("a,", ','), ["a", ""]);
        assert_eq!(
            fields("\"Game, The (1997)\",5", ','),
            ["Game, The (1997)", "5"]
        );
        assert_eq!(fields("\"say \"\"hi\"\"\",x", ','), ["say \"hi\"", "x"]);
        assert_eq!(fields("\"\",\"\"", ','), ["", ""]);
        assert_eq!(fields("a\"b,c", ','), ["a\"b", "c"]);
        assert_eq!(fields("é\t\"x\ty\"", '\t'), ["é", "x\ty"]);
        assert!(
            split_fields("\"abc", ',')
                .unwrap_err()
                .contains("field 1: unterminated")
        );
        assert!(
            split_fields("a,\"b\"c", ',')
                .unwrap_err()
                .contains("field 2: unexpected")
        );
    }

    #[test]
    fn reads_tsv_by_header_name_ignoring_other_columns() {
        let got = read(b"timestamp\tuser_rating\tuser_id\tmovie_title\n1\t4.0\t10\tHeat (1995)\n2\t3\t2\tAlien\n")
            .unwrap();
        assert_eq!(got, [r("10", "Heat (1995)", 4.0), r("2", "Alien", 3.0)]);
    }

    #[test]
    fn reads_csv_with_quoted_titles_bom_crlf_and_blank_lines() {
        let got = read(
            "\u{feff}user_id,movie_title,user_rating\r\n1,\"Game, The (1997)\",2.5\r\n\r\n7,Misérables,5\r\n"
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(
            got,
            [r("1", "Game, The (1997)", 2.5), r("7", "Misérables", 5.0)]
        );
    }

    #[test]
    fn column_names_are_configurable() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "r.csv", b"u,i,score\n1,a,1\n");
        let columns = ColumnNames {
            user_id: "u".into(),
            movie_title: "i".into(),
            user_rating: "score".into(),
        };
        assert_eq!(
            read_interactions(&path, &columns).unwrap(),
            [r("1", "a", 1.0)]
        );
    }

    #[test]
    fn missing_column_names_the_column_and_file() {
        let e = read(b"user_id,title,user_rating\n1,a,1\n").unwrap_err();
        assert!(matches!(&e, DataError::MissingColumn { column, .. } if column == "movie_title"));
        let s = e.to_string();
        assert!(
            s.contains("ratings.csv") && s.contains("\"movie_title\""),
            "{s}"
        );
        assert!(s.contains("user_id, title, user_rating"), "{s}");
    }

    #[test]
    fn wrong_column_count_names_the_line() {
        let e = read(b"user_id,movie_title,user_rating\n1,a,1\n2,b\n").unwrap_err();
        assert!(matches!(e, DataError::Parse { line: 3, .. }), "{e:?}");
        let s = e.to_string();
        assert!(
            s.contains("ratings.csv:3:") && s.contains("expected 3 fields"),
            "{s}"
        );
    }

    #[test]
    fn non_numeric_rating_names_line_and_column() {
        let e = read(b"user_id,movie_title,user_rating\n1,a,good\n").unwrap_err();
        let s = e.to_string();
        assert!(matches!(e, DataError::Parse { line: 2, .. }), "{e:?}");
        assert!(
            s.contains("column \"user_rating\"") && s.contains("\"good\" is not a number"),
            "{s}"
        );
    }

    #[test]
    fn nan_and_infinite_ratings_are_rejected() {
        for bad in ["NaN", "nan", "inf", "-inf", "infinity"] {
            let csv = format!("user_id,movie_title,user_rating\n1,a,1\n1,b,{bad}\n");
            let e = read(csv.as_bytes()).unwrap_err();
            assert!(
                matches!(e, DataError::Parse { line: 3, .. }),
                "{bad}: {e:?}"
            );
            assert!(e.to_string().contains("is not finite"), "{e}");
        }
    }

    #[test]
    fn unterminated_quote_is_a_parse_error() {
        let e = read(b"user_id,movie_title,user_rating\n1,\"a,1\n").unwrap_err();
        assert!(
            e.to_string()
                .contains("ratings.csv:2: field 2: unterminated"),
            "{e}"
        );
    }

    #[test]
    fn invalid_utf8_names_the_line() {
        let e = read(b"user_id,movie_title,user_rating\n1,a,1\n2,Mis\xe9rables,4\n").unwrap_err();
        assert!(
            matches!(
                e,
                DataError::InvalidUtf8 {
                    line: 3,
                    column: 6,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.to_string().contains("ratings.csv:3:"), "{e}");
    }

    #[test]
    fn empty_file_and_header_only_file_are_errors() {
        for contents in [&b""[..], b"\n\n", b"\xEF\xBB\xBF"] {
            let e = read(contents).unwrap_err();
            assert!(matches!(e, DataError::Empty { .. }), "{e:?}");
            assert!(e.to_string().contains("no header row"), "{e}");
        }
        let e = read(b"user_id,movie_title,user_rating\n").unwrap_err();
        assert!(e.to_string().contains("no data rows"), "{e}");
    }

    #[test]
    fn missing_file_is_an_io_error_with_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope.tsv");
        let e = read_interactions(&path, &ColumnNames::default()).unwrap_err();
        assert!(
            matches!(&e, DataError::Io { path: p, .. } if *p == path),
            "{e:?}"
        );
        assert!(e.to_string().contains("nope.tsv"), "{e}");
    }

    /// The peers' exported TFRS split, when `RECSYS_DATA_DIR` points at the shared data.
    #[test]
    fn reads_the_peers_split_when_available() {
        let Some(data) = crate::testdata::data_dir() else {
            return;
        };
        let split = Path::new(&data).join("../peers/split");
        let train = read_interactions(&split.join("train.tsv"), &ColumnNames::default()).unwrap();
        let test = read_interactions(&split.join("test.tsv"), &ColumnNames::default()).unwrap();
        assert_eq!((train.len(), test.len()), (80_000, 20_000));
        assert!(
            train
                .iter()
                .any(|r| r.movie_title == "Misérables, Les (1995)")
        );
        let titles: std::collections::HashSet<&str> = train
            .iter()
            .chain(&test)
            .map(|r| r.movie_title.as_str())
            .collect();
        assert_eq!(titles.len(), 1664);
    }
}
