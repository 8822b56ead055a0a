//! `homelab_cloudflare_dns_record`: one DNS record of a Cloudflare zone.

use std::collections::BTreeSet;
use std::net::IpAddr;

use labforge_framework::schema::{Attribute, Nesting, Schema, modifiers, validators};
use labforge_framework::{
    AttributePath, Ctx, Diagnostics, Error, PlanChange, Resource, Result, Value,
};
use serde::{Deserialize, Serialize};

use crate::client::{ApiError, ApiRecord, ApiRecordData, Client, RecordInput};
use crate::normalize;

/// Record types this resource manages.
pub const TYPES: &[&str] = &["A", "AAAA", "CNAME", "TXT", "MX", "NS", "SRV", "CAA"];
/// Types whose value is given in `data`.
const DATA_TYPES: &[&str] = &["SRV", "CAA"];
/// Types Cloudflare can proxy.
const PROXIABLE: &[&str] = &["A", "AAAA", "CNAME"];
/// Private-state key holding the zone's name (to compare short and full names
/// at plan time, and to save a request per refresh).
const ZONE_NAME_KEY: &str = "zone_name";

/// The resource.
#[derive(Debug, Clone, Copy, Default)]
pub struct DnsRecord;

/// One record, as config, plan and state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RecordModel {
    /// Record id (32 hexadecimal digits); `None` until created.
    pub id: Option<String>,
    /// Id of the zone (32 hexadecimal digits).
    pub zone_id: String,
    /// Record name as written: relative (`www`, `@`) or fully qualified.
    pub name: String,
    /// Record type, one of [`TYPES`].
    #[serde(rename = "type")]
    pub record_type: String,
    /// Value of A, AAAA, CNAME, TXT, MX and NS records; `None` for SRV and CAA.
    pub content: Option<String>,
    /// MX and SRV priority; `None` for other types.
    pub priority: Option<i64>,
    /// Structured value of SRV and CAA records; `None` for other types.
    pub data: Option<DataModel>,
    /// Proxied through Cloudflare; `None` only in configuration (default false).
    pub proxied: Option<bool>,
    /// Time to live in seconds, 1 meaning automatic; `None` only in
    /// configuration (default 1).
    pub ttl: Option<i64>,
    /// A note kept with the record; `None` for none.
    pub comment: Option<String>,
    /// Tags, each `name:value`; `None` (or empty) for none.
    pub tags: Option<Vec<String>>,
    /// Whether Cloudflare can proxy the record (read from the API).
    pub proxiable: Option<bool>,
    /// Creation time, RFC 3339 (read from the API).
    pub created_on: Option<String>,
    /// Last modification time, RFC 3339 (read from the API).
    pub modified_on: Option<String>,
}

/// `data`: the structured value of SRV and CAA records.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DataModel {
    /// CAA flags (0 or 128); `None` for SRV.
    pub flags: Option<i64>,
    /// CAA property tag (`issue`, `issuewild`, `iodef`); `None` for SRV.
    pub tag: Option<String>,
    /// CAA value, e.g. `letsencrypt.org`; `None` for SRV.
    pub value: Option<String>,
    /// SRV weight; `None` for CAA.
    pub weight: Option<i64>,
    /// SRV port; `None` for CAA.
    pub port: Option<i64>,
    /// SRV target host name; `None` for CAA.
    pub target: Option<String>,
}

fn zone_id_validator() -> impl validators::Validator {
    validators::from_fn("A zone id: 32 hexadecimal digits.", |v| match v.as_str() {
        Some(s) if s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()) => Ok(()),
        Some(s) => Err(format!(
            "{s:?} is not a zone id (32 hexadecimal digits); find it on the zone's overview page \
             or with the homelab_cloudflare_zone data source"
        )),
        None => Ok(()),
    })
}

fn ttl_validator() -> impl validators::Validator {
    validators::from_fn(
        "`1` (automatic) or between 60 and 86400 seconds.",
        |v| match v.as_number().and_then(|n| n.as_i64()) {
            Some(1) => Ok(()),
            Some(t) if (60..=86_400).contains(&t) => Ok(()),
            Some(t) => Err(format!(
                "ttl must be 1 (automatic) or between 60 and 86400 seconds, got {t}"
            )),
            None => Ok(()),
        },
    )
}

/// `name:value`, the name of letters, digits, `_` and `-`.
pub fn check_tag(t: &str) -> Result<(), String> {
    let Some((name, _)) = t.split_once(':') else {
        return Err(format!("tag {t:?} must have the form \"name:value\""));
    };
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(format!(
            "tag {t:?}: the name before ':' must be letters, digits, '_' or '-'"
        ));
    }
    Ok(())
}

