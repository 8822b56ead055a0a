//! The simulators' tests: one test binary, one module per simulator.

#![allow(clippy::unwrap_used)]

mod cloudflare;
mod cloudflare_openapi;
mod homelab_sim;
mod kubernetes;
mod pfsense;
mod proxmox;
mod routeros;
mod talos;
mod technitium;
