//! Matrix products: the one place the engine calls the GEMM crate.
//!
//! Every layer's forward and backward pass is a handful of products of row-major `f32`
//! matrices, some of them transposed. Wrapping `matrixmultiply::sgemm` here keeps the unsafe
//! pointer/stride call in one audited function, with the shapes checked against the slices
//! before it runs. `matrixmultiply` is built with its `threading` feature, so large products use
//! every core (`MATMUL_NUM_THREADS` caps it).

use std::sync::atomic::{AtomicU64, Ordering};

/// Products handed to the GEMM crate so far (it allocates one packing buffer per product, the
/// only allocation in a warm training step; the allocation test checks exactly that).
static GEMM_CALLS: AtomicU64 = AtomicU64::new(0);

/// How many products have reached the GEMM crate in this process.
pub fn gemm_calls() -> u64 {
    GEMM_CALLS.load(Ordering::Relaxed)
}

/// How a matrix operand is stored: row-major as given, or row-major of its transpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// The slice holds the matrix itself, row-major.
    N,
    /// The slice holds the matrix's transpose, row-major (so the matrix is read column-major).
    T,
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
    let (rsa, csa) = match op_a {
        Op::N => (k as isize, 1),
        Op::T => (1, m as isize),
    };
    let (rsb, csb) = match op_b {
        Op::N => (n as isize, 1),
        Op::T => (1, k as isize),
    };
    GEMM_CALLS.fetch_add(1, Ordering::Relaxed);
    // SAFETY: the asserts above guarantee every index the strides reach lies inside the slices:
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

    #[test]
    fn empty_inner_dimension_clears_or_scales() {
        let mut c = vec![f32::NAN; 4];
        gemm(2, 0, 2, &[], Op::N, &[], Op::N, 0.0, &mut c);
        assert_eq!(c, vec![0.0; 4]);
    }
}
