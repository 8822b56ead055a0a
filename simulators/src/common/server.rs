//! Serving a simulator: a background thread with its own Tokio runtime.
//!
//! [`SimServer::start`] works from synchronous tests and from inside any Tokio
//! runtime alike, because the server never borrows the caller's runtime. The
//! server stops when the handle is dropped.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use hyper::body::Incoming;
use hyper::service::Service as _;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::sync::oneshot;

use super::counters::Counters;
use super::faults::{Fault, Faults};

/// Renders the body of an injected fault answer (status, or 429) the way the
/// backend would. Each simulator supplies its own.
pub type FaultRenderer = Arc<dyn Fn(StatusCode) -> Response + Send + Sync>;

/// Marker put in a response's extensions by the fault layer: the connection
/// is closed without writing the response.
#[derive(Debug, Clone, Copy)]
struct ResetConnection;

#[derive(Debug)]
struct ConnectionReset;

impl std::fmt::Display for ConnectionReset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("simulated connection reset")
    }
}

impl std::error::Error for ConnectionReset {}

#[derive(Clone)]
struct Observer {
    faults: Faults,
    counters: Counters,
    render: FaultRenderer,
}

/// What every simulator holds: its state, fault rules, request counters and
/// the running server.
pub(crate) struct SimParts<S> {
    pub(crate) state: Arc<Mutex<S>>,
    pub(crate) faults: Faults,
    pub(crate) counters: Counters,
    pub(crate) server: SimServer,
}

/// Starts the simulator `name` on `127.0.0.1:port` (`0` = ephemeral) with
/// `seed` as its state: `router` serves the API over that state, behind fault
/// injection (faults answered by `fault_response`) and request counting.
pub(crate) fn start_sim<S>(
    name: &str,
    port: u16,
    seed: S,
    router: fn(Arc<Mutex<S>>) -> Router,
    fault_response: fn(StatusCode) -> Response,
) -> std::io::Result<SimParts<S>> {
    let state = Arc::new(Mutex::new(seed));
    let faults = Faults::default();
    let counters = Counters::default();
    let router = instrument(
        router(state.clone()),
        &faults,
        &counters,
        Arc::new(fault_response),
    );
    let server = SimServer::start(name, router, port)?;
    Ok(SimParts {
        state,
        faults,
        counters,
        server,
    })
}

/// Wraps every route of `router` with request counting and fault injection.
pub(crate) fn instrument(
    router: Router,
    faults: &Faults,
    counters: &Counters,
    render: FaultRenderer,
) -> Router {
    let observer = Observer {
        faults: faults.clone(),
        counters: counters.clone(),
        render,
    };
    router.layer(middleware::from_fn_with_state(observer, observe))
}

async fn observe(State(obs): State<Observer>, req: Request, next: Next) -> Response {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string());
    obs.counters
        .hit(&method, route.as_deref().unwrap_or(path.as_str()));
    match obs.faults.take(&method, &path, route.as_deref()) {
        None => next.run(req).await,
        Some(Fault::Delay(d)) => {
            tokio::time::sleep(d).await;
            next.run(req).await
        }
        Some(Fault::Status(code)) => {
            tracing::info!(%method, %path, code, "injected fault");
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (obs.render)(status)
        }
        Some(Fault::RateLimited { retry_after_secs }) => {
            tracing::info!(%method, %path, retry_after_secs, "injected 429");
            let mut resp = (obs.render)(StatusCode::TOO_MANY_REQUESTS);
            resp.headers_mut()
                .insert("retry-after", HeaderValue::from(retry_after_secs));
            resp
        }
        Some(Fault::Reset) => {
            tracing::info!(%method, %path, "injected connection reset");
            let mut resp = Response::new(axum::body::Body::empty());
            resp.extensions_mut().insert(ResetConnection);
            resp
        }
        Some(Fault::ResetAfterHandling) => {
            let mut resp = next.run(req).await;
            tracing::info!(%method, %path, status = %resp.status(), "injected connection reset after handling");
            resp.extensions_mut().insert(ResetConnection);
            resp
        }
    }
}

/// A running simulator HTTP server on `127.0.0.1`. Dropping it stops it.
pub struct SimServer {
    name: String,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for SimServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimServer")
            .field("name", &self.name)
            .field("addr", &self.addr)
            .finish()
    }
}

impl SimServer {
    /// Binds `127.0.0.1:port` (`0` = any free port) and serves `router` on a
    /// dedicated thread with its own runtime. Returns once listening.
    pub fn start(name: &str, router: Router, port: u16) -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (shutdown_tx, shutdown_rx) = oneshot::channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel::<std::io::Result<()>>(1);
        let thread_name = format!("sim-{name}");
        let log_name = name.to_string();
        let thread = std::thread::Builder::new()
            .name(thread_name)
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    serve(log_name, listener, router, shutdown_rx).await;
                });
                runtime.shutdown_background();
            })?;
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(std::io::Error::other("simulator thread exited early")),
        }
        tracing::debug!(name, %addr, "simulator listening");
        Ok(Self {
            name: name.to_string(),
            addr,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        })
    }

    /// The socket address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(
    name: String,
    listener: tokio::net::TcpListener,
    router: Router,
    mut shutdown: oneshot::Receiver<()>,
) {
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let router = router.clone();
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                            let inner = TowerToHyperService::new(router.clone());
                            async move {
                                let resp = match inner.call(req).await {
                                    Ok(resp) => resp,
                                    Err(never) => match never {},
                                };
                                if resp.extensions().get::<ResetConnection>().is_some() {
                                    // hyper closes the connection without a response.
                                    return Err(ConnectionReset);
                                }
                                Ok::<_, ConnectionReset>(resp)
                            }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
                Err(e) => {
                    tracing::warn!(%name, error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            }
        }
    }
}
