//! Types the cty fuzz targets decode against (the seed writer,
//! `cargo run -p labforge-cty --example fuzz_seeds`, writes valid encodings
//! of values of these types and of every kind of dynamic value).

use labforge_cty::Type;

pub fn types() -> Vec<Type> {
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
