//! Cloudflare API v4 state: zones, DNS records, API tokens, and the record
//! normalisation and validation of the real API (`backends-b.md` §4c/§4d and
//! the official OpenAPI subset `cloudflare-dns.openapi.json`).
//!
//! Error codes: 1004, 9005, 9021, 81044, 81053, 81057, 10000, 971, 7003 and
//! 9109 are the ones seen in public issue bodies; the others (marked
//! "best-effort") follow the same numbering but are unverified.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use crate::common::text::{IdGen, now_rfc3339};

/// Record types of the OpenAPI `dns-records_type` enum.
pub const RECORD_TYPES: &[&str] = &[
    "A",
    "AAAA",
    "CAA",
    "CERT",
    "CNAME",
    "DNSKEY",
    "DS",
    "HTTPS",
    "LOC",
    "MX",
    "NAPTR",
    "NS",
    "OPENPGPKEY",
    "PTR",
    "SMIMEA",
    "SRV",
    "SSHFP",
    "SVCB",
    "TLSA",
    "TXT",
    "URI",
];

/// Types whose value is given in `data` (OpenAPI `dns-record-with-data`);
/// their `content` is computed by the server.
pub const DATA_TYPES: &[&str] = &[
    "CAA", "CERT", "DNSKEY", "DS", "HTTPS", "LOC", "NAPTR", "SMIMEA", "SRV", "SSHFP", "SVCB",
    "TLSA", "URI",
];

/// Types Cloudflare can proxy.
pub const PROXIABLE_TYPES: &[&str] = &["A", "AAAA", "CNAME"];

/// Types whose record schema has a top-level `priority`
/// (`dns-records_MXRecord`, `dns-records_URIRecord`; the others that have a
/// priority keep it in `data`).
pub const TOP_LEVEL_PRIORITY_TYPES: &[&str] = &["MX", "URI"];

/// JSON types of the writable record fields, as the OpenAPI record schemas
/// type them (`dns-records_dns-record-shared-fields` and the per-type
/// schemas). None is `nullable`: a `null` is refused like any other wrong
/// type. `id` is the batch entries' identifier.
pub const REQUEST_FIELD_TYPES: &[(&str, &str)] = &[
    ("comment", "string"),
    ("content", "string"),
    ("data", "object"),
    ("id", "string"),
    ("name", "string"),
    ("priority", "number"),
    ("private_routing", "boolean"),
    ("proxied", "boolean"),
    ("settings", "object"),
    ("tags", "array"),
    ("ttl", "number"),
    ("type", "string"),
];

/// TTL bounds of the OpenAPI `dns-records_ttl` (1 = automatic). The schema's
/// minimum of 30 applies to Enterprise zones only; simulated zones are not.
pub const TTL_MIN: u64 = 60;
/// Largest TTL accepted.
pub const TTL_MAX: u64 = 86_400;
/// `per_page` bounds for DNS record lists (OpenAPI `dns-records_per_page`).
pub const RECORDS_PER_PAGE_DEFAULT: u64 = 100;
/// Largest `per_page` for DNS record lists.
pub const RECORDS_PER_PAGE_MAX: u64 = 5_000_000;
/// `per_page` (minimum, default, maximum) for zone lists (OpenAPI `GET /zones`).
pub const ZONES_PER_PAGE: (u64, u64, u64) = (5, 20, 50);

/// An API failure: HTTP status plus `errors[]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CfError {
    pub(crate) status: u16,
    pub(crate) code: u32,
    pub(crate) message: String,
    pub(crate) chain: Vec<(u32, String)>,
}

impl CfError {
    pub(crate) fn new(status: u16, code: u32, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            chain: Vec::new(),
        }
    }

    /// 400 with a specific validation code.
    pub(crate) fn invalid(code: u32, message: impl Into<String>) -> Self {
        Self::new(400, code, message)
    }

    pub(crate) fn auth() -> Self {
        Self::new(403, 10000, "Authentication error")
    }

    pub(crate) fn not_found_record() -> Self {
        Self::new(404, 81044, "Record does not exist.")
    }

    pub(crate) fn bad_body() -> Self {
        // best-effort code
        Self::invalid(9207, "Request body is invalid.")
    }
}

/// What a token may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenScope {
    /// Zone ids the token covers; `None` = all zones of the account.
    pub zones: Option<Vec<String>>,
    /// `DNS Write` (edit); otherwise `DNS Read` only.
    pub dns_edit: bool,
    /// `com.cloudflare.api.account.zone.list`: may list zones without a
    /// `name` filter.
    pub zone_list: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub(crate) id: String,
    pub(crate) scope: TokenScope,
    window_start: Option<Instant>,
    used: u32,
}

#[derive(Debug, Clone)]
pub(crate) struct Zone {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) created_on: String,
}

