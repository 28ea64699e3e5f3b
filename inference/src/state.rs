//! The model being served.
//!
//! Readers borrow the current model with one atomic load and never block: a reload swaps
//! the whole model at once, so a request sees the old model or the new one, never a mix.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use arc_swap::{ArcSwapOption, Guard};
use model::Model;

use crate::metrics::Metrics;

/// Shared by the routes and the reloader.
#[derive(Debug)]
pub struct AppState {
    /// The model name of the Open Inference Protocol routes.
    pub model_name: String,
    /// Directory the model is published in.
    pub model_dir: PathBuf,
    model: ArcSwapOption<Model>,
    /// Why no model is loaded (only read when `model` is empty).
    not_ready: Mutex<String>,
    pub metrics: Metrics,
}

impl AppState {
    pub fn new(model_name: String, model_dir: PathBuf) -> Self {
        let reason = format!("no model loaded yet from {}", model_dir.display());
        Self {
            model_name,
            model_dir,
            model: ArcSwapOption::empty(),
            not_ready: Mutex::new(reason),
            metrics: Metrics::new(),
        }
    }

    /// The model to answer this request with, or why there is none. The guard is arc-swap's
    /// thread-local borrow: no shared reference count is touched on the request path (two
    /// cores bumping one counter cost measurable throughput). Hold it only briefly.
    pub fn model(&self) -> Result<ModelGuard, String> {
        let guard = self.model.load();
        if guard.is_some() {
            Ok(ModelGuard(guard))
        } else {
            Err(self.not_ready_reason())
        }
    }

    /// Version of the model being served, if any.
    pub fn version(&self) -> Option<String> {
        self.model.load().as_ref().map(|m| m.version.clone())
    }

    /// Starts serving `model` (atomic for every reader).
    pub fn swap(&self, model: Model) {
        self.metrics.set_model_version(&model.version);
        self.model.store(Some(Arc::new(model)));
    }

    /// Records why the server cannot serve; kept while no model is loaded.
    pub fn set_not_ready(&self, reason: String) {
        *self.not_ready.lock().unwrap_or_else(|p| p.into_inner()) = reason;
    }

    fn not_ready_reason(&self) -> String {
        self.not_ready
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// A loaded model, borrowed for one request (see [`AppState::model`]).
pub struct ModelGuard(Guard<Option<Arc<Model>>>);

impl std::ops::Deref for ModelGuard {
    type Target = Model;
    fn deref(&self) -> &Model {
        self.0
            .as_deref()
            .expect("ModelGuard is only made around a model")
    }
}

impl std::fmt::Debug for ModelGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ModelGuard").field(&self.version).finish()
    }
}
