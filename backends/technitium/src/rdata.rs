//! Record identity and normalisation, without any I/O.
//!
//! Technitium records have no ids: a record is (zone, owner name, type,
//! rdata). Terraform keeps what the user wrote; everything here compares the
//! *normalised* forms (lower-case names without the trailing dot, parsed IP
//! addresses, TXT character-strings joined back) so the server's canonical
//! spelling never shows up as a diff.

use std::fmt;
use std::net::IpAddr;

use crate::client::RecordInfo;

/// The record types the `homelab_technitium_dns_record` resource manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RType {
    /// IPv4 address.
    A,
    /// IPv6 address.
    Aaaa,
    /// Alias to another name.
    Cname,
    /// Text.
    Txt,
    /// Mail exchange, with a preference.
    Mx,
    /// Service location: priority, weight, port and target.
    Srv,
    /// Reverse pointer to a name.
    Ptr,
    /// Name server.
    Ns,
    /// Certification authority authorisation: flags, tag and value.
    Caa,
}

/// Every managed type, as written in configuration.
pub const RECORD_TYPES: &[&str] = &["A", "AAAA", "CNAME", "TXT", "MX", "SRV", "PTR", "NS", "CAA"];

impl RType {
    /// The type named `s` (any case, surrounding spaces ignored); `None`
    /// for a type the resource does not manage.
    pub fn parse(s: &str) -> Option<RType> {
        Some(match s.trim().to_ascii_uppercase().as_str() {
            "A" => RType::A,
            "AAAA" => RType::Aaaa,
            "CNAME" => RType::Cname,
            "TXT" => RType::Txt,
            "MX" => RType::Mx,
            "SRV" => RType::Srv,
            "PTR" => RType::Ptr,
            "NS" => RType::Ns,
            "CAA" => RType::Caa,
            _ => return None,
        })
    }

    /// The type as configuration and the API write it (`"AAAA"`).
    pub fn as_str(self) -> &'static str {
        match self {
            RType::A => "A",
            RType::Aaaa => "AAAA",
            RType::Cname => "CNAME",
            RType::Txt => "TXT",
            RType::Mx => "MX",
            RType::Srv => "SRV",
            RType::Ptr => "PTR",
            RType::Ns => "NS",
            RType::Caa => "CAA",
        }
    }

    /// Whether `value` is a domain name for this type.
    pub fn value_is_name(self) -> bool {
        matches!(
            self,
            RType::Cname | RType::Mx | RType::Srv | RType::Ptr | RType::Ns
        )
    }

    /// Which of the extra numeric/tag fields this type uses.
    pub fn uses(self, field: &str) -> bool {
        matches!(
            (self, field),
            (RType::Mx | RType::Srv, "priority")
                | (RType::Srv, "weight" | "port")
                | (RType::Caa, "flags" | "tag")
        )
    }
}

impl fmt::Display for RType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A domain name as the server stores it: trimmed, no trailing dot, lower case.
pub fn norm_name(s: &str) -> String {
    s.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// The owner name of a record as a fully qualified name (no trailing dot).
///
/// `@` or empty is the apex; a name ending in `.` is absolute; a name equal
/// to the zone or ending in `.<zone>` is taken as already qualified; anything
/// else is relative to the zone.
pub fn fqdn(name: &str, zone: &str) -> String {
    let zone = norm_name(zone);
    let n = name.trim();
    if n.is_empty() || n == "@" {
        return zone;
    }
    if n.ends_with('.') {
        return norm_name(n);
    }
    let n = n.to_ascii_lowercase();
    if n == zone || n.ends_with(&format!(".{zone}")) {
        n
    } else {
        format!("{n}.{zone}")
    }
}

/// The data of one record: type and rdata fields, as the user wrote them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordData {
    /// The record type.
    pub rtype: RType,
    /// A/AAAA address, CNAME/PTR/NS/MX/SRV target name, TXT text, CAA value.
    pub value: String,
    /// MX preference, SRV priority.
    pub priority: Option<i64>,
    /// SRV weight; `None` for other types.
    pub weight: Option<i64>,
    /// SRV port; `None` for other types.
    pub port: Option<i64>,
    /// CAA flags (0-255); `None` for other types.
    pub flags: Option<i64>,
    /// CAA tag (`issue`, `issuewild`, `iodef`, ...); `None` for other types.
    pub tag: Option<String>,
}

