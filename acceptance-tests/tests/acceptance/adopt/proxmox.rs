//! Adopting a hand-built proxmox (see the module above).
