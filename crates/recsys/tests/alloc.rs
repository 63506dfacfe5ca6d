//! Steady-state training allocates nothing of its own: every buffer is sized once.
//!
//! A counting global allocator (hence this separate test binary) records allocations between
//! consecutive steps once training is warm.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use recsys::data::Vocabulary;
use recsys::model::{RankingModel, RankingModelConfig};
use recsys::train::{EpochReport, Examples, TrainConfig, TrainObserver, fit};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Records the allocation counter after every step of epochs 2 and later.
#[derive(Default)]
struct Recorder {
    epoch: usize,
    marks: Vec<u64>,
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
            self.marks.push(ALLOCATIONS.load(Ordering::Relaxed));
        }
    }
    fn epoch_end(&mut self, _epoch: usize, _report: &EpochReport) {}
}

#[test]
fn warm_training_steps_allocate_only_inside_the_gemm_crate() {
    let users: Vec<String> = (0..300).map(|u| u.to_string()).collect();
    let titles: Vec<String> = (0..200).map(|t| format!("title {t}")).collect();
    let model_users = Vocabulary::from_values(users.iter().map(String::as_str));
    let model_titles = Vocabulary::from_values(titles.iter().map(String::as_str));
    // Small products stay single-threaded inside the GEMM crate, so its behaviour is fixed.
    let config = RankingModelConfig {
        embedding_dim: 8,
        hidden_layers: vec![16, 8],
    };
    let mut model = RankingModel::new(config, model_users, model_titles, 1).unwrap();
    let n = 1000;
    let examples = Examples {
        users: (0..n).map(|i| (i * 7 % 300) as u32 + 1).collect(),
        titles: (0..n).map(|i| (i * 13 % 200) as u32 + 1).collect(),
        ratings: (0..n).map(|i| (i % 5) as f32 + 1.0).collect(),
    };
    // 1000 examples in batches of 96: ten full steps and a ragged one per epoch.
    let train = TrainConfig {
        epochs: 3,
        batch_size: 96,
        ..TrainConfig::default()
    }
    .check()
    .unwrap();
    let mut rec = Recorder::default();
    fit(&mut model, &examples, &train, &mut rec).unwrap();

    let per_step: Vec<u64> = rec.marks.windows(2).map(|w| w[1] - w[0]).collect();
    eprintln!("allocations per warm step: {per_step:?}");
    // Each step makes 9 matrix products (3 forward, 6 backward); `matrixmultiply` allocates one
    // packing buffer per product. Anything above that would be recsys's own allocation.
    const GEMM_CALLS_PER_STEP: u64 = 9;
    assert!(
        per_step.iter().all(|&a| a <= GEMM_CALLS_PER_STEP),
        "allocations per warm step: {per_step:?} (the GEMM crate accounts for at most {GEMM_CALLS_PER_STEP})"
    );
}
