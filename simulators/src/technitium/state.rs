//! Technitium DNS Server state: zones, RRsets and the record semantics of
//! `AuthZone` as described by the vendor's `APIDOCS.md` (v15.x) and the
//! project's backend research (`backends-b.md` §3).
//!
//! Records have **no ids**: a record is identified by (zone, owner name, type,
//! rdata). Owner names are stored as lower-case FQDNs without a trailing dot.

use std::net::{Ipv4Addr, Ipv6Addr};

use serde_json::{Map, Value, json};

use crate::common::text::now_rfc3339;

/// Default record TTL (`defaultRecordTtl` in the login `info`).
pub(crate) const DEFAULT_TTL: u32 = 3600;
/// Default NS record TTL (`defaultNsRecordTtl`).
pub(crate) const DEFAULT_NS_TTL: u32 = 14400;
/// Default SOA record TTL (`defaultSoaRecordTtl`).
pub(crate) const DEFAULT_SOA_TTL: u32 = 900;
/// The simulated server's own domain name (`server` field, SOA/NS target).
pub(crate) const SERVER_DOMAIN: &str = "dns-sim.lab";

/// Zone types accepted by `/api/zones/create`.
pub(crate) const ZONE_TYPES: &[&str] = &[
    "Primary",
    "Secondary",
    "Stub",
    "Forwarder",
    "SecondaryForwarder",
    "Catalog",
    "SecondaryCatalog",
];

/// Record types the simulator models (the provider's set plus a few).
pub(crate) const RECORD_TYPES: &[&str] = &[
    "A", "AAAA", "NS", "CNAME", "PTR", "MX", "TXT", "SRV", "CAA", "DNAME", "ANAME", "FWD",
];

/// DNS transport protocols of FWD records.
pub(crate) const FWD_PROTOCOLS: &[&str] = &["Udp", "Tcp", "Tls", "Https", "Quic"];

/// The rdata of one record.
#[derive(Debug, Clone)]
pub(crate) enum RData {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    /// CNAME, PTR, DNAME and ANAME: a single domain name.
    Name(String),
    Ns {
        name_server: String,
        glue: Vec<String>,
    },
    Mx {
        preference: u16,
        exchange: String,
    },
    /// The character-strings only: `splitText` is not stored (the server
    /// derives it when rendering; see [`RData::to_json`]).
    Txt {
        strings: Vec<String>,
    },
    Srv {
        priority: u16,
        weight: u16,
        port: u16,
        target: String,
    },
    Caa {
        flags: u8,
        tag: String,
        value: String,
    },
    Soa {
        primary_name_server: String,
        responsible_person: String,
        serial: u32,
        refresh: u32,
        retry: u32,
        expire: u32,
        minimum: u32,
    },
    Fwd {
        protocol: String,
        forwarder: String,
        priority: u8,
        dnssec_validation: bool,
    },
}

impl RData {
    /// Whether two rdata denote the same record (the server's equality:
    /// domain names compare case-insensitively; FWD is identified by
    /// protocol + forwarder only, a known upstream quirk).
    pub(crate) fn same(&self, other: &RData) -> bool {
        use RData::*;
        match (self, other) {
            (A(a), A(b)) => a == b,
            (Aaaa(a), Aaaa(b)) => a == b,
            (Name(a), Name(b)) => a.eq_ignore_ascii_case(b),
            (Ns { name_server: a, .. }, Ns { name_server: b, .. }) => a.eq_ignore_ascii_case(b),
            (
                Mx {
                    preference: p1,
                    exchange: e1,
                },
                Mx {
                    preference: p2,
                    exchange: e2,
                },
            ) => p1 == p2 && e1.eq_ignore_ascii_case(e2),
            (Txt { strings: a, .. }, Txt { strings: b, .. }) => a == b,
            (
                Srv {
                    priority: p1,
                    weight: w1,
                    port: o1,
                    target: t1,
                },
                Srv {
                    priority: p2,
                    weight: w2,
                    port: o2,
                    target: t2,
                },
            ) => p1 == p2 && w1 == w2 && o1 == o2 && t1.eq_ignore_ascii_case(t2),
            (
                Caa {
                    flags: f1,
                    tag: t1,
                    value: v1,
                },
                Caa {
                    flags: f2,
                    tag: t2,
                    value: v2,
                },
            ) => f1 == f2 && t1.eq_ignore_ascii_case(t2) && v1 == v2,
            (Soa { .. }, Soa { .. }) => true,
            (
                Fwd {
                    protocol: p1,
                    forwarder: f1,
                    ..
                },
                Fwd {
                    protocol: p2,
                    forwarder: f2,
                    ..
                },
            ) => p1.eq_ignore_ascii_case(p2) && f1.eq_ignore_ascii_case(f2),
            _ => false,
        }
    }

