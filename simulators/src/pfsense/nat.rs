//! NAT port forwards (`nat/rule`) with their associated filter rules, and
//! traffic shaper limiters (`dnshaper/queue`) with the rules' `dnpipe` /
//! `pdnpipe` checks.
//!
//! From pfSense-pkg-RESTAPI v2.10 (`pfSense-pkg-RESTAPI/files/usr/local/pkg/RESTAPI/`,
//! and the native schema of v2.10):
//! - `Models/PortForward.inc`: fields, required ones and choices;
//!   `associated_rule_id` is a `ForeignModelField` to
//!   `FirewallRule.associated_rule_id` with the keywords `""` (no rule),
//!   `new` and `pass`; any other value must be an existing rule's
//!   `associated_rule_id` (404 `FOREIGN_MODEL_FIELD_VALUE_NOT_FOUND`).
//!   `_create` turns `new` into `get_unique_id()` (pfSense's
//!   `uniqid("nat_", true)`); `pre_apply_create` then makes a filter rule
//!   (`type` pass, the port forward's `disabled`, `[interface]`,
//!   `ipprotocol`, `protocol`, `source`, `source_port`, `destination` =
//!   `target`, `destination_port` = `local_port`, `descr` "Associated rule
//!   for port forward rule <id>") whose `associated_rule_id` is the port
//!   forward's; it is appended to `filter/rule` (no placement). A failure
//!   there is 500 `PORT_FORWARD_ASSOCIATED_FIREWALL_RULE_CREATION_FAILED`
//!   and the port forward, already written, stays. `pre_apply_update`
//!   rewrites those fields of the associated rule (not its description);
//!   `pre_apply_delete` deletes the rules with that `associated_rule_id`.
//!   `target` is a `SpecialNetworkField` (an IP address, a non-port alias,
//!   `<interface>:ip`), `local_port` a `PortField` without ranges, both
//!   only with `tcp`, `udp`, `tcp/udp` where the conditions say so.
//! - `Models/FirewallRule.inc`: `associated_rule_id` is `read_only` and
//!   `editable: false`, so a request's value is ignored; nothing else of
//!   the associated rule is protected (a PATCH of its fields succeeds and
//!   the next port forward update rewrites them). `validate_dnpipe` /
//!   `validate_pdnpipe` (`get_dnpipe_by_name`: a limiter's name, else a
//!   limiter queue's) give `FIREWALL_RULE_DNPIPE_NOT_FOUND`,
//!   `FIREWALL_RULE_PDNPIPE_SET_WITHOUT_DNPIPE`,
//!   `FIREWALL_RULE_PDNPIPE_CANNOT_MATCH_DNPIPE`,
//!   `FIREWALL_RULE_PDNPIPE_NOT_FOUND` and
//!   `FIREWALL_RULE_PDNPIPE_DOES_NOT_MATCH_DNPIPE_LIMITER_TYPE`.
//! - `Models/TrafficShaperLimiter.inc`: `name` required, unique,
//!   `FilterNameValidator`; `number` read-only, the next free pipe number
//!   (`dnpipe_find_nextnumber`); `aqm` and `sched` required with choices;
//!   `bandwidth` (`TrafficShaperLimiterBandwidth`: `bw`, `bwscale`,
//!   `bwsched`) and `queue` (`TrafficShaperLimiterQueue`) nested. Deleting
//!   a limiter is never refused (no `referenced_by`). The AQM and
//!   scheduler tuning parameters are not modelled (not stored, not shown).
//! - subsystems: port forwards mark `natconf` dirty, limiters `shaper`;
//!   `apply: true` on the write reloads the filter and clears it.

use serde_json::{Map, Value, json};

use super::state::{
    Pf, PfError, PfResult, RESERVED, bool_field, invalid_choice, invalid_type, is_ip,
    is_port_range, required, string_field,
};

/// `PortForward.protocol` choices.
const PF_PROTOCOLS: &[&str] = &[
    "any", "tcp", "udp", "tcp/udp", "icmp", "esp", "ah", "gre", "ipv6", "igmp", "pim", "ospf",
];
/// `PortForward.ipprotocol` choices.
const PF_IPPROTOCOLS: &[&str] = &["inet", "inet6", "inet46"];
/// `PortForward.natreflection` choices.
const NAT_REFLECTION: &[&str] = &["enable", "disable", "purenat"];
/// The protocols the port fields' `conditions` require.
const PORT_PROTOCOLS: &[&str] = &["tcp", "udp", "tcp/udp"];
/// `associated_rule_id` keywords (`allowed_keywords`).
const ASSOCIATED_KEYWORDS: &[&str] = &["", "new", "pass"];
/// Read-only port forward fields: a request's values are ignored.
const PF_READ_ONLY: &[&str] = &["created_time", "created_by", "updated_time", "updated_by"];

/// `TrafficShaperLimiter.mask` choices.
const MASKS: &[&str] = &["none", "srcaddress", "dstaddress"];
/// `aqm` choices.
const AQMS: &[&str] = &["droptail", "codel", "pie", "red", "gred"];
/// `sched` choices.
const SCHEDULERS: &[&str] = &["wf2q+", "fifo", "qfq", "rr", "prio", "fq_codel", "fq_pie"];
/// `TrafficShaperLimiterBandwidth.bwscale` choices.
const BW_SCALES: &[&str] = &["b", "Kb", "Mb"];

