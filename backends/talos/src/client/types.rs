//! The client's domain types: where a call goes ([`Target`]), how it
//! connects ([`Auth`], [`Credentials`]), and the requests and answers of the
//! machine API ([`VersionInfo`], [`NodeState`], [`ApplyRequest`],
//! [`ApplyMode`], [`ApplyResult`], [`ServiceStatus`], [`ResetRequest`],
//! [`ResetResult`]). No I/O.

use std::time::Duration;

use base64::Engine as _;
use labforge_http::Secret;

use super::error::{ErrorKind, TalosError};
use super::proto::machine::{ResetPartitionSpec, apply_configuration_request};
use super::{proto, tls};

/// The client credentials of a Talos admin: the cluster's OS CA, the client
/// certificate, and its key (Ed25519 or ECDSA), all PEM.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The OS CA certificate(s) the node's server certificate must chain to.
    pub ca_pem: String,
    /// The client certificate (roles in its Organization, e.g. `os:admin`).
    pub cert_pem: String,
    /// The client certificate's private key.
    pub key_pem: Secret,
}

impl Credentials {
    /// Credentials from a client configuration as siderolabs/talos state holds
    /// it (`ca_certificate`, `client_certificate`, `client_key`: each base64 of
    /// PEM; raw PEM is accepted too). Checks that they can be used.
    pub fn from_client_configuration_b64(
        ca: &str,
        cert: &str,
        key: &str,
    ) -> Result<Self, TalosError> {
        let creds = Self {
            ca_pem: pem_text(ca, "ca_certificate")?,
            cert_pem: pem_text(cert, "client_certificate")?,
            key_pem: Secret::new(pem_text(key, "client_key")?),
        };
        tls::validate(&creds)?;
        Ok(creds)
    }
}

/// PEM text from base64-of-PEM or PEM; errors never quote the input.
fn pem_text(value: &str, what: &str) -> Result<String, TalosError> {
    let trimmed = value.trim();
    if trimmed.starts_with("-----BEGIN ") {
        return Ok(trimmed.to_string());
    }
    let invalid = || {
        TalosError::new(
            ErrorKind::InvalidInput,
            format!("the client configuration's {what} is neither base64 of PEM nor PEM"),
        )
    };
    let compact: String = trimmed.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    if !text.trim_start().starts_with("-----BEGIN ") {
        return Err(invalid());
    }
    Ok(text)
}

/// Where a call goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The apid to connect to: `host`, `host:port` or `[v6]:port` (port 50000 by default).
    pub endpoint: String,
    /// The node apid forwards the call to (gRPC metadata `node`), if not the endpoint itself.
    pub node: Option<String>,
}

impl Target {
    /// A call to `endpoint` itself.
    pub fn endpoint(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            node: None,
        }
    }
}

/// How to connect.
#[derive(Debug, Clone, Copy)]
pub enum Auth<'a> {
    /// Maintenance mode: TLS without verifying the server, no client certificate.
    Insecure,
    /// mTLS with the cluster's admin client configuration.
    Mtls(&'a Credentials),
}

/// What `Version` says about a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInfo {
    /// The Talos version, e.g. `v1.13.9`.
    pub tag: String,
    /// Whether a machine configuration is loaded (`features.rbac` is present
    /// only then: siderolabs/talos v1alpha1_server.go `Version`).
    pub configured: bool,
}

/// Whether a node still waits for its configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeState {
    /// Maintenance mode: no machine configuration yet; apply it insecurely.
    Maintenance,
    /// Configured: it answers mTLS with the cluster's client configuration.
    Configured {
        /// The Talos version the node runs.
        tag: String,
    },
}

/// How a configuration is applied (`ApplyConfigurationRequest.Mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyMode {
    /// Apply and reboot (deprecated upstream; `Unimplemented` on v1.14 outside maintenance).
    Reboot,
    /// Apply live if possible, else with a reboot (v1.13); always live on v1.14.
    Auto,
    /// Apply live, or fail if the change needs a reboot.
    NoReboot,
    /// Store it for the next reboot.
    Staged,
    /// Apply live and roll back after the try timeout unless confirmed.
    Try,
}

impl ApplyMode {
    pub(super) fn to_proto(self) -> apply_configuration_request::Mode {
        use apply_configuration_request::Mode;
        match self {
            Self::Reboot => Mode::Reboot,
            Self::Auto => Mode::Auto,
            Self::NoReboot => Mode::NoReboot,
            Self::Staged => Mode::Staged,
            Self::Try => Mode::Try,
        }
    }

    pub(super) fn from_proto(value: i32) -> Option<Self> {
        use apply_configuration_request::Mode;
        Some(match Mode::try_from(value).ok()? {
            Mode::Reboot => Self::Reboot,
            Mode::Auto => Self::Auto,
            Mode::NoReboot => Self::NoReboot,
            Mode::Staged => Self::Staged,
            Mode::Try => Self::Try,
        })
    }
}

/// An `ApplyConfiguration` call.
#[derive(Debug, Clone)]
pub struct ApplyRequest {
    /// The machine configuration (YAML, possibly several documents).
    pub data: Vec<u8>,
    /// How to apply it.
    pub mode: ApplyMode,
    /// Only validate and report what would change.
    pub dry_run: bool,
    /// For [`ApplyMode::Try`]: when to roll back (Talos's default is 1 minute).
    pub try_timeout: Option<Duration>,
}

