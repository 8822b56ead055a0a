//! MikroTik RouterOS 7 simulator (REST API: `/rest/...`).
//!
//! Start one with [`RouterosSim::start`]. It serves the `www-ssl` service
//! at [`RouterosSim::https_url`] with its own CA ([`RouterosSim::ca_pem`]:
//! what a client trusts, as `ca_certificate`), and the plain `www` service
//! at [`RouterosSim::http_url`]; both share one router.
//!
//! Seeded: users [`ADMIN_USER`] (group `full`), [`WRITE_USER`] (`write`)
//! and [`READ_USER`] (`read`: writes answer HTTP 500 `not enough
//! permissions (9)`), interfaces `ether1`..`ether5`, `bridge`, `lo`,
//! interface lists `all`, `none`, `dynamic`, `static`, `LAN`, `WAN`, and
//! the dynamic fasttrack counter rule at the top of the filter table.
//!
//! Out-of-band hooks ([`RouterosSim::add`], [`RouterosSim::set`],
//! [`RouterosSim::remove`], [`RouterosSim::move_before`], ...) run the same
//! console semantics as the API, without being counted or faulted: drift
//! behind a provider's back. [`RouterosSim::record`] keeps a copy of one
//! chain after every request that changes its menu.

mod api;
mod state;
mod tls;

use std::collections::BTreeMap;

use serde_json::Value;

use crate::common::{Counters, Faults, SimParts, SimServer, lock, start_sim};
use api::Shared;
use state::{Group, History, Router, User};

/// The filter table (`/ip/firewall/filter`).
pub const FILTER: &str = "ip/firewall/filter";
/// The NAT table (`/ip/firewall/nat`).
pub const NAT: &str = "ip/firewall/nat";
/// Address lists (`/ip/firewall/address-list`).
pub const ADDRESS_LIST: &str = "ip/firewall/address-list";
/// Static DNS (`/ip/dns/static`).
pub const DNS_STATIC: &str = "ip/dns/static";

/// Seeded user of group `full`.
pub const ADMIN_USER: &str = "admin";
/// Its password.
pub const ADMIN_PASSWORD: &str = "labforge-admin";
/// Seeded user of group `write`.
pub const WRITE_USER: &str = "ops";
/// Its password.
pub const WRITE_PASSWORD: &str = "labforge-ops";
/// Seeded user of group `read`.
pub const READ_USER: &str = "auditor";
/// Its password.
pub const READ_PASSWORD: &str = "labforge-auditor";

/// The comment of the dynamic fasttrack counter rule.
pub const FASTTRACK_COMMENT: &str = "special dummy rule to show fasttrack counters";

/// A running RouterOS simulator. Stops when dropped.
pub struct RouterosSim {
    server: SimServer,
    front: tls::Front,
    ca_pem: String,
    state: Shared,
    faults: Faults,
    counters: Counters,
}

impl std::fmt::Debug for RouterosSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouterosSim")
            .field("https", &self.https_url())
            .field("http", &self.http_url())
            .finish()
    }
}

