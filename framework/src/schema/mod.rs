//! Schemas as data: attributes, nested attributes and blocks, with their plan
//! modifiers, validators and defaults declared beside them (and rendered into
//! the docs from the same place).
//!
//! ```
//! use labforge_framework::schema::{Attribute, Schema, modifiers, validators};
//!
//! let schema = Schema::new("A DNS zone.")
//!     .attribute("name", Attribute::string().required()
//!         .describe("Zone name, e.g. `lab.example.net`.")
//!         .plan_modifier(modifiers::requires_replace())
//!         .validator(validators::length_between(1, 253)))
//!     .attribute("id", Attribute::string().computed()
//!         .plan_modifier(modifiers::use_state_for_unknown()));
//! assert!(schema.attributes["name"].required);
//! ```

pub mod modifiers;
mod validate;
pub mod validators;

use std::collections::BTreeMap;
use std::sync::Arc;

use labforge_cty::{Type, Value};

pub use modifiers::PlanModifier;
pub use validate::validate_config;
pub use validators::Validator;

/// The schema of a resource, data source, ephemeral resource or provider:
/// a block with attributes and nested blocks.
#[derive(Clone, Default)]
pub struct Schema {
    /// Bump when the state layout changes; add a state upgrader for the old version.
    pub version: i64,
    /// Markdown, shown in the docs and by language servers.
    pub description: String,
    /// `Some(message)` marks the whole resource (or block) deprecated;
    /// Terraform shows the message when it is used.
    pub deprecation: Option<String>,
    /// Attributes by name.
    pub attributes: BTreeMap<String, Attribute>,
    /// Nested blocks by name (`name { ... }` in configuration).
    pub blocks: BTreeMap<String, Block>,
}

/// How a nested block or nested attribute repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nesting {
    /// At most one; null when absent.
    Single,
    /// Any number, in order.
    List,
    /// Any number, unordered, no duplicates.
    Set,
    /// Keyed by a string label (`name "key" { ... }` for blocks).
    Map,
    /// A single block that is never null (absent means all attributes null).
    /// For nested attributes it is sent as `Single`.
    Group,
}

/// What an attribute holds: a plain type, or nested attributes (protocol 6).
#[derive(Clone)]
pub enum AttributeType {
    /// A value of this cty type.
    Plain(Type),
    /// Objects with these attributes (the schema holds attributes only).
    Nested {
        /// How the objects repeat.
        nesting: Nesting,
        /// The attributes of each object (its blocks are ignored).
        schema: Box<Schema>,
    },
}

/// One attribute.
#[derive(Clone)]
pub struct Attribute {
    /// What the attribute holds.
    pub ty: AttributeType,
    /// Markdown, shown in the docs and by language servers.
    pub description: String,
    /// Configuration must set it. Excludes `optional` and `computed`.
    pub required: bool,
    /// Configuration may set it.
    pub optional: bool,
    /// The provider may set it (with `optional`: when configuration does not).
    pub computed: bool,
    /// Terraform hides the value in plan and apply output (it is still stored
    /// in state).
    pub sensitive: bool,
    /// In configuration only, never in plan or state (Terraform 1.11+); not
    /// computed, not defaulted, and not inside a set (Terraform's
    /// `configschema` `internalValidate`: marks within a set are hoisted to
    /// the set, so only a whole set can be write-only).
    pub write_only: bool,
    /// `Some(message)`: Terraform warns with the message when configuration
    /// sets the attribute.
    pub deprecation: Option<String>,
    /// Value planned when the configuration leaves the attribute null
    /// (the attribute must be computed).
    pub default: Option<Value>,
    /// What to fill in after an import, for a value the API never gives
    /// back (a secret, a source URL): `homelab-discover tidy` writes it as a
    /// `# TODO` where the generated configuration leaves the attribute
    /// empty, and the docs show it.
    pub import_hint: Option<String>,
    /// Run in order when planning, after defaults and computed unknowns.
    pub plan_modifiers: Vec<Arc<dyn PlanModifier>>,
    /// Run on the configured value at validate time (skipped while it is
    /// null or unknown).
    pub validators: Vec<Arc<dyn Validator>>,
}

