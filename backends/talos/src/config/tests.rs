use super::*;
use crate::secrets::decode_b64_pem;
use std::sync::OnceLock;

fn bundle() -> &'static Bundle {
    static B: OnceLock<Bundle> = OnceLock::new();
    B.get_or_init(|| Bundle::generate(Contract::V1_14).unwrap())
}

fn input(contract: Contract, mt: MachineType) -> Input<'static> {
    Input {
        cluster_name: "lab",
        cluster_endpoint: "https://10.0.0.10:6443",
        machine_type: mt,
        contract,
        kubernetes_version: None,
        install_disk: Some("/dev/sda"),
        install_image: None,
        bundle: bundle(),
    }
}

fn docs(text: &str) -> Vec<Value> {
    parse_documents(text).unwrap()
}

fn find<'a>(d: &'a [Value], kind: &str) -> Option<&'a Value> {
    d.iter().find(|x| patch::identity(x).1 == kind)
}

const ALL: [(Contract, MachineType); 4] = [
    (Contract::V1_13, MachineType::ControlPlane),
    (Contract::V1_13, MachineType::Worker),
    (Contract::V1_14, MachineType::ControlPlane),
    (Contract::V1_14, MachineType::Worker),
];

#[test]
fn generated_documents_only_use_schema_fields() {
    for (c, m) in ALL {
        let text = generate(&input(c, m)).unwrap();
        for d in docs(&text) {
            known::check(c, &d).unwrap_or_else(|e| panic!("{c} {m}: {e}"));
        }
        assert_eq!(machine_type_of(&text).unwrap(), Some(m));
        assert_eq!(contract_of(&text).unwrap(), c);
    }
}

#[test]
fn v1_13_controlplane_carries_the_cluster_pki() {
    let b = bundle();
    let d = docs(&generate(&input(Contract::V1_13, MachineType::ControlPlane)).unwrap());
    assert_eq!(d.len(), 2);
    let v1 = &d[0];
    assert_eq!(v1["version"], "v1alpha1");
    assert_eq!(v1["machine"]["token"], b.trustd_token.as_str());
    assert_eq!(
        decode_b64_pem(v1["machine"]["ca"]["key"].as_str().unwrap()).unwrap(),
        b.os.key
    );
    assert_eq!(v1["cluster"]["token"], b.bootstrap_token.as_str());
    assert_eq!(v1["cluster"]["id"], b.cluster_id.as_str());
    assert_eq!(
        decode_b64_pem(v1["cluster"]["etcd"]["ca"]["crt"].as_str().unwrap()).unwrap(),
        b.etcd.cert
    );
    assert_eq!(
        v1["cluster"]["secretboxEncryptionSecret"],
        b.secretbox_encryption_secret.as_str()
    );
    assert_eq!(
        v1["cluster"]["apiServer"]["image"],
        "registry.k8s.io/kube-apiserver:v1.36.1"
    );
    assert_eq!(v1["cluster"]["apiServer"]["certSANs"][0], "10.0.0.10");
    assert_eq!(
        v1["machine"]["kubelet"]["image"],
        "ghcr.io/siderolabs/kubelet:v1.36.1"
    );
    assert_eq!(
        v1["machine"]["install"]["image"],
        "ghcr.io/siderolabs/installer:v1.13.9"
    );
    assert_eq!(v1["machine"]["install"]["disk"], "/dev/sda");
    assert_eq!(
        v1["cluster"]["controlPlane"]["endpoint"],
        "https://10.0.0.10:6443"
    );
    assert_eq!(d[1]["kind"], "HostnameConfig");
    assert_eq!(d[1]["auto"], "stable");
}

#[test]
fn workers_get_the_os_ca_certificate_only() {
    for c in [Contract::V1_13, Contract::V1_14] {
        let text = generate(&input(c, MachineType::Worker)).unwrap();
        let d = docs(&text);
        let v1 = &d[0];
        assert_eq!(v1["machine"]["type"], "worker");
        assert!(v1["machine"]["ca"].get("crt").is_some());
        assert!(v1["machine"]["ca"].get("key").is_none(), "{c}");
        assert!(v1["cluster"].get("etcd").is_none(), "{c}");
        let b = bundle();
        for secret in [
            &b.os.key,
            &b.k8s.key,
            &b.etcd.key,
            &b.k8s_aggregator.key,
            &b.k8s_serviceaccount_key,
        ] {
            assert!(
                !text.contains(secret.as_str()),
                "{c}: a private key in a worker config"
            );
            assert!(!text.contains(&crate::secrets::encode_b64(secret)), "{c}");
        }
        assert!(!text.contains(&b.secretbox_encryption_secret), "{c}");
    }
}

