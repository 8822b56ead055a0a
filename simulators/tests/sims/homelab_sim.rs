//! The `homelab-sim` binary starts every simulator and writes its env files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn writes_env_tfvars_and_ready_files() {
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join("sim.env");
    let tfvars = dir.path().join("sim.tfvars.json");
    let ready = dir.path().join("ready");
    let mut child = Command::new(env!("CARGO_BIN_EXE_homelab-sim"))
        .arg("--env-file")
        .arg(&env)
        .arg("--tfvars")
        .arg(&tfvars)
        .arg("--ready-file")
        .arg(&ready)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !ready.exists() && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let ready_ok = ready.exists();
    let env_text = std::fs::read_to_string(&env).unwrap_or_default();
    let tf_text = std::fs::read_to_string(&tfvars).unwrap_or_default();
    let kube = std::panic::catch_unwind(|| kube_is_https_with_its_ca(&env_text));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(ready_ok, "ready file not written");
    if let Err(e) = kube {
        std::panic::resume_unwind(e);
    }
    for var in [
        "TECHNITIUM_URL",
        "TECHNITIUM_TOKEN",
        "CLOUDFLARE_BASE_URL",
        "CLOUDFLARE_API_TOKEN",
        "CLOUDFLARE_ZONE_ID",
        "PROXMOX_VE_ENDPOINT",
        "PROXMOX_VE_API_TOKEN",
        "TALOS_NODES",
        "TALOS_ENDPOINT",
        "KUBE_HOST",
        "KUBE_CLUSTER_CA_CERT_DATA",
        "KUBE_TOKEN",
    ] {
        assert!(
            env_text.contains(&format!("export {var}=")),
            "{var} missing:\n{env_text}"
        );
    }
    let tf: serde_json::Value = serde_json::from_str(&tf_text).unwrap();
    let base = tf["cloudflare_base_url"].as_str().unwrap();
    assert!(base.starts_with("http://127.0.0.1:") && base.ends_with("/client/v4"));
    let talos = tf["talos_nodes"].as_object().unwrap();
    for n in ["cp1", "cp2", "cp3", "w1", "w2"] {
        assert!(
            talos[n].as_str().unwrap().starts_with("127.0.0.1:"),
            "{n}: {talos:?}"
        );
    }
    let pve = tf["proxmox_endpoint"].as_str().unwrap();
    assert!(pve.starts_with("http://127.0.0.1:") && pve.ends_with('/'));
    assert!(
        tf["proxmox_api_token"]
            .as_str()
            .unwrap()
            .contains("!labforge=")
    );
}

/// The Kubernetes API of the env file is what a real cluster offers:
/// `KUBE_HOST` an `https://` URL whose certificate the PEM CA of
/// `KUBE_CLUSTER_CA_CERT_DATA` verifies (a client trusting only that CA
/// lists MetalLB's pools with `KUBE_TOKEN`); a client without that CA is
/// refused by the certificate check, and plain HTTP gets no API answer.
fn kube_is_https_with_its_ca(text: &str) {
    let host = env_value(text, "KUBE_HOST");
    let ca = env_value(text, "KUBE_CLUSTER_CA_CERT_DATA");
    let token = env_value(text, "KUBE_TOKEN");
    assert!(host.starts_with("https://127.0.0.1:"), "KUBE_HOST {host}");
    assert!(
        ca.starts_with("-----BEGIN CERTIFICATE-----\n")
            && ca.trim_end().ends_with("-----END CERTIFICATE-----"),
        "KUBE_CLUSTER_CA_CERT_DATA is not PEM: {ca}"
    );
    let pools = format!("{host}/apis/metallb.io/v1beta1/namespaces/metallb-system/ipaddresspools");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let trusted = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(ca.as_bytes()).unwrap()])
            .build()
            .unwrap();
        let resp = trusted
            .get(&pools)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let list: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(list["kind"], "IPAddressPoolList", "{list}");

        // Another CA (a fresh self-signed one) does not verify it.
        let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
        let untrusted = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(other.cert.pem().as_bytes()).unwrap()])
            .build()
            .unwrap();
        let err = untrusted
            .get(&pools)
            .bearer_auth(&token)
            .send()
            .await
            .expect_err("a client without the cluster CA was answered");
        assert!(err.is_connect(), "{err:?}");

        // No plain-HTTP API on that port.
        let plain = host.replacen("https://", "http://", 1);
        let answered = reqwest::Client::new()
            .get(format!(
                "{plain}/apis/metallb.io/v1beta1/namespaces/metallb-system/ipaddresspools"
            ))
            .bearer_auth(&token)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        assert!(
            !answered,
            "the Kubernetes API answered plain HTTP at {plain}"
        );
    });
}

