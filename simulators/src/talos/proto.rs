//! The generated protobuf messages, tonic servers (the simulator) and
//! tonic clients (tests) of `simulators/proto/talos/` (our own minimal
//! copies of Talos's and COSI's definitions: same packages, names and
//! field numbers; see `simulators/build.rs`).

#![allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]

/// Talos `common` package.
pub mod common {
    tonic::include_proto!("common");
}

/// Talos `machine` package (MachineService).
pub mod machine {
    tonic::include_proto!("machine");
}

/// COSI's `cosi.resource` package (the State service).
pub mod cosi {
    /// `cosi.resource`.
    pub mod resource {
        tonic::include_proto!("cosi.resource");
    }
}

/// Talos `resource.config` (MachineConfig's spec,
/// `api/resource/config/config.proto`).
pub mod config {
    tonic::include_proto!("resource.config");
}
