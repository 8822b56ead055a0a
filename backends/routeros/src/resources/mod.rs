//! The RouterOS resources.

pub mod item;
pub mod ruleset;
