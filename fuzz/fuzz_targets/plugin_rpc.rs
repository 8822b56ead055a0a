//! The provider's gRPC entry points, as Terraform reaches them: the request
//! message is decoded from protobuf (as tonic does), then the provider
//! decodes its `DynamicValue` (msgpack or JSON) or `RawState` JSON against the
//! real schemas of every backend: the provider block (ValidateProviderConfig),
//! each resource (ValidateResourceConfig, UpgradeResourceState) and each data
//! source (ValidateDataResourceConfig). Nothing here configures a backend, so
//! no request leaves the process.
//!
//! Input: byte 0 picks the call, byte 1 the resource or data source type;
//! the rest is, by call, a DynamicValue's msgpack, its JSON, a RawState's
//! JSON, or a whole protobuf request message.
#![no_main]

use std::sync::OnceLock;

use homelab::Homelab;
use labforge_framework::grpc::ProviderService;
use labforge_proto::tfplugin6 as pb;
use libfuzzer_sys::fuzz_target;
use pb::provider_server::Provider as _;
use prost::Message;
use tonic::Request;

struct Harness {
    rt: tokio::runtime::Runtime,
    service: ProviderService<Homelab>,
    resources: Vec<String>,
    data_sources: Vec<String>,
}

fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a tokio runtime");
        let service = ProviderService::new(Homelab);
        let md = rt
            .block_on(service.get_metadata(Request::new(pb::get_metadata::Request {})))
            .expect("metadata")
            .into_inner();
        Harness {
            rt,
            service,
            resources: md.resources.into_iter().map(|r| r.type_name).collect(),
            data_sources: md.data_sources.into_iter().map(|d| d.type_name).collect(),
        }
    })
}

fn value(body: &[u8], json: bool) -> Option<pb::DynamicValue> {
    Some(if json {
        pb::DynamicValue {
            msgpack: Vec::new(),
            json: body.to_vec(),
        }
    } else {
        pb::DynamicValue {
            msgpack: body.to_vec(),
            json: Vec::new(),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let [call, pick, body @ ..] = data else {
        return;
    };
    let h = harness();
    let pick = usize::from(*pick);
    let resource = h.resources[pick % h.resources.len()].clone();
    let data_source = h.data_sources[pick % h.data_sources.len()].clone();
    let json = call & 1 == 1;
    let s = &h.service;
    h.rt.block_on(async {
        match (call >> 1) % 6 {
            0 => {
                let req = pb::validate_provider_config::Request {
                    config: value(body, json),
                };
                let _ = s.validate_provider_config(Request::new(req)).await;
            }
            1 => {
                let req = pb::validate_resource_config::Request {
                    type_name: resource,
                    config: value(body, json),
                    client_capabilities: Some(pb::ClientCapabilities {
                        write_only_attributes_allowed: json,
                        ..Default::default()
                    }),
                };
                let _ = s.validate_resource_config(Request::new(req)).await;
            }
            2 => {
                let req = pb::validate_data_resource_config::Request {
                    type_name: data_source,
                    config: value(body, json),
                };
                let _ = s.validate_data_resource_config(Request::new(req)).await;
            }
            3 => {
                let req = pb::upgrade_resource_state::Request {
                    type_name: resource,
                    version: i64::from(*call >> 7),
                    raw_state: Some(pb::RawState {
                        json: body.to_vec(),
                        flatmap: Default::default(),
                    }),
                };
                let _ = s.upgrade_resource_state(Request::new(req)).await;
            }
            4 => {
                if let Ok(req) = pb::validate_resource_config::Request::decode(body) {
                    let _ = s.validate_resource_config(Request::new(req)).await;
                }
            }
            _ => {
                if let Ok(req) = pb::upgrade_resource_state::Request::decode(body) {
                    let _ = s.upgrade_resource_state(Request::new(req)).await;
                }
            }
        }
    });
});
