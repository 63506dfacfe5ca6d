//! Matrix products: the one place the engine multiplies matrices.
//!
//! Every layer's forward and backward pass is a handful of products of row-major `f32`
//! matrices, some of them transposed. [`gemm`] checks the shapes against the slices once, then
//! runs the engine's own AVX-512 kernel (`avx512`, on rayon's pool, allocation-free) where the
//! CPU has it, and `matrixmultiply::sgemm` (built with its `threading` feature;
//! `MATMUL_NUM_THREADS` caps it) everywhere else. `RECSYS_GEMM=matrixmultiply` forces the
//! latter, so benchmarks can compare the two in one run.

#[cfg(target_arch = "x86_64")]
mod avx512;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Products computed so far, by either backend.
static GEMM_CALLS: AtomicU64 = AtomicU64::new(0);
/// Products handed to `matrixmultiply` so far (it allocates packing buffers on every call; the
/// allocation test allows exactly those in a warm training step).
static FALLBACK_CALLS: AtomicU64 = AtomicU64::new(0);

/// How many products [`gemm`] has computed in this process.
pub fn gemm_calls() -> u64 {
    GEMM_CALLS.load(Ordering::Relaxed)
}

/// How many of [`gemm_calls`] went to `matrixmultiply` rather than the engine's own kernel.
pub fn fallback_calls() -> u64 {
    FALLBACK_CALLS.load(Ordering::Relaxed)
}

/// Which implementation computes the products.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The engine's AVX-512 kernel (x86-64 CPUs with AVX-512F).
    Avx512,
    /// The `matrixmultiply` crate (every other CPU, or `RECSYS_GEMM=matrixmultiply`).
    MatrixMultiply,
}

/// The backend [`gemm`] uses in this process: chosen once, from the CPU and `RECSYS_GEMM`.
pub fn backend() -> Backend {
    static CHOSEN: OnceLock<Backend> = OnceLock::new();
    *CHOSEN.get_or_init(|| {
        let forced = std::env::var("RECSYS_GEMM").is_ok_and(|v| v == "matrixmultiply");
        #[cfg(target_arch = "x86_64")]
        if !forced && avx512::available() {
            return Backend::Avx512;
        }
        let _ = forced;
        Backend::MatrixMultiply
    })
}

/// How a matrix operand is stored: row-major as given, or row-major of its transpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// The slice holds the matrix itself, row-major.
    N,
    /// The slice holds the matrix's transpose, row-major (so the matrix is read column-major).
    T,
}

/// [`gemm`] through `matrixmultiply` when `matrixmultiply` is true, else through the backend
/// [`gemm`] would pick: for benchmarks that compare the two in one process.
#[allow(clippy::too_many_arguments)]
pub fn gemm_with(
    matrixmultiply: bool,
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    op_a: Op,
    b: &[f32],
    op_b: Op,
    beta: f32,
    c: &mut [f32],
) {
    if matrixmultiply && m * k * n > 0 {
        check_shapes(m, k, n, a, b, c);
        with_matrixmultiply(m, k, n, a, op_a, b, op_b, beta, c);
    } else {
        gemm(m, k, n, a, op_a, b, op_b, beta, c);
    }
}

/// `c = a · b + beta · c`, where `a` is logically `m × k`, `b` is `k × n` and `c` is `m × n`,
/// all row-major; `op_a`/`op_b` say whether the slices hold the operands or their transposes.
///
/// `beta = 0` overwrites `c` (its old contents are ignored, NaN included); `beta = 1` adds.
///
/// # Panics
/// If a slice is shorter than its shape needs: that is a bug in the caller, not bad input.
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    op_a: Op,
    b: &[f32],
    op_b: Op,
    beta: f32,
    c: &mut [f32],
) {
    check_shapes(m, k, n, a, b, c);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        // An empty sum: c = beta * c, with beta = 0 meaning "overwrite".
        for v in &mut c[..m * n] {
            *v = if beta == 0.0 { 0.0 } else { *v * beta };
        }
        return;
    }
    GEMM_CALLS.fetch_add(1, Ordering::Relaxed);
    match backend() {
        #[cfg(target_arch = "x86_64")]
        Backend::Avx512 => avx512::gemm(m, k, n, a, op_a, b, op_b, beta, c),
        _ => {
            FALLBACK_CALLS.fetch_add(1, Ordering::Relaxed);
            with_matrixmultiply(m, k, n, a, op_a, b, op_b, beta, c);
        }
    }
}