fn num(v: Option<i64>) -> String {
    v.unwrap_or(0).to_string()
}

impl RecordData {
    /// The rdata parameters of `records/add`, which also identify the record
    /// in `records/update` (current value) and `records/delete`.
    pub fn params(&self) -> Vec<(&'static str, String)> {
        let v = self.value.trim().to_string();
        match self.rtype {
            RType::A | RType::Aaaa => vec![("ipAddress", v)],
            RType::Cname => vec![("cname", v)],
            RType::Ptr => vec![("ptrName", v)],
            RType::Ns => vec![("nameServer", v)],
            RType::Txt => vec![("text", self.value.clone()), ("splitText", "false".into())],
            RType::Mx => vec![("preference", num(self.priority)), ("exchange", v)],
            RType::Srv => vec![
                ("priority", num(self.priority)),
                ("weight", num(self.weight)),
                ("port", num(self.port)),
                ("target", v),
            ],
            RType::Caa => vec![
                ("flags", num(self.flags)),
                ("tag", self.tag.clone().unwrap_or_default()),
                ("value", self.value.clone()),
            ],
        }
    }

    /// Identifying parameters for update/delete (CNAME is one per name).
    pub fn identity_params(&self) -> Vec<(&'static str, String)> {
        match self.rtype {
            RType::Cname => Vec::new(),
            _ => self.params(),
        }
    }

    /// The `new*` parameters of `records/update` setting this data.
    /// (CNAME has no `newCname`: `cname` itself is the new value.)
    pub fn new_params(&self) -> Vec<(&'static str, String)> {
        let v = self.value.trim().to_string();
        match self.rtype {
            RType::A | RType::Aaaa => vec![("newIpAddress", v)],
            RType::Cname => vec![("cname", v)],
            RType::Ptr => vec![("newPtrName", v)],
            RType::Ns => vec![("newNameServer", v)],
            RType::Txt => vec![
                ("newText", self.value.clone()),
                ("newSplitText", "false".into()),
            ],
            RType::Mx => vec![("newPreference", num(self.priority)), ("newExchange", v)],
            RType::Srv => vec![
                ("newPriority", num(self.priority)),
                ("newWeight", num(self.weight)),
                ("newPort", num(self.port)),
                ("newTarget", v),
            ],
            RType::Caa => vec![
                ("newFlags", num(self.flags)),
                ("newTag", self.tag.clone().unwrap_or_default()),
                ("newValue", self.value.clone()),
            ],
        }
    }

    /// Whether the server's record holds this data (compared normalised).
    pub fn matches(&self, r: &RecordInfo) -> bool {
        if !r.rtype.eq_ignore_ascii_case(self.rtype.as_str()) {
            return false;
        }
        let same_name =
            |a: &str, b: Option<String>| b.is_some_and(|b| norm_name(a) == norm_name(&b));
        match self.rtype {
            RType::A | RType::Aaaa => match (
                self.value.trim().parse::<IpAddr>(),
                r.str("ipAddress")
                    .and_then(|s| s.trim().parse::<IpAddr>().ok()),
            ) {
                (Ok(a), Some(b)) => a == b,
                _ => false,
            },
            RType::Cname => same_name(&self.value, r.str("cname")),
            RType::Ptr => same_name(&self.value, r.str("ptrName")),
            RType::Ns => same_name(&self.value, r.str("nameServer")),
            RType::Txt => txt_of(r).is_some_and(|t| t == self.value),
            RType::Mx => {
                r.num("preference") == self.priority && same_name(&self.value, r.str("exchange"))
            }
            RType::Srv => {
                r.num("priority") == self.priority
                    && r.num("weight") == self.weight
                    && r.num("port") == self.port
                    && same_name(&self.value, r.str("target"))
            }
            RType::Caa => {
                r.num("flags") == self.flags
                    && r.str("tag").map(|t| t.to_ascii_lowercase())
                        == self.tag.as_ref().map(|t| t.trim().to_ascii_lowercase())
                    && r.str("value").as_deref() == Some(self.value.as_str())
            }
        }
    }

    /// Whether `r` is the record this data identifies: like [`matches`],
    /// except that a CNAME is identified by its name alone (one per name),
    /// so a CNAME whose target changed behind Terraform's back is still ours.
    ///
    /// [`matches`]: RecordData::matches
    pub fn identifies(&self, r: &RecordInfo) -> bool {
        if self.rtype == RType::Cname {
            return r.rtype.eq_ignore_ascii_case("CNAME");
        }
        self.matches(r)
    }

