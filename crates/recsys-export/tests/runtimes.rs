//! Exported files run in the runtimes users ship — tract (Rust), onnxruntime and LiteRT
//! (Python) — and predict what recsys predicts: on 10,000 (user, title) pairs with unseen users
//! and titles among them, every prediction within 1e-5.
//!
//! onnxruntime and LiteRT are Python packages (`.ci/run` installs them). Without them these
//! tests print SKIPPED, unless `RECSYS_REQUIRE_RUNTIMES` is set (CI sets it): then they fail.

#[path = "common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use recsys::contract::Model;
use recsys::kinds::ranking::RankingModel;
use recsys_export::{ExportOptions, Format, Inputs, Precision, dequantized_model, to_bytes};
use tract_onnx::prelude::*;

const PAIRS: usize = 10_000;
const TOLERANCE: f32 = 1e-5;

struct Fixture {
    model: RankingModel,
    users: Vec<String>,
    titles: Vec<String>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let (users, titles) = common::pairs(PAIRS);
        Fixture {
            model: common::trained_model(),
            users,
            titles,
        }
    })
}

fn rows(f: &Fixture) -> (Vec<i64>, Vec<i64>) {
    let m = &f.model;
    (
        f.users
            .iter()
            .map(|u| m.user_vocabulary.lookup(u) as i64)
            .collect(),
        f.titles
            .iter()
            .map(|t| m.title_vocabulary.lookup(t) as i64)
            .collect(),
    )
}

fn options(format: Format, inputs: Inputs, precision: Precision) -> ExportOptions {
    ExportOptions {
        format,
        inputs,
        precision,
    }
}

/// What the exported file should compute: recsys's own predictions for the model whose
/// weights are those the file stores.
fn expected(f: &Fixture, precision: Precision) -> Vec<f32> {
    dequantized_model(&f.model, precision)
        .predict(&f.users, &f.titles)
        .unwrap()
}

fn run_tract(bytes: &[u8], inputs: Inputs) -> Vec<f32> {
    run_tract_on(bytes, inputs, rows(fixture()))
}

/// Runs the ONNX `bytes` in tract on the fixture's pairs: its strings, or `rows` for them.
fn run_tract_on(bytes: &[u8], inputs: Inputs, rows: (Vec<i64>, Vec<i64>)) -> Vec<f32> {
    let f = fixture();
    let model = tract_onnx::onnx()
        .model_for_read(&mut &bytes[..])
        .expect("tract reads the file")
        .into_optimized()
        .expect("tract optimises it")
        .into_runnable()
        .expect("tract plans it");
    let feed: TVec<TValue> = match inputs {
        Inputs::Strings => tvec![
            tract_ndarray::Array1::from_vec(f.users.clone()).into_tvalue(),
            tract_ndarray::Array1::from_vec(f.titles.clone()).into_tvalue(),
        ],
        Inputs::Ids => {
            let (u, t) = rows;
            tvec![
                tract_ndarray::Array1::from_vec(u).into_tvalue(),
                tract_ndarray::Array1::from_vec(t).into_tvalue(),
            ]
        }
    };
    let out = model.run(feed).expect("tract runs it");
    let view = out[0].to_array_view::<f32>().unwrap();
    assert_eq!(view.shape(), &[PAIRS, 1]);
    view.iter().copied().collect()
}

#[test]
fn onnx_with_string_inputs_in_tract_matches_recsys() {
    let f = fixture();
    let bytes = to_bytes(
        &f.model,
        &options(Format::Onnx, Inputs::Strings, Precision::F32),
    );
    let want = f.model.predict(&f.users, &f.titles).unwrap();
    common::assert_close(
        "tract, strings",
        &run_tract(&bytes, Inputs::Strings),
        &want,
        TOLERANCE,
    );
}

#[test]
fn onnx_with_id_inputs_and_lower_precisions_in_tract_match_recsys() {
    let f = fixture();
    let bytes = to_bytes(
        &f.model,
        &options(Format::Onnx, Inputs::Ids, Precision::F32),
    );
    let want = expected(f, Precision::F32);
    common::assert_close(
        "tract, ids",
        &run_tract(&bytes, Inputs::Ids),
        &want,
        TOLERANCE,
    );
    for precision in [Precision::F16, Precision::Int8] {
        let bytes = to_bytes(&f.model, &options(Format::Onnx, Inputs::Strings, precision));
        let want = expected(f, precision);
        let got = run_tract(&bytes, Inputs::Strings);
        common::assert_close(&format!("tract, {precision:?}"), &got, &want, TOLERANCE);
    }
}

fn mf_rows(f: &Fixture, m: &recsys::kinds::mf::BiasedMf) -> (Vec<i64>, Vec<i64>) {
    let users = f.users.iter().map(|u| m.user_vocabulary.lookup(u) as i64);
    let titles = f.titles.iter().map(|t| m.title_vocabulary.lookup(t) as i64);
    (users.collect(), titles.collect())
}

