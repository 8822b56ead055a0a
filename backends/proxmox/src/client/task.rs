//! Tasks: a mutation answers a UPID, which is polled until it stops;
//! lock contention is retried with jittered backoff.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use labforge_framework::StopSignal;

use super::{ApiError, Client, enc};

/// How long a fresh UPID may answer "no such task".
const TASK_GRACE: Duration = Duration::from_secs(15);

/// The node a UPID belongs to: `UPID:<node>:…`.
pub fn upid_node(upid: &str) -> Option<&str> {
    let mut it = upid.split(':');
    (it.next()? == "UPID").then_some(())?;
    it.next().filter(|n| !n.is_empty())
}

/// Sleep for `d`, unless Terraform asks to stop first.
pub async fn pause(stop: &StopSignal, d: Duration, what: &str) -> Result<(), ApiError> {
    tokio::select! {
        () = tokio::time::sleep(d) => Ok(()),
        () = stop.stopped() => Err(ApiError::Cancelled { what: what.to_string() }),
    }
}

/// A small pseudo-random jitter (no RNG dependency).
fn jitter(max: Duration) -> Duration {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let frac = f64::from(nanos % 1000) / 1000.0;
    max.mul_f64(frac)
}

impl Client {
    /// Poll a task to completion. `Ok(warnings)` on `OK` / `WARNINGS: n`.
    /// Gives up with [`ApiError::Cancelled`] as soon as `stop` fires, and
    /// with [`ApiError::TaskTimeout`] after [`Client::task_timeout`].
    pub(super) async fn wait_task(&self, stop: &StopSignal, upid: &str) -> Result<u32, ApiError> {
        let node = upid_node(upid).ok_or_else(|| ApiError::Decode {
            path: "task".into(),
            message: format!("{upid:?} is not a UPID"),
        })?;
        let path = format!("/nodes/{}/tasks/{}/status", enc(node), enc(upid));
        let started = Instant::now();
        let mut interval = self.poll.0;
        loop {
            if stop.is_stopped() {
                return Err(ApiError::Cancelled {
                    what: format!("waiting for task {upid}"),
                });
            }
            match self.get(&path, &[]).await {
                Ok(st) => {
                    let status = st.get("status").and_then(Value::as_str).unwrap_or("");
                    if status == "stopped" {
                        let exit = st
                            .get("exitstatus")
                            .and_then(Value::as_str)
                            .unwrap_or("unknown")
                            .to_string();
                        if exit == "OK" {
                            return Ok(0);
                        }
                        if let Some(n) = exit.strip_prefix("WARNINGS:") {
                            return Ok(n.trim().parse().unwrap_or(1));
                        }
                        let log = self.task_log(node, upid).await;
                        return Err(ApiError::Task {
                            upid: upid.to_string(),
                            exitstatus: exit,
                            log,
                        });
                    }
                }
                // A fresh task may not be visible yet.
                Err(ApiError::Param { .. }) | Err(ApiError::NotFound { .. })
                    if started.elapsed() < TASK_GRACE => {}
                Err(e) => return Err(e),
            }
            let waited = started.elapsed();
            if waited >= self.task_timeout {
                return Err(ApiError::TaskTimeout {
                    upid: upid.to_string(),
                    waited,
                });
            }
            let nap = interval.min(self.task_timeout - waited);
            pause(stop, nap, &format!("waiting for task {upid}")).await?;
            interval = (interval.mul_f64(1.5)).min(self.poll.1);
        }
    }

    /// The last lines of a task's log (best effort).
    async fn task_log(&self, node: &str, upid: &str) -> Vec<String> {
        let path = format!("/nodes/{}/tasks/{}/log", enc(node), enc(upid));
        let q = vec![
            ("start".to_string(), "0".to_string()),
            ("limit".to_string(), "1000".to_string()),
        ];
        let Ok(Value::Array(lines)) = self.get(&path, &q).await else {
            return Vec::new();
        };
        let all: Vec<String> = lines
            .iter()
            .filter_map(|l| l.get("t").and_then(Value::as_str).map(str::to_string))
            .collect();
        let skip = all.len().saturating_sub(20);
        all.into_iter().skip(skip).collect()
    }

    /// Call, and wait for the task if the answer is a UPID.
    pub(super) async fn run(
        &self,
        stop: &StopSignal,
        method: reqwest::Method,
        path: &str,
        params: &[(String, String)],
    ) -> Result<(), ApiError> {
        let data = self.call(method, path, params).await?;
        if let Some(upid) = data.as_str().filter(|s| s.starts_with("UPID:")) {
            self.wait_task(stop, upid).await?;
        }
        Ok(())
    }

