//! Waiting: every call within the request timeout with its progress
//! logged ([`Client::timed`]), and the waits for a node after a reset
//! ([`Client::wait_for_maintenance`], [`Client::wait_until_down`]).

use std::time::Duration;

use super::{Auth, Client, ErrorKind, TalosError, Target, retry};

impl Client {
    /// Runs `call` within the request timeout, logging every
    /// [progress interval](Client::with_progress_interval) while it waits
    /// ("still waiting for <op> on <node> after Ns"): nothing hangs silently.
    pub(super) async fn timed<T>(
        &self,
        target: &Target,
        what: &str,
        call: impl std::future::Future<Output = Result<T, TalosError>>,
    ) -> Result<T, TalosError> {
        let node = target.node.as_deref().unwrap_or(&target.endpoint);
        let start = tokio::time::Instant::now();
        let every = self.progress_interval.max(Duration::from_millis(10));
        let mut ticks = tokio::time::interval_at(start + every, every);
        let deadline = tokio::time::sleep(self.request_timeout);
        tokio::pin!(call, deadline);
        loop {
            tokio::select! {
                result = &mut call => return result,
                () = &mut deadline => {
                    return Err(TalosError::new(
                        ErrorKind::Transport,
                        format!(
                            "{what}: no answer from the Talos API at {} within {}s",
                            target.endpoint,
                            self.request_timeout.as_secs()
                        ),
                    ));
                }
                _ = ticks.tick() => {
                    let secs = start.elapsed().as_secs();
                    tracing::info!(
                        operation = what,
                        node,
                        elapsed_s = secs,
                        "still waiting for {what} on {node} after {secs}s"
                    );
                }
            }
        }
    }

    /// Waits until the node answers in maintenance mode (an insecure
    /// `Version` without `features.rbac`), as after a reset with reboot.
    /// While it still runs its configuration, or is down, it waits (progress
    /// logged every ~5 s); after `timeout` the error names the last state seen.
    pub async fn wait_for_maintenance(
        &self,
        target: &Target,
        timeout: Duration,
    ) -> Result<(), TalosError> {
        let what = format!(
            "waiting for {} to come back in maintenance mode",
            target.endpoint
        );
        retry(&what, timeout, || async {
            match self.version(target, Auth::Insecure).await {
                Ok(v) if !v.configured => Ok(()),
                Ok(_) => Err(still_configured()),
                // A configured node wants a client certificate.
                Err(e) if e.kind() == ErrorKind::CertificateRejected => Err(still_configured()),
                Err(e) if e.is_retryable() => Err(TalosError::new(
                    ErrorKind::Waiting,
                    format!("the node does not answer yet ({e})"),
                )),
                Err(e) => Err(e),
            }
        })
        .await
    }

    /// Waits until the node stops answering, as after a reset without reboot
    /// (Talos powers the machine off). Progress is logged every ~5 s.
    pub async fn wait_until_down(
        &self,
        target: &Target,
        timeout: Duration,
    ) -> Result<(), TalosError> {
        let what = format!("waiting for {} to power off", target.endpoint);
        retry(&what, timeout, || async {
            match self.version(target, Auth::Insecure).await {
                // Down is a refused or unanswered connection. A connection
                // broken mid-call is no proof (a configured node refusing
                // the insecure probe, or one going down): look again.
                Err(e) if e.kind() == ErrorKind::Unreachable => Ok(()),
                Err(e) if e.kind() == ErrorKind::Transport => Err(TalosError::new(
                    ErrorKind::Waiting,
                    format!("the node may still answer ({e})"),
                )),
                Ok(_) => Err(TalosError::new(
                    ErrorKind::Waiting,
                    "the node still answers",
                )),
                Err(e) if e.kind() == ErrorKind::CertificateRejected => Err(TalosError::new(
                    ErrorKind::Waiting,
                    "the node still answers",
                )),
                Err(e) if e.is_retryable() => Err(TalosError::new(
                    ErrorKind::Waiting,
                    format!("the node still answers ({e})"),
                )),
                Err(e) => Err(e),
            }
        })
        .await
    }
}

fn still_configured() -> TalosError {
    TalosError::new(
        ErrorKind::Waiting,
        "the node still runs its configuration (a graceful reset fails on the last etcd member: \
         reset a single control plane with graceful = false)",
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {

    use super::*;

    /// A log writer collecting what is written.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_call_logs_progress_while_it_waits() {
        let logs = Captured::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let client = Client::new()
            .with_request_timeout(Duration::from_secs(60))
            .with_progress_interval(Duration::from_secs(5));
        let t = Target {
            endpoint: "10.0.0.2".into(),
            node: Some("10.0.0.5".into()),
        };
        let r = client
            .timed(&t, "ApplyConfiguration", async {
                tokio::time::sleep(Duration::from_secs(12)).await;
                Ok(7)
            })
            .await
            .unwrap();
        assert_eq!(r, 7);
        let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
        assert!(
            text.contains("still waiting for ApplyConfiguration on 10.0.0.5 after 5s"),
            "{text}"
        );
        assert!(text.contains("after 10s"), "{text}");
        assert!(!text.contains("after 15s"), "{text}");
        // And the timeout still ends it.
        let e = client
            .timed(
                &t,
                "Version",
                std::future::pending::<Result<(), TalosError>>(),
            )
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Transport);
        assert!(e.to_string().contains("within 60s"), "{e}");
    }
}