fn tags_validator() -> impl validators::Validator {
    validators::from_fn(
        "Each tag is `name:value`; the name has letters, digits, `_` and `-`.",
        |v| {
            for e in v.elements().unwrap_or(&[]) {
                if let Some(t) = e.as_str() {
                    check_tag(t)?;
                }
            }
            Ok(())
        },
    )
}

fn data_attribute() -> Attribute {
    let int = |d: &str, max: i64| {
        Attribute::int()
            .optional()
            .describe(d)
            .validator(validators::between(0, max))
    };
    Attribute::nested(
        Nesting::Single,
        [
            ("flags", int("CAA: flags (0 or 128).", 255)),
            (
                "tag",
                Attribute::string()
                    .optional()
                    .describe("CAA: property tag.")
                    .validator(validators::one_of(&["issue", "issuewild", "iodef"])),
            ),
            (
                "value",
                Attribute::string()
                    .optional()
                    .describe("CAA: value, e.g. `letsencrypt.org`.")
                    .validator(validators::length_between(1, 1024)),
            ),
            ("weight", int("SRV: weight.", 65_535)),
            ("port", int("SRV: port.", 65_535)),
            (
                "target",
                Attribute::string()
                    .optional()
                    .describe("SRV: target host name.")
                    .validator(validators::length_between(1, 253)),
            ),
        ],
    )
    .optional()
    .describe(
        "Structured value of `SRV` (`weight`, `port`, `target`; the priority is `priority`) and \
         `CAA` (`flags`, `tag`, `value`) records. Not used by other types.",
    )
}

impl Resource for DnsRecord {
    type Client = Client;
    type Model = RecordModel;
    const NAME: &'static str = "cloudflare_dns_record";

    fn schema(&self) -> Schema {
        Schema::new(
            "A DNS record in a Cloudflare zone. Names may be written relative to the zone (`www`, \
             `@`) or fully qualified; TXT quoting and splitting, host-name case and trailing dots \
             are compared the way Cloudflare stores them, so they never show as changes.",
        )
        .attribute(
            "id",
            Attribute::string()
                .computed()
                .describe("Record id (32 hexadecimal digits).")
                .plan_modifier(modifiers::use_state_for_unknown()),
        )
        .attribute(
            "zone_id",
            Attribute::string()
                .required()
                .describe("Id of the zone.")
                .plan_modifier(modifiers::requires_replace())
                .validator(zone_id_validator()),
        )
        .attribute(
            "name",
            Attribute::string()
                .required()
                .describe("Record name: relative (`www`, `@` for the apex) or fully qualified.")
                .validator(validators::dns_name(true)),
        )
        .attribute(
            "type",
            Attribute::string()
                .required()
                .describe("Record type.")
                .plan_modifier(modifiers::requires_replace())
                .validator(validators::one_of(TYPES)),
        )
        .attribute(
            "content",
            Attribute::string()
                .optional()
                .describe(
                    "Value of `A`, `AAAA`, `CNAME`, `TXT`, `MX` and `NS` records (an address, a \
                     host name or text; for `NS`, the name server's host name, e.g. a \
                     delegation of `lab` to `ns1.lab.example.com`). Not used by `SRV` and `CAA` \
                     (see `data`).",
                )
                .validator(validators::length_between(1, 4096)),
        )
        .attribute(
            "priority",
            Attribute::int()
                .optional()
                .describe("Priority of `MX` and `SRV` records (required for them).")
                .validator(validators::between(0, 65_535)),
        )
        .attribute("data", data_attribute())
        .attribute(
            "proxied",
            Attribute::bool()
                .default(false)
                .describe("Proxy traffic through Cloudflare (`A`, `AAAA` and `CNAME` only)."),
        )
        .attribute(
            "ttl",
            Attribute::int()
                .default(1)
                .describe(
                    "Time to live in seconds: `1` means automatic; otherwise 60 to 86400. \
                     Proxied records always use `1`.",
                )
                .validator(ttl_validator()),
        )
        .attribute(
            "comment",
            Attribute::string()
                .optional()
                .describe("A note kept with the record.")
                .validator(validators::length_between(1, 500)),
        )
        .attribute(
            "tags",
            Attribute::set(labforge_framework::Type::String)
                .optional()
                .describe("Tags, each `name:value`.")
                .validator(tags_validator()),
        )
        .attribute(
            "proxiable",
            Attribute::bool()
                .computed()
                .describe("Whether Cloudflare can proxy this record.")
                .plan_modifier(modifiers::use_state_for_unknown()),
        )
        .attribute(
            "created_on",
            Attribute::string()
                .computed()
                .describe("When the record was created (RFC 3339).")
                .plan_modifier(modifiers::use_state_for_unknown()),
        )
        .attribute(
            "modified_on",
            Attribute::string()
                .computed()
                .describe("When the record was last modified (RFC 3339)."),
        )
    }