#[test]
fn v1_14_is_multi_document() {
    let b = bundle();
    let cp = docs(&generate(&input(Contract::V1_14, MachineType::ControlPlane)).unwrap());
    let v1 = &cp[0];
    assert!(v1["machine"].get("kubelet").is_none());
    assert!(v1["cluster"].get("id").is_none());
    let id = find(&cp, "DiscoveryIdentityConfig").unwrap();
    assert_eq!(id["clusterID"], b.cluster_id.as_str());
    assert_eq!(
        find(&cp, "KubeletConfig").unwrap()["image"],
        "ghcr.io/siderolabs/kubelet:v1.37.0"
    );
    assert_eq!(
        find(&cp, "KubeAPIServerCAConfig").unwrap()["issuingCA"]["key"],
        b.k8s.key.as_str()
    );
    assert_eq!(
        find(&cp, "UnattendedInstall").unwrap()["provisioning"]["diskSelector"]["match"],
        "disk.dev_path == \"/dev/sda\""
    );
    assert!(find(&cp, "KubeAPIServerConfig").is_some());
    assert!(find(&cp, "KubeEtcdEncryptionConfig").is_some());
    let w = docs(&generate(&input(Contract::V1_14, MachineType::Worker)).unwrap());
    assert!(find(&w, "KubeAPIServerConfig").is_none());
    assert!(find(&w, "KubeEtcdEncryptionConfig").is_none());
    assert_eq!(
        find(&w, "KubeAPIServerCAConfig").unwrap()["acceptedCAs"][0],
        b.k8s.cert.as_str()
    );
}

#[test]
fn inputs_are_checked() {
    let mut i = input(Contract::V1_13, MachineType::Worker);
    i.cluster_endpoint = "10.0.0.10:6443";
    assert!(matches!(
        generate(&i),
        Err(ConfigError::InvalidInput {
            field: "cluster_endpoint",
            ..
        })
    ));
    i.cluster_endpoint = "https://[fd00::1]:6443";
    let d = docs(&generate(&i).unwrap());
    assert_eq!(
        d[0]["cluster"]["network"]["podSubnets"][0],
        "fc00:db8:10::/56"
    );
    i.kubernetes_version = Some("latest");
    assert!(matches!(
        generate(&i),
        Err(ConfigError::InvalidInput {
            field: "kubernetes_version",
            ..
        })
    ));
    i.kubernetes_version = Some("v1.35.2");
    let d = docs(&generate(&i).unwrap());
    assert_eq!(
        d[0]["machine"]["kubelet"]["image"],
        "ghcr.io/siderolabs/kubelet:v1.35.2"
    );
    i.install_image = Some("factory.talos.dev/installer/abc:v1.13.9");
    let d = docs(&generate(&i).unwrap());
    assert_eq!(
        d[0]["machine"]["install"]["image"],
        "factory.talos.dev/installer/abc:v1.13.9"
    );
    i.cluster_name = " ";
    assert!(generate(&i).is_err());
    assert!("master".parse::<MachineType>().is_err());
    assert_eq!(
        "worker".parse::<MachineType>().unwrap(),
        MachineType::Worker
    );
}

const BASE: &str = "version: v1alpha1\nmachine:\n  type: worker\n  certSANs: [a]\n  nodeLabels: {x: '1'}\ncluster:\n  network:\n    podSubnets: [10.244.0.0/16]\n";

