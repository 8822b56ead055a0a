//! A provider for the server's unit tests: one of each kind of item, with
//! behaviour steered by names so each test reaches one path.
//!
//! `test_thing` (schema version 2, upgradable from 1 where `name` was `title`):
//! - create: "shout" answers another name (inconsistent result), "partial"
//!   fails leaving a partial object, "fail" fails, "unknowable" leaves `note`
//!   unknown, "warn" adds a warning; otherwise `id` = `id-<name>`, private
//!   `counter` = 1, and `note` = "secret <secret>" when the write-only
//!   `secret` is given.
//! - read: "gone" is not found, "hang" never answers, "broken" fails,
//!   "later" needs provider configuration not known yet, "unknowable"
//!   answers an unknown `note`, "drift" answers `size` + 1.
//! - update bumps the private counter; delete of "stuck" fails.
//! - import: "missing" fails; otherwise an object named "imported".
//! - modify_plan: "later" needs configuration not known yet, "veto" fails,
//!   "replace-me" requires replacement of `name`.
//! - move_state: from `test_old` only.
//!
//! `test_lookup` data source: id "missing" fails, "unknowable" answers an
//! unknown. `test_token` ephemeral resource: keeps a private `n` across
//! open, renew and close. Function `reverse`.

use std::time::{Duration, SystemTime};

use labforge_cty::{Type, Value};
use serde::{Deserialize, Serialize};

use super::ProviderServer;
use crate::schema::{Attribute, Schema, modifiers, validators};
use crate::{
    Ctx, DataSource, EphemeralResource, Error, Function, FunctionDefinition, FunctionError,
    MoveSource, Opened, Parameter, PlanChange, Provider, Raw, Registry, Resource, Result,
    StateUpgrader,
};

pub(crate) struct Test;

#[derive(Debug, Default)]
pub(crate) struct Client;

#[derive(Deserialize)]
pub(crate) struct Config {
    fail: Option<bool>,
}

impl Provider for Test {
    type Client = Client;
    type Config = Config;
    const NAME: &'static str = "test";
    fn schema(&self) -> Schema {
        Schema::new("Test provider.")
            .attribute("fail", Attribute::bool().optional())
            .attribute(
                "label",
                Attribute::string()
                    .optional()
                    .validator(validators::length_between(1, 5)),
            )
    }
    async fn configure(&self, c: Config, _raw: &Value) -> Result<Client> {
        if c.fail == Some(true) {
            return Err(Error::msg("asked to fail"));
        }
        Ok(Client)
    }
    fn resources(&self) -> Registry<Client> {
        Registry::new()
            .resource(Thing)
            .data_source(Lookup)
            .ephemeral(Token)
            .function(Reverse)
    }
}

