//! In-batch softmax cross-entropy: the loss of a two-tower retrieval model.
//!
//! Retrieval, TFRS's `tfrs.tasks.Retrieval` with its default loss (the basic retrieval and
//! multitask tutorials): for a batch of `B` (query, candidate) pairs, the logits are
//! `S = Q · Cᵀ` (`B × B`), the labels are the identity (each query's own candidate is the
//! positive, every other candidate in the batch a negative, duplicates included), and the loss
//! is Keras's `CategoricalCrossentropy(from_logits=True, reduction=SUM)`:
//! `Σᵢ (log Σⱼ exp Sᵢⱼ − Sᵢᵢ)`. Its gradient is `dS = softmax(S) − I`, so `dQ = dS · C` and
//! `dC = dSᵀ · Q`.
//!
//! A batch of 8,192 has 67 million logits (256 MiB); this computes them a block of query rows
//! at a time instead, so the scratch stays at `BLOCK × B` values and in cache-sized pieces.

use rayon::prelude::*;

use crate::error::{EngineError, Result};
use crate::matmul::{Op, gemm};

/// Query rows whose logits are held at once.
const BLOCK: usize = 512;

/// The in-batch softmax loss with its scratch buffer (retrieval).
#[derive(Debug, Clone, Default)]
pub struct InBatchSoftmax {
    /// `[BLOCK, batch]`: one block's logits, overwritten with their gradient.
    scores: Vec<f32>,
}

/// The operands of one batch: `[batch, dim]` queries and candidates, row-major.
#[derive(Debug, Clone, Copy)]
pub struct Towers<'a> {
    /// Query embeddings (the user tower's output), `[batch, dim]`.
    pub queries: &'a [f32],
    /// Candidate embeddings (the item tower's output), `[batch, dim]`; row `i` is query `i`'s
    /// positive.
    pub candidates: &'a [f32],
    /// Rows.
    pub batch: usize,
    /// Width of each embedding.
    pub dim: usize,
}

impl Towers<'_> {
    /// Errors unless both slices hold exactly `batch × dim` values.
    pub fn check(&self) -> Result<()> {
        let want = self.batch * self.dim;
        for (what, len) in [
            ("queries", self.queries.len()),
            ("candidates", self.candidates.len()),
        ] {
            if len != want {
                return Err(EngineError::Shape {
                    what,
                    expected: want,
                    got: len,
                });
            }
        }
        Ok(())
    }
}

impl InBatchSoftmax {
    /// Returns the summed loss and writes `weight ×` its gradient with respect to the queries
    /// and the candidates into `d_queries` and `d_candidates` (`[batch, dim]`, overwritten).
    ///
    /// `weight` is the task's loss weight in a multitask model: the gradient of the weighted
    /// total is what the optimizer needs, and scaling here costs nothing extra.
    pub fn loss_and_grad(
        &mut self,
        t: Towers<'_>,
        weight: f32,
        d_queries: &mut [f32],
        d_candidates: &mut [f32],
    ) -> Result<f64> {
        t.check()?;
        let (b, d) = (t.batch, t.dim);
        if d_queries.len() < b * d || d_candidates.len() < b * d {
            return Err(EngineError::Shape {
                what: "gradient buffers",
                expected: b * d,
                got: d_queries.len().min(d_candidates.len()),
            });
        }
        d_candidates[..b * d].fill(0.0);
        self.scores.resize(BLOCK.min(b.max(1)) * b, 0.0);
        let mut total = 0.0;
        for start in (0..b).step_by(BLOCK) {
            let rows = BLOCK.min(b - start);
            let q = &t.queries[start * d..(start + rows) * d];
            let s = &mut self.scores[..rows * b];
            gemm(rows, d, b, q, Op::N, t.candidates, Op::T, 0.0, s);
            total += softmax_rows(s, b, start, weight);
            // dQ = dS · C ; dC += dSᵀ · Q
            let dq = &mut d_queries[start * d..(start + rows) * d];
            gemm(rows, b, d, s, Op::N, t.candidates, Op::N, 0.0, dq);
            gemm(
                b,
                rows,
                d,
                s,
                Op::T,
                q,
                Op::N,
                1.0,
                &mut d_candidates[..b * d],
            );
        }
        Ok(total)
    }

