//! The single go-plugin handshake line printed on stdout.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;

/// go-plugin core protocol version (field 1).
pub const CORE_PROTOCOL_VERSION: u32 = 1;
/// Terraform plugin protocol major version we speak (field 2).
pub const APP_PROTOCOL_VERSION: u32 = 6;

/// Everything the host needs to connect to us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    /// `"unix"` (what we use) or `"tcp"`.
    pub network: &'static str,
    /// Socket path, or `host:port` for tcp.
    pub address: String,
    /// DER of our server certificate when AutoMTLS is on.
    pub server_cert_der: Option<Vec<u8>>,
}

impl Handshake {
    /// `1|6|unix|/tmp/plugin123|grpc|<base64 std alphabet, no padding, of the DER>`
    /// (last field empty without TLS). No trailing newline.
    pub fn line(&self) -> String {
        let cert = self
            .server_cert_der
            .as_deref()
            .map(|der| STANDARD_NO_PAD.encode(der))
            .unwrap_or_default();
        format!(
            "{CORE_PROTOCOL_VERSION}|{APP_PROTOCOL_VERSION}|{}|{}|grpc|{cert}",
            self.network, self.address
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_line() {
        let hs = Handshake {
            network: "unix",
            address: "/tmp/plugin42".into(),
            server_cert_der: None,
        };
        assert_eq!(hs.line(), "1|6|unix|/tmp/plugin42|grpc|");
    }

    #[test]
    fn tls_line_uses_unpadded_standard_base64() {
        // 4 bytes encode to 8 chars with "==" padding in padded base64; 0xfb 0xff
        // would be "-_" in the url-safe alphabet and "+/" in the standard one.
        let hs = Handshake {
            network: "unix",
            address: "/s".into(),
            server_cert_der: Some(vec![0xfb, 0xff, 0xbf, 0x01]),
        };
        let line = hs.line();
        assert_eq!(line, "1|6|unix|/s|grpc|+/+/AQ");
        assert_eq!(line.split('|').count(), 6);
        assert!(!line.contains('='));
    }
}
