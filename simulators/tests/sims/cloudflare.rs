//! Cloudflare simulator behaviour over real HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use labforge_simulators::cloudflare::{
    CloudflareSim, EDIT_TOKEN, READ_TOKEN, SCOPED_TOKEN, ZONE_EXAMPLE_COM, ZONE_LAB_EXAMPLE_NET,
};
use labforge_simulators::common::Fault;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn req(
    sim: &CloudflareSim,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut b = reqwest::Client::new()
        .request(method, format!("{}{path}", sim.base_url()))
        .bearer_auth(token);
    if let Some(body) = body {
        b = b.json(&body);
    }
    let resp = b.send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap())
}

fn records_path(zone: &str) -> String {
    format!("/zones/{zone}/dns_records")
}

/// A GET without a body.
async fn get(sim: &CloudflareSim, token: &str, path: &str) -> (StatusCode, Value) {
    req(sim, token, Method::GET, path, None).await
}

/// A record created in example.com with the edit token.
async fn post_record(sim: &CloudflareSim, body: Value) -> (StatusCode, Value) {
    req(
        sim,
        EDIT_TOKEN,
        Method::POST,
        &records_path(ZONE_EXAMPLE_COM),
        Some(body),
    )
    .await
}

async fn create(sim: &CloudflareSim, body: Value) -> Value {
    let (st, v) = post_record(sim, body).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["success"], true);
    v["result"].clone()
}

async fn create_err(sim: &CloudflareSim, body: Value) -> (StatusCode, i64) {
    let (st, v) = post_record(sim, body).await;
    assert_eq!(v["success"], false, "{v}");
    assert!(v["result"].is_null());
    (st, v["errors"][0]["code"].as_i64().unwrap())
}

#[tokio::test]
async fn envelope_and_normalisation() {
    let sim = CloudflareSim::start().unwrap();
    let r = create(
        &sim,
        json!({"type": "A", "name": "WWW", "content": "192.0.2.1", "ttl": 3600}),
    )
    .await;
    assert_eq!(r["name"], "www.example.com");
    assert_eq!(r["proxiable"], true);
    assert_eq!(r["proxied"], false);
    assert_eq!(r["comment"], Value::Null);
    assert_eq!(r["tags"], json!([]));
    assert!(r.get("comment_modified_on").is_none());
    let id = r["id"].as_str().unwrap();
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));

    // Proxied forces TTL 1; apex via "@"; comment and tags.
    let r = create(&sim, json!({"type": "CNAME", "name": "@", "content": "Target.Example.NET.", "proxied": true, "ttl": 3600, "comment": "hi", "tags": ["owner:lab"]})).await;
    assert_eq!(r["name"], "example.com");
    assert_eq!(r["content"], "target.example.net");
    assert_eq!(r["ttl"], 1);
    assert!(r["comment_modified_on"].is_string());
    assert!(r["tags_modified_on"].is_string());

    // TXT: long strings split into quoted character-strings.
    let long = "y".repeat(300);
    let r = create(
        &sim,
        json!({"type": "TXT", "name": "txt.example.com.", "content": long}),
    )
    .await;
    assert_eq!(
        r["content"],
        format!("\"{}\" \"{}\"", "y".repeat(255), "y".repeat(45))
    );
    assert_eq!(r["ttl"], 1);

    // AAAA canonical form; MX priority; SRV/CAA data.
    let r = create(
        &sim,
        json!({"type": "AAAA", "name": "v6", "content": "2001:DB8:0:0::1"}),
    )
    .await;
    assert_eq!(r["content"], "2001:db8::1");
    let r = create(
        &sim,
        json!({"type": "MX", "name": "@", "content": "mail.example.com", "priority": 10}),
    )
    .await;
    assert_eq!(r["priority"], 10);
    let r = create(&sim, json!({"type": "SRV", "name": "_sip._tcp", "data": {"priority": 1, "weight": 5, "port": 5060, "target": "sip.example.com."}})).await;
    assert_eq!(r["content"], "5 5060 sip.example.com");
    // SRV's priority is in `data` (`dns-records_SRVRecord` has no top-level one).
    assert_eq!(r["data"]["priority"], 1);
    assert!(r.get("priority").is_none(), "{r}");
    let r = create(&sim, json!({"type": "CAA", "name": "@", "data": {"flags": 0, "tag": "issue", "value": "letsencrypt.org"}})).await;
    assert_eq!(r["content"], "0 issue \"letsencrypt.org\"");

    // GET one.
    let (st, v) = get(
        &sim,
        READ_TOKEN,
        &format!("{}/{}", records_path(ZONE_EXAMPLE_COM), id),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(v["result"]["id"], id);
    assert_eq!(v["messages"], json!([]));
}

