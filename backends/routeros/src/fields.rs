//! Attributes from the property tables ([`crate::props`]): schemas,
//! validation, what to send, what to keep from an answer, and when two
//! values mean the same thing.
//!
//! The rule that keeps plans empty: RouterOS prints its own spelling (`1d`
//! for `24h`, `10.0.0.1` for `10.0.0.1/32`, `tcp` for `6`, defaults it fills
//! in, keys it omits when unset). A value read back that means the same as
//! the one in configuration or state keeps that spelling; a plan whose
//! configuration means the same as the prior state keeps the prior's
//! ([`suppress`], which Terraform allows for any attribute). Only real
//! changes show.

use std::collections::BTreeMap;
use std::net::IpAddr;

use labforge_framework::schema::{Attribute, modifiers, validators};
use labforge_framework::{AttributePath, Diagnostics, Type, Value};

use crate::client::{Item, Props};
use crate::props::{Clear, Kind, Prop};
use crate::values;

const NULL: &Value = &Value::Null;

/// An attribute of an object value (null if absent).
pub fn get<'a>(v: &'a Value, name: &str) -> &'a Value {
    v.get(name).unwrap_or(NULL)
}

/// Set an attribute of an object value.
pub fn put(v: &mut Value, name: &str, x: Value) {
    if let Value::Object(m) = v {
        m.insert(name.to_string(), x);
    }
}

/// A known string attribute.
pub fn text<'a>(v: &'a Value, name: &str) -> Option<&'a str> {
    get(v, name).as_str()
}

/// The attribute's value for "unset on the router".
fn default_value(p: &Prop) -> Value {
    match (p.default, p.kind) {
        (None, _) => Value::Null,
        (Some(d), Kind::Flag) => Value::Bool(d == "true"),
        (Some(d), _) => Value::string(d),
    }
}

fn strip_neg(s: &str) -> &str {
    s.strip_prefix('!').unwrap_or(s)
}

/// A set value as RouterOS means it: negated (a `!` on any element negates
/// the whole set, as RouterOS prints `!established,related`), and its
/// values without `!`, sorted, without duplicates.
fn set_meaning(v: &Value) -> Option<(bool, Vec<String>)> {
    let elements = v.elements()?;
    let mut negated = false;
    let mut out = Vec::new();
    for e in elements {
        let s = e.as_str()?;
        negated |= s.starts_with('!');
        out.push(strip_neg(s).to_string());
    }
    out.sort();
    out.dedup();
    Some((negated, out))
}

