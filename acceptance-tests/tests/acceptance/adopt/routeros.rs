//! Adopting a hand-built routeros (see the module above): a home router's
//! firewall (defconf's filter and NAT rules, a custom chain with a jump to
//! it, port forwards), address lists and static DNS, made through the
//! RouterOS REST API (`PUT /rest/<menu>`, HTTP Basic with the admin user,
//! HTTPS trusting the simulator's CA) as a person's script would, then
//! adopted with the read-only (`read` group) user.
//!
//! The router also makes items itself: the fasttrack counter rule at the
//! top of `forward` (dynamic, there from the start) and an address-list
//! entry with a `timeout`, which RouterOS keeps as a dynamic entry
//! ("Address list" in the MikroTik manual: entries with a timeout are
//! dynamic and are removed when it runs out). Discovery must skip both.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result, ensure};
use serde_json::{Map, Value};

use super::{Drift, Seeded};
use crate::support::lab_ci::HomelabSim;

/// The filter rules, top to bottom per chain, as the script adds them.
const FILTER: &[&[(&str, &str)]] = &[
    &[
        ("chain", "input"),
        ("action", "accept"),
        ("connection-state", "established,related,untracked"),
        ("comment", "defconf: accept established,related,untracked"),
    ],
    &[
        ("chain", "input"),
        ("action", "drop"),
        ("connection-state", "invalid"),
        ("comment", "defconf: drop invalid"),
    ],
    &[
        ("chain", "input"),
        ("action", "accept"),
        ("protocol", "icmp"),
        ("comment", "defconf: accept ICMP"),
    ],
    &[
        ("chain", "input"),
        ("action", "accept"),
        ("protocol", "tcp"),
        ("dst-port", "22,8291"),
        ("src-address-list", "mgmt"),
        ("comment", "ssh and winbox from mgmt"),
    ],
    &[
        ("chain", "input"),
        ("action", "drop"),
        ("in-interface-list", "!LAN"),
        ("log", "yes"),
        ("log-prefix", "in-drop"),
        ("comment", "defconf: drop all not coming from LAN"),
    ],
    &[
        ("chain", "forward"),
        ("action", "fasttrack-connection"),
        ("connection-state", "established,related"),
        ("comment", "defconf: fasttrack"),
    ],
    &[
        ("chain", "forward"),
        ("action", "accept"),
        ("connection-state", "established,related,untracked"),
        ("comment", "defconf: accept established,related, untracked"),
    ],
    &[
        ("chain", "forward"),
        ("action", "drop"),
        ("connection-state", "invalid"),
    ],
    &[
        ("chain", "forward"),
        ("action", "jump"),
        ("jump-target", "iot-fwd"),
        ("src-address-list", "iot"),
        ("comment", "IoT VLAN"),
    ],
    &[
        ("chain", "forward"),
        ("action", "drop"),
        ("connection-state", "new"),
        ("connection-nat-state", "!dstnat"),
        ("in-interface-list", "WAN"),
        ("comment", "defconf: drop all from WAN not DSTNATed"),
    ],
    &[
        ("chain", "forward"),
        ("action", "drop"),
        ("src-address-list", "blocklist"),
        ("disabled", "yes"),
    ],
    // A chain of the owner's own, reached by the jump above.
    &[
        ("chain", "iot-fwd"),
        ("action", "accept"),
        ("protocol", "udp"),
        ("dst-port", "53,123"),
        ("dst-address", "10.0.0.1"),
    ],
    &[
        ("chain", "iot-fwd"),
        ("action", "reject"),
        ("reject-with", "icmp-admin-prohibited"),
        ("dst-address", "10.0.0.0/8"),
        ("comment", "no IoT to the LANs"),
    ],
];

