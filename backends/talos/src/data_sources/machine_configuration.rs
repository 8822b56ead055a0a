//! Data source `homelab_talos_machine_configuration`: a machine
//! configuration for a control plane or worker node, made from the
//! cluster's secrets, with config patches applied. Pure: nothing is
//! contacted. The ephemeral resource of the same name
//! ([`crate::ephemeral::machine_configuration`]) shares this code.
//!
//! Attributes follow siderolabs/terraform-provider-talos
//! (`pkg/talos/talos_machine_configuration_data_source.go`); patches are
//! strategic merge or RFC 6902 JSON patches as in Talos's
//! `pkg/machinery/config/configpatcher`.

use std::str::FromStr;

use labforge_framework::schema::{Attribute, Schema, validators};
use labforge_framework::{AttributePath, Ctx, DataSource, Diagnostics, Error, Result, Type, Value};
use serde::{Deserialize, Serialize};

use crate::client::Client;
use crate::config::{self, Input, MachineType};
use crate::resources::machine_secrets::SecretsModel;
use crate::resources::secrets_schema::{
    DEFAULT_TALOS_VERSION, contract_of, machine_secrets_attr, talos_version_validator,
};
use crate::secrets::Bundle;
use crate::secrets::Contract;

/// The data source.
#[derive(Debug, Clone, Copy, Default)]
pub struct MachineConfiguration;

/// Configuration and result. No `Debug`: it holds secrets.
#[derive(Clone, Serialize, Deserialize)]
pub struct MachineConfigurationModel {
    /// Cluster name.
    pub cluster_name: String,
    /// `https://host:port` of the Kubernetes API.
    pub cluster_endpoint: String,
    /// `controlplane` or `worker`.
    pub machine_type: String,
    /// The secrets bundle, from `homelab_talos_machine_secrets`.
    pub machine_secrets: SecretsModel,
    /// Version contract (default: the newest supported).
    pub talos_version: Option<String>,
    /// Kubernetes version (default: the contract's).
    pub kubernetes_version: Option<String>,
    /// Install disk, e.g. `/dev/sda`.
    pub install_disk: Option<String>,
    /// Patches, applied in order.
    pub config_patches: Option<Vec<String>>,
    /// The result (computed).
    pub machine_configuration: Option<String>,
}

/// The `cluster_endpoint` pattern: `https://host:port` (host a name, an
/// IPv4 address or a bracketed IPv6 address), an optional trailing `/`.
pub const ENDPOINT_PATTERN: &str =
    r"^https://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?):[0-9]{1,5}/?$";

/// The schema, shared with the ephemeral resource.
pub fn schema(what: &str) -> Schema {
    Schema::new(format!(
        "A Talos machine configuration for a control plane or worker node, made from the \
         cluster's secrets for a Talos version contract, with config patches applied. {what} \
         Nothing is contacted. Bad patches fail at plan, pointing at `config_patches[i]`."
    ))
    .attribute(
        "cluster_name",
        Attribute::string()
            .required()
            .describe("Cluster name, e.g. `lab`.")
            .validator(validators::length_between(1, 253)),
    )
    .attribute(
        "cluster_endpoint",
        Attribute::string()
            .required()
            .describe(
                "The Kubernetes API endpoint, `https://host:port`, e.g. `https://10.0.0.10:6443`.",
            )
            .validator(validators::matches(
                ENDPOINT_PATTERN,
                "an endpoint `https://host:port`, e.g. `https://10.0.0.10:6443`",
            )),
    )
    .attribute(
        "machine_type",
        Attribute::string()
            .required()
            .describe("`controlplane` or `worker`.")
            .validator(validators::one_of(&["controlplane", "worker"])),
    )
    .attribute(
        "machine_secrets",
        machine_secrets_attr(
            true,
            "The secrets bundle: `homelab_talos_machine_secrets.<name>.machine_secrets`.",
        ),
    )
    .attribute(
        "talos_version",
        Attribute::string()
            .optional()
            .describe(format!(
                "The Talos version contract to generate for, e.g. `v1.13` (default \
                 `{DEFAULT_TALOS_VERSION}`, the newest supported). Pin it to the version your \
                 nodes run."
            ))
            .validator(talos_version_validator()),
    )
    .attribute(
        "kubernetes_version",
        Attribute::string()
            .optional()
            .describe("Kubernetes version, e.g. `1.34.1` (default: the contract's default).")
            .validator(validators::matches(
                r"^v?[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$",
                "a Kubernetes version such as `1.34.1`",
            )),
    )
    .attribute(
        "install_disk",
        Attribute::string()
            .optional()
            .describe("The disk Talos installs to, e.g. `/dev/sda` (`machine.install.disk`).")
            .validator(validators::matches(
                r"^/dev/\S+$",
                "a device path like `/dev/sda`",
            )),
    )
    .attribute(
        "config_patches",
        Attribute::list(Type::String).optional().describe(
            "Config patches, applied in order: strategic merge patches (YAML or JSON \
             documents) or RFC 6902 JSON patches (a list of operations; single-document \
             configurations only).",
        ),
    )
    .attribute(
        "machine_configuration",
        Attribute::string()
            .computed()
            .sensitive()
            .describe("The machine configuration (multi-document YAML)."),
    )
}

