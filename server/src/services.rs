//! go-plugin side services: controller (shutdown), health, stdio, broker.

use std::sync::Arc;

use labforge_proto::health::health_check_response::ServingStatus;
use labforge_proto::health::health_server::Health;
use labforge_proto::health::{HealthCheckRequest, HealthCheckResponse};
use labforge_proto::plugin::grpc_broker_server::GrpcBroker;
use labforge_proto::plugin::grpc_controller_server::GrpcController;
use labforge_proto::plugin::grpc_stdio_server::GrpcStdio;
use labforge_proto::plugin::{ConnInfo, Empty, StdioData};
use tokio::sync::watch;
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::WatchStream;
use tonic::codegen::BoxStream;
use tonic::{Request, Response, Status, Streaming};

/// Stops a running server (plugin or debug mode). Cheap to clone.
#[derive(Clone, Debug)]
pub struct ShutdownHandle {
    tx: Arc<watch::Sender<bool>>,
}

impl Default for ShutdownHandle {
    fn default() -> Self {
        Self::new()
    }
}

impl ShutdownHandle {
    /// A handle that has not been triggered.
    pub fn new() -> Self {
        Self {
            tx: Arc::new(watch::Sender::new(false)),
        }
    }

    /// Asks the server to stop; idempotent.
    pub fn shutdown(&self) {
        self.tx.send_replace(true);
    }

    /// Whether [`shutdown`](Self::shutdown) was called.
    pub fn is_shutdown(&self) -> bool {
        *self.tx.borrow()
    }

    /// Resolves once [`shutdown`](Self::shutdown) has been called.
    pub async fn wait(&self) {
        let mut rx = self.tx.subscribe();
        // The sender lives in `self`, so this cannot fail while we wait.
        let _ = rx.wait_for(|stopped| *stopped).await;
    }

    /// A stream that yields nothing and ends at shutdown (keeps long-lived
    /// RPC streams open without blocking a graceful stop).
    fn silent_until_shutdown<T: Send + 'static>(&self) -> BoxStream<T> {
        let stream = WatchStream::new(self.tx.subscribe())
            .take_while(|stopped| !*stopped)
            .filter_map(|_| None::<Result<T, Status>>);
        Box::pin(stream)
    }
}

/// `plugin.GRPCController`: answers Shutdown, then stops the server.
pub(crate) struct Controller {
    pub shutdown: ShutdownHandle,
    /// Debug mode ignores Shutdown: the provider outlives single CLI runs.
    pub honour: bool,
}

#[tonic::async_trait]
impl GrpcController for Controller {
    async fn shutdown(&self, _request: Request<Empty>) -> Result<Response<Empty>, Status> {
        if self.honour {
            tracing::debug!("GRPCController.Shutdown received; stopping");
            let handle = self.shutdown.clone();
            tokio::spawn(async move {
                // The stop is graceful (tonic's serve_with_incoming_shutdown:
                // in-flight streams, this reply among them, are finished
                // before connections close), so the reply needs no head
                // start: a fixed sleep here cost 10 ms at the end of each of
                // the three provider processes of every `terraform plan`.
                tokio::task::yield_now().await;
                handle.shutdown();
            });
        } else {
            tracing::debug!("GRPCController.Shutdown ignored in debug mode");
        }
        Ok(Response::new(Empty {}))
    }
}

/// `grpc.health.v1.Health`: `""` and `"plugin"` are SERVING.
pub(crate) struct HealthService {
    pub shutdown: ShutdownHandle,
}

fn known_service(name: &str) -> bool {
    name.is_empty() || name == "plugin"
}

#[tonic::async_trait]
impl Health for HealthService {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        let service = request.into_inner().service;
        if known_service(&service) {
            Ok(Response::new(HealthCheckResponse {
                status: ServingStatus::Serving.into(),
            }))
        } else {
            Err(Status::not_found(format!("unknown service {service:?}")))
        }
    }

    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<BoxStream<HealthCheckResponse>>, Status> {
        let status = if known_service(&request.into_inner().service) {
            ServingStatus::Serving
        } else {
            ServingStatus::ServiceUnknown
        };
        let first = tokio_stream::once(Ok(HealthCheckResponse {
            status: status.into(),
        }));
        let rest = self.shutdown.silent_until_shutdown();
        Ok(Response::new(Box::pin(first.chain(rest))))
    }
}

/// `plugin.GRPCStdio`: we never write to stdout/stderr through it (logs go to
/// stderr directly), so the stream stays open and silent.
pub(crate) struct Stdio {
    pub shutdown: ShutdownHandle,
}

#[tonic::async_trait]
impl GrpcStdio for Stdio {
    async fn stream_stdio(
        &self,
        _request: Request<()>,
    ) -> Result<Response<BoxStream<StdioData>>, Status> {
        Ok(Response::new(self.shutdown.silent_until_shutdown()))
    }
}

/// `plugin.GRPCBroker`: Terraform providers never broker connections; the
/// stream is accepted and stays silent.
pub(crate) struct Broker {
    pub shutdown: ShutdownHandle,
}

#[tonic::async_trait]
impl GrpcBroker for Broker {
    async fn start_stream(
        &self,
        request: Request<Streaming<ConnInfo>>,
    ) -> Result<Response<BoxStream<ConnInfo>>, Status> {
        let mut incoming = request.into_inner();
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            // Drain whatever the host sends so flow control never stalls.
            loop {
                tokio::select! {
                    () = shutdown.wait() => break,
                    next = incoming.next() => match next {
                        Some(Ok(info)) => tracing::debug!(service_id = info.service_id, "ignoring broker message"),
                        Some(Err(_)) | None => break,
                    },
                }
            }
        });
        Ok(Response::new(self.shutdown.silent_until_shutdown()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn health_check_answers_serving_for_plugin_and_empty() {
        let health = HealthService {
            shutdown: ShutdownHandle::new(),
        };
        for name in ["", "plugin"] {
            let resp = health
                .check(Request::new(HealthCheckRequest {
                    service: name.into(),
                }))
                .await
                .unwrap();
            assert_eq!(resp.into_inner().status, i32::from(ServingStatus::Serving));
        }
        let err = health
            .check(Request::new(HealthCheckRequest {
                service: "other".into(),
            }))
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::NotFound);
    }

    #[tokio::test]
    async fn health_watch_sends_serving_then_ends_at_shutdown() {
        let shutdown = ShutdownHandle::new();
        let health = HealthService {
            shutdown: shutdown.clone(),
        };
        let mut stream = health
            .watch(Request::new(HealthCheckRequest {
                service: "plugin".into(),
            }))
            .await
            .unwrap()
            .into_inner();
        let first = stream.next().await.unwrap().unwrap();
        assert_eq!(first.status, i32::from(ServingStatus::Serving));
        shutdown.shutdown();
        let end = tokio::time::timeout(Duration::from_secs(5), stream.next()).await;
        assert!(matches!(end, Ok(None)));
    }

    #[tokio::test]
    async fn controller_triggers_shutdown_only_when_honoured() {
        let shutdown = ShutdownHandle::new();
        let ignoring = Controller {
            shutdown: shutdown.clone(),
            honour: false,
        };
        ignoring.shutdown(Request::new(Empty {})).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!shutdown.is_shutdown());

        let honouring = Controller {
            shutdown: shutdown.clone(),
            honour: true,
        };
        honouring.shutdown(Request::new(Empty {})).await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), shutdown.wait())
            .await
            .unwrap();
        assert!(shutdown.is_shutdown());
    }
}
