//! One router per resource, and what their handlers share: finding a model, checking a count
//! against the limits, and scoring through a per-thread [`Scratch`].

pub(crate) mod admin;
pub(crate) mod kserve;
pub(crate) mod metrics;
pub(crate) mod native;
pub(crate) mod tfserving;

use std::cell::RefCell;
use std::sync::Arc;

use axum::http::Uri;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use recsys::scorer::{Scorer, Scratch};
use serde::Serialize;

use crate::error::ApiError;
use crate::models::{LoadedModel, ModelSlot};
use crate::state::AppState;

/// Any path no router knows.
pub(crate) async fn not_found(uri: Uri) -> ApiError {
    ApiError::RouteNotFound(uri.path().to_owned())
}

/// A known path with the wrong method.
pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// The model named `name`, or a 404.
pub(crate) fn find_model<'a>(
    state: &'a AppState,
    name: &str,
) -> Result<&'a Arc<ModelSlot>, ApiError> {
    state
        .models
        .get(name)
        .ok_or_else(|| ApiError::ModelNotFound(name.to_owned()))
}

/// The model, checked against the version in the URL when there is one.
pub(crate) fn resolve<'a>(
    state: &'a AppState,
    name: &str,
    version: Option<&str>,
) -> Result<(&'a Arc<ModelSlot>, Arc<LoadedModel>), ApiError> {
    let slot = find_model(state, name)?;
    let loaded = slot.current();
    if let Some(v) = version.filter(|v| v.parse::<u64>().ok() != Some(loaded.version)) {
        return Err(ApiError::VersionNotFound {
            model: name.to_owned(),
            version: v.to_owned(),
            serving: loaded.version,
        });
    }
    Ok((slot, loaded))
}

/// `value` as a JSON response (serialised straight to bytes).
pub(crate) fn json<T: Serialize>(value: &T) -> Result<Response, ApiError> {
    let bytes = serde_json::to_vec(value)
        .map_err(|e| ApiError::Internal(format!("serialising a response: {e}")))?;
    Ok(([(CONTENT_TYPE, "application/json")], bytes).into_response())
}

/// A 400 naming `field` when a request asks for more than the limit.
pub(crate) fn check_count(state: &AppState, field: &str, n: usize) -> Result<(), ApiError> {
    let max = state.limits.max_candidates;
    if n > max {
        return Err(ApiError::field(
            field,
            format!("{n} items, at most {max} per request"),
        ));
    }
    Ok(())
}

/// Scores and vocabulary flags for a list of pairs.
#[derive(Debug, Default)]
pub(crate) struct Scored {
    /// One score per pair.
    pub scores: Vec<f32>,
    /// Whether each pair's user is in the vocabulary (false: scored through row 0).
    pub user_known: Vec<bool>,
    /// Whether each pair's title is in the vocabulary.
    pub title_known: Vec<bool>,
}

impl Scored {
    /// How many users and titles were out of vocabulary.
    pub fn unknown_counts(&self) -> (usize, usize) {
        (
            self.user_known.iter().filter(|k| !**k).count(),
            self.title_known.iter().filter(|k| !**k).count(),
        )
    }
}

/// Buffers reused by every request a worker thread scores.
#[derive(Default)]
struct Buffers {
    scratch: Scratch,
    order: Vec<u32>,
}

thread_local! {
    static BUFFERS: RefCell<Buffers> = RefCell::new(Buffers::default());
}

/// Whether each row looked up is a vocabulary row (not the out-of-vocabulary row 0).
fn known(rows: &[u32]) -> Vec<bool> {
    rows.iter().map(|&r| r != 0).collect()
}

/// Scores `(users[i], titles[i])` (the scorer takes the one-user path when every pair has the
/// same user).
pub(crate) fn score_pairs<U: AsRef<str>, T: AsRef<str>>(
    scorer: &Scorer,
    users: &[U],
    titles: &[T],
) -> Scored {
    debug_assert_eq!(users.len(), titles.len());
    BUFFERS.with_borrow_mut(|b| {
        let scores = scorer.score_pairs(&users, &titles, &mut b.scratch).to_vec();
        Scored {
            scores,
            user_known: known(b.scratch.user_rows()),
            title_known: known(b.scratch.title_rows()),
        }
    })
}

/// Scores `titles` for one user: the scores and whether each title is known.
pub(crate) fn score_user<T: AsRef<str>>(
    scorer: &Scorer,
    user_id: &str,
    titles: &[T],
) -> (Vec<f32>, Vec<bool>) {
    BUFFERS.with_borrow_mut(|b| {
        let scores = scorer.score_user(user_id, &titles, &mut b.scratch).to_vec();
        (scores, known(b.scratch.title_rows()))
    })
}

/// Scores every title in the vocabulary for one user and returns the `k` best as
/// `(title row, score)`, best first.
pub(crate) fn top_k_of_all(scorer: &Scorer, user_id: &str, k: usize) -> Vec<(u32, f32)> {
    BUFFERS.with_borrow_mut(|b| {
        let Buffers { scratch, order } = b;
        let scores = scorer.score_all(user_id, scratch);
        recsys::scorer::top_k(scores, k, order);
        // Score `i` is title row `i + 1`.
        order.iter().map(|&i| (i + 1, scores[i as usize])).collect()
    })
}
