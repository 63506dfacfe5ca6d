//! Bayesian matrix factorization by Gibbs sampling (BPMF, Salakhutdinov & Mnih, ICML 2008),
//! with per-user and per-item biases, saved as one [`BiasedMf`].
//!
//! Model: `r = g + b_u + b_i + p_u·q_i + ε`, `ε ~ N(0, 1/α)`; `p_u ~ N(μ_U, Λ_U⁻¹)` with a
//! Gaussian–Wishart prior on `(μ_U, Λ_U)` (`μ₀ = 0`, `β₀ = 2`, `ν₀ = D`, `W₀ = I`), likewise
//! for items; `b ~ N(0, 1/λ)` with a Gamma(1, 1) prior on each side's `λ`; `g` is the
//! training mean. Each sweep draws the hyperparameters, then every user's factors given the
//! items', every item's given the users', then the biases — each a Gaussian in closed form.
//!
//! Prediction averages the sweeps after burn-in. Since the mean of `S` dot products
//! `p_u⁽ˢ⁾·q_i⁽ˢ⁾` is one dot product of the concatenations `[p_u⁽¹⁾…p_u⁽ˢ⁾]/√S ·
//! [q_i⁽¹⁾…q_i⁽ˢ⁾]/√S`, the ensemble is saved as an ordinary biased MF of `D·S` factors (the
//! biases averaged): the artifact, `evaluate`, `rank` and save/load need nothing new.
//!
//! Rows are drawn in parallel, each from a generator seeded by (seed, sweep, side, row), so the
//! result is the same on any number of threads.

use std::time::Instant;

use rayon::prelude::*;
use recsys_engine::RankingTask;
use recsys_engine::gibbs::{SampleRng, inverse_spd};
use serde::{Deserialize, Serialize};

use super::{BiasedMf, BiasedMfConfig};
use crate::train::{EpochReport, Examples, Metrics, TrainObserver};
use crate::{Error, Result};

/// How to sample, unchecked. Defaults are the `best` preset's (chosen on a validation split).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BpmfConfig {
    /// Width `D` of each sample's factors.
    pub factors: usize,
    /// Sweeps discarded before averaging.
    pub burn_in: usize,
    /// Sweeps averaged after burn-in (the saved model has `factors · samples` factors).
    pub samples: usize,
    /// `α`, the precision of the rating noise (BPMF's paper: 2; 1.5 is best on MovieLens 100k's
    /// validation split).
    pub noise_precision: f64,
    /// Seeds the sampler (and the validation split).
    pub seed: u64,
    /// Share of the training data held out, drawn with the seed: each sweep reports the
    /// running average's RMSE on it (0: train on everything).
    #[serde(default)]
    pub validation_fraction: f64,
}

impl Default for BpmfConfig {
    fn default() -> Self {
        BpmfConfig {
            factors: 10,
            burn_in: 20,
            samples: 200,
            noise_precision: 1.5,
            seed: 42,
            validation_fraction: 0.0,
        }
    }
}

/// A [`BpmfConfig`] whose every field has been checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidBpmfConfig(BpmfConfig);

impl BpmfConfig {
    /// Checks every field, naming the first out of range (as the CLI flag spells it).
    pub fn check(self) -> Result<ValidBpmfConfig> {
        let bad = |field, allowed, value: String| {
            Err(Error::Config {
                field,
                allowed,
                value,
            })
        };
        if !(1..=256).contains(&self.factors) {
            return bad(
                "factors",
                "an integer from 1 to 256",
                self.factors.to_string(),
            );
        }
        if self.burn_in > 100_000 {
            return bad(
                "burn-in",
                "an integer from 0 to 100000",
                self.burn_in.to_string(),
            );
        }
        if !(1..=10_000).contains(&self.samples) || self.samples * self.factors > 65536 {
            let v = self.samples.to_string();
            return bad("samples", "1 to 10000, with factors × samples ≤ 65536", v);
        }
        let a = self.noise_precision;
        if !(a.is_finite() && a > 0.0 && a <= 1e6) {
            return bad("noise-precision", "a number in (0, 1e6]", a.to_string());
        }
        crate::train::check_fraction(self.validation_fraction)?;
        Ok(ValidBpmfConfig(self))
    }
}

impl ValidBpmfConfig {
    /// The checked settings.
    pub fn get(&self) -> &BpmfConfig {
        &self.0
    }
}

