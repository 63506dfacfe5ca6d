//! Top-K accuracy over a whole catalogue, as TFRS's `tfrs.metrics.FactorizedTopK` computes it.
//!
//! Retrieval (the basic retrieval and multitask tutorials). For each (query, true candidate)
//! pair, TFRS scores the query against every candidate of the catalogue, keeps the best
//! `max(ks)` scores, and asks `tf.math.in_top_k` whether the true candidate's own score is in
//! the top `k` of [true score, best scores]. `in_top_k` counts ties as inside, so a pair is a
//! hit at `k` exactly when fewer than `k` catalogue candidates score *strictly* higher than the
//! true one; that count is what this computes. A true score that is not finite is a miss.

use rayon::prelude::*;

use crate::error::{EngineError, Result};

/// TFRS's default cut-offs.
pub const DEFAULT_KS: [usize; 5] = [1, 5, 10, 50, 100];

/// Streaming top-K categorical accuracy of a two-tower model over a fixed catalogue.
#[derive(Debug, Clone, PartialEq)]
pub struct FactorizedTopK {
    /// `[n, dim]`: every candidate's embedding.
    candidates: Vec<f32>,
    dim: usize,
    /// Cut-offs, ascending.
    ks: Vec<usize>,
    /// Hits at each cut-off.
    hits: Vec<u64>,
    count: u64,
}

impl FactorizedTopK {
    /// A metric over `candidates` (`[n, dim]`, row-major, `n ≥ 1`) at cut-offs `ks` (each ≥ 1).
    pub fn new(candidates: Vec<f32>, dim: usize, ks: &[usize]) -> Result<Self> {
        if dim == 0 || candidates.is_empty() || !candidates.len().is_multiple_of(dim) {
            return Err(EngineError::Invalid {
                what: "candidates",
                reason: format!(
                    "need a non-empty [n, {dim}] matrix, got {} values",
                    candidates.len()
                ),
            });
        }
        if ks.is_empty() || ks.contains(&0) {
            return Err(EngineError::Invalid {
                what: "ks",
                reason: format!("need one or more cut-offs, each at least 1, got {ks:?}"),
            });
        }
        let mut ks = ks.to_vec();
        ks.sort_unstable();
        ks.dedup();
        Ok(FactorizedTopK {
            hits: vec![0; ks.len()],
            candidates,
            dim,
            ks,
            count: 0,
        })
    }

    /// Adds a batch: `queries[i]` and its true candidate's embedding `true_candidates[i]`, both
    /// `[batch, dim]`.
    pub fn update(&mut self, queries: &[f32], true_candidates: &[f32]) -> Result<()> {
        let d = self.dim;
        if !queries.len().is_multiple_of(d) || true_candidates.len() != queries.len() {
            return Err(EngineError::Shape {
                what: "true candidates",
                expected: queries.len() - queries.len() % d,
                got: true_candidates.len(),
            });
        }
        let limit = *self.ks.last().expect("checked non-empty");
        let ranks: Vec<usize> = queries
            .par_chunks(d)
            .zip(true_candidates.par_chunks(d))
            .map(|(q, t)| self.higher_than(q, dot(q, t), limit))
            .collect();
        for rank in ranks {
            for (k, h) in self.ks.iter().zip(&mut self.hits) {
                *h += (rank < *k) as u64;
            }
        }
        self.count += (queries.len() / d) as u64;
        Ok(())
    }

    /// How many candidates score strictly above `positive` for query `q`, counting up to
    /// `limit` (past it the pair misses at every cut-off); `limit` for a non-finite score.
    ///
    /// Every score goes through the same [`dot`], so the true candidate, when it is in the
    /// catalogue, ties with itself exactly instead of outranking itself by a rounding error.
    fn higher_than(&self, q: &[f32], positive: f32, limit: usize) -> usize {
        if !positive.is_finite() {
            return limit;
        }
        let mut n = 0;
        for c in self.candidates.chunks_exact(self.dim) {
            n += (dot(q, c) > positive) as usize;
            if n >= limit {
                break;
            }
        }
        n
    }

