//! The wire layer: the tfplugin6 `Provider` service. Each RPC decodes its
//! request (`convert`), calls the server logic ([`crate::server`]) and
//! encodes the answer. Nothing above this module sees protobuf.

mod convert;

use labforge_proto::tfplugin6 as pb;
use pb::provider_server::Provider as ProviderRpc;
use tonic::{Request, Response, Status};

use crate::diag::Diagnostics;
use crate::provider::Provider;
use crate::server::{ApplyRequest, MoveRequest, PlanRequest, ProviderServer};
use convert::{
    decode, decode_private, details, diags_proto, encode, encode_json, encode_private, path_proto,
    timestamp,
};

pub use convert::schema_proto;

/// The tfplugin6 service for a [`Provider`].
pub struct ProviderService<P: Provider> {
    server: ProviderServer<P>,
    schema_response: pb::get_provider_schema::Response,
}

impl<P: Provider> ProviderService<P> {
    /// Wrap `provider`; its schemas are converted once, here.
    pub fn new(provider: P) -> Self {
        let server = ProviderServer::new(provider);
        let schema_response = convert::schema_response(&server.schemas());
        Self {
            server,
            schema_response,
        }
    }
}

fn ok<T>(t: T) -> Result<Response<T>, Status> {
    Ok(Response::new(t))
}

#[tonic::async_trait]
impl<P: Provider> ProviderRpc for ProviderService<P> {
    async fn get_metadata(
        &self,
        _req: Request<pb::get_metadata::Request>,
    ) -> Result<Response<pb::get_metadata::Response>, Status> {
        use pb::get_metadata as m;
        let md = self.server.metadata();
        ok(m::Response {
            server_capabilities: self.schema_response.server_capabilities,
            resources: md
                .resources
                .into_iter()
                .map(|type_name| m::ResourceMetadata { type_name })
                .collect(),
            data_sources: md
                .data_sources
                .into_iter()
                .map(|type_name| m::DataSourceMetadata { type_name })
                .collect(),
            ephemeral_resources: md
                .ephemeral_resources
                .into_iter()
                .map(|type_name| m::EphemeralMetadata { type_name })
                .collect(),
            functions: md
                .functions
                .into_iter()
                .map(|name| m::FunctionMetadata { name })
                .collect(),
            ..Default::default()
        })
    }

    async fn get_provider_schema(
        &self,
        _req: Request<pb::get_provider_schema::Request>,
    ) -> Result<Response<pb::get_provider_schema::Response>, Status> {
        ok(self.schema_response.clone())
    }

    async fn get_resource_identity_schemas(
        &self,
        _req: Request<pb::get_resource_identity_schemas::Request>,
    ) -> Result<Response<pb::get_resource_identity_schemas::Response>, Status> {
        ok(Default::default())
    }

    async fn validate_provider_config(
        &self,
        req: Request<pb::validate_provider_config::Request>,
    ) -> Result<Response<pb::validate_provider_config::Response>, Status> {
        let req = req.into_inner();
        let diags = decode(req.config.as_ref(), self.server.provider_type())
            .map(|config| self.server.validate_provider_config(&config))
            .unwrap_or_else(|d| d);
        ok(pb::validate_provider_config::Response {
            diagnostics: diags_proto(&diags),
        })
    }

    async fn configure_provider(
        &self,
        req: Request<pb::configure_provider::Request>,
    ) -> Result<Response<pb::configure_provider::Response>, Status> {
        let req = req.into_inner();
        let diags = match decode(req.config.as_ref(), self.server.provider_type()) {
            Ok(config) => self.server.configure_provider(config).await,
            Err(d) => d,
        };
        ok(pb::configure_provider::Response {
            diagnostics: diags_proto(&diags),
        })
    }

    async fn stop_provider(
        &self,
        _req: Request<pb::stop_provider::Request>,
    ) -> Result<Response<pb::stop_provider::Response>, Status> {
        self.server.stop();
        ok(pb::stop_provider::Response::default())
    }

