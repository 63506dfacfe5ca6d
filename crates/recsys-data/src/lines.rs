//! How a file becomes numbered lines, so every parser reports `path:line` the same way.
//!
//! Files are read whole (the largest, MovieLens `u.data`, is 2 MB), split on `\n` with an
//! optional `\r` removed, and blank lines are skipped. Decoding is per file: UTF-8 for
//! interaction files (a leading byte-order mark is dropped), latin-1 for MovieLens `u.item`.

use std::path::Path;

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
