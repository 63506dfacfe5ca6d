//! The KServe v2 / Open Inference Protocol over REST, so NVIDIA Triton's clients work as they
//! are:
//!
//! ```text
//! GET  /v2                                    server metadata
//! GET  /v2/health/live, /v2/health/ready      200 when up / when every model is loaded
//! GET  /v2/models/{name}[/versions/{v}]       model metadata: BYTES inputs, FP32 output "score"
//! GET  /v2/models/{name}[/versions/{v}]/ready 200 when the model is ready
//! POST /v2/models/{name}[/versions/{v}]/infer
//!      {"inputs": [{"name": "user_id", "datatype": "BYTES", "shape": [2], "data": ["42", "42"]},
//!                  {"name": "movie_title", "datatype": "BYTES", "shape": [2], "data": [...]}]}
//!        → {"model_name": …, "model_version": "1",
//!           "outputs": [{"name": "score", "datatype": "FP32", "shape": [2, 1], "data": [...]}]}
//! ```
//!
//! Triton's binary tensor data extension is supported both ways: a request with an
//! `Inference-Header-Content-Length` header carries its JSON header and then the raw tensors
//! (`BYTES` elements as a 4-byte little-endian length and the bytes), and outputs asked for with
//! `"binary_data": true` (or `"binary_data_output": true` for all) come back the same way, as
//! Triton's `tritonclient.http` does by default. Out-of-vocabulary counts go in the response's
//! `parameters`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{check_count, json, resolve, score_pairs};
use crate::error::ApiError;
use crate::json::{parse, read_body};
use crate::models::LoadedModel;
use crate::path::AppPath;
use crate::state::AppState;

const HEADER_LENGTH: &str = "inference-header-content-length";
const INPUTS: [&str; 2] = ["user_id", "movie_title"];
const OUTPUT: &str = "score";

/// The routes.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/v2", get(server_metadata))
        .route("/v2/health/live", get(live))
        .route("/v2/health/ready", get(ready))
        .route("/v2/models/{name}", get(model_metadata))
        .route("/v2/models/{name}/ready", get(model_ready))
        .route("/v2/models/{name}/infer", post(infer))
        .route(
            "/v2/models/{name}/versions/{version}",
            get(version_metadata),
        )
        .route(
            "/v2/models/{name}/versions/{version}/ready",
            get(version_ready),
        )
        .route(
            "/v2/models/{name}/versions/{version}/infer",
            post(version_infer),
        )
}

async fn server_metadata() -> Result<Response, ApiError> {
    json(&json!({
        "name": "recsys",
        "version": env!("CARGO_PKG_VERSION"),
        "extensions": ["binary_tensor_data"]
    }))
}

async fn live() -> Result<Response, ApiError> {
    json(&json!({"live": true}))
}

/// Models are loaded before the server binds, so a server that answers is ready.
async fn ready() -> Result<Response, ApiError> {
    json(&json!({"ready": true}))
}

fn metadata_body(name: &str, loaded: &LoadedModel) -> Value {
    json!({
        "name": name,
        "versions": [loaded.version.to_string()],
        "platform": "recsys",
        "inputs": INPUTS.map(|n| json!({"name": n, "datatype": "BYTES", "shape": [-1]})),
        "outputs": [{"name": OUTPUT, "datatype": "FP32", "shape": [-1, 1]}]
    })
}

async fn model_metadata(
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

async fn model_ready(
    State(state): State<AppState>,
    AppPath(name): AppPath<String>,
) -> Result<Response, ApiError> {
    let (slot, _) = resolve(&state, &name, None)?;
    json(&json!({"name": slot.name(), "ready": true}))
}

async fn version_ready(
    State(state): State<AppState>,
    AppPath((name, version)): AppPath<(String, String)>,
) -> Result<Response, ApiError> {
    let (slot, _) = resolve(&state, &name, Some(&version))?;
    json(&json!({"name": slot.name(), "ready": true}))
}

#[derive(Debug, Deserialize)]
struct InferRequest {
    id: Option<String>,
    #[serde(default)]
    parameters: Map<String, Value>,
    inputs: Vec<InputTensor>,
    outputs: Option<Vec<RequestedOutput>>,
}

#[derive(Debug, Deserialize)]
struct InputTensor {
    name: String,
    shape: Vec<i64>,
    datatype: String,
    #[serde(default)]
    parameters: Map<String, Value>,
    data: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct RequestedOutput {
    name: String,
    #[serde(default)]
    parameters: Map<String, Value>,
}

async fn infer(
    State(state): State<AppState>,
    AppPath(name): AppPath<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let (slot, loaded) = resolve(&state, &name, None)?;
    run_infer(&state, slot.name(), &loaded, request).await
}

async fn version_infer(
    State(state): State<AppState>,
    AppPath((name, version)): AppPath<(String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    let (slot, loaded) = resolve(&state, &name, Some(&version))?;
    run_infer(&state, slot.name(), &loaded, request).await
}

/// Splits the body into its JSON header and the binary tensors that follow it, if any.
fn split_body(headers: &HeaderMap, body: &Bytes) -> Result<(Bytes, Bytes), ApiError> {
    let Some(value) = headers.get(HEADER_LENGTH) else {
        return Ok((body.clone(), Bytes::new()));
    };
    let n = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "{HEADER_LENGTH} header: expected a byte count, got {value:?}"
            ))
        })?;
    if n > body.len() {
        return Err(ApiError::BadRequest(format!(
            "{HEADER_LENGTH} header: {n} bytes of JSON, but the body has only {}",
            body.len()
        )));
    }
    Ok((body.slice(..n), body.slice(n..)))
}