    async fn validate_resource_config(
        &self,
        req: Request<pb::validate_resource_config::Request>,
    ) -> Result<Response<pb::validate_resource_config::Response>, Status> {
        let req = req.into_inner();
        let allowed = req
            .client_capabilities
            .is_some_and(|c| c.write_only_attributes_allowed);
        let diags = self
            .server
            .resource_type(&req.type_name)
            .and_then(|ty| decode(req.config.as_ref(), ty))
            .map(|config| {
                self.server
                    .validate_resource_config(&req.type_name, &config, allowed)
            })
            .unwrap_or_else(|d| d);
        ok(pb::validate_resource_config::Response {
            diagnostics: diags_proto(&diags),
        })
    }

    async fn upgrade_resource_state(
        &self,
        req: Request<pb::upgrade_resource_state::Request>,
    ) -> Result<Response<pb::upgrade_resource_state::Response>, Status> {
        let req = req.into_inner();
        let json = req.raw_state.map(|s| s.json).unwrap_or_default();
        let result = self
            .server
            .upgrade_resource_state(&req.type_name, req.version, &json)
            .and_then(|v| encode(&v, self.server.resource_type(&req.type_name)?));
        let (state, diags) = match result {
            Ok(s) => (Some(s), Diagnostics::new()),
            Err(d) => (None, d),
        };
        ok(pb::upgrade_resource_state::Response {
            upgraded_state: state,
            diagnostics: diags_proto(&diags),
        })
    }

    /// The new state goes back JSON-encoded, on every path where it could be
    /// decoded (see `convert::encode_json`): a refresh that changes nothing
    /// must leave a state equal to the state file's.
    async fn read_resource(
        &self,
        req: Request<pb::read_resource::Request>,
    ) -> Result<Response<pb::read_resource::Response>, Status> {
        let req = req.into_inner();
        let decoded = self
            .server
            .resource_type(&req.type_name)
            .and_then(|ty| Ok((ty, decode(req.current_state.as_ref(), ty)?)));
        let (ty, state) = match decoded {
            Ok(x) => x,
            Err(d) => {
                return ok(pb::read_resource::Response {
                    new_state: req.current_state,
                    diagnostics: diags_proto(&d),
                    private: req.private,
                    ..Default::default()
                });
            }
        };
        let read = self
            .server
            .read_resource(&req.type_name, state, decode_private(&req.private))
            .await;
        let mut diags = read.diagnostics;
        let new_state = match encode_json(&read.state, ty) {
            Ok(dv) => Some(dv),
            Err(d) => {
                diags.extend(d);
                req.current_state
            }
        };
        ok(pb::read_resource::Response {
            new_state,
            diagnostics: diags_proto(&diags),
            private: read.private.map_or(req.private, |p| encode_private(&p)),
            ..Default::default()
        })
    }

    async fn plan_resource_change(
        &self,
        req: Request<pb::plan_resource_change::Request>,
    ) -> Result<Response<pb::plan_resource_change::Response>, Status> {
        let req = req.into_inner();
        let result = async {
            let ty = self.server.resource_type(&req.type_name)?;
            let input = PlanRequest {
                prior: decode(req.prior_state.as_ref(), ty)?,
                proposed: decode(req.proposed_new_state.as_ref(), ty)?,
                config: decode(req.config.as_ref(), ty)?,
                private: decode_private(&req.prior_private),
            };
            let planned = self
                .server
                .plan_resource_change(&req.type_name, input)
                .await?;
            Ok::<_, Diagnostics>(pb::plan_resource_change::Response {
                planned_state: Some(encode(&planned.state, ty)?),
                requires_replace: planned.requires_replace.iter().map(path_proto).collect(),
                planned_private: encode_private(&planned.private),
                diagnostics: diags_proto(&planned.diagnostics),
                ..Default::default()
            })
        }
        .await;
        ok(
            result.unwrap_or_else(|d| pb::plan_resource_change::Response {
                diagnostics: diags_proto(&d),
                ..Default::default()
            }),
        )
    }

