//! MetalLB address syntax: a CIDR (`10.0.0.0/28`, `fd00::/120`) or an
//! explicit range (`192.168.1.240-192.168.1.250`), checked as MetalLB's
//! `parseCIDR` does (metallb `internal/config/config.go`): an unparsable
//! CIDR, a range whose start is after its end, or one mixing IPv4 and IPv6
//! is refused; overlaps are refused across pools.

use std::net::IpAddr;

/// An inclusive range of addresses of one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// IPv4 (else IPv6).
    pub v4: bool,
    /// First address.
    pub start: u128,
    /// Last address.
    pub end: u128,
}

impl Span {
    /// Whether the two share an address.
    pub fn overlaps(&self, o: &Span) -> bool {
        self.v4 == o.v4 && self.start <= o.end && o.start <= self.end
    }
}

fn num(ip: IpAddr) -> (bool, u128) {
    match ip {
        IpAddr::V4(a) => (true, u32::from(a) as u128),
        IpAddr::V6(a) => (false, u128::from(a)),
    }
}

/// Parse one entry of `addresses`.
pub fn parse(s: &str) -> Result<Span, String> {
    if let Some((a, b)) = s.split_once('-') {
        let a = a.trim();
        let b = b.trim();
        let start: IpAddr = a
            .parse()
            .map_err(|_| format!("invalid IP range {s:?}: invalid start IP {a:?}"))?;
        let end: IpAddr = b
            .parse()
            .map_err(|_| format!("invalid IP range {s:?}: invalid end IP {b:?}"))?;
        let (v4a, x) = num(start);
        let (v4b, y) = num(end);
        if v4a != v4b {
            return Err(format!("invalid IP range {s:?}: cannot mix IPv4 and IPv6"));
        }
        if x > y {
            return Err(format!(
                "invalid IP range {s:?}: start IP {a:?} is after the end IP {b:?}"
            ));
        }
        return Ok(Span {
            v4: v4a,
            start: x,
            end: y,
        });
    }
    let bad = || format!("invalid CIDR {s:?}");
    let (ip, len) = s.split_once('/').ok_or_else(bad)?;
    let ip: IpAddr = ip.parse().map_err(|_| bad())?;
    let (v4, n) = num(ip);
    let bits = if v4 { 32 } else { 128 };
    let len: u32 = len
        .parse()
        .ok()
        .filter(|l| *l <= bits && !len.starts_with('+'))
        .ok_or_else(bad)?;
    let host = bits - len;
    let mask: u128 = if host >= 128 {
        u128::MAX
    } else {
        (1u128 << host) - 1
    };
    Ok(Span {
        v4,
        start: n & !mask,
        end: n | mask,
    })
}

/// Check a pool's addresses: each parses, and none overlaps another.
/// Errors name the entry's index.
pub fn check_pool(addresses: &[String]) -> Vec<(usize, String)> {
    let mut errs = Vec::new();
    let mut seen: Vec<(usize, Span)> = Vec::new();
    for (i, a) in addresses.iter().enumerate() {
        match parse(a) {
            Err(e) => errs.push((i, e)),
            Ok(sp) => {
                if let Some((j, _)) = seen.iter().find(|(_, o)| o.overlaps(&sp)) {
                    errs.push((
                        i,
                        format!(
                            "CIDR {a:?} overlaps with already defined CIDR {:?}",
                            addresses[*j]
                        ),
                    ));
                }
                seen.push((i, sp));
            }
        }
    }
    errs
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_and_ranges() {
        let s = parse("192.168.1.240-192.168.1.250").unwrap();
        assert_eq!(s.end - s.start, 10);
        let c = parse("10.0.0.0/28").unwrap();
        assert_eq!(c.end - c.start, 15);
        assert_eq!(
            parse("10.0.0.5/30").unwrap().start,
            parse("10.0.0.4/32").unwrap().start
        );
        assert!(parse("fd00::/120").is_ok());
        assert!(parse("10.0.0.0/33").unwrap_err().contains("invalid CIDR"));
        assert!(parse("10.0.0.0").unwrap_err().contains("invalid CIDR"));
        assert!(
            parse("10.0.0.9-10.0.0.1")
                .unwrap_err()
                .contains("is after the end IP")
        );
        assert!(parse("10.0.0.1-fd00::1").unwrap_err().contains("mix"));
        assert!(parse("0.0.0.0/0").is_ok());
        assert!(parse("::/0").is_ok());
        let e = check_pool(&["10.0.0.0/28".into(), "10.0.0.10-10.0.0.20".into()]);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].0, 1);
        assert!(check_pool(&["10.0.0.0/28".into(), "10.0.0.16/28".into()]).is_empty());
    }
}