/// A configured server.
pub(crate) async fn configured() -> ProviderServer<Test> {
    let s = ProviderServer::new(Test);
    let config = Value::object([("fail", Value::Null), ("label", Value::Null)]);
    let d = s.configure_provider(config).await;
    assert!(d.is_empty(), "{d:?}");
    s
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Model {
    pub id: Option<String>,
    pub name: String,
    pub size: Option<i64>,
    pub note: Raw,
    pub secret: Option<String>,
}

pub(crate) fn thing_type() -> Type {
    thing_schema().value_type()
}

fn thing_schema() -> Schema {
    Schema::new("A thing.")
        .version(2)
        .attribute(
            "id",
            Attribute::string()
                .computed()
                .plan_modifier(modifiers::use_state_for_unknown()),
        )
        .attribute(
            "name",
            Attribute::string()
                .required()
                .validator(validators::length_between(1, 12)),
        )
        .attribute("size", Attribute::int().optional())
        .attribute("note", Attribute::string().optional().computed())
        .attribute("secret", Attribute::string().optional().write_only())
}

/// A `test_thing` state: `id-<name>`, `size`, note "n".
pub(crate) fn thing(name: &str, size: i64) -> Value {
    Value::object([
        ("id", Value::string(format!("id-{name}"))),
        ("name", Value::string(name)),
        ("size", Value::Number(labforge_cty::Number::from_i64(size))),
        ("note", Value::string("n")),
        ("secret", Value::Null),
    ])
}

/// `v` with attribute `k` set to `x`.
pub(crate) fn with(v: &Value, k: &str, x: Value) -> Value {
    let mut v = v.clone();
    if let Value::Object(m) = &mut v {
        m.insert(k.to_string(), x);
    }
    v
}

struct Thing;

impl Resource for Thing {
    type Client = Client;
    type Model = Model;
    const NAME: &'static str = "thing";

    fn schema(&self) -> Schema {
        thing_schema()
    }

    async fn create(&self, ctx: &Ctx<Client>, mut plan: Model) -> Result<Model> {
        ctx.set_private("counter", &1)?;
        plan.id = Some(format!("id-{}", plan.name));
        if plan.note.0.is_unknown() {
            plan.note = Raw(Value::string("n"));
        }
        if let Some(secret) = &plan.secret {
            // Shows that create received the write-only value.
            plan.note = Raw(Value::string(format!("secret {secret}")));
        }
        match plan.name.as_str() {
            "shout" => plan.name = plan.name.to_uppercase(),
            "partial" => {
                plan.note = Raw(Value::unknown());
                plan.secret = Some("leaked?".into());
                return Err(Error::msg("half done").with_partial_state(&plan));
            }
            "fail" => return Err(Error::msg("no room")),
            "unknowable" => plan.note = Raw(Value::unknown()),
            "warn" => ctx.warn("Careful", "a warning from create"),
            _ => {}
        }
        Ok(plan)
    }

    async fn read(&self, _ctx: &Ctx<Client>, mut state: Model) -> Result<Option<Model>> {
        match state.name.as_str() {
            "gone" => return Ok(None),
            "hang" => std::future::pending::<()>().await,
            "broken" => return Err(Error::msg("API down")),
            "later" => return Err(Error::config_unknown("the endpoint")),
            "unknowable" => state.note = Raw(Value::unknown()),
            "drift" => state.size = state.size.map(|s| s + 1),
            _ => {}
        }
        Ok(Some(state))
    }

    async fn update(&self, ctx: &Ctx<Client>, _prior: Model, plan: Model) -> Result<Model> {
        let n = ctx.private::<i64>("counter").unwrap_or(0);
        ctx.set_private("counter", &(n + 1))?;
        Ok(plan)
    }

    async fn delete(&self, _ctx: &Ctx<Client>, state: Model) -> Result<()> {
        if state.name == "stuck" {
            return Err(Error::msg("still in use"));
        }
        Ok(())
    }

    async fn import(&self, ctx: &Ctx<Client>, id: &str) -> Result<Model> {
        if id == "missing" {
            return Err(Error::msg(format!("no object {id}")));
        }
        ctx.set_private("counter", &7)?;
        Ok(Model {
            id: Some(id.to_string()),
            name: "imported".into(),
            size: None,
            note: Raw(Value::string("n")),
            secret: Some("never in state".into()),
        })
    }

    async fn modify_plan(&self, _ctx: &Ctx<Client>, plan: &mut PlanChange<'_>) -> Result<()> {
        match plan.config_attr("name").as_str() {
            Some("later") => Err(Error::config_unknown("the endpoint")),
            Some("veto") => Err(Error::msg("not allowed")),
            Some("replace-me") if !plan.creating() => {
                plan.require_replace(labforge_cty::AttributePath::attr("name"));
                // Twice: the server reports it once.
                plan.require_replace(labforge_cty::AttributePath::attr("name"));
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn state_upgraders(&self) -> Vec<StateUpgrader> {
        vec![StateUpgrader {
            from_version: 1,
            prior_schema: Schema::new("v1")
                .version(1)
                .attribute("id", Attribute::string().computed())
                .attribute("title", Attribute::string().required()),
            upgrade: |v| {
                let title = v.get("title").cloned().unwrap_or(Value::Null);
                Ok(Value::object([
                    ("id", v.get("id").cloned().unwrap_or(Value::Null)),
                    ("name", title),
                ]))
            },
        }]
    }

    fn move_state(&self, source: &MoveSource) -> Option<Result<Value>> {
        (source.type_name == "test_old").then(|| {
            Ok(Value::object([
                (
                    "id",
                    source.state.get("key").cloned().unwrap_or(Value::Null),
                ),
                ("name", Value::string("moved")),
            ]))
        })
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct LookupModel {
    pub id: String,
    pub name: Raw,
}

struct Lookup;

impl DataSource for Lookup {
    type Client = Client;
    type Model = LookupModel;
    const NAME: &'static str = "lookup";
    fn schema(&self) -> Schema {
        Schema::new("Look a thing up.")
            .attribute(
                "id",
                Attribute::string()
                    .required()
                    .validator(validators::length_between(1, 12)),
            )
            .attribute("name", Attribute::string().computed())
    }
    async fn read(&self, ctx: &Ctx<Client>, mut config: LookupModel) -> Result<LookupModel> {
        match config.id.as_str() {
            "missing" => return Err(Error::msg("no such thing")),
            "unknowable" => config.name = Raw(Value::unknown()),
            _ => {
                ctx.warn("Looked up", "a warning from read");
                config.name = Raw(Value::string(format!("name of {}", config.id)));
            }
        }
        Ok(config)
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct TokenModel {
    pub prefix: String,
    pub value: Option<String>,
}

struct Token;

/// When `test_token` asks to be renewed.
pub(crate) fn renew_time() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000)
}

impl EphemeralResource for Token {
    type Client = Client;
    type Model = TokenModel;
    const NAME: &'static str = "token";
    fn schema(&self) -> Schema {
        Schema::new("A token.")
            .attribute(
                "prefix",
                Attribute::string()
                    .required()
                    .validator(validators::length_between(1, 4)),
            )
            .attribute("value", Attribute::string().computed().sensitive())
    }
    async fn open(&self, ctx: &Ctx<Client>, mut config: TokenModel) -> Result<Opened<TokenModel>> {
        if config.prefix == "bad" {
            return Err(Error::msg("refused"));
        }
        ctx.set_private("n", &1)?;
        config.value = Some(format!("{}1", config.prefix));
        Ok(Opened {
            result: config,
            renew_at: Some(renew_time()),
        })
    }
    async fn renew(&self, ctx: &Ctx<Client>) -> Result<Option<SystemTime>> {
        let n: i64 = ctx
            .private("n")
            .ok_or_else(|| Error::msg("no private state"))?;
        ctx.set_private("n", &(n + 1))?;
        Ok(Some(renew_time() + Duration::from_secs(1)))
    }
    async fn close(&self, ctx: &Ctx<Client>) -> Result<()> {
        ctx.private::<i64>("n")
            .map(|_| ())
            .ok_or_else(|| Error::msg("no private state"))
    }
}

struct Reverse;

impl Function for Reverse {
    const NAME: &'static str = "reverse";
    fn definition(&self) -> FunctionDefinition {
        FunctionDefinition {
            summary: "Reverse strings.".into(),
            description: String::new(),
            parameters: vec![Parameter::new("input", Type::String, "The text.")],
            variadic: Some(Parameter::new("more", Type::Number, "Ignored numbers.")),
            returns: Type::String,
        }
    }
    fn call(&self, args: Vec<Value>) -> Result<Value, FunctionError> {
        match args.first().and_then(Value::as_str) {
            Some("") => Err(FunctionError::argument(0, "input must not be empty")),
            Some(s) => Ok(Value::string(s.chars().rev().collect::<String>())),
            None => Err(FunctionError::argument(0, "input is required")),
        }
    }
}
