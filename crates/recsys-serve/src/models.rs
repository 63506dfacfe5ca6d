//! The served models: each one a name, a directory and the version now serving, swapped
//! atomically when the directory holds a new model.
//!
//! A request takes the current [`LoadedModel`] (an `Arc`) once and finishes on it, so a swap
//! never changes a model under a request in flight. A reload — the watcher noticing a new
//! `manifest.json`, or the admin endpoint — loads and precomputes in a blocking task, then
//! stores the new `Arc`; if loading fails (a truncated, tampered or incompatible model), the old
//! version keeps serving and the failure is logged and counted.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use recsys::artifact::{self, Manifest};
use recsys::scorer::Scorer;
use tokio::sync::Mutex;

use crate::error::{Result, ServeError};

const MANIFEST: &str = "manifest.json";

/// A `--model` value: a name and the model directory it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSpec {
    /// The name clients use (`/v1/models/{name}`, `/v2/models/{name}`, `"model"` in our JSON).
    pub name: String,
    /// The model directory (`recsys train --out`).
    pub dir: PathBuf,
}

impl ModelSpec {
    /// A model with an explicit name.
    pub fn named(name: impl Into<String>, dir: impl Into<PathBuf>) -> Self {
        ModelSpec {
            name: name.into(),
            dir: dir.into(),
        }
    }

    /// Parses `NAME=DIR`, or `DIR` alone (named after the directory's last component).
    pub fn parse(value: &str) -> Result<Self> {
        let spec_error = |reason: &str| ServeError::Spec {
            value: value.to_owned(),
            reason: reason.to_owned(),
        };
        match value.split_once('=') {
            Some((name, "")) if valid_name(name) => {
                return Err(spec_error("the directory after NAME= is empty"));
            }
            Some((name, dir)) if valid_name(name) => return Ok(ModelSpec::named(name, dir)),
            _ => {}
        }
        if value.is_empty() {
            return Err(spec_error("empty; expected DIR or NAME=DIR"));
        }
        let dir = PathBuf::from(value);
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !valid_name(&name) {
            return Err(spec_error(
                "cannot name the model after this directory (names use letters, digits, '.', '_' and '-'); use NAME=DIR",
            ));
        }
        Ok(ModelSpec { name, dir })
    }
}

impl FromStr for ModelSpec {
    type Err = ServeError;

    fn from_str(s: &str) -> Result<Self> {
        ModelSpec::parse(s)
    }
}

/// Model names go into URLs and metric labels: letters, digits, `.`, `_`, `-`, at most 128.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// One loaded version of a model, ready to score.
#[derive(Debug)]
pub struct LoadedModel {
    /// The model with its first layer's item half precomputed.
    pub scorer: Scorer,
    /// What its directory's manifest said.
    pub manifest: Manifest,
    /// 1 for the version loaded at start, +1 for each successful reload.
    pub version: u64,
    /// The first 12 hex digits of the weights' SHA-256, from the manifest.
    pub weights_sha256: String,
}

/// What a reload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// The manifest had not changed (watcher only): nothing was loaded.
    Unchanged {
        /// The version serving.
        version: u64,
    },
    /// A new version was loaded and swapped in.
    Reloaded {
        /// The version it replaced.
        from: u64,
        /// The version now serving.
        to: u64,
    },
}

/// A served model: its name, directory and current version.
#[derive(Debug)]
pub struct ModelSlot {
    name: String,
    dir: PathBuf,
    current: ArcSwap<LoadedModel>,
    watch: Mutex<WatchState>,
    reloads_ok: AtomicU64,
    reloads_failed: AtomicU64,
}

#[derive(Debug)]
struct WatchState {
    /// The manifest bytes last loaded (or last found broken): a reload starts when they change.
    seen: Option<Vec<u8>>,
    next_version: u64,
}

impl ModelSlot {
    /// The model's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The version serving now; hold the `Arc` for the whole request.
    pub fn current(&self) -> Arc<LoadedModel> {
        self.current.load_full()
    }

    /// Successful and failed reloads so far.
    pub fn reload_counts(&self) -> (u64, u64) {
        (
            self.reloads_ok.load(Ordering::Relaxed),
            self.reloads_failed.load(Ordering::Relaxed),
        )
    }

    /// Loads the directory again and swaps the new version in. With `force` false (the
    /// watcher), does nothing unless `manifest.json` changed since the last attempt. On failure
    /// the old version keeps serving.
    pub async fn reload(&self, force: bool) -> Result<ReloadOutcome> {
        let mut watch = self.watch.lock().await;
        let manifest_path = self.dir.join(MANIFEST);
        let before = tokio::fs::read(&manifest_path).await.ok();
        let serving = self.current.load().version;
        if !force && (before.is_none() || before == watch.seen) {
            // Unchanged, or missing for a moment (a save renames directories): keep serving.
            return Ok(ReloadOutcome::Unchanged { version: serving });
        }
        let (name, dir, version) = (self.name.clone(), self.dir.clone(), watch.next_version);
        let loaded = tokio::task::spawn_blocking(move || load(&name, &dir, version))
            .await
            .map_err(|e| ServeError::Task {
                name: self.name.clone(),
                reason: e.to_string(),
            })
            .and_then(|r| r);
        match loaded {
            Ok((model, bytes)) => {
                self.current.store(Arc::new(model));
                watch.seen = Some(bytes);
                watch.next_version += 1;
                self.reloads_ok.fetch_add(1, Ordering::Relaxed);
                tracing::info!(model = %self.name, from = serving, to = version, "reloaded");
                Ok(ReloadOutcome::Reloaded {
                    from: serving,
                    to: version,
                })
            }
            Err(e) => {
                self.reloads_failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(model = %self.name, "reload failed, version {serving} keeps serving: {e}");
                // Give up on this manifest only if it is still the one we read: a failure caused
                // by a save racing with the load is retried on the next poll.
                let after = tokio::fs::read(&manifest_path).await.ok();
                if after.is_some() && after == before {
                    watch.seen = after;
                }
                Err(e)
            }
        }
    }
}

