//! `homelab_metallb_ip_address_pool`: a MetalLB `IPAddressPool`
//! (`metallb.io/v1beta1`, metallb `api/v1beta1/ipaddresspool_types.go`).

use labforge_framework::schema::{Attribute, Nesting, Schema};
use labforge_framework::{AttributePath, Ctx, Diagnostics, Resource, Result, Type, Value};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json, json};

use super::{
    Selector, api_error, apply_object, check_selectors, identity, parse_import_id, selectors_attr,
    selectors_from, selectors_json, strings_from,
};
use crate::Client;
use crate::client::{FIELD_MANAGER, Kind, Object};
use crate::net;

const KIND: Kind = Kind {
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
#[derive(Debug, Clone, Serialize, Deserialize)]
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
}

impl PoolModel {
    fn ns(&self) -> String {
        self.namespace
            .clone()
            .unwrap_or_else(|| super::DEFAULT_NAMESPACE.into())
    }
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
    m.namespace = Some(o.metadata.namespace.clone().unwrap_or_else(|| m.ns()));
    m.id = Some(format!("{}/{}", m.ns(), m.name));
    m
}

impl IpAddressPool {
    async fn apply(&self, ctx: &Ctx<Client>, plan: PoolModel, verb: &str) -> Result<PoolModel> {
        let ns = plan.ns();
        let force = plan.force_conflicts.unwrap_or(false);
        let o = apply_object(
            ctx.client(),
            KIND,
            "IPAddressPool",
            verb,
            &ns,
            &plan.name,
            spec(&plan),
            force,
        )
        .await?;
        // The state is what the apiserver answered, read as a refresh reads it.
        Ok(fill(plan, &o, false))
    }
}

impl Resource for IpAddressPool {
    type Client = Client;
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
                         (`192.168.1.240-192.168.1.250`). They may not overlap.",
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

    async fn create(&self, ctx: &Ctx<Client>, plan: PoolModel) -> Result<PoolModel> {
        self.apply(ctx, plan, "create").await
    }

    async fn read(&self, ctx: &Ctx<Client>, state: PoolModel) -> Result<Option<PoolModel>> {
        let ns = state.ns();
        let o = ctx
            .client()
            .get::<Json>(KIND, &ns, &state.name)
            .await
            .map_err(|e| {
                api_error(
                    "Unable to read IPAddressPool".into(),
                    KIND,
                    &ns,
                    &state.name,
                    e,
                )
            })?;
        Ok(o.map(|o| fill(state, &o, false)))
    }

    async fn update(
        &self,
        ctx: &Ctx<Client>,
        _prior: PoolModel,
        plan: PoolModel,
    ) -> Result<PoolModel> {
        self.apply(ctx, plan, "update").await
    }

    async fn delete(&self, ctx: &Ctx<Client>, state: PoolModel) -> Result<()> {
        let ns = state.ns();
        ctx.client()
            .delete(KIND, &ns, &state.name)
            .await
            .map(|_| ())
            .map_err(|e| {
                api_error(
                    "Unable to delete IPAddressPool".into(),
                    KIND,
                    &ns,
                    &state.name,
                    e,
                )
            })
    }

    async fn import(&self, ctx: &Ctx<Client>, id: &str) -> Result<PoolModel> {
        let (ns, name) = parse_import_id(id)?;
        let m = PoolModel {
            id: None,
            name: name.clone(),
            namespace: Some(ns.clone()),
            addresses: Vec::new(),
            auto_assign: None,
            avoid_buggy_ips: None,
            service_allocation: None,
            force_conflicts: Some(false),
        };
        let o = ctx
            .client()
            .get::<Json>(KIND, &ns, &name)
            .await
            .map_err(|e| api_error("Unable to import IPAddressPool".into(), KIND, &ns, &name, e))?
            .ok_or_else(|| {
                labforge_framework::Error::new(
                    "Unable to import IPAddressPool",
                    format!("no IPAddressPool {ns}/{name} on the cluster"),
                )
            })?;
        Ok(fill(m, &o, true))
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
            force_conflicts: None,
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
