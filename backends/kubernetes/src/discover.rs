//! Discovery: the MetalLB objects of a cluster, as import blocks.
//!
//! Every kind a `homelab_metallb_*` resource manages (`IPAddressPool`,
//! `L2Advertisement`, `BGPAdvertisement`, `BGPPeer`, `Community`) is
//! listed with `GET` only (read-only credentials suffice: RBAC `list`),
//! through the provider block's connection (a resource's own `kubernetes`
//! block is no part of an import). Without a `namespace` filter every
//! namespace is listed (one cluster-scope list per kind); a reader whose
//! role allows only MetalLB's namespace (403 at the cluster scope) gets
//! that namespace's objects. The import ID is `namespace/name`, as the
//! resources' import takes it; the resource name is the object's name
//! (`namespace_name` outside MetalLB's namespace).
//!
//! Left alone, each with its reason:
//! - objects with `metadata.ownerReferences`: their owner's controller
//!   makes them and the garbage collector deletes them with the owner;
//! - objects another tool manages: Helm (`app.kubernetes.io/managed-by:
//!   Helm`, Helm's own label on every object of a release; `helm upgrade`
//!   applies the chart again and would undo a change made here, and
//!   `helm uninstall` deletes what Terraform holds), Flux and Argo CD
//!   (their tracking labels and annotation), or any other
//!   `app.kubernetes.io/managed-by` (the recommended label naming "the tool
//!   being used to manage the operation of an application", Kubernetes
//!   "Recommended Labels"), except values that name no reconciler
//!   (`kubectl`, `terraform`, `labforge`);
//! - objects being deleted (`metadata.deletionTimestamp`);
//! - the Secret a `BGPPeer`'s `passwordSecret` names: a Secret, which no
//!   resource of this provider manages;
//! - a `BGPPeer`'s inline `password`: imported without it (sensitive; the
//!   cluster keeps it), and said so, with what to set to manage it.
//!
//! Labels, annotations and `managedFields` are no attributes of the
//! resources, so they never make a plan differ after an import.

use labforge_framework::discover::{Filter, Inventory};
use labforge_framework::{Error, Result};
use serde_json::Value as Json;

use crate::client::{ApiError, Client, Kind, Object, ObjectMeta};
use crate::connection::Connections;
use crate::resources::{DEFAULT_NAMESPACE, KINDS};

/// `app.kubernetes.io/managed-by` values that name no reconciler (a
/// person's tool, or this provider): such objects are imported.
const NOT_RECONCILERS: [&str; 5] = ["kubectl", "terraform", "labforge", "labforge-homelab", ""];

/// What exists: every MetalLB object `filter` allows (key `namespace`).
pub(crate) async fn discover(connections: &Connections, filter: &Filter) -> Result<Inventory> {
    let client = connections.resolve(None)?;
    let mut inv = Inventory::new();
    let namespaces = filter.values("namespace");
    for (rtype, kind) in KINDS {
        let objects = if namespaces.is_empty() {
            list_everywhere(&client, kind).await?
        } else {
            let mut all = Vec::new();
            for ns in namespaces {
                all.extend(list(&client, kind, Some(ns)).await?);
            }
            all
        };
        for o in objects {
            let ns = o.metadata.namespace.clone().unwrap_or_default();
            if !filter.allows("namespace", &ns) {
                continue;
            }
            add(&mut inv, rtype, kind, &ns, &o);
        }
    }
    Ok(inv)
}

/// Every namespace's objects of `kind`, or MetalLB's namespace's when the
/// credentials may not list at the cluster scope.
async fn list_everywhere(client: &Client, kind: Kind) -> Result<Vec<Object<Json>>> {
    match client.list::<Json>(kind, None).await {
        Err(e) if e.code() == Some(403) => {
            tracing::info!(
                kind = kind.kind,
                "not allowed to list at the cluster scope; listing {DEFAULT_NAMESPACE} only"
            );
            list(client, kind, Some(DEFAULT_NAMESPACE)).await
        }
        other => other.map_err(|e| list_error(kind, None, e)),
    }
}

async fn list(client: &Client, kind: Kind, ns: Option<&str>) -> Result<Vec<Object<Json>>> {
    client
        .list::<Json>(kind, ns)
        .await
        .map_err(|e| list_error(kind, ns, e))
}

