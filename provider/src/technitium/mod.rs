//! Technitium DNS Server: API client and resources.
//!
//! TODO(dns): client, `homelab_technitium_zone`, `homelab_technitium_dns_record`,
//! data source `homelab_technitium_zone_records`.

use labforge_framework::{Registry, Result};

use crate::clients::Clients;

/// How to authenticate.
#[derive(Clone)]
pub enum Auth {
    Token(String),
    Login { username: String, password: String },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Token(_) => f.write_str("Token(***)"),
            Auth::Login { username, .. } => write!(f, "Login({username}, ***)"),
        }
    }
}

/// Connection settings, resolved from the provider block and environment.
#[derive(Debug, Clone)]
pub struct Settings {
    pub url: String,
    pub auth: Auth,
    pub ca_cert: Option<String>,
    pub insecure: bool,
}

/// The Technitium API client.
#[derive(Debug)]
pub struct Client {
    pub settings: Settings,
}

impl Client {
    pub fn new(settings: Settings) -> Result<Self> {
        Ok(Self { settings })
    }
}

pub fn register(r: Registry<Clients>) -> Registry<Clients> {
    r
}
