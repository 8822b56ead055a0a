//! Attribute validators, declared in the schema. They run at validate time on
//! known, non-null values only (an unknown value is checked again at apply,
//! when it is known), and point their diagnostics at the attribute.

use std::net::IpAddr;

use labforge_cty::{AttributePath, Value};

use crate::diag::Diagnostics;

/// A validator for one attribute or block.
pub trait Validator: Send + Sync {
    /// Markdown for the docs, e.g. "Must be one of `A`, `AAAA`."
    fn description(&self) -> String;
    /// Check a known, non-null value.
    fn validate(&self, path: &AttributePath, value: &Value, diags: &mut Diagnostics);
    /// A mistake in the validator itself (e.g. an invalid pattern), found
    /// when the schema is checked rather than at a user's plan.
    fn definition_error(&self) -> Option<String> {
        None
    }
}

/// A validator from a description and a check returning an error detail.
pub fn from_fn<F>(description: impl Into<String>, check: F) -> FromFn<F>
where
    F: Fn(&Value) -> Result<(), String> + Send + Sync,
{
    FromFn {
        description: description.into(),
        check,
    }
}

/// See [`from_fn`].
pub struct FromFn<F> {
    description: String,
    check: F,
}

impl<F> Validator for FromFn<F>
where
    F: Fn(&Value) -> Result<(), String> + Send + Sync,
{
    fn description(&self) -> String {
        self.description.clone()
    }
    fn validate(&self, path: &AttributePath, value: &Value, diags: &mut Diagnostics) {
        if let Err(detail) = (self.check)(value) {
            diags.attribute_error(
                path.clone(),
                "Invalid attribute value",
                format!("{path}: {detail}"),
            );
        }
    }
}

fn string_check(
    description: String,
    check: impl Fn(&str) -> Result<(), String> + Send + Sync,
) -> impl Validator {
    from_fn(description, move |v| match v.as_str() {
        Some(s) => check(s),
        None => Ok(()),
    })
}

