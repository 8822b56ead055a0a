//! What a pfSense already holds, as import blocks (`homelab-discover`, the
//! `homelab_pfsense_inventory` data source).
//!
//! Listed with read requests only (`GET /api/v2/firewall/rules`,
//! `/firewall/aliases`, `/interfaces`: the privileges of a read-only user):
//!
//! - each interface's rules as one `homelab_pfsense_firewall_ruleset`, in
//!   pfSense's order (the ruleset reads them in that order, so the order
//!   round-trips). An interface whose rules all carry one owner's marker
//!   (`[homelab] ...`, left by a labforge ruleset) is imported as that
//!   owner's ruleset (`LAN`, `LAN/ops`); any other interface as an
//!   `exclusive` ruleset, which owns every rule (`LAN/*`, descriptions as
//!   they are). Rules are
//!   never also listed one by one as `homelab_pfsense_firewall_rule`: a rule
//!   has one owner, and the ruleset keeps the order;
//! - each alias as a `homelab_pfsense_firewall_alias` (aliases belong to no
//!   interface: the `interface` filter does not narrow them).
//!
//! Skipped, each with its reason: floating rules (no resource holds them),
//! the rules pfSense made for NAT port forwards (`associated_rule_id`), the
//! anti-lockout rule (generated, not stored), aliases of types the REST API
//! cannot write (URL tables).

use std::collections::BTreeMap;

use labforge_framework::discover::{Filter, Inventory};
use labforge_framework::{Error, Result};

use crate::client::Client;
use crate::model::{ALIAS_TYPES, Alias, Interface, Rule};
use crate::resources::ruleset::{EVERY_RULE, owned_description};

/// The owner whose marker (`[owner] ...`) starts `descr`, if any.
fn marker_owner(descr: &str) -> Option<&str> {
    let rest = descr.strip_prefix('[')?;
    let (name, _) = rest.split_once(']')?;
    let valid = !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    (valid && owned_description(name, descr).is_some()).then_some(name)
}

/// The owner a ruleset adopting `rules` (one interface's, in order) takes:
/// the one owner whose marker every rule carries, else [`EVERY_RULE`]
/// (an `exclusive` ruleset).
pub fn owner_of(rules: &[&Rule]) -> String {
    let mut owners = rules.iter().map(|r| marker_owner(&r.spec.descr));
    match owners.next() {
        Some(Some(first)) if owners.all(|o| o == Some(first)) => first.to_string(),
        _ => EVERY_RULE.to_string(),
    }
}

/// The import ID of the ruleset of `interface` owned by `owner` (as the
/// ruleset's import takes it).
pub fn ruleset_id(interface: &str, owner: &str) -> String {
    if owner == "homelab" {
        interface.to_string()
    } else {
        format!("{interface}/{owner}")
    }
}

/// A rule for people: its tracker and description.
fn rule_words(r: &Rule) -> String {
    match r.tracker {
        Some(t) => format!("rule {t} {:?}", r.spec.descr),
        None => format!("rule at position {} {:?}", r.id, r.spec.descr),
    }
}

/// Whether the `interface` filter lets `name` (as the rules name it) pass:
/// by that name, or by any other name of the same interface (internal name,
/// device, description).
fn allowed(filter: &Filter, name: &str, interfaces: &[Interface]) -> bool {
    if filter.allows("interface", name) {
        return true;
    }
    interfaces
        .iter()
        .filter(|i| [&i.descr, &i.id, &i.device].iter().any(|n| *n == name))
        .any(|i| {
            [&i.descr, &i.id, &i.device]
                .iter()
                .any(|n| filter.allows("interface", n))
        })
}