/// Reads the manifest's bytes, then loads and precomputes the model.
fn load(name: &str, dir: &Path, version: u64) -> Result<(LoadedModel, Vec<u8>)> {
    let load_error = |source| ServeError::Load {
        name: name.to_owned(),
        source,
    };
    let path = dir.join(MANIFEST);
    let bytes = std::fs::read(&path).map_err(|source| {
        load_error(recsys::Error::Io {
            path: path.clone(),
            source,
        })
    })?;
    let saved = artifact::load_any(dir).map_err(load_error)?;
    let weights_sha256 = saved
        .manifest
        .files
        .get("weights.safetensors")
        .map(|d| d.sha256.chars().take(12).collect())
        .unwrap_or_default();
    let scorer = Scorer::new(saved.model);
    let model = LoadedModel {
        scorer,
        manifest: saved.manifest,
        version,
        weights_sha256,
    };
    Ok((model, bytes))
}

/// Every served model, in the order given; the first is the default for our JSON API.
#[derive(Debug)]
pub struct Models {
    slots: Vec<Arc<ModelSlot>>,
}

impl Models {
    /// Loads every model (blocking; call before serving). Names must be distinct.
    pub fn load(specs: Vec<ModelSpec>) -> Result<Self> {
        if specs.is_empty() {
            return Err(ServeError::NoModels);
        }
        for (i, a) in specs.iter().enumerate() {
            if let Some(b) = specs[..i].iter().find(|b| b.name == a.name) {
                return Err(ServeError::DuplicateName {
                    name: a.name.clone(),
                    first: b.dir.clone(),
                    second: a.dir.clone(),
                });
            }
        }
        let slots = specs
            .into_iter()
            .map(|spec| {
                let (model, bytes) = load(&spec.name, &spec.dir, 1)?;
                Ok(Arc::new(ModelSlot {
                    name: spec.name,
                    dir: spec.dir,
                    current: ArcSwap::from_pointee(model),
                    watch: Mutex::new(WatchState {
                        seen: Some(bytes),
                        next_version: 2,
                    }),
                    reloads_ok: AtomicU64::new(0),
                    reloads_failed: AtomicU64::new(0),
                }))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Models { slots })
    }

    /// The model named `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<ModelSlot>> {
        self.slots.iter().find(|s| s.name == name)
    }

    /// The first model given.
    pub fn default_model(&self) -> &Arc<ModelSlot> {
        &self.slots[0]
    }

    /// Every model, in the order given.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<ModelSlot>> {
        self.slots.iter()
    }

    /// Reloads each model whose manifest changed (failures are logged and counted).
    pub async fn poll(&self) {
        for slot in &self.slots {
            // The error was logged and counted by `reload`; the old version keeps serving.
            let _ = slot.reload(false).await;
        }
    }
}

/// Polls every model directory's `manifest.json` every `every` and reloads the models whose
/// manifest changed. The task runs until it is aborted or the runtime stops.
pub fn spawn_watcher(models: Arc<Models>, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            models.poll().await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_named_and_unnamed_forms() {
        assert_eq!(
            ModelSpec::parse("movies=/srv/m").unwrap(),
            ModelSpec::named("movies", "/srv/m")
        );
        assert_eq!(
            ModelSpec::parse("/srv/models/ranking-v2").unwrap(),
            ModelSpec::named("ranking-v2", "/srv/models/ranking-v2")
        );
        assert_eq!(
            ModelSpec::parse("model/").unwrap().name,
            "model",
            "a trailing slash is fine"
        );
        // The part before '=' is not a valid name: the whole value is a directory.
        assert_eq!(
            ModelSpec::parse("a b=c/dir").unwrap(),
            ModelSpec::named("dir", "a b=c/dir")
        );
        for bad in ["", "movies=", "/", "..", "my model"] {
            let err = ModelSpec::parse(bad).unwrap_err().to_string();
            assert!(err.contains("--model"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn no_models_or_duplicate_names_are_errors_before_anything_loads() {
        assert!(matches!(Models::load(vec![]), Err(ServeError::NoModels)));
        let err = Models::load(vec![
            ModelSpec::named("m", "/nonexistent/a"),
            ModelSpec::named("m", "/nonexistent/b"),
        ])
        .unwrap_err();
        assert!(matches!(err, ServeError::DuplicateName { .. }), "{err}");
        let err = Models::load(vec![ModelSpec::named("m", "/nonexistent/a")]).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/a"), "{err}");
    }
}
