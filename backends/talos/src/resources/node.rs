//! What the node-facing resources share (machine configuration apply,
//! bootstrap, kubeconfig, and the ephemeral kubeconfig): the admin
//! [`ClientConfig`], the `node`/`endpoint`/`client_configuration`
//! attributes, where to connect (`target`), the fail-fast `probe`, how a
//! [`TalosError`] becomes a diagnostic, and `version_of`.

use std::time::Duration;

use labforge_framework::schema::{Attribute, Nesting, Schema, modifiers, validators};
use labforge_framework::{AttributePath, Ctx, Error, PlanChange, Result, Value};
use serde::{Deserialize, Serialize};

use crate::client::{Client, Credentials, ErrorKind, NodeState, TalosError, Target};

/// `client_configuration`: the admin client certificate, as
/// `homelab_talos_machine_secrets` gives it (each value base64 of PEM; raw
/// PEM is accepted too). No `Debug`: it holds a private key.
#[derive(Clone, Serialize, Deserialize)]
pub struct ClientConfig {
    /// The Talos API CA certificate (`os` CA).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub ca_certificate: String,
    /// The client certificate (role `os:admin`).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub client_certificate: String,
    /// The client certificate's private key.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub client_key: String,
}

/// A null (unset) nested value reads as empty: [`ClientConfig::credentials`]
/// then says which is missing.
fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

impl ClientConfig {
    /// The credentials the client uses; an error points at `client_configuration`.
    pub(crate) fn credentials(&self) -> Result<Credentials> {
        for (name, v) in [
            ("ca_certificate", &self.ca_certificate),
            ("client_certificate", &self.client_certificate),
            ("client_key", &self.client_key),
        ] {
            if v.trim().is_empty() {
                return Err(Error::new(
                    "Invalid client configuration",
                    format!(
                        "client_configuration.{name} is not set. Use the client_configuration \
                         of homelab_talos_machine_secrets (e.g. client_configuration = \
                         homelab_talos_machine_secrets.this.client_configuration)."
                    ),
                )
                .at(AttributePath::attr("client_configuration").join_attr(name)));
            }
        }
        Credentials::from_client_configuration_b64(
            &self.ca_certificate,
            &self.client_certificate,
            &self.client_key,
        )
        .map_err(|e| {
            Error::new(
                "Invalid client configuration",
                format!(
                    "client_configuration: {e}. Use the client_configuration of \
                     homelab_talos_machine_secrets (base64 of PEM, or PEM)."
                ),
            )
            .at(AttributePath::attr("client_configuration"))
        })
    }
}

/// The client certificate of the talosconfig (`TALOSCONFIG`), as
/// `client_configuration` holds it; `None` without one.
pub(crate) fn talosconfig_client(client: &Client) -> Result<Option<ClientConfig>> {
    let Some(path) = client.talosconfig() else {
        return Ok(None);
    };
    let ctx = crate::talosconfig::load(path)?;
    if !ctx.has_certificate() {
        return Ok(None);
    }
    Ok(Some(ClientConfig {
        ca_certificate: ctx.ca,
        client_certificate: ctx.crt,
        client_key: ctx.key,
    }))
}

/// `node`, `endpoint` and `client_configuration`, shared by the node-facing types.
pub(crate) fn node_attrs(schema: Schema, node_replaces: bool) -> Schema {
    let mut node = Attribute::string()
        .required()
        .describe(
            "The node's address (IP or name, optionally `:port`; port 50000 by default): \
             the node the operation is for.",
        )
        .validator(validators::length_between(1, 253));
    if node_replaces {
        node = node.plan_modifier(modifiers::requires_replace());
    }
    schema
        .attribute("node", node)
        .attribute(
            "endpoint",
            Attribute::string()
                .optional()
                .computed()
                .describe(
                    "The Talos API endpoint to connect to (default: `node`). When it differs \
                     from `node`, the endpoint's apid proxies to the node (gRPC metadata `node`).",
                )
                .validator(validators::length_between(1, 253)),
        )
        .attribute("client_configuration", client_configuration_attr())
}

/// What to fill in for `client_configuration` after an import (the
/// importable node resources set it on their attribute).
pub(crate) const CLIENT_CONFIGURATION_AFTER_IMPORT: &str = "the cluster's client certificate: \
    `homelab_talos_machine_secrets.<name>.client_configuration`, or your talosconfig's `ca`, \
    `crt` and `key` (base64) as an object.";

