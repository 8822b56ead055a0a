//! The apiserver's store for the MetalLB kinds: objects, resourceVersion,
//! server-side apply field ownership (`managedFields`), and MetalLB's
//! validating webhooks.
//!
//! Server-side apply as documented in "Server-Side Apply"
//! (kubernetes.io/docs/reference/using-api/server-side-apply/) and
//! `k8s.io/apimachinery/pkg/util/managedfields`: an applier owns the fields
//! it sends; setting a field another manager owns to a different value is a
//! conflict (409, one `FieldManagerConflict` cause per field, message as
//! `conflict.go` writes it: see [`conflict_error`]) unless `force=true`,
//! which moves ownership; a field the applier sent
//! before and no longer sends is removed when no other manager owns it; an
//! update (merge patch) takes the fields it changes without conflicts. A
//! write that changes nothing does not bump `resourceVersion`. An apply
//! body with a field the CRD does not declare fails whole (500, no
//! reason); other writes prune it (see [`K8s::write`]).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::schema::{self, Crd};

/// What a user may do (RBAC, coarsely).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Every verb.
    Admin,
    /// `get` and `list`.
    ReadOnly,
    /// Nothing.
    None,
}

/// A failure, rendered as a `Status` object.
#[derive(Debug, Clone)]
pub(crate) struct KErr {
    pub(crate) code: u16,
    pub(crate) reason: &'static str,
    pub(crate) message: String,
    pub(crate) details: Value,
}

impl KErr {
    pub(crate) fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: Value::Null,
        }
    }
    pub(crate) fn details(mut self, d: Value) -> Self {
        self.details = d;
        self
    }
    pub(crate) fn status(&self) -> Value {
        let mut s = json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": self.message, "code": self.code,
        });
        // An error that is no `APIStatus` has `StatusReasonUnknown` (""),
        // left out of the JSON (`omitempty`): apiserver
        // `endpoints/handlers/responsewriters/status.go` `ErrorToAPIStatus`.
        if !self.reason.is_empty() {
            s["reason"] = json!(self.reason);
        }
        if !self.details.is_null() {
            s["details"] = self.details.clone();
        }
        s
    }
}

type Path = Vec<String>;

/// One manager's entry in `managedFields`.
#[derive(Debug, Clone)]
pub(crate) struct Manager {
    pub(crate) name: String,
    pub(crate) operation: &'static str,
    pub(crate) api_version: String,
    pub(crate) fields: BTreeSet<Path>,
    pub(crate) time: String,
}

/// A stored object.
#[derive(Debug, Clone)]
pub(crate) struct Obj {
    pub(crate) api_version: String,
    pub(crate) kind: String,
    pub(crate) uid: String,
    pub(crate) rv: u64,
    pub(crate) generation: u64,
    pub(crate) created: String,
    pub(crate) spec: Value,
    pub(crate) managers: Vec<Manager>,
    /// `metadata.labels`, `metadata.annotations` and
    /// `metadata.ownerReferences` as written (kept, shown on read; their
    /// field ownership is not tracked).
    pub(crate) meta: Map<String, Value>,
}

/// The metadata fields kept from a write besides name and namespace.
const KEPT_META: [&str; 3] = ["labels", "annotations", "ownerReferences"];

/// Key: (plural, namespace, name).
pub(crate) type Key = (String, String, String);

/// The whole simulated cluster.
#[derive(Debug)]
pub(crate) struct K8s {
    pub(crate) crds: Vec<Crd>,
    pub(crate) crds_installed: bool,
    pub(crate) namespaces: BTreeSet<String>,
    pub(crate) objects: BTreeMap<Key, Obj>,
    pub(crate) next_rv: u64,
    pub(crate) next_uid: u64,
    /// Admission calls still to fail as "webhook unreachable".
    pub(crate) webhook_down: usize,
    /// Every field pruned from a write, `plural/name: path`.
    pub(crate) pruned: Vec<String>,
    /// Every write refused as invalid (422), `plural/name: message`.
    pub(crate) invalid: Vec<String>,
    /// The MetalLB namespace its webhook accepts.
    pub(crate) metallb_namespace: String,
    /// Bearer tokens: who they are.
    pub(crate) tokens: BTreeMap<String, (Access, String)>,
}

fn now() -> String {
    crate::common::text::now_rfc3339(0)
}

