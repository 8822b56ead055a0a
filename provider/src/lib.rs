//! The labforge/homelab Terraform provider.
