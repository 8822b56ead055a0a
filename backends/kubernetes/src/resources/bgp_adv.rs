//! `homelab_metallb_bgp_advertisement`: a MetalLB `BGPAdvertisement`
//! (`metallb.io/v1beta1`, metallb `api/v1beta1/bgpadvertisement_types.go`).

use labforge_framework::schema::{Attribute, Schema, validators};
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
    kind: "BGPAdvertisement",
    plural: "bgpadvertisements",
};

/// The resource.
#[derive(Debug, Clone, Copy, Default)]
pub struct BgpAdvertisement;

/// One advertisement.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BgpAdvModel {
    /// `namespace/name`.
    pub id: Option<String>,
    /// Name.
    pub name: String,
    /// Namespace.
    pub namespace: Option<String>,
    /// `aggregationLength` (CRD default 32).
    pub aggregation_length: Option<i64>,
    /// `aggregationLengthV6` (CRD default 128).
    pub aggregation_length_v6: Option<i64>,
    /// `localPref`.
    pub local_pref: Option<i64>,
    /// `communities`.
    pub communities: Option<Vec<String>>,
    /// `ipAddressPools`.
    pub ip_address_pools: Option<Vec<String>>,
    /// `ipAddressPoolSelectors`.
    pub ip_address_pool_selectors: Option<Vec<Selector>>,
    /// `nodeSelectors`.
    pub node_selectors: Option<Vec<Selector>>,
    /// `spec.serviceSelectors`.
    pub service_selectors: Option<Vec<Selector>>,
    /// `peers`.
    pub peers: Option<Vec<String>>,
    /// SSA `force`.
    pub force_conflicts: Option<bool>,
    /// The resource's own `kubernetes` block (else the provider's).
    pub kubernetes: Option<Connection>,
}