/// What a `dnpipe` name is (`get_dnpipe_by_name` returns either class).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pipe {
    /// A `TrafficShaperLimiter`.
    Limiter,
    /// A `TrafficShaperLimiterQueue` of some limiter.
    Queue,
}

fn not_found(id: &Value) -> PfError {
    PfError::new(
        404,
        "MODEL_OBJECT_NOT_FOUND",
        format!("Object with ID `{id}` does not exist."),
    )
}

fn index_in(len: usize, id: Option<&Value>) -> PfResult<usize> {
    let Some(id) = id.filter(|v| !v.is_null()) else {
        return Err(PfError::bad("MODEL_REQUIRES_ID", "Field 'id' is required."));
    };
    match id.as_u64().and_then(|n| usize::try_from(n).ok()) {
        Some(n) if n < len => Ok(n),
        _ => Err(not_found(id)),
    }
}

fn int_field(m: &Map<String, Value>, field: &str, default: Option<i64>) -> PfResult<Option<i64>> {
    match m.get(field) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Number(n)) if n.is_i64() => Ok(n.as_i64()),
        Some(v) => Err(invalid_type(field, "integer", v)),
    }
}

fn choice(m: &Map<String, Value>, field: &str, choices: &[&str]) -> PfResult<Option<String>> {
    string_field(m, field, true, Some(choices))
}

fn must_be_unique(field: &str, v: &str) -> PfError {
    PfError::bad(
        "FIELD_MUST_BE_UNIQUE",
        format!("Field `{field}` must be unique. Value `{v}` is already in use."),
    )
}

/// The smallest number from 1 that `used` lacks (`dnpipe_find_nextnumber`).
fn next_number(used: &[i64]) -> i64 {
    (1..).find(|n| !used.contains(n)).unwrap_or(1)
}

impl Pf {
    // ------------------------------------------------------------ limiters

    /// `get_dnpipe_by_name`: a limiter with that name, else a queue of one.
    pub(crate) fn pipe(&self, name: &str) -> Option<Pipe> {
        let named = |m: &Map<String, Value>| m.get("name").and_then(Value::as_str) == Some(name);
        if self.limiters.iter().any(named) {
            return Some(Pipe::Limiter);
        }
        self.limiters
            .iter()
            .flat_map(|l| {
                l.get("queue")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
            })
            .filter_map(Value::as_object)
            .any(named)
            .then_some(Pipe::Queue)
    }

    /// A rule's `dnpipe` and `pdnpipe` (`FirewallRule::validate_dnpipe`,
    /// `validate_pdnpipe`).
    pub(crate) fn check_limiters(
        &self,
        m: &Map<String, Value>,
    ) -> PfResult<(Option<String>, Option<String>)> {
        let dnpipe = string_field(m, "dnpipe", true, None)?;
        let pdnpipe = string_field(m, "pdnpipe", true, None)?;
        if let Some(d) = &dnpipe
            && self.pipe(d).is_none()
        {
            return Err(PfError::new(
                404,
                "FIREWALL_RULE_DNPIPE_NOT_FOUND",
                format!(
                    "Field `dnpipe` must be an existing Traffic Shaper Limiter or Limiter Queue. \
                     Could not locate object with `name` value `{d}`"
                ),
            ));
        }
        if let Some(p) = &pdnpipe {
            let Some(d) = dnpipe.as_deref().filter(|d| !d.is_empty()) else {
                return Err(PfError::bad(
                    "FIREWALL_RULE_PDNPIPE_SET_WITHOUT_DNPIPE",
                    "Field `pdnpipe` cannot be set unless `dnpipe` is also set.",
                ));
            };
            if p == d {
                return Err(PfError::bad(
                    "FIREWALL_RULE_PDNPIPE_CANNOT_MATCH_DNPIPE",
                    "Field `pdnpipe` cannot use the same limiter as `dnpipe`.",
                ));
            }
            let Some(kind) = self.pipe(p) else {
                return Err(PfError::new(
                    404,
                    "FIREWALL_RULE_PDNPIPE_NOT_FOUND",
                    format!(
                        "Field `pdnpipe` must be an existing Traffic Shaper Limiter or Limiter \
                         Queue. Could not locate object with `name` value `{p}`"
                    ),
                ));
            };
            if self.pipe(d) != Some(kind) {
                return Err(PfError::new(
                    409,
                    "FIREWALL_RULE_PDNPIPE_DOES_NOT_MATCH_DNPIPE_LIMITER_TYPE",
                    "Field `pdnpipe` must be of the same limiter type as `dnpipe`. A pipe and a \
                     queue cannot be used concurrently.",
                ));
            }
        }
        Ok((dnpipe, pdnpipe))
    }

