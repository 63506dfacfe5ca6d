//! Bad input must fail cleanly: a non-zero exit status, an error on stderr that names the file
//! (and the 1-based line, where there is one) or the flag, no panic, and no output directory,
//! not even a half-written one.

#[macro_use]
mod util;

use util::{Dir, Output, TestCommand};

const HEADER: &str = "user_id\tmovie_title\tuser_rating\n";

/// The checks every bad-input case shares: the run failed without panicking (checked by
/// `assert_failure`), stderr names each of `needles`, and `out_dir` (if the command had one)
/// was not created.
fn assert_clean_failure(dir: &Dir, out: &Output, needles: &[&str], out_dir: Option<&str>) {
    for needle in needles {
        out.assert_stderr_contains(needle);
    }
    assert!(!out.stderr.contains("panicked"), "{}", out.describe());
    if let Some(out_dir) = out_dir {
        dir.assert_no_output(out_dir);
    }
}

/// Runs `train` with `bad` (written to `bad.tsv`) as the training file and then as the test
/// file, the other being a good one, and checks each failure names `bad.tsv` and `needles`.
fn train_rejects(dir: &Dir, bad: &[u8], needles: &[&str]) {
    dir.create("good.tsv", util::TINY_TRAIN);
    dir.create_bytes("bad.tsv", bad);
    for (train, test) in [("bad.tsv", "good.tsv"), ("good.tsv", "bad.tsv")] {
        let out = dir
            .command()
            .args(["train", "--train", train, "--test", test])
            .args(util::TINY_RECIPE)
            .args(["--out", "model"])
            .assert_failure();
        let mut all = vec!["bad.tsv"];
        all.extend_from_slice(needles);
        assert_clean_failure(dir, &out, &all, Some("model"));
    }
}

// Interaction files (`train --train F --test G`).

recsys_test!(
    wrong_column_count_names_file_and_line,
    |dir: Dir, _cmd: TestCommand| {
        let bad = format!("{HEADER}1\tAlpha (1990)\t4.0\n2\tBravo (1991)\n");
        train_rejects(&dir, bad.as_bytes(), &["bad.tsv:3"]);
    }
);

recsys_test!(
    non_numeric_rating_names_file_and_line,
    |dir: Dir, _cmd: TestCommand| {
        let bad = format!("{HEADER}1\tAlpha (1990)\t4.0\n2\tBravo (1991)\tfour\n");
        train_rejects(&dir, bad.as_bytes(), &["bad.tsv:3", "four"]);
    }
);

recsys_test!(
    nan_rating_names_file_and_line,
    |dir: Dir, _cmd: TestCommand| {
        let bad = format!("{HEADER}1\tAlpha (1990)\tNaN\n");
        train_rejects(&dir, bad.as_bytes(), &["bad.tsv:2", "NaN"]);
    }
);

recsys_test!(
    infinite_rating_names_file_and_line,
    |dir: Dir, _cmd: TestCommand| {
        let bad = format!("{HEADER}1\tAlpha (1990)\t4.0\n2\tAlpha (1990)\tinf\n");
        train_rejects(&dir, bad.as_bytes(), &["bad.tsv:3", "inf"]);
    }
);

recsys_test!(
    invalid_utf8_names_file_and_line,
    |dir: Dir, _cmd: TestCommand| {
        let mut bad = format!("{HEADER}1\tAlpha (1990)\t4.0\n").into_bytes();
        bad.extend_from_slice(b"2\tBravo \xff\xfe (1991)\t3.0\n");
        train_rejects(&dir, &bad, &["bad.tsv:3", "UTF-8"]);
    }
);

recsys_test!(empty_file_is_rejected, |dir: Dir, _cmd: TestCommand| {
    train_rejects(&dir, b"", &["empty"]);
});

recsys_test!(header_only_is_rejected, |dir: Dir, _cmd: TestCommand| {
    train_rejects(&dir, HEADER.as_bytes(), &["no data rows"]);
});

recsys_test!(missing_column_is_named, |dir: Dir, _cmd: TestCommand| {
    train_rejects(
        &dir,
        b"user_id\tmovie_title\n1\tAlpha (1990)\n",
        &["user_rating"],
    );
});