#[tokio::test]
async fn validation_errors() {
    let sim = CloudflareSim::start().unwrap();
    assert_eq!(
        create_err(&sim, json!({"type": "A", "name": "a", "content": "nope"})).await,
        (StatusCode::BAD_REQUEST, 9005)
    );
    assert_eq!(
        create_err(
            &sim,
            json!({"type": "A", "name": "a", "content": "192.0.2.1", "ttl": 30})
        )
        .await,
        (StatusCode::BAD_REQUEST, 9021)
    );
    assert_eq!(
        create_err(
            &sim,
            json!({"type": "TXT", "name": "a", "content": "x", "proxied": true})
        )
        .await,
        (StatusCode::BAD_REQUEST, 9004)
    );
    assert_eq!(
        create_err(&sim, json!({"type": "BOGUS", "name": "a", "content": "x"}))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        create_err(
            &sim,
            json!({"type": "MX", "name": "a", "content": "mx.example.com"})
        )
        .await
        .1,
        1004
    );
    create(
        &sim,
        json!({"type": "A", "name": "dup", "content": "192.0.2.1"}),
    )
    .await;
    assert_eq!(
        create_err(
            &sim,
            json!({"type": "A", "name": "dup", "content": "192.0.2.1"})
        )
        .await,
        (StatusCode::BAD_REQUEST, 81057)
    );
    assert_eq!(
        create_err(
            &sim,
            json!({"type": "CNAME", "name": "dup", "content": "x.example.com"})
        )
        .await,
        (StatusCode::BAD_REQUEST, 81053)
    );
    // A second A at the same name is fine (round robin).
    create(
        &sim,
        json!({"type": "A", "name": "dup", "content": "192.0.2.2"}),
    )
    .await;
    // Malformed body.
    let resp = reqwest::Client::new()
        .post(format!(
            "{}{}",
            sim.base_url(),
            records_path(ZONE_EXAMPLE_COM)
        ))
        .bearer_auth(EDIT_TOKEN)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["success"], false);
    // Missing record: 404 81044.
    let (st, v) = get(
        &sim,
        EDIT_TOKEN,
        &format!("{}/{}", records_path(ZONE_EXAMPLE_COM), "0".repeat(32)),
    )
    .await;
    assert_eq!(st, 404);
    assert_eq!(v["errors"][0]["code"], 81044);
    // Unknown zone.
    let (st, v) = get(&sim, EDIT_TOKEN, &records_path(&"f".repeat(32))).await;
    assert_eq!(st, 400);
    assert_eq!(v["errors"][0]["code"], 7003);
}