/// The inventory of `rules`, `aliases` and `interfaces` (pure).
pub fn inventory(
    rules: &[Rule],
    aliases: &[Alias],
    interfaces: &[Interface],
    filter: &Filter,
) -> Inventory {
    let mut inv = Inventory::new();
    // Each interface's rules, in pfSense's order.
    let mut order: Vec<&str> = Vec::new();
    let mut by_interface: BTreeMap<&str, Vec<&Rule>> = BTreeMap::new();
    for r in rules {
        if r.floating {
            if filter.values("interface").is_empty()
                || r.interfaces.iter().any(|i| allowed(filter, i, interfaces))
            {
                inv.skip(
                    format!("floating {} on {}", rule_words(r), r.interfaces.join(", ")),
                    "floating rules span interfaces and directions; neither \
                     homelab_pfsense_firewall_ruleset nor homelab_pfsense_firewall_rule holds \
                     them (manage them in pfSense)",
                );
            }
            continue;
        }
        let name = r.spec.interface.as_str();
        if !allowed(filter, name, interfaces) {
            continue;
        }
        if r.associated {
            inv.skip(
                format!("{} on {name}", rule_words(r)),
                "pfSense made it for a NAT port forward (associated_rule_id) and keeps it in \
                 step with the port forward; the ruleset leaves it alone",
            );
            continue;
        }
        if !by_interface.contains_key(name) {
            order.push(name);
        }
        by_interface.entry(name).or_default().push(r);
    }
    if let Some(lan) = interfaces
        .iter()
        .find(|i| i.id == "lan")
        .or_else(|| interfaces.iter().find(|i| i.id == "wan"))
        && allowed(filter, &lan.descr, interfaces)
    {
        inv.skip(
            format!("anti-lockout rule of {}", lan.descr),
            "pfSense generates it from System > Advanced > Admin Access unless disabled there; \
             it is not a stored rule and the REST API does not list it",
        );
    }
    // pfSense's own order of interfaces (WAN, LAN, OPT1, ...), so that names
    // and order do not follow where rules happen to sit.
    let rank = |name: &str| {
        interfaces
            .iter()
            .position(|i| [&i.descr, &i.id, &i.device].iter().any(|n| *n == name))
            .unwrap_or(usize::MAX)
    };
    order.sort_by_key(|n| rank(n));
    for name in order {
        let owned = &by_interface[name];
        let owner = owner_of(owned);
        let mut summary = if owner == EVERY_RULE {
            format!(
                "firewall rules of {name}: {} rule(s), in pfSense's order (exclusive: every rule, no marker)",
                owned.len()
            )
        } else {
            format!(
                "firewall rules of {name}: {} rule(s) marked [{owner}], in pfSense's order",
                owned.len()
            )
        };
        for (n, r) in owned.iter().enumerate() {
            if !r.unmanaged.is_empty() {
                summary.push_str(&format!(
                    "\nnote: rule {} ({}) has settings the ruleset does not manage: {}; they \
                     stay on pfSense but are not in the configuration",
                    n + 1,
                    rule_words(r),
                    r.unmanaged.join(", ")
                ));
            }
        }
        let parts: Vec<&str> = if owner == EVERY_RULE || owner == "homelab" {
            vec![name]
        } else {
            vec![name, &owner]
        };
        inv.found(
            "pfsense_firewall_ruleset",
            &parts,
            ruleset_id(name, &owner),
            summary,
        )
        .attr("interface", name)
        .attr("owner", owner.as_str())
        .attr("rules", owned.len().to_string());
    }
    for a in aliases {
        let s = &a.spec;
        if !ALIAS_TYPES.contains(&s.kind.as_str()) {
            inv.skip(
                format!("alias {} (type {})", s.name, s.kind),
                format!(
                    "the REST API cannot write aliases of type {:?}; \
                     homelab_pfsense_firewall_alias holds host, network and port aliases",
                    s.kind
                ),
            );
            continue;
        }
        let mut entries = s.address.iter().take(4).cloned().collect::<Vec<_>>();
        if s.address.len() > 4 {
            entries.push(format!("... ({} in all)", s.address.len()));
        }
        inv.found(
            "pfsense_firewall_alias",
            &[&s.name],
            s.name.clone(),
            format!("alias {} ({}): {}", s.name, s.kind, entries.join(", ")),
        )
        .attr("name", s.name.as_str())
        .attr("type", s.kind.as_str());
    }
    inv
}