impl Zone {
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "status": "active",
            "paused": false,
            "type": "full",
            "development_mode": 0,
            "name_servers": ["ada.ns.cloudflare.com", "bob.ns.cloudflare.com"],
            "original_name_servers": null,
            "original_registrar": null,
            "original_dnshost": null,
            "created_on": self.created_on,
            "modified_on": self.created_on,
            "activated_on": self.created_on,
            "meta": { "step": 4, "custom_certificate_quota": 0, "page_rule_quota": 3, "phishing_detected": false },
            // `zones_zone.owner` documents `id`, `name` and `type` (an id
            // is a string, not null: omitted here).
            "owner": { "type": "user", "name": "Homelab Owner" },
            "account": { "id": "01a7362d577a6c3019a474fd6f485823", "name": "Homelab Account" },
            "permissions": ["#dns_records:edit", "#dns_records:read", "#zone:read"],
            "plan": { "id": "0feeeeeeeeeeeeeeeeeeeeeeeeeeeeee", "name": "Free Website", "price": 0, "currency": "USD", "frequency": "", "is_subscribed": false, "can_subscribe": false, "legacy_id": "free", "legacy_discount": false, "externally_managed": false },
        })
    }
}

/// A stored DNS record, already normalised.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub(crate) id: String,
    pub(crate) zone_id: String,
    pub(crate) name: String,
    pub(crate) rtype: String,
    pub(crate) content: String,
    pub(crate) data: Option<Value>,
    pub(crate) priority: Option<u64>,
    pub(crate) proxied: bool,
    pub(crate) ttl: u64,
    pub(crate) comment: Option<String>,
    pub(crate) tags: Vec<String>,
    pub(crate) settings: Map<String, Value>,
    pub(crate) created_on: String,
    pub(crate) modified_on: String,
    pub(crate) comment_modified_on: Option<String>,
    pub(crate) tags_modified_on: Option<String>,
}

impl Record {
    /// The record object of the API (OpenAPI `dns-records_dns-record-response`):
    /// no `zone_id` or `zone_name` (the schema has neither; clients get the
    /// zone's name from `GET /zones/{zone_id}`), a top-level `priority` only
    /// for the types whose schema has one (MX, URI; SRV keeps it in `data`).
    pub(crate) fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), json!(self.id));
        m.insert("name".into(), json!(self.name));
        m.insert("type".into(), json!(self.rtype));
        m.insert("content".into(), json!(self.content));
        if let Some(d) = &self.data {
            m.insert("data".into(), d.clone());
        }
        if let Some(p) = self.priority
            && TOP_LEVEL_PRIORITY_TYPES.contains(&self.rtype.as_str())
        {
            m.insert("priority".into(), json!(p));
        }
        m.insert(
            "proxiable".into(),
            json!(PROXIABLE_TYPES.contains(&self.rtype.as_str())),
        );
        m.insert("proxied".into(), json!(self.proxied));
        m.insert("ttl".into(), json!(self.ttl));
        m.insert("settings".into(), Value::Object(self.settings.clone()));
        m.insert("meta".into(), json!({}));
        // `null` when there is none (research backends-b.md §4c: "comment
        // (null/absent when none)"); required by the response schema.
        m.insert("comment".into(), json!(self.comment));
        m.insert("tags".into(), json!(self.tags));
        m.insert("created_on".into(), json!(self.created_on));
        m.insert("modified_on".into(), json!(self.modified_on));
        if let Some(t) = &self.comment_modified_on {
            m.insert("comment_modified_on".into(), json!(t));
        }
        if let Some(t) = &self.tags_modified_on {
            m.insert("tags_modified_on".into(), json!(t));
        }
        Value::Object(m)
    }

    /// The writable fields, as a PATCH body would carry them.
    fn input(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("type".into(), json!(self.rtype));
        m.insert("name".into(), json!(self.name));
        match &self.data {
            Some(d) => {
                m.insert("data".into(), d.clone());
            }
            None => {
                m.insert("content".into(), json!(self.content));
            }
        }
        if let Some(p) = self.priority
            && TOP_LEVEL_PRIORITY_TYPES.contains(&self.rtype.as_str())
        {
            m.insert("priority".into(), json!(p));
        }
        m.insert("ttl".into(), json!(self.ttl));
        m.insert("proxied".into(), json!(self.proxied));
        if let Some(c) = &self.comment {
            m.insert("comment".into(), json!(c));
        }
        m.insert("tags".into(), json!(self.tags));
        m.insert("settings".into(), Value::Object(self.settings.clone()));
        m
    }
}

/// The validated, normalised writable part of a record.
#[derive(Debug, Clone)]
struct Fields {
    rtype: String,
    name: String,
    content: String,
    data: Option<Value>,
    priority: Option<u64>,
    proxied: bool,
    ttl: u64,
    comment: Option<String>,
    tags: Vec<String>,
    settings: Map<String, Value>,
}

/// Request budget per token and window.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RateLimit {
    pub(crate) limit: u32,
    pub(crate) window: Duration,
}

/// The simulated account.
#[derive(Debug)]
pub(crate) struct Cloudflare {
    pub(crate) zones: Vec<Zone>,
    pub(crate) records: Vec<Record>,
    pub(crate) tokens: HashMap<String, Token>,
    pub(crate) rate: RateLimit,
    ids: IdGen,
}

impl Cloudflare {
    pub(crate) fn new() -> Self {
        Self {
            zones: Vec::new(),
            records: Vec::new(),
            tokens: HashMap::new(),
            // The documented global limit: 1200 requests per 5 minutes.
            rate: RateLimit {
                limit: 1200,
                window: Duration::from_secs(300),
            },
            ids: IdGen::new(0xc10d_f1a2),
        }
    }