#[test]
fn strategic_merge_maps_merge_and_lists_append() {
    let out = apply_patches(
        BASE,
        &["machine:\n  certSANs: [b]\n  nodeLabels: {y: '2'}\ncluster:\n  network:\n    podSubnets: [10.1.0.0/16]\n".into()],
    )
    .unwrap();
    let d = docs(&out);
    assert_eq!(d[0]["machine"]["certSANs"], serde_json::json!(["a", "b"]));
    assert_eq!(
        d[0]["machine"]["nodeLabels"],
        serde_json::json!({"x": "1", "y": "2"})
    );
    // merge:"replace"
    assert_eq!(
        d[0]["cluster"]["network"]["podSubnets"],
        serde_json::json!(["10.1.0.0/16"])
    );
}

#[test]
fn strategic_merge_multi_document_and_delete() {
    let cfg = format!("{BASE}---\napiVersion: v1alpha1\nkind: HostnameConfig\nauto: stable\n");
    let patch = "machine:\n  nodeLabels:\n    x:\n      $patch: delete\n---\napiVersion: v1alpha1\nkind: HostnameConfig\n$patch: delete\n---\napiVersion: v1alpha1\nkind: TrustedRootsConfig\nname: corp\ncertificates: abc\n";
    let out = apply_patches(&cfg, &[patch.into()]).unwrap();
    let d = docs(&out);
    assert_eq!(d.len(), 2, "{out}");
    assert!(d[0]["machine"]["nodeLabels"].get("x").is_none());
    assert!(find(&d, "HostnameConfig").is_none());
    assert_eq!(find(&d, "TrustedRootsConfig").unwrap()["name"], "corp");
    // Same name merges into the existing document.
    let out2 = apply_patches(
        &out,
        &[
            "apiVersion: v1alpha1\nkind: TrustedRootsConfig\nname: corp\ncertificates: def\n"
                .into(),
        ],
    )
    .unwrap();
    assert_eq!(docs(&out2).len(), 2);
    assert_eq!(
        find(&docs(&out2), "TrustedRootsConfig").unwrap()["certificates"],
        "def"
    );
    // Deleting what is not there names the document and the patch.
    let e = apply_patches(
        &out,
        &[
            "a: b\n".into(),
            "apiVersion: v1alpha1\nkind: HostnameConfig\n$patch: delete\n".into(),
        ],
    )
    .unwrap_err();
    assert!(e.index == 0 || e.index == 1);
}

