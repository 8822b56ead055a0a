//! The simulated pfSense box behind pfSense-pkg-RESTAPI v2.10: its stored
//! configuration (`filter/rule`, `aliases/alias`), the running filter,
//! interfaces, users and keys, and the package's model semantics.
//!
//! What is modelled, and from where (paths under the package's
//! `pfSense-pkg-RESTAPI/files/usr/local/pkg/RESTAPI/`, tag v2.10.0, and the
//! package's native schema, as embedded in pfrest/ansible-collection-pfsense
//! `plugins/module_utils/embedded_schema.py`):
//! - ids are positions in the stored list and shift after every create with
//!   `placement`, move and delete; `placement` is `min(placement, count)`,
//!   the object is taken out and put back there, and a position past the
//!   last one fails with 500 `MODEL_FAILED_TO_SET_PLACEMENT` before the
//!   configuration is written (`Core/Model.inc` `set_placement`, `_create`,
//!   `_update`);
//! - `tracker`, `created_time` and `updated_time` are `time()`
//!   (`UnixTimeField` `auto_add_now`): rules made in the same second share a
//!   tracker (`Models/FirewallRule.inc`);
//! - field checks: required, type, choices, `conditions` that silently null
//!   a field (`Core/Field.inc`), `FilterAddressField`, `PortField`,
//!   `InterfaceField` (names per `represent_interfaces_as`, default
//!   `descr`), the rule and alias validators (`Models/FirewallRule.inc`,
//!   `Models/FirewallAlias.inc`, `Validators/FilterNameValidator.inc`);
//!   `many_minimum = 1` for rules (403 `MODEL_MANY_MINIMUM_REACHED`);
//! - pending changes: only alias writes mark the `aliases` subsystem dirty
//!   (FirewallRule has no `subsystem`); `POST /firewall/apply` reloads the
//!   filter and clears nothing (its model has no subsystem); `apply: true`
//!   on an alias write clears `aliases` (`Core/Model.inc` `create`/`update`);
//! - deleting an alias is never refused (no `referenced_by` in v2.10); a
//!   filter reload with a rule naming a missing alias fails and keeps the
//!   old running filter (pfSense's `filter_configure` logs the error; the
//!   API call still answers 200).
//!
//! Error wording follows the package's `message`/`response_id` pairs where
//! the sources give them; the client shows them and tests match the ids.

use std::collections::BTreeSet;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

/// An error answer of the package: HTTP status, `response_id`, `message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PfError {
    pub(crate) status: u16,
    pub(crate) id: String,
    pub(crate) message: String,
}

impl PfError {
    pub(crate) fn new(status: u16, id: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            id: id.into(),
            message: message.into(),
        }
    }
    pub(crate) fn bad(id: &str, message: impl Into<String>) -> Self {
        Self::new(400, id, message)
    }
}

pub(crate) type PfResult<T> = Result<T, PfError>;

/// How the API names interfaces (`represent_interfaces_as`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Descr,
    Id,
    If,
}

/// An interface of the box.
#[derive(Debug, Clone)]
pub(crate) struct Iface {
    pub(crate) id: String,
    pub(crate) device: String,
    pub(crate) descr: String,
}

impl Iface {
    fn name(&self, mode: Mode) -> String {
        match mode {
            Mode::Descr if self.descr.is_empty() => self.id.to_uppercase(),
            Mode::Descr => self.descr.clone(),
            Mode::Id => self.id.clone(),
            Mode::If => self.device.clone(),
        }
    }
}

/// A user and its privileges.
#[derive(Debug, Clone)]
pub(crate) struct User {
    pub(crate) name: String,
    pub(crate) password: String,
    pub(crate) privileges: Vec<String>,
}

/// A copy of one interface's rules after every change.
#[derive(Debug, Clone)]
pub(crate) struct History {
    pub(crate) interface: String,
    pub(crate) snapshots: Vec<Vec<Value>>,
}

/// The box.
#[derive(Debug)]
pub(crate) struct Pf {
    /// `filter/rule`, stored form: `interface` holds internal ids, addresses
    /// naming an interface hold `@id` (so they follow the naming mode).
    pub(crate) rules: Vec<Map<String, Value>>,
    pub(crate) aliases: Vec<Map<String, Value>>,
    /// The running filter: the rules and aliases of the last good reload.
    pub(crate) live_rules: Vec<Map<String, Value>>,
    pub(crate) live_aliases: Vec<Map<String, Value>>,
    pub(crate) filter_errors: Vec<String>,
    pub(crate) interfaces: Vec<Iface>,
    pub(crate) gateways: Vec<String>,
    pub(crate) schedules: Vec<String>,
    pub(crate) mode: Mode,
    pub(crate) auth_methods: Vec<String>,
    pub(crate) users: Vec<User>,
    /// API key -> user.
    pub(crate) keys: Vec<(String, String)>,
    pub(crate) dirty: BTreeSet<String>,
    pub(crate) applies: u64,
    /// The next applies answer 503 (the dispatcher queue is full).
    pub(crate) queue_full: usize,
    /// A fixed `time()` (tests), else the wall clock.
    pub(crate) clock: Option<i64>,
    pub(crate) history: Option<History>,
    /// `nat/rule`: the port forwards, stored form (see `nat.rs`).
    pub(crate) port_forwards: Vec<Map<String, Value>>,
    /// `dnshaper/queue`: the traffic shaper limiters (see `nat.rs`).
    pub(crate) limiters: Vec<Map<String, Value>>,
    /// How many `get_unique_id()` values were handed out.
    pub(crate) unique_ids: u64,
}

