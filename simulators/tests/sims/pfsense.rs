//! pfSense (pfSense-pkg-RESTAPI v2.10) simulator behaviour over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use labforge_simulators::pfsense::{
    ADMIN_KEY, ADMIN_PASSWORD, ADMIN_USER, Mode, PfsenseSim, READER_KEY, READER_PASSWORD,
    READER_USER,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

enum As<'a> {
    Basic(&'a str, &'a str),
    Key(&'a str),
}

const ADMIN: As<'static> = As::Basic(ADMIN_USER, ADMIN_PASSWORD);

async fn raw(
    sim: &PfsenseSim,
    who: &As<'_>,
    method: Method,
    path_and_query: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut b =
        reqwest::Client::new().request(method, format!("{}/api/v2{path_and_query}", sim.url()));
    b = match who {
        As::Basic(u, p) => b.basic_auth(u, Some(p)),
        As::Key(k) => b.header("X-API-Key", *k),
    };
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    if let Some(body) = body {
        b = b.json(&body);
    }
    let resp = b.send().await.unwrap();
    let status = resp.status();
    let v: Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    assert_eq!(v["code"], status.as_u16(), "the envelope's code: {v}");
    (status, v)
}

async fn call(
    sim: &PfsenseSim,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    raw(sim, &ADMIN, method, path, body, &[]).await
}

fn rule(descr: &str) -> Value {
    json!({"type": "pass", "interface": ["LAN"], "ipprotocol": "inet", "protocol": "tcp",
           "source": "any", "destination": "any", "destination_port": "22", "descr": descr})
}

