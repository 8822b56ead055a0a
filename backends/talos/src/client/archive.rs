//! The payload of Talos's `Kubeconfig` stream: a gzip'd tar holding one file,
//! `kubeconfig`. Talos does not close the tar writer
//! (siderolabs/talos internal/app/machined/internal/server/v1alpha1
//! `Kubeconfig`), so the end-of-archive blocks may be missing.

use std::io::Read as _;

use flate2::read::GzDecoder;

use super::error::{ErrorKind, TalosError};

const BLOCK: usize = 512;
/// Kubeconfigs are a few kB; refuse to inflate anything absurd.
const MAX_INFLATED: u64 = 16 * 1024 * 1024;

fn bad(why: impl std::fmt::Display) -> TalosError {
    TalosError::new(
        ErrorKind::Response,
        format!("the kubeconfig the node sent could not be read: {why}"),
    )
}

/// The text of the file `kubeconfig` in the gzip'd tar `data`.
pub(crate) fn kubeconfig_from_tar_gz(data: &[u8]) -> Result<String, TalosError> {
    if data.is_empty() {
        return Err(bad("the node sent no data"));
    }
    let mut tar = Vec::new();
    let gunzip = GzDecoder::new(data)
        .take(MAX_INFLATED)
        .read_to_end(&mut tar);
    match gunzip {
        Ok(_) => file_from_tar(&tar, "kubeconfig").map_err(bad),
        // A stream cut short after the tar's content: take the file if it is whole.
        Err(e) => file_from_tar(&tar, "kubeconfig").map_err(|_| bad(format!("gzip: {e}"))),
    }
}

/// A field of a tar header: bytes up to the first NUL.
fn field(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    &bytes[..end]
}

/// A numeric header field: octal text, or base-256 when the high bit is set.
fn number(bytes: &[u8]) -> Result<u64, String> {
    if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        let mut n: u64 = u64::from(bytes[0] & 0x7f);
        for &b in &bytes[1..] {
            n = n
                .checked_mul(256)
                .and_then(|n| n.checked_add(u64::from(b)))
                .ok_or("tar size field overflows")?;
        }
        return Ok(n);
    }
    let text = std::str::from_utf8(field(bytes)).map_err(|_| "tar size field is not text")?;
    let text = text.trim_matches(|c: char| c == ' ' || c == '\0');
    if text.is_empty() {
        return Ok(0);
    }
    u64::from_str_radix(text, 8).map_err(|_| format!("tar size field {text:?} is not octal"))
}

/// `path=` from a PAX extended header's records ("<len> key=value\n").
fn pax_path(mut records: &[u8]) -> Option<String> {
    let mut path = None;
    while !records.is_empty() {
        let space = records.iter().position(|&b| b == b' ')?;
        let len: usize = std::str::from_utf8(&records[..space]).ok()?.parse().ok()?;
        if len <= space || len > records.len() {
            return path;
        }
        let record = &records[space + 1..len];
        let record = record.strip_suffix(b"\n").unwrap_or(record);
        if let Some(value) = record.strip_prefix(b"path=") {
            path = Some(String::from_utf8_lossy(value).into_owned());
        }
        records = &records[len..];
    }
    path
}