    /// `(k, accuracy)` for each cut-off, ascending; accuracy 0 before any pair (as Keras).
    pub fn result(&self) -> Vec<(usize, f64)> {
        let n = self.count.max(1) as f64;
        self.ks
            .iter()
            .zip(&self.hits)
            .map(|(&k, &h)| (k, h as f64 / n))
            .collect()
    }

    /// Pairs seen.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Starts over.
    pub fn reset(&mut self) {
        self.hits.fill(0);
        self.count = 0;
    }
}

/// `a · b` in `f32`, always summed in the same order (eight lanes, then the lanes in order).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            lanes[l] += x[l] * y[l];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four candidates on a line, scored by a 1-d query: scores are the candidates themselves.
    #[test]
    fn hand_checked_ranks_and_ties_count_as_inside() {
        let mut m = FactorizedTopK::new(vec![4.0, 3.0, 2.0, 1.0], 1, &[1, 2, 3]).unwrap();
        // True candidate 3.0: one candidate (4.0) above → a hit at k = 2 and 3, not 1.
        // True candidate 4.0: nothing above → a hit everywhere.
        // True candidate 2.5 (not in the catalogue): two above → a hit at k = 3 only.
        m.update(&[1.0, 1.0, 1.0], &[3.0, 4.0, 2.5]).unwrap();
        assert_eq!(m.result(), vec![(1, 1.0 / 3.0), (2, 2.0 / 3.0), (3, 1.0)]);
        // A negative query reverses the order: for 4.0, three candidates score higher.
        m.update(&[-1.0], &[4.0]).unwrap();
        assert_eq!(m.result()[2], (3, 3.0 / 4.0));
        assert_eq!(m.count(), 4);
        // Ties are inside: a catalogue of equal scores is a hit at k = 1.
        let mut t = FactorizedTopK::new(vec![1.0; 5], 1, &[1]).unwrap();
        t.update(&[2.0], &[1.0]).unwrap();
        assert_eq!(t.result(), vec![(1, 1.0)]);
        t.reset();
        assert_eq!(t.result(), vec![(1, 0.0)]);
    }

    #[test]
    fn ranks_match_f64_and_the_true_candidate_ties_with_itself() {
        // 33-wide vectors exercise the lanes and the tail.
        let (n, dim) = (10, 33);
        let cands: Vec<f32> = (0..n * dim).map(|i| ((i as f32) * 0.37).sin()).collect();
        let q: Vec<f32> = (0..dim).map(|i| ((i as f32) * 1.3).cos()).collect();
        let m = FactorizedTopK::new(cands.clone(), dim, &[1]).unwrap();
        let exact = |j: usize| -> f64 {
            let c = &cands[j * dim..][..dim];
            q.iter().zip(c).map(|(&a, &b)| a as f64 * b as f64).sum()
        };
        for j in 0..n {
            let want = (0..n).filter(|&i| exact(i) > exact(j)).count();
            let got = m.higher_than(&q, dot(&q, &cands[j * dim..][..dim]), n + 1);
            assert_eq!(got, want, "candidate {j}");
        }
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(FactorizedTopK::new(vec![], 2, &[1]).is_err());
        assert!(FactorizedTopK::new(vec![1.0; 3], 2, &[1]).is_err());
        assert!(FactorizedTopK::new(vec![1.0; 4], 0, &[1]).is_err());
        let err = FactorizedTopK::new(vec![1.0; 4], 2, &[0, 5]).unwrap_err();
        assert!(err.to_string().contains("ks"), "{err}");
        let mut m = FactorizedTopK::new(vec![1.0; 4], 2, &DEFAULT_KS).unwrap();
        assert!(m.update(&[1.0; 4], &[1.0; 2]).is_err());
        // A NaN true score is a miss, not a hit.
        m.update(&[f32::NAN, 0.0], &[1.0, 1.0]).unwrap();
        assert!(m.result().iter().all(|&(_, a)| a == 0.0));
    }
}
