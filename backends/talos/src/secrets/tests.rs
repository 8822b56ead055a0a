use super::*;
use x509_parser::prelude::*;

/// siderolabs/talos `pkg/machinery/config/generate/secrets/testdata/secrets.yaml`.
const TALOS_SECRETS: &str = include_str!("testdata/secrets.yaml");

fn parsed(pem: &str) -> (String, Vec<u8>) {
    pki::pem_decode(pem).unwrap()
}

fn with_cert<T>(pem: &str, f: impl FnOnce(&X509Certificate<'_>) -> T) -> T {
    let (_, der) = parsed(pem);
    let (_, c) = parse_x509_certificate(&der).unwrap();
    f(&c)
}

fn orgs(c: &X509Certificate<'_>) -> Vec<String> {
    c.subject()
        .iter_organization()
        .map(|o| o.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn tokens_have_talos_shape() {
    for _ in 0..50 {
        let t = gen_token().unwrap();
        assert!(is_token(&t), "{t}");
    }
    assert!(!is_token("ABCDEF.0123456789abcdef"));
    assert!(!is_token("abcdef0123456789abcdef"));
}

#[test]
fn generated_bundle_has_talos_key_types_and_lifetimes() {
    let b = Bundle::generate(Contract::V1_14).unwrap();
    assert!(is_token(&b.bootstrap_token));
    assert!(is_token(&b.trustd_token));
    assert_eq!(URL_SAFE.decode(&b.cluster_id).unwrap().len(), 32);
    assert_eq!(STANDARD.decode(&b.cluster_secret).unwrap().len(), 32);
    assert_eq!(
        STANDARD
            .decode(&b.secretbox_encryption_secret)
            .unwrap()
            .len(),
        32
    );
    assert!(b.aescbc_encryption_secret.is_none());

    for (ca, org) in [
        (&b.etcd, vec!["etcd"]),
        (&b.k8s, vec!["kubernetes"]),
        (&b.k8s_aggregator, vec![]),
    ] {
        assert!(
            ca.key.starts_with("-----BEGIN EC PRIVATE KEY-----"),
            "{}",
            ca.cert
        );
        with_cert(&ca.cert, |c| {
            assert_eq!(orgs(c), org);
            assert_eq!(
                c.public_key().algorithm.algorithm,
                x509_parser::oid_registry::OID_KEY_TYPE_EC_PUBLIC_KEY
            );
            assert!(c.is_ca());
            let life = c.validity().not_after.timestamp() - c.validity().not_before.timestamp();
            assert_eq!(life, 87_600 * 3600);
            let ku = c.key_usage().unwrap().unwrap().value;
            assert!(ku.key_cert_sign() && ku.digital_signature());
            let eku = c.extended_key_usage().unwrap().unwrap().value;
            assert!(eku.server_auth && eku.client_auth);
        });
    }
    assert!(b.os.key.starts_with("-----BEGIN ED25519 PRIVATE KEY-----"));
    with_cert(&b.os.cert, |c| {
        assert_eq!(orgs(c), vec!["talos"]);
        assert_eq!(
            c.public_key().algorithm.algorithm,
            x509_parser::oid_registry::OID_SIG_ED25519
        );
        assert!(c.is_ca());
    });
    assert!(
        b.k8s_serviceaccount_key
            .starts_with("-----BEGIN EC PRIVATE KEY-----")
    );
    pki::load_key(&b.k8s_serviceaccount_key).unwrap();
    // Two bundles share nothing.
    let b2 = Bundle::generate(Contract::V1_13).unwrap();
    assert_ne!(b.cluster_id, b2.cluster_id);
    assert_ne!(b.os.key, b2.os.key);
}

#[test]
fn reads_the_talos_test_file_and_writes_it_back() {
    let b = Bundle::from_yaml(TALOS_SECRETS).unwrap();
    assert_eq!(b.cluster_id, "cgvhCbucls-WqkESDTRqykFgb4hROI4cBpgB0YJLLtM=");
    assert_eq!(b.bootstrap_token, "2psnp2.lry8e9gycdix3bpa");
    assert_eq!(b.trustd_token, "oamejv.9tk1nhuwnlc2nghf");
    assert!(b.os.key.contains("ED25519 PRIVATE KEY"));
    assert!(b.etcd.cert.starts_with("-----BEGIN CERTIFICATE-----"));
    with_cert(&b.k8s.cert, |c| assert_eq!(orgs(c), vec!["kubernetes"]));

    let text = b.to_yaml();
    let again = Bundle::from_yaml(&text).unwrap();
    assert_eq!(again, b);
    // Same keys, same base64 values as the Talos file.
    let ours: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    let theirs: serde_norway::Value = serde_norway::from_str(TALOS_SECRETS).unwrap();
    assert_eq!(ours, theirs);
}

#[test]
fn generated_bundle_round_trips() {
    let b = Bundle::generate(Contract::V1_13).unwrap();
    assert_eq!(Bundle::from_yaml(&b.to_yaml()).unwrap(), b);
}

#[test]
fn incomplete_files_are_refused_with_talos_texts() {
    let e = Bundle::from_yaml("cluster:\n  id: x\n")
        .unwrap_err()
        .to_string();
    for want in [
        "cluster.secret is required",
        "secrets.bootstraptoken is required",
        "trustdinfo.token is required",
        "certs.etcd is required",
        "certs.k8sserviceaccount is required",
    ] {
        assert!(e.contains(want), "{e}");
    }
    let broken = TALOS_SECRETS.replace("LS0tLS1CRUdJTiBFRDI1NTE5", "AAAA");
    let e = Bundle::from_yaml(&broken).unwrap_err().to_string();
    assert!(e.contains("certs.os is invalid"), "{e}");
    assert!(Bundle::from_yaml("- a\n- b\n").is_err());
}

#[test]
fn debug_hides_secrets() {
    let b = Bundle::from_yaml(TALOS_SECRETS).unwrap();
    let d = format!("{b:?} {:?}", b.os);
    assert!(!d.contains("PRIVATE KEY") && !d.contains("2psnp2"), "{d}");
}

#[test]
fn admin_certificate_is_signed_by_os_ca_with_admin_role() {
    let b = Bundle::generate(Contract::V1_14).unwrap();
    let ttl = Duration::from_secs(3600 * 24 * 30);
    let cc = admin_client_configuration(&b, ttl).unwrap();
    assert_eq!(decode_b64_pem(&cc.ca_certificate).unwrap(), b.os.cert);
    let cert = decode_b64_pem(&cc.client_certificate).unwrap();
    let key = decode_b64_pem(&cc.client_key).unwrap();
    assert!(key.starts_with("-----BEGIN ED25519 PRIVATE KEY-----"));
    pki::load_key(&key).unwrap();
    let (_, ca_der) = parsed(&b.os.cert);
    let (_, ca) = parse_x509_certificate(&ca_der).unwrap();
    with_cert(&cert, |c| {
        assert_eq!(orgs(c), vec!["os:admin"]);
        assert!(!c.is_ca());
        assert_eq!(c.issuer(), ca.subject());
        c.verify_signature(Some(ca.public_key())).unwrap();
        let eku = c.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.client_auth && !eku.server_auth);
        assert!(c.key_usage().unwrap().unwrap().value.digital_signature());
        let life = c.validity().not_after.timestamp() - c.validity().not_before.timestamp();
        assert_eq!(life, 3600 * 24 * 30);
    });
    let na = not_after(&cc.client_certificate).unwrap();
    let left = na.duration_since(SystemTime::now()).unwrap();
    assert!(left <= ttl && left > ttl - Duration::from_secs(120));
}

#[test]
fn admin_certificate_from_imported_talos_ca() {
    let b = Bundle::from_yaml(TALOS_SECRETS).unwrap();
    let cc = admin_client_configuration(&b, ADMIN_CERT_DEFAULT_TTL).unwrap();
    let cert = decode_b64_pem(&cc.client_certificate).unwrap();
    let (_, ca_der) = parsed(&b.os.cert);
    let (_, ca) = parse_x509_certificate(&ca_der).unwrap();
    with_cert(&cert, |c| {
        c.verify_signature(Some(ca.public_key())).unwrap()
    });
}

#[test]
fn not_after_reads_pem_and_base64() {
    let b = Bundle::from_yaml(TALOS_SECRETS).unwrap();
    // May 22 12:14:42 2033 GMT (openssl x509 -enddate of the Talos test file).
    let want = UNIX_EPOCH + Duration::from_secs(2_000_376_882);
    assert_eq!(not_after(&b.etcd.cert).unwrap(), want);
    assert_eq!(not_after(&encode_b64(&b.etcd.cert)).unwrap(), want);
    assert!(not_after(&b.etcd.key).is_err());
    assert!(not_after("garbage").is_err());
}

#[test]
fn decode_b64_pem_accepts_both_forms() {
    let pem = "-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\n";
    assert_eq!(decode_b64_pem(pem).unwrap(), pem);
    assert_eq!(decode_b64_pem(&encode_b64(pem)).unwrap(), pem);
    assert!(decode_b64_pem("aGVsbG8=").is_err());
    assert!(decode_b64_pem("!!!").is_err());
}

#[test]
fn talosconfig_has_talosctl_shape() {
    let cc = ClientConfiguration {
        ca_certificate: "Q0E=".into(),
        client_certificate: "Q1JU".into(),
        client_key: "S0VZ".into(),
    };
    let text = talosconfig(
        "lab",
        &cc,
        &["10.0.0.5".into()],
        &["10.0.0.6".into(), "10.0.0.7".into()],
    );
    let v: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    assert_eq!(v["context"].as_str(), Some("lab"));
    let c = &v["contexts"]["lab"];
    assert_eq!(c["endpoints"][0].as_str(), Some("10.0.0.5"));
    assert_eq!(c["nodes"][1].as_str(), Some("10.0.0.7"));
    assert_eq!(c["ca"].as_str(), Some("Q0E="));
    assert_eq!(c["crt"].as_str(), Some("Q1JU"));
    assert_eq!(c["key"].as_str(), Some("S0VZ"));
    let no_nodes = talosconfig("lab", &cc, &["a".into()], &[]);
    assert!(!no_nodes.contains("nodes"));
}
