//! JSON in and out of pfSense-pkg-RESTAPI's representation of rules, aliases
//! and interfaces (field names from the native schema).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::model::{
    Alias, AliasSpec, FLOATING_RULE_FIELDS, Interface, MANAGED_RULE_FIELDS, PORT_PROTOCOLS, Rule,
    RuleSpec, STATE_RULE_FIELDS,
};

fn text(m: &Map<String, Value>, k: &str) -> Option<String> {
    match m.get(k)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A string field where `null` and `""` both mean unset.
fn opt_text(m: &Map<String, Value>, k: &str) -> Option<String> {
    text(m, k).filter(|s| !s.is_empty())
}

fn flag(m: &Map<String, Value>, k: &str) -> bool {
    match m.get(k) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => matches!(s.as_str(), "true" | "yes" | "on" | "1"),
        Some(Value::Number(n)) => n.as_i64().is_some_and(|n| n != 0),
        _ => false,
    }
}

fn strings(m: &Map<String, Value>, k: &str) -> Option<Vec<String>> {
    match m.get(k)? {
        Value::Array(a) => Some(
            a.iter()
                .filter_map(|v| match v {
                    Value::String(s) => Some(s.clone()),
                    Value::Null => None,
                    other => Some(other.to_string()),
                })
                .collect(),
        ),
        Value::String(s) if s.is_empty() => Some(Vec::new()),
        Value::String(s) => Some(s.split(',').map(str::to_string).collect()),
        _ => None,
    }
}