    /// The loss alone, in `f64` from the definition: the reference the tests check against.
    pub fn loss(t: Towers<'_>) -> Result<f64> {
        t.check()?;
        let (b, d) = (t.batch, t.dim);
        let dot = |i: usize, j: usize| -> f64 {
            let (q, c) = (&t.queries[i * d..][..d], &t.candidates[j * d..][..d]);
            q.iter().zip(c).map(|(&x, &y)| x as f64 * y as f64).sum()
        };
        Ok((0..b)
            .map(|i| {
                let row: Vec<f64> = (0..b).map(|j| dot(i, j)).collect();
                let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let lse = m + row.iter().map(|s| (s - m).exp()).sum::<f64>().ln();
                lse - row[i]
            })
            .sum())
    }
}

/// Overwrites each row of logits `s` (`[rows, width]`, row `r` is query `first + r`) with
/// `weight × (softmax − one-hot)` and returns the rows' summed cross-entropy.
fn softmax_rows(s: &mut [f32], width: usize, first: usize, weight: f32) -> f64 {
    s.par_chunks_mut(width)
        .enumerate()
        .map(|(r, row)| {
            let max = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            let positive = row[first + r];
            let sum = exp_shifted_in_place(row, max);
            let scale = weight / sum as f32;
            for v in row.iter_mut() {
                *v *= scale;
            }
            row[first + r] -= weight;
            max as f64 + sum.ln() - positive as f64
        })
        .sum()
}

/// Replaces each `v` of `row` by `e^(v − max)` and returns their sum. Sixteen running sums (in
/// `f32`, each of at most `width / 16` terms in `[0, 1]`) let the loop vectorize; they are added
/// in `f64` at the end.
fn exp_shifted_in_place(row: &mut [f32], max: f32) -> f64 {
    const LANES: usize = 16;
    let mut sums = [0.0f32; LANES];
    let mut chunks = row.chunks_exact_mut(LANES);
    for chunk in &mut chunks {
        for (v, acc) in chunk.iter_mut().zip(&mut sums) {
            *v = exp_nonpositive(*v - max);
            *acc += *v;
        }
    }
    let mut tail = 0.0f64;
    for v in chunks.into_remainder() {
        *v = exp_nonpositive(*v - max);
        tail += *v as f64;
    }
    sums.iter().map(|&x| x as f64).sum::<f64>() + tail
}

