//! The tfplugin6 service driven directly, message by message: the corners
//! that are awkward to reach through the CLI (newer state versions, unknown
//! types, cancellation, inconsistent results, function errors).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers fail loudly.

use std::sync::Arc;
use std::time::Duration;

use labforge_cty::{Type, Value, json, msgpack};
use labforge_framework::grpc::ProviderService;
use labforge_framework::schema::{Attribute, Schema, modifiers, validators};
use labforge_framework::{
    Ctx, Error, Function, FunctionDefinition, FunctionError, Parameter, Provider, Registry,
    Resource, Result,
};
use labforge_proto::tfplugin6 as pb;
use pb::provider_server::Provider as _;
use serde::{Deserialize, Serialize};
use tonic::Request;

struct Test;

/// The API client: nothing to talk to. Behaviour is steered by names:
/// `read` of "hang" waits forever, `create` of "shout" returns another name.
#[derive(Default)]
struct Client;

#[derive(Serialize, Deserialize)]
struct Model {
    id: Option<String>,
    name: String,
}

struct Thing;

impl Resource for Thing {
    type Client = Client;
    type Model = Model;
    const NAME: &'static str = "thing";

    fn schema(&self) -> Schema {
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
                    .validator(validators::length_between(1, 5))
                    .plan_modifier(modifiers::requires_replace()),
            )
    }

    async fn create(&self, _ctx: &Ctx<Client>, mut plan: Model) -> Result<Model> {
        if plan.name == "shout" {
            plan.name = plan.name.to_uppercase();
        }
        plan.id = Some(format!("id-{}", plan.name));
        Ok(plan)
    }

    async fn read(&self, _ctx: &Ctx<Client>, state: Model) -> Result<Option<Model>> {
        if state.name == "hang" {
            std::future::pending::<()>().await;
        }
        Ok((state.name != "gone").then_some(state))
    }

    async fn update(&self, _ctx: &Ctx<Client>, _prior: Model, plan: Model) -> Result<Model> {
        Ok(plan)
    }

    async fn delete(&self, _ctx: &Ctx<Client>, _state: Model) -> Result<()> {
        Ok(())
    }
}

struct Reverse;

