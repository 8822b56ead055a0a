//! The example provider binary (`examples/echo_plugin.rs`) run as Terraform
//! would run it: cookie, protocol versions, AutoMTLS, one stdout line,
//! Shutdown RPC, signals, panics. `cargo test -p labforge-server` builds the
//! example first; when it is missing (e.g. `--test server` alone) these
//! tests fail and say how to build it: a check that is not run never passes.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::common::{connect, go_plugin_client_cert, parse_handshake};
use labforge_proto::plugin::Empty;
use labforge_proto::plugin::grpc_controller_client::GrpcControllerClient;
use labforge_proto::tfplugin6::get_provider_schema;
use labforge_proto::tfplugin6::provider_client::ProviderClient;
use labforge_server::{MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, BufReader};
use tokio::process::{Child, Command};

pub(crate) fn example_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let profile_dir = exe.parent()?.parent()?;
    let bin = profile_dir.join("examples").join("echo_plugin");
    assert!(
        bin.exists(),
        "{} is not built: run `cargo test -p labforge-server` (which builds the examples)",
        bin.display()
    );
    Some(bin)
}

fn base_command(bin: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

#[tokio::test]
async fn run_by_hand_explains_itself_on_one_stderr_line() {
    let Some(bin) = example_binary() else { return };
    let out = base_command(&bin).output().await.unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--debug") && stderr.contains("--version"));
}

#[tokio::test]
async fn version_and_help_print_to_stdout() {
    let Some(bin) = example_binary() else { return };
    let out = base_command(&bin).arg("--version").output().await.unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.starts_with("terraform-provider-echo v"), "{stdout}");
    let out = base_command(&bin).arg("--help").output().await.unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8(out.stdout).unwrap().contains("--debug"));
}

#[tokio::test]
async fn protocol_versions_without_six_are_refused() {
    let Some(bin) = example_binary() else { return };
    let out = base_command(&bin)
        .env(MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE)
        .env("PLUGIN_PROTOCOL_VERSIONS", "4,5")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("protocol 6")
    );
}

/// A started plugin process and what its handshake said.
pub(crate) struct Started {
    pub(crate) child: Child,
    pub(crate) stdout: BufReader<tokio::process::ChildStdout>,
    pub(crate) socket: PathBuf,
    pub(crate) server_cert: Option<Vec<u8>>,
}

/// Starts the example plugin as Terraform would and reads its handshake.
pub(crate) async fn start(
    bin: &Path,
    dir: &Path,
    client_pem: Option<&str>,
    extra: &[(&str, &str)],
) -> Started {
    let mut cmd = base_command(bin);
    cmd.env(MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE)
        .env("PLUGIN_PROTOCOL_VERSIONS", "6,5")
        .env("PLUGIN_MIN_PORT", "10000")
        .env("PLUGIN_MAX_PORT", "25000")
        .env("PLUGIN_UNIX_SOCKET_DIR", dir)
        .env("TF_LOG", "debug");
    if let Some(pem) = client_pem {
        cmd.env("PLUGIN_CLIENT_CERT", pem);
    }
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(10), stdout.read_line(&mut line))
        .await
        .expect("handshake line within 10 s")
        .unwrap();
    assert!(line.ends_with('\n'), "{line:?}");
    let (socket, server_cert) = parse_handshake(&line);
    Started {
        child,
        stdout,
        socket,
        server_cert,
    }
}

fn signal(child: &Child, name: &str) {
    let pid = child.id().unwrap().to_string();
    let status = std::process::Command::new("kill")
        .args([format!("-{name}"), pid])
        .status()
        .unwrap();
    assert!(status.success());
}

async fn stderr_of(child: &mut Child) -> String {
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    stderr
}

#[tokio::test]
async fn serves_over_mtls_ignores_sigint_and_exits_on_shutdown() {
    let Some(bin) = example_binary() else { return };
    let dir = tempfile::tempdir().unwrap();
    let client = go_plugin_client_cert();
    let mut p = start(&bin, dir.path(), Some(&client.pem), &[]).await;
    let cert = p.server_cert.clone().expect("certificate in handshake");
    let conn = connect(p.socket.clone(), Some(cert), Some(&client))
        .await
        .unwrap();
    assert_eq!(conn.alpn.as_deref(), Some(&b"h2"[..]));
    let mut provider = ProviderClient::new(conn.channel.clone());
    provider
        .get_provider_schema(get_provider_schema::Request {})
        .await
        .unwrap();

    // Terraform's Ctrl-C reaches the whole process group: must be ignored.
    signal(&p.child, "INT");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        p.child.try_wait().unwrap().is_none(),
        "SIGINT must not stop the plugin"
    );
    provider
        .get_provider_schema(get_provider_schema::Request {})
        .await
        .unwrap();

    GrpcControllerClient::new(conn.channel)
        .shutdown(Empty {})
        .await
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(2), p.child.wait())
        .await
        .expect("exit within Terraform's 2 s")
        .unwrap();
    assert!(status.success(), "{status}");
    assert!(!p.socket.exists(), "socket removed");

    let mut rest = String::new();
    p.stdout.read_to_string(&mut rest).await.unwrap();
    assert!(
        rest.is_empty(),
        "nothing on stdout after the handshake: {rest:?}"
    );

    let stderr = stderr_of(&mut p.child).await;
    assert!(!stderr.is_empty());
    for line in stderr.lines() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("stderr line is not JSON ({e}): {line}"));
        assert!(
            v["@level"].is_string() && v["@message"].is_string() && v["@timestamp"].is_string()
        );
        assert_eq!(v["@module"], "provider");
    }
}

#[tokio::test]
async fn sigterm_stops_the_plugin() {
    let Some(bin) = example_binary() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut p = start(&bin, dir.path(), None, &[]).await;
    assert!(p.server_cert.is_none());
    signal(&p.child, "TERM");
    let status = tokio::time::timeout(Duration::from_secs(3), p.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
    assert!(!p.socket.exists());
}

#[tokio::test]
async fn panic_is_logged_and_kills_the_process() {
    let Some(bin) = example_binary() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut p = start(&bin, dir.path(), None, &[("ECHO_PLUGIN_PANIC", "1")]).await;
    let conn = connect(p.socket.clone(), None, None).await.unwrap();
    let result = ProviderClient::new(conn.channel)
        .get_provider_schema(get_provider_schema::Request {})
        .await;
    assert!(result.is_err());
    let status = tokio::time::timeout(Duration::from_secs(3), p.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(2));
    assert!(!p.socket.exists(), "socket removed by the panic hook");
    let stderr = stderr_of(&mut p.child).await;
    assert!(
        stderr.contains("panic: echo plugin was asked to panic"),
        "{stderr}"
    );
    let logged = stderr.lines().any(|line| {
        serde_json::from_str::<serde_json::Value>(line).is_ok_and(|v| {
            v["@level"] == "error"
                && v["@message"]
                    .as_str()
                    .is_some_and(|m| m.contains("asked to panic"))
        })
    });
    assert!(logged, "{stderr}");
}
