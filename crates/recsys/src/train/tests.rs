use recsys_data::Vocabulary;

use super::step::Forward;
use super::*;
use crate::model::RankingModelConfig;

pub(crate) fn tiny(seed: u64) -> RankingModel {
    let users = Vocabulary::from_values(["1", "2", "3", "4"]);
    let titles = Vocabulary::from_values(["a", "b", "c", "d", "e"]);
    let config = RankingModelConfig {
        embedding_dim: 3,
        hidden_layers: vec![6, 4],
    };
    let mut m = RankingModel::new(config, users, titles, seed).unwrap();
    // Larger embeddings keep ReLU inputs away from their kink in the finite differences.
    for v in m
        .user_embedding
        .table
        .iter_mut()
        .chain(m.movie_embedding.table.iter_mut())
    {
        *v *= 20.0;
    }
    m
}

/// A batch with a repeated user and title, and an out-of-vocabulary row.
pub(crate) fn batch() -> (Vec<u32>, Vec<u32>, Vec<f32>) {
    (
        vec![1, 2, 1, 0, 4],
        vec![3, 3, 5, 1, 0],
        vec![4.0, 2.0, 5.0, 1.0, 3.0],
    )
}

/// The batch loss computed the textbook way, as the finite differences' reference.
pub(crate) fn loss_of(m: &RankingModel) -> f64 {
    let (u, t, y) = batch();
    let mut f = Forward::new(m, u.len(), FirstLayer::PerExample);
    let p = f.run(m, &u, &t);
    p.iter()
        .zip(&y)
        .map(|(p, y)| ((p - y) as f64).powi(2))
        .sum::<f64>()
        / y.len() as f64
}

pub(crate) const BOTH_PATHS: [FirstLayer; 2] = [FirstLayer::PerExample, FirstLayer::PerDistinctId];

fn frozen() -> recsys_engine::Optimizer {
    recsys_engine::Optimizer::Sgd(recsys_engine::Sgd { learning_rate: 0.0 })
}

#[test]
fn whole_model_gradient_matches_finite_differences_on_both_paths() {
    use recsys_engine::gradcheck::check_gradient;
    let m = tiny(11);
    let (u, t, y) = batch();
    for path in BOTH_PATHS {
        let mut step = Step::new(&m, 8, frozen(), path);
        step.gradients(&m, &u, &t, &y);
        for (i, g) in step.grads.iter().enumerate() {
            let mut k = m.dense[i].kernel.clone();
            check_gradient(
                &format!("{path:?} dense_{}.kernel", i + 1),
                &mut k,
                &g.kernel,
                |k| {
                    let mut m2 = m.clone();
                    m2.dense[i].kernel.copy_from_slice(k);
                    loss_of(&m2)
                },
            );
            let mut b = m.dense[i].bias.clone();
            check_gradient(
                &format!("{path:?} dense_{}.bias", i + 1),
                &mut b,
                &g.bias,
                |b| {
                    let mut m2 = m.clone();
                    m2.dense[i].bias.copy_from_slice(b);
                    loss_of(&m2)
                },
            );
        }
        let [users, movies] = step.embedding_grads();
        for (name, (rows, values), table) in [
            ("user_embedding", users, &m.user_embedding.table),
            ("movie_embedding", movies, &m.movie_embedding.table),
        ] {
            let dim = m.config.embedding_dim;
            let mut dense = vec![0.0; table.len()];
            for (slot, &row) in rows.iter().enumerate() {
                dense[row as usize * dim..][..dim].copy_from_slice(&values[slot * dim..][..dim]);
            }
            let mut tab = table.clone();
            check_gradient(&format!("{path:?} {name}"), &mut tab, &dense, |tab| {
                let mut m2 = m.clone();
                if name == "user_embedding" {
                    m2.user_embedding.table.copy_from_slice(tab);
                } else {
                    m2.movie_embedding.table.copy_from_slice(tab);
                }
                loss_of(&m2)
            });
        }
    }
}

#[test]
fn both_first_layer_paths_train_to_the_same_weights() {
    let data = synthetic(300);
    let mut models = Vec::new();
    for path in BOTH_PATHS {
        let config = TrainConfig {
            epochs: 5,
            batch_size: 64,
            first_layer: path,
            ..TrainConfig::default()
        };
        let mut m = tiny(4);
        fit(&mut m, &data, &config.check().unwrap(), &mut Silent).unwrap();
        models.push(m);
    }
    let (a, b) = (&models[0], &models[1]);
    let tensors = [
        (&a.user_embedding.table, &b.user_embedding.table),
        (&a.movie_embedding.table, &b.movie_embedding.table),
        (&a.dense[0].kernel, &b.dense[0].kernel),
        (&a.dense[2].bias, &b.dense[2].bias),
    ];
    for (x, y) in tensors {
        for (p, q) in x.iter().zip(y) {
            assert!((p - q).abs() <= 1e-4 * p.abs().max(1.0), "{p} vs {q}");
        }
    }
}

pub(crate) fn synthetic(n: usize) -> Examples {
    // Ratings from a hidden rule a model can learn: user parity plus title size.
    let users: Vec<u32> = (0..n).map(|i| (i * 7 % 4) as u32 + 1).collect();
    let titles: Vec<u32> = (0..n).map(|i| (i * 3 % 5) as u32 + 1).collect();
    let ratings = users
        .iter()
        .zip(&titles)
        .map(|(&u, &t)| 1.0 + (u % 2) as f32 * 2.0 + t as f32 * 0.4)
        .collect();
    Examples {
        users,
        titles,
        ratings,
    }
}

#[test]
fn training_lowers_rmse_and_is_reproducible() {
    let data = synthetic(300);
    let config = TrainConfig {
        epochs: 30,
        batch_size: 64,
        ..TrainConfig::default()
    }
    .check()
    .unwrap();
    let mut a = tiny(1);
    let before = evaluate(&a, &data, 100).unwrap().root_mean_squared_error;
    let hist = fit(&mut a, &data, &config, &mut Silent).unwrap();
    let after = evaluate(&a, &data, 100).unwrap().root_mean_squared_error;
    assert!(after < 0.5 * before, "rmse {before} -> {after}");
    assert_eq!(hist.epochs.len(), 30);
    let mut b = tiny(1);
    fit(&mut b, &data, &config, &mut Silent).unwrap();
    assert_eq!(a, b, "two runs with the same seed differ");
}

#[test]
fn ragged_last_batch_and_batch_size_do_not_change_evaluation() {
    let m = tiny(2);
    let data = synthetic(37);
    let whole = evaluate(&m, &data, 1000).unwrap();
    let ragged = evaluate(&m, &data, 8).unwrap();
    assert!((whole.root_mean_squared_error - ragged.root_mean_squared_error).abs() < 1e-6);
    assert_eq!(ragged.examples, 37);
}

#[test]
fn empty_data_and_divergence_are_errors() {
    let mut m = tiny(3);
    let cfg = TrainConfig::default().check().unwrap();
    assert!(matches!(
        fit(&mut m, &Examples::default(), &cfg, &mut Silent),
        Err(Error::InvalidInput(_))
    ));
    assert!(evaluate(&m, &Examples::default(), 8).is_err());
    let mut data = synthetic(10);
    data.ratings[3] = f32::NAN;
    assert!(matches!(
        fit(&mut m, &data, &cfg, &mut Silent),
        Err(Error::Diverged { .. })
    ));
}
