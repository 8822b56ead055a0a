//! The talosconfig (`TALOSCONFIG`, as talosctl reads it): the current
//! context's nodes and client certificate. Read by discovery and by the
//! imports of the node-facing resources; no I/O beyond reading the file.

use std::collections::BTreeMap;
use std::path::Path;

use labforge_framework::{Error, Result};
use serde::Deserialize;

use crate::client::Credentials;

/// The talosconfig fields read (siderolabs/talos
/// `pkg/machinery/client/config/config.go`: `context`, `contexts`, each
/// with `endpoints`, `nodes`, `ca`, `crt`, `key` (base64 of PEM)).
#[derive(Deserialize)]
struct File {
    #[serde(default)]
    context: String,
    #[serde(default)]
    contexts: BTreeMap<String, Raw>,
}

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    endpoints: Vec<String>,
    #[serde(default)]
    nodes: Vec<String>,
    #[serde(default)]
    ca: String,
    #[serde(default)]
    crt: String,
    #[serde(default)]
    key: String,
}

/// The current context. No `Debug`: it holds a private key.
pub struct Context {
    /// Its nodes, else its endpoints.
    pub nodes: Vec<String>,
    /// The OS CA certificate (base64 of PEM, as in the file).
    pub ca: String,
    /// The client certificate (base64 of PEM); empty when none.
    pub crt: String,
    /// The client key (base64 of PEM); empty when none.
    pub key: String,
}

impl Context {
    /// Whether it holds a client certificate.
    pub fn has_certificate(&self) -> bool {
        !self.crt.is_empty() && !self.key.is_empty()
    }

    /// Its credentials, `None` without a certificate.
    pub fn credentials(&self) -> Result<Option<Credentials>> {
        if !self.has_certificate() {
            return Ok(None);
        }
        Credentials::from_client_configuration_b64(&self.ca, &self.crt, &self.key)
            .map(Some)
            .map_err(|e| {
                Error::new(
                    "Invalid talosconfig",
                    format!(
                        "The talosconfig (TALOSCONFIG) holds an unusable client certificate: {e}."
                    ),
                )
            })
    }
}

/// The current context of the talosconfig at `path`.
pub fn load(path: &Path) -> Result<Context> {
    let bad = |why: String| {
        Error::new(
            "Invalid talosconfig",
            format!("The talosconfig {} (TALOSCONFIG) {why}", path.display()),
        )
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot be read: {e}.")))?;
    let file: File =
        serde_norway::from_str(&text).map_err(|_| bad("is not a talosconfig (YAML).".into()))?;
    let raw = file.contexts.get(&file.context).ok_or_else(|| {
        bad(format!(
            "has no context {:?} (its `context`): set `context` to one of its contexts.",
            file.context
        ))
    })?;
    let nodes = if raw.nodes.is_empty() {
        raw.endpoints.clone()
    } else {
        raw.nodes.clone()
    };
    Ok(Context {
        nodes,
        ca: raw.ca.clone(),
        crt: raw.crt.clone(),
        key: raw.key.clone(),
    })
}
