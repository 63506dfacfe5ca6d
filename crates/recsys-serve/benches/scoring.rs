//! In-process scoring: 1, 100 and 1,664 candidates for one user, raw titles in, through the
//! serving path (`Scorer`: the titles looked up, the first layer's item half precomputed) and,
//! for reference, the plain `RankingModel::predict`. Each size is timed from the main thread (as a server's request
//! thread calls it: requests under 512 candidates stay on that thread) and from inside rayon's
//! pool (where 64 candidates and more are split across the cores).
//!
//! ```text
//! cargo bench -p recsys-serve --bench scoring                          # MovieLens-shaped random model
//! RECSYS_BENCH_MODEL=/tmp/m cargo bench -p recsys-serve --bench scoring # a saved model
//! ```
//!
//! A benchmark, not a test: it prints timings and checks nothing but agreement.

use std::hint::black_box;
use std::time::{Duration, Instant};

use recsys::contract::Model;
use recsys::data::Vocabulary;
use recsys::kinds::ranking::{RankingModel, RankingModelConfig};
use recsys::scorer::{Scorer, Scratch};

fn model() -> (RankingModel, String) {
    if let Some(dir) = std::env::var_os("RECSYS_BENCH_MODEL") {
        let saved = recsys::artifact::load::<RankingModel>(std::path::Path::new(&dir))
            .expect("RECSYS_BENCH_MODEL");
        return (
            saved.model,
            format!("saved model {}", dir.to_string_lossy()),
        );
    }
    let users: Vec<String> = (1..=943).map(|u| u.to_string()).collect();
    let titles: Vec<String> = (0..1664).map(|t| format!("Title {t:04} (1990)")).collect();
    let m = RankingModel::new(
        RankingModelConfig::default(),
        Vocabulary::from_values(users.iter().map(String::as_str)),
        Vocabulary::from_values(titles.iter().map(String::as_str)),
        42,
    )
    .unwrap();
    (
        m,
        "random model of MovieLens 100k's shape (943 users, 1664 titles, 32 → 256 → 64 → 1)".into(),
    )
}

/// Runs `f` for about `budget` after a warm-up; returns per-call (median, p99, mean).
fn time(budget: Duration, mut f: impl FnMut()) -> (Duration, Duration, Duration) {
    let warm = Instant::now();
    while warm.elapsed() < budget / 5 {
        f();
    }
    let mut samples = Vec::new();
    let start = Instant::now();
    while start.elapsed() < budget && samples.len() < 2_000_000 {
        let t = Instant::now();
        f();
        samples.push(t.elapsed());
    }
    let total: Duration = samples.iter().sum();
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99), total / samples.len() as u32)
}

fn main() {
    let (m, what) = model();
    println!("scoring benchmark: {what}");
    println!(
        "threads: MATMUL_NUM_THREADS={}",
        std::env::var("MATMUL_NUM_THREADS").unwrap_or_else(|_| "unset (GEMM crate default)".into())
    );
    let user = m.user_vocabulary.values()[41].to_owned();
    let all_titles = m.title_vocabulary.values().to_vec();
    let scorer = Scorer::new(m.clone());
    let mut scratch = Scratch::default();
    let pool = rayon::ThreadPoolBuilder::new().build().expect("rayon pool");
    println!(
        "{:>10}  {:>12} {:>12} {:>12}  {:>14} {:>14}  {:>14}",
        "candidates", "median", "p99", "mean", "in pool median", "in pool p99", "plain predict"
    );
    for n in [1usize, 100, all_titles.len()] {
        let titles = &all_titles[..n];
        let fast = scorer.score_user(&user, &titles, &mut scratch).to_vec();
        let users = vec![user.as_str(); n];
        let plain = m.predict(&users, &titles).unwrap();
        let worst = fast
            .iter()
            .zip(&plain)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            worst < 1e-5,
            "serving path disagrees with predict by {worst}"
        );
        let (median, p99, mean) = time(Duration::from_secs(2), || {
            black_box(scorer.score_user(&user, black_box(&titles), &mut scratch));
        });
        // The same calls made from one of rayon's workers, as a caller that runs its own work
        // in the pool would: small requests are then split across the cores as well.
        let (pool_median, pool_p99, _) = pool.install(|| {
            let mut scratch = Scratch::default();
            time(Duration::from_secs(2), || {
                black_box(scorer.score_user(&user, black_box(&titles), &mut scratch));
            })
        });
        let (plain_median, _, _) = time(Duration::from_millis(500), || {
            black_box(m.predict(black_box(&users), black_box(&titles)).unwrap());
        });
        println!(
            "{n:>10}  {:>12?} {:>12?} {:>12?}  {:>14?} {:>14?}  {:>14?}",
            median, p99, mean, pool_median, pool_p99, plain_median
        );
    }
}
