//! Compiles labforge's minimal Talos API definitions (proto/) with protox (pure
//! Rust, no system `protoc`): prost messages and tonic clients. No servers:
//! the tests run against the Talos simulator (labforge-simulators).

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
        .build_server(false)
        // No `connect()` helpers: they need tonic's `channel` feature.
        .build_transport(false)
        .compile_fds(fds)?;
    Ok(())
}