    pub(crate) fn add_zone(&mut self, id: Option<&str>, name: &str) -> String {
        let id = id.map(str::to_string).unwrap_or_else(|| self.ids.hex(32));
        self.zones.push(Zone {
            id: id.clone(),
            name: normalize_host(name),
            created_on: now_rfc3339(6),
        });
        id
    }

    pub(crate) fn add_token(&mut self, token: &str, scope: TokenScope) {
        let id = self.ids.hex(32);
        self.tokens.insert(
            token.to_string(),
            Token {
                id,
                scope,
                window_start: None,
                used: 0,
            },
        );
    }

    pub(crate) fn zone(&self, id: &str) -> Option<&Zone> {
        self.zones.iter().find(|z| z.id == id)
    }

    /// Counts one request against the token's budget. `Err(seconds)` when
    /// the budget is spent: the `Retry-After` value.
    pub(crate) fn spend(&mut self, token: &str) -> Result<(), u64> {
        let rate = self.rate;
        let Some(t) = self.tokens.get_mut(token) else {
            return Ok(());
        };
        let now = Instant::now();
        let start = match t.window_start {
            Some(s) if now.duration_since(s) < rate.window => s,
            _ => {
                t.window_start = Some(now);
                t.used = 0;
                now
            }
        };
        if t.used >= rate.limit {
            let left = rate.window.saturating_sub(now.duration_since(start));
            return Err(left.as_secs_f64().ceil().max(1.0) as u64);
        }
        t.used += 1;
        Ok(())
    }

    pub(crate) fn reset_budgets(&mut self) {
        for t in self.tokens.values_mut() {
            t.window_start = None;
            t.used = 0;
        }
    }

    // ------------------------------------------------------------ records

    pub(crate) fn create(&mut self, zone_id: &str, body: &Value) -> Result<Value, CfError> {
        let zone = self
            .zone(zone_id)
            .cloned()
            .ok_or_else(|| no_route(zone_id))?;
        let input = body.as_object().ok_or_else(CfError::bad_body)?;
        check_request_types(input)?;
        let f = validate(&zone, input)?;
        self.check_conflicts(&zone, &f, None)?;
        let now = now_rfc3339(6);
        let record = Record {
            id: self.ids.hex(32),
            zone_id: zone.id.clone(),
            comment_modified_on: f.comment.as_ref().map(|_| now.clone()),
            tags_modified_on: (!f.tags.is_empty()).then(|| now.clone()),
            name: f.name,
            rtype: f.rtype,
            content: f.content,
            data: f.data,
            priority: f.priority,
            proxied: f.proxied,
            ttl: f.ttl,
            comment: f.comment,
            tags: f.tags,
            settings: f.settings,
            created_on: now.clone(),
            modified_on: now,
        };
        let out = record.to_json();
        self.records.push(record);
        Ok(out)
    }

    /// PUT (`overwrite` = full replace, omitted fields reset) or PATCH
    /// (omitted fields kept).
    pub(crate) fn update(
        &mut self,
        zone_id: &str,
        id: &str,
        body: &Value,
        replace: bool,
    ) -> Result<Value, CfError> {
        let zone = self
            .zone(zone_id)
            .cloned()
            .ok_or_else(|| no_route(zone_id))?;
        let index = self.record_index(zone_id, id)?;
        let body = body.as_object().ok_or_else(CfError::bad_body)?;
        check_request_types(body)?;
        let mut input = if replace {
            Map::new()
        } else {
            self.records[index].input()
        };
        if !replace && body.contains_key("content") {
            input.remove("data");
        }
        if !replace && body.contains_key("data") {
            input.remove("content");
        }
        for (k, v) in body {
            input.insert(k.clone(), v.clone());
        }
        if replace && !input.contains_key("type") {
            input.insert("type".into(), json!(self.records[index].rtype));
        }
        let f = validate(&zone, &input)?;
        self.check_conflicts(&zone, &f, Some(index))?;
        let now = now_rfc3339(6);
        let r = &mut self.records[index];
        if r.comment != f.comment {
            r.comment_modified_on = f.comment.as_ref().map(|_| now.clone());
        }
        if r.tags != f.tags {
            r.tags_modified_on = (!f.tags.is_empty()).then(|| now.clone());
        }
        r.name = f.name;
        r.rtype = f.rtype;
        r.content = f.content;
        r.data = f.data;
        r.priority = f.priority;
        r.proxied = f.proxied;
        r.ttl = f.ttl;
        r.comment = f.comment;
        r.tags = f.tags;
        r.settings = f.settings;
        r.modified_on = now;
        Ok(r.to_json())
    }

    pub(crate) fn delete(&mut self, zone_id: &str, id: &str) -> Result<Value, CfError> {
        self.zone(zone_id).ok_or_else(|| no_route(zone_id))?;
        let index = self.record_index(zone_id, id)?;
        self.records.remove(index);
        Ok(json!({ "id": id }))
    }

    pub(crate) fn get(&self, zone_id: &str, id: &str) -> Result<Value, CfError> {
        self.zone(zone_id).ok_or_else(|| no_route(zone_id))?;
        let index = self.record_index(zone_id, id)?;
        Ok(self.records[index].to_json())
    }

