//! The simulated router: ordered menus of items, users, a clock, and the
//! RouterOS console semantics behind the REST verbs (add, set, unset,
//! remove, move, print).
//!
//! What is modelled, and from where:
//! - argument names, closed value sets, `!` negation and the `unset`
//!   value-names of each menu: `schema.json`, extracted from RouterOS
//!   7.22.3's `/console/inspect` (tikoci/restraml);
//! - every printed value is a string; booleans print `true`/`false`; unset
//!   properties are absent; `disabled`, `log` (`false`), `log-prefix` (`""`),
//!   `action` (`accept`) and DNS `ttl` (`1d`) are filled in; A records print
//!   no `type`; a single host prints without `/32`; time intervals print as
//!   `1w2d3h4m5s`: the REST manual and research notes §1c/§1d;
//! - ids `*HEX`, allocated in increasing order and never reused;
//! - `place-before` on add only (PATCH answers `unknown parameter
//!   place-before`, terraform-routeros#223); `move` with `.id` (or
//!   `numbers`) and `destination` (REST manual example);
//! - the fasttrack counter rule: dynamic, at the top of the filter table,
//!   and `failure: cannot move builtin` for moving it or placing anything
//!   before it (Addendum 3); a duplicate address-list entry is `failure:
//!   already have such entry` (Addendum 4); a user without the `write`
//!   policy gets HTTP 500 `not enough permissions (9)` (Addendum 6);
//! - address-list entries with a `timeout` are dynamic and count down, then
//!   disappear (research notes §1b.10, terraform-routeros's docs).
//!
//! Where RouterOS's exact wording is not documented (a missing `chain`,
//! ports without a port protocol, a too long `log-prefix`, editing a
//! dynamic item), the detail says so in the same `failure: ...` form; no
//! client test depends on those words.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

/// A RouterOS error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RosError {
    pub(crate) status: u16,
    pub(crate) detail: String,
}

impl RosError {
    pub(crate) fn bad(detail: impl Into<String>) -> Self {
        Self {
            status: 400,
            detail: detail.into(),
        }
    }
    pub(crate) fn not_found() -> Self {
        Self {
            status: 404,
            detail: String::new(),
        }
    }
    pub(crate) fn message(&self) -> &'static str {
        match self.status {
            400 => "Bad Request",
            401 => "Unauthorized",
            404 => "Not Found",
            406 => "Not Acceptable",
            500 => "Internal Server Error",
            _ => "Error",
        }
    }
    /// The error envelope: `{"error": 400, "message": ..., "detail": ...}`.
    pub(crate) fn body(&self) -> Value {
        let mut m = Map::new();
        m.insert("error".into(), json!(self.status));
        m.insert("message".into(), json!(self.message()));
        if !self.detail.is_empty() {
            m.insert("detail".into(), json!(self.detail));
        }
        Value::Object(m)
    }
}

pub(crate) type RosResult<T> = Result<T, RosError>;

/// The menus the simulator serves (its own names, not the client's).
pub(crate) const MENUS: &[&str] = &[
    "ip/firewall/filter",
    "ip/firewall/nat",
    "ip/firewall/address-list",
    "ip/dns/static",
];

/// One argument of a menu command, from the inspect dump.
#[derive(Debug, Clone, Default)]
pub(crate) struct Arg {
    pub(crate) choices: Option<Vec<String>>,
    pub(crate) negatable: bool,
}

/// One menu's commands, from the inspect dump.
#[derive(Debug, Clone, Default)]
pub(crate) struct MenuSchema {
    pub(crate) add: BTreeMap<String, Arg>,
    pub(crate) set: BTreeMap<String, Arg>,
    pub(crate) unset: Vec<String>,
    pub(crate) commands: Vec<String>,
}