/// Ratings grouped by row: for row `r`, `cols[start[r]..start[r + 1]]` and their residual
/// targets.
struct Groups {
    start: Vec<usize>,
    cols: Vec<u32>,
    idx: Vec<usize>,
}

impl Groups {
    fn new(rows: usize, keys: &[u32], others: &[u32]) -> Self {
        let mut start = vec![0usize; rows + 1];
        keys.iter().for_each(|&k| start[k as usize + 1] += 1);
        (0..rows).for_each(|r| start[r + 1] += start[r]);
        let mut fill = start.clone();
        let (mut cols, mut idx) = (vec![0; keys.len()], vec![0; keys.len()]);
        for (e, (&k, &o)) in keys.iter().zip(others).enumerate() {
            let at = &mut fill[k as usize];
            cols[*at] = o;
            idx[*at] = e;
            *at += 1;
        }
        Groups { start, cols, idx }
    }

    fn of(&self, row: usize) -> std::ops::Range<usize> {
        self.start[row]..self.start[row + 1]
    }
}

/// One side's current draw: factors (`rows × d`, `f64`) and biases.
struct Side {
    factors: Vec<f64>,
    bias: Vec<f64>,
    groups: Groups,
}

/// Samples a BPMF ensemble of `model`'s shape-to-be from `train` and returns it as a biased MF
/// (`factors · samples` wide, clamped to the training ratings' range). Each sweep is reported
/// to `observer` as an epoch: the current draw's training RMSE, the prior's penalty as
/// `regularization_loss`, and, with `validation`, the running average's RMSE on it.
pub fn fit_bpmf(
    users: recsys_data::Vocabulary,
    titles: recsys_data::Vocabulary,
    train: &Examples,
    validation: Option<&Examples>,
    config: &ValidBpmfConfig,
    observer: &mut dyn TrainObserver,
) -> Result<BiasedMf> {
    let cfg = config.get();
    if train.is_empty() {
        return Err(Error::InvalidInput("no training examples".into()));
    }
    let (d, s) = (cfg.factors, cfg.samples);
    let clip = super::rating_range(train);
    let mut model = BiasedMf::zeros(
        BiasedMfConfig {
            factors: d * s,
            clip,
        },
        users,
        titles,
    )?;
    let n = train.len() as f64;
    let global = super::mean_rating(train);
    model.global_bias = global;
    let (nu, ni) = (model.user_factors.rows, model.item_factors.rows);
    let mut init = SampleRng::new(cfg.seed);
    let mut side = |rows: usize, keys: &[u32], others: &[u32]| Side {
        factors: (0..rows * d).map(|_| 0.1 * init.normal()).collect(),
        bias: vec![0.0; rows],
        groups: Groups::new(rows, keys, others),
    };
    let mut u = side(nu, &train.users, &train.titles);
    let mut v = side(ni, &train.titles, &train.users);
    let target: Vec<f64> = train.ratings.iter().map(|&r| (r - global) as f64).collect();
    let mut valid_sum = validation.map(|e| vec![0.0f64; e.len()]);
    let alpha = cfg.noise_precision;
    let sweeps = cfg.burn_in + s;
    let scale = 1.0 / (s as f64).sqrt();
    for sweep in 0..sweeps {
        observer.epoch_begin(sweep + 1, sweeps, 1);
        let start = Instant::now();
        let given = |side: u64| Given {
            target: &target,
            alpha,
            d,
            seed: cfg.seed ^ ((sweep as u64) << 20) ^ (side << 60),
        };
        let pu = draw_factors(&mut u, &v, &given(1))?;
        let pv = draw_factors(&mut v, &u, &given(2))?;
        let bu = draw_biases(&mut u, &v, &given(3));
        let bv = draw_biases(&mut v, &u, &given(4));
        let mut task = RankingTask::default();
        let pred: Vec<f32> = (0..train.len())
            .map(|e| global + predict(&u, &v, train.users[e], train.titles[e], d) as f32)
            .collect();
        task.observe(&pred, &train.ratings);
        let mut metrics: Metrics = task.metrics().into();
        metrics.regularization_loss = (pu + pv + bu + bv) / (alpha * n);
        metrics.total_loss = metrics.loss + metrics.regularization_loss;
        if !metrics.total_loss.is_finite() {
            return Err(Error::Diverged {
                epoch: sweep + 1,
                step: 1,
                loss: metrics.total_loss as f32,
            });
        }
        let kept = sweep.checked_sub(cfg.burn_in);
        if let Some(k) = kept {
            store(&mut model, &u, &v, k, d, scale);
        }
        let validation_metrics = validation.zip(valid_sum.as_mut()).map(|(e, sum)| {
            let averaged = kept.map_or(1, |k| k + 1) as f64;
            let pred: Vec<f32> = (0..e.len())
                .map(|j| {
                    let p = predict(&u, &v, e.users[j], e.titles[j], d);
                    if kept.is_some() {
                        sum[j] += p;
                    } else {
                        sum[j] = p;
                    }
                    let p = global + (sum[j] / averaged) as f32;
                    clip.map_or(p, |[lo, hi]| p.clamp(lo, hi))
                })
                .collect();
            let mut t = RankingTask::default();
            t.observe(&pred, &e.ratings);
            Metrics::from(t.metrics())
        });
        let report = EpochReport {
            epoch: sweep + 1,
            metrics,
            seconds: start.elapsed().as_secs_f64(),
            validation: validation_metrics,
            retrieval_loss: None,
        };
        observer.epoch_end(sweep + 1, &report);
    }
    for b in [&mut model.user_bias, &mut model.item_bias] {
        b.table.iter_mut().for_each(|x| *x /= s as f32);
    }
    Ok(model)
}

