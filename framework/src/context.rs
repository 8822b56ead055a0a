//! The context handed to resource code with each request.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::watch;

use crate::diag::{Diagnostic, Diagnostics, Error, Result};

/// Raised by `StopProvider`: Terraform wants in-flight work to end (Ctrl-C).
#[derive(Debug, Clone)]
pub struct StopSignal(watch::Receiver<bool>);

/// The sending side of a [`StopSignal`].
#[derive(Debug)]
pub struct StopTrigger(watch::Sender<bool>);

impl StopTrigger {
    /// A connected pair; the signal has not fired yet.
    pub fn new() -> (StopTrigger, StopSignal) {
        let (tx, rx) = watch::channel(false);
        (StopTrigger(tx), StopSignal(rx))
    }
    /// Fire the signal: every clone of its [`StopSignal`] sees it (once
    /// fired, it stays fired).
    pub fn stop(&self) {
        self.0.send_replace(true);
    }
}

impl StopSignal {
    /// A signal that never fires (for tests).
    pub fn never() -> StopSignal {
        let (tx, rx) = watch::channel(false);
        std::mem::forget(tx);
        StopSignal(rx)
    }
    /// Whether Terraform has asked the provider to stop (does not wait).
    pub fn is_stopped(&self) -> bool {
        *self.0.borrow()
    }
    /// Resolves once Terraform has asked the provider to stop.
    pub async fn stopped(&self) {
        let mut rx = self.0.clone();
        // An error means the sender is gone: nobody can stop us any more.
        if rx.wait_for(|s| *s).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Per-request context: the configured API client, private state, warnings,
/// and Terraform's stop signal.
pub struct Ctx<C> {
    client: Arc<C>,
    request: Arc<RequestState>,
}

/// What one request collects, shared by every view of its [`Ctx`].
struct RequestState {
    private: Mutex<BTreeMap<String, serde_json::Value>>,
    diagnostics: Mutex<Diagnostics>,
    stop: StopSignal,
}

impl<C> Ctx<C> {
    /// A context for one request.
    pub fn new(
        client: Arc<C>,
        private: BTreeMap<String, serde_json::Value>,
        stop: StopSignal,
    ) -> Self {
        Self {
            client,
            request: Arc::new(RequestState {
                private: Mutex::new(private),
                diagnostics: Mutex::new(Diagnostics::new()),
                stop,
            }),
        }
    }

    /// The same request seen with another client (a backend's own, for a
    /// backend-scoped resource): private state, warnings and the stop signal
    /// are shared.
    pub fn with_client<T>(&self, client: Arc<T>) -> Ctx<T> {
        Ctx {
            client,
            request: Arc::clone(&self.request),
        }
    }

    /// The client the provider built in `configure`.
    pub fn client(&self) -> &C {
        &self.client
    }

    /// Private state kept by Terraform with the resource (never shown to users).
    pub fn private<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        let p = self
            .request
            .private
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        p.get(key)
            .and_then(|v| serde_json::from_value(v.clone()).ok())
    }

    /// Store `value` (as JSON) under `key` in the resource's private state,
    /// replacing what was there. Fails only when `value` cannot be written as
    /// JSON (e.g. a map with non-string keys).
    pub fn set_private<T: Serialize>(&self, key: &str, value: &T) -> Result<()> {
        let v = serde_json::to_value(value)?;
        self.request
            .private
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.to_string(), v);
        Ok(())
    }

    /// Drop `key` from the resource's private state (nothing happens if absent).
    pub fn remove_private(&self, key: &str) {
        self.request
            .private
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }

    /// Add a warning to the response (e.g. "a reboot is needed").
    pub fn warn(&self, summary: impl Into<String>, detail: impl Into<String>) {
        self.request
            .diagnostics
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Diagnostic::warning(summary, detail));
    }

    /// Terraform's stop signal for this request, for code that wants to poll
    /// it or wait on it itself (see also [`Ctx::until_stopped`]).
    pub fn stop_signal(&self) -> &StopSignal {
        &self.request.stop
    }

    /// Run `fut` unless Terraform asks to stop first.
    pub async fn until_stopped<T>(&self, fut: impl Future<Output = Result<T>>) -> Result<T> {
        tokio::select! {
            r = fut => r,
            () = self.request.stop.stopped() => Err(Error::new("Operation cancelled", "Terraform asked the provider to stop.")),
        }
    }

    pub(crate) fn take(self) -> (BTreeMap<String, serde_json::Value>, Diagnostics) {
        let r = &self.request;
        (
            std::mem::take(&mut *r.private.lock().unwrap_or_else(PoisonError::into_inner)),
            std::mem::take(&mut *r.diagnostics.lock().unwrap_or_else(PoisonError::into_inner)),
        )
    }
}