/// A nested block.
#[derive(Clone)]
pub struct Block {
    /// How the block repeats.
    pub nesting: Nesting,
    /// Markdown; this, not `schema.description`, is what Terraform gets.
    pub description: String,
    /// `Some(message)`: Terraform warns with the message when configuration
    /// uses the block.
    pub deprecation: Option<String>,
    /// Fewest blocks configuration must give; 0 for no lower limit.
    pub min_items: i64,
    /// Most blocks configuration may give; 0 for no upper limit.
    pub max_items: i64,
    /// The block's attributes and nested blocks.
    pub schema: Schema,
    /// Run in order when planning, on the block's whole value.
    pub plan_modifiers: Vec<Arc<dyn PlanModifier>>,
    /// Run on the block's configured value at validate time.
    pub validators: Vec<Arc<dyn Validator>>,
}

impl Schema {
    /// An empty schema (version 0) with this description.
    pub fn new(description: impl Into<String>) -> Self {
        Self {
            description: description.into(),
            ..Self::default()
        }
    }

    /// Set the schema version (see [`Schema::version`](field@Schema::version)).
    pub fn version(mut self, v: i64) -> Self {
        self.version = v;
        self
    }

    /// Add (or replace) the attribute `name`.
    pub fn attribute(mut self, name: impl Into<String>, attr: Attribute) -> Self {
        self.attributes.insert(name.into(), attr);
        self
    }

    /// Add (or replace) the nested block `name`.
    pub fn block(mut self, name: impl Into<String>, block: Block) -> Self {
        self.blocks.insert(name.into(), block);
        self
    }

    /// Mark deprecated; Terraform shows `message` to whoever uses it.
    pub fn deprecated(mut self, message: impl Into<String>) -> Self {
        self.deprecation = Some(message.into());
        self
    }

    /// The object type Terraform uses for values of this block.
    pub fn value_type(&self) -> Type {
        let mut attrs = BTreeMap::new();
        for (name, a) in &self.attributes {
            attrs.insert(name.clone(), a.value_type());
        }
        for (name, b) in &self.blocks {
            attrs.insert(name.clone(), b.value_type());
        }
        Type::Object(labforge_cty::ObjectType {
            attrs,
            optional: Default::default(),
        })
    }

    /// Mistakes in the schema itself (a provider bug), e.g. an attribute that
    /// is neither required, optional nor computed. Reported by
    /// `GetProviderSchema`, so Terraform shows them before doing anything.
    pub fn definition_errors(&self) -> Vec<String> {
        let mut errors = Vec::new();
        self.check("", false, &mut errors);
        errors
    }

    /// `in_set`: the attributes are inside a set (a set block or a set
    /// nested attribute, at any depth).
    fn check(&self, prefix: &str, in_set: bool, errors: &mut Vec<String>) {
        for (name, a) in &self.attributes {
            let path = format!("{prefix}{name}");
            if !(a.required || a.optional || a.computed) {
                errors.push(format!("{path}: must be required, optional or computed"));
            }
            if a.required && (a.optional || a.computed) {
                errors.push(format!(
                    "{path}: a required attribute cannot be optional or computed"
                ));
            }
            if a.default.is_some() && !a.computed {
                errors.push(format!(
                    "{path}: an attribute with a default must be computed"
                ));
            }
            for v in &a.validators {
                if let Some(e) = v.definition_error() {
                    errors.push(format!("{path}: {e}"));
                }
            }
            if a.write_only && (a.computed || a.default.is_some()) {
                errors.push(format!(
                    "{path}: a write-only attribute cannot be computed or have a default"
                ));
            }
            if a.write_only && in_set {
                errors.push(format!(
                    "{path}: a write-only attribute cannot be inside a set (a set block or a set nested attribute)"
                ));
            }
            if let Some((nesting, inner)) = a.nested_schema() {
                inner.check(
                    &format!("{path}."),
                    in_set || nesting == Nesting::Set,
                    errors,
                );
            }
        }
        for (name, b) in &self.blocks {
            b.schema.check(
                &format!("{prefix}{name}."),
                in_set || b.nesting == Nesting::Set,
                errors,
            );
        }
    }

