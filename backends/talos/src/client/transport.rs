//! The transport under tonic's generated clients: hyper-util's client (HTTP/2
//! only) over our own connector (TCP with a connect timeout, then TLS with
//! tokio-rustls). Transport failures become `tonic::Status`es carrying a
//! [`Failure`] as their source, so [`TalosError`] can classify them once.

use std::error::Error as StdError;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tonic::body::Body;
use tonic::codegen::http::{Request, Response, Uri};

use super::endpoint::Endpoint;
use super::error::{ErrorKind, Failure, TalosError};

fn status_of(failure: Failure) -> tonic::Status {
    let mut status = tonic::Status::unavailable(failure.message.clone());
    status.set_source(Arc::new(failure));
    status
}

/// The TLS stream, with what hyper-util's client wants of a connection.
struct TlsIo(TlsStream<TcpStream>);

impl Connection for TlsIo {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl AsyncRead for TlsIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

/// Connects to one endpoint, whatever URI hyper asks for.
#[derive(Clone)]
struct Connector {
    endpoint: Arc<Endpoint>,
    server_name: ServerName<'static>,
    tls: Arc<ClientConfig>,
    connect_timeout: Duration,
}

impl tonic::codegen::Service<Uri> for Connector {
    type Response = TokioIo<TlsIo>;
    type Error = Failure;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Failure>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Failure>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let ep = this.endpoint.clone();
            let unreachable = |why: String| Failure {
                kind: ErrorKind::Unreachable,
                message: format!("cannot reach the Talos API at {ep}: {why}"),
            };
            let tcp = match tokio::time::timeout(
                this.connect_timeout,
                TcpStream::connect((ep.host.as_str(), ep.port)),
            )
            .await
            {
                Err(_) => {
                    return Err(unreachable(format!(
                        "no answer within {}s",
                        this.connect_timeout.as_secs_f32()
                    )));
                }
                Ok(Err(e)) => return Err(unreachable(io_reason(&e))),
                Ok(Ok(tcp)) => tcp,
            };
            let _ = tcp.set_nodelay(true);
            let tls = TlsConnector::from(this.tls.clone());
            match tokio::time::timeout(
                this.connect_timeout,
                tls.connect(this.server_name.clone(), tcp),
            )
            .await
            {
                Err(_) => Err(Failure {
                    kind: ErrorKind::Transport,
                    message: format!(
                        "the TLS handshake with the Talos API at {ep} did not finish within {}s",
                        this.connect_timeout.as_secs_f32()
                    ),
                }),
                // Closed before any TLS answer: nothing serves the API there
                // (apid down while the node reboots or powers off).
                Ok(Err(e))
                    if rustls_error(&e).is_none()
                        && matches!(
                            e.kind(),
                            io::ErrorKind::UnexpectedEof
                                | io::ErrorKind::ConnectionReset
                                | io::ErrorKind::ConnectionAborted
                        ) =>
                {
                    Err(unreachable(format!(
                        "the connection was closed before TLS ({})",
                        io_reason(&e)
                    )))
                }
                Ok(Err(e)) => Err(classify_io(&e, &ep)),
                Ok(Ok(stream)) => Ok(TokioIo::new(TlsIo(stream))),
            }
        })
    }
}

/// A short reason for an I/O error: "connection refused", not the OS's text.
fn io_reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".into(),
        io::ErrorKind::TimedOut => "connection timed out".into(),
        io::ErrorKind::ConnectionReset => "connection reset".into(),
        io::ErrorKind::HostUnreachable => "host unreachable".into(),
        io::ErrorKind::NetworkUnreachable => "network unreachable".into(),
        _ => e.to_string(),
    }
}

/// The rustls error inside an I/O error, if any (std's `source()` skips it).
fn rustls_error(e: &io::Error) -> Option<&rustls::Error> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

