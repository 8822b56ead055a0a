//! Writes the seed corpus of the cty fuzz targets (`fuzz/`): valid msgpack
//! and state JSON encodings of values of every type, dynamic values (`[type
//! JSON, value]`, `{"value":...,"type":...}`) of every type included, refined
//! unknowns, and type JSON. Deterministic: a file's name is its content's
//! hash, so running it again changes nothing.
//!
//! `cargo run -p labforge-cty --example fuzz_seeds -- fuzz/corpus`

use std::path::Path;

use labforge_cty::{Number, Refinements, Type, Value, json, msgpack};

fn num(s: &str) -> Value {
    Value::Number(Number::parse(s).unwrap_or_else(|| panic!("bad number {s}")))
}

/// A concrete type of every kind, each with a few values of it.
fn samples() -> Vec<(Type, Vec<Value>)> {
    let obj = Type::object([("a", Type::String), ("b", Type::Number)]);
    vec![
        (Type::Bool, vec![Value::Bool(true), Value::Bool(false)]),
        (
            Type::Number,
            vec![
                num("0"),
                num("-17"),
                num("3.25"),
                num("1e30"),
                num("18446744073709551616"),
                num("0.1"),
                Value::Unknown(Refinements {
                    nullable: Some(false),
                    number_lower: Some((Number::from_i64(0), true)),
                    number_upper: Some((Number::from_i64(10), false)),
                    ..Refinements::default()
                }),
            ],
        ),
        (
            Type::String,
            vec![
                Value::from(""),
                Value::from("hello"),
                Value::from("é\"\\\n"),
                Value::Unknown(Refinements {
                    nullable: Some(false),
                    string_prefix: Some("https://".into()),
                    ..Refinements::default()
                }),
            ],
        ),
        (
            Type::list(Type::String),
            vec![
                Value::list([Value::from("x"), Value::from("y")]),
                Value::List(vec![]),
                Value::Unknown(Refinements {
                    length_lower: Some(1),
                    length_upper: Some(3),
                    ..Refinements::default()
                }),
            ],
        ),
        (
            Type::set(Type::Number),
            vec![Value::Set(vec![num("1"), num("2")])],
        ),
        (
            Type::map(Type::Bool),
            vec![Value::Map(
                [("k".to_string(), Value::Bool(true))].into_iter().collect(),
            )],
        ),
        (
            obj.clone(),
            vec![Value::object([("a", Value::from("s")), ("b", num("2"))])],
        ),
        (
            Type::Tuple(vec![Type::String, Type::Bool]),
            vec![Value::Tuple(vec![Value::from("t"), Value::Bool(false)])],
        ),
        (
            Type::list(obj),
            vec![Value::list([Value::object([
                ("a", Value::Null),
                ("b", Value::unknown()),
            ])])],
        ),
    ]
}

/// The slot types the fuzz targets decode against (fuzz/fuzz_targets/common.rs).
fn slots() -> Vec<Type> {
    vec![
        Type::object([("input", Type::String), ("output", Type::String)]),
        Type::Dynamic,
        Type::list(Type::object([
            ("n", Type::Number),
            ("tags", Type::set(Type::String)),
            ("flags", Type::map(Type::Bool)),
            ("any", Type::Dynamic),
        ])),
        Type::Tuple(vec![
            Type::Number,
            Type::list(Type::Dynamic),
            Type::set(Type::Number),
        ]),
        Type::map(Type::list(Type::String)),
        Type::list(Type::Number),
        Type::String,
        Type::set(Type::String),
        Type::Number,
    ]
}

/// FNV-1a: a content hash that no toolchain update changes.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn write(dir: &Path, bytes: &[u8]) {
    let path = dir.join(format!("seed-{:016x}", fnv1a(bytes)));
    if let Err(e) = std::fs::write(&path, bytes) {
        panic!("cannot write {}: {e}", path.display());
    }
}

fn main() {
    let root = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fuzz/corpus".into());
    let root = Path::new(&root);
    let msgpack_dirs = [root.join("decode_msgpack"), root.join("round_trip")];
    let json_dir = root.join("decode_json");
    for d in msgpack_dirs.iter().chain([&json_dir]) {
        if let Err(e) = std::fs::create_dir_all(d) {
            panic!("cannot create {}: {e}", d.display());
        }
    }
    let mut count = 0;
    let mut emit = |v: &Value, ty: &Type| {
        if let Ok(b) = msgpack::encode(v, ty) {
            // Only what decodes is a useful seed.
            if msgpack::decode(&b, ty).is_ok() {
                for d in &msgpack_dirs {
                    write(d, &b);
                }
                count += 1;
            }
        }
        if !v.contains_unknown()
            && let Ok(j) = json::encode(v, ty)
        {
            write(&json_dir, &j);
            count += 1;
        }
    };
    for (ty, values) in samples() {
        write(&json_dir, &json::encode_type(&ty));
        for v in &values {
            // As itself, and as a complete dynamic value of its type.
            emit(v, &ty);
            let dynamic = Value::Dynamic(ty.clone(), Box::new(v.clone()));
            emit(&dynamic, &Type::Dynamic);
            // Inside the slot types that hold a dynamic somewhere.
            let [_, _, list_obj, tuple, ..] = &slots()[..] else {
                unreachable!()
            };
            emit(
                &Value::list([Value::object([
                    ("n", num("1")),
                    ("tags", Value::Set(vec![Value::from("a")])),
                    ("flags", Value::Map(Default::default())),
                    ("any", dynamic.clone()),
                ])]),
                list_obj,
            );
            emit(
                &Value::Tuple(vec![
                    num("5"),
                    Value::list([dynamic.clone(), Value::Null]),
                    Value::Set(vec![num("7")]),
                ]),
                tuple,
            );
        }
        // Null and unknown of a type, in a dynamic slot.
        emit(
            &Value::Dynamic(ty.clone(), Box::new(Value::Null)),
            &Type::Dynamic,
        );
        emit(
            &Value::Dynamic(ty.clone(), Box::new(Value::unknown())),
            &Type::Dynamic,
        );
    }
    // A dynamic inside a dynamic.
    let inner = Value::Dynamic(Type::String, Box::new(Value::from("deep")));
    emit(
        &Value::Dynamic(Type::Dynamic, Box::new(inner)),
        &Type::Dynamic,
    );
    // Every slot type's own values.
    for slot in slots() {
        write(&json_dir, &json::encode_type(&slot));
        emit(&Value::Null, &slot);
        emit(&Value::unknown(), &slot);
    }
    emit(
        &Value::object([("input", Value::from("hi")), ("output", Value::Null)]),
        &slots()[0],
    );
    emit(
        &Value::Map(
            [("k".to_string(), Value::list([Value::from("v")]))]
                .into_iter()
                .collect(),
        ),
        &slots()[4],
    );
    eprintln!("{count} seeds written under {}", root.display());
}
