//! Managed and debug mode served in-process, talked to with the generated
//! tonic clients over the unix socket (mTLS like Terraform, or plaintext).

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use crate::common::{
    EmptyProvider, INFO, MismatchedKey, client_config_builder, connect, connect_with,
    go_plugin_client_cert, parse_handshake,
};
use labforge_proto::health::health_check_response::ServingStatus;
use labforge_proto::health::{HealthCheckRequest, health_client::HealthClient};
use labforge_proto::plugin::Empty;
use labforge_proto::plugin::grpc_controller_client::GrpcControllerClient;
use labforge_proto::plugin::grpc_stdio_client::GrpcStdioClient;
use labforge_proto::tfplugin6::provider_client::ProviderClient;
use labforge_proto::tfplugin6::{get_provider_schema, read_resource};
use labforge_server::{PluginEnv, serve_debug_in, serve_managed};
use tokio::sync::oneshot;

#[tokio::test]
async fn managed_mtls_end_to_end_then_shutdown_rpc_stops_server() {
    let dir = tempfile::tempdir().unwrap();
    let client_cert = go_plugin_client_cert();
    let env = PluginEnv {
        socket_dir: Some(dir.path().to_path_buf()),
        client_cert_pem: Some(client_cert.pem.clone()),
    };
    let (line_tx, line_rx) = oneshot::channel();
    let server = tokio::spawn(async move {
        serve_managed(&INFO, EmptyProvider, env, move |hs| {
            let _ = line_tx.send(hs.line());
            Ok(())
        })
        .await
    });
    let line = line_rx.await.unwrap();
    let (path, cert) = parse_handshake(&line);
    assert!(path.starts_with(dir.path()));
    assert!(path.exists());
    let cert = cert.expect("AutoMTLS handshake carries the server certificate");

    let conn = connect(path.clone(), Some(cert.clone()), Some(&client_cert))
        .await
        .unwrap();
    assert_eq!(conn.alpn.as_deref(), Some(&b"h2"[..]));

    // The provider answers, with the capability we set.
    let mut provider = ProviderClient::new(conn.channel.clone());
    let schema = provider
        .get_provider_schema(get_provider_schema::Request {})
        .await
        .unwrap()
        .into_inner();
    assert!(schema.server_capabilities.unwrap().plan_destroy);
    assert!(schema.resource_schemas.is_empty());

    // Everything not implemented answers Unimplemented.
    let err = provider
        .read_resource(read_resource::Request::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unimplemented);

    // Health: "plugin" and "" are SERVING.
    let mut health = HealthClient::new(conn.channel.clone());
    for service in ["plugin", ""] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(status, i32::from(ServingStatus::Serving));
    }

    // Stdio stream opens (go-plugin calls it once and keeps it open).
    let mut stdio = GrpcStdioClient::new(conn.channel.clone());
    let _stdio_stream = stdio.stream_stdio(()).await.unwrap().into_inner();

    // A wrong client certificate is refused, and the server keeps serving.
    let stranger = go_plugin_client_cert();
    let refused = match connect(path.clone(), Some(cert.clone()), Some(&stranger)).await {
        Err(_) => true,
        Ok(conn) => ProviderClient::new(conn.channel)
            .get_provider_schema(get_provider_schema::Request {})
            .await
            .is_err(),
    };
    assert!(refused, "a different client certificate must be refused");
    // No client certificate at all: refused too.
    let anonymous = connect(path.clone(), Some(cert.clone()), None).await;
    if let Ok(conn) = anonymous {
        assert!(
            ProviderClient::new(conn.channel)
                .get_provider_schema(get_provider_schema::Request {})
                .await
                .is_err()
        );
    }
    // Plaintext against a TLS server: refused.
    if let Ok(conn) = connect(path.clone(), None, None).await {
        assert!(
            ProviderClient::new(conn.channel)
                .get_provider_schema(get_provider_schema::Request {})
                .await
                .is_err()
        );
    }
    provider
        .get_provider_schema(get_provider_schema::Request {})
        .await
        .expect("server still serves after refused handshakes");

    // Shutdown replies, then the server stops promptly and removes the socket.
    GrpcControllerClient::new(conn.channel.clone())
        .shutdown(Empty {})
        .await
        .unwrap();
    let result = tokio::time::timeout(Duration::from_secs(3), server)
        .await
        .expect("server stops within 3 s of Shutdown")
        .unwrap();
    result.unwrap();
    assert!(!path.exists(), "socket removed");
}

