//! TensorFlow Serving's REST API, as TFRS users' clients already call a SavedModel:
//!
//! ```text
//! POST /v1/models/{name}[/versions/{v}]:predict
//!      {"instances": [{"user_id": "42", "movie_title": "Speed (1994)"}, …]}   (row format)
//!        → {"predictions": [[3.57], …]}
//!      {"inputs": {"user_id": ["42", …], "movie_title": ["Speed (1994)", …]}} (columnar)
//!        → {"outputs": [[3.57], …]}
//! GET  /v1/models/{name}[/versions/{v}]            → {"model_version_status": [...]}
//! GET  /v1/models/{name}[/versions/{v}]/metadata   → the serving_default signature
//! ```
//!
//! The signature is the one a TFRS ranking SavedModel exports: string inputs `user_id` and
//! `movie_title` of shape `[-1]`, one float output `output_1` of shape `[-1, 1]`. Out-of-
//! vocabulary inputs are scored through row 0 and counted in the response headers
//! `recsys-out-of-vocabulary-users` and `recsys-out-of-vocabulary-titles` (the body keeps TF
//! Serving's exact shape).

use axum::Router;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::get;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{check_count, json, resolve, score_pairs};
use crate::error::ApiError;
use crate::json::{parse, read_body};
use crate::models::LoadedModel;
use crate::path::AppPath;
use crate::state::AppState;

/// The routes. `{name}:predict` is one path segment, so the POST handlers split the verb off.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/models/{name}", get(status).post(predict))
        .route("/v1/models/{name}/metadata", get(metadata))
        .route(
            "/v1/models/{name}/versions/{version}",
            get(version_status).post(version_predict),
        )
        .route(
            "/v1/models/{name}/versions/{version}/metadata",
            get(version_metadata),
        )
}

#[derive(Debug, Deserialize)]
struct PredictRequest {
    signature_name: Option<String>,
    instances: Option<Vec<Instance>>,
    inputs: Option<Columns>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Instance {
    user_id: String,
    movie_title: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Columns {
    user_id: Vec<String>,
    movie_title: Vec<String>,
}

/// Splits `"{x}:predict"`; any other verb (or none) is an error naming it.
fn strip_verb<'a>(segment: &'a str, what: &str) -> Result<&'a str, ApiError> {
    match segment.rsplit_once(':') {
        Some((x, "predict")) => Ok(x),
        Some((_, verb)) => Err(ApiError::BadRequest(format!(
            "{what}: \":{verb}\" is not supported; this model answers \":predict\""
        ))),
        None => Err(ApiError::BadRequest(format!(
            "{what}: POST to /v1/models/{{name}}:predict"
        ))),
    }
}

async fn predict(
    State(state): State<AppState>,
    AppPath(segment): AppPath<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let name = strip_verb(&segment, "model")?;
    let (_, loaded) = resolve(&state, name, None)?;
    run_predict(&state, &loaded, request).await
}

