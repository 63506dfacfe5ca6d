//! Synthetic interaction data of any shape, for benchmarks at scale (MovieLens 25M's shape,
//! 10M users) without shipping data.
//!
//! Items are drawn with Zipf-like popularity (item `i`, from 0, has weight `1 / (i + 1)^s`), users
//! uniformly, and each rating comes from hidden latent factors plus noise, so that a model can
//! learn something: `r = clamp(round(3.5 + b_u + b_i + ⟨p_u, q_i⟩ + ε), 1, 5)`. Factors and
//! biases are not stored: each is a hash of `(seed, id, dimension)`, so memory stays constant
//! whatever the number of users, and the whole file is fixed by the seed.

use std::io::{BufWriter, Write};
use std::path::Path;

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use crate::{DataError, Result};

/// The shape of a synthetic data set.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthSpec {
    /// Distinct users (ids `u0` … ).
    pub users: u64,
    /// Distinct items (titles `item 0` … ).
    pub items: u64,
    /// Rows to write.
    pub interactions: u64,
    /// Fixes every draw.
    pub seed: u64,
    /// Zipf exponent of item popularity (1.0: the 100th item is drawn 1/100 as often as the first).
    pub zipf_exponent: f64,
    /// Width of the hidden factors.
    pub factors: usize,
    /// Standard deviation of the rating noise.
    pub noise: f64,
}

impl Default for SynthSpec {
    fn default() -> Self {
        SynthSpec {
            users: 943,
            items: 1682,
            interactions: 100_000,
            seed: 42,
            zipf_exponent: 1.0,
            factors: 8,
            noise: 0.5,
        }
    }
}

/// What [`write_synthetic`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthSummary {
    /// Rows written (without the header).
    pub rows: u64,
    /// Bytes written.
    pub bytes: u64,
}

/// The rows of a synthetic data set, generated lazily: `(user, item, rating)`.
#[derive(Debug, Clone)]
pub struct SynthRows {
    spec: SynthSpec,
    rng: ChaCha8Rng,
    /// Cumulative item weights, normalised to end at 1.
    item_cdf: Vec<f64>,
    left: u64,
}

impl SynthSpec {
    /// Checks the shape: at least one user, item and row; a finite exponent ≥ 0; noise ≥ 0.
    pub fn check(&self) -> Result<()> {
        let bad = |field: &str, allowed: &str, value: String| {
            Err(DataError::InvalidSpec {
                field: field.into(),
                allowed: allowed.into(),
                value,
            })
        };
        if self.users == 0 {
            return bad("users", "at least 1", self.users.to_string());
        }
        if self.items == 0 || self.items > 1 << 32 {
            return bad("items", "from 1 to 4294967296", self.items.to_string());
        }
        if self.interactions == 0 {
            return bad("interactions", "at least 1", self.interactions.to_string());
        }
        if !(self.zipf_exponent.is_finite() && self.zipf_exponent >= 0.0) {
            return bad(
                "zipf-exponent",
                "a finite number ≥ 0",
                self.zipf_exponent.to_string(),
            );
        }
        if !(self.noise.is_finite() && self.noise >= 0.0) {
            return bad("noise", "a finite number ≥ 0", self.noise.to_string());
        }
        if self.factors > 256 {
            return bad("factors", "from 0 to 256", self.factors.to_string());
        }
        Ok(())
    }

    /// The rows, lazily.
    pub fn rows(&self) -> Result<SynthRows> {
        self.check()?;
        let mut item_cdf = Vec::with_capacity(self.items as usize);
        let mut total = 0.0;
        for i in 0..self.items {
            total += ((i + 1) as f64).powf(-self.zipf_exponent);
            item_cdf.push(total);
        }
        for c in &mut item_cdf {
            *c /= total;
        }
        Ok(SynthRows {
            spec: self.clone(),
            rng: ChaCha8Rng::seed_from_u64(self.seed),
            item_cdf,
            left: self.interactions,
        })
    }
}