    /// Retry `op` while it fails with a lock error or a worker that could
    /// not be started (jittered backoff, ~3 minutes). Once `stop` fires,
    /// starts no further attempt.
    pub(super) async fn retry_locked<T, F, Fut>(
        &self,
        stop: &StopSignal,
        mut op: F,
    ) -> Result<T, ApiError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let deadline = Instant::now() + Duration::from_secs(180);
        let mut delay = Duration::from_millis(200);
        loop {
            if stop.is_stopped() {
                return Err(ApiError::Cancelled {
                    what: "sending the next request".into(),
                });
            }
            match op().await {
                Err(e) if e.is_transient() && Instant::now() < deadline => {
                    tracing::debug!(error = %e, ?delay, "lock contention; retrying");
                    pause(
                        stop,
                        delay + jitter(delay),
                        "retrying after lock contention",
                    )
                    .await?;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::testing::{client_for, form, sim_client};

    /// A server that answers every request with `{"data":{"status":"running"}}`.
    async fn forever_running() -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = sock.read(&mut buf).await;
                    let body = r#"{"data":{"status":"running"}}"#;
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(answer.as_bytes()).await;
                });
            }
        });
        format!("http://{addr}/")
    }

    const UPID: &str = "UPID:pve:00000ACD:00006AE8:679A423B:qmclone:112:root@pam:";

    #[tokio::test]
    async fn wait_task_returns_promptly_when_terraform_stops() {
        let c = client_for(forever_running().await);
        let (trigger, stop) = labforge_framework::context::StopTrigger::new();
        let started = Instant::now();
        let waiting = c.wait_task(&stop, UPID);
        let stopping = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            trigger.stop();
        };
        let (r, ()) = tokio::join!(waiting, stopping);
        let e = r.expect_err("a stopped wait fails");
        assert!(matches!(e, ApiError::Cancelled { .. }), "{e:?}");
        assert!(e.is_abandoned());
        assert!(e.to_string().contains(UPID), "{e}");
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[tokio::test]
    async fn wait_task_gives_up_after_its_deadline() {
        let mut c = client_for(forever_running().await);
        c.task_timeout = Duration::from_millis(400);
        let e = c
            .wait_task(&StopSignal::never(), UPID)
            .await
            .expect_err("a task that never ends times out");
        assert!(matches!(e, ApiError::TaskTimeout { .. }), "{e:?}");
        assert!(e.to_string().contains(UPID), "{e}");
    }

    #[tokio::test]
    async fn retry_locked_sends_nothing_once_stopped() {
        let c = client_for("http://127.0.0.1:9/".into());
        let (trigger, stop) = labforge_framework::context::StopTrigger::new();
        trigger.stop();
        let calls = std::sync::atomic::AtomicU32::new(0);
        let r: Result<(), ApiError> = c
            .retry_locked(&stop, || async {
                calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Ok(())
            })
            .await;
        assert!(matches!(r, Err(ApiError::Cancelled { .. })), "{r:?}");
        assert_eq!(calls.load(std::sync::atomic::Ordering::Relaxed), 0);
    }

    /// One 500 on a task-status poll does not abort the wait: a GET is a
    /// safe read, resent after a server-side failure.
    #[tokio::test]
    async fn a_failed_task_poll_is_read_again() {
        use labforge_simulators::common::Fault;
        let (sim, c) = sim_client();
        let upid = c
            .post("/nodes/pve1/qemu", &form(&[("vmid", "150")]))
            .await
            .expect("create");
        let upid = upid.as_str().expect("a UPID").to_string();
        let status = "/api2/json/nodes/{node}/tasks/{upid}/status";
        sim.faults().inject("GET", status, Fault::Status(500), 2);
        c.wait_task(&StopSignal::never(), &upid)
            .await
            .expect("the task finishes although two polls failed");
        assert_eq!(sim.faults().pending(), 0);
        assert!(sim.counters().get("GET", status) >= 3);
        // A 500 that is an answer about the object is not retried.
        let before = sim
            .counters()
            .get("GET", "/api2/json/nodes/{node}/qemu/{vmid}/config");
        assert!(c.vm_config("pve1", 999).await.expect("a read").is_none());
        let after = sim
            .counters()
            .get("GET", "/api2/json/nodes/{node}/qemu/{vmid}/config");
        assert_eq!(after - before, 1, "\"does not exist\" is read once");
    }
}
