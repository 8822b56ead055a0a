//! `corner_everything`: one attribute of every kind, and `corner_renamed`,
//! the same object under another type name, reached with `moved` blocks.
//!
//! The store record holds the object's attributes exactly as the schema
//! types them (cty JSON), so reads return what was written and tests can
//! edit a value (drift) or delete the record (out-of-band deletion).

use std::collections::BTreeMap;

use labforge_framework::schema::{Attribute, Block, Nesting, Schema, modifiers, validators};
use labforge_framework::{Ctx, Error, MoveSource, Raw, Resource, Result, StateUpgrader, Value};
use serde::{Deserialize, Serialize};

use super::store::{Record, Store, fingerprint};

/// `corner_everything`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Everything;

/// `corner_renamed`: same schema and objects, takes `moved` state from `corner_everything`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Renamed;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Obj {
    pub a: Option<String>,
    pub b: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Single {
    pub x: String,
    /// Computed: `x` upper-cased.
    pub upper: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub name: String,
    pub value: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub name: String,
    pub role: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Slot {
    pub size: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub port: i64,
    pub proto: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TagBlock {
    pub key: String,
    pub value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub mode: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Opts {
    pub verbose: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    pub url: String,
}

/// The model of `corner_everything` (and `corner_renamed`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub id: Option<String>,
    pub name: String,
    pub kind: Option<String>,
    pub cidr: Option<String>,
    pub flag: Option<bool>,
    pub amount: Option<i64>,
    pub float: Option<f64>,
    /// Arbitrary precision: kept as the Terraform value.
    pub big: Raw,
    pub tags: Option<Vec<String>>,
    pub labels: Option<Vec<String>>,
    pub weights: Option<BTreeMap<String, f64>>,
    pub obj: Option<Obj>,
    pub anything: Raw,
    pub single: Option<Single>,
    pub items: Option<Vec<Item>>,
    pub members: Option<Vec<Member>>,
    pub slots: Option<BTreeMap<String, Slot>>,
    pub note: Option<String>,
    pub computed_opt: Option<String>,
    pub revision: Option<i64>,
    pub secret: Option<String>,
    pub password_wo: Option<String>,
    pub private_counter: Option<i64>,
    pub rule: Vec<Rule>,
    pub tag_block: Vec<TagBlock>,
    pub settings: Option<Settings>,
    pub opts: Opts,
    pub endpoint: BTreeMap<String, Endpoint>,
}

/// The current schema (version 1).
pub fn schema() -> Schema {
    schema_with_names("name", "note").version(1)
}

/// Version 0 called `name` `title` and `note` `description`.
pub fn schema_v0() -> Schema {
    schema_with_names("title", "description").version(0)
}

fn schema_with_names(name: &str, note: &str) -> Schema {
    let s = Attribute::string;
    Schema::new("Every attribute kind the framework supports.")
        .attribute(
            "id",
            s().computed()
                .plan_modifier(modifiers::use_state_for_unknown()),
        )
        .attribute(
            name,
            s().required()
                .validator(validators::length_between(1, 32))
                .plan_modifier(modifiers::requires_replace()),
        )
        .attribute(
            "kind",
            s().default("a")
                .validator(validators::one_of(&["a", "b", "c"])),
        )
        .attribute("cidr", s().optional().validator(validators::cidr()))
        .attribute("flag", Attribute::bool().optional())
        .attribute("amount", Attribute::int().optional())
        .attribute("float", Attribute::number().optional())
        .attribute("big", Attribute::number().optional())
        .attribute(
            "tags",
            Attribute::list(labforge_framework::Type::String).optional(),
        )
        .attribute(
            "labels",
            Attribute::set(labforge_framework::Type::String).optional(),
        )
        .attribute(
            "weights",
            Attribute::map(labforge_framework::Type::Number).optional(),
        )
        .attribute(
            "obj",
            Attribute::new(labforge_framework::Type::object([
                ("a", labforge_framework::Type::String),
                ("b", labforge_framework::Type::Number),
            ]))
            .optional(),
        )
        .attribute("anything", Attribute::dynamic().optional())
        .attribute(
            "single",
            Attribute::nested(
                Nesting::Single,
                [("x", s().required()), ("upper", s().computed())],
            )
            .optional(),
        )
        .attribute(
            "items",
            Attribute::nested(
                Nesting::List,
                [
                    (
                        "name",
                        s().required().validator(validators::length_between(1, 10)),
                    ),
                    ("value", Attribute::number().optional()),
                ],
            )
            .optional(),
        )
        .attribute(
            "members",
            Attribute::nested(
                Nesting::Set,
                [("name", s().required()), ("role", s().optional())],
            )
            .optional(),
        )
        .attribute(
            "slots",
            Attribute::nested(Nesting::Map, [("size", Attribute::int().required())]).optional(),
        )
        .attribute(note, s().default("hello"))
        .attribute("computed_opt", s().optional().computed())
        .attribute("revision", Attribute::int().computed())
        .attribute("secret", s().optional().sensitive())
        .attribute("password_wo", s().optional().write_only())
        .attribute("private_counter", Attribute::int().computed())
        .block(
            "rule",
            Block::list(
                Schema::new("A rule.")
                    .attribute(
                        "port",
                        Attribute::int()
                            .required()
                            .validator(validators::between(1, 65535)),
                    )
                    .attribute("proto", s().default("tcp")),
            ),
        )
        .block(
            "tag_block",
            Block::set(
                Schema::new("A tag.")
                    .attribute("key", s().required())
                    .attribute("value", s().optional()),
            ),
        )
        .block(
            "settings",
            Block::single(Schema::new("Settings.").attribute("mode", s().optional())),
        )
        .block(
            "opts",
            Block::new(
                Nesting::Group,
                Schema::new("Options.").attribute("verbose", Attribute::bool().optional()),
            ),
        )
        .block(
            "endpoint",
            Block::map(Schema::new("An endpoint.").attribute("url", s().required())),
        )
}

fn ty() -> labforge_framework::Type {
    schema().value_type()
}

/// The record's state as a model.
pub fn decode_record(r: &Record) -> Result<Model> {
    r.model()
}

impl Record {
    /// The stored object.
    pub fn model(&self) -> Result<Model> {
        let v = labforge_cty::json::decode(self.state.as_bytes(), &ty())
            .map_err(|e| Error::new("Store record unreadable", e.to_string()))?;
        labforge_framework::model::from_value(&v)
    }

    /// Replace the stored object (write-only values are never stored).
    pub fn set_model(&mut self, m: &Model) -> Result<()> {
        self.state = encode_state(m)?;
        Ok(())
    }
}

fn encode_state(m: &Model) -> Result<String> {
    let mut m = m.clone();
    m.password_wo = None;
    let v = labforge_framework::model::to_value(&m, &ty())?;
    let bytes = labforge_cty::json::encode(&v, &ty())
        .map_err(|e| Error::new("Cannot store object", e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| Error::msg(e.to_string()))
}

/// Fill in what the API computes.
fn compute(m: &mut Model, revision: i64, counter: i64) {
    m.revision = Some(revision);
    m.private_counter = Some(counter);
    if m.computed_opt.is_none() {
        m.computed_opt = Some("auto".into());
    }
    if let Some(s) = &mut m.single {
        s.upper = Some(s.x.to_uppercase());
    }
}

async fn create(ctx: &Ctx<Store>, plan: Model) -> Result<Model> {
    let mut m = plan;
    let password = m.password_wo.clone();
    compute(&mut m, 1, 1);
    ctx.set_private("counter", &1)?;
    ctx.client().update(|d| {
        d.next_id += 1;
        let id = format!("obj-{}", d.next_id);
        m.id = Some(id.clone());
        d.objects.insert(
            id,
            Record {
                state: encode_state(&m)?,
                password_hash: password.as_deref().map(fingerprint),
                counter: 1,
            },
        );
        Ok(())
    })?;
    m.password_wo = None;
    Ok(m)
}

async fn read(ctx: &Ctx<Store>, state: Model) -> Result<Option<Model>> {
    let id = state.id.clone().unwrap_or_default();
    let data = ctx.client().load()?;
    let Some(rec) = data.objects.get(&id) else {
        return Ok(None);
    };
    let mut m = decode_record(rec)?;
    m.private_counter = ctx.private::<i64>("counter").or(Some(rec.counter));
    Ok(Some(m))
}

async fn update(ctx: &Ctx<Store>, prior: Model, plan: Model) -> Result<Model> {
    let mut m = plan;
    let id = prior.id.clone().unwrap_or_default();
    m.id = Some(id.clone());
    let counter = ctx.private::<i64>("counter").unwrap_or(0) + 1;
    ctx.set_private("counter", &counter)?;
    if m.computed_opt.is_none() {
        m.computed_opt = prior.computed_opt.clone();
    }
    compute(&mut m, prior.revision.unwrap_or(0) + 1, counter);
    let password = m.password_wo.take();
    ctx.client().update(|d| {
        let rec = d
            .objects
            .get_mut(&id)
            .ok_or_else(|| Error::msg(format!("object {id} does not exist")))?;
        rec.state = encode_state(&m)?;
        rec.counter = counter;
        if let Some(p) = &password {
            rec.password_hash = Some(fingerprint(p));
        }
        Ok(())
    })?;
    Ok(m)
}

async fn delete(ctx: &Ctx<Store>, state: Model) -> Result<()> {
    let id = state.id.unwrap_or_default();
    ctx.client().update(|d| {
        d.objects.remove(&id);
        Ok(())
    })
}

async fn import(ctx: &Ctx<Store>, id: &str) -> Result<Model> {
    let data = ctx.client().load()?;
    let rec = data.objects.get(id).ok_or_else(|| {
        Error::new(
            "Cannot import non-existent object",
            format!("No object with ID {id:?} in the store."),
        )
    })?;
    ctx.set_private("counter", &rec.counter)?;
    let mut m = decode_record(rec)?;
    m.private_counter = Some(rec.counter);
    Ok(m)
}

/// v0 → v1: rename `title` → `name` and `description` → `note`.
fn upgrade_v0(v: Value) -> Result<Value> {
    let Value::Object(mut m) = v else {
        return Err(Error::msg("version 0 state is not an object"));
    };
    for (old, new) in [("title", "name"), ("description", "note")] {
        let x = m.remove(old).unwrap_or(Value::Null);
        m.insert(new.to_string(), x);
    }
    Ok(Value::Object(m))
}

impl Resource for Everything {
    type Client = Store;
    type Model = Model;
    const NAME: &'static str = "everything";

    fn schema(&self) -> Schema {
        schema()
    }
    async fn create(&self, ctx: &Ctx<Store>, plan: Model) -> Result<Model> {
        create(ctx, plan).await
    }
    async fn read(&self, ctx: &Ctx<Store>, state: Model) -> Result<Option<Model>> {
        read(ctx, state).await
    }
    async fn update(&self, ctx: &Ctx<Store>, prior: Model, plan: Model) -> Result<Model> {
        update(ctx, prior, plan).await
    }
    async fn delete(&self, ctx: &Ctx<Store>, state: Model) -> Result<()> {
        delete(ctx, state).await
    }
    async fn import(&self, ctx: &Ctx<Store>, id: &str) -> Result<Model> {
        import(ctx, id).await
    }
    fn import_id_format(&self) -> Option<&'static str> {
        Some("the store key, e.g. `obj-1`")
    }
    fn state_upgraders(&self) -> Vec<StateUpgrader> {
        vec![StateUpgrader {
            from_version: 0,
            prior_schema: schema_v0(),
            upgrade: upgrade_v0,
        }]
    }
}

impl Resource for Renamed {
    type Client = Store;
    type Model = Model;
    const NAME: &'static str = "renamed";

    fn schema(&self) -> Schema {
        schema()
    }
    async fn create(&self, ctx: &Ctx<Store>, plan: Model) -> Result<Model> {
        create(ctx, plan).await
    }
    async fn read(&self, ctx: &Ctx<Store>, state: Model) -> Result<Option<Model>> {
        read(ctx, state).await
    }
    async fn update(&self, ctx: &Ctx<Store>, prior: Model, plan: Model) -> Result<Model> {
        update(ctx, prior, plan).await
    }
    async fn delete(&self, ctx: &Ctx<Store>, state: Model) -> Result<()> {
        delete(ctx, state).await
    }
    async fn import(&self, ctx: &Ctx<Store>, id: &str) -> Result<Model> {
        import(ctx, id).await
    }
    fn move_state(&self, source: &MoveSource) -> Option<Result<Value>> {
        if source.type_name != "corner_everything" || source.provider_address != super::ADDRESS {
            return None;
        }
        // Decode with the source's schema: `source.state` is schema-less, so
        // it would turn `anything` into a `{value, type}` object and round `big`.
        Some(match source.schema_version {
            0 => source.decode(&schema_v0()).and_then(upgrade_v0),
            1 => source.decode(&schema()),
            v => Err(Error::msg(format!(
                "unknown corner_everything schema version {v}"
            ))),
        })
    }
}
