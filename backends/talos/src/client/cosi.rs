//! COSI resources read through the `State` service: the node's machine
//! configuration as it was submitted, its machine type, and its services'
//! state (what `talosctl get machineconfig|machinetype|services` reads).

use super::proto;
use super::proto::cosi::resource::GetRequest;
use super::proto::cosi::resource::state_client::StateClient;
use super::{Auth, Client, Credentials, ErrorKind, TalosError, Target, empty_answer};

/// The COSI resource type of the machine configuration
/// (siderolabs/talos pkg/machinery/resources/config/machine_config.go).
const MACHINE_CONFIG_TYPE: &str = "MachineConfigs.config.talos.dev";
/// Its namespace.
const CONFIG_NAMESPACE: &str = "config";
/// The machine type (siderolabs/talos pkg/machinery/resources/config/machine_type.go):
/// ID `machine-type`, namespace `config`, not sensitive (`os:reader`).
const MACHINE_TYPE_TYPE: &str = "MachineTypes.config.talos.dev";
/// A service's state (siderolabs/talos pkg/machinery/resources/v1alpha1/service.go):
/// ID the service, namespace `runtime`, not sensitive (`os:reader`).
const SERVICE_TYPE: &str = "Services.v1alpha1.talos.dev";
/// The namespace of [`SERVICE_TYPE`].
const RUNTIME_NAMESPACE: &str = "runtime";

/// A service as the COSI `Services` resource reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
pub struct ServiceState {
    /// The service runs.
    #[serde(default)]
    pub running: bool,
    /// Its last health check passed.
    #[serde(default)]
    pub healthy: bool,
    /// Its health is not checked (yet).
    #[serde(default)]
    pub unknown: bool,
}

impl Client {
    /// The node's machine configuration as it was submitted (COSI
    /// `MachineConfigs.config.talos.dev` in namespace `config`): `id` is
    /// `v1alpha1` (running) or `persistent` (what the next boot uses). `None`
    /// when the node has no such resource.
    pub async fn machine_config(
        &self,
        target: &Target,
        creds: &Credentials,
        id: &str,
    ) -> Result<Option<String>, TalosError> {
        let spec = self
            .cosi_get(
                target,
                Auth::Mtls(creds),
                "Get MachineConfig",
                (CONFIG_NAMESPACE, MACHINE_CONFIG_TYPE, id),
            )
            .await?;
        spec.as_ref().map(machine_config_text).transpose()
    }

    /// COSI `Get` of one resource's spec (`what` names the call in errors);
    /// `None` when the node has no such resource.
    async fn cosi_get(
        &self,
        target: &Target,
        auth: Auth<'_>,
        what: &str,
        (namespace, rtype, id): (&str, &str, &str),
    ) -> Result<Option<proto::cosi::resource::Spec>, TalosError> {
        let (transport, origin) = self.transport(target, auth)?;
        let mut client = StateClient::with_origin(transport, origin);
        let request = self.request(
            target,
            GetRequest {
                namespace: namespace.to_string(),
                r#type: rtype.to_string(),
                id: id.to_string(),
                options: None,
            },
        )?;
        let response = self
            .timed(target, what, async {
                match client.get(request).await {
                    Ok(r) => Ok(Some(r.into_inner())),
                    Err(status) => {
                        let e = TalosError::from_status(&status);
                        if e.is_not_found() { Ok(None) } else { Err(e) }
                    }
                }
            })
            .await?;
        match response {
            None => Ok(None),
            Some(r) => r
                .resource
                .and_then(|r| r.spec)
                .map(Some)
                .ok_or_else(|| empty_answer(what)),
        }
    }

    /// The node's machine type (`controlplane`, `worker`, ...) from COSI
    /// `MachineTypes` (readable with an `os:reader` certificate); `None`
    /// before a configuration is loaded.
    pub async fn machine_type(
        &self,
        target: &Target,
        creds: &Credentials,
    ) -> Result<Option<String>, TalosError> {
        let spec = self
            .cosi_get(
                target,
                Auth::Mtls(creds),
                "Get",
                (CONFIG_NAMESPACE, MACHINE_TYPE_TYPE, "machine-type"),
            )
            .await?;
        Ok(spec
            .map(|s| s.yaml_spec.trim().trim_matches('"').to_string())
            .filter(|t| !t.is_empty() && t != "unknown"))
    }

    /// A service's state from COSI `Services` (readable with an `os:reader`
    /// certificate); `None` when the node does not run that service.
    pub async fn service_state(
        &self,
        target: &Target,
        creds: &Credentials,
        service: &str,
    ) -> Result<Option<ServiceState>, TalosError> {
        let spec = self
            .cosi_get(
                target,
                Auth::Mtls(creds),
                "Get",
                (RUNTIME_NAMESPACE, SERVICE_TYPE, service),
            )
            .await?;
        spec.map(|s| {
            serde_norway::from_str::<ServiceState>(&s.yaml_spec).map_err(|_| {
                TalosError::new(
                    ErrorKind::Response,
                    format!("the node's {service} service resource could not be read"),
                )
            })
        })
        .transpose()
    }
}

/// The configuration text of a MachineConfig spec: the YAML as submitted from
/// the protobuf spec (`MachineConfigSpec.yaml_marshalled`), else the YAML spec.
fn machine_config_text(spec: &proto::cosi::resource::Spec) -> Result<String, TalosError> {
    use prost::Message as _;
    if !spec.proto_spec.is_empty() {
        let decoded =
            proto::resource::config::MachineConfigSpec::decode(spec.proto_spec.as_slice())
                .map_err(|_| {
                    TalosError::new(
                        ErrorKind::Response,
                        "the node's MachineConfig resource could not be decoded",
                    )
                })?;
        if !decoded.yaml_marshalled.is_empty() {
            return String::from_utf8(decoded.yaml_marshalled).map_err(|_| {
                TalosError::new(
                    ErrorKind::Response,
                    "the node's machine configuration is not UTF-8 text",
                )
            });
        }
    }
    if !spec.yaml_spec.is_empty() {
        return Ok(spec.yaml_spec.clone());
    }
    Err(TalosError::new(
        ErrorKind::Response,
        "the node's MachineConfig resource has an empty spec",
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use prost::Message as _;

    use super::*;

    #[test]
    fn machine_config_text_prefers_the_bytes_as_submitted() {
        let yaml = "version: v1alpha1\nmachine:\n  type: controlplane\n";
        let spec = proto::cosi::resource::Spec {
            proto_spec: proto::resource::config::MachineConfigSpec {
                yaml_marshalled: yaml.as_bytes().to_vec(),
            }
            .encode_to_vec(),
            yaml_spec: "something else".into(),
        };
        assert_eq!(machine_config_text(&spec).unwrap(), yaml);
        let spec = proto::cosi::resource::Spec {
            proto_spec: vec![],
            yaml_spec: yaml.into(),
        };
        assert_eq!(machine_config_text(&spec).unwrap(), yaml);
        let spec = proto::cosi::resource::Spec::default();
        assert_eq!(
            machine_config_text(&spec).unwrap_err().kind(),
            ErrorKind::Response
        );
    }
}
