//! Planning, as terraform-plugin-framework does it, so that Terraform's own
//! consistency checks never fire: start from Terraform's proposed new state,
//! apply defaults where configuration is null, keep write-only attributes out,
//! mark computed attributes unknown when anything changes, then run the
//! schema's plan modifiers and collect the attributes that force replacement.

use std::collections::BTreeMap;

use labforge_cty::{AttributePath, PathStep, Value};

use crate::diag::Diagnostics;
use crate::schema::modifiers::{ModifyRequest, ModifyResponse};
use crate::schema::{Attribute, Nesting, PlanModifier, Schema};

/// The result of planning one resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    /// The planned new state; null for a destroy.
    pub state: Value,
    /// Attributes whose change forces replacement, sorted, without duplicates.
    pub requires_replace: Vec<AttributePath>,
    /// What plan modifiers reported.
    pub diagnostics: Diagnostics,
}

/// Plan a change from `prior` state to `config`, given Terraform's `proposed` new state.
pub fn plan(schema: &Schema, prior: &Value, proposed: &Value, config: &Value) -> Planned {
    let mut out = Planned {
        state: proposed.clone(),
        requires_replace: Vec::new(),
        diagnostics: Diagnostics::new(),
    };
    if proposed.is_null() {
        // Destroy: nothing to plan.
        return out;
    }
    let creating = prior.is_null();
    apply_defaults(schema, config, &mut out.state);
    null_write_only(schema, &mut out.state);
    if creating || out.state != *prior {
        mark_computed_unknown(schema, config, &mut out.state);
    }
    let mut walk = Modify {
        creating,
        requires_replace: &mut out.requires_replace,
        diagnostics: &mut out.diagnostics,
    };
    walk.block(
        schema,
        &AttributePath::root(),
        config,
        prior,
        &mut out.state,
    );
    out.requires_replace.sort();
    out.requires_replace.dedup();
    out
}

/// The attributes of an object value, if it is one.
fn attrs_mut(v: &mut Value) -> Option<&mut BTreeMap<String, Value>> {
    match v {
        Value::Object(m) => Some(m),
        Value::Dynamic(_, v) => attrs_mut(v),
        _ => None,
    }
}

fn get<'a>(v: &'a Value, name: &str) -> &'a Value {
    const NULL: &Value = &Value::Null;
    v.get(name).unwrap_or(NULL)
}

/// Pairs of (config element, planned element, path step) for a nested collection.
/// Lists pair by position, maps by key. Set elements have no position: each
/// planned element pairs with a configured element it agrees with on every
/// attribute the configuration sets (Terraform fills in the computed rest).
fn for_each_element(
    nesting: Nesting,
    config: &Value,
    planned: &mut Value,
    mut f: impl FnMut(PathStep, &Value, &mut Value),
) {
    const NULL: &Value = &Value::Null;
    match (nesting, planned) {
        (Nesting::Single | Nesting::Group, p) => f(PathStep::Attr(String::new()), config, p),
        (Nesting::List, Value::List(ps) | Value::Tuple(ps)) => {
            let cs = config.elements().unwrap_or(&[]);
            for (i, p) in ps.iter_mut().enumerate() {
                f(PathStep::Index(i as i64), cs.get(i).unwrap_or(NULL), p);
            }
        }
        (Nesting::Set, Value::Set(ps) | Value::List(ps)) => {
            let cs = config.elements().unwrap_or(&[]);
            let mut used = vec![false; cs.len()];
            for (i, p) in ps.iter_mut().enumerate() {
                let j = (0..cs.len()).find(|&j| !used[j] && configured_part_matches(&cs[j], p));
                if let Some(j) = j {
                    used[j] = true;
                }
                f(PathStep::Index(i as i64), j.map_or(NULL, |j| &cs[j]), p);
            }
        }
        (Nesting::Map, Value::Map(ps) | Value::Object(ps)) => {
            for (k, p) in ps.iter_mut() {
                f(PathStep::Key(k.clone()), get(config, k), p);
            }
        }
        _ => {}
    }
}

