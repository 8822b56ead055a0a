//! The Talos secrets bundle, as `talosctl gen secrets` makes and writes it,
//! and admin client configurations (talosconfig).
//!
//! Sources: siderolabs/talos `pkg/machinery/config/generate/secrets/`
//! (`secrets.go` the file format, `bundle.go` what is generated, `ca.go` key
//! types and lifetimes), `pkg/machinery/role/role.go` (`os:admin`).

mod contract;
mod pki;

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use serde::{Deserialize, Serialize};

pub use contract::{Contract, SUPPORTED, UnsupportedContract};

/// Validity of the bundle's CAs: `CAValidityTime = 87600 * time.Hour` (ten years).
pub const CA_VALIDITY: Duration = Duration::from_secs(87_600 * 3600);

/// Talos's default admin certificate lifetime
/// (`constants.TalosAPIDefaultCertificateValidityDuration`, one year).
pub const ADMIN_CERT_DEFAULT_TTL: Duration = Duration::from_secs(365 * 24 * 3600);

/// The admin role, written in the certificate's Organization.
pub const ROLE_ADMIN: &str = "os:admin";

/// What can go wrong with secrets. Texts never carry key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretsError {
    /// The secrets file is not YAML of the expected shape.
    #[error("invalid secrets file: {0}")]
    Yaml(String),
    /// The secrets file lacks required values (Talos `Bundle.Validate` texts).
    #[error("invalid secrets bundle: {}", .0.join("; "))]
    Incomplete(Vec<String>),
    /// A value is not base64 of PEM (nor PEM).
    #[error("invalid PEM: {0}")]
    InvalidPem(String),
    /// A certificate could not be read.
    #[error("invalid certificate: {0}")]
    InvalidCertificate(String),
    /// A private key could not be read.
    #[error("invalid private key: {0}")]
    InvalidKey(String),
    /// Key generation or signing failed.
    #[error("cryptographic operation failed: {0}")]
    Crypto(String),
}

/// A PEM certificate and its PEM private key. Debug never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct CertKey {
    /// The certificate, PEM.
    pub cert: String,
    /// The private key, PEM.
    pub key: String,
}

impl fmt::Debug for CertKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertKey")
            .field("cert", &self.cert)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// The cluster secrets bundle (`secrets.Bundle`). Debug shows no secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Bundle {
    /// `cluster.id`: base64url of 32 random bytes.
    pub cluster_id: String,
    /// `cluster.secret`: base64 of 32 random bytes.
    pub cluster_secret: String,
    /// `secrets.bootstraptoken`: `[a-z0-9]{6}.[a-z0-9]{16}`.
    pub bootstrap_token: String,
    /// `secrets.secretboxencryptionsecret`: base64 of 32 random bytes.
    pub secretbox_encryption_secret: String,
    /// `secrets.aescbcencryptionsecret` (Talos <= 1.2 bundles only).
    pub aescbc_encryption_secret: Option<String>,
    /// `trustdinfo.token`: `[a-z0-9]{6}.[a-z0-9]{16}`.
    pub trustd_token: String,
    /// `certs.etcd`: ECDSA CA, Organization `etcd`.
    pub etcd: CertKey,
    /// `certs.k8s`: ECDSA CA, Organization `kubernetes`.
    pub k8s: CertKey,
    /// `certs.k8saggregator`: ECDSA CA, empty subject.
    pub k8s_aggregator: CertKey,
    /// `certs.k8sserviceaccount.key`: ECDSA key, PEM.
    pub k8s_serviceaccount_key: String,
    /// `certs.os`: the Talos API CA, Ed25519, Organization `talos`.
    pub os: CertKey,
}

impl fmt::Debug for Bundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bundle")
            .field("cluster_id", &self.cluster_id)
            .field("secrets", &"<redacted>")
            .finish()
    }
}

const TOKEN_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// `genToken(6, 16)`: `[a-z0-9]{6}.[a-z0-9]{16}` (utils.go).
fn gen_token() -> Result<String, SecretsError> {
    let mut out = String::with_capacity(23);
    let mut produced = 0;
    while produced < 22 {
        for b in pki::random_bytes(32)? {
            // Rejection sampling keeps the 36 symbols uniform.
            if b >= 252 {
                continue;
            }
            if produced == 6 {
                out.push('.');
            }
            out.push(char::from(TOKEN_ALPHABET[usize::from(b % 36)]));
            produced += 1;
            if produced == 22 {
                break;
            }
        }
    }
    Ok(out)
}

