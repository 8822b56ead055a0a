//! The life cycle every MetalLB resource shares: the identity attributes
//! and import ID, the [`Managed`] model trait, server-side apply ([`apply`]),
//! refresh ([`read`]), [`delete`], [`import`], the client of a plan
//! ([`plan_client`]), and how API errors become diagnostics
//! ([`api_error`]). A resource keeps only its spec mapping and its checks.

use std::sync::Arc;

use labforge_framework::schema::{Attribute, Validator, modifiers, validators};
use labforge_framework::{Ctx, Error, PlanChange, Result, Value};
use serde_json::Value as Json;

use super::DEFAULT_NAMESPACE;
use crate::client::{ApiError, Client, FieldConflict, Kind, Object};
use crate::connection::{Connection, Connections, connection_attr};

/// Each element of a list of object names (pools, peers) is a lowercase
/// DNS subdomain (RFC 1123), as Kubernetes requires of object names: a name
/// that could never match is refused at validate.
pub(crate) fn object_names() -> impl Validator {
    const SUBDOMAIN: &str = "a lowercase DNS subdomain (RFC 1123): `a-z`, `0-9`, `-` and `.`, at most 253 characters, e.g. `lab-pool`";
    validators::from_fn(format!("Each must be {SUBDOMAIN}."), |v| {
        for (i, e) in v.elements().unwrap_or(&[]).iter().enumerate() {
            let Some(n) = e.as_str() else { continue };
            let ok = n.len() <= 253
                && !n.is_empty()
                && n.split('.').all(|l| {
                    !l.is_empty()
                        && !l.starts_with('-')
                        && !l.ends_with('-')
                        && l.bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                });
            if !ok {
                return Err(format!("element {i}: {n:?} is not {SUBDOMAIN}"));
            }
        }
        Ok(())
    })
}

/// Each element is a Linux network interface name: 1 to 15 bytes, no
/// whitespace, `/` or `:`, not `.` or `..` (linux `net/core/dev.c`,
/// `dev_valid_name`, and `IFNAMSIZ` = 16 with the NUL).
pub(crate) fn interface_names() -> impl Validator {
    const IFNAME: &str =
        "an interface name: 1 to 15 characters, no spaces, `/` or `:`, not `.` or `..`";
    validators::from_fn(format!("Each must be {IFNAME}."), |v| {
        for (i, e) in v.elements().unwrap_or(&[]).iter().enumerate() {
            let Some(n) = e.as_str() else { continue };
            let ok = !n.is_empty()
                && n.len() <= 15
                && n != "."
                && n != ".."
                && !n.chars().any(|c| c.is_whitespace() || c == '/' || c == ':');
            if !ok {
                return Err(format!("element {i}: {n:?} is not {IFNAME}"));
            }
        }
        Ok(())
    })
}

/// `id`, `name`, `namespace`, `force_conflicts` and the resource's own
/// `kubernetes` block, shared by every kind.
pub(crate) fn identity(
    schema: labforge_framework::schema::Schema,
    what: &str,
) -> labforge_framework::schema::Schema {
    schema
        .attribute(
            "id",
            Attribute::string()
                .computed()
                .describe("`namespace/name` (also the import ID).")
                .plan_modifier(modifiers::use_state_for_unknown()),
        )
        .attribute(
            "name",
            Attribute::string()
                .required()
                .describe(format!("The {what}'s name (a DNS subdomain)."))
                .plan_modifier(modifiers::requires_replace())
                .validator(validators::matches(
                    "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
                    "a lowercase DNS subdomain (RFC 1123), e.g. `lab-pool`",
                ))
                .validator(validators::length_between(1, 253)),
        )
        .attribute(
            "namespace",
            Attribute::string()
                .default(DEFAULT_NAMESPACE)
                .describe("Namespace: MetalLB's own (its webhook refuses objects elsewhere).")
                .plan_modifier(modifiers::requires_replace())
                .validator(validators::matches(
                    "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
                    "a DNS label",
                ))
                .validator(validators::length_between(1, 63)),
        )
        .attribute(
            "force_conflicts",
            Attribute::bool().default(false).describe(
                "Take over fields another field manager owns (server-side apply `force`). \
                 Without it, such a conflict fails the apply, naming the manager and fields.",
            ),
        )
        .attribute("kubernetes", connection_attr())
}