    /// An object of this schema's type with every attribute null and every
    /// block empty (the shape of a resource whose configuration says nothing).
    pub fn empty_object(&self) -> Value {
        let mut m = BTreeMap::new();
        for name in self.attributes.keys() {
            m.insert(name.clone(), Value::Null);
        }
        for (name, b) in &self.blocks {
            m.insert(name.clone(), b.empty_value());
        }
        Value::Object(m)
    }
}

impl Block {
    /// A block without item limits, described by `schema`'s description.
    pub fn new(nesting: Nesting, schema: Schema) -> Self {
        Self {
            nesting,
            description: schema.description.clone(),
            deprecation: None,
            min_items: 0,
            max_items: 0,
            schema,
            plan_modifiers: Vec::new(),
            validators: Vec::new(),
        }
    }
    /// A block that may repeat, in order.
    pub fn list(schema: Schema) -> Self {
        Self::new(Nesting::List, schema)
    }
    /// A block that may repeat, unordered.
    pub fn set(schema: Schema) -> Self {
        Self::new(Nesting::Set, schema)
    }
    /// Labelled blocks, keyed by their label.
    pub fn map(schema: Schema) -> Self {
        Self::new(Nesting::Map, schema)
    }
    /// At most one block, null when absent.
    pub fn single(schema: Schema) -> Self {
        Self::new(Nesting::Single, schema)
    }
    /// Limit how many blocks configuration may give (0: no limit on that side).
    pub fn items(mut self, min: i64, max: i64) -> Self {
        self.min_items = min;
        self.max_items = max;
        self
    }
    /// Set the description (Markdown).
    pub fn describe(mut self, d: impl Into<String>) -> Self {
        self.description = d.into();
        self
    }
    /// Add a plan modifier, run after those added before it.
    pub fn plan_modifier(mut self, m: impl PlanModifier + 'static) -> Self {
        self.plan_modifiers.push(Arc::new(m));
        self
    }
    /// Add a validator.
    pub fn validator(mut self, v: impl Validator + 'static) -> Self {
        self.validators.push(Arc::new(v));
        self
    }
    /// Mark deprecated; Terraform warns with `message` when the block is used.
    pub fn deprecated(mut self, message: impl Into<String>) -> Self {
        self.deprecation = Some(message.into());
        self
    }

    /// The type of this block's value in its parent object.
    pub fn value_type(&self) -> Type {
        let inner = self.schema.value_type();
        match self.nesting {
            Nesting::Single | Nesting::Group => inner,
            Nesting::List if inner.has_dynamic() => Type::Tuple(Vec::new()),
            Nesting::List => Type::list(inner),
            Nesting::Set => Type::set(inner),
            Nesting::Map if inner.has_dynamic() => inner,
            Nesting::Map => Type::map(inner),
        }
    }

    /// The value of the block when configuration has none.
    pub fn empty_value(&self) -> Value {
        match self.nesting {
            Nesting::Single => Value::Null,
            Nesting::Group => self.schema.empty_object(),
            Nesting::List => Value::List(Vec::new()),
            Nesting::Set => Value::Set(Vec::new()),
            Nesting::Map => Value::Map(BTreeMap::new()),
        }
    }
}