#[test]
fn json6902_single_document_ok_multi_document_refused() {
    let ops = r#"[{"op": "add", "path": "/machine/nodeLabels/z", "value": "3"}, {"op": "replace", "path": "/machine/type", "value": "controlplane"}, {"op": "remove", "path": "/machine/certSANs/0"}]"#;
    let out = apply_patches(BASE, &[ops.into()]).unwrap();
    let d = docs(&out);
    assert_eq!(d[0]["machine"]["nodeLabels"]["z"], "3");
    assert_eq!(d[0]["machine"]["type"], "controlplane");
    assert_eq!(d[0]["machine"]["certSANs"], serde_json::json!([]));
    // YAML list of operations.
    let yops = "- op: add\n  path: /machine/certSANs/-\n  value: c\n";
    assert_eq!(
        docs(&apply_patches(BASE, &[yops.into()]).unwrap())[0]["machine"]["certSANs"],
        serde_json::json!(["a", "c"])
    );
    // A failing test op.
    let e = apply_patches(
        BASE,
        &[r#"[{"op":"test","path":"/machine/type","value":"x"}]"#.into()],
    )
    .unwrap_err();
    assert_eq!(e.index, 0);
    let multi = generate(&input(Contract::V1_13, MachineType::Worker)).unwrap();
    let e = apply_patches(&multi, &["machine: {}\n".into(), ops.into()]).unwrap_err();
    assert_eq!(e.index, 1);
    assert_eq!(e.message, JSON6902_MULTIDOC);
}

#[test]
fn unknown_fields_are_refused_naming_patch_and_path() {
    let cfg = generate(&input(Contract::V1_13, MachineType::Worker)).unwrap();
    let e = apply_patches(
        &cfg,
        &[
            "machine:\n  nodeLabels: {a: b}\n".into(),
            "machine:\n  kubelet:\n    extraArgz: {}\n".into(),
        ],
    )
    .unwrap_err();
    assert_eq!(e.index, 1);
    assert!(e.message.contains("machine.kubelet.extraArgz"), "{e}");
    assert!(e.to_string().starts_with("config patch 1: "), "{e}");
    let cfg14 = generate(&input(Contract::V1_14, MachineType::Worker)).unwrap();
    // machine.kubelet is a v1.13 field; v1.14 moved it to KubeletConfig.
    let e = apply_patches(&cfg14, &["machine:\n  kubelet:\n    image: x\n".into()]).unwrap_err();
    assert!(e.message.contains("\"machine.kubelet\""), "{e}");
    apply_patches(
        &cfg14,
        &["apiVersion: v1alpha1\nkind: KubeletConfig\nextraArgs: {v: '2'}\n".into()],
    )
    .unwrap();
    let e = apply_patches(
        &cfg,
        &["apiVersion: v1alpha1\nkind: KubeletConfig\nimage: x\n".into()],
    )
    .unwrap_err();
    assert!(e.message.contains("unknown document kind"), "{e}");
    let e = apply_patches(&cfg, &["machine: [unclosed\n".into()]).unwrap_err();
    assert_eq!(e.index, 0);
}

#[test]
fn normalize_is_stable_and_order_free() {
    let a = "version: v1alpha1\nmachine: {type: worker, token: t}\n---\napiVersion: v1alpha1\nkind: HostnameConfig\nauto: stable\n";
    let b = "# comment\napiVersion: v1alpha1\nauto: stable\nkind: HostnameConfig\n---\nmachine:\n  token: t\n  type: worker\nversion: v1alpha1\n";
    let na = normalize(a).unwrap();
    assert_eq!(na, normalize(b).unwrap());
    assert_eq!(normalize(&na).unwrap(), na);
    assert!(na.starts_with("machine:"), "{na}");
    assert_ne!(na, normalize(&a.replace("stable", "off")).unwrap());
    assert_eq!(sha256_hex(&na), sha256_hex(&normalize(b).unwrap()));
    assert!(matches!(
        normalize("a: 1\n---\na: 2\n"),
        Err(ConfigError::Duplicate(_))
    ));
    let g = generate(&input(Contract::V1_14, MachineType::ControlPlane)).unwrap();
    assert_eq!(
        normalize(&normalize(&g).unwrap()).unwrap(),
        normalize(&g).unwrap()
    );
}

#[test]
fn sha256_known_value() {
    assert_eq!(
        sha256_hex("abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn machine_type_of_reads_v1alpha1() {
    assert_eq!(
        machine_type_of("version: v1alpha1\nmachine: {type: init}\n").unwrap(),
        Some(MachineType::ControlPlane)
    );
    assert_eq!(
        machine_type_of("apiVersion: v1alpha1\nkind: HostnameConfig\n").unwrap(),
        None
    );
    assert!(machine_type_of("machine: {type: boss}\n").is_err());
}

/// Fuzzing finding `fuzz/corpus/talos_config/finding-non-mapping-config`:
/// the patcher and `normalize` agree on what a configuration is, with or
/// without patches, so whatever the patcher returns reads back.
#[test]
fn the_patcher_refuses_what_normalize_refuses() {
    let normalized = normalize("a\n").unwrap_err().to_string();
    assert_eq!(
        normalized,
        "invalid machine configuration: a document is not a mapping"
    );
    for patches in [vec![], vec!["machine: {}\n".to_string()]] {
        for refuse in [
            apply_patches("a\n", &patches),
            apply_patches_for(Contract::V1_14, "a\n", &patches),
        ] {
            let e = refuse.unwrap_err();
            assert_eq!(e.index, 0);
            assert_eq!(
                e.message,
                format!("the machine configuration to patch is invalid: {normalized}")
            );
        }
        // A list document, and a duplicate document, likewise.
        let e = apply_patches("- a\n- b\n", &patches).unwrap_err();
        assert!(e.message.ends_with("a document is not a mapping"), "{e}");
        assert!(normalize("- a\n- b\n").is_err());
        let e = apply_patches("a: 1\n---\na: 2\n", &patches).unwrap_err();
        assert!(e.message.contains("duplicate document"), "{e}");
    }
    // What it accepts without patches reads back.
    let out = apply_patches(BASE, &[]).unwrap();
    assert!(normalize(&out).is_ok());
}
