//! Every machine configuration labforge-talos generates (two contracts x two
//! machine types x with and without a typical patch) is one a Talos node of
//! that version accepts: checked with the simulator's validator, which reads
//! the official `config.schema.json` of each tag (v1.13.9, v1.14.0-rc.1)
//! and shares no code with the generator.

use labforge_simulators::talos::validate_config;
use labforge_talos::config::{self, Contract, Input, MachineType};
use labforge_talos::secrets::Bundle;

const TRUSTED_ROOTS: &str = "apiVersion: v1alpha1\nkind: TrustedRootsConfig\nname: lab-ca\ncertificates: |\n  -----BEGIN CERTIFICATE-----\n  MIIB\n  -----END CERTIFICATE-----\n";

/// A patch a homelab would write, per contract: v1.13 keeps Kubernetes
/// settings in the v1alpha1 document; v1.14 moved them to their own documents.
fn typical_patch(contract: Contract) -> Vec<String> {
    match contract {
        Contract::V1_13 => vec![
            "machine:\n  kubelet:\n    extraArgs:\n      rotate-server-certificates: \"true\"\n  nodeLabels:\n    topology.kubernetes.io/zone: rack1\ncluster:\n  allowSchedulingOnControlPlanes: true\n".into(),
            TRUSTED_ROOTS.into(),
        ],
        Contract::V1_14 => vec![
            "apiVersion: v1alpha1\nkind: KubeletConfig\nextraArgs:\n  rotate-server-certificates: \"true\"\n".into(),
            TRUSTED_ROOTS.into(),
        ],
    }
}

#[test]
fn generated_configs_validate_against_the_official_schemas() {
    let bundle = Bundle::generate(Contract::V1_14).unwrap();
    let mut checked = 0;
    for contract in [Contract::V1_13, Contract::V1_14] {
        for machine_type in [MachineType::ControlPlane, MachineType::Worker] {
            let input = Input {
                cluster_name: "lab",
                cluster_endpoint: "https://10.0.0.10:6443",
                machine_type,
                contract,
                kubernetes_version: None,
                install_disk: Some("/dev/sda"),
                install_image: None,
                bundle: &bundle,
            };
            let generated = config::generate(&input).unwrap();
            let patched = config::apply_patches(&generated, &typical_patch(contract))
                .unwrap_or_else(|e| panic!("{contract} {machine_type}: {e}"));
            assert_ne!(generated, patched);
            for (what, text) in [("generated", &generated), ("patched", &patched)] {
                if let Err(errors) = validate_config(contract.talos_version(), text) {
                    panic!("{contract} {machine_type} {what}: {errors:#?}\n{text}");
                }
                assert_eq!(config::machine_type_of(text).unwrap(), Some(machine_type));
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 8);
}

#[test]
fn the_validator_refuses_what_the_patcher_refuses() {
    // A field of the v1.13 v1alpha1 document that v1.14 dropped: the patcher
    // refuses it at plan, and a v1.14 node (the validator) would too.
    let bundle = Bundle::generate(Contract::V1_14).unwrap();
    let input = Input {
        cluster_name: "lab",
        cluster_endpoint: "https://lab.example:6443",
        machine_type: MachineType::Worker,
        contract: Contract::V1_14,
        kubernetes_version: Some("1.36.3"),
        install_disk: None,
        install_image: None,
        bundle: &bundle,
    };
    let generated = config::generate(&input).unwrap();
    let patch = "machine:\n  kubelet:\n    image: x\n".to_string();
    let err = config::apply_patches(&generated, std::slice::from_ref(&patch)).unwrap_err();
    assert!(err.message.contains("machine.kubelet"), "{err}");
    let forced = generated.replacen(
        "machine:\n  type: worker\n",
        "machine:\n  kubelet:\n    image: x\n  type: worker\n",
        1,
    );
    assert_ne!(forced, generated);
    assert!(validate_config(Contract::V1_14.talos_version(), &forced).is_err());
    assert!(validate_config(Contract::V1_14.talos_version(), &generated).is_ok());
}