/// `e^x` for `x ≤ 0` (a logit minus its row's maximum), branch-free so that loops over it
/// vectorize: Cephes's `expf` (Moshier) — `x = n ln 2 + r`, a degree-7 polynomial in `r`, then
/// `2ⁿ` built in the exponent bits. Relative error under 3e-7; below −87 it returns about
/// 1.6e-38 instead of underflowing (a term that small changes no sum of `f32`s with a 1 in it).
/// The library `expf` took as long as the three products of the loss together.
#[inline]
fn exp_nonpositive(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding and subtracting 1.5 · 2²³ rounds to the nearest integer in the FPU's own mode.
    const ROUND: f32 = 12_582_912.0;
    // Not `max`: a NaN logit must stay NaN, so that divergence is reported, not hidden.
    let x = if x < -87.0 { -87.0 } else { x };
    let t = x * std::f32::consts::LOG2_E + ROUND;
    let n = t - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_2e-4;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5; // Cephes: 5.0000001e-1, which is 0.5 in f32
    let e = p * r * r + r + 1.0;
    // `t`'s low bits hold `n` (its unit in the last place is 1), so `2ⁿ`'s bits come from
    // integer arithmetic on them; `n as i32` would saturate element by element instead.
    let biased = t.to_bits().wrapping_sub(ROUND.to_bits()).wrapping_add(127);
    e * f32::from_bits(biased << 23)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_gradient, test_values};

    fn towers<'a>(q: &'a [f32], c: &'a [f32], batch: usize, dim: usize) -> Towers<'a> {
        Towers {
            queries: q,
            candidates: c,
            batch,
            dim,
        }
    }

    #[test]
    fn two_by_two_by_hand() {
        // Q = I, C = [[2, 0], [0, 1]]: S = C, loss = ln(e² + 1) − 2 + ln(1 + e) − 1.
        let (q, c) = ([1.0, 0.0, 0.0, 1.0], [2.0, 0.0, 0.0, 1.0]);
        let want = (2f64.exp() + 1.0).ln() - 2.0 + (1.0 + 1f64.exp()).ln() - 1.0;
        let (mut dq, mut dc) = (vec![0.0; 4], vec![0.0; 4]);
        let got = InBatchSoftmax::default()
            .loss_and_grad(towers(&q, &c, 2, 2), 1.0, &mut dq, &mut dc)
            .unwrap();
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        assert!((InBatchSoftmax::loss(towers(&q, &c, 2, 2)).unwrap() - want).abs() < 1e-12);
        // Row 0's softmax is (e²/(e²+1), 1/(e²+1)); dQ₀ = dS₀ · C.
        let p = 2f32.exp() / (2f32.exp() + 1.0);
        assert!((dq[0] - (p - 1.0) * 2.0).abs() < 1e-6 && (dq[1] - (1.0 - p)).abs() < 1e-6);
    }

    /// Batches larger than a block, so the blocked accumulation of dC is checked too.
    #[test]
    fn gradients_match_finite_differences_across_blocks() {
        for (batch, dim, weight) in [(5, 3, 1.0f32), (BLOCK + 3, 2, 0.5)] {
            let mut q = test_values(batch * dim, 0.3);
            let mut c = test_values(batch * dim, 1.7);
            let (mut dq, mut dc) = (vec![0.0; batch * dim], vec![0.0; batch * dim]);
            let mut loss = InBatchSoftmax::default();
            let got = loss
                .loss_and_grad(towers(&q, &c, batch, dim), weight, &mut dq, &mut dc)
                .unwrap();
            let want = InBatchSoftmax::loss(towers(&q, &c, batch, dim)).unwrap();
            assert!(
                (got - want).abs() < 1e-4 * want.abs().max(1.0),
                "{got} vs {want}"
            );
            if batch > 8 {
                // Finite differences over a few hundred parameters: spot-check the first rows.
                dq.truncate(4 * dim);
                dc.truncate(4 * dim);
            }
            let n = dq.len();
            let c0 = c.clone();
            check_gradient("queries", &mut q[..n], &dq, |qp| {
                let mut full = test_values(batch * dim, 0.3);
                full[..n].copy_from_slice(qp);
                weight as f64 * InBatchSoftmax::loss(towers(&full, &c0, batch, dim)).unwrap()
            });
            let q0 = test_values(batch * dim, 0.3);
            check_gradient("candidates", &mut c[..n], &dc, |cp| {
                let mut full = test_values(batch * dim, 1.7);
                full[..n].copy_from_slice(cp);
                weight as f64 * InBatchSoftmax::loss(towers(&q0, &full, batch, dim)).unwrap()
            });
        }
    }

    #[test]
    fn fast_exp_is_accurate_over_the_range_logits_use() {
        let mut worst = 0.0f64;
        for i in 0..=200_000 {
            let x = -87.0 * i as f32 / 200_000.0;
            let want = (x as f64).exp();
            worst = worst.max((exp_nonpositive(x) as f64 - want).abs() / want);
        }
        assert!(worst < 3e-7, "relative error {worst}");
        assert_eq!(exp_nonpositive(0.0), 1.0);
        assert!(exp_nonpositive(-1e4) < 1e-37 && exp_nonpositive(f32::NEG_INFINITY) >= 0.0);
        assert!(exp_nonpositive(f32::NAN).is_nan());
    }

    #[test]
    fn mismatched_shapes_are_errors_not_panics() {
        let mut loss = InBatchSoftmax::default();
        let (mut dq, mut dc) = (vec![0.0; 4], vec![0.0; 4]);
        let err = loss
            .loss_and_grad(towers(&[1.0; 4], &[1.0; 3], 2, 2), 1.0, &mut dq, &mut dc)
            .unwrap_err();
        assert!(err.to_string().contains("candidates"), "{err}");
        assert!(
            loss.loss_and_grad(
                towers(&[1.0; 4], &[1.0; 4], 2, 2),
                1.0,
                &mut dq[..1],
                &mut dc
            )
            .is_err()
        );
    }
}
