//! `homelab_metallb_l2_advertisement`: a MetalLB `L2Advertisement`
//! (`metallb.io/v1beta1`, metallb `api/v1beta1/l2advertisement_types.go`).
//! No pool selection means every pool.

use labforge_framework::schema::{Attribute, Schema};
use labforge_framework::{
    AttributePath, Ctx, Diagnostics, PlanChange, Resource, Result, Type, Value,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json, json};

use super::{
    Managed, Selector, apply, check_selectors, delete, identity, identity_fields, import,
    plan_client, read, selectors_attr, selectors_from, selectors_json, strings_from,
};
use crate::client::{FIELD_MANAGER, Kind, Object};
use crate::connection::{Connection, Connections};

pub(crate) const KIND: Kind = Kind {
    api_version: "metallb.io/v1beta1",
    kind: "L2Advertisement",
    plural: "l2advertisements",
};

/// The resource.
#[derive(Debug, Clone, Copy, Default)]
pub struct L2Advertisement;

/// One advertisement.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct L2Model {
    /// `namespace/name`.
    pub id: Option<String>,
    /// Name.
    pub name: String,
    /// Namespace (default `metallb-system`).
    pub namespace: Option<String>,
    /// `spec.ipAddressPools`.
    pub ip_address_pools: Option<Vec<String>>,
    /// `spec.ipAddressPoolSelectors`.
    pub ip_address_pool_selectors: Option<Vec<Selector>>,
    /// `spec.nodeSelectors`.
    pub node_selectors: Option<Vec<Selector>>,
    /// `spec.serviceSelectors`.
    pub service_selectors: Option<Vec<Selector>>,
    /// `spec.interfaces`.
    pub interfaces: Option<Vec<String>>,
    /// SSA `force`.
    pub force_conflicts: Option<bool>,
    /// The resource's own `kubernetes` block (else the provider's).
    pub kubernetes: Option<Connection>,
}

/// The spec this resource applies: what is configured, nothing else.
pub(crate) fn spec(m: &L2Model) -> Json {
    let mut s = Map::new();
    if let Some(v) = &m.ip_address_pools {
        s.insert("ipAddressPools".into(), json!(v));
    }
    if let Some(v) = &m.ip_address_pool_selectors {
        s.insert("ipAddressPoolSelectors".into(), selectors_json(v));
    }
    if let Some(v) = &m.node_selectors {
        s.insert("nodeSelectors".into(), selectors_json(v));
    }
    if let Some(v) = &m.service_selectors {
        s.insert("serviceSelectors".into(), selectors_json(v));
    }
    if let Some(v) = &m.interfaces {
        s.insert("interfaces".into(), json!(v));
    }
    Json::Object(s)
}

/// Fill `m` from the object read (see the pool's `fill`).
fn fill(mut m: L2Model, o: &Object<Json>, all: bool) -> L2Model {
    let s = &o.spec;
    let mine = |set: bool, field: &str| all || set || o.metadata.owns(FIELD_MANAGER, field);
    if mine(m.ip_address_pools.is_some(), "ipAddressPools") {
        m.ip_address_pools = strings_from(s.get("ipAddressPools"));
    }
    if mine(
        m.ip_address_pool_selectors.is_some(),
        "ipAddressPoolSelectors",
    ) {
        m.ip_address_pool_selectors = selectors_from(s.get("ipAddressPoolSelectors"));
    }
    if mine(m.node_selectors.is_some(), "nodeSelectors") {
        m.node_selectors = selectors_from(s.get("nodeSelectors"));
    }
    if mine(m.service_selectors.is_some(), "serviceSelectors") {
        m.service_selectors = selectors_from(s.get("serviceSelectors"));
    }
    if mine(m.interfaces.is_some(), "interfaces") {
        m.interfaces = strings_from(s.get("interfaces"));
    }
    m
}

impl Managed for L2Model {
    const KIND: Kind = KIND;
    identity_fields!();
    fn spec(&self) -> Json {
        spec(self)
    }
    fn fill(self, o: &Object<Json>, all: bool) -> Self {
        fill(self, o, all)
    }
}

impl Resource for L2Advertisement {
    type Client = Connections;
    type Model = L2Model;
    const NAME: &'static str = "metallb_l2_advertisement";

    fn schema(&self) -> Schema {
        let s = Schema::new(
            "A MetalLB `L2Advertisement` (`metallb.io/v1beta1`): announce pools' addresses \
             with ARP/NDP. Without `ip_address_pools` and `ip_address_pool_selectors` it \
             announces every pool. Pools named here are not checked to exist (MetalLB accepts \
             unknown names and does nothing with them).",
        );
        identity(s, "advertisement")
            .attribute(
                "ip_address_pools",
                Attribute::list(Type::String)
                    .optional()
                    .describe("Names of the pools to announce (`ipAddressPools`).")
                    .validator(super::lifecycle::object_names()),
            )
            .attribute(
                "ip_address_pool_selectors",
                selectors_attr("Announce the pools matching these (`ipAddressPoolSelectors`)."),
            )
            .attribute(
                "node_selectors",
                selectors_attr("Announce from the nodes matching these (`nodeSelectors`)."),
            )
            .attribute(
                "service_selectors",
                selectors_attr(
                    "Announce only the services matching these, of the selected pools \
                     (`serviceSelectors`; default: all).",
                ),
            )
            .attribute(
                "interfaces",
                Attribute::list(Type::String)
                    .optional()
                    .describe("Announce on these interfaces only (`interfaces`).")
                    .validator(super::lifecycle::interface_names()),
            )
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        let mut d = Diagnostics::new();
        for sel in [
            "ip_address_pool_selectors",
            "node_selectors",
            "service_selectors",
        ] {
            if let Some(v) = config.get(sel) {
                check_selectors(v, AttributePath::attr(sel), &mut d);
            }
        }
        d
    }

    fn import_id_format(&self) -> Option<&'static str> {
        Some("`namespace/name`, e.g. `metallb-system/lab-l2`")
    }

    async fn modify_plan(&self, ctx: &Ctx<Connections>, plan: &mut PlanChange<'_>) -> Result<()> {
        plan_client(ctx, plan).map(|_| ())
    }

    async fn create(&self, ctx: &Ctx<Connections>, plan: L2Model) -> Result<L2Model> {
        apply(ctx, plan, "create").await
    }

    async fn read(&self, ctx: &Ctx<Connections>, state: L2Model) -> Result<Option<L2Model>> {
        read(ctx, state).await
    }

    async fn update(
        &self,
        ctx: &Ctx<Connections>,
        _prior: L2Model,
        plan: L2Model,
    ) -> Result<L2Model> {
        apply(ctx, plan, "update").await
    }

    async fn delete(&self, ctx: &Ctx<Connections>, state: L2Model) -> Result<()> {
        delete(ctx, state).await
    }

    async fn import(&self, ctx: &Ctx<Connections>, id: &str) -> Result<L2Model> {
        import(ctx, id).await
    }
}
