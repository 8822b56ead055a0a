//! Adopting a hand-built pfSense (see the module above): aliases and rules
//! made through pfSense-pkg-RESTAPI v2 (`POST /api/v2/firewall/alias`,
//! `POST /api/v2/firewall/rule`, `POST /api/v2/firewall/apply`, HTTP Basic
//! with the admin user), as a person's script would, then adopted with the
//! read-only user: one exclusive ruleset per interface (`LAN/*`), in
//! pfSense's order, and the aliases.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result, ensure};
use serde_json::{Value, json};

use super::{Drift, Seeded};
use crate::support::lab_ci::HomelabSim;

/// pfSense-pkg-RESTAPI v2 as the admin user (HTTP Basic; the simulator's
/// certificate is not checked).
pub(super) struct AdminApi {
    http: reqwest::Client,
    url: String,
    user: String,
    password: String,
}

impl AdminApi {
    /// The client for `sim`'s pfSense.
    pub(super) fn new(sim: &HomelabSim) -> Result<AdminApi> {
        Ok(AdminApi {
            http: reqwest::Client::builder()
                .danger_accept_invalid_certs(true)
                .build()?,
            url: sim.env("PFSENSE_URL")?.trim_end_matches('/').to_string(),
            user: sim.env("PFSENSE_USERNAME")?.to_string(),
            password: sim.env("PFSENSE_PASSWORD")?.to_string(),
        })
    }

    /// One API call (`POST /api/v2<path>`, JSON body), failing unless the
    /// envelope says 200; its `data`.
    pub(super) async fn call(&self, path: &str, body: &Value) -> Result<Value> {
        self.request(reqwest::Method::POST, path, body).await
    }

    /// One API call (`<method> /api/v2<path>`, JSON body; a GET sends none),
    /// failing unless the envelope says 200; its `data`.
    pub(super) async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
    ) -> Result<Value> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}/api/v2{path}", self.url))
            .basic_auth(&self.user, Some(&self.password));
        if method != reqwest::Method::GET {
            req = req.json(body);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        let answer: Value = resp
            .json()
            .await
            .with_context(|| format!("{method} {path}"))?;
        ensure!(answer["code"] == 200, "{method} {path} {body}: {answer}");
        Ok(answer["data"].clone())
    }
}

/// The WireGuard rule on WAN (UDP 51820), as the API lists it.
async fn wireguard_rule(api: &AdminApi) -> Result<Value> {
    let rules = api
        .request(reqwest::Method::GET, "/firewall/rules", &Value::Null)
        .await?;
    let found: Vec<Value> = rules
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["protocol"] == "udp" && r["destination_port"] == "51820")
        .cloned()
        .collect();
    ensure!(found.len() == 1, "not one UDP 51820 rule: {rules}");
    Ok(found[0].clone())
}

/// The drift: someone renames the WireGuard rule's description in the web
/// UI and applies (`PATCH /api/v2/firewall/rule` with the rule's `id`,
/// then `POST /api/v2/firewall/apply`: pfSense-pkg-RESTAPI's
/// `FirewallRuleEndpoint` and `FirewallApplyEndpoint`). The plan must
/// update the WAN ruleset in place, back to "WireGuard".
fn drift() -> Drift {
    Drift::update(
        "homelab_pfsense_firewall_ruleset.wan",
        "the WAN WireGuard rule's description edited in the web UI",
        |sim| {
            let api = AdminApi::new(sim)?;
            tokio::runtime::Runtime::new()?.block_on(async {
                let rule = wireguard_rule(&api).await?;
                api.request(
                    reqwest::Method::PATCH,
                    "/firewall/rule",
                    &json!({"id": rule["id"], "descr": "WireGuard (road warriors)"}),
                )
                .await?;
                api.call("/firewall/apply", &json!({"async": false}))
                    .await
                    .map(|_| ())
            })
        },
        |sim| {
            let api = AdminApi::new(sim)?;
            let rule = tokio::runtime::Runtime::new()?.block_on(wireguard_rule(&api))?;
            ensure!(
                rule["descr"] == "WireGuard" && rule["log"] == true,
                "the WireGuard rule is not the configured one (\"WireGuard\", logged): {rule}"
            );
            Ok(())
        },
    )
}

/// The aliases the rules use.
fn aliases() -> Vec<Value> {
    vec![
        json!({"name": "web_servers", "type": "host", "descr": "DMZ web servers",
               "address": ["10.0.20.10", "10.0.20.11"], "detail": ["web1", "web2"]}),
        json!({"name": "admin_ports", "type": "port",
               "address": ["22", "443", "8443:8450"], "detail": []}),
        json!({"name": "rfc1918", "type": "network",
               "address": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"],
               "detail": ["", "", ""]}),
    ]
}

