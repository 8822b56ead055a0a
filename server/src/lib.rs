//! The go-plugin side of a Terraform provider binary: argv/cookie checks, the
//! handshake line, AutoMTLS, the side services go-plugin hosts expect, debug
//! (reattach) mode and hclog-shaped JSON logging on stderr.
//!
//! # Where to start
//!
//! * A provider binary's `main` is one line:
//!   `fn main() -> ExitCode { labforge_server::main(INFO, MyProvider::new) }`
//!   with a [`PluginInfo`] and anything implementing
//!   [`labforge_proto::tfplugin6::provider_server::Provider`] (see
//!   `examples/echo_plugin.rs`).
//! * [`serve`] is the async core when you already have a runtime;
//!   [`serve_managed`] is the same with a custom handshake sink (tests).
//! * [`serve_debug`] runs a provider in-process for `TF_REATTACH_PROVIDERS`
//!   and returns a [`DebugServer`] with the reattach JSON and a shutdown handle
//!   (what an acceptance-test harness wants).
//!
//! What happens when Terraform starts the binary (hashicorp/go-plugin v1.6.0,
//! the version in Terraform 1.11: `client.go`, `server.go`, `mtls.go`): the
//! magic cookie and `PLUGIN_PROTOCOL_VERSIONS` are checked, a unix socket `plugin<random>` is
//! bound in `PLUGIN_UNIX_SOCKET_DIR` or the temp dir, AutoMTLS is set up when
//! `PLUGIN_CLIENT_CERT` is present (P-256 server cert, exactly the pinned client
//! cert accepted, ALPN `h2`), one line `1|6|unix|PATH|grpc|CERT` goes to stdout
//! and nothing else ever does. The server stops on `GRPCController.Shutdown`
//! or SIGTERM; SIGINT is ignored (cancellation arrives as `StopProvider`).
//! TCP listeners (Windows) are not implemented.

#![warn(missing_docs, unreachable_pub)]

mod handshake;
mod invocation;
mod io;
mod listener;
mod logging;
mod services;
mod tls;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use labforge_proto::health::health_server::HealthServer;
use labforge_proto::plugin::grpc_broker_server::GrpcBrokerServer;
use labforge_proto::plugin::grpc_controller_server::GrpcControllerServer;
use labforge_proto::plugin::grpc_stdio_server::GrpcStdioServer;
use labforge_proto::tfplugin6::provider_server::{Provider, ProviderServer};
use tokio::net::UnixListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_stream::wrappers::ReceiverStream;

pub use handshake::{APP_PROTOCOL_VERSION, CORE_PROTOCOL_VERSION, Handshake};
pub use invocation::{MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE, PluginEnv};
pub use logging::{HclogJson, init_logging, install_panic_hook};
pub use services::ShutdownHandle;

use invocation::Invocation;
use io::PluginIo;

/// Largest gRPC message in either direction (what terraform-plugin-go uses).
pub const MAX_MESSAGE_SIZE: usize = 256 << 20;
/// How long a graceful stop may take before we return anyway (Terraform kills
/// the process 2 s after Shutdown).
const SHUTDOWN_GRACE: Duration = Duration::from_millis(1000);
/// Per-connection TLS handshake limit.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Identity of the provider binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PluginInfo {
    /// Full source address, e.g. `"registry.terraform.io/labforge/homelab"`
    /// (the key in `TF_REATTACH_PROVIDERS`).
    pub address: &'static str,
    /// Provider type name, e.g. `"homelab"`.
    pub name: &'static str,
    /// Version, e.g. `env!("CARGO_PKG_VERSION")`.
    pub version: &'static str,
}

/// How to serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Started by Terraform/OpenTofu: handshake line on stdout, AutoMTLS when
    /// the host sent a client certificate, stop on Shutdown RPC or SIGTERM.
    Managed(PluginEnv),
    /// `--debug`: plaintext unix socket, reattach instructions on stdout,
    /// run until SIGINT or SIGTERM.
    Debug,
}

/// Why serving failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Could not create the unix socket.
    #[error("cannot listen on a unix socket in {dir}: {source}")]
    Listen {
        /// Directory the socket was to be created in.
        dir: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// AutoMTLS could not be set up (bad `PLUGIN_CLIENT_CERT`, cert generation).
    #[error("AutoMTLS setup failed: {0}")]
    Tls(String),
    /// Writing the handshake / reattach line failed.
    #[error("cannot write the handshake to stdout: {0}")]
    Announce(std::io::Error),
    /// The gRPC server failed.
    #[error("gRPC server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The server task panicked or was cancelled.
    #[error("server task failed: {0}")]
    Task(String),
}

