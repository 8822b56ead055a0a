//! Kubernetes API simulator for MetalLB's custom resources.
//!
//! Start one with [`KubernetesSim::start`]; it serves plain HTTP at
//! [`KubernetesSim::url`]. It is an apiserver for the five MetalLB kinds
//! (`ipaddresspools`, `l2advertisements`, `bgpadvertisements`,
//! `communities` in `metallb.io/v1beta1`, `bgppeers` in `v1beta1` and
//! `v1beta2`), their CRDs embedded from metallb's `config/crd/bases`
//! (`crds.json`, see [`schema`]'s notes): discovery, namespaced
//! CRUD, server-side apply with `managedFields` and conflicts,
//! `resourceVersion` and 409s, structural defaulting, pruning and
//! validation, `Status` errors, and MetalLB's validating webhook rules for
//! pools (namespace, address syntax, overlaps across pools).
//!
//! Tokens: [`ADMIN_TOKEN`] (everything), [`READONLY_TOKEN`] (get, list),
//! [`NOACCESS_TOKEN`] (authenticated, no RBAC rights). The HTTPS port
//! ([`KubernetesSim::https_url`], CA [`KubernetesSim::ca_pem`]) also takes
//! client certificates ([`KubernetesSim::client_cert`]) of
//! [`CERT_ADMIN_USER`] and [`CERT_READONLY_USER`]. Namespaces:
//! `default`, `kube-system`, `metallb-system`.
//!
//! Switches: [`KubernetesSim::set_crds_installed`] (MetalLB not installed:
//! its resources are not served) and
//! [`KubernetesSim::webhook_unreachable_for`] (the next admission calls
//! fail with the 500 `failed calling webhook` of a webhook not yet up),
//! [`KubernetesSim::drop_crd_field`] (an older MetalLB's CRD without a
//! field: applying it is the apiserver's 500 `field not declared in
//! schema`).
//! Drift hooks, neither counted nor faulted: [`KubernetesSim::apply_as`]
//! (another field manager's server-side apply), [`KubernetesSim::edit_as`]
//! (a merge-patch update, as `kubectl edit`), [`KubernetesSim::delete`].
//! Audits: [`KubernetesSim::pruned_fields`] and
//! [`KubernetesSim::invalid_writes`] list every write that carried a field
//! the CRD does not know (pruned from a merge patch, or refusing a
//! server-side apply) or that the schema refused.

mod api;
mod cidr;
pub(crate) mod schema;
mod state;
mod tls;

use serde_json::{Value, json};

use crate::common::{Counters, Faults, SimParts, SimServer, lock, start_sim};
use api::Shared;
use state::{Access, K8s};

/// A token of `system:admin`-like rights.
pub const ADMIN_TOKEN: &str = "k8s-admin-7c0ffee5ca1ab1e";
/// A token allowed `get` and `list` only.
pub const READONLY_TOKEN: &str = "k8s-reader-0ddba11c0ffee";
/// An authenticated token without any RBAC rights.
pub const NOACCESS_TOKEN: &str = "k8s-nobody-5ca1ab1e0ddba11";
/// The client certificate user with every right (CN, as kubeadm's `kubernetes-admin`).
pub const CERT_ADMIN_USER: &str = "kubernetes-admin";
/// The client certificate user allowed `get` and `list` only.
pub const CERT_READONLY_USER: &str = "metallb-viewer";
/// MetalLB's namespace.
pub const METALLB_NAMESPACE: &str = "metallb-system";

/// A running Kubernetes simulator. Stops when dropped.
pub struct KubernetesSim {
    front: tls::Front,
    ca_pem: String,
    clients: Vec<tls::Issued>,
    server: SimServer,
    state: Shared,
    faults: Faults,
    counters: Counters,
}

impl std::fmt::Debug for KubernetesSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubernetesSim")
            .field("url", &self.url())
            .finish()
    }
}