recsys_test!(missing_file_is_named, |dir: Dir, mut cmd: TestCommand| {
    dir.create("good.tsv", util::TINY_TRAIN);
    let out = cmd
        .args(["train", "--train", "absent.tsv", "--test", "good.tsv"])
        .args(util::TINY_RECIPE)
        .args(["--out", "model"])
        .assert_failure();
    assert_clean_failure(&dir, &out, &["absent.tsv", "No such file"], Some("model"));
});

recsys_test!(
    missing_file_error_states_the_cause_once,
    |dir: Dir, mut cmd: TestCommand| {
        dir.create("good.tsv", util::TINY_TRAIN);
        let out = cmd
            .args(["train", "--train", "absent.tsv", "--out", "model"])
            .assert_failure();
        assert_eq!(
            out.stderr.matches("No such file or directory").count(),
            1,
            "{}",
            out.describe()
        );
    }
);

recsys_test!(
    evaluate_rejects_a_bad_test_file,
    |dir: Dir, mut cmd: TestCommand| {
        util::train_tiny(&dir, "model");
        dir.create(
            "bad.tsv",
            &format!("{HEADER}1\tAlpha (1990)\t4.0\n2\tBravo (1991)\n"),
        );
        let out = cmd
            .args(["evaluate", "--model", "model", "--test", "bad.tsv"])
            .assert_failure();
        assert_clean_failure(&dir, &out, &["bad.tsv:3"], None);
    }
);

recsys_test!(
    evaluate_without_a_test_set_says_so,
    |dir: Dir, mut cmd: TestCommand| {
        dir.create("train.tsv", util::TINY_TRAIN);
        dir.command()
            .args(["train", "--train", "train.tsv", "--out", "model"])
            .args(util::TINY_RECIPE)
            .assert_success();
        let out = cmd.args(["evaluate", "--model", "model"]).assert_failure();
        assert_clean_failure(&dir, &out, &["model", "--test"], None);
    }
);

// MovieLens (`train --data-dir D`), with a small `D/ml-100k/` built here.

/// Writes `ml/ml-100k/` with 4 movies, 3 users and 20 ratings, then applies `edit` to the
/// named file's lines (1-based line number, line) before writing it.
fn movielens(dir: &Dir, file: &str, edit: impl Fn(usize, String) -> String) {
    let genres = "|0".repeat(18) + "|1";
    let items: Vec<String> = (1..=4)
        .map(|i| format!("{i}|Movie {i} (199{i})|01-Jan-1995||http://example.invalid/{i}{genres}"))
        .collect();
    let users: Vec<String> = (1..=3)
        .map(|i| format!("{i}|24|M|technician|85711"))
        .collect();
    let ratings: Vec<String> = (0..20)
        .map(|i| format!("{}\t{}\t{}\t88{i:07}", 1 + i % 3, 1 + i % 4, 1 + i % 5))
        .collect();
    for (name, lines) in [("u.item", items), ("u.user", users), ("u.data", ratings)] {
        let text: String = lines
            .into_iter()
            .enumerate()
            .map(|(i, l)| {
                let l = if name == file { edit(i + 1, l) } else { l };
                l + "\n"
            })
            .collect();
        dir.create(format!("ml/ml-100k/{name}"), &text);
    }
}

/// `train` on `ml/`, split 16 + 4, into `model`.
fn train_movielens(cmd: &mut TestCommand) -> &mut TestCommand {
    cmd.args(["train", "--data-dir", "ml", "--out", "model"])
        .args(["--train-size", "16", "--test-size", "4"])
        .args(util::TINY_RECIPE)
}

recsys_test!(
    movielens_fixture_trains,
    |dir: Dir, mut cmd: TestCommand| {
        movielens(&dir, "", |_, l| l);
        train_movielens(&mut cmd).assert_success();
        assert!(dir.join("model/manifest.json").is_file());
    }
);

recsys_test!(
    movielens_unknown_item_names_u_data_and_line,
    |dir: Dir, mut cmd: TestCommand| {
        movielens(&dir, "u.data", |n, l| {
            if n == 5 {
                "2\t99\t5\t880000004".to_owned()
            } else {
                l
            }
        });
        let out = train_movielens(&mut cmd).assert_failure();
        assert_clean_failure(&dir, &out, &["u.data:5", "99", "u.item"], Some("model"));
    }
);