    fn import_id_format(&self) -> Option<&'static str> {
        Some("`zone_id/record_id`")
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        validate_record(config)
    }

    async fn modify_plan(&self, ctx: &Ctx<Client>, plan: &mut PlanChange<'_>) -> Result<()> {
        if plan.destroying() {
            return Ok(());
        }
        if plan.creating() {
            return Ok(());
        }
        let zone_name: Option<String> = ctx.private(ZONE_NAME_KEY);
        keep_equivalent_spellings(plan, zone_name.as_deref());
        Ok(())
    }

    async fn create(&self, ctx: &Ctx<Client>, plan: RecordModel) -> Result<RecordModel> {
        let client = ctx.client();
        // Before the write: a failure here leaves nothing behind.
        let zone = zone_name(ctx, &plan.zone_id).await?;
        let input = to_input(&plan);
        // The answer to the POST is the record as stored: the read-back.
        let r = match client.create_record(&plan.zone_id, &input).await {
            Ok(r) => r,
            Err(e) if e.codes().iter().any(|c| matches!(c, 81057 | 81058)) => {
                adopt_identical(ctx, client, &plan, &zone, e).await?
            }
            Err(e) => return Err(api_error(e)),
        };
        Ok(from_api(Some(&plan), &r, &plan.zone_id, &zone))
    }

    async fn read(&self, ctx: &Ctx<Client>, state: RecordModel) -> Result<Option<RecordModel>> {
        let client = ctx.client();
        let Some(id) = state.id.as_deref() else {
            return Ok(None);
        };
        match client.read_record(&state.zone_id, id).await? {
            None => {
                tracing::info!(
                    zone_id = %state.zone_id,
                    id,
                    "record no longer exists; removing it from state"
                );
                Ok(None)
            }
            Some(r) => {
                let zone = zone_name(ctx, &state.zone_id).await?;
                Ok(Some(from_api(Some(&state), &r, &state.zone_id, &zone)))
            }
        }
    }

    async fn update(
        &self,
        ctx: &Ctx<Client>,
        prior: RecordModel,
        plan: RecordModel,
    ) -> Result<RecordModel> {
        let client = ctx.client();
        let id = prior
            .id
            .clone()
            .or_else(|| plan.id.clone())
            .ok_or_else(|| Error::msg("the record has no id in state"))?;
        let zone = zone_name(ctx, &plan.zone_id).await?;
        let input = to_input(&plan);
        let r = client
            .update_record(&plan.zone_id, &id, &input)
            .await
            .map_err(api_error)?;
        Ok(from_api(Some(&plan), &r, &plan.zone_id, &zone))
    }

    async fn delete(&self, ctx: &Ctx<Client>, state: RecordModel) -> Result<()> {
        let client = ctx.client();
        let Some(id) = state.id.as_deref() else {
            return Ok(());
        };
        client.delete_record(&state.zone_id, id).await?;
        Ok(())
    }

    async fn import(&self, ctx: &Ctx<Client>, id: &str) -> Result<RecordModel> {
        let client = ctx.client();
        let (zone_id, record_id) = parse_import_id(id)?;
        let r = client
            .get_record(zone_id, record_id)
            .await?
            .ok_or_else(|| {
                Error::new(
                    "Cannot import a record that does not exist",
                    format!("Zone {zone_id} has no DNS record with id {record_id}."),
                )
            })?;
        let zone = zone_name(ctx, zone_id).await?;
        let mut m = from_api(None, &r, zone_id, &zone);
        // What `terraform plan -generate-config-out` writes: one quoted TXT
        // string as the plain text a person writes (the same content for
        // every comparison, so the plan after the import stays empty).
        if m.record_type == "TXT"
            && let Some(plain) = m.content.as_deref().and_then(normalize::plain_txt)
        {
            m.content = Some(plain);
        }
        Ok(m)
    }
}

/// `zone_id/record_id`.
pub fn parse_import_id(id: &str) -> Result<(&str, &str)> {
    let hex = |s: &str| s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit());
    match id.trim().split_once('/') {
        Some((z, r)) if hex(z) && hex(r) => Ok((z, r)),
        _ => Err(Error::new(
            "Invalid import ID",
            format!("Expected `zone_id/record_id` (two ids of 32 hexadecimal digits), got {id:?}."),
        )),
    }
}

/// The zone's name: from private state when an earlier operation kept it,
/// else from the API (`GET /zones/{zone_id}`, once per zone and process).
/// Kept in private state for plans and later refreshes.
async fn zone_name(ctx: &Ctx<Client>, zone_id: &str) -> Result<String> {
    let name = match ctx.private::<String>(ZONE_NAME_KEY) {
        Some(z) if !z.is_empty() => z,
        _ => ctx.client().zone_name(zone_id).await.map_err(|e| {
            let e = Error::from(e);
            e.at(AttributePath::attr("zone_id"))
        })?,
    };
    ctx.set_private(ZONE_NAME_KEY, &name)?;
    Ok(name)
}