/// A rating tower's last two layers — a hidden dense layer and the one-unit output layer — as
/// [`dense_dot`] computes them in one pass.
#[derive(Debug, Clone, Copy)]
pub struct DenseDot<'a> {
    /// The hidden layer's kernel, `[k, h]` row-major.
    pub kernel: &'a [f32],
    /// Its bias, `[h]`.
    pub bias: &'a [f32],
    /// Whether a ReLU follows it (else it is linear).
    pub relu: bool,
    /// The output layer's kernel, `[h]` (one unit), and its bias.
    pub out_kernel: &'a [f32],
    /// The output layer's bias.
    pub out_bias: f32,
}

/// `out[i] = out_bias + out_kernel · act(x[i] · kernel + bias)` for the `out.len()` rows of `x`
/// (`[rows, k]`, row-major), on the calling thread, without writing the hidden activations
/// anywhere: for a small tile of rows (the serving path's candidates) the separate products,
/// bias and activation passes cost more than the arithmetic. Returns `false`, computing
/// nothing, unless the engine's own kernel is in use (no AVX-512, or `RECSYS_GEMM` forcing the
/// fallback): the caller then runs the two layers one by one.
///
/// # Panics
/// If a slice is shorter than its shape needs (a bug in the caller).
pub fn dense_dot(x: &[f32], k: usize, layers: &DenseDot<'_>, out: &mut [f32]) -> bool {
    let h = layers.bias.len();
    assert!(x.len() >= out.len() * k, "dense_dot: x too short");
    assert!(layers.kernel.len() >= k * h, "dense_dot: kernel too short");
    assert!(
        layers.out_kernel.len() >= h,
        "dense_dot: output kernel too short"
    );
    match backend() {
        #[cfg(target_arch = "x86_64")]
        Backend::Avx512 => {
            let head = avx512::Head {
                hidden: avx512::Hidden {
                    x,
                    k,
                    w: layers.kernel,
                    h,
                    bias: layers.bias,
                    relu: layers.relu,
                },
                v: layers.out_kernel,
                v0: layers.out_bias,
            };
            avx512::dense_dot(&head, out);
            true
        }
        _ => false,
    }
}

/// For each group of 4 rows of a tile's input `x`, the steps along `k` where one of its rows is
/// not zero: what [`dense_rows`] and [`add_kernel_grad`] sum over. A training tile's forward
/// product and its kernel gradient read the same rows, so it finds them once for both (and
/// the tile's live columns with them).
#[derive(Debug, Clone, Default)]
pub struct RowGroups {
    /// Every group's steps, one group after another.
    steps: Vec<u32>,
    /// Where each group's steps end in `steps`.
    ends: Vec<u32>,
    /// Per 16 steps, the current group's (scratch).
    masks: Vec<u16>,
    /// The shape they were found for: `rows` rows of `k`.
    k: usize,
    rows: usize,
}

impl RowGroups {
    /// Finds the groups' steps for the rows of `x` (`[rows, k]`), and writes into `live` (a
    /// mask per 16 steps, bit `b` of mask `c` for step `16·c + b`) the steps where some row is
    /// not zero. Returns `false`, finding nothing, unless the engine's own kernel is in use.
    ///
    /// # Panics
    /// If `x` is shorter than `rows` rows, or `live` has not one mask per 16 steps.
    pub fn find(&mut self, x: &[f32], k: usize, rows: usize, live: &mut [u16]) -> bool {
        assert!(x.len() >= rows * k, "RowGroups::find: x too short");
        assert_eq!(
            live.len(),
            k.div_ceil(16),
            "RowGroups::find: one mask per 16 steps"
        );
        (self.k, self.rows) = (k, rows);
        match backend() {
            #[cfg(target_arch = "x86_64")]
            Backend::Avx512 => {
                let found = (&mut self.steps, &mut self.ends, &mut self.masks);
                avx512::find_groups(x, k, rows, found, live);
                true
            }
            _ => false,
        }
    }

    /// The steps and their groups' ends, checked against the shape a caller has.
    fn for_shape(&self, k: usize, rows: usize) -> (&[u32], &[u32]) {
        assert!(
            self.k == k && self.rows == rows && self.ends.len() == rows.div_ceil(4),
            "row groups found for {} rows of {}, used for {rows} rows of {k}",
            self.rows,
            self.k
        );
        (&self.steps, &self.ends)
    }
}

