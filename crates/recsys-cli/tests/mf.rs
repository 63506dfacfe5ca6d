//! `recsys train --preset mf-sgd|best` through the real binary: the saved biased MF evaluates,
//! ranks and reloads bit-identically and exports to ONNX (other formats are errors that say
//! so; serving it is in `serve.rs`); bad presets and hyperparameters are errors naming the flag.

#[macro_use]
mod util;

use util::{Dir, TestCommand};

/// A small BPMF run on the tiny files.
const SMALL_BEST: [&str; 8] = [
    "--preset",
    "best",
    "--factors",
    "2",
    "--burn-in",
    "2",
    "--samples",
    "3",
];

fn train_best(dir: &Dir) -> serde_json::Value {
    util::train_tiny_with(dir, "mf", &SMALL_BEST)
}

recsys_test!(
    best_trains_evaluates_and_ranks_bit_identically,
    |dir: Dir, mut cmd: TestCommand| {
        let out = train_best(&dir);
        assert_eq!(out["epochs"].as_array().unwrap().len(), 5);
        let test_rmse = out["test"]["root_mean_squared_error"].as_f64().unwrap();
        let manifest: serde_json::Value =
            serde_json::from_str(&dir.read_string("mf/manifest.json")).unwrap();
        assert_eq!(manifest["model_kind"], "biased_mf");
        assert_eq!(
            manifest["format_version"],
            recsys::artifact::ARTIFACT_FORMAT_VERSION
        );
        assert_eq!(manifest["model"]["factors"], 6);
        assert_eq!(manifest["training"]["recipe"]["kind"], "bpmf");
        assert_eq!(manifest["training"]["recipe"]["samples"], 3);
        let eval = cmd.args(["evaluate", "--model", "mf", "--json"]).json();
        assert_eq!(eval["root_mean_squared_error"].as_f64().unwrap(), test_rmse);
        let rank = |mut c: TestCommand| {
            c.args(["rank", "--model", "mf", "--user", "3", "--items"])
                .args(util::TINY_TITLES)
                .arg("--json")
                .assert_success()
                .stdout
        };
        assert_eq!(rank(dir.command()), rank(dir.command()));
        dir.command()
            .args([
                "rank", "--model", "mf", "--user", "3", "--all", "--top", "2",
            ])
            .assert_success();
    }
);

recsys_test!(
    mf_sgd_trains_with_validation_and_early_stopping,
    |dir: Dir, mut cmd: TestCommand| {
        dir.create("tiny_train.tsv", util::TINY_TRAIN);
        let out = cmd
            .args(["train", "--train", "tiny_train.tsv", "--preset", "mf-sgd"])
            .args([
                "--factors",
                "2",
                "--epochs",
                "4",
                "--validation-fraction",
                "0.25",
            ])
            .args(["--out", "mf", "--json"])
            .json();
        let epochs = out["epochs"].as_array().unwrap();
        assert!(!epochs.is_empty() && epochs.len() <= 4);
        assert!(epochs[0]["validation"]["root_mean_squared_error"].is_f64());
        assert!(epochs[0]["regularization_loss"].as_f64().unwrap() > 0.0);
    }
);

recsys_test!(
    exports_to_onnx_only_saying_so_otherwise,
    |dir: Dir, mut cmd: TestCommand| {
        train_best(&dir);
        let out = cmd
            .args([
                "export", "--model", "mf", "--format", "onnx", "--out", "x.onnx",
            ])
            .arg("--json")
            .json();
        assert_eq!(out["format"], "onnx");
        assert!(out["bytes"].as_u64().unwrap() > out["weight_bytes"].as_u64().unwrap());
        assert!(dir.exists("x.onnx"));
        dir.command()
            .args([
                "export", "--model", "mf", "--format", "tflite", "--out", "x.tflite",
            ])
            .assert_failure()
            .assert_stderr_contains("ONNX with f32 weights only");
        assert!(!dir.exists("x.tflite"));
    }
);

recsys_test!(
    bad_presets_and_hyperparameters_name_the_flag,
    |dir: Dir, mut cmd: TestCommand| {
        dir.create("tiny_train.tsv", util::TINY_TRAIN);
        let train = |mut c: TestCommand, args: &[&str]| {
            c.args(["train", "--train", "tiny_train.tsv", "--out", "m"])
                .args(args)
                .assert_failure()
        };
        cmd.args(["train", "--out", "m", "--preset", "fastest"])
            .assert_failure()
            .assert_stderr_contains("--preset");
        train(dir.command(), &["--preset", "best", "--samples", "0"])
            .assert_stderr_contains("samples");
        train(
            dir.command(),
            &["--preset", "best", "--noise-precision", "-1"],
        )
        .assert_stderr_contains("noise-precision");
        train(dir.command(), &["--preset", "best", "--layers", "4"])
            .assert_stderr_contains("--layers");
        train(dir.command(), &["--preset", "mf-sgd", "--factor-l2", "-1"])
            .assert_stderr_contains("factor-l2");
        train(
            dir.command(),
            &["--preset", "mf-sgd", "--validation-fraction", "1"],
        )
        .assert_stderr_contains("validation-fraction");
        assert!(!dir.exists("m"));
    }
);