fn parse_schema() -> BTreeMap<String, MenuSchema> {
    let raw: Value = serde_json::from_str(include_str!("schema.json")).unwrap_or(Value::Null);
    let mut out = BTreeMap::new();
    let Some(menus) = raw.get("menus").and_then(Value::as_object) else {
        return out;
    };
    let args = |v: Option<&Value>| -> BTreeMap<String, Arg> {
        v.and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, a)| {
                        let choices = a.get("choices").and_then(Value::as_array).map(|c| {
                            c.iter()
                                .filter_map(|x| x.as_str().map(str::to_string))
                                .collect()
                        });
                        let negatable = a.get("negatable").and_then(Value::as_bool) == Some(true);
                        (k.clone(), Arg { choices, negatable })
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let list = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    for (name, m) in menus {
        out.insert(
            name.clone(),
            MenuSchema {
                add: args(m.get("add")),
                set: args(m.get("set")),
                unset: list(m.get("unset")),
                commands: list(m.get("commands")),
            },
        );
    }
    out
}

/// The inspect dump of `menu`.
pub(crate) fn schema(menu: &str) -> Option<&'static MenuSchema> {
    static SCHEMA: OnceLock<BTreeMap<String, MenuSchema>> = OnceLock::new();
    SCHEMA.get_or_init(parse_schema).get(menu)
}

/// A user group's policies (RouterOS's default groups).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Group {
    Full,
    Write,
    Read,
}

