//! Cloudflare API v4 simulator: zones and DNS records.
//!
//! Start one with [`CloudflareSim::start`]; point a client at
//! [`CloudflareSim::base_url`] (`http://127.0.0.1:PORT/client/v4`, what
//! `CLOUDFLARE_BASE_URL` expects).
//!
//! Seeded: zones [`ZONE_EXAMPLE_COM`] (`example.com`, empty) and
//! [`ZONE_LAB_EXAMPLE_NET`] (`lab.example.net`, two records), and tokens:
//! * [`EDIT_TOKEN`]: all zones, DNS Write, may list zones;
//! * [`READ_TOKEN`]: all zones, DNS Read only (writes: 403, code 10000);
//! * [`SCOPED_TOKEN`]: `example.com` only, DNS Write, **no** zone list
//!   permission (`GET /zones` without `?name=` answers 403, code 9109).
//!
//! Every token has a request budget (default 1200 per 300 s, the documented
//! global limit; change it with [`CloudflareSim::set_rate_limit`]); beyond it
//! the API answers 429 with `Retry-After` and code 971.

mod api;
mod state;

use std::time::Duration;

use serde_json::Value;

use crate::common::{Counters, Faults, SimParts, SimServer, lock, start_sim};
use state::{CfError, Cloudflare};

pub use state::{
    DATA_TYPES, PROXIABLE_TYPES, RECORD_TYPES, RECORDS_PER_PAGE_DEFAULT, RECORDS_PER_PAGE_MAX,
    REQUEST_FIELD_TYPES, TOP_LEVEL_PRIORITY_TYPES, TTL_MAX, TTL_MIN, TokenScope, ZONES_PER_PAGE,
};

/// Id of the seeded zone `example.com`.
pub const ZONE_EXAMPLE_COM: &str = "023e105f4ecef8ad9ca31a8372d0c353";
/// Id of the seeded zone `lab.example.net`.
pub const ZONE_LAB_EXAMPLE_NET: &str = "372e67954025e0ba6aaa6d586b9e0b59";
/// All zones, DNS Write, zone list.
pub const EDIT_TOKEN: &str = "cfsim-edit-0123456789abcdefghijklmnopqrst";
/// All zones, DNS Read only.
pub const READ_TOKEN: &str = "cfsim-read-0123456789abcdefghijklmnopqrst";
/// `example.com` only, DNS Write, cannot list zones without `?name=`.
pub const SCOPED_TOKEN: &str = "cfsim-zone-0123456789abcdefghijklmnopqrst";

/// A running Cloudflare simulator. Stops when dropped.
pub struct CloudflareSim {
    server: SimServer,
    state: api::Shared,
    faults: Faults,
    counters: Counters,
}

impl std::fmt::Debug for CloudflareSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudflareSim")
            .field("url", &self.base_url())
            .finish()
    }
}

impl CloudflareSim {
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
            "cloudflare",
            port,
            seeded(),
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

    /// `http://127.0.0.1:PORT/client/v4` (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("{}{}", self.server.url(), api::BASE)
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.server.addr().port()
    }

    /// Fault injection rules. Patterns may be route patterns such as
    /// `/client/v4/zones/{zone_id}/dns_records` or path globs.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Request counters by (method, route pattern), e.g.
    /// `("POST", "/client/v4/zones/{zone_id}/dns_records")`.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Sets every token's budget to `limit` requests per `window` and
    /// starts all windows afresh.
    pub fn set_rate_limit(&self, limit: u32, window: Duration) {
        let mut s = lock(&self.state);
        s.rate = state::RateLimit { limit, window };
        s.reset_budgets();
    }

    /// Adds (or replaces) an API token.
    pub fn add_token(&self, token: &str, scope: TokenScope) {
        lock(&self.state).add_token(token, scope);
    }

    /// Adds a zone and returns its id.
    pub fn add_zone(&self, name: &str) -> String {
        lock(&self.state).add_zone(None, name)
    }

    /// The id of the zone with this name.
    pub fn zone_id(&self, name: &str) -> Option<String> {
        let name = state::normalize_host(name);
        lock(&self.state)
            .zones
            .iter()
            .find(|z| z.name == name)
            .map(|z| z.id.clone())
    }

    /// All records of a zone as the API renders them.
    pub fn records(&self, zone_id: &str) -> Vec<Value> {
        lock(&self.state)
            .records
            .iter()
            .filter(|r| r.zone_id == zone_id)
            .map(|r| r.to_json())
            .collect()
    }

    /// One record as the API renders it.
    pub fn record(&self, zone_id: &str, id: &str) -> Option<Value> {
        lock(&self.state).get(zone_id, id).ok()
    }

    /// Creates a record out of band (same validation as `POST`). Returns
    /// the record, or the error message.
    pub fn create_record(&self, zone_id: &str, body: Value) -> Result<Value, String> {
        lock(&self.state).create(zone_id, &body).map_err(msg)
    }

    /// Modifies a record out of band with `PATCH` semantics.
    pub fn patch_record(&self, zone_id: &str, id: &str, body: Value) -> Result<Value, String> {
        lock(&self.state)
            .update(zone_id, id, &body, false)
            .map_err(msg)
    }

    /// Deletes a record out of band. `false` if it did not exist.
    pub fn delete_record(&self, zone_id: &str, id: &str) -> bool {
        lock(&self.state).delete(zone_id, id).is_ok()
    }
}

fn msg(e: CfError) -> String {
    format!("{} ({})", e.message, e.code)
}

fn seeded() -> Cloudflare {
    let mut cf = Cloudflare::new();
    cf.add_zone(Some(ZONE_EXAMPLE_COM), "example.com");
    cf.add_zone(Some(ZONE_LAB_EXAMPLE_NET), "lab.example.net");
    cf.add_token(
        EDIT_TOKEN,
        TokenScope {
            zones: None,
            dns_edit: true,
            zone_list: true,
        },
    );
    cf.add_token(
        READ_TOKEN,
        TokenScope {
            zones: None,
            dns_edit: false,
            zone_list: true,
        },
    );
    cf.add_token(
        SCOPED_TOKEN,
        TokenScope {
            zones: Some(vec![ZONE_EXAMPLE_COM.to_string()]),
            dns_edit: true,
            zone_list: false,
        },
    );
    let seeds = [
        serde_json::json!({"type": "A", "name": "@", "content": "198.51.100.4", "ttl": 1, "proxied": true}),
        serde_json::json!({"type": "TXT", "name": "lab.example.net", "content": "\"v=spf1 -all\"", "ttl": 3600}),
    ];
    for s in seeds {
        if let Err(e) = cf.create(ZONE_LAB_EXAMPLE_NET, &s) {
            tracing::error!(error = %e.message, "seeding cloudflare record failed");
        }
    }
    cf
}