/// The content of the regular file `wanted` (a leading `./` ignored) in a
/// ustar/PAX/GNU tar; a missing end-of-archive is not an error.
pub(crate) fn file_from_tar(tar: &[u8], wanted: &str) -> Result<String, String> {
    let mut at = 0usize;
    let mut pax_name: Option<String> = None;
    while at + BLOCK <= tar.len() {
        let header = &tar[at..at + BLOCK];
        if header.iter().all(|&b| b == 0) {
            break;
        }
        let stored_sum = number(&header[148..156])?;
        let sum: u64 = header
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    u64::from(b' ')
                } else {
                    u64::from(b)
                }
            })
            .sum();
        if sum != stored_sum {
            return Err("a tar header's checksum does not match".into());
        }
        let size =
            usize::try_from(number(&header[124..136])?).map_err(|_| "tar entry too large")?;
        let data_start = at + BLOCK;
        let data_end = data_start.checked_add(size).ok_or("tar entry too large")?;
        let kind = header[156];
        let mut name = String::from_utf8_lossy(field(&header[..100])).into_owned();
        if &header[257..262] == b"ustar" {
            let prefix = field(&header[345..500]);
            if !prefix.is_empty() {
                name = format!("{}/{name}", String::from_utf8_lossy(prefix));
            }
        }
        if let Some(p) = pax_name.take() {
            name = p;
        }
        match kind {
            b'x' => {
                let records = tar
                    .get(data_start..data_end)
                    .ok_or("the archive ends inside a PAX header")?;
                pax_name = pax_path(records);
            }
            b'0' | 0 if name.trim_start_matches("./") == wanted => {
                let data = tar
                    .get(data_start..data_end)
                    .ok_or_else(|| format!("the archive ends inside {wanted}"))?;
                return String::from_utf8(data.to_vec())
                    .map_err(|_| format!("{wanted} is not UTF-8 text"));
            }
            _ => {}
        }
        at = data_start + size.div_ceil(BLOCK) * BLOCK;
    }
    Err(format!("the archive holds no file {wanted}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use std::io::Write as _;

    use super::*;

    /// A ustar header for a regular file (as Go's archive/tar writes one).
    pub(crate) fn header(name: &str, size: usize, kind: u8) -> [u8; BLOCK] {
        let mut h = [0u8; BLOCK];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..108].copy_from_slice(b"0000600\0");
        h[108..116].copy_from_slice(b"0000000\0");
        h[116..124].copy_from_slice(b"0000000\0");
        h[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
        h[136..148].copy_from_slice(b"00000000000\0");
        h[156] = kind;
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        h
    }

    /// A tar with `files`, optionally closed with the two zero blocks.
    pub(crate) fn tar(files: &[(&str, &[u8])], close: bool) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, data) in files {
            out.extend_from_slice(&header(name, data.len(), b'0'));
            out.extend_from_slice(data);
            out.resize(out.len().div_ceil(BLOCK) * BLOCK, 0);
        }
        if close {
            out.extend_from_slice(&[0u8; 2 * BLOCK]);
        }
        out
    }

    pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    const KUBECONFIG: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: lab\n  cluster:\n    server: https://10.0.0.5:6443\n";

    #[test]
    fn reads_the_kubeconfig_with_or_without_the_end_of_archive() {
        for close in [true, false] {
            let data = gzip(&tar(&[("kubeconfig", KUBECONFIG.as_bytes())], close));
            assert_eq!(kubeconfig_from_tar_gz(&data).unwrap(), KUBECONFIG);
        }
    }

    #[test]
    fn finds_the_file_among_others_and_with_a_dot_slash() {
        let big = vec![b'x'; 1500];
        let data = gzip(&tar(
            &[("README", &big), ("./kubeconfig", KUBECONFIG.as_bytes())],
            false,
        ));
        assert_eq!(kubeconfig_from_tar_gz(&data).unwrap(), KUBECONFIG);
    }

    #[test]
    fn reads_a_pax_path() {
        let mut t = Vec::new();
        let rec = "19 path=kubeconfig\n";
        assert_eq!(rec.len(), 19);
        t.extend_from_slice(&header("PaxHeaders/x", rec.len(), b'x'));
        t.extend_from_slice(rec.as_bytes());
        t.resize(2 * BLOCK, 0);
        t.extend_from_slice(&header("some-other-name", KUBECONFIG.len(), b'0'));
        t.extend_from_slice(KUBECONFIG.as_bytes());
        assert_eq!(file_from_tar(&t, "kubeconfig").unwrap(), KUBECONFIG);
    }

    #[test]
    fn errors_name_what_is_wrong() {
        let e = kubeconfig_from_tar_gz(b"").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Response);
        assert_eq!(
            e.to_string(),
            "the kubeconfig the node sent could not be read: the node sent no data"
        );

        let e = kubeconfig_from_tar_gz(b"not gzip at all").unwrap_err();
        assert!(e.to_string().contains("gzip"), "{e}");

        let data = gzip(&tar(&[("other", b"x")], true));
        assert_eq!(
            kubeconfig_from_tar_gz(&data).unwrap_err().to_string(),
            "the kubeconfig the node sent could not be read: the archive holds no file kubeconfig"
        );

        // The file itself cut short.
        let mut t = tar(&[("kubeconfig", KUBECONFIG.as_bytes())], false);
        t.truncate(BLOCK + 10);
        assert!(
            kubeconfig_from_tar_gz(&gzip(&t))
                .unwrap_err()
                .to_string()
                .contains("the archive ends inside kubeconfig")
        );

        // A corrupted header.
        let mut t = tar(&[("kubeconfig", KUBECONFIG.as_bytes())], true);
        t[0] = b'K';
        assert!(
            kubeconfig_from_tar_gz(&gzip(&t))
                .unwrap_err()
                .to_string()
                .contains("checksum")
        );
    }

    #[test]
    fn a_truncated_gzip_still_yields_a_whole_file() {
        let full = gzip(&tar(&[("kubeconfig", KUBECONFIG.as_bytes())], true));
        // Drop the gzip trailer (CRC and size): the tar content is all there.
        let cut = &full[..full.len() - 8];
        assert_eq!(kubeconfig_from_tar_gz(cut).unwrap(), KUBECONFIG);
        // Cut deep into the stream: an error, not a partial kubeconfig.
        let cut = &full[..12];
        assert!(kubeconfig_from_tar_gz(cut).is_err());
    }

    #[test]
    fn numbers() {
        assert_eq!(number(b"00000001750\0").unwrap(), 1000);
        assert_eq!(number(b"        \0").unwrap(), 0);
        let mut b256 = [0u8; 12];
        b256[0] = 0x80;
        b256[10] = 0x01;
        b256[11] = 0x02;
        assert_eq!(number(&b256).unwrap(), 258);
        assert!(number(b"9\0").is_err());
    }
}
