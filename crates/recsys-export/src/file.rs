//! Writing exported files atomically, so a failed export never leaves a half-written file where
//! the reader expects a whole one: recsys-data's [`atomic::write_file`], with export's wording
//! for an output path that is a directory.

use std::io::ErrorKind;
use std::path::Path;

use recsys::data::{DataError, atomic};

use crate::{Error, Result};

/// Writes `bytes` to `path` atomically. A directory at `path` is an error, not replaced.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    atomic::write_file(path, bytes).map_err(|e| match e {
        DataError::Io { path, source } if source.kind() == ErrorKind::IsADirectory => {
            Error::InvalidInput(format!(
                "{}: is a directory; give a file name to export to",
                path.display()
            ))
        }
        other => other.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn writes_replaces_and_refuses_a_directory_leaving_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/m.onnx");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let err = write_atomic(dir.path(), b"x").unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
        let err = err.to_string();
        assert!(err.contains("is a directory"), "{err}");
        let names: Vec<_> = fs::read_dir(dir.path().join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec!["m.onnx"]);
    }

    #[test]
    fn write_failures_are_io_errors_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("file"), b"x").unwrap();
        let err = write_atomic(&dir.path().join("file/m.onnx"), b"y").unwrap_err();
        let Error::Io { path, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(path, &dir.path().join("file"));
    }
}
