//! COSI resources read through the `State` service: the node's machine
//! configuration as it was submitted, its machine type, its services'
//! state, its hostname and its cluster (what `talosctl get
//! machineconfig|machinetype|services|hostname|infos` reads).

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
/// The node's hostname (siderolabs/talos
/// pkg/machinery/resources/network/hostname_status.go, what `talosctl get
/// hostname` reads): ID `hostname`, namespace `network`. Its resource
/// definition sets no `Sensitivity`, and the COSI API's access policy
/// (internal/app/resources/access.go `AccessPolicy`) asks `os:admin` only of
/// sensitive types: an `os:reader` certificate reads it.
const HOSTNAME_STATUS_TYPE: &str = "HostnameStatuses.net.talos.dev";
/// The cluster's ID and name (siderolabs/talos
/// pkg/machinery/resources/cluster/info.go): ID `current`, namespace
/// `cluster`, not sensitive (`os:reader`), derived from the running
/// configuration by `cluster.InfoController`.
const CLUSTER_INFO_TYPE: &str = "Infos.cluster.talos.dev";

/// The node's hostname as `HostnameStatuses` reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
pub struct HostnameStatus {
    /// The host name (no domain).
    #[serde(default)]
    pub hostname: String,
    /// The domain name (empty without one).
    #[serde(default)]
    pub domainname: String,
}

/// The cluster as `Infos.cluster.talos.dev` reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
pub struct ClusterInfo {
    /// The cluster ID (discovery's identity; may be empty).
    #[serde(default, rename = "clusterId")]
    pub cluster_id: String,
    /// The cluster name (`cluster.clusterName`, `KubeClusterConfig.clusterName`).
    #[serde(default, rename = "clusterName")]
    pub cluster_name: String,
}

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
        self.reader_get(
            target,
            creds,
            (RUNTIME_NAMESPACE, SERVICE_TYPE, service),
            &format!("{service} service"),
        )
        .await
    }
}

impl Client {
    /// The node's hostname from COSI `HostnameStatuses` (readable with an
    /// `os:reader` certificate); `None` when the node has none (or an empty
    /// one).
    pub async fn hostname_status(
        &self,
        target: &Target,
        creds: &Credentials,
    ) -> Result<Option<HostnameStatus>, TalosError> {
        let status: Option<HostnameStatus> = self
            .reader_get(
                target,
                creds,
                ("network", HOSTNAME_STATUS_TYPE, "hostname"),
                "hostname",
            )
            .await?;
        Ok(status.filter(|h| !h.hostname.trim().is_empty()))
    }

    /// The cluster's ID and name from COSI `Infos.cluster.talos.dev`
    /// (readable with an `os:reader` certificate); `None` when the node has
    /// none (no cluster configured, or a Talos before the resource).
    pub async fn cluster_info(
        &self,
        target: &Target,
        creds: &Credentials,
    ) -> Result<Option<ClusterInfo>, TalosError> {
        let info: Option<ClusterInfo> = self
            .reader_get(
                target,
                creds,
                ("cluster", CLUSTER_INFO_TYPE, "current"),
                "cluster info",
            )
            .await?;
        Ok(info.filter(|c| !c.cluster_name.trim().is_empty()))
    }

    /// COSI Get of one resource with the caller's certificate, its YAML spec
    /// decoded as `T` (`what` names it in errors); `None` when it is absent.
    async fn reader_get<T: serde::de::DeserializeOwned>(
        &self,
        target: &Target,
        creds: &Credentials,
        resource: (&str, &str, &str),
        what: &str,
    ) -> Result<Option<T>, TalosError> {
        let spec = self
            .cosi_get(target, Auth::Mtls(creds), "Get", resource)
            .await?;
        spec.map(|s| decode_yaml_spec::<T>(&s, what)).transpose()
    }
}

/// A COSI resource's YAML spec decoded as `T` (`what` names it in errors).
fn decode_yaml_spec<T: serde::de::DeserializeOwned>(
    spec: &proto::cosi::resource::Spec,
    what: &str,
) -> Result<T, TalosError> {
    serde_norway::from_str::<T>(&spec.yaml_spec).map_err(|_| {
        TalosError::new(
            ErrorKind::Response,
            format!("the node's {what} resource could not be read"),
        )
    })
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

    fn yaml(text: &str) -> proto::cosi::resource::Spec {
        proto::cosi::resource::Spec {
            proto_spec: vec![],
            yaml_spec: text.into(),
        }
    }

    #[test]
    fn hostname_and_cluster_info_specs_decode() {
        let h: HostnameStatus = decode_yaml_spec(
            &yaml("hostname: cp-1\ndomainname: lab.example\n"),
            "hostname",
        )
        .unwrap();
        assert_eq!(
            h,
            HostnameStatus {
                hostname: "cp-1".into(),
                domainname: "lab.example".into()
            }
        );
        let h: HostnameStatus = decode_yaml_spec(&yaml("hostname: w\n"), "hostname").unwrap();
        assert_eq!((h.hostname.as_str(), h.domainname.as_str()), ("w", ""));
        let c: ClusterInfo = decode_yaml_spec(
            &yaml("clusterId: abc=\nclusterName: \"lab\"\n"),
            "cluster info",
        )
        .unwrap();
        assert_eq!(
            (c.cluster_id.as_str(), c.cluster_name.as_str()),
            ("abc=", "lab")
        );
        let e =
            decode_yaml_spec::<HostnameStatus>(&yaml("- not\n- a map\n"), "hostname").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Response);
        assert!(e.to_string().contains("hostname resource"), "{e}");
    }

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
