//! Data source `homelab_cloudflare_zone`: look a zone up by name or id.

use labforge_framework::schema::{Attribute, Schema, validators};
use labforge_framework::{AttributePath, Ctx, DataSource, Diagnostics, Error, Result, Value};
use labforge_http::ApiErrorKind as _;
use serde::{Deserialize, Serialize};

use crate::client::{ApiError, ApiZone, Client};

/// The data source.
#[derive(Debug, Clone, Copy, Default)]
pub struct Zone;

/// Config and result.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ZoneModel {
    /// Zone id to look up; filled in from the zone found when `name` was given.
    pub zone_id: Option<String>,
    /// Zone name to look up, e.g. `example.com`; filled in when `zone_id`
    /// was given.
    pub name: Option<String>,
    /// Zone id of the zone found.
    pub id: Option<String>,
    /// `initializing`, `pending`, `active` or `moved`; `None` when the API
    /// did not say.
    pub status: Option<String>,
    /// Cloudflare name servers assigned to the zone.
    pub name_servers: Option<Vec<String>>,
}

fn to_model(z: ApiZone) -> ZoneModel {
    ZoneModel {
        zone_id: Some(z.id.clone()),
        name: Some(z.name),
        id: Some(z.id),
        status: z.status,
        name_servers: Some(z.name_servers),
    }
}

/// The diagnostic for a zone-scoped token that may not list zones.
fn scoped_token_hint(name: &str, e: &ApiError) -> Error {
    Error::new(
        "Cannot look up the zone by name",
        format!(
            "Looking up zone {name:?} needs the token to list zones (permission \
             com.cloudflare.api.account.zone.list), which tokens scoped to single zones lack: {e}. \
             Set `zone_id` instead of `name` (the zone id is on the zone's overview page in the \
             dashboard)."
        ),
    )
    .at(AttributePath::attr("name"))
}

impl DataSource for Zone {
    type Client = Client;
    type Model = ZoneModel;
    const NAME: &'static str = "cloudflare_zone";

    fn schema(&self) -> Schema {
        Schema::new(
            "A Cloudflare zone, looked up by `name` (the token must be able to list zones) or by \
             `zone_id` (works with tokens scoped to the zone).",
        )
        .attribute(
            "zone_id",
            Attribute::string()
                .optional()
                .computed()
                .describe("Zone id to look up. Set this or `name`.")
                .validator(validators::length_between(32, 32)),
        )
        .attribute(
            "name",
            Attribute::string()
                .optional()
                .computed()
                .describe("Zone name to look up, e.g. `example.com`. Set this or `zone_id`.")
                .validator(validators::dns_name(false)),
        )
        .attribute("id", Attribute::string().computed().describe("Zone id."))
        .attribute(
            "status",
            Attribute::string()
                .computed()
                .describe("Zone status, e.g. `active` or `pending`."),
        )
        .attribute(
            "name_servers",
            Attribute::list(labforge_framework::Type::String)
                .computed()
                .describe("Cloudflare name servers assigned to the zone."),
        )
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        let mut d = Diagnostics::new();
        let set = |k: &str| config.get(k).is_some_and(|v| !v.is_null());
        if set("zone_id") && set("name") {
            d.attribute_error(
                AttributePath::attr("name"),
                "Conflicting attributes",
                "name: set either `zone_id` or `name`, not both.",
            );
        } else if !set("zone_id") && !set("name") {
            d.attribute_error(
                AttributePath::attr("zone_id"),
                "Missing attribute",
                "zone_id: set `zone_id` or `name` to choose the zone.",
            );
        }
        d
    }

    async fn read(&self, ctx: &Ctx<Client>, config: ZoneModel) -> Result<ZoneModel> {
        let client = ctx.client();
        if let Some(id) = config.zone_id.as_deref() {
            return match client.get_zone(id).await {
                Ok(z) => Ok(to_model(z)),
                Err(e) if e.is_not_found() || e.is_forbidden() => Err(Error::new(
                    "Zone not found",
                    format!("No zone with id {id:?} is visible to this API token: {e}"),
                )
                .at(AttributePath::attr("zone_id"))),
                Err(e) => Err(e.into()),
            };
        }
        let Some(name) = config.name.as_deref() else {
            return Err(Error::msg("set `zone_id` or `name`").at(AttributePath::attr("zone_id")));
        };
        let zones = match client.find_zones(name).await {
            Ok(z) => z,
            Err(e) if e.is_forbidden() => return Err(scoped_token_hint(name, &e)),
            Err(e) => return Err(e.into()),
        };
        match <[ApiZone; 1]>::try_from(zones) {
            Ok([z]) => Ok(to_model(z)),
            Err(zones) if zones.is_empty() => Err(Error::new(
                "Zone not found",
                format!(
                    "No zone named {name:?} is visible to this API token. Check the name; if the \
                     token is scoped to particular zones, it must include this one. With a \
                     zone-scoped token, setting `zone_id` instead of `name` avoids listing zones."
                ),
            )
            .at(AttributePath::attr("name"))),
            Err(zones) => Err(Error::new(
                "Zone name is ambiguous",
                format!(
                    "{} zones are named {name:?} (in different accounts); set `zone_id`.",
                    zones.len()
                ),
            )
            .at(AttributePath::attr("name"))),
        }
    }
}
