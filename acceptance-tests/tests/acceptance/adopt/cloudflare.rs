//! Adopting a hand-built cloudflare (see the module above): records made
//! through Cloudflare's own API (`POST /zones/{zone_id}/dns_records`, the
//! edit token as a Bearer), as a person's script would, then adopted with the
//! read-only token.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result, ensure};
use serde_json::{Value, json};

use super::{Drift, Seeded};
use crate::support::lab_ci::HomelabSim;

/// The hand-built records of `example.com` (the simulator holds the zone,
/// empty, and `lab.example.net` with two records).
fn records() -> Vec<Value> {
    vec![
        json!({"type": "A", "name": "www", "content": "203.0.113.10", "proxied": true, "ttl": 1,
               "comment": "web front", "tags": ["env:prod", "owner:ops"]}),
        json!({"type": "A", "name": "@", "content": "203.0.113.10", "ttl": 300}),
        json!({"type": "AAAA", "name": "www", "content": "2001:0db8:0000::10", "proxied": true}),
        json!({"type": "CNAME", "name": "blog", "content": "www.example.com", "ttl": 3600}),
        json!({"type": "MX", "name": "example.com", "content": "mail.example.com", "priority": 10}),
        json!({"type": "MX", "name": "@", "content": "mail2.example.com", "priority": 20}),
        json!({"type": "TXT", "name": "@", "content": "\"v=spf1 include:_spf.example.com ~all\""}),
        json!({"type": "TXT", "name": "_dmarc", "content": "v=DMARC1; p=none; rua=mailto:dmarc@example.com", "ttl": 3600}),
        json!({"type": "SRV", "name": "_sip._tls",
               "data": {"priority": 10, "weight": 5, "port": 5061, "target": "sip.example.com"}}),
        json!({"type": "CAA", "name": "@", "data": {"flags": 0, "tag": "issue", "value": "letsencrypt.org"}}),
        // A DKIM key as two quoted character-strings (over 255 bytes).
        json!({"type": "TXT", "name": "mail._domainkey", "content": format!("\"v=DKIM1; k=rsa; p={}\" \"{}\"", "A".repeat(230), "B/+9".repeat(30))}),
        // `lab` delegated to a home DNS server, with its glue address.
        json!({"type": "NS", "name": "lab", "content": "NS1.Lab.Example.com."}),
        json!({"type": "A", "name": "ns1.lab", "content": "198.51.100.53"}),
        // A type the resource does not manage.
        json!({"type": "PTR", "name": "printer", "content": "printer.lab.example.com"}),
    ]
}

/// Cloudflare's API with the edit token: `method path` (under the zone's
/// `dns_records`) with an optional JSON body; the envelope's `result`.
async fn api(
    sim: &HomelabSim,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> Result<Value> {
    let base = sim.env("CLOUDFLARE_BASE_URL")?;
    let token = sim.env("CLOUDFLARE_API_TOKEN")?;
    let zone = sim.env("CLOUDFLARE_ZONE_ID")?;
    let http = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()?;
    let url = format!("{base}/zones/{zone}/dns_records{path}");
    let mut req = http.request(method.clone(), &url).bearer_auth(token);
    if let Some(body) = body {
        req = req.json(body);
    }
    let answer: Value = req
        .send()
        .await
        .with_context(|| format!("{method} dns_records{path}"))?
        .json()
        .await
        .with_context(|| format!("{method} dns_records{path}"))?;
    ensure!(
        answer["success"] == true,
        "{method} dns_records{path}: {answer}"
    );
    Ok(answer["result"].clone())
}

/// The apex A record of example.com, as the API lists it.
async fn apex_a(sim: &HomelabSim) -> Result<Value> {
    let all = api(sim, reqwest::Method::GET, "?per_page=100", None).await?;
    let apex: Vec<Value> = all
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["type"] == "A" && r["name"] == "example.com")
        .cloned()
        .collect();
    ensure!(
        apex.len() == 1,
        "not one apex A record of example.com: {apex:?}"
    );
    Ok(apex[0].clone())
}

