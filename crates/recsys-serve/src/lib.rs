//! recsys-serve: serves recsys models over HTTP, in the protocols existing clients already speak.
//!
//! - our JSON: `POST /v1/rank` (candidates or the whole catalogue for one user, best first) and
//!   `POST /v1/predict` (user/title pairs);
//! - TensorFlow Serving's REST API: `POST /v1/models/{name}:predict` with `instances` (rows) or
//!   `inputs` (columns), `GET /v1/models/{name}` (status) and `…/metadata`;
//! - the KServe v2 / Open Inference Protocol: `/v2/health/{live,ready}`, `/v2/models/{name}`,
//!   `/v2/models/{name}/ready`, `POST /v2/models/{name}/infer` with `BYTES` inputs `user_id` and
//!   `movie_title` (JSON or Triton's binary tensor extension), so NVIDIA Triton's clients work;
//! - `GET /metrics` in Prometheus text format; `POST /admin/models/{name}/reload`.
//!
//! Every model — a ranking model, a biased MF or a side-feature model — is scored through
//! [`recsys::scorer::Scorer`]
//! (for a ranking model, the first layer's item half is precomputed at load). Models live in a [`Models`] registry; each one is swapped atomically
//! when its directory's manifest changes ([`spawn_watcher`]) or on the admin endpoint, and a
//! version that fails to load leaves the old one serving.
//!
//! [`app`] builds the whole router, so tests drive it without a socket:
//!
//! ```
//! use recsys::data::Vocabulary;
//! use recsys::kinds::ranking::{RankingModel, RankingModelConfig};
//! use recsys_serve::{AppState, Limits, ModelSpec, Models, app};
//! use tower::ServiceExt;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = std::env::temp_dir().join(format!("recsys-serve-doc-{}", std::process::id()));
//! let users = Vocabulary::from_values(["42"]);
//! let titles = Vocabulary::from_values(["Heat (1995)", "Babe (1995)"]);
//! let model = RankingModel::new(RankingModelConfig::default(), users, titles, 1)?;
//! recsys::artifact::save(&model, None, &dir)?;
//!
//! let models = Models::load(vec![ModelSpec::named("movies", &dir)])?;
//! let router = app(AppState::new(models, Limits::default()));
//! let request = axum::http::Request::post("/v1/rank")
//!     .body(axum::body::Body::from(r#"{"user_id": "42", "all": true, "top_k": 1}"#))?;
//! let response = tokio::runtime::Runtime::new()?.block_on(router.oneshot(request))?;
//! assert_eq!(response.status(), 200);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod error;
mod json;
mod metrics;
mod models;
mod path;
mod routes;
mod state;

use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};

pub use error::{ApiError, Result, ServeError};
pub use metrics::Metrics;
pub use models::{LoadedModel, ModelSlot, ModelSpec, Models, ReloadOutcome, spawn_watcher};
pub use state::{AppState, Limits};

/// The whole HTTP interface: one router per resource, merged, behind the body-size limit and the
/// middleware that times every request, applies the request timeout and logs internal errors.
pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(routes::native::router())
        .merge(routes::tfserving::router())
        .merge(routes::kserve::router())
        .merge(routes::admin::router())
        .merge(routes::metrics::router())
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(DefaultBodyLimit::max(state.limits.max_body_bytes))
        .with_state(state)
}

/// Times the request, records it in the metrics, enforces the timeout, and logs the cause of any
/// internal error (the client only sees a generic message).
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let method = request.method().clone();
    let start = Instant::now();
    let response = match tokio::time::timeout(state.limits.request_timeout, next.run(request)).await
    {
        Ok(response) => response,
        Err(_) => ApiError::Timeout(state.limits.request_timeout).into_response(),
    };
    if let Some(cause) = response.extensions().get::<error::InternalCause>() {
        tracing::error!(
            route = route.as_deref().unwrap_or("-"),
            "internal error: {}",
            cause.0
        );
    }
    state.metrics.observe_request(
        route.as_deref().unwrap_or("unmatched"),
        method.as_str(),
        response.status().as_u16(),
        start.elapsed(),
    );
    response
}

/// Resolves when the process receives SIGTERM or Ctrl-C: pass it to
/// `axum::serve(..).with_graceful_shutdown(..)` so requests in flight finish first.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C: finishing requests in flight, then stopping"),
        () = terminate => tracing::info!("SIGTERM: finishing requests in flight, then stopping"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_types_are_send_and_sync() {
        fn has_autotraits<T: Send + Sync + Unpin>() {}
        has_autotraits::<AppState>();
        has_autotraits::<Models>();
        has_autotraits::<LoadedModel>();
        has_autotraits::<ServeError>();
        has_autotraits::<ApiError>();
    }
}
