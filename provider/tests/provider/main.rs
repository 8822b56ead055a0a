//! The provider's tests: its schemas and its generated docs.

#![allow(clippy::unwrap_used)]

mod architecture;
mod discover;
mod docs;
mod schema;
