//! Locating the shared MovieLens copy for tests, once for the whole workspace.
//!
//! Every crate's tests look for the same data (`$RECSYS_DATA_DIR`, else `../shared/data` beside
//! the workspace) and skip, or fail under `RECSYS_REQUIRE_DATA`, by the same rule. The locator
//! lives here, in the lowest crate, so that no crate reaches into another's `tests/` folder: it
//! is compiled for this crate's own tests, and for other crates' tests through the `testdata`
//! feature, which they enable in `[dev-dependencies]` only. It is not part of the library's API.

use std::path::{Path, PathBuf};

/// The workspace root. Every crate lives at `crates/<name>/`, so this crate's manifest folder
/// two levels up is the root whichever crate's tests call it (tests run with their own package
/// folder as the working directory, so a relative path would differ between crates).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The folder holding `ml-100k/`: `$RECSYS_DATA_DIR` (relative paths are taken from the
/// workspace root, where the README's command runs), else `../shared/data` beside the
/// workspace, made absolute. `None`, with a note on stderr, when neither exists — unless
/// `RECSYS_REQUIRE_DATA` is set (CI sets it), in which case a missing copy fails the test.
pub fn data_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("RECSYS_DATA_DIR") {
        Some(d) => workspace_root().join(d),
        None => workspace_root().join("../shared/data"),
    };
    if dir.join("ml-100k/u.data").is_file() {
        Some(dir.canonicalize().unwrap_or(dir))
    } else {
        missing(&format!(
            "no MovieLens at {}; set RECSYS_DATA_DIR to a folder holding ml-100k/",
            dir.display()
        ))
    }
}

/// `../peers`, next to the data folder (`../shared/peers` by default), holding the parity
/// fixture. `None`, or a failed test under `RECSYS_REQUIRE_DATA`, as for [`data_dir`].
pub fn peers_dir() -> Option<PathBuf> {
    let peers = data_dir()?.join("../peers");
    if peers.join("parity/trace.json").is_file() {
        Some(peers.canonicalize().unwrap_or(peers))
    } else {
        missing(&format!("no parity fixture at {}", peers.display()))
    }
}

/// `None` with a note on stderr, or a panic when `RECSYS_REQUIRE_DATA` is set.
fn missing<T>(why: &str) -> Option<T> {
    if std::env::var_os("RECSYS_REQUIRE_DATA").is_some() {
        panic!("{why} (RECSYS_REQUIRE_DATA is set)");
    }
    eprintln!("SKIPPED: {why}");
    None
}
