//! Infrastructure shared by every simulator: serving, fault injection,
//! request counters, a JSON Schema (draft 2020-12) validator, and small
//! helpers (clock, ids, form decoding).
//!
//! Nothing here knows about a backend's wire format; each simulator renders
//! its own bodies.

mod counters;
mod faults;
pub(crate) mod jsonschema;
mod server;
pub(crate) mod text;

pub use counters::Counters;
pub use faults::{Fault, Faults};
pub use server::{FaultRenderer, SimServer};

pub(crate) use faults::lock;
pub(crate) use server::{SimParts, instrument, start_sim};