    fn record_index(&self, zone_id: &str, id: &str) -> Result<usize, CfError> {
        if !is_identifier(id) {
            return Err(CfError::invalid(
                7003,
                format!(
                    "Could not route to /zones/{zone_id}/dns_records/{id}, perhaps your object identifier is invalid?"
                ),
            ));
        }
        self.records
            .iter()
            .position(|r| r.zone_id == zone_id && r.id == id)
            .ok_or_else(CfError::not_found_record)
    }

    /// CNAME and NS exclusivity, and duplicates. At the zone apex a CNAME is
    /// flattened, so there it only clashes with A/AAAA/CNAME. Below the apex
    /// "NS records cannot exist on the same name as any other record type"
    /// (OpenAPI, notes of `POST|PUT|PATCH /zones/{zone_id}/dns_records`); the
    /// apex holds the zone's own records beside any NS records of a
    /// multi-provider setup.
    fn check_conflicts(&self, zone: &Zone, f: &Fields, skip: Option<usize>) -> Result<(), CfError> {
        let zone_id = zone.id.as_str();
        let apex = f.name == zone.name;
        let same_name = self
            .records
            .iter()
            .enumerate()
            .filter(|(i, r)| Some(*i) != skip && r.zone_id == zone_id && r.name == f.name)
            .map(|(_, r)| r);
        let address = |t: &str| matches!(t, "A" | "AAAA" | "CNAME");
        for r in same_name {
            if r.rtype == f.rtype
                && r.content.eq_ignore_ascii_case(&f.content)
                && r.priority == f.priority
            {
                return Err(CfError::invalid(81057, "Record already exists."));
            }
            if !apex && (f.rtype == "NS") != (r.rtype == "NS") {
                // "NS records with that host already exist. (Code: 81056)"
                // for an A record beside an NS delegation (acme-dns/acme-dns#258);
                // the same answer for an NS record beside another type is
                // best-effort.
                return Err(CfError::invalid(
                    81056,
                    "NS records with that host already exist.",
                ));
            }
            let cname_clash = f.rtype == "CNAME" || r.rtype == "CNAME";
            if cname_clash && apex && !(address(&f.rtype) && address(&r.rtype)) {
                continue;
            }
            if cname_clash {
                if address(&f.rtype) && address(&r.rtype) {
                    return Err(CfError::invalid(
                        81053,
                        "An A, AAAA, or CNAME record with that host already exists.",
                    ));
                }
                // best-effort code
                return Err(CfError::invalid(
                    81054,
                    "A CNAME record with that host already exists.",
                ));
            }
        }
        Ok(())
    }

    /// One page of records matching the list filters.
    pub(crate) fn list(
        &self,
        zone_id: &str,
        q: &[(String, String)],
    ) -> Result<(Vec<Value>, Value), CfError> {
        let zone = self.zone(zone_id).ok_or_else(|| no_route(zone_id))?;
        let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let page = parse_page(get("page"), "page", 1, u64::MAX)?;
        let per_page = parse_page(
            get("per_page"),
            "per_page",
            RECORDS_PER_PAGE_DEFAULT,
            RECORDS_PER_PAGE_MAX,
        )?;
        let match_any = matches!(get("match"), Some("any"));
        let tag_any = matches!(get("tag_match"), Some("any"));
        let mut preds: Vec<Predicate> = Vec::new();
        let mut tag_preds: Vec<Predicate> = Vec::new();
        for (k, v) in q {
            let v = v.clone();
            let key = k.as_str();
            match key {
                "type" => preds.push(Box::new(move |r| r.rtype.eq_ignore_ascii_case(&v))),
                "name" | "name.exact" => {
                    let want = qualify(&v, &zone.name);
                    preds.push(Box::new(move |r| r.name == want));
                }
                "name.contains" | "name.startswith" | "name.endswith" => {
                    let v = v.to_ascii_lowercase();
                    let op = key.to_string();
                    preds.push(Box::new(move |r| text_op(&op, &r.name, &v)));
                }
                "content" | "content.exact" => {
                    preds.push(Box::new(move |r| r.content.eq_ignore_ascii_case(&v)))
                }
                "content.contains" | "content.startswith" | "content.endswith" => {
                    let op = key.to_string();
                    preds.push(Box::new(move |r| {
                        text_op(
                            &op,
                            &r.content.to_ascii_lowercase(),
                            &v.to_ascii_lowercase(),
                        )
                    }));
                }
                "proxied" => {
                    let want = v == "true";
                    preds.push(Box::new(move |r| r.proxied == want));
                }
                "comment" | "comment.exact" => {
                    preds.push(Box::new(move |r| r.comment.as_deref() == Some(v.as_str())))
                }
                "comment.present" => preds.push(Box::new(|r| r.comment.is_some())),
                "comment.absent" => preds.push(Box::new(|r| r.comment.is_none())),
                "comment.contains" | "comment.startswith" | "comment.endswith" => {
                    let op = key.to_string();
                    preds.push(Box::new(move |r| {
                        r.comment.as_deref().is_some_and(|c| text_op(&op, c, &v))
                    }));
                }
                "tag" | "tag.exact" => tag_preds.push(Box::new(move |r| match v.split_once(':') {
                    Some(_) => r.tags.contains(&v),
                    None => r
                        .tags
                        .iter()
                        .any(|t| t.split(':').next() == Some(v.as_str())),
                })),
                "tag.present" => tag_preds.push(Box::new(move |r| {
                    r.tags
                        .iter()
                        .any(|t| t.split(':').next() == Some(v.as_str()))
                })),
                "tag.absent" => tag_preds.push(Box::new(move |r| {
                    !r.tags
                        .iter()
                        .any(|t| t.split(':').next() == Some(v.as_str()))
                })),
                "search" => {
                    let v = v.to_ascii_lowercase();
                    preds.push(Box::new(move |r| {
                        r.name.contains(&v)
                            || r.content.to_ascii_lowercase().contains(&v)
                            || r.comment
                                .as_deref()
                                .is_some_and(|c| c.to_ascii_lowercase().contains(&v))
                    }))
                }
                _ => {}
            }
        }
        let mut rows: Vec<&Record> = self
            .records
            .iter()
            .filter(|r| r.zone_id == zone_id)
            .filter(|r| {
                let base = if preds.is_empty() {
                    true
                } else if match_any {
                    preds.iter().any(|p| p(r))
                } else {
                    preds.iter().all(|p| p(r))
                };
                let tags = if tag_preds.is_empty() {
                    true
                } else if tag_any {
                    tag_preds.iter().any(|p| p(r))
                } else {
                    tag_preds.iter().all(|p| p(r))
                };
                base && tags
            })
            .collect();
        let order = get("order").unwrap_or("type");
        rows.sort_by(|a, b| {
            let primary = match order {
                "name" => a.name.cmp(&b.name),
                "content" => a.content.cmp(&b.content),
                "ttl" => a.ttl.cmp(&b.ttl),
                "proxied" => a.proxied.cmp(&b.proxied),
                _ => a.rtype.cmp(&b.rtype),
            };
            primary
                .then_with(|| a.name.cmp(&b.name))
                .then_with(|| a.created_on.cmp(&b.created_on))
                .then_with(|| a.id.cmp(&b.id))
        });
        if get("direction") == Some("desc") {
            rows.reverse();
        }
        Ok(paginate(
            rows.into_iter().map(Record::to_json).collect(),
            page,
            per_page,
        ))
    }
}

