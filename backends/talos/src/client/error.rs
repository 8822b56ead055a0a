//! One error type for the Talos API client, classified once for the backend,
//! and [`retry`] built on that classification.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// What went wrong, for deciding what to do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The endpoint, node or credentials given are not usable (nothing was sent).
    InvalidInput,
    /// No TCP connection: refused, unroutable, or no answer within the connect timeout.
    Unreachable,
    /// The TLS handshake failed on our side, e.g. the server certificate is not
    /// signed by the cluster's OS CA.
    Tls,
    /// The node refused our client certificate, or wants one and none was sent
    /// (a configured node probed as in maintenance mode).
    CertificateRejected,
    /// The connection broke during the call (install, reboot, network change),
    /// or the node did not answer within the request timeout.
    Transport,
    /// The node answered with a gRPC status: see [`TalosError::code`].
    Status,
    /// The node's answer could not be read (empty, bad gzip or tar, not UTF-8).
    Response,
    /// [`retry`] ran out of time; the message names the operation and the last error.
    Timeout,
    /// A wait has not seen the state it waits for yet (e.g. a reset node
    /// still runs its configuration); retryable.
    Waiting,
}

/// An error from the Talos API client. Its text is safe to show users: it
/// never carries key material.
#[derive(Debug, Clone)]
pub struct TalosError {
    kind: ErrorKind,
    code: Option<tonic::Code>,
    message: String,
}

/// `FailedPrecondition` texts that mean "not yet, try again": Talos's
/// `v1alpha1_server.go` (Bootstrap, ApplyConfiguration) at v1.13.9 and v1.14.0-rc.1.
const RETRYABLE_PRECONDITIONS: &[&str] = &[
    "bootstrap is not available yet",
    "time is not in sync yet",
    "another apply configuration is already in progress",
    "configuration was already applied and node is rebooting",
];

