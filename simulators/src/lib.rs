//! API simulators of the homelab backends, for acceptance tests and the
//! `make demo` lab.
//!
//! Each simulator is an axum server on `127.0.0.1` that answers like the real
//! backend, written from the vendor's own documentation, quirks included. A
//! simulator never shares types with the provider's API clients: it speaks raw
//! JSON and forms, so an encoding bug on either side shows up as a failure
//! instead of cancelling out.
//!
//! # Where to start
//!
//! * [`technitium::TechnitiumSim`] — Technitium DNS Server HTTP API
//!   (GET/POST + form params, `status` envelope, records without ids).
//! * [`cloudflare::CloudflareSim`] — Cloudflare API v4, zones and DNS records
//!   (`success/errors/result` envelope, scoped tokens, rate limit).
//! * [`proxmox::ProxmoxSim`] — Proxmox VE `/api2/json` (VMs, clones,
//!   templates, async tasks, file locks, digests, pending changes, storage),
//!   parameters validated against the official API schema.
//! * [`common`] — what every simulator shares: [`common::SimServer`] (a server
//!   on its own thread and runtime, stopped on drop), [`common::Faults`]
//!   (inject 5xx, 429 + `Retry-After`, delays, connection resets) and
//!   [`common::Counters`] (requests by method and route).
//! * `src/bin/homelab-sim.rs` — starts every simulator for the demo lab and
//!   writes an env file and a tfvars file.
//!
//! # Layout
//!
//! One module per backend, each with `mod.rs` (the handle and its test-side
//! hooks), `state.rs` (the data model) and the HTTP layer.
//!
//! ```no_run
//! use labforge_simulators::technitium::{TechnitiumSim, ADMIN_TOKEN};
//!
//! let sim = TechnitiumSim::start()?;
//! let url = format!("{}/api/zones/list", sim.base_url());
//! // ... send `Authorization: Bearer {ADMIN_TOKEN}` to `url` ...
//! sim.faults().fail_next("*", "/api/zones/list", 503);
//! assert_eq!(sim.token_in_query_count(), 0);
//! # let _ = (url, ADMIN_TOKEN);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod cloudflare;
pub mod common;
pub mod kubernetes;
pub mod pfsense;
pub mod proxmox;
pub mod routeros;
pub mod talos;
pub mod technitium;
