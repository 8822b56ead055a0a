//! The machine API calls (`MachineService`): version and node state, apply,
//! bootstrap, services, kubeconfig, reset.

use super::proto::machine::machine_service_client::MachineServiceClient;
use super::proto::machine::{ApplyConfigurationRequest, BootstrapRequest};
use super::transport::Transport;
use super::{
    ApplyMode, ApplyRequest, ApplyResult, Auth, Client, Credentials, ErrorKind, NodeState,
    ResetRequest, ResetResult, ServiceStatus, TalosError, Target, VersionInfo, archive,
    check_metadata, empty_answer,
};

/// Whether the insecure `Version` of [`Client::node_state`] failed in a way
/// an mTLS attempt cannot change: the node is unreachable, or it answered
/// with a gRPC status, so it took a connection without a client certificate
/// (a configured node refuses those at the TLS handshake: it is in
/// maintenance mode, and the status, e.g. `Unavailable`, is the answer).
fn insecure_failure_is_final(e: &TalosError) -> bool {
    matches!(e.kind(), ErrorKind::Unreachable | ErrorKind::Status)
}

/// The error to report when both `Version` calls of [`Client::node_state`]
/// failed: a server certificate not of the cluster's CA on the mTLS attempt
/// is what a node in maintenance mode (self-signed) shows, so when the
/// insecure attempt failed on the way (the connection broke, no answer in
/// time: retryable) that failure is the one to report and retry, not a
/// certificate problem.
fn probe_error(insecure: TalosError, mtls: TalosError) -> TalosError {
    if mtls.kind() == ErrorKind::Tls && insecure.is_retryable() {
        insecure
    } else {
        mtls
    }
}

impl Client {
    fn machine(
        &self,
        target: &Target,
        auth: Auth<'_>,
    ) -> Result<MachineServiceClient<Transport>, TalosError> {
        let (transport, origin) = self.transport(target, auth)?;
        Ok(MachineServiceClient::with_origin(transport, origin))
    }

    /// `MachineService/Version`: the Talos version, and whether the node is configured.
    pub async fn version(
        &self,
        target: &Target,
        auth: Auth<'_>,
    ) -> Result<VersionInfo, TalosError> {
        let mut client = self.machine(target, auth)?;
        let request = self.request(target, ())?;
        let response = self
            .timed(target, "Version", async {
                Ok(client.version(request).await?.into_inner())
            })
            .await?;
        let message = response
            .messages
            .into_iter()
            .next()
            .ok_or_else(|| empty_answer("Version"))?;
        check_metadata(message.metadata.as_ref())?;
        Ok(VersionInfo {
            tag: message.version.map(|v| v.tag).unwrap_or_default(),
            configured: message.features.is_some_and(|f| f.rbac),
        })
    }

    /// Whether the node is in maintenance mode or configured: an insecure
    /// `Version` first (a maintenance node answers it without `features.rbac`);
    /// if the node wants a client certificate, or says it is configured, an mTLS
    /// `Version` with `creds`.
    pub async fn node_state(
        &self,
        target: &Target,
        creds: Option<&Credentials>,
    ) -> Result<NodeState, TalosError> {
        let insecure = self.version(target, Auth::Insecure).await;
        match (insecure, creds) {
            (Ok(v), _) if !v.configured => Ok(NodeState::Maintenance),
            (Ok(v), None) => Ok(NodeState::Configured { tag: v.tag }),
            (Err(e), _) if insecure_failure_is_final(&e) => Err(e),
            (Err(e), None) => Err(e),
            (insecure, Some(creds)) => {
                // The endpoint may be a configured node forwarding to one
                // still in maintenance (`Target::node`): its answer then
                // lacks `features` too.
                let v = match (self.version(target, Auth::Mtls(creds)).await, insecure) {
                    (Ok(v), _) => v,
                    (Err(mtls), Err(insecure)) => return Err(probe_error(insecure, mtls)),
                    (Err(mtls), Ok(_)) => return Err(mtls),
                };
                if !v.configured {
                    return Ok(NodeState::Maintenance);
                }
                Ok(NodeState::Configured { tag: v.tag })
            }
        }
    }

    /// `MachineService/ApplyConfiguration`.
    pub async fn apply_configuration(
        &self,
        target: &Target,
        auth: Auth<'_>,
        req: &ApplyRequest,
    ) -> Result<ApplyResult, TalosError> {
        let mut client = self.machine(target, auth)?;
        let message = ApplyConfigurationRequest {
            data: req.data.clone(),
            mode: req.mode.to_proto().into(),
            dry_run: req.dry_run,
            try_mode_timeout: req.try_timeout.map(|d| prost_types::Duration {
                seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
            }),
        };
        let request = self.request(target, message)?;
        let response = self
            .timed(target, "ApplyConfiguration", async {
                Ok(client.apply_configuration(request).await?.into_inner())
            })
            .await?;
        let message = response
            .messages
            .into_iter()
            .next()
            .ok_or_else(|| empty_answer("ApplyConfiguration"))?;
        check_metadata(message.metadata.as_ref())?;
        Ok(ApplyResult {
            mode: ApplyMode::from_proto(message.mode).unwrap_or(req.mode),
            mode_details: message.mode_details,
            warnings: message.warnings,
        })
    }