/// List what `client`'s pfSense holds (reads only), narrowed by `filter`.
pub async fn discover(client: &Client, filter: &Filter) -> Result<Inventory> {
    let fail = |what: &str, e: crate::client::ApiError| {
        Error::new(
            "Unable to discover pfSense",
            format!("listing the {what}: {e}"),
        )
    };
    let rules = client.rules(true).await.map_err(|e| fail("rules", e))?;
    let aliases = client.aliases(true).await.map_err(|e| fail("aliases", e))?;
    let interfaces = client
        .interfaces()
        .await
        .map_err(|e| fail("interfaces", e))?;
    Ok(inventory(&rules, &aliases, &interfaces.list, filter))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::client::codec;
    use serde_json::json;

    fn rule(id: usize, iface: &str, descr: &str, tracker: i64) -> Rule {
        codec::rule(&json!({
            "id": id, "type": "pass", "interface": [iface], "ipprotocol": "inet",
            "protocol": null, "source": "any", "destination": "any", "descr": descr,
            "floating": false, "tracker": tracker, "associated_rule_id": null
        }))
        .unwrap()
    }

    fn interfaces() -> Vec<Interface> {
        ["wan/vtnet0/WAN", "lan/vtnet1/LAN", "opt1/vtnet2/DMZ"]
            .iter()
            .map(|s| {
                let p: Vec<&str> = s.split('/').collect();
                Interface {
                    id: p[0].into(),
                    device: p[1].into(),
                    descr: p[2].into(),
                }
            })
            .collect()
    }

    #[test]
    fn summaries_note_rules_with_settings_not_managed() {
        let mut tagged = codec::rule(&json!({
            "id": 1, "type": "pass", "interface": ["LAN"], "descr": "ssh",
            "tag": "from_lan", "tcp_flags_any": true, "tracker": 2
        }))
        .unwrap();
        assert_eq!(tagged.unmanaged, ["tag", "tcp_flags_any"]);
        let rules = vec![rule(0, "LAN", "allow dns", 1), tagged.clone()];
        let inv = inventory(&rules, &[], &interfaces(), &Filter::all());
        let summary = &inv.found[0].summary;
        assert!(
            summary.contains(
                "note: rule 2 (rule 2 \"ssh\") has settings the ruleset does not manage: \
                 tag, tcp_flags_any;"
            ),
            "{summary}"
        );
        assert_eq!(summary.matches("note:").count(), 1, "{summary}");
        tagged.unmanaged.clear();
        let inv = inventory(&[tagged], &[], &interfaces(), &Filter::all());
        assert!(!inv.found[0].summary.contains("note:"));
    }

    #[test]
    fn owners_come_from_markers_shared_by_every_rule() {
        let a = rule(0, "LAN", "[homelab] dns", 1);
        let b = rule(1, "LAN", "[homelab]", 2);
        let c = rule(2, "LAN", "[ops] ssh", 3);
        let d = rule(3, "LAN", "Default allow LAN to any rule", 4);
        let e = rule(4, "LAN", "[not a marker", 5);
        assert_eq!(owner_of(&[&a, &b]), "homelab");
        assert_eq!(owner_of(&[&c]), "ops");
        assert_eq!(owner_of(&[&a, &c]), "*");
        assert_eq!(owner_of(&[&a, &d]), "*");
        assert_eq!(owner_of(&[&e]), "*");
        assert_eq!(ruleset_id("LAN", "homelab"), "LAN");
        assert_eq!(ruleset_id("LAN", "ops"), "LAN/ops");
        assert_eq!(ruleset_id("DMZ", "*"), "DMZ/*");
    }

    #[test]
    fn rulesets_per_interface_skipping_what_pfsense_makes() {
        let mut floating = rule(2, "WAN", "block bogons everywhere", 7);
        floating.floating = true;
        floating.interfaces = vec!["WAN".into(), "LAN".into()];
        let mut nat = rule(3, "WAN", "NAT ssh to bastion", 8);
        nat.associated = true;
        let rules = vec![
            rule(0, "LAN", "Default allow LAN to any rule", 1),
            rule(1, "WAN", "allow vpn", 2),
            floating,
            nat,
            rule(4, "DMZ", "[homelab] web", 9),
            rule(5, "LAN", "allow dns", 10),
        ];
        let aliases = vec![
            codec::alias(&json!({"id": 0, "name": "web_servers", "type": "host",
                "address": ["10.0.0.5"], "detail": [""]}))
            .unwrap(),
            codec::alias(&json!({"id": 1, "name": "pfB_ads", "type": "urltable",
                "address": [], "detail": []}))
            .unwrap(),
        ];
        let inv = inventory(&rules, &aliases, &interfaces(), &Filter::all());
        let found: Vec<(String, String, String)> = inv
            .found
            .iter()
            .map(|f| (f.resource_type.clone(), f.name.clone(), f.id.clone()))
            .collect();
        let t = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
        assert_eq!(
            found,
            [
                t("pfsense_firewall_ruleset", "wan", "WAN/*"),
                t("pfsense_firewall_ruleset", "lan", "LAN/*"),
                t("pfsense_firewall_ruleset", "dmz", "DMZ"),
                t("pfsense_firewall_alias", "web_servers", "web_servers"),
            ]
        );
        assert_eq!(inv.found[1].attributes["rules"], "2");
        let skipped: Vec<String> = inv
            .skipped
            .iter()
            .map(|s| format!("{}: {}", s.what, s.why))
            .collect();
        assert_eq!(skipped.len(), 4, "{skipped:#?}");
        assert!(skipped[0].starts_with(
            "floating rule 7 \"block bogons everywhere\" on WAN, LAN: floating rules span"
        ));
        assert!(skipped[1].starts_with(
            "rule 8 \"NAT ssh to bastion\" on WAN: pfSense made it for a NAT port forward"
        ));
        assert!(skipped[2].starts_with("anti-lockout rule of LAN: pfSense generates it"));
        assert!(skipped[3].starts_with("alias pfB_ads (type urltable): the REST API cannot write"));

        // The interface filter takes any name of the interface.
        for f in ["dmz", "opt1", "vtnet2"] {
            let inv = inventory(
                &rules,
                &aliases,
                &interfaces(),
                &Filter::all().with("interface", [f]),
            );
            let ids: Vec<&str> = inv.found.iter().map(|f| f.id.as_str()).collect();
            assert_eq!(ids, ["DMZ", "web_servers"], "{f}");
            assert!(inv.skipped.iter().all(|s| !s.what.contains("anti-lockout")));
        }
    }

    /// A rule's settings for the simulator: IPv4, from any to any, and `rest`.
    fn any_to_any<'a>(rest: &[(&'a str, serde_json::Value)]) -> Vec<(&'a str, serde_json::Value)> {
        let mut props = vec![
            ("ipprotocol", json!("inet")),
            ("source", json!("any")),
            ("destination", json!("any")),
        ];
        props.extend_from_slice(rest);
        props
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn lists_the_simulator_with_read_only_credentials() {
        use labforge_simulators::pfsense::{self as sim, PfsenseSim};
        let pf = PfsenseSim::start().unwrap();
        pf.add_alias(&[
            ("name", json!("web_servers")),
            ("type", json!("host")),
            ("address", json!(["10.0.20.5", "10.0.20.6"])),
        ])
        .unwrap();
        pf.add_rule(
            &any_to_any(&[
                ("type", json!("pass")),
                ("interface", json!(["LAN"])),
                ("protocol", json!("udp")),
                ("destination_port", json!("53")),
                ("descr", json!("allow dns")),
            ]),
            Some(0),
        )
        .unwrap();
        pf.add_rule(
            &any_to_any(&[
                ("type", json!("block")),
                ("interface", json!(["WAN", "LAN"])),
                ("floating", json!(true)),
                ("descr", json!("block smb")),
            ]),
            None,
        )
        .unwrap();
        pf.add_rule(
            &any_to_any(&[
                ("type", json!("pass")),
                ("interface", json!(["DMZ"])),
                ("descr", json!("[ops] web")),
            ]),
            None,
        )
        .unwrap();
        let before = pf.counters().total();
        let client = Client::new(crate::Settings {
            url: pf.url(),
            credentials: crate::Credentials::Basic {
                username: sim::READER_USER.into(),
                password: labforge_http::Secret::new(sim::READER_PASSWORD),
            },
            ca_certificate: None,
            insecure: false,
        })
        .unwrap();
        let inv = discover(&client, &Filter::all()).await.unwrap();
        let ids: Vec<(&str, &str, &str)> = inv
            .found
            .iter()
            .map(|f| (f.resource_type.as_str(), f.name.as_str(), f.id.as_str()))
            .collect();
        assert_eq!(
            ids,
            [
                ("pfsense_firewall_ruleset", "lan", "LAN/*"),
                ("pfsense_firewall_ruleset", "dmz_ops", "DMZ/ops"),
                ("pfsense_firewall_alias", "web_servers", "web_servers"),
            ]
        );
        assert_eq!(inv.found[0].attributes["rules"], "3");
        assert!(inv.skipped[0].what.starts_with("floating rule"), "{inv:?}");
        assert!(inv.skipped[1].what.starts_with("anti-lockout rule of LAN"));
        // Reads only: nothing but GETs.
        let writes: Vec<_> = pf
            .counters()
            .sequence()
            .into_iter()
            .filter(|(m, _)| m != "GET")
            .collect();
        assert!(writes.is_empty(), "{writes:?}");
        assert!(pf.counters().total() > before);
        let dmz = discover(&client, &Filter::all().with("interface", ["opt1"]))
            .await
            .unwrap();
        let ids: Vec<&str> = dmz.found.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["DMZ/ops", "web_servers"]);
    }
}