fn bad_patch(e: &config::PatchError) -> Error {
    Error::new(
        "Invalid config patch",
        format!("config_patches[{}]: {}", e.index, e.message),
    )
    .at(AttributePath::attr("config_patches").join_index(e.index as i64))
}

/// Generate the configuration `m` describes (the data source's read and the
/// ephemeral resource's open).
pub fn generate(m: &MachineConfigurationModel) -> Result<String> {
    let version = m.talos_version.as_deref().unwrap_or(DEFAULT_TALOS_VERSION);
    let contract = contract_of(version).map_err(|e| {
        Error::new("Unsupported Talos version", e).at(AttributePath::attr("talos_version"))
    })?;
    let machine_type = MachineType::from_str(&m.machine_type).map_err(|e| {
        Error::new("Invalid machine type", e.to_string()).at(AttributePath::attr("machine_type"))
    })?;
    let bundle = m.machine_secrets.to_bundle()?;
    render(m, contract, machine_type, &bundle)
}

fn render(
    m: &MachineConfigurationModel,
    contract: Contract,
    machine_type: MachineType,
    bundle: &Bundle,
) -> Result<String> {
    let input = Input {
        cluster_name: &m.cluster_name,
        cluster_endpoint: &m.cluster_endpoint,
        machine_type,
        contract,
        kubernetes_version: m.kubernetes_version.as_deref(),
        install_disk: m.install_disk.as_deref(),
        install_image: None,
        bundle,
    };
    let base = config::generate(&input).map_err(|e| {
        Error::new(
            "Unable to generate the machine configuration",
            e.to_string(),
        )
    })?;
    match m.config_patches.as_deref() {
        None | Some([]) => Ok(base),
        Some(patches) => config::apply_patches(&base, patches).map_err(|e| bad_patch(&e)),
    }
}

/// Validate-time check of the patches, when they and the attributes the
/// base configuration depends on are known: they are applied to a
/// configuration made with throwaway secrets, so a bad patch is reported
/// at plan even while the real secrets are known only after apply.
pub fn check_patches(config: &Value) -> Diagnostics {
    let mut d = Diagnostics::new();
    let known = |name: &str| -> Option<String> {
        match config.get(name) {
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        }
    };
    let Some(Value::List(items)) = config.get("config_patches") else {
        return d;
    };
    let patches: Option<Vec<String>> = items
        .iter()
        .map(|v| v.as_str().map(str::to_string))
        .collect();
    let (Some(patches), Some(machine_type)) = (patches, known("machine_type")) else {
        return d;
    };
    if patches.is_empty() {
        return d;
    }
    let version = match config.get("talos_version") {
        Some(Value::Null) | None => DEFAULT_TALOS_VERSION.to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return d,
    };
    let (Ok(contract), Ok(machine_type)) = (
        Contract::from_str(&version),
        MachineType::from_str(&machine_type),
    ) else {
        return d; // reported by the attributes' validators
    };
    let Ok(bundle) = Bundle::generate(contract) else {
        return d;
    };
    let model = MachineConfigurationModel {
        cluster_name: known("cluster_name").unwrap_or_else(|| "cluster".into()),
        cluster_endpoint: known("cluster_endpoint")
            .filter(|e| regex_lite_endpoint(e))
            .unwrap_or_else(|| "https://cluster.invalid:6443".into()),
        machine_type: String::new(),
        machine_secrets: SecretsModel::from_bundle(&bundle),
        talos_version: None,
        kubernetes_version: known("kubernetes_version"),
        install_disk: known("install_disk"),
        config_patches: Some(patches),
        machine_configuration: None,
    };
    if let Err(e) = render(&model, contract, machine_type, &bundle) {
        // Only patch errors: anything else is reported where it belongs.
        if e.diagnostics().iter().any(|x| {
            x.attribute
                .as_ref()
                .is_some_and(|p| p.to_string().starts_with("config_patches"))
        }) {
            d.extend(e.into_diagnostics());
        }
    }
    d
}