    /// The data with its value in canonical form (parsed IP address,
    /// normalised names, lower-case CAA tag), for comparisons.
    pub fn canonical(&self) -> RecordData {
        let mut c = self.clone();
        c.value = match self.rtype {
            RType::A | RType::Aaaa => match self.value.trim().parse::<IpAddr>() {
                Ok(ip) => ip.to_string(),
                Err(_) => self.value.trim().to_string(),
            },
            t if t.value_is_name() => norm_name(&self.value),
            _ => self.value.clone(),
        };
        c.tag = self.tag.as_ref().map(|t| t.trim().to_ascii_lowercase());
        c
    }

    /// The data as read from the server (server spelling).
    pub fn from_record(r: &RecordInfo) -> Option<RecordData> {
        let rtype = RType::parse(&r.rtype)?;
        let mut d = RecordData {
            rtype,
            value: String::new(),
            priority: None,
            weight: None,
            port: None,
            flags: None,
            tag: None,
        };
        match rtype {
            RType::A | RType::Aaaa => d.value = r.str("ipAddress")?,
            RType::Cname => d.value = r.str("cname")?,
            RType::Ptr => d.value = r.str("ptrName")?,
            RType::Ns => d.value = r.str("nameServer")?,
            RType::Txt => d.value = txt_of(r)?,
            RType::Mx => {
                d.value = r.str("exchange")?;
                d.priority = r.num("preference");
            }
            RType::Srv => {
                d.value = r.str("target")?;
                d.priority = r.num("priority");
                d.weight = r.num("weight");
                d.port = r.num("port");
            }
            RType::Caa => {
                d.value = r.str("value")?;
                d.flags = r.num("flags");
                d.tag = r.str("tag");
            }
        }
        Some(d)
    }

    /// The value part of an import ID: `value`, or with its numbers in
    /// front like a zone file (`10 mail.example.net`, `10 5 443 sip.example.net`,
    /// `0 issue letsencrypt.org`).
    pub fn id_value(&self) -> String {
        match self.rtype {
            RType::Mx => format!("{} {}", num(self.priority), self.value),
            RType::Srv => format!(
                "{} {} {} {}",
                num(self.priority),
                num(self.weight),
                num(self.port),
                self.value
            ),
            RType::Caa => format!(
                "{} {} {}",
                num(self.flags),
                self.tag.clone().unwrap_or_default(),
                self.value
            ),
            _ => self.value.clone(),
        }
    }
}

/// A TXT record's text: its character-strings concatenated, which is what
/// the server's `text` is (DnsServer `WebServiceZonesApi.WriteRecordAsJson`
/// writes `DnsTXTRecordData.GetText()`, the strings joined with nothing in
/// between, TechnitiumLibrary `DnsTXTRecordData.cs`). The server's
/// `splitText` is `CharacterStrings.Count > 1`, true for any text longer than
/// 255 bytes: it says nothing about new lines, so it is not read.
fn txt_of(r: &RecordInfo) -> Option<String> {
    if let Some(t) = r.str("text") {
        return Some(t);
    }
    let strings = r.rdata.get("characterStrings")?.as_array()?;
    Some(strings.iter().filter_map(|s| s.as_str()).collect())
}

/// A parsed import ID: `zone/name/TYPE/value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportId {
    /// The zone, trimmed, as written.
    pub zone: String,
    /// The owner name, trimmed, as written (`@`, relative or absolute).
    pub name: String,
    /// Type and data, split into fields for MX, SRV and CAA.
    pub data: RecordData,
}

/// The import ID of a record: `zone/name/TYPE/value`.
pub fn import_id(zone: &str, name: &str, data: &RecordData) -> String {
    format!("{zone}/{name}/{}/{}", data.rtype, data.id_value())
}