/// Whether a token has Talos's `[a-z0-9]{6}.[a-z0-9]{16}` shape.
pub fn is_token(s: &str) -> bool {
    let ok = |p: &str, n: usize| {
        p.len() == n
            && p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    matches!(s.split_once('.'), Some((a, b)) if ok(a, 6) && ok(b, 16))
}

// The YAML file (`secrets.go` struct tags: lower-cased Go field names).
#[derive(Serialize, Deserialize, Default)]
struct FileBundle {
    #[serde(default)]
    cluster: Option<FileCluster>,
    #[serde(default)]
    secrets: Option<FileSecrets>,
    #[serde(default)]
    trustdinfo: Option<FileTrustd>,
    #[serde(default)]
    certs: Option<FileCerts>,
}

#[derive(Serialize, Deserialize, Default)]
struct FileCluster {
    #[serde(default)]
    id: String,
    #[serde(default)]
    secret: String,
}

#[derive(Serialize, Deserialize, Default)]
struct FileSecrets {
    #[serde(default)]
    bootstraptoken: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    aescbcencryptionsecret: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    secretboxencryptionsecret: String,
}

#[derive(Serialize, Deserialize, Default)]
struct FileTrustd {
    #[serde(default)]
    token: String,
}

#[derive(Serialize, Deserialize, Default)]
struct FileCerts {
    #[serde(default)]
    etcd: Option<FileCertKey>,
    #[serde(default)]
    k8s: Option<FileCertKey>,
    #[serde(default)]
    k8saggregator: Option<FileCertKey>,
    #[serde(default)]
    k8sserviceaccount: Option<FileKey>,
    #[serde(default)]
    os: Option<FileCertKey>,
}

// PEM bytes; YAML holds []byte as base64.
#[derive(Serialize, Deserialize, Default)]
struct FileCertKey {
    #[serde(default)]
    crt: String,
    #[serde(default)]
    key: String,
}

#[derive(Serialize, Deserialize, Default)]
struct FileKey {
    #[serde(default)]
    key: String,
}

/// Base64 of a PEM text.
pub fn encode_b64(pem: &str) -> String {
    STANDARD.encode(pem.as_bytes())
}

/// Accepts base64 of PEM (as Terraform state and the secrets file hold
/// them) or raw PEM text; returns the PEM text.
pub fn decode_b64_pem(s: &str) -> Result<String, SecretsError> {
    let t = s.trim();
    if t.starts_with("-----BEGIN ") {
        pki::pem_decode(t)?;
        return Ok(t.to_string() + if t.ends_with('\n') { "" } else { "\n" });
    }
    let compact: String = t.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| SecretsError::InvalidPem("neither PEM nor base64 of PEM".into()))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| SecretsError::InvalidPem("base64 does not hold PEM text".into()))?;
    pki::pem_decode(&text)?;
    Ok(text)
}

fn check_cert(pem: &str) -> Result<(), SecretsError> {
    not_after(pem).map(|_| ())
}

impl Bundle {
    /// Generates every secret as `secrets.NewBundle` does for the contract.
    pub fn generate(contract: Contract) -> Result<Bundle, SecretsError> {
        // Every supported contract is > 1.2 (secretbox, ECDSA service account key).
        let _ = contract;
        let now = SystemTime::now();
        let (etcd_crt, etcd_key) =
            pki::new_ca(pki::KeyKind::EcdsaP256, Some("etcd"), now, CA_VALIDITY)?;
        let (k8s_crt, k8s_key) = pki::new_ca(
            pki::KeyKind::EcdsaP256,
            Some("kubernetes"),
            now,
            CA_VALIDITY,
        )?;
        // NewAggregatorCA sets CommonName("front-proxy"), which siderolabs/crypto's
        // CA constructor ignores: the subject is empty (see the testdata bundle).
        let (agg_crt, agg_key) = pki::new_ca(pki::KeyKind::EcdsaP256, None, now, CA_VALIDITY)?;
        let os = pki::new_ca(pki::KeyKind::Ed25519, Some("talos"), now, CA_VALIDITY)?;
        let sa = pki::generate_key(pki::KeyKind::EcdsaP256)?;
        Ok(Bundle {
            cluster_id: URL_SAFE.encode(pki::random_bytes(32)?),
            cluster_secret: STANDARD.encode(pki::random_bytes(32)?),
            bootstrap_token: gen_token()?,
            secretbox_encryption_secret: STANDARD.encode(pki::random_bytes(32)?),
            aescbc_encryption_secret: None,
            trustd_token: gen_token()?,
            etcd: CertKey {
                cert: etcd_crt,
                key: etcd_key,
            },
            k8s: CertKey {
                cert: k8s_crt,
                key: k8s_key,
            },
            k8s_aggregator: CertKey {
                cert: agg_crt,
                key: agg_key,
            },
            k8s_serviceaccount_key: sa.pem,
            os: CertKey {
                cert: os.0,
                key: os.1,
            },
        })
    }

