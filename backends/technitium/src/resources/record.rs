//! `homelab_technitium_dns_record`: one record of an authoritative zone.

use labforge_framework::schema::{Attribute, Schema, modifiers, validators};
use labforge_framework::{
    AttributePath, Ctx, Diagnostics, Error, PlanChange, Resource, Result, Value,
};
use serde::{Deserialize, Serialize};

use labforge_http::ApiErrorKind as _;

use crate::client::{ApiError, Client, RecordInfo};
use crate::rdata::{RECORD_TYPES, RType, RecordData, fqdn, import_id, norm_name, parse_import_id};

/// The resource.
#[derive(Debug, Clone, Copy, Default)]
pub struct DnsRecord;

/// One record, as configured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordModel {
    /// The import ID, `zone/name/TYPE/value`; `None` until created.
    pub id: Option<String>,
    /// The authoritative zone, as written.
    pub zone: String,
    /// Owner name as written: relative, `@` or fully qualified.
    pub name: String,
    /// Record type as written (one of [`RECORD_TYPES`], any case).
    #[serde(rename = "type")]
    pub rtype: String,
    /// Address, target name, text or CAA value, as written.
    pub value: String,
    /// MX preference or SRV priority; `None` for other types.
    pub priority: Option<i64>,
    /// SRV weight; `None` for other types.
    pub weight: Option<i64>,
    /// SRV port; `None` for other types.
    pub port: Option<i64>,
    /// CAA flags; `None` for other types.
    pub flags: Option<i64>,
    /// CAA tag; `None` for other types.
    pub tag: Option<String>,
    /// Time to live in seconds (shared by the record set); `None` only in
    /// configuration, where the default (3600) applies.
    pub ttl: Option<i64>,
    /// Kept but not served; `None` only in configuration (default false).
    pub disabled: Option<bool>,
    /// Free-text comments; `None` only in configuration (default empty).
    pub comments: Option<String>,
}

pub(crate) const DEFAULT_TTL: i64 = 3600;
/// RFC 2181: TTLs are unsigned 31-bit numbers.
pub(crate) const MAX_TTL: i64 = 2_147_483_647;

impl RecordModel {
    /// The type and data fields, for comparing with what the server has.
    /// Fails (at `type`) when the type is not one of [`RECORD_TYPES`].
    pub fn data(&self) -> Result<RecordData> {
        let rtype = RType::parse(&self.rtype).ok_or_else(|| {
            Error::msg(format!(
                "type {:?} is not one of {}",
                self.rtype,
                RECORD_TYPES.join(", ")
            ))
            .at(AttributePath::attr("type"))
        })?;
        Ok(RecordData {
            rtype,
            value: self.value.clone(),
            priority: self.priority,
            weight: self.weight,
            port: self.port,
            flags: self.flags,
            tag: self.tag.clone(),
        })
    }

    fn zone_n(&self) -> String {
        norm_name(&self.zone)
    }

    fn fqdn(&self) -> String {
        fqdn(&self.name, &self.zone)
    }

    fn ttl(&self) -> i64 {
        self.ttl.unwrap_or(DEFAULT_TTL)
    }

    fn comments(&self) -> String {
        self.comments.clone().unwrap_or_default()
    }

    fn with_id(mut self) -> Result<Self> {
        let d = self.data()?;
        self.id = Some(import_id(&self.zone, &self.name, &d));
        Ok(self)
    }

    /// What the record is, for error details: `A record www.home.arpa (10.0.0.1)`.
    fn describe(&self) -> String {
        match self.data() {
            Ok(d) => format!("{} record {} ({})", d.rtype, self.fqdn(), d.id_value()),
            Err(_) => format!("record {}", self.fqdn()),
        }
    }

    /// Whether the server's record carries this model's ttl, disabled, comments.
    fn attrs_match(&self, r: &RecordInfo) -> bool {
        r.ttl == self.ttl()
            && r.disabled == self.disabled.unwrap_or(false)
            && r.comments.clone().unwrap_or_default() == self.comments()
    }
}

