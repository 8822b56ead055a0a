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

// ---------------------------------------------------------------------------
// Conformance with the response examples of APIDOCS.md (v15.2).
//
// Every endpoint the simulator serves is called in a way comparable to its
// documented example (the JSON block under `RESPONSE:` in its section), and
// every field of the answer must exist at the same place in that example,
// with a compatible JSON type: objects by key, arrays by the union of their
// elements, a record's `rData` by the record's `type`. Where APIDOCS.md shows
// no example of a field (record types its examples lack, `comments`,
// `lastModified`, ...), the field must be in [`SOURCE_ONLY`] /
// [`SOURCE_RDATA`], which cite the DnsServer source that writes it; those
// lists are themselves checked to name only fields the docs do not show.

mod conformance {
    use std::collections::{BTreeMap, BTreeSet};

    use serde_json::{Map, Value};

    /// APIDOCS.md, or `None` (with a note) when the reference is absent.
    pub(super) fn docs() -> Option<String> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/reference/technitium/APIDOCS.md");
        match std::fs::read_to_string(&path) {
            Ok(d) => Some(d),
            Err(_) => {
                eprintln!("SKIPPED: {} is absent", path.display());
                None
            }
        }
    }

    /// The documented response examples, by endpoint path.
    pub(super) struct Examples {
        pub(super) by_path: BTreeMap<String, Value>,
        /// The error envelope of "API Response Format".
        pub(super) error: Value,
        /// (section, why) of the examples that could not be read.
        pub(super) skipped: Vec<(String, String)>,
        /// Sections whose example needed the lenient reading.
        pub(super) repaired: Vec<String>,
    }

    /// The fenced block after the first line for which `start` holds.
    fn block_after(lines: &[&str], start: impl Fn(&str) -> bool) -> Option<String> {
        let at = lines.iter().position(|l| start(l))?;
        let open = at + 1 + lines[at + 1..].iter().position(|l| l.starts_with("```"))?;
        let close = open
            + 1
            + lines[open + 1..]
                .iter()
                .position(|l| l.starts_with("```"))?;
        Some(lines[open + 1..close].join("\n"))
    }

    pub(super) fn examples(docs: &str) -> Examples {
        let mut ex = Examples {
            by_path: BTreeMap::new(),
            error: Value::Null,
            skipped: Vec::new(),
            repaired: Vec::new(),
        };
        for section in docs.split("\n#") {
            let lines: Vec<&str> = section.lines().collect();
            let title = lines
                .first()
                .map_or("", |l| l.trim_start_matches('#').trim());
            if title == "API Response Format" {
                let text = block_after(&lines, |l| l.contains("In case of errors")).unwrap();
                ex.error = serde_json::from_str(&text).unwrap();
                continue;
            }
            let Some(url) = section.split("`http://localhost:5380").nth(1) else {
                continue;
            };
            let path: String = url
                .chars()
                .take_while(|c| !matches!(c, '?' | '`'))
                .collect();
            let Some(text) = block_after(&lines, |l| {
                l.trim().to_ascii_lowercase().starts_with("response:")
            }) else {
                ex.skipped.push((title.into(), "no RESPONSE block".into()));
                continue;
            };
            match lenient_json(&text) {
                Ok((v, repaired)) => {
                    if repaired {
                        ex.repaired.push(title.into());
                    }
                    ex.by_path.entry(path).or_insert(v);
                }
                Err(e) => ex.skipped.push((title.into(), e)),
            }
        }
        ex
    }

    /// Parses an example as JSON, repairing what the docs get wrong: `//`
    /// comments, trailing commas, and a comma missing at the end of a line
    /// (`"clusterDomain": "example.com"` in "Get Session Info"). Returns
    /// whether a repair was needed.
    pub(super) fn lenient_json(text: &str) -> Result<(Value, bool), String> {
        if let Ok(v) = serde_json::from_str(text) {
            return Ok((v, false));
        }
        // Pass 1: drop comments and trailing commas, outside strings.
        let chars: Vec<char> = text.chars().collect();
        let mut out = String::new();
        let (mut i, mut in_str) = (0, false);
        while i < chars.len() {
            let c = chars[i];
            if in_str {
                out.push(c);
                if c == '\\' && i + 1 < chars.len() {
                    out.push(chars[i + 1]);
                    i += 1;
                } else if c == '"' {
                    in_str = false;
                }
            } else if c == '"' {
                in_str = true;
                out.push(c);
            } else if c == '/' && chars.get(i + 1) == Some(&'/') {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            } else if c == ',' {
                let next = chars[i + 1..].iter().find(|c| !c.is_whitespace());
                if !matches!(next, Some('}') | Some(']')) {
                    out.push(c);
                }
            } else {
                out.push(c);
            }
            i += 1;
        }
        // Pass 2: a value ending a line followed by a line opening a key.
        let lines: Vec<&str> = out.lines().collect();
        let mut fixed = String::new();
        for (n, line) in lines.iter().enumerate() {
            fixed.push_str(line);
            let t = line.trim_end();
            let next = lines[n + 1..]
                .iter()
                .map(|l| l.trim())
                .find(|l| !l.is_empty());
            let ends_value = !t.is_empty() && !t.ends_with([',', '{', '[', ':']);
            if ends_value && next.is_some_and(|l| l.starts_with('"')) {
                fixed.push(',');
            }
            fixed.push('\n');
        }
        serde_json::from_str(&fixed)
            .map(|v| (v, true))
            .map_err(|e| format!("not JSON even after repairs: {e}"))
    }

    pub(super) fn kind(v: &Value) -> &'static str {
        match v {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }

    /// The record type of a record object (`type` beside an `rData`).
    fn record_type(m: &Map<String, Value>) -> Option<String> {
        m.get("rData")?.as_object()?;
        Some(m.get("type")?.as_str()?.to_ascii_uppercase())
    }

    /// What the docs show at one place: the JSON types seen there, the keys
    /// of objects, the union of array elements, `rData` per record type.
    #[derive(Debug, Clone, Default)]
    pub(super) struct Shape {
        pub(super) kinds: BTreeSet<&'static str>,
        pub(super) fields: BTreeMap<String, Shape>,
        pub(super) items: Option<Box<Shape>>,
        pub(super) rdata: BTreeMap<String, Shape>,
    }

    impl Shape {
        pub(super) fn of(v: &Value) -> Shape {
            let mut s = Shape::default();
            s.add(v);
            s
        }

        pub(super) fn add(&mut self, v: &Value) {
            self.kinds.insert(kind(v));
            match v {
                Value::Object(m) => {
                    let rtype = record_type(m);
                    for (k, x) in m {
                        match (&rtype, k.as_str()) {
                            (Some(t), "rData") => self.rdata.entry(t.clone()).or_default().add(x),
                            _ => self.fields.entry(k.clone()).or_default().add(x),
                        }
                    }
                }
                Value::Array(a) => {
                    let items = self.items.get_or_insert_with(Box::default);
                    for x in a {
                        items.add(x);
                    }
                }
                _ => {}
            }
        }

        /// The rData shapes of every record anywhere below this shape.
        pub(super) fn collect_rdata(&self, out: &mut BTreeMap<String, Shape>) {
            for (t, s) in &self.rdata {
                let e = out.entry(t.clone()).or_default();
                e.kinds.extend(s.kinds.iter().copied());
                for (k, f) in &s.fields {
                    e.fields.entry(k.clone()).or_insert_with(|| f.clone());
                }
            }
            for f in self.fields.values() {
                f.collect_rdata(out);
            }
            if let Some(i) = &self.items {
                i.collect_rdata(out);
            }
        }
    }

    /// A field APIDOCS.md shows no example of at this place, which the
    /// vendor's source writes there.
    pub(super) struct SourceOnly {
        pub(super) endpoint: &'static str,
        /// Where, in the notation of the checker's messages.
        pub(super) place: &'static str,
        pub(super) key: &'static str,
        pub(super) kind: &'static str,
        pub(super) source: &'static str,
    }

    /// Record-level fields of DnsServer `DnsServerCore/WebServiceZonesApi.cs`
    /// `WriteRecordAsJson` (2025 source) that no record example shows.
    macro_rules! record_fields {
        ($($endpoint:literal => $place:literal),*) => {
            &[$(
                SourceOnly { endpoint: $endpoint, place: $place, key: "comments", kind: "string",
                    source: "WriteRecordAsJson: `if (!string.IsNullOrEmpty(comments)) jsonWriter.WriteString(\"comments\", comments)`" },
                SourceOnly { endpoint: $endpoint, place: $place, key: "lastModified", kind: "string",
                    source: "WriteRecordAsJson: `jsonWriter.WriteString(\"lastModified\", authRecordInfo.LastModified)`" },
                SourceOnly { endpoint: $endpoint, place: $place, key: "expiryTtl", kind: "number",
                    source: "WriteRecordAsJson: `jsonWriter.WriteNumber(\"expiryTtl\", authRecordInfo.ExpiryTtl)`" },
                SourceOnly { endpoint: $endpoint, place: $place, key: "glueRecords", kind: "string[]",
                    source: "WriteRecordAsJson: NSRecordInfo `glueRecords`, `glueRecord.RDATA.ToString()` each" },
            )*]
        };
    }

    /// Record fields the examples lack (each record endpoint renders records
    /// with the same `WriteRecordAsJson`).
    pub(super) const SOURCE_ONLY_RECORDS: &[SourceOnly] = record_fields!(
        "/api/zones/records/get" => "response.records[]",
        "/api/zones/records/add" => "response.addedRecord",
        "/api/zones/records/update" => "response.updatedRecord"
    );

    pub(super) const SOURCE_ONLY: &[SourceOnly] = &[SourceOnly {
        endpoint: "/api/zones/options/get",
        place: "response",
        key: "primaryNameServerAddresses",
        kind: "string[]",
        source: "DnsServer DnsServerCore/WebServiceZonesApi.cs GetZoneOptions: \
                 `WriteStartArray(\"primaryNameServerAddresses\")` for Secondary, \
                 SecondaryForwarder, SecondaryCatalog and Stub zones (the docs' example is a Primary zone)",
    }];

    /// `rData` of the record types APIDOCS.md has no example of, as DnsServer
    /// `DnsServerCore/WebServiceZonesApi.cs` `WriteRecordAsJson` writes them
    /// (2025 source; its `*Idn` keys appear only for IDN names; AAAA's
    /// `ipAddress` is written like A's, which the docs show).
    pub(super) const SOURCE_RDATA: &[(&str, &[(&str, &str)])] = &[
        ("AAAA", &[("ipAddress", "string")]),
        ("PTR", &[("ptrName", "string")]),
        ("MX", &[("preference", "number"), ("exchange", "string")]),
        (
            "TXT",
            &[
                ("text", "string"),
                ("splitText", "boolean"),
                ("characterStrings", "string[]"),
            ],
        ),
        (
            "SRV",
            &[
                ("priority", "number"),
                ("weight", "number"),
                ("port", "number"),
                ("target", "string"),
            ],
        ),
        (
            "CAA",
            &[("flags", "number"), ("tag", "string"), ("value", "string")],
        ),
        ("DNAME", &[("dname", "string")]),
        ("ANAME", &[("aname", "string")]),
        (
            "FWD",
            &[
                ("protocol", "string"),
                ("forwarder", "string"),
                ("priority", "number"),
                ("dnssecValidation", "boolean"),
                ("proxyType", "string"),
            ],
        ),
    ];

    pub(super) fn kind_ok(v: &Value, want: &str) -> bool {
        match want.strip_suffix("[]") {
            Some(item) => v
                .as_array()
                .is_some_and(|a| a.iter().all(|x| kind(x) == item)),
            None => kind(v) == want,
        }
    }

    /// Checks answers against documented shapes, noting what it had to take
    /// from [`SOURCE_ONLY`] / [`SOURCE_RDATA`].
    pub(super) struct Checker<'a> {
        pub(super) endpoint: &'a str,
        pub(super) rdata: &'a BTreeMap<String, Shape>,
        pub(super) source_only: &'a [&'a SourceOnly],
        pub(super) used: BTreeSet<String>,
        pub(super) errors: Vec<String>,
    }

    impl Checker<'_> {
        pub(super) fn check(&mut self, actual: &Value, doc: &Shape, place: &str) {
            let k = kind(actual);
            if !doc.kinds.contains(k) && !doc.kinds.contains("null") {
                self.errors.push(format!(
                    "{} {place}: {k} where the docs show {:?}",
                    self.endpoint, doc.kinds
                ));
                return;
            }
            match actual {
                Value::Object(m) => {
                    let rtype = record_type(m);
                    for (key, v) in m {
                        let at = if place.is_empty() {
                            key.clone()
                        } else {
                            format!("{place}.{key}")
                        };
                        if let (Some(t), "rData") = (&rtype, key.as_str()) {
                            self.check_rdata(t, v, &format!("{at}({t})"));
                        } else if let Some(f) = doc.fields.get(key) {
                            self.check(v, f, &at);
                        } else if let Some(s) = self
                            .source_only
                            .iter()
                            .find(|s| s.place == place && s.key == key)
                        {
                            self.used.insert(format!("{} {place}.{key}", s.endpoint));
                            if !kind_ok(v, s.kind) {
                                self.errors.push(format!(
                                    "{} {at}: {} where the source writes {}",
                                    self.endpoint,
                                    kind(v),
                                    s.kind
                                ));
                            }
                        } else {
                            self.errors.push(format!(
                                "{} {at}: undocumented field ({})",
                                self.endpoint,
                                kind(v)
                            ));
                        }
                    }
                }
                Value::Array(a) => match doc.items.as_deref() {
                    Some(items) if !items.kinds.is_empty() => {
                        for x in a {
                            self.check(x, items, &format!("{place}[]"));
                        }
                    }
                    _ if a.is_empty() => {}
                    _ => self.errors.push(format!(
                        "{} {place}: elements where the docs show an empty array",
                        self.endpoint
                    )),
                },
                _ => {}
            }
        }

        fn check_rdata(&mut self, rtype: &str, v: &Value, place: &str) {
            if let Some(doc) = self.rdata.get(rtype) {
                let doc = doc.clone();
                return self.check(v, &doc, place);
            }
            let Some((_, fields)) = SOURCE_RDATA.iter().find(|(t, _)| *t == rtype) else {
                self.errors.push(format!(
                    "{} {place}: record type {rtype} is neither in the docs nor in SOURCE_RDATA",
                    self.endpoint
                ));
                return;
            };
            self.used.insert(format!("rData({rtype})"));
            let Some(m) = v.as_object() else {
                self.errors
                    .push(format!("{} {place}: {} for rData", self.endpoint, kind(v)));
                return;
            };
            for (key, x) in m {
                match fields.iter().find(|(k, _)| k == key) {
                    Some((_, want)) if kind_ok(x, want) => {}
                    Some((_, want)) => self.errors.push(format!(
                        "{} {place}.{key}: {} where the source writes {want}",
                        self.endpoint,
                        kind(x)
                    )),
                    None => self.errors.push(format!(
                        "{} {place}.{key}: undocumented field ({})",
                        self.endpoint,
                        kind(x)
                    )),
                }
            }
        }
    }
}