#[tokio::test]
async fn auth_and_scopes() {
    let sim = CloudflareSim::start().unwrap();
    let resp = reqwest::get(format!("{}/zones", sim.base_url()))
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let (st, v) = req(&sim, "bogus-token", Method::GET, "/zones", None).await;
    assert_eq!(
        (st.as_u16(), v["errors"][0]["code"].as_i64()),
        (403, Some(10000))
    );

    // Read-only token: reads ok, writes 403 10000.
    let (st, _) = get(&sim, READ_TOKEN, &records_path(ZONE_LAB_EXAMPLE_NET)).await;
    assert_eq!(st, 200);
    let (st, v) = req(
        &sim,
        READ_TOKEN,
        Method::POST,
        &records_path(ZONE_EXAMPLE_COM),
        Some(json!({"type": "A", "name": "x", "content": "192.0.2.1"})),
    )
    .await;
    assert_eq!(
        (st.as_u16(), v["errors"][0]["code"].as_i64()),
        (403, Some(10000))
    );

    // Zone-scoped token: cannot list zones without a name filter.
    let (st, v) = get(&sim, SCOPED_TOKEN, "/zones").await;
    assert_eq!(st, 403);
    assert_eq!(v["errors"][0]["code"], 9109);
    let (st, v) = get(&sim, SCOPED_TOKEN, "/zones?name=example.com").await;
    assert_eq!(st, 200);
    assert_eq!(v["result"][0]["id"], ZONE_EXAMPLE_COM);
    let (_, v) = get(&sim, SCOPED_TOKEN, "/zones?name=lab.example.net").await;
    assert_eq!(v["result"], json!([]));
    let (st, _) = get(&sim, SCOPED_TOKEN, &records_path(ZONE_LAB_EXAMPLE_NET)).await;
    assert_eq!(st, 403);
    let (st, _) = req(
        &sim,
        SCOPED_TOKEN,
        Method::POST,
        &records_path(ZONE_EXAMPLE_COM),
        Some(json!({"type": "A", "name": "x", "content": "192.0.2.1"})),
    )
    .await;
    assert_eq!(st, 200);

    // Full token lists both zones with result_info.
    let (_, v) = get(&sim, EDIT_TOKEN, "/zones").await;
    assert_eq!(v["result"].as_array().unwrap().len(), 2);
    assert_eq!(v["result_info"]["total_count"], 2);
    let (_, v) = get(&sim, EDIT_TOKEN, &format!("/zones/{ZONE_LAB_EXAMPLE_NET}")).await;
    assert_eq!(v["result"]["name"], "lab.example.net");
}

#[tokio::test]
async fn pagination_and_filters() {
    let sim = CloudflareSim::start().unwrap();
    for i in 0..7 {
        create(
            &sim,
            json!({"type": "A", "name": format!("h{i}"), "content": format!("192.0.2.{i}")}),
        )
        .await;
    }
    create(
        &sim,
        json!({"type": "TXT", "name": "h0", "content": "hello"}),
    )
    .await;
    let mut seen = Vec::new();
    for page in 1..=3 {
        let (_, v) = get(
            &sim,
            EDIT_TOKEN,
            &format!(
                "{}?type=A&per_page=3&page={page}",
                records_path(ZONE_EXAMPLE_COM)
            ),
        )
        .await;
        let info = &v["result_info"];
        assert_eq!(info["page"], page);
        assert_eq!(info["per_page"], 3);
        assert_eq!(info["total_count"], 7);
        assert_eq!(info["total_pages"], 3);
        assert_eq!(info["count"], if page < 3 { 3 } else { 1 });
        for r in v["result"].as_array().unwrap() {
            seen.push(r["id"].as_str().unwrap().to_string());
        }
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 7);
    let (_, v) = get(
        &sim,
        EDIT_TOKEN,
        &format!("{}?name=h0.example.com", records_path(ZONE_EXAMPLE_COM)),
    )
    .await;
    assert_eq!(v["result"].as_array().unwrap().len(), 2);
    let (_, v) = get(
        &sim,
        EDIT_TOKEN,
        &format!(
            "{}?name=h0.example.com&type=TXT",
            records_path(ZONE_EXAMPLE_COM)
        ),
    )
    .await;
    assert_eq!(v["result"].as_array().unwrap().len(), 1);
    let (_, v) = get(
        &sim,
        EDIT_TOKEN,
        &format!("{}?content=192.0.2.3", records_path(ZONE_EXAMPLE_COM)),
    )
    .await;
    assert_eq!(v["result"][0]["name"], "h3.example.com");
    let (_, v) = get(&sim, EDIT_TOKEN, &records_path(ZONE_EXAMPLE_COM)).await;
    assert_eq!(v["result_info"]["per_page"], 100);
}

