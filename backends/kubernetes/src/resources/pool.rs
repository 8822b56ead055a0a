//! `homelab_metallb_ip_address_pool`: a MetalLB `IPAddressPool`
//! (`metallb.io/v1beta1`, metallb `api/v1beta1/ipaddresspool_types.go`).

use labforge_framework::schema::{Attribute, Nesting, Schema};
use labforge_framework::{
    AttributePath, Ctx, Diagnostics, PlanChange, Resource, Result, Type, Value,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json, json};

use super::{
    Managed, Selector, apply, check_selectors, delete, identity, identity_fields, import,
    plan_client, read, selectors_attr, selectors_from, selectors_json, strings_from,
};
use crate::Client;
use crate::client::{FIELD_MANAGER, Kind, Object};
use crate::connection::{Connection, Connections};
use crate::net;
use std::time::Duration;

pub(crate) const KIND: Kind = Kind {
    api_version: "metallb.io/v1beta1",
    kind: "IPAddressPool",
    plural: "ipaddresspools",
};

/// The resource.
#[derive(Debug, Clone, Copy, Default)]
pub struct IpAddressPool;

/// `spec.serviceAllocation`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ServiceAllocation {
    /// `priority`: lower is preferred.
    pub priority: Option<i64>,
    /// `namespaces`.
    pub namespaces: Option<Vec<String>>,
    /// `namespaceSelectors`.
    pub namespace_selectors: Option<Vec<Selector>>,
    /// `serviceSelectors`.
    pub service_selectors: Option<Vec<Selector>>,
}

/// One pool.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PoolModel {
    /// `namespace/name`.
    pub id: Option<String>,
    /// Name.
    pub name: String,
    /// Namespace (default `metallb-system`).
    pub namespace: Option<String>,
    /// `spec.addresses`.
    pub addresses: Vec<String>,
    /// `spec.autoAssign` (CRD default true).
    pub auto_assign: Option<bool>,
    /// `spec.avoidBuggyIPs` (CRD default false).
    pub avoid_buggy_ips: Option<bool>,
    /// `spec.serviceAllocation`.
    pub service_allocation: Option<ServiceAllocation>,
    /// SSA `force`.
    pub force_conflicts: Option<bool>,
    /// The resource's own `kubernetes` block (else the provider's).
    pub kubernetes: Option<Connection>,
}

/// The spec this resource applies: what is configured (with the CRD's
/// defaults, which the schema plans), nothing else.
pub(crate) fn spec(m: &PoolModel) -> Json {
    let mut s = Map::new();
    s.insert("addresses".into(), json!(m.addresses));
    s.insert("autoAssign".into(), json!(m.auto_assign.unwrap_or(true)));
    s.insert(
        "avoidBuggyIPs".into(),
        json!(m.avoid_buggy_ips.unwrap_or(false)),
    );
    if let Some(a) = &m.service_allocation {
        let mut o = Map::new();
        if let Some(p) = a.priority {
            o.insert("priority".into(), json!(p));
        }
        if let Some(n) = &a.namespaces {
            o.insert("namespaces".into(), json!(n));
        }
        if let Some(n) = &a.namespace_selectors {
            o.insert("namespaceSelectors".into(), selectors_json(n));
        }
        if let Some(n) = &a.service_selectors {
            o.insert("serviceSelectors".into(), selectors_json(n));
        }
        s.insert("serviceAllocation".into(), Json::Object(o));
    }
    Json::Object(s)
}

/// Fill `m` from the object read. `all`: take every field (import);
/// otherwise an optional field this resource never set is left unset when
/// another manager owns it (not fought over).
fn fill(mut m: PoolModel, o: &Object<Json>, all: bool) -> PoolModel {
    let s = &o.spec;
    m.addresses = strings_from(s.get("addresses")).unwrap_or_default();
    m.auto_assign = Some(s.get("autoAssign").and_then(Json::as_bool).unwrap_or(true));
    m.avoid_buggy_ips = Some(
        s.get("avoidBuggyIPs")
            .and_then(Json::as_bool)
            .unwrap_or(false),
    );
    let take = all
        || m.service_allocation.is_some()
        || o.metadata.owns(FIELD_MANAGER, "serviceAllocation");
    if take {
        m.service_allocation = s.get("serviceAllocation").map(|a| ServiceAllocation {
            priority: a.get("priority").and_then(Json::as_i64),
            namespaces: strings_from(a.get("namespaces")),
            namespace_selectors: selectors_from(a.get("namespaceSelectors")),
            service_selectors: selectors_from(a.get("serviceSelectors")),
        });
    }
    m
}

