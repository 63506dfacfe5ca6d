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
    users: Vec<u32>,
    items: Vec<u32>,
}

thread_local! {
    static BUFFERS: RefCell<Buffers> = RefCell::new(Buffers::default());
}

/// Scores `(users[i], titles[i])`; when every pair has the same user (a ranking request sent as
/// pairs), takes the one-user path.
pub(crate) fn score_pairs<U: AsRef<str>, T: AsRef<str>>(
    scorer: &Scorer,
    users: &[U],
    titles: &[T],
) -> Scored {
    debug_assert_eq!(users.len(), titles.len());
    BUFFERS.with_borrow_mut(|b| {
        b.users.clear();
        b.users
            .extend(users.iter().map(|u| scorer.user_row(u.as_ref())));
        b.items.clear();
        b.items
            .extend(titles.iter().map(|t| scorer.title_row(t.as_ref())));
        let one_user = b.users.windows(2).all(|w| w[0] == w[1])
            && users.windows(2).all(|w| w[0].as_ref() == w[1].as_ref());
        let scores = match b.users.first() {
            // A feature model reads the strings themselves (see `Scorer::score_raw`).
            _ if scorer.feature_model().is_some() => {
                scorer.score_raw(users, titles, &mut b.scratch)
            }
            Some(&u) if one_user => scorer.score_user(u, &b.items, &mut b.scratch).to_vec(),
            _ => scorer
                .score_pairs(&b.users, &b.items, &mut b.scratch)
                .to_vec(),
        };
        Scored {
            scores,
            user_known: b.users.iter().map(|&r| r != 0).collect(),
            title_known: b.items.iter().map(|&r| r != 0).collect(),
        }
    })
}

/// Scores `titles` for one user (`user_id`, whose row is `user_row`): the scores and whether
/// each title is known.
pub(crate) fn score_user<T: AsRef<str>>(
    scorer: &Scorer,
    (user_id, user_row): (&str, u32),
    titles: &[T],
) -> (Vec<f32>, Vec<bool>) {
    BUFFERS.with_borrow_mut(|b| {
        b.items.clear();
        b.items
            .extend(titles.iter().map(|t| scorer.title_row(t.as_ref())));
        let scores = match scorer.feature_model() {
            Some(_) => scorer.score_raw(&[user_id], titles, &mut b.scratch),
            None => scorer
                .score_user(user_row, &b.items, &mut b.scratch)
                .to_vec(),
        };
        (scores, b.items.iter().map(|&r| r != 0).collect())
    })
}

/// Scores every title in the vocabulary for one user (`user_id`, whose row is `user_row`) and
/// returns the `k` best as `(title row, score)`, best first.
pub(crate) fn top_k_of_all(
    scorer: &Scorer,
    (user_id, user_row): (&str, u32),
    k: usize,
) -> Vec<(u32, f32)> {
    BUFFERS.with_borrow_mut(|b| {
        b.items.clear();
        b.items.extend(1..scorer.num_title_rows() as u32);
        let raw;
        let scores = match scorer.feature_model() {
            Some(_) => {
                let vocabulary = scorer.title_vocabulary();
                let titles: Vec<&str> = (b.items.iter())
                    .map(|&row| vocabulary.value(row).unwrap_or(""))
                    .collect();
                raw = scorer.score_raw(&[user_id], &titles, &mut b.scratch);
                &raw[..]
            }
            None => scorer.score_user(user_row, &b.items, &mut b.scratch),
        };
        let mut order = std::mem::take(&mut b.users);
        recsys::scorer::top_k(scores, k, &mut order);
        let best = order
            .iter()
            .map(|&i| (b.items[i as usize], scores[i as usize]))
            .collect();
        b.users = order;
        best
    })
}