/// `export NAME='value'` of the env file; the value may span lines (a
/// PEM) and holds no quote.
fn env_value(text: &str, name: &str) -> String {
    let prefix = format!("export {name}='");
    let start = text
        .find(&prefix)
        .unwrap_or_else(|| panic!("{name} missing:\n{text}"))
        + prefix.len();
    let len = text[start..]
        .find('\'')
        .unwrap_or_else(|| panic!("{name}: unterminated quote"));
    text[start..start + len].to_string()
}

/// `export NAME='value'` of the env file (single-line values).
fn env_var(text: &str, name: &str) -> String {
    let prefix = format!("export {name}=");
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("{name} missing:\n{text}"));
    line.trim_matches('\'').to_string()
}

/// `POST /_sim/faults` arms a simulator's faults from the control port: the
/// vendor route fails as armed, as many times as armed, then answers again;
/// `GET /_sim/faults` counts what is pending and `/_sim/faults/clear`
/// disarms; unknown simulators, Talos (gRPC) and bad faults are refused.
#[test]
fn control_route_arms_faults() {
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join("sim.env");
    let ready = dir.path().join("ready");
    let mut child = Command::new(env!("CARGO_BIN_EXE_homelab-sim"))
        .arg("--env-file")
        .arg(&env)
        .arg("--ready-file")
        .arg(&ready)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !ready.exists() && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let text = std::fs::read_to_string(&env).unwrap_or_default();
    let outcome = std::panic::catch_unwind(|| {
        let control = env_var(&text, "HOMELAB_SIM_CONTROL_URL");
        let dns = env_var(&text, "TECHNITIUM_URL");
        let token = env_var(&text, "TECHNITIUM_TOKEN");
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let http = reqwest::Client::new();
            let arm = |body: serde_json::Value| {
                let http = http.clone();
                let url = format!("{control}/_sim/faults");
                async move { http.post(url).json(&body).send().await.unwrap() }
            };
            let list = || {
                http.get(format!("{dns}/api/zones/list"))
                    .query(&[("token", token.as_str())])
                    .send()
            };
            let pending = || async {
                http.get(format!("{control}/_sim/faults"))
                    .send()
                    .await
                    .unwrap()
                    .json::<serde_json::Value>()
                    .await
                    .unwrap()
            };
            assert_eq!(list().await.unwrap().status(), 200);
            let r = arm(serde_json::json!({
                "sim": "technitium", "method": "GET", "route": "/api/zones/list",
                "fault": "500", "times": 2
            }))
            .await;
            assert_eq!(r.status(), 204);
            assert_eq!(pending().await["technitium"], 2);
            assert_eq!(list().await.unwrap().status(), 500);
            assert_eq!(list().await.unwrap().status(), 500);
            assert_eq!(list().await.unwrap().status(), 200);
            assert_eq!(pending().await["technitium"], 0);

            let r = arm(serde_json::json!({
                "sim": "technitium", "method": "GET", "route": "/api/zones/list", "fault": "429"
            }))
            .await;
            assert_eq!(r.status(), 204);
            let limited = list().await.unwrap();
            assert_eq!(limited.status(), 429);
            assert_eq!(limited.headers()["retry-after"], "1");
            assert_eq!(list().await.unwrap().status(), 200);

            let r = arm(serde_json::json!({
                "sim": "technitium", "method": "GET", "route": "/api/zones/list",
                "fault": "reset", "times": 5
            }))
            .await;
            assert_eq!(r.status(), 204);
            assert!(list().await.is_err(), "the connection was not reset");
            let cleared = http
                .post(format!("{control}/_sim/faults/clear"))
                .send()
                .await
                .unwrap();
            assert_eq!(cleared.status(), 204);
            assert_eq!(pending().await["technitium"], 0);
            assert_eq!(list().await.unwrap().status(), 200);

            for (body, status) in [
                (
                    serde_json::json!({"sim": "nope", "method": "GET", "route": "/x", "fault": "500"}),
                    404,
                ),
                (
                    serde_json::json!({"sim": "talos", "method": "GRPC", "route": "/machine.MachineService/Version", "fault": "500"}),
                    404,
                ),
                (
                    serde_json::json!({"sim": "technitium", "method": "GET", "route": "/x", "fault": "slow"}),
                    400,
                ),
            ] {
                assert_eq!(arm(body.clone()).await.status(), status, "{body}");
            }
            assert!(pending().await.get("talos").is_none());
        });
    });
    child.kill().unwrap();
    child.wait().unwrap();
    if let Err(e) = outcome {
        std::panic::resume_unwind(e);
    }
}
