//! The harness every CLI integration test uses: a temporary directory ([`Dir`]) to run in, the
//! real `recsys` binary behind a small builder ([`TestCommand`]), the [`recsys_test!`] macro
//! that hands a test both, and the locator for the shared MovieLens copy.
//!
//! Modelled on ripgrep's `tests/util.rs` (`Dir`, `TestCommand`) and its `rgtest!` macro.

// Each test binary uses a different part of the harness.
#![allow(dead_code, unused_macros)]

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{self, ExitStatus, Stdio};

pub mod serve;

/// Defines a `#[test]` that gets a fresh [`Dir`] named after the test and a [`TestCommand`]
/// running in it. Attributes such as `#[ignore = "bug: ..."]` go before the name. Test files
/// declare the harness with `#[macro_use] mod util;`.
///
/// ```ignore
/// recsys_test!(rank_needs_a_model, |dir: Dir, mut cmd: TestCommand| {
///     cmd.args(["rank", "--model", "nope", "--user", "1", "--all"]).assert_failure();
/// });
/// ```
macro_rules! recsys_test {
    ($(#[$attr:meta])* $name:ident, $fun:expr) => {
        $(#[$attr])*
        #[test]
        fn $name() {
            let (dir, cmd) = $crate::util::setup(stringify!($name));
            let run: fn($crate::util::Dir, $crate::util::TestCommand) = $fun;
            run(dir, cmd);
        }
    };
}

/// A fresh directory and a command running in it.
pub fn setup(test_name: &str) -> (Dir, TestCommand) {
    let dir = Dir::new(test_name);
    let cmd = dir.command();
    (dir, cmd)
}

/// A temporary directory, removed when dropped, that a test writes its inputs into and runs
/// the binary in. Paths given to its helpers are relative to it.
pub struct Dir {
    tmp: tempfile::TempDir,
}

impl Dir {
    /// A new empty directory whose name starts with `test_name`.
    pub fn new(test_name: &str) -> Dir {
        let tmp = tempfile::Builder::new()
            .prefix(&format!("recsys-test-{test_name}-"))
            .tempdir()
            .expect("create a temporary directory");
        Dir { tmp }
    }

    /// The directory's absolute path.
    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// `name` inside the directory.
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.path().join(name)
    }

    /// Writes a text file (creating parent directories).
    pub fn create(&self, name: impl AsRef<Path>, contents: &str) {
        self.create_bytes(name, contents.as_bytes());
    }

    /// Writes a file of raw bytes (creating parent directories).
    pub fn create_bytes(&self, name: impl AsRef<Path>, contents: &[u8]) {
        let path = self.join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("create parent directories");
        }
        fs::write(&path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// Creates a directory (and its parents).
    pub fn create_dir(&self, name: impl AsRef<Path>) {
        fs::create_dir_all(self.join(name)).expect("create a directory");
    }

    /// Reads a file's bytes.
    pub fn read(&self, name: impl AsRef<Path>) -> Vec<u8> {
        let path = self.join(name);
        fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    }

    /// Reads a text file.
    pub fn read_string(&self, name: impl AsRef<Path>) -> String {
        String::from_utf8(self.read(name)).expect("a UTF-8 file")
    }

    /// Copies a directory tree (one level of files, as in a model directory).
    pub fn copy_dir(&self, from: impl AsRef<Path>, to: impl AsRef<Path>) {
        let (from, to) = (self.join(from), self.join(to));
        fs::create_dir_all(&to).expect("create the copy");
        for entry in fs::read_dir(&from).expect("list the source") {
            let entry = entry.expect("a directory entry");
            fs::copy(entry.path(), to.join(entry.file_name())).expect("copy a file");
        }
    }

    /// Whether `name` exists.
    pub fn exists(&self, name: impl AsRef<Path>) -> bool {
        self.join(name).exists()
    }

    /// Asserts that neither `name` nor a temporary sibling of it (the artifact writer's
    /// `.NAME.tmp-*`) was left behind: a failed command writes no output at all.
    pub fn assert_no_output(&self, name: &str) {
        assert!(
            !self.exists(name),
            "{name} was created by a failed command; it holds {:?}",
            fs::read_dir(self.join(name))
                .map(|d| d.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
                .unwrap_or_default()
        );
        let parent = self.join(name);
        let parent = parent.parent().expect("a parent");
        if let Ok(entries) = fs::read_dir(parent) {
            let prefix = format!(
                ".{}.",
                Path::new(name).file_name().unwrap().to_string_lossy()
            );
            let leftovers: Vec<_> = entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&prefix))
                .collect();
            assert!(
                leftovers.is_empty(),
                "temporary output left behind: {leftovers:?}"
            );
        }
    }

    /// A command running the `recsys` binary in this directory.
    pub fn command(&self) -> TestCommand {
        TestCommand::new(self.path())
    }
}

/// The real `recsys` binary, with arguments, run in a test's [`Dir`].
///
/// The environment is made predictable: `RECSYS_DATA_DIR`, `RECSYS_LOG` and `NO_COLOR` are
/// removed (so no test downloads MovieLens or depends on the caller's shell), and
/// [`TestCommand::data_dir`] puts `RECSYS_DATA_DIR` back as an absolute path for tests that
/// need the shared copy.
pub struct TestCommand {
    cmd: process::Command,
}

impl TestCommand {
    fn new(cwd: &Path) -> TestCommand {
        let mut cmd = process::Command::new(env!("CARGO_BIN_EXE_recsys"));
        cmd.current_dir(cwd)
            .env_remove("RECSYS_DATA_DIR")
            .env_remove("RECSYS_LOG")
            .env_remove("NO_COLOR")
            .stdin(Stdio::null());
        TestCommand { cmd }
    }

    /// Adds one argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut TestCommand {
        self.cmd.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, A>(&mut self, args: I) -> &mut TestCommand
    where
        I: IntoIterator<Item = A>,
        A: AsRef<OsStr>,
    {
        self.cmd.args(args);
        self
    }

    /// Sets an environment variable.
    pub fn env(&mut self, key: &str, value: impl AsRef<OsStr>) -> &mut TestCommand {
        self.cmd.env(key, value);
        self
    }

    /// Runs in `dir` instead (e.g. a subdirectory of the test's [`Dir`]).
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut TestCommand {
        self.cmd.current_dir(dir);
        self
    }

    /// Sets `RECSYS_DATA_DIR` to `dir` (made absolute, as the command's working directory is
    /// the test's temporary directory).
    pub fn data_dir(&mut self, dir: &Path) -> &mut TestCommand {
        let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_owned());
        self.env("RECSYS_DATA_DIR", dir)
    }

    /// Runs the command and captures both streams.
    pub fn output(&mut self) -> Output {
        let out = self
            .cmd
            .output()
            .unwrap_or_else(|e| panic!("could not run {:?}: {e}", self.cmd));
        Output {
            command: format!("{:?}", self.cmd),
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs the command and asserts that it succeeded, printing both streams if not.
    pub fn assert_success(&mut self) -> Output {
        let out = self.output();
        if !out.status.success() {
            panic!("expected success\n{}", out.describe());
        }
        out
    }

    /// Runs the command and asserts that it failed cleanly: a non-zero status that is not a
    /// panic's (101) and no "panicked" on stderr. Prints both streams if not.
    pub fn assert_failure(&mut self) -> Output {
        let out = self.output();
        if out.status.success() {
            panic!("expected failure\n{}", out.describe());
        }
        if out.status.code() == Some(101) || out.stderr.contains("panicked") {
            panic!("expected a clean failure, got a panic\n{}", out.describe());
        }
        out
    }

    /// Runs the command, asserts success, and parses stdout as exactly one JSON document.
    pub fn json(&mut self) -> serde_json::Value {
        self.assert_success().json()
    }
}

/// What a run of the binary produced.
pub struct Output {
    /// The command line, for messages.
    pub command: String,
    /// The exit status.
    pub status: ExitStatus,
    /// stdout (lossily decoded).
    pub stdout: String,
    /// stderr (lossily decoded).
    pub stderr: String,
}

impl Output {
    /// The command, its status and both streams, for assertion messages.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "command: {}", self.command);
        let _ = writeln!(s, "status: {}", self.status);
        let _ = writeln!(s, "--- stdout ---\n{}", self.stdout);
        let _ = writeln!(s, "--- stderr ---\n{}", self.stderr);
        s
    }

    /// stdout parsed as JSON, asserting that it holds exactly one document (followed by a
    /// newline, nothing else).
    pub fn json(&self) -> serde_json::Value {
        let docs: Vec<serde_json::Value> = serde_json::Deserializer::from_str(&self.stdout)
            .into_iter()
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("stdout is not JSON: {e}\n{}", self.describe()));
        assert_eq!(
            docs.len(),
            1,
            "expected one JSON document on stdout\n{}",
            self.describe()
        );
        docs.into_iter().next().unwrap()
    }

    /// Asserts that stderr contains `needle`.
    pub fn assert_stderr_contains(&self, needle: &str) -> &Output {
        assert!(
            self.stderr.contains(needle),
            "stderr does not contain {needle:?}\n{}",
            self.describe()
        );
        self
    }

    /// Asserts that stdout contains `needle`.
    pub fn assert_stdout_contains(&self, needle: &str) -> &Output {
        assert!(
            self.stdout.contains(needle),
            "stdout does not contain {needle:?}\n{}",
            self.describe()
        );
        self
    }
}

