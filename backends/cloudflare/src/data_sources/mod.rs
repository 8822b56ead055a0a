//! The Cloudflare data sources.

pub mod zone;
