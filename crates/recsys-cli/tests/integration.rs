//! End-to-end runs of the `recsys` binary: the tutorial and the TensorFlow parity run on the
//! shared MovieLens copy (skipped, with a note, when it is absent and `RECSYS_REQUIRE_DATA` is
//! unset), and the rank/evaluate/train output forms on tiny models.

#[macro_use]
mod util;

use serde_json::Value;
use util::{Dir, TestCommand, assert_close};

/// The three titles the tutorial ranks for user 42.
const TUTORIAL_TITLES: [&str; 3] = [
    "M*A*S*H (1970)",
    "Dances with Wolves (1990)",
    "Speed (1994)",
];

/// `[{movie_title, score}]` as (title, score) pairs, asserting the shape.
fn scored(list: &Value) -> Vec<(String, f64)> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|s| {
            (
                s["movie_title"].as_str().expect("movie_title").to_owned(),
                s["score"].as_f64().expect("score"),
            )
        })
        .collect()
}

fn assert_sorted_descending(ranked: &[(String, f64)]) {
    assert!(
        ranked.windows(2).all(|w| w[0].1 >= w[1].1),
        "not sorted by score, descending: {ranked:?}"
    );
}

fn f64_at(v: &Value, pointer: &str) -> f64 {
    v.pointer(pointer)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("no number at {pointer} in {v}"))
}

recsys_test!(
    tutorial_json_matches_the_tutorial,
    |dir: Dir, mut cmd: TestCommand| {
        let Some(data) = util::data_dir() else { return };
        let out = cmd
            .data_dir(&data)
            .args(["tutorial", "--json", "--out", "model"])
            .assert_success();
        let report = out.json();

        // stdout is one JSON line; the narration and epochs went to stderr.
        assert_eq!(out.stdout.lines().count(), 1, "{}", out.describe());
        assert!(out.stdout.ends_with('\n'));
        out.assert_stderr_contains("Epoch 3");

        let rmse = f64_at(&report, "/test/root_mean_squared_error");
        assert!((1.08..=1.14).contains(&rmse), "test RMSE {rmse}");
        let ranking = scored(&report["ranking"]);
        assert_eq!(ranking.len(), 3, "{ranking:?}");
        assert_sorted_descending(&ranking);
        let mut titles: Vec<&str> = ranking.iter().map(|(t, _)| t.as_str()).collect();
        titles.sort_unstable();
        let mut expected = TUTORIAL_TITLES;
        expected.sort_unstable();
        assert_eq!(titles, expected);
        assert_eq!(report["in_memory_score"], report["reloaded_score"]);
        assert_eq!(report["identical"], Value::Bool(true));
        assert!(dir.join("model/manifest.json").is_file());
    }
);

recsys_test!(
    parity_run_matches_tensorflow,
    |dir: Dir, mut cmd: TestCommand| {
        let Some(peers) = util::peers_dir() else {
            return;
        };
        let trace: Value = serde_json::from_slice(
            &std::fs::read(peers.join("parity/trace.json")).expect("read trace.json"),
        )
        .expect("trace.json is JSON");
        let train = cmd
            .arg("train")
            .arg("--train")
            .arg(peers.join("split/train.tsv"))
            .arg("--test")
            .arg(peers.join("split/test.tsv"))
            .arg("--init-weights")
            .arg(peers.join("parity/initial.safetensors"))
            .args(["--no-shuffle", "--epochs", "3", "--out", "model", "--json"])
            .json();

        let tf_epochs = trace["fit_history"]["root_mean_squared_error"]
            .as_array()
            .expect("fit_history.root_mean_squared_error");
        let epochs = train["epochs"].as_array().expect("epochs");
        assert_eq!(epochs.len(), tf_epochs.len());
        for (i, (ours, tf)) in epochs.iter().zip(tf_epochs).enumerate() {
            assert_close(
                &format!("epoch {} RMSE", i + 1),
                ours["root_mean_squared_error"].as_f64().unwrap(),
                tf.as_f64().unwrap(),
                1e-4,
            );
        }
        let test_rmse = f64_at(&train, "/test/root_mean_squared_error");
        assert_close(
            "test RMSE",
            test_rmse,
            f64_at(&trace, "/evaluate/root_mean_squared_error"),
            1e-4,
        );

        let ranked = dir
            .command()
            .args(["rank", "--model", "model", "--user", "42", "--items"])
            .args(TUTORIAL_TITLES)
            .arg("--json")
            .json();
        let ranked = scored(&ranked);
        assert_eq!(ranked.len(), 3);
        assert_sorted_descending(&ranked);
        for (title, score) in &ranked {
            let tf = trace["predictions_user_42"][title.as_str()]
                .as_f64()
                .unwrap_or_else(|| panic!("no TF prediction for {title}"));
            assert_close(&format!("score of {title}"), *score, tf, 1e-4);
        }

        let evaluated = dir
            .command()
            .args(["evaluate", "--model", "model", "--json"])
            .json();
        assert_eq!(
            f64_at(&evaluated, "/root_mean_squared_error"),
            test_rmse,
            "evaluate on the recorded test file vs the train run's test RMSE"
        );
    }
);

recsys_test!(
    rank_all_top_5_is_sorted,
    |dir: Dir, mut cmd: TestCommand| {
        util::train_tiny(&dir, "model");
        let ranked = cmd
            .args(["rank", "--model", "model", "--user", "1", "--all"])
            .args(["--top", "5", "--json"])
            .json();
        let ranked = scored(&ranked);
        assert_eq!(ranked.len(), 5, "{ranked:?}");
        assert_sorted_descending(&ranked);
        for (title, _) in &ranked {
            assert!(util::TINY_TITLES.contains(&title.as_str()), "{title}");
        }
    }
);