/// The node's answer to `ApplyConfiguration`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyResult {
    /// The mode the node actually used (v1.14 answers `NoReboot` for `Auto`).
    pub mode: ApplyMode,
    /// The node's explanation, e.g. "Applied configuration without a reboot"
    /// (with a config diff for a dry run).
    pub mode_details: String,
    /// Configuration validation warnings.
    pub warnings: Vec<String>,
}

/// One service of a node (`ServiceInfo` of `ServiceList`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceStatus {
    /// The service ID, e.g. `etcd`, `kubelet`, `apid`.
    pub id: String,
    /// Talos's service state: `Preparing`, `Waiting`, `Running`, `Failed`, ...
    pub state: String,
    /// The last health check passed.
    pub healthy: bool,
    /// No health check has run yet (the service is starting).
    pub health_unknown: bool,
    /// The last health check's message.
    pub last_message: String,
}

/// A system disk partition (volume) to wipe on reset (`ResetPartitionSpec`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetPartition {
    /// The volume label: `STATE` (the machine configuration), `EPHEMERAL`
    /// (`/var`: etcd data, pods), `META`, ...
    pub label: String,
    /// Whether to wipe it.
    pub wipe: bool,
}

/// A `Reset` call (`ResetRequest`). Needs `os:admin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetRequest {
    /// Leave etcd first (control planes), after Talos's etcd checks. Talos
    /// refuses to remove the last etcd member, so a graceful reset of a
    /// single control plane fails (siderolabs/talos#2095).
    pub graceful: bool,
    /// Reboot after the wipe; otherwise the node powers off.
    pub reboot: bool,
    /// The partitions to wipe; empty wipes the whole system disk (the
    /// installation too).
    pub system_partitions_to_wipe: Vec<ResetPartition>,
}

impl ResetRequest {
    /// Wipes `STATE` and `EPHEMERAL` only, as siderolabs/terraform-provider-talos
    /// does on destroy (`talos_machine_configuration_apply_resource.go`
    /// `Delete`): the configuration and `/var` go, the installed Talos stays,
    /// so a node that reboots comes back in maintenance mode.
    pub fn state_and_ephemeral(graceful: bool, reboot: bool) -> Self {
        Self {
            graceful,
            reboot,
            system_partitions_to_wipe: ["STATE", "EPHEMERAL"]
                .into_iter()
                .map(|label| ResetPartition {
                    label: label.to_string(),
                    wipe: true,
                })
                .collect(),
        }
    }

    pub(super) fn to_proto(&self) -> proto::machine::ResetRequest {
        proto::machine::ResetRequest {
            graceful: self.graceful,
            reboot: self.reboot,
            system_partitions_to_wipe: self
                .system_partitions_to_wipe
                .iter()
                .map(|p| ResetPartitionSpec {
                    label: p.label.clone(),
                    wipe: p.wipe,
                })
                .collect(),
            // ALL (0): the partitions above on the system disk; no user disk is named.
            mode: proto::machine::reset_request::WipeMode::All.into(),
        }
    }
}

/// The node's answer to `Reset`: the reset runs after it, in the background.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetResult {
    /// The ID of the reset sequence (its events carry it).
    pub actor_id: String,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {

    use super::*;

    #[test]
    fn pem_text_accepts_base64_of_pem_and_pem() {
        let pem = "-----BEGIN CERTIFICATE-----\nAw==\n-----END CERTIFICATE-----\n";
        let b64 = base64::engine::general_purpose::STANDARD.encode(pem);
        assert_eq!(pem_text(&b64, "ca_certificate").unwrap(), pem);
        assert_eq!(pem_text(pem, "ca_certificate").unwrap(), pem.trim());
        let e = pem_text("c2VjcmV0", "client_key").unwrap_err();
        assert_eq!(
            e.to_string(),
            "the client configuration's client_key is neither base64 of PEM nor PEM"
        );
        assert!(pem_text("!!!", "client_key").is_err());
    }

    #[test]
    fn credentials_from_a_client_configuration() {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let cert = rcgen::CertificateParams::new(Vec::<String>::new())
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        let talos_key = key
            .serialize_pem()
            .replace("PRIVATE KEY", "ED25519 PRIVATE KEY");
        let creds = Credentials::from_client_configuration_b64(
            &b64(&ca.pem()),
            &b64(&cert.pem()),
            &b64(&talos_key),
        )
        .unwrap();
        assert_eq!(creds.key_pem.expose(), talos_key);
        assert!(!format!("{creds:?}").contains("PRIVATE KEY"));
        let e =
            Credentials::from_client_configuration_b64(&b64(&ca.pem()), &b64(&cert.pem()), "AAAA")
                .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
    }

    #[test]
    fn apply_modes_round_trip_with_the_vendor_numbers() {
        for (mode, number) in [
            (ApplyMode::Reboot, 0),
            (ApplyMode::Auto, 1),
            (ApplyMode::NoReboot, 2),
            (ApplyMode::Staged, 3),
            (ApplyMode::Try, 4),
        ] {
            assert_eq!(mode.to_proto() as i32, number);
            assert_eq!(ApplyMode::from_proto(number), Some(mode));
        }
        assert_eq!(ApplyMode::from_proto(9), None);
    }
}
