//! The plugin itself (issue 16): the real plugin process accepts only the
//! client certificate its host gave it (another certificate, none, or the
//! right certificate signed with another key are refused), listens on its
//! own unix socket only (owner-only file, no TCP or UDP socket), and
//! survives malformed connections and gRPC requests: garbage bytes, bad
//! protobuf, bad frames, a message over the size limit. After every one of
//! them the process is alive and answers, on an old and on a new connection.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Body, Bytes, Frame};
use hyper_util::rt::{TokioExecutor, TokioIo};
use labforge_proto::plugin::Empty;
use labforge_proto::plugin::grpc_controller_client::GrpcControllerClient;
use labforge_proto::tfplugin6::get_provider_schema;
use labforge_proto::tfplugin6::provider_client::ProviderClient;
use labforge_server::MAX_MESSAGE_SIZE;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::UnixStream;
use tonic::transport::Channel;

use crate::common::{
    ClientCert, MismatchedKey, client_config_builder, connect, connect_with, go_plugin_client_cert,
};
use crate::plugin_process::{example_binary, start};

const SCHEMA: &str = "/tfplugin6.Provider/GetProviderSchema";
const VALIDATE: &str = "/tfplugin6.Provider/ValidateResourceConfig";

/// gRPC's status codes used below.
const INTERNAL: i32 = 13;
const OUT_OF_RANGE: i32 = 11;
const UNIMPLEMENTED: i32 = 12;

/// One gRPC length-prefixed message: compressed flag, the length the header
/// declares (need not be the payload's), the payload.
fn grpc_frame(flag: u8, declared: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![flag];
    out.extend_from_slice(&declared.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// A well-formed frame around `payload`.
fn frame(payload: &[u8]) -> Vec<u8> {
    grpc_frame(0, u32::try_from(payload.len()).unwrap(), payload)
}

/// A request body sent as one DATA frame, then END_STREAM.
struct OnceBody(Option<Bytes>);

impl Body for OnceBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.take().map(|b| Ok(Frame::data(b))))
    }
}

/// What the server answered to a raw request: the HTTP status, and the gRPC
/// status and message (from the headers of a trailers-only answer, or the
/// trailers).
#[derive(Debug)]
struct Answer {
    http: u16,
    grpc_status: Option<i32>,
    message: String,
}

fn grpc_fields(headers: &hyper::HeaderMap, answer: &mut Answer) {
    if let Some(code) = headers.get("grpc-status") {
        answer.grpc_status = code.to_str().ok().and_then(|c| c.parse().ok());
    }
    if let Some(m) = headers.get("grpc-message") {
        // Percent-encoded on the wire (gRPC over HTTP/2); spaces suffice here.
        answer.message = m.to_str().unwrap_or_default().replace("%20", " ");
    }
}

/// Sends one POST with `body` to `path` over a fresh HTTP/2 connection on
/// `io`, as a gRPC client would (but with bytes of our choosing).
async fn raw_grpc<IO>(io: IO, path: &str, body: Vec<u8>) -> Result<Answer, String>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
            .await
            .map_err(|e| format!("HTTP/2 handshake: {e}"))?;
    tokio::spawn(conn);
    let request = hyper::Request::builder()
        .method("POST")
        .uri(format!("http://localhost{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(OnceBody(Some(Bytes::from(body))))
        .map_err(|e| e.to_string())?;
    let response = tokio::time::timeout(Duration::from_secs(10), sender.send_request(request))
        .await
        .map_err(|_| "no answer within 10 s".to_owned())?
        .map_err(|e| format!("request: {e}"))?;
    let mut answer = Answer {
        http: response.status().as_u16(),
        grpc_status: None,
        message: String::new(),
    };
    grpc_fields(response.headers(), &mut answer);
    let mut body = response.into_body();
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let frame = frame.map_err(|e| format!("response body: {e}"))?;
        if let Ok(trailers) = frame.into_trailers() {
            grpc_fields(&trailers, &mut answer);
        }
    }
    Ok(answer)
}

/// The plugin's socket, with mTLS as `client`.
async fn tls_to(
    socket: &Path,
    server_cert: &[u8],
    client: &ClientCert,
) -> tokio_rustls::client::TlsStream<UnixStream> {
    let mut config = client_config_builder(server_cert.to_vec())
        .with_client_auth_cert(vec![client.der.clone()], client.key.clone_key())
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let stream = UnixStream::connect(socket).await.unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), stream)
        .await
        .unwrap()
}

