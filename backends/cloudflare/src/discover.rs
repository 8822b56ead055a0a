//! Discovery: the DNS records of every zone the token can see, as import
//! blocks for `homelab_cloudflare_dns_record` (import ID `zone_id/record_id`).
//!
//! Reads only (`GET /zones`, `GET /zones/{zone_id}/dns_records`, both
//! paginated: a DNS Read token suffices). A zone-scoped token without the
//! zone list permission lists nothing, but finds its zones when the `zone`
//! filter names them (by name or id). Records of types the resource does not
//! manage are skipped, each with its reason. The API's record object
//! (OpenAPI `dns-records_dns-record-response`, whose `meta` holds only
//! read-only glue and shadowing facts) has no record Cloudflare makes itself
//! that the listing returns: the name servers Cloudflare assigns to the zone
//! are the zone's `name_servers` (OpenAPI `zones_zone.name_servers`), not
//! records. So every NS record listed is one a person made (a delegation
//! such as `lab` to a home DNS server, or apex NS records of a multi-provider
//! setup) and is imported like any other record.

use std::collections::BTreeSet;

use labforge_framework::discover::{Filter, Inventory};
use labforge_framework::{Error, Result};
use labforge_http::ApiErrorKind as _;

use crate::client::{ApiRecord, ApiZone, Client};
use crate::resources::record::TYPES;

/// Every record of the zones `filter` allows (key `zone`: zone names or ids).
pub async fn discover(client: &Client, filter: &Filter) -> Result<Inventory> {
    let mut inv = Inventory::new();
    let zones = zones(client, filter).await?;
    for z in zones {
        let zone = z.name.trim_end_matches('.').to_ascii_lowercase();
        let mut records = client
            .list_records(&z.id)
            .await
            .map_err(|e| Error::msg(format!("listing the DNS records of zone {zone}: {e}")))?;
        // Records sharing a name and type get `_2`, `_3`: a stable order.
        records.sort_by_key(|r| {
            (
                r.name.to_ascii_lowercase(),
                r.record_type.clone(),
                value(r),
                r.id.clone(),
            )
        });
        for r in &records {
            let name = r.name.trim_end_matches('.').to_ascii_lowercase();
            let t = r.record_type.to_ascii_uppercase();
            if !TYPES.contains(&t.as_str()) {
                inv.skip(
                    format!("{t} record {name} (zone {zone})"),
                    format!(
                        "type {t} is not managed by homelab_cloudflare_dns_record ({} only)",
                        TYPES.join(", ")
                    ),
                );
                continue;
            }
            let proxied = if r.proxied == Some(true) {
                " (proxied)"
            } else {
                ""
            };
            inv.found(
                "cloudflare_dns_record",
                &[&name, &t],
                format!("{}/{}", z.id, r.id),
                format!("{t} {name} -> {}{proxied}", value(r)),
            )
            .attr("zone", &zone)
            .attr("zone_id", &z.id)
            .attr("name", &name)
            .attr("type", &t);
        }
    }
    Ok(inv)
}

