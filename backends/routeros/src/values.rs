//! RouterOS value syntax: time intervals, IPv4 addresses, ranges and
//! prefixes, port lists and protocols. Pure functions: parse what a user or
//! the router writes, decide whether two spellings mean the same thing, and
//! produce the spelling RouterOS prints.
//!
//! Sources: the `/console/inspect` dumps (`tikoci/restraml`, 7.22.3
//! deep-inspect): time intervals are `0s..35w3d13h13m56s`, address-list
//! addresses `A.B.C.D[-A.B.C.D |0..32 |/A.B.C.D ]`, `protocol` completes to
//! the names in [`PROTOCOLS`] (numbers are IANA's); `!` negates a matcher.

use std::net::Ipv4Addr;

/// The longest RouterOS time interval (`35w3d13h13m56s`), in seconds.
pub const MAX_DURATION: u64 = 35 * 604_800 + 3 * 86_400 + 13 * 3600 + 13 * 60 + 56;

/// Parse a RouterOS time interval: `1w2d3h4m5s` (any of the parts, in
/// that order), `HH:MM:SS`, or a number of seconds.
pub fn parse_duration(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let bad = || format!("{s:?} is not a time interval like 30s, 5m, 1h30m, 1d or 00:05:00");
    if t.is_empty() {
        return Err(bad());
    }
    let total = if t.chars().all(|c| c.is_ascii_digit()) {
        t.parse::<u64>().map_err(|_| bad())?
    } else if t.contains(':') {
        let parts: Vec<&str> = t.split(':').collect();
        if parts.len() != 3 {
            return Err(bad());
        }
        let mut total = 0u64;
        for (p, mul) in parts.iter().zip([3600u64, 60, 1]) {
            if p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()) {
                return Err(bad());
            }
            let v: u64 = p.parse().map_err(|_| bad())?;
            if mul != 3600 && v >= 60 {
                return Err(bad());
            }
            total = total.saturating_add(v.saturating_mul(mul));
        }
        total
    } else {
        let mut total = 0u64;
        let mut digits = String::new();
        let mut last_unit = 0usize;
        for c in t.chars() {
            if c.is_ascii_digit() {
                digits.push(c);
                continue;
            }
            let (rank, mul) = match c {
                'w' => (1, 604_800u64),
                'd' => (2, 86_400),
                'h' => (3, 3600),
                'm' => (4, 60),
                's' => (5, 1),
                _ => return Err(bad()),
            };
            if digits.is_empty() || rank <= last_unit {
                return Err(bad());
            }
            last_unit = rank;
            let v: u64 = digits.parse().map_err(|_| bad())?;
            total = total.saturating_add(v.saturating_mul(mul));
            digits.clear();
        }
        if !digits.is_empty() {
            return Err(bad());
        }
        total
    };
    if total > MAX_DURATION {
        return Err(format!(
            "{s:?} is longer than RouterOS allows (35w3d13h13m56s)"
        ));
    }
    Ok(total)
}

/// A time interval as RouterOS prints it: `1d`, `1h30m`, `1w2d`, `0s`.
pub fn format_duration(secs: u64) -> String {
    if secs == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let mut rest = secs;
    for (unit, size) in [
        ("w", 604_800u64),
        ("d", 86_400),
        ("h", 3600),
        ("m", 60),
        ("s", 1),
    ] {
        let n = rest / size;
        rest %= size;
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    out
}

/// What an address matcher matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addr {
    /// An inclusive range of IPv4 addresses (a host, a prefix or `a-b`).
    Range(u32, u32),
    /// A DNS name (address lists only: RouterOS resolves it).
    Name(String),
}

/// A possibly negated (`!`) address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// Written with a leading `!`: matches every address but these.
    pub negated: bool,
    /// The addresses written.
    pub addr: Addr,
}

fn v4(s: &str) -> Option<u32> {
    // `Ipv4Addr` parsing refuses leading zeros and short forms, like RouterOS.
    s.parse::<Ipv4Addr>().ok().map(u32::from)
}

fn prefix_range(base: u32, len: u32) -> (u32, u32) {
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    (base & mask, (base & mask) | !mask)
}