impl K8s {
    pub(crate) fn new() -> Self {
        Self {
            crds: schema::load(),
            crds_installed: true,
            namespaces: ["default", "kube-system", "metallb-system"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            objects: BTreeMap::new(),
            next_rv: 1000,
            next_uid: 1,
            webhook_down: 0,
            pruned: Vec::new(),
            invalid: Vec::new(),
            metallb_namespace: "metallb-system".into(),
            tokens: BTreeMap::new(),
        }
    }

    /// The kind served at `group/version/plural`, with its schema.
    pub(crate) fn served(&self, group: &str, version: &str, plural: &str) -> Option<(Crd, Value)> {
        if !self.crds_installed {
            return None;
        }
        let c = self
            .crds
            .iter()
            .find(|c| c.group == group && c.plural == plural)?;
        let (_, s) = c.versions.iter().find(|(v, _)| v == version)?;
        Some((c.clone(), s.clone()))
    }

    /// The object as the API shows it (defaults applied on read).
    pub(crate) fn render(&self, key: &Key, schema: &Value) -> Option<Value> {
        let o = self.objects.get(key)?;
        let mut body = json!({
            "apiVersion": o.api_version,
            "kind": o.kind,
            "metadata": {
                "name": key.2,
                "namespace": key.1,
                "uid": o.uid,
                "resourceVersion": o.rv.to_string(),
                "generation": o.generation,
                "creationTimestamp": o.created,
                "managedFields": o.managers.iter().filter(|m| !m.fields.is_empty()).map(|m| json!({
                    "manager": m.name,
                    "operation": m.operation,
                    "apiVersion": m.api_version,
                    "time": m.time,
                    "fieldsType": "FieldsV1",
                    "fieldsV1": fields_v1(&m.fields),
                })).collect::<Vec<_>>(),
            },
            "spec": o.spec,
        });
        if let Some(m) = body["metadata"].as_object_mut() {
            for (k, v) in &o.meta {
                m.insert(k.clone(), v.clone());
            }
        }
        schema::default(&mut body, schema);
        Some(body)
    }

    fn bump(&mut self) -> u64 {
        self.next_rv += 1;
        self.next_rv
    }

    /// Server-side apply (`update`: false) or a merge-patch update
    /// (`update`: true) of `spec` by `manager`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn write(
        &mut self,
        crd: &Crd,
        version: &str,
        schema: &Value,
        ns: &str,
        name: &str,
        mut body: Value,
        manager: &str,
        force: bool,
        update: bool,
    ) -> Result<(Value, bool), KErr> {
        let gr = format!("{}.{}", crd.plural, crd.group);
        if !self.namespaces.contains(ns) {
            return Err(
                KErr::new(404, "NotFound", format!("namespaces \"{ns}\" not found"))
                    .details(json!({"name": ns, "kind": "namespaces"})),
            );
        }
        if !update {
            let want_av = format!("{}/{version}", crd.group);
            if body.get("apiVersion").and_then(Value::as_str) != Some(want_av.as_str())
                || body.get("kind").and_then(Value::as_str) != Some(crd.kind.as_str())
            {
                return Err(KErr::new(
                    400,
                    "BadRequest",
                    format!(
                        "the API version in the data ({}) does not match the expected API version ({want_av})",
                        body.get("apiVersion").and_then(Value::as_str).unwrap_or("")
                    ),
                ));
            }
            let meta = body.get("metadata").cloned().unwrap_or(Value::Null);
            if meta.get("name").and_then(Value::as_str) != Some(name) {
                return Err(KErr::new(
                    400,
                    "BadRequest",
                    "the name of the object does not match the name on the URL",
                ));
            }
            if meta.get("managedFields").is_some_and(|m| !m.is_null()) {
                return Err(KErr::new(
                    400,
                    "BadRequest",
                    "metadata.managedFields must be nil",
                ));
            }
        }
        if !update {
            // Server-side apply types the patch object against the schema
            // before anything else: an undeclared field is a plain Go error
            // (HTTP 500, no reason), whatever `fieldValidation` says, never
            // pruned (kubernetes `staging/src/k8s.io/apimachinery/pkg/util/
            // managedfields/internal/structuredmerge.go` `Apply`, "failed to
            // create typed patch object (%v): %v" with `objectGVKNN`;
            // structured-merge-diff `typed/validate.go` for the list;
            // kubernetes/kubernetes#139253).
            let mut undeclared = Vec::new();
            schema::undeclared(&body, schema, "", &mut undeclared);
            if !undeclared.is_empty() {
                for p in &undeclared {
                    let p = p.trim_start_matches('.');
                    self.pruned.push(format!("{}/{name}: {p}", crd.plural));
                }
                let errs: Vec<String> = undeclared
                    .iter()
                    .map(|p| format!("{p}: field not declared in schema"))
                    .collect();
                let list = if errs.len() == 1 {
                    errs[0].clone()
                } else {
                    format!("errors:\n  {}", errs.join("\n  "))
                };
                let body_ns = body
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                return Err(KErr::new(
                    500,
                    "",
                    format!(
                        "failed to create typed patch object ({body_ns}/{name}; {}/{version}, Kind={}): {list}",
                        crd.group, crd.kind
                    ),
                ));
            }
        }
        let key: Key = (crd.plural.clone(), ns.into(), name.into());
        let existing = self.objects.get(&key).cloned();
        if let (Some(o), Some(rv)) = (
            &existing,
            body.pointer("/metadata/resourceVersion")
                .and_then(Value::as_str),
        ) && rv != o.rv.to_string()
        {
            return Err(KErr::new(
                409,
                "Conflict",
                format!("Operation cannot be fulfilled on {gr} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"),
            )
            .details(json!({"name": name, "group": crd.group, "kind": crd.plural})));
        }
        // Prune what the schema does not know (non-apply writes, field
        // validation `Warn`: the `Warning` header names each field).
        let mut dropped = Vec::new();
        schema::prune(&mut body, schema, "", &mut dropped);
        for d in &dropped {
            if d != "status" {
                self.pruned.push(format!("{}/{name}: {d}", crd.plural));
            }
        }
        let applied = body
            .get("spec")
            .cloned()
            .unwrap_or(Value::Object(Map::new()));
        let spec_schema = schema
            .pointer("/properties/spec")
            .cloned()
            .unwrap_or(Value::Null);
        let mut leaves = Vec::new();
        if applied.as_object().is_some_and(|o| !o.is_empty()) {
            schema::leaves(&applied, &spec_schema, Vec::new(), &mut leaves);
        }
        let mut obj = existing.clone().unwrap_or_else(|| Obj {
            api_version: format!("{}/{version}", crd.group),
            kind: crd.kind.clone(),
            uid: String::new(),
            rv: 0,
            generation: 0,
            created: now(),
            spec: Value::Object(Map::new()),
            managers: Vec::new(),
            meta: Map::new(),
        });
        let live = obj.spec.clone();
        // Labels and annotations merge key by key (a null removes one, as
        // in a merge patch); owner references are replaced whole.
        let meta_before = obj.meta.clone();
        if let Some(m) = body.get("metadata").and_then(Value::as_object) {
            for k in KEPT_META {
                match (k, m.get(k)) {
                    (_, None) => {}
                    ("ownerReferences", Some(v)) => {
                        obj.meta.insert(k.into(), v.clone());
                    }
                    (_, Some(Value::Object(kv))) => {
                        let Value::Object(cur) = obj
                            .meta
                            .entry(k.to_string())
                            .or_insert_with(|| Value::Object(Map::new()))
                        else {
                            continue;
                        };
                        for (key, val) in kv {
                            if val.is_null() {
                                cur.remove(key);
                            } else {
                                cur.insert(key.clone(), val.clone());
                            }
                        }
                    }
                    _ => {}
                }
            }
            obj.meta.retain(|_, v| {
                !(v.is_null()
                    || v.as_object().is_some_and(Map::is_empty)
                    || v.as_array().is_some_and(Vec::is_empty))
            });
        }
        // Conflicts: one per (manager, field) whose value changes.
        let mut conflicts: Vec<(&Manager, String)> = Vec::new();
        for p in &leaves {
            if schema::get(&live, p) == schema::get(&applied, p) {
                continue;
            }
            for m in obj.managers.iter().filter(|m| m.name != manager) {
                if m.fields.iter().any(|f| overlaps(f, p)) {
                    conflicts.push((m, format!(".spec.{}", p.join("."))));
                }
            }
        }
        if !conflicts.is_empty() && !force && !update {
            return Err(conflict_error(conflicts));
        }
        // Ownership moves (force, or an update) for changed fields.
        for p in &leaves {
            if schema::get(&live, p) != schema::get(&applied, p) {
                for m in obj.managers.iter_mut().filter(|m| m.name != manager) {
                    m.fields.retain(|f| !overlaps(f, p));
                }
            }
        }
        let mut spec = live.clone();
        // An update owns what it changes; an apply owns all it sends.
        let new_set: BTreeSet<Path> = leaves
            .iter()
            .filter(|p| !update || schema::get(&live, p) != schema::get(&applied, p))
            .cloned()
            .collect();
        if !update {
            // Fields this applier stops sending: removed unless another owns them.
            let before = obj
                .managers
                .iter()
                .find(|m| m.name == manager && m.operation == "Apply")
                .map(|m| m.fields.clone())
                .unwrap_or_default();
            for p in before.difference(&new_set) {
                let other = obj
                    .managers
                    .iter()
                    .any(|m| m.name != manager && m.fields.iter().any(|f| overlaps(f, p)));
                if !other {
                    schema::remove(&mut spec, p);
                }
            }
        }
        if update {
            // An update (a merge patch already merged by the caller, or a
            // create) carries the whole new spec: a field it lacks is gone
            // (RFC 7386: `null` in a merge patch removes the member), and
            // nobody owns it any more.
            let mut gone = Vec::new();
            schema::leaves(&live, &spec_schema, Vec::new(), &mut gone);
            for p in gone.iter().filter(|p| schema::get(&applied, p).is_none()) {
                schema::remove(&mut spec, p);
                for m in obj.managers.iter_mut() {
                    m.fields.retain(|f| !overlaps(f, p));
                }
            }
        }
        for p in &leaves {
            if let Some(v) = schema::get(&applied, p) {
                schema::set(&mut spec, p, v.clone());
            }
        }
        // Validation of the whole object (defaults applied first).
        let mut full = json!({"apiVersion": obj.api_version, "kind": obj.kind,
            "metadata": {"name": name, "namespace": ns}, "spec": spec.clone()});
        schema::default(&mut full, schema);
        let mut causes = Vec::new();
        schema::validate(&full, schema, "", &mut causes);
        if !causes.is_empty() {
            let parts: Vec<String> = causes.iter().map(|(_, f, m)| format!("{f}: {m}")).collect();
            let inner = if parts.len() == 1 {
                parts[0].clone()
            } else {
                format!("[{}]", parts.join(", "))
            };
            let msg = format!("{}.{} \"{name}\" is invalid: {inner}", crd.kind, crd.group);
            self.invalid.push(format!("{}/{name}: {msg}", crd.plural));
            return Err(KErr::new(422, "Invalid", msg).details(json!({
                "name": name, "group": crd.group, "kind": crd.kind,
                "causes": causes.iter().map(|(r, f, m)| json!({"reason": r, "message": m, "field": f})).collect::<Vec<_>>(),
            })));
        }
        // MetalLB's validating webhook (CREATE and UPDATE).
        self.admit(crd, ns, name, &full["spec"])?;
        let changed = existing.is_none() || spec != live || obj.meta != meta_before;
        // Ownership bookkeeping.
        let op = if update { "Update" } else { "Apply" };
        let t = now();
        match obj
            .managers
            .iter_mut()
            .find(|m| m.name == manager && m.operation == op)
        {
            Some(m) => {
                if update {
                    m.fields.extend(new_set.iter().cloned());
                } else {
                    m.fields = new_set.clone();
                }
                m.time = t;
            }
            None => obj.managers.push(Manager {
                name: manager.into(),
                operation: op,
                api_version: format!("{}/{version}", crd.group),
                fields: new_set.clone(),
                time: t,
            }),
        }
        let owners_changed = existing
            .as_ref()
            .map(|e| managers_sig(&e.managers) != managers_sig(&obj.managers))
            .unwrap_or(true);
        if changed || owners_changed {
            if existing.is_none() {
                obj.uid = format!("5e1a7c0d-0000-4000-8000-{:012x}", self.next_uid);
                self.next_uid += 1;
                obj.generation = 1;
            } else if spec != live {
                obj.generation += 1;
            }
            obj.spec = spec;
            obj.rv = self.bump();
            self.objects.insert(key.clone(), obj);
        }
        let out = self.render(&key, schema).unwrap_or(Value::Null);
        Ok((out, existing.is_none()))
    }