    /// The `rData` object of the API.
    pub(crate) fn to_json(&self, rtype: &str) -> Value {
        match self {
            RData::A(ip) => json!({ "ipAddress": ip.to_string() }),
            RData::Aaaa(ip) => json!({ "ipAddress": ip.to_string() }),
            RData::Name(n) => {
                let key = match rtype {
                    "CNAME" => "cname",
                    "PTR" => "ptrName",
                    "DNAME" => "dname",
                    _ => "aname",
                };
                let mut m = Map::new();
                m.insert(key.to_string(), Value::String(n.clone()));
                Value::Object(m)
            }
            // The glue is not part of `rData`: DnsServer writes it beside it,
            // as the record's `glueRecords` (see [`Record::to_json`]).
            RData::Ns { name_server, .. } => json!({ "nameServer": name_server }),
            RData::Mx {
                preference,
                exchange,
            } => json!({ "preference": preference, "exchange": exchange }),
            // DnsServer `WebServiceZonesApi.WriteRecordAsJson`: `text` is
            // `DnsTXTRecordData.GetText()`, the character-strings concatenated
            // (TechnitiumLibrary `DnsTXTRecordData.cs`), and `splitText` is
            // `CharacterStrings.Count > 1`: true for any text the server cut
            // into 255-byte strings, whatever `splitText` the add was given.
            RData::Txt { strings } => json!({
                "text": strings.concat(),
                "splitText": strings.len() > 1,
                "characterStrings": strings,
            }),
            RData::Srv {
                priority,
                weight,
                port,
                target,
            } => json!({ "priority": priority, "weight": weight, "port": port, "target": target }),
            RData::Caa { flags, tag, value } => {
                json!({ "flags": flags, "tag": tag, "value": value })
            }
            RData::Soa {
                primary_name_server,
                responsible_person,
                serial,
                refresh,
                retry,
                expire,
                minimum,
            } => json!({
                "primaryNameServer": primary_name_server,
                "responsiblePerson": responsible_person,
                "serial": serial,
                "refresh": refresh,
                "retry": retry,
                "expire": expire,
                "minimum": minimum,
            }),
            RData::Fwd {
                protocol,
                forwarder,
                priority,
                dnssec_validation,
            } => json!({
                "protocol": protocol,
                "forwarder": forwarder,
                "priority": priority,
                "dnssecValidation": dnssec_validation,
                "proxyType": "DefaultProxy",
            }),
        }
    }
}

/// TXT text to character-strings. With `splitText` the text is split on new
/// lines; otherwise it is one string cut into 255-byte character-strings
/// (the wire limit), on character boundaries.
pub(crate) fn txt_strings(text: &str, split_text: bool) -> Vec<String> {
    if split_text {
        return text
            .split('\n')
            .map(|s| s.trim_end_matches('\r').to_string())
            .collect();
    }
    let mut out = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        if current.len() + c.len_utf8() > 255 {
            out.push(std::mem::take(&mut current));
        }
        current.push(c);
    }
    out.push(current);
    out
}

/// One resource record.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub(crate) name: String,
    pub(crate) rtype: String,
    pub(crate) ttl: u32,
    pub(crate) rdata: RData,
    pub(crate) disabled: bool,
    pub(crate) comments: String,
    pub(crate) expiry_ttl: u32,
    pub(crate) last_modified: String,
}

impl Record {
    pub(crate) fn new(name: &str, rtype: &str, ttl: u32, rdata: RData) -> Self {
        Self {
            name: name.to_string(),
            rtype: rtype.to_string(),
            ttl,
            rdata,
            disabled: false,
            comments: String::new(),
            expiry_ttl: 0,
            last_modified: now_rfc3339(7),
        }
    }

