//! `AppState`: what every handler shares — the models, the metrics and the limits — as a
//! `Clone` struct of `Arc`s.

use std::sync::Arc;
use std::time::Duration;

use crate::metrics::Metrics;
use crate::models::Models;

/// The server's shared state.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The served models.
    pub models: Arc<Models>,
    /// Request counts and latencies.
    pub metrics: Arc<Metrics>,
    /// Request limits.
    pub limits: Limits,
}

impl AppState {
    /// State for `models` with fresh metrics.
    pub fn new(models: Models, limits: Limits) -> Self {
        AppState {
            models: Arc::new(models),
            metrics: Arc::new(Metrics::default()),
            limits,
        }
    }
}

/// What one request may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body, in bytes (413 above it).
    pub max_body_bytes: usize,
    /// Most titles or pairs scored per request (400 above it); `"all": true` ranks the whole
    /// catalogue whatever its size.
    pub max_candidates: usize,
    /// Longest a request may take, reading its body included (503 past it).
    pub request_timeout: Duration,
}

impl Default for Limits {
    /// 2 MiB bodies, 10,000 candidates, 10 s.
    fn default() -> Self {
        Limits {
            max_body_bytes: 2 << 20,
            max_candidates: 10_000,
            request_timeout: Duration::from_secs(10),
        }
    }
}