impl Attribute {
    /// An attribute of type `ty`, not yet required, optional or computed
    /// (one of them must be set; see [`Schema::definition_errors`]).
    pub fn new(ty: Type) -> Self {
        Self {
            ty: AttributeType::Plain(ty),
            description: String::new(),
            required: false,
            optional: false,
            computed: false,
            sensitive: false,
            write_only: false,
            deprecation: None,
            default: None,
            import_hint: None,
            plan_modifiers: Vec::new(),
            validators: Vec::new(),
        }
    }
    /// A string attribute.
    pub fn string() -> Self {
        Self::new(Type::String)
    }
    /// A number attribute that only accepts whole numbers (cty has no
    /// integer type; a validator rejects fractions).
    pub fn int() -> Self {
        Self::new(Type::Number).validator(validators::whole_number())
    }
    /// A number attribute (any decimal).
    pub fn number() -> Self {
        Self::new(Type::Number)
    }
    /// A bool attribute.
    pub fn bool() -> Self {
        Self::new(Type::Bool)
    }
    /// An attribute of any type, decided per value by configuration.
    pub fn dynamic() -> Self {
        Self::new(Type::Dynamic)
    }
    /// A list of `t`.
    pub fn list(t: Type) -> Self {
        Self::new(Type::list(t))
    }
    /// A set of `t`.
    pub fn set(t: Type) -> Self {
        Self::new(Type::set(t))
    }
    /// A map of string keys to `t`.
    pub fn map(t: Type) -> Self {
        Self::new(Type::map(t))
    }
    /// Nested attributes (protocol 6): `nesting` of objects with these attributes.
    pub fn nested(
        nesting: Nesting,
        attributes: impl IntoIterator<Item = (&'static str, Attribute)>,
    ) -> Self {
        let schema = Schema {
            attributes: attributes
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            ..Schema::default()
        };
        Self {
            ty: AttributeType::Nested {
                nesting,
                schema: Box::new(schema),
            },
            ..Self::new(Type::Dynamic)
        }
    }

    /// Configuration must set it.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
    /// Configuration may set it.
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }
    /// The provider sets it (with `optional`: when configuration does not).
    pub fn computed(mut self) -> Self {
        self.computed = true;
        self
    }
    /// Hide the value in plan and apply output (state still holds it).
    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }
    /// Write-only (Terraform 1.11+): in configuration only, never in plan or state.
    pub fn write_only(mut self) -> Self {
        self.write_only = true;
        self
    }
    /// Set the description (Markdown).
    pub fn describe(mut self, d: impl Into<String>) -> Self {
        self.description = d.into();
        self
    }
    /// Mark deprecated; Terraform warns with `message` when configuration
    /// sets the attribute.
    pub fn deprecated(mut self, message: impl Into<String>) -> Self {
        self.deprecation = Some(message.into());
        self
    }
    /// What to fill in after an import when the API does not give the value
    /// back (see [`Attribute::import_hint`](Attribute#structfield.import_hint)).
    pub fn after_import(mut self, hint: impl Into<String>) -> Self {
        self.import_hint = Some(hint.into());
        self
    }
    /// Default when the configuration is null; makes the attribute optional and computed.
    pub fn default(mut self, v: impl IntoValue) -> Self {
        self.default = Some(v.into_value());
        self.optional = true;
        self.computed = true;
        self
    }
    /// Add a plan modifier, run after those added before it.
    pub fn plan_modifier(mut self, m: impl PlanModifier + 'static) -> Self {
        self.plan_modifiers.push(Arc::new(m));
        self
    }
    /// Add a validator.
    pub fn validator(mut self, v: impl Validator + 'static) -> Self {
        self.validators.push(Arc::new(v));
        self
    }

    /// The type of this attribute's value.
    pub fn value_type(&self) -> Type {
        match &self.ty {
            AttributeType::Plain(t) => t.clone(),
            AttributeType::Nested { nesting, schema } => {
                let inner = schema.value_type();
                match nesting {
                    Nesting::Single | Nesting::Group => inner,
                    Nesting::List => Type::list(inner),
                    Nesting::Set => Type::set(inner),
                    Nesting::Map => Type::map(inner),
                }
            }
        }
    }

    /// The nesting and the schema of the nested attributes, when this
    /// attribute has them.
    pub fn nested_schema(&self) -> Option<(Nesting, &Schema)> {
        match &self.ty {
            AttributeType::Nested { nesting, schema } => Some((*nesting, schema)),
            AttributeType::Plain(_) => None,
        }
    }
}

