//! Steady-state training allocates nothing of its own: every buffer is sized once.
//!
//! A counting global allocator (hence this separate test binary) records allocations between
//! consecutive steps once training is warm. The engine's own product kernel (AVX-512) allocates
//! nothing; where it is not available, the GEMM crate (`matrixmultiply`) allocates one packing
//! buffer inside each product it computes. The engine counts those fallback products, so the
//! test can require that every allocation of a warm step is one of them and none is recsys's own.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use recsys::data::Vocabulary;
use recsys::kinds::ranking::{FirstLayer, fit_with};
use recsys::kinds::ranking::{RankingModel, RankingModelConfig};
use recsys::train::{EpochReport, Examples, Schedule, TrainObserver};

struct Counting;

thread_local! {
    /// Allocations made by this thread (the test harness's own threads are not the subject).
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: during thread teardown the slot may be gone; those allocations do not matter.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Records the allocation counter after every step of epochs 2 and later.
#[derive(Default)]
struct Recorder {
    epoch: usize,
    /// (allocations, matrix products, products through the fallback GEMM crate) after each step.
    marks: Vec<(u64, u64, u64)>,
}

impl TrainObserver for Recorder {
    fn epoch_begin(&mut self, epoch: usize, _epochs: usize, steps: usize) {
        self.epoch = epoch;
        if epoch == 2 {
            self.marks.reserve(4 * steps + 1);
        }
    }
    fn step_end(&mut self, _step: usize, _loss: f32) {
        if self.epoch >= 2 {
            use recsys::engine::matmul::{fallback_calls, gemm_calls};
            self.marks
                .push((allocations(), gemm_calls(), fallback_calls()));
        }
    }
    fn epoch_end(&mut self, _epoch: usize, _report: &EpochReport) {}
}

#[test]
fn warm_training_steps_allocate_only_inside_the_fallback_gemm_crate_on_both_paths() {
    let users: Vec<String> = (0..300).map(|u| u.to_string()).collect();
    let titles: Vec<String> = (0..200).map(|t| format!("title {t}")).collect();
    let model_users = Vocabulary::from_values(users.iter().map(String::as_str));
    let model_titles = Vocabulary::from_values(titles.iter().map(String::as_str));
    let n = 5000;
    let examples = Examples {
        users: (0..n).map(|i| (i * 7 % 300) as u32 + 1).collect(),
        titles: (0..n).map(|i| (i * 13 % 200) as u32 + 1).collect(),
        ratings: (0..n).map(|i| (i % 5) as f32 + 1.0).collect(),
        timestamps: None,
    };
    // A small model (single-threaded products) and the tutorial's (multi-threaded products),
    // each on both first-layer paths; batches leave a ragged last step.
    let shapes = [(8, vec![16, 8], 96), (32, vec![256, 64], 1024)];
    for (embedding_dim, hidden_layers, batch_size) in shapes {
        for first_layer in [FirstLayer::PerDistinctId, FirstLayer::PerExample] {
            let config = RankingModelConfig {
                embedding_dim,
                hidden_layers: hidden_layers.clone(),
            };
            let mut model =
                RankingModel::new(config, model_users.clone(), model_titles.clone(), 1).unwrap();
            let train = Schedule {
                epochs: 3,
                batch_size,
                ..Schedule::default()
            };
            let mut rec = Recorder::default();
            let data = std::borrow::Cow::Borrowed(&examples);
            fit_with(
                &mut model,
                data,
                &train.check().unwrap(),
                first_layer,
                &mut rec,
            )
            .unwrap();
            check(&rec, &format!("dim {embedding_dim}, {first_layer:?}"));
        }
    }
}

#[test]
fn warm_streamed_steps_allocate_nothing_of_their_own() {
    use recsys::data::{ColumnNames, Encoder, SpoolShuffle};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("train.tsv");
    let mut text = String::from("user_id\tmovie_title\tuser_rating\n");
    for i in 0..5000 {
        text.push_str(&format!(
            "u{}\tt{}\t{}\n",
            i * 7 % 300,
            i * 13 % 200,
            i % 5 + 1
        ));
    }
    std::fs::write(&path, text).unwrap();
    let mut encoder = Encoder::new();
    let shuffle = SpoolShuffle {
        buffer: 700,
        seed: 3,
    };
    let mut spool = encoder
        .spool_file(&path, &ColumnNames::default(), Some(shuffle))
        .unwrap();
    let (users, titles, map) = encoder.finish_spooled();
    let config = RankingModelConfig {
        embedding_dim: 8,
        hidden_layers: vec![16, 8],
    };
    let mut model = RankingModel::new(config, users, titles, 1).unwrap();
    let train = Schedule {
        epochs: 3,
        batch_size: 96,
        ..Schedule::default()
    };
    let mut rec = Recorder::default();
    recsys::kinds::ranking::fit_spooled(
        &mut model,
        &mut spool,
        &map,
        &train.check().unwrap(),
        &mut rec,
    )
    .unwrap();
    check(&rec, "streamed");
}

fn check(rec: &Recorder, what: &str) {
    let per_step: Vec<(u64, u64, u64)> = rec
        .marks
        .windows(2)
        .map(|w| (w[1].0 - w[0].0, w[1].1 - w[0].1, w[1].2 - w[0].2))
        .collect();
    eprintln!(
        "{what}: (allocations, matrix products, fallback products) per warm step: {per_step:?}"
    );
    assert!(per_step.len() >= 8, "{what}: too few warm steps measured");
    for (allocations, products, fallback) in per_step {
        assert!(products > 0);
        assert_eq!(
            allocations, fallback,
            "{what}: a warm step made {allocations} allocations but only {fallback} products \
             went to the GEMM crate (the engine's own kernel allocates nothing)"
        );
    }
}