impl Function for Reverse {
    const NAME: &'static str = "reverse";
    fn definition(&self) -> FunctionDefinition {
        FunctionDefinition {
            summary: "Reverse a string.".into(),
            description: String::new(),
            parameters: vec![Parameter::new("input", Type::String, "The text.")],
            variadic: None,
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

#[derive(Deserialize)]
struct Config {}

impl Provider for Test {
    type Client = Client;
    type Config = Config;
    const NAME: &'static str = "test";
    fn schema(&self) -> Schema {
        Schema::new("Test provider.")
    }
    async fn configure(&self, _c: Config, _raw: &Value) -> Result<Client> {
        Ok(Client)
    }
    fn resources(&self) -> Registry<Client> {
        Registry::new().resource(Thing).function(Reverse)
    }
}

fn ty() -> Type {
    Type::object([("id", Type::String), ("name", Type::String)])
}

fn dv(v: &Value) -> Option<pb::DynamicValue> {
    Some(pb::DynamicValue {
        msgpack: msgpack::encode(v, &ty()).unwrap(),
        json: Vec::new(),
    })
}

fn thing(id: Option<&str>, name: &str) -> Value {
    Value::object([
        ("id", id.map_or(Value::Null, Value::string)),
        ("name", Value::string(name)),
    ])
}

async fn configured() -> Arc<ProviderService<Test>> {
    let svc = Arc::new(ProviderService::new(Test));
    let resp = svc
        .configure_provider(Request::new(pb::configure_provider::Request {
            config: Some(pb::DynamicValue {
                msgpack: vec![0x80],
                json: Vec::new(),
            }),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(resp.diagnostics.is_empty(), "{:?}", resp.diagnostics);
    svc
}

fn errors(d: &[pb::Diagnostic]) -> Vec<String> {
    d.iter()
        .filter(|d| d.severity == pb::diagnostic::Severity::Error as i32)
        .map(|d| format!("{}: {}", d.summary, d.detail))
        .collect()
}

#[tokio::test]
async fn schema_advertises_capabilities_and_functions() {
    let svc = configured().await;
    let s = svc
        .get_provider_schema(Request::new(Default::default()))
        .await
        .unwrap()
        .into_inner();
    let caps = s.server_capabilities.unwrap();
    assert!(caps.plan_destroy && caps.get_provider_schema_optional && caps.move_resource_state);
    let thing = &s.resource_schemas["test_thing"];
    assert_eq!(thing.version, 2);
    assert!(s.functions.contains_key("reverse"));
    let funcs = svc
        .get_functions(Request::new(Default::default()))
        .await
        .unwrap()
        .into_inner();
    assert!(funcs.functions.contains_key("reverse"));
}

#[tokio::test]
async fn validation_points_at_the_attribute() {
    let svc = configured().await;
    let r = svc
        .validate_resource_config(Request::new(pb::validate_resource_config::Request {
            type_name: "test_thing".into(),
            config: dv(&thing(None, "far too long")),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.diagnostics.len(), 1);
    let path = r.diagnostics[0].attribute.as_ref().unwrap();
    assert_eq!(
        path.steps[0].selector,
        Some(pb::attribute_path::step::Selector::AttributeName(
            "name".into()
        ))
    );
    let unknown = svc
        .validate_resource_config(Request::new(pb::validate_resource_config::Request {
            type_name: "test_nothing".into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(errors(&unknown.diagnostics)[0].contains("test_nothing"));
}

#[tokio::test]
async fn state_from_a_newer_provider_is_refused_and_same_version_is_lenient() {
    let svc = configured().await;
    let newer = svc
        .upgrade_resource_state(Request::new(pb::upgrade_resource_state::Request {
            type_name: "test_thing".into(),
            version: 3,
            raw_state: Some(pb::RawState {
                json: br#"{"id":"a","name":"b"}"#.to_vec(),
                ..Default::default()
            }),
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(errors(&newer.diagnostics)[0].contains("newer provider"));
    // Same version, with an attribute the schema no longer has: dropped.
    let same = svc
        .upgrade_resource_state(Request::new(pb::upgrade_resource_state::Request {
            type_name: "test_thing".into(),
            version: 2,
            raw_state: Some(pb::RawState {
                json: br#"{"id":"a","name":"b","removed":1}"#.to_vec(),
                ..Default::default()
            }),
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(same.diagnostics.is_empty(), "{:?}", same.diagnostics);
    let v = msgpack::decode(&same.upgraded_state.unwrap().msgpack, &ty()).unwrap();
    assert_eq!(v, thing(Some("a"), "b"));
}

#[tokio::test]
async fn plan_create_update_replace_and_destroy() {
    let svc = configured().await;
    let plan = |prior: Value, config: Value, proposed: Value| {
        let svc = svc.clone();
        async move {
            svc.plan_resource_change(Request::new(pb::plan_resource_change::Request {
                type_name: "test_thing".into(),
                prior_state: dv(&prior),
                proposed_new_state: dv(&proposed),
                config: dv(&config),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner()
        }
    };
    let create = plan(Value::Null, thing(None, "a"), thing(None, "a")).await;
    let planned = msgpack::decode(&create.planned_state.unwrap().msgpack, &ty()).unwrap();
    assert!(planned.get("id").unwrap().is_unknown());
    let rename = plan(
        thing(Some("id-a"), "a"),
        thing(None, "b"),
        thing(Some("id-a"), "b"),
    )
    .await;
    assert_eq!(rename.requires_replace.len(), 1);
    let planned = msgpack::decode(&rename.planned_state.unwrap().msgpack, &ty()).unwrap();
    assert_eq!(
        planned.get("id"),
        Some(&Value::string("id-a")),
        "use_state_for_unknown"
    );
    let destroy = plan(thing(Some("id-a"), "a"), Value::Null, Value::Null).await;
    let planned = msgpack::decode(&destroy.planned_state.unwrap().msgpack, &ty()).unwrap();
    assert!(planned.is_null());
}

#[tokio::test]
async fn apply_creates_and_an_inconsistent_result_names_the_attribute() {
    let svc = configured().await;
    let apply = |name: &'static str| {
        let svc = svc.clone();
        async move {
            svc.apply_resource_change(Request::new(pb::apply_resource_change::Request {
                type_name: "test_thing".into(),
                prior_state: dv(&Value::Null),
                planned_state: dv(&Value::object([
                    ("id", Value::unknown()),
                    ("name", Value::string(name)),
                ])),
                config: dv(&thing(None, name)),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner()
        }
    };
    let ok = apply("a").await;
    assert!(ok.diagnostics.is_empty());
    let v = msgpack::decode(&ok.new_state.unwrap().msgpack, &ty()).unwrap();
    assert_eq!(v, thing(Some("id-a"), "a"));

    let bad = apply("shout").await;
    let e = errors(&bad.diagnostics);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].contains("inconsistent result") && e[0].contains("name"),
        "{e:?}"
    );
    let path = bad.diagnostics[0].attribute.as_ref().unwrap();
    assert_eq!(
        path.steps[0].selector,
        Some(pb::attribute_path::step::Selector::AttributeName(
            "name".into()
        ))
    );
}

/// ReadResource answers JSON, never msgpack (see `grpc::convert::encode_json`).
fn read_state(r: &pb::read_resource::Response) -> Value {
    let dv = r.new_state.as_ref().expect("a new state");
    assert!(dv.msgpack.is_empty(), "ReadResource answered msgpack");
    json::decode(&dv.json, &ty()).unwrap()
}

#[tokio::test]
async fn read_of_a_gone_object_removes_it_and_stop_cancels_reads() {
    let svc = configured().await;
    let read = |svc: Arc<ProviderService<Test>>, name: &'static str| async move {
        svc.read_resource(Request::new(pb::read_resource::Request {
            type_name: "test_thing".into(),
            current_state: dv(&thing(Some("x"), name)),
            private: br#"{"k":1}"#.to_vec(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
    };
    let gone = read(svc.clone(), "gone").await;
    assert!(
        read_state(&gone).is_null(),
        "not found means removed from state"
    );
    let kept = read(svc.clone(), "here").await;
    assert_eq!(read_state(&kept), thing(Some("x"), "here"));
    assert_eq!(kept.private, br#"{"k":1}"#.to_vec());

    // StopProvider ends a read that would never finish; state is kept.
    let hanging = tokio::spawn(read(svc.clone(), "hang"));
    tokio::time::sleep(Duration::from_millis(50)).await;
    svc.stop_provider(Request::new(Default::default()))
        .await
        .unwrap();
    let r = tokio::time::timeout(Duration::from_secs(5), hanging)
        .await
        .expect("read cancelled promptly")
        .unwrap();
    assert!(
        errors(&r.diagnostics)[0].contains("cancelled"),
        "{:?}",
        r.diagnostics
    );
    assert_eq!(read_state(&r), thing(Some("x"), "hang"));
    assert_eq!(
        r.private,
        br#"{"k":1}"#.to_vec(),
        "private state kept as sent"
    );
}

#[tokio::test]
async fn read_of_an_unknown_type_or_undecodable_state_echoes_what_was_sent() {
    let svc = configured().await;
    let sent = dv(&thing(Some("x"), "a"));
    for (type_name, state) in [
        ("test_nothing", sent.clone()),
        (
            "test_thing",
            Some(pb::DynamicValue {
                msgpack: vec![0xc1],
                json: Vec::new(),
            }),
        ),
    ] {
        let r = svc
            .read_resource(Request::new(pb::read_resource::Request {
                type_name: type_name.into(),
                current_state: state.clone(),
                private: b"p".to_vec(),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.new_state, state, "{type_name}");
        assert_eq!(r.private, b"p".to_vec());
        assert_eq!(errors(&r.diagnostics).len(), 1, "{:?}", r.diagnostics);
    }
}

#[tokio::test]
async fn function_errors_name_the_argument() {
    let svc = configured().await;
    let call = |arg: &str| {
        let svc = svc.clone();
        let arg = Value::string(arg);
        async move {
            svc.call_function(Request::new(pb::call_function::Request {
                name: "reverse".into(),
                arguments: vec![pb::DynamicValue {
                    msgpack: msgpack::encode(&arg, &Type::String).unwrap(),
                    json: Vec::new(),
                }],
            }))
            .await
            .unwrap()
            .into_inner()
        }
    };
    let ok = call("abc").await;
    let v = msgpack::decode(&ok.result.unwrap().msgpack, &Type::String).unwrap();
    assert_eq!(v, Value::string("cba"));
    let bad = call("").await;
    let e = bad.error.unwrap();
    assert_eq!(e.function_argument, Some(0));
    assert!(e.text.contains("empty"));
}

#[test]
fn any_error_converts() {
    let e: Error = std::io::Error::other("socket closed").into();
    assert_eq!(e.to_string(), "socket closed");
}