/// The create was refused because the record already exists (81057, 81058
/// "An identical record already exists"): typically our own create, done by
/// the server although its answer was lost, and repeated by the retry. Take
/// the record over only if it is exactly what was planned (name, type,
/// content or data, priority, proxied, ttl, comment and tags); otherwise
/// report the conflict, naming the existing record.
async fn adopt_identical(
    ctx: &Ctx<Client>,
    client: &Client,
    plan: &RecordModel,
    zone: &str,
    refused: ApiError,
) -> Result<ApiRecord> {
    let records = client
        .list_records_of_type(&plan.zone_id, &plan.record_type)
        .await
        .map_err(api_error)?;
    let same_name: Vec<&ApiRecord> = records
        .iter()
        .filter(|r| normalize::same_name(&plan.name, &r.name, Some(zone)))
        .collect();
    if let Some(r) = same_name.iter().find(|r| is_planned(plan, r, zone)) {
        tracing::info!(zone_id = %plan.zone_id, id = %r.id, "an identical record already exists; taking it over");
        ctx.warn(
            format!("Took over existing DNS record {}", r.id),
            format!(
                "Zone {} already had a {} record named {:?} identical to this configuration \
                 (record id {}); it is now managed by this resource.",
                plan.zone_id, plan.record_type, plan.name, r.id
            ),
        );
        return Ok((*r).clone());
    }
    if same_name.is_empty() {
        return Err(api_error(refused));
    }
    let ids: Vec<&str> = same_name.iter().map(|r| r.id.as_str()).collect();
    Err(Error::new(
        "DNS record already exists",
        format!(
            "{refused}\n\nZone {} already has a {} record named {:?} that differs from this \
             configuration (in content, ttl, proxied, comment or tags): record id {}. Import it \
             with `terraform import <address> {}/<record id>`, or change the configuration.",
            plan.zone_id,
            plan.record_type,
            plan.name,
            ids.join(", "),
            plan.zone_id,
        ),
    )
    .at(AttributePath::attr("name")))
}

/// Whether an existing record is exactly the planned one.
fn is_planned(plan: &RecordModel, r: &ApiRecord, zone: &str) -> bool {
    let got = RecordModel {
        id: plan.id.clone(),
        proxiable: plan.proxiable,
        created_on: plan.created_on.clone(),
        modified_on: plan.modified_on.clone(),
        ..from_api(Some(plan), r, &plan.zone_id, zone)
    };
    got == *plan
}

/// Point API validation errors at the attribute they are about.
fn api_error(e: ApiError) -> Error {
    let codes = e.codes();
    let attr = if codes.iter().any(|c| matches!(c, 9005..=9007 | 9009 | 9011)) {
        Some("content")
    } else if codes.contains(&9021) {
        Some("ttl")
    } else if codes
        .iter()
        // 81056: an NS record stands alone at its name (the simulator cites it).
        .any(|c| matches!(c, 9000 | 81053 | 81054 | 81056 | 81057))
    {
        Some("name")
    } else if codes.contains(&9004) {
        Some("proxied")
    } else {
        None
    };
    let err = Error::from(e);
    match attr {
        Some(a) => err.at(AttributePath::attr(a)),
        None => err,
    }
}

/// The API body for a planned record.
pub fn to_input(m: &RecordModel) -> RecordInput {
    let t = m.record_type.as_str();
    let d = m.data.clone().unwrap_or_default();
    let (content, data, priority) = match t {
        "SRV" => (
            None,
            Some(ApiRecordData {
                priority: m.priority,
                weight: d.weight,
                port: d.port,
                target: d.target,
                ..ApiRecordData::default()
            }),
            // In `data` only: `dns-records_SRVRecord` has no top-level priority.
            None,
        ),
        "CAA" => (
            None,
            Some(ApiRecordData {
                flags: d.flags,
                tag: d.tag,
                value: d.value,
                ..ApiRecordData::default()
            }),
            None,
        ),
        "MX" => (m.content.clone(), None, m.priority),
        _ => (m.content.clone(), None, None),
    };
    RecordInput {
        record_type: m.record_type.clone(),
        name: m.name.clone(),
        content,
        data,
        priority,
        ttl: m.ttl.unwrap_or(1),
        proxied: m.proxied.unwrap_or(false),
        // "" clears a comment (`PUT` replaces the whole record).
        comment: m.comment.clone().unwrap_or_default(),
        tags: m.tags.clone().unwrap_or_default(),
    }
}

