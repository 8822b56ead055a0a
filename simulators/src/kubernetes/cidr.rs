//! MetalLB's address parsing, as its webhook runs it (metallb
//! `internal/config/config.go` `parseCIDR`: `net.ParseCIDR` for a prefix,
//! else a `start-end` range with both ends `net.ParseIP`, start not after
//! end, one family).

use std::net::IpAddr;

/// An inclusive span of one family.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span {
    v6: bool,
    lo: u128,
    hi: u128,
}

impl Span {
    pub(crate) fn overlaps(&self, o: &Span) -> bool {
        self.v6 == o.v6 && self.lo <= o.hi && o.lo <= self.hi
    }
}

fn bits(ip: IpAddr) -> (bool, u128) {
    match ip {
        IpAddr::V4(a) => (false, u128::from(u32::from(a))),
        IpAddr::V6(a) => (true, u128::from(a)),
    }
}

pub(crate) fn span(s: &str) -> Result<Span, String> {
    if s.contains('-') {
        let parts: Vec<&str> = s.splitn(2, '-').map(str::trim).collect();
        let a: IpAddr = parts[0].parse().map_err(|_| {
            format!(
                "invalid IP range \"{s}\": invalid start IP \"{}\"",
                parts[0]
            )
        })?;
        let b: IpAddr = parts
            .get(1)
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| format!("invalid IP range \"{s}\": invalid end IP"))?;
        let ((va, x), (vb, y)) = (bits(a), bits(b));
        if va != vb {
            return Err(format!(
                "invalid IP range \"{s}\": cannot mix IPv4 and IPv6"
            ));
        }
        if x > y {
            return Err(format!(
                "invalid IP range \"{s}\": start IP \"{a}\" is after the end IP \"{b}\""
            ));
        }
        return Ok(Span {
            v6: va,
            lo: x,
            hi: y,
        });
    }
    let bad = || format!("invalid CIDR \"{s}\"");
    let (ip, len) = s.split_once('/').ok_or_else(bad)?;
    let ip: IpAddr = ip.parse().map_err(|_| bad())?;
    let (v6, n) = bits(ip);
    let width: u32 = if v6 { 128 } else { 32 };
    let len: u32 = if len.chars().all(|c| c.is_ascii_digit()) && !len.is_empty() {
        len.parse().map_err(|_| bad())?
    } else {
        return Err(bad());
    };
    if len > width {
        return Err(bad());
    }
    let host = width - len;
    let mask = if host == 128 {
        u128::MAX
    } else {
        (1u128 << host) - 1
    };
    Ok(Span {
        v6,
        lo: n & !mask,
        hi: n | mask,
    })
}