    fn admit(&mut self, crd: &Crd, ns: &str, name: &str, spec: &Value) -> Result<(), KErr> {
        let hook = format!(
            "{}validationwebhook.metallb.io",
            crd.kind.to_ascii_lowercase()
        );
        if self.webhook_down > 0 {
            self.webhook_down -= 1;
            let path = format!(
                "validate-metallb-io-{}-{}",
                crd.versions
                    .last()
                    .map(|v| v.0.as_str())
                    .unwrap_or("v1beta1"),
                crd.kind.to_ascii_lowercase()
            );
            return Err(KErr::new(
                500,
                "InternalError",
                format!("Internal error occurred: failed calling webhook \"{hook}\": failed to call webhook: Post \"https://metallb-webhook-service.metallb-system.svc:443/{path}?timeout=10s\": dial tcp 10.96.12.34:443: connect: connection refused"),
            )
            .details(json!({"causes": [{"message": format!("failed calling webhook \"{hook}\"")}]})));
        }
        let deny = |msg: String| {
            KErr::new(
                403,
                "Forbidden",
                format!("admission webhook \"{hook}\" denied the request: {msg}"),
            )
        };
        if ns != self.metallb_namespace {
            return Err(deny(format!(
                "resource must be created in {} namespace",
                self.metallb_namespace
            )));
        }
        if crd.plural == "bgppeers" {
            // metallb internal/k8s/webhooks/webhookv1beta2/bgppeer_webhook.go
            // and internal/config/config.go (parsePeer).
            let has = |k: &str| spec.get(k).is_some_and(|v| !v.is_null() && v != "");
            match (has("peerASN"), has("dynamicASN")) {
                (false, false) => return Err(deny("missing peer ASN and dynamicASN".into())),
                (true, true) => return Err(deny("both peer ASN and dynamicASN specified".into())),
                _ => {}
            }
            if !has("peerAddress") && !has("interface") {
                return Err(deny("peer has no Address or Interface specified".into()));
            }
            if has("password") && has("passwordSecret") {
                return Err(deny(
                    "can not have both password and secret ref set in peer config".into(),
                ));
            }
        }
        if crd.plural == "bgpadvertisements" {
            // The CRD's CEL rule (x-kubernetes-validations on spec).
            let sel = spec["serviceSelectors"]
                .as_array()
                .is_some_and(|a| !a.is_empty());
            if sel && (spec["aggregationLength"] != 32 || spec["aggregationLengthV6"] != 128) {
                return Err(KErr::new(
                    422,
                    "Invalid",
                    format!(
                        "BGPAdvertisement.metallb.io \"{name}\" is invalid: spec: Invalid value: \"object\": serviceSelectors and aggregationLength are mutually exclusive, can only be used together with default aggregationLength (32) and aggregationLengthV6 (128)"
                    ),
                ));
            }
        }
        if crd.plural == "ipaddresspools" {
            let mine: Vec<String> = spec["addresses"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            let mut spans = Vec::new();
            for a in &mine {
                let sp =
                    super::cidr::span(a).map_err(|e| deny(format!("{e} in pool \"{name}\"")))?;
                spans.push((a.clone(), sp));
            }
            // Overlaps within the pool and with every other pool.
            let mut seen: Vec<(String, super::cidr::Span)> = Vec::new();
            for ((pl, ons, oname), o) in &self.objects {
                if pl != "ipaddresspools" || ons != ns || oname == name {
                    continue;
                }
                for a in o.spec["addresses"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                {
                    if let Ok(sp) = super::cidr::span(a) {
                        seen.push((a.to_string(), sp));
                    }
                }
            }
            for (a, sp) in spans {
                if let Some((b, _)) = seen.iter().find(|(_, o)| o.overlaps(&sp)) {
                    return Err(deny(format!(
                        "CIDR \"{a}\" in pool \"{name}\" overlaps with already defined CIDR \"{b}\""
                    )));
                }
                seen.push((a, sp));
            }
        }
        Ok(())
    }

    /// Delete; the deleted object, or 404.
    pub(crate) fn delete(
        &mut self,
        crd: &Crd,
        schema: &Value,
        ns: &str,
        name: &str,
    ) -> Result<Value, KErr> {
        let key: Key = (crd.plural.clone(), ns.into(), name.into());
        let Some(out) = self.render(&key, schema) else {
            return Err(not_found(crd, name));
        };
        self.objects.remove(&key);
        self.bump();
        Ok(out)
    }
}

/// The manager as the apiserver prints it in a conflict (kubernetes
/// `staging/src/k8s.io/apimachinery/pkg/util/managedfields/internal/
/// conflict.go` `printManager`): `"name"` for an applier; `"name" using
/// <apiVersion>` for an `Update` manager. Its ` at <time>` branch never
/// shows: the manager identifier conflicts carry is built without the time
/// (`managedfields.go` `BuildManagerIdentifier`: "Never include the time").
fn print_manager(m: &Manager) -> String {
    let q = Value::String(m.name.clone()).to_string();
    if m.operation == "Update" {
        format!("{q} using {}", m.api_version)
    } else {
        q
    }
}

/// The manager identifier conflicts are grouped and sorted by
/// (`BuildManagerIdentifier`: the JSON of the entry without fields and
/// time, and without `apiVersion` for an applier).
fn manager_id(m: &Manager) -> String {
    let mut o = json!({"manager": m.name, "operation": m.operation});
    if m.operation == "Update" {
        o["apiVersion"] = json!(m.api_version);
    }
    o.to_string()
}

/// The 409 of an apply that conflicts (`conflict.go` `NewConflictError`,
/// `getConflictMessage`; `api/errors` `NewApplyConflict`): one
/// `FieldManagerConflict` cause per conflict; one conflict reads `Apply
/// failed with 1 conflict: conflict with "m": .spec.x`, several are
/// listed by manager (sorted by identifier), `Apply failed with N
/// conflicts: conflicts with "m":\n- .spec.x\n- .spec.y`.
fn conflict_error(mut conflicts: Vec<(&Manager, String)>) -> KErr {
    conflicts.sort_by(|a, b| (manager_id(a.0), &a.1).cmp(&(manager_id(b.0), &b.1)));
    let n = conflicts.len();
    let msg = if n == 1 {
        format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            print_manager(conflicts[0].0),
            conflicts[0].1
        )
    } else {
        let mut lines: Vec<String> = Vec::new();
        let mut last = None;
        for (m, f) in &conflicts {
            let id = manager_id(m);
            if last.as_ref() != Some(&id) {
                lines.push(format!("conflicts with {}:", print_manager(m)));
                last = Some(id);
            }
            lines.push(format!("- {f}"));
        }
        format!("Apply failed with {n} conflicts: {}", lines.join("\n"))
    };
    KErr::new(409, "Conflict", msg).details(json!({
        "causes": conflicts.iter().map(|(m, f)| json!({
            "reason": "FieldManagerConflict",
            "message": format!("conflict with {}", print_manager(m)),
            "field": f,
        })).collect::<Vec<_>>()
    }))
}

fn managers_sig(ms: &[Manager]) -> Vec<(String, &'static str, BTreeSet<Path>)> {
    ms.iter()
        .map(|m| (m.name.clone(), m.operation, m.fields.clone()))
        .collect()
}

/// One path is a prefix of the other.
fn overlaps(a: &Path, b: &Path) -> bool {
    let n = a.len().min(b.len());
    a[..n] == b[..n]
}

/// `{"f:spec": {"f:a": {}, ...}}` for a set of spec paths.
fn fields_v1(fields: &BTreeSet<Path>) -> Value {
    let mut root = Map::new();
    for p in fields {
        let mut cur = root
            .entry("f:spec".to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        for k in p {
            let Value::Object(o) = cur else { break };
            cur = o
                .entry(format!("f:{k}"))
                .or_insert_with(|| Value::Object(Map::new()));
        }
    }
    Value::Object(root)
}

/// 404 for an object.
pub(crate) fn not_found(crd: &Crd, name: &str) -> KErr {
    KErr::new(
        404,
        "NotFound",
        format!("{}.{} \"{name}\" not found", crd.plural, crd.group),
    )
    .details(json!({"name": name, "group": crd.group, "kind": crd.plural}))
}