    async fn apply_resource_change(
        &self,
        req: Request<pb::apply_resource_change::Request>,
    ) -> Result<Response<pb::apply_resource_change::Response>, Status> {
        let req = req.into_inner();
        let result = async {
            let ty = self.server.resource_type(&req.type_name)?;
            let input = ApplyRequest {
                prior: decode(req.prior_state.as_ref(), ty)?,
                planned: decode(req.planned_state.as_ref(), ty)?,
                config: decode(req.config.as_ref(), ty)?,
                private: decode_private(&req.planned_private),
            };
            let applied = self
                .server
                .apply_resource_change(&req.type_name, input)
                .await?;
            Ok::<_, Diagnostics>(pb::apply_resource_change::Response {
                new_state: Some(encode(&applied.state, ty)?),
                private: encode_private(&applied.private),
                diagnostics: diags_proto(&applied.diagnostics),
                ..Default::default()
            })
        }
        .await;
        ok(
            result.unwrap_or_else(|d| pb::apply_resource_change::Response {
                new_state: req.prior_state.clone(),
                diagnostics: diags_proto(&d),
                ..Default::default()
            }),
        )
    }

    async fn import_resource_state(
        &self,
        req: Request<pb::import_resource_state::Request>,
    ) -> Result<Response<pb::import_resource_state::Response>, Status> {
        use pb::import_resource_state::{ImportedResource, Response as R};
        let req = req.into_inner();
        let result = async {
            let ty = self.server.resource_type(&req.type_name)?;
            let imported = self
                .server
                .import_resource_state(&req.type_name, &req.id)
                .await?;
            Ok::<_, Diagnostics>(R {
                imported_resources: vec![ImportedResource {
                    type_name: req.type_name.clone(),
                    state: Some(encode(&imported.state, ty)?),
                    private: encode_private(&imported.private),
                    identity: None,
                }],
                diagnostics: diags_proto(&imported.diagnostics),
                deferred: None,
            })
        }
        .await;
        ok(result.unwrap_or_else(|d| R {
            diagnostics: diags_proto(&d),
            ..Default::default()
        }))
    }

    async fn move_resource_state(
        &self,
        req: Request<pb::move_resource_state::Request>,
    ) -> Result<Response<pb::move_resource_state::Response>, Status> {
        let req = req.into_inner();
        let input = MoveRequest {
            provider_address: req.source_provider_address,
            type_name: req.source_type_name,
            schema_version: req.source_schema_version,
            json: req.source_state.map(|s| s.json).unwrap_or_default(),
        };
        let result = self
            .server
            .move_resource_state(&req.target_type_name, input)
            .and_then(|v| encode(&v, self.server.resource_type(&req.target_type_name)?));
        ok(match result {
            Ok(state) => pb::move_resource_state::Response {
                target_state: Some(state),
                target_private: req.source_private,
                ..Default::default()
            },
            Err(d) => pb::move_resource_state::Response {
                diagnostics: diags_proto(&d),
                ..Default::default()
            },
        })
    }

    async fn validate_data_resource_config(
        &self,
        req: Request<pb::validate_data_resource_config::Request>,
    ) -> Result<Response<pb::validate_data_resource_config::Response>, Status> {
        let req = req.into_inner();
        let diags = self
            .server
            .data_source_type(&req.type_name)
            .and_then(|ty| decode(req.config.as_ref(), ty))
            .map(|config| {
                self.server
                    .validate_data_resource_config(&req.type_name, &config)
            })
            .unwrap_or_else(|d| d);
        ok(pb::validate_data_resource_config::Response {
            diagnostics: diags_proto(&diags),
        })
    }

    async fn read_data_source(
        &self,
        req: Request<pb::read_data_source::Request>,
    ) -> Result<Response<pb::read_data_source::Response>, Status> {
        let req = req.into_inner();
        let result = async {
            let ty = self.server.data_source_type(&req.type_name)?;
            let config = decode(req.config.as_ref(), ty)?;
            let read = self.server.read_data_source(&req.type_name, config).await?;
            Ok::<_, Diagnostics>(pb::read_data_source::Response {
                state: Some(encode(&read.state, ty)?),
                diagnostics: diags_proto(&read.diagnostics),
                deferred: None,
            })
        }
        .await;
        ok(result.unwrap_or_else(|d| pb::read_data_source::Response {
            diagnostics: diags_proto(&d),
            ..Default::default()
        }))
    }

