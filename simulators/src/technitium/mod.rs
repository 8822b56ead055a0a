//! Technitium DNS Server simulator (HTTP API, `APIDOCS.md` v15.x).
//!
//! Start one with [`TechnitiumSim::start`]; point a client at
//! [`TechnitiumSim::base_url`] (the server root: the API lives under `/api/`).
//!
//! Seeded: users `admin`/`admin` (full) and `readonly`/`readonly` (view
//! only), the non-expiring API tokens [`ADMIN_TOKEN`], [`READONLY_TOKEN`] and
//! [`NO_DELETE_TOKEN`] (view + modify, no delete: the "Access was denied."
//! cleanup failure users hit), the built-in internal zones, and the Primary
//! zone [`SEED_ZONE`] with a couple of records.
//!
//! Out-of-band hooks ([`TechnitiumSim::add_record`],
//! [`TechnitiumSim::update_record`], [`TechnitiumSim::delete_record`], ...)
//! run the same operations as the API, as `admin`, without being counted or
//! faulted: use them to create drift behind a provider's back.

mod api;
mod ops;
mod request;
mod state;

use serde_json::Value;

use crate::common::{Counters, Faults, SimParts, SimServer, lock, start_sim};
use api::Shared;
use ops::Server;
use request::{Call, Params, Reply, Role};

/// Seeded non-expiring API token of user `admin` (all permissions).
pub const ADMIN_TOKEN: &str = "a1d0c6e83f027327d8461063f4ac58a6b7c7d1f5e6b4a3c2d1e0f9a8b7c6d5e4";
/// Seeded API token with View permission only: writes answer
/// `status: "error"`, `errorMessage: "Access was denied."`.
pub const READONLY_TOKEN: &str = "0e1d2c3b4a5968778695a4b3c2d1e0f0e1d2c3b4a5968778695a4b3c2d1e0f00";
/// Seeded API token with View + Modify but no Delete permission.
pub const NO_DELETE_TOKEN: &str =
    "5d5d5d5d4c4c4c4c3b3b3b3b2a2a2a2a19191919080808087f7f7f7f6e6e6e6e";
/// Seeded administrator user name.
pub const ADMIN_USER: &str = "admin";
/// Seeded administrator password.
pub const ADMIN_PASSWORD: &str = "admin";
/// Seeded read-only user name (password is the same string).
pub const READONLY_USER: &str = "readonly";
/// Seeded Primary zone.
pub const SEED_ZONE: &str = "home.arpa";

/// A running Technitium simulator. Stops when dropped.
pub struct TechnitiumSim {
    server: SimServer,
    state: Shared,
    faults: Faults,
    counters: Counters,
}

impl std::fmt::Debug for TechnitiumSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TechnitiumSim")
            .field("url", &self.server.url())
            .finish()
    }
}

impl TechnitiumSim {
    /// Starts on an ephemeral port of 127.0.0.1. Works from sync and async
    /// code (the server runs on its own thread and runtime).
    pub fn start() -> std::io::Result<Self> {
        Self::start_on_port(0)
    }

    /// Starts on `127.0.0.1:port` (`0` = ephemeral).
    pub fn start_on_port(port: u16) -> std::io::Result<Self> {
        let SimParts {
            state,
            faults,
            counters,
            server,
        } = start_sim(
            "technitium",
            port,
            seeded_server(),
            api::router,
            api::fault_response,
        )?;
        Ok(Self {
            server,
            state,
            faults,
            counters,
        })
    }

    /// `http://127.0.0.1:PORT`: the server root (API under `/api/...`).
    pub fn base_url(&self) -> String {
        self.server.url()
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.server.addr().port()
    }

