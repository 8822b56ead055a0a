//! COSI resources read through the `State` service: the node's machine
//! configuration as it was submitted.

use super::proto;
use super::proto::cosi::resource::GetRequest;
use super::proto::cosi::resource::state_client::StateClient;
use super::{Auth, Client, Credentials, ErrorKind, TalosError, Target, empty_answer};

/// The COSI resource type of the machine configuration
/// (siderolabs/talos pkg/machinery/resources/config/machine_config.go).
const MACHINE_CONFIG_TYPE: &str = "MachineConfigs.config.talos.dev";
/// Its namespace.
const CONFIG_NAMESPACE: &str = "config";

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
        let (transport, origin) = self.transport(target, Auth::Mtls(creds))?;
        let mut client = StateClient::with_origin(transport, origin);
        let request = self.request(
            target,
            GetRequest {
                namespace: CONFIG_NAMESPACE.to_string(),
                r#type: MACHINE_CONFIG_TYPE.to_string(),
                id: id.to_string(),
                options: None,
            },
        )?;
        let response = self
            .timed(target, "Get MachineConfig", async {
                match client.get(request).await {
                    Ok(r) => Ok(Some(r.into_inner())),
                    Err(status) => {
                        let e = TalosError::from_status(&status);
                        if e.is_not_found() { Ok(None) } else { Err(e) }
                    }
                }
            })
            .await?;
        let Some(response) = response else {
            return Ok(None);
        };
        let spec = response
            .resource
            .and_then(|r| r.spec)
            .ok_or_else(|| empty_answer("Get MachineConfig"))?;
        machine_config_text(&spec).map(Some)
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
