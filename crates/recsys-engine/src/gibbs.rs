//! The draws and the small dense algebra a Gibbs sampler for Bayesian matrix factorization needs.
//!
//! Ranking, rating prediction: Bayesian probabilistic matrix factorization (BPMF, Salakhutdinov
//! & Mnih, "Bayesian Probabilistic Matrix Factorization using Markov Chain Monte Carlo", ICML
//! 2008) samples each user's and item's factor vector from a Gaussian given the others, and the
//! Gaussian's mean and precision from a Gaussian–Wishart. Matrices here are `n × n`, row-major,
//! in `f64`, with `n` the factor width (tens), so plain loops are the right tool.
//!
//! The draws are reproducible from a seed: [`SampleRng`] is `ChaCha8`, and normal and gamma
//! variates are derived from it by fixed algorithms (Box–Muller; Marsaglia & Tsang 2000).

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// A seeded source of uniform, normal, gamma and Wishart draws.
#[derive(Debug, Clone)]
pub struct SampleRng {
    rng: ChaCha8Rng,
    spare: Option<f64>,
}

impl SampleRng {
    /// A generator whose whole stream is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        SampleRng {
            rng: ChaCha8Rng::seed_from_u64(seed),
            spare: None,
        }
    }

    /// Uniform in the open interval `(0, 1)` (53 random bits).
    pub fn uniform(&mut self) -> f64 {
        ((self.rng.next_u64() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
    }

    /// A standard normal draw (Box–Muller; the second value of each pair is kept for the next
    /// call).
    pub fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        let r = (-2.0 * self.uniform().ln()).sqrt();
        let t = std::f64::consts::TAU * self.uniform();
        self.spare = Some(r * t.sin());
        r * t.cos()
    }

    /// A gamma draw with this `shape` and scale 1 (Marsaglia & Tsang; shapes below 1 use
    /// `Gamma(a) = Gamma(a + 1) · U^(1/a)`).
    pub fn gamma(&mut self, shape: f64) -> f64 {
        if shape < 1.0 {
            let u = self.uniform();
            return self.gamma(shape + 1.0) * u.powf(1.0 / shape);
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal();
            let v = (1.0 + c * x).powi(3);
            if v <= 0.0 {
                continue;
            }
            let u = self.uniform();
            if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
                return d * v;
            }
        }
    }

    /// A Wishart draw with `n × n` scale matrix `scale` and `df > n − 1` degrees of freedom
    /// (Bartlett's decomposition: `L·A·Aᵀ·Lᵀ` with `L = chol(scale)`); its mean is `df · scale`.
    /// `None` if `scale` is not positive definite.
    pub fn wishart(&mut self, scale: &[f64], df: f64, n: usize) -> Option<Vec<f64>> {
        let mut l = scale.to_vec();
        if !cholesky(&mut l, n) {
            return None;
        }
        let mut a = vec![0.0; n * n];
        for i in 0..n {
            a[i * n + i] = (2.0 * self.gamma((df - i as f64) / 2.0)).sqrt();
            for j in 0..i {
                a[i * n + j] = self.normal();
            }
        }
        // b = L·A (both lower triangular), then W = b·bᵀ.
        let mut b = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..=i {
                b[i * n + j] = (j..=i).map(|k| l[i * n + k] * a[k * n + j]).sum();
            }
        }
        let mut w = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..=i {
                let v: f64 = (0..=j).map(|k| b[i * n + k] * b[j * n + k]).sum();
                w[i * n + j] = v;
                w[j * n + i] = v;
            }
        }
        Some(w)
    }

    /// Draws `x ~ N(Λ⁻¹h, Λ⁻¹)` into `out`, given the precision `Λ` (`n × n`, overwritten by its
    /// Cholesky factor) and `h`. Returns `false`, leaving `out` alone, if `Λ` is not positive
    /// definite.
    pub fn gaussian_from_precision(
        &mut self,
        precision: &mut [f64],
        h: &[f64],
        n: usize,
        out: &mut [f64],
    ) -> bool {
        if !cholesky(precision, n) {
            return false;
        }
        let l = &*precision;
        // mean: L·y = h, Lᵀ·m = y. noise: Lᵀ·w = z, so Cov(w) = (L·Lᵀ)⁻¹.
        let mut y = h.to_vec();
        solve_lower(l, n, &mut y);
        for (o, yi) in out.iter_mut().zip(&y) {
            *o = yi + self.normal();
        }
        solve_lower_transposed(l, n, out);
        true
    }
}

/// In place, `a = L·Lᵀ` → `L` (lower triangle; the upper is zeroed). `false` if `a` is not
/// positive definite.
pub fn cholesky(a: &mut [f64], n: usize) -> bool {
    for j in 0..n {
        let mut d = a[j * n + j];
        for k in 0..j {
            d -= a[j * n + k] * a[j * n + k];
        }
        if !(d > 0.0 && d.is_finite()) {
            return false;
        }
        let d = d.sqrt();
        a[j * n + j] = d;
        for i in j + 1..n {
            let mut s = a[i * n + j];
            for k in 0..j {
                s -= a[i * n + k] * a[j * n + k];
            }
            a[i * n + j] = s / d;
        }
        for k in j + 1..n {
            a[j * n + k] = 0.0;
        }
    }
    true
}

