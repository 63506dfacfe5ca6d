use recsys_data::Vocabulary;

use super::*;
use crate::kinds::ranking::step::{self, Forward};
use crate::kinds::ranking::{RankingModelConfig, Step};
use crate::train::{Schedule, Silent};

pub(crate) fn tiny(seed: u64) -> RankingModel {
    let users = Vocabulary::from_values(["1", "2", "3", "4"]);
    let titles = Vocabulary::from_values(["a", "b", "c", "d", "e"]);
    tiny_with(users, titles, seed)
}

/// [`tiny`] with `users` users and `titles` titles.
fn tiny_of(users: usize, titles: usize, seed: u64) -> RankingModel {
    let names = |n: usize| {
        let names: Vec<String> = (0..n).map(|i| i.to_string()).collect();
        Vocabulary::from_values(names.iter().map(String::as_str))
    };
    tiny_with(names(users), names(titles), seed)
}

fn tiny_with(users: Vocabulary, titles: Vocabulary, seed: u64) -> RankingModel {
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
    let mut f = Forward::new(m, u.len());
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

/// A batch of several tiles split across three threads: the tiled step's gradients equal the
/// textbook step's.
#[test]
fn tiled_gradients_equal_the_textbook_step_over_many_tiles_and_threads() {
    let m = tiny(7);
    tiled_equals_textbook(&m, &synthetic(301), ['p', 'p']);
    // Half the first layer's units dead (0 in every row, as ReLUs leave many): the tiled step
    // runs the next layer on the live columns only, and must still agree.
    let mut dead = m.clone();
    dead.dense[0]
        .bias
        .iter_mut()
        .step_by(2)
        .for_each(|b| *b = -1e4);
    tiled_equals_textbook(&dead, &synthetic(301), ['p', 'p']);
}

/// The same where the users, the lookup with fewer rows, are named 3 times each: the tiles
/// project them per run of examples.
#[test]
fn tiled_gradients_equal_the_textbook_step_with_a_lookup_per_run() {
    let m = tiny_of(300, 300, 6);
    let mut data = synthetic(301);
    data.users = (0..301).map(|i| (i * 7 % 100) as u32 + 1).collect();
    data.titles = (0..301).map(|i| (i * 11 % 150) as u32 + 1).collect();
    tiled_equals_textbook(&m, &data, ['r', 'p']);
}

/// The same where one title has 226 of the 301 examples (and 75 others one each): its run
/// crosses tiles and all three blocks (which split the work of 301 examples and 76 runs near
/// examples 108 and 216), so two blocks each carry a share of its gradient.
#[test]
fn tiled_gradients_equal_the_textbook_step_with_one_run_across_every_block() {
    let m = tiny_of(300, 300, 3);
    let mut data = synthetic(301);
    data.users = (0..301).map(|i| (i * 7 % 290) as u32 + 1).collect();
    data.titles = (0..301)
        .map(|i| if i % 4 < 3 { 2 } else { i as u32 })
        .collect();
    tiled_equals_textbook(&m, &data, ['e', 'r']);
}

/// The same where most of a batch's users (and then titles too) are named once, so the tiles
/// take their rows per example instead of per distinct row.
#[test]
fn tiled_gradients_equal_the_textbook_step_with_lookups_per_example() {
    let m = tiny_of(300, 300, 5);
    let mut data = synthetic(301);
    data.users = (0..301).map(|i| (i * 7 % 290) as u32 + 1).collect();
    tiled_equals_textbook(&m, &data, ['e', 'p']);
    data.titles = (0..301).map(|i| (i * 11 % 250) as u32 + 1).collect();
    tiled_equals_textbook(&m, &data, ['e', 'e']);
}

/// Checks the tiled step against the textbook one on `data`, where `modes` says how the tiled
/// step must take the lookups (users, titles): see [`Step::lookup_modes`].
fn tiled_equals_textbook(m: &RankingModel, data: &Examples, modes: [char; 2]) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap();
    let steps = pool.install(|| {
        BOTH_PATHS.map(|path| {
            let mut step = Step::new(m, data.len(), frozen(), path);
            let loss = step.gradients(m, &data.users, &data.titles, &data.ratings);
            (step, loss)
        })
    });
    let [(textbook, loss_a), (tiled, loss_b)] = &steps;
    assert_eq!(tiled.lookup_modes(), modes);
    assert!(
        (loss_a - loss_b).abs() <= 1e-5 * loss_a.abs(),
        "{loss_a} vs {loss_b}"
    );
    // The tiled step takes the examples grouped by user; its predictions (here, their RMSE
    // against the labels) come back in the batch's order.
    let rmse = |s: &Step| s.task.metrics().root_mean_squared_error;
    let (rmse_a, rmse_b) = (rmse(textbook), rmse(tiled));
    assert!(
        (rmse_a - rmse_b).abs() <= 1e-5 * rmse_a,
        "{rmse_a} vs {rmse_b}"
    );
    let close = |a: &[f32], b: &[f32], what: &str| {
        assert_eq!(a.len(), b.len(), "{what}");
        for (p, q) in a.iter().zip(b) {
            assert!(
                (p - q).abs() <= 1e-5 * p.abs().max(1.0),
                "{what}: {p} vs {q}"
            );
        }
    };
    for (i, (a, b)) in textbook.grads.iter().zip(&tiled.grads).enumerate() {
        close(&a.kernel, &b.kernel, &format!("dense_{} kernel", i + 1));
        close(&a.bias, &b.bias, &format!("dense_{} bias", i + 1));
    }
    for ((rows_a, a), (rows_b, b)) in textbook
        .embedding_grads()
        .into_iter()
        .zip(tiled.embedding_grads())
    {
        assert_eq!(rows_a, rows_b);
        close(a, b, "embedding rows");
    }
}

