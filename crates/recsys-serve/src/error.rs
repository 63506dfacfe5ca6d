//! Errors: [`ServeError`] for setting the server up (loading models), [`ApiError`] for answering
//! a request, turned into a status code and a `{"error": "…"}` body in one `match`.
//!
//! That body is what TensorFlow Serving and the KServe v2 protocol both send on failure (and
//! what Triton's client reads). Input errors say what was wrong and name the field; internal
//! errors send a generic message, and their cause travels to the logging middleware in the
//! response's extensions, never to the client.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Errors while setting up the server: a bad `--model` value, a model that will not load.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// A model directory could not be loaded (the cause names the file).
    #[error("model {name:?}: {source}")]
    Load {
        /// The model's name.
        name: String,
        /// Why loading failed.
        #[source]
        source: recsys::Error,
    },
    /// A `--model` value is malformed.
    #[error("invalid --model {value:?}: {reason}")]
    Spec {
        /// What was given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Two models have the same name.
    #[error(
        "two models are named {name:?} ({} and {}); give one a name with --model NAME=DIR",
        first.display(),
        second.display()
    )]
    DuplicateName {
        /// The name.
        name: String,
        /// The first directory.
        first: PathBuf,
        /// The second directory.
        second: PathBuf,
    },
    /// No model was given.
    #[error("no model to serve: pass --model DIR at least once")]
    NoModels,
    /// A background task failed (it panicked or was cancelled).
    #[error("model {name:?}: the loading task failed: {reason}")]
    Task {
        /// The model's name.
        name: String,
        /// What happened.
        reason: String,
    },
}

/// `Result` with [`ServeError`].
pub type Result<T, E = ServeError> = std::result::Result<T, E>;

/// Why a request failed; each variant maps to one status code in [`IntoResponse`].
#[derive(Debug)]
#[non_exhaustive]
pub enum ApiError {
    /// The request is malformed: bad JSON, a wrong type, a missing or unknown field, a value out
    /// of range. The message names the field.
    BadRequest(String),
    /// The body is larger than the server accepts.
    PayloadTooLarge(String),
    /// No model has this name.
    ModelNotFound(String),
    /// The model exists but does not serve this version.
    VersionNotFound {
        /// The model.
        model: String,
        /// The version asked for.
        version: String,
        /// The version serving.
        serving: u64,
    },
    /// No route matches the path.
    RouteNotFound(String),
    /// The route exists but not for this method.
    MethodNotAllowed,
    /// A reload was asked for and the new version failed to load; the old one keeps serving.
    ReloadFailed {
        /// The model.
        model: String,
        /// The version still serving.
        version: u64,
    },
    /// The request took longer than the server's limit.
    Timeout(Duration),
    /// Something went wrong on our side; the cause is logged, not sent.
    Internal(String),
}

/// The cause of an internal error, passed from [`ApiError::into_response`] to the logging
/// middleware through the response's extensions.
#[derive(Debug, Clone)]
pub(crate) struct InternalCause(pub Arc<str>);

impl ApiError {
    /// A 400 naming `field`.
    pub(crate) fn field(field: &str, problem: impl std::fmt::Display) -> Self {
        ApiError::BadRequest(format!("{field}: {problem}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            ApiError::PayloadTooLarge(m) => (StatusCode::PAYLOAD_TOO_LARGE, m),
            ApiError::ModelNotFound(name) => (
                StatusCode::NOT_FOUND,
                format!("no model named {name:?} is served here"),
            ),
            ApiError::VersionNotFound {
                model,
                version,
                serving,
            } => (
                StatusCode::NOT_FOUND,
                format!("model {model:?} has no version {version:?}; version {serving} is serving"),
            ),
            ApiError::RouteNotFound(path) => {
                (StatusCode::NOT_FOUND, format!("no such endpoint: {path}"))
            }
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed for this endpoint".to_owned(),
            ),
            ApiError::ReloadFailed { model, version } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                    "model {model:?}: the new version failed to load (the server log says why); version {version} keeps serving"
                ),
            ),
            ApiError::Timeout(limit) => (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the request took longer than {} ms", limit.as_millis()),
            ),
            ApiError::Internal(cause) => {
                let mut response = (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Json(json!({"error": "internal server error"})),
                )
                    .into_response();
                response
                    .extensions_mut()
                    .insert(InternalCause(cause.into()));
                return response;
            }
        };
        (status, Json(json!({ "error": message }))).into_response()
    }
}