const NAT: &[&[(&str, &str)]] = &[
    &[
        ("chain", "srcnat"),
        ("action", "masquerade"),
        ("out-interface-list", "WAN"),
        ("comment", "defconf: masquerade"),
    ],
    &[
        ("chain", "dstnat"),
        ("action", "dst-nat"),
        ("protocol", "tcp"),
        ("dst-port", "443"),
        ("in-interface-list", "WAN"),
        ("to-addresses", "10.0.10.5"),
        ("to-ports", "443"),
        ("comment", "https to nas"),
    ],
    &[
        ("chain", "dstnat"),
        ("action", "dst-nat"),
        ("protocol", "udp"),
        ("dst-port", "51820"),
        ("in-interface", "ether1"),
        ("to-addresses", "10.0.10.6"),
    ],
];

const ADDRESS_LIST: &[&[(&str, &str)]] = &[
    &[
        ("list", "mgmt"),
        ("address", "10.0.99.0/24"),
        ("comment", "management VLAN"),
    ],
    &[("list", "mgmt"), ("address", "10.0.10.7")],
    &[("list", "iot"), ("address", "10.0.30.0/24")],
    &[("list", "blocklist"), ("address", "198.51.100.0/24")],
    // Temporary: RouterOS keeps it as a dynamic entry (skipped).
    &[
        ("list", "blocklist"),
        ("address", "203.0.113.7"),
        ("timeout", "1d"),
        ("comment", "fail2ban"),
    ],
    // A scratch list the discovery filter leaves out.
    &[("list", "scratch"), ("address", "192.0.2.1")],
];

const DNS_STATIC: &[&[(&str, &str)]] = &[
    &[
        ("name", "router.lan"),
        ("address", "192.168.88.1"),
        ("comment", "defconf"),
    ],
    &[("name", "nas.lan"), ("address", "10.0.10.5"), ("ttl", "5m")],
    &[
        ("name", "nas6.lan"),
        ("type", "AAAA"),
        ("address", "fd00::5"),
    ],
    &[
        ("name", "files.lan"),
        ("type", "CNAME"),
        ("cname", "nas.lan"),
    ],
    &[
        ("name", "lan"),
        ("type", "MX"),
        ("mx-exchange", "nas.lan"),
        ("mx-preference", "10"),
    ],
    &[("name", "lan"), ("type", "TXT"), ("text", "v=spf1 -all")],
    &[
        ("regexp", ".*\\.ads\\.example"),
        ("type", "NXDOMAIN"),
        ("comment", "ad block"),
    ],
];

/// The router's REST API as the admin user (HTTP Basic, HTTPS trusting
/// the simulator's CA).
pub(super) struct AdminRest {
    http: reqwest::Client,
    base: String,
    user: String,
    password: String,
}

impl AdminRest {
    /// The client for `sim`'s router.
    pub(super) fn new(sim: &HomelabSim) -> Result<AdminRest> {
        let ca = reqwest::Certificate::from_pem(sim.env("ROS_CA_CERTIFICATE")?.as_bytes())?;
        Ok(AdminRest {
            http: reqwest::Client::builder().tls_certs_only([ca]).build()?,
            base: sim.env("ROS_HOSTURL")?.trim_end_matches('/').to_string(),
            user: sim.env("ROS_USERNAME")?.to_string(),
            password: sim.env("ROS_PASSWORD")?.to_string(),
        })
    }

    /// `PUT /rest/<menu>` (add), failing unless RouterOS answers the new
    /// item (with its `.id`).
    pub(super) async fn add(&self, menu: &str, props: &[(&str, &str)]) -> Result<Value> {
        let body: Map<String, Value> = props
            .iter()
            .map(|(k, v)| ((*k).to_string(), Value::String((*v).to_string())))
            .collect();
        let resp = self
            .http
            .put(format!("{}/rest/{menu}", self.base))
            .basic_auth(&self.user, Some(&self.password))
            .json(&body)
            .send()
            .await
            .with_context(|| format!("PUT /rest/{menu}"))?;
        let status = resp.status();
        let item: Value = resp
            .json()
            .await
            .with_context(|| format!("PUT /rest/{menu}"))?;
        ensure!(
            status.is_success() && item[".id"].is_string(),
            "PUT /rest/{menu} {props:?}: HTTP {status} {item}"
        );
        Ok(item)
    }
}

