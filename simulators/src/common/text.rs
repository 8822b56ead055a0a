//! Small helpers: timestamps, deterministic ids, `x-www-form-urlencoded`.

use std::time::{SystemTime, UNIX_EPOCH};

/// Current UTC time as RFC 3339 with `digits` fractional digits (0..=9),
/// e.g. `2024-01-01T05:20:00.123456Z`.
pub(crate) fn now_rfc3339(digits: usize) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format_rfc3339(now.as_secs(), now.subsec_nanos(), digits)
}

pub(crate) fn format_rfc3339(secs: u64, nanos: u32, digits: usize) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    let base = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    );
    let digits = digits.min(9);
    if digits == 0 {
        format!("{base}Z")
    } else {
        let frac = format!("{nanos:09}");
        format!("{base}.{}Z", &frac[..digits])
    }
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Deterministic pseudo-random hex ids: the n-th id of a given seed is always
/// the same, so test runs are reproducible.
#[derive(Debug, Clone)]
pub(crate) struct IdGen {
    seed: u64,
    next: u64,
}

impl IdGen {
    pub(crate) fn new(seed: u64) -> Self {
        Self { seed, next: 0 }
    }

    /// Next id of `len` lowercase hex characters.
    pub(crate) fn hex(&mut self, len: usize) -> String {
        let mut out = String::with_capacity(len + 16);
        while out.len() < len {
            self.next += 1;
            let v = splitmix64(self.seed ^ self.next.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            out.push_str(&format!("{v:016x}"));
        }
        out.truncate(len);
        out
    }
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Decodes `application/x-www-form-urlencoded` (also a URL query string) into
/// pairs. Malformed escapes are kept literally, never rejected.
pub(crate) fn decode_form(input: &str) -> Vec<(String, String)> {
    input
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                bytes.get(i + 1).and_then(|c| hex_val(*c)),
                bytes.get(i + 2).and_then(|c| hex_val(*c)),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert_eq!(format_rfc3339(0, 0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(
            format_rfc3339(1_704_067_200 + 19_200, 123_456_789, 6),
            "2024-01-01T05:20:00.123456Z"
        );
    }

    #[test]
    fn ids_are_deterministic() {
        let a = IdGen::new(7).hex(32);
        let b = IdGen::new(7).hex(32);
        assert_eq!(a, b);
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn form() {
        assert_eq!(
            decode_form("a=1+2&b=%41%zz&c"),
            vec![
                ("a".into(), "1 2".into()),
                ("b".into(), "A%zz".into()),
                ("c".into(), "".into())
            ]
        );
    }
}
