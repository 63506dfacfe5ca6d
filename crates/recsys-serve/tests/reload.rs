//! Hot reload under load (its own test target: it rewrites model directories and times a
//! watcher). Clients send requests continuously while the model directory is replaced by a new
//! version, then by a broken one, then by another good one through the admin endpoint: no
//! request may fail, and every answer must come from exactly one of the good models — never a
//! mix, never the broken one.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use recsys::contract::Model;
use recsys_serve::{AppState, Limits, ModelSpec, Models};
use serde_json::{Value, json};

use common::{Server, TITLES, USERS, client, post_json, save};

/// Requests one client may send at most, and the longest the test may run.
const MAX_REQUESTS: usize = 50_000;
const MAX_TIME: Duration = Duration::from_secs(60);

/// What a client saw: per answer, the version and the scores.
type Seen = Vec<(u64, Vec<f32>)>;

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn models_swap_under_load_with_no_failed_request_and_no_mixed_answer() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("movies");
    let users: Vec<&str> = USERS.iter().chain(["stranger"].iter()).copied().collect();
    let titles: Vec<&str> = TITLES.iter().take(users.len()).copied().collect();
    let expected = |seed| {
        save(&tmp.path().join(format!("expect-{seed}")), seed)
            .predict(&users, &titles)
            .unwrap()
    };
    let (a, b, d) = (expected(1), expected(2), expected(4));
    save(&dir, 1);
    let models = Models::load(vec![ModelSpec::named("movies", &dir)]).unwrap();
    let server = Server::start(
        AppState::new(models, Limits::default()),
        Some(Duration::from_millis(20)),
    );

    let stop = Arc::new(AtomicBool::new(false));
    let predict_url = server.url("/v1/predict");
    let infer_url = server.url("/v2/models/movies/infer");
    let pairs: Vec<Value> = users
        .iter()
        .zip(&titles)
        .map(|(u, t)| json!({"user_id": u, "movie_title": t}))
        .collect();
    let ours = json!({ "pairs": pairs });
    let kserve = json!({"inputs": [
        {"name": "user_id", "datatype": "BYTES", "shape": [users.len()], "data": users},
        {"name": "movie_title", "datatype": "BYTES", "shape": [titles.len()], "data": titles},
    ]});
    let spawn_client = |url: String, body: Value, kserve: bool| {
        let stop = stop.clone();
        thread::spawn(move || -> (Seen, Vec<String>) {
            let agent = client();
            let (mut seen, mut failures) = (Seen::new(), Vec::new());
            let start = Instant::now();
            while !stop.load(Ordering::Relaxed)
                && seen.len() + failures.len() < MAX_REQUESTS
                && start.elapsed() < MAX_TIME
            {
                let (status, v) = post_json(&agent, &url, &body);
                if status != 200 {
                    failures.push(format!("{status}: {v}"));
                    continue;
                }
                let (version, scores): (u64, Vec<f32>) = if kserve {
                    let data = v["outputs"][0]["data"].as_array().unwrap();
                    (
                        v["model_version"].as_str().unwrap().parse().unwrap(),
                        data.iter().map(|x| x.as_f64().unwrap() as f32).collect(),
                    )
                } else {
                    let p = v["predictions"].as_array().unwrap();
                    (
                        v["model_version"].as_u64().unwrap(),
                        p.iter()
                            .map(|x| x["score"].as_f64().unwrap() as f32)
                            .collect(),
                    )
                };
                seen.push((version, scores));
            }
            (seen, failures)
        })
    };
    let clients = [
        spawn_client(predict_url, ours, false),
        spawn_client(infer_url, kserve, true),
    ];
    let agent = client();
    let serving = || -> u64 {
        let mut r = agent.get(&server.url("/v2/models/movies")).call().unwrap();
        let v: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
        v["versions"][0].as_str().unwrap().parse().unwrap()
    };
    thread::sleep(Duration::from_millis(150));

    // 1. A new version saved over the directory: the watcher swaps it in.
    save(&dir, 2);
    wait_for("version 2", || serving() == 2);
    thread::sleep(Duration::from_millis(150));

    // 2. A broken version (weights tampered after the checksums were written) moved into place
    //    atomically: the watcher tries it, fails, and version 2 keeps serving.
    let broken = tmp.path().join("broken");
    save(&broken, 3);
    std::fs::write(broken.join("weights.safetensors"), b"not safetensors").unwrap();
    std::fs::rename(&dir, tmp.path().join("old")).unwrap();
    std::fs::rename(&broken, &dir).unwrap();
    let failures_metric = |server: &Server| -> String {
        let mut r = agent.get(&server.url("/metrics")).call().unwrap();
        let text = r.body_mut().read_to_string().unwrap();
        text.lines()
            .find(|l| {
                l.starts_with("recsys_model_reloads_total{model=\"movies\",result=\"failure\"}")
            })
            .unwrap()
            .to_owned()
    };
    wait_for("the failed reload", || {
        !failures_metric(&server).ends_with(" 0")
    });
    thread::sleep(Duration::from_millis(150));
    assert_eq!(serving(), 2, "the broken model must not replace version 2");

    // 3. Another good version, swapped in through the admin endpoint.
    save(&dir, 4);
    let (status, v) = post_json(
        &agent,
        &server.url("/admin/models/movies/reload"),
        &json!({}),
    );
    assert_eq!(status, 200, "{v}");
    let last = v["version"].as_u64().unwrap();
    assert!(last >= 3, "{v}");
    thread::sleep(Duration::from_millis(150));
    stop.store(true, Ordering::Relaxed);

    let mut by_version: BTreeMap<u64, usize> = BTreeMap::new();
    for handle in clients {
        let (seen, failures) = handle.join().unwrap();
        assert!(failures.is_empty(), "failed requests: {failures:?}");
        assert!(seen.len() > 20, "the client kept sending: {}", seen.len());
        let mut previous = 0;
        for (version, scores) in &seen {
            assert!(*version >= previous, "versions never go back");
            previous = *version;
            let close = |want: &[f32]| scores.iter().zip(want).all(|(g, w)| (g - w).abs() <= 1e-6);
            let want = match version {
                1 => &a,
                2 => &b,
                _ => &d,
            };
            assert!(
                close(want),
                "version {version} answered {scores:?}, expected {want:?}"
            );
            *by_version.entry(*version).or_default() += 1;
        }
    }
    assert!(by_version.contains_key(&1), "{by_version:?}");
    assert!(by_version.contains_key(&2), "{by_version:?}");
    assert!(by_version.keys().any(|v| *v >= 3), "{by_version:?}");
    eprintln!("answers per version: {by_version:?}");
}