    /// The record object of `records/get`, `addedRecord`, `updatedRecord`.
    /// `comments` is omitted when empty, as the server does.
    pub(crate) fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("disabled".into(), json!(self.disabled));
        m.insert("name".into(), json!(self.name));
        m.insert("type".into(), json!(self.rtype));
        m.insert("ttl".into(), json!(self.ttl));
        if !self.comments.is_empty() {
            m.insert("comments".into(), json!(self.comments));
        }
        if self.expiry_ttl > 0 {
            m.insert("expiryTtl".into(), json!(self.expiry_ttl));
        }
        m.insert("rData".into(), self.rdata.to_json(&self.rtype));
        m.insert("dnssecStatus".into(), json!("Unknown"));
        // An NS record's glue addresses follow `dnssecStatus` as
        // `glueRecords`, one string per address record (DnsServer
        // `DnsServerCore/WebServiceZonesApi.cs` `WriteRecordAsJson`:
        // `if (authRecordInfo is NSRecordInfo nsRecordInfo)` writes
        // `glueRecords` from `glueRecord.RDATA.ToString()`); APIDOCS.md shows
        // no NS record with glue.
        if let RData::Ns { glue, .. } = &self.rdata
            && !glue.is_empty()
        {
            m.insert("glueRecords".into(), json!(glue));
        }
        m.insert("lastUsedOn".into(), json!("0001-01-01T00:00:00"));
        m.insert("lastModified".into(), json!(self.last_modified));
        Value::Object(m)
    }
}

/// One authoritative zone.
#[derive(Debug, Clone)]
pub(crate) struct Zone {
    pub(crate) name: String,
    pub(crate) zone_type: String,
    pub(crate) internal: bool,
    pub(crate) disabled: bool,
    pub(crate) soa_serial: u32,
    pub(crate) last_modified: String,
    pub(crate) primary_name_server_addresses: Vec<String>,
    pub(crate) catalog: Option<String>,
    pub(crate) records: Vec<Record>,
}

impl Zone {
    pub(crate) fn new(name: &str, zone_type: &str, internal: bool) -> Self {
        Self {
            name: name.to_string(),
            zone_type: zone_type.to_string(),
            internal,
            disabled: false,
            soa_serial: 1,
            last_modified: now_rfc3339(7),
            primary_name_server_addresses: Vec::new(),
            catalog: None,
            records: Vec::new(),
        }
    }

    /// SOA + NS, as a new Primary zone is seeded by the server.
    pub(crate) fn seed_soa_ns(&mut self, with_ns: bool) {
        let apex = self.name.clone();
        self.records.push(Record::new(
            &apex,
            "SOA",
            DEFAULT_SOA_TTL,
            RData::Soa {
                primary_name_server: SERVER_DOMAIN.to_string(),
                responsible_person: format!("hostadmin.{apex}"),
                serial: self.soa_serial,
                refresh: 900,
                retry: 300,
                expire: 604_800,
                minimum: 900,
            },
        ));
        if with_ns {
            self.records.push(Record::new(
                &apex,
                "NS",
                DEFAULT_TTL,
                RData::Ns {
                    name_server: SERVER_DOMAIN.to_string(),
                    glue: Vec::new(),
                },
            ));
        }
    }

    /// Bumps the SOA serial and the zone's `lastModified` after a change.
    pub(crate) fn touch(&mut self) {
        self.soa_serial = self.soa_serial.wrapping_add(1);
        self.last_modified = now_rfc3339(7);
        let serial = self.soa_serial;
        for r in &mut self.records {
            if let RData::Soa { serial: s, .. } = &mut r.rdata {
                *s = serial;
            }
        }
    }

    /// Whether `domain` (lower-case, no trailing dot) is in this zone.
    pub(crate) fn contains(&self, domain: &str) -> bool {
        self.name.is_empty() || domain == self.name || domain.ends_with(&format!(".{}", self.name))
    }

    /// The short zone object embedded in record responses.
    pub(crate) fn summary_json(&self) -> Value {
        json!({
            "name": self.name,
            "type": self.zone_type,
            "internal": self.internal,
            "dnssecStatus": "Unsigned",
            "disabled": self.disabled,
        })
    }

