//! Kubernetes (MetalLB CRDs) simulator behaviour over HTTP.
#![allow(clippy::unwrap_used)]

use labforge_simulators::kubernetes::{
    ADMIN_TOKEN, KubernetesSim, METALLB_NAMESPACE, NOACCESS_TOKEN, READONLY_TOKEN,
};
use reqwest::Method;
use serde_json::{Value, json};

const POOLS: &str = "/apis/metallb.io/v1beta1/namespaces/metallb-system/ipaddresspools";

async fn call(
    sim: &KubernetesSim,
    token: &str,
    method: Method,
    path: &str,
    ct: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut b = reqwest::Client::new()
        .request(method, format!("{}{path}", sim.url()))
        .bearer_auth(token);
    if let Some(ct) = ct {
        b = b.header("Content-Type", ct);
    }
    if let Some(body) = body {
        b = b.body(body.to_string());
    }
    let r = b.send().await.unwrap();
    let code = r.status().as_u16();
    let v: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    if code >= 400 {
        assert_eq!(v["kind"], "Status", "{v}");
        assert_eq!(v["code"], code, "{v}");
    }
    (code, v)
}

fn pool(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
        "metadata": {"name": name, "namespace": METALLB_NAMESPACE}, "spec": spec})
}

async fn apply(
    sim: &KubernetesSim,
    name: &str,
    mgr: &str,
    force: bool,
    spec: Value,
) -> (u16, Value) {
    let q = if force { "&force=true" } else { "" };
    call(
        sim,
        ADMIN_TOKEN,
        Method::PATCH,
        &format!("{POOLS}/{name}?fieldManager={mgr}{q}"),
        Some("application/apply-patch+yaml"),
        Some(pool(name, spec)),
    )
    .await
}

