//! The Talos ephemeral resources: values Terraform never stores.
//!
//! - [`machine_configuration`] is `homelab_talos_machine_configuration`.

pub mod cluster_kubeconfig;
pub mod machine_configuration;

pub use cluster_kubeconfig::ClusterKubeconfigEphemeral;
pub use machine_configuration::MachineConfiguration;
