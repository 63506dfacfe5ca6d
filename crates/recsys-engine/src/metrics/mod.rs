//! Metrics: streaming summaries of predictions that a task reports each epoch.

mod rmse;

pub use rmse::RootMeanSquaredError;
