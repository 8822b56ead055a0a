//! Kubeconfig files (`clusters`, `users`, `contexts`, `current-context`),
//! read as JSON (valid kubeconfig: `kubectl config view --flatten -o json`).

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
    /// The user has a client certificate.
    pub client_cert: bool,
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
    if !t.starts_with('{') {
        return Err(
            "only JSON kubeconfigs are read (e.g. `kubectl config view --flatten -o json`); \
             this one looks like YAML"
                .into(),
        );
    }
    let c: Config = serde_json::from_str(t).map_err(|e| format!("not a kubeconfig: {e}"))?;
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
    let ca_cert = match (
        &cluster.item.certificate_authority_data,
        &cluster.item.certificate_authority,
    ) {
        (Some(d), _) => Some(
            base64::engine::general_purpose::STANDARD
                .decode(d.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or("certificate-authority-data is not base64 PEM")?,
        ),
        (None, Some(p)) => Some(
            std::fs::read_to_string(p).map_err(|e| format!("certificate-authority {p:?}: {e}"))?,
        ),
        (None, None) => None,
    };
    Ok(Resolved {
        host: cluster.item.server.clone(),
        token: user.and_then(|u| u.item.token.clone()),
        ca_cert,
        insecure: cluster.item.insecure_skip_tls_verify,
        client_cert: user.is_some_and(|u| {
            u.item.client_certificate_data.is_some() || u.item.client_certificate.is_some()
        }),
    })
}