/// The `client_configuration` attribute.
pub(crate) fn client_configuration_attr() -> Attribute {
    Attribute::nested(
        Nesting::Single,
        [
            (
                "ca_certificate",
                Attribute::string()
                    .optional()
                    .describe("The Talos API CA certificate (base64 of PEM)."),
            ),
            (
                "client_certificate",
                Attribute::string()
                    .optional()
                    .describe("The admin client certificate (base64 of PEM)."),
            ),
            (
                "client_key",
                Attribute::string()
                    .optional()
                    .sensitive()
                    .describe("The admin client key (base64 of PEM)."),
            ),
        ],
    )
    .required()
    .sensitive()
    .describe(
        "The admin client configuration, e.g. \
         `homelab_talos_machine_secrets.this.client_configuration` (all three values are \
         needed; they are optional in the schema only so that configuration generated for an \
         import, `client_configuration = {} # sensitive`, is valid until it is filled in).",
    )
}

/// Plan `endpoint` as `node` when it is not configured.
pub(crate) fn plan_endpoint(plan: &mut PlanChange<'_>) {
    if plan.config_attr("endpoint").is_null() {
        let node = plan.planned_attr("node").clone();
        plan.set("endpoint", node);
    }
}

/// The node an import ID names (its address, e.g. `10.0.0.11`), checked:
/// not empty, and not in maintenance mode, which only the insecure probe
/// can tell without credentials (`maintenance` is the error then: the node
/// runs no configuration, so there is nothing to import).
pub(crate) async fn import_node<'a>(
    client: &Client,
    id: &'a str,
    maintenance: impl FnOnce(&str) -> Error,
) -> Result<&'a str> {
    let node = id.trim();
    if node.is_empty() {
        return Err(Error::new(
            "Invalid import ID",
            "expected the node's address, e.g. `10.0.0.11`",
        ));
    }
    if let Ok(NodeState::Maintenance) = client.node_state(&target(node, None), None).await {
        return Err(maintenance(node));
    }
    Ok(node)
}

/// Where to connect for `node` through `endpoint`.
pub(crate) fn target(node: &str, endpoint: Option<&str>) -> Target {
    let endpoint = endpoint.filter(|e| !e.is_empty()).unwrap_or(node);
    Target {
        endpoint: endpoint.to_string(),
        node: (endpoint != node).then(|| node.to_string()),
    }
}

/// The attribute naming where the provider connects: `endpoint` when it is
/// set apart from `node`, else `node`.
pub(crate) fn endpoint_attr(node: &str, endpoint: Option<&str>) -> AttributePath {
    match endpoint {
        Some(e) if !e.is_empty() && e != node => AttributePath::attr("endpoint"),
        _ => AttributePath::attr("node"),
    }
}

/// A failed probe of the node, as a diagnostic: where the provider
/// connected when nothing answered, `client_configuration` when TLS failed.
pub(crate) fn unreachable(
    summary: &str,
    node: &str,
    endpoint: Option<&str>,
    e: &TalosError,
) -> Error {
    let t = target(node, endpoint);
    match e.kind() {
        ErrorKind::Tls | ErrorKind::CertificateRejected => Error::new(
            summary,
            format!(
                "{node} (at {}): {e}. Is client_configuration the admin certificate of this \
                 cluster's secrets (homelab_talos_machine_secrets)?",
                t.endpoint
            ),
        )
        .at(AttributePath::attr("client_configuration")),
        ErrorKind::InvalidInput => {
            Error::new(summary, e.to_string()).at(endpoint_attr(node, endpoint))
        }
        ErrorKind::Status => node_error(summary, node, e),
        _ => {
            let at = endpoint_attr(node, endpoint);
            Error::new(
                summary,
                format!(
                    "The Talos API at {} did not answer: {e}. Check `{}` (the node's address, \
                     port 50000 by default) and that the node is up.",
                    t.endpoint,
                    at_name(&at),
                ),
            )
            .at(at)
        }
    }
}

fn at_name(p: &AttributePath) -> String {
    p.to_string()
}

/// A refusal of the node, as a diagnostic naming the node.
pub(crate) fn node_error(summary: &str, node: &str, e: &TalosError) -> Error {
    if e.is_retryable() || e.may_have_landed() {
        // The node was busy or the connection broke: nothing is wrong with
        // the configuration, and the next run reads the node's state first.
        return Error::new(
            summary,
            format!(
                "{node}: {e}. This can be temporary (the node was busy or rebooting, or the \
                 connection broke): check that the node is up, then run `terraform apply` again."
            ),
        );
    }
    Error::new(summary, format!("{node}: {e}"))
}