fn find<'a>(
    records: &'a [RecordInfo],
    fq: &str,
    pred: impl Fn(&RecordInfo) -> bool,
) -> Option<&'a RecordInfo> {
    records.iter().find(|r| norm_name(&r.name) == fq && pred(r))
}

fn api_err(what: impl std::fmt::Display, e: ApiError) -> Error {
    Error::msg(format!("{what}: {e}"))
}

/// The record as the server has it now, or `None` when it is gone. Zone,
/// name and value keep the spelling of `state`.
async fn read_record(c: &Client, state: RecordModel) -> Result<Option<RecordModel>> {
    let data = state.data()?;
    let zone = state.zone_n();
    let records = match c.zone_records(&zone).await {
        Ok(r) => r,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(api_err(format!("reading zone {zone}"), e)),
    };
    let fq = state.fqdn();
    let Some(r) = find(&records, &fq, |r| data.identifies(r)) else {
        tracing::info!(record = %state.describe(), "record not found");
        return Ok(None);
    };
    model_from(state, r).map(Some)
}

/// `state` as the server's record `r` has it: ttl, disabled and comments
/// from the server, zone, name and value in the spelling of `state` (a
/// CNAME's target changed outside Terraform shows the server's).
fn model_from(state: RecordModel, r: &RecordInfo) -> Result<RecordModel> {
    let data = state.data()?;
    let mut out = state;
    if !data.matches(r)
        && let Some(server) = RecordData::from_record(r)
    {
        // Only a CNAME gets here: its target changed outside Terraform.
        out.value = server.value;
    }
    out.ttl = Some(r.ttl);
    out.disabled = Some(r.disabled);
    out.comments = Some(r.comments.clone().unwrap_or_default());
    out.with_id()
}

/// After a write: the record as the server answered it (`addedRecord`,
/// `updatedRecord`), or, when the answer lacks it, as listed. The write went
/// through, so any failure here keeps the written record in state (tainted)
/// rather than forgetting it.
async fn read_back(
    c: &Client,
    written: RecordModel,
    answered: Option<RecordInfo>,
) -> Result<RecordModel> {
    let what = written.describe();
    let partial = written.clone().with_id()?;
    let data = written.data()?;
    let fq = written.fqdn();
    if let Some(r) = answered
        && norm_name(&r.name) == fq
        && data.identifies(&r)
    {
        return model_from(written, &r).map_err(|e| e.with_partial_state(&partial));
    }
    match read_record(c, written).await {
        Ok(Some(m)) => Ok(m),
        Ok(None) => Err(Error::msg(format!(
            "{what} was written, but the server does not list it when read back"
        ))
        .with_partial_state(&partial)),
        Err(e) => Err(Error::msg(format!(
            "{what} was written, but reading it back failed: {e}"
        ))
        .with_partial_state(&partial)),
    }
}

/// `records/update` setting `to` (ttl, disable and comments always sent:
/// the server resets omitted ones).
fn update_params(from: &RecordModel, to: &RecordModel) -> Result<Vec<(&'static str, String)>> {
    let old = from.data()?;
    let new = to.data()?;
    let mut p = vec![
        ("domain", from.fqdn()),
        ("zone", from.zone_n()),
        ("type", old.rtype.as_str().to_string()),
        ("ttl", to.ttl().to_string()),
        ("disable", to.disabled.unwrap_or(false).to_string()),
        ("comments", to.comments()),
    ];
    p.extend(old.identity_params());
    p.extend(new.new_params());
    if to.fqdn() != from.fqdn() {
        p.push(("newDomain", to.fqdn()));
    }
    Ok(p)
}

fn add_params(m: &RecordModel) -> Result<Vec<(&'static str, String)>> {
    let d = m.data()?;
    let mut p = vec![
        ("domain", m.fqdn()),
        ("zone", m.zone_n()),
        ("type", d.rtype.as_str().to_string()),
        ("ttl", m.ttl().to_string()),
        ("overwrite", "false".to_string()),
        ("comments", m.comments()),
    ];
    p.extend(d.params());
    Ok(p)
}