/// The zones to look in: all the token lists, those the filter allows; or,
/// when the token may not list zones, those the filter names.
async fn zones(client: &Client, filter: &Filter) -> Result<Vec<ApiZone>> {
    let wanted = filter.values("zone");
    let listed = match client.list_zones().await {
        Ok(z) => Some(z),
        Err(e) if e.is_forbidden() && !wanted.is_empty() => None,
        Err(e) if e.is_forbidden() => {
            return Err(Error::new(
                "Cannot list Cloudflare zones",
                format!(
                    "{e}. The token may not list zones (zone-scoped tokens lack the zone list \
                     permission): name the zones to look in with the `zone` filter (zone \
                     names or ids)."
                ),
            ));
        }
        Err(e) => return Err(Error::msg(format!("listing Cloudflare zones: {e}"))),
    };
    let mut out: Vec<ApiZone> = match listed {
        Some(all) => all
            .into_iter()
            .filter(|z| filter.allows("zone", &z.name) || filter.allows("zone", &z.id))
            .collect(),
        None => {
            let mut found = Vec::new();
            for w in wanted {
                let w = w.trim();
                if w.len() == 32 && w.bytes().all(|b| b.is_ascii_hexdigit()) {
                    match client.get_zone(w).await {
                        Ok(z) => found.push(z),
                        Err(e) if e.is_not_found() => {}
                        Err(e) => return Err(Error::msg(format!("reading zone {w}: {e}"))),
                    }
                } else {
                    found.extend(
                        client
                            .find_zones(w)
                            .await
                            .map_err(|e| Error::msg(format!("looking up zone {w}: {e}")))?,
                    );
                }
            }
            found
        }
    };
    let mut seen = BTreeSet::new();
    out.retain(|z| seen.insert(z.id.clone()));
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The record's value for people: content, or SRV/CAA data like a zone file.
fn value(r: &ApiRecord) -> String {
    let d = r.data.clone().unwrap_or_default();
    let n = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    match r.record_type.as_str() {
        "MX" => format!(
            "{} {}",
            n(r.priority),
            r.content.clone().unwrap_or_default()
        ),
        "SRV" => format!(
            "{} {} {} {}",
            n(d.priority.or(r.priority)),
            n(d.weight),
            n(d.port),
            d.target.unwrap_or_default()
        ),
        "CAA" => format!(
            "{} {} {}",
            n(d.flags),
            d.tag.unwrap_or_default(),
            d.value.unwrap_or_default()
        ),
        _ => r.content.clone().unwrap_or_default(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::Settings;
    use labforge_http::RateLimit;
    use labforge_simulators::cloudflare::{
        CloudflareSim, EDIT_TOKEN, READ_TOKEN, SCOPED_TOKEN, ZONE_EXAMPLE_COM, ZONE_LAB_EXAMPLE_NET,
    };
    use serde_json::json;

    fn client(sim: &CloudflareSim, token: &str) -> Client {
        Client::new(Settings {
            api_token: token.to_string().into(),
            base_url: sim.base_url(),
            rate_limit: RateLimit::Steady { per_second: 1000.0 },
            max_retries: 0,
        })
        .unwrap()
    }

    fn seed(sim: &CloudflareSim) {
        for body in [
            json!({"type": "A", "name": "www", "content": "192.0.2.10", "ttl": 300, "comment": "web"}),
            json!({"type": "A", "name": "www", "content": "192.0.2.11", "ttl": 300}),
            json!({"type": "MX", "name": "@", "content": "mail.example.com", "priority": 10, "ttl": 1}),
            json!({"type": "SRV", "name": "_sip._tcp", "data": {"priority": 10, "weight": 5, "port": 5060, "target": "sip.example.com"}, "ttl": 1}),
            json!({"type": "NS", "name": "sub", "content": "NS1.Other.Net.", "ttl": 3600}),
            json!({"type": "PTR", "name": "ptr", "content": "printer.example.com"}),
        ] {
            sim.create_record(ZONE_EXAMPLE_COM, body).unwrap();
        }
    }

    fn names(inv: &Inventory) -> Vec<String> {
        inv.found.iter().map(|f| f.name.clone()).collect()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn lists_every_zone_and_skips_unmanaged_types() {
        let sim = CloudflareSim::start().unwrap();
        seed(&sim);
        let inv = discover(&client(&sim, READ_TOKEN), &Filter::all())
            .await
            .unwrap();
        assert_eq!(
            names(&inv),
            [
                "sip_tcp_example_com_srv",
                "example_com_mx",
                "sub_example_com_ns",
                "www_example_com_a",
                "www_example_com_a_2",
                "lab_example_net_a",
                "lab_example_net_txt",
            ]
        );
        let ns = &inv.found[2];
        assert_eq!(ns.summary, "NS sub.example.com -> ns1.other.net");
        assert!(
            ns.id.starts_with(&format!("{ZONE_EXAMPLE_COM}/")),
            "{}",
            ns.id
        );
        let www = &inv.found[3];
        let rid = sim
            .records(ZONE_EXAMPLE_COM)
            .into_iter()
            .find(|r| r["content"] == "192.0.2.10")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(www.id, format!("{ZONE_EXAMPLE_COM}/{rid}"));
        assert_eq!(www.summary, "A www.example.com -> 192.0.2.10");
        assert!(inv.found[5].id.starts_with(ZONE_LAB_EXAMPLE_NET));
        assert_eq!(inv.skipped.len(), 1, "{:?}", inv.skipped);
        assert_eq!(
            inv.skipped[0].what,
            "PTR record ptr.example.com (zone example.com)"
        );
        assert!(
            inv.skipped[0].why.starts_with("type PTR is not managed"),
            "{}",
            inv.skipped[0].why
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn zone_filter_by_name_or_id_and_scoped_tokens() {
        let sim = CloudflareSim::start().unwrap();
        seed(&sim);
        let by_name = discover(
            &client(&sim, EDIT_TOKEN),
            &Filter::all().with("zone", ["Lab.Example.Net."]),
        )
        .await
        .unwrap();
        assert_eq!(
            names(&by_name),
            ["lab_example_net_a", "lab_example_net_txt"]
        );
        let by_id = discover(
            &client(&sim, READ_TOKEN),
            &Filter::all().with("zone", [ZONE_LAB_EXAMPLE_NET]),
        )
        .await
        .unwrap();
        assert_eq!(names(&by_id), names(&by_name));
        // A zone-scoped token cannot list zones: it needs the filter.
        let scoped = client(&sim, SCOPED_TOKEN);
        let e = discover(&scoped, &Filter::all()).await.unwrap_err();
        assert!(format!("{e:?}").contains("`zone` filter"), "{e:?}");
        for z in ["example.com", ZONE_EXAMPLE_COM] {
            let inv = discover(&scoped, &Filter::all().with("zone", [z]))
                .await
                .unwrap();
            assert_eq!(inv.found.len(), 5, "{z}: {:?}", names(&inv));
        }
    }
}