fn predict(u: &Side, v: &Side, user: u32, item: u32, d: usize) -> f64 {
    let (a, b) = (user as usize, item as usize);
    let dot: f64 = (0..d)
        .map(|k| u.factors[a * d + k] * v.factors[b * d + k])
        .sum();
    u.bias[a] + v.bias[b] + dot
}

/// Writes draw `k` into columns `k·d..(k+1)·d` of the ensemble (scaled by `1/√S`) and adds its
/// biases to the running sums.
fn store(model: &mut BiasedMf, u: &Side, v: &Side, k: usize, d: usize, scale: f64) {
    let width = model.config.factors;
    for (table, bias, side) in [
        (&mut model.user_factors, &mut model.user_bias, u),
        (&mut model.item_factors, &mut model.item_bias, v),
    ] {
        for (row, src) in side.factors.chunks_exact(d).enumerate() {
            let dst = &mut table.table[row * width + k * d..][..d];
            dst.iter_mut()
                .zip(src)
                .for_each(|(o, x)| *o = (x * scale) as f32);
            bias.table[row] += side.bias[row] as f32;
        }
    }
}

/// The targets a side's draw is conditioned on (besides the other side), and its seed.
struct Given<'a> {
    target: &'a [f64],
    alpha: f64,
    d: usize,
    seed: u64,
}

/// Draws the side's hyperparameters, then each of its rows' factors given `other`'s; returns
/// the prior's penalty `½ Σ (x − μ)ᵀ Λ (x − μ)` of the new draw.
fn draw_factors(side: &mut Side, other: &Side, given: &Given) -> Result<f64> {
    let (target, alpha, d, seed) = (given.target, given.alpha, given.d, given.seed);
    let rows = side.bias.len();
    let mut rng = SampleRng::new(seed);
    let (mu, lambda) = draw_hyper(&side.factors, rows, d, &mut rng)?;
    let lambda_mu: Vec<f64> = (0..d)
        .map(|i| (0..d).map(|j| lambda[i * d + j] * mu[j]).sum())
        .collect();
    let groups = &side.groups;
    let bias = &side.bias;
    let ok = side
        .factors
        .par_chunks_mut(d)
        .enumerate()
        .map(|(row, out)| {
            let mut rng = SampleRng::new(seed.wrapping_add((row as u64 + 1) * 0x9E37_79B9));
            let mut p = lambda.clone();
            let mut h = lambda_mu.clone();
            let mut x = vec![0.0; d];
            for e in groups.of(row) {
                let col = groups.cols[e] as usize;
                let q = &other.factors[col * d..][..d];
                let r = target[groups.idx[e]] - bias[row] - other.bias[col];
                for i in 0..d {
                    h[i] += alpha * r * q[i];
                    for j in 0..d {
                        p[i * d + j] += alpha * q[i] * q[j];
                    }
                }
            }
            let drawn = rng.gaussian_from_precision(&mut p, &h, d, &mut x);
            out.copy_from_slice(&x);
            drawn
        })
        .all(|drawn| drawn);
    if !ok {
        return Err(Error::InvalidInput(
            "BPMF: a posterior precision is not positive definite (try a smaller --noise-precision)"
                .into(),
        ));
    }
    Ok(side
        .factors
        .chunks_exact(d)
        .map(|x| {
            let c: Vec<f64> = x.iter().zip(&mu).map(|(a, m)| a - m).collect();
            0.5 * (0..d)
                .map(|i| c[i] * (0..d).map(|j| lambda[i * d + j] * c[j]).sum::<f64>())
                .sum::<f64>()
        })
        .sum())
}

