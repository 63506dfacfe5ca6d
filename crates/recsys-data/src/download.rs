//! Where the MovieLens files are: a folder the user names, the cache, or a verified download.
//!
//! The tutorial gets MovieLens through TensorFlow Datasets, which downloads and caches it. recsys
//! does the same without TensorFlow: it looks in `DIR/ml-100k/` when the user names `DIR`
//! (`--data-dir DIR` or `RECSYS_DATA_DIR=DIR`), else in the user cache
//! (`$XDG_CACHE_HOME/recsys/ml-100k`, or `$HOME/.cache/recsys/ml-100k`), downloading GroupLens'
//! `ml-100k.zip` there when it is missing or fails verification.
//!
//! A download is trusted only if the files the readers use match SHA-256 digests pinned in this
//! source ([`PINNED_FILES`]). It is unpacked into a temporary folder inside the cache folder and
//! renamed into place only once complete and verified, so an interrupted or rejected download
//! never leaves a half-written `ml-100k/` behind. Progress goes to a [`DownloadObserver`]; this
//! crate never prints.

use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::error::{DataError, Result};

/// Where [`ml100k_dir`] downloads MovieLens 100k from.
pub const ML100K_URL: &str = "https://files.grouplens.org/datasets/movielens/ml-100k.zip";

/// The environment variable naming the folder that holds `ml-100k/`.
pub const DATA_DIR_ENV: &str = "RECSYS_DATA_DIR";

/// The files of `ml-100k/` that a download must contain, with their SHA-256 (lowercase hex),
/// computed from GroupLens' original archive. Other files of the archive (`u1.base`, ...) are
/// unpacked as they are, unverified.
pub const PINNED_FILES: [(&str, &str); 5] = [
    (
        "u.data",
        "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490",
    ),
    (
        "u.item",
        "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701",
    ),
    (
        "u.user",
        "f120e114da2e8cf314fd28f99417c94ae9ddf1cb6db8ce0e4b5995d40e90e62c",
    ),
    (
        "u.genre",
        "9757e0d3e6b298159a80dd48eaf938114690e911e39af97a76949ef1663610bb",
    ),
    (
        "u.occupation",
        "94176a530a47df7fe1208410894caf4805dd6b902b1148fb65fb7592b2cc79b2",
    ),
];

/// The files [`MovieLens100k::load`](crate::MovieLens100k::load) needs in a user-named folder.
const REQUIRED_FILES: [&str; 3] = ["u.data", "u.item", "u.user"];

/// The folder name inside the data or cache folder, and the archive's top-level folder.
const ML100K: &str = "ml-100k";

/// The most a download may weigh (the real archive is about 5 MB).
const MAX_DOWNLOAD_BYTES: u64 = 64 << 20;

/// The most the archive may unpack to (the real archive unpacks to about 16 MB).
const MAX_UNPACKED_BYTES: u64 = 256 << 20;

/// Receives the progress of a download (the CLI draws a progress bar with it).
pub trait DownloadObserver {
    /// The transfer begins; `total` is the size in bytes when the server announces it.
    fn start(&mut self, total: Option<u64>);
    /// `bytes` more bytes arrived.
    fn advance(&mut self, bytes: u64);
    /// The transfer ended, successfully or not (called once after each `start`).
    fn finish(&mut self);
}

/// A [`DownloadObserver`] that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl DownloadObserver for NoProgress {
    fn start(&mut self, _total: Option<u64>) {}
    fn advance(&mut self, _bytes: u64) {}
    fn finish(&mut self) {}
}

/// The `ml-100k` folder to read MovieLens 100k from.
///
/// `data_dir`, or else the folder named by the `RECSYS_DATA_DIR` environment variable, must hold
/// `ml-100k/` with `u.data`, `u.item` and `u.user`. With neither, the user cache is used,
/// downloading [`ML100K_URL`] into it if needed; see [`ml100k_dir_with`], which this calls with
/// the default URL and cache folder and no progress reporting.
///
/// # Errors
///
/// See [`ml100k_dir_with`].
pub fn ml100k_dir(data_dir: Option<&Path>) -> Result<PathBuf> {
    let from_env = data_dir_from_env();
    let data_dir = data_dir.or(from_env.as_deref());
    ml100k_dir_with(data_dir, ML100K_URL, None, &mut NoProgress)
}

