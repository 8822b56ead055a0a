//! The admin kubeconfig a control plane hands out, and its wire form.
//!
//! Talos's `Kubeconfig` RPC (`internal/app/machined/internal/server/
//! v1alpha1/v1alpha1_server.go`) streams one `common.Data` whose bytes are a
//! gzip'd tar holding the single file `kubeconfig` (mode 0600); the tar
//! writer is not closed, so the end-of-archive blocks are missing. The
//! kubeconfig itself follows Talos's `pkg/kubeconfig` admin template:
//! cluster named after the cluster, user and context `admin@<cluster>`,
//! namespace `default`, a client certificate with CN `admin` and
//! Organization `system:masters` signed by the Kubernetes CA.

use std::io::Write as _;

use base64::Engine as _;
use time::OffsetDateTime;

/// What the kubeconfig points at.
#[derive(Clone)]
pub(crate) struct KubeTarget {
    pub(crate) server: String,
    pub(crate) ca_pem: String,
    pub(crate) cert_pem: String,
    pub(crate) key_pem: String,
}

/// Issues an admin client certificate from the Kubernetes CA.
pub(crate) fn admin_cert(
    ca_pem: &str,
    ca_key_pem: &str,
    lifetime: std::time::Duration,
) -> Result<(String, String), String> {
    let err = |e: rcgen::Error| format!("issuing the admin certificate: {e}");
    let ca_key = rcgen::KeyPair::from_pem(ca_key_pem).map_err(err)?;
    let issuer = rcgen::Issuer::from_ca_cert_pem(ca_pem, ca_key).map_err(err)?;
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(err)?;
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    p.distinguished_name
        .push(rcgen::DnType::OrganizationName, "system:masters");
    p.distinguished_name
        .push(rcgen::DnType::CommonName, "admin");
    p.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let now = OffsetDateTime::now_utc();
    p.not_before = now - time::Duration::minutes(1);
    p.not_after = now + time::Duration::seconds(lifetime.as_secs().min(i64::MAX as u64) as i64);
    let cert = p.signed_by(&key, &issuer).map_err(err)?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
}

/// The kubeconfig YAML.
pub(crate) fn render(cluster: &str, t: &KubeTarget) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
    - name: {cluster}
      cluster:
        server: {server}
        certificate-authority-data: {ca}
users:
    - name: admin@{cluster}
      user:
        client-certificate-data: {crt}
        client-key-data: {key}
contexts:
    - context:
        cluster: {cluster}
        namespace: default
        user: admin@{cluster}
      name: admin@{cluster}
current-context: admin@{cluster}
",
        server = t.server,
        ca = b64(&t.ca_pem),
        crt = b64(&t.cert_pem),
        key = b64(&t.key_pem),
    )
}

/// One ustar header block.
fn tar_header(name: &str, size: usize, mode: u32, mtime: u64) -> [u8; 512] {
    let mut h = [0u8; 512];
    let put = |h: &mut [u8; 512], at: usize, len: usize, s: &[u8]| {
        let n = s.len().min(len);
        h[at..at + n].copy_from_slice(&s[..n]);
    };
    put(&mut h, 0, 100, name.as_bytes());
    put(&mut h, 100, 8, format!("{mode:07o}\0").as_bytes());
    put(&mut h, 108, 8, b"0000000\0");
    put(&mut h, 116, 8, b"0000000\0");
    put(&mut h, 124, 12, format!("{size:011o}\0").as_bytes());
    put(&mut h, 136, 12, format!("{mtime:011o}\0").as_bytes());
    h[148..156].copy_from_slice(b"        ");
    h[156] = b'0';
    put(&mut h, 257, 6, b"ustar\0");
    put(&mut h, 263, 2, b"00");
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    put(&mut h, 148, 8, format!("{sum:06o}\0 ").as_bytes());
    h
}

/// gzip(tar(`kubeconfig`, mode 0600)) without the end-of-archive blocks.
pub(crate) fn archive(kubeconfig: &str) -> Result<Vec<u8>, String> {
    let mtime = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let body = kubeconfig.as_bytes();
    let mut tar = tar_header("kubeconfig", body.len(), 0o600, mtime).to_vec();
    tar.extend_from_slice(body);
    tar.resize(tar.len().div_ceil(512) * 512, 0);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).map_err(|e| e.to_string())?;
    gz.finish().map_err(|e| e.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::Read as _;

    #[test]
    fn archive_is_one_tar_entry_without_the_end_blocks() {
        let gz = archive("hello: world\n").unwrap();
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut tar)
            .unwrap();
        assert_eq!(
            tar.len(),
            1024,
            "header + one data block, no end-of-archive"
        );
        assert_eq!(&tar[0..10], b"kubeconfig");
        assert_eq!(&tar[100..107], b"0000600");
        assert_eq!(&tar[257..262], b"ustar");
        let size = u64::from_str_radix(std::str::from_utf8(&tar[124..135]).unwrap(), 8).unwrap();
        assert_eq!(size, 13);
        assert_eq!(&tar[512..525], b"hello: world\n");
        let stored = u32::from_str_radix(std::str::from_utf8(&tar[148..154]).unwrap(), 8).unwrap();
        let mut h = tar[..512].to_vec();
        h[148..156].copy_from_slice(b"        ");
        assert_eq!(stored, h.iter().map(|b| u32::from(*b)).sum::<u32>());
    }
}
