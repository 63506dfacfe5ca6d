//! `AppPath<T>`: axum's `Path` extractor whose rejections are JSON [`ApiError`]s.
//!
//! A path segment that is not valid percent-encoded UTF-8 (`/v2/models/%FF`) makes axum's own
//! `Path` answer with a plain-text body; every other error here is `{"error": "…"}`, and clients
//! parse it as such.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// The route's path parameters, deserialized into `T`.
#[derive(Debug, Clone)]
pub struct AppPath<T>(pub T);

impl<T, S> FromRequestParts<S> for AppPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(AppPath(value)),
            Err(rejection) => Err(ApiError::BadRequest(format!(
                "invalid request path {}: {}",
                parts.uri.path(),
                rejection.body_text()
            ))),
        }
    }
}
