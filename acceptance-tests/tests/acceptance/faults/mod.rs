//! The fault matrix ("Faults: nothing lost", issue 16): for each backend a
//! small configuration applied from empty with 5xx, 429 + Retry-After,
//! resets before and after handling and slow answers injected at sampled
//! positions of its request sequence, an out-of-band change and delete
//! between a plan and its apply, and SIGINT during an apply; after each,
//! the simulator's objects are compared with Terraform's state (engine:
//! `support/faults.rs`). Figures: docs/reliability.md, "Faults".

mod cloudflare;
mod kubernetes;
mod pfsense;
mod proxmox;
mod routeros;
mod talos;
mod technitium;