/// What a MetalLB resource's model gives the shared life cycle: its kind,
/// identity and connection (see [`identity_fields`]), the spec it applies,
/// and how it reads its own fields back.
pub(crate) trait Managed: Default + Send + Sync + Sized + 'static {
    /// The object's kind.
    const KIND: Kind;
    /// `name`.
    fn name(&self) -> &str;
    /// `namespace` (`None`: the default).
    fn namespace(&self) -> Option<&str>;
    /// `force_conflicts`.
    fn force(&self) -> bool;
    /// The resource's own `kubernetes` block, if any.
    fn connection(&self) -> Option<&Connection>;
    /// Set `namespace`, `name` and `id` (`namespace/name`).
    fn set_identity(&mut self, namespace: String, name: String);
    /// Set `force_conflicts`.
    fn set_force(&mut self, force: bool);
    /// The spec this resource applies: what is configured (with the CRD's
    /// defaults the schema plans), nothing else.
    fn spec(&self) -> Json;
    /// The resource's own fields from the object read. `all`: take every
    /// field (import); otherwise an optional field this resource never set
    /// is left unset when another manager owns it (not fought over).
    fn fill(self, o: &Object<Json>, all: bool) -> Self;

    /// The namespace, defaulted.
    fn ns(&self) -> String {
        self.namespace().unwrap_or(DEFAULT_NAMESPACE).to_string()
    }
}

/// The [`Managed`] accessors of a model with the fields `id`, `name`,
/// `namespace`, `force_conflicts` and `kubernetes`.
macro_rules! identity_fields {
    () => {
        fn name(&self) -> &str {
            &self.name
        }
        fn namespace(&self) -> Option<&str> {
            self.namespace.as_deref()
        }
        fn force(&self) -> bool {
            self.force_conflicts.unwrap_or(false)
        }
        fn connection(&self) -> Option<&crate::connection::Connection> {
            self.kubernetes.as_ref()
        }
        fn set_force(&mut self, force: bool) {
            self.force_conflicts = Some(force);
        }
        fn set_identity(&mut self, namespace: String, name: String) {
            self.id = Some(format!("{namespace}/{name}"));
            self.namespace = Some(namespace);
            self.name = name;
        }
    };
}
pub(crate) use identity_fields;

/// The model read from `o`: the resource's fields, then the identity.
fn finish<M: Managed>(m: M, o: &Object<Json>, all: bool) -> M {
    let ns = o.metadata.namespace.clone().unwrap_or_else(|| m.ns());
    let name = m.name().to_string();
    let mut m = m.fill(o, all);
    m.set_identity(ns, name);
    m
}

/// Create or update (`verb`) with server-side apply; the state is what the
/// apiserver answered, read as a refresh reads it (never the plan copied).
pub(crate) async fn apply<M: Managed>(ctx: &Ctx<Connections>, plan: M, verb: &str) -> Result<M> {
    let client = ctx.client().resolve(plan.connection())?;
    // The write-only `kubernetes` is kept in private state for refresh and destroy.
    match plan.connection() {
        Some(c) => ctx.set_private(PRIVATE_CONNECTION, c)?,
        None => ctx.remove_private(PRIVATE_CONNECTION),
    }
    let ns = plan.ns();
    let o = apply_object(
        &client,
        M::KIND,
        M::KIND.kind,
        verb,
        &ns,
        plan.name(),
        plan.spec(),
        plan.force(),
    )
    .await?;
    Ok(finish(plan, &o, false))
}