    /// Reads a `talosctl gen secrets` file (checked as `Bundle.Validate` does).
    pub fn from_yaml(text: &str) -> Result<Bundle, SecretsError> {
        let file: FileBundle = serde_norway::from_str(text).map_err(|e| {
            // serde_norway's message names the position and the expected type,
            // never the value.
            SecretsError::Yaml(e.to_string())
        })?;
        let mut missing = Vec::new();
        let cluster = file.cluster.unwrap_or_default();
        if cluster.id.is_empty() {
            missing.push("cluster.id is required".to_string());
        }
        if cluster.secret.is_empty() {
            missing.push("cluster.secret is required".to_string());
        }
        let secrets = file.secrets.unwrap_or_default();
        if secrets.bootstraptoken.is_empty() {
            missing.push("secrets.bootstraptoken is required".to_string());
        }
        if secrets.aescbcencryptionsecret.is_empty() && secrets.secretboxencryptionsecret.is_empty()
        {
            missing.push("one of [secrets.secretboxencryptionsecret, secrets.aescbcencryptionsecret] is required".to_string());
        }
        if !secrets.aescbcencryptionsecret.is_empty()
            && !secrets.secretboxencryptionsecret.is_empty()
        {
            missing.push("only one of [secrets.secretboxencryptionsecret, secrets.aescbcencryptionsecret] is allowed".to_string());
        }
        let trustd = file.trustdinfo.unwrap_or_default();
        if trustd.token.is_empty() {
            missing.push("trustdinfo.token is required".to_string());
        }
        let certs = file.certs.unwrap_or_default();
        let mut pair = |name: &str, v: Option<FileCertKey>| -> Option<CertKey> {
            let Some(v) = v else {
                missing.push(format!("certs.{name} is required"));
                return None;
            };
            let cert = decode_b64_pem(&v.crt).and_then(|c| check_cert(&c).map(|_| c));
            let key = decode_b64_pem(&v.key).and_then(|k| pki::load_key(&k).map(|_| k));
            match (cert, key) {
                (Ok(cert), Ok(key)) => Some(CertKey { cert, key }),
                (Err(e), _) | (_, Err(e)) => {
                    missing.push(format!("certs.{name} is invalid: {e}"));
                    None
                }
            }
        };
        let etcd = pair("etcd", certs.etcd);
        let k8s = pair("k8s", certs.k8s);
        let agg = pair("k8saggregator", certs.k8saggregator);
        let os = pair("os", certs.os);
        let sa = match certs.k8sserviceaccount {
            None => {
                missing.push("certs.k8sserviceaccount is required".to_string());
                None
            }
            Some(k) => match decode_b64_pem(&k.key).and_then(|p| pki::load_key(&p).map(|_| p)) {
                Ok(p) => Some(p),
                Err(e) => {
                    missing.push(format!("certs.k8sserviceaccount.key is invalid: {e}"));
                    None
                }
            },
        };
        match (etcd, k8s, agg, os, sa) {
            (Some(etcd), Some(k8s), Some(k8s_aggregator), Some(os), Some(sa))
                if missing.is_empty() =>
            {
                Ok(Bundle {
                    cluster_id: cluster.id,
                    cluster_secret: cluster.secret,
                    bootstrap_token: secrets.bootstraptoken,
                    secretbox_encryption_secret: secrets.secretboxencryptionsecret,
                    aescbc_encryption_secret: Some(secrets.aescbcencryptionsecret)
                        .filter(|s| !s.is_empty()),
                    trustd_token: trustd.token,
                    etcd,
                    k8s,
                    k8s_aggregator,
                    k8s_serviceaccount_key: sa,
                    os,
                })
            }
            _ => Err(SecretsError::Incomplete(missing)),
        }
    }