/// Parse an IPv4 address, `address/len` or `first-last`, optionally
/// negated with `!`; `names`: a DNS name is also accepted.
pub fn parse_address(s: &str, names: bool) -> Result<Address, String> {
    let t = s.trim();
    let (negated, body) = match t.strip_prefix('!') {
        Some(b) => (true, b),
        None => (false, t),
    };
    let bad = || {
        if names {
            format!(
                "{s:?} is not an IPv4 address, prefix (10.0.0.0/24), range (10.0.0.1-10.0.0.9) or DNS name"
            )
        } else {
            format!(
                "{s:?} is not an IPv4 address, prefix (10.0.0.0/24) or range (10.0.0.1-10.0.0.9)"
            )
        }
    };
    let addr = if let Some((a, len)) = body.split_once('/') {
        let base = v4(a).ok_or_else(bad)?;
        let len: u32 = len
            .parse()
            .ok()
            .filter(|l| *l <= 32 && !len.starts_with('+'))
            .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to 32"))?;
        let (lo, hi) = prefix_range(base, len);
        Addr::Range(lo, hi)
    } else if let Some((a, b)) = body.split_once('-').filter(|(a, _)| v4(a).is_some()) {
        let lo = v4(a).ok_or_else(bad)?;
        let hi = v4(b).ok_or_else(bad)?;
        if lo > hi {
            return Err(format!("{s:?}: the range ends before it starts"));
        }
        Addr::Range(lo, hi)
    } else if let Some(a) = v4(body) {
        Addr::Range(a, a)
    } else if names && is_dns_name(body) && !body.chars().all(|c| c.is_ascii_digit() || c == '.') {
        Addr::Name(body.trim_end_matches('.').to_ascii_lowercase())
    } else {
        return Err(bad());
    };
    Ok(Address { negated, addr })
}

fn is_dns_name(s: &str) -> bool {
    let n = s.strip_suffix('.').unwrap_or(s);
    !n.is_empty()
        && n.len() <= 253
        && n.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

/// The spelling to send: trimmed, a single host without `/32`.
pub fn canonical_address(s: &str) -> String {
    let t = s.trim();
    match t.strip_suffix("/32") {
        Some(host) if v4(host.trim_start_matches('!')).is_some() => host.to_string(),
        _ => t.to_string(),
    }
}

/// Whether two address spellings match the same addresses.
pub fn same_address(a: &str, b: &str) -> bool {
    match (parse_address(a, true), parse_address(b, true)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a.trim() == b.trim(),
    }
}

/// A port list: `22`, `80,443`, `8000-8100`, optionally negated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ports {
    /// Written with a leading `!`: matches every port but these.
    pub negated: bool,
    /// Sorted, inclusive.
    pub ranges: Vec<(u16, u16)>,
}

/// Parse a port list.
pub fn parse_ports(s: &str) -> Result<Ports, String> {
    let t: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    let (negated, body) = match t.strip_prefix('!') {
        Some(b) => (true, b.to_string()),
        None => (false, t.clone()),
    };
    let bad = || format!("{s:?} is not a port list like 22, 80,443 or 8000-8100");
    if body.is_empty() {
        return Err(bad());
    }
    let port = |p: &str| -> Result<u16, String> {
        if p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        p.parse::<u16>()
            .map_err(|_| format!("{s:?}: ports are 0 to 65535"))
    };
    let mut ranges = Vec::new();
    for part in body.split(',') {
        let r = match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (port(a)?, port(b)?);
                if a > b {
                    return Err(format!("{s:?}: the range {part} ends before it starts"));
                }
                (a, b)
            }
            None => {
                let p = port(part)?;
                (p, p)
            }
        };
        ranges.push(r);
    }
    ranges.sort_unstable();
    Ok(Ports { negated, ranges })
}