/// Entry point for a provider binary's `main()`: parses argv, sets up logging
/// and the panic hook, checks the magic cookie, serves. Returns the exit code.
pub fn main<S>(info: PluginInfo, make: impl FnOnce() -> S) -> ExitCode
where
    S: Provider,
{
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = match invocation::parse(info.name, info.version, &args, |key| {
        std::env::var(key).ok()
    }) {
        Invocation::Version => {
            return print_stdout(&format!(
                "terraform-provider-{} v{}\n",
                info.name, info.version
            ));
        }
        Invocation::Help => return print_stdout(&invocation::usage(info.name, info.version)),
        Invocation::Refuse(message) => {
            let _ = writeln!(std::io::stderr(), "{message}");
            return ExitCode::from(1);
        }
        Invocation::Debug => Mode::Debug,
        Invocation::Plugin(env) => Mode::Managed(env),
    };
    init_logging();
    install_panic_hook();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "cannot start the tokio runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(serve(&info, make(), mode));
    // Do not wait for stray blocking tasks; the host is waiting for our exit.
    runtime.shutdown_timeout(Duration::from_millis(100));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "provider server failed");
            let _ = writeln!(std::io::stderr(), "terraform-provider-{}: {e}", info.name);
            ExitCode::from(1)
        }
    }
}

