//! `homelab_talos_machine_secrets`: a cluster's secrets bundle (as
//! `talosctl gen secrets` makes it) and an admin client configuration for
//! the Talos API.
//!
//! Attributes follow siderolabs/terraform-provider-talos
//! (`pkg/talos/talos_machine_secrets_resource.go`): certificates and keys as
//! base64 of PEM, `talos_version` whose downgrade forces replacement, import
//! from a secrets YAML file. Nothing is remote: refresh returns the state.
//! The admin client certificate (one year) is renewed at plan when less than
//! a quarter of a year of it is left (siderolabs/terraform-provider-talos#167);
//! the rest of the bundle is never regenerated in place.

use std::str::FromStr;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use labforge_framework::schema::{Attribute, Schema, modifiers};
use labforge_framework::{Ctx, Error, PlanChange, Resource, Result, Value};
use serde::{Deserialize, Serialize};

use super::secrets_schema::{
    DEFAULT_TALOS_VERSION, client_configuration_attr, contract_of, machine_secrets_attr,
    talos_version_validator,
};
use crate::client::Client;
use crate::secrets::Contract;
use crate::secrets::{self, Bundle, CertKey};

/// Lifetime of the admin client certificate (Talos's default for
/// `talosctl gen config`: one year, `pkg/machinery/config/generate/secrets/ca.go`).
pub const CLIENT_CERTIFICATE_TTL: Duration = Duration::from_secs(365 * 24 * 3600);

/// The client certificate is renewed at plan when less than this is left of
/// it: a quarter of [`CLIENT_CERTIFICATE_TTL`].
pub const CLIENT_CERTIFICATE_RENEWAL: Duration = Duration::from_secs(365 * 24 * 3600 / 4);

/// The contract an imported bundle gets: the oldest supported, so that any
/// configured `talos_version` is the same or an upgrade (an in-place
/// update), never a downgrade that would replace the secrets. siderolabs
/// does the same (`ImportState` sets the oldest contract that fits).
pub const IMPORTED_TALOS_VERSION: &str = "v1.13";

/// The resource.
#[derive(Debug, Clone, Copy, Default)]
pub struct MachineSecrets;

/// One instance. No `Debug`: it holds secrets.
#[derive(Clone, Serialize, Deserialize)]
pub struct MachineSecretsModel {
    /// Version contract, e.g. `v1.14`.
    pub talos_version: Option<String>,
    /// The bundle (computed).
    pub machine_secrets: Option<SecretsModel>,
    /// Admin client configuration (computed).
    pub client_configuration: Option<ClientConfigurationModel>,
}

/// `machine_secrets`: the bundle, certificates and keys as base64 of PEM.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct SecretsModel {
    /// `cluster`.
    pub cluster: ClusterModel,
    /// `secrets`.
    pub secrets: SecretValuesModel,
    /// `trustdinfo`.
    pub trustdinfo: TrustdModel,
    /// `certs`.
    pub certs: CertsModel,
}

/// `machine_secrets.cluster`.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct ClusterModel {
    /// Cluster ID.
    pub id: String,
    /// Cluster secret.
    pub secret: String,
}

/// `machine_secrets.secrets`.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct SecretValuesModel {
    /// Kubernetes bootstrap token.
    pub bootstrap_token: String,
    /// Secretbox encryption secret.
    pub secretbox_encryption_secret: String,
    /// AES-CBC encryption secret (Talos 1.2 and older only).
    pub aescbc_encryption_secret: Option<String>,
}

/// `machine_secrets.trustdinfo`.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct TrustdModel {
    /// trustd token.
    pub token: String,
}

/// `machine_secrets.certs`.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct CertsModel {
    /// etcd CA.
    pub etcd: CertKeyModel,
    /// Kubernetes CA.
    pub k8s: CertKeyModel,
    /// Kubernetes aggregator CA.
    pub k8s_aggregator: CertKeyModel,
    /// Kubernetes service account key.
    pub k8s_serviceaccount: KeyModel,
    /// Talos API (OS) CA.
    pub os: CertKeyModel,
}

/// A certificate and its key, each base64 of PEM.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct CertKeyModel {
    /// Certificate.
    pub cert: String,
    /// Private key.
    pub key: String,
}

/// A key alone, base64 of PEM.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct KeyModel {
    /// Private key.
    pub key: String,
}

/// `client_configuration`: the admin client's credentials, each base64 of PEM
/// (as siderolabs/talos state holds them).
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct ClientConfigurationModel {
    /// The OS CA certificate.
    pub ca_certificate: String,
    /// The client certificate (roles `os:admin`).
    pub client_certificate: String,
    /// The client certificate's key.
    pub client_key: String,
}

