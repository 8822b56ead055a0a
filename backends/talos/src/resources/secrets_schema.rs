//! The schema pieces of the machine secrets that the resource
//! (`homelab_talos_machine_secrets`) and the data sources
//! (`homelab_talos_machine_configuration`, `homelab_talos_client_configuration`)
//! share: the `machine_secrets` and `client_configuration` attributes, as
//! computed outputs or required inputs, and `talos_version` (its default, its
//! validator, the contract it names).

use std::str::FromStr;

use labforge_framework::schema::{Attribute, Nesting, validators};

use crate::secrets::Contract;

/// The version contract used when `talos_version` is not set: the newest
/// supported.
pub const DEFAULT_TALOS_VERSION: &str = "v1.14";

/// The contract a `talos_version` names, or the validation error text.
pub fn contract_of(version: &str) -> std::result::Result<Contract, String> {
    Contract::from_str(version).map_err(|e| e.to_string())
}

/// `talos_version`: a version contract, validated at validate time.
pub fn talos_version_validator() -> impl validators::Validator {
    validators::from_fn(
        "A supported Talos version: `v1.13` or `v1.14` (a patch version such as `v1.13.9` \
         names its minor's contract).",
        |v| match v.as_str() {
            Some(s) => contract_of(s).map(|_| ()),
            None => Ok(()),
        },
    )
}

/// The nested attributes of `machine_secrets`. `input`: as an input of a
/// data source (required, sensitive); otherwise computed.
pub fn machine_secrets_attr(input: bool, description: &str) -> Attribute {
    let leaf = |d: &str| {
        let a = Attribute::string().describe(d);
        if input { a.required() } else { a.computed() }
    };
    let optional_leaf = |d: &str| {
        let a = Attribute::string().describe(d);
        if input { a.optional() } else { a.computed() }
    };
    let group = |attrs: Vec<(&'static str, Attribute)>, d: &str| {
        let a = Attribute::nested(Nesting::Single, attrs).describe(d);
        if input { a.required() } else { a.computed() }
    };
    let cert_key = |what: &str| {
        group(
            vec![
                ("cert", leaf(&format!("{what} certificate, base64 of PEM."))),
                ("key", leaf(&format!("{what} private key, base64 of PEM."))),
            ],
            what,
        )
    };
    let a = Attribute::nested(
        Nesting::Single,
        [
            (
                "cluster",
                group(
                    vec![
                        ("id", leaf("Cluster ID (32 random bytes, base64url).")),
                        ("secret", leaf("Cluster secret (32 random bytes, base64).")),
                    ],
                    "Cluster identity, used by discovery.",
                ),
            ),
            (
                "secrets",
                group(
                    vec![
                        (
                            "bootstrap_token",
                            leaf("Kubernetes bootstrap token (`[a-z0-9]{6}.[a-z0-9]{16}`)."),
                        ),
                        (
                            "secretbox_encryption_secret",
                            leaf("Secret for Kubernetes secrets encryption at rest (secretbox)."),
                        ),
                        (
                            "aescbc_encryption_secret",
                            optional_leaf(
                                "AES-CBC encryption secret: only bundles made for Talos 1.2 and \
                                 older have one; null otherwise.",
                            ),
                        ),
                    ],
                    "Cluster secrets.",
                ),
            ),
            (
                "trustdinfo",
                group(
                    vec![(
                        "token",
                        leaf("trustd token, for machines to join (`[a-z0-9]{6}.[a-z0-9]{16}`)."),
                    )],
                    "trustd.",
                ),
            ),
            (
                "certs",
                group(
                    vec![
                        ("etcd", cert_key("etcd CA")),
                        ("k8s", cert_key("Kubernetes CA")),
                        (
                            "k8s_aggregator",
                            cert_key("Kubernetes aggregator (front proxy) CA"),
                        ),
                        (
                            "k8s_serviceaccount",
                            group(
                                vec![("key", leaf("Service account signing key, base64 of PEM."))],
                                "Kubernetes service account key.",
                            ),
                        ),
                        ("os", cert_key("Talos API (OS) CA, Ed25519")),
                    ],
                    "Certificate authorities and keys, each base64 of PEM.",
                ),
            ),
        ],
    )
    .sensitive()
    .describe(description);
    if input { a.required() } else { a.computed() }
}

/// The nested attributes of `client_configuration`. `input`: required
/// input; otherwise computed.
pub fn client_configuration_attr(input: bool, description: &str) -> Attribute {
    let leaf = |d: &str| {
        let a = Attribute::string().describe(d);
        if input { a.required() } else { a.computed() }
    };
    let a = Attribute::nested(
        Nesting::Single,
        [
            (
                "ca_certificate",
                leaf("The Talos API (OS) CA certificate, base64 of PEM."),
            ),
            (
                "client_certificate",
                leaf("The admin client certificate (role `os:admin`), base64 of PEM."),
            ),
            (
                "client_key",
                leaf("The client certificate's private key, base64 of PEM."),
            ),
        ],
    )
    .sensitive()
    .describe(description);
    if input { a.required() } else { a.computed() }
}
