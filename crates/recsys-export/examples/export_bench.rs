//! Export benchmark (not a test): file sizes of every format × precision, and the latency of
//! scoring 1 / 100 / 1,664 candidates for one user in tract and in recsys-infer (the no_std
//! crate), next to recsys's own `predict`. Writes the exported files and the candidate lists
//! to OUT_DIR for `bench/export_latency.py` (onnxruntime and LiteRT).
//!
//! ```text
//! cargo run --release -p recsys-export --example export_bench -- MODEL_DIR OUT_DIR
//! ```

use recsys::contract::Model;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use recsys_export::{ExportOptions, Format, Inputs, Precision};
use tract_onnx::prelude::*;

const USER: &str = "42";
const SIZES: [usize; 3] = [1, 100, 1664];

/// Median, min and max of per-call times over repeated calls (about 1 s per case).
fn time(mut f: impl FnMut()) -> (Duration, Duration, Duration) {
    for _ in 0..3 {
        f();
    }
    let start = Instant::now();
    f();
    let once = start.elapsed().max(Duration::from_nanos(100));
    let reps = (Duration::from_millis(800).as_nanos() / once.as_nanos()).clamp(5, 20_000) as usize;
    let mut times: Vec<Duration> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    (times[reps / 2], times[0], times[reps - 1])
}

fn fmt(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.1} µs")
    } else {
        format!("{:.2} ms", us / 1000.0)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(model_dir), Some(out_dir)) = (args.next(), args.next()) else {
        return Err("usage: export_bench MODEL_DIR OUT_DIR".into());
    };
    let (model_dir, out_dir) = (PathBuf::from(model_dir), PathBuf::from(out_dir));
    std::fs::create_dir_all(&out_dir)?;
    let model = recsys::artifact::load(&model_dir)?.model;

    println!("## File sizes (bytes)");
    println!("| file | inputs | precision | file bytes | weight bytes | vs f32 weights |");
    println!("|---|---|---|---|---|---|");
    for format in [Format::Onnx, Format::Tflite] {
        for (inputs, precision) in [
            (Inputs::Strings, Precision::F32),
            (Inputs::Strings, Precision::F16),
            (Inputs::Strings, Precision::Int8),
            (Inputs::Ids, Precision::F32),
        ] {
            let ext = if format == Format::Onnx {
                "onnx"
            } else {
                "tflite"
            };
            let path = out_dir.join(format!(
                "model-{}-{}.{ext}",
                inputs.as_str(),
                precision.as_str()
            ));
            let options = ExportOptions {
                format,
                inputs,
                precision,
            };
            let r = recsys_export::export_model(&model, &path, &options)?;
            println!(
                "| {} | {} | {} | {} | {} | {:.4} |",
                path.file_name().unwrap().to_string_lossy(),
                inputs.as_str(),
                precision.as_str(),
                r.bytes,
                r.weight_bytes,
                r.weight_bytes as f64 / r.f32_weight_bytes as f64
            );
        }
    }

    let titles: Vec<String> = model.title_vocabulary.values().to_vec();
    let candidates = serde_json::json!({"user": USER, "titles": titles});
    std::fs::write(out_dir.join("candidates.json"), candidates.to_string())?;

    let onnx = std::fs::read(out_dir.join("model-strings-f32.onnx"))?;
    let tract = tract_onnx::onnx()
        .model_for_read(&mut &onnx[..])?
        .into_optimized()?
        .into_runnable()?;
    let weights = std::fs::read(model_dir.join("weights.safetensors"))?;
    let vocabulary = std::fs::read(model_dir.join("vocabulary.json"))?;
    let infer = recsys_infer::Model::from_artifact(&weights, &vocabulary)?;

    println!("\n## Latency for user {USER}: median (min–max) per call");
    println!("| candidates | tract (ONNX, strings) | recsys-infer (no_std) | recsys predict |");
    println!("|---|---|---|---|");
    for n in SIZES {
        let users = vec![USER.to_owned(); n];
        let cands = titles[..n].to_vec();
        let want = model.predict(&users, &cands)?;
        // Inputs are built once; a TValue clone is a reference count.
        let inputs: TVec<TValue> = tvec![
            tract_ndarray::Array1::from_vec(users.clone()).into_tvalue(),
            tract_ndarray::Array1::from_vec(cands.clone()).into_tvalue(),
        ];
        let feed = || inputs.clone();
        let got = tract.run(feed())?;
        let got: Vec<f32> = got[0].to_array_view::<f32>()?.iter().copied().collect();
        let got_infer = infer.predict(&users, &cands)?;
        for (i, w) in want.iter().enumerate() {
            assert!((got[i] - w).abs() <= 1e-5 && (got_infer[i] - w).abs() <= 1e-6);
        }
        let t_tract = time(|| {
            tract.run(feed()).unwrap();
        });
        let t_infer = time(|| {
            infer.predict(&users, &cands).unwrap();
        });
        let t_recsys = time(|| {
            model.predict(&users, &cands).unwrap();
        });
        let cell =
            |t: (Duration, Duration, Duration)| format!("{} ({}–{})", fmt(t.0), fmt(t.1), fmt(t.2));
        println!(
            "| {n} | {} | {} | {} |",
            cell(t_tract),
            cell(t_infer),
            cell(t_recsys)
        );
    }
    Ok(())
}
