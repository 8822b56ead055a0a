//! How the binary was started: by Terraform/OpenTofu (go-plugin environment),
//! by hand, or with one of our flags. Pure functions over argv + an env lookup
//! so that every branch is unit-testable without touching the process env.

use std::path::PathBuf;

/// Environment variable go-plugin hosts set to prove they launched us.
pub const MAGIC_COOKIE_KEY: &str = "TF_PLUGIN_MAGIC_COOKIE";
/// Terraform's (and OpenTofu's) magic cookie value.
pub const MAGIC_COOKIE_VALUE: &str =
    "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";

/// What go-plugin's host told us through the environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PluginEnv {
    /// `PLUGIN_UNIX_SOCKET_DIR`: where to create the socket (default: temp dir).
    pub socket_dir: Option<PathBuf>,
    /// `PLUGIN_CLIENT_CERT`: PEM of the host's client certificate. When set,
    /// the server speaks TLS and accepts only this certificate (AutoMTLS).
    pub client_cert_pem: Option<String>,
}

impl PluginEnv {
    /// Reads the go-plugin variables from the process environment.
    pub fn from_env() -> Self {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// Reads the go-plugin variables through `lookup` (for tests and embedding).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let non_empty = |key: &str| lookup(key).filter(|v| !v.trim().is_empty());
        Self {
            socket_dir: non_empty("PLUGIN_UNIX_SOCKET_DIR").map(PathBuf::from),
            client_cert_pem: non_empty("PLUGIN_CLIENT_CERT"),
        }
    }
}

/// The decision taken from argv and the environment.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Invocation {
    /// `--version`: print name and version on stdout.
    Version,
    /// `--help`: print usage on stdout.
    Help,
    /// `--debug`: serve for `TF_REATTACH_PROVIDERS`.
    Debug,
    /// Launched by a go-plugin host: serve with the handshake.
    Plugin(PluginEnv),
    /// Something is wrong; print the one-line message on stderr and exit 1.
    Refuse(String),
}

pub(crate) fn parse(
    name: &str,
    version: &str,
    args: &[String],
    lookup: impl Fn(&str) -> Option<String>,
) -> Invocation {
    if let Some(arg) = args.first() {
        return match arg.as_str() {
            "--version" | "-version" | "-v" => Invocation::Version,
            "--help" | "-help" | "-h" => Invocation::Help,
            "--debug" | "-debug" => Invocation::Debug,
            other => Invocation::Refuse(format!(
                "terraform-provider-{name}: unknown argument {other:?}; \
                 accepted arguments are --debug, --version and --help"
            )),
        };
    }
    if lookup(MAGIC_COOKIE_KEY).as_deref() != Some(MAGIC_COOKIE_VALUE) {
        return Invocation::Refuse(format!(
            "This binary is a Terraform/OpenTofu provider plugin \
             (terraform-provider-{name} v{version}); it is meant to be started by \
             terraform or tofu, not run directly. Run it with --debug to serve it \
             for TF_REATTACH_PROVIDERS, or --version to print its version."
        ));
    }
    let offered = lookup("PLUGIN_PROTOCOL_VERSIONS").filter(|v| !v.trim().is_empty());
    if let Some(versions) = offered.filter(|v| !v.split(',').any(|one| one.trim() == "6")) {
        return Invocation::Refuse(format!(
            "terraform-provider-{name} only speaks plugin protocol 6, but the host \
             offered PLUGIN_PROTOCOL_VERSIONS={versions:?}; use Terraform >= 1.0 or OpenTofu"
        ));
    }
    Invocation::Plugin(PluginEnv::from_lookup(lookup))
}

pub(crate) fn usage(name: &str, version: &str) -> String {
    format!(
        "terraform-provider-{name} v{version}\n\
         \n\
         A Terraform/OpenTofu provider plugin. terraform or tofu start it on their own.\n\
         \n\
         Usage: terraform-provider-{name} [--debug | --version | --help]\n\
         \n\
           --debug     serve on a local socket and print a TF_REATTACH_PROVIDERS value\n\
           --version   print the version\n\
           --help      print this text\n"
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn run(args: &[&str], env: &[(&str, &str)]) -> Invocation {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        parse("homelab", "0.1.0", &args, |k| env.get(k).cloned())
    }

    #[test]
    fn without_cookie_refuses_with_one_line_mentioning_flags() {
        let Invocation::Refuse(msg) = run(&[], &[]) else {
            panic!("expected refusal");
        };
        assert!(!msg.contains('\n'));
        assert!(msg.contains("--debug") && msg.contains("--version"));
        assert!(msg.contains("terraform") && msg.contains("tofu"));
    }

    #[test]
    fn wrong_cookie_refuses() {
        assert!(matches!(
            run(&[], &[(MAGIC_COOKIE_KEY, "nope")]),
            Invocation::Refuse(_)
        ));
    }

    #[test]
    fn cookie_and_versions_in_any_order() {
        for versions in ["5,6", "6,5", "6", " 5 , 6 "] {
            assert_eq!(
                run(
                    &[],
                    &[
                        (MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE),
                        ("PLUGIN_PROTOCOL_VERSIONS", versions)
                    ]
                ),
                Invocation::Plugin(PluginEnv::default()),
                "{versions}"
            );
        }
    }

    #[test]
    fn missing_versions_means_our_default() {
        assert!(matches!(
            run(&[], &[(MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE)]),
            Invocation::Plugin(_)
        ));
    }

    #[test]
    fn versions_without_six_refused() {
        let Invocation::Refuse(msg) = run(
            &[],
            &[
                (MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE),
                ("PLUGIN_PROTOCOL_VERSIONS", "4,5,16"),
            ],
        ) else {
            panic!("expected refusal");
        };
        assert!(msg.contains("protocol 6"));
    }

    #[test]
    fn plugin_env_is_read() {
        let got = run(
            &[],
            &[
                (MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE),
                ("PLUGIN_UNIX_SOCKET_DIR", "/run/x"),
                ("PLUGIN_CLIENT_CERT", "-----BEGIN CERTIFICATE-----"),
            ],
        );
        assert_eq!(
            got,
            Invocation::Plugin(PluginEnv {
                socket_dir: Some(PathBuf::from("/run/x")),
                client_cert_pem: Some("-----BEGIN CERTIFICATE-----".into()),
            })
        );
    }

    #[test]
    fn flags_win_over_environment() {
        assert_eq!(run(&["--version"], &[]), Invocation::Version);
        assert_eq!(run(&["--help"], &[]), Invocation::Help);
        assert_eq!(run(&["--debug"], &[]), Invocation::Debug);
        assert!(matches!(run(&["--bogus"], &[]), Invocation::Refuse(_)));
        assert!(usage("homelab", "0.1.0").contains("--debug"));
    }
}