#[tokio::test]
async fn apply_refuses_undeclared_fields_and_merge_patch_prunes_them() {
    let sim = KubernetesSim::start().unwrap();
    // Server-side apply: the whole apply fails, HTTP 500 without a reason.
    let (code, v) = apply(
        &sim,
        "p",
        "tf",
        false,
        json!({"addresses": ["10.0.0.0/28"], "bogus": 1}),
    )
    .await;
    assert_eq!(code, 500, "{v}");
    assert!(v.get("reason").is_none(), "{v}");
    assert!(v.get("details").is_none(), "{v}");
    assert_eq!(
        v["message"],
        "failed to create typed patch object (metallb-system/p; metallb.io/v1beta1, Kind=IPAddressPool): .spec.bogus: field not declared in schema"
    );
    assert!(
        sim.object("ipaddresspools", METALLB_NAMESPACE, "p")
            .is_none()
    );
    assert_eq!(sim.pruned_fields(), vec!["ipaddresspools/p: spec.bogus"]);
    // Two objects with one each: structured-merge-diff's list of errors.
    let (code, v) = apply(
        &sim,
        "p",
        "tf",
        false,
        json!({"addresses": ["10.0.0.0/28"], "serviceAllocation": {"namespaces": ["a"], "x": 1}, "zz": 2}),
    )
    .await;
    assert_eq!(code, 500, "{v}");
    assert_eq!(
        v["message"],
        "failed to create typed patch object (metallb-system/p; metallb.io/v1beta1, Kind=IPAddressPool): errors:\n  .spec.serviceAllocation.x: field not declared in schema\n  .spec.zz: field not declared in schema"
    );
    // An older MetalLB's CRD without a field the applier sends.
    assert!(sim.drop_crd_field("ipaddresspools", "spec.serviceAllocation"));
    assert!(!sim.drop_crd_field("ipaddresspools", "spec.serviceAllocation"));
    let (code, v) = apply(
        &sim,
        "q",
        "tf",
        false,
        json!({"addresses": ["10.0.9.0/28"], "serviceAllocation": {"priority": 1}}),
    )
    .await;
    assert_eq!(code, 500, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .ends_with("(metallb-system/q; metallb.io/v1beta1, Kind=IPAddressPool): .spec.serviceAllocation: field not declared in schema"),
        "{v}"
    );
    let (code, v) = apply(
        &sim,
        "p",
        "tf",
        false,
        json!({"addresses": ["10.0.0.0/28"]}),
    )
    .await;
    assert_eq!(code, 201, "{v}");
    assert_eq!(v["spec"]["autoAssign"], true);
    assert_eq!(v["spec"]["avoidBuggyIPs"], false);
    // A merge patch (a non-apply write) prunes it, with a Warning header.
    let r = reqwest::Client::new()
        .patch(format!("{}{POOLS}/p?fieldManager=kubectl-edit", sim.url()))
        .bearer_auth(ADMIN_TOKEN)
        .header("Content-Type", "application/merge-patch+json")
        .body(json!({"spec": {"autoAssign": false, "bogus": 1}}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers()
            .get("warning")
            .and_then(|h| h.to_str().ok())
            .unwrap(),
        r#"299 - "unknown field \"spec.bogus\"""#
    );
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["spec"]["autoAssign"], false);
    assert!(v["spec"].get("bogus").is_none(), "{v}");
    assert_eq!(
        sim.pruned_fields().last().map(String::as_str),
        Some("ipaddresspools/p: spec.bogus")
    );
    // Back to tf's value for what follows.
    let (code, v) = apply(
        &sim,
        "p",
        "tf",
        true,
        json!({"addresses": ["10.0.0.0/28"], "autoAssign": true}),
    )
    .await;
    assert_eq!(code, 200, "{v}");
    let (code, v) = apply(
        &sim,
        "p",
        "tf",
        false,
        json!({"addresses": ["10.0.0.0/28"]}),
    )
    .await;
    assert_eq!(code, 200, "{v}");
    let mf = &v["metadata"]["managedFields"][0];
    assert_eq!(mf["manager"], "tf");
    assert_eq!(mf["operation"], "Apply");
    assert!(
        mf["fieldsV1"]["f:spec"].get("f:addresses").is_some(),
        "{mf}"
    );
    let rv = v["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    // The same apply again changes nothing: same resourceVersion, 200.
    let (code, v) = apply(
        &sim,
        "p",
        "tf",
        false,
        json!({"addresses": ["10.0.0.0/28"]}),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(v["metadata"]["resourceVersion"], rv.as_str());
    // A stale resourceVersion is a 409.
    let mut body = pool("p", json!({"addresses": ["10.0.0.0/29"]}));
    body["metadata"]["resourceVersion"] = json!("1");
    let (code, v) = call(
        &sim,
        ADMIN_TOKEN,
        Method::PATCH,
        &format!("{POOLS}/p?fieldManager=tf"),
        Some("application/apply-patch+yaml"),
        Some(body),
    )
    .await;
    assert_eq!(code, 409);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("the object has been modified"),
        "{v}"
    );
    // GET and 404s: an object's names it, an unserved resource's does not.
    let (code, v) = call(
        &sim,
        ADMIN_TOKEN,
        Method::GET,
        &format!("{POOLS}/p"),
        None,
        None,
    )
    .await;
    assert_eq!(
        (code, v["spec"]["addresses"][0].clone()),
        (200, json!("10.0.0.0/28"))
    );
    let (code, v) = call(
        &sim,
        ADMIN_TOKEN,
        Method::GET,
        &format!("{POOLS}/nope"),
        None,
        None,
    )
    .await;
    assert_eq!((code, v["details"]["name"].clone()), (404, json!("nope")));
    sim.set_crds_installed(false);
    let (code, v) = call(
        &sim,
        ADMIN_TOKEN,
        Method::GET,
        &format!("{POOLS}/p"),
        None,
        None,
    )
    .await;
    assert_eq!(code, 404);
    assert!(v["details"].get("name").is_none(), "{v}");
    sim.set_crds_installed(true);
    let (code, _) = call(
        &sim,
        ADMIN_TOKEN,
        Method::DELETE,
        &format!("{POOLS}/p"),
        None,
        None,
    )
    .await;
    assert_eq!(code, 200);
    let (code, _) = call(
        &sim,
        ADMIN_TOKEN,
        Method::DELETE,
        &format!("{POOLS}/p"),
        None,
        None,
    )
    .await;
    assert_eq!(code, 404);
}

#[tokio::test]
async fn conflicts_force_and_removal_of_dropped_fields() {
    let sim = KubernetesSim::start().unwrap();
    apply(
        &sim,
        "p",
        "tf",
        false,
        json!({"addresses": ["10.0.0.0/28"], "serviceAllocation": {"priority": 5}}),
    )
    .await;
    // Another manager setting a field tf owns to another value: 409 naming both.
    let (code, v) = apply(
        &sim,
        "p",
        "helm",
        false,
        json!({"addresses": ["10.0.1.0/28"]}),
    )
    .await;
    assert_eq!(code, 409, "{v}");
    assert_eq!(v["reason"], "Conflict");
    assert_eq!(v["details"]["causes"][0]["reason"], "FieldManagerConflict");
    assert_eq!(v["details"]["causes"][0]["field"], ".spec.addresses");
    // An applier prints without apiVersion (conflict.go printManager).
    assert_eq!(v["details"]["causes"][0]["message"], "conflict with \"tf\"");
    assert_eq!(
        v["message"],
        "Apply failed with 1 conflict: conflict with \"tf\": .spec.addresses"
    );
    // The same value is shared ownership, no conflict.
    let (code, _) = apply(
        &sim,
        "p",
        "helm",
        false,
        json!({"addresses": ["10.0.0.0/28"]}),
    )
    .await;
    assert_eq!(code, 200);
    // tf stops sending serviceAllocation: removed (only tf owned it);
    // addresses stay (helm co-owns them) even when tf drops them... tf keeps them here.
    let (_, v) = apply(
        &sim,
        "p",
        "tf",
        false,
        json!({"addresses": ["10.0.0.0/28"]}),
    )
    .await;
    assert!(v["spec"].get("serviceAllocation").is_none(), "{v}");
    // force moves ownership.
    let (code, v) = apply(
        &sim,
        "p",
        "helm",
        true,
        json!({"addresses": ["10.0.2.0/28"]}),
    )
    .await;
    assert_eq!(code, 200, "{v}");
    let owners: Vec<&str> = v["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["fieldsV1"]["f:spec"].get("f:addresses").is_some())
        .map(|m| m["manager"].as_str().unwrap())
        .collect();
    assert_eq!(owners, vec!["helm"]);
    // Update (edit) takes what it changes without conflict.
    sim.edit_as(
        "kubectl-edit",
        "ipaddresspools",
        METALLB_NAMESPACE,
        "p",
        json!({"autoAssign": false}),
    )
    .unwrap();
    let (code, v) = apply(
        &sim,
        "p",
        "tf",
        false,
        json!({"addresses": ["10.0.2.0/28"], "autoAssign": true}),
    )
    .await;
    assert_eq!(code, 409, "{v}");
    // An Update manager prints with its apiVersion (conflict.go printManager).
    assert_eq!(
        v["message"],
        "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using metallb.io/v1beta1: .spec.autoAssign"
    );
    assert_eq!(
        v["details"]["causes"],
        json!([{"reason": "FieldManagerConflict",
            "message": "conflict with \"kubectl-edit\" using metallb.io/v1beta1",
            "field": ".spec.autoAssign"}])
    );
    // Several: grouped by manager (sorted), one line per field.
    sim.edit_as(
        "kubectl-edit",
        "ipaddresspools",
        METALLB_NAMESPACE,
        "p",
        json!({"avoidBuggyIPs": true}),
    )
    .unwrap();
    let (code, v) = apply(
        &sim,
        "p",
        "tf",
        false,
        json!({"addresses": ["10.0.3.0/28"], "autoAssign": true, "avoidBuggyIPs": false}),
    )
    .await;
    assert_eq!(code, 409, "{v}");
    assert_eq!(
        v["message"],
        "Apply failed with 3 conflicts: conflicts with \"helm\":\n- .spec.addresses\nconflicts with \"kubectl-edit\" using metallb.io/v1beta1:\n- .spec.autoAssign\n- .spec.avoidBuggyIPs"
    );
    let causes: Vec<(String, String)> = v["details"]["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(c["reason"], "FieldManagerConflict");
            (
                c["message"].as_str().unwrap().to_string(),
                c["field"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        causes,
        vec![
            ("conflict with \"helm\"".into(), ".spec.addresses".into()),
            (
                "conflict with \"kubectl-edit\" using metallb.io/v1beta1".into(),
                ".spec.autoAssign".into()
            ),
            (
                "conflict with \"kubectl-edit\" using metallb.io/v1beta1".into(),
                ".spec.avoidBuggyIPs".into()
            ),
        ]
    );
}

#[tokio::test]
async fn validation_webhook_and_auth() {
    let sim = KubernetesSim::start().unwrap();
    // Schema: a wrong type is 422 Invalid naming the field.
    let (code, v) = apply(
        &sim,
        "p",
        "tf",
        false,
        json!({"addresses": ["10.0.0.0/28"], "autoAssign": "yes"}),
    )
    .await;
    assert_eq!(code, 422, "{v}");
    assert_eq!(v["details"]["causes"][0]["field"], "spec.autoAssign");
    assert_eq!(sim.invalid_writes().len(), 1);
    // Webhook: bad range, overlap across pools, wrong namespace.
    let (code, v) = apply(
        &sim,
        "p",
        "tf",
        false,
        json!({"addresses": ["10.0.0.9-10.0.0.1"]}),
    )
    .await;
    assert_eq!(code, 403);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("is after the end IP"),
        "{v}"
    );
    assert_eq!(
        apply(
            &sim,
            "a",
            "tf",
            false,
            json!({"addresses": ["10.0.0.0/28"]})
        )
        .await
        .0,
        201
    );
    let (code, v) = apply(
        &sim,
        "b",
        "tf",
        false,
        json!({"addresses": ["10.0.0.8-10.0.0.9"]}),
    )
    .await;
    assert_eq!(code, 403);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("overlaps with already defined CIDR \"10.0.0.0/28\""),
        "{v}"
    );
    let (code, v) = call(&sim, ADMIN_TOKEN, Method::PATCH,
        "/apis/metallb.io/v1beta1/namespaces/default/ipaddresspools/x?fieldManager=tf",
        Some("application/apply-patch+yaml"),
        Some(json!({"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool", "metadata": {"name": "x"}, "spec": {"addresses": ["10.9.0.0/28"]}}))).await;
    assert_eq!(code, 403);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("resource must be created in metallb-system namespace"),
        "{v}"
    );
    // Webhook unreachable: 500 InternalError "failed calling webhook".
    sim.webhook_unreachable_for(1);
    let (code, v) = apply(
        &sim,
        "c",
        "tf",
        false,
        json!({"addresses": ["10.0.5.0/28"]}),
    )
    .await;
    assert_eq!(code, 500);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("failed calling webhook \"ipaddresspoolvalidationwebhook.metallb.io\""),
        "{v}"
    );
    assert_eq!(
        apply(
            &sim,
            "c",
            "tf",
            false,
            json!({"addresses": ["10.0.5.0/28"]})
        )
        .await
        .0,
        201
    );
    // Apply needs a fieldManager; strategic merge is not for CRs.
    let (code, _) = call(
        &sim,
        ADMIN_TOKEN,
        Method::PATCH,
        &format!("{POOLS}/c"),
        Some("application/apply-patch+yaml"),
        Some(pool("c", json!({"addresses": ["10.0.5.0/28"]}))),
    )
    .await;
    assert_eq!(code, 422);
    let (code, _) = call(
        &sim,
        ADMIN_TOKEN,
        Method::PATCH,
        &format!("{POOLS}/c"),
        Some("application/strategic-merge-patch+json"),
        Some(json!({})),
    )
    .await;
    assert_eq!(code, 415);
    // Tokens: reader may get, not patch; nobody may not get; a bad token is 401.
    assert_eq!(
        call(
            &sim,
            READONLY_TOKEN,
            Method::GET,
            &format!("{POOLS}/c"),
            None,
            None
        )
        .await
        .0,
        200
    );
    let (code, v) = call(
        &sim,
        READONLY_TOKEN,
        Method::PATCH,
        &format!("{POOLS}/c?fieldManager=tf"),
        Some("application/apply-patch+yaml"),
        Some(pool("c", json!({"addresses": ["10.0.5.0/28"]}))),
    )
    .await;
    assert_eq!(code, 403);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("cannot patch resource \"ipaddresspools\" in API group \"metallb.io\""),
        "{v}"
    );
    assert_eq!(
        call(
            &sim,
            NOACCESS_TOKEN,
            Method::GET,
            &format!("{POOLS}/c"),
            None,
            None
        )
        .await
        .0,
        403
    );
    assert_eq!(
        call(
            &sim,
            "wrong",
            Method::GET,
            &format!("{POOLS}/c"),
            None,
            None
        )
        .await
        .0,
        401
    );
    // Discovery lists the kinds while the CRDs are installed.
    let (code, v) = call(
        &sim,
        ADMIN_TOKEN,
        Method::GET,
        "/apis/metallb.io/v1beta1",
        None,
        None,
    )
    .await;
    assert_eq!(code, 200);
    assert!(
        v["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "l2advertisements")
    );
    sim.set_crds_installed(false);
    assert_eq!(
        call(
            &sim,
            ADMIN_TOKEN,
            Method::GET,
            "/apis/metallb.io/v1beta1",
            None,
            None
        )
        .await
        .0,
        404
    );
}

