//! Conversion between tfplugin6 messages and framework types: values
//! (`DynamicValue`), private state, diagnostics, attribute paths, schemas
//! and function signatures. No RPC logic here (see [`crate::server`]).

use labforge_cty::{AttributePath, PathStep, Type, Value};
use labforge_proto::tfplugin6 as pb;

use crate::diag::{Diagnostic, Diagnostics, Severity};
use crate::resource::{FunctionDefinition, Parameter};
use crate::schema::{Attribute, Block, Nesting, Schema};
use crate::server::{Private, Schemas};

// ---------------------------------------------------------------- values

/// A value Terraform sent, msgpack or JSON; absent or empty is null.
pub(crate) fn decode(dv: Option<&pb::DynamicValue>, ty: &Type) -> Result<Value, Diagnostics> {
    let Some(dv) = dv else { return Ok(Value::Null) };
    let r = if !dv.msgpack.is_empty() {
        labforge_cty::msgpack::decode(&dv.msgpack, ty)
    } else if !dv.json.is_empty() {
        labforge_cty::json::decode(&dv.json, ty)
    } else {
        Ok(Value::Null)
    };
    r.map_err(|e| Diagnostic::error("Invalid value from Terraform", e.to_string()).into())
}

/// A value for Terraform, msgpack-encoded (it may hold unknowns).
pub(crate) fn encode(v: &Value, ty: &Type) -> Result<pb::DynamicValue, Diagnostics> {
    labforge_cty::msgpack::encode(v, ty)
        .map(|msgpack| pb::DynamicValue {
            msgpack,
            json: Vec::new(),
        })
        .map_err(invalid_value)
}

/// A wholly known value for Terraform, JSON-encoded.
///
/// ReadResource answers this way. Terraform 1.10 to 1.14 call a refresh-only
/// plan "changed" when the refreshed state is not `reflect.DeepEqual` to the
/// state read from the state file (hashicorp/terraform#36403, #37406; 1.15
/// compares the saved form instead). Terraform reads numbers from msgpack
/// with the precision of their encoding (`cty.NumberIntVal`: 64 bits) but
/// from JSON, like the state file, with `cty.ParseNumberVal` (512 bits): the
/// same number from msgpack is not DeepEqual to the one from the state file,
/// and `plan -refresh-only -detailed-exitcode` would exit 2 on every
/// resource with a number. From JSON it is the same value as the state
/// file's.
pub(crate) fn encode_json(v: &Value, ty: &Type) -> Result<pb::DynamicValue, Diagnostics> {
    labforge_cty::json::encode(v, ty)
        .map(|json| pb::DynamicValue {
            msgpack: Vec::new(),
            json,
        })
        .map_err(invalid_value)
}

fn invalid_value(e: labforge_cty::Error) -> Diagnostics {
    Diagnostic::error("Provider produced an invalid value", e.to_string()).into()
}

/// Private state as Terraform keeps it: JSON, empty for none. Bytes that are
/// not a JSON object read as none.
pub(crate) fn decode_private(bytes: &[u8]) -> Private {
    if bytes.is_empty() {
        return Private::new();
    }
    serde_json::from_slice(bytes).unwrap_or_default()
}

/// Private state as bytes for Terraform (empty when there is none).
pub(crate) fn encode_private(p: &Private) -> Vec<u8> {
    if p.is_empty() {
        Vec::new()
    } else {
        serde_json::to_vec(p).unwrap_or_default()
    }
}

/// A time as a protobuf timestamp (times before 1970 become 1970).
pub(crate) fn timestamp(t: std::time::SystemTime) -> prost_types::Timestamp {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    prost_types::Timestamp {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    }
}

// ---------------------------------------------------------------- diagnostics

pub(crate) fn path_proto(p: &AttributePath) -> pb::AttributePath {
    use pb::attribute_path::{Step, step::Selector};
    pb::AttributePath {
        steps: p
            .steps
            .iter()
            .map(|s| Step {
                selector: Some(match s {
                    PathStep::Attr(a) => Selector::AttributeName(a.clone()),
                    PathStep::Key(k) => Selector::ElementKeyString(k.clone()),
                    PathStep::Index(i) => Selector::ElementKeyInt(*i),
                }),
            })
            .collect(),
    }
}

/// Diagnostics for Terraform; a diagnostic at the root has no path (so
/// Terraform points at the whole block).
pub(crate) fn diags_proto(d: &Diagnostics) -> Vec<pb::Diagnostic> {
    d.iter()
        .map(|d| pb::Diagnostic {
            severity: match d.severity {
                Severity::Error => pb::diagnostic::Severity::Error as i32,
                Severity::Warning => pb::diagnostic::Severity::Warning as i32,
            },
            summary: d.summary.clone(),
            detail: d.detail.clone(),
            attribute: d
                .attribute
                .as_ref()
                .filter(|p| !p.is_root())
                .map(path_proto),
        })
        .collect()
}