/// Alerts by which a server refuses the client certificate (or its absence).
const CERTIFICATE_ALERTS: &[rustls::AlertDescription] = &[
    rustls::AlertDescription::CertificateRequired,
    rustls::AlertDescription::BadCertificate,
    rustls::AlertDescription::UnknownCA,
    rustls::AlertDescription::CertificateUnknown,
    rustls::AlertDescription::CertificateExpired,
    rustls::AlertDescription::CertificateRevoked,
    rustls::AlertDescription::UnsupportedCertificate,
    rustls::AlertDescription::AccessDenied,
    // rustls servers answer a client certificate whose issuer name matches a
    // trusted CA but whose signature does not (every Talos OS CA is named
    // O=talos: another cluster's admin certificate) with decrypt_error.
    rustls::AlertDescription::DecryptError,
];

fn certificate_rejected(alert: &dyn std::fmt::Debug, ep: &Endpoint) -> Failure {
    Failure {
        kind: ErrorKind::CertificateRejected,
        message: format!(
            "the Talos API at {ep} refused the connection's client certificate (TLS alert {alert:?}): \
             a configured node needs the cluster's client configuration"
        ),
    }
}

/// An alert the server sent after the handshake (TLS 1.3 servers check the
/// client certificate then) reaches us through hyper as the text of rustls's
/// `Error::AlertReceived`: "received fatal alert: <name>".
fn classify_alert_text(text: &str, ep: &Endpoint) -> Option<Failure> {
    let name = text.strip_prefix("received fatal alert: ")?.trim();
    if CERTIFICATE_ALERTS.iter().any(|a| format!("{a:?}") == name) {
        return Some(certificate_rejected(&name, ep));
    }
    Some(Failure {
        kind: ErrorKind::Tls,
        message: format!("TLS with the Talos API at {ep} failed: the server sent the alert {name}"),
    })
}

fn classify_tls(e: &rustls::Error, ep: &Endpoint) -> Failure {
    match e {
        rustls::Error::InvalidCertificate(why) => Failure {
            kind: ErrorKind::Tls,
            message: format!(
                "the server certificate of the Talos API at {ep} is not trusted: {why:?} \
                 (is it a node of this cluster, and is the endpoint one of its addresses?)"
            ),
        },
        rustls::Error::AlertReceived(alert) if CERTIFICATE_ALERTS.contains(alert) => {
            certificate_rejected(alert, ep)
        }
        other => Failure {
            kind: ErrorKind::Tls,
            message: format!("TLS with the Talos API at {ep} failed: {other}"),
        },
    }
}

fn classify_io(e: &io::Error, ep: &Endpoint) -> Failure {
    if let Some(tls) = rustls_error(e) {
        return classify_tls(tls, ep);
    }
    Failure {
        kind: ErrorKind::Transport,
        message: format!(
            "the connection to the Talos API at {ep} failed: {}",
            io_reason(e)
        ),
    }
}

/// Classifies an error of hyper-util's client by walking its sources.
fn classify(err: &(dyn StdError + 'static), ep: &Endpoint) -> Failure {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(f) = e.downcast_ref::<Failure>() {
            return f.clone();
        }
        if let Some(t) = e.downcast_ref::<rustls::Error>() {
            return classify_tls(t, ep);
        }
        if let Some(io) = e.downcast_ref::<io::Error>() {
            if let Some(t) = rustls_error(io) {
                return classify_tls(t, ep);
            }
            if let Some(f) = classify_alert_text(&io.to_string(), ep) {
                return f;
            }
        }
        cur = e.source();
    }
    Failure {
        kind: ErrorKind::Transport,
        message: format!("the connection to the Talos API at {ep} failed: {err}"),
    }
}

/// The service tonic's generated clients run on: one endpoint, one TLS mode.
#[derive(Clone)]
pub(crate) struct Transport {
    inner: HyperClient<Connector, Body>,
    endpoint: Arc<Endpoint>,
}

