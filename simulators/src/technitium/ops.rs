//! The API operations of the Technitium simulator, one function per
//! endpoint, working on the in-memory [`Server`].
//!
//! Semantics follow APIDOCS.md and `backends-b.md` §3c/§3d:
//! * RRsets are keyed by (owner name, type); **any add re-TTLs the whole
//!   RRset** (`AuthZone.AddRecord`);
//! * an add of an identical record is refused with "Cannot add record: record
//!   already exists." since v13.6; older servers answered `ok` (no-op);
//! * update identifies the record by its current value plus `new*`
//!   parameters; a missing `ttl` resets to 3600 and a missing `disable` to
//!   false; unknown parameters (e.g. `newCname`) are silently ignored;
//! * delete needs the exact rdata; deleting a missing record fails on
//!   current servers ("Cannot delete record: no such record exists.") and
//!   answered `ok` on older ones;
//! * CNAME cannot coexist with other types at the same name.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde_json::{Map, Value, json};

use super::request::{ApiError, Call, Params, Reply, Role, Session};
use super::state::{
    DEFAULT_NS_TTL, DEFAULT_SOA_TTL, DEFAULT_TTL, FWD_PROTOCOLS, RData, RECORD_TYPES, Record,
    SERVER_DOMAIN, ZONE_TYPES, Zone, normalize_name, reverse_zone_name, txt_strings, valid_domain,
};
use crate::common::text::IdGen;

#[derive(Debug, Clone)]
pub(crate) struct User {
    pub(crate) username: String,
    pub(crate) password: String,
    pub(crate) display_name: String,
    pub(crate) role: Role,
}

/// The whole simulated server.
#[derive(Debug)]
pub(crate) struct Server {
    pub(crate) zones: Vec<Zone>,
    pub(crate) users: Vec<User>,
    pub(crate) sessions: HashMap<String, Session>,
    /// Emulate servers before v13.6: duplicate adds and deletes of missing
    /// records answer `ok`.
    pub(crate) older_server: bool,
    /// Servers 15.0+ read `Authorization: Bearer`; older ones ignore it.
    pub(crate) bearer_supported: bool,
    pub(crate) token_in_query: u64,
    pub(crate) token_in_form: u64,
    pub(crate) token_in_header: u64,
    ids: IdGen,
}

impl Server {
    pub(crate) fn new() -> Self {
        let mut zones = Vec::new();
        // Built-in internal zones (APIDOCS "List Zones").
        for name in [
            "localhost",
            "0.in-addr.arpa",
            "127.in-addr.arpa",
            "255.in-addr.arpa",
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa",
        ] {
            let mut z = Zone::new(name, "Primary", true);
            z.seed_soa_ns(true);
            zones.push(z);
        }
        Self {
            zones,
            users: Vec::new(),
            sessions: HashMap::new(),
            older_server: false,
            bearer_supported: true,
            token_in_query: 0,
            token_in_form: 0,
            token_in_header: 0,
            ids: IdGen::new(0x7ec4_1a11),
        }
    }

    pub(crate) fn add_user(&mut self, username: &str, password: &str, display: &str, role: Role) {
        self.users.push(User {
            username: username.into(),
            password: password.into(),
            display_name: display.into(),
            role,
        });
    }

    pub(crate) fn add_api_token(&mut self, token: &str, username: &str, name: &str, role: Role) {
        self.sessions.insert(
            token.to_string(),
            Session {
                username: username.into(),
                role,
                token_name: Some(name.into()),
            },
        );
    }

    fn zone_index(&self, name: &str) -> Option<usize> {
        self.zones.iter().position(|z| z.name == name)
    }

