//! RouterOS simulator behaviour over real HTTPS (and HTTP).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use labforge_simulators::common::Fault;
use labforge_simulators::routeros::{
    ADDRESS_LIST, ADMIN_PASSWORD, ADMIN_USER, DNS_STATIC, FASTTRACK_COMMENT, FILTER, NAT,
    READ_PASSWORD, READ_USER, RouterosSim, WRITE_PASSWORD, WRITE_USER,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn client(sim: &RouterosSim) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(sim.ca_pem().as_bytes()).unwrap())
        .build()
        .unwrap()
}

async fn call_as(
    sim: &RouterosSim,
    user: (&str, &str),
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut b = client(sim)
        .request(method, format!("{}/rest{path}", sim.https_url()))
        .basic_auth(user.0, Some(user.1));
    if let Some(body) = body {
        b = b.json(&body);
    }
    let resp = b.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    };
    (status, v)
}

async fn call(
    sim: &RouterosSim,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    call_as(sim, (ADMIN_USER, ADMIN_PASSWORD), method, path, body).await
}

fn detail(v: &Value) -> &str {
    v["detail"].as_str().unwrap_or_default()
}

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i[".id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn https_with_its_own_ca_and_basic_auth() {
    let sim = RouterosSim::start().unwrap();
    let (st, v) = call(&sim, Method::GET, "/ip/firewall/filter", None).await;
    assert_eq!(st, 200, "{v}");
    // The fasttrack counter rule: dynamic, at the top, every value a string.
    assert_eq!(v[0]["comment"], FASTTRACK_COMMENT);
    assert_eq!(v[0]["dynamic"], "true");
    assert_eq!(v[0]["bytes"], "0");
    // Without the CA the handshake fails.
    let plain = reqwest::Client::new();
    let e = plain
        .get(format!("{}/rest/ip/firewall/filter", sim.https_url()))
        .basic_auth(ADMIN_USER, Some(ADMIN_PASSWORD))
        .send()
        .await
        .unwrap_err();
    assert!(e.is_connect() || e.is_request(), "{e:?}");
    // A wrong password is 401 in the error envelope.
    let (st, v) = call_as(
        &sim,
        (ADMIN_USER, "nope"),
        Method::GET,
        "/ip/firewall/filter",
        None,
    )
    .await;
    assert_eq!(st, 401);
    assert_eq!(v, json!({"error": 401, "message": "Unauthorized"}));
    // The www service answers the same router over plain HTTP.
    let resp = reqwest::Client::new()
        .get(format!("{}/rest/ip/firewall/filter", sim.http_url()))
        .basic_auth(ADMIN_USER, Some(ADMIN_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (st, v) = call(&sim, Method::GET, "/system/resource", None).await;
    assert_eq!(st, 200);
    assert!(v["version"].as_str().unwrap().starts_with("7."));
}

#[tokio::test]
async fn add_fills_defaults_and_prints_routeros_spellings() {
    let sim = RouterosSim::start().unwrap();
    let (st, r) = call(
        &sim,
        Method::PUT,
        "/ip/firewall/filter",
        Some(json!({"chain": "input", "protocol": "6", "dst-port": "22",
                    "dst-address": "10.0.0.1/32", "connection-state": "related,established"})),
    )
    .await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["action"], "accept");
    assert_eq!(r["disabled"], "false");
    assert_eq!(r["log"], "false");
    assert_eq!(r["log-prefix"], "");
    assert_eq!(r["protocol"], "tcp");
    assert_eq!(r["dst-address"], "10.0.0.1");
    assert_eq!(r["connection-state"], "established,related");
    assert!(r.get("comment").is_none(), "unset keys are absent: {r}");
    assert!(r.get("src-address").is_none());
    let first = r[".id"].as_str().unwrap().to_string();

    // Unknown parameters and values outside the inspect dump's completions.
    let (st, v) = call(
        &sim,
        Method::PUT,
        "/ip/firewall/filter",
        Some(json!({"chain": "input", "colour": "red"})),
    )
    .await;
    assert_eq!((st.as_u16(), detail(&v)), (400, "unknown parameter colour"));
    let (st, v) = call(
        &sim,
        Method::PUT,
        "/ip/firewall/filter",
        Some(json!({"chain": "input", "protocol": "tcpp"})),
    )
    .await;
    assert_eq!(
        (st.as_u16(), detail(&v)),
        (400, "input does not match any value of protocol")
    );
    let (_, v) = call(
        &sim,
        Method::PUT,
        "/ip/firewall/filter",
        Some(json!({"chain": "input", "action": "allow"})),
    )
    .await;
    assert_eq!(detail(&v), "input does not match any value of action");
    let (_, v) = call(
        &sim,
        Method::PUT,
        "/ip/firewall/filter",
        Some(json!({"chain": "input", "in-interface": "eth9"})),
    )
    .await;
    assert_eq!(detail(&v), "input does not match any value of interface");
    let (st, _) = call(
        &sim,
        Method::PUT,
        "/ip/firewall/filter",
        Some(json!({"chain": "input", "dst-port": "22"})),
    )
    .await;
    assert_eq!(st, 400, "ports need a port protocol");
    let (_, v) = call(
        &sim,
        Method::PUT,
        "/ip/firewall/nat",
        Some(json!({"chain": "srcnat", "reject-with": "tcp-reset"})),
    )
    .await;
    assert_eq!(
        detail(&v),
        "unknown parameter reject-with",
        "NAT has no reject-with"
    );

    // PATCH: place-before is refused, `!name` unsets what `unset` knows.
    let path = format!("/ip/firewall/filter/{first}");
    let (st, v) = call(
        &sim,
        Method::PATCH,
        &path,
        Some(json!({"place-before": "*1"})),
    )
    .await;
    assert_eq!(
        (st.as_u16(), detail(&v)),
        (400, "unknown parameter place-before")
    );
    let (_, v) = call(&sim, Method::PATCH, &path, Some(json!({"!comment": ""}))).await;
    assert_eq!(detail(&v), "unknown parameter !comment");
    let (st, v) = call(
        &sim,
        Method::PATCH,
        &path,
        Some(json!({"!dst-port": "", "!protocol": "", "comment": "x"})),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert!(v.get("dst-port").is_none() && v.get("protocol").is_none());
    assert_eq!(v["comment"], "x");
    // An empty value is kept as given (terraform-routeros#995).
    let (_, v) = call(&sim, Method::PATCH, &path, Some(json!({"dst-port": ""}))).await;
    assert_eq!(v["dst-port"], "");

    // Ids only grow, and are never reused.
    let (_, a) = call(
        &sim,
        Method::PUT,
        "/ip/firewall/filter",
        Some(json!({"chain": "input"})),
    )
    .await;
    let a = a[".id"].as_str().unwrap().to_string();
    let (st, _) = call(
        &sim,
        Method::DELETE,
        &format!("/ip/firewall/filter/{a}"),
        None,
    )
    .await;
    assert_eq!(st, 200);
    let (st, v) = call(
        &sim,
        Method::DELETE,
        &format!("/ip/firewall/filter/{a}"),
        None,
    )
    .await;
    assert_eq!(
        (st.as_u16(), &v),
        (404, &json!({"error": 404, "message": "Not Found"}))
    );
    let (_, b) = call(
        &sim,
        Method::PUT,
        "/ip/firewall/filter",
        Some(json!({"chain": "input"})),
    )
    .await;
    let num = |id: &str| u64::from_str_radix(&id[1..], 16).unwrap();
    assert!(num(b[".id"].as_str().unwrap()) > num(&a));
}

#[tokio::test]
async fn order_move_place_before_and_the_builtin_rule() {
    let sim = RouterosSim::start().unwrap();
    let mut made = Vec::new();
    for c in ["a", "b", "c"] {
        let (_, r) = call(
            &sim,
            Method::PUT,
            "/ip/firewall/filter",
            Some(json!({"chain": "forward", "comment": c})),
        )
        .await;
        made.push(r[".id"].as_str().unwrap().to_string());
    }
    let dummy = ids(&sim.chain(FILTER, "forward"))[0].clone();
    // place-before on add.
    let (st, r) = call(
        &sim,
        Method::PUT,
        "/ip/firewall/filter",
        Some(json!({"chain": "forward", "comment": "d", "place-before": made[1]})),
    )
    .await;
    assert_eq!(st, 200, "{r}");
    let d = r[".id"].as_str().unwrap().to_string();
    assert_eq!(
        ids(&sim.chain(FILTER, "forward")),
        [
            dummy.clone(),
            made[0].clone(),
            d.clone(),
            made[1].clone(),
            made[2].clone()
        ]
    );
    // move with .id and destination; without destination: to the end.
    let (st, v) = call(
        &sim,
        Method::POST,
        "/ip/firewall/filter/move",
        Some(json!({".id": made[2], "destination": made[0]})),
    )
    .await;
    assert_eq!((st.as_u16(), &v), (200, &json!([])));
    call(
        &sim,
        Method::POST,
        "/ip/firewall/filter/move",
        Some(json!({".id": made[0]})),
    )
    .await;
    assert_eq!(
        ids(&sim.chain(FILTER, "forward")),
        [
            dummy.clone(),
            made[2].clone(),
            d.clone(),
            made[1].clone(),
            made[0].clone()
        ]
    );
    // The builtin rule: not movable, nothing before it.
    let (_, v) = call(
        &sim,
        Method::POST,
        "/ip/firewall/filter/move",
        Some(json!({".id": dummy})),
    )
    .await;
    assert_eq!(detail(&v), "failure: cannot move builtin");
    let (_, v) = call(
        &sim,
        Method::POST,
        "/ip/firewall/filter/move",
        Some(json!({".id": made[0], "destination": dummy})),
    )
    .await;
    assert_eq!(detail(&v), "failure: cannot move builtin");
    let (_, v) = call(
        &sim,
        Method::PUT,
        "/ip/firewall/filter",
        Some(json!({"chain": "forward", "place-before": dummy})),
    )
    .await;
    assert_eq!(detail(&v), "failure: cannot move builtin");
    // Unknown commands.
    let (st, v) = call(
        &sim,
        Method::POST,
        "/ip/firewall/filter/frobnicate",
        Some(json!({})),
    )
    .await;
    assert_eq!(
        (st.as_u16(), detail(&v)),
        (406, "no such command or directory (frobnicate)")
    );
}

#[tokio::test]
async fn queries_and_print() {
    let sim = RouterosSim::start().unwrap();
    sim.add(FILTER, &[("chain", "input"), ("comment", "in")])
        .unwrap();
    sim.add(FILTER, &[("chain", "output"), ("comment", "out")])
        .unwrap();
    let (_, v) = call(&sim, Method::GET, "/ip/firewall/filter?chain=input", None).await;
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["comment"], "in");
    let (_, v) = call(
        &sim,
        Method::GET,
        "/ip/firewall/filter?chain=input&.proplist=comment",
        None,
    )
    .await;
    assert_eq!(v, json!([{"comment": "in"}]));
    // POST print with .proplist: only those keys, no .id (Addendum 5).
    let (_, v) = call(
        &sim,
        Method::POST,
        "/ip/firewall/filter/print",
        Some(json!({".proplist": ["comment"], ".query": ["chain=output"]})),
    )
    .await;
    assert_eq!(v, json!([{"comment": "out"}]));
    let id = sim.chain(FILTER, "input")[0][".id"]
        .as_str()
        .unwrap()
        .to_string();
    let (st, v) = call(
        &sim,
        Method::GET,
        &format!("/ip/firewall/filter/{}", id.to_lowercase()),
        None,
    )
    .await;
    assert_eq!(st, 200, "ids are case-insensitive: {v}");
    assert_eq!(v["comment"], "in");
}

#[tokio::test]
async fn users_in_read_groups_cannot_write() {
    let sim = RouterosSim::start().unwrap();
    let reader = (READ_USER, READ_PASSWORD);
    let (st, _) = call_as(&sim, reader, Method::GET, "/ip/firewall/filter", None).await;
    assert_eq!(st, 200);
    let (st, v) = call_as(
        &sim,
        reader,
        Method::PUT,
        "/ip/firewall/filter",
        Some(json!({"chain": "input"})),
    )
    .await;
    assert_eq!(st, 500);
    assert_eq!(
        v,
        json!({"error": 500, "message": "Internal Server Error", "detail": "not enough permissions (9)"})
    );
    let (st, _) = call_as(
        &sim,
        (WRITE_USER, WRITE_PASSWORD),
        Method::PUT,
        "/ip/firewall/filter",
        Some(json!({"chain": "input"})),
    )
    .await;
    assert_eq!(st, 200);
}

#[tokio::test]
async fn address_lists_and_dns_static() {
    let sim = RouterosSim::start().unwrap();
    let (st, r) = call(
        &sim,
        Method::PUT,
        "/ip/firewall/address-list",
        Some(json!({"list": "lan", "address": "192.168.0.0-192.168.1.255"})),
    )
    .await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["address"], "192.168.0.0/23");
    assert_eq!(r["dynamic"], "false");
    assert!(r["creation-time"].is_string());
    let (st, v) = call(
        &sim,
        Method::PUT,
        "/ip/firewall/address-list",
        Some(json!({"list": "lan", "address": "192.168.0.0/23"})),
    )
    .await;
    assert_eq!(
        (st.as_u16(), detail(&v)),
        (400, "failure: already have such entry")
    );
    // A timeout makes a dynamic entry that counts down and goes.
    let (_, t) = call(
        &sim,
        Method::PUT,
        "/ip/firewall/address-list",
        Some(json!({"list": "ban", "address": "10.9.9.9", "timeout": "01:00:00"})),
    )
    .await;
    assert_eq!(t["dynamic"], "true");
    assert_eq!(t["timeout"], "1h");
    sim.advance_clock(600);
    let entry = sim
        .items(ADDRESS_LIST)
        .into_iter()
        .find(|e| e["list"] == "ban")
        .unwrap();
    assert_eq!(entry["timeout"], "50m");
    sim.advance_clock(3000);
    assert!(sim.items(ADDRESS_LIST).iter().all(|e| e["list"] != "ban"));

    let (st, a) = call(
        &sim,
        Method::PUT,
        "/ip/dns/static",
        Some(json!({"name": "nas.lan", "address": "10.0.0.5", "type": "A"})),
    )
    .await;
    assert_eq!(st, 200, "{a}");
    assert!(a.get("type").is_none(), "A records print no type: {a}");
    assert_eq!(a["ttl"], "1d");
    let (_, c) = call(
        &sim,
        Method::PUT,
        "/ip/dns/static",
        Some(json!({"name": "files.lan", "type": "CNAME", "cname": "nas.lan", "ttl": "24h"})),
    )
    .await;
    assert_eq!(c["type"], "CNAME");
    assert_eq!(c["ttl"], "1d");
    let (_, v) = call(
        &sim,
        Method::PUT,
        "/ip/dns/static",
        Some(json!({"name": "x", "type": "SPF"})),
    )
    .await;
    assert_eq!(detail(&v), "input does not match any value of type");
    let _ = DNS_STATIC;
}

