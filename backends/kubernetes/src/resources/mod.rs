//! The MetalLB resources: one Kubernetes object each, written with
//! server-side apply. What they share: the namespace/name identity and
//! import ID, the per-resource `kubernetes` block, label selectors, the validation of
//! names, how API errors become diagnostics, and their whole life cycle
//! ([`Managed`] and [`apply`], [`read`], [`delete`], [`import`],
//! [`plan_client`]): a resource keeps only its spec mapping and its checks.

mod bgp_adv;
mod bgp_peer;
mod community;
mod l2;
mod pool;

use std::collections::BTreeMap;
use std::sync::Arc;

use labforge_framework::schema::{Attribute, Nesting, modifiers, validators};
use labforge_framework::{AttributePath, Ctx, Diagnostics, Error, PlanChange, Result, Type, Value};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json, json};

use crate::client::{ApiError, Client, Kind, Object};
use crate::connection::{Connection, Connections, connection_attr};

pub use bgp_adv::BgpAdvertisement;
pub use bgp_peer::BgpPeer;
pub use community::Community;
pub use l2::L2Advertisement;
pub use pool::IpAddressPool;

/// MetalLB's namespace in its manifests and Helm chart; its webhook refuses
/// objects elsewhere (`resource must be created in <ns> namespace`).
pub const DEFAULT_NAMESPACE: &str = "metallb-system";

/// A Kubernetes label selector (meta/v1 `LabelSelector`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Selector {
    /// `matchLabels`.
    pub match_labels: Option<BTreeMap<String, String>>,
    /// `matchExpressions`.
    pub match_expressions: Option<Vec<Expression>>,
}

/// One `matchExpressions` entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Expression {
    /// Label key.
    pub key: String,
    /// `In`, `NotIn`, `Exists`, `DoesNotExist`.
    pub operator: String,
    /// Values (`In`/`NotIn` only).
    pub values: Option<Vec<String>>,
}

const OPERATORS: &[&str] = &["In", "NotIn", "Exists", "DoesNotExist"];

/// The schema of a list of selectors.
pub(crate) fn selectors_attr(description: &str) -> Attribute {
    Attribute::nested(
        Nesting::List,
        [
            (
                "match_labels",
                Attribute::map(Type::String)
                    .optional()
                    .describe("Labels that must all match (`matchLabels`)."),
            ),
            (
                "match_expressions",
                Attribute::nested(
                    Nesting::List,
                    [
                        ("key", Attribute::string().required().describe("Label key.")),
                        (
                            "operator",
                            Attribute::string()
                                .required()
                                .describe("`In`, `NotIn`, `Exists` or `DoesNotExist`.")
                                .validator(validators::one_of(OPERATORS)),
                        ),
                        (
                            "values",
                            Attribute::list(Type::String).optional().describe(
                                "Values: required for `In`/`NotIn`, not allowed otherwise.",
                            ),
                        ),
                    ],
                )
                .optional()
                .describe("Label expressions (`matchExpressions`)."),
            ),
        ],
    )
    .optional()
    .describe(description)
}

/// Selector as the API writes it.
pub(crate) fn selector_json(s: &Selector) -> Json {
    let mut m = Map::new();
    if let Some(l) = &s.match_labels {
        m.insert("matchLabels".into(), json!(l));
    }
    if let Some(e) = &s.match_expressions {
        let v: Vec<Json> = e
            .iter()
            .map(|x| {
                let mut o = json!({"key": x.key, "operator": x.operator});
                if let Some(vals) = &x.values {
                    o["values"] = json!(vals);
                }
                o
            })
            .collect();
        m.insert("matchExpressions".into(), Json::Array(v));
    }
    Json::Object(m)
}

pub(crate) fn selectors_json(v: &[Selector]) -> Json {
    Json::Array(v.iter().map(selector_json).collect())
}

/// Selectors as read from the API.
pub(crate) fn selectors_from(v: Option<&Json>) -> Option<Vec<Selector>> {
    let a = v?.as_array()?;
    Some(
        a.iter()
            .map(|s| Selector {
                match_labels: s.get("matchLabels").and_then(|l| {
                    l.as_object().map(|o| {
                        o.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                            .collect()
                    })
                }),
                match_expressions: s
                    .get("matchExpressions")
                    .and_then(Json::as_array)
                    .map(|es| {
                        es.iter()
                            .map(|e| Expression {
                                key: str_of(e.get("key")),
                                operator: str_of(e.get("operator")),
                                values: strings_from(e.get("values")),
                            })
                            .collect()
                    }),
            })
            .collect(),
    )
}

fn str_of(v: Option<&Json>) -> String {
    v.and_then(Json::as_str).unwrap_or_default().to_string()
}

pub(crate) fn strings_from(v: Option<&Json>) -> Option<Vec<String>> {
    v?.as_array().map(|a| {
        a.iter()
            .filter_map(Json::as_str)
            .map(str::to_string)
            .collect()
    })
}

/// Plan-time checks of a list of selectors in `config` at `attr`, as
/// apimachinery's `ValidateLabelSelectorRequirement` does.
pub(crate) fn check_selectors(config: &Value, path: AttributePath, d: &mut Diagnostics) {
    let Some(list) = config.elements() else {
        return;
    };
    for (i, sel) in list.iter().enumerate() {
        let Some(exprs) = sel.get("match_expressions").and_then(Value::elements) else {
            continue;
        };
        for (j, e) in exprs.iter().enumerate() {
            let op = e.get("operator").and_then(Value::as_str);
            let values = e.get("values").cloned().unwrap_or(Value::Null);
            if values.is_unknown() || op.is_none() {
                continue;
            }
            let n = values.elements().map(|l| l.len()).unwrap_or(0);
            let at = path
                .join_index(i as i64)
                .join_attr("match_expressions")
                .join_index(j as i64)
                .join_attr("values");
            match op {
                Some("In" | "NotIn") if n == 0 => d.attribute_error(
                    at,
                    "Invalid attribute value",
                    "`values` must be non-empty when `operator` is In or NotIn.",
                ),
                Some("Exists" | "DoesNotExist") if n > 0 => d.attribute_error(
                    at,
                    "Invalid attribute value",
                    "`values` must be empty when `operator` is Exists or DoesNotExist.",
                ),
                _ => {}
            }
        }
    }
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
/// with what the apiserver said, conflicts named.
pub(crate) fn api_error(summary: String, kind: Kind, ns: &str, name: &str, e: ApiError) -> Error {
    let what = format!("{} {ns}/{name}", kind.kind);
    if e.is_apply_conflict() {
        let list: Vec<String> = e
            .conflicts()
            .into_iter()
            .map(|(m, f)| format!("{m} ({f})"))
            .collect();
        return Error::new(
            summary,
            format!(
                "{what}: another field manager owns fields this resource sets: {}. Set \
                 `force_conflicts = true` to take them over, or stop setting them here. ({e})",
                list.join("; ")
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use labforge_framework::StopSignal;

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
}