/// A list filter.
type Predicate = Box<dyn Fn(&Record) -> bool>;

/// Slices one page and builds `result_info`.
pub(crate) fn paginate(all: Vec<Value>, page: u64, per_page: u64) -> (Vec<Value>, Value) {
    let total = all.len() as u64;
    let total_pages = total.div_ceil(per_page);
    let skip = (page - 1).saturating_mul(per_page);
    let rows: Vec<Value> = all
        .into_iter()
        .skip(usize::try_from(skip).unwrap_or(usize::MAX))
        .take(usize::try_from(per_page).unwrap_or(usize::MAX))
        .collect();
    let info = json!({
        "page": page,
        "per_page": per_page,
        "count": rows.len(),
        "total_count": total,
        "total_pages": total_pages,
    });
    (rows, info)
}

pub(crate) fn parse_page(
    v: Option<&str>,
    name: &str,
    default: u64,
    max: u64,
) -> Result<u64, CfError> {
    match v {
        None => Ok(default),
        Some(s) => match s.trim().parse::<f64>() {
            Ok(n) if n >= 1.0 && n.fract() == 0.0 && n <= max as f64 => Ok(n as u64),
            // best-effort code
            _ => Err(CfError::invalid(
                1004,
                format!("Invalid '{name}' value: {s}"),
            )),
        },
    }
}

fn text_op(op: &str, hay: &str, needle: &str) -> bool {
    if op.ends_with("contains") {
        hay.contains(needle)
    } else if op.ends_with("startswith") {
        hay.starts_with(needle)
    } else {
        hay.ends_with(needle)
    }
}

fn no_route(zone_id: &str) -> CfError {
    CfError::invalid(
        7003,
        format!(
            "Could not route to /zones/{zone_id}/dns_records, perhaps your object identifier is invalid?"
        ),
    )
}

/// 32 lowercase hex digits (OpenAPI `dns-records_identifier`).
pub(crate) fn is_identifier(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Lower-case, no surrounding whitespace, no trailing dot.
pub(crate) fn normalize_host(s: &str) -> String {
    s.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// Record names: `@` is the apex, a short name is relative to the zone,
/// an FQDN stays; stored fully-qualified and lower-case.
pub(crate) fn qualify(name: &str, zone: &str) -> String {
    let n = normalize_host(name);
    if n == "@" || n.is_empty() || n == zone {
        zone.to_string()
    } else if n.ends_with(&format!(".{zone}")) {
        n
    } else {
        format!("{n}.{zone}")
    }
}

fn valid_hostname(s: &str, allow_wild: bool) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.split('.').enumerate().all(|(i, l)| {
            !l.is_empty()
                && l.len() <= 63
                && (l
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                    || (allow_wild && i == 0 && l == "*"))
        })
}

fn num_field(v: Option<&Value>, field: &str, min: u64, max: u64) -> Result<Option<u64>, CfError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f >= min as f64 && f <= max as f64 => Ok(Some(f as u64)),
            _ => Err(CfError::invalid(
                1004,
                format!("{field} must be an integer between {min} and {max}."),
            )),
        },
        Some(_) => Err(CfError::invalid(1004, format!("{field} must be a number."))),
    }
}