/// Only for the by-hand paths (`--version`, `--help`), never in plugin mode.
fn print_stdout(text: &str) -> ExitCode {
    let mut out = std::io::stdout().lock();
    if out
        .write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .is_ok()
    {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Serves `provider` until told to stop (see [`Mode`]).
pub async fn serve<S: Provider>(
    info: &PluginInfo,
    provider: S,
    mode: Mode,
) -> Result<(), ServeError> {
    match mode {
        Mode::Managed(env) => {
            serve_managed(info, provider, env, |handshake| {
                let mut out = std::io::stdout().lock();
                writeln!(out, "{}", handshake.line())?;
                out.flush()
            })
            .await
        }
        Mode::Debug => {
            let server = serve_debug(info, provider).await?;
            let stop_signal = watch_stop_signals(true);
            let message = format!(
                "Provider {} v{} started in debug mode.\n\
                 To attach Terraform or OpenTofu, set this in the shell that runs them:\n\
                 \n\
                 \t{}\n\
                 \n\
                 Stop with Ctrl-C.\n",
                info.address,
                info.version,
                server.reattach().env_line()
            );
            {
                let mut out = std::io::stdout().lock();
                out.write_all(message.as_bytes())
                    .and_then(|()| out.flush())
                    .map_err(ServeError::Announce)?;
            }
            let handle = server.shutdown_handle();
            tokio::spawn(async move {
                stop_signal.await;
                handle.shutdown();
            });
            server.wait().await
        }
    }
}

/// Managed mode with a custom sink for the handshake (`announce` is called
/// once, after the socket is listening and before serving). [`serve`] passes a
/// sink writing the line to stdout; tests capture it instead.
pub async fn serve_managed<S: Provider>(
    info: &PluginInfo,
    provider: S,
    env: PluginEnv,
    announce: impl FnOnce(&Handshake) -> std::io::Result<()>,
) -> Result<(), ServeError> {
    let (listener, guard) = bind(env.socket_dir.as_deref())?;
    let tls = env
        .client_cert_pem
        .as_deref()
        .map(tls::ServerTls::for_client_pem)
        .transpose()
        .map_err(ServeError::Tls)?;
    let handshake = Handshake {
        network: "unix",
        address: guard.path().display().to_string(),
        server_cert_der: tls.as_ref().map(|t| t.cert_der.to_vec()),
    };
    let shutdown = ShutdownHandle::new();
    {
        let shutdown = shutdown.clone();
        let stop_signal = watch_stop_signals(false);
        tokio::spawn(async move {
            tokio::select! {
                () = stop_signal => shutdown.shutdown(),
                () = shutdown.wait() => {}
            }
        });
    }
    let acceptor = tls.map(|t| TlsAcceptor::from(t.config));
    let incoming = incoming(listener, acceptor, shutdown.clone());
    announce(&handshake).map_err(ServeError::Announce)?;
    tracing::info!(
        provider = info.address,
        version = info.version,
        socket = %guard.path().display(),
        tls = handshake.server_cert_der.is_some(),
        "provider server listening"
    );
    let result = run(provider, incoming, shutdown, true).await;
    drop(guard);
    tracing::debug!("provider server stopped");
    result
}

/// `TF_REATTACH_PROVIDERS` data for one provider served in debug mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReattachConfig {
    /// Provider source address (the JSON key).
    pub address: String,
    /// Unix socket the provider listens on.
    pub socket_path: PathBuf,
    /// Process id serving the provider.
    pub pid: u32,
}

impl ReattachConfig {
    /// The entry for this provider alone, `{"Protocol":"grpc",...}`; merge
    /// several under their addresses to reattach more than one provider.
    pub fn entry_json(&self) -> String {
        self.entry().to_string()
    }

    /// The full `TF_REATTACH_PROVIDERS` value: `{"<address>":{...}}`.
    pub fn to_json(&self) -> String {
        let mut map = serde_json::Map::new();
        map.insert(self.address.clone(), self.entry());
        serde_json::Value::Object(map).to_string()
    }

    /// `TF_REATTACH_PROVIDERS='...'`, ready to paste into a POSIX shell.
    pub fn env_line(&self) -> String {
        format!(
            "TF_REATTACH_PROVIDERS='{}'",
            self.to_json().replace('\'', r"'\''")
        )
    }

    fn entry(&self) -> serde_json::Value {
        serde_json::json!({
            "Protocol": "grpc",
            "ProtocolVersion": APP_PROTOCOL_VERSION,
            "Pid": self.pid,
            // Required for protocol 6: without it Terraform assumes version 5.
            "Test": true,
            "Addr": {"Network": "unix", "String": self.socket_path.display().to_string()},
        })
    }
}

/// A provider served in-process in debug mode (plaintext unix socket). The
/// server runs on the current tokio runtime until [`shutdown`](Self::shutdown)
/// (or a clone of [`shutdown_handle`](Self::shutdown_handle)) is used.
/// `GRPCController.Shutdown` is ignored: the provider outlives CLI runs.
#[derive(Debug)]
pub struct DebugServer {
    reattach: ReattachConfig,
    shutdown: ShutdownHandle,
    task: tokio::task::JoinHandle<Result<(), ServeError>>,
}

impl DebugServer {
    /// Where and how to reattach.
    pub fn reattach(&self) -> &ReattachConfig {
        &self.reattach
    }

    /// Shortcut for `reattach().to_json()`.
    pub fn reattach_json(&self) -> String {
        self.reattach.to_json()
    }

    /// A handle that stops the server from anywhere.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }

    /// Stops the server and waits until the socket is gone.
    pub async fn shutdown(self) -> Result<(), ServeError> {
        self.shutdown.shutdown();
        self.wait().await
    }

    /// Waits until the server stops (after a shutdown request).
    pub async fn wait(self) -> Result<(), ServeError> {
        self.task
            .await
            .map_err(|e| ServeError::Task(e.to_string()))?
    }
}

/// Serves `provider` in debug mode on a plaintext unix socket in the temp dir
/// and returns immediately; see [`DebugServer`].
pub async fn serve_debug<S: Provider>(
    info: &PluginInfo,
    provider: S,
) -> Result<DebugServer, ServeError> {
    serve_debug_in(info, provider, None).await
}

/// [`serve_debug`] with the socket created in `dir`.
pub async fn serve_debug_in<S: Provider>(
    info: &PluginInfo,
    provider: S,
    dir: Option<&Path>,
) -> Result<DebugServer, ServeError> {
    let (listener, guard) = bind(dir)?;
    let reattach = ReattachConfig {
        address: info.address.to_owned(),
        socket_path: guard.path().to_path_buf(),
        pid: std::process::id(),
    };
    let shutdown = ShutdownHandle::new();
    let incoming = incoming(listener, None, shutdown.clone());
    let task_shutdown = shutdown.clone();
    let task = tokio::spawn(async move {
        let result = run(provider, incoming, task_shutdown, false).await;
        drop(guard);
        result
    });
    tracing::info!(provider = %reattach.address, socket = %reattach.socket_path.display(), "provider serving in debug mode");
    Ok(DebugServer {
        reattach,
        shutdown,
        task,
    })
}

fn bind(dir: Option<&Path>) -> Result<(UnixListener, listener::SocketGuard), ServeError> {
    listener::bind_unix(dir).map_err(|source| ServeError::Listen {
        dir: dir.map_or_else(std::env::temp_dir, Path::to_path_buf),
        source,
    })
}

/// The stop signals, watched from the moment this is called: SIGTERM (and
/// SIGINT when `interrupt_stops`). Otherwise SIGINT is swallowed: Terraform
/// sends it to the whole process group and cancels work through
/// `StopProvider` instead.
///
/// The handlers are installed here, synchronously, so that callers install
/// them before announcing themselves: a signal that arrives right after the
/// handshake line must not find the default action (which kills the process)
/// still in place.
fn watch_stop_signals(interrupt_stops: bool) -> impl Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch SIGTERM");
            None
        }
    };
    let mut int = match signal(SignalKind::interrupt()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch SIGINT");
            None
        }
    };
    async move {
        loop {
            tokio::select! {
                Some(()) = async { match term.as_mut() { Some(s) => s.recv().await, None => None } } => {
                    tracing::debug!("SIGTERM received; stopping");
                    return;
                }
                Some(()) = async { match int.as_mut() { Some(s) => s.recv().await, None => None } } => {
                    if interrupt_stops {
                        tracing::debug!("SIGINT received; stopping");
                        return;
                    }
                    tracing::debug!("SIGINT ignored; Terraform cancels through StopProvider");
                }
                else => std::future::pending::<()>().await,
            }
        }
    }
}