fn index(m: &Map<String, Value>) -> Option<usize> {
    match m.get("id")? {
        Value::Number(n) => n.as_u64().and_then(|n| usize::try_from(n).ok()),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Whether a field's value is unset: null, `""`, `false`, or an empty list
/// or object (the native schema's defaults of the fields labforge does not
/// manage are null, `""` and `false`).
fn unset(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.iter().all(Value::is_null),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// The fields of a rule's representation that are settings labforge does
/// not manage ([`crate::model::UNMANAGED_RULE_FIELDS`], or any field a newer
/// package adds) and are set, sorted.
fn unmanaged(m: &Map<String, Value>) -> Vec<String> {
    let mut extra: Vec<String> = m
        .iter()
        .filter(|(k, v)| {
            let k = k.as_str();
            !MANAGED_RULE_FIELDS.contains(&k)
                && !STATE_RULE_FIELDS.contains(&k)
                && !FLOATING_RULE_FIELDS.contains(&k)
                && !unset(v)
        })
        .map(|(k, _)| k.clone())
        .collect();
    extra.sort();
    extra
}

/// A rule from its representation; `None` if it has no integer `id`.
pub fn rule(v: &Value) -> Option<Rule> {
    let m = v.as_object()?;
    let id = index(m)?;
    let interfaces = strings(m, "interface").unwrap_or_default();
    let spec = RuleSpec {
        action: text(m, "type").unwrap_or_default(),
        interface: interfaces.first().cloned().unwrap_or_default(),
        ipprotocol: text(m, "ipprotocol").unwrap_or_else(|| "inet".into()),
        protocol: opt_text(m, "protocol"),
        icmptype: strings(m, "icmptype").filter(|v| !v.is_empty()),
        source: text(m, "source").unwrap_or_else(|| "any".into()),
        source_port: opt_text(m, "source_port"),
        destination: text(m, "destination").unwrap_or_else(|| "any".into()),
        destination_port: opt_text(m, "destination_port"),
        descr: text(m, "descr").unwrap_or_default(),
        disabled: flag(m, "disabled"),
        log: flag(m, "log"),
        statetype: text(m, "statetype").unwrap_or_else(|| "keep state".into()),
        gateway: opt_text(m, "gateway"),
        sched: opt_text(m, "sched"),
    };
    let tracker = match m.get("tracker") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    };
    let canonical: BTreeMap<&String, &Value> = m.iter().filter(|(k, _)| *k != "id").collect();
    let fingerprint = serde_json::to_string(&canonical).unwrap_or_default();
    Some(Rule {
        id,
        tracker,
        floating: flag(m, "floating"),
        interfaces,
        associated: opt_text(m, "associated_rule_id").is_some(),
        spec,
        fingerprint,
        unmanaged: unmanaged(m),
    })
}

/// The fields labforge manages, as a request body. Ports only go with a
/// port protocol and ICMP types only with `icmp` (elsewhere pfSense drops
/// them); unset optional fields are sent as `null`, so an update clears
/// them (PATCH merges).
pub fn rule_body(s: &RuleSpec) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("type".into(), json!(s.action));
    m.insert("interface".into(), json!([s.interface]));
    m.insert("ipprotocol".into(), json!(s.ipprotocol));
    m.insert("protocol".into(), json!(s.protocol));
    let proto = s.protocol.as_deref();
    if proto == Some("icmp") {
        m.insert(
            "icmptype".into(),
            json!(s.icmptype.clone().unwrap_or_else(|| vec!["any".into()])),
        );
    }
    m.insert("source".into(), json!(s.source));
    m.insert("destination".into(), json!(s.destination));
    if proto.is_some_and(|p| PORT_PROTOCOLS.contains(&p)) {
        m.insert("source_port".into(), json!(s.source_port));
        m.insert("destination_port".into(), json!(s.destination_port));
    }
    m.insert("descr".into(), json!(s.descr));
    m.insert("disabled".into(), json!(s.disabled));
    m.insert("log".into(), json!(s.log));
    m.insert("statetype".into(), json!(s.statetype));
    m.insert("gateway".into(), json!(s.gateway));
    m.insert("sched".into(), json!(s.sched));
    m
}

/// An alias from its representation.
pub fn alias(v: &Value) -> Option<Alias> {
    let m = v.as_object()?;
    Some(Alias {
        id: index(m)?,
        spec: AliasSpec {
            name: text(m, "name")?,
            kind: text(m, "type").unwrap_or_default(),
            descr: text(m, "descr").unwrap_or_default(),
            address: match m.get("address") {
                Some(Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
                _ => strings(m, "address").unwrap_or_default(),
            },
            detail: match m.get("detail") {
                Some(Value::String(s)) if s.is_empty() => Vec::new(),
                Some(Value::String(s)) => s.split("||").map(str::to_string).collect(),
                _ => strings(m, "detail").unwrap_or_default(),
            },
        },
    })
}

/// An alias as a request body (`name` only when creating: it is not
/// editable). One detail per address: pfSense keeps no padding of its own.
pub fn alias_body(s: &AliasSpec, with_name: bool) -> Map<String, Value> {
    let mut m = Map::new();
    if with_name {
        m.insert("name".into(), json!(s.name));
    }
    m.insert("type".into(), json!(s.kind));
    m.insert("descr".into(), json!(s.descr));
    m.insert("address".into(), json!(s.address));
    m.insert("detail".into(), json!(s.detail));
    m
}

/// An interface from `GET /api/v2/interfaces`.
pub fn interface(v: &Value) -> Option<Interface> {
    let m = v.as_object()?;
    let id = text(m, "id")?;
    let descr = opt_text(m, "descr").unwrap_or_else(|| id.to_uppercase());
    Some(Interface {
        device: text(m, "if").unwrap_or_default(),
        descr,
        id,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rules_round_trip_their_managed_fields() {
        let v = json!({
            "id": 3, "type": "pass", "interface": ["LAN"], "ipprotocol": "inet",
            "protocol": "tcp", "icmptype": null, "source": "LAN", "source_port": null,
            "destination": "any", "destination_port": "443", "descr": "[homelab] web",
            "disabled": false, "log": true, "tag": "", "statetype": "keep state",
            "gateway": null, "sched": "", "floating": false, "tracker": 1700000000,
            "associated_rule_id": null
        });
        let r = rule(&v).unwrap();
        assert_eq!(r.id, 3);
        assert_eq!(r.tracker, Some(1_700_000_000));
        assert_eq!(r.spec.destination_port.as_deref(), Some("443"));
        assert_eq!(r.spec.sched, None);
        assert!(r.spec.log);
        assert!(!r.fingerprint.contains("\"id\""));
        let body = rule_body(&r.spec);
        assert_eq!(body["interface"], json!(["LAN"]));
        assert_eq!(body["destination_port"], json!("443"));
        assert!(!body.contains_key("icmptype"));
        let mut icmp = r.spec.clone();
        icmp.protocol = Some("icmp".into());
        let body = rule_body(&icmp);
        assert_eq!(body["icmptype"], json!(["any"]));
        assert!(!body.contains_key("destination_port"));
    }

    #[test]
    fn rules_tell_the_settings_labforge_does_not_manage() {
        let plain = json!({
            "id": 0, "type": "pass", "interface": ["LAN"], "ipprotocol": "inet",
            "protocol": "tcp", "icmptype": null, "source": "any", "destination": "any",
            "destination_port": "22", "descr": "", "disabled": false, "log": false,
            "dscp": null, "tag": "", "statetype": "keep state", "tcp_flags_any": false,
            "tcp_flags_out_of": null, "tcp_flags_set": [], "gateway": "WAN_DHCP",
            "sched": "work_hours", "dnpipe": null, "pdnpipe": null, "defaultqueue": null,
            "ackqueue": null, "floating": false, "quick": null, "direction": null,
            "tracker": 1700000000, "associated_rule_id": null, "created_time": 1700000000,
            "created_by": "admin@10.0.0.2 (API)", "updated_time": null, "updated_by": null
        });
        assert_eq!(rule(&plain).unwrap().unmanaged, Vec::<String>::new());
        let mut tagged = plain.clone();
        let m = tagged.as_object_mut().unwrap();
        m.insert("tag".into(), json!("from_lan"));
        m.insert("tcp_flags_out_of".into(), json!(["syn", "ack"]));
        m.insert("tcp_flags_set".into(), json!(["syn"]));
        m.insert("dnpipe".into(), json!("limiter1"));
        m.insert("max_src_nodes".into(), json!(10));
        assert_eq!(
            rule(&tagged).unwrap().unmanaged,
            [
                "dnpipe",
                "max_src_nodes",
                "tag",
                "tcp_flags_out_of",
                "tcp_flags_set"
            ]
        );
        let mut any_flags = plain;
        any_flags["tcp_flags_any"] = json!(true);
        any_flags["dscp"] = json!("af11");
        assert_eq!(
            rule(&any_flags).unwrap().unmanaged,
            ["dscp", "tcp_flags_any"]
        );
    }

    /// What labforge sends is what it manages.
    #[test]
    fn rule_bodies_hold_managed_fields_only() {
        let mut spec = rule(&json!({"id": 0, "type": "pass", "interface": ["LAN"],
            "protocol": "tcp", "source_port": "1", "destination_port": "2"}))
        .unwrap()
        .spec;
        let mut sent: Vec<String> = rule_body(&spec).keys().cloned().collect();
        spec.protocol = Some("icmp".into());
        sent.extend(rule_body(&spec).keys().cloned());
        sent.sort();
        sent.dedup();
        let mut managed: Vec<&str> = MANAGED_RULE_FIELDS.to_vec();
        managed.sort_unstable();
        assert_eq!(sent, managed);
    }

    #[test]
    fn aliases_and_interfaces() {
        let a = alias(&json!({"id": 0, "name": "web", "type": "host", "descr": "",
            "address": ["10.0.0.1", "10.0.0.2"], "detail": ["a", "b"]}))
        .unwrap();
        assert_eq!(a.spec.address.len(), 2);
        assert_eq!(alias_body(&a.spec, false).get("name"), None);
        let i = interface(&json!({"id": "opt1", "if": "vtnet2", "descr": ""})).unwrap();
        assert_eq!(i.descr, "OPT1");
    }
}