/// The model for an API record of zone `zone_id`, named `zone`. `prior`
/// (plan or state) supplies the user's spelling where it means the same as
/// the API's (`www` for `www.example.com`, `@` for the apex).
pub fn from_api(
    prior: Option<&RecordModel>,
    r: &ApiRecord,
    zone_id: &str,
    zone: &str,
) -> RecordModel {
    let t = r.record_type.as_str();
    let name = match prior {
        Some(p) if normalize::same_name(&p.name, &r.name, Some(zone)) => p.name.clone(),
        _ => r.name.clone(),
    };
    let keep_str = |mine: Option<&String>,
                    api: Option<&String>,
                    same: &dyn Fn(&str, &str) -> bool| match (mine, api) {
        (Some(m), Some(a)) if same(m, a) => Some(m.clone()),
        (_, a) => a.cloned(),
    };
    let prior_data = prior.and_then(|p| p.data.as_ref());
    let api_data = r.data.clone().unwrap_or_default();
    let (content, data, priority) = match t {
        "SRV" => {
            let target = keep_str(
                prior_data.and_then(|d| d.target.as_ref()),
                api_data.target.as_ref(),
                &normalize::same_host,
            );
            (
                None,
                Some(DataModel {
                    weight: api_data.weight,
                    port: api_data.port,
                    target,
                    ..DataModel::default()
                }),
                api_data.priority.or(r.priority),
            )
        }
        "CAA" => (
            None,
            Some(DataModel {
                flags: api_data.flags,
                tag: api_data.tag,
                value: api_data.value,
                ..DataModel::default()
            }),
            None,
        ),
        _ => {
            let content = keep_str(
                prior.and_then(|p| p.content.as_ref()),
                r.content.as_ref(),
                &|a, b| normalize::same_content(t, a, b),
            );
            let priority = if t == "MX" { r.priority } else { None };
            (content, None, priority)
        }
    };
    let api_tags: Vec<String> = r.tags.clone().unwrap_or_default();
    let tags = match prior.and_then(|p| p.tags.as_ref()) {
        Some(mine) if set_eq(mine, &api_tags) => Some(mine.clone()),
        None if api_tags.is_empty() => None,
        _ => Some(api_tags),
    };
    RecordModel {
        id: Some(r.id.clone()),
        zone_id: zone_id.to_string(),
        name,
        record_type: r.record_type.clone(),
        content,
        priority,
        data,
        proxied: Some(r.proxied.unwrap_or(false)),
        ttl: Some(r.ttl.unwrap_or(1)),
        comment: r.comment.clone().filter(|c| !c.is_empty()),
        tags,
        proxiable: Some(r.proxiable.unwrap_or(PROXIABLE.contains(&t))),
        created_on: r.created_on.clone(),
        modified_on: r.modified_on.clone(),
    }
}

fn set_eq(a: &[String], b: &[String]) -> bool {
    a.iter().collect::<BTreeSet<_>>() == b.iter().collect::<BTreeSet<_>>()
}

/// At plan time: where the configuration spells a value differently from
/// state but means the same (`www` vs `www.example.com`, quoted TXT, a
/// trailing dot), plan the state's value; if nothing else changes, the plan
/// is empty.
fn keep_equivalent_spellings(plan: &mut PlanChange<'_>, zone_name: Option<&str>) {
    let rtype = plan
        .prior_attr("type")
        .as_str()
        .unwrap_or_default()
        .to_string();
    if plan.planned_attr("type").as_str() != Some(rtype.as_str()) {
        return;
    }
    if let (Some(c), Some(p)) = (
        plan.config_attr("name").as_str(),
        plan.prior_attr("name").as_str(),
    ) && c != p
        && normalize::same_name(c, p, zone_name)
    {
        let v = Value::string(p);
        plan.set("name", v);
    }
    if let (Some(c), Some(p)) = (
        plan.config_attr("content").as_str(),
        plan.prior_attr("content").as_str(),
    ) && c != p
        && normalize::same_content(&rtype, c, p)
    {
        let v = Value::string(p);
        plan.set("content", v);
    }
    if let (Some(c), Some(p)) = (
        plan.config_attr("data")
            .get("target")
            .and_then(Value::as_str),
        plan.prior_attr("data")
            .get("target")
            .and_then(Value::as_str),
    ) && c != p
        && normalize::same_host(c, p)
    {
        let mut data = plan.planned_attr("data").clone();
        if let Value::Object(m) = &mut data {
            m.insert("target".to_string(), Value::string(p));
        }
        plan.set("data", data);
    }
    // Nothing but spelling changed: keep the computed timestamp too.
    let mut same = plan.planned.clone();
    if let Value::Object(m) = &mut same {
        m.insert(
            "modified_on".to_string(),
            plan.prior_attr("modified_on").clone(),
        );
    }
    if same == *plan.prior {
        *plan.planned = same;
    }
}

fn known_str<'a>(config: &'a Value, name: &str) -> Option<&'a str> {
    config.get(name).and_then(Value::as_str)
}

fn is_set(config: &Value, name: &str) -> bool {
    config.get(name).is_some_and(|v| !v.is_null())
}

