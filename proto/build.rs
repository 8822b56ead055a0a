//! Compiles the protocol definitions in this crate with protox (pure Rust, no
//! system `protoc`) and generates prost messages plus tonic clients/servers.

use std::error::Error;

const PROTOS: &[&str] = &[
    "tfplugin6.proto",
    "plugin/grpc_controller.proto",
    "plugin/grpc_stdio.proto",
    "plugin/grpc_broker.proto",
    "health.proto",
];

fn main() -> Result<(), Box<dyn Error>> {
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    let fds = protox::compile(PROTOS, ["."])?;
    tonic_prost_build::configure()
        // Clients are used by tests and by tooling; servers by labforge-server.
        .build_client(true)
        .build_server(true)
        // No `connect()` helpers: they need tonic's `channel` feature.
        .build_transport(false)
        // Every RPC a provider does not override answers `Unimplemented`.
        .generate_default_stubs(true)
        .compile_fds(fds)?;
    Ok(())
}