/// Whether `planned` agrees with `config` wherever the configuration sets a
/// known value.
fn configured_part_matches(config: &Value, planned: &Value) -> bool {
    match (config, planned) {
        (Value::Null | Value::Unknown(_), _) => true,
        (Value::Object(c), Value::Object(p)) => c
            .iter()
            .all(|(k, cv)| configured_part_matches(cv, p.get(k).unwrap_or(&Value::Null))),
        (c, p) => c == p,
    }
}

fn apply_defaults(schema: &Schema, config: &Value, planned: &mut Value) {
    let Some(attrs) = attrs_mut(planned) else {
        return;
    };
    for (name, a) in &schema.attributes {
        let c = get(config, name);
        let Some(p) = attrs.get_mut(name) else {
            continue;
        };
        if c.is_null() {
            if let Some(d) = &a.default {
                *p = d.clone();
            }
        } else if let Some((nesting, inner)) = a.nested_schema() {
            for_each_element(nesting, c, p, |_, c, p| apply_defaults(inner, c, p));
        }
    }
    for (name, b) in &schema.blocks {
        if let Some(p) = attrs.get_mut(name) {
            for_each_element(b.nesting, get(config, name), p, |_, c, p| {
                apply_defaults(&b.schema, c, p)
            });
        }
    }
}

/// Write-only attributes are never in a plan or state.
pub fn null_write_only(schema: &Schema, v: &mut Value) {
    let Some(attrs) = attrs_mut(v) else { return };
    for (name, a) in &schema.attributes {
        let Some(p) = attrs.get_mut(name) else {
            continue;
        };
        if a.write_only {
            *p = Value::Null;
        } else if let Some((nesting, inner)) = a.nested_schema() {
            for_each_element(nesting, &Value::Null, p, |_, _, p| {
                null_write_only(inner, p)
            });
        }
    }
    for (name, b) in &schema.blocks {
        if let Some(p) = attrs.get_mut(name) {
            for_each_element(b.nesting, &Value::Null, p, |_, _, p| {
                null_write_only(&b.schema, p)
            });
        }
    }
}

/// Copy write-only attributes, at any depth, from `config` into `planned`,
/// so create and update see them (Terraform never puts them in a plan).
/// Elements pair as planning pairs them: nested single objects directly,
/// lists by position, maps by key (sets cannot hold write-only attributes).
pub fn copy_write_only(schema: &Schema, config: &Value, planned: &mut Value) {
    let Some(attrs) = attrs_mut(planned) else {
        return;
    };
    for (name, a) in &schema.attributes {
        if a.write_only {
            attrs.insert(name.clone(), get(config, name).clone());
        } else if let Some((nesting, inner)) = a.nested_schema()
            && nesting != Nesting::Set
            && let Some(p) = attrs.get_mut(name)
        {
            for_each_element(nesting, get(config, name), p, |_, c, p| {
                copy_write_only(inner, c, p)
            });
        }
    }
    for (name, b) in &schema.blocks {
        if b.nesting != Nesting::Set
            && let Some(p) = attrs.get_mut(name)
        {
            for_each_element(b.nesting, get(config, name), p, |_, c, p| {
                copy_write_only(&b.schema, c, p)
            });
        }
    }
}

/// The paths of the write-only attributes, at any depth, that `config`
/// sets (known or not), in schema order.
pub fn write_only_paths(schema: &Schema, config: &Value) -> Vec<AttributePath> {
    let mut out = Vec::new();
    collect_write_only(schema, config, &AttributePath::root(), &mut out);
    out
}

fn collect_write_only(
    schema: &Schema,
    v: &Value,
    at: &AttributePath,
    out: &mut Vec<AttributePath>,
) {
    if v.is_null() || matches!(v, Value::Unknown(_)) {
        return;
    }
    for (name, a) in &schema.attributes {
        let c = get(v, name);
        let path = at.join_attr(name.clone());
        if a.write_only {
            if !c.is_null() {
                out.push(path);
            }
        } else if let Some((nesting, inner)) = a.nested_schema() {
            for (step, e) in elements(nesting, c) {
                let p = step.map_or_else(|| path.clone(), |s| path.join(s));
                collect_write_only(inner, e, &p, out);
            }
        }
    }
    for (name, b) in &schema.blocks {
        let path = at.join_attr(name.clone());
        for (step, e) in elements(b.nesting, get(v, name)) {
            let p = step.map_or_else(|| path.clone(), |s| path.join(s));
            collect_write_only(&b.schema, e, &p, out);
        }
    }
}

