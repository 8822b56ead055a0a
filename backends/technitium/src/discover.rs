//! Discovery: the zones and records a Technitium server holds, as import
//! blocks for `homelab_technitium_zone` and `homelab_technitium_dns_record`.
//!
//! Reads only (`zones/list`, `zones/records/get`: "Zones: View" suffices).
//! Left alone, each with its reason:
//! - the built-in zones the server makes itself (`localhost`, the reserved
//!   reverse zones): `zones/list` marks them `internal` (APIDOCS.md "List
//!   Zones");
//! - zone types `homelab_technitium_zone` does not create (`Catalog`,
//!   `SecondaryForwarder`, `SecondaryCatalog`);
//! - the SOA record of every zone and the apex NS record naming the server
//!   itself (the SOA's primary name server), which the server writes when it
//!   creates a Primary zone;
//! - the apex FWD record of a Forwarder zone: it is the zone's `forwarder`;
//! - the records of Secondary and Stub zones, copied from their primary;
//! - record types `homelab_technitium_dns_record` does not manage (`DNAME`,
//!   `ANAME`, other FWD records, `APP`, ...).

use labforge_framework::discover::{Filter, Inventory};
use labforge_framework::{Error, Result};

use crate::client::{Client, RecordInfo, ZoneInfo};
use crate::rdata::{RECORD_TYPES, RecordData, fqdn, import_id, norm_name};
use crate::resources::zone::ZONE_TYPES;

/// Everything on the server that `filter` allows (key `zone`: zone names).
pub async fn discover(client: &Client, filter: &Filter) -> Result<Inventory> {
    let mut inv = Inventory::new();
    let zones = client
        .zones()
        .await
        .map_err(|e| Error::msg(format!("listing Technitium zones: {e}")))?;
    let mut zones: Vec<ZoneInfo> = zones.as_ref().clone();
    zones.sort_by_key(|z| norm_name(&z.name));
    for z in &zones {
        let name = norm_name(&z.name);
        if !filter.allows("zone", &name) {
            continue;
        }
        let shown = if name.is_empty() { "." } else { name.as_str() };
        if z.internal {
            inv.skip(
                format!("zone {shown}"),
                "built-in zone the server makes itself (internal)",
            );
            continue;
        }
        if !ZONE_TYPES.contains(&z.zone_type.as_str()) {
            inv.skip(
                format!("zone {shown} ({})", z.zone_type),
                format!(
                    "{} zones are not managed by homelab_technitium_zone ({} only)",
                    z.zone_type,
                    ZONE_TYPES.join(", ")
                ),
            );
            continue;
        }
        let disabled = if z.disabled { ", disabled" } else { "" };
        inv.found(
            "technitium_zone",
            &[shown],
            &z.name,
            format!("{} zone {shown}{disabled}", z.zone_type),
        )
        .attr("zone", &name)
        .attr("type", &z.zone_type);
        if matches!(z.zone_type.as_str(), "Secondary" | "Stub") {
            inv.skip(
                format!("records of {} zone {shown}", z.zone_type),
                "copied from the primary name server; manage them there",
            );
            continue;
        }
        let records = client
            .zone_records(&name)
            .await
            .map_err(|e| Error::msg(format!("listing the records of zone {shown}: {e}")))?;
        zone_records(&mut inv, z, &records);
    }
    Ok(inv)
}