/// Refresh: one `GET`; not found is `None` (removed from state).
pub(crate) async fn read<M: Managed>(ctx: &Ctx<Connections>, state: M) -> Result<Option<M>> {
    let client = stored_client(ctx)?;
    let ns = state.ns();
    let o = client
        .get::<Json>(M::KIND, &ns, state.name())
        .await
        .map_err(|e| {
            let summary = format!("Unable to read {}", M::KIND.kind);
            api_error(summary, M::KIND, &ns, state.name(), e)
        })?;
    Ok(o.map(|o| finish(state, &o, false)))
}

/// Delete; already gone is fine.
pub(crate) async fn delete<M: Managed>(ctx: &Ctx<Connections>, state: M) -> Result<()> {
    let client = stored_client(ctx)?;
    let ns = state.ns();
    client
        .delete(M::KIND, &ns, state.name())
        .await
        .map(|_| ())
        .map_err(|e| {
            let summary = format!("Unable to delete {}", M::KIND.kind);
            api_error(summary, M::KIND, &ns, state.name(), e)
        })
}

/// Import `namespace/name` through the provider block's client (an import
/// ID carries no connection, and Terraform gives import nothing else).
pub(crate) async fn import<M: Managed>(ctx: &Ctx<Connections>, id: &str) -> Result<M> {
    let summary = format!("Unable to import {}", M::KIND.kind);
    let (ns, name) = parse_import_id(id)?;
    let client = ctx.client().resolve(None).map_err(|e| {
        Error::new(
            summary.clone(),
            format!(
                "{e} Import reads through the provider's `kubernetes` block (or its \
                 variables, e.g. KUBE_CONFIG_PATH): a resource's own `kubernetes` block is not \
                 known to an import."
            ),
        )
    })?;
    let o = client
        .get::<Json>(M::KIND, &ns, &name)
        .await
        .map_err(|e| api_error(summary.clone(), M::KIND, &ns, &name, e))?
        .ok_or_else(|| {
            Error::new(
                summary.clone(),
                format!("no {} {ns}/{name} on the cluster", M::KIND.kind),
            )
        })?;
    let mut m = M::default();
    m.set_identity(ns, name);
    // Not known from the cluster: the schema's default.
    m.set_force(false);
    Ok(finish(m, &o, true))
}

/// The private-state key of the resource's own `kubernetes` settings (the
/// attribute is write-only: Terraform keeps it in no state, and refresh and
/// destroy need it).
const PRIVATE_CONNECTION: &str = "kubernetes";

/// The client of refresh and destroy: the connection the last apply
/// stored, else the provider block's.
fn stored_client(ctx: &Ctx<Connections>) -> Result<Arc<Client>> {
    let stored: Option<Connection> = ctx.private(PRIVATE_CONNECTION);
    ctx.client().resolve(stored.as_ref())
}

/// At plan: the client this resource will use, from the configuration's
/// own `kubernetes` or the provider block's. Builds no request. When an
/// existing object's connection differs from the one stored by the last
/// apply (a new kubeconfig, or one unknown until apply), `id` is planned
/// unknown so that the apply stores it: a write-only value makes no diff
/// by itself. `Err(config_unknown)` while the connection is unknown
/// (planned as is; checked at apply); "not configured" when there is
/// neither.
pub(crate) fn plan_client(
    ctx: &Ctx<Connections>,
    plan: &mut PlanChange<'_>,
) -> Result<Arc<Client>> {
    let conn = plan.config_attr("kubernetes").clone();
    let stored: Option<Connection> = ctx.private(PRIVATE_CONNECTION);
    let configured: Option<Connection> = if conn.is_null() || conn.contains_unknown() {
        None
    } else {
        Some(labforge_framework::model::from_value(&conn)?)
    };
    if !plan.creating() && (conn.contains_unknown() || configured != stored) {
        plan.set("id", Value::unknown());
    }
    if conn.contains_unknown() {
        return Err(Error::config_unknown("The resource's kubernetes attribute"));
    }
    ctx.client().resolve(configured.as_ref())
}