pub(crate) fn spec(m: &BgpAdvModel) -> Json {
    let mut s = Map::new();
    s.insert(
        "aggregationLength".into(),
        json!(m.aggregation_length.unwrap_or(32)),
    );
    s.insert(
        "aggregationLengthV6".into(),
        json!(m.aggregation_length_v6.unwrap_or(128)),
    );
    if let Some(v) = m.local_pref {
        s.insert("localPref".into(), json!(v));
    }
    for (k, v) in [
        ("communities", &m.communities),
        ("ipAddressPools", &m.ip_address_pools),
        ("peers", &m.peers),
    ] {
        if let Some(v) = v {
            s.insert(k.into(), json!(v));
        }
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
    Json::Object(s)
}

fn fill(mut m: BgpAdvModel, o: &Object<Json>, all: bool) -> BgpAdvModel {
    let s = &o.spec;
    let mine = |set: bool, field: &str| all || set || o.metadata.owns(FIELD_MANAGER, field);
    m.aggregation_length = Some(
        s.get("aggregationLength")
            .and_then(Json::as_i64)
            .unwrap_or(32),
    );
    m.aggregation_length_v6 = Some(
        s.get("aggregationLengthV6")
            .and_then(Json::as_i64)
            .unwrap_or(128),
    );
    if mine(m.local_pref.is_some(), "localPref") {
        m.local_pref = s.get("localPref").and_then(Json::as_i64);
    }
    if mine(m.communities.is_some(), "communities") {
        m.communities = strings_from(s.get("communities"));
    }
    if mine(m.ip_address_pools.is_some(), "ipAddressPools") {
        m.ip_address_pools = strings_from(s.get("ipAddressPools"));
    }
    if mine(m.peers.is_some(), "peers") {
        m.peers = strings_from(s.get("peers"));
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
    m
}

/// A BGP community: `AA:NN` (16-bit halves), `large:AA:BB:CC` (32-bit
/// parts), or the name of a `Community` alias (metallb
/// `internal/bgp/community`).
fn check_community(c: &str) -> Result<(), String> {
    if let Some(rest) = c.strip_prefix("large:") {
        let parts: Vec<&str> = rest.split(':').collect();
        if parts.len() == 3 && parts.iter().all(|p| p.parse::<u32>().is_ok()) {
            return Ok(());
        }
        return Err(format!(
            "invalid large community {c:?}: expected large:AA:BB:CC"
        ));
    }
    if c.contains(':') {
        let parts: Vec<&str> = c.split(':').collect();
        if parts.len() == 2 && parts.iter().all(|p| p.parse::<u16>().is_ok()) {
            return Ok(());
        }
        return Err(format!(
            "invalid community {c:?}: expected AA:NN with 16-bit numbers"
        ));
    }
    Ok(())
}

impl Managed for BgpAdvModel {
    const KIND: Kind = KIND;
    identity_fields!();
    fn spec(&self) -> Json {
        spec(self)
    }
    fn fill(self, o: &Object<Json>, all: bool) -> Self {
        fill(self, o, all)
    }
}

impl Resource for BgpAdvertisement {
    type Client = Connections;
    type Model = BgpAdvModel;
    const NAME: &'static str = "metallb_bgp_advertisement";

    fn schema(&self) -> Schema {
        let s = Schema::new(
            "A MetalLB `BGPAdvertisement` (`metallb.io/v1beta1`): announce pools' addresses to \
             BGP peers. Without pools or pool selectors it announces every pool; without \
             `peers`, to every peer.",
        );
        identity(s, "advertisement")
            .attribute(
                "aggregation_length",
                Attribute::int()
                    .default(32)
                    .describe("IPv4 prefix length announced (`aggregationLength`).")
                    .validator(validators::between(1, 32)),
            )
            .attribute(
                "aggregation_length_v6",
                Attribute::int()
                    .default(128)
                    .describe("IPv6 prefix length announced (`aggregationLengthV6`).")
                    .validator(validators::between(1, 128)),
            )
            .attribute(
                "local_pref",
                Attribute::int()
                    .optional()
                    .describe("BGP LOCAL_PREF (iBGP only).")
                    .validator(validators::between(0, u32::MAX as i64)),
            )
            .attribute(
                "communities",
                Attribute::list(Type::String).optional().describe(
                    "Communities: `AA:NN`, `large:AA:BB:CC`, or a `Community` alias name.",
                ),
            )
            .attribute(
                "ip_address_pools",
                Attribute::list(Type::String)
                    .optional()
                    .describe("Names of the pools to announce.")
                    .validator(super::lifecycle::object_names()),
            )
            .attribute(
                "ip_address_pool_selectors",
                selectors_attr("Announce the pools matching these."),
            )
            .attribute(
                "node_selectors",
                selectors_attr("Announce from the nodes matching these."),
            )
            .attribute(
                "service_selectors",
                selectors_attr(
                    "Announce only the services matching these, of the selected pools \
                     (`serviceSelectors`; default: all). Not with an `aggregation_length` other \
                     than 32 or an `aggregation_length_v6` other than 128 (the CRD's rule).",
                ),
            )
            .attribute(
                "peers",
                Attribute::list(Type::String)
                    .optional()
                    .describe("Names of the `BGPPeer`s to announce to (default: all).")
                    .validator(super::lifecycle::object_names()),
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
        // The CRD's CEL rule (metallb `config/crd/bases/metallb.io_bgpadvertisements.yaml`).
        let selects = config
            .get("service_selectors")
            .and_then(Value::elements)
            .is_some_and(|l| !l.is_empty());
        let not = |k: &str, n: i64| {
            config
                .get(k)
                .and_then(Value::as_i64)
                .is_some_and(|v| v != n)
        };
        if selects && (not("aggregation_length", 32) || not("aggregation_length_v6", 128)) {
            d.attribute_error(
                AttributePath::attr("service_selectors"),
                "Invalid attribute combination",
                "serviceSelectors and aggregationLength are mutually exclusive, can only be used \
                 together with default aggregationLength (32) and aggregationLengthV6 (128)",
            );
        }
        if let Some(list) = config.get("communities").and_then(Value::elements) {
            for (i, c) in list.iter().enumerate() {
                if let Some(c) = c.as_str()
                    && let Err(e) = check_community(c)
                {
                    d.attribute_error(
                        AttributePath::attr("communities").join_index(i as i64),
                        "Invalid attribute value",
                        format!("communities[{i}]: {e}"),
                    );
                }
            }
        }
        d
    }

    fn import_id_format(&self) -> Option<&'static str> {
        Some("`namespace/name`, e.g. `metallb-system/lab-bgp`")
    }

    async fn modify_plan(&self, ctx: &Ctx<Connections>, plan: &mut PlanChange<'_>) -> Result<()> {
        plan_client(ctx, plan).map(|_| ())
    }

    async fn create(&self, ctx: &Ctx<Connections>, plan: BgpAdvModel) -> Result<BgpAdvModel> {
        apply(ctx, plan, "create").await
    }

    async fn read(
        &self,
        ctx: &Ctx<Connections>,
        state: BgpAdvModel,
    ) -> Result<Option<BgpAdvModel>> {
        read(ctx, state).await
    }

    async fn update(
        &self,
        ctx: &Ctx<Connections>,
        _prior: BgpAdvModel,
        plan: BgpAdvModel,
    ) -> Result<BgpAdvModel> {
        apply(ctx, plan, "update").await
    }

    async fn delete(&self, ctx: &Ctx<Connections>, state: BgpAdvModel) -> Result<()> {
        delete(ctx, state).await
    }

    async fn import(&self, ctx: &Ctx<Connections>, id: &str) -> Result<BgpAdvModel> {
        import(ctx, id).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn communities() {
        assert!(check_community("65000:100").is_ok());
        assert!(check_community("large:65000:1:2").is_ok());
        assert!(check_community("no-advertise").is_ok());
        assert!(check_community("70000:1").is_err());
        assert!(check_community("large:1:2").is_err());
    }

    #[test]
    fn service_selectors_exclude_a_non_default_aggregation() {
        let sel = Value::list([Value::object([(
            "match_labels",
            Value::map([("app", Value::string("web"))]),
        )])]);
        let with = |k: &str, n: i64| {
            BgpAdvertisement.validate(&Value::object([
                ("service_selectors", sel.clone()),
                (k, Value::from(n)),
            ]))
        };
        let d = with("aggregation_length", 24);
        assert!(d.has_errors());
        assert_eq!(
            d.0[0].attribute,
            Some(AttributePath::attr("service_selectors"))
        );
        assert!(with("aggregation_length_v6", 64).has_errors());
        assert!(!with("aggregation_length", 32).has_errors());
        assert!(!with("aggregation_length_v6", 128).has_errors());
    }
}