fn list_error(kind: Kind, ns: Option<&str>, e: ApiError) -> Error {
    let where_ = ns.map_or("every namespace".to_string(), |n| format!("namespace {n}"));
    let hint = match e.code() {
        Some(404) => " Are MetalLB's CRDs installed (and the namespace there)?",
        Some(401) => " The credentials were refused: check KUBE_TOKEN or the kubeconfig.",
        Some(403) => {
            " The credentials may not list them: a read-only role needs `get` and `list` on metallb.io's kinds."
        }
        _ => "",
    };
    Error::new(
        format!("Unable to list {}s", kind.kind),
        format!("{} in {where_}: {e}.{hint}", kind.plural),
    )
}

/// Why an object is left alone, if it is (see the module's notes).
fn left_alone(m: &ObjectMeta) -> Option<String> {
    if m.deletion_timestamp.is_some() {
        return Some("being deleted (metadata.deletionTimestamp is set)".into());
    }
    if let Some(o) = m
        .owner_references
        .iter()
        .find(|o| o.controller == Some(true))
        .or(m.owner_references.first())
    {
        return Some(format!(
            "owned by {} {} (metadata.ownerReferences): its owner's controller makes it and the \
             garbage collector deletes it with its owner; manage the owner instead",
            o.kind, o.name
        ));
    }
    let label = |k: &str| m.labels.get(k).map(String::as_str);
    let managed_by = label("app.kubernetes.io/managed-by");
    if managed_by == Some("Helm") {
        let release = m
            .annotations
            .get("meta.helm.sh/release-name")
            .map(|r| {
                let ns = m
                    .annotations
                    .get("meta.helm.sh/release-namespace")
                    .map(|n| format!(" in namespace {n}"))
                    .unwrap_or_default();
                format!(" {r}{ns}")
            })
            .unwrap_or_default();
        return Some(format!(
            "part of the Helm release{release} (label app.kubernetes.io/managed-by=Helm): \
             helm upgrade would undo changes made here and helm uninstall would delete it; \
             change it in the chart's values, or take it out of the release first"
        ));
    }
    if let Some(f) =
        label("kustomize.toolkit.fluxcd.io/name").or(label("helm.toolkit.fluxcd.io/name"))
    {
        return Some(format!(
            "reconciled by Flux ({f}): Flux would undo changes made here; change it in its Git source"
        ));
    }
    if let Some(a) = label("argocd.argoproj.io/instance").or(m
        .annotations
        .get("argocd.argoproj.io/tracking-id")
        .map(String::as_str))
    {
        return Some(format!(
            "reconciled by Argo CD ({a}): Argo CD would undo changes made here; change it in its Git source"
        ));
    }
    match managed_by {
        Some(tool) if !NOT_RECONCILERS.contains(&tool.to_ascii_lowercase().as_str()) => {
            Some(format!(
                "managed by {tool} (label app.kubernetes.io/managed-by): it would undo changes made \
             here; manage it there, or remove the label to adopt it"
            ))
        }
        _ => None,
    }
}

fn add(inv: &mut Inventory, rtype: &str, kind: Kind, ns: &str, o: &Object<Json>) {
    let name = o.metadata.name.as_str();
    let what = format!("{} {ns}/{name}", kind.kind);
    if let Some(why) = left_alone(&o.metadata) {
        inv.skip(what, why);
        return;
    }
    let s = &o.spec;
    let mut summary = format!("{what}: {}", describe(kind, s));
    if kind.plural == "bgppeers" {
        if let Some(secret) = s.get("passwordSecret") {
            let sname = secret
                .get("name")
                .and_then(Json::as_str)
                .unwrap_or_default();
            let sns = secret.get("namespace").and_then(Json::as_str).unwrap_or(ns);
            inv.skip(
                format!("Secret {sns}/{sname} (password of {what})"),
                "a Secret, which no resource of this provider manages; the peer's \
                 password_secret refers to it",
            );
        }
        if s.get("password")
            .and_then(Json::as_str)
            .is_some_and(|p| !p.is_empty())
        {
            summary.push_str(
                "\nits TCP MD5 password stays on the cluster and out of the configuration; \
                 to manage it, set password_wo and password_wo_version",
            );
            inv.skip(
                format!("password of {what}"),
                "sensitive, never read back: the peer keeps it on the cluster; set password_wo \
                 (with password_wo_version) to manage it",
            );
        }
    }
    let parts: Vec<&str> = if ns == DEFAULT_NAMESPACE {
        vec![name]
    } else {
        vec![ns, name]
    };
    inv.found(rtype, &parts, format!("{ns}/{name}"), summary)
        .attr("namespace", ns)
        .attr("name", name)
        .attr("kind", kind.kind);
}