/// Solves `L·x = b` in place for lower-triangular `L`.
pub fn solve_lower(l: &[f64], n: usize, b: &mut [f64]) {
    for i in 0..n {
        let s: f64 = (0..i).map(|k| l[i * n + k] * b[k]).sum();
        b[i] = (b[i] - s) / l[i * n + i];
    }
}

/// Solves `Lᵀ·x = b` in place for lower-triangular `L`.
pub fn solve_lower_transposed(l: &[f64], n: usize, b: &mut [f64]) {
    for i in (0..n).rev() {
        let s: f64 = (i + 1..n).map(|k| l[k * n + i] * b[k]).sum();
        b[i] = (b[i] - s) / l[i * n + i];
    }
}

/// The inverse of a symmetric positive definite `a` (`None` if it is not).
pub fn inverse_spd(a: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut l = a.to_vec();
    if !cholesky(&mut l, n) {
        return None;
    }
    let mut inv = vec![0.0; n * n];
    let mut col = vec![0.0; n];
    for j in 0..n {
        col.iter_mut()
            .enumerate()
            .for_each(|(i, c)| *c = f64::from(i == j));
        solve_lower(&l, n, &mut col);
        solve_lower_transposed(&l, n, &mut col);
        for i in 0..n {
            inv[i * n + j] = col[i];
        }
    }
    Some(inv)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPD: [f64; 9] = [4.0, 1.0, 0.5, 1.0, 3.0, 0.2, 0.5, 0.2, 2.0];

    #[test]
    fn cholesky_reconstructs_and_rejects_indefinite() {
        let mut l = SPD.to_vec();
        assert!(cholesky(&mut l, 3));
        for i in 0..3 {
            for j in 0..3 {
                let v: f64 = (0..3).map(|k| l[i * 3 + k] * l[j * 3 + k]).sum();
                assert!((v - SPD[i * 3 + j]).abs() < 1e-12);
            }
        }
        assert!(!cholesky(&mut [1.0, 2.0, 2.0, 1.0], 2));
        let inv = inverse_spd(&SPD, 3).unwrap();
        let id: f64 = (0..3).map(|k| SPD[k] * inv[k * 3]).sum();
        assert!((id - 1.0).abs() < 1e-12);
    }

    #[test]
    fn draws_have_the_right_moments_and_repeat_with_the_seed() {
        let mut r = SampleRng::new(1);
        let n = 200_000;
        let z: Vec<f64> = (0..n).map(|_| r.normal()).collect();
        let mean = z.iter().sum::<f64>() / n as f64;
        let var = z.iter().map(|x| x * x).sum::<f64>() / n as f64 - mean * mean;
        assert!(
            mean.abs() < 0.01 && (var - 1.0).abs() < 0.01,
            "{mean} {var}"
        );
        for shape in [0.5, 3.0] {
            let g = (0..n).map(|_| r.gamma(shape)).sum::<f64>() / n as f64;
            assert!(
                (g - shape).abs() < 0.02 * shape.max(1.0),
                "gamma({shape}) mean {g}"
            );
        }
        assert_eq!(SampleRng::new(7).normal(), SampleRng::new(7).normal());
    }

    #[test]
    fn wishart_mean_is_df_times_scale() {
        let mut r = SampleRng::new(2);
        let (df, draws) = (5.0, 20_000);
        let mut sum = [0.0; 9];
        for _ in 0..draws {
            let w = r.wishart(&SPD, df, 3).unwrap();
            sum.iter_mut().zip(&w).for_each(|(s, v)| *s += v);
        }
        for (s, want) in sum.iter().zip(SPD) {
            let got = s / draws as f64;
            assert!(
                (got - df * want).abs() < 0.05 * df * 4.0,
                "{got} vs {}",
                df * want
            );
        }
    }

    #[test]
    fn gaussian_from_precision_has_mean_inverse_h_and_covariance_inverse() {
        let mut r = SampleRng::new(3);
        let h = [1.0, -2.0, 0.5];
        let cov = inverse_spd(&SPD, 3).unwrap();
        let mean: Vec<f64> = (0..3)
            .map(|i| (0..3).map(|k| cov[i * 3 + k] * h[k]).sum())
            .collect();
        let draws = 100_000;
        let (mut m, mut c00) = ([0.0; 3], 0.0);
        let mut x = [0.0; 3];
        for _ in 0..draws {
            let mut p = SPD.to_vec();
            assert!(r.gaussian_from_precision(&mut p, &h, 3, &mut x));
            m.iter_mut().zip(&x).for_each(|(m, x)| *m += x);
            c00 += (x[0] - mean[0]).powi(2);
        }
        for i in 0..3 {
            assert!((m[i] / draws as f64 - mean[i]).abs() < 0.01);
        }
        assert!((c00 / draws as f64 - cov[0]).abs() < 0.01);
    }
}