    async fn validate_ephemeral_resource_config(
        &self,
        req: Request<pb::validate_ephemeral_resource_config::Request>,
    ) -> Result<Response<pb::validate_ephemeral_resource_config::Response>, Status> {
        let req = req.into_inner();
        let diags = self
            .server
            .ephemeral_type(&req.type_name)
            .and_then(|ty| decode(req.config.as_ref(), ty))
            .map(|config| {
                self.server
                    .validate_ephemeral_resource_config(&req.type_name, &config)
            })
            .unwrap_or_else(|d| d);
        ok(pb::validate_ephemeral_resource_config::Response {
            diagnostics: diags_proto(&diags),
        })
    }

    async fn open_ephemeral_resource(
        &self,
        req: Request<pb::open_ephemeral_resource::Request>,
    ) -> Result<Response<pb::open_ephemeral_resource::Response>, Status> {
        let req = req.into_inner();
        let result = async {
            let ty = self.server.ephemeral_type(&req.type_name)?;
            let config = decode(req.config.as_ref(), ty)?;
            let opened = self
                .server
                .open_ephemeral_resource(&req.type_name, config)
                .await?;
            Ok::<_, Diagnostics>(pb::open_ephemeral_resource::Response {
                result: Some(encode(&opened.result, ty)?),
                renew_at: opened.renew_at.map(timestamp),
                private: Some(encode_private(&opened.private)),
                diagnostics: diags_proto(&opened.diagnostics),
                deferred: None,
            })
        }
        .await;
        ok(
            result.unwrap_or_else(|d| pb::open_ephemeral_resource::Response {
                diagnostics: diags_proto(&d),
                ..Default::default()
            }),
        )
    }

    async fn renew_ephemeral_resource(
        &self,
        req: Request<pb::renew_ephemeral_resource::Request>,
    ) -> Result<Response<pb::renew_ephemeral_resource::Response>, Status> {
        let req = req.into_inner();
        let private = decode_private(req.private.as_deref().unwrap_or_default());
        let result = self
            .server
            .renew_ephemeral_resource(&req.type_name, private)
            .await;
        ok(match result {
            Ok(renewed) => pb::renew_ephemeral_resource::Response {
                renew_at: renewed.renew_at.map(timestamp),
                private: Some(encode_private(&renewed.private)),
                diagnostics: diags_proto(&renewed.diagnostics),
            },
            Err(d) => pb::renew_ephemeral_resource::Response {
                diagnostics: diags_proto(&d),
                ..Default::default()
            },
        })
    }

    async fn close_ephemeral_resource(
        &self,
        req: Request<pb::close_ephemeral_resource::Request>,
    ) -> Result<Response<pb::close_ephemeral_resource::Response>, Status> {
        let req = req.into_inner();
        let private = decode_private(req.private.as_deref().unwrap_or_default());
        let diags = self
            .server
            .close_ephemeral_resource(&req.type_name, private)
            .await;
        ok(pb::close_ephemeral_resource::Response {
            diagnostics: diags_proto(&diags),
        })
    }

    async fn get_functions(
        &self,
        _req: Request<pb::get_functions::Request>,
    ) -> Result<Response<pb::get_functions::Response>, Status> {
        ok(pb::get_functions::Response {
            functions: self.schema_response.functions.clone(),
            diagnostics: Vec::new(),
        })
    }