fn delete_params(m: &RecordModel) -> Result<Vec<(&'static str, String)>> {
    let d = m.data()?;
    let mut p = vec![
        ("domain", m.fqdn()),
        ("zone", m.zone_n()),
        ("type", d.rtype.as_str().to_string()),
    ];
    p.extend(d.identity_params());
    Ok(p)
}

fn int_attr(description: &str, min: i64, max: i64) -> Attribute {
    Attribute::int()
        .optional()
        .describe(description)
        .validator(validators::between(min, max))
}

/// Why a value is not valid for `rtype`, if it is not.
pub(crate) fn check_value(rtype: RType, value: &str) -> Option<String> {
    use std::net::IpAddr;
    let v = value.trim();
    match rtype {
        RType::A => match v.parse::<IpAddr>() {
            Ok(IpAddr::V4(_)) => None,
            _ => Some(format!("{value:?} is not an IPv4 address (A record)")),
        },
        RType::Aaaa => match v.parse::<IpAddr>() {
            Ok(IpAddr::V6(_)) => None,
            _ => Some(format!("{value:?} is not an IPv6 address (AAAA record)")),
        },
        RType::Txt => (value.is_empty() || value.len() > 65_000)
            .then(|| "TXT text must have between 1 and 65000 bytes".to_string()),
        RType::Caa => value
            .is_empty()
            .then(|| "the CAA value must not be empty".to_string()),
        _ => {
            let mut d = Diagnostics::new();
            use labforge_framework::schema::Validator;
            validators::dns_name(false).validate(
                &AttributePath::attr("value"),
                &Value::string(v),
                &mut d,
            );
            d.iter()
                .next()
                .map(|_| format!("{value:?} is not a valid domain name ({rtype} record target)"))
        }
    }
}

/// Cross-attribute checks: per-type fields present (and only those), value
/// shaped for the type.
pub(crate) fn validate_config(config: &Value) -> Diagnostics {
    let mut d = Diagnostics::new();
    let attr = |n: &str| config.get(n).cloned().unwrap_or(Value::Null);
    let Some(rtype) = attr("type").as_str().and_then(RType::parse) else {
        return d;
    };
    for field in ["priority", "weight", "port", "flags", "tag"] {
        let v = attr(field);
        let path = AttributePath::attr(field);
        if rtype.uses(field) && v.is_null() {
            d.attribute_error(
                path,
                "Missing required argument",
                format!("`{field}` is required for {rtype} records."),
            );
        } else if !rtype.uses(field) && v.is_known() {
            let users = match field {
                "priority" => "MX and SRV",
                "weight" | "port" => "SRV",
                _ => "CAA",
            };
            d.attribute_error(
                path,
                "Invalid attribute combination",
                format!("`{field}` is only used with {users} records, not {rtype}."),
            );
        }
    }
    if let Some(v) = attr("value").as_str()
        && let Some(detail) = check_value(rtype, v)
    {
        d.attribute_error(
            AttributePath::attr("value"),
            "Invalid attribute value",
            format!("value: {detail}"),
        );
    }
    if let Some(tag) = attr("tag").as_str()
        && (tag.is_empty() || !tag.chars().all(|c| c.is_ascii_alphanumeric()))
    {
        d.attribute_error(
            AttributePath::attr("tag"),
            "Invalid attribute value",
            format!("tag: {tag:?} is not a CAA tag (letters and digits, e.g. `issue`)"),
        );
    }
    if rtype == RType::Cname && attr("name").as_str().is_some_and(|n| n.trim() == "@") {
        d.attribute_error(
            AttributePath::attr("name"),
            "Invalid attribute value",
            "name: a CNAME cannot be at the zone apex (`@`), which holds the SOA and NS records.",
        );
    }
    d
}

impl Resource for DnsRecord {
    type Client = Client;
    type Model = RecordModel;
    const NAME: &'static str = "technitium_dns_record";

