//! `AppJson<T>`: a JSON body extractor whose every rejection is an [`ApiError`] naming the field.
//!
//! Unlike axum's `Json`, it does not insist on a `Content-Type` header (TensorFlow Serving's
//! documented `curl -d` requests send `application/x-www-form-urlencoded`), and its errors carry
//! the path to the offending value (`pairs[2].movie_title: invalid type: integer …`).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A request body parsed as JSON into `T`.
#[derive(Debug, Clone)]
pub struct AppJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for AppJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = read_body(request, state).await?;
        parse(&bytes).map(AppJson)
    }
}

/// Reads the whole body, within the server's body-size limit.
pub(crate) async fn read_body<S: Send + Sync>(
    request: Request,
    state: &S,
) -> Result<Bytes, ApiError> {
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge(format!(
                    "request body too large: {}",
                    rejection.body_text()
                ))
            } else {
                ApiError::BadRequest(format!(
                    "cannot read the request body: {}",
                    rejection.body_text()
                ))
            }
        })
}

/// Parses `bytes` as a JSON object into `T`; errors name the path to the bad value.
pub(crate) fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Every request body is an object; serde would also take a struct's fields as an array.
    if bytes
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|first| *first != b'{')
    {
        return Err(ApiError::BadRequest(
            "invalid request: the body must be a JSON object".into(),
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let kind = if inner.is_syntax() || inner.is_eof() {
            "malformed JSON"
        } else {
            "invalid request"
        };
        if path == "." {
            ApiError::BadRequest(format!("{kind}: {inner}"))
        } else {
            ApiError::BadRequest(format!("{kind}: {path}: {inner}"))
        }
    })?;
    de.end()
        .map_err(|e| ApiError::BadRequest(format!("malformed JSON: {e}")))?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Pair {
        user_id: String,
        movie_title: String,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Body {
        pairs: Vec<Pair>,
    }

    fn message(bytes: &str) -> String {
        match parse::<Body>(bytes.as_bytes()) {
            Err(ApiError::BadRequest(m)) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn errors_name_the_path_to_the_bad_value() {
        let m = message(
            r#"{"pairs": [{"user_id": "1", "movie_title": "x"}, {"user_id": 2, "movie_title": "y"}]}"#,
        );
        assert!(
            m.contains("pairs[1].user_id") && m.contains("invalid type"),
            "{m}"
        );
        let m = message(r#"{"pairs": [{"user_id": "1"}]}"#);
        assert!(
            m.contains("pairs[0]") && m.contains("missing field `movie_title`"),
            "{m}"
        );
        let m = message(r#"{"pairs": [}"#);
        assert!(m.starts_with("malformed JSON"), "{m}");
        let m = message(r#"{"pairs": []} trailing"#);
        assert!(m.starts_with("malformed JSON"), "{m}");
        assert!(parse::<Body>(br#"{"pairs": []}"#).is_ok());
        assert!(message(r#" [[]]"#).contains("must be a JSON object"));
    }
}