/// The rule fields of the native schema, in its order, with defaults.
fn rule_defaults() -> Map<String, Value> {
    let mut m = Map::new();
    for (k, v) in [
        ("type", Value::Null),
        ("interface", json!([])),
        ("ipprotocol", Value::Null),
        ("protocol", Value::Null),
        ("icmptype", json!(["any"])),
        ("source", Value::Null),
        ("source_port", Value::Null),
        ("destination", Value::Null),
        ("destination_port", Value::Null),
        ("descr", json!("")),
        ("disabled", json!(false)),
        ("log", json!(false)),
        ("dscp", Value::Null),
        ("tag", json!("")),
        ("statetype", json!("keep state")),
        ("tcp_flags_any", json!(false)),
        ("tcp_flags_out_of", Value::Null),
        ("tcp_flags_set", Value::Null),
        ("gateway", Value::Null),
        ("sched", Value::Null),
        ("dnpipe", Value::Null),
        ("pdnpipe", Value::Null),
        ("defaultqueue", Value::Null),
        ("ackqueue", Value::Null),
        ("floating", json!(false)),
        ("quick", json!(false)),
        ("direction", json!("any")),
    ] {
        m.insert(k.into(), v);
    }
    m
}

const READ_ONLY: &[&str] = &[
    "tracker",
    "associated_rule_id",
    "created_time",
    "created_by",
    "updated_time",
    "updated_by",
];

/// The package's native schema for the firewall endpoints (v2.10, the
/// pfREST Ansible collection's embedded `native.json`, extracted as
/// `schema.json` beside this file).
/// Field choices and conditions come from here.
pub(crate) fn native_schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| serde_json::from_str(include_str!("schema.json")).unwrap_or(Value::Null))
}

/// A field of a model in the native schema.
pub(crate) fn field(model: &str, name: &str) -> &'static Value {
    &native_schema()["models"][model]["fields"][name]
}