#[tokio::test]
async fn faults_hooks_and_history() {
    let sim = RouterosSim::start().unwrap();
    sim.faults()
        .inject("GET", "/rest/ip/firewall/nat", Fault::Status(503), 1);
    let (st, v) = call(&sim, Method::GET, "/ip/firewall/nat", None).await;
    assert_eq!(
        (st.as_u16(), &v),
        (
            503,
            &json!({"error": 503, "message": "Service Unavailable"})
        )
    );
    let (st, _) = call(&sim, Method::GET, "/ip/firewall/nat", None).await;
    assert_eq!(st, 200);
    assert_eq!(sim.counters().get("GET", "/rest/ip/firewall/nat"), 2);

    sim.record(FILTER, "input");
    let a = sim
        .add(FILTER, &[("chain", "input"), ("comment", "a")])
        .unwrap();
    let (_, b) = call(
        &sim,
        Method::PUT,
        "/ip/firewall/filter",
        Some(json!({"chain": "input", "comment": "b"})),
    )
    .await;
    let (a, b) = (a[".id"].as_str().unwrap(), b[".id"].as_str().unwrap());
    call(
        &sim,
        Method::POST,
        "/ip/firewall/filter/move",
        Some(json!({".id": b, "destination": a})),
    )
    .await;
    // A failed request changes nothing and records nothing.
    call(
        &sim,
        Method::PUT,
        "/ip/firewall/filter",
        Some(json!({"chain": "input", "bogus": "1"})),
    )
    .await;
    let h = sim.history();
    let comments: Vec<Vec<&str>> = h
        .iter()
        .map(|s| s.iter().map(|r| r["comment"].as_str().unwrap()).collect())
        .collect();
    assert_eq!(
        comments,
        vec![vec![], vec!["a"], vec!["a", "b"], vec!["b", "a"]]
    );
    let _ = NAT;
}
