//! `homelab_metallb_community`: a MetalLB `Community` (`metallb.io/v1beta1`,
//! metallb `api/v1beta1/community_types.go`): named aliases of BGP
//! communities, usable in `homelab_metallb_bgp_advertisement.communities`.

use std::collections::BTreeMap;

use labforge_framework::schema::{Attribute, Schema};
use labforge_framework::{
    AttributePath, Ctx, Diagnostics, PlanChange, Resource, Result, Type, Value,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

use super::{Managed, apply, delete, identity, identity_fields, import, plan_client, read};
use crate::client::{Kind, Object};
use crate::connection::{Connection, Connections};

pub(crate) const KIND: Kind = Kind {
    api_version: "metallb.io/v1beta1",
    kind: "Community",
    plural: "communities",
};

/// The resource.
#[derive(Debug, Clone, Copy, Default)]
pub struct Community;

/// One `Community` object.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CommunityModel {
    /// `namespace/name`.
    pub id: Option<String>,
    /// Name.
    pub name: String,
    /// Namespace.
    pub namespace: Option<String>,
    /// Alias name to community value (`spec.communities[]`).
    pub communities: BTreeMap<String, String>,
    /// SSA `force`.
    pub force_conflicts: Option<bool>,
    /// The resource's own `kubernetes` block (else the provider's).
    pub kubernetes: Option<Connection>,
}

fn spec(m: &CommunityModel) -> Json {
    let list: Vec<Json> = m
        .communities
        .iter()
        .map(|(k, v)| json!({"name": k, "value": v}))
        .collect();
    json!({ "communities": list })
}

/// The `communities` of a Community's spec, name to value (entries
/// without both left out).
pub(crate) fn communities_of(spec: &Json) -> BTreeMap<String, String> {
    spec.get("communities")
        .and_then(Json::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|c| {
                    Some((
                        c.get("name")?.as_str()?.to_string(),
                        c.get("value")?.as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn fill(mut m: CommunityModel, o: &Object<Json>) -> CommunityModel {
    m.communities = communities_of(&o.spec);
    m
}

impl Managed for CommunityModel {
    const KIND: Kind = KIND;
    identity_fields!();
    fn spec(&self) -> Json {
        spec(self)
    }
    fn fill(self, o: &Object<Json>, _all: bool) -> Self {
        fill(self, o)
    }
}

impl Resource for Community {
    type Client = Connections;
    type Model = CommunityModel;
    const NAME: &'static str = "metallb_community";

    fn schema(&self) -> Schema {
        identity(
            Schema::new(
                "A MetalLB `Community` (`metallb.io/v1beta1`): names for BGP communities, usable \
                 in `homelab_metallb_bgp_advertisement.communities`.",
            ),
            "community object",
        )
        .attribute(
            "communities",
            Attribute::map(Type::String)
                .required()
                .describe("Alias name to value: `AA:NN` or `large:AA:BB:CC`."),
        )
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        let mut d = Diagnostics::new();
        if let Some(m) = config.get("communities").and_then(Value::entries) {
            for (k, v) in m {
                let Some(v) = v.as_str() else { continue };
                let ok = match v.strip_prefix("large:") {
                    Some(rest) => {
                        let p: Vec<&str> = rest.split(':').collect();
                        p.len() == 3 && p.iter().all(|x| x.parse::<u32>().is_ok())
                    }
                    None => {
                        let p: Vec<&str> = v.split(':').collect();
                        p.len() == 2 && p.iter().all(|x| x.parse::<u16>().is_ok())
                    }
                };
                if !ok {
                    d.attribute_error(
                        AttributePath::attr("communities").join_key(k.clone()),
                        "Invalid attribute value",
                        format!("communities[{k:?}]: {v:?} is neither AA:NN (16-bit numbers) nor large:AA:BB:CC (32-bit numbers)"),
                    );
                }
            }
        }
        d
    }

    fn import_id_format(&self) -> Option<&'static str> {
        Some("`namespace/name`, e.g. `metallb-system/communities`")
    }

    async fn modify_plan(&self, ctx: &Ctx<Connections>, plan: &mut PlanChange<'_>) -> Result<()> {
        plan_client(ctx, plan).map(|_| ())
    }

    async fn create(&self, ctx: &Ctx<Connections>, plan: CommunityModel) -> Result<CommunityModel> {
        apply(ctx, plan, "create").await
    }

    async fn read(
        &self,
        ctx: &Ctx<Connections>,
        state: CommunityModel,
    ) -> Result<Option<CommunityModel>> {
        read(ctx, state).await
    }

    async fn update(
        &self,
        ctx: &Ctx<Connections>,
        _prior: CommunityModel,
        plan: CommunityModel,
    ) -> Result<CommunityModel> {
        apply(ctx, plan, "update").await
    }

    async fn delete(&self, ctx: &Ctx<Connections>, state: CommunityModel) -> Result<()> {
        delete(ctx, state).await
    }

    async fn import(&self, ctx: &Ctx<Connections>, id: &str) -> Result<CommunityModel> {
        import(ctx, id).await
    }
}