fn seeded() -> K8s {
    let mut k = K8s::new();
    for (t, a, u) in [
        (
            ADMIN_TOKEN,
            Access::Admin,
            "system:serviceaccount:kube-system:labforge-admin",
        ),
        (
            READONLY_TOKEN,
            Access::ReadOnly,
            "system:serviceaccount:default:reader",
        ),
        (
            NOACCESS_TOKEN,
            Access::None,
            "system:serviceaccount:default:nobody",
        ),
    ] {
        k.tokens.insert(t.to_string(), (a, u.to_string()));
    }
    k
}

impl KubernetesSim {
    /// Starts on an ephemeral port of 127.0.0.1.
    pub fn start() -> std::io::Result<Self> {
        Self::start_on_port(0)
    }

    /// Starts on `port` (`0`: ephemeral), plain HTTP; HTTPS on an ephemeral port.
    pub fn start_on_port(port: u16) -> std::io::Result<Self> {
        Self::start_on_ports(port, 0)
    }

    /// Starts plain HTTP on `port` and HTTPS on `https_port` (`0`: ephemeral).
    pub fn start_on_ports(port: u16, https_port: u16) -> std::io::Result<Self> {
        let SimParts {
            state,
            faults,
            counters,
            server,
        } = start_sim(
            "kubernetes",
            port,
            seeded(),
            api::router,
            api::fault_response,
        )?;
        let m = tls::material(&[
            (CERT_ADMIN_USER, Access::Admin),
            (CERT_READONLY_USER, Access::ReadOnly),
        ])
        .map_err(std::io::Error::other)?;
        let front = tls::start(
            https_port,
            state.clone(),
            m.config,
            m.clients.clone(),
            faults.clone(),
            counters.clone(),
        )?;
        Ok(Self {
            front,
            ca_pem: m.ca_pem,
            clients: m.clients,
            server,
            state,
            faults,
            counters,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// `https://127.0.0.1:PORT`: the HTTPS port (client certificates or tokens).
    pub fn https_url(&self) -> String {
        format!("https://{}", self.front.addr)
    }

    /// The cluster CA (PEM) that signed the HTTPS port's and the users' certificates.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The PEM certificate and key of a client-certificate user
    /// ([`CERT_ADMIN_USER`] or [`CERT_READONLY_USER`]).
    pub fn client_cert(&self, user: &str) -> Option<(String, String)> {
        self.clients
            .iter()
            .find(|c| c.user == user)
            .map(|c| (c.cert_pem.clone(), c.key_pem.clone()))
    }

    /// Fault injection rules (glob paths such as `/apis/metallb.io/v1beta1/**`).
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Request counters by method and path.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Serve MetalLB's kinds or not (CRDs installed or not).
    pub fn set_crds_installed(&self, yes: bool) {
        lock(&self.state).crds_installed = yes;
    }

    /// Serve `plural`'s CRD without the field at `path` (dotted, e.g.
    /// `spec.serviceAllocation`) in every version, as the CRD of an older
    /// MetalLB release that lacks it: server-side apply of an object
    /// setting it then fails with the apiserver's 500 `failed to create
    /// typed patch object (…): .spec.serviceAllocation: field not declared
    /// in schema`. Whether the field was there.
    pub fn drop_crd_field(&self, plural: &str, path: &str) -> bool {
        let mut s = lock(&self.state);
        let Some(crd) = s.crds.iter_mut().find(|c| c.plural == plural) else {
            return false;
        };
        let mut found = false;
        let keys: Vec<&str> = path.split('.').collect();
        let Some((last, parents)) = keys.split_last() else {
            return false;
        };
        let at: String = parents
            .iter()
            .map(|k| format!("/properties/{k}"))
            .chain(std::iter::once("/properties".to_string()))
            .collect();
        for (_, schema) in &mut crd.versions {
            if let Some(props) = schema.pointer_mut(&at).and_then(Value::as_object_mut) {
                found |= props.remove(*last).is_some();
            }
        }
        found
    }

    /// The next `n` admission webhook calls fail (HTTP 500 `failed calling webhook`).
    pub fn webhook_unreachable_for(&self, n: usize) {
        lock(&self.state).webhook_down = n;
    }

    /// Admission calls still to fail.
    pub fn webhook_failures_pending(&self) -> usize {
        lock(&self.state).webhook_down
    }

    fn schema_of(s: &K8s, plural: &str) -> Option<(schema::Crd, Value)> {
        let c = s.crds.iter().find(|c| c.plural == plural)?.clone();
        let (_, sc) = c.versions.iter().find(|_| true)?.clone();
        let storage = c.versions.last().map(|v| v.1.clone()).unwrap_or(sc);
        Some((c, storage))
    }

    /// The object as a `GET` shows it, if it exists.
    pub fn object(&self, plural: &str, namespace: &str, name: &str) -> Option<Value> {
        let s = lock(&self.state);
        let (_, schema) = Self::schema_of(&s, plural)?;
        s.render(&(plural.into(), namespace.into(), name.into()), &schema)
    }

    /// Every object of a kind, in every namespace.
    pub fn objects(&self, plural: &str) -> Vec<Value> {
        let s = lock(&self.state);
        let Some((_, schema)) = Self::schema_of(&s, plural) else {
            return Vec::new();
        };
        s.objects
            .keys()
            .filter(|k| k.0 == plural)
            .filter_map(|k| s.render(k, &schema))
            .collect()
    }

    #[allow(clippy::too_many_arguments)]
    fn write(
        &self,
        plural: &str,
        namespace: &str,
        name: &str,
        spec: Value,
        manager: &str,
        force: bool,
        update: bool,
    ) -> Result<Value, String> {
        let mut s = lock(&self.state);
        let (crd, schema) = Self::schema_of(&s, plural).ok_or("no such kind")?;
        let version = crd.versions.last().map(|v| v.0.clone()).unwrap_or_default();
        let body = if update {
            let cur = s
                .objects
                .get(&(plural.into(), namespace.into(), name.into()))
                .map(|o| o.spec.clone())
                .ok_or("no such object")?;
            let mut merged = cur;
            if let (Value::Object(m), Value::Object(p)) = (&mut merged, spec) {
                for (k, v) in p {
                    if v.is_null() {
                        m.remove(&k);
                    } else {
                        m.insert(k, v);
                    }
                }
            }
            json!({"spec": merged})
        } else {
            json!({"apiVersion": format!("{}/{version}", crd.group), "kind": crd.kind,
                "metadata": {"name": name, "namespace": namespace}, "spec": spec})
        };
        s.write(
            &crd, &version, &schema, namespace, name, body, manager, force, update,
        )
        .map(|(v, _)| v)
        .map_err(|e| format!("{} {}", e.code, e.message))
    }

    /// Another field manager's server-side apply of `spec` (drift, or a
    /// co-manager such as Helm). Errors are `"<code> <message>"`.
    pub fn apply_as(
        &self,
        manager: &str,
        plural: &str,
        namespace: &str,
        name: &str,
        spec: Value,
        force: bool,
    ) -> Result<Value, String> {
        self.write(plural, namespace, name, spec, manager, force, false)
    }

    /// A merge-patch update of top-level spec fields by `manager` (as
    /// `kubectl edit`): takes the fields it changes, never conflicts.
    pub fn edit_as(
        &self,
        manager: &str,
        plural: &str,
        namespace: &str,
        name: &str,
        spec: Value,
    ) -> Result<Value, String> {
        self.write(plural, namespace, name, spec, manager, false, true)
    }

    /// Deletes an object behind the provider's back; whether it existed.
    pub fn delete(&self, plural: &str, namespace: &str, name: &str) -> bool {
        let mut s = lock(&self.state);
        s.objects
            .remove(&(plural.into(), namespace.into(), name.into()))
            .is_some()
    }

    /// Fields pruned from writes as unknown to the CRD (`plural/name: path`).
    pub fn pruned_fields(&self) -> Vec<String> {
        lock(&self.state).pruned.clone()
    }

    /// Writes refused as invalid by the CRD schema (422).
    pub fn invalid_writes(&self) -> Vec<String> {
        lock(&self.state).invalid.clone()
    }
}