fn b64(pem: &str) -> String {
    STANDARD.encode(pem.as_bytes())
}

fn pem(what: &str, s: &str) -> Result<String> {
    secrets::decode_b64_pem(s).map_err(|e| {
        Error::new(
            "Invalid machine secrets",
            format!("machine_secrets.{what}: {e}"),
        )
    })
}

impl CertKeyModel {
    fn from_pair(c: &CertKey) -> Self {
        Self {
            cert: b64(&c.cert),
            key: b64(&c.key),
        }
    }

    fn to_pair(&self, what: &str) -> Result<CertKey> {
        Ok(CertKey {
            cert: pem(&format!("certs.{what}.cert"), &self.cert)?,
            key: pem(&format!("certs.{what}.key"), &self.key)?,
        })
    }
}

impl SecretsModel {
    /// The bundle as state holds it.
    pub fn from_bundle(b: &Bundle) -> Self {
        Self {
            cluster: ClusterModel {
                id: b.cluster_id.clone(),
                secret: b.cluster_secret.clone(),
            },
            secrets: SecretValuesModel {
                bootstrap_token: b.bootstrap_token.clone(),
                secretbox_encryption_secret: b.secretbox_encryption_secret.clone(),
                aescbc_encryption_secret: b.aescbc_encryption_secret.clone(),
            },
            trustdinfo: TrustdModel {
                token: b.trustd_token.clone(),
            },
            certs: CertsModel {
                etcd: CertKeyModel::from_pair(&b.etcd),
                k8s: CertKeyModel::from_pair(&b.k8s),
                k8s_aggregator: CertKeyModel::from_pair(&b.k8s_aggregator),
                k8s_serviceaccount: KeyModel {
                    key: b64(&b.k8s_serviceaccount_key),
                },
                os: CertKeyModel::from_pair(&b.os),
            },
        }
    }

    /// The bundle back (certificates and keys as PEM); base64 of PEM and
    /// raw PEM are both accepted.
    pub fn to_bundle(&self) -> Result<Bundle> {
        Ok(Bundle {
            cluster_id: self.cluster.id.clone(),
            cluster_secret: self.cluster.secret.clone(),
            bootstrap_token: self.secrets.bootstrap_token.clone(),
            secretbox_encryption_secret: self.secrets.secretbox_encryption_secret.clone(),
            aescbc_encryption_secret: self
                .secrets
                .aescbc_encryption_secret
                .clone()
                .filter(|s| !s.is_empty()),
            trustd_token: self.trustdinfo.token.clone(),
            etcd: self.certs.etcd.to_pair("etcd")?,
            k8s: self.certs.k8s.to_pair("k8s")?,
            k8s_aggregator: self.certs.k8s_aggregator.to_pair("k8s_aggregator")?,
            k8s_serviceaccount_key: pem(
                "certs.k8s_serviceaccount.key",
                &self.certs.k8s_serviceaccount.key,
            )?,
            os: self.certs.os.to_pair("os")?,
        })
    }
}

impl ClientConfigurationModel {
    /// From the secrets module's form (already base64 of PEM).
    pub fn from_client_configuration(c: &secrets::ClientConfiguration) -> Self {
        Self {
            ca_certificate: c.ca_certificate.clone(),
            client_certificate: c.client_certificate.clone(),
            client_key: c.client_key.clone(),
        }
    }

    /// To the secrets module's form.
    pub fn to_client_configuration(&self) -> secrets::ClientConfiguration {
        secrets::ClientConfiguration {
            ca_certificate: self.ca_certificate.clone(),
            client_certificate: self.client_certificate.clone(),
            client_key: self.client_key.clone(),
        }
    }
}

