//! A minimal provider binary: empty schemas, every other RPC `Unimplemented`.
//! Used by the server's integration tests; also a template for real binaries.
//!
//! ```text
//! cargo run -p labforge-server --example echo_plugin -- --debug
//! ```

use std::process::ExitCode;

use labforge_proto::tfplugin6::provider_server::Provider;
use labforge_proto::tfplugin6::{ServerCapabilities, get_provider_schema};
use labforge_server::PluginInfo;
use tonic::{Request, Response, Status};

const INFO: PluginInfo = PluginInfo {
    address: "registry.terraform.io/labforge/echo",
    name: "echo",
    version: env!("CARGO_PKG_VERSION"),
};

struct Echo;

#[tonic::async_trait]
impl Provider for Echo {
    async fn get_provider_schema(
        &self,
        _request: Request<get_provider_schema::Request>,
    ) -> Result<Response<get_provider_schema::Response>, Status> {
        tracing::debug!("GetProviderSchema");
        if std::env::var_os("ECHO_PLUGIN_PANIC").is_some() {
            panic!("echo plugin was asked to panic");
        }
        Ok(Response::new(get_provider_schema::Response {
            server_capabilities: Some(ServerCapabilities {
                plan_destroy: true,
                get_provider_schema_optional: true,
                ..Default::default()
            }),
            ..Default::default()
        }))
    }
}

fn main() -> ExitCode {
    labforge_server::main(INFO, || Echo)
}