fn pairs(props: &[(&str, &str)]) -> Vec<(String, String)> {
    props
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

impl RouterosSim {
    /// Starts on ephemeral ports of 127.0.0.1.
    pub fn start() -> std::io::Result<Self> {
        Self::start_on_ports(0, 0)
    }

    /// Starts `www-ssl` on `https_port` and `www` on `http_port` (`0`:
    /// ephemeral).
    pub fn start_on_ports(https_port: u16, http_port: u16) -> std::io::Result<Self> {
        let SimParts {
            state,
            faults,
            counters,
            server,
        } = start_sim(
            "routeros",
            http_port,
            seeded(),
            api::router,
            api::fault_response,
        )?;
        let material = tls::material().map_err(std::io::Error::other)?;
        let front = tls::start(https_port, server.addr(), material.config)?;
        Ok(Self {
            server,
            front,
            ca_pem: material.ca_pem,
            state,
            faults,
            counters,
        })
    }

    /// `https://127.0.0.1:PORT` (the `www-ssl` service; the API is under `/rest`).
    pub fn https_url(&self) -> String {
        format!("https://{}", self.front.addr)
    }

    /// `http://127.0.0.1:PORT` (the `www` service).
    pub fn http_url(&self) -> String {
        self.server.url()
    }

    /// The PEM certificate of the CA that signed the HTTPS certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Fault injection rules. Patterns are the routes
    /// (`/rest/ip/firewall/filter`, `/rest/ip/firewall/filter/{id}`,
    /// `/rest/ip/firewall/filter/move`) or globs over paths.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Request counters by method and route.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Every item of `menu` (e.g. [`FILTER`]), as `GET` prints it, in order.
    pub fn items(&self, menu: &str) -> Vec<Value> {
        let mut r = lock(&self.state);
        r.expire();
        r.print(menu)
    }

    /// The items of one chain of `menu`, in order.
    pub fn chain(&self, menu: &str, chain: &str) -> Vec<Value> {
        self.items(menu)
            .into_iter()
            .filter(|v| v.get("chain").and_then(Value::as_str) == Some(chain))
            .collect()
    }

    /// `add` out of band (as `full`); `place-before` positions it.
    pub fn add(&self, menu: &str, props: &[(&str, &str)]) -> Result<Value, String> {
        let mut r = lock(&self.state);
        let out = r.add(menu, &pairs(props)).map_err(|e| e.detail);
        r.after_change(menu);
        out
    }

    /// `set` out of band; `!name` keys unset.
    pub fn set(&self, menu: &str, id: &str, props: &[(&str, &str)]) -> Result<Value, String> {
        let mut r = lock(&self.state);
        let out = r.set(menu, id, &pairs(props)).map_err(|e| e.detail);
        r.after_change(menu);
        out
    }

    /// `remove` out of band.
    pub fn remove(&self, menu: &str, id: &str) -> Result<(), String> {
        let mut r = lock(&self.state);
        let out = r
            .remove(menu, id)
            .map_err(|e| format!("{} {}", e.status, e.detail));
        r.after_change(menu);
        out
    }

    /// `move` out of band: `id` before `destination` (to the end if `None`).
    pub fn move_before(
        &self,
        menu: &str,
        id: &str,
        destination: Option<&str>,
    ) -> Result<(), String> {
        let mut r = lock(&self.state);
        let out = r
            .move_items(menu, &[id.to_string()], destination)
            .map_err(|e| e.detail);
        r.after_change(menu);
        out
    }

    /// A dynamic item RouterOS makes itself, at position `at`; `builtin`:
    /// it cannot be moved and nothing can be placed before it.
    pub fn add_dynamic(
        &self,
        menu: &str,
        props: &[(&str, &str)],
        builtin: bool,
        at: usize,
    ) -> Result<Value, String> {
        let props: BTreeMap<String, String> = pairs(props).into_iter().collect();
        lock(&self.state)
            .add_dynamic(menu, props, builtin, at)
            .map_err(|e| e.detail)
    }

    /// Lets `secs` seconds pass (address-list timeouts run down).
    pub fn advance_clock(&self, secs: u64) {
        lock(&self.state).clock_offset += secs;
    }

    /// From now on, keep a copy of `chain` of `menu` after every request (or
    /// hook) that changes `menu`. The first copy is the chain now.
    pub fn record(&self, menu: &str, chain: &str) {
        let mut r = lock(&self.state);
        r.history = Some(History {
            menu: menu.into(),
            chain: chain.into(),
            snapshots: Vec::new(),
        });
        r.after_change(menu);
    }

    /// The copies [`RouterosSim::record`] kept, oldest first.
    pub fn history(&self) -> Vec<Vec<Value>> {
        lock(&self.state)
            .history
            .as_ref()
            .map(|h| h.snapshots.clone())
            .unwrap_or_default()
    }
}

fn seeded() -> Router {
    let mut r = Router::new();
    for (name, password, group) in [
        (ADMIN_USER, ADMIN_PASSWORD, Group::Full),
        (WRITE_USER, WRITE_PASSWORD, Group::Write),
        (READ_USER, READ_PASSWORD, Group::Read),
    ] {
        r.users.push(User {
            name: name.into(),
            password: password.into(),
            group,
        });
    }
    let dummy: BTreeMap<String, String> = [
        ("chain", "forward"),
        ("action", "passthrough"),
        ("comment", FASTTRACK_COMMENT),
        ("disabled", "false"),
        ("log", "false"),
        ("log-prefix", ""),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
    .collect();
    if let Err(e) = r.add_dynamic(FILTER, dummy, true, 0) {
        tracing::error!(detail = e.detail, "seeding the fasttrack rule failed");
    }
    r
}