    /// `MachineService/Bootstrap` (etcd on the first control plane node).
    pub async fn bootstrap(&self, target: &Target, creds: &Credentials) -> Result<(), TalosError> {
        let mut client = self.machine(target, Auth::Mtls(creds))?;
        let request = self.request(target, BootstrapRequest::default())?;
        let response = self
            .timed(target, "Bootstrap", async {
                Ok(client.bootstrap(request).await?.into_inner())
            })
            .await?;
        for message in &response.messages {
            check_metadata(message.metadata.as_ref())?;
        }
        Ok(())
    }

    /// `MachineService/ServiceList`: the node's services, state and health
    /// (`os:reader`).
    pub async fn services(
        &self,
        target: &Target,
        creds: &Credentials,
    ) -> Result<Vec<ServiceStatus>, TalosError> {
        let mut client = self.machine(target, Auth::Mtls(creds))?;
        let request = self.request(target, ())?;
        let response = self
            .timed(target, "ServiceList", async {
                Ok(client.service_list(request).await?.into_inner())
            })
            .await?;
        let message = response
            .messages
            .into_iter()
            .next()
            .ok_or_else(|| empty_answer("ServiceList"))?;
        check_metadata(message.metadata.as_ref())?;
        Ok(message
            .services
            .into_iter()
            .map(|s| {
                let health = s.health.unwrap_or_default();
                ServiceStatus {
                    id: s.id,
                    state: s.state,
                    healthy: !health.unknown && health.healthy,
                    health_unknown: health.unknown,
                    last_message: health.last_message,
                }
            })
            .collect())
    }

    /// `MachineService/Kubeconfig`: the admin kubeconfig (the stream is a
    /// gzip'd tar holding the file `kubeconfig`).
    pub async fn kubeconfig(
        &self,
        target: &Target,
        creds: &Credentials,
    ) -> Result<String, TalosError> {
        let mut client = self.machine(target, Auth::Mtls(creds))?;
        let request = self.request(target, ())?;
        let data = self
            .timed(target, "Kubeconfig", async {
                let mut stream = client.kubeconfig(request).await?.into_inner();
                let mut data = Vec::new();
                while let Some(chunk) = stream.message().await? {
                    check_metadata(chunk.metadata.as_ref())?;
                    data.extend_from_slice(&chunk.bytes);
                }
                Ok(data)
            })
            .await?;
        archive::kubeconfig_from_tar_gz(&data)
    }

    /// `MachineService/Reset` (`os:admin`). Talos answers at once and then
    /// runs the reset sequence (siderolabs/talos `v1alpha1_server.go`
    /// `Reset`): drain, leave etcd if graceful, wipe, then reboot or power
    /// off. Follow it with [`Client::wait_for_maintenance`] or
    /// [`Client::wait_until_down`].
    pub async fn reset(
        &self,
        target: &Target,
        creds: &Credentials,
        req: &ResetRequest,
    ) -> Result<ResetResult, TalosError> {
        let mut client = self.machine(target, Auth::Mtls(creds))?;
        let request = self.request(target, req.to_proto())?;
        let response = self
            .timed(target, "Reset", async {
                Ok(client.reset(request).await?.into_inner())
            })
            .await?;
        let message = response
            .messages
            .into_iter()
            .next()
            .ok_or_else(|| empty_answer("Reset"))?;
        check_metadata(message.metadata.as_ref())?;
        Ok(ResetResult {
            actor_id: message.actor_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_or_no_connection_on_the_insecure_probe_is_the_answer() {
        let status = TalosError::from_status(&tonic::Status::unavailable("busy"));
        assert!(insecure_failure_is_final(&status));
        assert!(insecure_failure_is_final(&TalosError::new(
            ErrorKind::Unreachable,
            "connection refused"
        )));
        // A configured node refuses the connection without a client
        // certificate: the mTLS attempt decides.
        assert!(!insecure_failure_is_final(&TalosError::new(
            ErrorKind::CertificateRejected,
            "certificate required"
        )));
        assert!(!insecure_failure_is_final(&TalosError::new(
            ErrorKind::Transport,
            "connection closed"
        )));
    }

    #[test]
    fn a_broken_insecure_probe_is_not_reported_as_a_certificate_problem() {
        let broken = || TalosError::new(ErrorKind::Transport, "the connection was closed");
        let untrusted = || TalosError::new(ErrorKind::Tls, "UnknownIssuer");
        let chosen = probe_error(broken(), untrusted());
        assert_eq!(chosen.kind(), ErrorKind::Transport);
        assert!(chosen.is_retryable());
        // A certificate the node refuses on the insecure attempt, then an
        // untrusted server: a certificate problem indeed.
        let refused = TalosError::new(ErrorKind::CertificateRejected, "certificate required");
        assert_eq!(probe_error(refused, untrusted()).kind(), ErrorKind::Tls);
        // Any other mTLS failure is reported as it is.
        let timeout = TalosError::new(ErrorKind::Transport, "no answer");
        assert_eq!(probe_error(broken(), timeout).message(), "no answer");
    }
}
