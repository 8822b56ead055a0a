//! The Talos API client: gRPC over TLS to apid (port 50000).
//!
//! Two ways to connect ([`Auth`]): insecure, for nodes in maintenance mode
//! (TLS without verification or client certificate, as `talosctl --insecure`),
//! and mTLS with the cluster's admin client configuration. Every call goes to
//! one endpoint; [`Target::node`] asks apid to forward it to another node
//! (gRPC metadata `node`, as `talosctl --nodes`).
//!
//! Errors are [`TalosError`]s, classified once ([`TalosError::is_retryable`]);
//! [`retry`] repeats an operation while the node is rebooting or not ready.
//!
//! Where things are: the domain types in `types`, the `MachineService` calls in
//! `machine`, COSI reads in `cosi`, timed calls and waits in `wait`; this
//! module keeps [`Client`], its settings, and what every call shares
//! (connection, `node` metadata, answer checks).

mod archive;
mod cosi;
mod endpoint;
mod error;
mod machine;
pub mod proto;
mod tls;
mod transport;
mod types;
mod wait;

use std::time::Duration;

use tonic::metadata::MetadataValue;

pub use cosi::{ClusterInfo, HostnameStatus, ServiceState};
pub use error::{ErrorKind, TalosError, retry};
pub use types::{
    ApplyMode, ApplyRequest, ApplyResult, Auth, Credentials, NodeState, ResetPartition,
    ResetRequest, ResetResult, ServiceStatus, Target, VersionInfo,
};

use endpoint::Endpoint;
use transport::Transport;

/// A Talos API client. Holds settings only: each call opens its own
/// connection, so clones are cheap and share nothing.
#[derive(Debug, Clone)]
pub struct Client {
    talosconfig: Option<std::path::PathBuf>,
    connect_timeout: Duration,
    request_timeout: Duration,
    progress_interval: Duration,
}

impl Default for Client {
    fn default() -> Self {
        Self {
            talosconfig: None,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            progress_interval: Duration::from_secs(5),
        }
    }
}

impl Client {
    /// A client with the default timeouts (connect 10 s, each call 60 s).
    pub fn new() -> Self {
        Self::default()
    }

    /// The talosconfig `homelab-discover` and the inventory data source
    /// read (`TALOSCONFIG`, as talosctl): which nodes to probe and the
    /// client certificate. Resources never use it (each carries its own
    /// `client_configuration`).
    pub fn with_talosconfig(mut self, path: Option<std::path::PathBuf>) -> Self {
        self.talosconfig = path;
        self
    }

    /// The talosconfig path given by [`Client::with_talosconfig`].
    pub fn talosconfig(&self) -> Option<&std::path::Path> {
        self.talosconfig.as_deref()
    }

    /// How long to wait for TCP and the TLS handshake before the endpoint is
    /// reported unreachable.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one call may take once connected.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How often a call still waiting for its answer is logged (default 5 s).
    pub fn with_progress_interval(mut self, every: Duration) -> Self {
        self.progress_interval = every;
        self
    }

    fn transport(
        &self,
        target: &Target,
        auth: Auth<'_>,
    ) -> Result<(Transport, tonic::codegen::http::Uri), TalosError> {
        let endpoint = Endpoint::parse(&target.endpoint)?;
        let tls = match auth {
            Auth::Insecure => tls::insecure_config()?,
            Auth::Mtls(creds) => tls::mtls_config(creds)?,
        };
        let transport = Transport::new(endpoint, tls, self.connect_timeout)?;
        let origin = transport.origin()?;
        Ok((transport, origin))
    }

    fn request<T>(&self, target: &Target, message: T) -> Result<tonic::Request<T>, TalosError> {
        let mut request = tonic::Request::new(message);
        if let Some(node) = target
            .node
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            let value: MetadataValue<_> = node.parse().map_err(|_| {
                TalosError::new(
                    ErrorKind::InvalidInput,
                    format!("invalid Talos node {node:?}"),
                )
            })?;
            request.metadata_mut().insert("node", value);
        }
        Ok(request)
    }
}

fn empty_answer(rpc: &str) -> TalosError {
    TalosError::new(
        ErrorKind::Response,
        format!("the node answered {rpc} with no message"),
    )
}

/// apid reports a failure of the node it forwarded to in `metadata.error`.
fn check_metadata(metadata: Option<&proto::common::Metadata>) -> Result<(), TalosError> {
    match metadata {
        Some(m) if !m.error.is_empty() => {
            let on = if m.hostname.is_empty() {
                String::new()
            } else {
                format!(" on {}", m.hostname)
            };
            Err(TalosError::new(
                ErrorKind::Response,
                format!("the call failed{on}: {}", m.error),
            ))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {

    use super::*;

    #[test]
    fn metadata_errors_are_reported() {
        assert!(check_metadata(None).is_ok());
        let m = proto::common::Metadata {
            hostname: "cp1".into(),
            error: "rpc error: code = Unavailable".into(),
        };
        assert_eq!(
            check_metadata(Some(&m)).unwrap_err().to_string(),
            "the call failed on cp1: rpc error: code = Unavailable"
        );
    }

    #[test]
    fn node_metadata_is_set_only_when_given() {
        let client = Client::new();
        let r = client.request(&Target::endpoint("10.0.0.5"), ()).unwrap();
        assert!(r.metadata().get("node").is_none());
        let t = Target {
            endpoint: "10.0.0.5".into(),
            node: Some("10.0.0.6".into()),
        };
        let r = client.request(&t, ()).unwrap();
        assert_eq!(r.metadata().get("node").unwrap(), "10.0.0.6");
        let t = Target {
            endpoint: "10.0.0.5".into(),
            node: Some("bad\nnode".into()),
        };
        assert_eq!(
            client.request(&t, ()).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
    }
}
