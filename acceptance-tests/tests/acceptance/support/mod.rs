//! Helpers shared by several acceptance test binaries. Each binary uses only
//! some of them, hence the `dead_code` allowance.

#![allow(dead_code)]

pub mod kubernetes;
pub mod pfsense;
pub mod proxmox;
pub mod routeros;

/// The `terraform { required_providers { … } }` block pinning this build of
/// the provider (no trailing newline).
pub const REQUIRED_PROVIDERS: &str = concat!(
    "terraform {\n",
    "  required_providers {\n",
    "    homelab = {\n",
    "      source  = \"labforge/homelab\"\n",
    "      version = \"",
    env!("CARGO_PKG_VERSION"),
    "\"\n",
    "    }\n",
    "  }\n",
    "}",
);