impl TalosError {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            code: None,
            message: message.into(),
        }
    }

    /// A state waited for is not there yet (retryable by [`retry`]).
    pub fn waiting(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Waiting, message)
    }

    /// An error from the gRPC status a node answered with.
    pub fn from_status(status: &tonic::Status) -> Self {
        if let Some(failure) = failure_of(status) {
            return Self::new(failure.kind, failure.message.clone());
        }
        Self {
            kind: ErrorKind::Status,
            code: Some(status.code()),
            message: status.message().to_string(),
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The gRPC status code the node answered with, if it answered.
    pub fn code(&self) -> Option<tonic::Code> {
        self.code
    }

    /// The node's message (for a status) or our description of the failure.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether trying again later can succeed: the node is unreachable or
    /// rebooting, or answered one of Talos's "not yet" preconditions.
    /// `InvalidArgument`, `PermissionDenied`, `Unimplemented` and
    /// `Unauthenticated` never are.
    pub fn is_retryable(&self) -> bool {
        match self.kind {
            ErrorKind::Unreachable | ErrorKind::Transport | ErrorKind::Waiting => true,
            ErrorKind::Status => match self.code {
                Some(
                    tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Aborted,
                ) => true,
                Some(tonic::Code::FailedPrecondition) => RETRYABLE_PRECONDITIONS
                    .iter()
                    .any(|text| self.message.contains(text)),
                _ => false,
            },
            ErrorKind::InvalidInput
            | ErrorKind::Tls
            | ErrorKind::CertificateRejected
            | ErrorKind::Response
            | ErrorKind::Timeout => false,
        }
    }

    /// Whether a request that failed this way may still have been carried
    /// out by the node: the connection failed or broke, or the answer did
    /// not come back (`Unavailable`, `DeadlineExceeded`, `Cancelled`). Read
    /// the node's state to find out before sending again. Every other
    /// status is the node's final word on the request (it was refused, or
    /// it failed on the node): report it, do not send it again, except the
    /// "not yet" preconditions of [`TalosError::is_retryable`], which say
    /// the request was not carried out and can be sent again later.
    pub fn may_have_landed(&self) -> bool {
        match self.kind {
            ErrorKind::Unreachable | ErrorKind::Transport => true,
            ErrorKind::Status => matches!(
                self.code,
                Some(
                    tonic::Code::Unavailable
                        | tonic::Code::DeadlineExceeded
                        | tonic::Code::Cancelled
                )
            ),
            ErrorKind::InvalidInput
            | ErrorKind::Tls
            | ErrorKind::CertificateRejected
            | ErrorKind::Response
            | ErrorKind::Timeout
            | ErrorKind::Waiting => false,
        }
    }

    /// Whether the error settles the request: it neither
    /// [may have landed](TalosError::may_have_landed) nor is a "not yet"
    /// answer worth waiting out ([`TalosError::is_retryable`]).
    pub fn is_final(&self) -> bool {
        !self.may_have_landed() && !self.is_retryable()
    }

    /// The node answered `NotFound`.
    pub fn is_not_found(&self) -> bool {
        self.code == Some(tonic::Code::NotFound)
    }

    /// The node answered `AlreadyExists` (e.g. Bootstrap: "etcd data directory is not empty").
    pub fn is_already_exists(&self) -> bool {
        self.code == Some(tonic::Code::AlreadyExists)
    }
}

impl fmt::Display for TalosError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            Some(code) => write!(f, "the Talos API answered {code:?}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for TalosError {}

impl From<tonic::Status> for TalosError {
    fn from(status: tonic::Status) -> Self {
        Self::from_status(&status)
    }
}

/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// The first wait between two attempts.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// How often a progress line is logged while retrying.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// Runs `op` until it succeeds, fails with an error that is not
/// [retryable](TalosError::is_retryable), or `timeout` has passed.
///
/// Waits between attempts grow from 250 ms to 5 s; every ~5 s a progress line
/// (`tracing::info!`) names `what`, the time spent and the last error. An
/// attempt still running at the deadline is abandoned. On timeout the error
/// (kind [`ErrorKind::Timeout`]) names `what`, the elapsed time and the last
/// error.
pub async fn retry<T, F, Fut>(what: &str, timeout: Duration, mut op: F) -> Result<T, TalosError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, TalosError>>,
{
    let start = Instant::now();
    let deadline = start + timeout;
    let mut backoff = FIRST_BACKOFF;
    let mut last_log = start;
    let mut attempts: u32 = 0;
    loop {
        attempts += 1;
        let remaining = deadline.saturating_duration_since(Instant::now());
        let error = match tokio::time::timeout(remaining, op()).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(e)) if !e.is_retryable() => return Err(e),
            Ok(Err(e)) => e,
            Err(_) => TalosError::new(
                ErrorKind::Transport,
                "the attempt was still running at the deadline",
            ),
        };
        let now = Instant::now();
        if now + backoff.min(deadline.saturating_duration_since(now)) >= deadline {
            return Err(TalosError::new(
                ErrorKind::Timeout,
                format!(
                    "{what}: gave up after {} ({attempts} attempts); last error: {error}",
                    human(now - start)
                ),
            ));
        }
        if now.duration_since(last_log) >= PROGRESS_EVERY {
            last_log = now;
            tracing::info!(
                operation = what,
                elapsed = %human(now - start),
                attempts,
                error = %error,
                "still trying"
            );
        } else {
            tracing::debug!(operation = what, attempts, error = %error, "retrying");
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// A duration as people read it: "850ms", "42s", "3m05s".
fn human(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 {
        format!("{}ms", d.as_millis())
    } else if secs < 60 {
        format!("{secs}s")
    } else {
        format!("{}m{:02}s", secs / 60, secs % 60)
    }
}

/// A classified transport failure (the source of the `tonic::Status` the
/// generated client returns for it).
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub(crate) kind: ErrorKind,
    pub(crate) message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// The [`Failure`] behind a status, if the status stands for a transport failure.
pub(crate) fn failure_of(status: &tonic::Status) -> Option<&Failure> {
    std::error::Error::source(status).and_then(|s| s.downcast_ref::<Failure>())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn status(code: tonic::Code, msg: &str) -> TalosError {
        TalosError::from_status(&tonic::Status::new(code, msg))
    }

    #[test]
    fn classification_of_statuses() {
        use tonic::Code;
        for (code, msg, retryable) in [
            (Code::InvalidArgument, "config invalid", false),
            (Code::PermissionDenied, "not authorized", false),
            (
                Code::Unimplemented,
                "machine type is not set, cannot use bootstrap API",
                false,
            ),
            (Code::Unauthenticated, "no cert", false),
            (
                Code::AlreadyExists,
                "etcd data directory is not empty",
                false,
            ),
            (Code::NotFound, "resource doesn't exist", false),
            (Code::Unavailable, "connection refused", true),
            (
                Code::FailedPrecondition,
                "bootstrap is not available yet",
                true,
            ),
            (Code::FailedPrecondition, "time is not in sync yet", true),
            (
                Code::FailedPrecondition,
                "another apply configuration is already in progress",
                true,
            ),
            (
                Code::FailedPrecondition,
                "configuration was already applied and node is rebooting, cannot apply more configuration changes until next reboot",
                true,
            ),
            (
                Code::FailedPrecondition,
                "k8s API server CA config is not set",
                false,
            ),
        ] {
            let e = status(code, msg);
            assert_eq!(e.kind(), ErrorKind::Status);
            assert_eq!(e.code(), Some(code));
            assert_eq!(e.message(), msg);
            assert_eq!(e.is_retryable(), retryable, "{code:?} {msg}");
        }
        assert!(status(Code::NotFound, "x").is_not_found());
        assert!(status(Code::AlreadyExists, "x").is_already_exists());
        assert!(!status(Code::Unknown, "x").is_not_found());
    }

    #[test]
    fn only_lost_answers_may_have_landed() {
        use tonic::Code;
        for code in [Code::Unavailable, Code::DeadlineExceeded, Code::Cancelled] {
            let e = status(code, "x");
            assert!(e.may_have_landed() && !e.is_final(), "{code:?}");
        }
        // The node's final word: never re-sent (the 10-minute hang).
        for code in [
            Code::Unknown,
            Code::Internal,
            Code::ResourceExhausted,
            Code::InvalidArgument,
            Code::PermissionDenied,
            Code::Unimplemented,
            Code::AlreadyExists,
            Code::NotFound,
            Code::OutOfRange,
            Code::DataLoss,
        ] {
            let e = status(code, "x");
            assert!(!e.may_have_landed() && e.is_final(), "{code:?}");
        }
        let busy = status(
            Code::FailedPrecondition,
            "another apply configuration is already in progress",
        );
        assert!(!busy.may_have_landed() && !busy.is_final());
        assert!(status(Code::FailedPrecondition, "other").is_final());
        assert!(TalosError::new(ErrorKind::Unreachable, "refused").may_have_landed());
        assert!(TalosError::new(ErrorKind::Transport, "reset").may_have_landed());
        assert!(TalosError::new(ErrorKind::Tls, "untrusted").is_final());
    }

    #[test]
    fn display_names_the_code_and_the_message() {
        let e = status(
            tonic::Code::InvalidArgument,
            "unknown keys found during decoding",
        );
        assert_eq!(
            e.to_string(),
            "the Talos API answered InvalidArgument: unknown keys found during decoding"
        );
        let e = TalosError::new(
            ErrorKind::Unreachable,
            "cannot reach the Talos API at 10.0.0.5:50000: connection refused",
        );
        assert_eq!(
            e.to_string(),
            "cannot reach the Talos API at 10.0.0.5:50000: connection refused"
        );
        assert!(e.is_retryable());
        assert!(!TalosError::new(ErrorKind::Tls, "untrusted").is_retryable());
        assert!(!TalosError::new(ErrorKind::CertificateRejected, "x").is_retryable());
    }

    #[tokio::test(start_paused = true)]
    async fn retry_returns_the_first_success() {
        let calls = Arc::new(AtomicU32::new(0));
        let c = calls.clone();
        let out = retry("bootstrap", Duration::from_secs(60), move || {
            let c = c.clone();
            async move {
                if c.fetch_add(1, Ordering::SeqCst) < 3 {
                    Err(status(
                        tonic::Code::FailedPrecondition,
                        "bootstrap is not available yet",
                    ))
                } else {
                    Ok(7)
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(out, 7);
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn retry_fails_at_once_on_a_non_retryable_error() {
        let calls = Arc::new(AtomicU32::new(0));
        let c = calls.clone();
        let started = Instant::now();
        let err = retry("apply configuration", Duration::from_secs(600), move || {
            c.fetch_add(1, Ordering::SeqCst);
            async { Err::<(), _>(status(tonic::Code::InvalidArgument, "bad config")) }
        })
        .await
        .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(err.code(), Some(tonic::Code::InvalidArgument));
        assert_eq!(err.message(), "bad config");
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn retry_timeout_names_the_operation_and_the_last_error() {
        let calls = Arc::new(AtomicU32::new(0));
        let c = calls.clone();
        let started = Instant::now();
        let err = retry("bootstrap", Duration::from_secs(30), move || {
            let n = c.fetch_add(1, Ordering::SeqCst);
            async move {
                Err::<(), _>(TalosError::new(
                    ErrorKind::Unreachable,
                    format!("cannot reach the Talos API at 127.0.0.1:1: connection refused (#{n})"),
                ))
            }
        })
        .await
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout);
        assert!(!err.is_retryable());
        let text = err.to_string();
        assert!(text.starts_with("bootstrap: gave up after "), "{text}");
        assert!(
            text.contains(
                "last error: cannot reach the Talos API at 127.0.0.1:1: connection refused"
            ),
            "{text}"
        );
        let elapsed = started.elapsed();
        assert!(elapsed <= Duration::from_secs(30), "{elapsed:?}");
        assert!(elapsed >= Duration::from_secs(24), "{elapsed:?}");
        // Backoff 0.25, 0.5, 1, 2, 4, then 5 s: about ten attempts in 30 s, not hundreds.
        let n = calls.load(Ordering::SeqCst);
        assert!((8..=12).contains(&n), "{n} attempts");
    }

    #[tokio::test(start_paused = true)]
    async fn retry_abandons_an_attempt_that_outlives_the_deadline() {
        let started = Instant::now();
        let err = retry("kubeconfig", Duration::from_secs(10), || async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok::<(), TalosError>(())
        })
        .await
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout);
        assert!(err.to_string().contains("still running at the deadline"));
        assert!(started.elapsed() <= Duration::from_secs(11));
    }

    #[test]
    fn human_durations() {
        assert_eq!(human(Duration::from_millis(850)), "850ms");
        assert_eq!(human(Duration::from_secs(42)), "42s");
        assert_eq!(human(Duration::from_secs(185)), "3m05s");
    }
}
