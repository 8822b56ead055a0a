//! Compiles labforge's minimal Talos API definitions (proto/) with protox (pure
//! Rust, no system `protoc`): prost messages, tonic clients, and the servers
//! the crate's integration test runs in-process.

use std::error::Error;

const PROTOS: &[&str] = &[
    "common/common.proto",
    "machine/machine.proto",
    "v1alpha1/resource.proto",
    "v1alpha1/state.proto",
    "resource/config/config.proto",
];

fn main() -> Result<(), Box<dyn Error>> {
    for proto in PROTOS {
        println!("cargo:rerun-if-changed=proto/{proto}");
    }
    let fds = protox::compile(PROTOS, ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        // Servers only serve the integration test's in-process Talos API.
        .build_server(true)
        // No `connect()` helpers: they need tonic's `channel` feature.
        .build_transport(false)
        .compile_fds(fds)?;
    Ok(())
}
