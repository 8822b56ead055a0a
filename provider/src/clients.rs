//! What `configure` builds: one [`Backend`] per backend.

use labforge_framework::{AttributePath, Error, Result, Value};

use crate::config::{CloudflareBlock, Config, Env, ProxmoxBlock, TechnitiumBlock};
use crate::{cloudflare, proxmox, technitium};

/// A backend's client, or why there is none.
#[derive(Debug)]
pub enum Backend<T> {
    Ready(T),
    /// Neither the provider block nor the environment configures it.
    NotConfigured {
        block: &'static str,
        variables: &'static str,
    },
    /// Its configuration depends on values known only after apply.
    Unknown(&'static str),
}

impl<T> Backend<T> {
    /// The client, or a diagnostic that says how to configure it.
    pub fn get(&self) -> Result<&T> {
        match self {
            Backend::Ready(t) => Ok(t),
            Backend::NotConfigured { block, variables } => Err(Error::new(
                format!("The {block} backend is not configured"),
                format!(
                    "This resource needs {block}: add a `{block} {{ ... }}` block to the homelab provider, \
                     or set {variables}."
                ),
            )),
            Backend::Unknown(block) => Err(Error::config_unknown(format!(
                "The provider's {block} block"
            ))),
        }
    }
}

/// All backend clients.
#[derive(Debug)]
pub struct Clients {
    pub technitium: Backend<technitium::Client>,
    pub cloudflare: Backend<cloudflare::Client>,
    pub proxmox: Backend<proxmox::Client>,
}

/// Whether the provider block `name` holds unknown values.
fn block_unknown(raw: &Value, name: &str) -> bool {
    raw.get(name).is_some_and(Value::contains_unknown)
}

/// A value from the block, else from the environment.
fn pick(block: Option<&String>, env: &Env, var: &str) -> Option<String> {
    block
        .cloned()
        .filter(|s| !s.is_empty())
        .or_else(|| env.get(var))
}

/// A missing setting, pointing at the attribute.
fn missing(block: &str, attr: &str, detail: String) -> Error {
    Error::new(format!("Incomplete {block} configuration"), detail)
        .at(AttributePath::attr(block).join_attr(attr))
}

impl Clients {
    pub fn configure(config: Config, raw: &Value, env: &Env) -> Result<Self> {
        Ok(Self {
            technitium: Self::technitium(config.technitium, raw, env)?,
            cloudflare: Self::cloudflare(config.cloudflare, raw, env)?,
            proxmox: Self::proxmox(config.proxmox, raw, env)?,
        })
    }

    fn technitium(
        block: Option<TechnitiumBlock>,
        raw: &Value,
        env: &Env,
    ) -> Result<Backend<technitium::Client>> {
        if block_unknown(raw, "technitium") {
            return Ok(Backend::Unknown("technitium"));
        }
        let b = block.clone().unwrap_or_default();
        let url = pick(b.url.as_ref(), env, "TECHNITIUM_URL");
        let token = pick(b.token.as_ref(), env, "TECHNITIUM_TOKEN");
        let username = pick(b.username.as_ref(), env, "TECHNITIUM_USERNAME");
        let password = pick(b.password.as_ref(), env, "TECHNITIUM_PASSWORD");
        if block.is_none() && url.is_none() {
            return Ok(Backend::NotConfigured {
                block: "technitium",
                variables: "TECHNITIUM_URL and TECHNITIUM_TOKEN",
            });
        }
        let Some(url) = url else {
            return Err(missing(
                "technitium",
                "url",
                "Set `url` or TECHNITIUM_URL.".into(),
            ));
        };
        let auth = match (token, username, password) {
            (Some(t), _, _) => technitium::Auth::Token(t.into()),
            (None, Some(u), Some(p)) => technitium::Auth::Login {
                username: u,
                password: p.into(),
            },
            _ => {
                return Err(missing(
                    "technitium",
                    "token",
                    "Set `token` (or TECHNITIUM_TOKEN), or `username` and `password`.".into(),
                ));
            }
        };
        let settings = technitium::Settings {
            url,
            auth,
            ca_cert: pick(b.ca_cert.as_ref(), env, "TECHNITIUM_CA_CERT"),
            insecure: b
                .insecure
                .or_else(|| env.flag("TECHNITIUM_INSECURE"))
                .unwrap_or(false),
        };
        technitium::Client::new(settings).map(Backend::Ready)
    }