impl Managed for PoolModel {
    const KIND: Kind = KIND;
    identity_fields!();
    fn spec(&self) -> Json {
        spec(self)
    }
    fn fill(self, o: &Object<Json>, all: bool) -> Self {
        fill(self, o, all)
    }
}

/// Across pools, at plan: MetalLB's webhook validates every pool of the
/// namespace with the candidate swapped in (metallb
/// `internal/k8s/webhooks/webhookv1beta1/ipaddresspool_webhook.go`,
/// `ipAddressListWithUpdate`), so an address overlapping another pool is
/// refused at apply. When the cluster answers, the namespace's pools are
/// listed (one request, only when the addresses are new or changed) and an
/// overlap is an error at `addresses[i]` naming the other pool. When it
/// does not (a cluster made in the same apply), the check is skipped: a
/// plan for new objects needs no cluster. Pools of the same configuration
/// that do not exist yet cannot be seen here; the webhook refuses the
/// second at apply.
async fn overlaps_with_other_pools(client: &Client, plan: &mut PlanChange<'_>) {
    let addrs = plan.planned_attr("addresses");
    if addrs.contains_unknown() || (!plan.creating() && plan.prior_attr("addresses") == addrs) {
        return;
    }
    let mine: Vec<(usize, String, net::Span)> = addrs
        .elements()
        .unwrap_or_default()
        .iter()
        .enumerate()
        .filter_map(|(i, v)| {
            let a = v.as_str()?;
            net::parse(a).ok().map(|sp| (i, a.to_string(), sp))
        })
        .collect();
    let (Some(name), Some(ns)) = (
        plan.planned_attr("name").as_str().map(str::to_string),
        plan.planned_attr("namespace").as_str().map(str::to_string),
    ) else {
        return;
    };
    if mine.is_empty() {
        return;
    }
    let others = match client
        .list_once::<Json>(KIND, &ns, Duration::from_secs(5))
        .await
    {
        Ok(o) => o,
        Err(e) => {
            tracing::debug!(error = %e, "pools not listed at plan; the overlap check is left to the webhook");
            return;
        }
    };
    for other in others.iter().filter(|o| o.metadata.name != name) {
        let theirs = strings_from(other.spec.get("addresses")).unwrap_or_default();
        for (i, a, sp) in &mine {
            let hit = theirs
                .iter()
                .find(|t| net::parse(t).is_ok_and(|o| o.overlaps(sp)));
            if let Some(t) = hit {
                plan.diagnostics.attribute_error(
                    AttributePath::attr("addresses").join_index(*i as i64),
                    "Invalid attribute value",
                    format!(
                        "addresses[{i}]: CIDR {a:?} overlaps with CIDR {t:?} of IPAddressPool \
                         {ns}/{} on the cluster: MetalLB's webhook refuses overlapping pools.",
                        other.metadata.name
                    ),
                );
            }
        }
    }
}

impl Resource for IpAddressPool {
    type Client = Connections;
    type Model = PoolModel;
    const NAME: &'static str = "metallb_ip_address_pool";

