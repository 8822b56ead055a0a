//! The Technitium data sources.

pub mod zone_records;
