//! The engine's products at the tutorial model's shapes, per backend, in GFLOP/s.
//!
//! `cargo bench -p recsys-engine --bench gemm` runs each shape through the engine's AVX-512
//! kernel (where the CPU has it) and through `matrixmultiply`, interleaved, inside a rayon pool
//! of all cores as training does; medians of repeated calls. The shapes are one training step
//! of the tutorial (batch 8,192; layers 64 → 256 → 64 → 1) and the serving path's small
//! products (1, 100 and 1,664 candidates through the 256 → 64 layer), and the three products
//! of one 48-row tile of the tiled training step (one thread each). Last, the serving path's
//! fused last two layers (`dense_dot`: 256 → 64 → 1 for one tile of rows, on one thread),
//! against the same two layers as a product plus passes for bias, ReLU and the output dot.

use std::time::Instant;

use recsys_engine::matmul::{DenseDot, Op, dense_dot, gemm_with};

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
        (
            "tile fwd (1 thr)  48x256 · 256x64",
            48,
            256,
            64,
            Op::N,
            Op::N,
        ),
        (
            "tile d kernel     256x48 · 48x64",
            256,
            48,
            64,
            Op::T,
            Op::N,
        ),
        (
            "tile d input      48x64 · 64x256",
            48,
            64,
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
    fused_head();
}

/// `dense_dot` on one thread against product + bias + ReLU + dot, in GFLOP/s of the product.
fn fused_head() {
    let (k, h) = (256, 64);
    let w: Vec<f32> = (0..k * h).map(|i| (i % 89) as f32 * 0.01 - 0.4).collect();
    let bias = vec![0.01f32; h];
    let v: Vec<f32> = (0..h).map(|i| (i % 7) as f32 * 0.1 - 0.3).collect();
    let layers = DenseDot {
        kernel: &w,
        bias: &bias,
        relu: true,
        out_kernel: &v,
        out_bias: 0.5,
    };
    println!(
        "\n{:40}{:>16}{:>16}{:>8}",
        "one thread, 256 → 64 → 1", "fused", "one by one", "ratio"
    );
    for rows in [1usize, 12, 24, 96] {
        let x: Vec<f32> = (0..rows * k).map(|i| (i % 97) as f32 * 0.01).collect();
        let (mut out, mut out2, mut hidden) = (
            vec![0.0f32; rows],
            vec![0.0f32; rows],
            vec![0.0f32; rows * h],
        );
        let flop = 2.0 * (rows * k * h) as f64;
        let reps = ((1e8 / flop) as usize).clamp(5, 200_000);
        let time = |f: &mut dyn FnMut()| {
            let mut t = Vec::with_capacity(reps);
            for _ in 0..reps {
                let s = Instant::now();
                f();
                t.push(s.elapsed().as_secs_f64());
            }
            t.sort_by(f64::total_cmp);
            t[reps / 2]
        };
        let mut fused = || {
            assert!(
                dense_dot(&x, k, &layers, &mut out),
                "no fused kernel on this CPU"
            );
        };
        let mut plain = || {
            for row in hidden.chunks_exact_mut(h) {
                row.copy_from_slice(&bias);
            }
            gemm_with(false, rows, k, h, &x, Op::N, &w, Op::N, 1.0, &mut hidden);
            for (o, row) in out2.iter_mut().zip(hidden.chunks_exact(h)) {
                *o = 0.5 + row.iter().zip(&v).map(|(z, v)| z.max(0.0) * v).sum::<f32>();
            }
        };
        let (mut a, mut b) = (f64::MAX, f64::MAX);
        for _ in 0..3 {
            a = a.min(time(&mut fused));
            b = b.min(time(&mut plain));
        }
        let show = |t: f64| format!("{:.1} GF {:>6.2}µs", flop / t / 1e9, t * 1e6);
        println!(
            "{:40}{:>16}{:>16}{:>8.2}",
            format!("{rows} rows"),
            show(a),
            show(b),
            b / a
        );
    }
}