    /// `FilterNameValidator` (the checks the alias names get too).
    fn filter_name(&self, field: &str, name: &str) -> PfResult<()> {
        if RESERVED.contains(&name) {
            return Err(PfError::bad(
                "FILTER_NAME_VALIDATOR_RESERVED_NAME_USED",
                format!(
                    "Field '{field}' cannot be '{name}' because it is a name reserved by the system."
                ),
            ));
        }
        if name.starts_with("pkg_") {
            return Err(PfError::bad(
                "FILTER_NAME_VALIDATOR_CANNOT_START_WITH_PKG",
                format!("Field '{field}' cannot be '{name}' because it starts with 'pkg_'."),
            ));
        }
        if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PfError::bad(
                "FILTER_NAME_VALIDATOR_CANNOT_BE_NUMERICAL",
                format!("Field '{field}' cannot be '{name}' because it is entirely numerical."),
            ));
        }
        if self.interfaces.iter().any(|i| i.id == name) {
            return Err(PfError::bad(
                "FILTER_NAME_VALIDATOR_NAME_IN_USE_BY_INTERFACE",
                format!(
                    "Field '{field}' cannot be '{name}' because it is in use by an existing interface."
                ),
            ));
        }
        Ok(())
    }

    /// Names of limiters and queues, but those of limiter `own`.
    fn pipe_names(&self, own: Option<usize>) -> Vec<String> {
        let mut out = Vec::new();
        for (i, l) in self.limiters.iter().enumerate() {
            if Some(i) == own {
                continue;
            }
            out.extend(l.get("name").and_then(Value::as_str).map(str::to_string));
            for q in l
                .get("queue")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                out.extend(q.get("name").and_then(Value::as_str).map(str::to_string));
            }
        }
        out
    }

    fn check_bandwidth(v: &Value) -> PfResult<Map<String, Value>> {
        let m = v
            .as_object()
            .ok_or_else(|| invalid_type("bandwidth", "object", v))?;
        let bw = int_field(m, "bw", None)?.ok_or_else(|| required("bw"))?;
        let scale = string_field(m, "bwscale", false, Some(BW_SCALES))?.unwrap_or_default();
        let sched = string_field(m, "bwsched", true, None)?.unwrap_or_else(|| "none".into());
        let mut out = Map::new();
        out.insert("bw".into(), json!(bw));
        out.insert("bwscale".into(), json!(scale));
        out.insert("bwsched".into(), json!(sched));
        Ok(out)
    }

    /// A limiter (`merged`: the stored one with the request over it).
    fn check_limiter(
        &self,
        merged: &Map<String, Value>,
        own: Option<usize>,
    ) -> PfResult<Map<String, Value>> {
        let name = string_field(merged, "name", false, None)?.unwrap_or_default();
        self.filter_name("name", &name)?;
        let taken = self.pipe_names(own);
        if taken.contains(&name) {
            return Err(must_be_unique("name", &name));
        }
        let number = match own {
            Some(i) => self.limiters[i].get("number").cloned().unwrap_or(json!(1)),
            None => json!(next_number(
                &self
                    .limiters
                    .iter()
                    .filter_map(|l| l.get("number").and_then(Value::as_i64))
                    .collect::<Vec<_>>()
            )),
        };
        let mut out = Map::new();
        out.insert("name".into(), json!(name));
        out.insert("number".into(), number);
        out.insert("enabled".into(), json!(bool_field(merged, "enabled")?));
        out.insert(
            "mask".into(),
            json!(choice(merged, "mask", MASKS)?.unwrap_or_else(|| "none".into())),
        );
        out.insert(
            "description".into(),
            json!(string_field(merged, "description", true, None)?.unwrap_or_default()),
        );
        out.insert(
            "aqm".into(),
            json!(string_field(merged, "aqm", false, Some(AQMS))?),
        );
        out.insert(
            "sched".into(),
            json!(string_field(merged, "sched", false, Some(SCHEDULERS))?),
        );
        for f in ["qlimit", "delay", "buckets"] {
            out.insert(f.into(), json!(int_field(merged, f, None)?));
        }
        let bandwidth = match merged.get("bandwidth") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .map(Self::check_bandwidth)
                .collect::<PfResult<Vec<_>>>()?,
            Some(v) => return Err(invalid_type("bandwidth", "array", v)),
        };
        out.insert("bandwidth".into(), json!(bandwidth));
        let mut queues: Vec<Map<String, Value>> = Vec::new();
        let old_queues: Vec<Value> = own
            .and_then(|i| self.limiters[i].get("queue").and_then(Value::as_array))
            .cloned()
            .unwrap_or_default();
        let mut used_numbers: Vec<i64> = self
            .limiters
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != own)
            .flat_map(|(_, l)| {
                l.get("queue")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
            })
            .filter_map(|q| q.get("number").and_then(Value::as_i64))
            .collect();
        match merged.get("queue") {
            None | Some(Value::Null) => {}
            Some(Value::Array(a)) => {
                for q in a {
                    let m = q
                        .as_object()
                        .ok_or_else(|| invalid_type("queue", "object", q))?;
                    let qname = string_field(m, "name", false, None)?.unwrap_or_default();
                    self.filter_name("name", &qname)?;
                    if qname == name
                        || taken.contains(&qname)
                        || queues.iter().any(|x| x["name"] == qname.as_str())
                    {
                        return Err(must_be_unique("name", &qname));
                    }
                    let kept = old_queues
                        .iter()
                        .find(|o| o["name"] == qname.as_str())
                        .and_then(|o| o.get("number"))
                        .and_then(Value::as_i64);
                    let number = kept.unwrap_or_else(|| next_number(&used_numbers));
                    used_numbers.push(number);
                    let mut out_q = Map::new();
                    out_q.insert("name".into(), json!(qname));
                    out_q.insert("number".into(), json!(number));
                    out_q.insert("enabled".into(), json!(bool_field(m, "enabled")?));
                    out_q.insert(
                        "mask".into(),
                        json!(choice(m, "mask", MASKS)?.unwrap_or_else(|| "none".into())),
                    );
                    out_q.insert(
                        "description".into(),
                        json!(string_field(m, "description", true, None)?.unwrap_or_default()),
                    );
                    out_q.insert(
                        "aqm".into(),
                        json!(string_field(m, "aqm", false, Some(AQMS))?),
                    );
                    out_q.insert("weight".into(), json!(int_field(m, "weight", None)?));
                    queues.push(out_q);
                }
            }
            Some(v) => return Err(invalid_type("queue", "array", v)),
        }
        out.insert("queue".into(), json!(queues));
        Ok(out)
    }

    /// A limiter as shown (nested objects carry their `id` and `parent_id`).
    pub(crate) fn limiter_repr(id: usize, l: &Map<String, Value>) -> Value {
        let mut out = Map::new();
        out.insert("id".into(), json!(id));
        for (k, v) in l {
            let v = match (k.as_str(), v) {
                ("bandwidth" | "queue", Value::Array(items)) => Value::Array(
                    items
                        .iter()
                        .enumerate()
                        .map(|(j, item)| {
                            let mut m = Map::new();
                            m.insert("id".into(), json!(j));
                            m.insert("parent_id".into(), json!(id));
                            if let Some(o) = item.as_object() {
                                m.extend(o.clone());
                            }
                            Value::Object(m)
                        })
                        .collect(),
                ),
                _ => v.clone(),
            };
            out.insert(k.clone(), v);
        }
        Value::Object(out)
    }

    /// `GET /api/v2/firewall/traffic_shaper/limiters`.
    pub(crate) fn limiters_repr(&self) -> Value {
        Value::Array(
            self.limiters
                .iter()
                .enumerate()
                .map(|(i, l)| Self::limiter_repr(i, l))
                .collect(),
        )
    }

    /// `GET /api/v2/firewall/traffic_shaper/limiter`.
    pub(crate) fn limiter_get(&self, id: Option<&Value>) -> PfResult<Value> {
        let i = index_in(self.limiters.len(), id)?;
        Ok(Self::limiter_repr(i, &self.limiters[i]))
    }

    fn written(&mut self, subsystem: &str, apply: bool) {
        self.dirty.insert(subsystem.into());
        if apply {
            self.reload_filter();
            self.dirty.remove(subsystem);
        }
    }

    /// `POST /api/v2/firewall/traffic_shaper/limiter`.
    pub(crate) fn create_limiter(
        &mut self,
        data: &Map<String, Value>,
        apply: bool,
    ) -> PfResult<Value> {
        let l = self.check_limiter(data, None)?;
        self.limiters.push(l);
        self.written("shaper", apply);
        let i = self.limiters.len() - 1;
        Ok(Self::limiter_repr(i, &self.limiters[i]))
    }

    /// `PATCH /api/v2/firewall/traffic_shaper/limiter`.
    pub(crate) fn update_limiter(
        &mut self,
        data: &Map<String, Value>,
        apply: bool,
    ) -> PfResult<Value> {
        let i = index_in(self.limiters.len(), data.get("id"))?;
        let mut merged = self.limiters[i].clone();
        for (k, v) in data {
            if k != "id" && k != "number" {
                merged.insert(k.clone(), v.clone());
            }
        }
        let l = self.check_limiter(&merged, Some(i))?;
        self.limiters[i] = l;
        self.written("shaper", apply);
        Ok(Self::limiter_repr(i, &self.limiters[i]))
    }

    /// `DELETE /api/v2/firewall/traffic_shaper/limiter`: never refused,
    /// rules naming it or not (no `referenced_by`).
    pub(crate) fn delete_limiter(&mut self, id: Option<&Value>, apply: bool) -> PfResult<Value> {
        let i = index_in(self.limiters.len(), id)?;
        let shown = Self::limiter_repr(i, &self.limiters[i]);
        self.limiters.remove(i);
        self.written("shaper", apply);
        Ok(shown)
    }

    // ------------------------------------------------------------ port forwards

    /// pfSense's `get_unique_id()`: `uniqid("nat_", true)`, 13 hex digits
    /// then `.` and 8 digits (deterministic here: a clock and a counter).
    fn unique_id(&mut self) -> String {
        self.unique_ids += 1;
        let n = self.unique_ids;
        format!(
            "nat_{:08x}{:05x}{}.{:08}",
            self.now(),
            n % 0x10_0000,
            n % 10,
            (n * 7_919) % 100_000_000
        )
    }

    /// `SpecialNetworkField` with IP addresses, non-port aliases and
    /// `<interface>:ip` allowed (`target`); the stored form.
    fn target(&self, v: &str) -> PfResult<String> {
        if is_ip(v) || self.alias_type(v).is_some_and(|t| t != "port") {
            return Ok(v.to_string());
        }
        if let Some(i) = v.strip_suffix(":ip").and_then(|n| self.iface_by_name(n)) {
            return Ok(format!("@{}:ip", i.id));
        }
        Err(PfError::bad(
            "SPECIAL_NETWORK_FIELD_INVALID",
            format!(
                "Field `target` value `{v}` is invalid. Valid options are: an IP address, an \
                 existing alias"
            ),
        ))
    }

    /// A port forward (`merged`: representation form) into its stored form.
    fn check_port_forward(&self, merged: &Map<String, Value>) -> PfResult<Map<String, Value>> {
        let mut out = Map::new();
        let iface = string_field(merged, "interface", false, None)?.unwrap_or_default();
        let choices = self.interface_choices();
        if !choices.contains(&iface) || iface == "any" {
            let c: Vec<String> = choices.into_iter().filter(|c| c != "any").collect();
            return Err(invalid_choice("interface", &iface, &c));
        }
        let stored_iface = self
            .iface_by_name(&iface)
            .map_or_else(|| iface.clone(), |i| i.id.clone());
        out.insert("interface".into(), json!(stored_iface));
        out.insert(
            "ipprotocol".into(),
            json!(choice(merged, "ipprotocol", PF_IPPROTOCOLS)?.unwrap_or_else(|| "inet".into())),
        );
        let protocol =
            string_field(merged, "protocol", false, Some(PF_PROTOCOLS))?.unwrap_or_default();
        out.insert("protocol".into(), json!(protocol));
        let ports = PORT_PROTOCOLS.contains(&protocol.as_str());
        for f in ["source", "destination"] {
            let v = string_field(merged, f, false, None)?.unwrap_or_default();
            out.insert(f.into(), json!(self.address(f, &v)?));
        }
        for f in ["source_port", "destination_port"] {
            let v = if ports {
                string_field(merged, f, true, None)?
            } else {
                None
            };
            if let Some(p) = &v {
                self.port(f, p)?;
            }
            out.insert(f.into(), json!(v));
        }
        let target = string_field(merged, "target", false, None)?.unwrap_or_default();
        out.insert("target".into(), json!(self.target(&target)?));
        if ports {
            let p = string_field(merged, "local_port", false, None)?.unwrap_or_default();
            // `allow_range: false`: a port or a port alias only.
            if is_port_range(&p) {
                return Err(PfError::bad(
                    "PORT_FIELD_INVALID",
                    format!(
                        "Field `local_port` contains invalid port value `{p}`. Valid options are: \
                         a TCP/UDP port number, an existing port type firewall alias"
                    ),
                ));
            }
            self.port("local_port", &p)?;
            out.insert("local_port".into(), json!(p));
        } else {
            out.insert("local_port".into(), Value::Null);
        }
        for f in ["disabled", "nordr", "nosync"] {
            out.insert(f.into(), json!(bool_field(merged, f)?));
        }
        out.insert(
            "descr".into(),
            json!(string_field(merged, "descr", true, None)?.unwrap_or_default()),
        );
        out.insert(
            "natreflection".into(),
            json!(choice(merged, "natreflection", NAT_REFLECTION)?),
        );
        let assoc = string_field(merged, "associated_rule_id", true, None)?.unwrap_or_default();
        if !ASSOCIATED_KEYWORDS.contains(&assoc.as_str()) && self.associated_rule(&assoc).is_none()
        {
            return Err(PfError::new(
                404,
                "FOREIGN_MODEL_FIELD_VALUE_NOT_FOUND",
                format!(
                    "Field `associated_rule_id` could not locate `FirewallRule` object with \
                     `associated_rule_id` set to `{assoc}`"
                ),
            ));
        }
        out.insert("associated_rule_id".into(), json!(assoc));
        Ok(out)
    }

    /// The position of the filter rule whose `associated_rule_id` is `id`.
    fn associated_rule(&self, id: &str) -> Option<usize> {
        self.rules
            .iter()
            .position(|r| r.get("associated_rule_id").and_then(Value::as_str) == Some(id))
    }

    /// A port forward as shown at position `id`.
    pub(crate) fn port_forward_repr(&self, id: usize, p: &Map<String, Value>) -> Value {
        let mut out = Map::new();
        out.insert("id".into(), json!(id));
        for (k, v) in p {
            let v = match (k.as_str(), v.as_str()) {
                ("interface", Some(i)) => json!(self.iface_name(i)),
                ("source" | "destination" | "target", Some(a)) => json!(self.address_repr(a)),
                _ => v.clone(),
            };
            out.insert(k.clone(), v);
        }
        Value::Object(out)
    }

    /// `GET /api/v2/firewall/nat/port_forwards`.
    pub(crate) fn port_forwards_repr(&self) -> Value {
        Value::Array(
            self.port_forwards
                .iter()
                .enumerate()
                .map(|(i, p)| self.port_forward_repr(i, p))
                .collect(),
        )
    }

    /// `GET /api/v2/firewall/nat/port_forward`.
    pub(crate) fn port_forward_get(&self, id: Option<&Value>) -> PfResult<Value> {
        let i = index_in(self.port_forwards.len(), id)?;
        Ok(self.port_forward_repr(i, &self.port_forwards[i]))
    }

    /// The fields of the associated rule that follow the port forward at
    /// `i`, in representation form (`pre_apply_create` / `pre_apply_update`).
    fn associated_fields(&self, i: usize) -> Map<String, Value> {
        let shown = self.port_forward_repr(i, &self.port_forwards[i]);
        let g = |k: &str| shown.get(k).cloned().unwrap_or(Value::Null);
        let mut m = Map::new();
        m.insert("type".into(), json!("pass"));
        m.insert("disabled".into(), g("disabled"));
        m.insert("interface".into(), json!([g("interface")]));
        m.insert("ipprotocol".into(), g("ipprotocol"));
        m.insert("protocol".into(), g("protocol"));
        m.insert("source".into(), g("source"));
        m.insert("source_port".into(), g("source_port"));
        m.insert("destination".into(), g("target"));
        m.insert("destination_port".into(), g("local_port"));
        m
    }

    /// `POST /api/v2/firewall/nat/port_forward`.
    pub(crate) fn create_port_forward(
        &mut self,
        user: &str,
        data: &Map<String, Value>,
        apply: bool,
    ) -> PfResult<Value> {
        let mut merged = data.clone();
        for k in PF_READ_ONLY {
            merged.remove(*k);
        }
        let mut p = self.check_port_forward(&merged)?;
        // `_create`: `new` becomes a unique id before the write.
        if p.get("associated_rule_id").and_then(Value::as_str) == Some("new") {
            let id = self.unique_id();
            p.insert("associated_rule_id".into(), json!(id));
        }
        let t = self.now();
        let by = format!("{user}@127.0.0.1 (API)");
        p.insert("created_time".into(), json!(t));
        p.insert("created_by".into(), json!(by));
        p.insert("updated_time".into(), json!(t));
        p.insert("updated_by".into(), json!(by));
        let assoc = p
            .get("associated_rule_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        self.port_forwards.push(p);
        let i = self.port_forwards.len() - 1;
        // `pre_apply_create`: the associated rule, after the write.
        if !assoc.is_empty() && assoc != "pass" {
            let mut fields = self.associated_fields(i);
            fields.insert(
                "descr".into(),
                json!(format!("Associated rule for port forward rule {assoc}")),
            );
            let unique = self.associated_rule(&assoc).is_none();
            let made = if unique {
                self.insert_rule(user, &fields, None, Some(assoc.clone()))
                    .map(|_| ())
            } else {
                Err(must_be_unique("associated_rule_id", &assoc))
            };
            if let Err(e) = made {
                self.written("natconf", false);
                return Err(PfError::new(
                    500,
                    "PORT_FORWARD_ASSOCIATED_FIREWALL_RULE_CREATION_FAILED",
                    format!(
                        "Failed to create associated firewall rule for port forward rule: {}",
                        e.message
                    ),
                ));
            }
        }
        self.written("natconf", apply);
        Ok(self.port_forward_repr(i, &self.port_forwards[i]))
    }

    /// `PATCH /api/v2/firewall/nat/port_forward`.
    pub(crate) fn update_port_forward(
        &mut self,
        user: &str,
        data: &Map<String, Value>,
        apply: bool,
    ) -> PfResult<Value> {
        let i = index_in(self.port_forwards.len(), data.get("id"))?;
        let current = self.port_forwards[i].clone();
        let Value::Object(mut merged) = self.port_forward_repr(i, &current) else {
            return Err(PfError::new(500, "SERVER_ERROR", "bad stored port forward"));
        };
        merged.remove("id");
        for (k, v) in data {
            if k != "id" && !PF_READ_ONLY.contains(&k.as_str()) {
                merged.insert(k.clone(), v.clone());
            }
        }
        let mut p = self.check_port_forward(&merged)?;
        for k in ["created_time", "created_by"] {
            p.insert(k.into(), current.get(k).cloned().unwrap_or(Value::Null));
        }
        p.insert("updated_time".into(), json!(self.now()));
        p.insert(
            "updated_by".into(),
            json!(format!("{user}@127.0.0.1 (API)")),
        );
        let assoc = p
            .get("associated_rule_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        self.port_forwards[i] = p;
        // `pre_apply_update`: the associated rule follows (not its descr).
        if !assoc.is_empty()
            && assoc != "pass"
            && let Some(r) = self.associated_rule(&assoc)
        {
            let mut fields = self.associated_fields(i);
            fields.insert("id".into(), json!(r));
            if let Err(e) = self.update_rule(user, &fields, None) {
                self.written("natconf", false);
                return Err(PfError::new(
                    500,
                    "PORT_FORWARD_ASSOCIATED_FIREWALL_RULE_UPDATE_FAILED",
                    format!(
                        "Failed to update associated firewall rule for port forward rule: {}",
                        e.message
                    ),
                ));
            }
        }
        self.written("natconf", apply);
        Ok(self.port_forward_repr(i, &self.port_forwards[i]))
    }

    /// `DELETE /api/v2/firewall/nat/port_forward`: its associated rules go
    /// too (`pre_apply_delete`).
    pub(crate) fn delete_port_forward(
        &mut self,
        id: Option<&Value>,
        apply: bool,
    ) -> PfResult<Value> {
        if id.is_none_or(Value::is_null) {
            return Err(PfError::new(
                500,
                "MODEL_ID_REQUIRED_FOR_REFRESH",
                "An ID is required to refresh this object from its internal value.",
            ));
        }
        let i = index_in(self.port_forwards.len(), id)?;
        let shown = self.port_forward_repr(i, &self.port_forwards[i]);
        let p = self.port_forwards.remove(i);
        let assoc = p
            .get("associated_rule_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !assoc.is_empty() && assoc != "pass" {
            let before = self.rules.len();
            self.rules
                .retain(|r| r.get("associated_rule_id").and_then(Value::as_str) != Some(assoc));
            if self.rules.len() != before {
                self.after_change();
            }
        }
        self.written("natconf", apply);
        Ok(shown)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn forward(assoc: &str) -> Map<String, Value> {
        obj(json!({
            "interface": "WAN", "protocol": "tcp", "source": "any",
            "destination": "WAN:ip", "destination_port": "8443",
            "target": "10.0.0.20", "local_port": "443",
            "descr": "web", "associated_rule_id": assoc,
        }))
    }

    fn pf() -> Pf {
        let mut pf = Pf::new();
        pf.clock = Some(1_700_000_000);
        pf
    }

    fn wan_rules(pf: &Pf) -> Vec<Value> {
        pf.interface_rules(&pf.rules, "WAN")
    }

    #[test]
    fn new_makes_an_associated_rule_that_follows_and_goes_with_the_forward() {
        let mut pf = pf();
        let shown = pf
            .create_port_forward("admin", &forward("new"), false)
            .unwrap();
        let id = shown["associated_rule_id"].as_str().unwrap().to_string();
        assert!(
            id.starts_with("nat_") && id.len() == 4 + 13 + 1 + 8 + 1,
            "{id}"
        );
        assert_eq!(shown["interface"], "WAN");
        assert_eq!(shown["destination"], "WAN:ip");
        let rules = wan_rules(&pf);
        assert_eq!(rules.len(), 1);
        let r = &rules[0];
        assert_eq!(r["associated_rule_id"], id.as_str());
        assert_eq!(r["type"], "pass");
        assert_eq!(r["destination"], "10.0.0.20");
        assert_eq!(r["destination_port"], "443");
        assert_eq!(r["interface"], json!(["WAN"]));
        assert_eq!(
            r["descr"],
            format!("Associated rule for port forward rule {id}")
        );
        // Appended: after the two default LAN rules.
        assert_eq!(r["id"], 2);
        assert!(pf.dirty.contains("natconf"));

        // A PATCH of the associated rule is taken; its read-only id is not.
        let mut m = obj(json!({"id": 2, "descr": "by hand", "associated_rule_id": "x"}));
        pf.update_rule("admin", &m, None).unwrap();
        assert_eq!(wan_rules(&pf)[0]["associated_rule_id"], id.as_str());
        assert_eq!(wan_rules(&pf)[0]["descr"], "by hand");

        // The forward's update rewrites what it controls, not the descr.
        m = obj(json!({"id": 0, "local_port": "8443", "target": "10.0.0.21"}));
        pf.update_port_forward("admin", &m, true).unwrap();
        let r = &wan_rules(&pf)[0];
        assert_eq!(r["destination"], "10.0.0.21");
        assert_eq!(r["destination_port"], "8443");
        assert_eq!(r["descr"], "by hand");
        assert!(!pf.dirty.contains("natconf"), "apply: true clears it");

        pf.delete_port_forward(Some(&json!(0)), false).unwrap();
        assert!(wan_rules(&pf).is_empty());
        assert!(pf.port_forwards.is_empty());
        assert_eq!(pf.rules.len(), 2);
    }

    #[test]
    fn pass_and_empty_make_no_rule_and_unknown_ids_are_refused() {
        let mut pf = pf();
        pf.create_port_forward("admin", &forward("pass"), false)
            .unwrap();
        pf.create_port_forward("admin", &forward(""), false)
            .unwrap();
        assert!(wan_rules(&pf).is_empty());
        let e = pf
            .create_port_forward("admin", &forward("nat_nope"), false)
            .unwrap_err();
        assert_eq!(
            (e.status, e.id.as_str()),
            (404, "FOREIGN_MODEL_FIELD_VALUE_NOT_FOUND")
        );
        // An existing associated id: the rule cannot be made twice (unique).
        let made = pf
            .create_port_forward("admin", &forward("new"), false)
            .unwrap();
        let id = made["associated_rule_id"].as_str().unwrap();
        let e = pf
            .create_port_forward("admin", &forward(id), false)
            .unwrap_err();
        assert_eq!(
            (e.status, e.id.as_str()),
            (500, "PORT_FORWARD_ASSOCIATED_FIREWALL_RULE_CREATION_FAILED")
        );
        assert_eq!(pf.port_forwards.len(), 4, "written before the rule failed");
        assert_eq!(wan_rules(&pf).len(), 1);
    }

    #[test]
    fn port_forward_fields_are_checked() {
        let mut pf = pf();
        for (field, value, id) in [
            ("interface", json!("nope"), "FIELD_INVALID_CHOICE"),
            ("protocol", json!("sctp"), "FIELD_INVALID_CHOICE"),
            (
                "target",
                json!("10.0.0.0/24"),
                "SPECIAL_NETWORK_FIELD_INVALID",
            ),
            ("local_port", json!("80:90"), "PORT_FIELD_INVALID"),
            (
                "destination",
                json!("nowhere"),
                "FILTER_ADDRESS_FIELD_INVALID",
            ),
            ("natreflection", json!("maybe"), "FIELD_INVALID_CHOICE"),
        ] {
            let mut m = forward("");
            m.insert(field.into(), value);
            let e = pf.create_port_forward("admin", &m, false).unwrap_err();
            assert_eq!(e.id, id, "{field}");
        }
        let mut m = forward("");
        m.remove("target");
        assert_eq!(
            pf.create_port_forward("admin", &m, false).unwrap_err().id,
            "FIELD_IS_REQUIRED"
        );
        // No local_port needed without a port protocol; ports are dropped.
        let mut m = forward("");
        m.insert("protocol".into(), json!("icmp"));
        m.remove("local_port");
        let shown = pf.create_port_forward("admin", &m, false).unwrap();
        assert_eq!(shown["destination_port"], Value::Null);
        assert_eq!(shown["local_port"], Value::Null);
        let m = obj(json!({"id": 0, "target": "LAN:ip"}));
        let shown = pf.update_port_forward("admin", &m, false).unwrap();
        assert_eq!(shown["target"], "LAN:ip");
        assert!(pf.port_forward_get(Some(&json!(5))).is_err());
    }

    fn limiter(name: &str, queues: &[&str]) -> Map<String, Value> {
        let q: Vec<Value> = queues
            .iter()
            .map(|n| json!({"name": n, "aqm": "droptail"}))
            .collect();
        obj(json!({
            "name": name, "enabled": true, "aqm": "droptail", "sched": "wf2q+",
            "bandwidth": [{"bw": 50, "bwscale": "Mb"}], "queue": q,
        }))
    }

    fn rule_with(dnpipe: Value, pdnpipe: Value) -> Map<String, Value> {
        obj(json!({
            "type": "pass", "interface": ["LAN"], "ipprotocol": "inet",
            "source": "any", "destination": "any", "dnpipe": dnpipe, "pdnpipe": pdnpipe,
        }))
    }

    #[test]
    fn limiters_are_numbered_named_once_and_shown_with_their_children() {
        let mut pf = pf();
        let a = pf
            .create_limiter(&limiter("down", &["down_q"]), false)
            .unwrap();
        let b = pf.create_limiter(&limiter("up", &[]), true).unwrap();
        assert_eq!(
            (a["number"].clone(), b["number"].clone()),
            (json!(1), json!(2))
        );
        assert_eq!(a["bandwidth"][0]["bwsched"], "none");
        assert_eq!(a["queue"][0]["parent_id"], 0);
        assert_eq!(a["queue"][0]["number"], 1);
        assert!(!pf.dirty.contains("shaper"));
        for (l, id) in [
            (limiter("down", &[]), "FIELD_MUST_BE_UNIQUE"),
            (limiter("x", &["down_q"]), "FIELD_MUST_BE_UNIQUE"),
            (
                limiter("queue", &[]),
                "FILTER_NAME_VALIDATOR_RESERVED_NAME_USED",
            ),
            (
                limiter("123", &[]),
                "FILTER_NAME_VALIDATOR_CANNOT_BE_NUMERICAL",
            ),
        ] {
            assert_eq!(pf.create_limiter(&l, false).unwrap_err().id, id);
        }
        let mut l = limiter("x", &[]);
        l.insert("sched".into(), json!("cbq"));
        assert_eq!(
            pf.create_limiter(&l, false).unwrap_err().id,
            "FIELD_INVALID_CHOICE"
        );
        l.remove("sched");
        assert_eq!(
            pf.create_limiter(&l, false).unwrap_err().id,
            "FIELD_IS_REQUIRED"
        );
        let m = obj(json!({"id": 1, "description": "upload"}));
        assert_eq!(pf.update_limiter(&m, false).unwrap()["number"], 2);
        assert_eq!(pf.limiters_repr().as_array().unwrap().len(), 2);
        pf.delete_limiter(Some(&json!(0)), false).unwrap();
        assert_eq!(pf.limiter_get(Some(&json!(0))).unwrap()["name"], "up");
        // The freed number is given again.
        let c = pf.create_limiter(&limiter("again", &[]), false).unwrap();
        assert_eq!(c["number"], 1);
    }

    #[test]
    fn dnpipe_and_pdnpipe_must_name_limiters_or_queues_of_one_kind() {
        let mut pf = pf();
        pf.create_limiter(&limiter("down", &["down_q"]), false)
            .unwrap();
        pf.create_limiter(&limiter("up", &["up_q"]), false).unwrap();
        let ok = [
            (json!("down"), Value::Null),
            (json!("down"), json!("up")),
            (json!("down_q"), json!("up_q")),
        ];
        for (d, p) in ok {
            let r = pf
                .create_rule("admin", &rule_with(d.clone(), p.clone()), None)
                .unwrap();
            assert_eq!((r["dnpipe"].clone(), r["pdnpipe"].clone()), (d, p));
        }
        for (d, p, status, id) in [
            (
                json!("nope"),
                Value::Null,
                404,
                "FIREWALL_RULE_DNPIPE_NOT_FOUND",
            ),
            (
                Value::Null,
                json!("up"),
                400,
                "FIREWALL_RULE_PDNPIPE_SET_WITHOUT_DNPIPE",
            ),
            (
                json!("up"),
                json!("up"),
                400,
                "FIREWALL_RULE_PDNPIPE_CANNOT_MATCH_DNPIPE",
            ),
            (
                json!("up"),
                json!("nope"),
                404,
                "FIREWALL_RULE_PDNPIPE_NOT_FOUND",
            ),
            (
                json!("up"),
                json!("down_q"),
                409,
                "FIREWALL_RULE_PDNPIPE_DOES_NOT_MATCH_DNPIPE_LIMITER_TYPE",
            ),
        ] {
            let e = pf.create_rule("admin", &rule_with(d, p), None).unwrap_err();
            assert_eq!((e.status, e.id.as_str()), (status, id));
        }
        // An update of another field keeps the limiter (PATCH merges).
        let m = obj(json!({"id": 2, "descr": "shaped"}));
        let r = pf.update_rule("admin", &m, None).unwrap();
        assert_eq!(r["dnpipe"], "down");
        assert_eq!(r["descr"], "shaped");
    }
}