/// Checks and normalises the writable fields of a record.
fn validate(zone: &Zone, input: &Map<String, Value>) -> Result<Fields, CfError> {
    let rtype = match input.get("type") {
        Some(Value::String(t)) if RECORD_TYPES.contains(&t.as_str()) => t.clone(),
        // best-effort code
        Some(Value::String(t)) => {
            return Err(CfError::invalid(
                9020,
                format!("Invalid DNS record type: {t}"),
            ));
        }
        _ => return Err(CfError::invalid(9020, "DNS record type is required.")),
    };
    let name = match input.get("name") {
        Some(Value::String(n)) if !n.trim().is_empty() => qualify(n, &zone.name),
        // best-effort code
        _ => return Err(CfError::invalid(9000, "DNS name is invalid.")),
    };
    if !valid_hostname(&name, true) {
        return Err(CfError::invalid(9000, "DNS name is invalid."));
    }
    let proxied = match input.get("proxied") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(CfError::invalid(1004, "proxied must be a boolean.")),
    };
    if proxied && !PROXIABLE_TYPES.contains(&rtype.as_str()) {
        // best-effort code
        return Err(CfError::invalid(
            9004,
            "This record type cannot be proxied.",
        ));
    }
    let ttl = match input.get("ttl") {
        None | Some(Value::Null) => 1,
        Some(Value::Number(n)) => match n.as_f64() {
            Some(t)
                if t == 1.0 || (t.fract() == 0.0 && t >= TTL_MIN as f64 && t <= TTL_MAX as f64) =>
            {
                t as u64
            }
            _ => return Err(ttl_error()),
        },
        Some(_) => return Err(ttl_error()),
    };
    // Proxied records are always "automatic" (research §4b.6): any other
    // TTL is accepted and silently replaced.
    let ttl = if proxied { 1 } else { ttl };
    let comment = match input.get("comment") {
        None | Some(Value::Null) => None,
        Some(Value::String(c)) if c.is_empty() => None,
        Some(Value::String(c)) => Some(c.clone()),
        Some(_) => return Err(CfError::invalid(1004, "comment must be a string.")),
    };
    let tags = parse_tags(input.get("tags"))?;
    let settings = parse_settings(&rtype, input.get("settings"))?;
    let mut priority = num_field(input.get("priority"), "priority", 0, 65_535)?;
    let (content, data) = if DATA_TYPES.contains(&rtype.as_str()) {
        let Some(Value::Object(d)) = input.get("data") else {
            return Err(CfError::invalid(
                1004,
                format!("{rtype} records require 'data'."),
            ));
        };
        let (content, data, prio) = render_data(&rtype, d)?;
        if prio.is_some() {
            priority = prio;
        }
        (content, Some(data))
    } else {
        let raw = match input.get("content") {
            Some(Value::String(c)) if !c.trim().is_empty() => c.clone(),
            _ => {
                return Err(CfError::invalid(
                    1004,
                    "DNS Validation Error: content is required.",
                ));
            }
        };
        (normalize_content(&rtype, &raw, &name)?, None)
    };
    match rtype.as_str() {
        "MX" if priority.is_none() => {
            return Err(CfError::invalid(1004, "MX records require a priority."));
        }
        "MX" | "SRV" | "URI" => {}
        _ => priority = None,
    }
    Ok(Fields {
        rtype,
        name,
        content,
        data,
        priority,
        proxied,
        ttl,
        comment,
        tags,
        settings,
    })
}

/// Refuses a request body whose documented fields have another JSON type
/// than [`REQUEST_FIELD_TYPES`] says (`null` included). Fields the schema
/// does not know are ignored, as the API does.
fn check_request_types(input: &Map<String, Value>) -> Result<(), CfError> {
    for (field, want) in REQUEST_FIELD_TYPES {
        let Some(v) = input.get(*field) else {
            continue;
        };
        let ok = match *want {
            "string" => v.is_string(),
            "number" => v.is_number(),
            "boolean" => v.is_boolean(),
            "object" => v.is_object(),
            "array" => v.is_array(),
            _ => true,
        };
        if !ok {
            let got = match v {
                Value::Null => "null",
                Value::Bool(_) => "boolean",
                Value::Number(_) => "number",
                Value::String(_) => "string",
                Value::Array(_) => "array",
                Value::Object(_) => "object",
            };
            // best-effort code (the request-body validation family)
            return Err(CfError::invalid(
                9207,
                format!("Request body is invalid: '{field}' must be a {want}, not {got}."),
            ));
        }
    }
    Ok(())
}

fn ttl_error() -> CfError {
    CfError::invalid(
        9021,
        "Invalid TTL. Must be between 60 and 86,400 seconds, or 1 for automatic.",
    )
}

fn parse_tags(v: Option<&Value>) -> Result<Vec<String>, CfError> {
    let arr = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(CfError::invalid(1004, "tags must be an array of strings.")),
    };
    let mut out: Vec<String> = Vec::new();
    for t in arr {
        let Value::String(t) = t else {
            return Err(CfError::invalid(1004, "tags must be an array of strings."));
        };
        // "name:value (the name must consist of only letters, numbers,
        // underscores and hyphens)" (OpenAPI dns-records_tags).
        let (name, _) = t.split_once(':').unwrap_or((t.as_str(), ""));
        let ok = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !ok {
            // best-effort code
            return Err(CfError::invalid(
                1004,
                format!("Invalid tag '{t}': tags must have the form name:value."),
            ));
        }
        let normalized = if t.contains(':') {
            t.clone()
        } else {
            format!("{t}:")
        };
        if !out.contains(&normalized) {
            out.push(normalized);
        }
    }
    Ok(out)
}

