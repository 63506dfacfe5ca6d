//! The engine's products at the tutorial model's shapes, per backend, in GFLOP/s.
//!
//! `cargo bench -p recsys-engine --bench gemm` runs each shape through the engine's AVX-512
//! kernel (where the CPU has it) and through `matrixmultiply`, interleaved, inside a rayon pool
//! of all cores as training does; medians of repeated calls. The shapes are one training step
//! of the tutorial (batch 8,192; layers 64 → 256 → 64 → 1) and the serving path's small
//! products (1, 100 and 1,664 candidates through the 256 → 64 layer).

use std::time::Instant;

use recsys_engine::matmul::{Op, gemm_with};

fn main() {
    let shapes: &[(&str, usize, usize, usize, Op, Op)] = &[
        (
            "layer 2 forward   8192x256 · 256x64",
            8192,
            256,
            64,
            Op::N,
            Op::N,
        ),
        (
            "layer 2 d kernel  256x8192 · 8192x64",
            256,
            8192,
            64,
            Op::T,
            Op::N,
        ),
        (
            "layer 2 d input   8192x64 · 64x256",
            8192,
            64,
            256,
            Op::N,
            Op::T,
        ),
        (
            "layer 3 forward   8192x64 · 64x1",
            8192,
            64,
            1,
            Op::N,
            Op::N,
        ),
        (
            "lookup project    1000x32 · 32x256",
            1000,
            32,
            256,
            Op::N,
            Op::N,
        ),
        ("serve 1 candidate 1x256 · 256x64", 1, 256, 64, Op::N, Op::N),
        (
            "serve 100         100x256 · 256x64",
            100,
            256,
            64,
            Op::N,
            Op::N,
        ),
        (
            "serve 1,664       1664x256 · 256x64",
            1664,
            256,
            64,
            Op::N,
            Op::N,
        ),
    ];
    let pool = rayon::ThreadPoolBuilder::new().build().expect("rayon pool");
    pool.install(|| {
        println!(
            "{:40}{:>16}{:>16}{:>8}",
            "shape", "avx512", "matrixmult.", "ratio"
        );
        for &(name, m, k, n, op_a, op_b) in shapes {
            let a: Vec<f32> = (0..m * k).map(|i| (i % 97) as f32 * 0.01).collect();
            let b: Vec<f32> = (0..k * n).map(|i| (i % 89) as f32 * 0.01).collect();
            let mut c = vec![0.0f32; m * n];
            let flop = 2.0 * (m * k * n) as f64;
            let mut time = |mm: bool| {
                let reps = ((2e8 / flop) as usize).clamp(5, 20_000);
                let mut t = Vec::with_capacity(reps);
                for _ in 0..reps {
                    let s = Instant::now();
                    gemm_with(mm, m, k, n, &a, op_a, &b, op_b, 0.0, &mut c);
                    t.push(s.elapsed().as_secs_f64());
                }
                t.sort_by(f64::total_cmp);
                t[reps / 2]
            };
            let (mut ours, mut theirs) = (f64::MAX, f64::MAX);
            for _ in 0..3 {
                ours = ours.min(time(false));
                theirs = theirs.min(time(true));
            }
            let show = |t: f64| format!("{:.1} GF {:>6.1}µs", flop / t / 1e9, t * 1e6);
            println!(
                "{name:40}{:>16}{:>16}{:>8.2}",
                show(ours),
                show(theirs),
                theirs / ours
            );
        }
    });
}