/// `namespace/name` (or just `name`, in the default namespace).
pub(crate) fn parse_import_id(id: &str) -> Result<(String, String), Error> {
    let parts: Vec<&str> = id.trim().split('/').collect();
    match parts.as_slice() {
        [name] if !name.is_empty() => Ok((DEFAULT_NAMESPACE.into(), (*name).to_string())),
        [ns, name] if !ns.is_empty() && !name.is_empty() => {
            Ok(((*ns).to_string(), (*name).to_string()))
        }
        _ => Err(Error::new(
            "Invalid import ID",
            format!("{id:?}: expected `namespace/name`, e.g. `metallb-system/lab-pool`"),
        )),
    }
}

/// Server-side apply of `spec` as `ns/name`, failing with "Unable to {verb}
/// {label}". Returns the object as the apiserver answered, for the resource
/// to read its state back from (never the plan copied).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn apply_object(
    client: &Client,
    kind: Kind,
    label: &str,
    verb: &str,
    ns: &str,
    name: &str,
    spec: Json,
    force: bool,
) -> Result<Object<Json>, Error> {
    client
        .apply(kind, ns, name, spec, force)
        .await
        .map_err(|e| api_error(format!("Unable to {verb} {label}"), kind, ns, name, e))
}

/// An API error as a diagnostic: `summary` ("Unable to create IPAddressPool"),
/// with what the apiserver said; a conflict names each other manager and
/// the fields it owns (from the Status `details.causes`), a schema
/// mismatch the fields the cluster's CRD does not declare.
pub(crate) fn api_error(summary: String, kind: Kind, ns: &str, name: &str, e: ApiError) -> Error {
    let what = format!("{} {ns}/{name}", kind.kind);
    let conflicts = e.conflicts();
    if e.is_apply_conflict() && !conflicts.is_empty() {
        return Error::new(
            summary,
            format!(
                "{what}: fields this resource sets are owned by another field manager: {}. Set \
                 `force_conflicts = true` to take them over, or stop setting them here. ({e})",
                describe_conflicts(&conflicts)
            ),
        );
    }
    if e.is_schema_mismatch() {
        let fields = e.undeclared_fields();
        let detail = if fields.is_empty() {
            format!(
                "the apiserver could not type the object against the cluster's {} CRD ({})",
                kind.kind, kind.api_version
            )
        } else {
            format!(
                "the cluster's {} CRD ({}) does not declare {}, which this resource sets",
                kind.kind,
                kind.api_version,
                fields.join(", ")
            )
        };
        return Error::new(
            summary,
            format!(
                "{what}: {detail}. The MetalLB CRDs installed are older than the ones this \
                 provider is written for (MetalLB v0.16): upgrade MetalLB and its CRDs, or leave \
                 the attribute unset. Server-side apply refuses the whole object for it. ({e})"
            ),
        );
    }
    if e.code() == Some(404) {
        return Error::new(
            summary,
            format!(
                "{what}: the server does not serve {}/{} in namespace {ns}: are MetalLB's CRDs \
                 installed, and does the namespace exist? ({e})",
                kind.api_version, kind.plural
            ),
        );
    }
    Error::new(summary, format!("{what}: {e}"))
}