impl AdminRest {
    /// `GET /rest/<menu>?<query>`: the items.
    async fn list(&self, menu_query: &str) -> Result<Vec<Value>> {
        let resp = self
            .http
            .get(format!("{}/rest/{menu_query}", self.base))
            .basic_auth(&self.user, Some(&self.password))
            .send()
            .await
            .with_context(|| format!("GET /rest/{menu_query}"))?;
        let status = resp.status();
        let body: Value = resp
            .json()
            .await
            .with_context(|| format!("GET /rest/{menu_query}"))?;
        ensure!(
            status.is_success(),
            "GET /rest/{menu_query}: HTTP {status} {body}"
        );
        Ok(body.as_array().cloned().unwrap_or_default())
    }

    /// `POST /rest/<menu>/<command>` with a JSON object of arguments.
    async fn command(&self, menu: &str, command: &str, args: &Value) -> Result<()> {
        let resp = self
            .http
            .post(format!("{}/rest/{menu}/{command}", self.base))
            .basic_auth(&self.user, Some(&self.password))
            .json(args)
            .send()
            .await
            .with_context(|| format!("POST /rest/{menu}/{command}"))?;
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        ensure!(
            status.is_success(),
            "POST /rest/{menu}/{command} {args}: HTTP {status} {body}"
        );
        Ok(())
    }
}

/// The comments of the input chain's rules, top to bottom, as the router
/// lists them.
async fn input_comments(rest: &AdminRest) -> Result<Vec<String>> {
    Ok(rest
        .list("ip/firewall/filter?chain=input")
        .await?
        .iter()
        .map(|r| r["comment"].as_str().unwrap_or_default().to_string())
        .collect())
}

/// The drift: someone moves the ICMP rule above the "drop invalid" rule in
/// WinBox (the REST API's `move` command: `POST
/// /rest/ip/firewall/filter/move` with `numbers`, the rule moved, and
/// `destination`, the rule it goes before; MikroTik's "REST API" manual,
/// "Other commands"). The adopted ruleset is `exclusive` and owns the
/// chain's order: the plan must update it, and the apply move the rule
/// back.
fn drift() -> Drift {
    Drift::update(
        "homelab_routeros_firewall_ruleset.filter_input",
        "the input chain's ICMP rule moved above \"drop invalid\" in WinBox",
        |sim| {
            let rest = AdminRest::new(sim)?;
            tokio::runtime::Runtime::new()?.block_on(async {
                let rules = rest.list("ip/firewall/filter?chain=input").await?;
                let id = |comment: &str| -> Result<String> {
                    rules
                        .iter()
                        .find(|r| r["comment"] == comment)
                        .and_then(|r| r[".id"].as_str())
                        .map(String::from)
                        .with_context(|| format!("no input rule {comment:?}: {rules:?}"))
                };
                let args = serde_json::json!({
                    "numbers": id("defconf: accept ICMP")?,
                    "destination": id("defconf: drop invalid")?,
                });
                rest.command("ip/firewall/filter", "move", &args).await
            })
        },
        |sim| {
            let rest = AdminRest::new(sim)?;
            let now = tokio::runtime::Runtime::new()?.block_on(input_comments(&rest))?;
            let configured: Vec<&str> = FILTER
                .iter()
                .filter(|r| r.contains(&("chain", "input")))
                .map(|r| {
                    r.iter()
                        .find(|(k, _)| *k == "comment")
                        .map_or("", |(_, v)| *v)
                })
                .collect();
            ensure!(
                now == configured,
                "the input chain's order is {now:?}, not {configured:?}"
            );
            Ok(())
        },
    )
}

