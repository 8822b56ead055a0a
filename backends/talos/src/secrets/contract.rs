//! Talos version contracts: which Talos release a bundle or a machine
//! configuration is made for (siderolabs/talos `pkg/machinery/config/contract.go`).
//!
//! Defined here (and re-exported by [`crate::config`]) so that `config`
//! imports `secrets` and not the other way round.

use std::fmt;
use std::str::FromStr;

/// A Talos version contract this crate can generate for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Contract {
    /// Talos 1.13 (generated as by tag v1.13.9).
    V1_13,
    /// Talos 1.14 (generated as by tag v1.14.0-rc.1).
    V1_14,
}

/// Every supported contract, oldest first.
pub const SUPPORTED: [Contract; 2] = [Contract::V1_13, Contract::V1_14];

impl Contract {
    /// The contract as users write it: `"v1.13"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Contract::V1_13 => "v1.13",
            Contract::V1_14 => "v1.14",
        }
    }

    /// The Talos release whose generator this crate follows (also the default
    /// installer image tag).
    pub fn talos_version(self) -> &'static str {
        match self {
            Contract::V1_13 => "v1.13.9",
            Contract::V1_14 => "v1.14.0-rc.1",
        }
    }

    /// The default Kubernetes version of that release
    /// (`pkg/machinery/constants/constants.go` `DefaultKubernetesVersion`).
    pub fn default_kubernetes_version(self) -> &'static str {
        match self {
            Contract::V1_13 => "1.36.1",
            Contract::V1_14 => "1.37.0",
        }
    }
}

impl fmt::Display for Contract {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A version string that names no supported contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unsupported Talos version {given:?}: supported versions are {}",
    supported_list()
)]
pub struct UnsupportedContract {
    /// The text that was given.
    pub given: String,
}

fn supported_list() -> String {
    SUPPORTED
        .iter()
        .map(|c| c.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl FromStr for Contract {
    type Err = UnsupportedContract;

    /// Accepts `v1.13`, `1.13`, `v1.13.9`, `v1.14.0-rc.1`...: the major and
    /// minor numbers choose the contract, as Talos's `ParseContractFromVersion`
    /// (`^v(\d+)\.(\d+)($|\.)`, with the `v` optional here).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || UnsupportedContract {
            given: s.to_string(),
        };
        let t = s.trim();
        let t = t.strip_prefix('v').unwrap_or(t);
        let mut parts = t.splitn(3, '.');
        let major = parts.next().ok_or_else(err)?;
        let minor = parts.next().ok_or_else(err)?;
        if let Some(rest) = parts.next()
            && (rest.is_empty() || !rest.starts_with(|c: char| c.is_ascii_digit()))
        {
            return Err(err());
        }
        let digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
        if !digits(major) || !digits(minor) {
            return Err(err());
        }
        match (major.parse::<u32>(), minor.parse::<u32>()) {
            (Ok(1), Ok(13)) => Ok(Contract::V1_13),
            (Ok(1), Ok(14)) => Ok(Contract::V1_14),
            _ => Err(err()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_accepted_spellings() {
        for s in ["v1.13", "1.13", "v1.13.9", "1.13.0"] {
            assert_eq!(s.parse::<Contract>().unwrap(), Contract::V1_13, "{s}");
        }
        for s in ["v1.14", "v1.14.0", "v1.14.0-rc.1", "1.14.2"] {
            assert_eq!(s.parse::<Contract>().unwrap(), Contract::V1_14, "{s}");
        }
    }

    #[test]
    fn refuses_others_listing_the_supported() {
        for s in [
            "v1.12", "v2.0", "1", "", "v1.13x", "1.13.", "latest", "v1.141",
        ] {
            let e = s.parse::<Contract>().unwrap_err();
            assert!(e.to_string().contains("v1.13, v1.14"), "{s}: {e}");
        }
    }

    #[test]
    fn names() {
        assert_eq!(Contract::V1_13.as_str(), "v1.13");
        assert_eq!(Contract::V1_14.talos_version(), "v1.14.0-rc.1");
        assert_eq!(Contract::V1_13.to_string(), "v1.13");
    }
}