#[tokio::test]
async fn https_port_takes_client_certificates_and_tokens() {
    use labforge_simulators::kubernetes::{CERT_ADMIN_USER, CERT_READONLY_USER};
    let sim = KubernetesSim::start().unwrap();
    let ca = reqwest::Certificate::from_pem(sim.ca_pem().as_bytes()).unwrap();
    let client = |user: Option<&str>| {
        let mut b = reqwest::Client::builder().add_root_certificate(ca.clone());
        if let Some(u) = user {
            let (c, k) = sim.client_cert(u).unwrap();
            b = b.identity(reqwest::Identity::from_pem(format!("{c}{k}").as_bytes()).unwrap());
        }
        b.build().unwrap()
    };
    let url = format!("{}{POOLS}/p?fieldManager=tf", sim.https_url());
    let body = pool("p", json!({"addresses": ["10.0.0.0/28"]})).to_string();
    let send = |c: reqwest::Client, token: Option<&str>| {
        let mut r = c
            .patch(&url)
            .header("Content-Type", "application/apply-patch+yaml")
            .body(body.clone());
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        async move {
            let r = r.send().await.unwrap();
            let code = r.status().as_u16();
            (code, r.json::<Value>().await.unwrap())
        }
    };
    let (code, v) = send(client(Some(CERT_READONLY_USER)), None).await;
    assert_eq!(code, 403, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("User \"metallb-viewer\" cannot patch"),
        "{v}"
    );
    assert_eq!(send(client(None), None).await.0, 401);
    assert_eq!(send(client(Some(CERT_ADMIN_USER)), None).await.0, 201);
    assert_eq!(send(client(None), Some(ADMIN_TOKEN)).await.0, 200);

    // Faults and counters cover the HTTPS port too.
    sim.counters().reset();
    sim.faults()
        .fail_next("PATCH", "/apis/metallb.io/v1beta1/**", 503);
    let (code, v) = send(client(Some(CERT_ADMIN_USER)), None).await;
    assert_eq!(code, 503, "{v}");
    assert_eq!(v["kind"], "Status", "{v}");
    assert_eq!(v["reason"], "ServiceUnavailable", "{v}");
    assert_eq!(sim.faults().pending(), 0);
    assert_eq!(send(client(Some(CERT_ADMIN_USER)), None).await.0, 200);
    assert_eq!(sim.counters().total(), 2, "{:?}", sim.counters().snapshot());
}

