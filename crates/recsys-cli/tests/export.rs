//! `recsys export` through the real binary: every format and precision on a tiny trained
//! model, the RMSE change on its recorded test file, and bad input failing cleanly.

#[macro_use]
mod util;

use util::{Dir, TestCommand};

recsys_test!(
    export_writes_each_format_and_reports_the_rmse_change,
    |dir: Dir, _cmd: TestCommand| {
        util::train_tiny(&dir, "model");
        for (format, precision) in [("onnx", "f32"), ("tflite", "int8"), ("onnx", "f16")] {
            let out = format!("m-{precision}.{format}");
            let json = dir
                .command()
                .args(["export", "--model", "model", "--format", format])
                .args(["--precision", precision, "--out", &out, "--json"])
                .json();
            assert_eq!(json["format"], format);
            assert_eq!(json["bytes"].as_u64().unwrap(), dir.read(&out).len() as u64);
            if precision == "f32" {
                assert!(json["rmse"].is_null(), "{json}");
            } else {
                // The tiny model's recorded test file has 4 rows.
                assert_eq!(json["rmse"]["examples"], 4, "{json}");
                let change = json["rmse"]["change"].as_f64().unwrap();
                assert!(change.abs() < 0.01, "{json}");
            }
        }
        let ids = dir
            .command()
            .args(["export", "--model", "model", "--format", "onnx"])
            .args(["--inputs", "ids", "--out", "ids.onnx"])
            .assert_success();
        ids.assert_stdout_contains("ids.vocabulary.json");
        assert!(dir.exists("ids.vocabulary.json"));
    }
);

recsys_test!(
    export_of_a_missing_or_corrupt_model_fails_and_writes_nothing,
    |dir: Dir, _cmd: TestCommand| {
        let out = dir
            .command()
            .args([
                "export", "--model", "nope", "--format", "onnx", "--out", "m.onnx",
            ])
            .assert_failure();
        out.assert_stderr_contains("nope");
        dir.assert_no_output("m.onnx");
        util::train_tiny(&dir, "model");
        dir.create("model/vocabulary.json", "{\"user_id\": []}");
        let out = dir
            .command()
            .args([
                "export", "--model", "model", "--format", "tflite", "--out", "m.tflite",
            ])
            .assert_failure();
        out.assert_stderr_contains("vocabulary.json");
        assert!(!out.stderr.contains("panicked"), "{}", out.describe());
        dir.assert_no_output("m.tflite");
    }
);