/// Flags for a model small enough to train in milliseconds.
pub const TINY_RECIPE: [&str; 8] = [
    "--epochs",
    "1",
    "--batch-size",
    "4",
    "--embedding-dim",
    "4",
    "--layers",
    "8",
];

/// The titles of [`TINY_TRAIN`].
pub const TINY_TITLES: [&str; 6] = [
    "Alpha (1990)",
    "Bravo (1991)",
    "Charlie (1992)",
    "Delta (1993)",
    "Echo (1994)",
    "Foxtrot (1995)",
];

/// A small training file in the tutorial's columns: 4 users, the 6 [`TINY_TITLES`].
pub const TINY_TRAIN: &str = "user_id\tmovie_title\tuser_rating
1\tAlpha (1990)\t5.0
1\tBravo (1991)\t4.0
1\tCharlie (1992)\t1.0
2\tDelta (1993)\t3.0
2\tEcho (1994)\t2.0
2\tAlpha (1990)\t4.0
3\tFoxtrot (1995)\t5.0
3\tBravo (1991)\t2.0
3\tDelta (1993)\t4.0
4\tCharlie (1992)\t3.0
4\tEcho (1994)\t5.0
4\tFoxtrot (1995)\t1.0
";

/// A small test file over the same users and titles.
pub const TINY_TEST: &str = "user_id\tmovie_title\tuser_rating
1\tDelta (1993)\t3.0
2\tFoxtrot (1995)\t4.0
3\tAlpha (1990)\t2.0
4\tBravo (1991)\t5.0
";

