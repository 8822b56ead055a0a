//! Discovery: what a RouterOS router holds, as import blocks.
//!
//! Reads only (one `GET` per menu: the `read` policy suffices):
//! - `/ip/firewall/filter` and `/ip/firewall/nat`: one
//!   `homelab_routeros_firewall_ruleset` per chain, in the router's order,
//!   so that the generated `rules` list is the chain top to bottom. A chain
//!   whose static rules all carry one labforge marker (`[homelab] ...`) is
//!   imported as that owner's ruleset (`filter/input`, `filter/input/ops`);
//!   any other chain (built by hand, by defconf, by a script) as an
//!   `exclusive` ruleset (`filter/input/*`) that owns every static rule.
//!   Rules are never also listed one by one as
//!   `homelab_routeros_firewall_filter`/`_nat`: two resources would own
//!   the same rule, and single-rule resources do not keep the order;
//! - `/ip/firewall/address-list`: one `homelab_routeros_firewall_address_list`
//!   per entry (import id: the `.id`);
//! - `/ip/dns/static`: one `homelab_routeros_dns_static` per record (`.id`).
//!
//! Left alone, each with its reason: dynamic items (`dynamic=true`), which
//! the router makes itself: firewall rules such as the fasttrack counter
//! rule, address-list entries with a timeout or added by an
//! `add-src-to-address-list` action or a service, DNS entries of the DHCP
//! server (MikroTik manual, "Firewall/Filter", "Address list", "DNS"; the
//! REST API prints them with `dynamic: "true"`). Rules made by the default
//! configuration (`defconf: ...` comments) are ordinary static configuration
//! the owner may have edited: they are imported with their chain.

use std::collections::BTreeSet;

use labforge_framework::discover::{Filter, Inventory};
use labforge_framework::{Error, Result};

use crate::client::{Client, Item, Table};
use crate::props::{self, Prop};
use crate::resources::ruleset::EXCLUSIVE_ID;

/// The filter keys [`discover`] understands.
pub const FILTERS: &[(&str, &str)] = &[
    (
        "chain",
        "firewall chain: input, forward, srcnat, ... or a custom chain (filter and NAT rulesets)",
    ),
    ("list", "address list name (address-list entries)"),
];

/// Everything on the router that `filter` allows.
pub async fn discover(client: &Client, filter: &Filter) -> Result<Inventory> {
    let mut inv = Inventory::new();
    for (table, name) in [(Table::Filter, "filter"), (Table::Nat, "nat")] {
        let items = list(client, table).await?;
        rulesets(&mut inv, table, name, &items, filter);
    }
    let items = list(client, Table::AddressList).await?;
    address_lists(&mut inv, &items, filter);
    let items = list(client, Table::DnsStatic).await?;
    dns_static(&mut inv, &items);
    Ok(inv)
}

async fn list(client: &Client, table: Table) -> Result<std::sync::Arc<Vec<Item>>> {
    client
        .list(table, None)
        .await
        .map_err(|e| Error::new("Unable to list RouterOS items", e.to_string()))
}

/// Properties of `item` that neither `props` nor [`props::READ_ONLY`]
/// know: kept on the router, but not in the generated configuration.
fn unmanaged(props: &[Prop], item: &Item) -> Vec<String> {
    props::unmanaged(props, item.props.keys())
}

/// `[owner]` at the start of a comment, if `owner` is a valid owner name.
fn marker_of(comment: &str) -> Option<&str> {
    let rest = comment.strip_prefix('[')?;
    let (owner, after) = rest.split_once(']')?;
    let valid = (1..=32).contains(&owner.len())
        && owner
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    (valid && (after.is_empty() || after.starts_with(' '))).then_some(owner)
}

fn plural(n: usize, one: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {one}s")
    }
}

