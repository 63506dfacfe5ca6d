//! Tests of locating and downloading MovieLens 100k, against a one-shot HTTP server on
//! 127.0.0.1 (there is no network in CI), kept beside `download.rs` to keep that file short.

use super::*;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;

/// Serves one HTTP response on 127.0.0.1 from a thread; returns the URL.
fn serve_once(status: &'static str, body: Vec<u8>) -> (String, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/ml-100k.zip", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap() > 0 && line != "\r\n" {
            line.clear();
        }
        let mut stream = reader.into_inner();
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/zip\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        // The client may hang up early (e.g. after an error status): ignore write errors.
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(&body);
    });
    (url, handle)
}

/// A zip of `ml-100k/<name>` entries (plus a directory entry and a stray file).
fn zip_of(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    w.add_directory("ml-100k/", options).unwrap();
    for (name, bytes) in files {
        w.start_file(format!("ml-100k/{name}"), options).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.start_file("__MACOSX/._u.data", options).unwrap();
    w.write_all(b"junk").unwrap();
    w.finish().unwrap().into_inner()
}

#[derive(Default)]
struct Recorder {
    started: Option<Option<u64>>,
    advanced: u64,
    finished: usize,
}

impl DownloadObserver for Recorder {
    fn start(&mut self, total: Option<u64>) {
        self.started = Some(total);
    }
    fn advance(&mut self, bytes: u64) {
        self.advanced += bytes;
    }
    fn finish(&mut self) {
        self.finished += 1;
    }
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_named_folder_with_the_files_is_returned() {
    let data = tempfile::tempdir().unwrap();
    let folder = data.path().join("ml-100k");
    std::fs::create_dir(&folder).unwrap();
    for name in REQUIRED_FILES {
        std::fs::write(folder.join(name), "x").unwrap();
    }
    let got = ml100k_dir_with(
        Some(data.path()),
        "http://127.0.0.1:9/",
        None,
        &mut NoProgress,
    );
    assert_eq!(got.unwrap(), folder);
    assert_eq!(ml100k_dir(Some(data.path())).unwrap(), folder);
}

#[test]
fn a_named_folder_missing_files_says_which() {
    let data = tempfile::tempdir().unwrap();
    let e = ml100k_dir(Some(data.path())).unwrap_err();
    assert!(matches!(&e, DataError::DatasetMissing { missing, .. } if missing == &["ml-100k/"]));
    let s = e.to_string();
    assert!(
        s.contains("missing ml-100k/") && s.contains("RECSYS_DATA_DIR=DIR"),
        "{s}"
    );

    let folder = data.path().join("ml-100k");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("u.item"), "x").unwrap();
    let s = ml100k_dir(Some(data.path())).unwrap_err().to_string();
    assert!(s.contains("missing ml-100k/u.data, ml-100k/u.user."), "{s}");

    // Naming ml-100k itself gets a hint to name its parent.
    std::fs::write(folder.join("u.data"), "x").unwrap();
    let s = ml100k_dir(Some(&folder)).unwrap_err().to_string();
    assert!(s.contains("looks like ml-100k itself"), "{s}");
}

#[test]
fn a_tampered_download_is_rejected_and_nothing_is_kept() {
    let files: Vec<(&str, Vec<u8>)> = PINNED_FILES
        .iter()
        .map(|(name, _)| (*name, format!("fake {name}\n").into_bytes()))
        .collect();
    let (url, server) = serve_once("200 OK", zip_of(&files));
    let cache = tempfile::tempdir().unwrap();
    let mut progress = Recorder::default();
    let e = ml100k_dir_with(None, &url, Some(cache.path()), &mut progress).unwrap_err();
    server.join().unwrap();
    assert!(
        matches!(&e, DataError::ChecksumMismatch { file, .. } if file == "ml-100k/u.data"),
        "{e:?}"
    );
    let s = e.to_string();
    assert!(
        s.contains("ml-100k/u.data") && s.contains(PINNED_FILES[0].1),
        "{s}"
    );
    assert!(
        entries(cache.path()).is_empty(),
        "{:?}",
        entries(cache.path())
    );
    assert_eq!(progress.finished, 1);
    assert_eq!(progress.started, Some(Some(progress.advanced)));
}

#[test]
fn an_archive_missing_a_pinned_file_is_rejected() {
    let (url, server) = serve_once("200 OK", zip_of(&[("u.data", b"1".to_vec())]));
    let cache = tempfile::tempdir().unwrap();
    let e = ml100k_dir_with(None, &url, Some(cache.path()), &mut NoProgress).unwrap_err();
    server.join().unwrap();
    assert!(matches!(e, DataError::Archive { .. }), "{e:?}");
    assert!(e.to_string().contains("no ml-100k/u.item"), "{e}");
    assert!(entries(cache.path()).is_empty());
}

#[test]
fn a_body_that_is_not_a_zip_is_rejected() {
    let (url, server) = serve_once("200 OK", b"<html>moved</html>".to_vec());
    let cache = tempfile::tempdir().unwrap();
    let e = ml100k_dir_with(None, &url, Some(cache.path()), &mut NoProgress).unwrap_err();
    server.join().unwrap();
    assert!(e.to_string().contains("not a readable zip archive"), "{e}");
    assert!(entries(cache.path()).is_empty());
}

#[test]
fn an_http_error_says_the_download_failed_and_how_to_use_a_local_copy() {
    let (url, server) = serve_once("404 Not Found", b"no".to_vec());
    let cache = tempfile::tempdir().unwrap();
    let e = ml100k_dir_with(None, &url, Some(cache.path()), &mut NoProgress).unwrap_err();
    server.join().unwrap();
    assert!(matches!(e, DataError::Download { .. }), "{e:?}");
    let s = e.to_string();
    assert!(
        s.contains(&format!("downloading {url} failed")) && s.contains("404"),
        "{s}"
    );
    assert!(
        s.contains("--data-dir DIR") && s.contains("RECSYS_DATA_DIR=DIR"),
        "{s}"
    );
    assert!(entries(cache.path()).is_empty());
}

#[test]
fn an_unreachable_server_is_a_download_error() {
    // Bind then drop, so that the port refuses connections.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/ml-100k.zip");
    let cache = tempfile::tempdir().unwrap();
    let e = ml100k_dir_with(None, &url, Some(cache.path()), &mut NoProgress).unwrap_err();
    assert!(matches!(e, DataError::Download { .. }), "{e:?}");
    assert!(entries(cache.path()).is_empty());
}

#[test]
fn archive_paths_outside_ml100k_are_ignored() {
    assert_eq!(
        file_in_ml100k(Path::new("ml-100k/u.data")).as_deref(),
        Some("u.data")
    );
    assert_eq!(file_in_ml100k(Path::new("ml-100k/sub/u.data")), None);
    assert_eq!(file_in_ml100k(Path::new("other/u.data")), None);
    assert_eq!(file_in_ml100k(Path::new("u.data")), None);
}

#[test]
fn hex_is_lowercase_and_padded() {
    assert_eq!(hex(&[0x00, 0x0f, 0xab]), "000fab");
}

/// Downloads a zip of the original files from a local server, installs it in the cache, and
/// then finds it there without downloading; needs the originals under `RECSYS_DATA_DIR`.
#[test]
fn a_verified_download_is_installed_and_then_reused() {
    let Some(data) = crate::testdata::data_dir() else {
        return;
    };
    let originals = Path::new(&data).join("ml-100k");
    let mut files: Vec<(&str, Vec<u8>)> = PINNED_FILES
        .iter()
        .map(|(name, _)| (*name, std::fs::read(originals.join(name)).unwrap()))
        .collect();
    files.push(("u1.base", b"unpinned\n".to_vec()));
    assert_eq!(ml100k_dir(Some(Path::new(&data))).unwrap(), originals);
    let archive = zip_of(&files);
    let (url, server) = serve_once("200 OK", archive.clone());
    let cache = tempfile::tempdir().unwrap();
    let mut progress = Recorder::default();
    let dir = ml100k_dir_with(None, &url, Some(cache.path()), &mut progress).unwrap();
    server.join().unwrap();
    assert_eq!(dir, cache.path().join("ml-100k"));
    assert_eq!(entries(cache.path()), ["ml-100k"]);
    assert_eq!(progress.started, Some(Some(archive.len() as u64)));
    assert_eq!(progress.advanced, archive.len() as u64);
    assert_eq!(progress.finished, 1);
    assert_eq!(std::fs::read(dir.join("u1.base")).unwrap(), b"unpinned\n");
    assert!(!dir.join("._u.data").exists());
    assert_eq!(
        std::fs::read(dir.join("u.item")).unwrap(),
        std::fs::read(originals.join("u.item")).unwrap()
    );

    // Second call: verified in place, no server needed.
    let again = ml100k_dir_with(
        None,
        "http://127.0.0.1:9/",
        Some(cache.path()),
        &mut NoProgress,
    );
    assert_eq!(again.unwrap(), dir);

    // A corrupted cached copy is replaced by a fresh download.
    std::fs::write(dir.join("u.data"), "corrupt").unwrap();
    let (url, server) = serve_once("200 OK", archive);
    let fixed = ml100k_dir_with(None, &url, Some(cache.path()), &mut NoProgress).unwrap();
    server.join().unwrap();
    assert_eq!(fixed, dir);
    assert!(verify_folder(&dir));
    assert_eq!(entries(cache.path()), ["ml-100k"]);
}
