use super::*;
use crate::kinds::mf::bpmf::tests::synthetic;
use crate::train::split_validation;
use crate::train::{EpochReport, Schedule, Silent};

fn quick() -> MfSgdConfig {
    let d = MfSgdConfig::default();
    MfSgdConfig {
        factors: 4,
        schedule: Schedule {
            epochs: 40,
            batch_size: 1,
            learning_rate: 0.02,
            seed: 3,
            ..d.schedule
        },
        ..d
    }
}

/// [`quick`] changed by `f`.
fn with(f: impl FnOnce(&mut MfSgdConfig)) -> MfSgdConfig {
    let mut c = quick();
    f(&mut c);
    c
}

#[test]
fn learns_low_rank_ratings_and_reports_l2_as_regularization_loss() {
    let (users, items, e) = synthetic(40, 30, 3);
    let (train, valid) = split_validation(&e, 0.2, 1).unwrap();
    let mean = crate::kinds::mf::mean_rating(&train);
    let base = (valid
        .ratings
        .iter()
        .map(|r| ((r - mean) as f64).powi(2))
        .sum::<f64>()
        / valid.len() as f64)
        .sqrt();
    struct Last(Option<EpochReport>, usize);
    impl TrainObserver for Last {
        fn epoch_end(&mut self, _: usize, r: &EpochReport) {
            self.0 = Some(*r);
            self.1 += 1;
        }
    }
    let mut last = Last(None, 0);
    let cfg = quick().check().unwrap();
    let (m, _) = fit_sgd(users, items, train, Some(&valid), &cfg, &mut last).unwrap();
    let rmse = crate::kinds::mf::evaluate(&m, &valid)
        .unwrap()
        .root_mean_squared_error;
    assert!(
        rmse < 0.6 * base,
        "validation rmse {rmse} vs the mean's {base}"
    );
    let r = last.0.unwrap();
    assert!(r.metrics.regularization_loss > 0.0);
    assert!((r.metrics.total_loss - r.metrics.loss - r.metrics.regularization_loss).abs() < 1e-12);
    assert!(r.validation.is_some());
}

#[test]
fn early_stopping_ends_training_and_keeps_the_best_epoch() {
    let (users, items, e) = synthetic(20, 15, 4);
    let (train, valid) = split_validation(&e, 0.3, 2).unwrap();
    // No L2 and a constant learning rate: the factors overfit and validation RMSE turns up.
    let cfg = with(|c| {
        c.schedule.epochs = 200;
        c.schedule.learning_rate = 0.05;
        c.schedule.learning_rate_decay = 1.0;
        c.factor_l2 = 0.0;
        c.bias_l2 = 0.0;
        c.schedule.patience = 2;
    });
    struct Vals(Vec<f64>);
    impl TrainObserver for Vals {
        fn epoch_end(&mut self, _: usize, r: &EpochReport) {
            self.0.push(r.validation.unwrap().root_mean_squared_error);
        }
    }
    let mut vals = Vals(Vec::new());
    let (m, _) = fit_sgd(
        users,
        items,
        train,
        Some(&valid),
        &cfg.check().unwrap(),
        &mut vals,
    )
    .unwrap();
    assert!(vals.0.len() < 200, "ran all {} epochs", vals.0.len());
    let best = vals.0.iter().cloned().fold(f64::MAX, f64::min);
    let got = crate::kinds::mf::evaluate(&m, &valid)
        .unwrap()
        .root_mean_squared_error;
    assert!((got - best).abs() < 1e-9, "kept {got}, best was {best}");
}

#[test]
fn same_seed_same_weights_for_every_optimizer() {
    let (users, items, e) = synthetic(10, 8, 5);
    for optimizer in [
        OptimizerKind::Sgd,
        OptimizerKind::Adagrad,
        OptimizerKind::Adam,
    ] {
        let cfg = with(|c| {
            c.schedule.epochs = 3;
            c.schedule.optimizer = optimizer;
        })
        .check()
        .unwrap();
        let fit = || {
            fit_sgd(
                users.clone(),
                items.clone(),
                e.clone(),
                None,
                &cfg,
                &mut Silent,
            )
        };
        let (a, b) = (fit().unwrap().0, fit().unwrap().0);
        assert_eq!(a, b);
        assert!(
            crate::kinds::mf::evaluate(&a, &e)
                .unwrap()
                .root_mean_squared_error
                .is_finite()
        );
    }
}

#[test]
fn each_field_is_checked_by_name() {
    let d = quick;
    let field = |c: MfSgdConfig| match c.check() {
        Err(Error::Config { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    assert_eq!(field(MfSgdConfig { factors: 0, ..d() }), "factors");
    assert_eq!(field(with(|c| c.schedule.epochs = 0)), "epochs");
    assert_eq!(field(with(|c| c.schedule.batch_size = 0)), "batch-size");
    assert_eq!(
        field(with(|c| c.schedule.learning_rate = 0.0)),
        "learning-rate"
    );
    assert_eq!(
        field(with(|c| c.schedule.learning_rate_decay = 1.5)),
        "learning-rate-decay"
    );
    assert_eq!(
        field(MfSgdConfig {
            factor_l2: -1.0,
            ..d()
        }),
        "factor-l2"
    );
    assert_eq!(
        field(MfSgdConfig {
            bias_l2: f32::NAN,
            ..d()
        }),
        "bias-l2"
    );
    assert_eq!(
        field(MfSgdConfig {
            init_std: -0.1,
            ..d()
        }),
        "init-std"
    );
    assert!(split_validation(&Examples::default(), 1.0, 0).is_err());
}

#[test]
fn a_diverging_run_is_an_error_not_nan_weights() {
    let (users, items, e) = synthetic(10, 8, 6);
    let cfg = with(|c| {
        c.schedule.learning_rate = 100.0;
        c.init_std = 10.0;
    })
    .check()
    .unwrap();
    let err = fit_sgd(users, items, e, None, &cfg, &mut Silent).unwrap_err();
    assert!(matches!(err, Error::Diverged { .. }), "{err}");
}