    fn schema(&self) -> Schema {
        Schema::new(
            "One DNS record in a Technitium authoritative zone.\n\n\
             Technitium records have no ids: a record is identified by zone, name, type and \
             data. Round-robin records (several values at one name and type) are separate \
             resources; they never overwrite each other. Names and values are kept as written \
             and compared normalised (case, trailing dot, `@`, IPv6 spelling), so the server's \
             canonical form never shows as a diff.\n\n\
             **TTL is per record set**: the server gives every record of a name and type the TTL \
             of the last one written, so give all resources of one name and type the same `ttl`, \
             or they will keep changing each other's.\n\n\
             Value fields by type: `A`/`AAAA` address, `CNAME`/`PTR`/`NS` target name and `TXT` \
             text go in `value`; `MX`: `priority` (preference) and `value` (exchange); `SRV`: \
             `priority`, `weight`, `port` and `value` (target); `CAA`: `flags`, `tag` and `value`.",
        )
        .attribute(
            "id",
            Attribute::string()
                .computed()
                .describe("The import ID, `zone/name/TYPE/value`."),
        )
        .attribute(
            "zone",
            Attribute::string()
                .required()
                .describe("The authoritative zone, e.g. `home.arpa`.")
                .plan_modifier(modifiers::requires_replace())
                .validator(validators::dns_name(false)),
        )
        .attribute(
            "name",
            Attribute::string()
                .required()
                .describe(
                    "Owner name: relative to the zone (`www`), `@` for the apex, or fully \
                     qualified (`www.home.arpa` or `www.home.arpa.`). Changing it renames the \
                     record in place.",
                )
                .validator(validators::dns_name(true)),
        )
        .attribute(
            "type",
            Attribute::string()
                .required()
                .describe("Record type.")
                .plan_modifier(modifiers::requires_replace())
                .validator(validators::one_of(RECORD_TYPES)),
        )
        .attribute(
            "value",
            Attribute::string().required().describe(
                "The record data: the address (A, AAAA), target name (CNAME, PTR, NS, MX \
                 exchange, SRV target), text (TXT; long text is split into 255-byte strings by \
                 the server and joined back on read) or CAA value.",
            ),
        )
        .attribute(
            "priority",
            int_attr(
                "MX preference or SRV priority (required for those).",
                0,
                65535,
            ),
        )
        .attribute(
            "weight",
            int_attr("SRV weight (required for SRV).", 0, 65535),
        )
        .attribute("port", int_attr("SRV port (required for SRV).", 0, 65535))
        .attribute("flags", int_attr("CAA flags (required for CAA).", 0, 255))
        .attribute(
            "tag",
            Attribute::string()
                .optional()
                .describe("CAA tag, e.g. `issue`, `issuewild`, `iodef` (required for CAA)."),
        )
        .attribute(
            "ttl",
            Attribute::int()
                .default(DEFAULT_TTL)
                .describe("Time to live in seconds (shared by the record set, see above).")
                .validator(validators::between(0, MAX_TTL)),
        )
        .attribute(
            "disabled",
            Attribute::bool()
                .default(false)
                .describe("Keep the record but do not serve it."),
        )
        .attribute(
            "comments",
            Attribute::string()
                .default("")
                .describe("Free-text comments stored with the record."),
        )
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        validate_config(config)
    }

