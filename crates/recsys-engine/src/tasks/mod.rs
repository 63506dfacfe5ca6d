//! Tasks: a loss plus the metrics reported with it, as in TFRS's `tasks/`.

mod ranking;
mod retrieval;

pub use ranking::{RankingMetrics, RankingTask};
pub use retrieval::{RetrievalMetrics, RetrievalTask};
