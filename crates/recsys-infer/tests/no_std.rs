//! recsys-infer builds with no `std` anywhere in its dependency graph: `no_std_check/` is a
//! `#![no_std]` static library with its own panic handler and allocator, which fails to build
//! if `std` (and with it a second panic handler) were linked in.

use std::path::Path;
use std::process::Command;

#[test]
fn builds_into_a_no_std_static_library() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/no_std_check/Cargo.toml");
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
        .join("no-std-check");
    let out = Command::new(env!("CARGO"))
        .args(["build", "--offline", "--quiet", "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target_dir)
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "the no_std build failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lib = target_dir.join("debug/librecsys_infer_no_std_check.a");
    assert!(lib.is_file(), "{} was not produced", lib.display());
}
