use super::*;
use crate::train::Silent;
use recsys_data::Vocabulary;

/// Ratings from hidden rank-2 factors plus biases, every user rating most items.
pub(crate) fn synthetic(
    users: usize,
    items: usize,
    seed: u64,
) -> (Vocabulary, Vocabulary, Examples) {
    let mut rng = SampleRng::new(seed);
    let uf: Vec<f64> = (0..users * 2).map(|_| rng.normal()).collect();
    let itf: Vec<f64> = (0..items * 2).map(|_| rng.normal()).collect();
    let mut e = Examples::default();
    for u in 0..users {
        for i in 0..items {
            if rng.uniform() < 0.7 {
                let dot = uf[2 * u] * itf[2 * i] + uf[2 * u + 1] * itf[2 * i + 1];
                let r = 3.0 + 0.3 * (u % 3) as f64 - 0.2 * (i % 4) as f64 + 0.6 * dot;
                e.users.push(u as u32 + 1);
                e.titles.push(i as u32 + 1);
                e.ratings
                    .push((r + 0.2 * rng.normal()).clamp(1.0, 5.0) as f32);
            }
        }
    }
    let names = |n: usize| {
        Vocabulary::from_values(
            (0..n)
                .map(|k| format!("{k:04}"))
                .collect::<Vec<_>>()
                .iter()
                .map(String::as_str),
        )
    };
    (names(users), names(items), e)
}

fn small() -> ValidBpmfConfig {
    BpmfConfig {
        factors: 2,
        burn_in: 5,
        samples: 10,
        noise_precision: 10.0,
        seed: 1,
        validation_fraction: 0.0,
    }
    .check()
    .unwrap()
}

#[test]
fn recovers_low_rank_ratings_far_better_than_the_mean() {
    let (users, items, e) = synthetic(40, 30, 3);
    let mean = e.ratings.iter().sum::<f32>() / e.len() as f32;
    let base = (e
        .ratings
        .iter()
        .map(|r| ((r - mean) as f64).powi(2))
        .sum::<f64>()
        / e.len() as f64)
        .sqrt();
    let m = fit_bpmf(users, items, &e, Some(&e), &small(), &mut Silent).unwrap();
    assert_eq!(m.config.factors, 2 * 10);
    let rmse = crate::kinds::mf::evaluate(&m, &e)
        .unwrap()
        .root_mean_squared_error;
    assert!(rmse < 0.4 * base, "rmse {rmse} vs the mean's {base}");
}

#[test]
fn same_seed_same_model_and_each_sweep_is_reported() {
    let (users, items, e) = synthetic(12, 9, 4);
    struct Count(usize, bool);
    impl TrainObserver for Count {
        fn epoch_end(&mut self, _: usize, r: &EpochReport) {
            self.0 += 1;
            self.1 &= r.validation.is_some() && r.metrics.regularization_loss > 0.0;
        }
    }
    let mut seen = Count(0, true);
    let a = fit_bpmf(
        users.clone(),
        items.clone(),
        &e,
        Some(&e),
        &small(),
        &mut seen,
    )
    .unwrap();
    let b = fit_bpmf(users, items, &e, None, &small(), &mut Silent).unwrap();
    assert_eq!(a, b);
    assert_eq!(seen.0, 15);
    assert!(seen.1);
}

#[test]
fn the_ensemble_is_the_average_of_its_draws() {
    // The saved dot product of a pair is the sum of the draws' (each scaled by 1/√S on both
    // sides), i.e. the mean of the draws' dot products.
    let (users, items, e) = synthetic(6, 5, 5);
    let m = fit_bpmf(users, items, &e, None, &small(), &mut Silent).unwrap();
    let (p, q) = (m.user_factors.row(1), m.item_factors.row(1));
    let per_draw: Vec<f32> = (0..10)
        .map(|k| (0..2).map(|j| p[2 * k + j] * q[2 * k + j]).sum::<f32>())
        .collect();
    let whole: f32 = p.iter().zip(q).map(|(a, b)| a * b).sum();
    assert!((whole - per_draw.iter().sum::<f32>()).abs() < 1e-5);
}

#[test]
fn each_field_is_checked_by_name() {
    let d = BpmfConfig::default;
    let field = |c: BpmfConfig| match c.check() {
        Err(Error::Config { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    assert_eq!(field(BpmfConfig { factors: 0, ..d() }), "factors");
    assert_eq!(field(BpmfConfig { samples: 0, ..d() }), "samples");
    assert_eq!(
        field(BpmfConfig {
            samples: 10_000,
            factors: 100,
            ..d()
        }),
        "samples"
    );
    assert_eq!(
        field(BpmfConfig {
            noise_precision: -1.0,
            ..d()
        }),
        "noise-precision"
    );
    assert_eq!(
        field(BpmfConfig {
            noise_precision: f64::NAN,
            ..d()
        }),
        "noise-precision"
    );
    assert!(d().check().is_ok());
    let msg = BpmfConfig { factors: 0, ..d() }
        .check()
        .unwrap_err()
        .to_string();
    assert!(msg.contains("got 0"), "{msg}");
}

#[test]
fn empty_training_data_is_an_error() {
    let (users, items, _) = synthetic(2, 2, 1);
    let err = fit_bpmf(
        users,
        items,
        &Examples::default(),
        None,
        &small(),
        &mut Silent,
    )
    .unwrap_err();
    assert!(err.to_string().contains("no training examples"));
}
