//! The Talos data sources: pure (no remote calls).
//!
//! - [`machine_configuration`] is `homelab_talos_machine_configuration`.
//! - [`client_configuration`] is `homelab_talos_client_configuration`.

pub mod client_configuration;
pub mod machine_configuration;

pub use client_configuration::ClientConfiguration;
pub use machine_configuration::MachineConfiguration;
