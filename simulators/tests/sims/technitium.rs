//! Technitium simulator behaviour over real HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use labforge_simulators::common::Fault;
use labforge_simulators::technitium::{
    ADMIN_TOKEN, NO_DELETE_TOKEN, READONLY_TOKEN, TechnitiumSim,
};
use serde_json::Value;

async fn call(sim: &TechnitiumSim, token: &str, path: &str, form: &[(&str, &str)]) -> Value {
    reqwest::Client::new()
        .post(format!("{}{path}", sim.base_url()))
        .bearer_auth(token)
        .form(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn ok(sim: &TechnitiumSim, path: &str, form: &[(&str, &str)]) -> Value {
    let v = call(sim, ADMIN_TOKEN, path, form).await;
    assert_eq!(v["status"], "ok", "{path} {form:?}: {v}");
    v
}

async fn err(sim: &TechnitiumSim, token: &str, path: &str, form: &[(&str, &str)]) -> String {
    let v = call(sim, token, path, form).await;
    assert_eq!(v["status"], "error", "{path} {form:?}: {v}");
    v["errorMessage"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn login_and_legacy_query_token() {
    let sim = TechnitiumSim::start().unwrap();
    let client = reqwest::Client::new();
    let v: Value = client
        .get(format!(
            "{}/api/user/login?user=admin&pass=admin&includeInfo=true",
            sim.base_url()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "ok");
    let token = v["token"].as_str().unwrap().to_string();
    assert_eq!(token.len(), 64);
    assert_eq!(v["info"]["defaultRecordTtl"], 3600);

    let bad: Value = client
        .get(format!(
            "{}/api/user/login?user=admin&pass=nope",
            sim.base_url()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(bad["status"], "error");

    // Legacy: token in the URL works but is counted.
    let resp = client
        .get(format!("{}/api/zones/list?token={token}", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["status"], "ok");
    assert!(
        v["response"]["zones"]
            .as_array()
            .unwrap()
            .iter()
            .any(|z| z["name"] == "localhost" && z["internal"] == true)
    );
    assert_eq!(sim.token_in_query_count(), 1);

    // Header: not counted as a URL token.
    ok(&sim, "/api/zones/list", &[]).await;
    assert_eq!(sim.token_in_query_count(), 1);
    assert_eq!(sim.token_in_header_count(), 1);

    // Form token works too.
    let v: Value = client
        .post(format!("{}/api/zones/list", sim.base_url()))
        .form(&[("token", ADMIN_TOKEN)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "ok");
    assert_eq!(sim.token_in_form_count(), 1);
}

#[tokio::test]
async fn invalid_and_missing_tokens() {
    let sim = TechnitiumSim::start().unwrap();
    let v = call(&sim, "deadbeef", "/api/zones/list", &[]).await;
    assert_eq!(v["status"], "invalid-token");
    let v: Value = reqwest::get(format!("{}/api/zones/list", sim.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "invalid-token");

    // Servers before 15.0 ignore the Bearer header.
    sim.set_bearer_supported(false);
    let v = call(&sim, ADMIN_TOKEN, "/api/zones/list", &[]).await;
    assert_eq!(v["status"], "invalid-token");
}

#[tokio::test]
async fn read_only_and_no_delete_tokens() {
    let sim = TechnitiumSim::start().unwrap();
    let v = call(
        &sim,
        READONLY_TOKEN,
        "/api/zones/records/get",
        &[("domain", "home.arpa"), ("listZone", "true")],
    )
    .await;
    assert_eq!(v["status"], "ok");
    let m = err(
        &sim,
        READONLY_TOKEN,
        "/api/zones/records/add",
        &[
            ("domain", "x.home.arpa"),
            ("type", "A"),
            ("ipAddress", "10.0.0.1"),
        ],
    )
    .await;
    assert_eq!(m, "Access was denied.");
    let v = call(
        &sim,
        NO_DELETE_TOKEN,
        "/api/zones/records/add",
        &[
            ("domain", "x.home.arpa"),
            ("type", "A"),
            ("ipAddress", "10.0.0.1"),
        ],
    )
    .await;
    assert_eq!(v["status"], "ok");
    let m = err(
        &sim,
        NO_DELETE_TOKEN,
        "/api/zones/records/delete",
        &[
            ("domain", "x.home.arpa"),
            ("type", "A"),
            ("ipAddress", "10.0.0.1"),
        ],
    )
    .await;
    assert_eq!(m, "Access was denied.");
}

#[tokio::test]
async fn zones_create_list_delete() {
    let sim = TechnitiumSim::start().unwrap();
    let v = ok(
        &sim,
        "/api/zones/create",
        &[("zone", "Example.COM."), ("type", "Primary")],
    )
    .await;
    assert_eq!(v["response"]["domain"], "example.com");
    let m = err(
        &sim,
        ADMIN_TOKEN,
        "/api/zones/create",
        &[("zone", "example.com"), ("type", "Primary")],
    )
    .await;
    assert_eq!(m, "Zone already exists: example.com");
    let v = ok(
        &sim,
        "/api/zones/create",
        &[("zone", "10.1.2.0/24"), ("type", "Primary")],
    )
    .await;
    assert_eq!(v["response"]["domain"], "2.1.10.in-addr.arpa");
    let v = ok(
        &sim,
        "/api/zones/create",
        &[
            ("zone", "corp.lan"),
            ("type", "Forwarder"),
            ("forwarder", "10.0.0.53"),
        ],
    )
    .await;
    assert_eq!(v["response"]["domain"], "corp.lan");

    // A new Primary zone has SOA and NS.
    let v = ok(
        &sim,
        "/api/zones/records/get",
        &[("domain", "example.com"), ("listZone", "true")],
    )
    .await;
    let types: Vec<&str> = v["response"]["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, vec!["NS", "SOA"]);

    let v = ok(
        &sim,
        "/api/zones/list",
        &[("pageNumber", "1"), ("zonesPerPage", "3")],
    )
    .await;
    assert_eq!(v["response"]["zones"].as_array().unwrap().len(), 3);
    assert_eq!(v["response"]["totalZones"], 9);
    assert_eq!(v["response"]["totalPages"], 3);

    let v = ok(&sim, "/api/zones/options/get", &[("zone", "example.com")]).await;
    assert_eq!(v["response"]["type"], "Primary");

    ok(&sim, "/api/zones/delete", &[("zone", "example.com")]).await;
    let m = err(
        &sim,
        ADMIN_TOKEN,
        "/api/zones/delete",
        &[("zone", "example.com")],
    )
    .await;
    assert_eq!(m, "No such zone was found: example.com");
    let m = err(
        &sim,
        ADMIN_TOKEN,
        "/api/zones/delete",
        &[("zone", "localhost")],
    )
    .await;
    assert!(m.contains("internal"), "{m}");
}

#[tokio::test]
async fn add_duplicate_and_older_server_mode() {
    let sim = TechnitiumSim::start().unwrap();
    let add = [
        ("domain", "www.home.arpa"),
        ("type", "A"),
        ("ipAddress", "10.0.0.1"),
    ];
    let v = ok(&sim, "/api/zones/records/add", &add).await;
    assert_eq!(v["response"]["addedRecord"]["ttl"], 3600);
    assert_eq!(
        v["response"]["addedRecord"]["rData"]["ipAddress"],
        "10.0.0.1"
    );
    assert_eq!(v["response"]["zone"]["name"], "home.arpa");
    let m = err(&sim, ADMIN_TOKEN, "/api/zones/records/add", &add).await;
    assert_eq!(m, "Cannot add record: record already exists.");
    sim.set_older_server(true);
    ok(&sim, "/api/zones/records/add", &add).await;
    assert_eq!(sim.find_records("www.home.arpa", "A").len(), 1);
    // Older servers also answer ok when deleting a missing record.
    ok(
        &sim,
        "/api/zones/records/delete",
        &[
            ("domain", "www.home.arpa"),
            ("type", "A"),
            ("ipAddress", "10.9.9.9"),
        ],
    )
    .await;
    sim.set_older_server(false);
    let m = err(
        &sim,
        ADMIN_TOKEN,
        "/api/zones/records/delete",
        &[
            ("domain", "www.home.arpa"),
            ("type", "A"),
            ("ipAddress", "10.9.9.9"),
        ],
    )
    .await;
    assert_eq!(m, "Cannot delete record: no such record exists.");
}

#[tokio::test]
async fn rrset_ttl_coupling_and_overwrite() {
    let sim = TechnitiumSim::start().unwrap();
    ok(
        &sim,
        "/api/zones/records/add",
        &[
            ("domain", "rr.home.arpa"),
            ("type", "A"),
            ("ipAddress", "10.0.0.1"),
            ("ttl", "300"),
        ],
    )
    .await;
    ok(
        &sim,
        "/api/zones/records/add",
        &[
            ("domain", "rr.home.arpa"),
            ("type", "A"),
            ("ipAddress", "10.0.0.2"),
            ("ttl", "600"),
        ],
    )
    .await;
    let recs = sim.find_records("rr.home.arpa", "A");
    assert_eq!(recs.len(), 2);
    assert!(recs.iter().all(|r| r["ttl"] == 600), "{recs:?}");
    ok(
        &sim,
        "/api/zones/records/add",
        &[
            ("domain", "rr.home.arpa"),
            ("type", "A"),
            ("ipAddress", "10.0.0.3"),
            ("overwrite", "true"),
        ],
    )
    .await;
    let recs = sim.find_records("rr.home.arpa", "A");
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["rData"]["ipAddress"], "10.0.0.3");
}

#[tokio::test]
async fn update_needs_old_value_and_resets_omitted_fields() {
    let sim = TechnitiumSim::start().unwrap();
    ok(
        &sim,
        "/api/zones/records/add",
        &[
            ("domain", "u.home.arpa"),
            ("type", "A"),
            ("ipAddress", "10.0.0.1"),
            ("ttl", "120"),
            ("comments", "hello"),
        ],
    )
    .await;
    // Wrong old value: no such record.
    let m = err(
        &sim,
        ADMIN_TOKEN,
        "/api/zones/records/update",
        &[
            ("domain", "u.home.arpa"),
            ("type", "A"),
            ("ipAddress", "10.0.0.9"),
            ("newIpAddress", "10.0.0.2"),
        ],
    )
    .await;
    assert!(m.contains("no such record"), "{m}");
    // ttl and disable omitted: reset to 3600 / false; comments kept.
    ok(
        &sim,
        "/api/zones/records/update",
        &[
            ("domain", "u.home.arpa"),
            ("type", "A"),
            ("ipAddress", "10.0.0.1"),
            ("newIpAddress", "10.0.0.2"),
            ("disable", "true"),
            ("ttl", "120"),
        ],
    )
    .await;
    let v = ok(
        &sim,
        "/api/zones/records/update",
        &[
            ("domain", "u.home.arpa"),
            ("type", "A"),
            ("ipAddress", "10.0.0.2"),
        ],
    )
    .await;
    let r = &v["response"]["updatedRecord"];
    assert_eq!(r["ttl"], 3600);
    assert_eq!(r["disabled"], false);
    assert_eq!(r["comments"], "hello");
    // Unknown parameter names are silently ignored (dnsweaver#84).
    ok(
        &sim,
        "/api/zones/records/add",
        &[
            ("domain", "c.home.arpa"),
            ("type", "CNAME"),
            ("cname", "u.home.arpa"),
        ],
    )
    .await;
    ok(
        &sim,
        "/api/zones/records/update",
        &[
            ("domain", "c.home.arpa"),
            ("type", "CNAME"),
            ("newCname", "other.home.arpa"),
        ],
    )
    .await;
    assert_eq!(
        sim.find_records("c.home.arpa", "CNAME")[0]["rData"]["cname"],
        "u.home.arpa"
    );
    ok(
        &sim,
        "/api/zones/records/update",
        &[
            ("domain", "c.home.arpa"),
            ("type", "CNAME"),
            ("cname", "Other.home.arpa."),
        ],
    )
    .await;
    assert_eq!(
        sim.find_records("c.home.arpa", "CNAME")[0]["rData"]["cname"],
        "other.home.arpa"
    );
}

#[tokio::test]
async fn delete_needs_exact_value() {
    let sim = TechnitiumSim::start().unwrap();
    for (k, v) in [("preference", "10"), ("preference", "20")] {
        ok(
            &sim,
            "/api/zones/records/add",
            &[
                ("domain", "home.arpa"),
                ("type", "MX"),
                (k, v),
                ("exchange", "mail.home.arpa"),
            ],
        )
        .await;
    }
    let m = err(
        &sim,
        ADMIN_TOKEN,
        "/api/zones/records/delete",
        &[
            ("domain", "home.arpa"),
            ("type", "MX"),
            ("exchange", "mail.home.arpa"),
        ],
    )
    .await;
    assert_eq!(m, "Parameter 'preference' missing.");
    ok(
        &sim,
        "/api/zones/records/delete",
        &[
            ("domain", "home.arpa"),
            ("type", "MX"),
            ("preference", "10"),
            ("exchange", "MAIL.home.arpa."),
        ],
    )
    .await;
    let left = sim.find_records("home.arpa", "MX");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["rData"]["preference"], 20);
}

#[tokio::test]
async fn names_txt_and_cname_rules() {
    let sim = TechnitiumSim::start().unwrap();
    // Relative name with an explicit zone, and upper case FQDN with trailing dot.
    let v = ok(
        &sim,
        "/api/zones/records/add",
        &[
            ("domain", "Rel"),
            ("zone", "home.arpa"),
            ("type", "TXT"),
            ("text", "a\nb"),
            ("splitText", "true"),
        ],
    )
    .await;
    let r = &v["response"]["addedRecord"];
    assert_eq!(r["name"], "rel.home.arpa");
    assert_eq!(
        r["rData"]["characterStrings"],
        serde_json::json!(["a", "b"])
    );
    assert_eq!(r["rData"]["splitText"], true);
    assert!(r.get("comments").is_none());
    let v = ok(
        &sim,
        "/api/zones/records/add",
        &[
            ("domain", "UPPER.Home.Arpa."),
            ("type", "TXT"),
            ("text", &"x".repeat(300)),
        ],
    )
    .await;
    let r = &v["response"]["addedRecord"];
    assert_eq!(r["name"], "upper.home.arpa");
    assert_eq!(r["rData"]["characterStrings"].as_array().unwrap().len(), 2);
    // As DnsServer renders it: `text` is the strings concatenated and
    // `splitText` says there is more than one string (not how it was added).
    assert_eq!(r["rData"]["text"], "x".repeat(300));
    assert_eq!(r["rData"]["splitText"], true);
    let short = ok(
        &sim,
        "/api/zones/records/add",
        &[
            ("domain", "short.home.arpa"),
            ("type", "TXT"),
            ("text", "a\nb"),
        ],
    )
    .await;
    let r = &short["response"]["addedRecord"]["rData"];
    assert_eq!(r["splitText"], false, "{r}");
    assert_eq!(r["text"], "a\nb");
    // Deleting the long one names its text with splitText=false, as added.
    ok(
        &sim,
        "/api/zones/records/delete",
        &[
            ("domain", "upper.home.arpa"),
            ("type", "TXT"),
            ("text", &"x".repeat(300)),
        ],
    )
    .await;
    // CNAME exclusivity.
    let m = err(
        &sim,
        ADMIN_TOKEN,
        "/api/zones/records/add",
        &[
            ("domain", "rel.home.arpa"),
            ("type", "CNAME"),
            ("cname", "x.home.arpa"),
        ],
    )
    .await;
    assert!(m.contains("CNAME"), "{m}");
    ok(
        &sim,
        "/api/zones/records/add",
        &[
            ("domain", "alias.home.arpa"),
            ("type", "CNAME"),
            ("cname", "x.home.arpa"),
        ],
    )
    .await;
    let m = err(
        &sim,
        ADMIN_TOKEN,
        "/api/zones/records/add",
        &[
            ("domain", "alias.home.arpa"),
            ("type", "CNAME"),
            ("cname", "y.home.arpa"),
        ],
    )
    .await;
    assert!(m.contains("overwrite"), "{m}");
    // Other types.
    ok(
        &sim,
        "/api/zones/records/add",
        &[
            ("domain", "_sip._tcp.home.arpa"),
            ("type", "SRV"),
            ("priority", "1"),
            ("weight", "2"),
            ("port", "5060"),
            ("target", "sip.home.arpa"),
        ],
    )
    .await;
    ok(
        &sim,
        "/api/zones/records/add",
        &[
            ("domain", "home.arpa"),
            ("type", "CAA"),
            ("flags", "0"),
            ("tag", "issue"),
            ("value", "letsencrypt.org"),
        ],
    )
    .await;
    ok(
        &sim,
        "/api/zones/records/add",
        &[
            ("domain", "v6.home.arpa"),
            ("type", "AAAA"),
            ("ipAddress", "FD00:0:0::1"),
        ],
    )
    .await;
    assert_eq!(
        sim.find_records("v6.home.arpa", "AAAA")[0]["rData"]["ipAddress"],
        "fd00::1"
    );
    let m = err(
        &sim,
        ADMIN_TOKEN,
        "/api/zones/records/add",
        &[
            ("domain", "bad.home.arpa"),
            ("type", "A"),
            ("ipAddress", "not-an-ip"),
        ],
    )
    .await;
    assert!(m.contains("invalid IP"), "{m}");
    let m = err(
        &sim,
        ADMIN_TOKEN,
        "/api/zones/records/add",
        &[
            ("domain", "nozone.example"),
            ("type", "A"),
            ("ipAddress", "1.2.3.4"),
        ],
    )
    .await;
    assert!(m.contains("No such zone"), "{m}");
    // GET with query parameters behaves like POST.
    let v: Value = reqwest::Client::new()
        .get(format!(
            "{}/api/zones/records/get?domain=alias.home.arpa",
            sim.base_url()
        ))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["response"]["records"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn out_of_band_hooks() {
    let sim = TechnitiumSim::start().unwrap();
    sim.add_record(&[
        ("domain", "drift.home.arpa"),
        ("type", "A"),
        ("ipAddress", "10.1.1.1"),
    ])
    .unwrap();
    sim.update_record(&[
        ("domain", "drift.home.arpa"),
        ("type", "A"),
        ("ipAddress", "10.1.1.1"),
        ("newIpAddress", "10.1.1.2"),
    ])
    .unwrap();
    let recs = sim.zone_records("home.arpa").unwrap();
    assert!(recs.iter().any(|r| r["rData"]["ipAddress"] == "10.1.1.2"));
    sim.delete_record(&[
        ("domain", "drift.home.arpa"),
        ("type", "A"),
        ("ipAddress", "10.1.1.2"),
    ])
    .unwrap();
    assert!(sim.find_records("drift.home.arpa", "A").is_empty());
    assert_eq!(sim.counters().total(), 0, "hooks are not counted");
}

#[tokio::test]
async fn faults_and_counters() {
    let sim = TechnitiumSim::start().unwrap();
    sim.faults().fail_next("*", "/api/zones/list", 500);
    let client = reqwest::Client::new();
    let url = format!("{}/api/zones/list", sim.base_url());
    let resp = client
        .get(&url)
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    let resp = client
        .get(&url)
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(sim.counters().get("GET", "/api/zones/list"), 2);

    sim.faults()
        .inject("POST", "/api/zones/**", Fault::Reset, 1);
    let r = client.post(&url).bearer_auth(ADMIN_TOKEN).send().await;
    assert!(r.is_err(), "connection reset expected: {r:?}");
    let resp = client
        .post(&url)
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(sim.counters().get("POST", "/api/zones/list"), 2);
}

#[test]
fn starts_from_sync_code() {
    let sim = TechnitiumSim::start().unwrap();
    assert!(sim.base_url().starts_with("http://127.0.0.1:"));
    drop(sim);
}

#[tokio::test]
async fn malformed_requests_get_vendor_errors() {
    let sim = TechnitiumSim::start().unwrap();
    let cases: &[&[(&str, &str)]] = &[
        &[
            ("domain", "m.home.arpa"),
            ("type", "A"),
            ("ipAddress", "10.0.0.1"),
            ("ttl", "-5"),
        ],
        &[
            ("domain", "m.home.arpa"),
            ("type", "MX"),
            ("preference", "99999"),
            ("exchange", "x.home.arpa"),
        ],
        &[("domain", "m.home.arpa"), ("type", "TXT")],
        &[("domain", "m.home.arpa"), ("type", "NOPE")],
        &[
            ("domain", "m.home.arpa"),
            ("type", "A"),
            ("ipAddress", "10.0.0.1"),
            ("overwrite", "maybe"),
        ],
        &[("domain", ".."), ("type", "A"), ("ipAddress", "10.0.0.1")],
        &[("type", "A")],
    ];
    for form in cases {
        err(&sim, ADMIN_TOKEN, "/api/zones/records/add", form).await;
    }
    // Raw bytes that are not valid UTF-8 or not a form.
    let resp = reqwest::Client::new()
        .post(format!("{}/api/zones/records/add", sim.base_url()))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![0xff, 0xfe, b'%', b'=', b'&', b'&'])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["status"], "error");
}

/// The permission each endpoint needs, read from APIDOCS.md (v15.2): the
/// `PERMISSIONS:` lines of the section whose URL is the endpoint.
fn documented_permissions(docs: &str, endpoint: &str) -> Vec<(String, String)> {
    let url = format!("`http://localhost:5380{endpoint}");
    let start = docs
        .find(&url)
        .unwrap_or_else(|| panic!("{endpoint} is not in APIDOCS.md"));
    let section = &docs[start..];
    let section = &section[..section.find("\n### ").unwrap_or(section.len())];
    let perms = section
        .split("PERMISSIONS:")
        .nth(1)
        .unwrap_or_else(|| panic!("{endpoint}: no PERMISSIONS"));
    perms
        .lines()
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| {
            let (k, v) = l.trim().trim_end_matches('\\').split_once(':')?;
            Some((k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

/// Each zone endpoint refuses a token lacking the permission APIDOCS.md
/// lists for it ("Access was denied.") and accepts one that has it; the
/// seeded tokens carry one role for the Zones section and every zone.
#[tokio::test]
async fn endpoints_enforce_the_documented_permissions() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/reference/technitium/APIDOCS.md");
    let Ok(docs) = std::fs::read_to_string(&path) else {
        eprintln!("SKIPPED: {} is absent", path.display());
        return;
    };
    let sim = TechnitiumSim::start().unwrap();
    let rank = |p: &str| match p {
        "View" => 1,
        "Modify" => 2,
        "Delete" => 3,
        _ => 0,
    };
    // (token, the highest level it has)
    let tokens = [(READONLY_TOKEN, 1), (NO_DELETE_TOKEN, 2), (ADMIN_TOKEN, 3)];
    let endpoints: &[(&str, &[(&str, &str)])] = &[
        ("/api/zones/list", &[]),
        ("/api/zones/options/get", &[("zone", "home.arpa")]),
        (
            "/api/zones/create",
            &[("zone", "perm-{t}.test"), ("type", "Primary")],
        ),
        ("/api/zones/disable", &[("zone", "nosuch.test")]),
        ("/api/zones/enable", &[("zone", "nosuch.test")]),
        ("/api/zones/delete", &[("zone", "nosuch.test")]),
        (
            "/api/zones/records/get",
            &[("domain", "home.arpa"), ("listZone", "true")],
        ),
        (
            "/api/zones/records/add",
            &[
                ("domain", "perm-{t}.home.arpa"),
                ("type", "A"),
                ("ipAddress", "10.0.0.1"),
            ],
        ),
        (
            "/api/zones/records/update",
            &[
                ("domain", "nosuch.home.arpa"),
                ("type", "A"),
                ("ipAddress", "10.0.0.1"),
            ],
        ),
        (
            "/api/zones/records/delete",
            &[
                ("domain", "nosuch.home.arpa"),
                ("type", "A"),
                ("ipAddress", "10.0.0.1"),
            ],
        ),
    ];
    let mut checked = 0;
    for (endpoint, params) in endpoints {
        let perms = documented_permissions(&docs, endpoint);
        let need = perms.iter().map(|(_, v)| rank(v)).max().unwrap_or(0);
        assert!(!perms.is_empty(), "{endpoint}: {perms:?}");
        for (i, (token, level)) in tokens.iter().enumerate() {
            let t = i.to_string();
            let params: Vec<(&str, String)> = params
                .iter()
                .map(|(k, v)| (*k, v.replace("{t}", &t)))
                .collect();
            let form: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let v = call(&sim, token, endpoint, &form).await;
            let denied = v["errorMessage"] == "Access was denied.";
            assert_eq!(
                denied,
                *level < need,
                "{endpoint} ({perms:?}) with a token of level {level}: {v}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, endpoints.len() * tokens.len());
    // The one that matters for refreshes: zone options need Zones: Modify.
    assert_eq!(
        documented_permissions(&docs, "/api/zones/options/get")[0],
        ("Zones".to_string(), "Modify".to_string())
    );
}
