//! Machine configurations per Talos version contract, config patches
//! (strategic merge and RFC 6902), and the canonical form used to compare a
//! node's configuration with what was applied.
//!
//! Sources: siderolabs/talos `pkg/machinery/config/generate/` (what each
//! contract emits), `pkg/machinery/config/contract.go` (the gates),
//! `pkg/machinery/config/configpatcher/` (patches), and the official
//! `config.schema.json` of tags v1.13.9 and v1.14.0-rc.1 (the fields a node
//! accepts).

mod generate;
mod known;
mod patch;

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;
use serde_json::Value;

use crate::secrets::Bundle;
pub use crate::secrets::{Contract, SUPPORTED, UnsupportedContract};
pub use patch::JSON6902_MULTIDOC;

/// The machine's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MachineType {
    /// A control plane node (`controlplane`; Talos's `init` reads as this too).
    ControlPlane,
    /// A worker node (`worker`).
    Worker,
}

impl MachineType {
    /// As Talos writes it in `machine.type`.
    pub fn as_str(self) -> &'static str {
        match self {
            MachineType::ControlPlane => "controlplane",
            MachineType::Worker => "worker",
        }
    }
}

impl fmt::Display for MachineType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A machine type that is neither `controlplane` nor `worker`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported machine type {0:?}: expected controlplane or worker")]
pub struct UnsupportedMachineType(pub String);

impl FromStr for MachineType {
    type Err = UnsupportedMachineType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "controlplane" => Ok(MachineType::ControlPlane),
            "worker" => Ok(MachineType::Worker),
            other => Err(UnsupportedMachineType(other.to_string())),
        }
    }
}

/// What a machine configuration is generated from.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// The cluster name.
    pub cluster_name: &'a str,
    /// The Kubernetes API endpoint: `https://host:6443`.
    pub cluster_endpoint: &'a str,
    /// Control plane or worker.
    pub machine_type: MachineType,
    /// The Talos version contract.
    pub contract: Contract,
    /// Kubernetes version; the contract's default when absent.
    pub kubernetes_version: Option<&'a str>,
    /// The install disk (e.g. `/dev/sda`).
    pub install_disk: Option<&'a str>,
    /// The installer image; `ghcr.io/siderolabs/installer:<talos version>` when absent.
    pub install_image: Option<&'a str>,
    /// The cluster secrets.
    pub bundle: &'a Bundle,
}

/// Errors of generation, parsing and normalisation. No secret in the texts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// An input value is not acceptable.
    #[error("invalid {field}: {message}")]
    InvalidInput {
        /// The input attribute.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The text is not YAML, or a document is not a mapping.
    #[error("invalid machine configuration: {0}")]
    Parse(String),
    /// Two documents have the same identity (Talos: `duplicate document`).
    #[error("duplicate document {0} is not allowed")]
    Duplicate(String),
}

/// A patch that could not be applied: `index` is the patch's position (from 0).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("config patch {index}: {message}")]
pub struct PatchError {
    /// Position of the patch in the list (from 0).
    pub index: usize,
    /// What went wrong.
    pub message: String,
}

/// Parses multi-document YAML (or JSON) into documents, skipping empty ones.
pub(crate) fn parse_documents(text: &str) -> Result<Vec<Value>, ConfigError> {
    let mut out = Vec::new();
    for de in serde_norway::Deserializer::from_str(text) {
        let v =
            Value::deserialize(de).map_err(|e| ConfigError::Parse(strip_values(&e.to_string())))?;
        if !v.is_null() {
            out.push(v);
        }
    }
    Ok(out)
}

// serde_norway's messages describe positions and types; keep them short.
fn strip_values(msg: &str) -> String {
    msg.chars().take(300).collect()
}

fn emit(docs: &[Value]) -> String {
    let mut out = String::new();
    for (i, d) in docs.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        // Values from JSON trees always serialise.
        out.push_str(&serde_norway::to_string(d).unwrap_or_default());
    }
    out
}

fn check_documents(docs: &[Value]) -> Result<(), ConfigError> {
    let mut seen = std::collections::HashSet::new();
    for d in docs {
        if !d.is_object() {
            return Err(ConfigError::Parse("a document is not a mapping".into()));
        }
        let id = patch::identity(d);
        if !seen.insert(id.clone()) {
            return Err(ConfigError::Duplicate(patch::show(&id)));
        }
    }
    Ok(())
}