recsys_test!(
    rank_unknown_user_uses_the_oov_row_and_warns,
    |dir: Dir, mut cmd: TestCommand| {
        util::train_tiny(&dir, "model");
        let out = cmd
            .args(["rank", "--model", "model", "--user", "no-such-user"])
            .args(["--items", "Alpha (1990)", "Bravo (1991)", "--json"])
            .assert_success();
        let ranked = scored(&out.json());
        assert_eq!(ranked.len(), 2);
        assert!(ranked.iter().all(|(_, s)| s.is_finite()));
        out.assert_stderr_contains("no-such-user")
            .assert_stderr_contains("vocabulary");
    }
);

recsys_test!(
    evaluate_on_a_given_test_file,
    |dir: Dir, mut cmd: TestCommand| {
        let train = util::train_tiny(&dir, "model");
        let metrics = cmd
            .args([
                "evaluate",
                "--model",
                "model",
                "--test",
                "tiny_test.tsv",
                "--json",
            ])
            .json();
        assert_eq!(metrics["examples"], 4);
        assert_eq!(
            metrics["root_mean_squared_error"],
            train["test"]["root_mean_squared_error"]
        );
    }
);

recsys_test!(
    train_human_output_names_the_metrics,
    |dir: Dir, mut cmd: TestCommand| {
        dir.create("train.tsv", util::TINY_TRAIN);
        dir.create("test.tsv", util::TINY_TEST);
        let out = cmd
            .args(["train", "--train", "train.tsv", "--test", "test.tsv"])
            .args(util::TINY_RECIPE)
            .args(["--out", "model"])
            .assert_success();
        for needle in [
            "Test set (4 examples)",
            "root_mean_squared_error",
            "loss",
            "total_loss",
            "Saved to model",
        ] {
            out.assert_stdout_contains(needle);
        }
        out.assert_stderr_contains("Epoch 1");
        assert!(dir.join("model/manifest.json").is_file());
    }
);

recsys_test!(
    evaluate_human_output_names_the_metrics,
    |dir: Dir, mut cmd: TestCommand| {
        util::train_tiny(&dir, "model");
        let out = cmd.args(["evaluate", "--model", "model"]).assert_success();
        for needle in [
            "4 examples",
            "root_mean_squared_error",
            "loss",
            "regularization_loss",
            "total_loss",
        ] {
            out.assert_stdout_contains(needle);
        }
    }
);

recsys_test!(
    rank_human_output_lists_the_titles,
    |dir: Dir, mut cmd: TestCommand| {
        util::train_tiny(&dir, "model");
        let out = cmd
            .args(["rank", "--model", "model", "--user", "2"])
            .args(["--items", "Delta (1993)", "Echo (1994)", "Alpha (1990)"])
            .assert_success();
        assert_eq!(out.stdout.lines().count(), 3, "{}", out.describe());
        for title in ["Delta (1993)", "Echo (1994)", "Alpha (1990)"] {
            out.assert_stdout_contains(&format!("{title}: "));
        }
    }
);

recsys_test!(
    evaluate_from_another_directory_finds_the_recorded_test_file,
    |dir: Dir, mut cmd: TestCommand| {
        let train = util::train_tiny(&dir, "model");
        dir.create_dir("elsewhere");
        let metrics = cmd
            .current_dir(dir.join("elsewhere"))
            .args(["evaluate", "--model", "../model", "--json"])
            .json();
        assert_eq!(
            metrics["root_mean_squared_error"],
            train["test"]["root_mean_squared_error"]
        );
    }
);

recsys_test!(
    warnings_have_no_colour_codes_when_stderr_is_not_a_terminal,
    |dir: Dir, mut cmd: TestCommand| {
        util::train_tiny(&dir, "model");
        let out = cmd
            .args([
                "rank",
                "--model",
                "model",
                "--user",
                "no-such-user",
                "--all",
            ])
            .assert_success();
        out.assert_stderr_contains("no-such-user");
        assert!(!out.stderr.contains('\u{1b}'), "{}", out.describe());
    }
);

recsys_test!(
    the_ranking_model_validates_decays_and_stops_early,
    |dir: Dir, mut cmd: TestCommand| {
        let flags = [
            "--epochs",
            "30",
            "--batch-size",
            "4",
            "--validation-fraction",
            "0.25",
            "--patience",
            "2",
            "--learning-rate-decay",
            "0.9",
        ];
        let out = util::train_tiny_with(&dir, "m", &flags);
        let epochs = out["epochs"].as_array().unwrap();
        let val: Vec<f64> = epochs
            .iter()
            .map(|e| e["validation"]["root_mean_squared_error"].as_f64().unwrap())
            .collect();
        assert!(!val.is_empty() && val.len() <= 30);
        if val.len() < 30 {
            // Stopped early: the last two epochs did not beat the best before them.
            let best = val[..val.len() - 2]
                .iter()
                .copied()
                .fold(f64::MAX, f64::min);
            assert!(val[val.len() - 2..].iter().all(|&v| v >= best), "{val:?}");
        }
        cmd.args(["train", "--train", "tiny_train.tsv", "--out", "x"])
            .args(["--patience", "2"])
            .assert_failure()
            .assert_stderr_contains("patience");
    }
);