use conformance::{Checker, Examples, SOURCE_ONLY, SOURCE_ONLY_RECORDS, SOURCE_RDATA, Shape};

/// The documented shape of an endpoint's answer: its example, plus the
/// envelope's `server`, which the examples of other calls show beside
/// `status` ("SSO status", "Get Metrics (JSON)", ...).
fn documented(ex: &Examples, endpoint: &str) -> Shape {
    let v = ex
        .by_path
        .get(endpoint)
        .unwrap_or_else(|| panic!("{endpoint}: no readable example in APIDOCS.md"));
    let mut shape = Shape::of(v);
    let server = ex
        .by_path
        .values()
        .find_map(|v| v.get("server").filter(|_| v.get("status").is_some()))
        .expect("no example shows the envelope's `server`");
    shape.fields.insert("server".into(), Shape::of(server));
    shape
}

/// Checks one answer; returns the checker's complaints.
fn conform(
    ex: &Examples,
    rdata: &std::collections::BTreeMap<String, Shape>,
    used: &mut std::collections::BTreeSet<String>,
    endpoint: &str,
    doc: &Shape,
    answer: &Value,
) -> Vec<String> {
    let _ = ex;
    let source_only: Vec<&conformance::SourceOnly> = SOURCE_ONLY
        .iter()
        .chain(SOURCE_ONLY_RECORDS)
        .filter(|s| s.endpoint == endpoint)
        .collect();
    let mut c = Checker {
        endpoint,
        rdata,
        source_only: &source_only,
        used: std::collections::BTreeSet::new(),
        errors: Vec::new(),
    };
    assert_eq!(answer["status"], "ok", "{endpoint}: {answer}");
    c.check(answer, doc, "");
    used.extend(c.used);
    c.errors
}

