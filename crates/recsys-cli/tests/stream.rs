//! `recsys train --stream` through the real binary: a file that fits the shuffle buffer trains
//! the same model as without `--stream`, the manifest records the buffer, and what cannot
//! stream is an error naming the flag, with nothing written.

#[macro_use]
mod util;

use util::{Dir, TestCommand};

/// The tiny recipe, for three epochs (the spool is read back once per epoch).
fn tiny() -> Vec<&'static str> {
    let mut flags = util::TINY_RECIPE.to_vec();
    assert_eq!(flags[0], "--epochs");
    flags[1] = "3";
    flags
}

recsys_test!(
    streaming_trains_the_model_training_in_memory_trains,
    |dir: Dir, _cmd: TestCommand| {
        let memory = util::train_tiny_with(&dir, "memory", &tiny());
        let mut flags = tiny();
        flags.push("--stream");
        let streamed = util::train_tiny_with(&dir, "streamed", &flags);
        assert_eq!(metrics(&streamed), metrics(&memory));
        assert_eq!(streamed["test"], memory["test"]);
        assert_eq!(
            dir.read("streamed/weights.safetensors"),
            dir.read("memory/weights.safetensors")
        );
        let manifest: serde_json::Value =
            serde_json::from_str(&dir.read_string("streamed/manifest.json")).unwrap();
        assert_eq!(
            manifest["training"]["data"]["stream_shuffle_buffer"],
            1_000_000
        );

        flags.extend(["--shuffle-buffer", "3"]);
        let small = util::train_tiny_with(&dir, "small", &flags);
        assert_eq!(small["train_examples"], memory["train_examples"]);
        let manifest: serde_json::Value =
            serde_json::from_str(&dir.read_string("small/manifest.json")).unwrap();
        assert_eq!(manifest["training"]["data"]["stream_shuffle_buffer"], 3);
    }
);

recsys_test!(
    what_cannot_stream_is_an_error_naming_the_flag,
    |dir: Dir, _cmd: TestCommand| {
        dir.create("tiny_train.tsv", util::TINY_TRAIN);
        let fails = |extra: &[&str], needle: &str| {
            dir.command()
                .args(["train", "--out", "m"])
                .args(extra)
                .assert_failure()
                .assert_stderr_contains(needle);
            dir.assert_no_output("m");
        };
        fails(&["--stream"], "--train");
        let train = ["--train", "tiny_train.tsv", "--stream"];
        for preset in ["best", "mf-sgd", "multitask", "features"] {
            let args = [&train[..], &["--preset", preset]].concat();
            fails(&args, "--stream does not apply to --preset");
        }
        fails(
            &[&train[..], &["--shuffle-buffer", "0"]].concat(),
            "--shuffle-buffer",
        );
        fails(
            &["--train", "tiny_train.tsv", "--shuffle-buffer", "9"],
            "--stream",
        );
        let validation = [&train[..], &["--validation-fraction", "0.2"]].concat();
        fails(&validation, "--validation-fraction");
    }
);

/// The epoch reports without their durations, so that two runs compare on metrics.
fn metrics(outcome: &serde_json::Value) -> Vec<serde_json::Value> {
    let mut epochs = outcome["epochs"].as_array().unwrap().clone();
    for epoch in &mut epochs {
        epoch.as_object_mut().unwrap().remove("seconds");
    }
    epochs
}