/// The string is one of `values`.
pub fn one_of(values: &[&str]) -> impl Validator + use<> {
    let allowed: Vec<String> = values.iter().map(|s| s.to_string()).collect();
    let listed = allowed
        .iter()
        .map(|v| format!("`{v}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let message = allowed
        .iter()
        .map(|v| format!("{v:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    string_check(format!("Must be one of {listed}."), move |s| {
        if allowed.iter().any(|a| a == s) {
            Ok(())
        } else {
            Err(format!("{s:?} is not one of {message}"))
        }
    })
}

/// The string's length (in characters) is within `min..=max`.
pub fn length_between(min: usize, max: usize) -> impl Validator {
    string_check(
        format!("Length between {min} and {max} characters."),
        move |s| {
            let n = s.chars().count();
            if (min..=max).contains(&n) {
                Ok(())
            } else {
                Err(format!("length must be between {min} and {max}, got {n}"))
            }
        },
    )
}

/// The string matches `pattern` (anchor it yourself); `what` says what is expected.
pub fn matches(pattern: &str, what: &str) -> Pattern {
    Pattern {
        re: regex::Regex::new(pattern).map_err(|e| e.to_string()),
        what: what.to_string(),
        keys: false,
    }
}

/// See [`matches()`] and [`keys_match`].
pub struct Pattern {
    re: Result<regex::Regex, String>,
    what: String,
    /// Check the keys of a map rather than a string.
    keys: bool,
}

impl Validator for Pattern {
    fn description(&self) -> String {
        if self.keys {
            format!("Keys must be {}.", self.what)
        } else {
            format!("Must be {}.", self.what)
        }
    }

    fn validate(&self, path: &AttributePath, value: &Value, diags: &mut Diagnostics) {
        let Ok(re) = &self.re else { return };
        let bad: Vec<String> = match (self.keys, value) {
            (false, v) => v
                .as_str()
                .filter(|s| !re.is_match(s))
                .map(|s| format!("{s:?} is not {}", self.what))
                .into_iter()
                .collect(),
            (true, Value::Map(m)) => m
                .keys()
                .filter(|k| !re.is_match(k))
                .map(|k| format!("key {k:?} is not {}", self.what))
                .collect(),
            (true, _) => Vec::new(),
        };
        for detail in bad {
            diags.attribute_error(
                path.clone(),
                "Invalid attribute value",
                format!("{path}: {detail}"),
            );
        }
    }

    fn definition_error(&self) -> Option<String> {
        self.re
            .as_ref()
            .err()
            .map(|e| format!("invalid validation pattern: {e}"))
    }
}

/// The number is a whole number.
pub fn whole_number() -> impl Validator {
    from_fn("A whole number.", |v| match v.as_number() {
        Some(n) if !n.is_integer() => Err(format!("{n} is not a whole number")),
        _ => Ok(()),
    })
}

/// The number lies within `min..=max`.
pub fn between(min: i64, max: i64) -> impl Validator {
    from_fn(format!("Between {min} and {max}."), move |v| {
        match v.as_number() {
            Some(n) => match n.as_i64() {
                Some(i) if (min..=max).contains(&i) => Ok(()),
                _ => Err(format!("must be between {min} and {max}, got {n}")),
            },
            None => Ok(()),
        }
    })
}

/// An IPv4 or IPv6 address.
pub fn ip_address() -> impl Validator {
    string_check("An IPv4 or IPv6 address.".to_string(), |s| {
        s.parse::<IpAddr>()
            .map(|_| ())
            .map_err(|_| format!("{s:?} is not an IP address"))
    })
}

/// An IPv4 address.
pub fn ipv4_address() -> impl Validator {
    string_check("An IPv4 address.".to_string(), |s| {
        match s.parse::<IpAddr>() {
            Ok(IpAddr::V4(_)) => Ok(()),
            _ => Err(format!("{s:?} is not an IPv4 address")),
        }
    })
}

/// An IPv6 address.
pub fn ipv6_address() -> impl Validator {
    string_check("An IPv6 address.".to_string(), |s| {
        match s.parse::<IpAddr>() {
            Ok(IpAddr::V6(_)) => Ok(()),
            _ => Err(format!("{s:?} is not an IPv6 address")),
        }
    })
}

/// Address and prefix length, e.g. `10.0.0.5/24` or `fd00::1/64`.
pub fn cidr() -> impl Validator {
    string_check(
        "An address with prefix length (CIDR), e.g. `10.0.0.5/24`.".to_string(),
        |s| {
            let err = || format!("{s:?} is not an address with a prefix length, like 10.0.0.5/24");
            let (addr, len) = s.split_once('/').ok_or_else(err)?;
            let addr: IpAddr = addr.parse().map_err(|_| err())?;
            let len: u8 = len.parse().map_err(|_| err())?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            if len > max {
                return Err(format!("prefix length {len} is larger than {max}"));
            }
            Ok(())
        },
    )
}

/// A DNS name: labels of letters, digits, `-` and `_`, at most 63 characters
/// each and 253 in all; a trailing dot is allowed; `@` and `*` labels allowed
/// where `allow_special` is set (record names).
pub fn dns_name(allow_special: bool) -> impl Validator {
    let description = if allow_special {
        "A DNS name, relative or fully qualified; `@` means the zone apex.".to_string()
    } else {
        "A DNS name, e.g. `lab.example.net`.".to_string()
    };
    string_check(description, move |s| check_dns_name(s, allow_special))
}

fn check_dns_name(s: &str, allow_special: bool) -> Result<(), String> {
    if allow_special && s == "@" {
        return Ok(());
    }
    let name = s.strip_suffix('.').unwrap_or(s);
    if name.is_empty() || name.len() > 253 {
        return Err(format!(
            "{s:?} is not a valid DNS name (1 to 253 characters)"
        ));
    }
    for (i, label) in name.split('.').enumerate() {
        if allow_special && i == 0 && label == "*" {
            continue;
        }
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !ok {
            return Err(format!(
                "{s:?} is not a valid DNS name: bad label {label:?}"
            ));
        }
    }
    Ok(())
}

/// The collection has between `min` and `max` elements.
pub fn size_between(min: usize, max: usize) -> impl Validator {
    from_fn(format!("Between {min} and {max} elements."), move |v| {
        let n = match v {
            Value::Map(m) => m.len(),
            other => other.elements().map_or(0, <[Value]>::len),
        };
        if (min..=max).contains(&n) {
            Ok(())
        } else {
            Err(format!(
                "must have between {min} and {max} elements, got {n}"
            ))
        }
    })
}

/// Every map key matches `pattern`; `what` says what is expected (e.g. "a disk slot like `scsi0`").
pub fn keys_match(pattern: &str, what: &str) -> Pattern {
    Pattern {
        keys: true,
        ..matches(pattern, what)
    }
}

/// The string is a regular expression (the `regex` crate's syntax, which
/// is RE2's: no look-around, no backreferences), compiled as the resource
/// will compile it. The detail gives the parser's own message.
pub fn regex() -> impl Validator {
    string_check(
        "Must be a regular expression (RE2 syntax: no look-around or backreferences).".into(),
        |s| match regex::Regex::new(s) {
            Ok(_) => Ok(()),
            Err(e) => Err(format!(
                "{s:?} is not a regular expression (RE2 syntax: no look-around or \
                 backreferences): {}",
                e.to_string().lines().last().unwrap_or_default().trim()
            )),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(v: &dyn Validator, value: Value) -> Option<String> {
        let mut d = Diagnostics::new();
        v.validate(&AttributePath::attr("x"), &value, &mut d);
        d.0.first().map(|d| {
            assert_eq!(d.attribute, Some(AttributePath::attr("x")));
            d.detail.clone()
        })
    }

    #[test]
    fn string_validators() {
        assert!(check(&one_of(&["A", "AAAA"]), Value::string("A")).is_none());
        assert!(
            check(&one_of(&["A", "AAAA"]), Value::string("MX"))
                .unwrap()
                .contains("not one of")
        );
        assert!(check(&cidr(), Value::string("10.0.0.5/24")).is_none());
        assert!(check(&cidr(), Value::string("10.0.0.5/33")).is_some());
        assert!(check(&cidr(), Value::string("10.0.0.5")).is_some());
        assert!(check(&ip_address(), Value::string("fd00::1")).is_none());
        assert!(check(&ipv4_address(), Value::string("fd00::1")).is_some());
        assert!(check(&dns_name(true), Value::string("@")).is_none());
        assert!(check(&dns_name(true), Value::string("*.apps")).is_none());
        assert!(check(&dns_name(false), Value::string("bad..name")).is_some());
        assert!(check(&dns_name(false), Value::string("lab.example.net.")).is_none());
        assert!(
            check(
                &matches("^scsi[0-9]+$", "a SCSI slot"),
                Value::string("ide0")
            )
            .is_some()
        );
    }

    #[test]
    fn regex_validator() {
        assert!(check(&regex(), Value::string("^talos-[a-z]+$")).is_none());
        let unclosed = check(&regex(), Value::string("(unclosed")).unwrap();
        assert!(unclosed.starts_with("x: \"(unclosed\" is not a regular expression"));
        assert!(unclosed.contains("unclosed group"), "{unclosed}");
        assert!(check(&regex(), Value::string("(?=x)")).is_some());
        assert!(regex().description().contains("regular expression"));
    }

    #[test]
    fn number_validators() {
        let n = |i| Value::Number(labforge_cty::Number::from_i64(i));
        assert!(check(&between(100, 999_999_999), n(99)).is_some());
        assert!(check(&between(100, 999_999_999), n(100)).is_none());
        let half = Value::Number(labforge_cty::Number::parse("1.5").unwrap());
        assert!(check(&whole_number(), half).is_some());
    }
}