/// `out = act(x · kernel + bias)` for the rows of `x` (`[rows, k]`; `out`: `[rows, h]`, `h` the
/// bias's length) on the calling thread, where `x` is mostly zeros (a ReLU's output): like
/// [`dense_dot`], each group of 4 rows sums over only the steps along `k` where one of its rows
/// is not zero (`groups`, found for the same rows), which skips exact zeros and changes no
/// result. Returns `false`, computing nothing, unless the engine's own kernel is in use.
///
/// # Panics
/// If a slice is shorter than its shape needs, or `groups` were found for other rows (a bug in
/// the caller).
pub fn dense_rows(
    x: &[f32],
    k: usize,
    groups: &RowGroups,
    (kernel, bias, relu): (&[f32], &[f32], bool),
    out: &mut [f32],
) -> bool {
    let h = bias.len();
    assert!(
        h > 0 && out.len().is_multiple_of(h),
        "dense_rows: out is not rows of h"
    );
    assert!(x.len() >= out.len() / h * k, "dense_rows: x too short");
    assert!(kernel.len() >= k * h, "dense_rows: kernel too short");
    match backend() {
        #[cfg(target_arch = "x86_64")]
        Backend::Avx512 => {
            let layer = avx512::Hidden {
                x,
                k,
                w: kernel,
                h,
                bias,
                relu,
            };
            avx512::dense_rows(&layer, groups.for_shape(k, out.len() / h), out);
            true
        }
        _ => false,
    }
}

/// `d_kernel += xᵀ · d_z` for the rows of `x` (`[rows, k]`) and `d_z` (`[rows, h]`;
/// `d_kernel`: `[k, h]`) on the calling thread, where `x` is mostly zeros (a ReLU's output):
/// each group of 4 rows adds into only the kernel rows of the steps where one of its rows is
/// not zero (`groups`, found for the same rows; the others would get exact zeros). The sums run
/// in another order than a product's (a group's rows, then the next group's). Returns `false`,
/// computing nothing, unless the engine's own kernel is in use.
///
/// # Panics
/// If a slice is shorter than its shape needs, or `groups` were found for other rows (a bug in
/// the caller).
pub fn add_kernel_grad(
    x: &[f32],
    k: usize,
    groups: &RowGroups,
    d_z: &[f32],
    h: usize,
    d_kernel: &mut [f32],
) -> bool {
    assert!(
        h > 0 && d_z.len().is_multiple_of(h),
        "add_kernel_grad: d_z is not rows of h"
    );
    assert!(x.len() >= d_z.len() / h * k, "add_kernel_grad: x too short");
    assert!(
        d_kernel.len() >= k * h,
        "add_kernel_grad: d_kernel too short"
    );
    match backend() {
        #[cfg(target_arch = "x86_64")]
        Backend::Avx512 => {
            let groups = groups.for_shape(k, d_z.len() / h);
            avx512::add_kernel_grad(x, k, groups, d_z, h, d_kernel);
            true
        }
        _ => false,
    }
}

/// Panics unless `a`, `b` and `c` hold at least `m×k`, `k×n` and `m×n` values.
fn check_shapes(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &[f32]) {
    assert!(
        a.len() >= m * k,
        "gemm: a has {} values, needs {m}x{k}",
        a.len()
    );
    assert!(
        b.len() >= k * n,
        "gemm: b has {} values, needs {k}x{n}",
        b.len()
    );
    assert!(
        c.len() >= m * n,
        "gemm: c has {} values, needs {m}x{n}",
        c.len()
    );
}