/// The objects of a nested value with the step to each (none for a single
/// object).
fn elements(nesting: Nesting, v: &Value) -> Vec<(Option<PathStep>, &Value)> {
    match (nesting, v) {
        (Nesting::Single | Nesting::Group, v) => vec![(None, v)],
        (_, Value::List(es) | Value::Set(es) | Value::Tuple(es)) => es
            .iter()
            .enumerate()
            .map(|(i, e)| (Some(PathStep::Index(i as i64)), e))
            .collect(),
        (_, Value::Map(es) | Value::Object(es)) => es
            .iter()
            .map(|(k, e)| (Some(PathStep::Key(k.clone())), e))
            .collect(),
        _ => Vec::new(),
    }
}

fn mark_computed_unknown(schema: &Schema, config: &Value, planned: &mut Value) {
    let Some(attrs) = attrs_mut(planned) else {
        return;
    };
    for (name, a) in &schema.attributes {
        let c = get(config, name);
        let Some(p) = attrs.get_mut(name) else {
            continue;
        };
        if c.is_null() {
            if a.computed && a.default.is_none() {
                *p = Value::unknown();
            }
        } else if let Some((nesting, inner)) = a.nested_schema() {
            if p.is_unknown() {
                continue;
            }

            for_each_element(nesting, c, p, |_, c, p| mark_computed_unknown(inner, c, p));
        }
    }
    for (name, b) in &schema.blocks {
        if let Some(p) = attrs.get_mut(name) {
            for_each_element(b.nesting, get(config, name), p, |_, c, p| {
                mark_computed_unknown(&b.schema, c, p)
            });
        }
    }
}

struct Modify<'a> {
    creating: bool,
    requires_replace: &'a mut Vec<AttributePath>,
    diagnostics: &'a mut Diagnostics,
}

impl Modify<'_> {
    fn block(
        &mut self,
        schema: &Schema,
        path: &AttributePath,
        config: &Value,
        state: &Value,
        planned: &mut Value,
    ) {
        for (name, a) in &schema.attributes {
            let p = path.join_attr(name);
            let (c, s) = (get(config, name), get(state, name));
            let Some(slot) = attrs_mut(planned).and_then(|m| m.get_mut(name)) else {
                continue;
            };
            self.run(&a.plan_modifiers, &p, c, s, slot);
            self.nested(a, &p, c, s, slot);
        }
        for (name, b) in &schema.blocks {
            let p = path.join_attr(name);
            let (c, s) = (get(config, name), get(state, name));
            let Some(slot) = attrs_mut(planned).and_then(|m| m.get_mut(name)) else {
                continue;
            };
            self.run(&b.plan_modifiers, &p, c, s, slot);
            self.elements(b.nesting, &b.schema, &p, c, s, slot);
        }
    }

    fn nested(
        &mut self,
        a: &Attribute,
        path: &AttributePath,
        config: &Value,
        state: &Value,
        planned: &mut Value,
    ) {
        let Some((nesting, inner)) = a.nested_schema() else {
            return;
        };
        self.elements(nesting, inner, path, config, state, planned);
    }

    fn elements(
        &mut self,
        nesting: Nesting,
        schema: &Schema,
        path: &AttributePath,
        config: &Value,
        state: &Value,
        planned: &mut Value,
    ) {
        if planned.is_unknown() || planned.is_null() {
            return;
        }
        let creating = self.creating;
        for_each_element(nesting, config, planned, |step, c, slot| {
            let (p, s) = match &step {
                PathStep::Attr(_) => (path.clone(), state.clone()),
                // Set elements have no stable identity: no prior element.
                PathStep::Index(_) if nesting == Nesting::Set => (path.join(step), Value::Null),
                PathStep::Index(i) => {
                    let s = usize::try_from(*i)
                        .ok()
                        .and_then(|i| state.elements().and_then(|es| es.get(i)));
                    (path.join(step.clone()), s.cloned().unwrap_or(Value::Null))
                }
                PathStep::Key(k) => {
                    let s = get(state, k).clone();
                    (path.join(step), s)
                }
            };
            // A new element of an existing resource is created as a whole.
            self.creating = creating || s.is_null() && nesting != Nesting::Single;
            self.block(schema, &p, c, &s, slot);
            self.creating = creating;
        });
    }

    fn run(
        &mut self,
        modifiers: &[std::sync::Arc<dyn PlanModifier>],
        path: &AttributePath,
        config: &Value,
        state: &Value,
        planned: &mut Value,
    ) {
        if modifiers.is_empty() {
            return;
        }
        let req = ModifyRequest {
            path,
            config,
            state,
            creating: self.creating,
        };
        let mut resp = ModifyResponse {
            plan: planned.clone(),
            requires_replace: false,
            diagnostics: Diagnostics::new(),
        };
        for m in modifiers {
            m.modify(&req, &mut resp);
        }
        *planned = resp.plan;
        if resp.requires_replace {
            self.requires_replace.push(path.clone());
        }
        self.diagnostics.extend(resp.diagnostics);
    }
}

