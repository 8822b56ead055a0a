//! # labforge-cty: Terraform's value system on the wire
//!
//! Terraform describes every configuration, plan and state value with
//! [cty](https://github.com/zclconf/go-cty) types. Providers receive and return
//! them as msgpack (`DynamicValue.msgpack`), read old state as JSON
//! (`RawState.json`) and describe schema types as "type JSON".
//!
//! ## Where to start
//! - [`Type`]: the type system (`bool`, `number`, `string`, collections,
//!   structural types and the `dynamic` pseudo-type) and its JSON form.
//! - [`Value`]: a value that may be null or unknown (with refinements).
//!   Values are not typed themselves: the codecs are type-directed.
//! - [`msgpack`]: encode/decode a value against a type (the wire format).
//! - [`json`]: encode/decode state JSON (decoding is lenient, for old schemas).
//! - [`AttributePath`]: where in a value a diagnostic points.
//! - [`Number`]: exact arbitrary-precision decimals (and ±infinity), as cty
//!   numbers are; compare by value, print like go's `Text('f', -1)`.
//! - [`infer_type`] and [`conforms`]: what type a value sent in a `dynamic`
//!   slot gets, and whether a value fits a type before you encode it.

#![warn(missing_docs, unreachable_pub)]

mod conform;
mod number;
mod path;
mod types;
mod value;

pub mod json;
pub mod msgpack;

pub use conform::{conforms, infer_type};

/// Deepest value nesting the codecs accept when decoding or encoding, and
/// the depth beyond which type inference gives up (`dynamic`).
pub const MAX_DEPTH: usize = 256;
pub use number::Number;
pub use path::{AttributePath, PathStep};
pub use types::{ObjectType, Type};
pub use value::{Refinements, Value};

/// Errors from decoding or encoding values and types.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The bytes are not valid for the format (truncated msgpack, bad JSON, ...).
    #[error("malformed {format}: {message}")]
    Malformed {
        /// What was being read: `"msgpack"`, `"JSON"` or `"number"` (parsing a [`Number`]).
        format: &'static str,
        /// What was wrong and where in the bytes.
        message: String,
    },
    /// The value does not conform to the type it is decoded or encoded against.
    #[error("{path}: {message}")]
    Type {
        /// Where in the value the mismatch is (the root for the value itself).
        path: AttributePath,
        /// What was expected and what was found.
        message: String,
    },
}

/// A result whose error defaults to this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
