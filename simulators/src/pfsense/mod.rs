//! pfSense simulator: pfSense-pkg-RESTAPI v2.10 (`/api/v2/...`).
//!
//! Start one with [`PfsenseSim::start`]; it serves plain HTTP at
//! [`PfsenseSim::url`] (pfSense's web configurator can run on HTTP too).
//!
//! Seeded: user [`ADMIN_USER`] (`page-all`) with key [`ADMIN_KEY`], user
//! [`READER_USER`] (the GET privileges of the firewall endpoints and of
//! `/api/v2/interfaces`, not of the REST API settings) with key
//! [`READER_KEY`]; interfaces `wan`/`vtnet0`/`WAN`, `lan`/`vtnet1`/`LAN`,
//! `opt1`/`vtnet2`/`DMZ`; gateway `WAN_DHCP`; the two default LAN allow
//! rules of a fresh install. NAT port forwards (with the filter rules
//! pfSense makes for them) and traffic shaper limiters are served too
//! (`nat.rs`); the reader may GET them. Only BasicAuth is enabled, as after
//! installation: keys are refused until [`PfsenseSim::enable_key_auth`].
//!
//! The stored configuration and the running filter are kept apart: writes
//! change the configuration; [`PfsenseSim::live_rules`] shows what the last
//! good filter reload loaded (an apply, or `apply: true` on a write).
//!
//! Out-of-band hooks ([`PfsenseSim::add_rule`], [`PfsenseSim::edit_rule`],
//! [`PfsenseSim::move_rule`], [`PfsenseSim::delete_rule`], the alias ones)
//! run the package's model semantics without being counted or faulted:
//! drift behind a provider's back, as made in the GUI.
//! [`PfsenseSim::record`] keeps a copy of one interface's rules after every
//! change.

mod api;
mod nat;
mod state;

use serde_json::{Map, Value};

use crate::common::{Counters, Faults, SimParts, SimServer, lock, start_sim};
use api::Shared;
pub use state::Mode;
use state::{History, Pf, User};

/// Seeded administrator (`page-all`).
pub const ADMIN_USER: &str = "admin";
/// Its password.
pub const ADMIN_PASSWORD: &str = "pfsense";
/// Its API key (refused until KeyAuth is enabled).
pub const ADMIN_KEY: &str = "b3f1c0ffee5ca1ab1e0ddba11adm1n";
/// Seeded read-only user: GET privileges only.
pub const READER_USER: &str = "auditor";
/// Its password.
pub const READER_PASSWORD: &str = "pfsense-auditor";
/// Its API key: a read-only key.
pub const READER_KEY: &str = "7ead0n1yc0ffee5ca1ab1e0ddba11";

/// The privileges of the read-only user.
const READER_PRIVILEGES: &[&str] = &[
    "api-v2-firewall-rule-get",
    "api-v2-firewall-rules-get",
    "api-v2-firewall-alias-get",
    "api-v2-firewall-aliases-get",
    "api-v2-firewall-apply-get",
    "api-v2-firewall-nat-port-forward-get",
    "api-v2-firewall-nat-port-forwards-get",
    "api-v2-firewall-traffic-shaper-limiter-get",
    "api-v2-firewall-traffic-shaper-limiters-get",
    "api-v2-interfaces-get",
];

/// A running pfSense simulator. Stops when dropped.
pub struct PfsenseSim {
    server: SimServer,
    state: Shared,
    faults: Faults,
    counters: Counters,
}

impl std::fmt::Debug for PfsenseSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PfsenseSim")
            .field("url", &self.url())
            .finish()
    }
}

fn obj(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), v.clone()))
        .collect()
}

impl PfsenseSim {
    /// Starts on an ephemeral port of 127.0.0.1.
    pub fn start() -> std::io::Result<Self> {
        Self::start_on_port(0)
    }

    /// Starts on `port` (`0`: ephemeral).
    pub fn start_on_port(port: u16) -> std::io::Result<Self> {
        let SimParts {
            state,
            faults,
            counters,
            server,
        } = start_sim("pfsense", port, seeded(), api::router, api::fault_response)?;
        Ok(Self {
            server,
            state,
            faults,
            counters,
        })
    }

    /// `http://127.0.0.1:PORT` (the API is under `/api/v2`).
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Fault injection rules (routes such as `/api/v2/firewall/rule`).
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Request counters by method and route.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Every rule, as `GET /api/v2/firewall/rules` shows it.
    pub fn rules(&self) -> Vec<Value> {
        match lock(&self.state).rules_repr() {
            Value::Array(a) => a,
            _ => Vec::new(),
        }
    }

    /// The stored rules of one interface (by its current name), in order.
    pub fn interface_rules(&self, name: &str) -> Vec<Value> {
        let pf = lock(&self.state);
        pf.interface_rules(&pf.rules, name)
    }

    /// The rules of one interface in the running filter (last good reload).
    pub fn live_rules(&self, name: &str) -> Vec<Value> {
        let pf = lock(&self.state);
        pf.interface_rules(&pf.live_rules, name)
    }

    /// Every port forward, as `GET /api/v2/firewall/nat/port_forwards`
    /// shows them.
    pub fn port_forwards(&self) -> Vec<Value> {
        match lock(&self.state).port_forwards_repr() {
            Value::Array(a) => a,
            _ => Vec::new(),
        }
    }

    /// Every traffic shaper limiter, as
    /// `GET /api/v2/firewall/traffic_shaper/limiters` shows them.
    pub fn limiters(&self) -> Vec<Value> {
        match lock(&self.state).limiters_repr() {
            Value::Array(a) => a,
            _ => Vec::new(),
        }
    }