/// Known planned values that the applied state does not keep: Terraform would
/// reject them as "inconsistent result after apply"; we name the attribute.
pub fn inconsistencies(
    planned: &Value,
    applied: &Value,
    path: &AttributePath,
    out: &mut Vec<AttributePath>,
) {
    if planned.is_unknown() {
        return;
    }
    if !planned.contains_unknown() {
        if planned != applied {
            out.push(path.clone());
        }
        return;
    }
    match (planned, applied) {
        (Value::Object(p), Value::Object(a)) | (Value::Map(p), Value::Map(a)) => {
            for (k, pv) in p {
                let step = if matches!(planned, Value::Object(_)) {
                    path.join_attr(k)
                } else {
                    path.join_key(k)
                };
                inconsistencies(pv, a.get(k).unwrap_or(&Value::Null), &step, out);
            }
        }
        (Value::List(p), Value::List(a)) | (Value::Tuple(p), Value::Tuple(a)) => {
            if p.len() != a.len() {
                out.push(path.clone());
                return;
            }
            for (i, (pv, av)) in p.iter().zip(a).enumerate() {
                inconsistencies(pv, av, &path.join_index(i as i64), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Block, modifiers};
    use labforge_cty::Number;

    fn n(i: i64) -> Value {
        Value::Number(Number::from_i64(i))
    }

    fn schema() -> Schema {
        Schema::new("t")
            .attribute(
                "name",
                Attribute::string()
                    .required()
                    .plan_modifier(modifiers::requires_replace()),
            )
            .attribute("ttl", Attribute::int().default(3600))
            .attribute(
                "id",
                Attribute::string()
                    .computed()
                    .plan_modifier(modifiers::use_state_for_unknown()),
            )
            .attribute("updated", Attribute::string().computed())
            .attribute("secret", Attribute::string().optional().write_only())
            .block(
                "disk",
                Block::map(
                    Schema::new("d")
                        .attribute("size", Attribute::int().required())
                        .attribute("serial", Attribute::string().computed()),
                ),
            )
    }

    fn obj(name: &str, ttl: Value, id: Value, updated: Value, secret: Value) -> Value {
        Value::object([
            ("name", Value::string(name)),
            ("ttl", ttl),
            ("id", id),
            ("updated", updated),
            ("secret", secret),
            ("disk", Value::Map(BTreeMap::new())),
        ])
    }

    #[test]
    fn create_applies_defaults_and_marks_computed_unknown() {
        let config = obj(
            "a",
            Value::Null,
            Value::Null,
            Value::Null,
            Value::string("pw"),
        );
        let p = plan(&schema(), &Value::Null, &config, &config);
        assert_eq!(p.state.get("ttl"), Some(&n(3600)));
        assert!(p.state.get("id").unwrap().is_unknown());
        assert!(p.state.get("updated").unwrap().is_unknown());
        assert_eq!(p.state.get("secret"), Some(&Value::Null));
        assert!(p.requires_replace.is_empty());
    }

    #[test]
    fn no_change_is_a_noop() {
        let state = obj(
            "a",
            n(3600),
            Value::string("1"),
            Value::string("t0"),
            Value::Null,
        );
        let config = obj(
            "a",
            Value::Null,
            Value::Null,
            Value::Null,
            Value::string("pw"),
        );
        // Terraform's proposed new state: config, with prior values for computed attributes.
        let proposed = obj(
            "a",
            n(3600),
            Value::string("1"),
            Value::string("t0"),
            Value::string("pw"),
        );
        let p = plan(&schema(), &state, &proposed, &config);
        assert_eq!(p.state, state);
    }

    #[test]
    fn update_keeps_id_and_forces_replacement_on_name() {
        let state = obj(
            "a",
            n(3600),
            Value::string("1"),
            Value::string("t0"),
            Value::Null,
        );
        let config = obj("b", n(60), Value::Null, Value::Null, Value::Null);
        let proposed = obj(
            "b",
            n(60),
            Value::string("1"),
            Value::string("t0"),
            Value::Null,
        );
        let p = plan(&schema(), &state, &proposed, &config);
        assert_eq!(p.state.get("id"), Some(&Value::string("1")));
        assert!(p.state.get("updated").unwrap().is_unknown());
        assert_eq!(p.requires_replace, vec![AttributePath::attr("name")]);
    }

    #[test]
    fn nested_block_computed_attributes() {
        let disk = |size, serial| {
            Value::Map(BTreeMap::from([(
                "scsi0".to_string(),
                Value::object([("size", n(size)), ("serial", serial)]),
            )]))
        };
        let mut config = obj("a", Value::Null, Value::Null, Value::Null, Value::Null);
        if let Value::Object(m) = &mut config {
            m.insert("disk".into(), disk(8, Value::Null));
        }
        let p = plan(&schema(), &Value::Null, &config, &config);
        let serial = p
            .state
            .get("disk")
            .unwrap()
            .get("scsi0")
            .unwrap()
            .get("serial")
            .unwrap();
        assert!(serial.is_unknown());
    }

    #[test]
    fn set_elements_pair_with_their_configuration_not_their_position() {
        let schema = Schema::new("t").block(
            "rule",
            Block::set(
                Schema::new("r")
                    .attribute("port", Attribute::int().required())
                    .attribute("proto", Attribute::string().default("tcp"))
                    .attribute("id", Attribute::string().computed()),
            ),
        );
        let rule = |port, proto: Value, id: Value| {
            Value::object([("port", n(port)), ("proto", proto), ("id", id)])
        };
        let config = Value::object([(
            "rule",
            Value::Set(vec![
                rule(80, Value::Null, Value::Null),
                rule(53, Value::string("udp"), Value::Null),
            ]),
        )]);
        // Terraform's proposed set may list the elements in another order.
        let proposed = Value::object([(
            "rule",
            Value::Set(vec![
                rule(53, Value::string("udp"), Value::Null),
                rule(80, Value::Null, Value::Null),
            ]),
        )]);
        let p = plan(&schema, &Value::Null, &proposed, &config);
        let expect = Value::Set(vec![
            rule(53, Value::string("udp"), Value::unknown()),
            rule(80, Value::string("tcp"), Value::unknown()),
        ]);
        assert_eq!(p.state.get("rule"), Some(&expect));
    }

    #[test]
    fn unknown_config_forces_replacement_of_a_requires_replace_attribute() {
        let state = obj(
            "a",
            n(3600),
            Value::string("1"),
            Value::string("t0"),
            Value::Null,
        );
        let config = obj("a", Value::Null, Value::Null, Value::Null, Value::Null);
        let mut config = config;
        let mut proposed = obj(
            "a",
            n(3600),
            Value::string("1"),
            Value::string("t0"),
            Value::Null,
        );
        for v in [&mut config, &mut proposed] {
            if let Value::Object(m) = v {
                m.insert("name".into(), Value::unknown());
            }
        }
        let p = plan(&schema(), &state, &proposed, &config);
        assert_eq!(p.requires_replace, vec![AttributePath::attr("name")]);
    }

    #[test]
    fn inconsistency_names_the_attribute() {
        let planned = Value::object([("a", Value::string("x")), ("b", Value::unknown())]);
        let applied = Value::object([("a", Value::string("X")), ("b", Value::string("y"))]);
        let mut out = Vec::new();
        inconsistencies(&planned, &applied, &AttributePath::root(), &mut out);
        assert_eq!(out, vec![AttributePath::attr("a")]);
    }

    /// A resource with write-only attributes in a single block, a list
    /// block and a list nested attribute.
    fn nested_wo_schema() -> Schema {
        let inner = || {
            Schema::new("")
                .attribute("user", Attribute::string().optional())
                .attribute(
                    "pw",
                    Attribute::string().optional().sensitive().write_only(),
                )
        };
        Schema::new("t")
            .attribute("name", Attribute::string().required())
            .block("init", Block::single(inner()))
            .block("users", Block::list(inner()))
            .attribute(
                "keys",
                Attribute::nested(
                    Nesting::Map,
                    [("secret", Attribute::string().optional().write_only())],
                )
                .optional(),
            )
    }

    fn nested_wo_config(pw: Value) -> Value {
        let entry =
            |user: &str, pw: Value| Value::object([("user", Value::string(user)), ("pw", pw)]);
        Value::object([
            ("name", Value::string("a")),
            ("init", entry("ops", pw.clone())),
            (
                "users",
                Value::List(vec![entry("u0", Value::Null), entry("u1", pw.clone())]),
            ),
            (
                "keys",
                Value::Map(BTreeMap::from([(
                    "k".to_string(),
                    Value::object([("secret", pw)]),
                )])),
            ),
        ])
    }

    /// Planning nulls nested write-only values; apply gets them back from
    /// configuration at the same positions, and nowhere else.
    #[test]
    fn nested_write_only_values_are_planned_null_and_copied_back_for_apply() {
        let schema = nested_wo_schema();
        let config = nested_wo_config(Value::string("s3cret"));
        let planned = plan(&schema, &Value::Null, &config, &config).state;
        assert_eq!(planned, nested_wo_config(Value::Null));
        let mut input = planned.clone();
        copy_write_only(&schema, &config, &mut input);
        assert_eq!(input, config);
        // The first user's null stays null; a block absent from the plan stays absent.
        let users = input.get("users").and_then(Value::elements).unwrap();
        assert_eq!(users[0].get("pw"), Some(&Value::Null));
        let mut no_init = with_attr(&planned, "init", Value::Null);
        copy_write_only(&schema, &config, &mut no_init);
        assert_eq!(no_init.get("init"), Some(&Value::Null));
    }

    /// The write-only attributes a configuration sets, with their paths
    /// (what a Terraform older than 1.11 is refused for).
    #[test]
    fn write_only_paths_name_each_nested_value_set() {
        let schema = nested_wo_schema();
        let config = nested_wo_config(Value::string("s3cret"));
        let paths: Vec<String> = write_only_paths(&schema, &config)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            paths,
            [r#"keys["k"].secret"#, "init.pw", "users[1].pw"],
            "in schema order: attributes, then blocks"
        );
        assert!(write_only_paths(&schema, &nested_wo_config(Value::Null)).is_empty());
        let unknown = nested_wo_config(Value::unknown());
        assert_eq!(
            write_only_paths(&schema, &unknown).len(),
            3,
            "unknown counts as set"
        );
    }

    fn with_attr(v: &Value, k: &str, x: Value) -> Value {
        let mut v = v.clone();
        if let Value::Object(m) = &mut v {
            m.insert(k.to_string(), x);
        }
        v
    }
}
