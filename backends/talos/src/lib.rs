//! # labforge-talos: Talos Linux
//!
//! Machine secrets, machine configurations, and the Talos API.
//!
//! - [`secrets`]: the secrets bundle as `talosctl gen secrets` makes it, and
//!   admin client configurations (talosconfig).
//! - [`config`]: machine configurations per Talos version contract, and
//!   config patches (strategic merge, JSON6902).
//! - [`client`]: the Talos API client (gRPC over TLS, port 50000).
//! - [`resources`], [`data_sources`], [`ephemeral`]: the `homelab_talos_*` types.

#![warn(missing_docs, unreachable_pub)]

pub mod client;
pub mod config;
pub mod data_sources;
pub mod ephemeral;
pub mod resources;
pub mod secrets;
