//! Terraform plugin protocol 6 and go-plugin service definitions, written by
//! labforge and compiled at build time (prost + tonic, via protox: no system
//! `protoc` needed).
//!
//! # Where to start
//!
//! * [`tfplugin6`]: the provider protocol. Implement
//!   [`tfplugin6::provider_server::Provider`] (every RPC has a default body that
//!   answers `Unimplemented`) and wrap it in
//!   [`tfplugin6::provider_server::ProviderServer`]. Tests talk to a provider with
//!   [`tfplugin6::provider_client::ProviderClient`].
//! * [`plugin`]: go-plugin's side services (`GRPCController` for shutdown,
//!   `GRPCStdio`, `GRPCBroker`).
//! * [`health`]: the standard `grpc.health.v1.Health` service.
//!
//! The `.proto` sources live next to `Cargo.toml` in this crate; `README.md`
//! there says which protocol version they match and how to update them.
//! The labforge-server crate wires all of this into a go-plugin compatible
//! process; most code should depend on that (or on the framework) instead.

#![warn(missing_docs, unreachable_pub)]

/// Terraform plugin protocol, major version 6 (package `tfplugin6`).
#[allow(
    missing_docs,
    unreachable_pub,
    clippy::all,
    clippy::pedantic,
    clippy::nursery,
    clippy::unwrap_used,
    clippy::print_stdout
)]
pub mod tfplugin6 {
    tonic::include_proto!("tfplugin6");
}

/// go-plugin's own services (package `plugin`).
#[allow(
    missing_docs,
    unreachable_pub,
    clippy::all,
    clippy::pedantic,
    clippy::nursery,
    clippy::unwrap_used,
    clippy::print_stdout
)]
pub mod plugin {
    tonic::include_proto!("plugin");
}

/// gRPC health checking (package `grpc.health.v1`).
#[allow(
    missing_docs,
    unreachable_pub,
    clippy::all,
    clippy::pedantic,
    clippy::nursery,
    clippy::unwrap_used,
    clippy::print_stdout
)]
pub mod health {
    tonic::include_proto!("grpc.health.v1");
}

#[cfg(test)]
mod tests {
    use super::tfplugin6;
    use prost::Message;

    /// Bytes captured by hand from the field numbers: schema attribute
    /// `name` (1) = "a", `type` (2) = "\"string\"", `write_only` (11) = true,
    /// `deprecation_message` (12) = "x".
    #[test]
    fn attribute_field_numbers() {
        let attr = tfplugin6::schema::Attribute {
            name: "a".into(),
            r#type: b"\"string\"".to_vec(),
            write_only: true,
            deprecation_message: "x".into(),
            ..Default::default()
        };
        let bytes = attr.encode_to_vec();
        let mut expected = vec![0x0a, 0x01, b'a', 0x12, 0x08];
        expected.extend_from_slice(b"\"string\"");
        expected.extend_from_slice(&[0x58, 0x01, 0x62, 0x01, b'x']);
        assert_eq!(bytes, expected);
    }

    #[test]
    fn client_capabilities_round_trip() {
        let caps = tfplugin6::ClientCapabilities {
            deferral_allowed: true,
            write_only_attributes_allowed: true,
            store_planned_private: true,
            computed_blocks_allowed: true,
        };
        assert_eq!(
            caps.encode_to_vec(),
            vec![0x08, 1, 0x10, 1, 0x18, 1, 0x20, 1]
        );
        let back = tfplugin6::ClientCapabilities::decode(&caps.encode_to_vec()[..]);
        assert_eq!(back.ok(), Some(caps));
    }

    #[test]
    fn stop_provider_error_field_is_one() {
        let resp = tfplugin6::stop_provider::Response { error: "e".into() };
        assert_eq!(resp.encode_to_vec(), vec![0x0a, 0x01, b'e']);
    }
}
