//! `recsys train --features RECIPE.toml` / `--preset features` through the real binary, with a
//! tiny MovieLens folder built here for the side information: the saved feature model
//! evaluates (its test ratings' times joined from `u.data`), ranks, reloads to the same
//! scores and is served with `rank`'s answers; a missing `u.user` row, a bad recipe and a flag that does not apply are errors
//! naming what is wrong.

#[macro_use]
mod util;

use util::{Dir, TestCommand};

/// A small recipe over every kind of feature, with a low-rank cross layer.
const RECIPE: &str = r#"
[[feature]]
input = "user_id"
hash_bins = 8
dim = 3

[[feature]]
input = "movie_title"
dim = 3

[[feature]]
input = "user_age"
dim = 2

[[feature]]
input = "user_occupation"
dim = 2

[[feature]]
input = "user_zip"
prefix = 1
hash_bins = 5
dim = 2

[[feature]]
input = "movie_genres"
dim = 2

[[feature]]
input = "movie_year"
dim = 2

[[feature]]
input = "title_tokens"
hash_bins = 32
dim = 2

[[feature]]
input = "timestamp"
buckets = 4
dim = 2

[network]
cross_layers = 1
cross_rank = 2
hidden_layers = [8]

[train]
epochs = 3
batch_size = 4
validation_fraction = 0.25
"#;

/// Writes `ml/ml-100k/` holding the tiny files' users and titles (and a time for every
/// rating).
fn movielens(dir: &Dir) {
    let genres = |i: usize| {
        let flags: Vec<&str> = (0..19)
            .map(|g| if g == 1 + i % 3 { "1" } else { "0" })
            .collect();
        flags.join("|")
    };
    let items: String = util::TINY_TITLES
        .iter()
        .enumerate()
        .map(|(i, t)| {
            format!(
                "{}|{t}|01-Jan-199{i}||http://example.invalid|{}\n",
                i + 1,
                genres(i)
            )
        })
        .collect();
    let users: String = (1..=4)
        .map(|u| {
            format!(
                "{u}|{}|{}|{}|{u}1234\n",
                15 + 10 * u,
                ["F", "M"][u as usize % 2],
                ["writer", "other"][u as usize % 2]
            )
        })
        .collect();
    let rows = util::TINY_TRAIN
        .lines()
        .skip(1)
        .chain(util::TINY_TEST.lines().skip(1));
    let data: String = rows
        .enumerate()
        .map(|(k, line)| {
            let f: Vec<&str> = line.split('\t').collect();
            let item = 1 + util::TINY_TITLES.iter().position(|t| *t == f[1]).unwrap();
            format!(
                "{}\t{item}\t{}\t{}\n",
                f[0],
                &f[2][..1],
                880_000_000 + 1000 * k
            )
        })
        .collect();
    dir.create("ml/ml-100k/u.item", &items);
    dir.create("ml/ml-100k/u.user", &users);
    dir.create("ml/ml-100k/u.data", &data);
}

fn train(cmd: &mut TestCommand) -> &mut TestCommand {
    cmd.args([
        "train",
        "--train",
        "tiny_train.tsv",
        "--test",
        "tiny_test.tsv",
    ])
    .args(["--data-dir", "ml", "--out", "model"])
}

fn setup(dir: &Dir) {
    movielens(dir);
    dir.create("tiny_train.tsv", util::TINY_TRAIN);
    dir.create("tiny_test.tsv", util::TINY_TEST);
    dir.create("recipe.toml", RECIPE);
}

