//! Regression tests: one per fixed bug, each named `issueN_what_it_checks` after its issue and
//! opening with a comment that links it (`// https://example.invalid/recsys/issues/N`, the
//! workspace's `repository` URL). A new test goes at the end, with the smallest input that
//! showed the bug, run through the real binary like the other integration tests.

#[macro_use]
mod util;

use util::{Dir, TestCommand};

// https://example.invalid/recsys/issues/2
recsys_test!(
    issue2_reloaded_model_predicts_bit_identically,
    |dir: Dir, mut cmd: TestCommand| {
        util::train_tiny(&dir, "model");
        let rank = |cmd: &mut TestCommand| {
            cmd.args(["rank", "--model", "model", "--user", "3", "--items"])
                .args(util::TINY_TITLES)
                .arg("--json")
                .assert_success()
        };
        let first = rank(&mut cmd);
        let second = rank(&mut dir.command());
        // The same text means the same f32 bits: the JSON writer prints the shortest string that
        // reads back to the same float.
        assert_eq!(first.stdout, second.stdout);
        let scores: Vec<f32> = first
            .json()
            .as_array()
            .expect("a list")
            .iter()
            .map(|s| s["score"].as_f64().expect("a score") as f32)
            .collect();
        assert_eq!(scores.len(), util::TINY_TITLES.len());
        assert!(scores.iter().all(|s| s.is_finite()));

        // Scoring every title (a different batch) gives each title the same bits.
        let all = dir
            .command()
            .args([
                "rank", "--model", "model", "--user", "3", "--all", "--top", "6",
            ])
            .arg("--json")
            .json();
        let mut by_items = first.json().as_array().unwrap().clone();
        let mut by_all = all.as_array().unwrap().clone();
        let key = |s: &serde_json::Value| s["movie_title"].as_str().unwrap().to_owned();
        by_items.sort_by_key(key);
        by_all.sort_by_key(key);
        assert_eq!(by_items, by_all);
    }
);
