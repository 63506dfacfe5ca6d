//! `POST /admin/models/{name}/reload`: load the model's directory again now and swap it in.
//!
//! Answers once the new version serves (200, with both versions), or 422 if it failed to load,
//! in which case the old version keeps serving; the server log says why.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use serde_json::json;

use super::{find_model, json};
use crate::error::ApiError;
use crate::models::ReloadOutcome;
use crate::path::AppPath;
use crate::state::AppState;

/// The routes.
pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/admin/models/{name}/reload", post(reload))
}

async fn reload(
    State(state): State<AppState>,
    AppPath(name): AppPath<String>,
) -> Result<Response, ApiError> {
    let slot = find_model(&state, &name)?;
    match slot.reload(true).await {
        Ok(ReloadOutcome::Reloaded { from, to }) => {
            json(&json!({"model": slot.name(), "previous_version": from, "version": to}))
        }
        Ok(ReloadOutcome::Unchanged { version }) => {
            json(&json!({"model": slot.name(), "previous_version": version, "version": version}))
        }
        Err(_) => Err(ApiError::ReloadFailed {
            model: slot.name().to_owned(),
            version: slot.current().version,
        }),
    }
}