fn descrs(sim: &PfsenseSim) -> Vec<String> {
    sim.rules()
        .iter()
        .map(|r| r["descr"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn envelope_basic_auth_and_a_fresh_install() {
    let sim = PfsenseSim::start().unwrap();
    let (st, v) = call(&sim, Method::GET, "/firewall/rules", None).await;
    assert_eq!(st, 200);
    assert_eq!(v["status"], "ok");
    assert_eq!(v["response_id"], "SUCCESS");
    let rules = v["data"].as_array().unwrap();
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0]["id"], 0);
    assert_eq!(rules[0]["interface"], json!(["LAN"]));
    assert_eq!(rules[0]["source"], "LAN");
    assert!(rules[0]["tracker"].is_i64());
    let (st, v) = raw(
        &sim,
        &As::Basic(ADMIN_USER, "wrong"),
        Method::GET,
        "/firewall/rules",
        None,
        &[],
    )
    .await;
    assert_eq!(st, 401);
    assert_eq!(v["response_id"], "AUTH_AUTHENTICATION_FAILED");
    assert_eq!(v["status"], "unauthorized");
    // One Accept type, or 406.
    let (st, v) = raw(
        &sim,
        &ADMIN,
        Method::GET,
        "/firewall/rules",
        None,
        &[("Accept", "application/json, text/html")],
    )
    .await;
    assert_eq!(st, 406, "{v}");
    assert_eq!(v["response_id"], "CONTENT_HANDLER_ENCODE_NOT_FOUND");
}

#[tokio::test]
async fn api_keys_need_key_auth_and_a_read_only_key_cannot_write() {
    let sim = PfsenseSim::start().unwrap();
    let (st, v) = raw(
        &sim,
        &As::Key(ADMIN_KEY),
        Method::GET,
        "/firewall/rules",
        None,
        &[],
    )
    .await;
    assert_eq!(st, 401, "only BasicAuth after installation: {v}");
    sim.enable_key_auth();
    let (st, _) = raw(
        &sim,
        &As::Key(ADMIN_KEY),
        Method::GET,
        "/firewall/rules",
        None,
        &[],
    )
    .await;
    assert_eq!(st, 200);
    let reader = As::Key(READER_KEY);
    let (st, _) = raw(&sim, &reader, Method::GET, "/firewall/rules", None, &[]).await;
    assert_eq!(st, 200);
    let (st, v) = raw(
        &sim,
        &reader,
        Method::POST,
        "/firewall/rule",
        Some(rule("x")),
        &[],
    )
    .await;
    assert_eq!(st, 403);
    assert_eq!(v["response_id"], "AUTH_AUTHORIZATION_FAILED");
    let (st, _) = raw(
        &sim,
        &As::Basic(READER_USER, READER_PASSWORD),
        Method::GET,
        "/system/restapi/settings",
        None,
        &[],
    )
    .await;
    assert_eq!(st, 403, "the reader cannot read the REST API settings");
    assert_eq!(descrs(&sim).len(), 2);
}

#[tokio::test]
async fn ids_are_positions_and_placement_moves_them() {
    let sim = PfsenseSim::start().unwrap();
    for d in ["a", "b", "c"] {
        let (st, v) = call(&sim, Method::POST, "/firewall/rule", Some(rule(d))).await;
        assert_eq!(st, 200, "{v}");
    }
    // Created at the end: ids 2, 3, 4.
    assert_eq!(descrs(&sim)[2..], ["a", "b", "c"]);
    // Placement on create: at 0, everything shifts.
    let mut r = rule("top");
    r["placement"] = json!(0);
    let (_, v) = call(&sim, Method::POST, "/firewall/rule", Some(r)).await;
    assert_eq!(v["data"]["id"], 0);
    assert_eq!(descrs(&sim)[3..], ["a", "b", "c"]);
    // Move c (id 5) to 1.
    let (_, v) = call(
        &sim,
        Method::PATCH,
        "/firewall/rule",
        Some(json!({"id": 5, "placement": 1})),
    )
    .await;
    assert_eq!(v["data"]["id"], 1);
    assert_eq!(descrs(&sim)[..2], ["top", "c"]);
    // A placement past the last index fails and writes nothing.
    let before = sim.rules();
    let (st, v) = call(
        &sim,
        Method::PATCH,
        "/firewall/rule",
        Some(json!({"id": 0, "placement": 6, "descr": "moved"})),
    )
    .await;
    assert_eq!(st, 500, "{v}");
    assert_eq!(v["response_id"], "MODEL_FAILED_TO_SET_PLACEMENT");
    assert_eq!(sim.rules(), before);
    let mut r = rule("late");
    r["placement"] = json!(99);
    let (st, _) = call(&sim, Method::POST, "/firewall/rule", Some(r)).await;
    assert_eq!(st, 500);
    assert_eq!(sim.rules().len(), 6);
    // Delete by query (form): ids after it shift down.
    let (st, v) = call(&sim, Method::DELETE, "/firewall/rule?id=0", None).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(descrs(&sim)[0], "c");
    // With a JSON content type the query string is not read: the id is lost.
    let (st, v) = raw(
        &sim,
        &ADMIN,
        Method::DELETE,
        "/firewall/rule?id=0",
        None,
        &[("Content-Type", "application/json")],
    )
    .await;
    assert_eq!(st, 500, "{v}");
    assert_eq!(v["response_id"], "MODEL_ID_REQUIRED_FOR_REFRESH");
    assert_eq!(descrs(&sim)[0], "c");
    let (st, v) = call(&sim, Method::DELETE, "/firewall/rule?id=42", None).await;
    assert_eq!(st, 404);
    assert_eq!(v["response_id"], "MODEL_OBJECT_NOT_FOUND");
}

#[tokio::test]
async fn trackers_are_the_creation_second() {
    let sim = PfsenseSim::start().unwrap();
    sim.set_clock(Some(1_800_000_000));
    let (_, a) = call(&sim, Method::POST, "/firewall/rule", Some(rule("a"))).await;
    let (_, b) = call(&sim, Method::POST, "/firewall/rule", Some(rule("b"))).await;
    assert_eq!(a["data"]["tracker"], 1_800_000_000);
    assert_eq!(
        a["data"]["tracker"], b["data"]["tracker"],
        "same second, same tracker"
    );
    sim.set_clock(Some(1_800_000_001));
    let (_, c) = call(&sim, Method::POST, "/firewall/rule", Some(rule("c"))).await;
    assert_eq!(c["data"]["tracker"], 1_800_000_001);
}

#[tokio::test]
async fn rule_writes_are_not_live_nor_pending_until_applied() {
    let sim = PfsenseSim::start().unwrap();
    call(&sim, Method::POST, "/firewall/rule", Some(rule("ssh"))).await;
    assert_eq!(sim.interface_rules("LAN").len(), 3);
    assert_eq!(sim.live_rules("LAN").len(), 2, "not live before an apply");
    let (_, v) = call(&sim, Method::GET, "/firewall/apply", None).await;
    assert_eq!(
        v["data"],
        json!({"applied": true, "pending_subsystems": []}),
        "rule writes mark nothing pending"
    );
    // "apply": "true" (a string) applies nothing.
    let mut r = rule("web");
    r["apply"] = json!("true");
    call(&sim, Method::POST, "/firewall/rule", Some(r)).await;
    assert_eq!(sim.live_rules("LAN").len(), 2);
    let (st, _) = call(
        &sim,
        Method::POST,
        "/firewall/apply",
        Some(json!({"async": false})),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(sim.live_rules("LAN").len(), 4);
    assert_eq!(sim.applies(), 1);
    // An alias write marks `aliases` pending, and the apply leaves it set.
    let (st, v) = call(
        &sim,
        Method::POST,
        "/firewall/alias",
        Some(json!({"name": "web", "type": "host", "address": ["10.0.0.1"], "detail": ["a"]})),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    call(
        &sim,
        Method::POST,
        "/firewall/apply",
        Some(json!({"async": false})),
    )
    .await;
    let (_, v) = call(&sim, Method::GET, "/firewall/apply", None).await;
    assert_eq!(v["data"]["applied"], false);
    assert_eq!(v["data"]["pending_subsystems"], json!(["aliases"]));
    // `async` must be a boolean.
    let (st, v) = call(
        &sim,
        Method::POST,
        "/firewall/apply",
        Some(json!({"async": "no"})),
    )
    .await;
    assert_eq!(st, 400);
    assert_eq!(v["response_id"], "ENDPOINT_ASYNC_FIELD_INVALID_TYPE");
    // A full dispatcher queue.
    sim.fail_applies(1);
    let (st, v) = call(
        &sim,
        Method::POST,
        "/firewall/apply",
        Some(json!({"async": false})),
    )
    .await;
    assert_eq!(st, 503);
    assert_eq!(v["response_id"], "DISPATCHER_TOO_MANY_QUEUED_PROCESSES");
}

#[tokio::test]
async fn interfaces_are_named_by_description_by_default() {
    let sim = PfsenseSim::start().unwrap();
    let mut r = rule("x");
    r["interface"] = json!(["lan"]);
    let (st, v) = call(&sim, Method::POST, "/firewall/rule", Some(r)).await;
    assert_eq!(st, 400);
    assert_eq!(v["response_id"], "FIELD_INVALID_CHOICE");
    let mut r = rule("x");
    r["source"] = json!("LAN:ip");
    r["destination"] = json!("!DMZ");
    let (st, v) = call(&sim, Method::POST, "/firewall/rule", Some(r)).await;
    assert_eq!(st, 200, "{v}");
    let mut r = rule("x");
    r["source"] = json!("lan:ip");
    let (st, v) = call(&sim, Method::POST, "/firewall/rule", Some(r)).await;
    assert_eq!(st, 400);
    assert_eq!(v["response_id"], "FILTER_ADDRESS_FIELD_INVALID");
    sim.set_interface_mode(Mode::Id);
    let last = sim.rules().pop().unwrap();
    assert_eq!(last["interface"], json!(["lan"]));
    assert_eq!(last["source"], "lan:ip");
    assert_eq!(last["destination"], "!opt1");
    let (_, v) = call(&sim, Method::GET, "/interfaces", None).await;
    assert_eq!(
        v["data"][1],
        json!({"id": "lan", "if": "vtnet1", "enable": true, "descr": "LAN", "typev4": "static"})
    );
    let (_, v) = call(&sim, Method::GET, "/system/restapi/settings", None).await;
    assert_eq!(v["data"]["represent_interfaces_as"], "id");
}

#[tokio::test]
async fn validation_follows_the_native_schema() {
    let sim = PfsenseSim::start().unwrap();
    // A port on an ICMP rule is silently dropped (the field's condition).
    let mut r = rule("ping");
    r["protocol"] = json!("icmp");
    let (st, v) = call(&sim, Method::POST, "/firewall/rule", Some(r)).await;
    assert_eq!(st, 200);
    assert_eq!(v["data"]["destination_port"], Value::Null);
    assert_eq!(v["data"]["icmptype"], json!(["any"]));
    // Ports are strings.
    let mut r = rule("x");
    r["destination_port"] = json!(22);
    let (st, v) = call(&sim, Method::POST, "/firewall/rule", Some(r)).await;
    assert_eq!(st, 400);
    assert_eq!(v["response_id"], "FIELD_INVALID_TYPE");
    for (field, value, id) in [
        ("type", json!("allow"), "FIELD_INVALID_CHOICE"),
        ("destination_port", json!("80-90"), "PORT_FIELD_INVALID"),
        (
            "source",
            json!("!any"),
            "FILTER_RULE_ADDRESS_FIELD_WITH_INVERT_ANY",
        ),
        (
            "source",
            json!("10.0.0.0/33"),
            "FILTER_ADDRESS_FIELD_INVALID",
        ),
        ("statetype", json!("synproxy state"), ""),
        (
            "interface",
            json!(["LAN", "WAN"]),
            "FIREWALL_RULE_MULTIPLE_INTERFACE_WITHOUT_FLOATING",
        ),
        (
            "gateway",
            json!("nope"),
            "FOREIGN_MODEL_FIELD_VALUE_NOT_FOUND",
        ),
    ] {
        let mut r = rule("x");
        r[field] = value;
        let (st, v) = call(&sim, Method::POST, "/firewall/rule", Some(r)).await;
        if id.is_empty() {
            assert_eq!(st, 200, "synproxy with tcp is fine: {v}");
            continue;
        }
        assert!(st == 400 || st == 404, "{field}: {v}");
        assert_eq!(v["response_id"], id, "{field}");
    }
    let mut r = rule("x");
    r.as_object_mut().unwrap().remove("type");
    let (_, v) = call(&sim, Method::POST, "/firewall/rule", Some(r)).await;
    assert_eq!(v["response_id"], "FIELD_IS_REQUIRED");
    // Alias rules.
    for (body, id) in [
        (
            json!({"name": "queue", "type": "host"}),
            "FILTER_NAME_VALIDATOR_RESERVED_NAME_USED",
        ),
        (
            json!({"name": "lan", "type": "host"}),
            "FILTER_NAME_VALIDATOR_NAME_IN_USE_BY_INTERFACE",
        ),
        (
            json!({"name": "123", "type": "host"}),
            "FILTER_NAME_VALIDATOR_CANNOT_BE_NUMERICAL",
        ),
        (json!({"name": "u", "type": "url"}), "FIELD_INVALID_CHOICE"),
        (
            json!({"name": "h", "type": "host", "address": ["10.0.0.0/24"]}),
            "INVALID_HOST_ALIAS_ADDRESS",
        ),
        (
            json!({"name": "p", "type": "port", "address": ["80"], "detail": ["a", "b"]}),
            "TOO_MANY_ALIAS_DETAILS",
        ),
    ] {
        let (st, v) = call(&sim, Method::POST, "/firewall/alias", Some(body.clone())).await;
        assert_eq!(st, 400, "{body}: {v}");
        assert_eq!(v["response_id"], id, "{body}");
    }
    // Fewer details than addresses: stored as sent (no padding).
    let (_, v) = call(&sim, Method::POST, "/firewall/alias",
        Some(json!({"name": "web", "type": "host", "address": ["10.0.0.1", "10.0.0.2"], "detail": ["one"]}))).await;
    assert_eq!(v["data"]["detail"], json!(["one"]));
    let (st, v) = call(
        &sim,
        Method::PATCH,
        "/firewall/alias",
        Some(json!({"id": 0, "name": "web2"})),
    )
    .await;
    assert_eq!(st, 400);
    assert_eq!(v["response_id"], "FIELD_VALUE_CHANGED_WHEN_NOT_EDITABLE");
}

#[tokio::test]
async fn a_deleted_alias_still_in_use_breaks_the_next_reload() {
    let sim = PfsenseSim::start().unwrap();
    call(
        &sim,
        Method::POST,
        "/firewall/alias",
        Some(json!({"name": "web", "type": "host", "address": ["10.0.0.1"]})),
    )
    .await;
    let mut r = rule("to web");
    r["destination"] = json!("web");
    let (st, v) = call(&sim, Method::POST, "/firewall/rule", Some(r)).await;
    assert_eq!(st, 200, "{v}");
    call(
        &sim,
        Method::POST,
        "/firewall/apply",
        Some(json!({"async": false})),
    )
    .await;
    assert_eq!(sim.live_rules("LAN").len(), 3);
    // Deleting the alias the rule uses is not refused...
    let (st, _) = call(&sim, Method::DELETE, "/firewall/alias?id=0", None).await;
    assert_eq!(st, 200);
    call(&sim, Method::POST, "/firewall/rule", Some(rule("more"))).await;
    // ...and the next reload fails: the old filter stays.
    let (st, _) = call(
        &sim,
        Method::POST,
        "/firewall/apply",
        Some(json!({"async": false})),
    )
    .await;
    assert_eq!(st, 200, "the API does not report a failed reload");
    assert_eq!(sim.live_rules("LAN").len(), 3);
    assert_eq!(sim.filter_errors().len(), 1);
    assert!(sim.filter_errors()[0].contains("<web>"));
}

#[tokio::test]
async fn the_last_rule_cannot_be_deleted_and_hooks_renumber() {
    let sim = PfsenseSim::start().unwrap();
    call(&sim, Method::DELETE, "/firewall/rule?id=1", None).await;
    let (st, v) = call(&sim, Method::DELETE, "/firewall/rule?id=0", None).await;
    assert_eq!(st, 403);
    assert_eq!(v["response_id"], "MODEL_MANY_MINIMUM_REACHED");
    sim.add_rule(
        &[
            ("type", json!("block")),
            ("interface", json!(["WAN"])),
            ("ipprotocol", json!("inet")),
            ("source", json!("any")),
            ("destination", json!("any")),
            ("descr", json!("hand made")),
        ],
        Some(0),
    )
    .unwrap();
    assert_eq!(descrs(&sim), ["hand made", "Default allow LAN to any rule"]);
    sim.move_rule(0, 1).unwrap();
    assert_eq!(descrs(&sim)[1], "hand made");
    sim.edit_rule(1, &[("descr", json!("edited"))]).unwrap();
    sim.record("WAN");
    sim.delete_rule(1).unwrap();
    assert_eq!(sim.history().len(), 2);
    assert!(sim.history()[1].is_empty());
}

/// The native schema (`src/pfsense/schema.json`): every field the simulator
/// answers is one of the model's, of its type.
fn check_against_schema(model: &str, obj: &Value) {
    let schema: Value = serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/pfsense/schema.json"
    )))
    .unwrap();
    let fields = &schema["models"][model]["fields"];
    for (k, v) in obj.as_object().unwrap() {
        if k == "id" {
            assert!(v.is_u64(), "{model}.id: {v}");
            continue;
        }
        let f = &fields[k];
        assert!(f.is_object(), "{model}.{k} is not in the native schema");
        if v.is_null() {
            // Unset, or nulled because the field's conditions fail.
            let conditional = match &f["conditions"] {
                Value::Object(m) => !m.is_empty(),
                Value::Array(a) => !a.is_empty(),
                _ => false,
            };
            assert!(
                f["allow_null"] == true || conditional || f["default"].is_null(),
                "{model}.{k} is null: {f}"
            );
            continue;
        }
        let one = |x: &Value| match f["type"].as_str().unwrap() {
            "string" => assert!(x.is_string(), "{model}.{k}: {x}"),
            "boolean" => assert!(x.is_boolean(), "{model}.{k}: {x}"),
            "integer" => assert!(x.is_i64(), "{model}.{k}: {x}"),
            t => panic!("type {t}"),
        };
        if f["many"] == true {
            for x in v
                .as_array()
                .unwrap_or_else(|| panic!("{model}.{k} is not a list: {v}"))
            {
                one(x);
            }
        } else {
            one(v);
        }
        if let Some(c) = f["choices"].as_array().filter(|c| !c.is_empty()) {
            let vals: Vec<&Value> = match v.as_array() {
                Some(a) => a.iter().collect(),
                None => vec![v],
            };
            for x in vals {
                assert!(c.contains(x), "{model}.{k}: {x} is not a choice");
            }
        }
    }
    for (k, f) in fields.as_object().unwrap() {
        assert!(
            obj.get(k).is_some() || f["write_only"] == true,
            "{model}.{k} missing: {obj}"
        );
    }
}

#[tokio::test]
async fn answers_conform_to_the_native_schema() {
    let sim = PfsenseSim::start().unwrap();
    let mut icmp = rule("ping");
    icmp["protocol"] = json!("icmp");
    icmp["icmptype"] = json!(["echoreq", "unreach"]);
    for r in [rule("ssh"), icmp] {
        let (st, v) = call(&sim, Method::POST, "/firewall/rule", Some(r)).await;
        assert_eq!(st, 200, "{v}");
        check_against_schema("FirewallRule", &v["data"]);
    }
    call(
        &sim,
        Method::POST,
        "/firewall/alias",
        Some(json!({"name": "web", "type": "host", "address": ["10.0.0.1"], "detail": ["a"]})),
    )
    .await;
    let (_, v) = call(&sim, Method::GET, "/firewall/rules", None).await;
    for r in v["data"].as_array().unwrap() {
        check_against_schema("FirewallRule", r);
    }
    let (_, v) = call(&sim, Method::GET, "/firewall/aliases", None).await;
    for a in v["data"].as_array().unwrap() {
        check_against_schema("FirewallAlias", a);
    }
    let (_, v) = call(&sim, Method::GET, "/firewall/apply", None).await;
    check_against_schema("FirewallApply", &v["data"]);
}
