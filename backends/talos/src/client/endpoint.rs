//! Talos API endpoints as users write them: `host`, `host:port`, `[v6]:port`
//! (or a bare IPv6 address); the port defaults to apid's 50000.

use std::fmt;
use std::net::IpAddr;

use rustls::pki_types::ServerName;

use super::error::{ErrorKind, TalosError};

/// apid's port (`constants.ApidPort` in siderolabs/talos).
pub(crate) const DEFAULT_PORT: u16 = 50000;

/// A parsed endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// Host name or IP address, without brackets.
    pub(crate) host: String,
    pub(crate) port: u16,
}

impl Endpoint {
    pub(crate) fn parse(text: &str) -> Result<Self, TalosError> {
        let invalid = |why: &str| {
            TalosError::new(
                ErrorKind::InvalidInput,
                format!("invalid Talos API endpoint {text:?}: {why}"),
            )
        };
        let s = text.trim();
        if s.is_empty() {
            return Err(invalid("it is empty"));
        }
        if s.contains("://") {
            return Err(invalid("write host or host:port, without a scheme"));
        }
        if s.contains(['/', ' ', '\t', '@', '?', '#']) {
            return Err(invalid("write host or host:port"));
        }
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let Some((host, after)) = rest.split_once(']') else {
                return Err(invalid("missing ']'"));
            };
            if host.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(invalid("not an IPv6 address between the brackets"));
            }
            let port = match after {
                "" => None,
                p => match p.strip_prefix(':') {
                    Some(p) => Some(p),
                    None => return Err(invalid("expected ':port' after ']'")),
                },
            };
            (host, port)
        } else {
            match s.matches(':').count() {
                0 => (s, None),
                1 => match s.split_once(':') {
                    Some((h, p)) => (h, Some(p)),
                    None => (s, None),
                },
                _ => {
                    if s.parse::<std::net::Ipv6Addr>().is_err() {
                        return Err(invalid(
                            "an IPv6 address with a port is written [address]:port",
                        ));
                    }
                    (s, None)
                }
            }
        };
        if host.is_empty() {
            return Err(invalid("the host is empty"));
        }
        let port = match port {
            None => DEFAULT_PORT,
            Some(p) => match p.parse::<u16>() {
                Ok(0) | Err(_) => return Err(invalid("the port must be a number from 1 to 65535")),
                Ok(p) => p,
            },
        };
        if host.parse::<IpAddr>().is_err() && ServerName::try_from(host).is_err() {
            return Err(invalid("not a host name or IP address"));
        }
        Ok(Self {
            host: host.to_string(),
            port,
        })
    }

    /// The name the server certificate is checked against.
    pub(crate) fn server_name(&self) -> Result<ServerName<'static>, TalosError> {
        if let Ok(ip) = self.host.parse::<IpAddr>() {
            return Ok(ServerName::IpAddress(ip.into()));
        }
        ServerName::try_from(self.host.clone()).map_err(|_| {
            TalosError::new(
                ErrorKind::InvalidInput,
                format!("invalid Talos API endpoint host {:?}", self.host),
            )
        })
    }
}

/// `host:port`, with brackets around an IPv6 address.
impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ok(s: &str) -> (String, u16, String) {
        let e = Endpoint::parse(s).unwrap();
        let shown = e.to_string();
        (e.host, e.port, shown)
    }

    #[test]
    fn forms_users_write() {
        assert_eq!(
            ok("10.0.0.5"),
            ("10.0.0.5".into(), 50000, "10.0.0.5:50000".into())
        );
        assert_eq!(
            ok(" 10.0.0.5:50001 "),
            ("10.0.0.5".into(), 50001, "10.0.0.5:50001".into())
        );
        assert_eq!(
            ok("cp1.lab.example"),
            (
                "cp1.lab.example".into(),
                50000,
                "cp1.lab.example:50000".into()
            )
        );
        assert_eq!(ok("cp1:1234"), ("cp1".into(), 1234, "cp1:1234".into()));
        assert_eq!(
            ok("[fd00::5]:50000"),
            ("fd00::5".into(), 50000, "[fd00::5]:50000".into())
        );
        assert_eq!(
            ok("[fd00::5]"),
            ("fd00::5".into(), 50000, "[fd00::5]:50000".into())
        );
        assert_eq!(
            ok("fd00::5"),
            ("fd00::5".into(), 50000, "[fd00::5]:50000".into())
        );
        assert_eq!(
            ok("127.0.0.1:40001"),
            ("127.0.0.1".into(), 40001, "127.0.0.1:40001".into())
        );
    }

    #[test]
    fn rejects_what_is_not_an_endpoint() {
        for bad in [
            "",
            "   ",
            "https://10.0.0.5:50000",
            "10.0.0.5:",
            "10.0.0.5:0",
            "10.0.0.5:70000",
            "10.0.0.5:port",
            ":50000",
            "[fd00::5",
            "[fd00::5]50000",
            "[not-v6]:1",
            "fd00::zz:1",
            "10.0.0.5/24",
            "a b",
        ] {
            let e = Endpoint::parse(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad:?}");
            assert!(
                e.to_string().starts_with("invalid Talos API endpoint"),
                "{e}"
            );
        }
    }

    #[test]
    fn server_names() {
        let ip = Endpoint::parse("10.0.0.5").unwrap().server_name().unwrap();
        assert!(matches!(ip, ServerName::IpAddress(_)));
        let v6 = Endpoint::parse("[fd00::5]:1")
            .unwrap()
            .server_name()
            .unwrap();
        assert!(matches!(v6, ServerName::IpAddress(_)));
        let dns = Endpoint::parse("cp1.lab").unwrap().server_name().unwrap();
        assert!(matches!(dns, ServerName::DnsName(_)));
    }
}