async fn version_predict(
    State(state): State<AppState>,
    AppPath((name, segment)): AppPath<(String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    let version = strip_verb(&segment, "version")?;
    let (_, loaded) = resolve(&state, &name, Some(version))?;
    run_predict(&state, &loaded, request).await
}

async fn run_predict(
    state: &AppState,
    loaded: &LoadedModel,
    request: Request,
) -> Result<Response, ApiError> {
    let body = read_body(request, state).await?;
    let req: PredictRequest = parse(&body)?;
    if let Some(sig) = req
        .signature_name
        .as_ref()
        .filter(|s| *s != "serving_default")
    {
        return Err(ApiError::field(
            "signature_name",
            format!("{sig:?} is not a signature of this model; use \"serving_default\""),
        ));
    }
    let (users, titles, rows): (Vec<&str>, Vec<&str>, bool) = match (&req.instances, &req.inputs) {
        (Some(instances), None) => (
            instances.iter().map(|i| i.user_id.as_str()).collect(),
            instances.iter().map(|i| i.movie_title.as_str()).collect(),
            true,
        ),
        (None, Some(columns)) => {
            if columns.user_id.len() != columns.movie_title.len() {
                return Err(ApiError::field(
                    "inputs",
                    format!(
                        "user_id has {} values but movie_title has {}; give one of each per example",
                        columns.user_id.len(),
                        columns.movie_title.len()
                    ),
                ));
            }
            (
                columns.user_id.iter().map(String::as_str).collect(),
                columns.movie_title.iter().map(String::as_str).collect(),
                false,
            )
        }
        (Some(_), Some(_)) => {
            return Err(ApiError::BadRequest(
                "instances and inputs: give one of them, not both".into(),
            ));
        }
        (None, None) => {
            return Err(ApiError::BadRequest(
                "instances: missing (or give \"inputs\" in columnar format)".into(),
            ));
        }
    };
    check_count(
        state,
        if rows { "instances" } else { "inputs" },
        users.len(),
    )?;
    let scored = score_pairs(&loaded.scorer, &users, &titles);
    // Serialised from f32 (not through a JSON value's f64), so scores print as `recsys rank`'s.
    #[derive(Serialize)]
    struct Rows<'a> {
        predictions: &'a [[f32; 1]],
    }
    #[derive(Serialize)]
    struct Cols<'a> {
        outputs: &'a [[f32; 1]],
    }
    let nested: Vec<[f32; 1]> = scored.scores.iter().map(|&s| [s]).collect();
    let mut response = if rows {
        json(&Rows {
            predictions: &nested,
        })?
    } else {
        json(&Cols { outputs: &nested })?
    };
    let (unknown_users, unknown_titles) = scored.unknown_counts();
    let headers = response.headers_mut();
    headers.insert("recsys-out-of-vocabulary-users", unknown_users.into());
    headers.insert("recsys-out-of-vocabulary-titles", unknown_titles.into());
    Ok(response)
}

fn status_body(loaded: &LoadedModel) -> serde_json::Value {
    json!({
        "model_version_status": [{
            "version": loaded.version.to_string(),
            "state": "AVAILABLE",
            "status": {"error_code": "OK", "error_message": ""}
        }]
    })
}

async fn status(
    State(state): State<AppState>,
    AppPath(name): AppPath<String>,
) -> Result<Response, ApiError> {
    let (_, loaded) = resolve(&state, &name, None)?;
    json(&status_body(&loaded))
}

async fn version_status(
    State(state): State<AppState>,
    AppPath((name, version)): AppPath<(String, String)>,
) -> Result<Response, ApiError> {
    let (_, loaded) = resolve(&state, &name, Some(&version))?;
    json(&status_body(&loaded))
}

fn metadata_body(name: &str, loaded: &LoadedModel) -> serde_json::Value {
    let string_input = |input: &str| {
        json!({
            "dtype": "DT_STRING",
            "tensor_shape": {"dim": [{"size": "-1", "name": ""}], "unknown_rank": false},
            "name": format!("serving_default_{input}:0")
        })
    };
    json!({
        "model_spec": {"name": name, "signature_name": "", "version": loaded.version.to_string()},
        "metadata": {"signature_def": {"signature_def": {"serving_default": {
            "inputs": {"user_id": string_input("user_id"), "movie_title": string_input("movie_title")},
            "outputs": {"output_1": {
                "dtype": "DT_FLOAT",
                "tensor_shape": {"dim": [{"size": "-1", "name": ""}, {"size": "1", "name": ""}], "unknown_rank": false},
                "name": "StatefulPartitionedCall:0"
            }},
            "method_name": "tensorflow/serving/predict"
        }}}}
    })
}

async fn metadata(
    State(state): State<AppState>,
    AppPath(name): AppPath<String>,
) -> Result<Response, ApiError> {
    let (slot, loaded) = resolve(&state, &name, None)?;
    json(&metadata_body(slot.name(), &loaded))
}

async fn version_metadata(
    State(state): State<AppState>,
    AppPath((name, version)): AppPath<(String, String)>,
) -> Result<Response, ApiError> {
    let (slot, loaded) = resolve(&state, &name, Some(&version))?;
    json(&metadata_body(slot.name(), &loaded))
}