/// Writes `tiny_train.tsv` and `tiny_test.tsv` into `dir` and trains a tiny model into
/// `dir/out`, returning the train run's JSON.
pub fn train_tiny(dir: &Dir, out: &str) -> serde_json::Value {
    train_tiny_with(dir, out, &TINY_RECIPE)
}

/// [`train_tiny`] with another recipe's flags.
pub fn train_tiny_with(dir: &Dir, out: &str, recipe: &[&str]) -> serde_json::Value {
    dir.create("tiny_train.tsv", TINY_TRAIN);
    dir.create("tiny_test.tsv", TINY_TEST);
    dir.command()
        .args([
            "train",
            "--train",
            "tiny_train.tsv",
            "--test",
            "tiny_test.tsv",
        ])
        .args(recipe)
        .args(["--out", out, "--json"])
        .json()
}

/// `|actual - expected| <= rel * |expected|`, with a message naming `what`.
pub fn assert_close(what: &str, actual: f64, expected: f64, rel: f64) {
    assert!(
        (actual - expected).abs() <= rel * expected.abs(),
        "{what}: {actual} is not within {rel} (relative) of {expected}"
    );
}

// The shared-data locator is recsys-data's (its `testdata` feature), so every crate's tests
// agree on where data is.
#[allow(unused_imports)]
pub use recsys_data::testdata::{data_dir, peers_dir, workspace_root};