/// One ruleset per chain of `table`, chains in order of first appearance.
fn rulesets(inv: &mut Inventory, table: Table, name: &str, items: &[Item], filter: &Filter) {
    let props = if table == Table::Nat {
        props::NAT
    } else {
        props::FILTER
    };
    let mut chains: Vec<&str> = Vec::new();
    for i in items {
        if let Some(c) = i.get("chain")
            && !chains.contains(&c)
        {
            chains.push(c);
        }
    }
    for chain in chains {
        if !filter.allows("chain", chain) {
            continue;
        }
        let in_chain: Vec<&Item> = items
            .iter()
            .filter(|i| i.get("chain") == Some(chain))
            .collect();
        for d in in_chain.iter().filter(|i| i.dynamic()) {
            let comment = d
                .get("comment")
                .map(|c| format!(" ({c:?})"))
                .unwrap_or_default();
            inv.skip(
                format!("{name} rule {} in chain {chain}{comment}", d.id),
                "dynamic: the router makes it itself (built-in or added by a service), it is not \
                 configuration; a ruleset leaves it where it is",
            );
        }
        let statics: Vec<&Item> = in_chain.iter().copied().filter(|i| !i.dynamic()).collect();
        if statics.is_empty() {
            continue;
        }
        let owners: BTreeSet<Option<&str>> = statics
            .iter()
            .map(|i| i.get("comment").and_then(marker_of))
            .collect();
        let (id, how) = match owners.iter().next() {
            Some(Some(owner)) if owners.len() == 1 => {
                let id = if *owner == "homelab" {
                    format!("{name}/{chain}")
                } else {
                    format!("{name}/{chain}/{owner}")
                };
                (id, format!("the rules marked [{owner}]"))
            }
            _ => (
                format!("{name}/{chain}/{EXCLUSIVE_ID}"),
                "exclusive: every static rule".to_string(),
            ),
        };
        let dynamic = in_chain.len() - statics.len();
        let mut summary = format!(
            "{name} chain {chain}: {}, top to bottom as on the router ({how})",
            plural(statics.len(), "rule")
        );
        if dynamic > 0 {
            summary.push_str(&format!(
                "; {} left to RouterOS",
                plural(dynamic, "dynamic rule")
            ));
        }
        for (n, rule) in statics.iter().enumerate() {
            let extra = unmanaged(props, rule);
            if !extra.is_empty() {
                summary.push_str(&format!(
                    "\nnote: rule {} ({}) has properties the ruleset does not manage: {}; they \
                     stay on the router but are not in the configuration",
                    n + 1,
                    rule.id,
                    extra.join(", ")
                ));
            }
        }
        inv.found("routeros_firewall_ruleset", &[name, chain], id, summary)
            .attr("table", name)
            .attr("chain", chain)
            .attr("rules", statics.len().to_string());
    }
}

fn note_unmanaged(summary: &mut String, props: &[Prop], item: &Item) {
    let extra = unmanaged(props, item);
    if !extra.is_empty() {
        summary.push_str(&format!(
            "\nnote: properties the resource does not manage: {}; they stay on the router but \
             are not in the configuration",
            extra.join(", ")
        ));
    }
}

fn address_lists(inv: &mut Inventory, items: &[Item], filter: &Filter) {
    for i in items {
        let list = i.get("list").unwrap_or_default();
        let address = i.get("address").unwrap_or_default();
        if !filter.allows("list", list) {
            continue;
        }
        if i.dynamic() {
            inv.skip(
                format!("address-list entry {address} in {list} ({})", i.id),
                "dynamic: the router made it (an entry with a timeout, an \
                 add-src-to-address-list/add-dst-to-address-list rule, or a service); it goes \
                 when its timeout runs out or at reboot",
            );
            continue;
        }
        let mut summary = format!("address list {list}: {address}");
        if let Some(c) = i.get("comment").filter(|c| !c.is_empty()) {
            summary.push_str(&format!(" ({c})"));
        }
        note_unmanaged(&mut summary, props::ADDRESS_LIST, i);
        inv.found(
            "routeros_firewall_address_list",
            &[list, address],
            i.id.clone(),
            summary,
        )
        .attr("list", list)
        .attr("address", address);
    }
}