/// The details of diagnostics as one line (a function error has no summary).
pub(crate) fn details(d: &Diagnostics) -> String {
    d.iter()
        .map(|d| d.detail.clone())
        .collect::<Vec<_>>()
        .join("; ")
}

// ---------------------------------------------------------------- schema

fn nesting_block(n: Nesting) -> i32 {
    use pb::schema::nested_block::NestingMode as M;
    (match n {
        Nesting::Single => M::Single,
        Nesting::List => M::List,
        Nesting::Set => M::Set,
        Nesting::Map => M::Map,
        Nesting::Group => M::Group,
    }) as i32
}

fn nesting_object(n: Nesting) -> i32 {
    use pb::schema::object::NestingMode as M;
    (match n {
        Nesting::Single | Nesting::Group => M::Single,
        Nesting::List => M::List,
        Nesting::Set => M::Set,
        Nesting::Map => M::Map,
    }) as i32
}

fn attribute_proto(name: &str, a: &Attribute) -> pb::schema::Attribute {
    let (ty, nested) = match a.nested_schema() {
        Some((nesting, inner)) => (
            Vec::new(),
            Some(pb::schema::Object {
                attributes: inner
                    .attributes
                    .iter()
                    .map(|(n, a)| attribute_proto(n, a))
                    .collect(),
                nesting: nesting_object(nesting),
                ..Default::default()
            }),
        ),
        None => (labforge_cty::json::encode_type(&a.value_type()), None),
    };
    pb::schema::Attribute {
        name: name.to_string(),
        r#type: ty,
        nested_type: nested,
        description: a.description.clone(),
        description_kind: pb::StringKind::Markdown as i32,
        required: a.required,
        optional: a.optional,
        computed: a.computed,
        sensitive: a.sensitive,
        write_only: a.write_only,
        deprecated: a.deprecation.is_some(),
        deprecation_message: a.deprecation.clone().unwrap_or_default(),
    }
}

fn block_proto(s: &Schema) -> pb::schema::Block {
    pb::schema::Block {
        version: s.version,
        attributes: s
            .attributes
            .iter()
            .map(|(n, a)| attribute_proto(n, a))
            .collect(),
        block_types: s
            .blocks
            .iter()
            .map(|(n, b): (&String, &Block)| pb::schema::NestedBlock {
                type_name: n.clone(),
                block: Some(pb::schema::Block {
                    description: b.description.clone(),
                    deprecated: b.deprecation.is_some(),
                    deprecation_message: b.deprecation.clone().unwrap_or_default(),
                    ..block_proto(&b.schema)
                }),
                nesting: nesting_block(b.nesting),
                min_items: b.min_items,
                max_items: b.max_items,
            })
            .collect(),
        description: s.description.clone(),
        description_kind: pb::StringKind::Markdown as i32,
        deprecated: s.deprecation.is_some(),
        deprecation_message: s.deprecation.clone().unwrap_or_default(),
    }
}

/// A schema as Terraform's protocol carries it.
pub fn schema_proto(s: &Schema) -> pb::Schema {
    pb::Schema {
        version: s.version,
        block: Some(block_proto(s)),
    }
}

pub(crate) fn function_proto(f: &FunctionDefinition) -> pb::Function {
    let param = |p: &Parameter| pb::function::Parameter {
        name: p.name.clone(),
        r#type: labforge_cty::json::encode_type(&p.ty),
        allow_null_value: p.allow_null,
        allow_unknown_values: p.allow_unknown,
        description: p.description.clone(),
        description_kind: pb::StringKind::Markdown as i32,
    };
    pb::Function {
        parameters: f.parameters.iter().map(param).collect(),
        variadic_parameter: f.variadic.as_ref().map(param),
        r#return: Some(pb::function::Return {
            r#type: labforge_cty::json::encode_type(&f.returns),
        }),
        summary: f.summary.clone(),
        description: f.description.clone(),
        description_kind: pb::StringKind::Markdown as i32,
        deprecation_message: String::new(),
    }
}

