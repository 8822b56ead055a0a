//! Adopting a hand-built technitium (see the module above): zones and
//! records made through Technitium's own HTTP API (`/api/zones/create`,
//! `/api/zones/records/add`, the admin token in the form body), as a
//! person's script would, then adopted with the read-only token.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result, ensure};
use serde_json::Value;

use super::{Drift, Seeded};
use crate::support::lab_ci::HomelabSim;

/// One API call (form POST), failing unless `status` is `ok`.
async fn call(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    path: &str,
    params: &[(&str, &str)],
) -> Result<Value> {
    let mut form: Vec<(&str, &str)> = vec![("token", token)];
    form.extend_from_slice(params);
    let resp = http
        .post(format!("{}{path}", url.trim_end_matches('/')))
        .form(&form)
        .send()
        .await
        .with_context(|| format!("POST {path}"))?;
    let body: Value = resp.json().await.with_context(|| format!("POST {path}"))?;
    ensure!(body["status"] == "ok", "POST {path} {params:?}: {body}");
    Ok(body)
}

/// The hand-built lab: what `seed` makes.
const ZONES: &[&[(&str, &str)]] = &[
    &[("zone", "lab.home.arpa"), ("type", "Primary")],
    // A reverse zone, given as its network (the server names it).
    &[("zone", "192.168.10.0/24"), ("type", "Primary")],
    &[
        ("zone", "corp.example"),
        ("type", "Forwarder"),
        ("initializeForwarder", "true"),
        ("forwarder", "10.20.0.53"),
    ],
    &[
        ("zone", "partner.example"),
        ("type", "Secondary"),
        ("primaryNameServerAddresses", "10.30.0.53"),
    ],
];

const RECORDS: &[&[(&str, &str)]] = &[
    // Beside the simulator's seeded home.arpa records (ns1, router).
    &[
        ("domain", "nas.home.arpa"),
        ("type", "A"),
        ("ipAddress", "192.168.1.20"),
        ("ttl", "300"),
        ("comments", "Synology"),
    ],
    &[
        ("domain", "home.arpa"),
        ("type", "MX"),
        ("preference", "10"),
        ("exchange", "mail.home.arpa"),
    ],
    &[
        ("domain", "home.arpa"),
        ("type", "TXT"),
        ("text", "v=spf1 mx -all"),
    ],
    &[
        ("domain", "www.lab.home.arpa"),
        ("type", "A"),
        ("ipAddress", "192.168.10.11"),
    ],
    &[
        ("domain", "www.lab.home.arpa"),
        ("type", "A"),
        ("ipAddress", "192.168.10.12"),
    ],
    &[
        ("domain", "www.lab.home.arpa"),
        ("type", "AAAA"),
        ("ipAddress", "fd00:10::11"),
    ],
    &[
        ("domain", "git.lab.home.arpa"),
        ("type", "CNAME"),
        ("cname", "www.lab.home.arpa"),
    ],
    &[
        ("domain", "old.lab.home.arpa"),
        ("type", "A"),
        ("ipAddress", "192.168.10.99"),
    ],
    &[
        ("domain", "_ldap._tcp.lab.home.arpa"),
        ("type", "SRV"),
        ("priority", "0"),
        ("weight", "5"),
        ("port", "389"),
        ("target", "dc.lab.home.arpa"),
    ],
    &[
        ("domain", "lab.home.arpa"),
        ("type", "CAA"),
        ("flags", "0"),
        ("tag", "issue"),
        ("value", "letsencrypt.org"),
    ],
    &[
        ("domain", "_dmarc.lab.home.arpa"),
        ("type", "TXT"),
        (
            "text",
            "v=DMARC1; p=none; rua=mailto:\"dmarc\"@lab.home.arpa",
        ),
    ],
    &[
        ("domain", "k8s.lab.home.arpa"),
        ("type", "NS"),
        ("nameServer", "ns.k8s.lab.home.arpa"),
    ],
    &[
        ("domain", "legacy.lab.home.arpa"),
        ("type", "DNAME"),
        ("dname", "lab.home.arpa"),
    ],
    &[
        ("domain", "11.10.168.192.in-addr.arpa"),
        ("type", "PTR"),
        ("ptrName", "www.lab.home.arpa"),
    ],
    &[
        ("domain", "12.10.168.192.in-addr.arpa"),
        ("type", "PTR"),
        ("ptrName", "www.lab.home.arpa"),
    ],
];