recsys_test!(
    movielens_malformed_item_row_names_u_item_and_line,
    |dir: Dir, mut cmd: TestCommand| {
        movielens(&dir, "u.item", |n, l| {
            if n == 3 {
                "3|Movie 3 (1993)|0|1".to_owned()
            } else {
                l
            }
        });
        let out = train_movielens(&mut cmd).assert_failure();
        assert_clean_failure(&dir, &out, &["u.item:3"], Some("model"));
    }
);

// Saved models (`rank`, `evaluate`, `export`).

/// Trains a tiny model into `model`, copies it to `broken`, and lets `damage` change it.
fn broken_model(dir: &Dir, damage: impl FnOnce(&Dir)) {
    util::train_tiny(dir, "model");
    dir.copy_dir("model", "broken");
    damage(dir);
}

/// `rank`, `evaluate` and `export` (each format) on `model_dir` all fail, naming each of
/// `needles`; `export` leaves no file behind, not even a temporary one.
fn model_rejected(dir: &Dir, model_dir: &str, needles: &[&str]) {
    for format in ["onnx", "tflite"] {
        let file = format!("exported.{format}");
        let export = dir
            .command()
            .args(["export", "--model", model_dir, "--format", format])
            .args(["--out", &file])
            .assert_failure();
        assert_clean_failure(dir, &export, needles, Some(&file));
    }
    let rank = dir
        .command()
        .args([
            "rank", "--model", model_dir, "--user", "1", "--all", "--json",
        ])
        .assert_failure();
    let evaluate = dir
        .command()
        .args(["evaluate", "--model", model_dir, "--json"])
        .assert_failure();
    for out in [rank, evaluate] {
        assert!(out.stdout.is_empty(), "{}", out.describe());
        assert_clean_failure(dir, &out, needles, None);
    }
}

recsys_test!(
    model_dir_that_does_not_exist,
    |dir: Dir, _cmd: TestCommand| {
        model_rejected(&dir, "no-such-model", &["no-such-model"]);
    }
);

recsys_test!(truncated_weights, |dir: Dir, _cmd: TestCommand| {
    broken_model(&dir, |dir| {
        let bytes = dir.read("broken/weights.safetensors");
        dir.create_bytes("broken/weights.safetensors", &bytes[..bytes.len() / 2]);
    });
    model_rejected(&dir, "broken", &["broken/weights.safetensors"]);
});

recsys_test!(tampered_weights_byte, |dir: Dir, _cmd: TestCommand| {
    broken_model(&dir, |dir| {
        let mut bytes = dir.read("broken/weights.safetensors");
        let last = bytes.len() - 3;
        bytes[last] ^= 0x01;
        dir.create_bytes("broken/weights.safetensors", &bytes);
    });
    model_rejected(&dir, "broken", &["broken/weights.safetensors"]);
});

recsys_test!(future_format_version, |dir: Dir, _cmd: TestCommand| {
    broken_model(&dir, |dir| {
        let manifest = dir.read_string("broken/manifest.json");
        let current = format!(
            "\"format_version\": {}",
            recsys::artifact::ARTIFACT_FORMAT_VERSION
        );
        assert!(manifest.contains(&current), "{manifest}");
        dir.create(
            "broken/manifest.json",
            &manifest.replace(&current, "\"format_version\": 999"),
        );
    });
    model_rejected(
        &dir,
        "broken",
        &["broken/manifest.json", "version", "999", "upgrade"],
    );
});

recsys_test!(manifest_that_is_not_json, |dir: Dir, _cmd: TestCommand| {
    broken_model(&dir, |dir| dir.create("broken/manifest.json", "{\"format"));
    model_rejected(&dir, "broken", &["broken/manifest.json"]);
});

recsys_test!(missing_weights_file, |dir: Dir, _cmd: TestCommand| {
    broken_model(&dir, |dir| {
        std::fs::remove_file(dir.join("broken/weights.safetensors")).unwrap();
    });
    model_rejected(&dir, "broken", &["broken/weights.safetensors"]);
});

// Flag values.

