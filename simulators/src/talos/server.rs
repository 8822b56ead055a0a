//! The listeners: one per node, all on one runtime thread. Each accepted
//! connection gets the node's TLS configuration of that moment (maintenance
//! or mTLS), its caller's roles, and is closed when the node reboots or is
//! wiped (its generation changes) or when a handler drops it on purpose.
//! Injected faults ([`crate::common::Faults`]) are taken here, per call,
//! before the handlers run.

use std::convert::Infallible;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::sync::{Notify, watch};
use tonic::codegen::Service as _;
use tonic::codegen::http::{Request, Response};
use tonic::service::Routes;

use super::api::{Api, Peer};
use super::proto::cosi::resource::state_server::StateServer;
use super::proto::machine::machine_service_server::MachineServiceServer;
use super::{Shared, tls};
use crate::common::{Fault, Faults, lock};

/// The runtime thread. Stops when dropped.
pub(crate) struct Server {
    stop: Option<watch::Sender<bool>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(true);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Server {
    pub(crate) fn start(
        shared: Shared,
        listeners: Vec<(String, std::net::TcpListener)>,
    ) -> std::io::Result<Server> {
        for (_, l) in &listeners {
            l.set_nonblocking(true)?;
        }
        let (tx, rx) = watch::channel(false);
        let thread = std::thread::Builder::new()
            .name("sim-talos".into())
            .spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async move {
                    for (name, l) in listeners {
                        let Ok(l) = tokio::net::TcpListener::from_std(l) else {
                            continue;
                        };
                        tokio::spawn(accept_loop(shared.clone(), name, l, rx.clone()));
                    }
                    let mut rx = rx;
                    while !*rx.borrow() {
                        if rx.changed().await.is_err() {
                            break;
                        }
                    }
                });
                rt.shutdown_background();
            })?;
        Ok(Server {
            stop: Some(tx),
            thread: Some(thread),
        })
    }
}

async fn accept_loop(
    shared: Shared,
    name: String,
    listener: tokio::net::TcpListener,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            _ = stop.changed() => break,
            a = listener.accept() => a,
        };
        let Ok((tcp, _)) = accepted else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let now = {
            let mut c = lock(&shared);
            c.tick(&name);
            c.nodes.get(&name).map(|n| {
                (
                    n.tls.clone(),
                    n.generation.subscribe(),
                    n.down_until.is_none(),
                )
            })
        };
        let Some((config, generation, up)) = now else {
            break;
        };
        if !up {
            // Rebooting: nothing answers on the port.
            drop(tcp);
            continue;
        }
        tokio::spawn(serve(
            shared.clone(),
            name.clone(),
            tcp,
            config,
            generation,
            stop.clone(),
        ));
    }
}

async fn serve(
    shared: Shared,
    name: String,
    tcp: tokio::net::TcpStream,
    config: Arc<rustls::ServerConfig>,
    mut generation: watch::Receiver<u64>,
    mut stop: watch::Receiver<bool>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    // Expired or foreign client certificates end here: TLS refusal.
    let Ok(Ok(stream)) = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
    else {
        return;
    };
    let peer = match stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
    {
        Some(cert) => Peer::Roles(tls::roles_of(cert.as_ref())),
        None => Peer::Maintenance,
    };
    let kill = Arc::new(Notify::new());
    let faults = lock(&shared).faults.clone();
    let api = Api {
        shared,
        node: name,
        peer,
        kill: kill.clone(),
    };
    let routes = tonic::service::Routes::new(MachineServiceServer::new(api.clone()))
        .add_service(StateServer::new(api))
        .prepare();
    let conn_kill = kill.clone();
    let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
        let (routes, faults, kill) = (routes.clone(), faults.clone(), conn_kill.clone());
        async move { with_faults(routes, &faults, &kill, req).await }
    });
    let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        _ = conn => {}
        _ = generation.changed() => {}
        _ = kill.notified() => {}
        _ = stop.changed() => {}
    }
}

/// One call, with the fault armed for it (if any): see
/// [`super::TalosSim::faults`] for what each fault does.
async fn with_faults(
    mut routes: Routes,
    faults: &Faults,
    kill: &Notify,
    req: Request<hyper::body::Incoming>,
) -> Result<Response<tonic::body::Body>, Infallible> {
    let path = req.uri().path().to_string();
    let mut lose_answer = false;
    match faults.take("GRPC", &path, None) {
        None => {}
        Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
        Some(Fault::Status(code)) => {
            return Ok(tonic::Status::unavailable(format!(
                "injected server error (as HTTP {code}): the service is unavailable"
            ))
            .into_http());
        }
        Some(Fault::RateLimited { .. }) => {
            return Ok(tonic::Status::resource_exhausted("rate limit exceeded").into_http());
        }
        Some(Fault::Reset) => {
            kill.notify_one();
            return std::future::pending().await;
        }
        Some(Fault::ResetAfterHandling) => lose_answer = true,
    }
    let answer = routes.call(req).await;
    if lose_answer {
        kill.notify_one();
        return std::future::pending().await;
    }
    answer
}
