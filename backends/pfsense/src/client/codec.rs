//! JSON in and out of pfSense-pkg-RESTAPI's representation of rules, aliases
//! and interfaces (field names from the native schema).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::model::{Alias, AliasSpec, Interface, PORT_PROTOCOLS, Rule, RuleSpec};

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