    /// The zone a record call works on: the `zone` parameter, or the closest
    /// enclosing authoritative zone. Also qualifies a relative `domain`
    /// (`@`, or a name outside the given zone) with the zone name.
    fn resolve(&self, p: &Params) -> Result<(usize, String), ApiError> {
        let domain_raw = p.req("domain")?.trim();
        match p.opt("zone") {
            Some(z) => {
                let zname = normalize_name(z);
                let zi = self
                    .zone_index(&zname)
                    .ok_or_else(|| ApiError::error(format!("No such zone was found: {zname}")))?;
                let domain = qualify(domain_raw, &zname);
                Ok((zi, domain))
            }
            None => {
                let domain = normalize_name(domain_raw);
                let zi = self
                    .zones
                    .iter()
                    .enumerate()
                    .filter(|(_, z)| z.contains(&domain))
                    .max_by_key(|(_, z)| z.name.len())
                    .map(|(i, _)| i)
                    .ok_or_else(|| ApiError::error(format!("No such zone was found: {domain}")))?;
                Ok((zi, domain))
            }
        }
    }

    fn new_token(&mut self) -> String {
        self.ids.hex(64)
    }
}

/// `@` is the apex; a name not inside `zone` is taken as relative to it.
fn qualify(domain: &str, zone: &str) -> String {
    let d = normalize_name(domain);
    if d == "@" || d.is_empty() {
        return zone.to_string();
    }
    if d == zone || d.ends_with(&format!(".{zone}")) || zone.is_empty() {
        d
    } else {
        format!("{d}.{zone}")
    }
}

fn check_writable(zone: &Zone) -> Result<(), ApiError> {
    if zone.internal {
        return Err(ApiError::error(
            "Access was denied to manage internal DNS Server zone.",
        ));
    }
    Ok(())
}

fn record_type(p: &Params) -> Result<String, ApiError> {
    let t = p.req("type")?.trim().to_ascii_uppercase();
    if t == "SOA" || RECORD_TYPES.contains(&t.as_str()) {
        Ok(t)
    } else {
        Err(ApiError::error(format!(
            "The record type is not supported by the simulator: {t}"
        )))
    }
}

fn domain_value(p: &Params, name: &str) -> Result<String, ApiError> {
    let v = normalize_name(p.req(name)?);
    if !valid_domain(&v) {
        return Err(ApiError::error(format!("Invalid domain name: {v}")));
    }
    Ok(v)
}

fn opt_domain_value(p: &Params, name: &str) -> Result<Option<String>, ApiError> {
    match p.opt(name) {
        None => Ok(None),
        Some(_) => domain_value(p, name).map(Some),
    }
}

fn ip4(v: &str) -> Result<Ipv4Addr, ApiError> {
    v.trim()
        .parse()
        .map_err(|_| ApiError::error("An invalid IP address was specified."))
}

fn ip6(v: &str) -> Result<Ipv6Addr, ApiError> {
    v.trim()
        .parse()
        .map_err(|_| ApiError::error("An invalid IP address was specified."))
}

/// `ipAddress`, or its alias `value` (APIDOCS update example).
fn ip_param<'a>(p: &'a Params, primary: &str, alias: &str) -> Option<&'a str> {
    p.opt(primary).or_else(|| p.opt(alias))
}

fn fwd_protocol(v: Option<&str>) -> Result<String, ApiError> {
    let v = v.unwrap_or("Udp");
    FWD_PROTOCOLS
        .iter()
        .find(|x| x.eq_ignore_ascii_case(v))
        .map(|x| (*x).to_string())
        .ok_or_else(|| ApiError::error(format!("Invalid DNS transport protocol: {v}")))
}