/// Accept loop: plaintext connections go straight to tonic; TLS handshakes run
/// in their own tasks so a failing client cannot stall or stop the server.
fn incoming(
    listener: UnixListener,
    acceptor: Option<TlsAcceptor>,
    shutdown: ShutdownHandle,
) -> ReceiverStream<std::io::Result<PluginIo>> {
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                () = shutdown.wait() => break,
                accepted = listener.accept() => accepted,
            };
            let stream = match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            };
            match &acceptor {
                None => {
                    if tx.send(Ok(PluginIo::Plain(stream))).await.is_err() {
                        break;
                    }
                }
                Some(acceptor) => {
                    let acceptor = acceptor.clone();
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream))
                            .await
                        {
                            Ok(Ok(tls)) => {
                                let _ = tx.send(Ok(PluginIo::Tls(Box::new(tls)))).await;
                            }
                            Ok(Err(e)) => {
                                tracing::warn!(error = %e, "TLS handshake with the host failed");
                            }
                            Err(_) => tracing::warn!("TLS handshake with the host timed out"),
                        }
                    });
                }
            }
        }
    });
    ReceiverStream::new(rx)
}

/// Runs the gRPC server with all services until `shutdown`, then allows
/// [`SHUTDOWN_GRACE`] for in-flight calls before returning regardless.
async fn run<S: Provider>(
    provider: S,
    incoming: ReceiverStream<std::io::Result<PluginIo>>,
    shutdown: ShutdownHandle,
    honour_controller: bool,
) -> Result<(), ServeError> {
    let provider = ProviderServer::new(provider)
        .max_decoding_message_size(MAX_MESSAGE_SIZE)
        .max_encoding_message_size(MAX_MESSAGE_SIZE);
    let router = tonic::transport::Server::builder()
        .add_service(provider)
        .add_service(GrpcControllerServer::new(services::Controller {
            shutdown: shutdown.clone(),
            honour: honour_controller,
        }))
        .add_service(HealthServer::new(services::HealthService {
            shutdown: shutdown.clone(),
        }))
        .add_service(GrpcStdioServer::new(services::Stdio {
            shutdown: shutdown.clone(),
        }))
        .add_service(GrpcBrokerServer::new(services::Broker {
            shutdown: shutdown.clone(),
        }));
    let signal = shutdown.clone();
    let server = router.serve_with_incoming_shutdown(incoming, async move { signal.wait().await });
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => result.map_err(ServeError::from),
        () = async { shutdown.wait().await; tokio::time::sleep(SHUTDOWN_GRACE).await } => {
            tracing::warn!("graceful stop took too long; closing remaining connections");
            Ok(())
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reattach_json_shape() {
        let cfg = ReattachConfig {
            address: "registry.terraform.io/labforge/homelab".into(),
            socket_path: PathBuf::from("/tmp/plugin1"),
            pid: 42,
        };
        assert_eq!(
            cfg.to_json(),
            r#"{"registry.terraform.io/labforge/homelab":{"Protocol":"grpc","ProtocolVersion":6,"Pid":42,"Test":true,"Addr":{"Network":"unix","String":"/tmp/plugin1"}}}"#
        );
        assert!(cfg.env_line().starts_with("TF_REATTACH_PROVIDERS='{"));
        assert!(cfg.env_line().ends_with("}}}'"));
    }
}
