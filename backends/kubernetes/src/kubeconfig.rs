//! Kubeconfig files (`clusters`, `users`, `contexts`, `current-context`),
//! YAML as kubectl and talosctl write them, or JSON
//! (`kubectl config view --flatten -o json`).

use base64::Engine as _;
use serde::Deserialize;

/// What a kubeconfig context resolves to.
#[derive(Debug, Clone, Default)]
pub struct Resolved {
    /// `cluster.server`.
    pub host: String,
    /// `user.token`.
    pub token: Option<String>,
    /// `cluster.certificate-authority-data` (decoded) or the file's text.
    pub ca_cert: Option<String>,
    /// `cluster.insecure-skip-tls-verify`.
    pub insecure: bool,
    /// `user.client-certificate-data` (decoded) or the file's text.
    pub client_cert: Option<String>,
    /// `user.client-key-data` (decoded) or the file's text.
    pub client_key: Option<String>,
}

#[derive(Deserialize)]
struct Config {
    #[serde(default)]
    clusters: Vec<Named<Cluster>>,
    #[serde(default)]
    users: Vec<Named<User>>,
    #[serde(default)]
    contexts: Vec<Named<Context>>,
    #[serde(rename = "current-context", default)]
    current_context: Option<String>,
}

#[derive(Deserialize)]
struct Named<T> {
    name: String,
    #[serde(alias = "cluster", alias = "user", alias = "context")]
    item: T,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Cluster {
    server: String,
    certificate_authority_data: Option<String>,
    certificate_authority: Option<String>,
    #[serde(default)]
    insecure_skip_tls_verify: bool,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct User {
    token: Option<String>,
    client_certificate_data: Option<String>,
    client_certificate: Option<String>,
    client_key_data: Option<String>,
    client_key: Option<String>,
}

/// Inline base64 data, else a file's text.
fn data_or_file(
    data: &Option<String>,
    file: &Option<String>,
    what: &str,
) -> Result<Option<String>, String> {
    match (data, file) {
        (Some(d), _) => Ok(Some(
            base64::engine::general_purpose::STANDARD
                .decode(d.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or(format!("{what}-data is not base64 PEM"))?,
        )),
        (None, Some(p)) => Ok(Some(
            std::fs::read_to_string(p).map_err(|e| format!("{what} {p:?}: {e}"))?,
        )),
        (None, None) => Ok(None),
    }
}

#[derive(Deserialize)]
struct Context {
    cluster: String,
    #[serde(default)]
    user: Option<String>,
}

/// The settings of `context` (default: `current-context`) in `text`.
pub fn settings(text: &str, context: Option<&str>) -> Result<Resolved, String> {
    let t = text.trim_start();
    let c: Config = if t.starts_with('{') {
        serde_json::from_str(t).map_err(|e| format!("not a kubeconfig (JSON): {e}"))?
    } else {
        serde_norway::from_str(t).map_err(|e| format!("not a kubeconfig (YAML): {e}"))?
    };
    let want = context
        .map(str::to_string)
        .or(c.current_context.clone())
        .ok_or("no context given and no current-context")?;
    let ctx = c
        .contexts
        .iter()
        .find(|x| x.name == want)
        .ok_or_else(|| format!("no context {want:?}"))?;
    let cluster = c
        .clusters
        .iter()
        .find(|x| x.name == ctx.item.cluster)
        .ok_or_else(|| format!("context {want:?}: no cluster {:?}", ctx.item.cluster))?;
    let user = match &ctx.item.user {
        Some(u) => Some(
            c.users
                .iter()
                .find(|x| &x.name == u)
                .ok_or_else(|| format!("context {want:?}: no user {u:?}"))?,
        ),
        None => None,
    };
    let ca_cert = data_or_file(
        &cluster.item.certificate_authority_data,
        &cluster.item.certificate_authority,
        "certificate-authority",
    )?;
    let (client_cert, client_key) = match user {
        Some(u) => (
            data_or_file(
                &u.item.client_certificate_data,
                &u.item.client_certificate,
                "client-certificate",
            )?,
            data_or_file(&u.item.client_key_data, &u.item.client_key, "client-key")?,
        ),
        None => (None, None),
    };
    Ok(Resolved {
        host: cluster.item.server.clone(),
        token: user.and_then(|u| u.item.token.clone()),
        ca_cert,
        insecure: cluster.item.insecure_skip_tls_verify,
        client_cert,
        client_key,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn yaml_as_kubectl_writes_it() {
        let y = "apiVersion: v1
kind: Config
clusters:
- cluster:
    server: https://10.0.0.10:6443
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==
  name: lab
contexts:
- context:
    cluster: lab
    namespace: default
    user: admin@lab
  name: admin@lab
current-context: admin@lab
users:
- name: admin@lab
  user:
    token: abc
";
        let r = settings(y, None).unwrap();
        assert_eq!(r.host, "https://10.0.0.10:6443");
        assert_eq!(r.token.as_deref(), Some("abc"));
        assert!(
            r.ca_cert
                .unwrap()
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
        assert!(
            settings(y, Some("nope"))
                .unwrap_err()
                .contains("no context")
        );
        assert!(settings("- a\n- b\n", None).unwrap_err().contains("YAML"));
    }
}
