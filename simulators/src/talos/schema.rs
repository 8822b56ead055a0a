//! Talos's machine-config schemas (`schema-v1.13.9.json`,
//! `schema-v1.14.0-rc.1.json`: siderolabs/talos
//! `pkg/machinery/config/schemas/config.schema.json`, see this folder's
//! README), embedded and compiled with the JSON Schema engine of
//! `common::jsonschema`, and [`validate_config`], which decodes a
//! multi-document machine config as Talos's strict loader does and checks
//! every document against the schema of a Talos version.

use std::sync::OnceLock;

use serde_json::Value;

use super::config::{self, Document};
use crate::common::jsonschema::short;
pub use crate::common::jsonschema::{Schema, Violation, ViolationKind};

const SCHEMA_V1_13: &str = include_str!("schema-v1.13.9.json");
const SCHEMA_V1_14: &str = include_str!("schema-v1.14.0-rc.1.json");

/// The Talos versions the simulator knows a schema for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaVersion {
    /// Talos v1.13 (`schema-v1.13.9.json`).
    V1_13,
    /// Talos v1.14 (`schema-v1.14.0-rc.1.json`).
    V1_14,
}

impl SchemaVersion {
    /// `"v1.13.9"`, `"1.13"`, `"v1.14.0"`, ... to a schema version.
    pub fn parse(version: &str) -> Result<SchemaVersion, String> {
        let v = version.trim().trim_start_matches('v');
        let mut parts = v.split('.');
        match (parts.next(), parts.next()) {
            (Some("1"), Some("13")) => Ok(SchemaVersion::V1_13),
            (Some("1"), Some("14")) => Ok(SchemaVersion::V1_14),
            _ => Err(format!(
                "no Talos config schema for version {version:?} (the simulator has v1.13 and v1.14)"
            )),
        }
    }