/// [`gemm`] through `matrixmultiply::sgemm`, for shapes [`gemm`] has checked and `m, k, n > 0`.
#[allow(clippy::too_many_arguments)]
fn with_matrixmultiply(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    op_a: Op,
    b: &[f32],
    op_b: Op,
    beta: f32,
    c: &mut [f32],
) {
    let (rsa, csa) = match op_a {
        Op::N => (k as isize, 1),
        Op::T => (1, m as isize),
    };
    let (rsb, csb) = match op_b {
        Op::N => (n as isize, 1),
        Op::T => (1, k as isize),
    };
    // SAFETY: `gemm`'s asserts guarantee every index the strides reach lies inside the slices:
    // a's largest offset is (m-1)*rsa + (k-1)*csa = m*k - 1 in both layouts, likewise b and c.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            rsa,
            csa,
            b.as_ptr(),
            rsb,
            csb,
            beta,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Textbook triple loop, in f64, as the reference.
    fn naive(m: usize, k: usize, n: usize, a: &[f32], op_a: Op, b: &[f32], op_b: Op) -> Vec<f32> {
        let at = |i: usize, p: usize| match op_a {
            Op::N => a[i * k + p],
            Op::T => a[p * m + i],
        };
        let bt = |p: usize, j: usize| match op_b {
            Op::N => b[p * n + j],
            Op::T => b[j * k + p],
        };
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k)
                    .map(|p| at(i, p) as f64 * bt(p, j) as f64)
                    .sum::<f64>() as f32;
            }
        }
        c
    }

    #[test]
    fn all_transpose_combinations_match_the_textbook_product() {
        let (m, k, n) = (5, 7, 3);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.91).cos()).collect();
        for op_a in [Op::N, Op::T] {
            for op_b in [Op::N, Op::T] {
                let want = naive(m, k, n, &a, op_a, &b, op_b);
                let mut c = vec![f32::NAN; m * n];
                gemm(m, k, n, &a, op_a, &b, op_b, 0.0, &mut c);
                for (x, y) in c.iter().zip(&want) {
                    assert!((x - y).abs() < 1e-5, "{op_a:?}{op_b:?}: {x} vs {y}");
                }
                // beta = 1 accumulates onto what is there.
                gemm(m, k, n, &a, op_a, &b, op_b, 1.0, &mut c);
                for (x, y) in c.iter().zip(&want) {
                    assert!((x - 2.0 * y).abs() < 1e-5);
                }
            }
        }
    }

    /// Both backends, every transpose combination, shapes that leave partial tiles, that cross
    /// the kernel's depth blocking and that are big enough to be split across threads.
    #[test]
    fn every_backend_matches_the_textbook_product_on_awkward_shapes() {
        type Gemm = fn(usize, usize, usize, &[f32], Op, &[f32], Op, f32, &mut [f32]);
        let mut backends: Vec<(&str, Gemm)> = vec![("matrixmultiply", with_matrixmultiply)];
        #[cfg(target_arch = "x86_64")]
        if avx512::available() {
            backends.push(("avx512", avx512::gemm));
        }
        let shapes = [
            (1, 1, 1),
            (1, 256, 64),
            (13, 300, 33),
            (25, 7, 1),
            (12, 64, 256),
            (37, 520, 17),
            (300, 600, 70),
        ];
        for (name, gemm) in backends {
            for (m, k, n) in shapes {
                let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
                let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.91).cos()).collect();
                for (op_a, op_b) in [
                    (Op::N, Op::N),
                    (Op::T, Op::N),
                    (Op::N, Op::T),
                    (Op::T, Op::T),
                ] {
                    let want = naive(m, k, n, &a, op_a, &b, op_b);
                    let tol = 1e-5 * (k as f32).sqrt().max(1.0);
                    // beta = 0 ignores what is there, NaN included; 0.5 scales it.
                    let mut c = vec![f32::NAN; m * n + 3];
                    gemm(m, k, n, &a, op_a, &b, op_b, 0.0, &mut c);
                    let mut c2 = c.clone();
                    gemm(m, k, n, &a, op_a, &b, op_b, 0.5, &mut c2);
                    for ((x, x2), y) in c.iter().zip(&c2).zip(&want) {
                        let case = format!("{name} {m}x{k}x{n} {op_a:?}{op_b:?}");
                        assert!((x - y).abs() < tol, "{case}: {x} vs {y}");
                        assert!((x2 - 1.5 * y).abs() < 1.5 * tol, "{case} beta: {x2} vs {y}");
                    }
                    assert!(
                        c[m * n..].iter().all(|v| v.is_nan()),
                        "{name}: wrote past c"
                    );
                }
            }
        }
    }

    #[test]
    fn empty_inner_dimension_clears_or_scales() {
        let mut c = vec![f32::NAN; 4];
        gemm(2, 0, 2, &[], Op::N, &[], Op::N, 0.0, &mut c);
        assert_eq!(c, vec![0.0; 4]);
    }

    /// `x` as a ReLU leaves it — mostly zeros, some rows and steps all zero, steps zero in
    /// some rows of a group only — gives the same scores as the dense sum, bit for bit however
    /// the rows are grouped, and a NaN in `x` still reaches its row's score.
    #[test]
    fn dense_dot_skips_zero_steps_without_changing_results() {
        let (rows, k, h) = (30, 70, 40);
        let mut x: Vec<f32> = (0..rows * k)
            .map(|i| ((i as f32 * 0.37).sin() - 0.6).max(0.0))
            .collect();
        x[3 * k..4 * k].fill(0.0);
        for r in 0..rows {
            x[r * k + 11] = 0.0;
            if r < 12 {
                x[r * k + 20..r * k + 40].fill(0.0);
            }
        }
        let w: Vec<f32> = (0..k * h).map(|i| (i as f32 * 0.91).cos()).collect();
        let bias: Vec<f32> = (0..h).map(|i| (i as f32 * 0.53).sin()).collect();
        let v: Vec<f32> = (0..h).map(|i| (i as f32 * 0.29).cos()).collect();
        let layers = DenseDot {
            kernel: &w,
            bias: &bias,
            relu: true,
            out_kernel: &v,
            out_bias: 0.25,
        };
        let score = |x: &[f32], layers: &DenseDot<'_>| {
            let mut out = vec![f32::NAN; rows];
            dense_dot(x, k, layers, &mut out).then_some(out)
        };
        let Some(got) = score(&x, &layers) else {
            return;
        };
        // Rows scored a few at a time, in groups cut at other places: the same bits.
        for chunk in [2, 3, 5, 7, 12] {
            let mut parts = vec![f32::NAN; rows];
            for (c, out) in parts.chunks_mut(chunk).enumerate() {
                if out.len() > 1 {
                    assert!(dense_dot(&x[c * chunk * k..], k, &layers, out));
                } else {
                    out[0] = got[c * chunk];
                }
            }
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&parts), bits(&got), "rows in chunks of {chunk}");
        }
        let hidden = naive(rows, k, h, &x, Op::N, &w, Op::N);
        for (i, got) in got.iter().enumerate() {
            let want: f64 = 0.25
                + (0..h)
                    .map(|j| (hidden[i * h + j] as f64 + bias[j] as f64).max(0.0) * v[j] as f64)
                    .sum::<f64>();
            assert!(
                (*got as f64 - want).abs() < 1e-3,
                "row {i}: {got} vs {want}"
            );
        }
        // (Through a linear hidden layer: a ReLU maps NaN to 0, fused or not.)
        x[5 * k + 7] = f32::NAN;
        let linear = DenseDot {
            relu: false,
            ..layers
        };
        let with_nan = score(&x, &linear).expect("fused above");
        assert!(with_nan[5].is_nan(), "a NaN input must reach its score");
        assert!(
            with_nan
                .iter()
                .enumerate()
                .all(|(i, s)| i == 5 || s.is_finite())
        );
    }

    /// A hidden layer on mostly-zero rows, per group of rows: the dense product plus bias and
    /// activation (in f64), widths that leave masked lanes and more than one pass of 64
    /// columns, and the same bits however the rows are cut into calls.
    #[test]
    fn dense_rows_equals_the_layer_and_ignores_grouping() {
        for (rows, k, h) in [(13, 70, 40), (9, 33, 100), (4, 256, 64)] {
            let x: Vec<f32> = (0..rows * k)
                .map(|i| ((i as f32 * 0.37).sin() - 0.5).max(0.0))
                .collect();
            let w: Vec<f32> = (0..k * h).map(|i| (i as f32 * 0.91).cos()).collect();
            let bias: Vec<f32> = (0..h).map(|i| (i as f32 * 0.53).sin()).collect();
            for relu in [false, true] {
                let mut got = vec![f32::NAN; rows * h];
                let mut groups = RowGroups::default();
                let mut live = vec![0; k.div_ceil(16)];
                if !groups.find(&x, k, rows, &mut live) {
                    assert_ne!(
                        backend(),
                        Backend::Avx512,
                        "the engine's kernel must find them"
                    );
                    return;
                }
                if !dense_rows(&x, k, &groups, (&w, &bias, relu), &mut got) {
                    assert_ne!(
                        backend(),
                        Backend::Avx512,
                        "the engine's kernel must run it"
                    );
                    return;
                }
                let product = naive(rows, k, h, &x, Op::N, &w, Op::N);
                for (i, got) in got.iter().enumerate() {
                    let z = product[i] as f64 + bias[i % h] as f64;
                    let want = if relu { z.max(0.0) } else { z };
                    assert!((*got as f64 - want).abs() < 1e-4, "{rows}x{k}x{h} [{i}]");
                }
                for chunk in [1, 3] {
                    let mut parts = vec![f32::NAN; rows * h];
                    for (c, out) in parts.chunks_mut(chunk * h).enumerate() {
                        let x = &x[c * chunk * k..];
                        assert!(groups.find(x, k, out.len() / h, &mut live));
                        assert!(dense_rows(x, k, &groups, (&w, &bias, relu), out));
                    }
                    let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&parts), bits(&got), "rows in chunks of {chunk}");
                }
            }
        }
    }

    /// The kernel gradient of mostly-zero rows, added per group of rows, against `xᵀ · d_z`
    /// (in f64) plus what `d_kernel` held: short groups, masked lanes, two passes of columns.
    #[test]
    fn add_kernel_grad_adds_the_product() {
        for (rows, k, h) in [(13_usize, 70_usize, 40_usize), (9, 33, 100), (1, 5, 16)] {
            let x: Vec<f32> = (0..rows * k)
                .map(|i| ((i as f32 * 0.37).sin() - 0.5).max(0.0))
                .collect();
            let d_z: Vec<f32> = (0..rows * h).map(|i| (i as f32 * 0.91).cos()).collect();
            let mut got: Vec<f32> = (0..k * h).map(|i| (i as f32 * 0.13).sin()).collect();
            let before = got.clone();
            let mut groups = RowGroups::default();
            let mut live = vec![0; k.div_ceil(16)];
            groups.find(&x, k, rows, &mut live);
            if !add_kernel_grad(&x, k, &groups, &d_z, h, &mut got) {
                assert_ne!(
                    backend(),
                    Backend::Avx512,
                    "the engine's kernel must run it"
                );
                return;
            }
            for p in 0..k {
                for j in 0..h {
                    let want = before[p * h + j] as f64
                        + (0..rows)
                            .map(|r| x[r * k + p] as f64 * d_z[r * h + j] as f64)
                            .sum::<f64>();
                    let got = got[p * h + j] as f64;
                    assert!((got - want).abs() < 1e-4, "{rows}x{k}x{h} [{p}, {j}]");
                }
            }
        }
    }

    /// The fused last two layers against the product, bias, activation and dot done one by one
    /// (in f64): row counts that leave a short register tile, widths that leave masked lanes,
    /// both activations; nothing written past the rows.
    #[test]
    fn dense_dot_equals_the_two_layers_one_by_one() {
        for (rows, k, h) in [
            (1, 1, 1),
            (1, 256, 64),
            (13, 17, 40),
            (24, 256, 64),
            (30, 9, 100),
        ] {
            let x: Vec<f32> = (0..rows * k).map(|i| (i as f32 * 0.37).sin()).collect();
            let w: Vec<f32> = (0..k * h).map(|i| (i as f32 * 0.91).cos()).collect();
            let bias: Vec<f32> = (0..h).map(|i| (i as f32 * 0.53).sin() * 0.5).collect();
            let v: Vec<f32> = (0..h).map(|i| (i as f32 * 0.29).cos()).collect();
            let hidden = naive(rows, k, h, &x, Op::N, &w, Op::N);
            for relu in [false, true] {
                let layers = DenseDot {
                    kernel: &w,
                    bias: &bias,
                    relu,
                    out_kernel: &v,
                    out_bias: 0.25,
                };
                let mut out = vec![f32::NAN; rows + 1];
                if !dense_dot(&x, k, &layers, &mut out[..rows]) {
                    assert_ne!(backend(), Backend::Avx512, "the engine's kernel must fuse");
                    return;
                }
                for (i, got) in out[..rows].iter().enumerate() {
                    let want = 0.25
                        + (0..h)
                            .map(|j| {
                                let z = hidden[i * h + j] as f64 + bias[j] as f64;
                                let z = if relu { z.max(0.0) } else { z };
                                z * v[j] as f64
                            })
                            .sum::<f64>();
                    let tol = 1e-5 * ((k * h) as f64).sqrt();
                    assert!(
                        (*got as f64 - want).abs() < tol,
                        "{rows}x{k}x{h} relu {relu} row {i}: {got} vs {want}"
                    );
                }
                assert!(out[rows].is_nan(), "wrote past the rows");
            }
        }
    }
}
