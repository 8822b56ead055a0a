//! Compiles the Talos simulator's protocol definitions (`proto/talos/`:
//! our own minimal copies of Talos's and COSI's messages, same packages,
//! names and field numbers) with protox (pure Rust, no system `protoc`)
//! into prost messages, tonic servers (the simulator) and tonic clients
//! (its tests).

use std::error::Error;

const PROTOS: &[&str] = &[
    "common/common.proto",
    "machine/machine.proto",
    "cosi/resource.proto",
    "resource/config.proto",
];

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed=proto/talos");
    let fds = protox::compile(PROTOS, ["proto/talos"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // No `connect()` helpers: the tests bring their own TLS connector.
        .build_transport(false)
        // RPCs the simulator does not serve answer `Unimplemented`.
        .generate_default_stubs(true)
        .compile_fds(fds)?;
    Ok(())
}
