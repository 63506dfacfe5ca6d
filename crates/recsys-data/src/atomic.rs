//! Writing files and folders atomically, so that a reader sees the old contents or the new ones
//! and never a half-written mix, even when the writer fails or is killed midway.
//!
//! The new contents go into a temporary sibling of the target (same folder, so the same file
//! system), are synced, and are then renamed over the target; a failure removes the temporary.
//! [`write_file`] does this for one file; [`replace_dir`] swaps a whole folder that the caller
//! has written at [`temp_sibling`] (a saved model: several files that must match each other).
//! Exports and saved models share this one mechanism.
//!
//! ```
//! use recsys_data::atomic;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let root = tempfile::tempdir()?;
//! let path = root.path().join("out/model.onnx");
//! atomic::write_file(&path, b"new bytes")?; // creates `out/` too
//! assert_eq!(std::fs::read(&path)?, b"new bytes");
//!
//! let dir = root.path().join("model");
//! let tmp = atomic::temp_sibling(&dir);
//! std::fs::create_dir(&tmp)?;
//! std::fs::write(tmp.join("manifest.json"), b"{}")?;
//! atomic::replace_dir(&tmp, &dir)?;
//! assert!(dir.join("manifest.json").is_file() && !tmp.exists());
//! # Ok(())
//! # }
//! ```

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{DataError, Result};

/// A fresh path beside `path` to write its new contents at before they replace it:
/// `.{name}.tmp-{pid}-{nanos}-{n}` in `path`'s folder (`.` for a bare file name), hidden, and
/// unique within the process and across processes. Nothing is created; the returned path's
/// [`parent`](Path::parent) is the folder to create first if it may be missing.
pub fn temp_sibling(path: &Path) -> PathBuf {
    sibling(path, "tmp")
}

/// Writes `bytes` to `path` atomically: into a [`temp_sibling`], synced to disk, then renamed
/// over `path`. `path`'s folder is created if missing. On failure `path` is as it was and the
/// temporary is removed.
///
/// # Errors
///
/// [`DataError::Io`] naming the path involved: `path` itself when a directory is there (kind
/// [`io::ErrorKind::IsADirectory`]; it is never replaced) or when the rename fails, the folder
/// when it cannot be created, the temporary when it cannot be written.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    if path.is_dir() {
        return Err(DataError::io(
            path,
            io::Error::from(io::ErrorKind::IsADirectory),
        ));
    }
    let tmp = temp_sibling(path);
    if let Some(parent) = tmp.parent() {
        fs::create_dir_all(parent).map_err(|e| DataError::io(parent, e))?;
    }
    // `create_new`: never write into (or, on failure, remove) a file this call did not create.
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| DataError::io(&tmp, e))?;
    let result = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| DataError::io(&tmp, e))
        .and_then(|()| {
            drop(file);
            fs::rename(&tmp, path).map_err(|e| DataError::io(path, e))
        });
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Puts the folder `tmp_dir` in the place of `dir`: an existing `dir` is renamed aside, `tmp_dir`
/// renamed to `dir`, and the old folder removed. `tmp_dir` should be a [`temp_sibling`] of `dir`
/// (renames do not cross file systems), its contents written and synced by the caller.
///
/// On failure `dir` is as it was (renamed back when it had been moved aside) and `tmp_dir` is
/// removed. The swap is two renames, not one: a reader that looks between them finds no `dir`,
/// never a mix of old and new files.
///
/// # Errors
///
/// [`DataError::Io`] naming `dir`: a non-directory is there (kind
/// [`io::ErrorKind::NotADirectory`]; it is never replaced), or a rename failed. If moving the
/// old folder back fails as well, the error names where the old folder was left instead.
pub fn replace_dir(tmp_dir: &Path, dir: &Path) -> Result<()> {
    let result = swap_dir(tmp_dir, dir);
    if result.is_err() {
        let _ = fs::remove_dir_all(tmp_dir);
    }
    result
}

fn swap_dir(tmp_dir: &Path, dir: &Path) -> Result<()> {
    if !dir.exists() {
        return fs::rename(tmp_dir, dir).map_err(|e| DataError::io(dir, e));
    }
    if !dir.is_dir() {
        return Err(DataError::io(
            dir,
            io::Error::from(io::ErrorKind::NotADirectory),
        ));
    }
    let old = sibling(dir, "old");
    fs::rename(dir, &old).map_err(|e| DataError::io(dir, e))?;
    if let Err(e) = fs::rename(tmp_dir, dir) {
        return Err(match fs::rename(&old, dir) {
            Ok(()) => DataError::io(dir, e),
            Err(back) => DataError::io(
                &old,
                io::Error::new(
                    back.kind(),
                    format!(
                        "the previous contents of {} are here: moving the new folder in failed \
                         ({e}), then moving this one back failed ({back})",
                        dir.display()
                    ),
                ),
            ),
        });
    }
    let _ = fs::remove_dir_all(&old);
    Ok(())
}