/// A cheap shape check of an endpoint (the validator reports bad ones).
fn regex_lite_endpoint(e: &str) -> bool {
    e.starts_with("https://")
        && e.rsplit(':').next().is_some_and(|p| {
            let p = p.trim_end_matches('/');
            !p.is_empty() && p.chars().all(|c| c.is_ascii_digit())
        })
}

impl DataSource for MachineConfiguration {
    type Client = Client;
    type Model = MachineConfigurationModel;
    const NAME: &'static str = "talos_machine_configuration";

    fn schema(&self) -> Schema {
        schema(
            "Read at plan when its inputs are known; the result is kept in state (sensitive). \
             The ephemeral resource of the same name gives it without storing it.",
        )
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        check_patches(config)
    }

    async fn read(
        &self,
        _ctx: &Ctx<Client>,
        config: MachineConfigurationModel,
    ) -> Result<MachineConfigurationModel> {
        let text = generate(&config)?;
        Ok(MachineConfigurationModel {
            machine_configuration: Some(text),
            ..config
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn model(machine_type: &str, patches: &[&str]) -> MachineConfigurationModel {
        let b = Bundle::generate(Contract::from_str("v1.13").unwrap()).unwrap();
        MachineConfigurationModel {
            cluster_name: "lab".into(),
            cluster_endpoint: "https://10.0.0.10:6443".into(),
            machine_type: machine_type.into(),
            machine_secrets: SecretsModel::from_bundle(&b),
            talos_version: Some("v1.13".into()),
            kubernetes_version: None,
            install_disk: Some("/dev/vda".into()),
            config_patches: Some(patches.iter().map(|s| s.to_string()).collect()),
            machine_configuration: None,
        }
    }

    #[test]
    fn endpoint_pattern() {
        use labforge_framework::schema::validators::Validator as _;
        let v = validators::matches(ENDPOINT_PATTERN, "an endpoint");
        let at = AttributePath::attr("cluster_endpoint");
        let ok = |s: &str| {
            let mut d = Diagnostics::new();
            v.validate(&at, &Value::string(s), &mut d);
            !d.has_errors()
        };
        for good in [
            "https://10.0.0.10:6443",
            "https://k8s.lab.example:443/",
            "https://[fd00::10]:6443",
        ] {
            assert!(ok(good), "{good}");
        }
        for bad in [
            "http://10.0.0.10:6443",
            "https://10.0.0.10",
            "10.0.0.10:6443",
            "https://a b:6443",
            "https://10.0.0.10:6443/api",
        ] {
            assert!(!ok(bad), "{bad}");
        }
    }

    #[test]
    fn generates_for_each_machine_type_with_patches() {
        let cp = generate(&model(
            "controlplane",
            &["machine:\n  certSANs:\n    - cp-1.lab.example\n"],
        ))
        .unwrap();
        assert!(cp.contains("cp-1"), "{cp}");
        assert!(cp.contains("/dev/vda"), "{cp}");
        let w = generate(&model("worker", &[])).unwrap();
        assert!(w.contains("type: worker"), "{w}");
    }

    #[test]
    fn bad_patch_points_at_its_index() {
        let e = generate(&model("worker", &["machine: {}\n", "machine: [\n"]))
            .err()
            .unwrap();
        let d = e.diagnostics().iter().next().unwrap();
        assert_eq!(
            d.attribute,
            Some(AttributePath::attr("config_patches").join_index(1))
        );
        assert!(d.detail.starts_with("config_patches[1]: "), "{}", d.detail);
        // And at validate time, with the secrets unknown.
        let config = Value::object([
            ("cluster_name", Value::string("lab")),
            ("cluster_endpoint", Value::string("https://10.0.0.10:6443")),
            ("machine_type", Value::string("worker")),
            ("machine_secrets", Value::unknown()),
            ("talos_version", Value::Null),
            (
                "config_patches",
                Value::List(vec![Value::string("machine: [\n")]),
            ),
        ]);
        let d = check_patches(&config);
        assert!(d.has_errors());
        assert_eq!(
            d.iter().next().unwrap().attribute,
            Some(AttributePath::attr("config_patches").join_index(0))
        );
        let fine = Value::object([
            ("machine_type", Value::string("worker")),
            (
                "config_patches",
                Value::List(vec![Value::string("machine:\n  certSANs: [a.example]\n")]),
            ),
        ]);
        assert!(!check_patches(&fine).has_errors());
    }
}