/// A DKIM key: TXT text over 255 bytes (the server splits it into
/// character-strings; base64 brings slashes into the import ID).
const DKIM: &str = "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu5d/8Hd+Qm0Zq9Yp3oN8vX1tR6lKc2Wm4Jf7Ee5sQb0yGh/TrNnPa3LxV9iU2dKo6Zw1CqMfHjBtYe8Ru4Pv0Sx7Ni2Gk5Ol3Da9Fb6Hc1Jm8Qe4Ws0Xy2Rt7Uv5Zp3Lk9Mn6Bo1Cq8Dr4Es0Ft2Gu7Hv5Iw3Jx9Ky6Lz1Ma8Nb4Oc0Pd2Qe7Rf5Sg3Th9Ui6Vj1Wk8Xl4Ym0Zn2Ao7Bp5Cq3Dr9Es6Ft1Gu8Hv4Iw0Jx2Ky7Lz5Ma3Nb9Oc6Pd1Qe8Rf4Sg0Th2Ui7Vj5Wk3Xl9Ym6Zn1IDAQAB";

/// Disable `old.lab.home.arpa` (kept, not served).
const DISABLE: &[(&str, &str)] = &[
    ("domain", "old.lab.home.arpa"),
    ("type", "A"),
    ("ipAddress", "192.168.10.99"),
    ("newIpAddress", "192.168.10.99"),
    ("ttl", "600"),
    ("disable", "true"),
    ("comments", "decommissioned"),
];

