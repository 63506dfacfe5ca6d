//! The engine's products at the tutorial model's shapes, per backend, in GFLOP/s.
//!
//! `cargo bench -p recsys-engine --bench gemm` runs each shape through the engine's AVX-512
//! kernel (where the CPU has it) and through `matrixmultiply`, interleaved, inside a rayon pool
//! of all cores as training does; medians of repeated calls. The shapes are one training step
//! of the tutorial (batch 8,192; layers 64 → 256 → 64 → 1) and the serving path's small
//! products (1, 100 and 1,664 candidates through the 256 → 64 layer), the three products
//! of one 48-row tile of the tiled training step (one thread each), and the three a tile runs
//! on a 32-wide lookup it takes per example (a large data set's users). Last, the serving path's
//! fused last two layers (`dense_dot`: 256 → 64 → 1 for one tile of rows, on one thread),
//! against the same two layers as a product plus passes for bias, ReLU and the output dot.
//! Last, a probe of the machine: one tile product, and a loop of register-only multiply-adds,
//! on one core alone and then on every core at once (each thread with operands of its own).
//! On a virtual machine whose cores share a physical core's units or power budget, "at once"
//! runs each thread slower than "alone", and every multi-threaded figure inherits that.

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
        (
            "user tile fwd     48x32 · 32x256",
            48,
            32,
            256,
            Op::N,
            Op::N,
        ),
        (
            "user tile d kernel 32x48 · 48x256",
            32,
            48,
            256,
            Op::T,
            Op::N,
        ),
        (
            "user tile d rows  48x256 · 256x32",
            48,
            256,
            32,
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
    concurrency_probe();
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

/// A probe's name, and the work itself (returning its FLOP count).
type Probe = (&'static str, fn() -> f64);

/// GFLOP/s per thread of each probe on one thread, then on every core at once; best of three
/// rounds each.
fn concurrency_probe() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "\n{:40}{:>16}{:>16}{:>8}",
        "per thread",
        "alone",
        format!("{cores} at once"),
        "ratio"
    );
    let probes: [Probe; 2] = [
        ("tile product 48x256 · 256x64", tile_products),
        ("multiply-adds in registers", register_fma),
    ];
    for (name, probe) in probes {
        let rate = |threads: usize| -> f64 {
            let barrier = std::sync::Barrier::new(threads);
            let rates: Vec<f64> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..threads)
                    .map(|_| {
                        s.spawn(|| {
                            barrier.wait();
                            let start = Instant::now();
                            probe() / start.elapsed().as_secs_f64() / 1e9
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            rates.iter().sum::<f64>() / threads as f64
        };
        let (mut alone, mut all) = (0.0f64, 0.0f64);
        for _ in 0..3 {
            alone = alone.max(rate(1));
            all = all.max(rate(cores));
        }
        println!(
            "{name:40}{:>16}{:>16}{:>8.2}",
            format!("{alone:.1} GF"),
            format!("{all:.1} GF"),
            all / alone
        );
    }
}

/// The tiled training step's forward product, repeated on this thread's own operands (small
/// enough to stay on the calling thread). Returns the FLOP count.
fn tile_products() -> f64 {
    let (m, k, n, reps) = (48, 256, 64, 20_000);
    let a: Vec<f32> = (0..m * k).map(|i| (i % 97) as f32 * 0.01).collect();
    let b: Vec<f32> = (0..k * n).map(|i| (i % 89) as f32 * 0.01).collect();
    let mut c = vec![0.0f32; m * n];
    for _ in 0..reps {
        gemm_with(false, m, k, n, &a, Op::N, &b, Op::N, 0.0, &mut c);
    }
    std::hint::black_box(&c);
    reps as f64 * 2.0 * (m * k * n) as f64
}

/// Twelve independent chains of multiply-adds, 16 lanes wide: the machine's peak without
/// memory. Returns the FLOP count (0 without AVX-512, where the probe says nothing).
fn register_fma() -> f64 {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("fma") {
        // SAFETY: the features were just detected.
        return unsafe { register_fma_avx512() };
    }
    0.0
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
unsafe fn register_fma_avx512() -> f64 {
    use std::arch::x86_64::*;
    let mut acc = [_mm512_set1_ps(1.0); 12];
    let x = _mm512_set1_ps(std::hint::black_box(0.999_999));
    let y = _mm512_set1_ps(std::hint::black_box(1e-7));
    let steps = 20_000_000;
    for _ in 0..steps {
        for a in &mut acc {
            *a = _mm512_fmadd_ps(*a, x, y);
        }
    }
    std::hint::black_box(&acc);
    steps as f64 * 12.0 * 16.0 * 2.0
}