/// Waits until the peer closes `io` (reads to EOF or an error), at most 10 s.
async fn closed_by_server(mut io: impl AsyncRead + Unpin) -> bool {
    let mut buf = vec![0u8; 4096];
    let read_all = async {
        loop {
            match io.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read_all)
        .await
        .is_ok()
}

/// The provider answers GetProviderSchema on `channel`.
async fn serves(channel: &Channel) -> bool {
    ProviderClient::new(channel.clone())
        .get_provider_schema(get_provider_schema::Request {})
        .await
        .is_ok()
}

/// `client` is refused: the TLS handshake or the first call fails.
async fn refused(socket: &Path, config: Option<rustls::ClientConfig>) -> bool {
    match connect_with(socket.to_path_buf(), config).await {
        Err(_) => true,
        Ok(conn) => !serves(&conn.channel).await,
    }
}

/// The inodes of the sockets among `pid`'s open files.
fn socket_inodes(pid: u32) -> BTreeSet<u64> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|target| {
            let t = target.to_string_lossy().into_owned();
            t.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
        })
        .collect()
}

/// The inode column of a `/proc/<pid>/net/{tcp,udp}[6]` table.
fn inet_inodes(pid: u32, table: &str) -> BTreeSet<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
    text.lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(9)?.parse().ok())
        .collect()
}

/// The paths of `pid`'s bound unix sockets (from `/proc/<pid>/net/unix`,
/// whose rows are `Num RefCount Protocol Flags Type St Inode [Path]`).
fn unix_paths(pid: u32, mine: &BTreeSet<u64>) -> BTreeSet<PathBuf> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/unix")).unwrap();
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            let inode: u64 = cols.get(6)?.parse().ok()?;
            let path = cols.get(7)?;
            mine.contains(&inode).then(|| PathBuf::from(path))
        })
        .collect()
}