/// The `n`th input's values: from its `data` (JSON, nested lists flattened) or, with
/// `binary_data_size`, from the next bytes of `binary`.
fn input_strings(input: &InputTensor, binary: &mut Bytes) -> Result<Vec<String>, ApiError> {
    let field = |problem: String| ApiError::field(&format!("inputs[{}]", input.name), problem);
    if input.datatype != "BYTES" {
        return Err(field(format!(
            "datatype must be \"BYTES\", got {:?}",
            input.datatype
        )));
    }
    let values = match (input.parameters.get("binary_data_size"), &input.data) {
        (Some(size), None) => {
            let size = size.as_u64().ok_or_else(|| {
                field(format!("binary_data_size must be a byte count, got {size}"))
            })? as usize;
            if size > binary.len() {
                return Err(field(format!(
                    "binary_data_size is {size} bytes, but only {} binary bytes are left in the body",
                    binary.len()
                )));
            }
            decode_bytes_tensor(&binary.split_to(size)).map_err(field)?
        }
        (None, Some(data)) => {
            let mut out = Vec::new();
            flatten_strings(data, &mut out).map_err(field)?;
            out
        }
        (Some(_), Some(_)) => {
            return Err(field(
                "has both data and binary_data_size; send one".to_owned(),
            ));
        }
        (None, None) => return Err(field("data: missing".to_owned())),
    };
    if input.shape.iter().any(|&d| d < 0) {
        return Err(field(format!(
            "shape {:?} has a negative dimension",
            input.shape
        )));
    }
    let elements = input
        .shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64));
    if elements != Some(values.len() as u64) {
        return Err(field(format!(
            "shape {:?} does not match its {} values",
            input.shape,
            values.len()
        )));
    }
    Ok(values)
}

/// Triton's serialised `BYTES` tensor: each element a 4-byte little-endian length, then bytes.
fn decode_bytes_tensor(mut raw: &[u8]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    while !raw.is_empty() {
        let Some((len, rest)) = raw.split_first_chunk::<4>() else {
            return Err(format!(
                "binary data: element {} has a truncated length prefix",
                out.len()
            ));
        };
        let len = u32::from_le_bytes(*len) as usize;
        if len > rest.len() {
            return Err(format!(
                "binary data: element {} claims {len} bytes, {} are left",
                out.len(),
                rest.len()
            ));
        }
        let s = std::str::from_utf8(&rest[..len])
            .map_err(|e| format!("binary data: element {} is not UTF-8: {e}", out.len()))?;
        out.push(s.to_owned());
        raw = &rest[len..];
    }
    Ok(out)
}

fn flatten_strings(value: &Value, out: &mut Vec<String>) -> Result<(), String> {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => {
            for item in items {
                flatten_strings(item, out)?;
            }
        }
        other => {
            return Err(format!(
                "data: element {} must be a string, got {other}",
                out.len()
            ));
        }
    }
    Ok(())
}

fn wants_binary(req: &InferRequest) -> Result<bool, ApiError> {
    let flag = |params: &Map<String, Value>, key: &str| params.get(key).and_then(Value::as_bool);
    match &req.outputs {
        Some(outputs) => {
            let mut binary = false;
            for output in outputs {
                if output.name != OUTPUT {
                    return Err(ApiError::field(
                        "outputs",
                        format!(
                            "no output named {:?}; this model's output is {OUTPUT:?}",
                            output.name
                        ),
                    ));
                }
                binary |= flag(&output.parameters, "binary_data").unwrap_or(false);
            }
            Ok(binary)
        }
        None => Ok(flag(&req.parameters, "binary_data_output").unwrap_or(false)),
    }
}

// Responses are serialised from these structs (not through JSON values, whose numbers are f64),
// so FP32 scores print exactly as `recsys rank` prints them.
#[derive(Serialize)]
struct InferResponse<'a> {
    model_name: &'a str,
    model_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    parameters: ResponseParameters,
    outputs: [OutputTensor<'a>; 1],
}

