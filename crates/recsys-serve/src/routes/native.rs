//! Our JSON API: `POST /v1/rank` and `POST /v1/predict`.
//!
//! ```text
//! POST /v1/rank    {"user_id": "42", "candidates": ["Speed (1994)", …], "top_k": 2}
//!                  {"user_id": "42", "all": true, "top_k": 10}
//!   → {"model": "movies", "model_version": 1, "user_id": "42", "user_in_vocabulary": true,
//!      "ranking": [{"movie_title": "Speed (1994)", "score": 3.57, "in_vocabulary": true}, …]}
//! POST /v1/predict {"pairs": [{"user_id": "42", "movie_title": "Speed (1994)"}, …]}
//!   → {"model": "movies", "model_version": 1,
//!      "predictions": [{"score": 3.57, "user_in_vocabulary": true, "title_in_vocabulary": true}]}
//! ```
//!
//! Both take an optional `"model"` (default: the first model given). Unknown users and titles
//! are scored through the out-of-vocabulary row and flagged `false`.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use serde::{Deserialize, Serialize};

use super::{check_count, find_model, json, score_pairs, score_user, top_k_of_all};
use crate::error::ApiError;
use crate::json::AppJson;
use crate::models::ModelSlot;
use crate::state::AppState;

/// The routes.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/rank", post(rank))
        .route("/v1/predict", post(predict))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RankRequest {
    model: Option<String>,
    user_id: String,
    candidates: Option<Vec<String>>,
    #[serde(default)]
    all: bool,
    top_k: Option<usize>,
}

#[derive(Debug, Serialize)]
struct RankResponse<'a> {
    model: &'a str,
    model_version: u64,
    user_id: &'a str,
    user_in_vocabulary: bool,
    ranking: Vec<RankEntry<'a>>,
}

#[derive(Debug, Serialize)]
struct RankEntry<'a> {
    movie_title: &'a str,
    score: f32,
    in_vocabulary: bool,
}

fn pick_model<'a>(
    state: &'a AppState,
    name: Option<&str>,
) -> Result<&'a std::sync::Arc<ModelSlot>, ApiError> {
    match name {
        Some(name) => find_model(state, name),
        None => Ok(state.models.default_model()),
    }
}

async fn rank(
    State(state): State<AppState>,
    AppJson(req): AppJson<RankRequest>,
) -> Result<Response, ApiError> {
    let slot = pick_model(&state, req.model.as_deref())?;
    if req.top_k == Some(0) {
        return Err(ApiError::field("top_k", "must be at least 1"));
    }
    let loaded = slot.current();
    let scorer = &loaded.scorer;
    let user_known = scorer.user_vocabulary().lookup(&req.user_id) != 0;
    let response = |ranking| RankResponse {
        model: slot.name(),
        model_version: loaded.version,
        user_id: &req.user_id,
        user_in_vocabulary: user_known,
        ranking,
    };
    match (&req.candidates, req.all) {
        (Some(_), true) => {
            Err(ApiError::BadRequest(
                "candidates and all: give a list of candidates or \"all\": true, not both".into(),
            ))
        }
        (None, false) => {
            Err(ApiError::BadRequest(
                "candidates: missing (give a list of titles, or \"all\": true to rank the whole catalogue)"
                    .into(),
            ))
        }
        (None, true) => {
            let titles = scorer.title_vocabulary().values();
            let best = top_k_of_all(scorer, &req.user_id, req.top_k.unwrap_or(10));
            let ranking = best
                .into_iter()
                .map(|(row, score)| RankEntry {
                    movie_title: &titles[row as usize - 1],
                    score,
                    in_vocabulary: true,
                })
                .collect();
            json(&response(ranking))
        }
        (Some(candidates), false) => {
            check_count(&state, "candidates", candidates.len())?;
            let (scores, known) = score_user(scorer, &req.user_id, candidates);
            let mut order = Vec::new();
            recsys::scorer::top_k(&scores, req.top_k.unwrap_or(usize::MAX), &mut order);
            let ranking = order
                .into_iter()
                .map(|i| RankEntry {
                    movie_title: &candidates[i as usize],
                    score: scores[i as usize],
                    in_vocabulary: known[i as usize],
                })
                .collect();
            json(&response(ranking))
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PredictRequest {
    model: Option<String>,
    pairs: Vec<Pair>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Pair {
    user_id: String,
    movie_title: String,
}

#[derive(Debug, Serialize)]
struct PredictResponse<'a> {
    model: &'a str,
    model_version: u64,
    predictions: Vec<Prediction>,
}

#[derive(Debug, Serialize)]
struct Prediction {
    score: f32,
    user_in_vocabulary: bool,
    title_in_vocabulary: bool,
}

async fn predict(
    State(state): State<AppState>,
    AppJson(req): AppJson<PredictRequest>,
) -> Result<Response, ApiError> {
    let slot = pick_model(&state, req.model.as_deref())?;
    check_count(&state, "pairs", req.pairs.len())?;
    let loaded = slot.current();
    let users: Vec<&str> = req.pairs.iter().map(|p| p.user_id.as_str()).collect();
    let titles: Vec<&str> = req.pairs.iter().map(|p| p.movie_title.as_str()).collect();
    let scored = score_pairs(&loaded.scorer, &users, &titles);
    let predictions = (0..scored.scores.len())
        .map(|i| Prediction {
            score: scored.scores[i],
            user_in_vocabulary: scored.user_known[i],
            title_in_vocabulary: scored.title_known[i],
        })
        .collect();
    json(&PredictResponse {
        model: slot.name(),
        model_version: loaded.version,
        predictions,
    })
}