recsys_test!(
    features_train_evaluate_rank_and_reload_the_same_scores,
    |dir: Dir, mut cmd: TestCommand| {
        setup(&dir);
        let out = train(&mut cmd)
            .args(["--features", "recipe.toml", "--json"])
            .json();
        let epochs = out["epochs"].as_array().unwrap();
        assert!(!epochs.is_empty() && epochs.len() <= 3);
        assert!(epochs[0]["validation"]["root_mean_squared_error"].is_f64());
        let test_rmse = out["test"]["root_mean_squared_error"].as_f64().unwrap();
        let manifest: serde_json::Value =
            serde_json::from_str(&dir.read_string("model/manifest.json")).unwrap();
        assert_eq!(manifest["model_kind"], "features");
        assert_eq!(manifest["model"]["network"]["cross_rank"], 2);
        assert_eq!(manifest["training"]["recipe"]["kind"], "features");
        assert_eq!(manifest["training"]["recipe"]["train"]["batch_size"], 4);
        assert!(dir.exists("model/features.json"));
        // Evaluating the saved model joins the same times from u.data: the same RMSE.
        let eval = dir
            .command()
            .args(["evaluate", "--model", "model", "--data-dir", "ml", "--json"])
            .json();
        assert_eq!(eval["root_mean_squared_error"].as_f64().unwrap(), test_rmse);
        let rank = |mut c: TestCommand| {
            c.args(["rank", "--model", "model", "--user", "3", "--items"])
                .args(util::TINY_TITLES)
                .arg("--json")
                .assert_success()
                .stdout
        };
        let first = rank(dir.command());
        assert_eq!(first, rank(dir.command()));
        let ranked: serde_json::Value = serde_json::from_str(&first).unwrap();
        assert_eq!(ranked.to_string().matches("(199").count(), 6, "{ranked}");
        // An unseen user is still scored through its hash bin: the warning says so.
        dir.command()
            .args([
                "rank", "--model", "model", "--user", "77", "--all", "--top", "2",
            ])
            .assert_success()
            .assert_stderr_contains("scored through its features");
        // Exporting needs a ranking model or a biased MF, and says so.
        dir.command()
            .args([
                "export", "--model", "model", "--format", "onnx", "--out", "m.onnx",
            ])
            .assert_failure()
            .assert_stderr_contains("\"features\" is not supported");
        assert!(!dir.exists("m.onnx"));
        // Served, it answers as `rank` does, for an unseen user too (through its features).
        util::serve::serve_equals_rank_then_sigterm(&dir, dir.command(), "77");
    }
);

recsys_test!(
    preset_features_trains_the_shipped_recipe,
    |dir: Dir, mut cmd: TestCommand| {
        setup(&dir);
        let out = train(&mut cmd)
            .args([
                "--preset",
                "features",
                "--epochs",
                "1",
                "--validation-fraction",
                "0",
            ])
            .args(["--json"])
            .json();
        assert_eq!(out["epochs"].as_array().unwrap().len(), 1);
        assert!(
            out["test"]["root_mean_squared_error"]
                .as_f64()
                .unwrap()
                .is_finite()
        );
    }
);

recsys_test!(
    a_user_missing_from_u_user_is_an_error_naming_the_file_and_id,
    |dir: Dir, mut cmd: TestCommand| {
        setup(&dir);
        // User 5 rated a movie in the training file but has no row in u.user.
        dir.create(
            "tiny_train.tsv",
            &format!("{}5\tAlpha (1990)\t3.0\n", util::TINY_TRAIN),
        );
        let out = train(&mut cmd)
            .args(["--features", "recipe.toml"])
            .assert_failure();
        out.assert_stderr_contains("u.user")
            .assert_stderr_contains("\"5\"");
        assert!(!dir.exists("model"));
    }
);

recsys_test!(
    bad_recipes_and_flags_that_do_not_apply_name_what_is_wrong,
    |dir: Dir, mut cmd: TestCommand| {
        setup(&dir);
        dir.create(
            "bad.toml",
            &RECIPE.replace("dim = 3\n", "dim = 3\nsize = 1\n"),
        );
        let out = train(&mut cmd)
            .args(["--features", "bad.toml"])
            .assert_failure();
        out.assert_stderr_contains("bad.toml")
            .assert_stderr_contains("size");
        let out = train(&mut dir.command())
            .args(["--features", "recipe.toml", "--embedding-dim", "4"])
            .assert_failure();
        out.assert_stderr_contains("--embedding-dim");
        let out = train(&mut dir.command())
            .args(["--features", "recipe.toml", "--preset", "best"])
            .assert_failure();
        out.assert_stderr_contains("--features");
        let out = train(&mut dir.command())
            .args(["--features", "missing.toml"])
            .assert_failure();
        out.assert_stderr_contains("missing.toml");
    }
);
