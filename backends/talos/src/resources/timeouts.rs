//! `timeouts` of the node-facing resources: how long an operation may take,
//! as Go durations (`10m`, `1h30m`), with the validator and the schema
//! attribute.

use std::time::Duration;

use labforge_framework::Value;
use labforge_framework::schema::{Attribute, Nesting, validators};
use serde::{Deserialize, Serialize};

/// The default of every `timeouts` entry.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// `timeouts`: how long an operation may take (Go durations such as `10m`).
///
/// One type for every resource: an operation a resource's schema does not
/// have stays `None` and is not written (the apply resource has all three,
/// the kubeconfig create and update, the bootstrap create only).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Timeouts {
    /// For create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create: Option<String>,
    /// For update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update: Option<String>,
    /// For delete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete: Option<String>,
}

/// The operation a timeout is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    /// Create.
    Create,
    /// Update.
    Update,
    /// Delete.
    Delete,
}

impl Timeouts {
    /// The timeout of `op` ([`DEFAULT_TIMEOUT`] when unset; a value that is
    /// not a duration is refused at validate, and counts as unset here).
    pub(crate) fn of(t: &Option<Timeouts>, op: Operation) -> Duration {
        t.as_ref()
            .and_then(|t| match op {
                Operation::Create => t.create.as_deref(),
                Operation::Update => t.update.as_deref(),
                Operation::Delete => t.delete.as_deref(),
            })
            .and_then(|s| parse_duration(s).ok())
            .unwrap_or(DEFAULT_TIMEOUT)
    }
}

/// A Go duration (`300ms`, `1.5h`, `2h45m`, `10m`): a sequence of decimal
/// numbers with a unit each (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`).
pub(crate) fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let bad = || format!("{s:?} is not a duration such as `90s`, `10m` or `1h30m`");
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        if num_len == 0 {
            return Err(bad());
        }
        let n: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let secs = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += n * secs;
        rest = &rest[unit_len..];
    }
    if !total.is_finite() || total > 1e9 {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(total))
}

/// A validator for a duration string.
pub(crate) fn duration_validator() -> impl validators::Validator {
    validators::from_fn(
        "A duration such as `90s`, `10m` or `1h30m`.",
        |v: &Value| match v.as_str() {
            Some(s) => parse_duration(s).map(|_| ()),
            None => Ok(()),
        },
    )
}

/// The `timeouts` attribute with the given operations.
pub(crate) fn timeouts_attr(ops: &[&'static str]) -> Attribute {
    Attribute::nested(
        Nesting::Single,
        ops.iter().map(|op| {
            (
                *op,
                Attribute::string()
                    .optional()
                    .describe(format!(
                        "How long {op} may take, a duration such as `10m` (default `10m`)."
                    ))
                    .validator(duration_validator()),
            )
        }),
    )
    .optional()
    .describe("Operation timeouts.")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("1.5h").unwrap(), Duration::from_secs(5400));
        assert_eq!(
            parse_duration("720h").unwrap(),
            Duration::from_secs(720 * 3600)
        );
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        for bad in ["", "10", "m", "10x", "1h-5m", "h1", "1..5s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn one_getter_per_operation_with_the_default() {
        let t = Some(Timeouts {
            create: Some("1m".into()),
            update: Some("2m".into()),
            delete: None,
        });
        assert_eq!(Timeouts::of(&t, Operation::Create), Duration::from_secs(60));
        assert_eq!(
            Timeouts::of(&t, Operation::Update),
            Duration::from_secs(120)
        );
        assert_eq!(Timeouts::of(&t, Operation::Delete), DEFAULT_TIMEOUT);
        assert_eq!(Timeouts::of(&None, Operation::Create), DEFAULT_TIMEOUT);
        let bad = Some(Timeouts {
            create: Some("soon".into()),
            ..Timeouts::default()
        });
        assert_eq!(Timeouts::of(&bad, Operation::Create), DEFAULT_TIMEOUT);
    }

    #[test]
    fn unset_operations_are_not_written() {
        // The bootstrap's schema has `create` only: a model with `update`
        // or `delete` written (even null) would not encode against it.
        let t = Timeouts {
            create: Some("5m".into()),
            ..Timeouts::default()
        };
        let v = labforge_framework::model::to_untyped(&t).unwrap();
        assert_eq!(v.get("create").and_then(Value::as_str), Some("5m"));
        assert!(
            v.get("update").is_none() && v.get("delete").is_none(),
            "{v:?}"
        );
    }
}