/// The drift: someone lowers nas.home.arpa's TTL in the web console
/// before a move (`/api/zones/records/update`: APIDOCS.md "Update Record";
/// `comments` given again, as an omitted one is reset). The plan must
/// update the record in place, back to the seed's 300 s.
fn drift() -> Drift {
    Drift::update(
        "homelab_technitium_dns_record.nas_home_arpa_a",
        "nas.home.arpa's TTL lowered from 300 to 60 in the web console",
        |sim| {
            let (url, token) = admin(sim)?;
            let update = [
                ("domain", "nas.home.arpa"),
                ("type", "A"),
                ("ipAddress", "192.168.1.20"),
                ("newIpAddress", "192.168.1.20"),
                ("ttl", "60"),
                ("comments", "Synology"),
            ];
            tokio::runtime::Runtime::new()?.block_on(async {
                let http = reqwest::Client::builder()
                    .danger_accept_invalid_certs(true)
                    .build()?;
                call(&http, &url, &token, "/api/zones/records/update", &update)
                    .await
                    .map(|_| ())
            })
        },
        |sim| {
            let (url, token) = admin(sim)?;
            let body = tokio::runtime::Runtime::new()?.block_on(async {
                let http = reqwest::Client::builder()
                    .danger_accept_invalid_certs(true)
                    .build()?;
                call(
                    &http,
                    &url,
                    &token,
                    "/api/zones/records/get",
                    &[("domain", "nas.home.arpa"), ("zone", "home.arpa")],
                )
                .await
            })?;
            let records = body["response"]["records"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let nas: Vec<&Value> = records
                .iter()
                .filter(|r| r["type"] == "A" && r["rData"]["ipAddress"] == "192.168.1.20")
                .collect();
            ensure!(
                nas.len() == 1 && nas[0]["ttl"] == 300 && nas[0]["comments"] == "Synology",
                "nas.home.arpa A is not the configured one (192.168.1.20, TTL 300, \
                 \"Synology\"): {records:?}"
            );
            Ok(())
        },
    )
}

/// The server's URL and the admin token.
fn admin(sim: &HomelabSim) -> Result<(String, String)> {
    Ok((
        sim.env("TECHNITIUM_URL")?.to_string(),
        sim.env("TECHNITIUM_TOKEN")?.to_string(),
    ))
}

/// Seed the lab through Technitium's HTTP API with the admin token.
pub(super) fn seed(sim: &HomelabSim) -> Result<Seeded> {
    let url = sim.env("TECHNITIUM_URL")?.to_string();
    let token = sim.env("TECHNITIUM_TOKEN")?.to_string();
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let http = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .build()?;
        for z in ZONES {
            call(&http, &url, &token, "/api/zones/create", z).await?;
        }
        for r in RECORDS {
            call(&http, &url, &token, "/api/zones/records/add", r).await?;
        }
        // `records/add` has no `disable`: a record is disabled by an update
        // (APIDOCS.md "Update Record"; omitted ttl and comments reset).
        call(&http, &url, &token, "/api/zones/records/update", DISABLE).await?;
        let dkim = [
            ("domain", "mail._domainkey.lab.home.arpa"),
            ("type", "TXT"),
            ("text", DKIM),
        ];
        call(&http, &url, &token, "/api/zones/records/add", &dkim).await?;
        anyhow::Ok(())
    })?;
    let found = [
        "homelab_technitium_zone.home_arpa",
        "homelab_technitium_zone.lab_home_arpa",
        "homelab_technitium_zone._10_168_192_in_addr_arpa",
        "homelab_technitium_zone.corp_example",
        "homelab_technitium_zone.partner_example",
        "homelab_technitium_dns_record.ns1_home_arpa_a",
        "homelab_technitium_dns_record.router_home_arpa_a",
        "homelab_technitium_dns_record.nas_home_arpa_a",
        "homelab_technitium_dns_record.home_arpa_mx",
        "homelab_technitium_dns_record.home_arpa_txt",
        "homelab_technitium_dns_record.www_lab_home_arpa_a",
        "homelab_technitium_dns_record.www_lab_home_arpa_a_2",
        "homelab_technitium_dns_record.www_lab_home_arpa_aaaa",
        "homelab_technitium_dns_record.git_lab_home_arpa_cname",
        "homelab_technitium_dns_record.old_lab_home_arpa_a",
        "homelab_technitium_dns_record.ldap_tcp_lab_home_arpa_srv",
        "homelab_technitium_dns_record.lab_home_arpa_caa",
        "homelab_technitium_dns_record.dmarc_lab_home_arpa_txt",
        "homelab_technitium_dns_record.mail_domainkey_lab_home_arpa_txt",
        "homelab_technitium_dns_record.k8s_lab_home_arpa_ns",
        "homelab_technitium_dns_record._11_10_168_192_in_addr_arpa_ptr",
        "homelab_technitium_dns_record._12_10_168_192_in_addr_arpa_ptr",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    let skipped = [
        r"^zone localhost: built-in zone the server makes itself",
        r"^zone 127\.in-addr\.arpa: built-in zone",
        r"^SOA record lab\.home\.arpa: the server makes it with the zone$",
        r"^NS record lab\.home\.arpa: the server makes it with the zone",
        r"^FWD record corp\.example: the zone's forwarder",
        r"^records of Secondary zone partner\.example: copied from the primary",
        r"^DNAME record legacy\.lab\.home\.arpa: type DNAME is not managed by homelab_technitium_dns_record",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    Ok(Seeded {
        backend: "technitium",
        found,
        skipped,
        args: Vec::new(),
        discover_env: BTreeMap::from([(
            "TECHNITIUM_TOKEN".to_string(),
            sim.env("TECHNITIUM_READONLY_TOKEN")?.to_string(),
        )]),
        terraform_env: BTreeMap::new(),
        hand_edits: Vec::new(),
        extra_hcl: String::new(),
        // The destroy deletes the imported zones (home.arpa and the four
        // seeded) with everything in them: the records the server made
        // with each (SOA, NS, the forwarder zone's FWD), the DNAME it
        // holds and the secondary's copied records go too. The built-in
        // zones stay.
        gone_with_destroy: [
            r"^SOA record home\.arpa: ",
            r"^NS record home\.arpa: ",
            r"^SOA record lab\.home\.arpa: ",
            r"^NS record lab\.home\.arpa: ",
            r"^SOA record 10\.168\.192\.in-addr\.arpa: ",
            r"^NS record 10\.168\.192\.in-addr\.arpa: ",
            r"^SOA record corp\.example: ",
            r"^FWD record corp\.example: ",
            r"^DNAME record legacy\.lab\.home\.arpa: ",
            r"^records of Secondary zone partner\.example: ",
        ]
        .into_iter()
        .map(String::from)
        .collect(),
        drift: Some(drift()),
    })
}

#[test]
fn adopts_a_hand_built_technitium() -> Result<()> {
    let sim = HomelabSim::start()?;
    let seeded = seed(&sim)?;
    let figures = super::adopt(&sim, &[seeded])?;
    eprintln!("{figures:#?}");
    Ok(())
}