/// The GetProviderSchema answer, with the protocol features this server has.
pub(crate) fn schema_response(s: &Schemas<'_>) -> pb::get_provider_schema::Response {
    let schemas = |items: &[(String, &Schema)]| {
        items
            .iter()
            .map(|(n, x)| (n.clone(), schema_proto(x)))
            .collect()
    };
    pb::get_provider_schema::Response {
        provider: Some(schema_proto(s.provider)),
        resource_schemas: schemas(&s.resources),
        data_source_schemas: schemas(&s.data_sources),
        ephemeral_resource_schemas: schemas(&s.ephemeral_resources),
        functions: s
            .functions
            .iter()
            .map(|(n, f)| (n.clone(), function_proto(f)))
            .collect(),
        diagnostics: diags_proto(&s.diagnostics),
        server_capabilities: Some(pb::ServerCapabilities {
            plan_destroy: true,
            get_provider_schema_optional: true,
            move_resource_state: true,
            generate_resource_config: false,
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use labforge_cty::Number;

    use super::*;
    use crate::schema::validators;

    fn ty() -> Type {
        Type::object([
            ("n", Type::Number),
            ("s", Type::String),
            ("l", Type::set(Type::Number)),
            ("d", Type::Dynamic),
        ])
    }

    fn value() -> Value {
        let num = |s: &str| Value::Number(Number::parse(s).unwrap());
        Value::object([
            ("n", num("123456789012345678901234567890.0123456789")),
            ("s", Value::string("x")),
            ("l", Value::Set(vec![num("42"), num("0.1"), num("-1e40")])),
            ("d", Value::Dynamic(Type::Bool, Box::new(Value::Bool(true)))),
        ])
    }

    #[test]
    fn values_round_trip_through_msgpack_and_json() {
        let v = value();
        let m = encode(&v, &ty()).unwrap();
        assert!(m.json.is_empty() && !m.msgpack.is_empty());
        assert_eq!(decode(Some(&m), &ty()).unwrap(), v);
        let j = encode_json(&v, &ty()).unwrap();
        assert!(j.msgpack.is_empty() && !j.json.is_empty());
        assert_eq!(decode(Some(&j), &ty()).unwrap(), v);
        // Exact decimals in the JSON, as the state file has them.
        let text = String::from_utf8(j.json).unwrap();
        assert!(
            text.contains("123456789012345678901234567890.0123456789"),
            "{text}"
        );
        // Null: the JSON null Terraform reads as a null object (a removed resource).
        let null = encode_json(&Value::Null, &ty()).unwrap();
        assert_eq!(null.json, b"null");
        assert_eq!(decode(Some(&null), &ty()).unwrap(), Value::Null);
    }

    #[test]
    fn absent_or_empty_values_are_null_and_bad_ones_are_errors() {
        assert_eq!(decode(None, &ty()).unwrap(), Value::Null);
        assert_eq!(
            decode(Some(&pb::DynamicValue::default()), &ty()).unwrap(),
            Value::Null
        );
        let bad = pb::DynamicValue {
            msgpack: vec![0xc1],
            json: Vec::new(),
        };
        let d = decode(Some(&bad), &ty()).unwrap_err();
        assert_eq!(d.0[0].summary, "Invalid value from Terraform");
        // Unknowns go in msgpack only.
        let unknown = Value::object([("s", Value::unknown())]);
        assert!(encode(&unknown, &ty()).is_ok());
        let d = encode_json(&unknown, &ty()).unwrap_err();
        assert_eq!(d.0[0].summary, "Provider produced an invalid value");
    }

    #[test]
    fn private_state_round_trips_and_bad_bytes_read_as_none() {
        let p: Private = [
            ("a".to_string(), serde_json::json!(1)),
            ("b".to_string(), serde_json::json!({"x": [true]})),
        ]
        .into_iter()
        .collect();
        let bytes = encode_private(&p);
        assert_eq!(decode_private(&bytes), p);
        assert_eq!(
            encode_private(&decode_private(&bytes)),
            bytes,
            "stable bytes"
        );
        assert!(encode_private(&Private::new()).is_empty());
        assert!(decode_private(b"").is_empty());
        assert!(decode_private(b"not json").is_empty());
    }

    #[test]
    fn paths_and_diagnostics() {
        use pb::attribute_path::step::Selector;
        let p = AttributePath::attr("a").join_key("k").join_index(2);
        let steps: Vec<_> = path_proto(&p)
            .steps
            .into_iter()
            .map(|s| s.selector)
            .collect();
        assert_eq!(
            steps,
            [
                Some(Selector::AttributeName("a".into())),
                Some(Selector::ElementKeyString("k".into())),
                Some(Selector::ElementKeyInt(2)),
            ]
        );
        let mut d = Diagnostics::new();
        d.attribute_error(p.clone(), "Bad", "detail one");
        d.warning("Careful", "detail two");
        d.push(Diagnostic::error("Root", "detail three").at(AttributePath::root()));
        let out = diags_proto(&d);
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].severity, pb::diagnostic::Severity::Error as i32);
        assert_eq!(out[0].attribute, Some(path_proto(&p)));
        assert_eq!(out[1].severity, pb::diagnostic::Severity::Warning as i32);
        assert_eq!(
            (out[1].summary.as_str(), out[1].detail.as_str()),
            ("Careful", "detail two")
        );
        assert_eq!(out[2].attribute, None, "the root is no path");
        assert_eq!(details(&d), "detail one; detail two; detail three");
    }

    #[test]
    fn timestamps() {
        let t = SystemTime::UNIX_EPOCH + Duration::new(5, 7);
        let ts = timestamp(t);
        assert_eq!((ts.seconds, ts.nanos), (5, 7));
        let before = timestamp(SystemTime::UNIX_EPOCH - Duration::from_secs(1));
        assert_eq!((before.seconds, before.nanos), (0, 0));
    }

    #[test]
    fn schemas_carry_types_nesting_and_flags() {
        let s = Schema::new("Top.")
            .version(3)
            .attribute(
                "name",
                Attribute::string()
                    .required()
                    .describe("The name.")
                    .validator(validators::length_between(1, 3)),
            )
            .attribute(
                "pw",
                Attribute::string().optional().sensitive().write_only(),
            )
            .attribute("old", Attribute::int().optional().deprecated("Use name."))
            .attribute(
                "items",
                Attribute::nested(Nesting::Group, [("x", Attribute::bool().computed())]).optional(),
            )
            .block(
                "rule",
                Block::list(Schema::new("A rule.").attribute("port", Attribute::int().required()))
                    .items(1, 2),
            )
            .block("opts", Block::new(Nesting::Group, Schema::new("Options.")));
        let p = schema_proto(&s);
        assert_eq!(p.version, 3);
        let b = p.block.unwrap();
        assert_eq!(b.description, "Top.");
        let attr = |n: &str| b.attributes.iter().find(|a| a.name == n).unwrap();
        assert_eq!(attr("name").r#type, br#""string""#);
        assert!(attr("name").required && !attr("name").optional);
        assert_eq!(attr("name").description, "The name.");
        assert!(attr("pw").sensitive && attr("pw").write_only);
        assert!(attr("old").deprecated);
        assert_eq!(attr("old").deprecation_message, "Use name.");
        let items = attr("items");
        assert!(items.r#type.is_empty(), "a nested attribute has no type");
        let nested = items.nested_type.as_ref().unwrap();
        assert_eq!(
            nested.nesting,
            pb::schema::object::NestingMode::Single as i32,
            "a group is a single object"
        );
        assert_eq!(nested.attributes[0].name, "x");
        let rule = b
            .block_types
            .iter()
            .find(|t| t.type_name == "rule")
            .unwrap();
        assert_eq!(
            rule.nesting,
            pb::schema::nested_block::NestingMode::List as i32
        );
        assert_eq!((rule.min_items, rule.max_items), (1, 2));
        assert_eq!(rule.block.as_ref().unwrap().description, "A rule.");
        let opts = b
            .block_types
            .iter()
            .find(|t| t.type_name == "opts")
            .unwrap();
        assert_eq!(
            opts.nesting,
            pb::schema::nested_block::NestingMode::Group as i32
        );
    }

    #[test]
    fn functions_and_the_schema_response() {
        let f = FunctionDefinition {
            summary: "Join.".into(),
            description: "Joins.".into(),
            parameters: vec![Parameter::new("sep", Type::String, "Separator.")],
            variadic: Some(Parameter::new("parts", Type::list(Type::String), "Parts.")),
            returns: Type::String,
        };
        let p = function_proto(&f);
        assert_eq!(p.parameters[0].name, "sep");
        assert_eq!(p.parameters[0].r#type, br#""string""#);
        assert_eq!(
            p.variadic_parameter.unwrap().r#type,
            br#"["list","string"]"#
        );
        assert_eq!(p.r#return.unwrap().r#type, br#""string""#);
        assert_eq!(p.summary, "Join.");

        let provider = Schema::new("P.");
        let thing = Schema::new("T.").version(2);
        let mut diagnostics = Diagnostics::new();
        diagnostics.error("Invalid provider schema", "oops");
        let r = schema_response(&Schemas {
            provider: &provider,
            resources: vec![("p_thing".into(), &thing)],
            data_sources: vec![("p_data".into(), &thing)],
            ephemeral_resources: vec![],
            functions: vec![("join".into(), f)],
            diagnostics,
        });
        assert_eq!(r.resource_schemas["p_thing"].version, 2);
        assert!(r.data_source_schemas.contains_key("p_data"));
        assert!(r.functions.contains_key("join"));
        assert_eq!(r.diagnostics[0].detail, "oops");
        let caps = r.server_capabilities.unwrap();
        assert!(caps.plan_destroy && caps.get_provider_schema_optional && caps.move_resource_state);
        assert!(!caps.generate_resource_config);
    }
}