/// Checks across attributes, at validate time (unknown values are skipped).
pub fn validate_record(config: &Value) -> Diagnostics {
    let mut d = Diagnostics::new();
    let at = AttributePath::attr;
    let mut err = |attr: AttributePath, detail: String| {
        d.attribute_error(attr, "Invalid DNS record", detail);
    };
    let proxied = config.get("proxied").and_then(Value::as_bool);
    if proxied == Some(true)
        && let Some(ttl) = config.get("ttl").and_then(Value::as_number)
        && ttl.as_i64() != Some(1)
    {
        err(
            at("ttl"),
            format!(
                "ttl: proxied records always use ttl = 1 (automatic); Cloudflare ignores any \
                 other value. Remove ttl or set it to 1 (got {ttl})."
            ),
        );
    }
    let Some(t) = known_str(config, "type") else {
        return d;
    };
    if proxied == Some(true) && !PROXIABLE.contains(&t) {
        err(
            at("proxied"),
            format!("proxied: {t} records cannot be proxied (only A, AAAA and CNAME)."),
        );
    }
    let content = config.get("content").unwrap_or(&Value::Null);
    let is_data_type = DATA_TYPES.contains(&t);
    if is_data_type {
        if !content.is_null() {
            err(
                at("content"),
                format!("content: {t} records take their value from `data`, not `content`."),
            );
        }
    } else {
        if content.is_null() {
            err(at("content"), format!("content: required for {t} records."));
        }
        if is_set(config, "data") {
            err(
                at("data"),
                format!("data: only SRV and CAA records use `data`; {t} records use `content`."),
            );
        }
    }
    if let Some(c) = content.as_str() {
        match t {
            "A" if !matches!(c.trim().parse::<IpAddr>(), Ok(IpAddr::V4(_))) => err(
                at("content"),
                format!("content: {c:?} is not an IPv4 address (A record)."),
            ),
            "AAAA" if !matches!(c.trim().parse::<IpAddr>(), Ok(IpAddr::V6(_))) => err(
                at("content"),
                format!("content: {c:?} is not an IPv6 address (AAAA record)."),
            ),
            // Cloudflare refuses an address as NS content ("Content for NS
            // record is invalid", code 1004: olimpo88/PyDDNS#7).
            "NS" if c.trim().parse::<IpAddr>().is_ok() => err(
                at("content"),
                format!(
                    "content: {c:?} is an address; an NS record names its name server by host \
                     name (give the server an A record, e.g. ns1.lab, and name that)."
                ),
            ),
            // NS: "A valid name server host name." (OpenAPI
            // `dns-records_NSRecord.content`).
            "CNAME" | "MX" | "NS" if !valid_host(c) => err(
                at("content"),
                format!("content: {c:?} is not a host name ({t} record)."),
            ),
            _ => {}
        }
    }
    let priority = config.get("priority").unwrap_or(&Value::Null);
    match t {
        "MX" | "SRV" if priority.is_null() => err(
            at("priority"),
            format!("priority: required for {t} records."),
        ),
        "MX" | "SRV" => {}
        _ if !priority.is_null() => err(
            at("priority"),
            format!("priority: only MX and SRV records have a priority, not {t}."),
        ),
        _ => {}
    }
    if is_data_type {
        let data = config.get("data").unwrap_or(&Value::Null);
        if data.is_null() {
            err(at("data"), format!("data: required for {t} records."));
        } else if data.is_known() {
            let (need, forbid): (&[&str], &[&str]) = if t == "SRV" {
                (&["weight", "port", "target"], &["flags", "tag", "value"])
            } else {
                (&["flags", "tag", "value"], &["weight", "port", "target"])
            };
            for k in need {
                if data.get(k).is_none_or(Value::is_null) {
                    err(
                        at("data").join_attr(*k),
                        format!("data.{k}: required for {t} records."),
                    );
                }
            }
            for k in forbid {
                if data.get(k).is_some_and(|v| !v.is_null()) {
                    err(
                        at("data").join_attr(*k),
                        format!("data.{k}: not used by {t} records."),
                    );
                }
            }
            if t == "SRV"
                && let Some(target) = data.get("target").and_then(Value::as_str)
                && target != "."
                && !valid_host(target)
            {
                err(
                    at("data").join_attr("target"),
                    format!("data.target: {target:?} is not a host name."),
                );
            }
        }
    }
    d
}