/// Plain Rust values usable as attribute defaults: `default(3)`, `default("x")`, `default(true)`.
pub trait IntoValue {
    /// The cty value of `self`.
    fn into_value(self) -> Value;
}

impl IntoValue for Value {
    fn into_value(self) -> Value {
        self
    }
}
impl IntoValue for bool {
    fn into_value(self) -> Value {
        Value::Bool(self)
    }
}
impl IntoValue for i64 {
    fn into_value(self) -> Value {
        Value::Number(labforge_cty::Number::from_i64(self))
    }
}
impl IntoValue for i32 {
    fn into_value(self) -> Value {
        i64::from(self).into_value()
    }
}
impl IntoValue for &str {
    fn into_value(self) -> Value {
        Value::String(self.to_string())
    }
}
impl IntoValue for String {
    fn into_value(self) -> Value {
        Value::String(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definition_errors_name_the_attribute() {
        let s = Schema::new("t")
            .attribute("a", Attribute::string())
            .attribute("b", Attribute::string().required().computed())
            .block(
                "blk",
                Block::list(
                    Schema::new("").attribute("pw", Attribute::string().optional().write_only()),
                ),
            );
        let e = s.definition_errors();
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[0].starts_with("a: "));
        assert!(e[1].starts_with("b: "));
        let ok = Schema::new("t").attribute(
            "pw",
            Attribute::string().optional().sensitive().write_only(),
        );
        assert!(ok.definition_errors().is_empty());
    }

    /// Write-only attributes may be nested in single, list and map blocks
    /// and nested attributes, but not inside a set at any depth, and are
    /// never computed or defaulted.
    #[test]
    fn write_only_is_refused_inside_sets_and_when_computed() {
        let wo = || Schema::new("").attribute("pw", Attribute::string().optional().write_only());
        let ok = Schema::new("t")
            .block("single", Block::single(wo()))
            .block("list", Block::list(wo()))
            .block("map", Block::map(wo()))
            .attribute(
                "nested",
                Attribute::nested(
                    Nesting::List,
                    [("pw", Attribute::string().optional().write_only())],
                )
                .optional(),
            );
        assert!(
            ok.definition_errors().is_empty(),
            "{:?}",
            ok.definition_errors()
        );
        let bad = Schema::new("t")
            .block("set", Block::set(wo()))
            .block(
                "list",
                Block::list(Schema::new("").block("inner", Block::set(wo()))),
            )
            .block(
                "deep",
                Block::set(Schema::new("").block("single", Block::single(wo()))),
            )
            .attribute(
                "nested",
                Attribute::nested(
                    Nesting::Set,
                    [("pw", Attribute::string().optional().write_only())],
                )
                .optional(),
            )
            .attribute(
                "computed",
                Attribute::string().optional().computed().write_only(),
            );
        let e = bad.definition_errors();
        assert_eq!(
            e,
            [
                "computed: a write-only attribute cannot be computed or have a default",
                "nested.pw: a write-only attribute cannot be inside a set (a set block or a set nested attribute)",
                "deep.single.pw: a write-only attribute cannot be inside a set (a set block or a set nested attribute)",
                "list.inner.pw: a write-only attribute cannot be inside a set (a set block or a set nested attribute)",
                "set.pw: a write-only attribute cannot be inside a set (a set block or a set nested attribute)",
            ],
        );
    }
}