/// A uniform float in `[0, 1)` from 53 random bits.
fn unit(bits: u64) -> f64 {
    (bits >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// SplitMix64: a fixed, well-mixed hash, so hidden factors need no storage.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A hidden value in `[-scale, scale)`, fixed by `(seed, kind, id, dimension)`.
fn hidden(seed: u64, kind: u64, id: u64, dim: u64, scale: f64) -> f64 {
    let h = mix(seed ^ mix(kind ^ mix(id ^ mix(dim))));
    (2.0 * unit(h) - 1.0) * scale
}

impl SynthRows {
    /// The noiseless score of a `(user, item)` pair: the signal a model can learn.
    pub fn signal(&self, user: u64, item: u64) -> f64 {
        let s = self.spec.seed;
        let k = self.spec.factors.max(1) as f64;
        // Factor scale chosen so the dot product has a standard deviation of about 0.6.
        let scale = (0.6f64 * 3.0 / k.sqrt()).sqrt();
        let dot: f64 = (0..self.spec.factors as u64)
            .map(|d| hidden(s, 1, user, d, scale) * hidden(s, 2, item, d, scale))
            .sum();
        3.5 + hidden(s, 3, user, 0, 0.5) + hidden(s, 4, item, 0, 0.7) + dot
    }
}

impl Iterator for SynthRows {
    type Item = (u64, u64, f32);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let user = ((self.rng.next_u64() as u128 * self.spec.users as u128) >> 64) as u64;
        let u = unit(self.rng.next_u64());
        let item = self
            .item_cdf
            .partition_point(|&c| c <= u)
            .min(self.item_cdf.len() - 1) as u64;
        // Box–Muller noise from two uniforms.
        let (a, b) = (
            unit(self.rng.next_u64()).max(f64::MIN_POSITIVE),
            unit(self.rng.next_u64()),
        );
        let noise = (-2.0 * a.ln()).sqrt() * (std::f64::consts::TAU * b).cos() * self.spec.noise;
        let rating = (self.signal(user, item) + noise).round().clamp(1.0, 5.0) as f32;
        Some((user, item, rating))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = usize::try_from(self.left).unwrap_or(usize::MAX);
        (n, Some(n))
    }
}

/// Writes the data set as TSV (`user_id`, `movie_title`, `user_rating`, with a header) to `path`,
/// atomically: rows go to a temporary file beside it, renamed into place when complete.
pub fn write_synthetic(spec: &SynthSpec, path: &Path) -> Result<SynthSummary> {
    let rows = spec.rows()?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".synth-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| DataError::io(dir, e))?;
    let mut out = BufWriter::with_capacity(1 << 20, tmp.as_file());
    let io = |e| DataError::io(path, e);
    out.write_all(b"user_id\tmovie_title\tuser_rating\n")
        .map_err(io)?;
    let mut written = 0u64;
    for (user, item, rating) in rows {
        writeln!(out, "u{user}\titem {item}\t{rating}").map_err(io)?;
        written += 1;
    }
    out.flush().map_err(io)?;
    drop(out);
    tmp.as_file().sync_all().map_err(io)?;
    let bytes = tmp.as_file().metadata().map_err(io)?.len();
    tmp.persist(path)
        .map_err(|e| DataError::io(path, e.error))?;
    Ok(SynthSummary {
        rows: written,
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(n: u64) -> SynthSpec {
        SynthSpec {
            users: 50,
            items: 200,
            interactions: n,
            ..SynthSpec::default()
        }
    }

    #[test]
    fn same_seed_same_rows_other_seed_other_rows() {
        let a: Vec<_> = spec(500).rows().unwrap().collect();
        let b: Vec<_> = spec(500).rows().unwrap().collect();
        let c: Vec<_> = SynthSpec {
            seed: 7,
            ..spec(500)
        }
        .rows()
        .unwrap()
        .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 500);
        assert!(
            a.iter()
                .all(|&(u, i, r)| u < 50 && i < 200 && (1.0..=5.0).contains(&r))
        );
    }

    #[test]
    fn popularity_is_skewed_like_zipf() {
        let rows: Vec<_> = spec(20_000).rows().unwrap().collect();
        let mut counts = vec![0u32; 200];
        for &(_, i, _) in &rows {
            counts[i as usize] += 1;
        }
        // With s = 1 over 200 items, item 0 takes about 17% of draws and item 99 about 0.17%.
        let share0 = counts[0] as f64 / rows.len() as f64;
        assert!((0.14..0.21).contains(&share0), "item 0 share {share0}");
        assert!(
            counts[0] > 20 * counts[99].max(1),
            "{} vs {}",
            counts[0],
            counts[99]
        );
    }

    #[test]
    fn ratings_follow_the_hidden_signal() {
        // Learnable: the noiseless signal explains most of the ratings' variance.
        let rows = spec(20_000).rows().unwrap();
        let source = rows.clone();
        let pairs: Vec<(f64, f64)> = rows
            .map(|(u, i, r)| (source.signal(u, i), r as f64))
            .collect();
        let n = pairs.len() as f64;
        let (ms, mr) = (
            pairs.iter().map(|p| p.0).sum::<f64>() / n,
            pairs.iter().map(|p| p.1).sum::<f64>() / n,
        );
        let cov = pairs.iter().map(|p| (p.0 - ms) * (p.1 - mr)).sum::<f64>() / n;
        let (vs, vr) = (
            pairs.iter().map(|p| (p.0 - ms).powi(2)).sum::<f64>() / n,
            pairs.iter().map(|p| (p.1 - mr).powi(2)).sum::<f64>() / n,
        );
        let corr = cov / (vs * vr).sqrt();
        assert!(corr > 0.6, "correlation of rating with signal {corr}");
        assert!(vr > 0.3, "ratings barely vary: variance {vr}");
    }

    #[test]
    fn writes_a_readable_file_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("synth.tsv");
        let summary = write_synthetic(&spec(1000), &path).unwrap();
        assert_eq!(summary.rows, 1000);
        let rows = crate::read_interactions(&path, &crate::ColumnNames::default()).unwrap();
        assert_eq!(rows.len(), 1000);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left"
        );
    }

    #[test]
    fn bad_shapes_and_paths_are_errors() {
        for bad in [
            SynthSpec {
                users: 0,
                ..spec(10)
            },
            SynthSpec {
                items: 0,
                ..spec(10)
            },
            SynthSpec {
                interactions: 0,
                ..spec(10)
            },
            SynthSpec {
                zipf_exponent: f64::NAN,
                ..spec(10)
            },
            SynthSpec {
                noise: -1.0,
                ..spec(10)
            },
        ] {
            assert!(
                matches!(bad.check(), Err(DataError::InvalidSpec { .. })),
                "{bad:?}"
            );
        }
        let err = write_synthetic(&spec(10), Path::new("/nonexistent/dir/x.tsv")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/dir"), "{err}");
    }
}
