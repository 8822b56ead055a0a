//! How Cloudflare rewrites what it is sent, so that the provider can tell a
//! real change from a different spelling of the same value (no perpetual
//! diffs): names come back fully qualified and lower-case, host targets lose
//! their trailing dot, IPv6 addresses are canonicalised, and TXT content is
//! (re)quoted and split into 255-byte character-strings.

use std::net::IpAddr;

/// Lower-case, trimmed, no trailing dot.
pub fn host(s: &str) -> String {
    s.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// The fully-qualified form of a record name in `zone` (`@` is the apex).
pub fn qualify(name: &str, zone: &str) -> String {
    let n = host(name);
    let zone = host(zone);
    if n == "@" || n.is_empty() || n == zone {
        zone
    } else if n.ends_with(&format!(".{zone}")) {
        n
    } else {
        format!("{n}.{zone}")
    }
}

/// Whether the name the user wrote means the name the API returned.
/// Without the zone name, only spelling differences of the same FQDN match.
pub fn same_name(user: &str, api: &str, zone: Option<&str>) -> bool {
    match zone {
        Some(z) => qualify(user, z) == qualify(api, z),
        None => host(user) == host(api),
    }
}

/// TXT content as the resolver sees it: the concatenated character-strings.
pub fn txt_value(s: &str) -> String {
    let s = s.trim();
    if !s.starts_with('"') {
        return s.to_string();
    }
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '"' {
            continue;
        }
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    if let Some(n) = chars.next() {
                        out.push(n);
                    }
                }
                '"' => break,
                _ => out.push(c),
            }
        }
    }
    out
}

/// TXT content that is one quoted character-string without quotes or
/// backslashes inside (`"v=spf1 -all"`), without its quotes: the text a
/// person writes, which [`same_content`] takes for the quoted form. `None`
/// for anything else (unquoted, several strings, escapes, over 255 bytes),
/// which is kept as Cloudflare stores it.
pub fn plain_txt(s: &str) -> Option<String> {
    let inner = s.strip_prefix('"')?.strip_suffix('"')?;
    (!inner.is_empty() && inner.len() <= 255 && !inner.contains(['"', '\\']))
        .then(|| inner.to_string())
}

/// Whether two `content` values of a record of type `rtype` are the same.
pub fn same_content(rtype: &str, a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match rtype {
        "A" | "AAAA" => match (a.trim().parse::<IpAddr>(), b.trim().parse::<IpAddr>()) {
            (Ok(x), Ok(y)) => x == y,
            _ => false,
        },
        "CNAME" | "MX" | "NS" | "PTR" => host(a) == host(b),
        "TXT" => txt_value(a) == txt_value(b),
        _ => a.trim() == b.trim(),
    }
}

/// Host targets inside `data` (SRV `target`).
pub fn same_host(a: &str, b: &str) -> bool {
    host(a) == host(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_txt_only_for_one_simple_string() {
        assert_eq!(plain_txt("\"v=spf1 -all\"").as_deref(), Some("v=spf1 -all"));
        assert_eq!(plain_txt("v=spf1 -all"), None);
        assert_eq!(plain_txt("\"a\" \"b\""), None);
        assert_eq!(plain_txt("\"a\\\"b\""), None);
        assert_eq!(plain_txt("\"\""), None);
        assert_eq!(plain_txt(&format!("\"{}\"", "x".repeat(256))), None);
        let plain = plain_txt("\"v=spf1 -all\"").unwrap_or_default();
        assert!(same_content("TXT", &plain, "\"v=spf1 -all\""));
    }

    #[test]
    fn names() {
        assert_eq!(qualify("www", "example.com"), "www.example.com");
        assert_eq!(qualify("@", "example.com"), "example.com");
        assert_eq!(
            qualify("WWW.Example.com.", "example.com"),
            "www.example.com"
        );
        assert!(same_name("www", "www.example.com", Some("example.com")));
        assert!(same_name("@", "example.com", Some("example.com")));
        assert!(!same_name("www", "www2.example.com", Some("example.com")));
        assert!(same_name("WWW.example.com.", "www.example.com", None));
        assert!(!same_name("www", "www.example.com", None));
    }

    #[test]
    fn contents() {
        assert!(same_content("AAAA", "2001:DB8:0::1", "2001:db8::1"));
        assert!(!same_content("A", "192.0.2.1", "192.0.2.2"));
        assert!(same_content(
            "CNAME",
            "Target.Example.com.",
            "target.example.com"
        ));
        assert!(same_content(
            "NS",
            "NS1.Lab.Example.com.",
            "ns1.lab.example.com"
        ));
        assert!(!same_content(
            "NS",
            "ns1.lab.example.com",
            "ns2.lab.example.com"
        ));
        assert!(same_content("TXT", "v=spf1 -all", "\"v=spf1 -all\""));
        let long = "x".repeat(300);
        let split = format!("\"{}\" \"{}\"", "x".repeat(255), "x".repeat(45));
        assert!(same_content("TXT", &long, &split));
        assert!(same_content("TXT", "\"a\\\"b\"", "a\"b"));
        assert!(!same_content("TXT", "a", "b"));
    }
}