/// `(μ, Λ)` from their Gaussian–Wishart conditional given the rows `x` (`rows × d`).
fn draw_hyper(
    x: &[f64],
    rows: usize,
    d: usize,
    rng: &mut SampleRng,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let (beta0, nf) = (2.0, rows as f64);
    let mean: Vec<f64> = (0..d)
        .map(|k| x.chunks_exact(d).map(|r| r[k]).sum::<f64>() / nf)
        .collect();
    // W*⁻¹ = W₀⁻¹ + N·S̄ + β₀N/(β₀+N)·x̄x̄ᵀ, with W₀ = I and μ₀ = 0.
    let mut winv = vec![0.0; d * d];
    for r in x.chunks_exact(d) {
        for i in 0..d {
            for j in 0..d {
                winv[i * d + j] += (r[i] - mean[i]) * (r[j] - mean[j]);
            }
        }
    }
    let shrink = beta0 * nf / (beta0 + nf);
    for i in 0..d {
        winv[i * d + i] += 1.0;
        for j in 0..d {
            winv[i * d + j] += shrink * mean[i] * mean[j];
        }
    }
    let singular = || Error::InvalidInput("BPMF: hyperparameter posterior is singular".into());
    let w = inverse_spd(&winv, d).ok_or_else(singular)?;
    let lambda = rng.wishart(&w, d as f64 + nf, d).ok_or_else(singular)?;
    // μ ~ N(N·x̄/(β₀+N), ((β₀+N)Λ)⁻¹): precision (β₀+N)Λ, linear term (β₀+N)Λ·μ*.
    let mut p: Vec<f64> = lambda.iter().map(|l| l * (beta0 + nf)).collect();
    let h: Vec<f64> = (0..d)
        .map(|i| (0..d).map(|j| lambda[i * d + j] * mean[j] * nf).sum())
        .collect();
    let mut mu = vec![0.0; d];
    if !rng.gaussian_from_precision(&mut p, &h, d, &mut mu) {
        return Err(singular());
    }
    Ok((mu, lambda))
}

/// Draws the side's bias precision `λ ~ Gamma(1 + n/2, 1 + Σb²/2)`, then each bias given the
/// factors and the other side's biases; returns the penalty `½ λ Σ b²` of the new draw.
fn draw_biases(side: &mut Side, other: &Side, given: &Given) -> f64 {
    let (target, alpha, d, seed) = (given.target, given.alpha, given.d, given.seed);
    let mut rng = SampleRng::new(seed);
    let rows = side.bias.len();
    let sq: f64 = side.bias.iter().map(|b| b * b).sum();
    let lambda = rng.gamma(1.0 + rows as f64 / 2.0) / (1.0 + sq / 2.0);
    let groups = &side.groups;
    let factors = &side.factors;
    side.bias.par_iter_mut().enumerate().for_each(|(row, b)| {
        let mut rng = SampleRng::new(seed.wrapping_add((row as u64 + 1) * 0x9E37_79B9));
        let p = &factors[row * d..][..d];
        let mut sum = 0.0;
        let range = groups.of(row);
        let count = range.len() as f64;
        for e in range {
            let col = groups.cols[e] as usize;
            let q = &other.factors[col * d..][..d];
            let dot: f64 = p.iter().zip(q).map(|(a, b)| a * b).sum();
            sum += target[groups.idx[e]] - other.bias[col] - dot;
        }
        let precision = lambda + alpha * count;
        *b = alpha * sum / precision + rng.normal() / precision.sqrt();
    });
    0.5 * lambda * side.bias.iter().map(|b| b * b).sum::<f64>()
}

#[cfg(test)]
pub(crate) mod tests;
