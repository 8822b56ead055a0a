//! The data source, ephemeral resource and functions of the corner provider.

use labforge_framework::schema::{Attribute, Schema};
use labforge_framework::{
    Ctx, DataSource, EphemeralResource, Error, Function, FunctionDefinition, FunctionError, Opened,
    Parameter, Result, Type, Value,
};
use serde::{Deserialize, Serialize};

use super::everything::decode_record;
use super::store::Store;

/// `corner_lookup`: reads an object from the store by ID.
#[derive(Debug, Clone, Copy, Default)]
pub struct Lookup;

#[derive(Debug, Serialize, Deserialize)]
pub struct LookupModel {
    pub id: String,
    pub name: Option<String>,
    pub note: Option<String>,
    pub revision: Option<i64>,
    pub tags: Option<Vec<String>>,
}

impl DataSource for Lookup {
    type Client = Store;
    type Model = LookupModel;
    const NAME: &'static str = "lookup";

    fn schema(&self) -> Schema {
        Schema::new("An object of the store.")
            .attribute("id", Attribute::string().required())
            .attribute("name", Attribute::string().computed())
            .attribute("note", Attribute::string().computed())
            .attribute("revision", Attribute::int().computed())
            .attribute("tags", Attribute::list(Type::String).computed())
    }

    async fn read(&self, ctx: &Ctx<Store>, config: LookupModel) -> Result<LookupModel> {
        let data = ctx.client().load()?;
        let rec = data.objects.get(&config.id).ok_or_else(|| {
            Error::new(
                "Object not found",
                format!("No object with ID {:?}.", config.id),
            )
        })?;
        let m = decode_record(rec)?;
        Ok(LookupModel {
            id: config.id,
            name: Some(m.name),
            note: m.note,
            revision: m.revision,
            tags: m.tags,
        })
    }
}

/// `corner_token`: an ephemeral token, never stored by Terraform. The store
/// remembers every token handed out, so tests can look for leaks.
#[derive(Debug, Clone, Copy, Default)]
pub struct Token;

#[derive(Debug, Serialize, Deserialize)]
pub struct TokenModel {
    pub prefix: Option<String>,
    pub value: Option<String>,
}

impl EphemeralResource for Token {
    type Client = Store;
    type Model = TokenModel;
    const NAME: &'static str = "token";

    fn schema(&self) -> Schema {
        Schema::new("A fresh secret token.")
            .attribute("prefix", Attribute::string().optional())
            .attribute("value", Attribute::string().computed().sensitive())
    }

    async fn open(&self, ctx: &Ctx<Store>, config: TokenModel) -> Result<Opened<TokenModel>> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let value = ctx.client().update(|d| {
            let v = format!(
                "{}tok{:x}{:x}{}",
                config.prefix.clone().unwrap_or_default(),
                nanos,
                std::process::id(),
                d.tokens.len()
            );
            d.tokens.push(v.clone());
            Ok(v)
        })?;
        ctx.set_private("token", &value)?;
        Ok(Opened {
            result: TokenModel {
                prefix: config.prefix,
                value: Some(value),
            },
            renew_at: None,
        })
    }

    async fn close(&self, ctx: &Ctx<Store>) -> Result<()> {
        // Private state set by open must come back here.
        if ctx.private::<String>("token").is_none() {
            return Err(Error::msg("close without the private state open set"));
        }
        ctx.client().update(|d| {
            d.closed += 1;
            Ok(())
        })
    }
}

/// `provider::corner::reverse(input)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reverse;

impl Function for Reverse {
    const NAME: &'static str = "reverse";

    fn definition(&self) -> FunctionDefinition {
        FunctionDefinition {
            summary: "Reverse a string.".into(),
            description: "Reverses the characters of `input`; it must not be empty.".into(),
            parameters: vec![Parameter::new("input", Type::String, "The string.")],
            variadic: None,
            returns: Type::String,
        }
    }

    fn call(&self, args: Vec<Value>) -> Result<Value, FunctionError> {
        let s = args.first().and_then(Value::as_str).unwrap_or_default();
        if s.is_empty() {
            return Err(FunctionError::argument(0, "input must not be empty"));
        }
        Ok(Value::string(s.chars().rev().collect::<String>()))
    }
}

/// `provider::corner::join(sep, parts...)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Join;

impl Function for Join {
    const NAME: &'static str = "join";

    fn definition(&self) -> FunctionDefinition {
        FunctionDefinition {
            summary: "Join strings.".into(),
            description: "Joins `parts` with `sep`.".into(),
            parameters: vec![Parameter::new("sep", Type::String, "Separator.")],
            variadic: Some(Parameter::new("parts", Type::String, "Strings to join.")),
            returns: Type::String,
        }
    }

    fn call(&self, args: Vec<Value>) -> Result<Value, FunctionError> {
        let mut it = args.iter().map(|v| v.as_str().unwrap_or_default());
        let sep = it.next().unwrap_or_default();
        Ok(Value::string(it.collect::<Vec<_>>().join(sep)))
    }
}