/// Every endpoint the simulator serves answers only fields APIDOCS.md shows
/// at that place in the endpoint's example (with a compatible type), or that
/// the vendor's source writes there (SOURCE_ONLY / SOURCE_RDATA).
#[tokio::test]
async fn responses_match_the_documented_examples() {
    let Some(docs) = conformance::docs() else {
        return;
    };
    let ex = conformance::examples(&docs);
    for (section, why) in &ex.skipped {
        eprintln!("APIDOCS.md example skipped: {section}: {why}");
    }
    eprintln!("APIDOCS.md examples read after repairs: {:?}", ex.repaired);
    // rData per record type, from every record the docs render (records/get,
    // addedRecord, updatedRecord share DnsServer's WriteRecordAsJson).
    let mut rdata = std::collections::BTreeMap::new();
    for e in [
        "/api/zones/records/get",
        "/api/zones/records/add",
        "/api/zones/records/update",
    ] {
        Shape::of(&ex.by_path[e]).collect_rdata(&mut rdata);
    }
    for t in ["A", "NS", "CNAME", "SOA"] {
        assert!(
            rdata.contains_key(t),
            "the docs show no {t} record: {rdata:?}"
        );
    }
    // The source-only lists must name only what the docs lack.
    for (t, _) in SOURCE_RDATA {
        assert!(
            !rdata.contains_key(*t),
            "{t} is documented now: drop it from SOURCE_RDATA"
        );
    }
    for s in SOURCE_ONLY.iter().chain(SOURCE_ONLY_RECORDS) {
        let doc = documented(&ex, s.endpoint);
        let mut at = &doc;
        for part in s.place.split('.').filter(|p| !p.is_empty()) {
            let (name, arr) = match part.strip_suffix("[]") {
                Some(n) => (n, true),
                None => (part, false),
            };
            at = &at.fields[name];
            if arr {
                at = at.items.as_deref().unwrap();
            }
        }
        assert!(
            !at.fields.contains_key(s.key),
            "{} {}.{} is documented now ({}): drop it from SOURCE_ONLY",
            s.endpoint,
            s.place,
            s.key,
            s.source
        );
    }

    let sim = TechnitiumSim::start().unwrap();
    let mut used = std::collections::BTreeSet::new();
    let mut errors = Vec::new();
    let mut checked = std::collections::BTreeSet::new();
    let mut check = |endpoint: &str, doc: &Shape, answer: &Value| {
        errors.extend(conform(&ex, &rdata, &mut used, endpoint, doc, answer));
        checked.insert(endpoint.to_string());
    };

    // User API.
    let login = call(
        &sim,
        "",
        "/api/user/login",
        &[
            ("user", "admin"),
            ("pass", "admin"),
            ("includeInfo", "true"),
        ],
    )
    .await;
    check(
        "/api/user/login",
        &documented(&ex, "/api/user/login"),
        &login,
    );
    let session = login["token"].as_str().unwrap().to_string();
    let created = call(
        &sim,
        "",
        "/api/user/createToken",
        &[
            ("user", "admin"),
            ("pass", "admin"),
            ("tokenName", "conformance"),
        ],
    )
    .await;
    check(
        "/api/user/createToken",
        &documented(&ex, "/api/user/createToken"),
        &created,
    );
    // "Get Session Info: Returns the same info as that of the login or the
    // createToken calls": a login session answers login's fields, an API
    // token createToken's; `info` is the union of both examples' `info`.
    let mut info = Shape::of(&ex.by_path["/api/user/session/get"]["info"]);
    info.add(&ex.by_path["/api/user/login"]["info"]);
    let mut as_login = documented(&ex, "/api/user/session/get");
    as_login.add(&ex.by_path["/api/user/login"]);
    as_login.fields.insert("info".into(), info.clone());
    let v = call(&sim, &session, "/api/user/session/get", &[]).await;
    check("/api/user/session/get", &as_login, &v);
    let mut as_token = documented(&ex, "/api/user/createToken");
    as_token.fields.insert("info".into(), info);
    let v = call(&sim, ADMIN_TOKEN, "/api/user/session/get", &[]).await;
    check("/api/user/session/get", &as_token, &v);

    // Zones: one of each kind the list renders differently.
    let create = documented(&ex, "/api/zones/create");
    for form in [
        &[("zone", "conf.test"), ("type", "Primary")][..],
        &[
            ("zone", "sec.test"),
            ("type", "Secondary"),
            ("primaryNameServerAddresses", "192.0.2.53"),
        ],
        &[
            ("zone", "fwd.test"),
            ("type", "Forwarder"),
            ("forwarder", "192.0.2.1"),
        ],
        &[("zone", "192.0.2.0/24"), ("type", "Primary")],
    ] {
        let v = ok(&sim, "/api/zones/create", form).await;
        check("/api/zones/create", &create, &v);
    }
    let list = documented(&ex, "/api/zones/list");
    let v = ok(&sim, "/api/zones/list", &[]).await;
    check("/api/zones/list", &list, &v);
    let v = ok(
        &sim,
        "/api/zones/list",
        &[("pageNumber", "1"), ("zonesPerPage", "5")],
    )
    .await;
    assert_eq!(v["response"]["pageNumber"], 1, "{v}");
    check("/api/zones/list", &list, &v);
    let options = documented(&ex, "/api/zones/options/get");
    for zone in ["home.arpa", "sec.test", "fwd.test"] {
        let v = ok(&sim, "/api/zones/options/get", &[("zone", zone)]).await;
        check("/api/zones/options/get", &options, &v);
    }

    // Records: every type the simulator models, with comments, expiry and glue.
    let add = documented(&ex, "/api/zones/records/add");
    let records: &[&[(&str, &str)]] = &[
        &[
            ("type", "A"),
            ("ipAddress", "192.0.2.10"),
            ("comments", "c"),
            ("expiryTtl", "600"),
        ],
        &[("type", "AAAA"), ("ipAddress", "2001:db8::10")],
        &[
            ("domain", "sub.conf.test"),
            ("type", "NS"),
            ("nameServer", "ns.sub.conf.test"),
            ("glue", "192.0.2.53"),
        ],
        &[
            ("domain", "www.conf.test"),
            ("type", "CNAME"),
            ("cname", "conf.test"),
        ],
        &[
            ("type", "MX"),
            ("preference", "10"),
            ("exchange", "mx.conf.test"),
        ],
        &[("type", "TXT"), ("text", "hello")],
        &[
            ("domain", "_sip._tcp.conf.test"),
            ("type", "SRV"),
            ("priority", "1"),
            ("weight", "2"),
            ("port", "5060"),
            ("target", "sip.conf.test"),
        ],
        &[
            ("type", "CAA"),
            ("flags", "0"),
            ("tag", "issue"),
            ("value", "letsencrypt.org"),
        ],
        &[
            ("domain", "old.conf.test"),
            ("type", "DNAME"),
            ("dname", "new.test"),
        ],
        &[
            ("domain", "alias.conf.test"),
            ("type", "ANAME"),
            ("aname", "target.test"),
        ],
        &[
            ("domain", "fwd.conf.test"),
            ("type", "FWD"),
            ("forwarder", "192.0.2.1"),
        ],
        &[
            ("domain", "10.2.0.192.in-addr.arpa"),
            ("type", "PTR"),
            ("ptrName", "host.conf.test"),
        ],
    ];
    for r in records {
        let mut form: Vec<(&str, &str)> = r.to_vec();
        if !form.iter().any(|(k, _)| *k == "domain") {
            form.push(("domain", "conf.test"));
        }
        let v = ok(&sim, "/api/zones/records/add", &form).await;
        check("/api/zones/records/add", &add, &v);
    }
    let get = documented(&ex, "/api/zones/records/get");
    let v = ok(
        &sim,
        "/api/zones/records/get",
        &[
            ("domain", "conf.test"),
            ("zone", "conf.test"),
            ("listZone", "true"),
        ],
    )
    .await;
    let types: std::collections::BTreeSet<&str> = v["response"]["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["type"].as_str())
        .collect();
    assert!(types.len() >= 12, "{types:?}");
    check("/api/zones/records/get", &get, &v);
    let v = ok(
        &sim,
        "/api/zones/records/update",
        &[
            ("domain", "conf.test"),
            ("type", "A"),
            ("ipAddress", "192.0.2.10"),
            ("newIpAddress", "192.0.2.11"),
            ("comments", "c2"),
        ],
    )
    .await;
    check(
        "/api/zones/records/update",
        &documented(&ex, "/api/zones/records/update"),
        &v,
    );
    let v = ok(
        &sim,
        "/api/zones/records/update",
        &[
            ("domain", "sub.conf.test"),
            ("type", "NS"),
            ("nameServer", "ns.sub.conf.test"),
            ("glue", "192.0.2.54"),
        ],
    )
    .await;
    assert_eq!(
        v["response"]["updatedRecord"]["glueRecords"][0], "192.0.2.54",
        "{v}"
    );
    check(
        "/api/zones/records/update",
        &documented(&ex, "/api/zones/records/update"),
        &v,
    );
    let v = ok(
        &sim,
        "/api/zones/records/delete",
        &[
            ("domain", "conf.test"),
            ("type", "A"),
            ("ipAddress", "192.0.2.11"),
        ],
    )
    .await;
    check(
        "/api/zones/records/delete",
        &documented(&ex, "/api/zones/records/delete"),
        &v,
    );
    for e in [
        "/api/zones/disable",
        "/api/zones/enable",
        "/api/zones/delete",
    ] {
        let v = ok(&sim, e, &[("zone", "fwd.test")]).await;
        check(e, &documented(&ex, e), &v);
    }
    let v = call(&sim, &session, "/api/user/logout", &[]).await;
    check("/api/user/logout", &documented(&ex, "/api/user/logout"), &v);

    // Failures: the error envelope of "API Response Format" (plus `server`).
    let mut error = Shape::of(&ex.error);
    error.fields.insert(
        "server".into(),
        documented(&ex, "/api/user/logout").fields["server"].clone(),
    );
    for (token, path, form) in [
        (
            ADMIN_TOKEN,
            "/api/zones/delete",
            &[("zone", "nosuch.test")][..],
        ),
        ("deadbeef", "/api/zones/list", &[][..]),
    ] {
        let v = call(&sim, token, path, form).await;
        assert_ne!(v["status"], "ok", "{v}");
        let mut c = Checker {
            endpoint: path,
            rdata: &rdata,
            source_only: &[],
            used: Default::default(),
            errors: Vec::new(),
        };
        c.check(&v, &error, "");
        errors.extend(c.errors);
    }

    let errors: std::collections::BTreeSet<String> = errors.into_iter().collect();
    let errors: Vec<String> = errors.into_iter().collect();
    assert!(
        errors.is_empty(),
        "answers beyond the docs:\n{}",
        errors.join("\n")
    );
    // Each source-only entry was needed by some answer.
    for s in SOURCE_ONLY.iter().chain(SOURCE_ONLY_RECORDS) {
        let key = format!("{} {}.{}", s.endpoint, s.place, s.key);
        assert!(
            used.contains(&key),
            "never exercised: {key} (used: {used:?})"
        );
    }
    for (t, _) in SOURCE_RDATA {
        assert!(
            used.contains(&format!("rData({t})")),
            "never exercised: rData({t})"
        );
    }

    // Every documented endpoint the simulator serves was checked above.
    let client = reqwest::Client::new();
    let mut served = std::collections::BTreeSet::new();
    for path in ex.by_path.keys() {
        let resp = client
            .post(format!("{}{path}", sim.base_url()))
            .bearer_auth(READONLY_TOKEN)
            .send()
            .await
            .unwrap();
        if resp.status() != reqwest::StatusCode::NOT_FOUND {
            served.insert(path.clone());
        }
    }
    assert!(served.len() >= 14, "{served:?}");
    let unchecked: Vec<_> = served.difference(&checked).collect();
    assert!(
        unchecked.is_empty(),
        "served but not checked: {unchecked:?}"
    );
}

/// The checker flags a field the docs do not show, a wrong JSON type, an
/// rData key another record type has, and elements in an array the docs
/// show empty; and it accepts the documented example itself.
#[test]
fn conformance_checker_catches_undocumented_fields_and_wrong_types() {
    let Some(docs) = conformance::docs() else {
        return;
    };
    let ex = conformance::examples(&docs);
    let mut rdata = std::collections::BTreeMap::new();
    let example = ex.by_path["/api/zones/records/get"].clone();
    let doc = Shape::of(&example);
    doc.collect_rdata(&mut rdata);
    let run = |v: &Value| {
        let mut c = Checker {
            endpoint: "/api/zones/records/get",
            rdata: &rdata,
            source_only: &[],
            used: Default::default(),
            errors: Vec::new(),
        };
        c.check(v, &doc, "");
        c.errors
    };
    assert_eq!(run(&example), Vec::<String>::new());

    let mut bad = example.clone();
    bad["response"]["records"][0]["ttlSeconds"] = serde_json::json!(3600);
    bad["response"]["records"][0]["ttl"] = serde_json::json!("3600");
    // `nameServer` is an NS field, not an A one.
    bad["response"]["records"][0]["rData"]["nameServer"] = serde_json::json!("ns1");
    bad["response"]["zone"]["disabled"] = serde_json::json!("false");
    let errors = run(&bad);
    let expect = [
        "response.records[].ttlSeconds: undocumented field (number)",
        "response.records[].ttl: string where the docs show {\"number\"}",
        "response.records[].rData(A).nameServer: undocumented field (string)",
        "response.zone.disabled: string where the docs show {\"boolean\"}",
    ];
    for e in expect {
        assert!(
            errors.iter().any(|x| x.ends_with(e)),
            "missed `{e}` in {errors:?}"
        );
    }
    assert_eq!(errors.len(), expect.len(), "{errors:?}");

    // A record type neither documented nor in SOURCE_RDATA; a source-only
    // type with a field the source does not write.
    let mut odd = example.clone();
    odd["response"]["records"][0]["type"] = serde_json::json!("HINFO");
    let errors = run(&odd);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("record type HINFO is neither")),
        "{errors:?}"
    );
    let mut mx = example.clone();
    mx["response"]["records"][0] = serde_json::json!({
        "disabled": false, "name": "x", "type": "MX", "ttl": 1, "dnssecStatus": "Unknown",
        "rData": {"preference": "10", "exchange": "m", "glue": []}
    });
    let errors = run(&mx);
    assert!(
        errors
            .iter()
            .any(|e| e.ends_with("rData(MX).preference: string where the source writes number")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.ends_with("rData(MX).glue: undocumented field (array)")),
        "{errors:?}"
    );

    // Elements where the docs show an empty array.
    let lists = Shape::of(&ex.by_path["/api/zones/options/get"]);
    let mut c = Checker {
        endpoint: "/api/zones/options/get",
        rdata: &rdata,
        source_only: &[],
        used: Default::default(),
        errors: Vec::new(),
    };
    let mut v = ex.by_path["/api/zones/options/get"].clone();
    v["response"]["queryAccessNetworkACL"] = serde_json::json!(["10.0.0.0/8"]);
    c.check(&v, &lists, "");
    assert_eq!(
        c.errors,
        vec![
            "/api/zones/options/get response.queryAccessNetworkACL: elements where the docs show an empty array"
        ]
    );
}

/// The lenient reader repairs what the docs get wrong and says so.
#[test]
fn lenient_json_repairs_comments_and_commas() {
    let (v, repaired) =
        conformance::lenient_json("{\n\t\"a\": \"http://x\" // note\n\t\"b\": [1, 2,],\n}")
            .unwrap();
    assert!(repaired);
    assert_eq!(v, serde_json::json!({"a": "http://x", "b": [1, 2]}));
    let (_, repaired) = conformance::lenient_json("{\"a\": 1}").unwrap();
    assert!(!repaired);
    assert!(conformance::lenient_json("# HELP uptime").is_err());
    let Some(docs) = conformance::docs() else {
        return;
    };
    let ex = conformance::examples(&docs);
    assert!(
        ex.repaired.iter().any(|s| s == "Get Session Info"),
        "{:?}",
        ex.repaired
    );
}