/// The pinned certificate is public (it travels in `PLUGIN_CLIENT_CERT` and
/// in every handshake): a client presenting it but signing the handshake with
/// another key is refused, and the server keeps serving the real client.
#[tokio::test]
async fn pinned_cert_with_another_key_is_refused_and_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let client_cert = go_plugin_client_cert();
    let env = PluginEnv {
        socket_dir: Some(dir.path().to_path_buf()),
        client_cert_pem: Some(client_cert.pem.clone()),
    };
    let (line_tx, line_rx) = oneshot::channel();
    let server = tokio::spawn(async move {
        serve_managed(&INFO, EmptyProvider, env, move |hs| {
            let _ = line_tx.send(hs.line());
            Ok(())
        })
        .await
    });
    let line = line_rx.await.unwrap();
    let (path, cert) = parse_handshake(&line);
    let cert = cert.unwrap();

    let other_key = go_plugin_client_cert().key;
    let impostor = client_config_builder(cert.clone()).with_client_cert_resolver(Arc::new(
        MismatchedKey::new(client_cert.der.clone(), other_key),
    ));
    // TLS 1.3 reports a refused client only after the client finished, so the
    // connection may come up: then the first call must fail.
    let refused = match connect_with(path.clone(), Some(impostor)).await {
        Err(_) => true,
        Ok(conn) => ProviderClient::new(conn.channel)
            .get_provider_schema(get_provider_schema::Request {})
            .await
            .is_err(),
    };
    assert!(
        refused,
        "a handshake signed with another key must be refused"
    );

    let conn = connect(path.clone(), Some(cert), Some(&client_cert))
        .await
        .expect("the real client still connects");
    ProviderClient::new(conn.channel.clone())
        .get_provider_schema(get_provider_schema::Request {})
        .await
        .expect("server still serves after the refused handshake");
    GrpcControllerClient::new(conn.channel)
        .shutdown(Empty {})
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(3), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn managed_plaintext_without_client_cert() {
    let dir = tempfile::tempdir().unwrap();
    let env = PluginEnv {
        socket_dir: Some(dir.path().to_path_buf()),
        client_cert_pem: None,
    };
    let (line_tx, line_rx) = oneshot::channel();
    let server = tokio::spawn(async move {
        serve_managed(&INFO, EmptyProvider, env, move |hs| {
            let _ = line_tx.send(hs.line());
            Ok(())
        })
        .await
    });
    let line = line_rx.await.unwrap();
    assert!(line.ends_with("|grpc|"), "{line}");
    let (path, cert) = parse_handshake(&line);
    assert!(cert.is_none());
    let conn = connect(path.clone(), None, None).await.unwrap();
    ProviderClient::new(conn.channel.clone())
        .get_provider_schema(get_provider_schema::Request {})
        .await
        .unwrap();
    GrpcControllerClient::new(conn.channel)
        .shutdown(Empty {})
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(3), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(!path.exists());
}

#[tokio::test]
async fn bad_client_cert_pem_is_a_setup_error() {
    let dir = tempfile::tempdir().unwrap();
    let env = PluginEnv {
        socket_dir: Some(dir.path().to_path_buf()),
        client_cert_pem: Some("garbage".into()),
    };
    let result = serve_managed(&INFO, EmptyProvider, env, |_| Ok(())).await;
    assert!(matches!(result, Err(labforge_server::ServeError::Tls(_))));
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no socket left"
    );
}

#[tokio::test]
async fn debug_mode_reattach_and_shutdown_handle() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve_debug_in(&INFO, EmptyProvider, Some(dir.path()))
        .await
        .unwrap();
    let reattach: serde_json::Value = serde_json::from_str(&server.reattach_json()).unwrap();
    let entry = &reattach[INFO.address];
    assert_eq!(entry["Protocol"], "grpc");
    assert_eq!(entry["ProtocolVersion"], 6);
    assert_eq!(entry["Test"], true);
    assert_eq!(entry["Pid"], std::process::id());
    assert_eq!(entry["Addr"]["Network"], "unix");
    let path = std::path::PathBuf::from(entry["Addr"]["String"].as_str().unwrap());
    assert!(path.exists());

    let conn = connect(path.clone(), None, None).await.unwrap();
    let mut provider = ProviderClient::new(conn.channel.clone());
    provider
        .get_provider_schema(get_provider_schema::Request {})
        .await
        .unwrap();
    // Shutdown RPC is ignored in debug mode: the provider outlives CLI runs.
    GrpcControllerClient::new(conn.channel.clone())
        .shutdown(Empty {})
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    provider
        .get_provider_schema(get_provider_schema::Request {})
        .await
        .unwrap();

    tokio::time::timeout(Duration::from_secs(3), server.shutdown())
        .await
        .unwrap()
        .unwrap();
    assert!(!path.exists());
}
