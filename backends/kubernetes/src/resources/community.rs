//! `homelab_metallb_community`: a MetalLB `Community` (`metallb.io/v1beta1`,
//! metallb `api/v1beta1/community_types.go`): named aliases of BGP
//! communities, usable in `homelab_metallb_bgp_advertisement.communities`.

use std::collections::BTreeMap;

use labforge_framework::schema::{Attribute, Schema};
use labforge_framework::{AttributePath, Ctx, Diagnostics, Resource, Result, Type, Value};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

use super::{api_error, apply_object, identity, parse_import_id};
use crate::Client;
use crate::client::{Kind, Object};

const KIND: Kind = Kind {
    api_version: "metallb.io/v1beta1",
    kind: "Community",
    plural: "communities",
};

/// The resource.
#[derive(Debug, Clone, Copy, Default)]
pub struct Community;

/// One `Community` object.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
}

impl CommunityModel {
    fn ns(&self) -> String {
        self.namespace
            .clone()
            .unwrap_or_else(|| super::DEFAULT_NAMESPACE.into())
    }
}

fn spec(m: &CommunityModel) -> Json {
    let list: Vec<Json> = m
        .communities
        .iter()
        .map(|(k, v)| json!({"name": k, "value": v}))
        .collect();
    json!({ "communities": list })
}

fn fill(mut m: CommunityModel, o: &Object<Json>) -> CommunityModel {
    m.communities = o
        .spec
        .get("communities")
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
        .unwrap_or_default();
    m.namespace = Some(o.metadata.namespace.clone().unwrap_or_else(|| m.ns()));
    m.id = Some(format!("{}/{}", m.ns(), m.name));
    m
}

impl Community {
    async fn apply(
        &self,
        ctx: &Ctx<Client>,
        plan: CommunityModel,
        verb: &str,
    ) -> Result<CommunityModel> {
        let ns = plan.ns();
        let force = plan.force_conflicts.unwrap_or(false);
        let o = apply_object(
            ctx.client(),
            KIND,
            "Community",
            verb,
            &ns,
            &plan.name,
            spec(&plan),
            force,
        )
        .await?;
        // The state is what the apiserver answered, read as a refresh reads it.
        Ok(fill(plan, &o))
    }
}

impl Resource for Community {
    type Client = Client;
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

    async fn create(&self, ctx: &Ctx<Client>, plan: CommunityModel) -> Result<CommunityModel> {
        self.apply(ctx, plan, "create").await
    }

    async fn read(
        &self,
        ctx: &Ctx<Client>,
        state: CommunityModel,
    ) -> Result<Option<CommunityModel>> {
        let ns = state.ns();
        let o = ctx
            .client()
            .get::<Json>(KIND, &ns, &state.name)
            .await
            .map_err(|e| api_error("Unable to read Community".into(), KIND, &ns, &state.name, e))?;
        Ok(o.map(|o| fill(state, &o)))
    }

    async fn update(
        &self,
        ctx: &Ctx<Client>,
        _prior: CommunityModel,
        plan: CommunityModel,
    ) -> Result<CommunityModel> {
        self.apply(ctx, plan, "update").await
    }

    async fn delete(&self, ctx: &Ctx<Client>, state: CommunityModel) -> Result<()> {
        let ns = state.ns();
        ctx.client()
            .delete(KIND, &ns, &state.name)
            .await
            .map(|_| ())
            .map_err(|e| {
                api_error(
                    "Unable to delete Community".into(),
                    KIND,
                    &ns,
                    &state.name,
                    e,
                )
            })
    }

    async fn import(&self, ctx: &Ctx<Client>, id: &str) -> Result<CommunityModel> {
        let (ns, name) = parse_import_id(id)?;
        let m = CommunityModel {
            id: None,
            name: name.clone(),
            namespace: Some(ns.clone()),
            communities: BTreeMap::new(),
            force_conflicts: Some(false),
        };
        let o = ctx
            .client()
            .get::<Json>(KIND, &ns, &name)
            .await
            .map_err(|e| api_error("Unable to import Community".into(), KIND, &ns, &name, e))?
            .ok_or_else(|| {
                labforge_framework::Error::new(
                    "Unable to import Community",
                    format!("no Community {ns}/{name} on the cluster"),
                )
            })?;
        Ok(fill(m, &o))
    }
}
