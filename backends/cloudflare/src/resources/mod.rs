//! The Cloudflare resources.

pub mod record;
