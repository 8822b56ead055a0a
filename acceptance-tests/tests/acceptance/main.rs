//! The acceptance tests: one test binary, one module per area. Each test
//! drives the real terraform (or tofu) CLI against the built provider and
//! the simulators; `support` holds what several modules share.

#![allow(clippy::unwrap_used)]

mod support;

mod adopt;
mod bad_input;
mod cloudflare;
mod corner;
mod examples;
mod faults;
mod harness;
mod lab;
mod lab_ci;
mod metallb;
mod pfsense;
mod provider;
mod proxmox;
mod proxmox_more;
mod routeros;
mod secrets;
mod talos;
mod talos_configs;
mod talos_nodes;
mod talos_reset;
mod technitium;