/// The drift: someone points the apex at a new address in the dashboard
/// (`PATCH /zones/{zone_id}/dns_records/{dns_record_id}`, the
/// "Update DNS Record" operation of Cloudflare's OpenAPI). `content` is
/// updated in place (no `requires_replace` on it): the plan must update
/// the record back to 203.0.113.10.
fn drift() -> Drift {
    Drift::update(
        "homelab_cloudflare_dns_record.example_com_a",
        "the apex A record of example.com pointed at 203.0.113.20 in the dashboard",
        |sim| {
            tokio::runtime::Runtime::new()?.block_on(async {
                let id = apex_a(sim).await?["id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                api(
                    sim,
                    reqwest::Method::PATCH,
                    &format!("/{id}"),
                    Some(&json!({"content": "203.0.113.20"})),
                )
                .await
                .map(|_| ())
            })
        },
        |sim| {
            let apex = tokio::runtime::Runtime::new()?.block_on(apex_a(sim))?;
            ensure!(
                apex["content"] == "203.0.113.10" && apex["ttl"] == 300,
                "the apex A record is not the configured one (203.0.113.10, TTL 300): {apex}"
            );
            Ok(())
        },
    )
}

/// Seed the lab through Cloudflare's API with the edit token.
pub(super) fn seed(sim: &HomelabSim) -> Result<Seeded> {
    let base = sim.env("CLOUDFLARE_BASE_URL")?.to_string();
    let token = sim.env("CLOUDFLARE_API_TOKEN")?.to_string();
    let zone = sim.env("CLOUDFLARE_ZONE_ID")?.to_string();
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let http = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .build()?;
        for body in records() {
            let resp = http
                .post(format!("{base}/zones/{zone}/dns_records"))
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await
                .context("POST dns_records")?;
            let answer: Value = resp.json().await.context("POST dns_records")?;
            ensure!(answer["success"] == true, "POST {body}: {answer}");
        }
        anyhow::Ok(())
    })?;
    let found = [
        "www_example_com_a",
        "example_com_a",
        "www_example_com_aaaa",
        "blog_example_com_cname",
        "example_com_mx",
        "example_com_mx_2",
        "example_com_txt",
        "dmarc_example_com_txt",
        "mail_domainkey_example_com_txt",
        "sip_tls_example_com_srv",
        "example_com_caa",
        "lab_example_com_ns",
        "ns1_lab_example_com_a",
        // Seeded by the simulator.
        "lab_example_net_a",
        "lab_example_net_txt",
    ]
    .into_iter()
    .map(|n| format!("homelab_cloudflare_dns_record.{n}"))
    .collect();
    Ok(Seeded {
        backend: "cloudflare",
        found,
        skipped: vec![
            r"^PTR record printer\.example\.com \(zone example\.com\): type PTR is not managed by homelab_cloudflare_dns_record".into(),
        ],
        args: Vec::new(),
        discover_env: BTreeMap::from([(
            "CLOUDFLARE_API_TOKEN".to_string(),
            sim.env("CLOUDFLARE_READONLY_TOKEN")?.to_string(),
        )]),
        terraform_env: BTreeMap::new(),
        hand_edits: Vec::new(),
        extra_hcl: String::new(),
        // The destroy deletes the imported records; the PTR record (a
        // type no resource manages) stays, and the zones (no resource
        // of this provider makes zones) stay.
        gone_with_destroy: Vec::new(),
        drift: Some(drift()),
    })
}

#[test]
fn adopts_a_hand_built_cloudflare() -> Result<()> {
    let sim = HomelabSim::start()?;
    let seeded = seed(&sim)?;
    let figures = super::adopt(&sim, &[seeded])?;
    eprintln!("{figures:#?}");
    Ok(())
}
