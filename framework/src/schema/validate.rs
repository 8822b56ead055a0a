//! Running a schema's validators over a configuration value.
//!
//! Validators see known values only: an unknown value (one that comes from
//! another resource) is checked when Terraform validates again with it known.
//! Nested attributes and blocks are walked element by element, so every
//! diagnostic points at the element's own path (`items[1].name`).

use labforge_cty::{AttributePath, Value};

use super::{Nesting, Schema};
use crate::diag::Diagnostics;

/// Run the schema's validators over a configuration value (known values
/// only), adding what they find to `diags`. `path` is where `v` sits
/// ([`AttributePath::root`] for a whole resource).
///
/// A validator's detail usually quotes the value; for a sensitive attribute
/// the detail is replaced by one that does not.
pub fn validate_config(schema: &Schema, v: &Value, path: &AttributePath, diags: &mut Diagnostics) {
    for (name, a) in &schema.attributes {
        let av = v.get(name).unwrap_or(&Value::Null);
        let p = path.join_attr(name);
        if av.is_known() {
            for val in &a.validators {
                let mut found = Diagnostics::new();
                val.validate(&p, av, &mut found);
                if a.sensitive {
                    // Validators quote the value; a secret must not show.
                    for d in &mut found.0 {
                        d.detail = format!(
                            "{p}: the value (sensitive, not shown) is not valid. {}",
                            val.description()
                        );
                    }
                }
                diags.extend(found);
            }
            if let Some((nesting, inner)) = a.nested_schema() {
                validate_elements(inner, nesting, av, &p, diags);
            }
        }
    }
    for (name, b) in &schema.blocks {
        let bv = v.get(name).unwrap_or(&Value::Null);
        let p = path.join_attr(name);
        if bv.is_known() {
            for val in &b.validators {
                val.validate(&p, bv, diags);
            }
            validate_elements(&b.schema, b.nesting, bv, &p, diags);
        }
    }
}

fn validate_elements(
    schema: &Schema,
    nesting: Nesting,
    v: &Value,
    path: &AttributePath,
    diags: &mut Diagnostics,
) {
    match (nesting, v) {
        (Nesting::Single | Nesting::Group, v) => validate_config(schema, v, path, diags),
        (_, Value::Map(m) | Value::Object(m)) if nesting == Nesting::Map => {
            for (k, e) in m {
                validate_config(schema, e, &path.join_key(k), diags);
            }
        }
        (_, v) => {
            for (i, e) in v.elements().unwrap_or(&[]).iter().enumerate() {
                // Set elements have no index Terraform can point at: point at the set.
                let p = if nesting == Nesting::Set {
                    path.clone()
                } else {
                    path.join_index(i as i64)
                };
                validate_config(schema, e, &p, diags);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Attribute, Block, validators};
    use labforge_cty::PathStep;

    fn schema() -> Schema {
        let short = || validators::length_between(1, 3);
        Schema::new("t")
            .attribute("name", Attribute::string().optional().validator(short()))
            .attribute(
                "secret",
                Attribute::string()
                    .optional()
                    .sensitive()
                    .validator(short()),
            )
            .attribute(
                "items",
                Attribute::nested(
                    Nesting::List,
                    [("n", Attribute::string().validator(short()))],
                )
                .optional(),
            )
            .attribute(
                "slots",
                Attribute::nested(
                    Nesting::Map,
                    [("n", Attribute::string().validator(short()))],
                )
                .optional(),
            )
            .block(
                "rule",
                Block::set(
                    Schema::new("r")
                        .attribute("n", Attribute::string().optional().validator(short())),
                ),
            )
    }

    fn paths(d: &Diagnostics) -> Vec<String> {
        d.iter()
            .map(|d| {
                d.attribute
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default()
            })
            .collect()
    }

    fn run(v: &Value) -> Diagnostics {
        let mut d = Diagnostics::new();
        validate_config(&schema(), v, &AttributePath::root(), &mut d);
        d
    }

    #[test]
    fn valid_and_null_and_unknown_values_pass() {
        assert!(run(&Value::object([("name", Value::string("ok"))])).is_empty());
        assert!(run(&Value::Null).is_empty());
        assert!(run(&Value::object([("name", Value::unknown())])).is_empty());
        // An unknown list is not walked; its known elements would be.
        assert!(run(&Value::object([("items", Value::unknown())])).is_empty());
    }

    #[test]
    fn each_error_points_at_its_element() {
        let obj = |n: &str| Value::object([("n", Value::string(n))]);
        let d = run(&Value::object([
            ("name", Value::string("toolong")),
            ("items", Value::List(vec![obj("ok"), obj("toolong")])),
            (
                "slots",
                Value::Map([("k".to_string(), obj("toolong"))].into_iter().collect()),
            ),
            ("rule", Value::Set(vec![obj("toolong")])),
        ]));
        assert!(d.has_errors());
        let mut got = paths(&d);
        got.sort();
        // A set element has no index: its path skips from the set to the attribute.
        let want = ["items[1].n", "name", "rule.n", "slots[\"k\"].n"];
        assert_eq!(got, want, "{d:#?}");
        let items = d
            .iter()
            .find_map(|d| d.attribute.as_ref().filter(|p| p.steps.len() == 3))
            .cloned();
        assert_eq!(
            items.map(|p| p.steps),
            Some(vec![
                PathStep::Attr("items".into()),
                PathStep::Index(1),
                PathStep::Attr("n".into()),
            ])
        );
    }

    #[test]
    fn a_sensitive_value_is_not_quoted() {
        let d = run(&Value::object([("secret", Value::string("hunter2"))]));
        assert_eq!(d.0.len(), 1, "{d:#?}");
        assert!(!d.0[0].detail.contains("hunter2"), "{}", d.0[0].detail);
        assert!(d.0[0].detail.contains("sensitive, not shown"));
        // The same check on a plain attribute quotes nothing secret but fails too.
        let plain = run(&Value::object([("name", Value::string("hunter2"))]));
        assert_eq!(plain.0.len(), 1);
    }
}