/// Parse `zone/name/TYPE/value`, splitting on the first three slashes only
/// (TXT and CAA values may contain slashes). MX values are `preference
/// exchange`, SRV `priority weight port target`, CAA `flags tag value`.
pub fn parse_import_id(id: &str) -> Result<ImportId, String> {
    let usage = "expected `zone/name/TYPE/value`, e.g. `home.arpa/www/A/192.168.1.10`, \
                 `home.arpa/@/MX/10 mail.home.arpa`, `home.arpa/_sip._tcp/SRV/10 5 5060 sip.home.arpa`, \
                 `home.arpa/@/CAA/0 issue letsencrypt.org`";
    let mut parts = id.splitn(4, '/');
    let (Some(zone), Some(name), Some(rtype), Some(value)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(format!("invalid import ID {id:?}: {usage}"));
    };
    if zone.trim().is_empty() || name.trim().is_empty() || value.is_empty() {
        return Err(format!("invalid import ID {id:?}: {usage}"));
    }
    let rtype = RType::parse(rtype).ok_or_else(|| {
        format!(
            "invalid import ID {id:?}: type {rtype:?} is not one of {}",
            RECORD_TYPES.join(", ")
        )
    })?;
    let bad = |what: &str| format!("invalid import ID {id:?}: {what}; {usage}");
    let int = |s: &str, what: &str| s.trim().parse::<i64>().map_err(|_| bad(what));
    let mut data = RecordData {
        rtype,
        value: value.to_string(),
        priority: None,
        weight: None,
        port: None,
        flags: None,
        tag: None,
    };
    match rtype {
        RType::Mx => {
            let (p, v) = value
                .trim()
                .split_once(' ')
                .ok_or_else(|| bad("MX needs `preference exchange`"))?;
            data.priority = Some(int(p, "MX preference is not a number")?);
            data.value = v.trim().to_string();
        }
        RType::Srv => {
            let f: Vec<&str> = value.split_whitespace().collect();
            let [p, w, port, target] = f.as_slice() else {
                return Err(bad("SRV needs `priority weight port target`"));
            };
            data.priority = Some(int(p, "SRV priority is not a number")?);
            data.weight = Some(int(w, "SRV weight is not a number")?);
            data.port = Some(int(port, "SRV port is not a number")?);
            data.value = (*target).to_string();
        }
        RType::Caa => {
            let mut f = value.trim_start().splitn(3, ' ');
            let (Some(flags), Some(tag), Some(v)) = (f.next(), f.next(), f.next()) else {
                return Err(bad("CAA needs `flags tag value`"));
            };
            data.flags = Some(int(flags, "CAA flags is not a number")?);
            data.tag = Some(tag.to_string());
            data.value = v.to_string();
        }
        _ => {}
    }
    Ok(ImportId {
        zone: zone.trim().to_string(),
        name: name.trim().to_string(),
        data,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(rtype: &str, rdata: serde_json::Value) -> RecordInfo {
        serde_json::from_value(json!({
            "name": "www.home.arpa", "type": rtype, "ttl": 3600, "disabled": false, "rData": rdata
        }))
        .unwrap()
    }

    fn data(rtype: RType, value: &str) -> RecordData {
        RecordData {
            rtype,
            value: value.into(),
            priority: None,
            weight: None,
            port: None,
            flags: None,
            tag: None,
        }
    }

    #[test]
    fn names_normalise() {
        assert_eq!(fqdn("@", "Home.Arpa."), "home.arpa");
        assert_eq!(fqdn("", "home.arpa"), "home.arpa");
        assert_eq!(fqdn("WWW", "home.arpa"), "www.home.arpa");
        assert_eq!(fqdn("www.home.arpa", "home.arpa"), "www.home.arpa");
        assert_eq!(fqdn("www.Home.Arpa.", "home.arpa"), "www.home.arpa");
        assert_eq!(fqdn("home.arpa", "home.arpa"), "home.arpa");
        assert_eq!(fqdn("_sip._tcp", "home.arpa"), "_sip._tcp.home.arpa");
        assert_eq!(fqdn("other.net.", "home.arpa"), "other.net");
    }

    #[test]
    fn matching_is_normalised() {
        let r = rec("AAAA", json!({"ipAddress": "2001:db8::1"}));
        assert!(data(RType::Aaaa, "2001:DB8:0::1").matches(&r));
        assert!(!data(RType::Aaaa, "2001:db8::2").matches(&r));
        assert!(!data(RType::A, "2001:db8::1").matches(&r));
        let r = rec("CNAME", json!({"cname": "t.home.arpa"}));
        assert!(data(RType::Cname, "T.home.arpa.").matches(&r));
        assert!(!data(RType::Cname, "u.home.arpa").matches(&r));
        assert!(data(RType::Cname, "u.home.arpa").identifies(&r));
        assert_eq!(
            data(RType::Aaaa, "2001:DB8:0::1").canonical(),
            data(RType::Aaaa, "2001:db8::1").canonical()
        );
        let r = rec("PTR", json!({"ptrName": "host.home.arpa"}));
        assert!(data(RType::Ptr, "Host.Home.Arpa.").matches(&r));
        let r = rec(
            "MX",
            json!({"preference": 10, "exchange": "mail.home.arpa"}),
        );
        let mut mx = data(RType::Mx, "mail.home.arpa.");
        mx.priority = Some(10);
        assert!(mx.matches(&r));
        mx.priority = Some(20);
        assert!(!mx.matches(&r));
        // What the server answers for 300 bytes added with splitText=false:
        // two character-strings, `splitText` true, `text` the concatenation.
        let long = "x".repeat(300);
        let r = rec(
            "TXT",
            json!({"text": long, "splitText": true, "characterStrings": [&long[..255], &long[255..]]}),
        );
        assert!(data(RType::Txt, &long).matches(&r));
        assert_eq!(RecordData::from_record(&r).unwrap().value, long);
        // Without `text`, the strings are concatenated too.
        let r = rec(
            "TXT",
            json!({"splitText": true, "characterStrings": [&long[..255], &long[255..]]}),
        );
        assert!(data(RType::Txt, &long).matches(&r));
        assert!(!data(RType::Txt, &format!("{}\n{}", &long[..255], &long[255..])).matches(&r));
        let r = rec(
            "CAA",
            json!({"flags": 0, "tag": "issue", "value": "letsencrypt.org"}),
        );
        let mut caa = data(RType::Caa, "letsencrypt.org");
        caa.flags = Some(0);
        caa.tag = Some("Issue".into());
        assert!(caa.matches(&r));
    }

    #[test]
    fn request_params() {
        let mut srv = data(RType::Srv, "sip.home.arpa");
        srv.priority = Some(10);
        srv.weight = Some(5);
        srv.port = Some(5060);
        assert_eq!(
            srv.params(),
            vec![
                ("priority", "10".to_string()),
                ("weight", "5".into()),
                ("port", "5060".into()),
                ("target", "sip.home.arpa".into())
            ]
        );
        assert_eq!(srv.new_params()[3], ("newTarget", "sip.home.arpa".into()));
        let c = data(RType::Cname, "target.home.arpa");
        assert!(c.identity_params().is_empty());
        assert_eq!(c.new_params(), vec![("cname", "target.home.arpa".into())]);
        let a = data(RType::A, " 10.0.0.1 ");
        assert_eq!(a.new_params(), vec![("newIpAddress", "10.0.0.1".into())]);
    }

    #[test]
    fn import_ids() {
        let id = parse_import_id("home.arpa/www/a/10.0.0.1").unwrap();
        assert_eq!(id.zone, "home.arpa");
        assert_eq!(id.name, "www");
        assert_eq!(id.data, data(RType::A, "10.0.0.1"));
        let id = parse_import_id("home.arpa/@/TXT/v=spf1 a/b c").unwrap();
        assert_eq!(id.data.value, "v=spf1 a/b c");
        let id = parse_import_id("home.arpa/@/MX/10 mail.home.arpa").unwrap();
        assert_eq!(id.data.priority, Some(10));
        assert_eq!(id.data.value, "mail.home.arpa");
        let id = parse_import_id("home.arpa/_sip._tcp/SRV/10 5 5060 sip.home.arpa").unwrap();
        assert_eq!(
            (id.data.priority, id.data.weight, id.data.port),
            (Some(10), Some(5), Some(5060))
        );
        let id = parse_import_id("home.arpa/@/CAA/0 issue letsencrypt.org; x=y").unwrap();
        assert_eq!(id.data.tag.as_deref(), Some("issue"));
        assert_eq!(id.data.value, "letsencrypt.org; x=y");
        assert_eq!(
            import_id("home.arpa", "@", &id.data),
            "home.arpa/@/CAA/0 issue letsencrypt.org; x=y"
        );
        assert!(parse_import_id("home.arpa/www/A").is_err());
        assert!(parse_import_id("home.arpa/www/BOGUS/x").is_err());
        assert!(parse_import_id("home.arpa/@/MX/mail.home.arpa").is_err());
        assert!(parse_import_id("home.arpa/x/SRV/1 2 x y").is_err());
    }
}