impl Transport {
    pub(crate) fn new(
        endpoint: Endpoint,
        tls: Arc<ClientConfig>,
        connect_timeout: Duration,
    ) -> Result<Self, TalosError> {
        let server_name = endpoint.server_name()?;
        let endpoint = Arc::new(endpoint);
        let connector = Connector {
            endpoint: endpoint.clone(),
            server_name,
            tls,
            connect_timeout,
        };
        let inner = HyperClient::builder(TokioExecutor::new())
            .http2_only(true)
            .build(connector);
        Ok(Self { inner, endpoint })
    }

    /// The origin tonic puts on each request (hyper needs an absolute URI).
    pub(crate) fn origin(&self) -> Result<Uri, TalosError> {
        format!("https://{}", self.endpoint)
            .parse::<Uri>()
            .map_err(|_| {
                TalosError::new(
                    ErrorKind::InvalidInput,
                    format!("invalid Talos API endpoint {}", self.endpoint),
                )
            })
    }
}

impl tonic::codegen::Service<Request<Body>> for Transport {
    type Response = Response<hyper::body::Incoming>;
    type Error = tonic::Status;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, tonic::Status>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), tonic::Status>> {
        let ep = self.endpoint.clone();
        tonic::codegen::Service::poll_ready(&mut self.inner, cx)
            .map_err(|e| status_of(classify(&e, &ep)))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let ep = self.endpoint.clone();
        let fut = tonic::codegen::Service::call(&mut self.inner, req);
        Box::pin(async move { fut.await.map_err(|e| status_of(classify(&e, &ep))) })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ep() -> Endpoint {
        Endpoint::parse("10.0.0.5").unwrap()
    }

    #[test]
    fn tls_failures_are_classified() {
        let io = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired),
        );
        let f = classify(&io, &ep());
        assert_eq!(f.kind, ErrorKind::CertificateRejected);
        assert!(f.message.contains("10.0.0.5:50000"));

        let io = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        let f = classify_io(&io, &ep());
        assert_eq!(f.kind, ErrorKind::Tls);
        assert!(f.message.starts_with("the server certificate of the Talos API at 10.0.0.5:50000 is not trusted: UnknownIssuer"), "{}", f.message);

        let io = io::Error::from(io::ErrorKind::ConnectionReset);
        let f = classify(&io, &ep());
        assert_eq!(f.kind, ErrorKind::Transport);
        assert_eq!(
            f.message,
            "the connection to the Talos API at 10.0.0.5:50000 failed: connection reset"
        );
    }

    #[test]
    fn alerts_received_as_text_are_classified() {
        let io = io::Error::new(
            io::ErrorKind::InvalidData,
            "received fatal alert: CertificateRequired",
        );
        assert_eq!(classify(&io, &ep()).kind, ErrorKind::CertificateRejected);
        let io = io::Error::new(
            io::ErrorKind::InvalidData,
            "received fatal alert: BadCertificate",
        );
        assert_eq!(classify(&io, &ep()).kind, ErrorKind::CertificateRejected);
        let io = io::Error::new(
            io::ErrorKind::InvalidData,
            "received fatal alert: ProtocolVersion",
        );
        let f = classify(&io, &ep());
        assert_eq!(f.kind, ErrorKind::Tls);
        assert!(
            f.message
                .ends_with("the server sent the alert ProtocolVersion"),
            "{}",
            f.message
        );
    }

    #[test]
    fn a_failure_survives_the_trip_through_a_status() {
        let status = status_of(Failure {
            kind: ErrorKind::Unreachable,
            message: "cannot reach the Talos API at 10.0.0.5:50000: connection refused".into(),
        });
        let e = TalosError::from_status(&status);
        assert_eq!(e.kind(), ErrorKind::Unreachable);
        assert_eq!(e.code(), None);
        assert!(e.is_retryable());
        assert_eq!(
            e.to_string(),
            "cannot reach the Talos API at 10.0.0.5:50000: connection refused"
        );
    }
}