/// Generates the machine configuration (multi-document YAML) as Talos's
/// generator writes it for the contract.
pub fn generate(input: &Input<'_>) -> Result<String, ConfigError> {
    Ok(emit(&generate::documents(input)?))
}

/// The contract whose schema a configuration follows: v1.14 when it has a
/// document kind that v1.13 does not know (every generated v1.14 config has
/// `KubeNetworkConfig`), else v1.13.
pub fn contract_of(config: &str) -> Result<Contract, ConfigError> {
    let docs = parse_documents(config)?;
    Ok(contract_of_docs(&docs))
}

fn contract_of_docs(docs: &[Value]) -> Contract {
    let v13 = known::kinds(Contract::V1_13);
    let newer = docs.iter().any(|d| {
        let (_, kind, _) = patch::identity(d);
        !v13.contains(&kind.as_str())
    });
    if newer {
        Contract::V1_14
    } else {
        Contract::V1_13
    }
}

/// Applies the patches in order (see [`apply_patches_for`]); the contract is
/// told from the configuration ([`contract_of`]).
pub fn apply_patches(config: &str, patches: &[String]) -> Result<String, PatchError> {
    let docs = patch_input(config)?;
    let contract = contract_of_docs(&docs);
    apply_docs(contract, docs, patches)
}

/// Applies the patches in order, checking every patched document against the
/// contract's schema: a field the node would refuse fails here, naming the
/// patch and the field path.
pub fn apply_patches_for(
    contract: Contract,
    config: &str,
    patches: &[String],
) -> Result<String, PatchError> {
    let docs = patch_input(config)?;
    apply_docs(contract, docs, patches)
}

/// The documents of the configuration to patch, refused as [`normalize`]
/// refuses them (not YAML, a document that is not a mapping, a duplicate
/// document), so that what the patcher returns always reads back, with or
/// without patches (fuzzing finding `finding-non-mapping-config`: `a\n`
/// came back unchanged from an empty patch list).
fn patch_input(config: &str) -> Result<Vec<Value>, PatchError> {
    let invalid = |e: ConfigError| PatchError {
        index: 0,
        message: format!("the machine configuration to patch is invalid: {e}"),
    };
    let docs = parse_documents(config).map_err(invalid)?;
    check_documents(&docs).map_err(invalid)?;
    Ok(docs)
}

fn apply_docs(
    contract: Contract,
    mut docs: Vec<Value>,
    patches: &[String],
) -> Result<String, PatchError> {
    if patches.is_empty() {
        return Ok(emit(&docs));
    }
    patch::apply(contract, &mut docs, patches)?;
    check_documents(&docs).map_err(|e| PatchError {
        index: patches.len() - 1,
        message: e.to_string(),
    })?;
    Ok(emit(&docs))
}

fn sort_keys(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sort_keys(&m[k])))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(sort_keys).collect()),
        other => other.clone(),
    }
}

/// The canonical text of a configuration: documents parsed (comments and
/// formatting dropped), keys sorted, the v1alpha1 document first and the
/// others ordered by (kind, apiVersion, name). Same meaning, same string.
pub fn normalize(config: &str) -> Result<String, ConfigError> {
    let docs = parse_documents(config)?;
    check_documents(&docs)?;
    let mut docs: Vec<Value> = docs.iter().map(sort_keys).collect();
    docs.sort_by_key(|d| {
        let (api, kind, name) = patch::identity(d);
        (kind != "v1alpha1" || !api.is_empty(), kind, api, name)
    });
    Ok(emit(&docs))
}

/// Lower-case hex SHA-256 of the text.
pub fn sha256_hex(config: &str) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, config.as_bytes());
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// `machine.type` of the v1alpha1 document (`init` reads as control plane);
/// `None` when there is no v1alpha1 document or no type.
pub fn machine_type_of(config: &str) -> Result<Option<MachineType>, ConfigError> {
    let docs = parse_documents(config)?;
    let Some(v1) = docs.iter().find(|d| d.get("kind").is_none()) else {
        return Ok(None);
    };
    match v1.pointer("/machine/type").and_then(Value::as_str) {
        None | Some("") => Ok(None),
        Some("controlplane") | Some("init") => Ok(Some(MachineType::ControlPlane)),
        Some("worker") => Ok(Some(MachineType::Worker)),
        Some(other) => Err(ConfigError::Parse(format!(
            "unknown machine.type {other:?}"
        ))),
    }
}

#[cfg(test)]
mod tests;