#[test]
fn both_first_layer_paths_train_to_the_same_weights() {
    let data = synthetic(300);
    let mut models = Vec::new();
    for path in BOTH_PATHS {
        let config = Schedule {
            epochs: 5,
            batch_size: 64,
            ..Schedule::default()
        };
        let mut m = tiny(4);
        let data = std::borrow::Cow::Borrowed(&data);
        fit_with(&mut m, data, &config.check().unwrap(), path, &mut Silent).unwrap();
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
        timestamps: None,
    }
}

#[test]
fn training_lowers_rmse_and_is_reproducible() {
    let data = synthetic(300);
    let config = Schedule {
        epochs: 30,
        batch_size: 64,
        ..Schedule::default()
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

/// Whole tables projected once, and each batch's distinct ids projected per batch, predict the
/// same as the textbook forward pass.
#[test]
fn both_ways_of_projecting_predict_like_the_textbook() {
    let m = tiny(9);
    let data = synthetic(90);
    let want = Forward::new(&m, data.len())
        .run(&m, &data.users, &data.titles)
        .to_vec();
    for examples in [0, data.len()] {
        let mut p = step::Predictor::new(&m, 32, examples);
        assert_eq!(p.projects_whole_tables(), examples > 0);
        let mut got = Vec::new();
        for (u, t) in data.users.chunks(32).zip(data.titles.chunks(32)) {
            got.extend_from_slice(p.run(&m, u, t));
        }
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-5, "{examples}: {g} vs {w}");
        }
    }
}

/// A batch's scores do not depend on its order (the predictor groups it by user): a batch and
/// the same batch reversed give the same bits for every example, and a wrong example's score
/// would not.
#[test]
fn the_order_of_a_batch_changes_no_score() {
    let m = tiny(4);
    let data = synthetic(90);
    let rev = |v: &[u32]| v.iter().rev().copied().collect::<Vec<_>>();
    let (users, titles) = (rev(&data.users), rev(&data.titles));
    for examples in [0, data.len()] {
        let mut p = step::Predictor::new(&m, data.len(), examples);
        let forward = p.run(&m, &data.users, &data.titles).to_vec();
        let mut backward = p.run(&m, &users, &titles).to_vec();
        backward.reverse();
        assert_eq!(forward, backward, "{examples}");
        assert!(forward.windows(2).any(|w| w[0] != w[1]), "distinct scores");
    }
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
    let cfg = Schedule::default().check().unwrap();
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

#[test]
fn a_validation_split_is_reported_each_epoch_and_the_best_epoch_kept() {
    let mut data = synthetic(400);
    // Noise around the rule, so the validation RMSE stops falling and wanders.
    for (i, r) in data.ratings.iter_mut().enumerate() {
        *r += ((i * 37 % 11) as f32 - 5.0) * 0.3;
    }
    let config = Schedule {
        epochs: 12,
        batch_size: 8,
        learning_rate: 2.0,
        validation_fraction: 0.25,
        patience: 2,
        ..Schedule::default()
    }
    .check()
    .unwrap();
    let mut m = tiny(4);
    let hist = fit(&mut m, &data, &config, &mut Silent).unwrap();
    let val: Vec<f64> = hist
        .epochs
        .iter()
        .map(|e| e.validation.unwrap().root_mean_squared_error)
        .collect();
    assert!(hist.epochs.iter().all(|e| e.metrics.examples == 300));
    // The model returned is the best epoch's: its RMSE on the held-out quarter (the same
    // seeded split, drawn before the training part is shuffled) is the smallest of the history.
    let (_, held_out) = crate::train::split_validation(&data, 0.25, 42).unwrap();
    let now = evaluate(&m, &held_out, 100)
        .unwrap()
        .root_mean_squared_error;
    let best = val.iter().copied().fold(f64::INFINITY, f64::min);
    assert!((now - best).abs() < 1e-9, "{now} vs best {best} of {val:?}");
    // And it stopped early: two epochs after the best, short of the twelve asked for.
    let best_epoch = val.iter().position(|&v| v == best).unwrap() + 1;
    assert_eq!(val.len(), best_epoch + 2, "{val:?}");
    assert!(val.len() < 12 && val[val.len() - 1] > best, "{val:?}");
}

#[test]
fn the_learning_rate_decays_from_the_second_epoch() {
    let data = synthetic(120);
    let run = |decay: f32| {
        let config = Schedule {
            epochs: 2,
            batch_size: 40,
            learning_rate_decay: decay,
            ..Schedule::default()
        }
        .check()
        .unwrap();
        assert_eq!(config.learning_rate(1), 0.1);
        assert!((config.learning_rate(3) - 0.1 * decay * decay).abs() < 1e-7);
        let mut m = tiny(6);
        fit(&mut m, &data, &config, &mut Silent).unwrap().epochs
    };
    let (constant, decayed) = (run(1.0), run(0.5));
    assert_eq!(constant[0].metrics, decayed[0].metrics);
    assert_ne!(constant[1].metrics, decayed[1].metrics);
}

#[test]
fn schedule_and_stopping_settings_are_checked_by_name() {
    let named = |c: Schedule| match c.check() {
        Err(Error::Config { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    let d = Schedule::default();
    let decay = |learning_rate_decay| Schedule {
        learning_rate_decay,
        ..d.clone()
    };
    for bad in [0.0, 1.5, f32::NAN] {
        assert_eq!(named(decay(bad)), "learning-rate-decay");
    }
    let fraction = Schedule {
        validation_fraction: 1.0,
        ..d.clone()
    };
    assert_eq!(named(fraction), "validation-fraction");
    let patience = Schedule {
        patience: 3,
        ..d.clone()
    };
    assert_eq!(named(patience), "patience");
}
