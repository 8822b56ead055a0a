//! The Talos API messages, clients and servers generated at build time from
//! labforge's minimal definitions in `backends/talos/proto/` (vendor packages,
//! names and field numbers; see each `.proto` for its upstream file).
//!
//! Public so the crate's integration test can serve a Talos API in-process;
//! resources use the typed [`Client`](super::Client) instead.

#![allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]

/// Upstream package `common` (siderolabs/talos api/common/common.proto).
pub mod common {
    tonic::include_proto!("common");
}

/// Upstream package `machine` (siderolabs/talos api/machine/machine.proto).
pub mod machine {
    tonic::include_proto!("machine");
}

/// Upstream package `cosi.resource` (cosi-project/specification proto/v1alpha1).
pub mod cosi {
    /// COSI resources and the state service.
    pub mod resource {
        tonic::include_proto!("cosi.resource");
    }
}

/// Upstream package `resource.config` (siderolabs/talos api/resource/config/config.proto).
pub mod resource {
    /// Resource specs of the `config` namespace.
    pub mod config {
        tonic::include_proto!("resource.config");
    }
}