/// Why a single value is not valid for `p`, if it is not.
pub fn check_value(p: &Prop, v: &Value) -> Option<String> {
    let s = match (p.kind, v) {
        (Kind::Set(choices), v) => {
            for e in v.elements().unwrap_or(&[]) {
                if let Some(s) = e.as_str()
                    && !choices.contains(&strip_neg(s))
                {
                    return Some(format!(
                        "{s:?} is not one of {}",
                        choices
                            .iter()
                            .map(|c| format!("{c:?}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
            }
            return None;
        }
        (_, v) => v.as_str()?,
    };
    match p.kind {
        Kind::Protocol => values::parse_protocol(s).err(),
        Kind::Address => values::parse_address(s, false).err(),
        Kind::ListAddress => values::parse_address(s, true).err(),
        Kind::IpAddress => s
            .trim()
            .parse::<IpAddr>()
            .err()
            .map(|_| format!("{s:?} is not an IP address")),
        Kind::Ports => values::parse_ports(s).err(),
        Kind::Duration | Kind::Countdown => values::parse_duration(s).err(),
        Kind::Choice(choices) => (!choices.contains(&s)).then(|| {
            format!(
                "{s:?} is not one of {}",
                choices
                    .iter()
                    .map(|c| format!("{c:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }),
        Kind::Name => {
            let n = strip_neg(s);
            (n.trim().is_empty() || n.trim() != n || n.contains(',')).then(|| {
                format!("{s:?} is not a name (not empty, no surrounding blanks, no commas)")
            })
        }
        Kind::Text if p.key == "log-prefix" => (s.chars().count() > 31)
            .then(|| format!("{s:?} is longer than 31 characters (RouterOS's limit)")),
        _ => None,
    }
}

/// The schema attribute of `p`: required, or optional with its RouterOS
/// default.
pub fn attribute(p: &Prop, required: bool) -> Attribute {
    let a = match p.kind {
        Kind::Flag => Attribute::bool(),
        Kind::Set(_) => Attribute::set(Type::String),
        Kind::Count(max) => Attribute::int().validator(validators::between(0, i64::from(max))),
        _ => Attribute::string(),
    };
    let a = match (required, p.default, p.kind) {
        (true, _, _) => a.required(),
        (_, Some(d), Kind::Flag) => a.default(d == "true"),
        (_, Some(d), _) => a.default(d),
        (_, None, _) => a.optional(),
    };
    let mut a = a.describe(p.doc);
    let desc = match p.kind {
        Kind::Protocol => Some("A protocol name RouterOS knows, or a number 0-255.".to_string()),
        Kind::Address => Some("An IPv4 address, prefix or range.".to_string()),
        Kind::ListAddress => Some("An IPv4 address, prefix, range or DNS name.".to_string()),
        Kind::IpAddress => Some("An IPv4 or IPv6 address.".to_string()),
        Kind::Ports => Some("Ports or port ranges, comma-separated, 0-65535.".to_string()),
        Kind::Duration | Kind::Countdown => {
            Some("A time interval up to `35w3d13h13m56s`.".to_string())
        }
        Kind::Choice(c) | Kind::Set(c) => Some(format!(
            "One of {}.",
            c.iter()
                .map(|x| format!("`{x}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        Kind::Text if p.key == "log-prefix" => Some("At most 31 characters.".to_string()),
        Kind::Name => Some("Not empty.".to_string()),
        _ => None,
    };
    if let Some(desc) = desc {
        let prop = *p;
        a = a.validator(validators::from_fn(desc, move |v| {
            match check_value(&prop, v) {
                Some(e) => Err(e),
                None => Ok(()),
            }
        }));
    }
    if p.clear == Clear::Replace {
        a = a.plan_modifier(modifiers::requires_replace_if(
            "Removing it forces a new resource (RouterOS cannot unset it).",
            |req, plan| plan.is_null() && !req.state.is_null(),
        ));
    }
    a
}

/// The string RouterOS is sent for a known, non-null value.
pub fn encode(p: &Prop, v: &Value) -> Option<String> {
    match (p.kind, v) {
        (_, Value::Null | Value::Unknown(_)) => None,
        (Kind::Flag, v) => v
            .as_bool()
            .map(|b| if b { "yes" } else { "no" }.to_string()),
        (Kind::Set(choices), v) => {
            let (negated, items) = set_meaning(v)?;
            let mut ordered: Vec<&str> = choices
                .iter()
                .copied()
                .filter(|c| items.iter().any(|i| i == c))
                .collect();
            ordered.extend(
                items
                    .iter()
                    .map(String::as_str)
                    .filter(|i| !choices.contains(i)),
            );
            let neg = if negated { "!" } else { "" };
            Some(format!("{neg}{}", ordered.join(",")))
        }
        (Kind::Count(_), v) => v.as_i64().map(|n| n.to_string()),
        (kind, v) => {
            let s = v.as_str()?;
            Some(match kind {
                Kind::Address | Kind::ListAddress => values::canonical_address(s),
                Kind::Ports => values::canonical_ports(s),
                Kind::Protocol | Kind::IpAddress => s.trim().to_string(),
                Kind::Duration | Kind::Countdown => values::parse_duration(s)
                    .map(values::format_duration)
                    .unwrap_or_else(|_| s.to_string()),
                _ => s.to_string(),
            })
        }
    }
}

/// The attribute value of what the router printed (`None`: absent).
pub fn decode(p: &Prop, raw: Option<&str>) -> Value {
    let Some(s) = raw else {
        return default_value(p);
    };
    match p.kind {
        Kind::Flag => Value::Bool(matches!(s, "true" | "yes")),
        Kind::Set(_) => {
            if s.is_empty() {
                Value::Null
            } else {
                Value::set(s.split(',').map(|x| Value::string(x.trim())))
            }
        }
        Kind::Count(_) => s
            .trim()
            .parse::<i64>()
            .map(Value::from_i64)
            .unwrap_or(Value::Null),
        Kind::Text if p.clear == Clear::Empty && s.is_empty() => Value::Null,
        _ => Value::string(s),
    }
}

/// Whether two attribute values of `p` mean the same.
pub fn same(p: &Prop, a: &Value, b: &Value) -> bool {
    let norm = |v: &Value| -> Value {
        match v {
            Value::Null => default_value(p),
            Value::String(s) if s.is_empty() && p.clear == Clear::Empty => Value::Null,
            v => v.clone(),
        }
    };
    let (a, b) = (norm(a), norm(b));
    if a == b {
        return true;
    }
    match (p.kind, &a, &b) {
        (Kind::Set(_), a, b) => set_meaning(a).is_some() && set_meaning(a) == set_meaning(b),
        (Kind::Count(_), a, b) => a.as_i64().is_some() && a.as_i64() == b.as_i64(),
        (kind, Value::String(x), Value::String(y)) => match kind {
            Kind::Address | Kind::ListAddress => values::same_address(x, y),
            Kind::Ports => values::same_ports(x, y),
            Kind::Protocol => values::same_protocol(x, y),
            Kind::IpAddress => match (x.trim().parse::<IpAddr>(), y.trim().parse::<IpAddr>()) {
                (Ok(i), Ok(j)) => i == j,
                _ => false,
            },
            Kind::Duration | Kind::Countdown => {
                match (values::parse_duration(x), values::parse_duration(y)) {
                    (Ok(i), Ok(j)) => i == j,
                    _ => false,
                }
            }
            Kind::Name if p.key == "name" || p.key.ends_with("target") || p.key == "cname" => x
                .trim_end_matches('.')
                .eq_ignore_ascii_case(y.trim_end_matches('.')),
            _ => false,
        },
        _ => false,
    }
}

/// Whether what the router printed (`read`) fits the configured value:
/// [`same`], except that a countdown may have run down.
pub fn fits(p: &Prop, configured: &Value, read: &Value) -> bool {
    if p.kind == Kind::Countdown
        && let (Some(c), Some(r)) = (configured.as_str(), read.as_str())
        && let (Ok(c), Ok(r)) = (values::parse_duration(c), values::parse_duration(r))
    {
        return r <= c;
    }
    same(p, configured, read)
}

/// What to send to add an object with these attributes.
pub fn add_props(props: &[Prop], obj: &Value) -> Props {
    let mut out = Props::default();
    for p in props {
        let v = get(obj, p.attr);
        if let Some(s) = encode(p, v) {
            if p.default.is_some_and(|d| same(p, v, &decode(p, Some(d)))) {
                continue;
            }
            if s.is_empty() && p.clear == Clear::Empty {
                continue;
            }
            out.set.push((p.key.to_string(), s));
        }
    }
    out
}

/// What to send to turn `prior` into `plan`.
pub fn change_props(props: &[Prop], prior: &Value, plan: &Value) -> Props {
    let mut out = Props::default();
    for p in props {
        let (a, b) = (get(prior, p.attr), get(plan, p.attr));
        if same(p, a, b) {
            continue;
        }
        match encode(p, b) {
            Some(s) => out.set.push((p.key.to_string(), s)),
            None => match (p.clear, p.default) {
                (Clear::Empty, _) => out.set.push((p.key.to_string(), String::new())),
                (Clear::Default, Some(d)) => out.set.push((p.key.to_string(), d.to_string())),
                _ => out.unset.push(p.key.to_string()),
            },
        }
    }
    out
}

/// The attributes of `item`, keeping `reference`'s spelling wherever it
/// means the same.
pub fn read(props: &[Prop], item: &Item, reference: &Value) -> BTreeMap<String, Value> {
    props
        .iter()
        .map(|p| {
            let got = decode(p, item.get(p.key));
            let r = get(reference, p.attr);
            // `is_known`: known and not null.
            let v = if r.is_known() && fits(p, r, &got) {
                r.clone()
            } else {
                got
            };
            (p.attr.to_string(), v)
        })
        .collect()
}

/// Whether `item` holds what `obj` configures (a countdown may have run).
pub fn matches(props: &[Prop], obj: &Value, item: &Item) -> bool {
    props
        .iter()
        .all(|p| fits(p, get(obj, p.attr), &decode(p, item.get(p.key))))
}

/// Whether two attribute objects mean the same, over `props`.
pub fn all_same(props: &[Prop], a: &Value, b: &Value) -> bool {
    props
        .iter()
        .all(|p| same(p, get(a, p.attr), get(b, p.attr)))
}

/// Plan the prior value wherever the configuration means the same (so a
/// spelling RouterOS prints differently never shows as a change).
pub fn suppress(props: &[Prop], config: &Value, prior: &Value, planned: &mut Value) {
    for p in props {
        let (c, s) = (get(config, p.attr), get(prior, p.attr));
        if c.is_known() && s.is_known() && same(p, c, s) {
            put(planned, p.attr, s.clone());
        }
    }
}

/// Cross-attribute checks of a firewall rule (filter or NAT) at `at`:
/// ports need a protocol that has them, `jump` needs `jump_target` (and only
/// it uses one), `reject_with` needs `reject`, address-list actions need
/// `address_list`.
pub fn check_rule(props: &[Prop], obj: &Value, at: &AttributePath, d: &mut Diagnostics) {
    let has = |a: &str| props.iter().any(|p| p.attr == a);
    // Known (maybe null): unknown values are checked at apply.
    let known = |a: &str| !get(obj, a).is_unknown();
    let set = |a: &str| get(obj, a).is_known();
    let action = if has("action") {
        match get(obj, "action") {
            Value::Null => Some("accept"),
            v => v.as_str(),
        }
    } else {
        None
    };
    let err = |d: &mut Diagnostics, a: &str, detail: String| {
        d.attribute_error(
            at.join_attr(a),
            "Invalid attribute combination",
            format!("{}: {detail}", at.join_attr(a)),
        );
    };
    let protocol = get(obj, "protocol");
    for port in ["src_port", "dst_port", "port", "to_ports"] {
        if !has(port) || !set(port) || protocol.is_unknown() {
            continue;
        }
        match protocol.as_str().map(values::parse_protocol) {
            None => err(
                d,
                port,
                format!(
                    "`{port}` needs `protocol` tcp, udp, udp-lite, sctp or dccp; no protocol is set."
                ),
            ),
            Some(Ok(p)) if !values::has_ports(p) => err(
                d,
                port,
                format!(
                    "`{port}` needs `protocol` tcp, udp, udp-lite, sctp or dccp; {:?} has no ports.",
                    protocol.as_str().unwrap_or_default()
                ),
            ),
            _ => {}
        }
    }
    let Some(action) = action else { return };
    if has("jump_target") && known("jump_target") {
        if action == "jump" && !set("jump_target") {
            err(
                d,
                "jump_target",
                "`jump_target` is required when `action` is \"jump\".".into(),
            );
        }
        if action != "jump" && set("jump_target") {
            err(
                d,
                "jump_target",
                format!("`jump_target` is only used with `action = \"jump\"`, not {action:?}."),
            );
        }
    }
    if has("reject_with") && set("reject_with") && action != "reject" {
        err(
            d,
            "reject_with",
            format!("`reject_with` is only used with `action = \"reject\"`, not {action:?}."),
        );
    }
    if has("address_list") && known("address_list") {
        let adds = action.starts_with("add-") && action.ends_with("-to-address-list");
        if adds && !set("address_list") {
            err(
                d,
                "address_list",
                format!("`address_list` is required when `action` is {action:?}."),
            );
        }
        if !adds && set("address_list") {
            err(
                d,
                "address_list",
                format!(
                    "`address_list` is only used with the add-src/dst-to-address-list actions, not {action:?}."
                ),
            );
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::props::{ADDRESS_LIST, DNS_STATIC, FILTER, find};

    fn p(table: &'static [Prop], a: &str) -> &'static Prop {
        find(table, a).unwrap()
    }

    #[test]
    fn router_spellings_mean_the_same() {
        let s = Value::string;
        assert!(same(
            p(FILTER, "dst_address"),
            &s("10.0.0.1/32"),
            &s("10.0.0.1")
        ));
        assert!(same(p(FILTER, "protocol"), &s("6"), &s("tcp")));
        assert!(same(p(DNS_STATIC, "ttl"), &s("24h"), &s("1d")));
        assert!(same(p(DNS_STATIC, "ttl"), &Value::Null, &s("1d")));
        assert!(same(p(FILTER, "comment"), &s(""), &Value::Null));
        assert!(same(p(FILTER, "log"), &Value::Null, &Value::Bool(false)));
        assert!(same(
            p(FILTER, "connection_state"),
            &Value::set([s("related"), s("established")]),
            &Value::set([s("established"), s("related")])
        ));
        assert!(!same(p(FILTER, "dst_port"), &s("22"), &s("23")));
        assert!(!same(p(FILTER, "comment"), &s("a"), &Value::Null));
        // A countdown fits the configured timeout, not the other way round.
        let t = p(ADDRESS_LIST, "timeout");
        assert!(fits(t, &s("1h"), &s("59m58s")));
        assert!(!fits(t, &s("1h"), &s("2h")));
        assert!(!same(t, &s("1h"), &s("59m58s")));
    }

    #[test]
    fn negated_sets_round_trip() {
        let s = Value::string;
        let st = p(FILTER, "connection_state");
        let nat = p(FILTER, "connection_nat_state");
        // RouterOS prints `!dstnat` (the defconf forward rule) and
        // `!established,related`: a `!` negates the whole set.
        assert_eq!(decode(nat, Some("!dstnat")), Value::set([s("!dstnat")]));
        assert_eq!(check_value(nat, &Value::set([s("!dstnat")])), None);
        assert!(check_value(nat, &Value::set([s("!nope")])).is_some());
        let read = decode(st, Some("!established,related"));
        assert!(same(
            st,
            &read,
            &Value::set([s("related"), s("!established")])
        ));
        assert!(!same(
            st,
            &read,
            &Value::set([s("related"), s("established")])
        ));
        assert_eq!(
            encode(st, &Value::set([s("related"), s("!established")])).as_deref(),
            Some("!established,related")
        );
        assert_eq!(
            encode(nat, &Value::set([s("!dstnat")])).as_deref(),
            Some("!dstnat")
        );
    }

    #[test]
    fn what_is_sent() {
        let obj = Value::object([
            ("chain", Value::string("input")),
            ("action", Value::string("accept")),
            ("dst_address", Value::string("10.0.0.1/32")),
            (
                "connection_state",
                Value::set([Value::string("related"), Value::string("established")]),
            ),
            ("log", Value::Bool(false)),
            ("disabled", Value::Bool(true)),
            ("comment", Value::Null),
        ]);
        let props = add_props(FILTER, &obj);
        assert_eq!(
            props.set,
            [
                ("chain".to_string(), "input".to_string()),
                ("dst-address".into(), "10.0.0.1".into()),
                ("connection-state".into(), "established,related".into()),
                ("disabled".into(), "yes".into()),
            ]
        );
        let mut plan = obj.clone();
        put(&mut plan, "dst_address", Value::Null);
        put(&mut plan, "comment", Value::string("x"));
        put(&mut plan, "disabled", Value::Bool(false));
        let c = change_props(FILTER, &obj, &plan);
        assert_eq!(c.unset, ["dst-address"]);
        assert_eq!(
            c.set,
            [
                ("comment".to_string(), "x".to_string()),
                ("disabled".into(), "no".into())
            ]
        );
        let c = change_props(FILTER, &plan, &obj);
        assert!(c.set.contains(&("comment".to_string(), String::new())));
    }

    #[test]
    fn answers_keep_the_configured_spelling() {
        let item = Item {
            id: "*1".into(),
            props: [
                ("chain", "input"),
                ("action", "accept"),
                ("dst-address", "10.0.0.1"),
                ("protocol", "tcp"),
                ("disabled", "false"),
                ("log", "false"),
                ("log-prefix", ""),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        };
        let reference = Value::object([
            ("dst_address", Value::string("10.0.0.1/32")),
            ("protocol", Value::string("6")),
        ]);
        let got = read(FILTER, &item, &reference);
        assert_eq!(got["dst_address"], Value::string("10.0.0.1/32"));
        assert_eq!(got["protocol"], Value::string("6"));
        assert_eq!(got["comment"], Value::Null);
        assert_eq!(got["log"], Value::Bool(false));
        assert_eq!(got["log_prefix"], Value::string(""));
        let fresh = read(FILTER, &item, &Value::Null);
        assert_eq!(fresh["dst_address"], Value::string("10.0.0.1"));
    }

    #[test]
    fn rule_combinations() {
        let check = |pairs: &[(&str, Value)]| {
            let mut d = Diagnostics::new();
            check_rule(
                FILTER,
                &Value::object(pairs.iter().cloned()),
                &AttributePath::root(),
                &mut d,
            );
            d.0.iter()
                .map(|x| (x.attribute.clone(), x.detail.clone()))
                .collect::<Vec<_>>()
        };
        let s = Value::string;
        let e = check(&[("dst_port", s("22"))]);
        assert_eq!(e[0].0, Some(AttributePath::attr("dst_port")));
        assert!(e[0].1.contains("no protocol is set"), "{e:?}");
        let e = check(&[("dst_port", s("22")), ("protocol", s("icmp"))]);
        assert!(e[0].1.contains("\"icmp\" has no ports"), "{e:?}");
        assert!(check(&[("dst_port", s("22")), ("protocol", s("tcp"))]).is_empty());
        let e = check(&[("action", s("jump"))]);
        assert_eq!(e[0].0, Some(AttributePath::attr("jump_target")));
        let e = check(&[("action", s("drop")), ("jump_target", s("x"))]);
        assert_eq!(e.len(), 1);
        // Unknown values wait for apply.
        assert!(check(&[("dst_port", s("22")), ("protocol", Value::unknown())]).is_empty());
        assert!(check(&[("action", Value::unknown()), ("jump_target", s("x"))]).is_empty());
    }
}