#[tokio::test]
async fn put_patch_delete() {
    let sim = CloudflareSim::start().unwrap();
    let r = create(&sim, json!({"type": "A", "name": "p", "content": "192.0.2.1", "ttl": 300, "comment": "c", "tags": ["a:b"]})).await;
    let path = format!(
        "{}/{}",
        records_path(ZONE_EXAMPLE_COM),
        r["id"].as_str().unwrap()
    );
    // PATCH keeps what is not sent.
    let (st, v) = req(
        &sim,
        EDIT_TOKEN,
        Method::PATCH,
        &path,
        Some(json!({"content": "192.0.2.2"})),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(v["result"]["ttl"], 300);
    assert_eq!(v["result"]["comment"], "c");
    assert_eq!(v["result"]["created_on"], r["created_on"]);
    // PUT replaces: comment/tags/ttl reset.
    let (st, v) = req(
        &sim,
        EDIT_TOKEN,
        Method::PUT,
        &path,
        Some(json!({"type": "A", "name": "p.example.com", "content": "192.0.2.3"})),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(v["result"]["ttl"], 1);
    assert_eq!(v["result"]["comment"], Value::Null);
    assert_eq!(v["result"]["tags"], json!([]));
    // The empty string clears a comment too; PATCH keeps other fields.
    req(
        &sim,
        EDIT_TOKEN,
        Method::PATCH,
        &path,
        Some(json!({"comment": "again"})),
    )
    .await;
    let (st, v) = req(
        &sim,
        EDIT_TOKEN,
        Method::PATCH,
        &path,
        Some(json!({"comment": ""})),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["result"]["comment"], Value::Null);
    assert_eq!(v["result"]["content"], "192.0.2.3");
    let (st, v) = req(&sim, EDIT_TOKEN, Method::DELETE, &path, None).await;
    assert_eq!(st, 200);
    assert_eq!(v["result"]["id"], r["id"]);
    let (st, _) = req(&sim, EDIT_TOKEN, Method::DELETE, &path, None).await;
    assert_eq!(st, 404);
}

#[tokio::test]
async fn rate_limit_retry_after() {
    let sim = CloudflareSim::start().unwrap();
    sim.set_rate_limit(2, Duration::from_secs(60));
    for _ in 0..2 {
        let (st, _) = get(&sim, EDIT_TOKEN, "/zones").await;
        assert_eq!(st, 200);
    }
    let resp = reqwest::Client::new()
        .get(format!("{}/zones", sim.base_url()))
        .bearer_auth(EDIT_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["errors"][0]["code"], 971);
    // Budgets are per token.
    let (st, _) = get(&sim, READ_TOKEN, "/zones").await;
    assert_eq!(st, 200);
}

#[tokio::test]
async fn reset_after_handling_loses_the_answer_not_the_work() {
    let sim = CloudflareSim::start().unwrap();
    let pattern = "/client/v4/zones/{zone_id}/dns_records";
    sim.faults()
        .inject("POST", pattern, Fault::ResetAfterHandling, 1);
    let sent = reqwest::Client::new()
        .post(format!(
            "{}{}",
            sim.base_url(),
            records_path(ZONE_EXAMPLE_COM)
        ))
        .bearer_auth(EDIT_TOKEN)
        .json(&json!({"type": "A", "name": "lost", "content": "192.0.2.7"}))
        .send()
        .await;
    assert!(
        sent.is_err(),
        "the client must see a broken connection: {sent:?}"
    );
    assert_eq!(sim.faults().pending(), 0);
    assert_eq!(sim.counters().get("POST", pattern), 1);
    let records = sim.records(ZONE_EXAMPLE_COM);
    assert_eq!(records.len(), 1, "the server did the work: {records:?}");
    assert_eq!(records[0]["name"], "lost.example.com");
    // The next request is answered normally (identical record: 81057).
    let (st, v) = post_record(
        &sim,
        json!({"type": "A", "name": "lost", "content": "192.0.2.7"}),
    )
    .await;
    assert_eq!(st, 400, "{v}");
    assert_eq!(v["errors"][0]["code"], 81057);
}

#[tokio::test]
async fn faults_counters_and_hooks() {
    let sim = CloudflareSim::start().unwrap();
    let pattern = "/client/v4/zones/{zone_id}/dns_records";
    sim.faults().fail_next("POST", pattern, 503);
    sim.faults().inject(
        "GET",
        "/client/v4/zones/*/dns_records",
        Fault::RateLimited {
            retry_after_secs: 7,
        },
        1,
    );
    let (st, v) = post_record(
        &sim,
        json!({"type": "A", "name": "f", "content": "192.0.2.1"}),
    )
    .await;
    assert_eq!(st, 503);
    assert_eq!(v["success"], false);
    assert!(
        sim.records(ZONE_EXAMPLE_COM).is_empty(),
        "fault answers before the handler"
    );
    create(
        &sim,
        json!({"type": "A", "name": "f", "content": "192.0.2.1"}),
    )
    .await;
    let resp = reqwest::Client::new()
        .get(format!(
            "{}{}",
            sim.base_url(),
            records_path(ZONE_EXAMPLE_COM)
        ))
        .bearer_auth(EDIT_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "7");
    assert_eq!(sim.counters().get("POST", pattern), 2);
    assert_eq!(sim.counters().get("GET", pattern), 1);

    sim.faults().inject("*", "/client/v4/**", Fault::Reset, 1);
    assert!(
        reqwest::Client::new()
            .get(format!("{}/zones", sim.base_url()))
            .bearer_auth(EDIT_TOKEN)
            .send()
            .await
            .is_err()
    );
    sim.faults().inject(
        "GET",
        "/client/v4/zones",
        Fault::Delay(Duration::from_millis(150)),
        1,
    );
    let t = std::time::Instant::now();
    let (st, _) = get(&sim, EDIT_TOKEN, "/zones").await;
    assert_eq!(st, 200);
    assert!(t.elapsed() >= Duration::from_millis(150));

    // Out-of-band drift.
    let id = sim.records(ZONE_EXAMPLE_COM)[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    sim.patch_record(ZONE_EXAMPLE_COM, &id, json!({"content": "192.0.2.99"}))
        .unwrap();
    let (_, v) = get(
        &sim,
        EDIT_TOKEN,
        &format!("{}/{id}", records_path(ZONE_EXAMPLE_COM)),
    )
    .await;
    assert_eq!(v["result"]["content"], "192.0.2.99");
    assert!(sim.delete_record(ZONE_EXAMPLE_COM, &id));
    let (st, _) = get(
        &sim,
        EDIT_TOKEN,
        &format!("{}/{id}", records_path(ZONE_EXAMPLE_COM)),
    )
    .await;
    assert_eq!(st, 404);
}

#[tokio::test]
async fn batch_is_all_or_nothing() {
    let sim = CloudflareSim::start().unwrap();
    let a = create(
        &sim,
        json!({"type": "A", "name": "b1", "content": "192.0.2.1"}),
    )
    .await;
    let (st, _) = req(
        &sim,
        EDIT_TOKEN,
        Method::POST,
        &format!("{}/batch", records_path(ZONE_EXAMPLE_COM)),
        Some(json!({
            "deletes": [{"id": a["id"]}],
            "posts": [{"type": "A", "name": "b2", "content": "bad"}]
        })),
    )
    .await;
    assert_eq!(st, 400);
    assert_eq!(sim.records(ZONE_EXAMPLE_COM).len(), 1, "rolled back");
    let (st, v) = req(
        &sim,
        EDIT_TOKEN,
        Method::POST,
        &format!("{}/batch", records_path(ZONE_EXAMPLE_COM)),
        Some(json!({
            "deletes": [{"id": a["id"]}],
            "posts": [{"type": "A", "name": "b2", "content": "192.0.2.2"}]
        })),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["result"]["posts"][0]["name"], "b2.example.com");
}

#[test]
fn starts_from_sync_code() {
    let sim = CloudflareSim::start().unwrap();
    assert!(sim.base_url().ends_with("/client/v4"));
    assert_eq!(
        sim.zone_id("example.com").as_deref(),
        Some(ZONE_EXAMPLE_COM)
    );
}

#[tokio::test]
async fn malformed_requests_get_vendor_errors() {
    let sim = CloudflareSim::start().unwrap();
    for body in [
        json!([]),
        json!({"type": 5}),
        json!({"type": "A", "name": "x", "content": "192.0.2.1", "ttl": "x"}),
        json!({"type": "A", "name": "x", "content": "192.0.2.1", "ttl": 1.5}),
        json!({"type": "A", "name": "x", "content": "192.0.2.1", "tags": ["bad tag:x"]}),
        json!({"type": "A", "name": "", "content": "192.0.2.1"}),
        json!({"type": "SRV", "name": "_x._tcp", "data": {"priority": -1}}),
        json!({"type": "CAA", "name": "x", "data": "nope"}),
        // The OpenAPI types these fields without `nullable`: null is refused.
        json!({"type": "A", "name": "x", "content": "192.0.2.1", "comment": null}),
        json!({"type": "A", "name": "x", "content": "192.0.2.1", "tags": null}),
        json!({"type": "A", "name": "x", "content": "192.0.2.1", "proxied": null}),
        json!({"type": "A", "name": "x", "content": "192.0.2.1", "ttl": null}),
        json!({"type": "MX", "name": "x", "content": "mx.example.com", "priority": null}),
        json!({"type": "A", "name": "x", "content": "192.0.2.1", "settings": null}),
        json!({"type": "A", "name": "x", "content": "192.0.2.1", "comment": 5}),
    ] {
        let (st, v) = post_record(&sim, body.clone()).await;
        assert_eq!(st, 400, "{body} -> {v}");
        assert_eq!(v["success"], false);
    }
    assert!(sim.records(ZONE_EXAMPLE_COM).is_empty());
    // PUT and PATCH bodies are checked the same way.
    let r = create(
        &sim,
        json!({"type": "A", "name": "n", "content": "192.0.2.1", "comment": "keep"}),
    )
    .await;
    let path = format!(
        "{}/{}",
        records_path(ZONE_EXAMPLE_COM),
        r["id"].as_str().unwrap()
    );
    for method in [Method::PUT, Method::PATCH] {
        let (st, v) = req(
            &sim,
            EDIT_TOKEN,
            method.clone(),
            &path,
            Some(json!({"type": "A", "name": "n", "content": "192.0.2.1", "comment": null})),
        )
        .await;
        assert_eq!(st, 400, "{method} {v}");
        assert!(
            v["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("comment"),
            "{v}"
        );
    }
    assert_eq!(
        sim.record(ZONE_EXAMPLE_COM, r["id"].as_str().unwrap())
            .unwrap()["comment"],
        "keep"
    );
    let (st, v) = get(
        &sim,
        EDIT_TOKEN,
        &format!("{}?per_page=0", records_path(ZONE_EXAMPLE_COM)),
    )
    .await;
    assert_eq!((st.as_u16(), v["success"].as_bool()), (400, Some(false)));
    let (st, v) = get(
        &sim,
        EDIT_TOKEN,
        &format!("{}/not-an-id", records_path(ZONE_EXAMPLE_COM)),
    )
    .await;
    assert_eq!(
        (st.as_u16(), v["errors"][0]["code"].as_i64()),
        (400, Some(7003))
    );
    let (st, v) = get(&sim, EDIT_TOKEN, "/nowhere").await;
    assert_eq!(
        (st.as_u16(), v["errors"][0]["code"].as_i64()),
        (400, Some(7000))
    );
    let resp = reqwest::Client::new()
        .get(format!("{}/zones", sim.base_url()))
        .header("authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}