    /// Writes the bundle in the `talosctl gen secrets` format.
    pub fn to_yaml(&self) -> String {
        let ck = |c: &CertKey| FileCertKey {
            crt: encode_b64(&c.cert),
            key: encode_b64(&c.key),
        };
        let file = FileBundle {
            cluster: Some(FileCluster {
                id: self.cluster_id.clone(),
                secret: self.cluster_secret.clone(),
            }),
            secrets: Some(FileSecrets {
                bootstraptoken: self.bootstrap_token.clone(),
                aescbcencryptionsecret: self.aescbc_encryption_secret.clone().unwrap_or_default(),
                secretboxencryptionsecret: self.secretbox_encryption_secret.clone(),
            }),
            trustdinfo: Some(FileTrustd {
                token: self.trustd_token.clone(),
            }),
            certs: Some(FileCerts {
                etcd: Some(ck(&self.etcd)),
                k8s: Some(ck(&self.k8s)),
                k8saggregator: Some(ck(&self.k8s_aggregator)),
                k8sserviceaccount: Some(FileKey {
                    key: encode_b64(&self.k8s_serviceaccount_key),
                }),
                os: Some(ck(&self.os)),
            }),
        };
        // Plain strings and maps only: serialisation cannot fail.
        serde_norway::to_string(&file).unwrap_or_default()
    }
}

/// An admin client configuration: each field is BASE64 OF PEM, as the
/// siderolabs/talos provider's state holds them.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientConfiguration {
    /// The OS CA certificate.
    pub ca_certificate: String,
    /// The client certificate.
    pub client_certificate: String,
    /// The client private key.
    pub client_key: String,
}

impl fmt::Debug for ClientConfiguration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfiguration")
            .field("ca_certificate", &self.ca_certificate)
            .field("client_certificate", &self.client_certificate)
            .field("client_key", &"<redacted>")
            .finish()
    }
}

/// Issues an `os:admin` client certificate from the bundle's OS CA
/// (`Bundle.GenerateTalosAPIClientCertificateWithTTL`).
pub fn admin_client_configuration(
    bundle: &Bundle,
    ttl: Duration,
) -> Result<ClientConfiguration, SecretsError> {
    let (cert, key) = pki::new_client_cert(
        &bundle.os.cert,
        &bundle.os.key,
        &[ROLE_ADMIN],
        SystemTime::now(),
        ttl,
    )?;
    Ok(ClientConfiguration {
        ca_certificate: encode_b64(&bundle.os.cert),
        client_certificate: encode_b64(&cert),
        client_key: encode_b64(&key),
    })
}

#[derive(Serialize)]
struct TalosConfigFile<'a> {
    context: &'a str,
    contexts: std::collections::BTreeMap<&'a str, TalosContext<'a>>,
}

#[derive(Serialize)]
struct TalosContext<'a> {
    endpoints: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    nodes: &'a [String],
    ca: &'a str,
    crt: &'a str,
    key: &'a str,
}

/// The talosconfig YAML (`pkg/machinery/client/config/config.go`: `context`,
/// `contexts.<name>.{endpoints, nodes, ca, crt, key}`, the last three base64 of PEM).
pub fn talosconfig(
    context: &str,
    cc: &ClientConfiguration,
    endpoints: &[String],
    nodes: &[String],
) -> String {
    let mut contexts = std::collections::BTreeMap::new();
    contexts.insert(
        context,
        TalosContext {
            endpoints,
            nodes,
            ca: &cc.ca_certificate,
            crt: &cc.client_certificate,
            key: &cc.client_key,
        },
    );
    serde_norway::to_string(&TalosConfigFile { context, contexts }).unwrap_or_default()
}

/// The certificate's NotAfter (accepts PEM or base64 of PEM).
pub fn not_after(cert_pem: &str) -> Result<SystemTime, SecretsError> {
    let pem = decode_b64_pem(cert_pem)?;
    let (label, der) = pki::pem_decode(&pem)?;
    if label != "CERTIFICATE" {
        return Err(SecretsError::InvalidCertificate(format!(
            "expected a CERTIFICATE block, found {label:?}"
        )));
    }
    let (_, cert) = x509_parser::parse_x509_certificate(&der)
        .map_err(|_| SecretsError::InvalidCertificate("not an X.509 certificate".into()))?;
    let ts = cert.validity().not_after.timestamp();
    let secs = u64::try_from(ts)
        .map_err(|_| SecretsError::InvalidCertificate("NotAfter before 1970".into()))?;
    Ok(UNIX_EPOCH + Duration::from_secs(secs))
}

#[cfg(test)]
mod tests;