/// The spelling to send: without blanks.
pub fn canonical_ports(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Whether two port lists match the same ports.
pub fn same_ports(a: &str, b: &str) -> bool {
    match (parse_ports(a), parse_ports(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => canonical_ports(a) == canonical_ports(b),
    }
}

/// The protocol names `protocol` completes to (7.22.3 deep inspect), with
/// their IANA numbers.
pub const PROTOCOLS: &[(&str, u8)] = &[
    ("dccp", 33),
    ("ddp", 37),
    ("egp", 8),
    ("encap", 98),
    ("etherip", 97),
    ("ggp", 3),
    ("gre", 47),
    ("hmp", 20),
    ("icmp", 1),
    ("icmpv6", 58),
    ("idpr-cmtp", 38),
    ("igmp", 2),
    ("ipencap", 4),
    ("ipip", 94),
    ("ipsec-ah", 51),
    ("ipsec-esp", 50),
    ("ipv6-encap", 41),
    ("ipv6-frag", 44),
    ("ipv6-nonxt", 59),
    ("ipv6-opts", 60),
    ("ipv6-route", 43),
    ("iso-tp4", 29),
    ("l2tp", 115),
    ("ospf", 89),
    ("pim", 103),
    ("pup", 12),
    ("rdp", 27),
    ("rspf", 73),
    ("rsvp", 46),
    ("sctp", 132),
    ("st", 5),
    ("tcp", 6),
    ("udp", 17),
    ("udp-lite", 136),
    ("vmtp", 81),
    ("vrrp", 112),
    ("xns-idp", 22),
    ("xtp", 36),
];

/// The protocols that have ports (the firewall manual's `dst-port`:
/// tcp, udp, udp-lite, sctp and dccp).
pub const PORT_PROTOCOLS: &[u8] = &[6, 17, 33, 132, 136];

/// A possibly negated protocol, by number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Protocol {
    /// Written with a leading `!`: matches every protocol but this one.
    pub negated: bool,
    /// The IP protocol number (names such as `tcp` are mapped to theirs).
    pub number: u8,
}

/// Parse a protocol name or number (0-255), optionally negated.
pub fn parse_protocol(s: &str) -> Result<Protocol, String> {
    let t = s.trim();
    let (negated, body) = match t.strip_prefix('!') {
        Some(b) => (true, b),
        None => (false, t),
    };
    let number = if !body.is_empty() && body.chars().all(|c| c.is_ascii_digit()) {
        body.parse::<u8>()
            .map_err(|_| format!("{s:?}: protocol numbers are 0 to 255"))?
    } else {
        PROTOCOLS
            .iter()
            .find(|(n, _)| *n == body)
            .map(|(_, p)| *p)
            .ok_or_else(|| {
                format!(
                    "{s:?} is not a protocol RouterOS knows (a number 0-255, or one of tcp, udp, icmp, gre, ipsec-esp, ... {})",
                    PROTOCOLS.len()
                )
            })?
    };
    Ok(Protocol { negated, number })
}

/// Whether two protocol spellings mean the same protocol.
pub fn same_protocol(a: &str, b: &str) -> bool {
    match (parse_protocol(a), parse_protocol(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a.trim() == b.trim(),
    }
}

/// Whether the protocol has ports (tcp, udp, udp-lite, sctp, dccp), not negated.
pub fn has_ports(p: Protocol) -> bool {
    !p.negated && PORT_PROTOCOLS.contains(&p.number)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("24h").unwrap(), 86_400);
        assert_eq!(parse_duration("1d").unwrap(), 86_400);
        assert_eq!(parse_duration("86400").unwrap(), 86_400);
        assert_eq!(parse_duration("00:00:10").unwrap(), 10);
        assert_eq!(parse_duration("1w2d3h4m5s").unwrap(), 788_645);
        assert_eq!(format_duration(86_400), "1d");
        assert_eq!(format_duration(90_061), "1d1h1m1s");
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(MAX_DURATION), "35w3d13h13m56s");
        assert_eq!(parse_duration("35w3d13h13m56s").unwrap(), MAX_DURATION);
        for bad in ["", "1x", "h", "1h1d", "36w", "1:2", "00:61:00", "1h 5m"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn addresses() {
        assert!(same_address("10.0.0.1/32", "10.0.0.1"));
        assert!(same_address("10.0.0.5/24", "10.0.0.0/24"));
        assert!(same_address("192.168.0.0-192.168.1.255", "192.168.0.0/23"));
        assert!(!same_address("!10.0.0.1", "10.0.0.1"));
        assert!(!same_address("10.0.0.0/24", "10.0.0.0/25"));
        assert_eq!(canonical_address(" 10.0.0.1/32 "), "10.0.0.1");
        assert_eq!(canonical_address("!10.0.0.1/32"), "!10.0.0.1");
        assert_eq!(canonical_address("10.0.0.0/24"), "10.0.0.0/24");
        for bad in [
            "10.0.0.300",
            "10.0.0.0/33",
            "10.0.0.9-10.0.0.1",
            "fd00::1",
            "",
            "010.0.0.1",
        ] {
            assert!(parse_address(bad, false).is_err(), "{bad}");
        }
        assert!(parse_address("nas.home.arpa", true).is_ok());
        assert!(parse_address("nas.home.arpa", false).is_err());
        assert!(same_address("NAS.home.arpa.", "nas.home.arpa"));
    }

    #[test]
    fn ports() {
        assert!(same_ports("443,80", "80, 443"));
        assert!(!same_ports("!22", "22"));
        assert_eq!(canonical_ports("80, 443"), "80,443");
        for bad in ["", "x", "70000", "10-5", "1,,2", "!"] {
            assert!(parse_ports(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_ports("8000-8100").unwrap().ranges, [(8000, 8100)]);
    }

    #[test]
    fn protocols() {
        assert!(same_protocol("6", "tcp"));
        assert!(!same_protocol("!tcp", "tcp"));
        assert!(parse_protocol("tcpp").is_err());
        assert!(parse_protocol("256").is_err());
        assert!(has_ports(parse_protocol("udp").unwrap()));
        assert!(!has_ports(parse_protocol("icmp").unwrap()));
        assert!(!has_ports(parse_protocol("!tcp").unwrap()));
    }
}
