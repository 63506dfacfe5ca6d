//! `recsys train --preset multitask` through the real binary, on tiny synthetic files: the
//! report carries both tasks (RMSE and TFRS's top-K accuracies), the model is saved as an
//! ordinary ranking model that `evaluate` and `rank` read, and bad weights are errors naming
//! the flag, with nothing written.

#[macro_use]
mod util;

use util::{Dir, TestCommand};

/// The tiny recipe (2 epochs) as a multitask model with the given weights.
fn multitask(dir: &Dir, out: &str, rating: &str, retrieval: &str) -> serde_json::Value {
    let mut flags = vec!["--preset", "multitask"];
    flags.extend(["--epochs", "2", "--batch-size", "4", "--embedding-dim", "4"]);
    flags.extend(["--layers", "8", "--rating-weight", rating]);
    flags.extend(["--retrieval-weight", retrieval]);
    util::train_tiny_with(dir, out, &flags)
}

recsys_test!(
    multitask_reports_both_tasks_and_saves_a_ranking_model,
    |dir: Dir, mut cmd: TestCommand| {
        let out = multitask(&dir, "mt", "1", "1");
        let retrieval = &out["retrieval"];
        assert_eq!(retrieval["candidates"], 6);
        let top_k = retrieval["factorized_top_k"].as_array().unwrap();
        let ks: Vec<u64> = top_k.iter().map(|t| t["k"].as_u64().unwrap()).collect();
        assert_eq!(ks, vec![1, 5, 10, 50, 100]);
        let acc = |i: usize| top_k[i]["accuracy"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&acc(0)) && acc(0) <= acc(1));
        assert_eq!(acc(2), 1.0, "6 movies: every pair is in the top 10");
        assert!(out["epochs"][1]["retrieval_loss"].as_f64().unwrap() > 0.0);

        let manifest: serde_json::Value =
            serde_json::from_str(&dir.read_string("mt/manifest.json")).unwrap();
        assert_eq!(manifest["model_kind"], "ranking");
        let record = &manifest["training"];
        assert_eq!(record["recipe"]["multitask"]["retrieval_weight"], 1.0);
        assert_eq!(record["test_retrieval"]["factorized_top_k"][4]["k"], 100);

        let test_rmse = out["test"]["root_mean_squared_error"].as_f64().unwrap();
        let eval = cmd.args(["evaluate", "--model", "mt", "--json"]).json();
        assert_eq!(eval["root_mean_squared_error"].as_f64().unwrap(), test_rmse);
        dir.command()
            .args([
                "rank", "--model", "mt", "--user", "2", "--all", "--top", "3",
            ])
            .assert_success();
    }
);

recsys_test!(
    the_human_report_uses_tfrs_metric_names,
    |dir: Dir, mut cmd: TestCommand| {
        dir.create("tiny_train.tsv", util::TINY_TRAIN);
        dir.create("tiny_test.tsv", util::TINY_TEST);
        cmd.args([
            "train",
            "--preset",
            "multitask",
            "--train",
            "tiny_train.tsv",
        ])
        .args(["--test", "tiny_test.tsv", "--epochs", "1", "--out", "mt"])
        .assert_success()
        .assert_stdout_contains("factorized_top_k/top_100_categorical_accuracy")
        .assert_stderr_contains("retrieval_loss");
    }
);

recsys_test!(
    bad_weights_are_errors_naming_the_flag_and_write_nothing,
    |dir: Dir, _cmd: TestCommand| {
        dir.create("tiny_train.tsv", util::TINY_TRAIN);
        let fails = |extra: &[&str], needle: &str| {
            dir.command()
                .args(["train", "--train", "tiny_train.tsv", "--out", "mt"])
                .args(extra)
                .assert_failure()
                .assert_stderr_contains(needle);
        };
        let mt = ["--preset", "multitask"];
        fails(
            &[&mt[..], &["--rating-weight", "-1"]].concat(),
            "rating-weight",
        );
        fails(
            &[&mt[..], &["--retrieval-weight", "nan"]].concat(),
            "retrieval-weight",
        );
        let both_zero = ["--rating-weight", "0", "--retrieval-weight", "0"];
        fails(&[&mt[..], &both_zero].concat(), "at least one task");
        fails(&["--retrieval-weight", "1"], "--preset multitask");
        dir.assert_no_output("mt");
    }
);