#[derive(Serialize)]
struct ResponseParameters {
    out_of_vocabulary_users: usize,
    out_of_vocabulary_titles: usize,
}

#[derive(Serialize)]
struct OutputTensor<'a> {
    name: &'a str,
    datatype: &'a str,
    shape: [usize; 2],
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<BinarySize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a Vec<f32>>,
}

#[derive(Serialize)]
struct BinarySize {
    binary_data_size: usize,
}

async fn run_infer(
    state: &AppState,
    name: &str,
    loaded: &LoadedModel,
    request: Request,
) -> Result<Response, ApiError> {
    let headers = request.headers().clone();
    let body = read_body(request, state).await?;
    let (header, mut binary) = split_body(&headers, &body)?;
    let req: InferRequest = parse(&header)?;
    let mut columns: [Option<Vec<String>>; 2] = [None, None];
    for input in &req.inputs {
        let Some(slot) = INPUTS.iter().position(|n| *n == input.name) else {
            return Err(ApiError::field(
                "inputs",
                format!(
                    "unknown input {:?}; this model takes \"user_id\" and \"movie_title\"",
                    input.name
                ),
            ));
        };
        if columns[slot].is_some() {
            return Err(ApiError::field(
                "inputs",
                format!("input {:?} is given twice", input.name),
            ));
        }
        columns[slot] = Some(input_strings(input, &mut binary)?);
    }
    if !binary.is_empty() {
        return Err(ApiError::BadRequest(format!(
            "{} bytes of binary data follow the inputs that no input claims",
            binary.len()
        )));
    }
    let [Some(users), Some(titles)] = columns else {
        let missing = INPUTS[if columns[0].is_none() { 0 } else { 1 }];
        return Err(ApiError::field(
            "inputs",
            format!("missing input {missing:?}"),
        ));
    };
    if users.len() != titles.len() {
        return Err(ApiError::field(
            "inputs",
            format!(
                "user_id has {} values but movie_title has {}; give one of each per example",
                users.len(),
                titles.len()
            ),
        ));
    }
    check_count(state, "inputs", users.len())?;
    let binary_output = wants_binary(&req)?;
    let scored = score_pairs(&loaded.scorer, &users, &titles);
    let (unknown_users, unknown_titles) = scored.unknown_counts();
    let n = scored.scores.len();
    let body = InferResponse {
        model_name: name,
        model_version: loaded.version.to_string(),
        id: req.id.as_deref(),
        parameters: ResponseParameters {
            out_of_vocabulary_users: unknown_users,
            out_of_vocabulary_titles: unknown_titles,
        },
        outputs: [OutputTensor {
            name: OUTPUT,
            datatype: "FP32",
            shape: [n, 1],
            parameters: binary_output.then_some(BinarySize {
                binary_data_size: 4 * n,
            }),
            data: (!binary_output).then_some(&scored.scores),
        }],
    };
    if !binary_output {
        return json(&body);
    }
    let mut bytes = serde_json::to_vec(&body)
        .map_err(|e| ApiError::Internal(format!("serialising an inference response: {e}")))?;
    let header_len = bytes.len();
    for s in &scored.scores {
        bytes.extend_from_slice(&s.to_le_bytes());
    }
    Ok((
        [
            (CONTENT_TYPE.as_str(), "application/octet-stream".to_owned()),
            (HEADER_LENGTH, header_len.to_string()),
        ],
        bytes,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(values: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        for v in values {
            out.extend_from_slice(&(v.len() as u32).to_le_bytes());
            out.extend_from_slice(v.as_bytes());
        }
        out
    }

    #[test]
    fn bytes_tensors_round_trip_and_bad_ones_say_which_element() {
        let values = ["42", "", "Amélie (2001)"];
        assert_eq!(decode_bytes_tensor(&encode(&values)).unwrap(), values);
        let mut truncated = encode(&values);
        truncated.pop();
        let err = decode_bytes_tensor(&truncated).unwrap_err();
        assert!(err.contains("element 2"), "{err}");
        let err = decode_bytes_tensor(&[1, 0]).unwrap_err();
        assert!(
            err.contains("element 0") && err.contains("truncated"),
            "{err}"
        );
        let err = decode_bytes_tensor(&[1, 0, 0, 0, 0xff]).unwrap_err();
        assert!(err.contains("UTF-8"), "{err}");
    }

    #[test]
    fn nested_data_flattens_in_row_major_order() {
        let mut out = Vec::new();
        flatten_strings(&json!([["a"], ["b", "c"]]), &mut out).unwrap();
        assert_eq!(out, ["a", "b", "c"]);
        let err = flatten_strings(&json!(["a", 3]), &mut Vec::new()).unwrap_err();
        assert!(err.contains("element 1"), "{err}");
    }
}
