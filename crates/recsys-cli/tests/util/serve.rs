//! Driving `recsys serve`, the real binary, over HTTP: start it on a free loopback port, compare
//! its answers with `recsys rank`, stop it with SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Dir, TestCommand};

/// The server, killed if the test fails before it is stopped.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn post(url: &str, body: &Value) -> (u16, Value) {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .new_agent();
    let mut r = agent
        .post(url)
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .unwrap();
    let status = r.status().as_u16();
    (
        status,
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap(),
    )
}

/// Serves the model in `dir/model` and checks its answers for `user` against `recsys rank` on
/// the same directory, in our JSON and TF Serving's rows; then stops it with SIGTERM.
pub fn serve_equals_rank_then_sigterm(dir: &Dir, mut cmd: TestCommand, user: &str) {
    let items = [
        "Delta (1993)",
        "Alpha (1990)",
        "Not In The Catalogue (2024)",
        "Echo (1994)",
    ];
    let ranked = cmd
        .args([
            "rank", "--model", "model", "--user", user, "--json", "--items",
        ])
        .args(items)
        .json();
    let ranked = ranked.as_array().unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_recsys"))
        .current_dir(dir.path())
        .args(["serve", "--model", "movies=model", "--addr", "127.0.0.1:0"])
        .args(["--watch-interval-ms", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut server = Serve(child);
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();

    let (status, v) = post(
        &format!("{base}/v1/rank"),
        &json!({"user_id": user, "candidates": items}),
    );
    assert_eq!(status, 200, "{v}");
    let got = v["ranking"].as_array().unwrap();
    assert_eq!(got.len(), ranked.len());
    for (g, r) in got.iter().zip(ranked) {
        assert_eq!(g["movie_title"], r["movie_title"]);
        let (a, b) = (g["score"].as_f64().unwrap(), r["score"].as_f64().unwrap());
        assert!((a - b).abs() <= 1e-6, "{g} vs {r}");
    }
    let unknown = got.iter().find(|g| g["movie_title"] == items[2]).unwrap();
    assert_eq!(unknown["in_vocabulary"], false);

    // TF Serving's row format scores the same pairs.
    let instances: Vec<Value> = ranked
        .iter()
        .map(|r| json!({"user_id": user, "movie_title": r["movie_title"]}))
        .collect();
    let (status, v) = post(
        &format!("{base}/v1/models/movies:predict"),
        &json!({ "instances": instances }),
    );
    assert_eq!(status, 200, "{v}");
    for (p, r) in v["predictions"].as_array().unwrap().iter().zip(ranked) {
        let (a, b) = (p[0].as_f64().unwrap(), r["score"].as_f64().unwrap());
        assert!((a - b).abs() <= 1e-6, "{p} vs {r}");
    }

    // SIGTERM: a clean stop, exit status 0.
    let child = &mut server.0;
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "still running after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert!(rest.contains("stopped"), "{rest}");
}
