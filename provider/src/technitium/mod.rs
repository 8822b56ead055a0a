//! Technitium DNS Server: API client and resources.
//!
//! - [`client`] — the typed HTTP API client (form-POST calls, token in the
//!   body, login sessions, status envelope, per-zone record cache).
//! - [`rdata`] — record identity, normalisation and import IDs (pure).
//! - [`zone`] — `homelab_technitium_zone`.
//! - [`record`] — `homelab_technitium_dns_record`.
//! - [`records_ds`] — data source `homelab_technitium_zone_records`.

pub mod client;
pub mod rdata;
pub mod record;
pub mod records_ds;
pub mod zone;

use labforge_framework::Registry;

use crate::clients::Clients;

pub use client::Client;

/// How to authenticate: an API token, or a user name and password (a session).
pub use crate::secret::Auth;

/// Connection settings, resolved from the provider block and environment.
#[derive(Debug, Clone)]
pub struct Settings {
    pub url: String,
    pub auth: Auth,
    pub ca_cert: Option<String>,
    pub insecure: bool,
}

pub fn register(r: Registry<Clients>) -> Registry<Clients> {
    r.resource(zone::Zone)
        .resource(record::DnsRecord)
        .data_source(records_ds::ZoneRecords)
}
