//! The Proxmox VE resources.

pub mod download_file;
pub mod vm;
