//! The Talos resources, one file each.
//!
//! - [`machine_secrets`] is `homelab_talos_machine_secrets` (local, no API);
//!   its model types (`machine_secrets`, `client_configuration`) are shared
//!   with the data sources; [`secrets_schema`] holds the attributes the
//!   resource and the data sources share.
//! - [`node`] holds what the node-facing resources share (client
//!   configuration, `node`/`endpoint`, probes, diagnostics), [`timeouts`]
//!   their `timeouts`.

pub mod apply;
pub mod bootstrap;
pub mod kubeconfig;
pub mod machine_secrets;
pub mod node;
pub mod reset;
pub mod secrets_schema;
pub mod timeouts;

pub use apply::MachineConfigurationApply;
pub use bootstrap::MachineBootstrap;
pub use kubeconfig::ClusterKubeconfig;
pub use machine_secrets::MachineSecrets;