fn valid_host(s: &str) -> bool {
    let h = s.trim().trim_end_matches('.');
    !h.is_empty()
        && h.len() <= 253
        && h.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn cfg(pairs: &[(&str, Value)]) -> Value {
        let mut base: Vec<(&str, Value)> = vec![
            ("zone_id", Value::string("023e105f4ecef8ad9ca31a8372d0c353")),
            ("name", Value::string("www")),
            ("type", Value::string("A")),
            ("content", Value::string("192.0.2.1")),
            ("proxied", Value::bool(false)),
            ("ttl", Value::from_i64(1)),
            ("priority", Value::Null),
            ("data", Value::Null),
        ];
        for (k, v) in pairs {
            base.retain(|(n, _)| n != k);
            base.push((k, v.clone()));
        }
        Value::object(base)
    }

    fn errors_at(v: &Value) -> Vec<String> {
        validate_record(v)
            .iter()
            .map(|d| {
                d.attribute
                    .as_ref()
                    .map(|p| p.to_string())
                    .unwrap_or_default()
            })
            .collect()
    }

    #[test]
    fn cross_field_checks_name_the_attribute() {
        assert!(errors_at(&cfg(&[])).is_empty());
        let e = errors_at(&cfg(&[
            ("proxied", Value::bool(true)),
            ("ttl", Value::from_i64(300)),
        ]));
        assert_eq!(e.len(), 1);
        assert!(e[0].contains("ttl"), "{e:?}");
        let e = errors_at(&cfg(&[("content", Value::string("2001:db8::1"))]));
        assert!(e[0].contains("content"), "{e:?}");
        let e = errors_at(&cfg(&[
            ("type", Value::string("MX")),
            ("content", Value::string("mx.example.com")),
        ]));
        assert!(e[0].contains("priority"), "{e:?}");
        let e = errors_at(&cfg(&[
            ("type", Value::string("TXT")),
            ("content", Value::string("x")),
            ("proxied", Value::bool(true)),
        ]));
        assert!(e[0].contains("proxied"), "{e:?}");
        let srv = cfg(&[
            ("type", Value::string("SRV")),
            ("content", Value::Null),
            ("priority", Value::from_i64(10)),
            (
                "data",
                Value::object([
                    ("weight", Value::from_i64(5)),
                    ("port", Value::from_i64(5060)),
                    ("target", Value::string("sip.example.com")),
                    ("flags", Value::Null),
                    ("tag", Value::Null),
                    ("value", Value::Null),
                ]),
            ),
        ]);
        assert!(errors_at(&srv).is_empty(), "{:?}", errors_at(&srv));
        // Unknown values are not judged.
        assert!(errors_at(&cfg(&[("content", Value::unknown())])).is_empty());
    }

    #[test]
    fn ns_content_is_a_host_name() {
        let ns = |content: &str| {
            errors_at(&cfg(&[
                ("name", Value::string("lab")),
                ("type", Value::string("NS")),
                ("content", Value::string(content)),
            ]))
        };
        assert!(ns("ns1.lab.example.com").is_empty());
        assert!(ns("NS1.Lab.Example.com.").is_empty());
        for bad in [
            "192.0.2.53",
            "2001:db8::53",
            "bad..host",
            "ns 1.example.com",
        ] {
            let e = ns(bad);
            assert_eq!(e.len(), 1, "{bad}: {e:?}");
            assert!(e[0].contains("content"), "{bad}: {e:?}");
        }
        let e = errors_at(&cfg(&[
            ("type", Value::string("NS")),
            ("content", Value::string("ns1.example.com")),
            ("priority", Value::from_i64(10)),
        ]));
        assert!(e.len() == 1 && e[0].contains("priority"), "{e:?}");
        let e = errors_at(&cfg(&[
            ("type", Value::string("NS")),
            ("content", Value::string("ns1.example.com")),
            ("proxied", Value::bool(true)),
        ]));
        assert!(e.len() == 1 && e[0].contains("proxied"), "{e:?}");
        let msg: Vec<String> = validate_record(&cfg(&[
            ("type", Value::string("NS")),
            ("content", Value::string("192.0.2.53")),
        ]))
        .iter()
        .map(|d| d.detail.clone())
        .collect();
        assert!(msg[0].contains("is an address"), "{msg:?}");
    }

    #[test]
    fn ns_round_trip_keeps_the_users_spelling() {
        let plan = RecordModel {
            name: "lab".into(),
            record_type: "NS".into(),
            content: Some("NS1.Lab.Example.com.".into()),
            ..RecordModel::default()
        };
        let body = serde_json::to_value(to_input(&plan)).unwrap();
        assert_eq!(body["content"], "NS1.Lab.Example.com.");
        assert!(
            body.get("priority").is_none() && body.get("data").is_none(),
            "{body}"
        );
        let r = api("lab.example.com", "NS", "ns1.lab.example.com");
        let m = from_api(Some(&plan), &r, "z", "example.com");
        assert_eq!(m.content, plan.content);
        assert_eq!(m.priority, None);
        let r = api("lab.example.com", "NS", "ns2.lab.example.com");
        let m = from_api(Some(&plan), &r, "z", "example.com");
        assert_eq!(m.content.as_deref(), Some("ns2.lab.example.com"));
    }

    #[test]
    fn tags_and_import_ids() {
        assert!(check_tag("env:lab").is_ok());
        assert!(check_tag("env:").is_ok());
        assert!(check_tag("env").is_err());
        assert!(check_tag("bad name:x").is_err());
        let z = "023e105f4ecef8ad9ca31a8372d0c353";
        let r = "372e67954025e0ba6aaa6d586b9e0b59";
        assert_eq!(parse_import_id(&format!("{z}/{r}")).unwrap(), (z, r));
        assert!(parse_import_id(z).is_err());
        assert!(parse_import_id("a/b").is_err());
    }

    fn api(name: &str, t: &str, content: &str) -> ApiRecord {
        ApiRecord {
            id: "a".repeat(32),
            name: name.into(),
            record_type: t.into(),
            content: Some(content.into()),
            priority: None,
            data: None,
            proxiable: Some(true),
            proxied: Some(false),
            ttl: Some(1),
            comment: None,
            tags: Some(vec![]),
            created_on: Some("t0".into()),
            modified_on: Some("t1".into()),
        }
    }

    #[test]
    fn from_api_keeps_the_users_spelling() {
        let mine = RecordModel {
            name: "WWW".into(),
            record_type: "TXT".into(),
            content: Some("v=spf1 -all".into()),
            ..RecordModel::default()
        };
        let r = api("www.example.com", "TXT", "\"v=spf1 -all\"");
        let m = from_api(Some(&mine), &r, "z", "example.com");
        assert_eq!(m.name, "WWW");
        assert_eq!(m.content.as_deref(), Some("v=spf1 -all"));
        assert_eq!(m.tags, None);
        // A real change shows the API's value.
        let r = api("other.example.com", "TXT", "\"changed\"");
        let m = from_api(Some(&mine), &r, "z", "example.com");
        assert_eq!(m.name, "other.example.com");
        assert_eq!(m.content.as_deref(), Some("\"changed\""));
        // The apex as `@`, relative to the zone named by the caller.
        let apex = RecordModel {
            name: "@".into(),
            record_type: "A".into(),
            content: Some("192.0.2.1".into()),
            ..RecordModel::default()
        };
        let r = api("example.com", "A", "192.0.2.1");
        assert_eq!(from_api(Some(&apex), &r, "z", "example.com").name, "@");
        assert_eq!(
            from_api(Some(&apex), &r, "z", "example.net").name,
            "example.com"
        );
        // Import: the API's values.
        let m = from_api(
            None,
            &api("www.example.com", "A", "192.0.2.1"),
            "z",
            "example.com",
        );
        assert_eq!(m.name, "www.example.com");
        assert_eq!(m.ttl, Some(1));
    }

    #[test]
    fn only_the_exact_planned_record_is_taken_over() {
        let plan = RecordModel {
            zone_id: "z".into(),
            name: "WWW".into(),
            record_type: "A".into(),
            content: Some("192.0.2.1".into()),
            proxied: Some(false),
            ttl: Some(1),
            ..RecordModel::default()
        };
        let r = api("www.example.com", "A", "192.0.2.1");
        assert!(is_planned(&plan, &r, "example.com"));
        let mut other = r.clone();
        other.ttl = Some(300);
        assert!(!is_planned(&plan, &other, "example.com"));
        let mut other = r.clone();
        other.tags = Some(vec!["env:lab".into()]);
        assert!(!is_planned(&plan, &other, "example.com"));
        assert!(!is_planned(
            &plan,
            &api("www.example.com", "A", "192.0.2.2"),
            "example.com"
        ));
    }

    #[test]
    fn srv_round_trip() {
        let plan = RecordModel {
            name: "_sip._tcp".into(),
            record_type: "SRV".into(),
            priority: Some(10),
            data: Some(DataModel {
                weight: Some(5),
                port: Some(5060),
                target: Some("SIP.example.com.".into()),
                ..DataModel::default()
            }),
            ..RecordModel::default()
        };
        let input = to_input(&plan);
        let body = serde_json::to_value(&input).unwrap();
        assert_eq!(body["data"]["priority"], 10);
        assert!(body.get("priority").is_none(), "{body}");
        assert_eq!(body["data"]["port"], 5060);
        assert!(body.get("content").is_none());
        let mut r = api("_sip._tcp.example.com", "SRV", "5 5060 sip.example.com");
        r.data = Some(ApiRecordData {
            priority: Some(10),
            weight: Some(5),
            port: Some(5060),
            target: Some("sip.example.com".into()),
            ..ApiRecordData::default()
        });
        let m = from_api(Some(&plan), &r, "z", "example.com");
        assert_eq!(m.data, plan.data);
        assert_eq!(m.priority, Some(10));
        assert_eq!(m.content, None);
    }
}