#[tokio::test]
async fn the_plugin_serves_only_its_host_on_its_socket_and_survives_malformed_requests() {
    let Some(bin) = example_binary() else { return };
    let dir = tempfile::tempdir().unwrap();
    let client = go_plugin_client_cert();
    let mut p = start(&bin, dir.path(), Some(&client.pem), &[]).await;
    let pid = p.child.id().unwrap();
    let cert = p.server_cert.clone().expect("AutoMTLS certificate");
    let socket = p.socket.clone();

    // Its own socket: owner-only, ours, in the directory the host chose.
    assert!(socket.starts_with(dir.path()));
    let meta = std::fs::metadata(&socket).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600, "socket mode");
    assert_eq!(
        meta.uid(),
        std::fs::metadata(dir.path()).unwrap().uid(),
        "socket owner"
    );

    // The right client is served, and keeps this connection throughout.
    let host = connect(socket.clone(), Some(cert.clone()), Some(&client))
        .await
        .unwrap();
    assert!(serves(&host.channel).await, "the host's client is served");

    // Only that socket: no TCP or UDP socket at all, one bound unix path.
    let inodes = socket_inodes(pid);
    assert!(!inodes.is_empty(), "the plugin holds its listening socket");
    for table in ["tcp", "tcp6", "udp", "udp6"] {
        let open: Vec<u64> = inet_inodes(pid, table)
            .intersection(&inodes)
            .copied()
            .collect();
        assert!(open.is_empty(), "the plugin has {table} sockets: {open:?}");
    }
    assert_eq!(
        unix_paths(pid, &inodes),
        BTreeSet::from([socket.clone()]),
        "bound unix sockets"
    );

    // Refused: another certificate, no certificate, the right certificate
    // with another key, and plaintext.
    let stranger = go_plugin_client_cert();
    let other_cert = client_config_builder(cert.clone())
        .with_client_auth_cert(vec![stranger.der.clone()], stranger.key.clone_key())
        .unwrap();
    assert!(
        refused(&socket, Some(other_cert)).await,
        "another certificate"
    );
    let no_cert = client_config_builder(cert.clone()).with_no_client_auth();
    assert!(refused(&socket, Some(no_cert)).await, "no certificate");
    let other_key = client_config_builder(cert.clone()).with_client_cert_resolver(Arc::new(
        MismatchedKey::new(client.der.clone(), stranger.key.clone_key()),
    ));
    assert!(
        refused(&socket, Some(other_key)).await,
        "the right certificate with another key"
    );
    assert!(refused(&socket, None).await, "plaintext");

    // Garbage instead of a TLS ClientHello: the connection is closed.
    let mut raw = UnixStream::connect(&socket).await.unwrap();
    raw.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n\x00\xff\x16\x03\x01\xff\xff")
        .await
        .unwrap();
    assert!(closed_by_server(raw).await, "garbage before TLS");
    // Garbage instead of the HTTP/2 preface, inside an accepted TLS session.
    let mut tls = tls_to(&socket, &cert, &client).await;
    tls.write_all(&[0xffu8; 4096]).await.unwrap();
    tls.flush().await.unwrap();
    assert!(closed_by_server(tls).await, "garbage inside TLS");
    // A connection that sends nothing does not block the others.
    let _idle = UnixStream::connect(&socket).await.unwrap();

    // Malformed gRPC requests, each answered with an error status.
    let max = u32::try_from(MAX_MESSAGE_SIZE).unwrap();
    let cases: Vec<(&str, &str, Vec<u8>, i32)> = vec![
        // Field 1, length-delimited, with a length varint that never ends.
        ("truncated varint", SCHEMA, frame(&[0x0a, 0xff]), INTERNAL),
        // type_name (field 1, a string) holding invalid UTF-8.
        (
            "invalid UTF-8 string",
            VALIDATE,
            frame(&[0x0a, 0x02, 0xc3, 0x28]),
            INTERNAL,
        ),
        // type_name sent with the varint wire type.
        ("wrong wire type", VALIDATE, frame(&[0x08, 0x01]), INTERNAL),
        // Wire type 7 does not exist.
        ("unknown wire type", VALIDATE, frame(&[0x0f]), INTERNAL),
        (
            "frame shorter than declared",
            SCHEMA,
            grpc_frame(0, 100, &[0; 10]),
            INTERNAL,
        ),
        (
            "compressed without grpc-encoding",
            SCHEMA,
            grpc_frame(1, 2, &[0x1f, 0x8b]),
            INTERNAL,
        ),
        (
            "invalid frame flag",
            SCHEMA,
            grpc_frame(7, 0, &[]),
            INTERNAL,
        ),
        (
            "message over the size limit",
            SCHEMA,
            grpc_frame(0, max + 1, &[0; 16]),
            OUT_OF_RANGE,
        ),
        (
            "message at u32::MAX",
            VALIDATE,
            grpc_frame(0, u32::MAX, &[0; 16]),
            OUT_OF_RANGE,
        ),
        (
            "unknown method",
            "/tfplugin6.Provider/NoSuchMethod",
            frame(&[]),
            UNIMPLEMENTED,
        ),
        (
            "unknown service",
            "/no.Such/Service",
            frame(&[]),
            UNIMPLEMENTED,
        ),
    ];
    for (what, path, body, want) in cases {
        let io = tls_to(&socket, &cert, &client).await;
        let answer = raw_grpc(io, path, body)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(answer.http, 200, "{what}: {answer:?}");
        assert_eq!(answer.grpc_status, Some(want), "{what}: {answer:?}");
        if want == OUT_OF_RANGE {
            assert!(answer.message.contains("too large"), "{what}: {answer:?}");
        }
        assert!(
            p.child.try_wait().unwrap().is_none(),
            "{what}: the plugin exited"
        );
        assert!(serves(&host.channel).await, "{what}: no longer serving");
    }
    // A well-formed raw request is served (the checks above are not
    // failing for a reason of their own).
    let io = tls_to(&socket, &cert, &client).await;
    let ok = raw_grpc(io, SCHEMA, frame(&[])).await.unwrap();
    assert_eq!(ok.grpc_status, Some(0), "{ok:?}");

    // Still serving: the host's old connection and a new one.
    assert!(serves(&host.channel).await);
    let again = connect(socket.clone(), Some(cert), Some(&client))
        .await
        .unwrap();
    assert!(serves(&again.channel).await);
    GrpcControllerClient::new(host.channel)
        .shutdown(Empty {})
        .await
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(3), p.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
    let mut rest = String::new();
    p.stdout.read_to_string(&mut rest).await.unwrap();
    assert!(rest.is_empty(), "stdout after the handshake: {rest:?}");
}