/// The minor version of a contract (`v1.13` -> 13), for ordering.
fn minor(c: Contract) -> u32 {
    c.as_str()
        .rsplit('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0)
}

/// Whether going from `prior` to `planned` is a downgrade of the contract.
pub fn is_downgrade(prior: &str, planned: &str) -> bool {
    match (Contract::from_str(prior), Contract::from_str(planned)) {
        (Ok(a), Ok(b)) => minor(b) < minor(a),
        _ => false,
    }
}

/// Why the client certificate in `cc` needs renewing at `now`, if it does
/// (less than [`CLIENT_CERTIFICATE_RENEWAL`] left, or unreadable).
pub fn renewal_reason(cc: &ClientConfigurationModel, now: SystemTime) -> Option<String> {
    let not_after =
        secrets::decode_b64_pem(&cc.client_certificate).and_then(|pem| secrets::not_after(&pem));
    match not_after {
        Err(e) => Some(format!("the client certificate cannot be read ({e})")),
        Ok(t) => match t.duration_since(now) {
            Ok(left) if left >= CLIENT_CERTIFICATE_RENEWAL => None,
            Ok(left) => Some(format!(
                "the client certificate expires in {} h (renewed when less than {} h are left)",
                left.as_secs() / 3600,
                CLIENT_CERTIFICATE_RENEWAL.as_secs() / 3600
            )),
            Err(_) => Some("the client certificate has expired".into()),
        },
    }
}

fn admin(bundle: &Bundle) -> Result<ClientConfigurationModel> {
    secrets::admin_client_configuration(bundle, CLIENT_CERTIFICATE_TTL)
        .map(|c| ClientConfigurationModel::from_client_configuration(&c))
        .map_err(|e| Error::new("Unable to create the client certificate", e.to_string()))
}

impl Resource for MachineSecrets {
    type Client = Client;
    type Model = MachineSecretsModel;
    const NAME: &'static str = "talos_machine_secrets";

    fn schema(&self) -> Schema {
        Schema::new(
            "A Talos cluster's machine secrets: the bundle `talosctl gen secrets` makes (cluster \
             identity, tokens, the etcd, Kubernetes and Talos API certificate authorities) and an \
             admin client configuration for the Talos API. Generated locally; nothing is contacted. \
             Everything is sensitive and kept in state: protect the state.\n\n\
             The admin client certificate is valid for one year and is renewed in the plan once \
             less than a quarter of a year of it is left (the update changes only \
             `client_configuration`); the rest of the bundle never changes in place.",
        )
        .attribute(
            "talos_version",
            Attribute::string()
                .default(DEFAULT_TALOS_VERSION)
                .describe(
                    "The Talos version contract the secrets are made for, e.g. `v1.14`. Moving \
                     to a newer version keeps the secrets; a downgrade replaces them.",
                )
                .validator(talos_version_validator())
                .plan_modifier(modifiers::requires_replace_if(
                    "A downgrade forces a new resource (new secrets); an upgrade keeps them.",
                    |req, plan| match (req.state.as_str(), plan.as_str()) {
                        (Some(prior), Some(planned)) => is_downgrade(prior, planned),
                        _ => false,
                    },
                )),
        )
        .attribute(
            "machine_secrets",
            machine_secrets_attr(
                false,
                "The secrets bundle. Pass it to `homelab_talos_machine_configuration`.",
            )
            .plan_modifier(modifiers::use_state_for_unknown()),
        )
        .attribute(
            "client_configuration",
            client_configuration_attr(
                false,
                "Admin client configuration for the Talos API (certificate valid one year, \
                 renewed at plan when less than a quarter of it is left).",
            )
            .plan_modifier(modifiers::use_state_for_unknown()),
        )
    }

    fn import_id_format(&self) -> Option<&'static str> {
        Some(
            "the path of a secrets file made by `talosctl gen secrets`, e.g. `./secrets.yaml` \
             (the imported `talos_version` is `v1.13`: a newer configured version is an in-place \
             update)",
        )
    }

    async fn modify_plan(&self, _ctx: &Ctx<Client>, plan: &mut PlanChange<'_>) -> Result<()> {
        if plan.creating() {
            return Ok(());
        }
        let prior: Option<ClientConfigurationModel> =
            labforge_framework::model::from_value(plan.prior_attr("client_configuration")).ok();
        let Some(prior) = prior else {
            // No usable client configuration in state: make a new one.
            plan.set("client_configuration", Value::unknown());
            return Ok(());
        };
        if let Some(reason) = renewal_reason(&prior, SystemTime::now()) {
            tracing::info!("talos_machine_secrets: renewing the client certificate: {reason}");
            plan.set("client_configuration", Value::unknown());
        }
        Ok(())
    }

    async fn create(&self, _ctx: &Ctx<Client>, plan: MachineSecretsModel) -> Result<Self::Model> {
        let version = plan
            .talos_version
            .clone()
            .unwrap_or_else(|| DEFAULT_TALOS_VERSION.into());
        let contract =
            contract_of(&version).map_err(|e| Error::new("Unable to create machine secrets", e))?;
        let bundle = Bundle::generate(contract)
            .map_err(|e| Error::new("Unable to create machine secrets", e.to_string()))?;
        Ok(MachineSecretsModel {
            talos_version: Some(version),
            machine_secrets: Some(SecretsModel::from_bundle(&bundle)),
            client_configuration: Some(admin(&bundle)?),
        })
    }

    async fn read(
        &self,
        _ctx: &Ctx<Client>,
        state: MachineSecretsModel,
    ) -> Result<Option<Self::Model>> {
        // Nothing remote: the state is the object.
        Ok(Some(state))
    }

    async fn update(
        &self,
        _ctx: &Ctx<Client>,
        prior: MachineSecretsModel,
        plan: MachineSecretsModel,
    ) -> Result<Self::Model> {
        let secrets = prior.machine_secrets.ok_or_else(|| {
            Error::new(
                "Unable to update machine secrets",
                "The state holds no machine_secrets: replace the resource \
                 (`terraform apply -replace=...`).",
            )
        })?;
        let client_configuration = match plan.client_configuration {
            Some(cc) => cc,
            // Unknown in the plan: renewal.
            None => admin(&secrets.to_bundle()?)?,
        };
        Ok(MachineSecretsModel {
            talos_version: plan.talos_version,
            machine_secrets: Some(secrets),
            client_configuration: Some(client_configuration),
        })
    }

    async fn delete(&self, _ctx: &Ctx<Client>, _state: MachineSecretsModel) -> Result<()> {
        Ok(())
    }

    async fn import(&self, _ctx: &Ctx<Client>, id: &str) -> Result<Self::Model> {
        const SUMMARY: &str = "Unable to import machine secrets";
        let text = std::fs::read_to_string(id).map_err(|e| {
            Error::new(
                SUMMARY,
                format!(
                    "Cannot read the secrets file {id:?}: {e}. The import ID is the path of a \
                     file made by `talosctl gen secrets`."
                ),
            )
        })?;
        let bundle = Bundle::from_yaml(&text)
            .map_err(|e| Error::new(SUMMARY, format!("{id:?} is not a secrets bundle: {e}")))?;
        Ok(MachineSecretsModel {
            talos_version: Some(IMPORTED_TALOS_VERSION.into()),
            machine_secrets: Some(SecretsModel::from_bundle(&bundle)),
            client_configuration: Some(admin(&bundle)?),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn downgrades_are_told_from_upgrades() {
        assert!(is_downgrade("v1.14", "v1.13"));
        assert!(is_downgrade("1.14", "v1.13.9"));
        assert!(!is_downgrade("v1.13", "v1.14"));
        assert!(!is_downgrade("v1.13", "v1.13.9"));
        assert!(!is_downgrade("nonsense", "v1.13"));
        assert!(contract_of("v1.12").is_err());
        assert!(contract_of(DEFAULT_TALOS_VERSION).is_ok());
        assert!(contract_of(IMPORTED_TALOS_VERSION).is_ok());
    }

    #[test]
    fn bundle_round_trips_through_the_model() {
        let b = Bundle::generate(Contract::from_str("v1.14").unwrap()).unwrap();
        let m = SecretsModel::from_bundle(&b);
        assert!(m.certs.os.cert.starts_with("LS0tLS1CRUdJTi")); // "-----BEGIN" in base64
        let back = m.to_bundle().unwrap();
        assert_eq!(back.os.cert, b.os.cert);
        assert_eq!(back.k8s_serviceaccount_key, b.k8s_serviceaccount_key);
        assert!(SecretsModel::from_bundle(&back) == m);
        // A corrupted certificate names where it is, without its value.
        let mut bad = m.clone();
        bad.certs.etcd.key = "not base64 !".into();
        let e = bad.to_bundle().err().unwrap().to_string();
        assert!(e.contains("certs.etcd.key"), "{e}");
        assert!(!e.contains("not base64 !"), "{e}");
    }

    #[test]
    fn client_certificate_is_renewed_near_expiry() {
        let b = Bundle::generate(Contract::from_str("v1.13").unwrap()).unwrap();
        let cc = admin(&b).unwrap();
        let now = SystemTime::now();
        assert!(renewal_reason(&cc, now).is_none());
        // Ten months on, less than a quarter of the year is left.
        let later = now + Duration::from_secs(300 * 24 * 3600);
        let why = renewal_reason(&cc, later).unwrap();
        assert!(why.contains("expires in"), "{why}");
        let expired = now + Duration::from_secs(400 * 24 * 3600);
        assert!(renewal_reason(&cc, expired).unwrap().contains("expired"));
        let mut broken = cc.clone();
        broken.client_certificate =
            b64("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
        assert!(
            renewal_reason(&broken, now)
                .unwrap()
                .contains("cannot be read")
        );
    }
}
