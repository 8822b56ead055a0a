//! Keys and certificates as Talos makes them (siderolabs/crypto `x509`,
//! siderolabs/talos `pkg/machinery/config/generate/secrets/ca.go`).
//!
//! - ECDSA P-256 keys are written as SEC1 `EC PRIVATE KEY`, Ed25519 keys as
//!   PKCS#8 v1 under the label `ED25519 PRIVATE KEY` (what Go's
//!   `siderolabs/crypto/x509` writes; see the secrets.yaml test file).
//! - A CA: subject Organization only, KeyUsage CertSign+DigitalSignature
//!   (critical), ExtKeyUsage ServerAuth+ClientAuth, CA:TRUE, 128-bit serial.

use std::time::{Duration, SystemTime};

use aws_lc_rs::encoding::{AsDer, EcPrivateKeyRfc5915Der};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, Ed25519KeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SerialNumber,
};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer};

use super::SecretsError;

/// Key algorithms Talos uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    /// ECDSA P-256 (etcd, Kubernetes, aggregator CAs; service account key).
    EcdsaP256,
    /// Ed25519 (the Talos API "os" CA and admin client certificates).
    Ed25519,
}

/// A private key with its PEM text.
pub(crate) struct Key {
    pub(crate) pair: KeyPair,
    pub(crate) pem: String,
}

/// Encodes DER as PEM with 64-character lines (Go's `encoding/pem`).
pub(crate) fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Decodes the first PEM block: (label, DER).
pub(crate) fn pem_decode(text: &str) -> Result<(String, Vec<u8>), SecretsError> {
    let bad = |why: &str| SecretsError::InvalidPem(why.to_string());
    let start = text
        .find("-----BEGIN ")
        .ok_or_else(|| bad("no BEGIN line"))?;
    let rest = &text[start + "-----BEGIN ".len()..];
    let label_end = rest
        .find("-----")
        .ok_or_else(|| bad("malformed BEGIN line"))?;
    let label = rest[..label_end].to_string();
    let body_and_end = &rest[label_end + 5..];
    let end_marker = format!("-----END {label}-----");
    let end = body_and_end
        .find(&end_marker)
        .ok_or_else(|| bad("no matching END line"))?;
    let body: String = body_and_end[..end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let der = STANDARD
        .decode(body.as_bytes())
        .map_err(|_| bad("the body is not base64"))?;
    if der.is_empty() {
        return Err(bad("empty body"));
    }
    Ok((label, der))
}

fn crypto_failure(what: &str) -> SecretsError {
    SecretsError::Crypto(what.to_string())
}

/// Generates a key of that kind.
pub(crate) fn generate_key(kind: KeyKind) -> Result<Key, SecretsError> {
    match kind {
        KeyKind::EcdsaP256 => {
            let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING)
                .map_err(|_| crypto_failure("ECDSA key generation failed"))?;
            let sec1: EcPrivateKeyRfc5915Der<'static> = pair
                .private_key()
                .as_der()
                .map_err(|_| crypto_failure("ECDSA key export failed"))?;
            let pem = pem_encode("EC PRIVATE KEY", sec1.as_ref());
            load_key(&pem)
        }
        KeyKind::Ed25519 => {
            let pair = Ed25519KeyPair::generate()
                .map_err(|_| crypto_failure("Ed25519 key generation failed"))?;
            let doc = pair
                .to_pkcs8v1()
                .map_err(|_| crypto_failure("Ed25519 key export failed"))?;
            let pem = pem_encode("ED25519 PRIVATE KEY", doc.as_ref());
            load_key(&pem)
        }
    }
}