fn glue(p: &Params) -> Vec<String> {
    p.opt("glue")
        .map(|g| {
            g.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// Rdata from the parameters of `records/add`.
fn rdata_for_add(rtype: &str, p: &Params) -> Result<RData, ApiError> {
    Ok(match rtype {
        "A" => RData::A(ip4(
            ip_param(p, "ipAddress", "value").ok_or_else(|| missing("ipAddress"))?
        )?),
        "AAAA" => RData::Aaaa(ip6(
            ip_param(p, "ipAddress", "value").ok_or_else(|| missing("ipAddress"))?
        )?),
        "CNAME" => RData::Name(domain_value(p, "cname")?),
        "PTR" => RData::Name(domain_value(p, "ptrName")?),
        "DNAME" => RData::Name(domain_value(p, "dname")?),
        "ANAME" => RData::Name(domain_value(p, "aname")?),
        "NS" => RData::Ns {
            name_server: domain_value(p, "nameServer")?,
            glue: glue(p),
        },
        "MX" => RData::Mx {
            preference: p.req_num("preference")?,
            exchange: domain_value(p, "exchange")?,
        },
        "TXT" => {
            let split = p.bool_or("splitText", false)?;
            RData::Txt {
                strings: txt_strings(p.req("text")?, split),
            }
        }
        "SRV" => RData::Srv {
            priority: p.req_num("priority")?,
            weight: p.req_num("weight")?,
            port: p.req_num("port")?,
            target: domain_value(p, "target")?,
        },
        "CAA" => RData::Caa {
            flags: p.req_num("flags")?,
            tag: p.req("tag")?.trim().to_string(),
            value: p.req("value")?.to_string(),
        },
        "FWD" => RData::Fwd {
            protocol: fwd_protocol(p.opt("protocol"))?,
            forwarder: p.req("forwarder")?.trim().to_string(),
            priority: p.num("forwarderPriority")?.unwrap_or(0),
            dnssec_validation: p.bool_or("dnssecValidation", false)?,
        },
        other => {
            return Err(ApiError::error(format!(
                "Cannot add record of type {other} with the simulator."
            )));
        }
    })
}

/// Rdata identifying an existing record (`records/update` current value,
/// `records/delete`). `None` for CNAME-like singletons identified by name.
fn rdata_identity(rtype: &str, p: &Params, for_update: bool) -> Result<Option<RData>, ApiError> {
    Ok(Some(match rtype {
        "CNAME" | "DNAME" | "ANAME" | "SOA" => return Ok(None),
        "MX" => RData::Mx {
            // Update: "This parameter when missing will default to 1".
            preference: if for_update {
                p.num("preference")?.unwrap_or(1)
            } else {
                p.req_num("preference")?
            },
            exchange: domain_value(p, "exchange")?,
        },
        "FWD" => RData::Fwd {
            protocol: fwd_protocol(p.opt("protocol"))?,
            forwarder: p.req("forwarder")?.trim().to_string(),
            priority: 0,
            dnssec_validation: false,
        },
        _ => rdata_for_add(rtype, p)?,
    }))
}

/// New rdata for `records/update`: `new*` parameters, falling back to the
/// current value where the docs say so.
fn rdata_for_update(rtype: &str, p: &Params, old: &RData) -> Result<RData, ApiError> {
    Ok(match (rtype, old) {
        ("A", RData::A(o)) => match ip_param(p, "newIpAddress", "newValue") {
            Some(v) => RData::A(ip4(v)?),
            None => RData::A(*o),
        },
        ("AAAA", RData::Aaaa(o)) => match ip_param(p, "newIpAddress", "newValue") {
            Some(v) => RData::Aaaa(ip6(v)?),
            None => RData::Aaaa(*o),
        },
        // There is no `newCname`: `cname` itself is the new value.
        ("CNAME", RData::Name(o)) => {
            RData::Name(opt_domain_value(p, "cname")?.unwrap_or(o.clone()))
        }
        ("DNAME", RData::Name(o)) => {
            RData::Name(opt_domain_value(p, "dname")?.unwrap_or(o.clone()))
        }
        ("ANAME", RData::Name(o)) => {
            RData::Name(opt_domain_value(p, "newAName")?.unwrap_or(o.clone()))
        }
        ("PTR", RData::Name(o)) => {
            RData::Name(opt_domain_value(p, "newPtrName")?.unwrap_or(o.clone()))
        }
        (
            "NS",
            RData::Ns {
                name_server,
                glue: g,
            },
        ) => RData::Ns {
            name_server: opt_domain_value(p, "newNameServer")?.unwrap_or(name_server.clone()),
            glue: if p.get("glue").is_some() {
                glue(p)
            } else {
                g.clone()
            },
        },
        (
            "MX",
            RData::Mx {
                preference,
                exchange,
            },
        ) => RData::Mx {
            preference: p.num("newPreference")?.unwrap_or(*preference),
            exchange: opt_domain_value(p, "newExchange")?.unwrap_or(exchange.clone()),
        },
        ("TXT", RData::Txt { strings }) => {
            // "splitText: The current split text value ... set to false when
            // unspecified. newSplitText: ... set to current split text value
            // when unspecified" (APIDOCS Update Record).
            let split = p.bool_or("newSplitText", p.bool_or("splitText", false)?)?;
            match p.get("newText") {
                Some(t) => RData::Txt {
                    strings: txt_strings(t, split),
                },
                None => RData::Txt {
                    strings: strings.clone(),
                },
            }
        }
        (
            "SRV",
            RData::Srv {
                priority,
                weight,
                port,
                target,
            },
        ) => RData::Srv {
            priority: p.num("newPriority")?.unwrap_or(*priority),
            weight: p.num("newWeight")?.unwrap_or(*weight),
            port: p.num("newPort")?.unwrap_or(*port),
            target: opt_domain_value(p, "newTarget")?.unwrap_or(target.clone()),
        },
        ("CAA", RData::Caa { flags, tag, value }) => RData::Caa {
            flags: p.num("newFlags")?.unwrap_or(*flags),
            tag: p
                .opt("newTag")
                .map(|t| t.trim().to_string())
                .unwrap_or(tag.clone()),
            value: p
                .get("newValue")
                .map(str::to_string)
                .unwrap_or(value.clone()),
        },
        ("FWD", RData::Fwd { forwarder, .. }) => RData::Fwd {
            // "newProtocol ... default value Udp will be used".
            protocol: fwd_protocol(p.opt("newProtocol"))?,
            forwarder: p
                .opt("newForwarder")
                .map(|f| f.trim().to_string())
                .unwrap_or(forwarder.clone()),
            priority: p.num("forwarderPriority")?.unwrap_or(0),
            dnssec_validation: p.bool_or("dnssecValidation", false)?,
        },
        _ => {
            return Err(ApiError::error(format!(
                "Cannot update record of type {rtype} with the simulator."
            )));
        }
    })
}

fn missing(name: &str) -> ApiError {
    ApiError::error(format!("Parameter '{name}' missing."))
}

const CNAME_CONFLICT: &str =
    "A CNAME record cannot exists with other record types for the same name.";

/// Checks CNAME exclusivity for a record about to exist at `name`.
fn check_cname_exclusive(
    zone: &Zone,
    name: &str,
    rtype: &str,
    ignore: Option<usize>,
) -> Result<(), ApiError> {
    let others = zone
        .records
        .iter()
        .enumerate()
        .filter(|(i, r)| Some(*i) != ignore && r.name == name);
    for (_, r) in others {
        let conflict = if rtype == "CNAME" {
            r.rtype != "CNAME"
        } else {
            r.rtype == "CNAME"
        };
        if conflict {
            return Err(ApiError::error(CNAME_CONFLICT));
        }
    }
    Ok(())
}

fn set_rrset_ttl(zone: &mut Zone, name: &str, rtype: &str, ttl: u32) {
    for r in zone
        .records
        .iter_mut()
        .filter(|r| r.name == name && r.rtype == rtype)
    {
        r.ttl = ttl;
    }
}

// ---------------------------------------------------------------- user API

pub(crate) fn login(s: &mut Server, c: &Call) -> Result<Reply, ApiError> {
    let p = &c.params;
    let user = p.req("user")?.trim().to_ascii_lowercase();
    let pass = p.req("pass")?;
    let Some(u) = s
        .users
        .iter()
        .find(|u| u.username == user && u.password == pass)
        .cloned()
    else {
        return Err(ApiError::error(format!(
            "Invalid username or password for user: {user}"
        )));
    };
    let token = s.new_token();
    s.sessions.insert(
        token.clone(),
        Session {
            username: u.username.clone(),
            role: u.role,
            token_name: None,
        },
    );
    let mut m = Map::new();
    m.insert("displayName".into(), json!(u.display_name));
    m.insert("username".into(), json!(u.username));
    m.insert("isSsoUser".into(), json!(false));
    m.insert("totpEnabled".into(), json!(false));
    m.insert("token".into(), json!(token));
    if p.bool_or("includeInfo", false)? {
        m.insert("info".into(), info_json(u.role));
    }
    Ok(Reply::Flat(m))
}

fn info_json(role: Role) -> Value {
    let zones = json!({ "canView": role.view, "canModify": role.modify, "canDelete": role.delete });
    json!({
        "version": "15.2",
        "dnsServerDomain": SERVER_DOMAIN,
        "defaultRecordTtl": DEFAULT_TTL,
        "defaultNsRecordTtl": DEFAULT_NS_TTL,
        "defaultSoaRecordTtl": DEFAULT_SOA_TTL,
        "permissions": { "Zones": zones },
    })
}

pub(crate) fn logout(s: &mut Server, c: &Call) -> Result<Reply, ApiError> {
    if let Some(t) = &c.token {
        // API tokens survive a logout call; sessions end.
        if s.sessions.get(t).is_some_and(|x| x.token_name.is_none()) {
            s.sessions.remove(t);
        }
    }
    Ok(Reply::Empty)
}

pub(crate) fn create_token(s: &mut Server, c: &Call) -> Result<Reply, ApiError> {
    let p = &c.params;
    let user = p.req("user")?.trim().to_ascii_lowercase();
    let pass = p.req("pass")?;
    let name = p.req("tokenName")?.to_string();
    let Some(u) = s
        .users
        .iter()
        .find(|u| u.username == user && u.password == pass)
        .cloned()
    else {
        return Err(ApiError::error(format!(
            "Invalid username or password for user: {user}"
        )));
    };
    let token = s.new_token();
    s.add_api_token(&token, &u.username, &name, u.role);
    let mut m = Map::new();
    m.insert("username".into(), json!(u.username));
    m.insert("tokenName".into(), json!(name));
    m.insert("token".into(), json!(token));
    Ok(Reply::Flat(m))
}

/// The session's own fields, as DnsServer writes them
/// (`DnsServerCore/WebServiceAuthApi.cs` `WriteCurrentSessionDetails`): an
/// API token answers what `createToken` answers (`username`, `tokenName`,
/// `token`); a login session what `login` answers (`displayName`,
/// `username`, `isSsoUser`, `totpEnabled`, `token`). APIDOCS.md "Get Session
/// Info": "Returns the same info as that of the `login` or the
/// `createToken` calls".
pub(crate) fn session_get(s: &mut Server, c: &Call) -> Result<Reply, ApiError> {
    let Some(sess) = &c.session else {
        return Err(ApiError::InvalidToken(
            "Invalid token or session expired.".into(),
        ));
    };
    let mut m = Map::new();
    match &sess.token_name {
        Some(n) => {
            m.insert("username".into(), json!(sess.username));
            m.insert("tokenName".into(), json!(n));
        }
        None => {
            let display = s
                .users
                .iter()
                .find(|u| u.username == sess.username)
                .map_or(sess.username.as_str(), |u| u.display_name.as_str());
            m.insert("displayName".into(), json!(display));
            m.insert("username".into(), json!(sess.username));
            m.insert("isSsoUser".into(), json!(false));
            m.insert("totpEnabled".into(), json!(false));
        }
    }
    m.insert("token".into(), json!(c.token));
    m.insert("info".into(), info_json(sess.role));
    Ok(Reply::Flat(m))
}

// --------------------------------------------------------------- zones API

pub(crate) fn zones_list(s: &mut Server, c: &Call) -> Result<Reply, ApiError> {
    let mut zones: Vec<&Zone> = s.zones.iter().collect();
    zones.sort_by(|a, b| a.name.cmp(&b.name));
    let page: Option<usize> = c.params.num("pageNumber")?;
    match page {
        None => Ok(Reply::Response(json!({
            "zones": zones.iter().map(|z| z.list_json()).collect::<Vec<_>>()
        }))),
        Some(page) => {
            let per: usize = c.params.num("zonesPerPage")?.unwrap_or(10).max(1);
            let total = zones.len();
            let total_pages = total.div_ceil(per).max(1);
            let page = page.clamp(1, total_pages);
            let slice: Vec<Value> = zones
                .iter()
                .skip((page - 1) * per)
                .take(per)
                .map(|z| z.list_json())
                .collect();
            Ok(Reply::Response(json!({
                "pageNumber": page,
                "totalPages": total_pages,
                "totalZones": total,
                "zones": slice,
            })))
        }
    }
}

pub(crate) fn zones_create(s: &mut Server, c: &Call) -> Result<Reply, ApiError> {
    let p = &c.params;
    let raw = p.req("zone")?.trim();
    let name = match reverse_zone_name(raw) {
        Some(r) => r,
        None => {
            let n = normalize_name(raw);
            if !valid_domain(&n) {
                return Err(ApiError::error(format!("Invalid domain name: {raw}")));
            }
            n
        }
    };
    let ztype_raw = p.opt("type").unwrap_or("Primary");
    let ztype = ZONE_TYPES
        .iter()
        .find(|t| t.eq_ignore_ascii_case(ztype_raw.trim()))
        .copied()
        .ok_or_else(|| ApiError::error(format!("Zone type is not supported: {ztype_raw}")))?;
    if s.zone_index(&name).is_some() {
        return Err(ApiError::error(format!("Zone already exists: {name}")));
    }
    let mut zone = Zone::new(&name, ztype, false);
    zone.catalog = p.opt("catalog").map(normalize_name);
    let addresses: Vec<String> = p
        .opt("primaryNameServerAddresses")
        .map(|v| {
            v.split(',')
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty())
                .collect()
        })
        .unwrap_or_default();
    match ztype {
        "Primary" | "Catalog" => zone.seed_soa_ns(true),
        "Forwarder" => {
            zone.seed_soa_ns(false);
            if p.bool_or("initializeForwarder", true)? {
                let fwd = RData::Fwd {
                    protocol: fwd_protocol(p.opt("protocol"))?,
                    forwarder: p.req("forwarder")?.trim().to_string(),
                    priority: 0,
                    dnssec_validation: p.bool_or("dnssecValidation", false)?,
                };
                zone.records
                    .push(Record::new(&name, "FWD", DEFAULT_TTL, fwd));
            }
        }
        "SecondaryForwarder" | "SecondaryCatalog" => {
            if addresses.is_empty() {
                return Err(missing("primaryNameServerAddresses"));
            }
            zone.primary_name_server_addresses = addresses;
        }
        _ => zone.primary_name_server_addresses = addresses,
    }
    s.zones.push(zone);
    Ok(Reply::Response(json!({ "domain": name })))
}

fn zone_by_param(s: &Server, p: &Params) -> Result<usize, ApiError> {
    let name = normalize_name(p.req("zone")?);
    s.zone_index(&name)
        .ok_or_else(|| ApiError::error(format!("No such zone was found: {name}")))
}

pub(crate) fn zones_delete(s: &mut Server, c: &Call) -> Result<Reply, ApiError> {
    let zi = zone_by_param(s, &c.params)?;
    check_writable(&s.zones[zi])?;
    s.zones.remove(zi);
    Ok(Reply::Empty)
}

pub(crate) fn zones_enable(s: &mut Server, c: &Call) -> Result<Reply, ApiError> {
    let zi = zone_by_param(s, &c.params)?;
    check_writable(&s.zones[zi])?;
    s.zones[zi].disabled = false;
    s.zones[zi].touch();
    Ok(Reply::Empty)
}

pub(crate) fn zones_disable(s: &mut Server, c: &Call) -> Result<Reply, ApiError> {
    let zi = zone_by_param(s, &c.params)?;
    check_writable(&s.zones[zi])?;
    s.zones[zi].disabled = true;
    s.zones[zi].touch();
    Ok(Reply::Empty)
}

pub(crate) fn zones_options_get(s: &mut Server, c: &Call) -> Result<Reply, ApiError> {
    let zi = zone_by_param(s, &c.params)?;
    let z = &s.zones[zi];
    let mut m = Map::new();
    m.insert("name".into(), json!(z.name));
    m.insert("type".into(), json!(z.zone_type));
    m.insert("internal".into(), json!(z.internal));
    m.insert("dnssecStatus".into(), json!("Unsigned"));
    m.insert("disabled".into(), json!(z.disabled));
    if let Some(cat) = &z.catalog {
        m.insert("catalog".into(), json!(cat));
    }
    if !z.primary_name_server_addresses.is_empty() {
        m.insert(
            "primaryNameServerAddresses".into(),
            json!(z.primary_name_server_addresses),
        );
    }
    m.insert("queryAccess".into(), json!("Allow"));
    m.insert("queryAccessNetworkACL".into(), json!([]));
    m.insert("zoneTransfer".into(), json!("Deny"));
    m.insert("zoneTransferNetworkACL".into(), json!([]));
    m.insert("zoneTransferTsigKeyNames".into(), json!([]));
    m.insert("notify".into(), json!("None"));
    m.insert("notifyNameServers".into(), json!([]));
    m.insert("update".into(), json!("Deny"));
    m.insert("updateNetworkACL".into(), json!([]));
    Ok(Reply::Response(Value::Object(m)))
}

// ------------------------------------------------------------- records API

pub(crate) fn records_get(s: &mut Server, c: &Call) -> Result<Reply, ApiError> {
    let (zi, domain) = s.resolve(&c.params)?;
    let list_zone = c.params.bool_or("listZone", false)?;
    let zone = &s.zones[zi];
    let records: Vec<Value> = zone
        .sorted_records()
        .into_iter()
        .filter(|r| list_zone || r.name == domain)
        .map(Record::to_json)
        .collect();
    Ok(Reply::Response(json!({
        "zone": zone.summary_json(),
        "records": records,
    })))
}

pub(crate) fn records_add(s: &mut Server, c: &Call) -> Result<Reply, ApiError> {
    let p = &c.params;
    let (zi, domain) = s.resolve(p)?;
    let rtype = record_type(p)?;
    if rtype == "SOA" {
        return Err(ApiError::error(
            "Cannot add SOA record: use update instead.",
        ));
    }
    let rdata = rdata_for_add(&rtype, p)?;
    let default_ttl = if rtype == "NS" {
        DEFAULT_NS_TTL
    } else {
        DEFAULT_TTL
    };
    let ttl: u32 = p.num("ttl")?.unwrap_or(default_ttl);
    let overwrite = p.bool_or("overwrite", false)?;
    let comments = p.get("comments").unwrap_or("").to_string();
    let expiry_ttl: u32 = p.num("expiryTtl")?.unwrap_or(0);
    let older = s.older_server;
    let zone = &mut s.zones[zi];
    check_writable(zone)?;
    if rtype == "CNAME" && matches!(&rdata, RData::Name(target) if *target == domain) {
        return Err(ApiError::error(
            "Invalid CNAME record: the CNAME domain name cannot be the same as the record name.",
        ));
    }
    check_cname_exclusive(zone, &domain, &rtype, None)?;
    let mut record = Record::new(&domain, &rtype, ttl, rdata);
    record.comments = comments;
    record.expiry_ttl = expiry_ttl;
    let same_set = |r: &Record| r.name == domain && r.rtype == rtype;
    if overwrite {
        zone.records.retain(|r| !same_set(r));
    } else if rtype == "CNAME" && zone.records.iter().any(same_set) {
        let existing_same = zone
            .records
            .iter()
            .any(|r| same_set(r) && r.rdata.same(&record.rdata) && r.ttl == ttl);
        if !(older && existing_same) {
            return Err(ApiError::error(
                "Record already exists. Use overwrite option if you wish to overwrite existing record.",
            ));
        }
    }
    if let Some(i) = zone
        .records
        .iter()
        .position(|r| same_set(r) && r.rdata.same(&record.rdata))
    {
        if zone.records[i].ttl == ttl {
            if !older {
                return Err(ApiError::error("Cannot add record: record already exists."));
            }
            // Before v13.6 the duplicate was silently de-duplicated.
            let added = zone.records[i].to_json();
            return Ok(Reply::Response(
                json!({ "zone": zone.summary_json(), "addedRecord": added }),
            ));
        }
        // Same rdata, another TTL: the RRset's TTL changes.
        set_rrset_ttl(zone, &domain, &rtype, ttl);
        zone.records[i].last_modified = record.last_modified.clone();
        let added = zone.records[i].to_json();
        zone.touch();
        return Ok(Reply::Response(
            json!({ "zone": zone.summary_json(), "addedRecord": added }),
        ));
    }
    let added = record.to_json();
    zone.records.push(record);
    // Any add re-TTLs the whole RRset (AuthZone.AddRecord).
    set_rrset_ttl(zone, &domain, &rtype, ttl);
    zone.touch();
    Ok(Reply::Response(
        json!({ "zone": zone.summary_json(), "addedRecord": added }),
    ))
}

pub(crate) fn records_update(s: &mut Server, c: &Call) -> Result<Reply, ApiError> {
    let p = &c.params;
    let (zi, domain) = s.resolve(p)?;
    let rtype = record_type(p)?;
    if rtype == "SOA" {
        return Err(ApiError::error(
            "Updating SOA records is not supported by the simulator.",
        ));
    }
    let identity = rdata_identity(&rtype, p, true)?;
    let zone_name = s.zones[zi].name.clone();
    let new_domain = p.opt("newDomain").map(|d| qualify(d, &zone_name));
    // Omitted parameters reset: ttl to 3600, disable to false (APIDOCS).
    let ttl: u32 = p.num("ttl")?.unwrap_or(DEFAULT_TTL);
    let disable = p.bool_or("disable", false)?;
    let comments = p.get("comments").map(str::to_string);
    let expiry_ttl: Option<u32> = p.num("expiryTtl")?;
    let zone = &mut s.zones[zi];
    check_writable(zone)?;
    let Some(index) = zone.records.iter().position(|r| {
        r.name == domain && r.rtype == rtype && identity.as_ref().is_none_or(|id| r.rdata.same(id))
    }) else {
        return Err(ApiError::error(
            "Cannot update record: no such record exists.",
        ));
    };
    let old = zone.records[index].clone();
    let new_rdata = rdata_for_update(&rtype, p, &old.rdata)?;
    let new_name = new_domain.unwrap_or(domain.clone());
    if !zone.contains(&new_name) {
        return Err(ApiError::error(format!(
            "The domain name does not belong to the zone: {new_name}"
        )));
    }
    if rtype == "CNAME" && matches!(&new_rdata, RData::Name(t) if *t == new_name) {
        return Err(ApiError::error(
            "Invalid CNAME record: the CNAME domain name cannot be the same as the record name.",
        ));
    }
    if new_name != old.name {
        check_cname_exclusive(zone, &new_name, &rtype, Some(index))?;
    }
    let duplicate = zone.records.iter().enumerate().any(|(i, r)| {
        i != index && r.name == new_name && r.rtype == rtype && r.rdata.same(&new_rdata)
    });
    if duplicate {
        return Err(ApiError::error(
            "Cannot update record: the record already exists.",
        ));
    }
    let mut record = Record::new(&new_name, &rtype, ttl, new_rdata);
    record.disabled = disable;
    record.comments = comments.unwrap_or(old.comments);
    record.expiry_ttl = expiry_ttl.unwrap_or(old.expiry_ttl);
    zone.records[index] = record;
    set_rrset_ttl(zone, &new_name, &rtype, ttl);
    let updated = zone.records[index].to_json();
    zone.touch();
    Ok(Reply::Response(
        json!({ "zone": zone.summary_json(), "updatedRecord": updated }),
    ))
}

pub(crate) fn records_delete(s: &mut Server, c: &Call) -> Result<Reply, ApiError> {
    let p = &c.params;
    let (zi, domain) = s.resolve(p)?;
    let rtype = record_type(p)?;
    let identity = rdata_identity(&rtype, p, false)?;
    let older = s.older_server;
    let zone = &mut s.zones[zi];
    check_writable(zone)?;
    let before = zone.records.len();
    let mut removed_one = false;
    zone.records.retain(|r| {
        let hit = !removed_one
            && r.name == domain
            && r.rtype == rtype
            && identity.as_ref().is_none_or(|id| r.rdata.same(id));
        if hit {
            removed_one = true;
        }
        !hit
    });
    if zone.records.len() == before {
        if older {
            return Ok(Reply::Response(json!({})));
        }
        return Err(ApiError::error(
            "Cannot delete record: no such record exists.",
        ));
    }
    zone.touch();
    Ok(Reply::Response(json!({})))
}
