//! The Technitium resources.

pub mod record;
pub mod zone;