    fn import_id_format(&self) -> Option<&'static str> {
        Some(
            "`zone/name/TYPE/value`, split on the first three slashes (values may contain \
             slashes). MX: `zone/name/MX/preference exchange`; SRV: `zone/name/SRV/priority \
             weight port target`; CAA: `zone/name/CAA/flags tag value`.",
        )
    }

    async fn modify_plan(&self, _: &Ctx<Client>, plan: &mut PlanChange<'_>) -> Result<()> {
        if plan.destroying() {
            return Ok(());
        }
        if !plan.creating() {
            keep_equivalent_spellings(plan);
        }
        if !plan.planned_attr("id").is_unknown() {
            return Ok(());
        }
        // The id follows from configuration: show it in the plan when known.
        let known = [
            "zone", "name", "type", "value", "priority", "weight", "port", "flags", "tag",
        ]
        .iter()
        .all(|a| !plan.planned_attr(a).is_unknown());
        if !known {
            return Ok(());
        }
        let s = |a: &str| plan.planned_attr(a).as_str().map(str::to_string);
        let n = |a: &str| plan.planned_attr(a).as_i64();
        let (Some(zone), Some(name), Some(rtype), Some(value)) =
            (s("zone"), s("name"), s("type"), s("value"))
        else {
            return Ok(());
        };
        let Some(rtype) = RType::parse(&rtype) else {
            return Ok(());
        };
        let d = RecordData {
            rtype,
            value,
            priority: n("priority"),
            weight: n("weight"),
            port: n("port"),
            flags: n("flags"),
            tag: s("tag"),
        };
        plan.set("id", Value::string(import_id(&zone, &name, &d)));
        Ok(())
    }

    async fn create(&self, ctx: &Ctx<Client>, plan: RecordModel) -> Result<RecordModel> {
        let c = ctx.client();
        let data = plan.data()?;
        let zone = plan.zone_n();
        let fq = plan.fqdn();
        let what = format!("adding {} to zone {zone}", plan.describe());
        // What exists once the add went through: kept in state (tainted) if a
        // later step fails.
        let partial = plan.clone().with_id()?;
        let mut set_attrs = plan.disabled == Some(true);
        let mut answered = match c.record_add(&zone, &add_params(&plan)?).await {
            Ok(r) => r,
            Err(e) if e.is_already_exists() => {
                // Servers since v13.6 refuse an identical add. It is ours only
                // if the very same data is there (typically our own add whose
                // answer was lost: then the record exists, so a failure to
                // look keeps it in state).
                let records = c
                    .zone_records(&zone)
                    .await
                    .map_err(|e| api_err(&what, e).with_partial_state(&partial))?;
                match find(&records, &fq, |r| data.matches(r)) {
                    Some(r) => {
                        tracing::info!(record = %plan.describe(), "record already exists with the same data; taking it over");
                        ctx.warn(
                            format!("Took over existing {}", plan.describe()),
                            format!(
                                "Zone {zone} already had {} with the same data; it is now \
                                 managed by this resource.",
                                plan.describe()
                            ),
                        );
                        set_attrs = !plan.attrs_match(r);
                        Some(r.clone())
                    }
                    None => return Err(api_err(&what, e)),
                }
            }
            Err(e) => return Err(api_err(&what, e)),
        };
        if set_attrs {
            answered = c
                .record_update(&zone, &update_params(&plan, &plan)?, &|r| {
                    norm_name(&r.name) == fq && data.identifies(r)
                })
                .await
                .map_err(|e| {
                    api_err(
                        format!("setting ttl/disabled/comments of {}", plan.describe()),
                        e,
                    )
                    .with_partial_state(&partial)
                })?;
        }
        read_back(c, plan, answered).await
    }

    async fn read(&self, ctx: &Ctx<Client>, state: RecordModel) -> Result<Option<RecordModel>> {
        read_record(ctx.client(), state).await
    }

    async fn update(
        &self,
        ctx: &Ctx<Client>,
        prior: RecordModel,
        plan: RecordModel,
    ) -> Result<RecordModel> {
        let c = ctx.client();
        let (old, new) = (prior.data()?, plan.data()?);
        let unchanged = prior.fqdn() == plan.fqdn()
            && old.canonical() == new.canonical()
            && prior.ttl() == plan.ttl()
            && prior.disabled == plan.disabled
            && prior.comments() == plan.comments();
        if unchanged {
            // Only the spelling changed (e.g. `www` to `www.home.arpa.`).
            return plan.with_id();
        }
        let zone = plan.zone_n();
        let what = format!("updating {} in zone {zone}", prior.describe());
        let old_fq = prior.fqdn();
        let answered = match c
            .record_update(&zone, &update_params(&prior, &plan)?, &|r| {
                norm_name(&r.name) == old_fq && old.identifies(r)
            })
            .await
        {
            Ok(r) => r,
            Err(e) if e.is_not_found() => {
                // A retried update may have been applied already.
                let records = c.zone_records(&zone).await.map_err(|e| api_err(&what, e))?;
                let done = find(&records, &plan.fqdn(), |r| {
                    new.matches(r) && plan.attrs_match(r)
                });
                match done {
                    Some(r) => Some(r.clone()),
                    None => {
                        return Err(Error::msg(format!(
                            "{what}: {e}. The record was changed or deleted outside Terraform; \
                             run `terraform apply` again to recreate it."
                        )));
                    }
                }
            }
            Err(e) => return Err(api_err(&what, e)),
        };
        read_back(c, plan, answered).await
    }

    async fn delete(&self, ctx: &Ctx<Client>, state: RecordModel) -> Result<()> {
        let c = ctx.client();
        let zone = state.zone_n();
        let data = state.data()?;
        let fq = state.fqdn();
        match c
            .record_delete(&zone, &delete_params(&state)?, &|r| {
                norm_name(&r.name) == fq && data.identifies(r)
            })
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(api_err(
                format!("deleting {} from zone {zone}", state.describe()),
                e,
            )),
        }
    }

    async fn import(&self, ctx: &Ctx<Client>, id: &str) -> Result<RecordModel> {
        let parsed = parse_import_id(id).map_err(Error::msg)?;
        let c = ctx.client();
        let d = parsed.data;
        let mut m = RecordModel {
            id: None,
            zone: parsed.zone,
            name: parsed.name,
            rtype: d.rtype.as_str().to_string(),
            value: d.value.clone(),
            priority: d.priority,
            weight: d.weight,
            port: d.port,
            flags: d.flags,
            tag: d.tag.clone(),
            ttl: None,
            disabled: None,
            comments: None,
        };
        let zone = m.zone_n();
        let records = c
            .zone_records(&zone)
            .await
            .map_err(|e| api_err(format!("reading zone {zone}"), e))?;
        let fq = m.fqdn();
        let r = find(&records, &fq, |r| d.matches(r)).ok_or_else(|| {
            Error::msg(format!(
                "zone {zone} has no {} (import ID {id:?}).",
                m.describe()
            ))
        })?;
        m.ttl = Some(r.ttl);
        m.disabled = Some(r.disabled);
        m.comments = Some(r.comments.clone().unwrap_or_default());
        m.with_id()
    }
}

