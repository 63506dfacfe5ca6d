//! How a file becomes numbered lines, so every parser reports `path:line` the same way.
//!
//! MovieLens files are read whole (the largest, `u.data`, is 2 MB); interaction files, which
//! may hold 25 million rows, are read line by line through a [`LineReader`] that keeps one line
//! in memory. Either way lines split on `\n` with an optional `\r` removed, and blank lines are
//! skipped. Decoding is per file: UTF-8 for interaction files (a leading byte-order mark is
//! dropped), latin-1 for MovieLens `u.item`.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use crate::error::{DataError, Result};

/// Reads a whole file, turning failures into [`DataError::Io`] naming `path`.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| DataError::io(path, e))
}

/// Drops a leading UTF-8 byte-order mark.
pub(crate) fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// The non-blank lines of `bytes` with their 1-based line numbers, without line terminators.
pub(crate) fn numbered_lines(bytes: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    bytes
        .split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, line)| (i + 1, line.strip_suffix(b"\r").unwrap_or(line)))
        .filter(|(_, line)| !line.is_empty())
}

/// The non-blank lines of a file, one at a time, numbered from 1, without line terminators and
/// without a leading byte-order mark: [`numbered_lines`] for files too big to hold.
#[derive(Debug)]
pub(crate) struct LineReader {
    path: PathBuf,
    reader: BufReader<File>,
    buf: Vec<u8>,
    line: usize,
}

impl LineReader {
    /// Opens `path`, turning failures into [`DataError::Io`].
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| DataError::io(path, e))?;
        Ok(LineReader {
            path: path.to_owned(),
            reader: BufReader::with_capacity(1 << 20, file),
            buf: Vec::new(),
            line: 0,
        })
    }

    /// The next non-blank line and its number, or `None` at the end of the file.
    pub(crate) fn next_line(&mut self) -> Result<Option<(usize, &[u8])>> {
        loop {
            self.buf.clear();
            let n = self
                .reader
                .read_until(b'\n', &mut self.buf)
                .map_err(|e| DataError::io(&self.path, e))?;
            if n == 0 {
                return Ok(None);
            }
            self.line += 1;
            let mut end = n - usize::from(self.buf[n - 1] == b'\n');
            end -= usize::from(end > 0 && self.buf[end - 1] == b'\r');
            let start = if self.line == 1 {
                end - strip_bom(&self.buf[..end]).len()
            } else {
                0
            };
            if start < end {
                return Ok(Some((self.line, &self.buf[start..end])));
            }
        }
    }
}

/// Decodes one line as UTF-8, or reports [`DataError::InvalidUtf8`] at `path:line`.
pub(crate) fn utf8_line<'a>(path: &Path, line: usize, bytes: &'a [u8]) -> Result<&'a str> {
    std::str::from_utf8(bytes).map_err(|e| DataError::InvalidUtf8 {
        path: path.to_owned(),
        line,
        column: e.valid_up_to() + 1,
    })
}

/// Decodes latin-1 (ISO 8859-1): each byte is the code point of the same value.
pub(crate) fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_numbered_from_one_and_blank_lines_skipped() {
        let got: Vec<_> = numbered_lines(b"a\r\n\nb\nc").collect();
        assert_eq!(got, vec![(1, &b"a"[..]), (3, &b"b"[..]), (4, &b"c"[..])]);
        assert_eq!(numbered_lines(b"").count(), 0);
        assert_eq!(numbered_lines(b"x\n").count(), 1);
    }

    #[test]
    fn line_reader_numbers_lines_like_numbered_lines_and_drops_the_bom() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.tsv");
        let bytes = b"\xEF\xBB\xBFa\r\n\nb\nc";
        std::fs::write(&path, bytes).unwrap();
        let mut r = LineReader::open(&path).unwrap();
        let mut got = Vec::new();
        while let Some((n, line)) = r.next_line().unwrap() {
            got.push((n, line.to_vec()));
        }
        let want: Vec<_> = numbered_lines(strip_bom(bytes))
            .map(|(n, l)| (n, l.to_vec()))
            .collect();
        assert_eq!(got, want);
        let e = LineReader::open(&dir.path().join("missing")).unwrap_err();
        assert!(matches!(e, DataError::Io { .. }), "{e:?}");
    }

    #[test]
    fn latin1_maps_each_byte_to_the_same_code_point() {
        assert_eq!(latin1(b"Mis\xe9rables"), "Misérables");
        assert_eq!(latin1(&[0x00, 0x7f, 0xff]), "\u{0}\u{7f}\u{ff}");
    }

    #[test]
    fn invalid_utf8_reports_line_and_byte() {
        let e = utf8_line(Path::new("f.tsv"), 3, b"ab\xff").unwrap_err();
        assert_eq!(
            e.to_string(),
            "f.tsv:3: invalid UTF-8 at byte 3 of the line (the file must be UTF-8)"
        );
    }

    #[test]
    fn bom_is_stripped_once() {
        assert_eq!(strip_bom(b"\xEF\xBB\xBFx"), b"x");
        assert_eq!(strip_bom(b"x"), b"x");
    }
}
