//! Kubernetes label selectors (meta/v1 `LabelSelector`) as the MetalLB
//! resources write them: the schema of a list of selectors, their JSON
//! both ways, and the plan-time checks apimachinery's
//! `ValidateLabelSelectorRequirement` makes.

use std::collections::BTreeMap;

use labforge_framework::schema::{Attribute, Nesting, validators};
use labforge_framework::{AttributePath, Diagnostics, Type, Value};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json, json};

/// A Kubernetes label selector (meta/v1 `LabelSelector`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Selector {
    /// `matchLabels`.
    pub match_labels: Option<BTreeMap<String, String>>,
    /// `matchExpressions`.
    pub match_expressions: Option<Vec<Expression>>,
}

/// One `matchExpressions` entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Expression {
    /// Label key.
    pub key: String,
    /// `In`, `NotIn`, `Exists`, `DoesNotExist`.
    pub operator: String,
    /// Values (`In`/`NotIn` only).
    pub values: Option<Vec<String>>,
}

const OPERATORS: &[&str] = &["In", "NotIn", "Exists", "DoesNotExist"];

/// The schema of a list of selectors.
pub(crate) fn selectors_attr(description: &str) -> Attribute {
    Attribute::nested(
        Nesting::List,
        [
            (
                "match_labels",
                Attribute::map(Type::String)
                    .optional()
                    .describe("Labels that must all match (`matchLabels`)."),
            ),
            (
                "match_expressions",
                Attribute::nested(
                    Nesting::List,
                    [
                        ("key", Attribute::string().required().describe("Label key.")),
                        (
                            "operator",
                            Attribute::string()
                                .required()
                                .describe("`In`, `NotIn`, `Exists` or `DoesNotExist`.")
                                .validator(validators::one_of(OPERATORS)),
                        ),
                        (
                            "values",
                            Attribute::list(Type::String).optional().describe(
                                "Values: required for `In`/`NotIn`, not allowed otherwise.",
                            ),
                        ),
                    ],
                )
                .optional()
                .describe("Label expressions (`matchExpressions`)."),
            ),
        ],
    )
    .optional()
    .describe(description)
}

/// Selector as the API writes it.
pub(crate) fn selector_json(s: &Selector) -> Json {
    let mut m = Map::new();
    if let Some(l) = &s.match_labels {
        m.insert("matchLabels".into(), json!(l));
    }
    if let Some(e) = &s.match_expressions {
        let v: Vec<Json> = e
            .iter()
            .map(|x| {
                let mut o = json!({"key": x.key, "operator": x.operator});
                if let Some(vals) = &x.values {
                    o["values"] = json!(vals);
                }
                o
            })
            .collect();
        m.insert("matchExpressions".into(), Json::Array(v));
    }
    Json::Object(m)
}

pub(crate) fn selectors_json(v: &[Selector]) -> Json {
    Json::Array(v.iter().map(selector_json).collect())
}

/// Selectors as read from the API.
pub(crate) fn selectors_from(v: Option<&Json>) -> Option<Vec<Selector>> {
    let a = v?.as_array()?;
    Some(
        a.iter()
            .map(|s| Selector {
                match_labels: s.get("matchLabels").and_then(|l| {
                    l.as_object().map(|o| {
                        o.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                            .collect()
                    })
                }),
                match_expressions: s
                    .get("matchExpressions")
                    .and_then(Json::as_array)
                    .map(|es| {
                        es.iter()
                            .map(|e| Expression {
                                key: str_of(e.get("key")),
                                operator: str_of(e.get("operator")),
                                values: strings_from(e.get("values")),
                            })
                            .collect()
                    }),
            })
            .collect(),
    )
}

fn str_of(v: Option<&Json>) -> String {
    v.and_then(Json::as_str).unwrap_or_default().to_string()
}

pub(crate) fn strings_from(v: Option<&Json>) -> Option<Vec<String>> {
    v?.as_array().map(|a| {
        a.iter()
            .filter_map(Json::as_str)
            .map(str::to_string)
            .collect()
    })
}

/// Plan-time checks of a list of selectors in `config` at `attr`, as
/// apimachinery's `ValidateLabelSelectorRequirement` does.
pub(crate) fn check_selectors(config: &Value, path: AttributePath, d: &mut Diagnostics) {
    let Some(list) = config.elements() else {
        return;
    };
    for (i, sel) in list.iter().enumerate() {
        let Some(exprs) = sel.get("match_expressions").and_then(Value::elements) else {
            continue;
        };
        for (j, e) in exprs.iter().enumerate() {
            let op = e.get("operator").and_then(Value::as_str);
            let values = e.get("values").cloned().unwrap_or(Value::Null);
            if values.is_unknown() || op.is_none() {
                continue;
            }
            let n = values.elements().map(|l| l.len()).unwrap_or(0);
            let at = path
                .join_index(i as i64)
                .join_attr("match_expressions")
                .join_index(j as i64)
                .join_attr("values");
            match op {
                Some("In" | "NotIn") if n == 0 => d.attribute_error(
                    at,
                    "Invalid attribute value",
                    "`values` must be non-empty when `operator` is In or NotIn.",
                ),
                Some("Exists" | "DoesNotExist") if n > 0 => d.attribute_error(
                    at,
                    "Invalid attribute value",
                    "`values` must be empty when `operator` is Exists or DoesNotExist.",
                ),
                _ => {}
            }
        }
    }
}