/// The record data a plan or state value describes, if known.
fn data_of(v: &Value) -> Option<RecordData> {
    let s = |a: &str| v.get(a).and_then(Value::as_str).map(str::to_string);
    let n = |a: &str| v.get(a).and_then(Value::as_i64);
    let rtype = RType::parse(&s("type")?)?;
    Some(RecordData {
        rtype,
        value: s("value")?,
        priority: n("priority"),
        weight: n("weight"),
        port: n("port"),
        flags: n("flags"),
        tag: s("tag"),
    })
}

/// At plan time: where the configuration spells zone, name or value
/// differently from state but means the same (`Home.Arpa.` and `home.arpa`,
/// `www` and `www.home.arpa.`, `FD00:0:0:0::20` and `fd00::20`, a CAA tag's
/// case), plan the state's spelling, as the docs promise: a zone respelled is
/// never replaced, and a plan whose only differences are spellings is empty.
/// When something really changes, the update takes the configuration's
/// spelling of name and value along. (Terraform accepts a planned value that
/// differs from the configuration when it is the prior state's.)
fn keep_equivalent_spellings(plan: &mut PlanChange<'_>) {
    let text = |v: &Value| v.as_str().map(str::to_string);
    let (Some(cz), Some(pz)) = (
        text(plan.config_attr("zone")),
        text(plan.prior_attr("zone")),
    ) else {
        return;
    };
    if cz != pz && norm_name(&cz) == norm_name(&pz) {
        plan.set("zone", Value::string(&pz));
        plan.requires_replace
            .retain(|p| *p != AttributePath::attr("zone"));
    }
    let mut respelled = plan.planned.clone();
    let mut set = |k: &str, v: Value| {
        if let Value::Object(m) = &mut respelled {
            m.insert(k.to_string(), v);
        }
    };
    if let (Some(cn), Some(pn)) = (
        text(plan.config_attr("name")),
        text(plan.prior_attr("name")),
    ) && cn != pn
        && fqdn(&cn, &cz) == fqdn(&pn, &pz)
    {
        set("name", Value::string(&pn));
    }
    if let (Some(mine), Some(prior)) = (data_of(plan.planned), data_of(plan.prior))
        && mine != prior
        && mine.canonical() == prior.canonical()
    {
        set("value", Value::string(&prior.value));
        if let Some(tag) = &prior.tag {
            set("tag", Value::string(tag));
        }
    }
    let without_id = |v: &Value| {
        let mut v = v.clone();
        if let Value::Object(m) = &mut v {
            m.remove("id");
        }
        v
    };
    if without_id(&respelled) == without_id(plan.prior) {
        if let Value::Object(m) = &mut respelled {
            m.insert("id".to_string(), plan.prior_attr("id").clone());
        }
        *plan.planned = respelled;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn model(rtype: &str, value: &str) -> RecordModel {
        RecordModel {
            id: None,
            zone: "Home.Arpa".into(),
            name: "www".into(),
            rtype: rtype.into(),
            value: value.into(),
            priority: None,
            weight: None,
            port: None,
            flags: None,
            tag: None,
            ttl: Some(300),
            disabled: Some(false),
            comments: Some(String::new()),
        }
    }

    fn get<'a>(p: &'a [(&'static str, String)], k: &str) -> Option<&'a str> {
        p.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str())
    }

    #[test]
    fn update_sends_old_and_new_and_resettable_fields() {
        let old = model("A", "10.0.0.1");
        let mut new = model("A", "10.0.0.2");
        new.name = "web".into();
        new.disabled = Some(true);
        let p = update_params(&old, &new).unwrap();
        assert_eq!(get(&p, "domain"), Some("www.home.arpa"));
        assert_eq!(get(&p, "zone"), Some("home.arpa"));
        assert_eq!(get(&p, "ipAddress"), Some("10.0.0.1"));
        assert_eq!(get(&p, "newIpAddress"), Some("10.0.0.2"));
        assert_eq!(get(&p, "newDomain"), Some("web.home.arpa"));
        assert_eq!(get(&p, "ttl"), Some("300"));
        assert_eq!(get(&p, "disable"), Some("true"));
        assert_eq!(get(&p, "comments"), Some(""));
        let p = update_params(&old, &old).unwrap();
        assert_eq!(get(&p, "newDomain"), None);
    }

    #[test]
    fn add_and_delete_params() {
        let mut m = model("MX", "mail.home.arpa");
        m.priority = Some(10);
        m.name = "@".into();
        let p = add_params(&m).unwrap();
        assert_eq!(get(&p, "domain"), Some("home.arpa"));
        assert_eq!(get(&p, "overwrite"), Some("false"));
        assert_eq!(get(&p, "preference"), Some("10"));
        let p = delete_params(&model("CNAME", "x.home.arpa")).unwrap();
        assert_eq!(get(&p, "cname"), None);
        assert_eq!(get(&p, "type"), Some("CNAME"));
    }

    fn obj(zone: &str, name: &str, rtype: &str, value: &str, tag: Option<&str>) -> Value {
        Value::object([
            ("id", Value::Null),
            ("zone", Value::string(zone)),
            ("name", Value::string(name)),
            ("type", Value::string(rtype)),
            ("value", Value::string(value)),
            ("priority", Value::Null),
            ("weight", Value::Null),
            ("port", Value::Null),
            ("flags", tag.map_or(Value::Null, |_| Value::from_i64(0))),
            ("tag", tag.map_or(Value::Null, Value::string)),
            ("ttl", Value::from_i64(3600)),
            ("disabled", Value::bool(false)),
            ("comments", Value::string("")),
        ])
    }

    /// Plans `config` over `prior`; returns the planned value and what is replaced.
    fn plan_over(config: &Value, prior: &Value) -> (Value, Vec<AttributePath>) {
        let mut planned = config.clone();
        let mut replace = vec![AttributePath::attr("zone")];
        let mut diags = Diagnostics::new();
        let mut change = PlanChange {
            config,
            prior,
            planned: &mut planned,
            requires_replace: &mut replace,
            diagnostics: &mut diags,
        };
        keep_equivalent_spellings(&mut change);
        (planned, replace)
    }

    #[test]
    fn other_spellings_plan_the_state_value() {
        let prior = obj("lab.test", "v6.lab.test.", "AAAA", "fd00::20", None);
        let config = obj("Lab.Test.", "v6", "AAAA", "FD00:0:0:0::20", None);
        let (planned, replace) = plan_over(&config, &prior);
        assert_eq!(planned, prior);
        assert!(replace.is_empty(), "{replace:?}");
        // A real change stays a change, in the configuration's spelling.
        let config = obj("lab.test", "v6", "AAAA", "fd00::21", None);
        let (planned, _) = plan_over(&config, &prior);
        assert_eq!(planned.get("value"), Some(&Value::string("fd00::21")));
        let mut config = obj("lab.test", "v6", "AAAA", "FD00::20", None);
        if let Value::Object(m) = &mut config {
            m.insert("ttl".into(), Value::from_i64(60));
        }
        let (planned, _) = plan_over(&config, &prior);
        assert_eq!(planned.get("name"), Some(&Value::string("v6")));
        assert_eq!(planned.get("value"), Some(&Value::string("FD00::20")));
        assert_eq!(planned.get("zone"), Some(&Value::string("lab.test")));
        let config = obj("other.test", "v6", "AAAA", "fd00::20", None);
        let (planned, replace) = plan_over(&config, &prior);
        assert_eq!(planned.get("zone"), Some(&Value::string("other.test")));
        assert_eq!(replace, vec![AttributePath::attr("zone")]);
        // CAA: the tag's case; the value is case-sensitive.
        let prior = obj("lab.test", "@", "CAA", "letsencrypt.org", Some("issue"));
        let config = obj("lab.test", "@", "CAA", "letsencrypt.org", Some("Issue"));
        assert_eq!(plan_over(&config, &prior).0, prior);
        let config = obj("lab.test", "@", "CAA", "LetsEncrypt.org", Some("issue"));
        assert_ne!(plan_over(&config, &prior).0, prior);
    }

    #[test]
    fn validation_names_the_attribute() {
        let cfg = |pairs: &[(&str, Value)]| Value::object(pairs.iter().cloned());
        let n = |i: i64| Value::from_i64(i);
        let d = validate_config(&cfg(&[
            ("type", Value::string("A")),
            ("value", Value::string("10.0.0.300")),
        ]));
        assert_eq!(d.0[0].attribute, Some(AttributePath::attr("value")));
        let d = validate_config(&cfg(&[
            ("type", Value::string("AAAA")),
            ("value", Value::string("10.0.0.1")),
        ]));
        assert!(d.has_errors());
        let d = validate_config(&cfg(&[
            ("type", Value::string("SRV")),
            ("value", Value::string("sip.home.arpa")),
            ("priority", n(1)),
            ("port", n(5060)),
        ]));
        assert_eq!(d.0.len(), 1);
        assert_eq!(d.0[0].attribute, Some(AttributePath::attr("weight")));
        let d = validate_config(&cfg(&[
            ("type", Value::string("A")),
            ("value", Value::string("10.0.0.1")),
            ("weight", n(1)),
        ]));
        assert_eq!(d.0[0].attribute, Some(AttributePath::attr("weight")));
        // Unknown values are checked at apply time.
        let d = validate_config(&cfg(&[
            ("type", Value::string("MX")),
            ("value", Value::unknown()),
            ("priority", Value::unknown()),
        ]));
        assert!(!d.has_errors());
        assert!(check_value(RType::Cname, "bad..name").is_some());
        assert!(check_value(RType::Cname, "target.home.arpa.").is_none());
    }
}