fn parse_settings(rtype: &str, v: Option<&Value>) -> Result<Map<String, Value>, CfError> {
    let obj = match v {
        None | Some(Value::Null) => return Ok(Map::new()),
        Some(Value::Object(o)) => o,
        Some(_) => return Err(CfError::invalid(1004, "settings must be an object.")),
    };
    let allowed: &[&str] = match rtype {
        "CNAME" => &["flatten_cname", "ipv4_only", "ipv6_only"],
        "A" | "AAAA" => &["ipv4_only", "ipv6_only"],
        _ => &[],
    };
    let mut out = Map::new();
    for (k, val) in obj {
        if !allowed.contains(&k.as_str()) {
            continue;
        }
        match val {
            Value::Bool(b) => {
                out.insert(k.clone(), json!(b));
            }
            Value::Null => {}
            _ => {
                return Err(CfError::invalid(
                    1004,
                    format!("settings.{k} must be a boolean."),
                ));
            }
        }
    }
    Ok(out)
}

/// Content normalisation of the types that carry `content`.
fn normalize_content(rtype: &str, raw: &str, name: &str) -> Result<String, CfError> {
    let raw = raw.trim();
    match rtype {
        "A" => raw
            .parse::<Ipv4Addr>()
            .map(|ip| ip.to_string())
            .map_err(|_| {
                CfError::invalid(9005, "Content for A record must be a valid IPv4 address.")
            }),
        "AAAA" => raw
            .parse::<Ipv6Addr>()
            .map(|ip| ip.to_string())
            // best-effort code
            .map_err(|_| {
                CfError::invalid(
                    9006,
                    "Content for AAAA record must be a valid IPv6 address.",
                )
            }),
        // NS: "A valid name server host name." (OpenAPI
        // `dns-records_NSRecord.content`); an address is refused with
        // "DNS Validation Error (Code: 1004) Content for NS record is invalid"
        // (olimpo88/PyDDNS#7).
        "NS" if normalize_host(raw).parse::<IpAddr>().is_ok() => Err(CfError::invalid(
            1004,
            "DNS Validation Error: Content for NS record is invalid.",
        )),
        // Host targets are stored without their trailing dot: Cloudflare
        // "canonicalizes the trailing dot by removing it"
        // (cloudflare/terraform-provider-cloudflare#184, #154); the OpenAPI is
        // silent on it and on case (names are lower-case Punycode).
        "CNAME" | "MX" | "NS" | "PTR" => {
            let host = normalize_host(raw);
            if !valid_hostname(&host, false) {
                // best-effort code
                return Err(CfError::invalid(
                    9007,
                    format!("Content for {rtype} record is invalid."),
                ));
            }
            if rtype == "CNAME" && host == name {
                return Err(CfError::invalid(
                    9007,
                    "Content for CNAME record is invalid: it must not match the record's name.",
                ));
            }
            Ok(host)
        }
        "TXT" => Ok(normalize_txt(raw)),
        _ => Ok(raw.to_string()),
    }
}

/// TXT content: quoted character-strings of at most 255 bytes each;
/// longer strings are split automatically (OpenAPI `TXTRecord.content`).
/// Unquoted content of up to 255 bytes is stored as sent (the API accepts it;
/// the dashboard merely warns).
pub(crate) fn normalize_txt(raw: &str) -> String {
    let strings = if raw.starts_with('"') {
        parse_quoted(raw)
    } else if raw.len() <= 255 {
        return raw.to_string();
    } else {
        vec![raw.to_string()]
    };
    let mut parts = Vec::new();
    for s in strings {
        let mut cur = String::new();
        for c in s.chars() {
            if cur.len() + c.len_utf8() > 255 {
                parts.push(std::mem::take(&mut cur));
            }
            cur.push(c);
        }
        parts.push(cur);
    }
    parts
        .iter()
        .map(|p| format!("\"{}\"", p.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Splits `"a" "b\"c"` into its character-strings (unescaped).
fn parse_quoted(raw: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '"' {
            continue;
        }
        let mut s = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    if let Some(n) = chars.next() {
                        s.push(n);
                    }
                }
                '"' => break,
                _ => s.push(c),
            }
        }
        out.push(s);
    }
    out
}