/// The folder named by `RECSYS_DATA_DIR`, if it is set and not empty.
pub fn data_dir_from_env() -> Option<PathBuf> {
    std::env::var_os(DATA_DIR_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The default cache folder: `$XDG_CACHE_HOME/recsys` (when set to an absolute path), else
/// `$HOME/.cache/recsys`.
///
/// # Errors
///
/// [`DataError::NoCacheDir`] when neither variable is usable.
pub fn default_cache_dir() -> Result<PathBuf> {
    let absolute = |name: &str| {
        std::env::var_os(name)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    if let Some(xdg) = absolute("XDG_CACHE_HOME") {
        return Ok(xdg.join("recsys"));
    }
    absolute("HOME")
        .map(|home| home.join(".cache").join("recsys"))
        .ok_or(DataError::NoCacheDir)
}

/// The `ml-100k` folder to read MovieLens 100k from, in full: the environment is not read.
///
/// - With `data_dir`, returns `data_dir/ml-100k` if it holds `u.data`, `u.item` and `u.user`
///   (not checksummed, so edited copies work).
/// - Otherwise returns `cache_dir/ml-100k` (`cache_dir` defaults to [`default_cache_dir`]) if
///   its files match [`PINNED_FILES`]. If not, downloads `url`, reporting progress to
///   `observer`, checks every pinned file of the archive's `ml-100k/` folder, unpacks it into a
///   temporary folder inside `cache_dir`, and renames that into `cache_dir/ml-100k` (replacing a
///   copy that failed verification).
///
/// # Errors
///
/// - [`DataError::DatasetMissing`] if `data_dir` lacks a required file, listing them;
/// - [`DataError::Download`] if the download fails (offline, HTTP error, too large), saying how to
///   point at a local copy instead;
/// - [`DataError::Archive`] if the download is not a zip or lacks a pinned file;
/// - [`DataError::ChecksumMismatch`] naming the first pinned file whose digest differs;
/// - [`DataError::Io`] if the cache folder cannot be written;
/// - [`DataError::NoCacheDir`] if no cache folder is given and none can be chosen.
///
/// After an error, nothing new is left in the cache folder.
pub fn ml100k_dir_with(
    data_dir: Option<&Path>,
    url: &str,
    cache_dir: Option<&Path>,
    observer: &mut dyn DownloadObserver,
) -> Result<PathBuf> {
    if let Some(dir) = data_dir {
        return check_local_copy(dir);
    }
    let cache_dir = match cache_dir {
        Some(dir) => dir.to_owned(),
        None => default_cache_dir()?,
    };
    let target = cache_dir.join(ML100K);
    if verify_folder(&target) {
        return Ok(target);
    }
    std::fs::create_dir_all(&cache_dir).map_err(|e| DataError::io(&cache_dir, e))?;
    let archive = fetch(url, observer)?;
    let staging = tempfile::Builder::new()
        .prefix(".ml-100k-download-")
        .tempdir_in(&cache_dir)
        .map_err(|e| DataError::io(&cache_dir, e))?;
    let unpacked = staging.path().join(ML100K);
    unpack_verified(&archive, url, &unpacked)?;
    install(&unpacked, &target, staging.path())?;
    Ok(target)
}

/// Checks that `dir/ml-100k` holds the files the readers need.
fn check_local_copy(dir: &Path) -> Result<PathBuf> {
    let folder = dir.join(ML100K);
    let missing: Vec<String> = if folder.is_dir() {
        REQUIRED_FILES
            .iter()
            .filter(|name| !folder.join(name).is_file())
            .map(|name| format!("{ML100K}/{name}"))
            .collect()
    } else {
        vec![format!("{ML100K}/")]
    };
    if missing.is_empty() {
        return Ok(folder);
    }
    let hint = if dir.join("u.data").is_file() {
        format!(
            " (this folder looks like ml-100k itself: name its parent, {}, instead)",
            dir.parent().unwrap_or(Path::new("..")).display()
        )
    } else {
        String::new()
    };
    Err(DataError::DatasetMissing {
        dir: dir.to_owned(),
        missing,
        hint,
    })
}

/// Whether `folder` holds every pinned file with its pinned digest.
fn verify_folder(folder: &Path) -> bool {
    PINNED_FILES.iter().all(|(name, digest)| {
        std::fs::read(folder.join(name)).is_ok_and(|bytes| hex(&Sha256::digest(&bytes)) == *digest)
    })
}

/// Downloads `url` into memory, reporting progress.
fn fetch(url: &str, observer: &mut dyn DownloadObserver) -> Result<Vec<u8>> {
    let failed = |reason: String| DataError::Download {
        url: url.to_owned(),
        reason,
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_per_read(Some(Duration::from_secs(60)))
        .build()
        .into();
    let mut response = agent.get(url).call().map_err(|e| failed(e.to_string()))?;
    let total = response.body().content_length();
    if total.is_some_and(|n| n > MAX_DOWNLOAD_BYTES) {
        return Err(failed(format!(
            "the server announces {} bytes, more than the {MAX_DOWNLOAD_BYTES} allowed",
            total.unwrap_or_default()
        )));
    }
    observer.start(total);
    let result = read_capped(response.body_mut().as_reader(), observer).map_err(failed);
    observer.finish();
    result
}

/// Reads `reader` to the end, at most [`MAX_DOWNLOAD_BYTES`], reporting each chunk.
fn read_capped(
    mut reader: impl Read,
    observer: &mut dyn DownloadObserver,
) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    let mut buf = vec![0; 64 << 10];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(bytes),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.to_string()),
        };
        if (bytes.len() + n) as u64 > MAX_DOWNLOAD_BYTES {
            return Err(format!("the body exceeds {MAX_DOWNLOAD_BYTES} bytes"));
        }
        bytes.extend_from_slice(&buf[..n]);
        observer.advance(n as u64);
    }
}

