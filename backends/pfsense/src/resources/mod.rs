//! The pfSense resources.

pub mod alias;
pub mod board;
pub mod common;
pub mod rule;
pub mod ruleset;
