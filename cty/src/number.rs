//! Arbitrary-precision numbers, as cty has them (big floats written in decimal).
//!
//! TODO(cty helper): implement. Public API contract below is fixed.

use std::fmt;

/// A cty number: arbitrary precision decimal, or ±infinity.
/// Equality compares numeric value (`1`, `1.0` and `1e0` are equal).
#[derive(Debug, Clone)]
pub struct Number {
    repr: String,
}

impl Number {
    pub fn from_i64(n: i64) -> Number {
        Number { repr: n.to_string() }
    }
    /// `None` for NaN.
    pub fn from_f64(f: f64) -> Option<Number> {
        if f.is_nan() {
            None
        } else {
            Some(Number { repr: f.to_string() })
        }
    }
    /// Parse a decimal literal (`-12`, `3.25`, `1e400`, `1.5E-7`).
    pub fn parse(s: &str) -> Option<Number> {
        s.parse::<f64>().ok().map(|_| Number { repr: s.to_string() })
    }
    /// Exact integer value, when it is one and fits.
    pub fn as_i64(&self) -> Option<i64> {
        self.repr.parse().ok()
    }
    /// Nearest f64.
    pub fn as_f64(&self) -> f64 {
        self.repr.parse().unwrap_or(f64::NAN)
    }
}

impl Eq for Number {}

impl PartialEq for Number {
    fn eq(&self, other: &Self) -> bool {
        self.repr == other.repr
    }
}

/// Canonical decimal text (go's `big.Float.Text('f', -1)`): `12`, `-0.5`, `100000000000000000000`.
impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.repr)
    }
}