    /// Every alias, as the API shows them.
    pub fn aliases(&self) -> Vec<Value> {
        match lock(&self.state).aliases_repr() {
            Value::Array(a) => a,
            _ => Vec::new(),
        }
    }

    /// The aliases of the running filter.
    pub fn live_aliases(&self) -> Vec<Value> {
        lock(&self.state)
            .live_aliases
            .iter()
            .enumerate()
            .map(|(i, a)| Pf::alias_repr(i, a))
            .collect()
    }

    /// Filter reloads that failed (pfSense's notices), oldest first.
    pub fn filter_errors(&self) -> Vec<String> {
        lock(&self.state).filter_errors.clone()
    }

    /// Successful `POST /api/v2/firewall/apply` calls so far.
    pub fn applies(&self) -> u64 {
        lock(&self.state).applies
    }

    /// The pending subsystems (`GET /api/v2/firewall/apply`).
    pub fn pending(&self) -> Vec<String> {
        lock(&self.state).dirty.iter().cloned().collect()
    }

    /// Enable KeyAuth next to BasicAuth (System > REST API > Settings).
    pub fn enable_key_auth(&self) {
        let mut pf = lock(&self.state);
        if !pf.auth_methods.iter().any(|m| m == "KeyAuth") {
            pf.auth_methods.push("KeyAuth".into());
        }
    }

    /// How the API names interfaces (`represent_interfaces_as`).
    pub fn set_interface_mode(&self, mode: Mode) {
        lock(&self.state).mode = mode;
    }

    /// The next `n` applies answer 503 `DISPATCHER_TOO_MANY_QUEUED_PROCESSES`.
    pub fn fail_applies(&self, n: usize) {
        lock(&self.state).queue_full = n;
    }

    /// Fix `time()` (trackers, timestamps) at `secs`; `None`: the wall clock.
    pub fn set_clock(&self, secs: Option<i64>) {
        lock(&self.state).clock = secs;
    }

    /// Add a rule out of band (as `admin`, fields as the API takes them);
    /// `placement` positions it. The rule as shown.
    pub fn add_rule(
        &self,
        fields: &[(&str, Value)],
        placement: Option<i64>,
    ) -> Result<Value, String> {
        lock(&self.state)
            .create_rule(ADMIN_USER, &obj(fields), placement)
            .map_err(|e| format!("{} {}", e.id, e.message))
    }

    /// Edit the rule at position `id` out of band.
    pub fn edit_rule(&self, id: usize, fields: &[(&str, Value)]) -> Result<Value, String> {
        let mut m = obj(fields);
        m.insert("id".into(), Value::from(id));
        lock(&self.state)
            .update_rule(ADMIN_USER, &m, None)
            .map_err(|e| format!("{} {}", e.id, e.message))
    }

    /// Move the rule at position `id` to position `to` out of band.
    pub fn move_rule(&self, id: usize, to: usize) -> Result<Value, String> {
        let mut m = Map::new();
        m.insert("id".into(), Value::from(id));
        lock(&self.state)
            .update_rule(ADMIN_USER, &m, i64::try_from(to).ok())
            .map_err(|e| format!("{} {}", e.id, e.message))
    }

    /// Delete the rule at position `id` out of band.
    pub fn delete_rule(&self, id: usize) -> Result<Value, String> {
        lock(&self.state)
            .delete_rule(Some(&Value::from(id)))
            .map_err(|e| format!("{} {}", e.id, e.message))
    }

    /// Add an alias out of band.
    pub fn add_alias(&self, fields: &[(&str, Value)]) -> Result<Value, String> {
        lock(&self.state)
            .create_alias(&obj(fields), false)
            .map_err(|e| format!("{} {}", e.id, e.message))
    }

    /// Edit the alias at position `id` out of band.
    pub fn edit_alias(&self, id: usize, fields: &[(&str, Value)]) -> Result<Value, String> {
        let mut m = obj(fields);
        m.insert("id".into(), Value::from(id));
        lock(&self.state)
            .update_alias(&m, false)
            .map_err(|e| format!("{} {}", e.id, e.message))
    }

    /// Delete the alias at position `id` out of band (never refused).
    pub fn delete_alias(&self, id: usize) -> Result<Value, String> {
        lock(&self.state)
            .delete_alias(Some(&Value::from(id)), false)
            .map_err(|e| format!("{} {}", e.id, e.message))
    }

    /// Apply out of band (the GUI's Apply Changes): reload the filter.
    pub fn apply_now(&self) {
        lock(&self.state).reload_filter();
    }

    /// From now on, keep a copy of interface `name`'s stored rules after
    /// every change. The first copy is the rules now.
    pub fn record(&self, name: &str) {
        let mut pf = lock(&self.state);
        pf.history = Some(History {
            interface: name.into(),
            snapshots: Vec::new(),
        });
        pf.after_change();
    }

    /// The copies [`PfsenseSim::record`] kept, oldest first.
    pub fn history(&self) -> Vec<Vec<Value>> {
        lock(&self.state)
            .history
            .as_ref()
            .map(|h| h.snapshots.clone())
            .unwrap_or_default()
    }
}

fn seeded() -> Pf {
    let mut pf = Pf::new();
    pf.users.push(User {
        name: ADMIN_USER.into(),
        password: ADMIN_PASSWORD.into(),
        privileges: vec!["page-all".into()],
    });
    pf.users.push(User {
        name: READER_USER.into(),
        password: READER_PASSWORD.into(),
        privileges: READER_PRIVILEGES.iter().map(|p| (*p).to_string()).collect(),
    });
    pf.keys.push((ADMIN_KEY.into(), ADMIN_USER.into()));
    pf.keys.push((READER_KEY.into(), READER_USER.into()));
    pf
}