    async fn call_function(
        &self,
        req: Request<pb::call_function::Request>,
    ) -> Result<Response<pb::call_function::Response>, Status> {
        let req = req.into_inner();
        let result = (|| {
            let sig = self
                .server
                .function_signature(&req.name, req.arguments.len())?;
            let args = req
                .arguments
                .iter()
                .zip(&sig.parameters)
                .enumerate()
                .map(|(i, (dv, ty))| {
                    decode(Some(dv), ty)
                        .map_err(|d| crate::FunctionError::argument(i as i64, details(&d)))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let v = self.server.call_function(&req.name, args)?;
            encode(&v, &sig.returns).map_err(|d| crate::FunctionError {
                text: details(&d),
                argument: None,
            })
        })();
        ok(match result {
            Ok(dv) => pb::call_function::Response {
                result: Some(dv),
                error: None,
            },
            Err(e) => pb::call_function::Response {
                result: None,
                error: Some(pb::FunctionError {
                    text: e.text,
                    function_argument: e.argument,
                }),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use labforge_cty::Value;

    use super::*;
    use crate::server::testing::{Test, thing, thing_type, with};

    async fn service() -> ProviderService<Test> {
        let svc = ProviderService::new(Test);
        let config = Value::object([("fail", Value::Null), ("label", Value::Null)]);
        let r = svc
            .configure_provider(Request::new(pb::configure_provider::Request {
                config: Some(encode(&config, svc.server.provider_type()).unwrap()),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner();
        assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
        svc
    }

    async fn read(svc: &ProviderService<Test>, state: &Value) -> pb::read_resource::Response {
        svc.read_resource(Request::new(pb::read_resource::Request {
            type_name: "test_thing".into(),
            // Terraform sends the prior state in msgpack.
            current_state: Some(encode(state, &thing_type()).unwrap()),
            private: br#"{"counter":3}"#.to_vec(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
    }

    /// Every answer of ReadResource is JSON, in the form Terraform writes to the
    /// state file; when the state is kept (a failed read, configuration not
    /// known yet, an unknown answered) it is the state sent, re-encoded, not
    /// the msgpack bytes Terraform sent.
    #[tokio::test]
    async fn read_answers_json_on_every_path() {
        let svc = service().await;
        for (name, changed, error) in [
            ("here", false, false),
            ("later", false, false),
            ("broken", false, true),
            ("unknowable", false, true),
            ("drift", true, false),
        ] {
            let sent = thing(name, 12);
            let r = read(&svc, &sent).await;
            let dv = r.new_state.unwrap();
            assert!(dv.msgpack.is_empty(), "{name}: msgpack answered");
            let expected = if changed {
                with(
                    &sent,
                    "size",
                    Value::Number(labforge_cty::Number::from_i64(13)),
                )
            } else {
                sent.clone()
            };
            assert_eq!(
                dv.json,
                labforge_cty::json::encode(&expected, &thing_type()).unwrap(),
                "{name}"
            );
            assert_eq!(
                !r.diagnostics.is_empty(),
                error,
                "{name}: {:?}",
                r.diagnostics
            );
            assert_eq!(r.private, br#"{"counter":3}"#, "{name}: private state");
        }
        let gone = read(&svc, &thing("gone", 1)).await;
        assert_eq!(gone.new_state.unwrap().json, b"null");
        assert!(gone.diagnostics.is_empty());
    }

    #[tokio::test]
    async fn read_before_configure_keeps_the_state_in_json() {
        let svc = ProviderService::new(Test);
        let r = read(&svc, &thing("a", 1)).await;
        assert_eq!(
            r.new_state.unwrap().json,
            labforge_cty::json::encode(&thing("a", 1), &thing_type()).unwrap()
        );
        assert_eq!(r.diagnostics[0].summary, "Provider not configured");
    }

    #[tokio::test]
    async fn function_arguments_are_decoded_by_position() {
        let svc = service().await;
        let call = |args: Vec<(Value, labforge_cty::Type)>| {
            let arguments = args.iter().map(|(v, t)| encode(v, t).unwrap()).collect();
            svc.call_function(Request::new(pb::call_function::Request {
                name: "reverse".into(),
                arguments,
            }))
        };
        let ok = call(vec![
            (Value::string("abc"), labforge_cty::Type::String),
            (
                Value::Number(labforge_cty::Number::from_i64(1)),
                labforge_cty::Type::Number,
            ),
        ])
        .await
        .unwrap()
        .into_inner();
        assert_eq!(
            decode(ok.result.as_ref(), &labforge_cty::Type::String).unwrap(),
            Value::string("cba")
        );
        // A string where the variadic number goes: the argument is named.
        let bad = call(vec![
            (Value::string("abc"), labforge_cty::Type::String),
            (Value::string("x"), labforge_cty::Type::String),
        ])
        .await
        .unwrap()
        .into_inner();
        assert_eq!(bad.error.unwrap().function_argument, Some(1));
        let missing = svc
            .call_function(Request::new(pb::call_function::Request {
                name: "nothing".into(),
                arguments: Vec::new(),
            }))
            .await
            .unwrap()
            .into_inner();
        assert!(missing.error.unwrap().text.contains("no function"));
    }
}