#[test]
fn a_biased_mf_in_onnx_matches_recsys_in_tract_and_onnxruntime() {
    let f = fixture();
    let m = common::biased_mf();
    let want = m.predict(&f.users, &f.titles).unwrap();
    let clamped = want.iter().filter(|&&p| p == 1.0 || p == 5.0).count();
    assert!(clamped > 0 && clamped < PAIRS / 2, "{clamped} clamped");
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for inputs in [Inputs::Strings, Inputs::Ids] {
        let path = dir.path().join(format!("mf-{}.onnx", inputs.as_str()));
        let options = options(Format::Onnx, inputs, Precision::F32);
        recsys_export::export_mf(&m, &path, &options).unwrap();
        let got = run_tract_on(&std::fs::read(&path).unwrap(), inputs, mf_rows(f, &m));
        common::assert_close(&format!("tract, MF, {inputs:?}"), &got, &want, TOLERANCE);
        files.push((path, inputs));
    }
    if !python_runtimes_available() {
        return;
    }
    let (user_rows, title_rows) = mf_rows(f, &m);
    let request = serde_json::json!({
        "users": f.users, "titles": f.titles, "user_rows": user_rows, "title_rows": title_rows,
        "files": files.iter().map(|(p, i)| serde_json::json!({"path": p, "inputs": i.as_str()}))
            .collect::<Vec<_>>(),
    });
    let result = run_python(dir.path(), &request);
    for (path, inputs) in &files {
        let got = result_for(&result, path);
        common::assert_close(
            &format!("onnxruntime, MF, {inputs:?}"),
            &got,
            &want,
            TOLERANCE,
        );
    }
}

#[test]
fn a_biased_mf_refuses_tflite_and_lower_precisions_writing_nothing() {
    let m = common::biased_mf();
    let dir = tempfile::tempdir().unwrap();
    for (format, precision) in [
        (Format::Tflite, Precision::F32),
        (Format::Onnx, Precision::Int8),
    ] {
        let path = dir.path().join("m.out");
        let options = options(format, Inputs::Strings, precision);
        let e = recsys_export::export_mf(&m, &path, &options)
            .unwrap_err()
            .to_string();
        assert!(e.contains("ONNX with f32 weights only"), "{e}");
        assert!(!path.exists());
    }
}

fn python_runtimes_available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import numpy, onnxruntime, ai_edge_litert"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        let why = "python3 with numpy, onnxruntime and ai-edge-litert not found \
                   (pip install numpy onnxruntime ai-edge-litert)";
        if std::env::var_os("RECSYS_REQUIRE_RUNTIMES").is_some() {
            panic!("{why} (RECSYS_REQUIRE_RUNTIMES is set)");
        }
        eprintln!("SKIPPED: {why}");
    }
    ok
}

#[test]
fn onnxruntime_and_litert_match_recsys_for_every_format_input_and_precision() {
    if !python_runtimes_available() {
        return;
    }
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let mut files: Vec<(PathBuf, Inputs, Precision)> = Vec::new();
    for format in [Format::Onnx, Format::Tflite] {
        for (inputs, precision) in [
            (Inputs::Strings, Precision::F32),
            (Inputs::Ids, Precision::F32),
            (Inputs::Strings, Precision::F16),
            (Inputs::Strings, Precision::Int8),
        ] {
            let ext = if format == Format::Onnx {
                "onnx"
            } else {
                "tflite"
            };
            let path = dir.path().join(format!(
                "m-{}-{}.{ext}",
                inputs.as_str(),
                precision.as_str()
            ));
            let options = options(format, inputs, precision);
            recsys_export::export_model(&f.model, &path, &options).unwrap();
            files.push((path, inputs, precision));
        }
    }
    let (user_rows, title_rows) = rows(f);
    let request = serde_json::json!({
        "users": f.users, "titles": f.titles, "user_rows": user_rows, "title_rows": title_rows,
        "files": files.iter().map(|(p, i, _)| serde_json::json!({"path": p, "inputs": i.as_str()}))
            .collect::<Vec<_>>(),
    });
    let result = run_python(dir.path(), &request);
    for (path, inputs, precision) in &files {
        let got = result_for(&result, path);
        let want = expected(f, *precision);
        let name = path.file_name().unwrap().to_string_lossy();
        common::assert_close(&format!("{name} ({inputs:?})"), &got, &want, TOLERANCE);
    }
}

/// Runs `tests/run_exported.py` on `request` (written into `dir`) and returns its result.
fn run_python(dir: &Path, request: &serde_json::Value) -> serde_json::Value {
    let (req_path, res_path) = (dir.join("request.json"), dir.join("result.json"));
    std::fs::write(&req_path, request.to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/run_exported.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(&req_path)
        .arg(&res_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{} failed:\n{}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&std::fs::read(&res_path).unwrap()).unwrap()
}

/// The predictions `run_python` returned for the file `path`.
fn result_for(result: &serde_json::Value, path: &Path) -> Vec<f32> {
    result[path.to_str().unwrap()]
        .as_array()
        .unwrap_or_else(|| panic!("no result for {}", path.display()))
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect()
}