/// Seed the router through its REST API with the admin user.
pub(super) fn seed(sim: &HomelabSim) -> Result<Seeded> {
    let rest = AdminRest::new(sim)?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        for (menu, items) in [
            ("ip/firewall/filter", FILTER),
            ("ip/firewall/nat", NAT),
            ("ip/firewall/address-list", ADDRESS_LIST),
            ("ip/dns/static", DNS_STATIC),
        ] {
            for props in items {
                rest.add(menu, props).await?;
            }
        }
        // The temporary entry is the router's now.
        let entries: Vec<Value> = rest
            .http
            .get(format!(
                "{}/rest/ip/firewall/address-list?list=blocklist",
                rest.base
            ))
            .basic_auth(&rest.user, Some(&rest.password))
            .send()
            .await?
            .json()
            .await?;
        ensure!(
            entries
                .iter()
                .any(|e| e["address"] == "203.0.113.7" && e["dynamic"] == "true"),
            "the address-list entry with a timeout is not dynamic: {entries:?}"
        );
        anyhow::Ok(())
    })?;
    let found = [
        // One ruleset per chain (the forward chain's dynamic fasttrack
        // counter rule stays RouterOS's).
        "homelab_routeros_firewall_ruleset.filter_input",
        "homelab_routeros_firewall_ruleset.filter_forward",
        "homelab_routeros_firewall_ruleset.filter_iot_fwd",
        "homelab_routeros_firewall_ruleset.nat_srcnat",
        "homelab_routeros_firewall_ruleset.nat_dstnat",
        // The lists the filter names (not `scratch`), static entries only.
        "homelab_routeros_firewall_address_list.mgmt_10_0_99_0_24",
        "homelab_routeros_firewall_address_list.mgmt_10_0_10_7",
        "homelab_routeros_firewall_address_list.iot_10_0_30_0_24",
        "homelab_routeros_firewall_address_list.blocklist_198_51_100_0_24",
        "homelab_routeros_dns_static.router_lan_a",
        "homelab_routeros_dns_static.nas_lan_a",
        "homelab_routeros_dns_static.nas6_lan_aaaa",
        "homelab_routeros_dns_static.files_lan_cname",
        "homelab_routeros_dns_static.lan_mx",
        "homelab_routeros_dns_static.lan_txt",
        "homelab_routeros_dns_static.ads_example_nxdomain",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    let skipped = [
        r#"^filter rule \*1 in chain forward \("special dummy rule to show fasttrack counters"\): dynamic: the router makes it itself"#,
        r"^address-list entry 203\.0\.113\.7 in blocklist \(\*[0-9A-F]+\): dynamic: the router made it \(an entry with a timeout",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    Ok(Seeded {
        backend: "routeros",
        found,
        skipped,
        args: ["mgmt", "iot", "blocklist"]
            .iter()
            .flat_map(|l| ["--filter".to_string(), format!("list={l}")])
            .collect(),
        discover_env: BTreeMap::from([
            (
                "ROS_USERNAME".to_string(),
                sim.env("ROS_READONLY_USERNAME")?.to_string(),
            ),
            (
                "ROS_PASSWORD".to_string(),
                sim.env("ROS_READONLY_PASSWORD")?.to_string(),
            ),
        ]),
        terraform_env: BTreeMap::new(),
        hand_edits: Vec::new(),
        extra_hcl: String::new(),
        // Every ruleset is exclusive: its destroy deletes every static
        // rule of its chain, and the address lists' and DNS entries'
        // destroys theirs; the dynamic rule and the dynamic (timeout)
        // address-list entry are the router's and stay, still skipped.
        gone_with_destroy: Vec::new(),
        drift: Some(drift()),
    })
}

#[test]
fn adopts_a_hand_built_routeros() -> Result<()> {
    let sim = HomelabSim::start()?;
    let seeded = seed(&sim)?;
    let figures = super::adopt(&sim, &[seeded])?;
    eprintln!("{figures:#?}");
    Ok(())
}