    fn schema(&self) -> Schema {
        let s = Schema::new(
            "A MetalLB `IPAddressPool` (`metallb.io/v1beta1`): addresses MetalLB may give \
             LoadBalancer services. Written with server-side apply (field manager \
             `labforge-homelab`); fields other managers own are left alone. A plan for a new \
             pool needs no reachable cluster.",
        );
        identity(s, "pool")
            .attribute(
                "addresses",
                Attribute::list(Type::String)
                    .required()
                    .describe(
                        "CIDRs (`10.0.0.0/28`, `fd00::/120`) or ranges \
                         (`192.168.1.240-192.168.1.250`). They may not overlap each other, nor another \
                         pool's in the namespace (checked at plan when the cluster answers; pools \
                         of this configuration that do not exist yet are checked by MetalLB's \
                         webhook at apply).",
                    )
                    .validator(labforge_framework::schema::validators::size_between(
                        1, 4096,
                    )),
            )
            .attribute(
                "auto_assign",
                Attribute::bool()
                    .default(true)
                    .describe("Hand out addresses without a request for this pool (`autoAssign`)."),
            )
            .attribute(
                "avoid_buggy_ips",
                Attribute::bool()
                    .default(false)
                    .describe("Skip addresses ending in `.0` and `.255` (`avoidBuggyIPs`)."),
            )
            .attribute(
                "service_allocation",
                Attribute::nested(
                    Nesting::Single,
                    [
                        (
                            "priority",
                            Attribute::int()
                                .optional()
                                .describe("Priority among pools: lower is preferred."),
                        ),
                        (
                            "namespaces",
                            Attribute::list(Type::String)
                                .optional()
                                .describe("Only services of these namespaces."),
                        ),
                        (
                            "namespace_selectors",
                            selectors_attr("Only services of namespaces matching these."),
                        ),
                        (
                            "service_selectors",
                            selectors_attr("Only services matching these."),
                        ),
                    ],
                )
                .optional()
                .describe("Which services the pool serves (`serviceAllocation`)."),
            )
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        let mut d = Diagnostics::new();
        if let Some(list) = config.get("addresses").and_then(Value::elements) {
            let known: Vec<Option<String>> = list
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect();
            if known.iter().all(Option::is_some) {
                let all: Vec<String> = known.into_iter().flatten().collect();
                for (i, msg) in net::check_pool(&all) {
                    d.attribute_error(
                        AttributePath::attr("addresses").join_index(i as i64),
                        "Invalid attribute value",
                        format!("addresses[{i}]: {msg}"),
                    );
                }
            }
        }
        if let Some(a) = config.get("service_allocation") {
            for sel in ["namespace_selectors", "service_selectors"] {
                if let Some(v) = a.get(sel) {
                    check_selectors(
                        v,
                        AttributePath::attr("service_allocation").join_attr(sel),
                        &mut d,
                    );
                }
            }
        }
        d
    }

    fn import_id_format(&self) -> Option<&'static str> {
        Some("`namespace/name`, e.g. `metallb-system/lab-pool`")
    }

    async fn modify_plan(&self, ctx: &Ctx<Connections>, plan: &mut PlanChange<'_>) -> Result<()> {
        let client = plan_client(ctx, plan)?;
        overlaps_with_other_pools(&client, plan).await;
        Ok(())
    }

    async fn create(&self, ctx: &Ctx<Connections>, plan: PoolModel) -> Result<PoolModel> {
        apply(ctx, plan, "create").await
    }

    async fn read(&self, ctx: &Ctx<Connections>, state: PoolModel) -> Result<Option<PoolModel>> {
        read(ctx, state).await
    }

    async fn update(
        &self,
        ctx: &Ctx<Connections>,
        _prior: PoolModel,
        plan: PoolModel,
    ) -> Result<PoolModel> {
        apply(ctx, plan, "update").await
    }

    async fn delete(&self, ctx: &Ctx<Connections>, state: PoolModel) -> Result<()> {
        delete(ctx, state).await
    }

    async fn import(&self, ctx: &Ctx<Connections>, id: &str) -> Result<PoolModel> {
        import(ctx, id).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn spec_sends_what_is_configured_with_crd_defaults() {
        let m = PoolModel {
            id: None,
            name: "p".into(),
            namespace: None,
            addresses: vec!["10.0.0.0/28".into()],
            auto_assign: None,
            avoid_buggy_ips: Some(true),
            service_allocation: None,
            ..PoolModel::default()
        };
        assert_eq!(
            spec(&m),
            json!({"addresses": ["10.0.0.0/28"], "autoAssign": true, "avoidBuggyIPs": true})
        );
    }

    #[test]
    fn validation_names_the_address() {
        let d = IpAddressPool.validate(&Value::object([(
            "addresses",
            Value::list([
                Value::string("10.0.0.0/28"),
                Value::string("10.0.0.9-10.0.0.1"),
            ]),
        )]));
        assert!(d.has_errors());
        assert_eq!(
            d.0[0].attribute,
            Some(AttributePath::attr("addresses").join_index(1))
        );
    }
}
