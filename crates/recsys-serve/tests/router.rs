//! Every endpoint and error through the router, without a socket (`tower::ServiceExt::oneshot`).

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use recsys::contract::Model;
use recsys::kinds::ranking::RankingModel;
use recsys_serve::{AppState, Limits, ModelSpec, Models, app};
use serde_json::{Value, json};
use tower::ServiceExt;

use common::{TITLES, save};

struct Fixture {
    _dir: tempfile::TempDir,
    state: AppState,
    /// The default model ("movies"), as loaded from disk.
    movies: RankingModel,
    /// The second model ("other").
    other: RankingModel,
}

fn fixture_with(limits: Limits) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    save(&dir.path().join("movies"), 1);
    save(&dir.path().join("other"), 2);
    let models = Models::load(vec![
        ModelSpec::parse(dir.path().join("movies").to_str().unwrap()).unwrap(),
        ModelSpec::named("other", dir.path().join("other")),
    ])
    .unwrap();
    let load = |n: &str| recsys::artifact::load(&dir.path().join(n)).unwrap().model;
    Fixture {
        movies: load("movies"),
        other: load("other"),
        state: AppState::new(models, limits),
        _dir: dir,
    }
}

fn fixture() -> Fixture {
    fixture_with(Limits::default())
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// The `{"error": "..."}` message, after checking that this is the whole body.
    fn error(&self, status: StatusCode) -> String {
        assert_eq!(
            self.status,
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        let v = self.json();
        let obj = v.as_object().expect("an object");
        assert_eq!(obj.len(), 1, "only an error key: {v}");
        obj["error"].as_str().expect("a string message").to_owned()
    }
}

async fn send(state: &AppState, request: Request<Body>) -> Reply {
    let response = app(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

async fn get(state: &AppState, uri: &str) -> Reply {
    send(state, Request::get(uri).body(Body::empty()).unwrap()).await
}

async fn post(state: &AppState, uri: &str, body: impl Into<Body>) -> Reply {
    let request = Request::post(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.into())
        .unwrap();
    send(state, request).await
}

async fn post_json(state: &AppState, uri: &str, body: Value) -> Reply {
    post(state, uri, body.to_string()).await
}

fn close(a: f64, b: f32) -> bool {
    (a - b as f64).abs() <= 1e-6
}

#[tokio::test]
async fn rank_candidates_equals_the_library_best_first_with_unknowns_flagged() {
    let f = fixture();
    let candidates = [
        TITLES[2],
        "Not A Movie (2024)",
        TITLES[0],
        TITLES[4],
        TITLES[3],
    ];
    for user in ["42", "somebody new"] {
        let r = post_json(
            &f.state,
            "/v1/rank",
            json!({"user_id": user, "candidates": candidates}),
        )
        .await;
        assert_eq!(r.status, 200);
        let v = r.json();
        assert_eq!(v["model"], "movies");
        assert_eq!(v["model_version"], 1);
        assert_eq!(v["user_in_vocabulary"], user == "42");
        let want = f.movies.rank(user, &candidates).unwrap();
        let got = v["ranking"].as_array().unwrap();
        assert_eq!(got.len(), want.len());
        for (g, (title, score)) in got.iter().zip(&want) {
            assert_eq!(g["movie_title"], title.as_str());
            assert!(
                close(g["score"].as_f64().unwrap(), *score),
                "{g} vs {score}"
            );
            assert_eq!(g["in_vocabulary"], title != "Not A Movie (2024)");
        }
    }
    // top_k keeps the best k; "model" picks the other model.
    let r = post_json(
        &f.state,
        "/v1/rank",
        json!({"user_id": "7", "candidates": candidates, "top_k": 2, "model": "other"}),
    )
    .await;
    let v = r.json();
    let want = f.other.rank("7", &candidates).unwrap();
    assert_eq!(v["model"], "other");
    assert_eq!(v["ranking"].as_array().unwrap().len(), 2);
    assert_eq!(v["ranking"][0]["movie_title"], want[0].0.as_str());
    assert_eq!(v["ranking"][1]["movie_title"], want[1].0.as_str());
}

#[tokio::test]
async fn rank_all_equals_rank_all() {
    let f = fixture();
    let r = post_json(
        &f.state,
        "/v1/rank",
        json!({"user_id": "1", "all": true, "top_k": 4}),
    )
    .await;
    assert_eq!(r.status, 200);
    let got = r.json()["ranking"].as_array().unwrap().clone();
    let want = f.movies.rank_all("1", 4).unwrap();
    assert_eq!(got.len(), 4);
    for (g, (title, score)) in got.iter().zip(&want) {
        assert_eq!(g["movie_title"], title.as_str());
        assert!(close(g["score"].as_f64().unwrap(), *score));
    }
    // Default top_k is 10, more than this catalogue: every title.
    let r = post_json(&f.state, "/v1/rank", json!({"user_id": "1", "all": true})).await;
    assert_eq!(r.json()["ranking"].as_array().unwrap().len(), TITLES.len());
}

#[tokio::test]
async fn rank_input_errors_are_400s_naming_the_field() {
    let f = fixture();
    let cases: Vec<(&str, &str)> = vec![
        (r#"{"user_id": "42", "candidates": ["a"]"#, "malformed JSON"),
        (
            r#"{"user_id": 42, "candidates": ["a"]}"#,
            "user_id: invalid type",
        ),
        (r#"{"candidates": ["a"]}"#, "missing field `user_id`"),
        (
            r#"{"user_id": "42", "candidates": ["a", 3]}"#,
            "candidates[1]: invalid type",
        ),
        (
            r#"{"user_id": "42", "candidates": "a"}"#,
            "candidates: invalid type",
        ),
        (
            r#"{"user_id": "42", "candidate": ["a"]}"#,
            "unknown field `candidate`",
        ),
        (r#"{"user_id": "42"}"#, "candidates: missing"),
        (
            r#"{"user_id": "42", "candidates": ["a"], "all": true}"#,
            "not both",
        ),
        (
            r#"{"user_id": "42", "all": true, "top_k": 0}"#,
            "top_k: must be at least 1",
        ),
        (
            r#"{"user_id": "42", "all": true, "top_k": -1}"#,
            "top_k: invalid value",
        ),
        (r#"["42", ["a"]]"#, "must be a JSON object"),
        ("", "EOF"),
    ];
    for (body, want) in cases {
        let r = post(&f.state, "/v1/rank", body).await;
        let msg = r.error(StatusCode::BAD_REQUEST);
        assert!(
            msg.contains(want),
            "{body}: {msg:?} should contain {want:?}"
        );
    }
}

#[tokio::test]
async fn limits_reject_too_many_candidates_and_oversized_bodies() {
    let f = fixture_with(Limits {
        max_candidates: 3,
        max_body_bytes: 400,
        ..Limits::default()
    });
    let r = post_json(
        &f.state,
        "/v1/rank",
        json!({"user_id": "1", "candidates": ["a", "b", "c", "d"]}),
    )
    .await;
    let msg = r.error(StatusCode::BAD_REQUEST);
    assert!(
        msg.contains("candidates") && msg.contains("at most 3"),
        "{msg}"
    );
    // "all" ranks the whole catalogue whatever the limit.
    let r = post_json(&f.state, "/v1/rank", json!({"user_id": "1", "all": true})).await;
    assert_eq!(r.status, 200);
    let big = json!({"user_id": "1", "candidates": ["x".repeat(500)]});
    for uri in [
        "/v1/rank",
        "/v1/models/movies:predict",
        "/v2/models/movies/infer",
    ] {
        let msg = post_json(&f.state, uri, big.clone())
            .await
            .error(StatusCode::PAYLOAD_TOO_LARGE);
        assert!(msg.contains("too large"), "{uri}: {msg}");
    }
    let pairs: Vec<Value> = (0..4)
        .map(|_| json!({"user_id": "1", "movie_title": "a"}))
        .collect();
    let msg = post_json(&f.state, "/v1/predict", json!({ "pairs": pairs }))
        .await
        .error(StatusCode::BAD_REQUEST);
    assert!(msg.starts_with("pairs:"), "{msg}");
}

#[tokio::test]
async fn predict_pairs_equals_the_library_with_flags() {
    let f = fixture();
    let users = ["42", "1", "nobody", "943"];
    let titles = [TITLES[1], "unknown", TITLES[5], TITLES[3]];
    let pairs: Vec<Value> = users
        .iter()
        .zip(titles)
        .map(|(u, t)| json!({"user_id": u, "movie_title": t}))
        .collect();
    let r = post_json(&f.state, "/v1/predict", json!({ "pairs": pairs })).await;
    assert_eq!(r.status, 200);
    let v = r.json();
    let want = f.movies.predict(&users, &titles).unwrap();
    for (i, p) in v["predictions"].as_array().unwrap().iter().enumerate() {
        assert!(close(p["score"].as_f64().unwrap(), want[i]), "{p}");
        assert_eq!(p["user_in_vocabulary"], users[i] != "nobody");
        assert_eq!(p["title_in_vocabulary"], titles[i] != "unknown");
    }
    let msg = post_json(
        &f.state,
        "/v1/predict",
        json!({"pairs": [{"user_id": "1", "movie_title": "a"}, {"user_id": "1"}]}),
    )
    .await
    .error(StatusCode::BAD_REQUEST);
    assert!(
        msg.contains("pairs[1]") && msg.contains("movie_title"),
        "{msg}"
    );
    let msg = post_json(
        &f.state,
        "/v1/predict",
        json!({"pairs": [], "model": "nope"}),
    )
    .await
    .error(StatusCode::NOT_FOUND);
    assert!(msg.contains("\"nope\""), "{msg}");
    let r = post_json(&f.state, "/v1/predict", json!({"pairs": []})).await;
    assert_eq!(r.json()["predictions"], json!([]));
}

#[tokio::test]
async fn tf_serving_row_and_columnar_predict_as_documented() {
    let f = fixture();
    let users = ["42", "42", "stranger"];
    let titles = [TITLES[0], TITLES[1], "unknown"];
    let want = f.movies.predict(&users, &titles).unwrap();
    let instances: Vec<Value> = users
        .iter()
        .zip(titles)
        .map(|(u, t)| json!({"user_id": u, "movie_title": t}))
        .collect();
    // TF Serving's docs send these with `curl -d`, i.e. as a form content type: accepted.
    let request = Request::post("/v1/models/movies:predict")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(
            json!({"signature_name": "serving_default", "instances": instances}).to_string(),
        ))
        .unwrap();
    let r = send(&f.state, request).await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v.as_object().unwrap().len(), 1, "{v}");
    let got = v["predictions"].as_array().unwrap();
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g.as_array().unwrap().len(), 1, "each prediction is [score]");
        assert!(close(g[0].as_f64().unwrap(), *w));
    }
    assert_eq!(r.headers["recsys-out-of-vocabulary-users"], "1");
    assert_eq!(r.headers["recsys-out-of-vocabulary-titles"], "1");

    let r = post_json(
        &f.state,
        "/v1/models/movies/versions/1:predict",
        json!({"inputs": {"user_id": users, "movie_title": titles}}),
    )
    .await;
    assert_eq!(r.status, 200);
    let got = r.json()["outputs"].as_array().unwrap().clone();
    for (g, w) in got.iter().zip(&want) {
        assert!(close(g[0].as_f64().unwrap(), *w));
    }
}

#[tokio::test]
async fn tf_serving_errors() {
    let f = fixture();
    let one = json!({"instances": [{"user_id": "1", "movie_title": "a"}]});
    let cases: Vec<(&str, Value, StatusCode, &str)> = vec![
        (
            "/v1/models/nope:predict",
            one.clone(),
            StatusCode::NOT_FOUND,
            "\"nope\"",
        ),
        (
            "/v1/models/movies:classify",
            one.clone(),
            StatusCode::BAD_REQUEST,
            ":classify",
        ),
        (
            "/v1/models/movies",
            one.clone(),
            StatusCode::BAD_REQUEST,
            ":predict",
        ),
        (
            "/v1/models/movies/versions/9:predict",
            one.clone(),
            StatusCode::NOT_FOUND,
            "version 1 is serving",
        ),
        (
            "/v1/models/movies:predict",
            json!({}),
            StatusCode::BAD_REQUEST,
            "instances: missing",
        ),
        (
            "/v1/models/movies:predict",
            json!({"instances": [], "inputs": {"user_id": [], "movie_title": []}}),
            StatusCode::BAD_REQUEST,
            "not both",
        ),
        (
            "/v1/models/movies:predict",
            json!({"instances": [{"user_id": "1"}]}),
            StatusCode::BAD_REQUEST,
            "instances[0]: missing field `movie_title`",
        ),
        (
            "/v1/models/movies:predict",
            json!({"instances": [{"user_id": "1", "movie_title": "a", "age": 3}]}),
            StatusCode::BAD_REQUEST,
            "unknown field `age`",
        ),
        (
            "/v1/models/movies:predict",
            json!({"instances": [{"user_id": 1, "movie_title": "a"}]}),
            StatusCode::BAD_REQUEST,
            "instances[0].user_id: invalid type",
        ),
        (
            "/v1/models/movies:predict",
            json!({"inputs": {"user_id": ["1", "2"], "movie_title": ["a"]}}),
            StatusCode::BAD_REQUEST,
            "inputs: user_id has 2 values but movie_title has 1",
        ),
        (
            "/v1/models/movies:predict",
            json!({"signature_name": "train", "instances": []}),
            StatusCode::BAD_REQUEST,
            "signature_name",
        ),
    ];
    for (uri, body, status, want) in cases {
        let msg = post_json(&f.state, uri, body.clone()).await.error(status);
        assert!(
            msg.contains(want),
            "{uri} {body}: {msg:?} should contain {want:?}"
        );
    }
}

#[tokio::test]
async fn tf_serving_status_and_metadata() {
    let f = fixture();
    let v = get(&f.state, "/v1/models/movies").await.json();
    assert_eq!(
        v,
        json!({"model_version_status": [{"version": "1", "state": "AVAILABLE",
            "status": {"error_code": "OK", "error_message": ""}}]})
    );
    assert_eq!(
        get(&f.state, "/v1/models/movies/versions/1").await.status,
        200
    );
    get(&f.state, "/v1/models/movies/versions/2")
        .await
        .error(StatusCode::NOT_FOUND);
    get(&f.state, "/v1/models/nope")
        .await
        .error(StatusCode::NOT_FOUND);
    let v = get(&f.state, "/v1/models/other/metadata").await.json();
    assert_eq!(v["model_spec"]["name"], "other");
    let sig = &v["metadata"]["signature_def"]["signature_def"]["serving_default"];
    assert_eq!(sig["inputs"]["movie_title"]["dtype"], "DT_STRING");
    assert_eq!(sig["outputs"]["output_1"]["dtype"], "DT_FLOAT");
    assert_eq!(
        get(&f.state, "/v1/models/other/versions/1/metadata")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn kserve_health_metadata_and_readiness() {
    let f = fixture();
    assert_eq!(
        get(&f.state, "/v2/health/live").await.json(),
        json!({"live": true})
    );
    assert_eq!(
        get(&f.state, "/v2/health/ready").await.json(),
        json!({"ready": true})
    );
    assert_eq!(get(&f.state, "/v2").await.json()["name"], "recsys");
    let v = get(&f.state, "/v2/models/movies").await.json();
    assert_eq!(v["name"], "movies");
    assert_eq!(v["versions"], json!(["1"]));
    assert_eq!(
        v["inputs"][0],
        json!({"name": "user_id", "datatype": "BYTES", "shape": [-1]})
    );
    assert_eq!(v["outputs"][0]["datatype"], "FP32");
    assert_eq!(
        get(&f.state, "/v2/models/movies/versions/1").await.status,
        200
    );
    assert_eq!(
        get(&f.state, "/v2/models/other/ready").await.json(),
        json!({"name": "other", "ready": true})
    );
    assert_eq!(
        get(&f.state, "/v2/models/other/versions/1/ready")
            .await
            .status,
        200
    );
    get(&f.state, "/v2/models/nope/ready")
        .await
        .error(StatusCode::NOT_FOUND);
    get(&f.state, "/v2/models/nope")
        .await
        .error(StatusCode::NOT_FOUND);
    get(&f.state, "/v2/models/movies/versions/3/ready")
        .await
        .error(StatusCode::NOT_FOUND);
}

fn bytes_tensor(values: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in values {
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
        out.extend_from_slice(v.as_bytes());
    }
    out
}

#[tokio::test]
async fn kserve_infer_json_and_binary_tensors() {
    let f = fixture();
    let users = ["42", "nobody", "1"];
    let titles = [TITLES[4], TITLES[3], "unknown"];
    let want = f.movies.predict(&users, &titles).unwrap();
    // JSON in, JSON out, [n, 1] shape with nested data.
    let body = json!({
        "id": "req-1",
        "inputs": [
            {"name": "movie_title", "datatype": "BYTES", "shape": [3, 1], "data": [[titles[0]], [titles[1]], [titles[2]]]},
            {"name": "user_id", "datatype": "BYTES", "shape": [3], "data": users}
        ],
        "outputs": [{"name": "score"}]
    });
    let r = post_json(&f.state, "/v2/models/movies/infer", body).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    assert_eq!(v["id"], "req-1");
    assert_eq!(v["model_name"], "movies");
    assert_eq!(v["model_version"], "1");
    assert_eq!(v["parameters"]["out_of_vocabulary_users"], 1);
    assert_eq!(v["parameters"]["out_of_vocabulary_titles"], 1);
    let out = &v["outputs"][0];
    assert_eq!(out["name"], "score");
    assert_eq!(out["datatype"], "FP32");
    assert_eq!(out["shape"], json!([3, 1]));
    for (g, w) in out["data"].as_array().unwrap().iter().zip(&want) {
        assert!(close(g.as_f64().unwrap(), *w));
    }

    // Binary in (Triton's extension), binary out (as tritonclient asks by default).
    let (u, t) = (bytes_tensor(&users), bytes_tensor(&titles));
    let header = json!({
        "inputs": [
            {"name": "user_id", "datatype": "BYTES", "shape": [3], "parameters": {"binary_data_size": u.len()}},
            {"name": "movie_title", "datatype": "BYTES", "shape": [3], "parameters": {"binary_data_size": t.len()}}
        ],
        "parameters": {"binary_data_output": true}
    })
    .to_string();
    let mut body = header.clone().into_bytes();
    body.extend(&u);
    body.extend(&t);
    let request = Request::post("/v2/models/movies/versions/1/infer")
        .header("Inference-Header-Content-Length", header.len())
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .body(Body::from(body))
        .unwrap();
    let r = send(&f.state, request).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let n: usize = r.headers["inference-header-content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let json_part: Value = serde_json::from_slice(&r.body[..n]).unwrap();
    assert_eq!(
        json_part["outputs"][0]["parameters"]["binary_data_size"],
        12
    );
    let floats: Vec<f32> = r.body[n..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(floats.len(), 3);
    for (g, w) in floats.iter().zip(&want) {
        assert!((g - w).abs() <= 1e-6);
    }
}

#[tokio::test]
async fn kserve_infer_errors_name_the_input() {
    let f = fixture();
    let input = |name: &str, datatype: &str, shape: Value, data: Value| json!({"name": name, "datatype": datatype, "shape": shape, "data": data});
    let ok_user = input("user_id", "BYTES", json!([1]), json!(["1"]));
    let ok_title = input("movie_title", "BYTES", json!([1]), json!(["a"]));
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"inputs": [ok_user]}),
            "missing input \"movie_title\"",
        ),
        (
            json!({"inputs": [ok_user, input("movie_title", "FP32", json!([1]), json!([1.0]))]}),
            "inputs[movie_title]: datatype must be \"BYTES\"",
        ),
        (
            json!({"inputs": [ok_user, input("movie_title", "BYTES", json!([2]), json!(["a"]))]}),
            "inputs[movie_title]: shape [2] does not match its 1 values",
        ),
        (
            json!({"inputs": [ok_user, input("movie_title", "BYTES", json!([1]), json!([7]))]}),
            "inputs[movie_title]: data: element 0 must be a string",
        ),
        (
            json!({"inputs": [ok_user, ok_title, input("age", "BYTES", json!([1]), json!(["3"]))]}),
            "unknown input \"age\"",
        ),
        (json!({"inputs": [ok_user, ok_user]}), "given twice"),
        (
            json!({"inputs": [ok_user, ok_title], "outputs": [{"name": "output_1"}]}),
            "no output named \"output_1\"",
        ),
        (
            json!({"inputs": [ok_user, {"name": "movie_title", "datatype": "BYTES", "shape": [1]}]}),
            "inputs[movie_title]: data: missing",
        ),
        (
            json!({"inputs": [{"name": "user_id"}]}),
            "inputs[0]: missing field `shape`",
        ),
        (json!({"input": []}), "missing field `inputs`"),
    ];
    for (body, want) in cases {
        let msg = post_json(&f.state, "/v2/models/movies/infer", body.clone())
            .await
            .error(StatusCode::BAD_REQUEST);
        assert!(
            msg.contains(want),
            "{body}: {msg:?} should contain {want:?}"
        );
    }
    // A binary header longer than the body.
    let request = Request::post("/v2/models/movies/infer")
        .header("Inference-Header-Content-Length", "999")
        .body(Body::from("{}"))
        .unwrap();
    let msg = send(&f.state, request).await.error(StatusCode::BAD_REQUEST);
    assert!(msg.contains("inference-header-content-length"), "{msg}");
    let msg = post_json(&f.state, "/v2/models/nope/infer", json!({"inputs": []}))
        .await
        .error(StatusCode::NOT_FOUND);
    assert!(msg.contains("nope"), "{msg}");
}

#[tokio::test]
async fn unknown_routes_and_methods_are_json_errors() {
    let f = fixture();
    let msg = get(&f.state, "/v3/everything")
        .await
        .error(StatusCode::NOT_FOUND);
    assert!(msg.contains("/v3/everything"), "{msg}");
    get(&f.state, "/v1/rank")
        .await
        .error(StatusCode::METHOD_NOT_ALLOWED);
    // A path segment that does not decode to UTF-8, on each protocol's model routes.
    for uri in [
        "/v2/models/%FF",
        "/v2/models/%FF/ready",
        "/v1/models/%FF",
        "/v1/models/%C3%28:predict",
        "/admin/models/%FF/reload",
    ] {
        let reply = if uri.starts_with("/admin") || uri.ends_with(":predict") {
            post(&f.state, uri, "{}").await
        } else {
            get(&f.state, uri).await
        };
        let msg = reply.error(StatusCode::BAD_REQUEST);
        assert!(msg.contains("invalid request path"), "{uri}: {msg}");
    }
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_report_versions() {
    let f = fixture();
    post_json(&f.state, "/v1/rank", json!({"user_id": "1", "all": true})).await;
    post_json(&f.state, "/v1/rank", json!({"user_id": 1})).await;
    get(&f.state, "/v2/models/movies/ready").await;
    let r = get(&f.state, "/metrics").await;
    assert_eq!(r.status, 200);
    assert!(
        r.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = String::from_utf8(r.body).unwrap();
    for line in [
        r#"recsys_http_requests_total{route="/v1/rank",method="POST",status="200"} 1"#,
        r#"recsys_http_requests_total{route="/v1/rank",method="POST",status="400"} 1"#,
        r#"recsys_http_requests_total{route="/v2/models/{name}/ready",method="GET",status="200"} 1"#,
        r#"recsys_http_request_duration_seconds_bucket{route="/v1/rank",le="+Inf"} 2"#,
        r#"recsys_http_request_duration_seconds_count{route="/v1/rank"} 2"#,
        r#"recsys_model_version{model="movies"} 1"#,
        r#"recsys_model_version{model="other"} 1"#,
        r#"recsys_model_reloads_total{model="movies",result="failure"} 0"#,
        "# TYPE recsys_http_request_duration_seconds histogram",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    assert!(text.contains("recsys_model_info{model=\"movies\",version=\"1\",weights_sha256=\""));
}

#[tokio::test]
async fn admin_reload_swaps_in_a_new_version_and_keeps_the_old_one_on_failure() {
    let f = fixture();
    let dir = f.state.models.get("movies").unwrap().dir().to_owned();
    let new = save(&dir, 9);
    let v = post(&f.state, "/admin/models/movies/reload", "")
        .await
        .json();
    assert_eq!(
        v,
        json!({"model": "movies", "previous_version": 1, "version": 2})
    );
    let r = post_json(
        &f.state,
        "/v1/rank",
        json!({"user_id": "1", "candidates": [TITLES[0]]}),
    )
    .await;
    let v = r.json();
    assert_eq!(v["model_version"], 2);
    let want = new.predict(&["1"], &[TITLES[0]]).unwrap()[0];
    assert!(close(v["ranking"][0]["score"].as_f64().unwrap(), want));
    // Tamper with the weights: the reload fails, version 2 keeps serving, nothing leaks.
    std::fs::write(dir.join("weights.safetensors"), b"garbage").unwrap();
    let msg = post(&f.state, "/admin/models/movies/reload", "")
        .await
        .error(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(msg.contains("version 2 keeps serving"), "{msg}");
    assert!(
        !msg.contains(dir.to_str().unwrap()),
        "no paths to clients: {msg}"
    );
    assert_eq!(
        get(&f.state, "/v1/models/movies").await.json()["model_version_status"][0]["version"],
        "2"
    );
    post(&f.state, "/admin/models/nope/reload", "")
        .await
        .error(StatusCode::NOT_FOUND);
}

/// A biased MF (what `--preset best` saves) with non-zero weights, saved to `dir`.
fn save_mf(dir: &std::path::Path) -> recsys::kinds::mf::BiasedMf {
    use recsys::data::Vocabulary;
    use recsys::kinds::mf::{BiasedMf, BiasedMfConfig};
    let config = BiasedMfConfig {
        factors: 4,
        clip: Some([1.0, 5.0]),
    };
    let (users, titles) = (
        Vocabulary::from_values(common::USERS),
        Vocabulary::from_values(TITLES),
    );
    let mut m = BiasedMf::zeros(config, users, titles).unwrap();
    m.global_bias = 3.4;
    let tables = [
        &mut m.user_factors,
        &mut m.item_factors,
        &mut m.user_bias,
        &mut m.item_bias,
    ];
    for (t, table) in tables.into_iter().enumerate() {
        for (i, v) in table.table.iter_mut().enumerate() {
            *v = ((i * 7 + t * 3) as f32 * 0.37).sin();
        }
    }
    recsys::artifact::save(&m, None, dir).unwrap();
    m
}

#[tokio::test]
async fn a_biased_mf_model_is_served_by_every_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let mf = save_mf(&dir.path().join("mf"));
    let models = Models::load(vec![ModelSpec::named("mf", dir.path().join("mf"))]).unwrap();
    let state = AppState::new(models, Limits::default());

    // Our JSON: candidates best first, unknown titles flagged.
    let candidates = [TITLES[1], "Not A Movie (2024)", TITLES[5], TITLES[3]];
    let scores = mf.predict(&["42"; 4], &candidates).unwrap();
    let r = post_json(
        &state,
        "/v1/rank",
        json!({"user_id": "42", "candidates": candidates}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    assert_eq!(v["model"], "mf");
    let ranking = v["ranking"].as_array().unwrap();
    assert_eq!(ranking.len(), 4);
    for pair in ranking.windows(2) {
        assert!(pair[0]["score"].as_f64() >= pair[1]["score"].as_f64());
    }
    for entry in ranking {
        let i = candidates
            .iter()
            .position(|c| entry["movie_title"] == *c)
            .unwrap();
        assert!(close(entry["score"].as_f64().unwrap(), scores[i]));
        assert_eq!(entry["in_vocabulary"], i != 1);
    }

    // The whole catalogue, top 3.
    let r = post_json(
        &state,
        "/v1/rank",
        json!({"user_id": "7", "all": true, "top_k": 3}),
    )
    .await;
    let all = mf.predict(&["7"; TITLES.len()], &TITLES).unwrap();
    let mut best: Vec<f32> = all.clone();
    best.sort_by(|a, b| b.total_cmp(a));
    let got: Vec<f64> = r.json()["ranking"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["score"].as_f64().unwrap())
        .collect();
    assert_eq!(got.len(), 3);
    for (g, w) in got.iter().zip(&best) {
        assert!(close(*g, *w), "{got:?} vs {best:?}");
    }

    // TF Serving rows and KServe v2: pairs, with an unknown user.
    let (users, titles) = (["42", "stranger"], [TITLES[0], TITLES[2]]);
    let want = mf.predict(&users, &titles).unwrap();
    let instances: Vec<Value> = users
        .iter()
        .zip(titles)
        .map(|(u, t)| json!({"user_id": u, "movie_title": t}))
        .collect();
    let r = post_json(
        &state,
        "/v1/models/mf:predict",
        json!({"instances": instances}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    for (g, w) in r.json()["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&want)
    {
        assert!(close(g[0].as_f64().unwrap(), *w));
    }
    let body = json!({"inputs": [
        {"name": "user_id", "datatype": "BYTES", "shape": [2], "data": users},
        {"name": "movie_title", "datatype": "BYTES", "shape": [2], "data": titles}
    ]});
    let r = post_json(&state, "/v2/models/mf/infer", body).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    assert_eq!(v["parameters"]["out_of_vocabulary_users"], 1);
    for (g, w) in v["outputs"][0]["data"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&want)
    {
        assert!(close(g.as_f64().unwrap(), *w));
    }
}