fn dns_static(inv: &mut Inventory, items: &[Item]) {
    for i in items {
        let rtype = i.get("type").unwrap_or("A");
        let name = i
            .get("name")
            .or_else(|| i.get("regexp"))
            .unwrap_or_default();
        if i.dynamic() {
            inv.skip(
                format!("DNS {rtype} {name} ({})", i.id),
                "dynamic: the router made it (e.g. the DHCP server's lease names), it is not \
                 configuration",
            );
            continue;
        }
        let value = [
            "address",
            "cname",
            "forward-to",
            "mx-exchange",
            "ns",
            "srv-target",
            "text",
        ]
        .iter()
        .find_map(|k| i.get(k));
        let mut summary = match (i.get("regexp"), value) {
            (Some(re), Some(v)) => format!("DNS {rtype} /{re}/ -> {v}"),
            (Some(re), None) => format!("DNS {rtype} /{re}/"),
            (None, Some(v)) => format!("DNS {rtype} {name} -> {v}"),
            (None, None) => format!("DNS {rtype} {name}"),
        };
        if let Some(c) = i.get("comment").filter(|c| !c.is_empty()) {
            summary.push_str(&format!(" ({c})"));
        }
        note_unmanaged(&mut summary, props::DNS_STATIC, i);
        inv.found("routeros_dns_static", &[name, rtype], i.id.clone(), summary)
            .attr("name", name)
            .attr("type", rtype);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::Settings;
    use labforge_http::Secret;
    use labforge_simulators::routeros::{
        ADDRESS_LIST, DNS_STATIC, FILTER, NAT, READ_PASSWORD, READ_USER, RouterosSim,
    };

    fn client(sim: &RouterosSim) -> Client {
        Client::new(Settings {
            url: sim.https_url(),
            username: READ_USER.into(),
            password: Secret::new(READ_PASSWORD),
            ca_certificate: Some(sim.ca_pem().to_string()),
            insecure: false,
        })
        .unwrap()
    }

    fn seed(sim: &RouterosSim) {
        for p in [
            vec![
                ("chain", "input"),
                ("action", "accept"),
                ("connection-state", "established,related"),
                ("comment", "defconf: accept established,related"),
            ],
            vec![
                ("chain", "input"),
                ("action", "accept"),
                ("protocol", "tcp"),
                ("dst-port", "22"),
                ("tcp-flags", "syn"),
            ],
            vec![
                ("chain", "input"),
                ("action", "drop"),
                ("in-interface-list", "!LAN"),
            ],
            vec![
                ("chain", "lan-in"),
                ("action", "accept"),
                ("comment", "[homelab] dns"),
            ],
            vec![
                ("chain", "lan-in"),
                ("action", "drop"),
                ("comment", "[homelab]"),
            ],
        ] {
            sim.add(FILTER, &p).unwrap();
        }
        sim.add(
            NAT,
            &[
                ("chain", "srcnat"),
                ("action", "masquerade"),
                ("comment", "[ops] wan"),
            ],
        )
        .unwrap();
        sim.add(
            ADDRESS_LIST,
            &[("list", "mgmt"), ("address", "10.0.99.0/24")],
        )
        .unwrap();
        sim.add(
            ADDRESS_LIST,
            &[
                ("list", "blocklist"),
                ("address", "198.51.100.7"),
                ("timeout", "1h"),
            ],
        )
        .unwrap();
        sim.add(DNS_STATIC, &[("name", "nas.lan"), ("address", "10.0.10.5")])
            .unwrap();
        sim.add(
            DNS_STATIC,
            &[("regexp", ".*\\.ads\\.example"), ("type", "NXDOMAIN")],
        )
        .unwrap();
        sim.add_dynamic(
            DNS_STATIC,
            [("name", "laptop.lan"), ("address", "10.0.10.50")].as_slice(),
            false,
            2,
        )
        .unwrap();
    }

    fn found(inv: &Inventory) -> Vec<(String, String, String)> {
        inv.found
            .iter()
            .map(|f| (f.resource_type.clone(), f.name.clone(), f.id.clone()))
            .collect()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn lists_rulesets_per_chain_entries_and_records_with_a_read_only_user() {
        let sim = RouterosSim::start().unwrap();
        seed(&sim);
        let inv = discover(&client(&sim), &Filter::all()).await.unwrap();
        let t = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
        assert_eq!(
            found(&inv),
            [
                t(
                    "routeros_firewall_ruleset",
                    "filter_input",
                    "filter/input/*"
                ),
                t(
                    "routeros_firewall_ruleset",
                    "filter_lan_in",
                    "filter/lan-in"
                ),
                t("routeros_firewall_ruleset", "nat_srcnat", "nat/srcnat/ops"),
                t("routeros_firewall_address_list", "mgmt_10_0_99_0_24", "*1"),
                t("routeros_dns_static", "nas_lan_a", "*1"),
                t("routeros_dns_static", "ads_example_nxdomain", "*2"),
            ]
        );
        let input = &inv.found[0];
        assert_eq!(input.attributes["rules"], "3");
        assert!(input.summary.contains("3 rules"), "{}", input.summary);
        assert!(
            input
                .summary
                .contains("rule 2 (*3) has properties the ruleset does not manage: tcp-flags"),
            "{}",
            input.summary
        );
        let skipped: Vec<&str> = inv.skipped.iter().map(|s| s.what.as_str()).collect();
        assert_eq!(skipped.len(), 3, "{skipped:?}");
        assert!(
            skipped[0].starts_with("filter rule *1 in chain forward"),
            "{skipped:?}"
        );
        assert!(
            skipped[1].starts_with("address-list entry 198.51.100.7 in blocklist"),
            "{skipped:?}"
        );
        assert!(skipped[2].starts_with("DNS A laptop.lan"), "{skipped:?}");
        assert!(inv.skipped.iter().all(|s| s.why.starts_with("dynamic:")));
        // The forward chain holds only the dynamic fasttrack rule: no ruleset.
        assert!(inv.found.iter().all(|f| f.name != "filter_forward"));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn filters_narrow_chains_and_lists() {
        let sim = RouterosSim::start().unwrap();
        seed(&sim);
        let c = client(&sim);
        let inv = discover(&c, &Filter::all().with("chain", ["INPUT"]))
            .await
            .unwrap();
        let rulesets: Vec<&str> = inv
            .found
            .iter()
            .filter(|f| f.resource_type == "routeros_firewall_ruleset")
            .map(|f| f.id.as_str())
            .collect();
        assert_eq!(rulesets, ["filter/input/*"]);
        let inv = discover(&c, &Filter::all().with("list", ["blocklist"]))
            .await
            .unwrap();
        assert!(
            inv.found
                .iter()
                .all(|f| f.resource_type != "routeros_firewall_address_list")
        );
        assert!(inv.skipped.iter().any(|s| s.what.contains("blocklist")));
    }

    #[test]
    fn markers_name_valid_owners_only() {
        assert_eq!(marker_of("[homelab] allow"), Some("homelab"));
        assert_eq!(marker_of("[ops]"), Some("ops"));
        assert_eq!(marker_of("[a b] x"), None);
        assert_eq!(marker_of("[homelab]x"), None);
        assert_eq!(marker_of("defconf: drop"), None);
    }
}