/// One line about the spec, for the import block's comment.
fn describe(kind: Kind, s: &Json) -> String {
    let strings = |k: &str| -> Vec<String> {
        s.get(k)
            .and_then(Json::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Json::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let pools = || {
        let p = strings("ipAddressPools");
        if p.is_empty() && s.get("ipAddressPoolSelectors").is_none() {
            "every pool".to_string()
        } else if p.is_empty() {
            "pools by selector".to_string()
        } else {
            format!("pools {}", p.join(", "))
        }
    };
    match kind.plural {
        "ipaddresspools" => strings("addresses").join(", "),
        "l2advertisements" => format!("announces {} over ARP/NDP", pools()),
        "bgpadvertisements" => format!("announces {} over BGP", pools()),
        "bgppeers" => {
            let asn = s
                .get("peerASN")
                .and_then(Json::as_i64)
                .map(|a| format!("AS {a}"))
                .or_else(|| {
                    s.get("dynamicASN")
                        .and_then(Json::as_str)
                        .map(|d| format!("{d} AS"))
                })
                .unwrap_or_default();
            let at = s
                .get("peerAddress")
                .or(s.get("interface"))
                .and_then(Json::as_str)
                .unwrap_or_default();
            let mine = s.get("myASN").and_then(Json::as_i64).unwrap_or_default();
            format!("{asn} at {at} (from AS {mine})")
        }
        _ => crate::resources::communities_of(s)
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::Kubernetes;
    use labforge_framework::{Backend as _, Env};
    use labforge_simulators::kubernetes::{
        ADMIN_TOKEN, KubernetesSim, NOACCESS_TOKEN, READONLY_TOKEN,
    };
    use serde_json::json;

    /// The kinds the tests make, as `(plural, kind, version)` (spelled out
    /// here, not taken from the client's `Kind`s the discovery uses).
    const POOL: (&str, &str, &str) = ("ipaddresspools", "IPAddressPool", "v1beta1");
    const L2: (&str, &str, &str) = ("l2advertisements", "L2Advertisement", "v1beta1");
    const BGP_ADV: (&str, &str, &str) = ("bgpadvertisements", "BGPAdvertisement", "v1beta1");
    const PEER: (&str, &str, &str) = ("bgppeers", "BGPPeer", "v1beta2");
    const COMMUNITY: (&str, &str, &str) = ("communities", "Community", "v1beta1");

    /// `kubectl create` of a `kind` object named `name` in `metallb-system`
    /// with `meta` besides its name, and `spec` (as a person's script would).
    async fn create(
        sim: &KubernetesSim,
        (plural, kind, version): (&str, &str, &str),
        name: &str,
        meta: Json,
        spec: Json,
    ) {
        let mut m = json!({"name": name});
        m.as_object_mut()
            .unwrap()
            .extend(meta.as_object().unwrap().clone());
        let body = json!({"apiVersion": format!("metallb.io/{version}"), "kind": kind, "metadata": m, "spec": spec});
        let url = format!(
            "{}/apis/metallb.io/{version}/namespaces/metallb-system/{plural}?fieldManager=kubectl-create",
            sim.url()
        );
        let r = reqwest::Client::new()
            .post(url)
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201, "{}", r.text().await.unwrap());
    }

    fn connections(sim: &KubernetesSim, token: &str) -> Connections {
        let env = Env::from_pairs([("KUBE_HOST", sim.url().as_str()), ("KUBE_TOKEN", token)]);
        Kubernetes.configure(None, &env).unwrap().unwrap()
    }

    #[tokio::test]
    async fn lists_every_kind_and_skips_what_others_manage() {
        let sim = KubernetesSim::start().unwrap();
        let none = json!({});
        create(
            &sim,
            POOL,
            "lab-pool",
            none.clone(),
            json!({"addresses": ["10.0.50.0/28"]}),
        )
        .await;
        let helm = json!({"labels": {"app.kubernetes.io/managed-by": "Helm"},
            "annotations": {"meta.helm.sh/release-name": "metallb-config", "meta.helm.sh/release-namespace": "metallb-system"}});
        create(
            &sim,
            POOL,
            "chart-pool",
            helm,
            json!({"addresses": ["10.0.60.0/28"]}),
        )
        .await;
        let owned = json!({"ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "operator", "uid": "u1", "controller": true}]});
        create(&sim, L2, "made", owned, json!({})).await;
        create(
            &sim,
            L2,
            "lan",
            none.clone(),
            json!({"ipAddressPools": ["lab-pool"]}),
        )
        .await;
        create(&sim, BGP_ADV, "upstream", none.clone(), json!({})).await;
        create(&sim, PEER, "router", none.clone(),
            json!({"myASN": 64512, "peerASN": 64513, "peerAddress": "10.0.0.1", "password": "s3cret"})).await;
        create(&sim, PEER, "edge", none.clone(),
            json!({"myASN": 64512, "peerASN": 64514, "peerAddress": "10.0.0.2", "passwordSecret": {"name": "edge-bgp"}})).await;
        create(
            &sim,
            COMMUNITY,
            "aliases",
            json!({"labels": {"app.kubernetes.io/managed-by": "kubectl"}}),
            json!({"communities": [{"name": "no-export", "value": "65535:65281"}]}),
        )
        .await;
        sim.counters().reset();

        let inv = discover(&connections(&sim, READONLY_TOKEN), &Filter::all())
            .await
            .unwrap();
        let found: Vec<(String, String, String)> = inv
            .found
            .iter()
            .map(|f| (f.resource_type.clone(), f.name.clone(), f.id.clone()))
            .collect();
        let f = |t: &str, n: &str, id: &str| (t.to_string(), n.to_string(), id.to_string());
        assert_eq!(
            found,
            vec![
                f(
                    "metallb_ip_address_pool",
                    "lab_pool",
                    "metallb-system/lab-pool"
                ),
                f("metallb_l2_advertisement", "lan", "metallb-system/lan"),
                f(
                    "metallb_bgp_advertisement",
                    "upstream",
                    "metallb-system/upstream"
                ),
                f("metallb_bgp_peer", "edge", "metallb-system/edge"),
                f("metallb_bgp_peer", "router", "metallb-system/router"),
                f("metallb_community", "aliases", "metallb-system/aliases"),
            ]
        );
        assert_eq!(
            inv.found[0].summary,
            "IPAddressPool metallb-system/lab-pool: 10.0.50.0/28"
        );
        assert_eq!(
            inv.found[1].summary,
            "L2Advertisement metallb-system/lan: announces pools lab-pool over ARP/NDP"
        );
        assert!(
            inv.found[4]
                .summary
                .contains("AS 64513 at 10.0.0.1 (from AS 64512)"),
            "{}",
            inv.found[4].summary
        );
        assert!(
            inv.found[4].summary.contains("set password_wo"),
            "{}",
            inv.found[4].summary
        );
        assert_eq!(inv.found[0].attributes["namespace"], "metallb-system");
        let skipped: Vec<String> = inv
            .skipped
            .iter()
            .map(|s| format!("{}: {}", s.what, s.why))
            .collect();
        let has = |needle: &str| skipped.iter().any(|s| s.contains(needle));
        assert!(
            has(
                "IPAddressPool metallb-system/chart-pool: part of the Helm release metallb-config in namespace metallb-system"
            ),
            "{skipped:?}"
        );
        assert!(
            has("L2Advertisement metallb-system/made: owned by ConfigMap operator"),
            "{skipped:?}"
        );
        assert!(
            has(
                "Secret metallb-system/edge-bgp (password of BGPPeer metallb-system/edge): a Secret"
            ),
            "{skipped:?}"
        );
        assert!(
            has("password of BGPPeer metallb-system/router: sensitive"),
            "{skipped:?}"
        );
        assert_eq!(skipped.len(), 4, "{skipped:?}");
        // Read only: no write reached the simulator.
        let counts = sim.counters().snapshot();
        assert!(!counts.is_empty());
        for ((method, route), _) in &counts {
            assert_eq!(method, "GET", "{route}");
        }

        // The namespace filter: another namespace holds nothing.
        let other = Filter::all().with("namespace", ["default"]);
        let inv = discover(&connections(&sim, READONLY_TOKEN), &other)
            .await
            .unwrap();
        assert!(inv.found.is_empty() && inv.skipped.is_empty());
        let mine = Filter::all().with("namespace", ["metallb-system"]);
        let inv = discover(&connections(&sim, READONLY_TOKEN), &mine)
            .await
            .unwrap();
        assert_eq!(inv.found.len(), 6);

        // No rights at all: the error says what is needed.
        let e = discover(&connections(&sim, NOACCESS_TOKEN), &mine)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("Unable to list IPAddressPools") && e.contains("`get` and `list`"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn long_lists_are_read_page_by_page() {
        let sim = KubernetesSim::start().unwrap();
        let n = crate::client::LIST_PAGE + 3;
        for i in 0..n {
            create(
                &sim,
                COMMUNITY,
                &format!("c{i:04}"),
                json!({}),
                json!({"communities": [{"name": "x", "value": "1:1"}]}),
            )
            .await;
        }
        let inv = discover(&connections(&sim, READONLY_TOKEN), &Filter::all())
            .await
            .unwrap();
        assert_eq!(inv.found.len(), n);
        assert_eq!(inv.found[n - 1].name, format!("c{:04}", n - 1));
    }
}