/// Loads a PEM private key: `EC PRIVATE KEY` (SEC1, P-256), `ED25519 PRIVATE
/// KEY` or `PRIVATE KEY` (PKCS#8), `RSA PRIVATE KEY` (PKCS#1).
pub(crate) fn load_key(pem: &str) -> Result<Key, SecretsError> {
    let (label, der) = pem_decode(pem)?;
    let bad = || SecretsError::InvalidKey(format!("unreadable {label} block"));
    let pair = match label.as_str() {
        "EC PRIVATE KEY" => KeyPair::from_der_and_sign_algo(
            &PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(der.clone())),
            &rcgen::PKCS_ECDSA_P256_SHA256,
        )
        .map_err(|_| bad())?,
        "ED25519 PRIVATE KEY" => KeyPair::from_pkcs8_der_and_sign_algo(
            &PrivatePkcs8KeyDer::from(der.clone()),
            &rcgen::PKCS_ED25519,
        )
        .map_err(|_| bad())?,
        "PRIVATE KEY" | "RSA PRIVATE KEY" => KeyPair::from_pem(pem).map_err(|_| bad())?,
        _ => {
            return Err(SecretsError::InvalidKey(format!(
                "unsupported PEM block {label:?}"
            )));
        }
    };
    Ok(Key {
        pair,
        pem: pem.to_string(),
    })
}

/// A random 128-bit serial, as `x509.NewSerialNumber`.
fn serial() -> Result<SerialNumber, SecretsError> {
    let mut b = [0u8; 16];
    aws_lc_rs::rand::fill(&mut b).map_err(|_| crypto_failure("no randomness"))?;
    b[0] &= 0x7f;
    Ok(SerialNumber::from_slice(&b))
}

fn organizations(names: &[&str]) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    for n in names {
        dn.push(DnType::OrganizationName, *n);
    }
    dn
}

/// A self-signed CA valid from `now` for `validity` (Talos `CAValidityTime`).
pub(crate) fn new_ca(
    kind: KeyKind,
    organization: Option<&str>,
    now: SystemTime,
    validity: Duration,
) -> Result<(String, String), SecretsError> {
    let key = generate_key(kind)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = organizations(organization.as_slice());
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyCertSign,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.not_before = now.into();
    params.not_after = (now + validity).into();
    params.serial_number = Some(serial()?);
    let cert = params
        .self_signed(&key.pair)
        .map_err(|_| crypto_failure("CA certificate signing failed"))?;
    Ok((cert.pem(), key.pem))
}

/// A client certificate signed by the CA (`NewAdminCertificateAndKey`):
/// Organization = roles, KeyUsage DigitalSignature, ExtKeyUsage ClientAuth.
/// The key has the CA key's algorithm (Ed25519 for the Talos OS CA).
pub(crate) fn new_client_cert(
    ca_cert_pem: &str,
    ca_key_pem: &str,
    roles: &[&str],
    now: SystemTime,
    ttl: Duration,
) -> Result<(String, String), SecretsError> {
    let ca_key = load_key(ca_key_pem)?;
    let kind = if ca_key.pair.algorithm() == &rcgen::PKCS_ED25519 {
        KeyKind::Ed25519
    } else {
        KeyKind::EcdsaP256
    };
    let issuer = Issuer::from_ca_cert_pem(ca_cert_pem, ca_key.pair)
        .map_err(|_| SecretsError::InvalidCertificate("the CA certificate is unreadable".into()))?;
    let key = generate_key(kind)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = organizations(roles);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.not_before = now.into();
    params.not_after = (now + ttl).into();
    params.serial_number = Some(serial()?);
    params.use_authority_key_identifier_extension = true;
    let cert = params
        .signed_by(&key.pair, &issuer)
        .map_err(|_| crypto_failure("client certificate signing failed"))?;
    Ok((cert.pem(), key.pem))
}

/// Random bytes from aws-lc-rs.
pub(crate) fn random_bytes(n: usize) -> Result<Vec<u8>, SecretsError> {
    let mut b = vec![0u8; n];
    aws_lc_rs::rand::fill(&mut b).map_err(|_| crypto_failure("no randomness"))?;
    Ok(b)
}