/// Sleep between polls, cancelled when Terraform stops.
pub(crate) async fn pause<C>(ctx: &Ctx<C>, d: Duration) -> Result<()> {
    ctx.until_stopped(async {
        tokio::time::sleep(d).await;
        Ok(())
    })
    .await
}

/// How long [`probe`] keeps asking a node that answers but fails on the way.
const PROBE_RETRY: Duration = Duration::from_secs(20);

/// Whether [`probe`] asks again after this failure: the node answered
/// (or took the connection) but the call failed on the way, `Unavailable`
/// or a broken connection, which a second ask usually gets past. Not when
/// nothing answers at the address (fail-fast: a wrong `node` or a node
/// that is down is reported at once), nor on a final answer.
fn probe_again(e: &TalosError) -> bool {
    e.is_retryable() && e.kind() != ErrorKind::Unreachable
}

/// The node's state, fail-fast: a node that does not answer is reported at
/// once (the client's connect timeout); one that fails on the way is asked
/// again for up to [`PROBE_RETRY`].
pub(crate) async fn probe(
    client: &Client,
    summary: &str,
    node: &str,
    endpoint: Option<&str>,
    creds: &Credentials,
) -> Result<NodeState> {
    let t = target(node, endpoint);
    let deadline = std::time::Instant::now() + PROBE_RETRY;
    let mut wait = Duration::from_millis(250);
    loop {
        match client.node_state(&t, Some(creds)).await {
            Err(e) if probe_again(&e) && std::time::Instant::now() + wait < deadline => {
                tracing::debug!(node, error = %e, "probing the node again");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(4));
            }
            r => return r.map_err(|e| unreachable(summary, node, endpoint, &e)),
        }
    }
}

/// `major.minor` of a Talos tag (`v1.14.0-rc.1` -> (1, 14)).
pub(crate) fn version_of(tag: &str) -> Option<(u32, u32)> {
    let t = tag.trim().trim_start_matches('v');
    let mut parts = t.split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// A `client_configuration` value, when wholly known.
pub(crate) fn client_config_of(v: &Value) -> Option<ClientConfig> {
    let get = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    Some(ClientConfig {
        ca_certificate: get("ca_certificate")?,
        client_certificate: get("client_certificate")?,
        client_key: get("client_key")?,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_transient_failure_says_to_apply_again() {
        let busy = TalosError::from_status(&tonic::Status::unavailable("busy"));
        let e = node_error("Unable to x", "cp1", &busy);
        let text = format!("{e:?}");
        assert!(
            text.contains("Unavailable") && text.contains("run `terraform apply` again"),
            "{text}"
        );
        assert!(probe_again(&busy));
        let refused = TalosError::from_status(&tonic::Status::invalid_argument("bad config"));
        let text = format!("{:?}", node_error("Unable to x", "cp1", &refused));
        assert!(
            text.contains("bad config") && !text.contains("again"),
            "{text}"
        );
        assert!(!probe_again(&refused));
        let down = TalosError::new(ErrorKind::Unreachable, "connection refused");
        assert!(!probe_again(&down));
        assert!(probe_again(&TalosError::new(
            ErrorKind::Transport,
            "closed"
        )));
    }

    #[test]
    fn targets_and_versions() {
        let t = target("10.0.0.5", None);
        assert_eq!(t.endpoint, "10.0.0.5");
        assert!(t.node.is_none());
        let t = target("10.0.0.5", Some("10.0.0.2"));
        assert_eq!(t.endpoint, "10.0.0.2");
        assert_eq!(t.node.as_deref(), Some("10.0.0.5"));
        assert_eq!(target("a", Some("a")).node, None);
        assert_eq!(
            endpoint_attr("a", Some("b")),
            AttributePath::attr("endpoint")
        );
        assert_eq!(endpoint_attr("a", None), AttributePath::attr("node"));
        assert_eq!(version_of("v1.14.0-rc.1"), Some((1, 14)));
        assert_eq!(version_of("v1.13.9"), Some((1, 13)));
        assert_eq!(version_of("garbage"), None);
    }

    #[test]
    fn client_configuration_from_a_value() {
        let v = Value::object([
            ("ca_certificate", Value::string("a")),
            ("client_certificate", Value::string("b")),
            ("client_key", Value::string("c")),
        ]);
        let cc = client_config_of(&v).unwrap();
        assert_eq!(cc.client_key, "c");
        let v = Value::object([("ca_certificate", Value::unknown())]);
        assert!(client_config_of(&v).is_none());
    }
}
