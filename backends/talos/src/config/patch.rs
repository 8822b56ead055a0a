//! Config patches, as siderolabs/talos `pkg/machinery/config/configpatcher`
//! applies them: each patch is either a strategic merge patch (one or more
//! config documents; `load.go` tries this first) or an RFC 6902 JSON patch
//! (a JSON array, or a YAML list of operations).
//!
//! Strategic merge (`strategic.go`, `config/merge/merge.go`): documents match
//! by (apiVersion, kind, name), the v1alpha1 document by having no kind; maps
//! merge recursively, lists are appended to, except the fields Talos tags
//! `merge:"replace"`; `$patch: delete` removes a document or a map key.

use serde_json::Value;

use super::{Contract, PatchError, known};

/// The text Talos gives (`configpatcher/apply.go`).
pub const JSON6902_MULTIDOC: &str =
    "JSON6902 patches are not supported for multi-document machine configuration";

/// Fields whose lists (or objects) a patch replaces instead of merging, per
/// document kind (`merge:"replace"` in `types/v1alpha1/v1alpha1_types.go`
/// and `types/k8s/*.go`).
const REPLACE_PATHS: &[(&str, &[&str])] = &[
    ("v1alpha1", &["cluster", "network", "podSubnets"]),
    ("v1alpha1", &["cluster", "network", "serviceSubnets"]),
    ("v1alpha1", &["cluster", "apiServer", "auditPolicy"]),
    ("KubeAuditPolicyConfig", &["configuration"]),
    ("KubeAuthenticationConfig", &["configuration"]),
    ("KubeNetworkConfig", &["podSubnets"]),
    ("KubeNetworkConfig", &["serviceSubnets"]),
];

/// A document's identity: (apiVersion, kind, name); the v1alpha1 document is
/// ("", "v1alpha1", "").
pub(crate) fn identity(doc: &Value) -> (String, String, String) {
    let s = |k: &str| {
        doc.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    if doc.get("kind").is_none() {
        return (String::new(), "v1alpha1".into(), String::new());
    }
    (s("apiVersion"), s("kind"), s("name"))
}

fn is_delete(v: &Value) -> bool {
    v.get("$patch").and_then(Value::as_str) == Some("delete")
}

fn merge(kind: &str, path: &mut Vec<String>, target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, pv) in p {
                if k == "$patch" {
                    continue;
                }
                if is_delete(pv) {
                    t.shift_remove(k);
                    continue;
                }
                path.push(k.clone());
                let replace = REPLACE_PATHS
                    .iter()
                    .any(|(kd, rp)| *kd == kind && rp.iter().eq(path.iter()));
                match t.get_mut(k) {
                    Some(tv) if !replace && !pv.is_null() => merge(kind, path, tv, pv),
                    _ => {
                        t.insert(k.clone(), strip_directives(pv));
                    }
                }
                path.pop();
            }
        }
        (Value::Array(t), Value::Array(p)) => {
            t.extend(p.iter().map(strip_directives));
        }
        (t, p) => *t = strip_directives(p),
    }
}

fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, v)| *k != "$patch" && !is_delete(v))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

fn strategic(docs: &mut Vec<Value>, patch_docs: &[Value]) -> Result<(), String> {
    for pd in patch_docs {
        if !pd.is_object() {
            return Err("a strategic merge patch document must be a mapping".into());
        }
        let id = identity(pd);
        let pos = docs.iter().position(|d| identity(d) == id);
        if is_delete(pd) {
            match pos {
                Some(i) => {
                    docs.remove(i);
                }
                None => return Err(format!("document {} to delete was not found", show(&id))),
            }
            continue;
        }
        match pos {
            Some(i) => {
                let mut path = Vec::new();
                merge(&id.1, &mut path, &mut docs[i], pd);
            }
            None => docs.push(strip_directives(pd)),
        }
    }
    Ok(())
}

pub(crate) fn show(id: &(String, String, String)) -> String {
    if id.1 == "v1alpha1" && id.0.is_empty() {
        return "v1alpha1".into();
    }
    let mut s = format!("{}/{}", id.0, id.1);
    if !id.2.is_empty() {
        s.push('/');
        s.push_str(&id.2);
    }
    s
}