/// `.{name}.{tag}-{pid}-{nanos}-{n}` beside `path`.
fn sibling(path: &Path, tag: &str) -> PathBuf {
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let n = COUNT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or("file".into());
    parent.join(format!(".{name}.{tag}-{}-{nanos}-{n}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names in `dir`, sorted.
    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn temp_siblings_are_hidden_unique_and_beside_the_path() {
        let a = temp_sibling(Path::new("/x/y/model"));
        let b = temp_sibling(Path::new("/x/y/model"));
        assert_ne!(a, b);
        assert_eq!(a.parent(), Some(Path::new("/x/y")));
        let name = a.file_name().unwrap().to_string_lossy();
        assert!(name.starts_with(".model.tmp-"), "{name}");
        assert_eq!(
            temp_sibling(Path::new("m.onnx")).parent(),
            Some(Path::new("."))
        );
    }

    #[test]
    fn write_file_creates_the_folder_and_replaces_leaving_no_temporaries() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("sub/m.onnx");
        write_file(&path, b"one").unwrap();
        write_file(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(names(&root.path().join("sub")), ["m.onnx"]);
    }

    #[test]
    fn write_file_refuses_a_directory_naming_it() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("out");
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join("kept"), b"x").unwrap();
        let err = write_file(&dir, b"x").unwrap_err();
        let DataError::Io { path, source } = &err else {
            panic!("{err:?}")
        };
        assert_eq!((path, source.kind()), (&dir, io::ErrorKind::IsADirectory));
        let message = err.to_string();
        assert!(
            message.contains(&*dir.to_string_lossy()) && message.contains("is a directory"),
            "{message}"
        );
        assert_eq!(names(root.path()), ["out"]);
        assert_eq!(names(&dir), ["kept"]);
    }

    #[test]
    fn write_file_failing_leaves_no_temporaries() {
        let root = tempfile::tempdir().unwrap();
        fs::write(root.path().join("file"), b"x").unwrap();
        // The folder cannot be created: a file is in the way.
        assert!(write_file(&root.path().join("file/m.onnx"), b"y").is_err());
        // The temporary is written, then the rename fails: `sub/..` is no directory when
        // checked (`sub` is missing), `sub/` is created for the temporary, and renaming a file
        // onto `sub/..` is refused.
        let err = write_file(&root.path().join("sub/.."), b"y").unwrap_err();
        assert!(matches!(err, DataError::Io { .. }), "{err:?}");
        assert!(names(&root.path().join("sub")).is_empty());
        fs::remove_dir(root.path().join("sub")).unwrap();
        assert_eq!(names(root.path()), ["file"]);
    }

    #[test]
    fn replace_dir_moves_in_replaces_and_leaves_only_the_folder() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("model");
        for contents in ["one", "two"] {
            let tmp = temp_sibling(&dir);
            fs::create_dir(&tmp).unwrap();
            fs::write(tmp.join(contents), contents).unwrap();
            replace_dir(&tmp, &dir).unwrap();
            assert_eq!(names(&dir), [contents]);
            assert_eq!(names(root.path()), ["model"]);
        }
    }

    #[test]
    fn replace_dir_failing_restores_the_old_folder_and_removes_the_new() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("model");
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join("old"), b"old").unwrap();
        // Moving the new folder in fails (it is not there), after the old one was moved aside.
        let missing = temp_sibling(&dir);
        let err = replace_dir(&missing, &dir).unwrap_err();
        assert!(
            matches!(&err, DataError::Io { path, .. } if *path == dir),
            "{err:?}"
        );
        assert_eq!(names(&dir), ["old"]);
        assert_eq!(names(root.path()), ["model"]);
    }

    #[test]
    fn replace_dir_refuses_a_file_and_removes_the_temporary() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("model");
        fs::write(&target, b"not a folder").unwrap();
        let tmp = temp_sibling(&target);
        fs::create_dir(&tmp).unwrap();
        fs::write(tmp.join("new"), b"new").unwrap();
        let err = replace_dir(&tmp, &target).unwrap_err();
        let DataError::Io { path, source } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(
            (path, source.kind()),
            (&target, io::ErrorKind::NotADirectory)
        );
        assert_eq!(fs::read(&target).unwrap(), b"not a folder");
        assert_eq!(names(root.path()), ["model"]);
    }
}
