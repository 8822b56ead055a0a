//! Which fields each Talos config document accepts, per contract, from the
//! official schemas (`config.schema.json` at tags v1.13.9 and v1.14.0-rc.1,
//! reduced to field names by `known_fields.py` beside this file). The node
//! decodes strictly ("unknown keys found during decoding"), so an unknown
//! field is refused here, at plan time, naming its path.

use std::sync::OnceLock;

use serde_json::Value;

use super::Contract;

const V1_13: &str = include_str!("known_fields_v1_13.json");
const V1_14: &str = include_str!("known_fields_v1_14.json");

fn tables() -> &'static [Value; 2] {
    static T: OnceLock<[Value; 2]> = OnceLock::new();
    T.get_or_init(|| {
        // The tables are ours, embedded at build time; a test parses them.
        [
            serde_json::from_str(V1_13).unwrap_or(Value::Null),
            serde_json::from_str(V1_14).unwrap_or(Value::Null),
        ]
    })
}

fn table(contract: Contract) -> &'static Value {
    match contract {
        Contract::V1_13 => &tables()[0],
        Contract::V1_14 => &tables()[1],
    }
}

/// The document kinds a contract knows.
pub(crate) fn kinds(contract: Contract) -> Vec<&'static str> {
    table(contract)
        .as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

/// Checks a document's keys against the contract's schema.
pub(crate) fn check(contract: Contract, doc: &Value) -> Result<(), String> {
    let kind = if doc.get("kind").is_none() {
        "v1alpha1"
    } else {
        doc.get("kind").and_then(Value::as_str).unwrap_or_default()
    };
    let Some(node) = table(contract).get(kind) else {
        return Err(format!(
            "unknown document kind {kind:?} for Talos {} (the node would refuse it)",
            contract.as_str()
        ));
    };
    let mut path = Vec::new();
    walk(node, doc, &mut path).map_err(|p| {
        format!(
            "unknown field {:?} in the {kind} document: not in the Talos {} configuration schema (the node would refuse it)",
            p,
            contract.as_str()
        )
    })
}

fn walk(node: &Value, v: &Value, path: &mut Vec<String>) -> Result<(), String> {
    let Some(n) = node.as_object() else {
        return Ok(()); // "*": anything
    };
    if let Some(props) = n.get("p").and_then(Value::as_object) {
        match v {
            Value::Object(m) => {
                for (k, child) in m {
                    path.push(k.clone());
                    match props.get(k) {
                        Some(sub) => walk(sub, child, path)?,
                        None => return Err(path.join(".")),
                    }
                    path.pop();
                }
            }
            // Some schema entries describe a list's items as the object itself.
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    path.push(i.to_string());
                    walk(node, item, path)?;
                    path.pop();
                }
            }
            _ => {}
        }
    } else if let Some(sub) = n.get("m") {
        if let Value::Object(m) = v {
            for (k, child) in m {
                path.push(k.clone());
                walk(sub, child, path)?;
                path.pop();
            }
        }
    } else if let Some(sub) = n.get("i")
        && let Value::Array(items) = v
    {
        for (i, item) in items.iter().enumerate() {
            path.push(i.to_string());
            walk(sub, item, path)?;
            path.pop();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_parse_and_differ() {
        assert!(kinds(Contract::V1_13).contains(&"HostnameConfig"));
        assert!(!kinds(Contract::V1_13).contains(&"KubeletConfig"));
        assert!(kinds(Contract::V1_14).contains(&"KubeletConfig"));
        assert!(kinds(Contract::V1_14).contains(&"v1alpha1"));
    }

    #[test]
    fn names_the_unknown_path() {
        let doc = json!({"version": "v1alpha1", "machine": {"kubelet": {"imag": "x"}}});
        let e = check(Contract::V1_13, &doc).unwrap_err();
        assert!(e.contains("\"machine.kubelet.imag\""), "{e}");
        // machine.kubelet itself is gone from the v1.14 v1alpha1 document.
        let doc = json!({"version": "v1alpha1", "machine": {"kubelet": {"image": "x"}}});
        assert!(check(Contract::V1_13, &doc).is_ok());
        let e = check(Contract::V1_14, &doc).unwrap_err();
        assert!(e.contains("\"machine.kubelet\""), "{e}");
    }

    #[test]
    fn free_form_values_and_lists() {
        let doc = json!({"version": "v1alpha1", "machine": {"nodeLabels": {"any/label": "x"},
            "kubelet": {"extraArgs": {"whatever": "1"}}},
            "cluster": {"apiServer": {"admissionControl": [{"name": "x", "configuration": {"free": 1}}]}}});
        check(Contract::V1_13, &doc).unwrap();
        let doc = json!({"version": "v1alpha1", "cluster": {"apiServer": {"admissionControl": [{"nam": "x"}]}}});
        let e = check(Contract::V1_13, &doc).unwrap_err();
        assert!(
            e.contains("cluster.apiServer.admissionControl.0.nam"),
            "{e}"
        );
    }

    #[test]
    fn unknown_kinds() {
        let doc = json!({"apiVersion": "v1alpha1", "kind": "KubeletConfig", "image": "x"});
        let e = check(Contract::V1_13, &doc).unwrap_err();
        assert!(e.contains("unknown document kind \"KubeletConfig\""), "{e}");
        check(Contract::V1_14, &doc).unwrap();
    }
}