impl Group {
    pub(crate) fn can_write(self) -> bool {
        !matches!(self, Group::Read)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct User {
    pub(crate) name: String,
    pub(crate) password: String,
    pub(crate) group: Group,
}

/// One item of a menu.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub(crate) id: u64,
    pub(crate) props: BTreeMap<String, String>,
    /// RouterOS's own (printed `dynamic: "true"`).
    pub(crate) dynamic: bool,
    /// Cannot be moved, and nothing goes before it.
    pub(crate) builtin: bool,
    /// Address lists: when the entry goes (sim clock, seconds).
    pub(crate) expires: Option<u64>,
    pub(crate) created: u64,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Table {
    pub(crate) items: Vec<Item>,
    pub(crate) next: u64,
}

/// A recorder of one chain after every request that changes its menu.
#[derive(Debug, Clone)]
pub(crate) struct History {
    pub(crate) menu: String,
    pub(crate) chain: String,
    pub(crate) snapshots: Vec<Vec<Value>>,
}

/// The whole router.
#[derive(Debug)]
pub(crate) struct Router {
    pub(crate) tables: BTreeMap<String, Table>,
    pub(crate) users: Vec<User>,
    pub(crate) interfaces: Vec<String>,
    pub(crate) interface_lists: Vec<String>,
    /// Seconds added to the wall clock (tests let time pass).
    pub(crate) clock_offset: u64,
    pub(crate) history: Option<History>,
    pub(crate) version: String,
}

fn wall_clock() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

pub(crate) fn format_id(n: u64) -> String {
    format!("*{n:X}")
}

/// `*1a` or `*1A` (RouterOS takes either case).
pub(crate) fn parse_id(s: &str) -> Option<u64> {
    u64::from_str_radix(s.trim().strip_prefix('*')?, 16).ok()
}

// ------------------------------------------------------------ value syntax

/// A RouterOS time interval in seconds: `1w2d3h4m5s`, `HH:MM:SS`, seconds.
pub(crate) fn parse_time(s: &str) -> Option<u64> {
    let t = s.trim();
    if t.is_empty() {
        return None;
    }
    if t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse().ok();
    }
    if let [h, m, sec] = t.split(':').collect::<Vec<_>>()[..] {
        let h: u64 = h.parse().ok()?;
        let m: u64 = m.parse().ok()?;
        let sec: u64 = sec.parse().ok()?;
        return (m < 60 && sec < 60).then_some(h * 3600 + m * 60 + sec);
    }
    let mut total = 0u64;
    let mut num = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit = match c {
            'w' => 604_800,
            'd' => 86_400,
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        let n: u64 = num.parse().ok()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
        num.clear();
    }
    num.is_empty().then_some(total)
}

/// How RouterOS prints a time interval.
pub(crate) fn print_time(mut secs: u64) -> String {
    if secs == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (size, unit) in [
        (604_800, 'w'),
        (86_400, 'd'),
        (3600, 'h'),
        (60, 'm'),
        (1, 's'),
    ] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

/// The longest time interval RouterOS takes (`35w3d13h13m56s`).
const MAX_TIME: u64 = 21_474_836;

fn ipv4(s: &str) -> Option<u32> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut v = 0u32;
    for p in parts {
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: u32 = p.parse().ok()?;
        if n > 255 {
            return None;
        }
        v = (v << 8) | n;
    }
    Some(v)
}

fn print_ipv4(v: u32) -> String {
    format!(
        "{}.{}.{}.{}",
        v >> 24,
        (v >> 16) & 255,
        (v >> 8) & 255,
        v & 255
    )
}

/// An IPv4 matcher as RouterOS stores it: `a.b.c.d`, `a.b.c.d/len` (a
/// single host without `/32`), or `first-last`. `ranges_to_prefix`: a
/// range that is exactly a prefix prints as the prefix (address lists).
fn normalize_address(s: &str, ranges_to_prefix: bool) -> Option<String> {
    let (neg, body) = match s.trim().strip_prefix('!') {
        Some(b) => ("!", b),
        None => ("", s.trim()),
    };
    if let Some((a, len)) = body.split_once('/') {
        let base = ipv4(a)?;
        let len: u32 = len.parse().ok().filter(|l| *l <= 32)?;
        if len == 32 {
            return Some(format!("{neg}{}", print_ipv4(base)));
        }
        return Some(format!("{neg}{}/{len}", print_ipv4(base)));
    }
    if let Some((a, b)) = body.split_once('-') {
        let (lo, hi) = (ipv4(a)?, ipv4(b)?);
        if lo > hi {
            return None;
        }
        if ranges_to_prefix {
            let size = u64::from(hi - lo) + 1;
            if size.is_power_of_two() && u64::from(lo) % size == 0 {
                let len = 32 - size.trailing_zeros();
                return Some(if len == 32 {
                    format!("{neg}{}", print_ipv4(lo))
                } else {
                    format!("{neg}{}/{len}", print_ipv4(lo))
                });
            }
        }
        return Some(format!("{neg}{}-{}", print_ipv4(lo), print_ipv4(hi)));
    }
    ipv4(body).map(|a| format!("{neg}{}", print_ipv4(a)))
}

/// Protocol numbers RouterOS prints by name (IANA numbers of the names the
/// inspect dump completes `protocol` to).
const PROTOCOL_NUMBERS: &[(u8, &str)] = &[
    (1, "icmp"),
    (2, "igmp"),
    (3, "ggp"),
    (4, "ipencap"),
    (5, "st"),
    (6, "tcp"),
    (8, "egp"),
    (12, "pup"),
    (17, "udp"),
    (20, "hmp"),
    (22, "xns-idp"),
    (27, "rdp"),
    (29, "iso-tp4"),
    (33, "dccp"),
    (36, "xtp"),
    (37, "ddp"),
    (38, "idpr-cmtp"),
    (41, "ipv6-encap"),
    (43, "ipv6-route"),
    (44, "ipv6-frag"),
    (46, "rsvp"),
    (47, "gre"),
    (50, "ipsec-esp"),
    (51, "ipsec-ah"),
    (58, "icmpv6"),
    (59, "ipv6-nonxt"),
    (60, "ipv6-opts"),
    (73, "rspf"),
    (81, "vmtp"),
    (89, "ospf"),
    (94, "ipip"),
    (97, "etherip"),
    (98, "encap"),
    (103, "pim"),
    (112, "vrrp"),
    (115, "l2tp"),
    (132, "sctp"),
    (136, "udp-lite"),
];

/// Protocols with ports (the firewall manual's `dst-port`).
const PORT_PROTOCOLS: &[&str] = &["tcp", "udp", "udp-lite", "sctp", "dccp"];

fn ports_ok(s: &str) -> bool {
    let body = s.strip_prefix('!').unwrap_or(s);
    !body.is_empty()
        && body.split(',').all(|part| {
            let port = |p: &str| {
                !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok()
            };
            match part.split_once('-') {
                Some((a, b)) => {
                    port(a) && port(b) && a.parse::<u16>().ok() <= b.parse::<u16>().ok()
                }
                None => port(part),
            }
        })
}

fn no_match(arg: &str) -> RosError {
    RosError::bad(format!("input does not match any value of {arg}"))
}

// ------------------------------------------------------------ the router

impl Router {
    pub(crate) fn new() -> Self {
        let mut tables = BTreeMap::new();
        for m in MENUS {
            tables.insert(
                (*m).to_string(),
                Table {
                    items: Vec::new(),
                    next: 1,
                },
            );
        }
        Self {
            tables,
            users: Vec::new(),
            interfaces: [
                "ether1", "ether2", "ether3", "ether4", "ether5", "bridge", "lo",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            interface_lists: ["all", "dynamic", "none", "static", "LAN", "WAN"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            clock_offset: 0,
            history: None,
            version: "7.22.3 (stable)".into(),
        }
    }

    pub(crate) fn now(&self) -> u64 {
        wall_clock() + self.clock_offset
    }

    /// Drop address-list entries whose timeout ran out.
    pub(crate) fn expire(&mut self) {
        let now = self.now();
        for t in self.tables.values_mut() {
            t.items.retain(|i| i.expires.is_none_or(|e| e > now));
        }
    }

    pub(crate) fn authenticate(&self, user: &str, password: &str) -> Option<Group> {
        self.users
            .iter()
            .find(|u| u.name == user && u.password == password)
            .map(|u| u.group)
    }

    fn table(&mut self, menu: &str) -> RosResult<&mut Table> {
        self.tables
            .get_mut(menu)
            .ok_or_else(|| RosError::bad("no such command or directory"))
    }

    /// The item as `GET` prints it.
    pub(crate) fn render(&self, menu: &str, item: &Item) -> Value {
        let mut m = Map::new();
        m.insert(".id".into(), json!(format_id(item.id)));
        for (k, v) in &item.props {
            m.insert(k.clone(), json!(v));
        }
        m.insert("dynamic".into(), json!(item.dynamic.to_string()));
        match menu {
            "ip/firewall/filter" | "ip/firewall/nat" => {
                m.insert("invalid".into(), json!("false"));
                m.insert("bytes".into(), json!("0"));
                m.insert("packets".into(), json!("0"));
            }
            "ip/firewall/address-list" => {
                m.insert("creation-time".into(), json!(print_date(item.created)));
                if let Some(e) = item.expires {
                    m.insert(
                        "timeout".into(),
                        json!(print_time(e.saturating_sub(self.now()))),
                    );
                }
            }
            _ => {}
        }
        Value::Object(m)
    }

    /// Every item of `menu`, printed, in order.
    pub(crate) fn print(&self, menu: &str) -> Vec<Value> {
        self.tables
            .get(menu)
            .map(|t| t.items.iter().map(|i| self.render(menu, i)).collect())
            .unwrap_or_default()
    }

    /// Checks one argument value and returns it as RouterOS stores it.
    fn normalize(&self, menu: &str, arg: &str, spec: &Arg, value: &str) -> RosResult<String> {
        let v = value.to_string();
        if let Some(choices) = &spec.choices {
            let (neg, body) = match v.strip_prefix('!') {
                Some(b) if spec.negatable => ("!", b.to_string()),
                _ => ("", v.clone()),
            };
            // Yes/no arguments print as booleans.
            if choices.iter().any(|c| c == "yes") {
                return match body.as_str() {
                    "yes" | "true" => Ok("true".into()),
                    "no" | "false" => Ok("false".into()),
                    _ => Err(no_match(arg)),
                };
            }
            let multi = matches!(
                arg,
                "connection-state" | "connection-nat-state" | "tcp-flags"
            );
            if multi {
                let given: Vec<&str> = body.split(',').map(str::trim).collect();
                if given.iter().any(|g| !choices.iter().any(|c| c == g)) {
                    return Err(no_match(arg));
                }
                // Printed in the order RouterOS lists the values.
                let ordered: Vec<&str> = choices
                    .iter()
                    .map(String::as_str)
                    .filter(|c| given.contains(c))
                    .collect();
                return Ok(format!("{neg}{}", ordered.join(",")));
            }
            if arg == "protocol"
                && let Ok(n) = body.parse::<u8>()
            {
                let name = PROTOCOL_NUMBERS
                    .iter()
                    .find(|(p, _)| *p == n)
                    .map_or_else(|| n.to_string(), |(_, name)| (*name).to_string());
                return Ok(format!("{neg}{name}"));
            }
            if !choices.contains(&body) {
                return Err(no_match(arg));
            }
            return Ok(format!("{neg}{body}"));
        }
        match arg {
            "src-address" | "dst-address" | "to-addresses" => {
                normalize_address(&v, false).ok_or_else(|| no_match(arg))
            }
            "address" if menu == "ip/firewall/address-list" => {
                if let Some(a) = normalize_address(&v, true) {
                    return Ok(a);
                }
                let name_ok = !v.is_empty()
                    && v.split('.').all(|l| {
                        !l.is_empty()
                            && l.bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                    });
                if name_ok { Ok(v) } else { Err(no_match(arg)) }
            }
            "address" => v
                .parse::<std::net::IpAddr>()
                .map(|ip| ip.to_string())
                .map_err(|_| no_match(arg)),
            "src-port" | "dst-port" | "port" | "to-ports" => {
                // An empty value is kept as given (terraform-routeros#995).
                if v.is_empty() || ports_ok(&v) {
                    Ok(v)
                } else {
                    Err(no_match(arg))
                }
            }
            "timeout" | "ttl" | "address-list-timeout" => {
                if arg == "address-list-timeout" && (v == "none-dynamic" || v == "none-static") {
                    return Ok(v);
                }
                match parse_time(&v) {
                    Some(t) if t <= MAX_TIME => Ok(print_time(t)),
                    _ => Err(RosError::bad(format!("invalid value for argument {arg}"))),
                }
            }
            "in-interface" | "out-interface" => {
                let body = v.strip_prefix('!').unwrap_or(&v);
                let known = self.interfaces.iter().any(|i| i == body)
                    || ["all-ethernet", "all-ppp", "all-vlan", "all-wireless"].contains(&body);
                if known {
                    Ok(v)
                } else {
                    Err(no_match("interface"))
                }
            }
            "in-interface-list" | "out-interface-list" => {
                let body = v.strip_prefix('!').unwrap_or(&v);
                if self.interface_lists.iter().any(|i| i == body) {
                    Ok(v)
                } else {
                    Err(no_match("interface-list"))
                }
            }
            "log-prefix" if v.chars().count() > 31 => Err(RosError::bad(
                "failure: log-prefix is longer than 31 characters (wording not documented)",
            )),
            "mx-preference" | "srv-port" | "srv-priority" | "srv-weight" => v
                .trim()
                .parse::<u16>()
                .map(|n| n.to_string())
                .map_err(|_| RosError::bad(format!("invalid value for argument {arg}"))),
            _ => Ok(v),
        }
    }

    /// `add`: a new item (before `place-before`, else at the end).
    pub(crate) fn add(&mut self, menu: &str, args: &[(String, String)]) -> RosResult<Value> {
        let schema = schema(menu).ok_or_else(|| RosError::bad("no such command or directory"))?;
        let mut props = BTreeMap::new();
        let mut place_before = None;
        for (k, v) in args {
            let spec = schema
                .add
                .get(k)
                .ok_or_else(|| RosError::bad(format!("unknown parameter {k}")))?;
            match k.as_str() {
                "place-before" => place_before = Some(v.clone()),
                "copy-from" => {}
                _ => {
                    props.insert(k.clone(), self.normalize(menu, k, spec, v)?);
                }
            }
        }
        if props.get("comment").is_some_and(String::is_empty) {
            props.remove("comment");
        }
        let now = self.now();
        let mut expires = None;
        let mut dynamic = false;
        match menu {
            "ip/firewall/filter" | "ip/firewall/nat" => {
                if !props.contains_key("chain") {
                    return Err(RosError::bad(
                        "failure: chain not specified (wording not documented)",
                    ));
                }
                props
                    .entry("action".into())
                    .or_insert_with(|| "accept".into());
                props
                    .entry("disabled".into())
                    .or_insert_with(|| "false".into());
                props.entry("log".into()).or_insert_with(|| "false".into());
                props.entry("log-prefix".into()).or_insert_with(String::new);
                check_ports(&props)?;
            }
            "ip/firewall/address-list" => {
                let (Some(list), Some(address)) = (props.get("list"), props.get("address")) else {
                    return Err(RosError::bad(
                        "failure: list and address must be set (wording not documented)",
                    ));
                };
                let dup = self.tables.get(menu).is_some_and(|t| {
                    t.items.iter().any(|i| {
                        i.props.get("list") == Some(list) && i.props.get("address") == Some(address)
                    })
                });
                if dup {
                    return Err(RosError::bad("failure: already have such entry"));
                }
                props
                    .entry("disabled".into())
                    .or_insert_with(|| "false".into());
                if let Some(t) = props.remove("timeout") {
                    let secs = parse_time(&t).unwrap_or(0);
                    expires = Some(now + secs);
                    dynamic = true;
                }
                props.remove("dynamic");
            }
            "ip/dns/static" => {
                if props.contains_key("name") == props.contains_key("regexp") {
                    return Err(RosError::bad(
                        "failure: name or regexp must be set (wording not documented)",
                    ));
                }
                if props.get("type").map(String::as_str) == Some("A") {
                    props.remove("type");
                }
                props
                    .entry("disabled".into())
                    .or_insert_with(|| "false".into());
                props.entry("ttl".into()).or_insert_with(|| "1d".into());
            }
            _ => {}
        }
        let table = self.table(menu)?;
        let at = match &place_before {
            None => table.items.len(),
            Some(p) => position(table, p)?,
        };
        if let Some(target) = table.items.get(at)
            && place_before.is_some()
            && target.builtin
        {
            return Err(RosError::bad("failure: cannot move builtin"));
        }
        let id = table.next;
        table.next += 1;
        table.items.insert(
            at,
            Item {
                id,
                props,
                dynamic,
                builtin: false,
                expires,
                created: now,
            },
        );
        let item = table.items[at].clone();
        Ok(self.render(menu, &item))
    }

    /// `set` (and `!name` to unset) on item `id`.
    pub(crate) fn set(
        &mut self,
        menu: &str,
        id: &str,
        args: &[(String, String)],
    ) -> RosResult<Value> {
        let schema = schema(menu).ok_or_else(|| RosError::bad("no such command or directory"))?;
        let n = parse_id(id).ok_or_else(RosError::not_found)?;
        let mut sets = Vec::new();
        let mut unsets = Vec::new();
        for (k, v) in args {
            if let Some(name) = k.strip_prefix('!') {
                if !schema.unset.iter().any(|u| u == name) {
                    return Err(RosError::bad(format!("unknown parameter {k}")));
                }
                unsets.push(name.to_string());
                continue;
            }
            if k == "numbers" || k == ".id" {
                continue;
            }
            let spec = schema
                .set
                .get(k)
                .ok_or_else(|| RosError::bad(format!("unknown parameter {k}")))?;
            sets.push((k.clone(), self.normalize(menu, k, spec, v)?));
        }
        let now = self.now();
        let table = self.table(menu)?;
        let item = table
            .items
            .iter_mut()
            .find(|i| i.id == n)
            .ok_or_else(RosError::not_found)?;
        if item.builtin {
            return Err(RosError::bad(
                "failure: cannot change builtin (wording not documented)",
            ));
        }
        let mut next = item.props.clone();
        let mut expires = item.expires;
        for (k, v) in sets {
            if menu == "ip/firewall/address-list" && k == "timeout" {
                expires = Some(now + parse_time(&v).unwrap_or(0));
                continue;
            }
            if menu == "ip/dns/static" && k == "type" && v == "A" {
                next.remove("type");
                continue;
            }
            next.insert(k, v);
        }
        for k in unsets {
            next.remove(&k);
        }
        // An empty comment is no comment (GET omits the key).
        if next.get("comment").is_some_and(String::is_empty) {
            next.remove("comment");
        }
        if menu == "ip/firewall/filter" || menu == "ip/firewall/nat" {
            check_ports(&next)?;
        }
        item.props = next;
        item.expires = expires;
        item.dynamic = item.dynamic || expires.is_some();
        let item = item.clone();
        Ok(self.render(menu, &item))
    }

    /// `remove` of item `id`.
    pub(crate) fn remove(&mut self, menu: &str, id: &str) -> RosResult<()> {
        let n = parse_id(id).ok_or_else(RosError::not_found)?;
        let table = self.table(menu)?;
        let at = table
            .items
            .iter()
            .position(|i| i.id == n)
            .ok_or_else(RosError::not_found)?;
        if table.items[at].builtin {
            return Err(RosError::bad(
                "failure: cannot remove builtin (wording not documented)",
            ));
        }
        table.items.remove(at);
        Ok(())
    }

    /// `move`: `numbers` (ids, in order) go before `destination` (to the
    /// end without one).
    pub(crate) fn move_items(
        &mut self,
        menu: &str,
        numbers: &[String],
        destination: Option<&str>,
    ) -> RosResult<()> {
        let table = self.table(menu)?;
        let mut moving = Vec::new();
        for s in numbers {
            let at = position(table, s)?;
            if table.items[at].builtin {
                return Err(RosError::bad("failure: cannot move builtin"));
            }
            moving.push(table.items[at].id);
        }
        let dest_id = match destination {
            None => None,
            Some(d) => {
                let at = position(table, d)?;
                if table.items[at].builtin {
                    return Err(RosError::bad("failure: cannot move builtin"));
                }
                Some(table.items[at].id)
            }
        };
        if dest_id.is_some_and(|d| moving.contains(&d)) {
            // Before itself: nothing moves.
            return Ok(());
        }
        let mut taken = Vec::new();
        for id in &moving {
            if let Some(at) = table.items.iter().position(|i| i.id == *id) {
                taken.push(table.items.remove(at));
            }
        }
        let at = match dest_id {
            None => table.items.len(),
            Some(d) => table
                .items
                .iter()
                .position(|i| i.id == d)
                .unwrap_or(table.items.len()),
        };
        for (k, item) in taken.into_iter().enumerate() {
            table.items.insert(at + k, item);
        }
        Ok(())
    }

    /// Record the chain after a request that changed `menu`.
    pub(crate) fn after_change(&mut self, menu: &str) {
        let Some(h) = &self.history else { return };
        if h.menu != menu {
            return;
        }
        let chain = h.chain.clone();
        let snapshot: Vec<Value> = self
            .print(menu)
            .into_iter()
            .filter(|v| v.get("chain").and_then(Value::as_str) == Some(chain.as_str()))
            .collect();
        if let Some(h) = &mut self.history {
            h.snapshots.push(snapshot);
        }
    }

    /// An item RouterOS makes itself (dynamic; `builtin`: immovable).
    pub(crate) fn add_dynamic(
        &mut self,
        menu: &str,
        props: BTreeMap<String, String>,
        builtin: bool,
        at: usize,
    ) -> RosResult<Value> {
        let now = self.now();
        let table = self.table(menu)?;
        let id = table.next;
        table.next += 1;
        let at = at.min(table.items.len());
        table.items.insert(
            at,
            Item {
                id,
                props,
                dynamic: true,
                builtin,
                expires: None,
                created: now,
            },
        );
        let item = table.items[at].clone();
        Ok(self.render(menu, &item))
    }
}

/// The position of `*ID`, or of a printed index (`0`, as the console's
/// numbers are).
fn position(table: &Table, s: &str) -> RosResult<usize> {
    let s = s.trim();
    if let Some(n) = parse_id(s) {
        return table
            .items
            .iter()
            .position(|i| i.id == n)
            .ok_or_else(|| RosError::bad(format!("no such item ({s})")));
    }
    match s.parse::<usize>() {
        Ok(i) if i < table.items.len() => Ok(i),
        _ => Err(RosError::bad(format!("no such item ({s})"))),
    }
}

fn check_ports(props: &BTreeMap<String, String>) -> RosResult<()> {
    let has_ports = ["src-port", "dst-port", "port"]
        .iter()
        .any(|k| props.get(*k).is_some_and(|v| !v.is_empty()));
    if !has_ports {
        return Ok(());
    }
    match props.get("protocol") {
        Some(p) if PORT_PROTOCOLS.contains(&p.as_str()) => Ok(()),
        _ => Err(RosError::bad(
            "failure: ports can be set only with protocol tcp, udp, udp-lite, sctp or dccp \
             (wording not documented)",
        )),
    }
}

/// `2026-01-02 03:04:05`, as RouterOS 7 prints dates.
fn print_date(secs: u64) -> String {
    let s = crate::common::text::format_rfc3339(secs, 0, 0);
    s.trim_end_matches('Z').replace('T', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_is_loaded() {
        let f = schema("ip/firewall/filter").expect("filter");
        assert!(f.add.contains_key("place-before"));
        assert!(!f.set.contains_key("place-before"));
        assert!(f.unset.iter().any(|u| u == "dst-port"));
        assert!(!f.unset.iter().any(|u| u == "comment"));
        assert!(
            schema("ip/firewall/address-list")
                .expect("al")
                .unset
                .is_empty()
        );
    }

    #[test]
    fn values_print_like_routeros() {
        assert_eq!(print_time(parse_time("24h").unwrap_or(0)), "1d");
        assert_eq!(print_time(parse_time("00:00:10").unwrap_or(0)), "10s");
        assert_eq!(
            normalize_address("10.0.0.1/32", false).as_deref(),
            Some("10.0.0.1")
        );
        assert_eq!(
            normalize_address("192.168.0.0-192.168.1.255", true).as_deref(),
            Some("192.168.0.0/23")
        );
        assert_eq!(
            normalize_address("192.168.0.0-192.168.1.255", false).as_deref(),
            Some("192.168.0.0-192.168.1.255")
        );
        assert!(normalize_address("10.0.0.256", false).is_none());
        assert!(ports_ok("80,443") && ports_ok("!1000-2000") && !ports_ok("70000"));
    }
}