/// `train` on a good file with `flags` fails, naming each of `needles`, and writes nothing.
fn flags_rejected(dir: &Dir, flags: &[&str], needles: &[&str]) {
    dir.create("train.tsv", util::TINY_TRAIN);
    let out = dir
        .command()
        .args(["train", "--train", "train.tsv", "--out", "model"])
        .args(flags)
        .assert_failure();
    assert_clean_failure(dir, &out, needles, Some("model"));
}

recsys_test!(
    negative_learning_rate_names_the_flag,
    |dir: Dir, _cmd: TestCommand| {
        flags_rejected(&dir, &["--learning-rate=-1"], &["learning-rate", "-1"]);
    }
);

recsys_test!(
    negative_learning_rate_as_separate_argument_names_the_flag,
    |dir: Dir, _cmd: TestCommand| {
        flags_rejected(&dir, &["--learning-rate", "-1"], &["learning-rate", "-1"]);
    }
);

recsys_test!(
    nan_learning_rate_names_the_flag,
    |dir: Dir, _cmd: TestCommand| {
        flags_rejected(&dir, &["--learning-rate", "nan"], &["learning-rate"]);
    }
);

recsys_test!(zero_epochs_names_the_flag, |dir: Dir, _cmd: TestCommand| {
    flags_rejected(&dir, &["--epochs", "0"], &["epochs", "0"]);
});

recsys_test!(
    zero_batch_size_names_the_flag,
    |dir: Dir, _cmd: TestCommand| {
        flags_rejected(&dir, &["--batch-size", "0"], &["batch-size", "0"]);
    }
);

recsys_test!(
    zero_embedding_dim_names_the_flag,
    |dir: Dir, _cmd: TestCommand| {
        flags_rejected(&dir, &["--embedding-dim", "0"], &["embedding-dim", "0"]);
    }
);

recsys_test!(
    zero_width_layer_names_the_flag,
    |dir: Dir, _cmd: TestCommand| {
        flags_rejected(&dir, &["--layers", "8,0"], &["layers", "0"]);
    }
);

recsys_test!(
    garbage_init_weights_names_the_file,
    |dir: Dir, _cmd: TestCommand| {
        let garbage: Vec<u8> = (0..300u32).map(|i| (i * 7919 % 251) as u8).collect();
        dir.create_bytes("garbage.safetensors", &garbage);
        flags_rejected(
            &dir,
            &["--init-weights", "garbage.safetensors"],
            &["garbage.safetensors"],
        );
    }
);

recsys_test!(
    init_weights_of_the_wrong_shape_names_the_file,
    |dir: Dir, _cmd: TestCommand| {
        let Some(peers) = util::peers_dir() else {
            return;
        };
        let weights = peers.join("parity/initial.safetensors");
        let weights = weights.to_str().expect("a UTF-8 path");
        flags_rejected(
            &dir,
            &["--init-weights", weights],
            &["initial.safetensors", "shape"],
        );
    }
);

// Output directories.

recsys_test!(
    failed_train_leaves_an_existing_model_untouched,
    |dir: Dir, mut cmd: TestCommand| {
        util::train_tiny(&dir, "model");
        let before: Vec<Vec<u8>> = ["manifest.json", "vocabulary.json", "weights.safetensors"]
            .iter()
            .map(|f| dir.read(format!("model/{f}")))
            .collect();
        dir.create("bad.tsv", &format!("{HEADER}1\tAlpha (1990)\tfour\n"));
        let out = cmd
            .args(["train", "--train", "bad.tsv", "--out", "model"])
            .args(util::TINY_RECIPE)
            .assert_failure();
        out.assert_stderr_contains("bad.tsv:2");
        let after: Vec<Vec<u8>> = ["manifest.json", "vocabulary.json", "weights.safetensors"]
            .iter()
            .map(|f| dir.read(format!("model/{f}")))
            .collect();
        assert!(before == after, "the existing model changed");
    }
);

recsys_test!(
    out_that_is_a_plain_file_is_not_overwritten,
    |dir: Dir, mut cmd: TestCommand| {
        dir.create("train.tsv", util::TINY_TRAIN);
        dir.create("notes.txt", "keep me");
        let out = cmd
            .args(["train", "--train", "train.tsv", "--out", "notes.txt"])
            .args(util::TINY_RECIPE)
            .assert_failure();
        out.assert_stderr_contains("notes.txt");
        assert_eq!(dir.read_string("notes.txt"), "keep me");
    }
);