/// The records of Primary or Forwarder zone `z`.
fn zone_records(inv: &mut Inventory, z: &ZoneInfo, records: &[RecordInfo]) {
    let zone = norm_name(&z.name);
    // The server's own name: the SOA's primary name server, which the apex
    // NS record it writes with a new Primary zone names.
    let server = records
        .iter()
        .find(|r| r.rtype.eq_ignore_ascii_case("SOA") && norm_name(&r.name) == zone)
        .and_then(|r| r.str("primaryNameServer"))
        .map(|s| norm_name(&s));
    let mut rows: Vec<(String, RecordData, &RecordInfo)> = Vec::new();
    for r in records {
        let fq = norm_name(&r.name);
        let rtype = r.rtype.to_ascii_uppercase();
        let apex = fq == zone;
        let what = format!("{rtype} record {fq}");
        if rtype == "SOA" {
            inv.skip(what, "the server makes it with the zone");
            continue;
        }
        if rtype == "NS"
            && apex
            && server.is_some()
            && r.str("nameServer").map(|s| norm_name(&s)) == server
        {
            inv.skip(
                what,
                "the server makes it with the zone (it names the server itself)",
            );
            continue;
        }
        if rtype == "FWD" && apex && z.zone_type == "Forwarder" {
            inv.skip(
                what,
                "the zone's forwarder: `forwarder` of homelab_technitium_zone",
            );
            continue;
        }
        let Some(data) = RecordData::from_record(r) else {
            let why = if RECORD_TYPES.contains(&rtype.as_str()) {
                "its data cannot be read".to_string()
            } else {
                format!(
                    "type {rtype} is not managed by homelab_technitium_dns_record ({} only)",
                    RECORD_TYPES.join(", ")
                )
            };
            inv.skip(what, why);
            continue;
        };
        rows.push((fq, data, r));
    }
    // Round-robin records get `_2`, `_3`: list them in a stable order.
    rows.sort_by(|a, b| {
        (&a.0, a.1.rtype.as_str(), a.1.id_value()).cmp(&(&b.0, b.1.rtype.as_str(), b.1.id_value()))
    });
    for (fq, data, r) in rows {
        let name = relative_name(&fq, &zone);
        let id = import_id(&z.name, &name, &data);
        let disabled = if r.disabled { " (disabled)" } else { "" };
        inv.found(
            "technitium_dns_record",
            &[&fq, data.rtype.as_str()],
            id,
            format!("{} {fq} -> {}{disabled}", data.rtype, data.id_value()),
        )
        .attr("zone", &zone)
        .attr("name", &fq)
        .attr("type", data.rtype.as_str());
    }
}

