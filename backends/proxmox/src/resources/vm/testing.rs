//! Test helpers.

use crate::client::VmConfig;
use labforge_framework::Value;

/// A config as `GET config` reads it.
pub(super) fn cfg(pairs: &[(&str, &str)]) -> VmConfig {
    VmConfig {
        keys: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        digest: Some("abc".into()),
    }
}

/// An object value.
pub(super) fn obj(pairs: &[(&str, Value)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    )
}