// RFC 6901 pointers.
fn pointer_tokens(p: &str) -> Result<Vec<String>, String> {
    if p.is_empty() {
        return Ok(Vec::new());
    }
    let rest = p
        .strip_prefix('/')
        .ok_or_else(|| format!("path {p:?} does not start with /"))?;
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn get_mut<'a>(v: &'a mut Value, toks: &[String], p: &str) -> Result<&'a mut Value, String> {
    let mut cur = v;
    for t in toks {
        cur = match cur {
            Value::Object(m) => m.get_mut(t),
            Value::Array(a) => t.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
            _ => None,
        }
        .ok_or_else(|| format!("path {p:?} does not exist"))?;
    }
    Ok(cur)
}

fn add(v: &mut Value, p: &str, val: Value) -> Result<(), String> {
    let toks = pointer_tokens(p)?;
    let Some((last, parent)) = toks.split_last() else {
        *v = val;
        return Ok(());
    };
    match get_mut(v, parent, p)? {
        Value::Object(m) => {
            m.insert(last.clone(), val);
            Ok(())
        }
        Value::Array(a) => {
            let i = if last == "-" {
                a.len()
            } else {
                last.parse::<usize>()
                    .ok()
                    .filter(|i| *i <= a.len())
                    .ok_or_else(|| format!("path {p:?}: index out of range"))?
            };
            a.insert(i, val);
            Ok(())
        }
        _ => Err(format!("path {p:?}: parent is not an object or a list")),
    }
}

fn remove(v: &mut Value, p: &str) -> Result<Value, String> {
    let toks = pointer_tokens(p)?;
    let (last, parent) = toks
        .split_last()
        .ok_or_else(|| "cannot remove the whole document".to_string())?;
    match get_mut(v, parent, p)? {
        Value::Object(m) => m
            .shift_remove(last)
            .ok_or_else(|| format!("path {p:?} does not exist")),
        Value::Array(a) => {
            let i = last
                .parse::<usize>()
                .ok()
                .filter(|i| *i < a.len())
                .ok_or_else(|| format!("path {p:?}: index out of range"))?;
            Ok(a.remove(i))
        }
        _ => Err(format!("path {p:?} does not exist")),
    }
}

fn json6902(doc: &mut Value, ops: &[Value]) -> Result<(), String> {
    for (n, op) in ops.iter().enumerate() {
        let f = |k: &str| op.get(k).and_then(Value::as_str);
        let name = f("op").ok_or_else(|| format!("operation {n}: missing \"op\""))?;
        let path = f("path").ok_or_else(|| format!("operation {n}: missing \"path\""))?;
        let value = || {
            op.get("value")
                .cloned()
                .ok_or_else(|| format!("operation {n} ({name}): missing \"value\""))
        };
        let r = match name {
            "add" => add(doc, path, value()?),
            "remove" => remove(doc, path).map(|_| ()),
            "replace" => {
                let v = value()?;
                let toks = pointer_tokens(path)?;
                get_mut(doc, &toks, path).map(|t| *t = v)
            }
            "move" | "copy" => {
                let from = f("from").ok_or_else(|| format!("operation {n}: missing \"from\""))?;
                let v = if name == "move" {
                    remove(doc, from)?
                } else {
                    get_mut(doc, &pointer_tokens(from)?, from)?.clone()
                };
                add(doc, path, v)
            }
            "test" => {
                let want = value()?;
                let toks = pointer_tokens(path)?;
                let got = get_mut(doc, &toks, path)?;
                if *got == want {
                    Ok(())
                } else {
                    Err(format!("test of {path:?} failed"))
                }
            }
            other => Err(format!("unknown operation {other:?}")),
        };
        r.map_err(|e| format!("JSON patch operation {n}: {e}"))?;
    }
    Ok(())
}

/// Applies the patches in order to the documents; `contract` chooses the
/// schema that unknown fields are checked against.
pub(crate) fn apply(
    contract: Contract,
    docs: &mut Vec<Value>,
    patches: &[String],
) -> Result<(), PatchError> {
    for (index, text) in patches.iter().enumerate() {
        let err = |message: String| PatchError { index, message };
        let patch_docs = super::parse_documents(text).map_err(|e| err(e.to_string()))?;
        if patch_docs.is_empty() {
            return Err(err("the patch is empty".into()));
        }
        match patch_docs.as_slice() {
            [Value::Array(ops)] => {
                if docs.len() > 1 {
                    return Err(err(JSON6902_MULTIDOC.into()));
                }
                let target = docs
                    .first_mut()
                    .ok_or_else(|| err("the configuration is empty".into()))?;
                json6902(target, ops).map_err(err)?;
            }
            _ => strategic(docs, &patch_docs).map_err(err)?,
        }
        for d in docs.iter() {
            known::check(contract, d).map_err(err)?;
        }
    }
    Ok(())
}