    fn cloudflare(
        block: Option<CloudflareBlock>,
        raw: &Value,
        env: &Env,
    ) -> Result<Backend<cloudflare::Client>> {
        if block_unknown(raw, "cloudflare") {
            return Ok(Backend::Unknown("cloudflare"));
        }
        let b = block.clone().unwrap_or_default();
        let token = pick(b.api_token.as_ref(), env, "CLOUDFLARE_API_TOKEN");
        if block.is_none() && token.is_none() {
            return Ok(Backend::NotConfigured {
                block: "cloudflare",
                variables: "CLOUDFLARE_API_TOKEN",
            });
        }
        let Some(api_token) = token else {
            return Err(missing(
                "cloudflare",
                "api_token",
                "Set `api_token` or CLOUDFLARE_API_TOKEN.".into(),
            ));
        };
        let settings = cloudflare::Settings {
            api_token: api_token.into(),
            base_url: pick(b.base_url.as_ref(), env, "CLOUDFLARE_BASE_URL")
                .unwrap_or_else(|| "https://api.cloudflare.com/client/v4".to_string()),
            requests_per_second: b.requests_per_second.unwrap_or(4.0),
            max_retries: b
                .max_retries
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(4),
        };
        cloudflare::Client::new(settings).map(Backend::Ready)
    }

    fn proxmox(
        block: Option<ProxmoxBlock>,
        raw: &Value,
        env: &Env,
    ) -> Result<Backend<proxmox::Client>> {
        if block_unknown(raw, "proxmox") {
            return Ok(Backend::Unknown("proxmox"));
        }
        let b = block.clone().unwrap_or_default();
        let endpoint = pick(b.endpoint.as_ref(), env, "PROXMOX_VE_ENDPOINT");
        let token = pick(b.api_token.as_ref(), env, "PROXMOX_VE_API_TOKEN");
        let username = pick(b.username.as_ref(), env, "PROXMOX_VE_USERNAME");
        let password = pick(b.password.as_ref(), env, "PROXMOX_VE_PASSWORD");
        if block.is_none() && endpoint.is_none() {
            return Ok(Backend::NotConfigured {
                block: "proxmox",
                variables: "PROXMOX_VE_ENDPOINT and PROXMOX_VE_API_TOKEN",
            });
        }
        let Some(endpoint) = endpoint else {
            return Err(missing(
                "proxmox",
                "endpoint",
                "Set `endpoint` or PROXMOX_VE_ENDPOINT.".into(),
            ));
        };
        let auth = match (token, username, password) {
            (Some(t), _, _) => proxmox::Auth::Token(t.into()),
            (None, Some(u), Some(p)) => proxmox::Auth::Login {
                username: u,
                password: p.into(),
            },
            _ => {
                return Err(missing(
                    "proxmox",
                    "api_token",
                    "Set `api_token` (or PROXMOX_VE_API_TOKEN), or `username` and `password`."
                        .into(),
                ));
            }
        };
        let settings = proxmox::Settings {
            endpoint,
            auth,
            ca_cert: pick(b.ca_cert.as_ref(), env, "PROXMOX_VE_CA_CERT"),
            insecure: b
                .insecure
                .or_else(|| env.flag("PROXMOX_VE_INSECURE"))
                .unwrap_or(false),
        };
        proxmox::Client::new(settings).map(Backend::Ready)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRETS: [&str; 5] = [
        "tech-token-s3cret",
        "tech-pass-s3cret",
        "cf-token-s3cret",
        "pve-token-s3cret",
        "pve-pass-s3cret",
    ];

    fn debug_of(pairs: &[(&str, &str)]) -> String {
        let env = Env::from_pairs(pairs.iter().copied());
        match Clients::configure(Config::default(), &Value::Null, &env) {
            Ok(c) => format!("{c:?}"),
            Err(e) => panic!("configure: {e}"),
        }
    }

    #[test]
    fn debug_output_holds_no_secret() {
        let tokens = debug_of(&[
            ("TECHNITIUM_URL", "http://dns.lab:5380"),
            ("TECHNITIUM_TOKEN", SECRETS[0]),
            ("CLOUDFLARE_API_TOKEN", SECRETS[2]),
            ("PROXMOX_VE_ENDPOINT", "https://pve.lab:8006/"),
            (
                "PROXMOX_VE_API_TOKEN",
                &format!("root@pam!tf={}", SECRETS[3]),
            ),
        ]);
        let logins = debug_of(&[
            ("TECHNITIUM_URL", "http://dns.lab:5380"),
            ("TECHNITIUM_USERNAME", "admin"),
            ("TECHNITIUM_PASSWORD", SECRETS[1]),
            ("PROXMOX_VE_ENDPOINT", "https://pve.lab:8006/"),
            ("PROXMOX_VE_USERNAME", "root@pam"),
            ("PROXMOX_VE_PASSWORD", SECRETS[4]),
        ]);
        for text in [&tokens, &logins] {
            assert!(text.contains("Ready"), "{text}");
            for s in SECRETS {
                assert!(!text.contains(s), "{s} in {text}");
            }
        }
        assert!(logins.contains("root@pam"), "{logins}");
    }
}
