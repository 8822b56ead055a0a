//! Helpers shared by several acceptance test binaries. Each binary uses only
//! some of them, hence the `dead_code` allowance.

#![allow(dead_code)]

pub mod proxmox;