/// `"helm" (server-side apply) owns .spec.addresses; "kubectl-edit" (an
/// update using metallb.io/v1beta1, such as kubectl edit or a controller)
/// owns .spec.autoAssign, .spec.avoidBuggyIPs`: managers in the order the
/// apiserver lists them.
fn describe_conflicts(conflicts: &[FieldConflict]) -> String {
    let mut groups: Vec<(&FieldConflict, Vec<&str>)> = Vec::new();
    for c in conflicts {
        match groups
            .iter_mut()
            .find(|(g, _)| g.manager == c.manager && g.detail == c.detail)
        {
            Some((_, fields)) => fields.push(&c.field),
            None => groups.push((c, vec![&c.field])),
        }
    }
    groups
        .iter()
        .map(|(c, fields)| {
            let how = if c.detail.is_empty() {
                "server-side apply".to_string()
            } else if c.is_update() {
                format!(
                    "an update {}, such as kubectl edit or a controller",
                    c.detail
                )
            } else {
                c.detail.clone()
            };
            format!("\"{}\" ({how}) owns {}", c.manager, fields.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use labforge_framework::{Diagnostics, StopSignal};
    use std::collections::BTreeMap;

    fn list_error(v: &dyn Validator, items: &[&str]) -> Option<String> {
        let value = Value::list(items.iter().map(|s| Value::string(*s)));
        let mut d = Diagnostics::new();
        v.validate(
            &labforge_framework::AttributePath::attr("x"),
            &value,
            &mut d,
        );
        d.iter().next().map(|e| e.detail.clone())
    }

    #[test]
    fn object_and_interface_names() {
        assert!(list_error(&object_names(), &["lab-pool", "a.b-c", "p1"]).is_none());
        for bad in ["Bad_Pool", "", "-x", "x-", "a..b", "UPPER"] {
            let e = list_error(&object_names(), &["ok", bad]).unwrap();
            assert!(e.starts_with("x: element 1: "), "{e}");
            assert!(e.contains("lowercase DNS subdomain"), "{e}");
        }
        assert!(list_error(&object_names(), &[&"a".repeat(254)]).is_some());
        assert!(list_error(&interface_names(), &["eth0", "enp1s0.100", "br-lan"]).is_none());
        for bad in ["", "eth 0", "a/b", "eth0:1", ".", "..", "sixteen-chars-xx"] {
            let e = list_error(&interface_names(), &[bad]).unwrap();
            assert!(e.contains("interface name"), "{e}");
        }
    }

    fn ctx(stored: Option<&Connection>) -> Ctx<Connections> {
        let mut private = BTreeMap::new();
        if let Some(c) = stored {
            private.insert(
                PRIVATE_CONNECTION.to_string(),
                serde_json::to_value(c).unwrap(),
            );
        }
        Ctx::new(
            Arc::new(Connections::new(None)),
            private,
            StopSignal::never(),
        )
    }

    fn own(host: &str) -> Connection {
        Connection {
            host: Some(host.into()),
            token: Some("t".into()),
            ..Connection::default()
        }
    }

    fn conn_value(c: &Connection) -> Value {
        Value::object([
            ("host", Value::from(c.host.clone().unwrap())),
            ("token", Value::from(c.token.clone().unwrap())),
        ])
    }

    /// Plan `config`'s `kubernetes` over `prior` (null: create) with
    /// `stored` in private state: the client's host (or the error), and
    /// whether `id` was planned unknown.
    fn plan(config: Value, prior: Value, stored: Option<&Connection>) -> (Result<String>, bool) {
        let ctx = ctx(stored);
        let config = Value::object([("kubernetes", config)]);
        let mut planned = Value::object([("id", Value::from("metallb-system/p"))]);
        let (mut rr, mut d) = (Vec::new(), Diagnostics::new());
        let mut change = PlanChange {
            config: &config,
            prior: &prior,
            planned: &mut planned,
            requires_replace: &mut rr,
            diagnostics: &mut d,
        };
        let r = plan_client(&ctx, &mut change).map(|c| c.host().to_string());
        (r, planned.get("id").is_some_and(Value::is_unknown))
    }

    #[test]
    fn plan_resolves_the_own_connection_and_replans_a_changed_one() {
        let a = own("https://a:6443");
        let existing = Value::object([("id", Value::from("metallb-system/p"))]);
        // New object, own connection: its client; nothing else planned.
        let (r, unknown) = plan(conn_value(&a), Value::Null, None);
        assert_eq!(r.unwrap(), "https://a:6443");
        assert!(!unknown);
        // Unknown until apply: planned as is, no client needed.
        let (r, unknown) = plan(Value::unknown(), Value::Null, None);
        assert!(r.unwrap_err().is_config_unknown());
        assert!(!unknown);
        // Neither its own nor the provider block: "not configured".
        let (r, _) = plan(Value::Null, Value::Null, None);
        assert!(r.unwrap_err().to_string().contains("not configured"));
        // Existing object, same connection as stored: no diff.
        let (_, unknown) = plan(conn_value(&a), existing.clone(), Some(&a));
        assert!(!unknown);
        // Another kubeconfig (or one unknown until apply): an update stores it.
        let b = own("https://b:6443");
        let (r, unknown) = plan(conn_value(&b), existing.clone(), Some(&a));
        assert_eq!(r.unwrap(), "https://b:6443");
        assert!(unknown);
        let (_, unknown) = plan(Value::unknown(), existing, Some(&a));
        assert!(unknown);
    }

    fn status(code: u16, v: Json) -> ApiError {
        ApiError::Status {
            method: "PATCH",
            path: "/apis/metallb.io/v1beta1/namespaces/metallb-system/ipaddresspools/p".into(),
            code,
            status: Box::new(serde_json::from_value(v).unwrap()),
        }
    }

    const POOL: Kind = Kind {
        api_version: "metallb.io/v1beta1",
        kind: "IPAddressPool",
        plural: "ipaddresspools",
    };

    #[test]
    fn conflicts_name_each_manager_and_its_fields() {
        let cause = |m: &str, f: &str| serde_json::json!({"reason": "FieldManagerConflict", "message": m, "field": f});
        let e = status(
            409,
            serde_json::json!({"reason": "Conflict", "message": "Apply failed with 3 conflicts: …",
            "details": {"causes": [
                cause("conflict with \"helm\"", ".spec.addresses"),
                cause("conflict with \"kubectl-edit\" using metallb.io/v1beta1", ".spec.autoAssign"),
                cause("conflict with \"kubectl-edit\" using metallb.io/v1beta1", ".spec.avoidBuggyIPs"),
            ]}}),
        );
        let d = api_error(
            "Unable to update IPAddressPool".into(),
            POOL,
            "metallb-system",
            "p",
            e,
        );
        let text = d.to_string();
        assert!(
            text.contains(
                "IPAddressPool metallb-system/p: fields this resource sets are owned by another field manager: \
                 \"helm\" (server-side apply) owns .spec.addresses; \"kubectl-edit\" (an update using \
                 metallb.io/v1beta1, such as kubectl edit or a controller) owns .spec.autoAssign, \
                 .spec.avoidBuggyIPs. Set `force_conflicts = true`"
            ),
            "{text}"
        );
        // A Conflict without causes (a stale resourceVersion) is said as it is.
        let e = status(
            409,
            serde_json::json!({"reason": "Conflict", "message": "the object has been modified"}),
        );
        let text = api_error(
            "Unable to update IPAddressPool".into(),
            POOL,
            "metallb-system",
            "p",
            e,
        )
        .to_string();
        assert!(
            !text.contains("force_conflicts") && text.contains("the object has been modified"),
            "{text}"
        );
    }

    #[test]
    fn a_schema_mismatch_names_the_undeclared_fields() {
        let e = status(
            500,
            serde_json::json!({"kind": "Status", "code": 500, "message": "failed to create typed patch object (metallb-system/p; metallb.io/v1beta1, Kind=IPAddressPool): .spec.serviceAllocation: field not declared in schema"}),
        );
        let text = api_error(
            "Unable to create IPAddressPool".into(),
            POOL,
            "metallb-system",
            "p",
            e,
        )
        .to_string();
        assert!(
            text.contains(
                "the cluster's IPAddressPool CRD (metallb.io/v1beta1) does not declare .spec.serviceAllocation, which this resource sets"
            ),
            "{text}"
        );
        assert!(text.contains("upgrade MetalLB"), "{text}");
    }
}