/// The choices of a field (empty: any value).
pub(super) fn choices(model: &str, name: &str) -> Vec<&'static str> {
    field(model, name)["choices"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The protocols a field's `conditions` require (`source_port`: tcp, udp, tcp/udp).
fn condition_protocols(name: &str) -> Vec<&'static str> {
    field(RULE, name)["conditions"]["protocol"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

const RULE: &str = "FirewallRule";

/// `firewall_aliases_edit.php` `$reserved_keywords` (`get_pf_reserved()`).
pub(super) const RESERVED: &[&str] = &[
    "all", "pass", "block", "out", "queue", "max", "min", "pptp", "pppoe", "L2TP", "OpenVPN",
    "IPsec",
];

pub(super) fn is_ipv4(s: &str) -> bool {
    s.parse::<std::net::Ipv4Addr>().is_ok()
}
pub(super) fn is_ipv6(s: &str) -> bool {
    s.parse::<std::net::Ipv6Addr>().is_ok()
}
pub(super) fn is_ip(s: &str) -> bool {
    is_ipv4(s) || is_ipv6(s)
}
/// `is_subnet`: an address and a prefix 1-32 / 1-128.
pub(super) fn is_subnet(s: &str) -> bool {
    let Some((a, n)) = s.split_once('/') else {
        return false;
    };
    let Ok(n) = n.parse::<u32>() else {
        return false;
    };
    (is_ipv4(a) && (1..=32).contains(&n)) || (is_ipv6(a) && (1..=128).contains(&n))
}
/// `is_fqdn`.
fn is_fqdn(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|l| {
            let b = l.as_bytes();
            let edge = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
            !b.is_empty()
                && edge(b[0])
                && edge(b[b.len() - 1])
                && b.iter().all(|&c| edge(c) || c == b'-')
        })
}
/// `is_port`: 1-65535 (service names aside).
pub(super) fn is_port(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 5
        && s.bytes().all(|b| b.is_ascii_digit())
        && s.parse::<u32>().is_ok_and(|p| (1..=65_535).contains(&p))
}
/// `is_portrange`: `a:b`.
pub(super) fn is_port_range(s: &str) -> bool {
    s.split_once(':')
        .is_some_and(|(a, b)| is_port(a) && is_port(b))
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "double",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

pub(super) fn invalid_type(field: &str, want: &str, v: &Value) -> PfError {
    PfError::bad(
        "FIELD_INVALID_TYPE",
        format!(
            "Field `{field}` must be of type `{want}`, received `{}`.",
            type_name(v)
        ),
    )
}

pub(super) fn invalid_choice(field: &str, v: &str, choices: &[String]) -> PfError {
    PfError::bad(
        "FIELD_INVALID_CHOICE",
        format!(
            "Field `{field}` must be one of [{}], received `{v}`.",
            choices.join(", ")
        ),
    )
}

pub(super) fn required(field: &str) -> PfError {
    PfError::bad("FIELD_IS_REQUIRED", format!("Field `{field}` is required."))
}

/// A string field: `Ok(None)` for null (where allowed).
pub(super) fn string_field(
    m: &Map<String, Value>,
    field: &str,
    allow_null: bool,
    choices: Option<&[&str]>,
) -> PfResult<Option<String>> {
    match m.get(field) {
        None | Some(Value::Null) if allow_null => Ok(None),
        None | Some(Value::Null) => Err(required(field)),
        Some(Value::String(s)) => {
            if let Some(c) = choices
                && !c.contains(&s.as_str())
            {
                return Err(invalid_choice(
                    field,
                    s,
                    &c.iter().map(|x| (*x).to_string()).collect::<Vec<_>>(),
                ));
            }
            if s.len() > 1024 {
                return Err(PfError::bad(
                    "STRING_FIELD_MAXIMUM_LENGTH_EXCEEDED",
                    format!("Field `{field}` exceeds the maximum character length of 1024."),
                ));
            }
            Ok(Some(s.clone()))
        }
        Some(v) => Err(invalid_type(field, "string", v)),
    }
}

pub(super) fn bool_field(m: &Map<String, Value>, field: &str) -> PfResult<bool> {
    match m.get(field) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(v) => Err(invalid_type(field, "boolean", v)),
    }
}

/// A `many` string field.
pub(super) fn strings_field(
    m: &Map<String, Value>,
    field: &str,
    choices: Option<&[&str]>,
) -> PfResult<Option<Vec<String>>> {
    match m.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => {
            let mut out = Vec::new();
            for v in a {
                let Value::String(s) = v else {
                    return Err(invalid_type(field, "string", v));
                };
                if let Some(c) = choices
                    && !c.contains(&s.as_str())
                {
                    return Err(invalid_choice(
                        field,
                        s,
                        &c.iter().map(|x| (*x).to_string()).collect::<Vec<_>>(),
                    ));
                }
                out.push(s.clone());
            }
            Ok(Some(out))
        }
        Some(v) => Err(invalid_type(field, "array", v)),
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Pf {
    pub(crate) fn new() -> Pf {
        let iface = |id: &str, device: &str, descr: &str| Iface {
            id: id.into(),
            device: device.into(),
            descr: descr.into(),
        };
        let mut pf = Pf {
            rules: Vec::new(),
            aliases: Vec::new(),
            live_rules: Vec::new(),
            live_aliases: Vec::new(),
            filter_errors: Vec::new(),
            interfaces: vec![
                iface("wan", "vtnet0", "WAN"),
                iface("lan", "vtnet1", "LAN"),
                iface("opt1", "vtnet2", "DMZ"),
            ],
            gateways: vec!["WAN_DHCP".into()],
            schedules: Vec::new(),
            mode: Mode::Descr,
            auth_methods: vec!["BasicAuth".into()],
            users: Vec::new(),
            keys: Vec::new(),
            dirty: BTreeSet::new(),
            applies: 0,
            queue_full: 0,
            clock: None,
            history: None,
            port_forwards: Vec::new(),
            limiters: Vec::new(),
            unique_ids: 0,
        };
        // A fresh pfSense's rules: the default LAN allow rules (config.xml
        // of a new install).
        let t = pf.now();
        for (ipp, descr) in [
            ("inet", "Default allow LAN to any rule"),
            ("inet6", "Default allow LAN IPv6 to any rule"),
        ] {
            let mut r = rule_defaults();
            r.insert("type".into(), json!("pass"));
            r.insert("interface".into(), json!(["lan"]));
            r.insert("ipprotocol".into(), json!(ipp));
            r.insert("source".into(), json!("@lan"));
            r.insert("destination".into(), json!("any"));
            r.insert("descr".into(), json!(descr));
            r.insert("tracker".into(), json!(t - 100_000));
            r.insert("associated_rule_id".into(), Value::Null);
            r.insert("created_time".into(), json!(t - 100_000));
            r.insert(
                "created_by".into(),
                json!("admin@127.0.0.1 (Local Database)"),
            );
            r.insert("updated_time".into(), json!(t - 100_000));
            r.insert(
                "updated_by".into(),
                json!("admin@127.0.0.1 (Local Database)"),
            );
            pf.rules.push(r);
        }
        pf.live_rules = pf.rules.clone();
        pf
    }

    pub(crate) fn now(&self) -> i64 {
        self.clock.unwrap_or_else(now_secs)
    }

    // ------------------------------------------------------------ interfaces

    pub(super) fn iface_by_name(&self, name: &str) -> Option<&Iface> {
        self.interfaces.iter().find(|i| i.name(self.mode) == name)
    }

    pub(super) fn iface_name(&self, id: &str) -> String {
        self.interfaces
            .iter()
            .find(|i| i.id == id)
            .map_or_else(|| id.to_string(), |i| i.name(self.mode))
    }

    /// The interface choices (`InterfaceField::get_interface_choices`).
    pub(super) fn interface_choices(&self) -> Vec<String> {
        let mut c: Vec<String> = self.interfaces.iter().map(|i| i.name(self.mode)).collect();
        c.extend(["enc0".into(), "openvpn".into(), "any".into()]);
        c
    }

    /// `GET /api/v2/interfaces`.
    pub(crate) fn interfaces_repr(&self) -> Value {
        Value::Array(
            self.interfaces
                .iter()
                .map(|i| {
                    json!({
                        "id": i.id, "if": i.device, "enable": true, "descr": i.descr,
                        "typev4": if i.id == "wan" { "dhcp" } else { "static" },
                    })
                })
                .collect(),
        )
    }

    // ------------------------------------------------------------ representation

    pub(super) fn address_repr(&self, stored: &str) -> String {
        let (neg, body) = match stored.strip_prefix('!') {
            Some(b) => ("!", b),
            None => ("", stored),
        };
        match body.strip_prefix('@') {
            Some(x) => {
                let (id, ip) = match x.strip_suffix(":ip") {
                    Some(id) => (id, ":ip"),
                    None => (x, ""),
                };
                format!("{neg}{}{ip}", self.iface_name(id))
            }
            None => stored.to_string(),
        }
    }

    /// A rule as the API shows it at position `id`.
    pub(crate) fn rule_repr(&self, id: usize, r: &Map<String, Value>) -> Value {
        let mut out = Map::new();
        out.insert("id".into(), json!(id));
        for (k, v) in r {
            let v = match k.as_str() {
                "interface" => Value::Array(
                    v.as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(Value::as_str)
                                .map(|i| json!(self.iface_name(i)))
                                .collect()
                        })
                        .unwrap_or_default(),
                ),
                "source" | "destination" => match v.as_str() {
                    Some(s) => json!(self.address_repr(s)),
                    None => v.clone(),
                },
                _ => v.clone(),
            };
            out.insert(k.clone(), v);
        }
        Value::Object(out)
    }

    pub(crate) fn rules_repr(&self) -> Value {
        Value::Array(
            self.rules
                .iter()
                .enumerate()
                .map(|(i, r)| self.rule_repr(i, r))
                .collect(),
        )
    }

    pub(crate) fn alias_repr(id: usize, a: &Map<String, Value>) -> Value {
        let mut out = Map::new();
        out.insert("id".into(), json!(id));
        for (k, v) in a {
            out.insert(k.clone(), v.clone());
        }
        Value::Object(out)
    }

    pub(crate) fn aliases_repr(&self) -> Value {
        Value::Array(
            self.aliases
                .iter()
                .enumerate()
                .map(|(i, a)| Self::alias_repr(i, a))
                .collect(),
        )
    }

    /// The rules of one interface (by its current name), as shown.
    pub(crate) fn interface_rules(&self, rules: &[Map<String, Value>], name: &str) -> Vec<Value> {
        rules
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                r.get("interface")
                    .and_then(Value::as_array)
                    .is_some_and(|a| {
                        a.iter().any(|i| {
                            i.as_str().map(|i| self.iface_name(i)).as_deref() == Some(name)
                        })
                    })
            })
            .map(|(i, r)| self.rule_repr(i, r))
            .collect()
    }

    /// Keep a copy of the recorded interface's rules.
    pub(crate) fn after_change(&mut self) {
        if let Some(h) = &self.history {
            let snap = self.interface_rules(&self.rules, &h.interface);
            if let Some(h) = &mut self.history {
                h.snapshots.push(snap);
            }
        }
    }

    // ------------------------------------------------------------ rule checks

    fn alias(&self, name: &str) -> Option<&Map<String, Value>> {
        self.aliases
            .iter()
            .find(|a| a.get("name").and_then(Value::as_str) == Some(name))
    }

    pub(super) fn alias_type(&self, name: &str) -> Option<String> {
        self.alias(name)
            .and_then(|a| a.get("type"))
            .and_then(Value::as_str)
            .map(str::to_string)
    }

    /// `FilterAddressField::validate_extra`, and the stored form.
    pub(super) fn address(&self, field: &str, v: &str) -> PfResult<String> {
        let (neg, body) = match v.strip_prefix('!') {
            Some(b) => ("!", b),
            None => ("", v),
        };
        if neg == "!" && body == "any" {
            return Err(PfError::bad(
                "FILTER_RULE_ADDRESS_FIELD_WITH_INVERT_ANY",
                format!("Field `{field}` cannot use invert prefix (!) with value `any`."),
            ));
        }
        let plain = is_ip(body)
            || is_subnet(body)
            || self.alias_type(body).is_some_and(|t| t != "port")
            || ["any", "(self)", "l2tp", "pppoe"].contains(&body);
        if plain {
            return Ok(v.to_string());
        }
        let (name, ip) = match body.strip_suffix(":ip") {
            Some(n) => (n, ":ip"),
            None => (body, ""),
        };
        if let Some(i) = self.iface_by_name(name) {
            return Ok(format!("{neg}@{}{ip}", i.id));
        }
        Err(PfError::bad(
            "FILTER_ADDRESS_FIELD_INVALID",
            format!(
                "Field `{field}` value `{body}` is invalid. Valid options are: an existing interface, an IP \
                 address, a subnet CIDR, an existing alias, `any`, `(self)`, `l2tp`, `pppoe`"
            ),
        ))
    }

    /// `PortField::validate_extra`.
    pub(super) fn port(&self, field: &str, v: &str) -> PfResult<()> {
        if self.alias_type(v).as_deref() == Some("port") || is_port_range(v) || is_port(v) {
            return Ok(());
        }
        Err(PfError::bad(
            "PORT_FIELD_INVALID",
            format!(
                "Field `{field}` contains invalid port value `{v}`. Valid options are: a TCP/UDP port \
                 number, a TCP/UDP port range separated by `:`, an existing port type firewall alias"
            ),
        ))
    }

    /// Validate a rule (`merged`: the stored rule with the request's fields
    /// over it, in representation form) into its stored form.
    fn check_rule(&self, merged: &Map<String, Value>) -> PfResult<Map<String, Value>> {
        let mut out = rule_defaults();
        out.insert(
            "type".into(),
            json!(string_field(
                merged,
                "type",
                false,
                Some(&choices(RULE, "type"))
            )?),
        );
        let floating = bool_field(merged, "floating")?;
        let ifaces =
            strings_field(merged, "interface", None)?.ok_or_else(|| required("interface"))?;
        let if_choices = self.interface_choices();
        let mut stored_ifaces = Vec::new();
        for i in &ifaces {
            if !if_choices.contains(i) {
                return Err(invalid_choice("interface", i, &if_choices));
            }
            stored_ifaces.push(
                self.iface_by_name(i)
                    .map_or_else(|| i.clone(), |x| x.id.clone()),
            );
        }
        if ifaces.len() > 1 && !floating {
            return Err(PfError::bad(
                "FIREWALL_RULE_MULTIPLE_INTERFACE_WITHOUT_FLOATING",
                "Field `interface` cannot contain more than one value unless `floating` is enabled.",
            ));
        }
        out.insert("interface".into(), json!(stored_ifaces));
        out.insert(
            "ipprotocol".into(),
            json!(string_field(
                merged,
                "ipprotocol",
                false,
                Some(&choices(RULE, "ipprotocol"))
            )?),
        );
        let protocol = string_field(merged, "protocol", true, Some(&choices(RULE, "protocol")))?;
        out.insert("protocol".into(), json!(protocol));
        let proto = protocol.as_deref();
        // Fields whose conditions fail are nulled, not validated (Core/Field.inc).
        if proto == Some("icmp") {
            let t = strings_field(merged, "icmptype", Some(&choices(RULE, "icmptype")))?
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| vec!["any".into()]);
            out.insert("icmptype".into(), json!(t));
        } else {
            out.insert("icmptype".into(), Value::Null);
        }
        for f in ["source", "destination"] {
            let v = string_field(merged, f, false, None)?.unwrap_or_default();
            out.insert(f.into(), json!(self.address(f, &v)?));
        }
        for f in ["source_port", "destination_port"] {
            if proto.is_some_and(|p| condition_protocols(f).contains(&p)) {
                let v = string_field(merged, f, true, None)?;
                if let Some(p) = &v {
                    self.port(f, p)?;
                }
                out.insert(f.into(), json!(v));
            } else {
                out.insert(f.into(), Value::Null);
            }
        }
        out.insert(
            "descr".into(),
            json!(string_field(merged, "descr", true, None)?.unwrap_or_default()),
        );
        out.insert("disabled".into(), json!(bool_field(merged, "disabled")?));
        out.insert("log".into(), json!(bool_field(merged, "log")?));
        out.insert(
            "dscp".into(),
            json!(string_field(
                merged,
                "dscp",
                true,
                Some(&choices(RULE, "dscp"))
            )?),
        );
        out.insert(
            "tag".into(),
            json!(string_field(merged, "tag", true, None)?.unwrap_or_default()),
        );
        let statetype = string_field(merged, "statetype", true, Some(&choices(RULE, "statetype")))?
            .unwrap_or_else(|| "keep state".into());
        let gateway = string_field(merged, "gateway", true, None)?;
        if statetype == "synproxy state" && proto != Some("tcp") {
            return Err(PfError::bad(
                "FIREWALL_RULE_SYNPROXY_STATE_TYPE_WITH_NON_TCP_PROTOCOL",
                "Field `statetype` cannot be set to `synproxy state` unless `protocol` is set to `tcp`.",
            ));
        }
        if statetype == "synproxy state" && gateway.is_some() {
            return Err(PfError::bad(
                "FIREWALL_RULE_SYNPROXY_STATE_TYPE_WITH_GATEWAY",
                "Field `statetype` cannot be set to `synproxy state` when a `gateway` value is set.",
            ));
        }
        out.insert("statetype".into(), json!(statetype));
        let any_flags = bool_field(merged, "tcp_flags_any")?;
        out.insert("tcp_flags_any".into(), json!(any_flags));
        if !any_flags {
            let out_of = strings_field(
                merged,
                "tcp_flags_out_of",
                Some(&choices(RULE, "tcp_flags_out_of")),
            )?;
            let set = strings_field(
                merged,
                "tcp_flags_set",
                Some(&choices(RULE, "tcp_flags_set")),
            )?;
            for f in set.iter().flatten() {
                if !out_of.iter().flatten().any(|o| o == f) {
                    return Err(PfError::bad(
                        "FIREWALL_RULE_TCP_FLAGS_SET_NOT_IN_TCP_FLAGS_OUT_OF",
                        format!(
                            "Field `tcp_flags_set` value `{f}` is not present in `tcp_flags_out_of`."
                        ),
                    ));
                }
            }
            out.insert("tcp_flags_out_of".into(), json!(out_of));
            out.insert("tcp_flags_set".into(), json!(set));
        }
        if let Some(g) = &gateway
            && !self.gateways.contains(g)
        {
            return Err(PfError::new(
                404,
                "FOREIGN_MODEL_FIELD_VALUE_NOT_FOUND",
                format!(
                    "Field `gateway` could not locate `RoutingGateway` object with `name` set to `{g}`"
                ),
            ));
        }
        out.insert("gateway".into(), json!(gateway));
        let sched = string_field(merged, "sched", true, None)?.filter(|s| !s.is_empty());
        if let Some(s) = &sched
            && !self.schedules.contains(s)
        {
            return Err(PfError::new(
                404,
                "FOREIGN_MODEL_FIELD_VALUE_NOT_FOUND",
                format!(
                    "Field `sched` could not locate `FirewallSchedule` object with `name` set to `{s}`"
                ),
            ));
        }
        out.insert("sched".into(), json!(sched));
        let (dnpipe, pdnpipe) = self.check_limiters(merged)?;
        out.insert("dnpipe".into(), json!(dnpipe));
        out.insert("pdnpipe".into(), json!(pdnpipe));
        for f in ["defaultqueue", "ackqueue"] {
            if let Some(v) = string_field(merged, f, true, None)? {
                return Err(PfError::new(
                    404,
                    "FOREIGN_MODEL_FIELD_VALUE_NOT_FOUND",
                    format!("Field `{f}` could not locate an object named `{v}`"),
                ));
            }
        }
        out.insert("floating".into(), json!(floating));
        if floating {
            out.insert("quick".into(), json!(bool_field(merged, "quick")?));
            out.insert(
                "direction".into(),
                json!(
                    string_field(merged, "direction", true, Some(&choices(RULE, "direction")))?
                        .unwrap_or_else(|| "any".into())
                ),
            );
        } else {
            out.insert("quick".into(), Value::Null);
            out.insert("direction".into(), Value::Null);
        }
        Ok(out)
    }

    /// Where `placement` puts the object (`set_placement`); `Err` past the end.
    fn place<T>(list: &mut Vec<T>, from: usize, placement: Option<i64>) -> PfResult<usize> {
        let Some(p) = placement else {
            return Ok(from);
        };
        let p = usize::try_from(p.max(0)).unwrap_or(0).min(list.len());
        let item = list.remove(from);
        if p > list.len() {
            list.insert(from, item);
            return Err(PfError::new(
                500,
                "MODEL_FAILED_TO_SET_PLACEMENT",
                "Failed to set placement for Model object.",
            ));
        }
        list.insert(p, item);
        Ok(p)
    }

    // ------------------------------------------------------------ rule CRUD

    /// `POST /api/v2/firewall/rule`.
    pub(crate) fn create_rule(
        &mut self,
        user: &str,
        data: &Map<String, Value>,
        placement: Option<i64>,
    ) -> PfResult<Value> {
        self.insert_rule(user, data, placement, None)
    }

    /// A rule create; `associated`: the `associated_rule_id` a port
    /// forward gives the rule it makes (`Models/PortForward.inc`
    /// `pre_apply_create`; the field is read-only to requests).
    pub(super) fn insert_rule(
        &mut self,
        user: &str,
        data: &Map<String, Value>,
        placement: Option<i64>,
        associated: Option<String>,
    ) -> PfResult<Value> {
        let mut merged = data.clone();
        for k in READ_ONLY {
            merged.remove(*k);
        }
        let mut r = self.check_rule(&merged)?;
        let t = self.now();
        let by = format!("{user}@127.0.0.1 (API)");
        r.insert("tracker".into(), json!(t));
        r.insert("associated_rule_id".into(), json!(associated));
        r.insert("created_time".into(), json!(t));
        r.insert("created_by".into(), json!(by));
        r.insert("updated_time".into(), json!(t));
        r.insert("updated_by".into(), json!(by));
        let mut list = self.rules.clone();
        list.push(r);
        let from = list.len() - 1;
        let at = Self::place(&mut list, from, placement)?;
        self.rules = list;
        self.after_change();
        Ok(self.rule_repr(at, &self.rules[at]))
    }

    fn rule_index(&self, id: Option<&Value>) -> PfResult<usize> {
        let Some(id) = id.filter(|v| !v.is_null()) else {
            return Err(PfError::bad("MODEL_REQUIRES_ID", "Field 'id' is required."));
        };
        let n = id.as_u64().and_then(|n| usize::try_from(n).ok());
        match n {
            Some(n) if n < self.rules.len() => Ok(n),
            _ => Err(PfError::new(
                404,
                "MODEL_OBJECT_NOT_FOUND",
                format!("Object with ID `{id}` does not exist."),
            )),
        }
    }

    /// `PATCH /api/v2/firewall/rule`.
    pub(crate) fn update_rule(
        &mut self,
        user: &str,
        data: &Map<String, Value>,
        placement: Option<i64>,
    ) -> PfResult<Value> {
        let i = self.rule_index(data.get("id"))?;
        let current = self.rules[i].clone();
        let Value::Object(mut merged) = self.rule_repr(i, &current) else {
            return Err(PfError::new(500, "SERVER_ERROR", "bad stored rule"));
        };
        merged.remove("id");
        for (k, v) in data {
            if k == "id" || READ_ONLY.contains(&k.as_str()) {
                continue;
            }
            if k == "floating" && v != merged.get("floating").unwrap_or(&Value::Null) {
                return Err(PfError::bad(
                    "FIELD_VALUE_CHANGED_WHEN_NOT_EDITABLE",
                    "Field `floating` is not editable.",
                ));
            }
            merged.insert(k.clone(), v.clone());
        }
        let mut r = self.check_rule(&merged)?;
        for k in [
            "tracker",
            "associated_rule_id",
            "created_time",
            "created_by",
        ] {
            r.insert(k.into(), current.get(k).cloned().unwrap_or(Value::Null));
        }
        r.insert("updated_time".into(), json!(self.now()));
        r.insert(
            "updated_by".into(),
            json!(format!("{user}@127.0.0.1 (API)")),
        );
        let mut list = self.rules.clone();
        list[i] = r;
        let at = Self::place(&mut list, i, placement)?;
        self.rules = list;
        self.after_change();
        Ok(self.rule_repr(at, &self.rules[at]))
    }

    /// `DELETE /api/v2/firewall/rule`.
    pub(crate) fn delete_rule(&mut self, id: Option<&Value>) -> PfResult<Value> {
        let Some(idv) = id.filter(|v| !v.is_null()) else {
            // Model::from_internal with a null id (Addendum 10).
            return Err(PfError::new(
                500,
                "MODEL_ID_REQUIRED_FOR_REFRESH",
                "An ID is required to refresh this object from its internal value.",
            ));
        };
        let i = self.rule_index(Some(idv))?;
        if self.rules.len() <= 1 {
            return Err(PfError::new(
                403,
                "MODEL_MANY_MINIMUM_REACHED",
                "Object deletion denied. Deleting this object would result in the number of existing \
                 objects falling below the minimum number allowed for this Model, 1.",
            ));
        }
        let shown = self.rule_repr(i, &self.rules[i]);
        self.rules.remove(i);
        self.after_change();
        Ok(shown)
    }

    // ------------------------------------------------------------ aliases

    fn alias_index(&self, id: Option<&Value>) -> PfResult<usize> {
        let Some(id) = id.filter(|v| !v.is_null()) else {
            return Err(PfError::bad("MODEL_REQUIRES_ID", "Field 'id' is required."));
        };
        match id.as_u64().and_then(|n| usize::try_from(n).ok()) {
            Some(n) if n < self.aliases.len() => Ok(n),
            _ => Err(PfError::new(
                404,
                "MODEL_OBJECT_NOT_FOUND",
                format!("Object with ID `{id}` does not exist."),
            )),
        }
    }

    fn check_alias(
        &self,
        m: &Map<String, Value>,
        own: Option<usize>,
    ) -> PfResult<Map<String, Value>> {
        let name = string_field(m, "name", false, None)?.unwrap_or_default();
        if name.len() > 31 {
            return Err(PfError::bad(
                "STRING_FIELD_MAXIMUM_LENGTH_EXCEEDED",
                "Field `name` exceeds the maximum character length of 31.",
            ));
        }
        if RESERVED.contains(&name.as_str()) {
            return Err(PfError::bad(
                "FILTER_NAME_VALIDATOR_RESERVED_NAME_USED",
                format!(
                    "Field 'name' cannot be '{name}' because it is a name reserved by the system."
                ),
            ));
        }
        if name.starts_with("pkg_") {
            return Err(PfError::bad(
                "FILTER_NAME_VALIDATOR_CANNOT_START_WITH_PKG",
                format!("Field 'name' cannot be '{name}' because it starts with 'pkg_'."),
            ));
        }
        if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PfError::bad(
                "FILTER_NAME_VALIDATOR_CANNOT_BE_NUMERICAL",
                format!("Field 'name' cannot be '{name}' because it is entirely numerical."),
            ));
        }
        if self.interfaces.iter().any(|i| i.id == name) {
            return Err(PfError::bad(
                "FILTER_NAME_VALIDATOR_NAME_IN_USE_BY_INTERFACE",
                format!(
                    "Field 'name' cannot be '{name}' because it is in use by an existing interface."
                ),
            ));
        }
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(PfError::bad(
                "INVALID_FIREWALL_ALIAS_NAME",
                format!("Invalid firewall alias name '{name}'."),
            ));
        }
        if self.aliases.iter().enumerate().any(|(i, a)| {
            Some(i) != own && a.get("name").and_then(Value::as_str) == Some(name.as_str())
        }) {
            return Err(PfError::bad(
                "FIELD_MUST_BE_UNIQUE",
                format!("Field `name` must be unique. Value `{name}` is already in use."),
            ));
        }
        let kind = string_field(m, "type", false, Some(&choices("FirewallAlias", "type")))?
            .unwrap_or_default();
        let descr = string_field(m, "descr", true, None)?.unwrap_or_default();
        let address = strings_field(m, "address", None)?.unwrap_or_default();
        let detail = strings_field(m, "detail", None)?.unwrap_or_default();
        for a in &address {
            let alias_t = self.alias_type(a).filter(|_| a != &name);
            let ok = match kind.as_str() {
                "port" => is_port(a) || is_port_range(a) || alias_t.as_deref() == Some("port"),
                "host" => is_ip(a) || is_fqdn(a) || alias_t.as_deref().is_some_and(|t| t != "port"),
                _ => is_subnet(a) || is_fqdn(a) || alias_t.as_deref().is_some_and(|t| t != "port"),
            };
            if !ok {
                let (id, what) = match kind.as_str() {
                    "port" => (
                        "INVALID_PORT_ALIAS_ADDRESS",
                        "is not a valid port, range, or alias",
                    ),
                    "host" => (
                        "INVALID_HOST_ALIAS_ADDRESS",
                        "is not a valid IP, FQDN, or alias",
                    ),
                    _ => (
                        "INVALID_NETWORK_ALIAS_ADDRESS",
                        "is not a valid CIDR, FQDN, or alias",
                    ),
                };
                let k = kind[..1].to_uppercase() + &kind[1..];
                return Err(PfError::bad(
                    id,
                    format!("{k} alias 'address' value '{a}' {what}."),
                ));
            }
        }
        if detail.len() > address.len() {
            return Err(PfError::bad(
                "TOO_MANY_ALIAS_DETAILS",
                "Aliases cannot contain more 'detail' items than 'address' items.",
            ));
        }
        let mut out = Map::new();
        out.insert("name".into(), json!(name));
        out.insert("type".into(), json!(kind));
        out.insert("descr".into(), json!(descr));
        out.insert("address".into(), json!(address));
        // validate_detail's padding is lost (Addendum 12): stored as sent.
        out.insert("detail".into(), json!(detail));
        Ok(out)
    }

    /// `POST /api/v2/firewall/alias`.
    pub(crate) fn create_alias(
        &mut self,
        data: &Map<String, Value>,
        apply: bool,
    ) -> PfResult<Value> {
        let a = self.check_alias(data, None)?;
        self.aliases.push(a);
        self.dirty.insert("aliases".into());
        if apply {
            self.reload_filter();
            self.dirty.remove("aliases");
        }
        let i = self.aliases.len() - 1;
        Ok(Self::alias_repr(i, &self.aliases[i]))
    }

    /// `PATCH /api/v2/firewall/alias`.
    pub(crate) fn update_alias(
        &mut self,
        data: &Map<String, Value>,
        apply: bool,
    ) -> PfResult<Value> {
        let i = self.alias_index(data.get("id"))?;
        let mut merged = self.aliases[i].clone();
        for (k, v) in data {
            if k == "id" {
                continue;
            }
            if k == "name" && Some(v) != merged.get("name") {
                return Err(PfError::bad(
                    "FIELD_VALUE_CHANGED_WHEN_NOT_EDITABLE",
                    "Field `name` is not editable.",
                ));
            }
            merged.insert(k.clone(), v.clone());
        }
        let a = self.check_alias(&merged, Some(i))?;
        self.aliases[i] = a;
        self.dirty.insert("aliases".into());
        if apply {
            self.reload_filter();
            self.dirty.remove("aliases");
        }
        Ok(Self::alias_repr(i, &self.aliases[i]))
    }

    /// `DELETE /api/v2/firewall/alias`: never refused for references.
    pub(crate) fn delete_alias(&mut self, id: Option<&Value>, apply: bool) -> PfResult<Value> {
        if id.is_none_or(Value::is_null) {
            return Err(PfError::new(
                500,
                "MODEL_ID_REQUIRED_FOR_REFRESH",
                "An ID is required to refresh this object from its internal value.",
            ));
        }
        let i = self.alias_index(id)?;
        let shown = Self::alias_repr(i, &self.aliases[i]);
        self.aliases.remove(i);
        self.dirty.insert("aliases".into());
        if apply {
            self.reload_filter();
            self.dirty.remove("aliases");
        }
        Ok(shown)
    }

    // ------------------------------------------------------------ apply

    /// Names a rule uses that must be aliases.
    fn alias_names(r: &Map<String, Value>) -> Vec<String> {
        let mut out = Vec::new();
        for f in ["source", "destination"] {
            if let Some(s) = r.get(f).and_then(Value::as_str) {
                let b = s.strip_prefix('!').unwrap_or(s);
                if !(b.starts_with('@')
                    || is_ip(b)
                    || is_subnet(b)
                    || ["any", "(self)", "l2tp", "pppoe"].contains(&b))
                {
                    out.push(b.to_string());
                }
            }
        }
        for f in ["source_port", "destination_port"] {
            if let Some(p) = r.get(f).and_then(Value::as_str)
                && !is_port(p)
                && !is_port_range(p)
            {
                out.push(p.to_string());
            }
        }
        out
    }

    /// pfSense's `filter_configure()`: load the configuration into the
    /// running filter, or keep the old one and log why not.
    pub(crate) fn reload_filter(&mut self) {
        for (i, r) in self.rules.iter().enumerate() {
            if r.get("disabled") == Some(&json!(true)) {
                continue;
            }
            for n in Self::alias_names(r) {
                if self.alias(&n).is_none() {
                    self.filter_errors.push(format!(
                        "There were error(s) loading the rules: /tmp/rules.debug: rule {i} \
                         ({}) uses undefined table or macro <{n}> - The line in question reads [{i}]",
                        r.get("descr").and_then(Value::as_str).unwrap_or("")
                    ));
                    return;
                }
            }
        }
        self.live_rules = self.rules.clone();
        self.live_aliases = self.aliases.clone();
    }

    /// `POST /api/v2/firewall/apply`.
    pub(crate) fn apply(&mut self) -> PfResult<Value> {
        if self.queue_full > 0 {
            self.queue_full -= 1;
            return Err(PfError::new(
                503,
                "DISPATCHER_TOO_MANY_QUEUED_PROCESSES",
                "Dispatcher allows for a maximum of `10` processes to be queued at once, try again \
                 after `300` seconds.",
            ));
        }
        self.applies += 1;
        self.reload_filter();
        Ok(self.apply_status())
    }

    /// `GET /api/v2/firewall/apply`.
    pub(crate) fn apply_status(&self) -> Value {
        json!({
            "applied": self.dirty.is_empty(),
            "pending_subsystems": self.dirty.iter().collect::<Vec<_>>(),
        })
    }

    /// `GET /api/v2/system/restapi/settings` (the fields clients read).
    pub(crate) fn settings_repr(&self) -> Value {
        json!({
            "enabled": true,
            "read_only": false,
            "represent_interfaces_as": match self.mode {
                Mode::Descr => "descr",
                Mode::Id => "id",
                Mode::If => "if",
            },
            "auth_methods": self.auth_methods,
            "jwt_exp": 3600,
            "login_protection": true,
        })
    }
}
