//! Shared by the server's test targets: small saved models with awkward titles.

#![allow(dead_code)]

use std::path::Path;

use recsys::data::Vocabulary;
use recsys::kinds::ranking::{RankingModel, RankingModelConfig};

/// Users the models know.
pub const USERS: [&str; 4] = ["1", "42", "7", "943"];
/// Titles the models know, with quotes, commas, non-ASCII and a leading space.
pub const TITLES: [&str; 6] = [
    "Speed (1994)",
    "M*A*S*H (1970)",
    "Dances with Wolves (1990)",
    "Amélie (2001)",
    "\"Quoted\", with comma (1999)",
    " leading space (2000)",
];

/// A model of the tutorial's shape (32-wide embeddings, 256 → 64 → 1) drawn from `seed`, with
/// non-zero biases so every part of the network matters.
pub fn model(seed: u64) -> RankingModel {
    let users = Vocabulary::from_values(USERS);
    let titles = Vocabulary::from_values(TITLES);
    let mut m = RankingModel::new(RankingModelConfig::default(), users, titles, seed).unwrap();
    for (i, layer) in m.dense.iter_mut().enumerate() {
        for (j, b) in layer.bias.iter_mut().enumerate() {
            *b = 0.1 * ((seed as usize + i * 31 + j) as f32).sin();
        }
    }
    // Ratings near 3, like a trained model's, so scores from different seeds differ clearly.
    if let Some(last) = m.dense.last_mut() {
        last.bias[0] = 3.0 + seed as f32 * 0.1;
    }
    m
}

/// Saves [`model`]`(seed)` to `dir` and returns it.
pub fn save(dir: &Path, seed: u64) -> RankingModel {
    let m = model(seed);
    recsys::artifact::save(&m, None, dir).unwrap();
    m
}

/// A server on a free loopback port, run on its own thread; stopped (gracefully) when dropped.
pub struct Server {
    /// Where it listens.
    pub addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Serves `state` on `127.0.0.1:0`, polling the model directories every `watch` if given.
    pub fn start(state: recsys_serve::AppState, watch: Option<std::time::Duration>) -> Server {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            runtime.block_on(async move {
                if let Some(every) = watch {
                    recsys_serve::spawn_watcher(state.models.clone(), every);
                }
                axum::serve(listener, recsys_serve::app(state))
                    .with_graceful_shutdown(async move {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
        });
        Server {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A blocking HTTP client that returns 4xx/5xx responses instead of errors.
pub fn client() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(30)))
        .build()
        .new_agent()
}

/// POSTs `body` and returns the status and the body parsed as JSON.
pub fn post_json(
    agent: &ureq::Agent,
    url: &str,
    body: &serde_json::Value,
) -> (u16, serde_json::Value) {
    let mut response = agent
        .post(url)
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    let value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: not JSON ({e}): {text}"));
    (status, value)
}
