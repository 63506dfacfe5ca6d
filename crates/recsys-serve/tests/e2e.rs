//! End to end: a server on a free loopback port, driven by real clients — NVIDIA Triton's
//! `tritonclient[http]` (Python) for the KServe v2 protocol, plain HTTP with the request bodies
//! TensorFlow Serving documents, and our JSON — against the library's own `rank`/`predict`
//! (what `recsys rank` prints), within 1e-6.
//!
//! The Triton test needs `pip install 'tritonclient[http]'`; without it the test is skipped
//! with a message, unless `RECSYS_REQUIRE_TRITON=1` (CI sets it) makes that a failure.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use recsys::contract::Model;
use recsys::kinds::ranking::RankingModel;
use recsys_serve::{AppState, Limits, ModelSpec, Models};
use serde_json::{Value, json};

use common::{Server, TITLES, client, post_json, save};

fn serve(limits: Limits) -> (tempfile::TempDir, Server, RankingModel) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("movies");
    save(&path, 1);
    let model = recsys::artifact::load(&path).unwrap().model;
    let models = Models::load(vec![ModelSpec::named("movies", &path)]).unwrap();
    let server = Server::start(AppState::new(models, limits), None);
    (dir, server, model)
}

fn assert_scores(what: &str, got: &[f64], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - *w as f64).abs() <= 1e-6, "{what}[{i}]: {g} vs {w}");
    }
}

fn triton_available() -> bool {
    Command::new("python3")
        .args(["-c", "import tritonclient.http"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn triton_http_client_speaks_kserve_v2_to_the_server() {
    if !triton_available() {
        assert!(
            std::env::var_os("RECSYS_REQUIRE_TRITON").is_none(),
            "RECSYS_REQUIRE_TRITON is set but python3 cannot import tritonclient.http: pip install 'tritonclient[http]'"
        );
        eprintln!(
            "SKIPPED: python3 cannot import tritonclient.http (pip install 'tritonclient[http]')"
        );
        return;
    }
    let (dir, server, model) = serve(Limits::default());
    let users = ["42", "42", "1", "stranger", "943"];
    let titles = [
        TITLES[0],
        TITLES[3],
        TITLES[4],
        TITLES[5],
        "Not A Movie (2024)",
    ];
    let cases = dir.path().join("cases.json");
    std::fs::write(
        &cases,
        json!({"user_id": users, "movie_title": titles}).to_string(),
    )
    .unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/triton_client.py");
    let output = Command::new("python3")
        .arg(script)
        .arg(server.addr.to_string())
        .arg("movies")
        .arg(&cases)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "triton client failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let v: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(v["live"], true);
    assert_eq!(v["ready"], true);
    assert_eq!(v["model_ready"], true);
    assert_eq!(v["unknown_model_ready"], false);
    assert_eq!(v["metadata"]["name"], "movies");
    assert_eq!(v["metadata"]["outputs"][0]["name"], "score");
    let want = model.predict(&users, &titles).unwrap();
    let as_f64 = |key: &str| -> Vec<f64> {
        v[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    assert_scores("binary tensors", &as_f64("binary"), &want);
    assert_scores("JSON tensors", &as_f64("json"), &want);
    assert_eq!(v["json_response"]["id"], "json");
    assert_eq!(
        v["json_response"]["parameters"]["out_of_vocabulary_users"],
        1
    );
    assert_eq!(
        v["json_response"]["parameters"]["out_of_vocabulary_titles"],
        1
    );
    assert_eq!(v["unknown_model_error"]["status"], "404");
}

#[test]
fn tf_serving_documented_bodies_and_our_json_over_a_socket() {
    let (_dir, server, model) = serve(Limits::default());
    let agent = client();
    // The status call TF Serving documents.
    let mut r = agent.get(&server.url("/v1/models/movies")).call().unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(v["model_version_status"][0]["state"], "AVAILABLE");

    // Row format, as TF Serving's REST API page shows it (named inputs per instance).
    let users = ["42", "1", "7", "nobody"];
    let titles = [TITLES[1], TITLES[2], TITLES[4], TITLES[0]];
    let want = model.predict(&users, &titles).unwrap();
    let instances: Vec<Value> = users
        .iter()
        .zip(titles)
        .map(|(u, t)| json!({"user_id": u, "movie_title": t}))
        .collect();
    let (status, v) = post_json(
        &agent,
        &server.url("/v1/models/movies:predict"),
        &json!({"signature_name": "serving_default", "instances": instances}),
    );
    assert_eq!(status, 200, "{v}");
    let rows: Vec<f64> = v["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[0].as_f64().unwrap())
        .collect();
    assert_scores("TF rows", &rows, &want);
    // Columnar format.
    let (status, v) = post_json(
        &agent,
        &server.url("/v1/models/movies/versions/1:predict"),
        &json!({"inputs": {"user_id": users, "movie_title": titles}}),
    );
    assert_eq!(status, 200, "{v}");
    let cols: Vec<f64> = v["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[0].as_f64().unwrap())
        .collect();
    assert_scores("TF columns", &cols, &want);

    // Our JSON: the ranking equals RankingModel::rank, which `recsys rank` prints.
    let candidates = [TITLES[0], TITLES[1], TITLES[2], TITLES[3]];
    let (status, v) = post_json(
        &agent,
        &server.url("/v1/rank"),
        &json!({"user_id": "42", "candidates": candidates}),
    );
    assert_eq!(status, 200, "{v}");
    let want = model.rank("42", &candidates).unwrap();
    for (g, (title, score)) in v["ranking"].as_array().unwrap().iter().zip(&want) {
        assert_eq!(g["movie_title"], title.as_str());
        assert_scores("rank", &[g["score"].as_f64().unwrap()], &[*score]);
    }
    let (status, v) = post_json(&agent, &server.url("/v1/rank"), &json!({"user_id": 42}));
    assert_eq!(status, 400);
    assert!(v["error"].as_str().unwrap().contains("user_id"), "{v}");
}

#[test]
fn a_slow_body_times_out_with_503() {
    let (_dir, server, _) = serve(Limits {
        request_timeout: Duration::from_millis(200),
        ..Limits::default()
    });
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // Promise 100 bytes, send 2, then wait.
    write!(
        stream,
        "POST /v1/rank HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{{"
    )
    .unwrap();
    let start = Instant::now();
    let mut reply = String::new();
    let _ = stream.read_to_string(&mut reply);
    assert!(reply.starts_with("HTTP/1.1 503"), "{reply}");
    assert!(reply.contains("longer than 200 ms"), "{reply}");
    assert!(start.elapsed() < Duration::from_secs(5));
}