    /// The zone object of `zones/list`.
    pub(crate) fn list_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), json!(self.name));
        m.insert("type".into(), json!(self.zone_type));
        m.insert("internal".into(), json!(self.internal));
        m.insert("dnssecStatus".into(), json!("Unsigned"));
        m.insert("soaSerial".into(), json!(self.soa_serial));
        if self.zone_type.starts_with("Secondary") || self.zone_type == "Stub" {
            m.insert("expiry".into(), json!(self.last_modified));
            m.insert("isExpired".into(), json!(false));
            m.insert("syncFailed".into(), json!(false));
        }
        if !self.internal && matches!(self.zone_type.as_str(), "Primary" | "Forwarder" | "Catalog")
        {
            m.insert("notifyFailed".into(), json!(false));
            m.insert("notifyFailedFor".into(), json!([]));
        }
        m.insert("lastModified".into(), json!(self.last_modified));
        m.insert("disabled".into(), json!(self.disabled));
        Value::Object(m)
    }

    /// Records sorted as listed by the API: by name, then type.
    pub(crate) fn sorted_records(&self) -> Vec<&Record> {
        let mut v: Vec<&Record> = self.records.iter().collect();
        v.sort_by(|a, b| {
            name_key(&a.name)
                .cmp(&name_key(&b.name))
                .then_with(|| type_order(&a.rtype).cmp(&type_order(&b.rtype)))
        });
        v
    }
}

/// Sort key: labels reversed, so the apex comes before its children.
fn name_key(name: &str) -> Vec<String> {
    name.rsplit('.').map(str::to_string).collect()
}

fn type_order(t: &str) -> (u16, String) {
    let n = match t {
        "A" => 1,
        "NS" => 2,
        "CNAME" => 5,
        "SOA" => 6,
        "PTR" => 12,
        "MX" => 15,
        "TXT" => 16,
        "AAAA" => 28,
        "SRV" => 33,
        "DNAME" => 39,
        "CAA" => 257,
        _ => 65_000,
    };
    (n, t.to_string())
}

/// Normalises a domain name parameter: trims dots and whitespace, lower-cases.
pub(crate) fn normalize_name(name: &str) -> String {
    name.trim().trim_matches('.').to_ascii_lowercase()
}

/// Light domain-name validation (labels of 1..=63 bytes, no spaces).
pub(crate) fn valid_domain(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .split('.')
            .all(|l| !l.is_empty() && l.len() <= 63 && !l.contains(char::is_whitespace))
}

/// The reverse zone name for an IP address or CIDR network, as
/// `zones/create` derives it (IPv4 rounded down to whole octets, a bare
/// address meaning its /24; IPv6 to whole nibbles, a bare address its /64).
pub(crate) fn reverse_zone_name(input: &str) -> Option<String> {
    let (addr, prefix) = match input.split_once('/') {
        Some((a, p)) => (a, Some(p.parse::<u8>().ok()?)),
        None => (input, None),
    };
    if let Ok(v4) = addr.parse::<Ipv4Addr>() {
        let prefix = prefix.unwrap_or(24).min(32);
        let octets = usize::from(prefix / 8).max(1);
        let labels: Vec<String> = v4.octets()[..octets]
            .iter()
            .rev()
            .map(u8::to_string)
            .collect();
        return Some(format!("{}.in-addr.arpa", labels.join(".")));
    }
    if let Ok(v6) = addr.parse::<Ipv6Addr>() {
        let prefix = prefix.unwrap_or(64).min(128);
        let nibbles = usize::from(prefix / 4).max(1);
        let hex: String = v6.octets().iter().map(|b| format!("{b:02x}")).collect();
        let labels: Vec<String> = hex.chars().take(nibbles).map(String::from).collect();
        let rev: Vec<String> = labels.into_iter().rev().collect();
        return Some(format!("{}.ip6.arpa", rev.join(".")));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_zones() {
        assert_eq!(
            reverse_zone_name("192.168.1.0/24").as_deref(),
            Some("1.168.192.in-addr.arpa")
        );
        assert_eq!(
            reverse_zone_name("10.0.0.0/8").as_deref(),
            Some("10.in-addr.arpa")
        );
        assert_eq!(
            reverse_zone_name("fd00::/16").as_deref(),
            Some("0.0.d.f.ip6.arpa")
        );
        assert_eq!(reverse_zone_name("example.com"), None);
    }

    #[test]
    fn txt_split() {
        assert_eq!(txt_strings("a\nb", true), vec!["a", "b"]);
        assert_eq!(txt_strings("a\nb", false), vec!["a\nb"]);
        let long = "x".repeat(300);
        let parts = txt_strings(&long, false);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].len(), 255);
    }
}