/// `data` → (`content`, normalised `data`, priority) for structured types.
fn render_data(
    rtype: &str,
    d: &Map<String, Value>,
) -> Result<(String, Value, Option<u64>), CfError> {
    let need = |k: &str, max: u64| -> Result<u64, CfError> {
        num_field(d.get(k), &format!("data.{k}"), 0, max)?.ok_or_else(|| {
            CfError::invalid(1004, format!("data.{k} is required for {rtype} records."))
        })
    };
    let text = |k: &str| -> Result<String, CfError> {
        match d.get(k) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            _ => Err(CfError::invalid(
                1004,
                format!("data.{k} is required for {rtype} records."),
            )),
        }
    };
    match rtype {
        "SRV" => {
            let priority = need("priority", 65_535)?;
            let weight = need("weight", 65_535)?;
            let port = need("port", 65_535)?;
            let target = normalize_host(&text("target")?);
            if target != "." && !valid_hostname(&target, false) {
                return Err(CfError::invalid(
                    1004,
                    "data.target must be a valid hostname.",
                ));
            }
            let data =
                json!({ "priority": priority, "weight": weight, "port": port, "target": target });
            Ok((format!("{weight} {port} {target}"), data, Some(priority)))
        }
        "CAA" => {
            let flags = need("flags", 255)?;
            let tag = text("tag")?;
            if !matches!(
                tag.as_str(),
                "issue" | "issuewild" | "iodef" | "issuemail" | "issuevmc"
            ) {
                return Err(CfError::invalid(1004, format!("Invalid CAA tag: {tag}")));
            }
            let value = match d.get("value") {
                Some(Value::String(s)) => s.clone(),
                _ => {
                    return Err(CfError::invalid(
                        1004,
                        "data.value is required for CAA records.",
                    ));
                }
            };
            let data = json!({ "flags": flags, "tag": tag, "value": value });
            Ok((format!("{flags} {tag} \"{value}\""), data, None))
        }
        _ => {
            // Other structured types: content is the data values in order.
            let content = d
                .values()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(" ");
            let prio = if rtype == "URI" {
                num_field(d.get("priority"), "data.priority", 0, 65_535)?
            } else {
                None
            };
            Ok((content, Value::Object(d.clone()), prio))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn txt_normalisation() {
        assert_eq!(normalize_txt("v=spf1 -all"), "v=spf1 -all");
        assert_eq!(normalize_txt("\"a\" \"b\""), "\"a\" \"b\"");
        let long = "x".repeat(300);
        let n = normalize_txt(&long);
        assert_eq!(n, format!("\"{}\" \"{}\"", "x".repeat(255), "x".repeat(45)));
        assert_eq!(normalize_txt(&format!("\"{long}\"")), n);
    }

    #[test]
    fn names() {
        assert_eq!(qualify("@", "example.com"), "example.com");
        assert_eq!(qualify("WWW", "example.com"), "www.example.com");
        assert_eq!(
            qualify("www.Example.com.", "example.com"),
            "www.example.com"
        );
    }

    fn code(r: Result<Value, CfError>) -> u32 {
        match r {
            Ok(v) => panic!("accepted: {v}"),
            Err(e) => e.code,
        }
    }

    #[test]
    fn ns_records_normalise_and_stand_alone() {
        let mut cf = Cloudflare::new();
        let z = cf.add_zone(None, "example.com");
        let ns = cf
            .create(
                &z,
                &json!({"type": "NS", "name": "Lab", "content": "NS1.Lab.Example.com."}),
            )
            .unwrap();
        assert_eq!(ns["name"], "lab.example.com");
        assert_eq!(ns["content"], "ns1.lab.example.com");
        assert_eq!(ns["proxiable"], false);
        assert!(ns.get("priority").is_none_or(Value::is_null), "{ns}");
        // A second name server for the delegation; glue below it.
        cf.create(
            &z,
            &json!({"type": "NS", "name": "lab", "content": "ns2.lab.example.com"}),
        )
        .unwrap();
        cf.create(
            &z,
            &json!({"type": "A", "name": "ns1.lab", "content": "192.0.2.53"}),
        )
        .unwrap();
        // Nothing else at the delegated name, either way round.
        let a = json!({"type": "A", "name": "lab", "content": "192.0.2.1"});
        assert_eq!(code(cf.create(&z, &a)), 81056);
        cf.create(&z, &json!({"type": "TXT", "name": "www", "content": "x"}))
            .unwrap();
        let ns_www = json!({"type": "NS", "name": "www", "content": "ns1.example.net"});
        assert_eq!(code(cf.create(&z, &ns_www)), 81056);
        // At the apex NS records sit beside the zone's other records.
        cf.create(
            &z,
            &json!({"type": "A", "name": "@", "content": "192.0.2.1"}),
        )
        .unwrap();
        cf.create(
            &z,
            &json!({"type": "NS", "name": "@", "content": "ns1.example.net"}),
        )
        .unwrap();
        // The same name server twice is a duplicate, whatever its spelling.
        let dup = json!({"type": "NS", "name": "lab", "content": "ns1.lab.example.com."});
        assert_eq!(code(cf.create(&z, &dup)), 81057);
        // An address or a malformed host is not a name server host name.
        for bad in ["192.0.2.53", "2001:db8::53", "bad..host"] {
            let body = json!({"type": "NS", "name": "other", "content": bad});
            assert!(cf.create(&z, &body).is_err(), "{bad}");
        }
        let body = json!({"type": "NS", "name": "other", "content": "192.0.2.53"});
        assert_eq!(code(cf.create(&z, &body)), 1004);
    }

    #[test]
    fn pagination() {
        let all: Vec<Value> = (0..5).map(|i| json!(i)).collect();
        let (rows, info) = paginate(all.clone(), 2, 2);
        assert_eq!(rows, vec![json!(2), json!(3)]);
        assert_eq!(info["total_pages"], 3);
        let (rows, info) = paginate(all, 4, 2);
        assert!(rows.is_empty());
        assert_eq!(info["count"], 0);
    }
}