/// The owner name as a configuration writes it: `@` for the apex, relative
/// to the zone otherwise; fully qualified with a trailing dot when the
/// relative form would be read as another name (`home.arpa.home.arpa`).
pub fn relative_name(fq: &str, zone: &str) -> String {
    let rel = if fq == zone {
        "@".to_string()
    } else {
        fq.strip_suffix(&format!(".{zone}"))
            .unwrap_or(fq)
            .to_string()
    };
    if fqdn(&rel, zone) == fq {
        rel
    } else {
        format!("{fq}.")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::Settings;
    use labforge_http::Auth;
    use labforge_simulators::technitium::{ADMIN_TOKEN, READONLY_TOKEN, TechnitiumSim};

    fn client(sim: &TechnitiumSim, token: &str) -> Client {
        Client::new(Settings {
            url: sim.base_url(),
            auth: Auth::Token(token.into()),
            ca_cert: None,
            insecure: false,
        })
        .unwrap()
    }

    fn ids(inv: &Inventory, rtype: &str) -> Vec<(String, String)> {
        inv.found
            .iter()
            .filter(|f| f.resource_type == rtype)
            .map(|f| (f.name.clone(), f.id.clone()))
            .collect()
    }

    fn seed(sim: &TechnitiumSim) {
        sim.create_zone("lab.internal", "Primary").unwrap();
        for p in [
            vec![
                ("domain", "lab.internal"),
                ("type", "MX"),
                ("preference", "10"),
                ("exchange", "mail.lab.internal"),
            ],
            vec![
                ("domain", "www.lab.internal"),
                ("type", "A"),
                ("ipAddress", "10.0.0.6"),
            ],
            vec![
                ("domain", "www.lab.internal"),
                ("type", "A"),
                ("ipAddress", "10.0.0.5"),
            ],
            vec![
                ("domain", "lab.internal"),
                ("type", "TXT"),
                ("text", "v=spf1 a/24 -all"),
            ],
            vec![
                ("domain", "_sip._tcp.lab.internal"),
                ("type", "SRV"),
                ("priority", "10"),
                ("weight", "5"),
                ("port", "5060"),
                ("target", "sip.lab.internal"),
            ],
            vec![
                ("domain", "sub.lab.internal"),
                ("type", "NS"),
                ("nameServer", "ns.sub.lab.internal"),
            ],
            vec![
                ("domain", "old.lab.internal"),
                ("type", "DNAME"),
                ("dname", "new.lab.internal"),
            ],
        ] {
            sim.add_record(&p).unwrap();
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn lists_zones_and_records_and_skips_what_the_server_makes() {
        let sim = TechnitiumSim::start().unwrap();
        seed(&sim);
        let inv = discover(&client(&sim, READONLY_TOKEN), &Filter::all())
            .await
            .unwrap();
        assert_eq!(
            ids(&inv, "technitium_zone"),
            vec![
                ("home_arpa".to_string(), "home.arpa".to_string()),
                ("lab_internal".into(), "lab.internal".into()),
            ]
        );
        let records = ids(&inv, "technitium_dns_record");
        let want = [
            ("ns1_home_arpa_a", "home.arpa/ns1/A/192.168.1.2"),
            ("router_home_arpa_a", "home.arpa/router/A/192.168.1.1"),
            ("lab_internal_mx", "lab.internal/@/MX/10 mail.lab.internal"),
            ("lab_internal_txt", "lab.internal/@/TXT/v=spf1 a/24 -all"),
            (
                "sip_tcp_lab_internal_srv",
                "lab.internal/_sip._tcp/SRV/10 5 5060 sip.lab.internal",
            ),
            (
                "sub_lab_internal_ns",
                "lab.internal/sub/NS/ns.sub.lab.internal",
            ),
            ("www_lab_internal_a", "lab.internal/www/A/10.0.0.5"),
            ("www_lab_internal_a_2", "lab.internal/www/A/10.0.0.6"),
        ];
        for (name, id) in want {
            assert!(
                records.contains(&(name.to_string(), id.to_string())),
                "{name} {id} missing from {records:?}"
            );
        }
        assert_eq!(records.len(), want.len(), "{records:?}");
        let skipped: Vec<String> = inv
            .skipped
            .iter()
            .map(|s| format!("{}: {}", s.what, s.why))
            .collect();
        let has = |s: &str| skipped.iter().any(|x| x.starts_with(s));
        assert!(has("zone localhost: built-in zone"), "{skipped:?}");
        assert!(has("zone 127.in-addr.arpa: built-in zone"), "{skipped:?}");
        assert!(
            has("SOA record lab.internal: the server makes it"),
            "{skipped:?}"
        );
        assert!(
            has("NS record lab.internal: the server makes it"),
            "{skipped:?}"
        );
        assert!(
            has("DNAME record old.lab.internal: type DNAME is not managed"),
            "{skipped:?}"
        );
        // Delegations are the user's: not skipped.
        assert!(!has("NS record sub.lab.internal"), "{skipped:?}");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn zone_filter_and_special_zone_types() {
        let sim = TechnitiumSim::start().unwrap();
        seed(&sim);
        let admin = client(&sim, ADMIN_TOKEN);
        admin
            .zone_create(&[
                ("zone", "corp.example".into()),
                ("type", "Forwarder".into()),
                ("initializeForwarder", "true".into()),
                ("forwarder", "10.9.9.9".into()),
            ])
            .await
            .unwrap();
        admin
            .zone_create(&[
                ("zone", "partner.example".into()),
                ("type", "Secondary".into()),
                ("primaryNameServerAddresses", "10.8.8.8".into()),
            ])
            .await
            .unwrap();
        let inv = discover(
            &client(&sim, READONLY_TOKEN),
            &Filter::all().with("zone", ["Corp.Example.", "partner.example"]),
        )
        .await
        .unwrap();
        assert_eq!(
            ids(&inv, "technitium_zone"),
            vec![
                ("corp_example".to_string(), "corp.example".to_string()),
                ("partner_example".into(), "partner.example".into()),
            ]
        );
        assert!(ids(&inv, "technitium_dns_record").is_empty());
        let whys: Vec<String> = inv
            .skipped
            .iter()
            .map(|s| format!("{}: {}", s.what, s.why))
            .collect();
        assert!(
            whys.iter()
                .any(|w| w.starts_with("FWD record corp.example: the zone's forwarder")),
            "{whys:?}"
        );
        assert!(
            whys.iter()
                .any(|w| w.starts_with("records of Secondary zone partner.example: copied")),
            "{whys:?}"
        );
        assert!(!whys.iter().any(|w| w.contains("localhost")), "{whys:?}");
    }

    #[test]
    fn relative_names() {
        assert_eq!(relative_name("home.arpa", "home.arpa"), "@");
        assert_eq!(relative_name("www.home.arpa", "home.arpa"), "www");
        assert_eq!(
            relative_name("home.arpa.home.arpa", "home.arpa"),
            "home.arpa.home.arpa."
        );
    }
}
