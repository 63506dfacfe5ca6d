//! Metrics: streaming summaries of predictions that a task reports each epoch.

mod factorized_top_k;
mod rmse;

pub use factorized_top_k::{DEFAULT_KS, FactorizedTopK};
pub use rmse::RootMeanSquaredError;