    /// Fault injection rules for this server.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Request counters; patterns are the literal API paths
    /// (`/api/zones/records/get`).
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Requests that carried `token` in the URL query string (leaks into
    /// logs; a well-behaved client keeps this at zero).
    pub fn token_in_query_count(&self) -> u64 {
        lock(&self.state).token_in_query
    }

    /// Requests that carried `token` in a form body.
    pub fn token_in_form_count(&self) -> u64 {
        lock(&self.state).token_in_form
    }

    /// Requests authenticated with `Authorization: Bearer`.
    pub fn token_in_header_count(&self) -> u64 {
        lock(&self.state).token_in_header
    }

    /// Emulates servers before v13.6: adding an identical record answers
    /// `ok` (de-duplicated) and deleting a missing record answers `ok`.
    pub fn set_older_server(&self, older: bool) {
        lock(&self.state).older_server = older;
    }

    /// `false` emulates servers before 15.0, which ignore
    /// `Authorization: Bearer` (only the `token` parameter works).
    pub fn set_bearer_supported(&self, supported: bool) {
        lock(&self.state).bearer_supported = supported;
    }

    /// Names of all zones, including the built-in internal ones.
    pub fn zone_names(&self) -> Vec<String> {
        lock(&self.state)
            .zones
            .iter()
            .map(|z| z.name.clone())
            .collect()
    }

    /// All records of a zone as the API renders them (`records/get` with
    /// `listZone=true`), or `None` if there is no such zone.
    pub fn zone_records(&self, zone: &str) -> Option<Vec<Value>> {
        let name = state::normalize_name(zone);
        let s = lock(&self.state);
        let z = s.zones.iter().find(|z| z.name == name)?;
        Some(
            z.sorted_records()
                .into_iter()
                .map(|r| r.to_json())
                .collect(),
        )
    }

    /// Records at one name and type (type case-insensitive), as JSON.
    pub fn find_records(&self, domain: &str, rtype: &str) -> Vec<Value> {
        let name = state::normalize_name(domain);
        let s = lock(&self.state);
        s.zones
            .iter()
            .flat_map(|z| z.records.iter())
            .filter(|r| r.name == name && r.rtype.eq_ignore_ascii_case(rtype))
            .map(|r| r.to_json())
            .collect()
    }

    /// Runs `/api/zones/records/add` with these parameters, out of band.
    /// Returns the `response` object or the `errorMessage`.
    pub fn add_record(&self, params: &[(&str, &str)]) -> Result<Value, String> {
        self.exec(ops::records_add, params)
    }

    /// Runs `/api/zones/records/update` with these parameters, out of band.
    pub fn update_record(&self, params: &[(&str, &str)]) -> Result<Value, String> {
        self.exec(ops::records_update, params)
    }

    /// Runs `/api/zones/records/delete` with these parameters, out of band.
    pub fn delete_record(&self, params: &[(&str, &str)]) -> Result<Value, String> {
        self.exec(ops::records_delete, params)
    }

    /// Runs `/api/zones/create`, out of band.
    pub fn create_zone(&self, zone: &str, zone_type: &str) -> Result<Value, String> {
        self.exec(ops::zones_create, &[("zone", zone), ("type", zone_type)])
    }

    /// Runs `/api/zones/delete`, out of band.
    pub fn delete_zone(&self, zone: &str) -> Result<Value, String> {
        self.exec(ops::zones_delete, &[("zone", zone)])
    }

    fn exec(&self, op: api::Op, params: &[(&str, &str)]) -> Result<Value, String> {
        let call = Call {
            params: Params::from_pairs(params),
            session: None,
            token: None,
        };
        let mut s = lock(&self.state);
        match op(&mut s, &call) {
            Ok(Reply::Response(v)) => Ok(v),
            Ok(Reply::Flat(m)) => Ok(Value::Object(m)),
            Ok(Reply::Empty) => Ok(Value::Null),
            Err(e) => Err(e.message().to_string()),
        }
    }
}

fn seeded_server() -> Server {
    let mut s = Server::new();
    s.add_user(ADMIN_USER, ADMIN_PASSWORD, "Administrator", Role::ADMIN);
    s.add_user(READONLY_USER, READONLY_USER, "Read Only", Role::READ_ONLY);
    s.add_api_token(ADMIN_TOKEN, ADMIN_USER, "labforge-admin", Role::ADMIN);
    s.add_api_token(
        READONLY_TOKEN,
        READONLY_USER,
        "labforge-readonly",
        Role::READ_ONLY,
    );
    s.add_api_token(
        NO_DELETE_TOKEN,
        ADMIN_USER,
        "labforge-nodelete",
        Role::NO_DELETE,
    );
    let seed: &[&[(&str, &str)]] = &[&[("zone", SEED_ZONE), ("type", "Primary")]];
    for params in seed {
        let call = Call {
            params: Params::from_pairs(params),
            session: None,
            token: None,
        };
        if let Err(e) = ops::zones_create(&mut s, &call) {
            tracing::error!(error = e.message(), "seeding technitium zone failed");
        }
    }
    let records: &[&[(&str, &str)]] = &[
        &[
            ("domain", "ns1.home.arpa"),
            ("type", "A"),
            ("ipAddress", "192.168.1.2"),
        ],
        &[
            ("domain", "router.home.arpa"),
            ("type", "A"),
            ("ipAddress", "192.168.1.1"),
            ("comments", "seeded"),
        ],
    ];
    for params in records {
        let call = Call {
            params: Params::from_pairs(params),
            session: None,
            token: None,
        };
        if let Err(e) = ops::records_add(&mut s, &call) {
            tracing::error!(error = e.message(), "seeding technitium record failed");
        }
    }
    s
}
