use recsys_engine::gradcheck::check_gradient;

use super::step::MultitaskStep;
use super::*;
use crate::kinds::ranking::Stepper;
use crate::kinds::ranking::fit::tests::{BOTH_PATHS, batch, loss_of, synthetic, tiny};
use crate::train::{Schedule, Silent};

const WEIGHTS: MultitaskWeights = MultitaskWeights {
    rating_weight: 0.7,
    retrieval_weight: 0.3,
};

/// The weighted total loss of `batch()`, from the definitions: the finite differences' reference.
fn total_loss(m: &RankingModel) -> f64 {
    let (u, t, _) = batch();
    let mut bufs = TowerBuffers::new(u.len(), m.config.embedding_dim);
    let (towers, _, _) = bufs.gather(m, &u, &t);
    let retrieval = InBatchSoftmax::loss(towers).unwrap();
    WEIGHTS.rating_weight as f64 * loss_of(m) + WEIGHTS.retrieval_weight as f64 * retrieval
}

fn frozen() -> recsys_engine::Optimizer {
    Schedule {
        learning_rate: 1e-9,
        ..Schedule::default()
    }
    .check()
    .unwrap()
    .optimizer()
}

/// The shared embeddings get both tasks' gradients, summed, on both first-layer paths; the
/// dense layers get the rating task's, scaled by its weight.
#[test]
fn shared_embedding_gradients_match_finite_differences() {
    let m = tiny(5);
    let (u, t, y) = batch();
    for path in BOTH_PATHS {
        let mut step = MultitaskStep::new(&m, 8, frozen(), path, WEIGHTS);
        let loss = step.gradients(&m, &u, &t, &y).unwrap();
        assert!((loss as f64 - total_loss(&m)).abs() < 1e-3 * total_loss(&m));
        let [users, movies] = step.ranking().embedding_grads();
        let dim = m.config.embedding_dim;
        for (name, (rows, values)) in [("user_embedding", users), ("movie_embedding", movies)] {
            let is_user = name == "user_embedding";
            let mut table = if is_user {
                m.user_embedding.table.clone()
            } else {
                m.movie_embedding.table.clone()
            };
            let mut dense = vec![0.0; table.len()];
            for (slot, &row) in rows.iter().enumerate() {
                dense[row as usize * dim..][..dim].copy_from_slice(&values[slot * dim..][..dim]);
            }
            check_gradient(&format!("{path:?} {name}"), &mut table, &dense, |tab| {
                let mut m2 = m.clone();
                let target = if is_user {
                    &mut m2.user_embedding.table
                } else {
                    &mut m2.movie_embedding.table
                };
                target.copy_from_slice(tab);
                total_loss(&m2)
            });
        }
        let mut bias = m.dense[2].bias.clone();
        check_gradient("last bias", &mut bias, &step.ranking().grads[2].bias, |b| {
            let mut m2 = m.clone();
            m2.dense[2].bias.copy_from_slice(b);
            total_loss(&m2)
        });
    }
}

#[test]
fn retrieval_weight_zero_trains_exactly_the_ranking_model() {
    let data = synthetic(200);
    let config = Schedule {
        epochs: 3,
        batch_size: 64,
        ..Schedule::default()
    }
    .check()
    .unwrap();
    let mut alone = tiny(2);
    crate::kinds::ranking::fit(&mut alone, &data, &config, &mut Silent).unwrap();
    let mut joint = tiny(2);
    let rating_only = MultitaskWeights {
        rating_weight: 1.0,
        retrieval_weight: 0.0,
    };
    let history = fit(
        &mut joint,
        data,
        &config,
        &rating_only.check().unwrap(),
        &mut Silent,
    )
    .unwrap();
    assert_eq!(joint, alone);
    assert!(history.epochs[0].retrieval_loss.unwrap() > 0.0);
}

/// Each user watches one title: retrieval learns it, and top-1 accuracy says so.
#[test]
fn joint_training_learns_to_retrieve_and_evaluate_reports_both_tasks() {
    let n = 400;
    let users: Vec<u32> = (0..n).map(|i| (i % 4) as u32 + 1).collect();
    let titles: Vec<u32> = users.iter().map(|&u| u + 1).collect();
    let ratings = users.iter().map(|&u| u as f32).collect();
    let data = Examples {
        users,
        titles,
        ratings,
        timestamps: None,
    };
    let config = Schedule {
        epochs: 30,
        batch_size: 32,
        ..Schedule::default()
    }
    .check()
    .unwrap();
    let mut m = tiny(3);
    let before = evaluate(&m, &data, 64).unwrap();
    let weights = MultitaskWeights::default().check().unwrap();
    fit(&mut m, data.clone(), &config, &weights, &mut Silent).unwrap();
    let after = evaluate(&m, &data, 64).unwrap();
    assert_eq!(after.retrieval.candidates, 5);
    assert_eq!(after.retrieval.top(1), Some(1.0), "{after:?}");
    assert!(after.retrieval.loss < before.retrieval.loss);
    assert!(after.rating.root_mean_squared_error < before.rating.root_mean_squared_error);
    let ks: Vec<usize> = after
        .retrieval
        .factorized_top_k
        .iter()
        .map(|t| t.k)
        .collect();
    assert_eq!(ks, vec![1, 5, 10, 50, 100]);
    assert_eq!(
        after.retrieval.top(100),
        Some(1.0),
        "5 candidates: always inside"
    );
    // User "1" (row 1) watched title row 2, "b"; an unseen user still gets an answer.
    let got = retrieve(&m, "1", 2).unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].0, "b");
    assert_eq!(retrieve(&m, "nobody", 10).unwrap().len(), 5);
}

#[test]
fn bad_weights_and_empty_data_are_errors_naming_the_field() {
    let field = |w: MultitaskWeights| match w.check() {
        Err(Error::Config { field, .. }) => field,
        other => panic!("expected a config error, got {other:?}"),
    };
    let w = MultitaskWeights::default;
    assert_eq!(
        field(MultitaskWeights {
            rating_weight: -1.0,
            ..w()
        }),
        "rating-weight"
    );
    assert_eq!(
        field(MultitaskWeights {
            retrieval_weight: f32::NAN,
            ..w()
        }),
        "retrieval-weight"
    );
    assert_eq!(
        field(MultitaskWeights {
            rating_weight: 0.0,
            retrieval_weight: 0.0
        }),
        "rating-weight"
    );
    let m = tiny(1);
    assert!(evaluate(&m, &Examples::default(), 64).is_err());
    let config = Schedule::default().check().unwrap();
    let weights = w().check().unwrap();
    assert!(
        fit(
            &mut tiny(1),
            Examples::default(),
            &config,
            &weights,
            &mut Silent
        )
        .is_err()
    );
}

#[test]
fn public_types_are_send_and_sync() {
    fn has_autotraits<T: Send + Sync + Unpin>() {}
    has_autotraits::<MultitaskWeights>();
    has_autotraits::<ValidMultitaskWeights>();
    has_autotraits::<MultitaskMetrics>();
}
