//! Tasks: a loss plus the metrics reported with it, as in TFRS's `tasks/`.

mod ranking;

pub use ranking::{RankingMetrics, RankingTask};