/// The rules, in the order the person made them (the LAN one goes on top
/// of the two default LAN rules of a fresh install).
fn rules() -> Vec<Value> {
    vec![
        json!({"type": "block", "interface": ["WAN"], "ipprotocol": "inet",
               "source": "rfc1918", "destination": "any",
               "descr": "Block private networks"}),
        json!({"type": "pass", "interface": ["WAN"], "ipprotocol": "inet",
               "protocol": "udp", "source": "any", "destination": "WAN:ip",
               "destination_port": "51820", "descr": "WireGuard", "log": true}),
        json!({"type": "pass", "interface": ["DMZ"], "ipprotocol": "inet",
               "protocol": "tcp", "source": "DMZ", "destination": "any",
               "destination_port": "443", "descr": "DMZ to internet https"}),
        json!({"type": "reject", "interface": ["DMZ"], "ipprotocol": "inet46",
               "source": "DMZ", "destination": "LAN", "descr": ""}),
        json!({"type": "pass", "interface": ["DMZ"], "ipprotocol": "inet",
               "protocol": "icmp", "icmptype": ["echoreq", "unreach"],
               "source": "DMZ", "destination": "any", "descr": "ping out"}),
        json!({"type": "pass", "interface": ["DMZ"], "ipprotocol": "inet",
               "protocol": "tcp", "source": "DMZ", "destination": "any",
               "destination_port": "8080", "descr": "old proxy", "disabled": true}),
        json!({"type": "pass", "interface": ["LAN"], "ipprotocol": "inet",
               "protocol": "tcp", "source": "LAN", "destination": "web_servers",
               "destination_port": "admin_ports", "descr": "admin to web",
               "placement": 0}),
        json!({"type": "block", "interface": ["WAN", "LAN"], "floating": true,
               "ipprotocol": "inet", "protocol": "tcp", "source": "any",
               "destination": "any", "destination_port": "445",
               "descr": "Block SMB everywhere"}),
    ]
}

/// Seed the lab through the REST API as the admin user, and apply.
pub(super) fn seed(sim: &HomelabSim) -> Result<Seeded> {
    let api = AdminApi::new(sim)?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        for a in aliases() {
            api.call("/firewall/alias", &a).await?;
        }
        for r in rules() {
            api.call("/firewall/rule", &r).await?;
        }
        api.call("/firewall/apply", &json!({"async": false}))
            .await?;
        anyhow::Ok(())
    })?;
    let found = [
        // Interfaces in pfSense's order; LAN holds the fresh install's two
        // default allow rules below the one made here.
        "homelab_pfsense_firewall_ruleset.wan",
        "homelab_pfsense_firewall_ruleset.lan",
        "homelab_pfsense_firewall_ruleset.dmz",
        "homelab_pfsense_firewall_alias.web_servers",
        "homelab_pfsense_firewall_alias.admin_ports",
        "homelab_pfsense_firewall_alias.rfc1918",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    let skipped = [
        r#"^floating rule \d+ "Block SMB everywhere" on WAN, LAN: floating rules span interfaces and directions; neither homelab_pfsense_firewall_ruleset nor homelab_pfsense_firewall_rule holds them"#,
        r"^anti-lockout rule of LAN: pfSense generates it from System > Advanced > Admin Access",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    Ok(Seeded {
        backend: "pfsense",
        found,
        skipped,
        args: Vec::new(),
        discover_env: BTreeMap::from([
            (
                "PFSENSE_USERNAME".to_string(),
                sim.env("PFSENSE_READONLY_USERNAME")?.to_string(),
            ),
            (
                "PFSENSE_PASSWORD".to_string(),
                sim.env("PFSENSE_READONLY_PASSWORD")?.to_string(),
            ),
        ]),
        terraform_env: BTreeMap::new(),
        hand_edits: Vec::new(),
        extra_hcl: String::new(),
        // The exclusive rulesets' destroy deletes every stored rule of
        // their interface (LAN's two default allow rules included), the
        // aliases go; the floating rule (no ruleset holds it) and the
        // generated anti-lockout rule stay, still skipped.
        gone_with_destroy: Vec::new(),
        drift: Some(drift()),
    })
}

#[test]
fn adopts_a_hand_built_pfsense() -> Result<()> {
    let sim = HomelabSim::start()?;
    let seeded = seed(&sim)?;
    let figures = super::adopt(&sim, &[seeded])?;
    eprintln!("{figures:#?}");
    Ok(())
}