    /// The compiled schema (compiled once).
    pub fn schema(self) -> Result<&'static Schema, String> {
        static V13: OnceLock<Result<Schema, String>> = OnceLock::new();
        static V14: OnceLock<Result<Schema, String>> = OnceLock::new();
        let (cell, text) = match self {
            SchemaVersion::V1_13 => (&V13, SCHEMA_V1_13),
            SchemaVersion::V1_14 => (&V14, SCHEMA_V1_14),
        };
        cell.get_or_init(|| Schema::compile(text))
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// The `$defs` entry for a document: the v1alpha1 document, or the one
/// whose `apiVersion` and `kind` enums name the document's.
fn def_for(schema: &Schema, doc: &Document) -> Option<String> {
    if doc.is_v1alpha1() {
        return Some("#/$defs/v1alpha1.Config".into());
    }
    let defs = schema.root().get("$defs")?.as_object()?;
    defs.iter()
        .find(|(_, d)| {
            let has = |key: &str, want: &str| {
                d.pointer(&format!("/properties/{key}/enum"))
                    .and_then(Value::as_array)
                    .is_some_and(|e| e.iter().any(|x| x.as_str() == Some(want)))
            };
            has("kind", &doc.kind) && has("apiVersion", &doc.api_version)
        })
        .map(|(name, _)| format!("#/$defs/{name}"))
}

/// Renders unknown keys as Talos's strict decoder does: the path from the
/// document root to each unknown key, as indented YAML.
fn unknown_keys_yaml(unknown: &[(String, String, Value)]) -> String {
    let mut out = String::new();
    for (path, key, value) in unknown {
        let mut depth = 0;
        for seg in path.split('.').filter(|s| !s.is_empty()) {
            out.push_str(&format!("{}{seg}:\n", "    ".repeat(depth)));
            depth += 1;
        }
        let v = match value {
            Value::String(s) => s.clone(),
            Value::Object(_) | Value::Array(_) => short(value),
            other => other.to_string(),
        };
        out.push_str(&format!("{}{key}: {v}\n", "    ".repeat(depth)));
    }
    out
}

/// Checks one decoded document against the schema: the Talos-like error
/// texts, one per problem.
pub(crate) fn check_document(schema: &Schema, doc: &Document) -> Vec<String> {
    let Some(def) = def_for(schema, doc) else {
        // Talos's registry: pkg/machinery/config/configloader/internal/decoder
        // (an unregistered kind fails decoding).
        return vec![format!(
            "{}: {:?} {:?}: not registered",
            doc.header(),
            doc.kind,
            doc.api_version
        )];
    };
    let violations = schema.validate_ref(&def, &doc.value);
    let mut unknown = Vec::new();
    let mut errors = Vec::new();
    for v in violations {
        match v.kind {
            ViolationKind::UnknownKey(k, val) => unknown.push((v.path, k, val)),
            ViolationKind::Invalid(_) => errors.push(format!("{}: {v}", doc.header())),
        }
    }
    if !unknown.is_empty() {
        // Talos: "error decoding document <apiVersion>/<kind>/<name> (line N):
        // unknown keys found during decoding:\n<yaml>" (decoder.go).
        errors.insert(
            0,
            format!(
                "{}: unknown keys found during decoding:\n{}",
                doc.header(),
                unknown_keys_yaml(&unknown)
            ),
        );
    }
    errors
}

/// Validates a (multi-document) machine config as a Talos node of
/// `version` (`"v1.13.9"`, `"v1.14.0"`, ...) decodes and validates it:
/// strict decoding (YAML syntax, duplicate keys, `missing kind`, duplicate
/// documents), every document against the official JSON schema of that
/// version (unknown keys, types, enums, patterns, required keys), and
/// Talos's own checks that do not depend on the apply (cluster endpoint,
/// the OS CA key on control planes, the trusted CA on workers; see
/// [`super::config::semantic_errors`]). Errors are Talos-like texts.
pub fn validate_config(version: &str, yaml: &str) -> Result<(), Vec<String>> {
    let v = SchemaVersion::parse(version).map_err(|e| vec![e])?;
    let schema = v.schema().map_err(|e| vec![e])?;
    let docs = config::parse_documents(yaml).map_err(|e| vec![e])?;
    let mut errors = Vec::new();
    for d in &docs {
        errors.extend(check_document(schema, d));
    }
    if errors.is_empty() {
        errors.extend(config::semantic_errors(&docs));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn both_embedded_schemas_compile() {
        for v in [SchemaVersion::V1_13, SchemaVersion::V1_14] {
            let s = v.schema().unwrap();
            assert!(s.resolve("#/$defs/v1alpha1.Config").is_some());
            assert!(s.regex_count() > 0);
        }
    }

    #[test]
    fn root_one_of_agrees_with_the_kind_dispatch() {
        let s = SchemaVersion::V1_14.schema().unwrap();
        let doc = json!({"apiVersion": "v1alpha1", "kind": "HostnameConfig", "auto": "stable"});
        assert!(s.validate(&doc).is_empty());
        let bad = json!({"apiVersion": "v1alpha1", "kind": "HostnameConfig", "auto": "sometimes"});
        assert!(!s.validate(&bad).is_empty());
        assert!(
            s.validate(&json!({"version": "v1alpha1", "machine": {"type": "worker"}}))
                .is_empty()
        );
    }

    #[test]
    fn versions_parse() {
        assert_eq!(
            SchemaVersion::parse("v1.13.9").unwrap(),
            SchemaVersion::V1_13
        );
        assert_eq!(SchemaVersion::parse("1.14").unwrap(), SchemaVersion::V1_14);
        assert_eq!(
            SchemaVersion::parse("v1.14.0-rc.1").unwrap(),
            SchemaVersion::V1_14
        );
        assert!(SchemaVersion::parse("v1.12.1").is_err());
    }

    #[test]
    fn validate_config_accepts_the_fixtures_and_rejects_unknown_keys() {
        for (v, cp, w) in [
            (
                "v1.13.9",
                super::super::testing::V113_CP,
                super::super::testing::V113_WORKER,
            ),
            (
                "v1.14.0",
                super::super::testing::V114_CP,
                super::super::testing::V114_WORKER,
            ),
        ] {
            let cp = super::super::testing::render(cp);
            let w = super::super::testing::render(w);
            validate_config(v, &cp).unwrap();
            validate_config(v, &w).unwrap();
            let bad = cp.replacen("machine:\n", "machine:\n    bogusKey: 1\n", 1);
            let err = validate_config(v, &bad).unwrap_err();
            assert!(
                err[0].contains("unknown keys found during decoding:\nmachine:\n    bogusKey: 1"),
                "{err:?}"
            );
            assert!(
                err[0].starts_with("error decoding document /v1alpha1/ (line 1)"),
                "{err:?}"
            );
        }
        // v1.13 configs carry keys the v1.14 schema no longer has, and back.
        let v13 = super::super::testing::render(super::super::testing::V113_CP);
        assert!(validate_config("v1.14.0", &v13).is_err());
        let v14 = super::super::testing::render(super::super::testing::V114_CP);
        assert!(validate_config("v1.13.9", &v14).is_err());
    }

    #[test]
    fn validate_config_rejects_types_enums_and_decoding_errors() {
        let cp = super::super::testing::render(super::super::testing::V113_CP);
        let e = validate_config("v1.13.9", &cp.replace("type: controlplane", "type: master"))
            .unwrap_err();
        assert!(e.iter().any(|t| t.contains("machine.type")), "{e:?}");
        let e = validate_config("v1.13.9", "machine: [\n").unwrap_err();
        assert!(!e.is_empty());
        let e = validate_config("v1.13.9", "foo: 1\n").unwrap_err();
        assert!(e[0].contains("missing kind"), "{e:?}");
        let e = validate_config(
            "v1.14.0",
            "apiVersion: v1alpha1\nkind: HostnameConfig\nauto: stable\n---\napiVersion: v1alpha1\nkind: HostnameConfig\nauto: off\n",
        )
        .unwrap_err();
        assert!(e[0].contains("duplicate document"), "{e:?}");
        assert!(e[0].contains("(line 5)"), "{e:?}");
        let e =
            validate_config("v1.14.0", "apiVersion: v1alpha1\nkind: NoSuchConfig\n").unwrap_err();
        assert!(e[0].contains("not registered"), "{e:?}");
        let e = validate_config(
            "v1.13.9",
            "version: v1alpha1\nmachine:\n  type: worker\n  type: worker\n",
        )
        .unwrap_err();
        assert!(!e.is_empty());
    }
}