/// Unpacks the archive's `ml-100k/` files into `dest` (a new folder) and checks the pinned ones.
fn unpack_verified(archive: &[u8], url: &str, dest: &Path) -> Result<()> {
    let unusable = |reason: String| DataError::Archive {
        url: url.to_owned(),
        reason,
    };
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(archive))
        .map_err(|e| unusable(format!("not a readable zip archive ({e})")))?;
    std::fs::create_dir(dest).map_err(|e| DataError::io(dest, e))?;
    let mut digests: Vec<(String, String)> = Vec::new();
    let mut unpacked_total = 0u64;
    for index in 0..zip.len() {
        let mut entry = zip
            .by_index(index)
            .map_err(|e| unusable(format!("entry {index} cannot be read ({e})")))?;
        if !entry.is_file() {
            continue;
        }
        // Only plain files directly inside the top-level ml-100k/ folder are kept.
        let Some(name) = entry.enclosed_name().and_then(|p| file_in_ml100k(&p)) else {
            continue;
        };
        let path = dest.join(&name);
        let mut file = std::fs::File::create_new(&path).map_err(|e| DataError::io(&path, e))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0; 64 << 10];
        loop {
            let n = match entry.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(unusable(format!(
                        "{ML100K}/{name} cannot be unpacked ({e})"
                    )));
                }
            };
            unpacked_total += n as u64;
            if unpacked_total > MAX_UNPACKED_BYTES {
                return Err(unusable(format!(
                    "it unpacks to more than {MAX_UNPACKED_BYTES} bytes"
                )));
            }
            hasher.update(&buf[..n]);
            file.write_all(&buf[..n])
                .map_err(|e| DataError::io(&path, e))?;
        }
        digests.push((name, hex(&hasher.finalize())));
    }
    let digest_of = |name: &str| digests.iter().find(|(n, _)| n == name).map(|(_, d)| d);
    if let Some((name, _)) = PINNED_FILES
        .iter()
        .find(|(name, _)| digest_of(name).is_none())
    {
        return Err(unusable(format!("it has no {ML100K}/{name}")));
    }
    for (name, expected) in PINNED_FILES {
        let actual = digest_of(name).cloned().unwrap_or_default();
        if actual != expected {
            return Err(DataError::ChecksumMismatch {
                file: format!("{ML100K}/{name}"),
                url: url.to_owned(),
                expected: expected.to_owned(),
                actual,
            });
        }
    }
    Ok(())
}

/// `Some("u.data")` for the archive path `ml-100k/u.data`; `None` for anything else.
fn file_in_ml100k(path: &Path) -> Option<String> {
    let mut components = path.components();
    match (components.next(), components.next(), components.next()) {
        (Some(Component::Normal(top)), Some(Component::Normal(name)), None) if top == ML100K => {
            name.to_str().map(str::to_owned)
        }
        _ => None,
    }
}

/// Renames the verified `unpacked` folder to `target`, moving a stale `target` into `staging`
/// (which is deleted afterwards) first. If another process installed a good copy meanwhile,
/// that copy is kept.
fn install(unpacked: &Path, target: &Path, staging: &Path) -> Result<()> {
    if target.exists() {
        let stale = staging.join("stale");
        std::fs::rename(target, &stale).map_err(|e| DataError::io(target, e))?;
    }
    match std::fs::rename(unpacked, target) {
        Ok(()) => Ok(()),
        Err(_) if verify_folder(target) => Ok(()),
        Err(e) => Err(DataError::io(target, e)),
    }
}

/// Lowercase hexadecimal.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests;