#[tokio::test]
async fn a_merge_patch_null_removes_the_field_and_its_ownership() {
    let sim = KubernetesSim::start().unwrap();
    let (code, v) = apply(
        &sim,
        "p",
        "tf",
        false,
        json!({"addresses": ["10.0.0.0/28"], "serviceAllocation": {"priority": 5}}),
    )
    .await;
    assert_eq!(code, 201, "{v}");
    // kubectl edit deleting the block: RFC 7386, `null` removes the member.
    let (code, v) = call(
        &sim,
        ADMIN_TOKEN,
        Method::PATCH,
        &format!("{POOLS}/p?fieldManager=kubectl-edit"),
        Some("application/merge-patch+json"),
        Some(json!({"spec": {"serviceAllocation": null}})),
    )
    .await;
    assert_eq!(code, 200, "{v}");
    assert!(v["spec"].get("serviceAllocation").is_none(), "{v}");
    assert_eq!(v["spec"]["addresses"], json!(["10.0.0.0/28"]));
    let stored = sim
        .object("ipaddresspools", METALLB_NAMESPACE, "p")
        .unwrap();
    assert!(
        stored["spec"].get("serviceAllocation").is_none(),
        "{stored}"
    );
    let tf = stored["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["manager"] == "tf")
        .unwrap()
        .clone();
    assert!(
        tf["fieldsV1"]["f:spec"]
            .get("f:serviceAllocation")
            .is_none(),
        "{tf}"
    );
    // Nobody owns it any more: the applier puts it back without a conflict.
    let (code, v) = apply(
        &sim,
        "p",
        "tf",
        false,
        json!({"addresses": ["10.0.0.0/28"], "serviceAllocation": {"priority": 5}}),
    )
    .await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["spec"]["serviceAllocation"]["priority"], 5);
}
