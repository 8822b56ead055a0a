//! Finding the `terraform` or `tofu` executable the tests drive.
//!
//! Order (the same as terraform-plugin-testing, plus OpenTofu):
//! 1. `TF_ACC_TERRAFORM_PATH`, if set (a path to either CLI);
//! 2. `tofu` on `PATH`;
//! 3. `terraform` on `PATH`.
//!
//! Without any of them the tests fail (they never skip silently).

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use anyhow::{Context, Result, anyhow, bail};

/// Which CLI is being driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// HashiCorp Terraform.
    Terraform,
    /// OpenTofu.
    OpenTofu,
}

impl Flavor {
    /// The default registry host of unqualified provider sources (`labforge/homelab`).
    pub fn default_registry_host(self) -> &'static str {
        match self {
            Flavor::Terraform => "registry.terraform.io",
            Flavor::OpenTofu => "registry.opentofu.org",
        }
    }
}

/// The CLI executable, its flavour and version.
#[derive(Debug, Clone)]
pub struct Cli {
    /// Absolute path of the executable.
    pub path: PathBuf,
    /// Terraform or OpenTofu.
    pub flavor: Flavor,
    /// Version without the leading `v`, e.g. `1.11.4`.
    pub version: String,
}

/// The message shown when no CLI is found.
pub const NO_CLI_HELP: &str = "no terraform or tofu CLI found: acceptance tests need one. \
Install Terraform (>= 1.11) or OpenTofu and put it on PATH, or point TF_ACC_TERRAFORM_PATH \
at the executable (e.g. TF_ACC_TERRAFORM_PATH=/usr/local/bin/terraform).";

impl Cli {
    /// The CLI for this test process, discovered once from the real environment.
    ///
    /// Returns an error (with [`NO_CLI_HELP`]) when there is none; callers turn it into a
    /// test failure.
    pub fn get() -> Result<&'static Cli> {
        static CLI: OnceLock<std::result::Result<Cli, String>> = OnceLock::new();
        CLI.get_or_init(|| {
            let path = discover(|k| std::env::var_os(k)).map_err(|e| format!("{e:#}"))?;
            Cli::probe(&path).map_err(|e| format!("{e:#}"))
        })
        .as_ref()
        .map_err(|e| anyhow!("{e}"))
    }

    /// Runs `<path> version -json` (and `version`) to learn the flavour and version.
    pub fn probe(path: &Path) -> Result<Cli> {
        // An empty CLI config: avoids warnings about a missing ~/.terraformrc or a
        // TF_CLI_CONFIG_FILE pointing nowhere.
        let empty = tempfile::NamedTempFile::new().context("creating an empty CLI config")?;
        let run = |args: &[&str]| -> Result<String> {
            let out = Command::new(path)
                .args(args)
                .env("TF_CLI_CONFIG_FILE", empty.path())
                .env("CHECKPOINT_DISABLE", "1")
                .env_remove("TF_LOG")
                .output()
                .with_context(|| format!("running `{} {}`", path.display(), args.join(" ")))?;
            if !out.status.success() {
                bail!(
                    "`{} {}` failed ({}):\n{}{}",
                    path.display(),
                    args.join(" "),
                    out.status,
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        };
        let json = run(&["version", "-json"])?;
        let text = run(&["version"])?;
        let (flavor, version) = parse_version(&json, &text)?;
        Ok(Cli {
            path: path.to_path_buf(),
            flavor,
            version,
        })
    }
}

/// Parses the output of `version -json` and plain `version`.
///
/// Both CLIs report `terraform_version` in JSON; the plain text starts with
/// `Terraform v…` or `OpenTofu v…`, which tells them apart.
pub fn parse_version(json: &str, text: &str) -> Result<(Flavor, String)> {
    let v: serde_json::Value =
        serde_json::from_str(json).with_context(|| format!("parsing `version -json`: {json}"))?;
    let version = v
        .get("terraform_version")
        .or_else(|| v.get("tofu_version"))
        .and_then(|v| v.as_str())
        .ok_or_else(|| anyhow!("`version -json` has no terraform_version: {json}"))?
        .trim_start_matches('v')
        .to_owned();
    let first = text.lines().next().unwrap_or_default();
    let flavor = if first.starts_with("OpenTofu") || v.get("tofu_version").is_some() {
        Flavor::OpenTofu
    } else {
        Flavor::Terraform
    };
    Ok((flavor, version))
}

/// Picks the CLI executable from an environment (`env` looks a variable up).
///
/// Pure apart from checking files, so the order is unit-testable.
pub fn discover(env: impl Fn(&str) -> Option<OsString>) -> Result<PathBuf> {
    if let Some(p) = env("TF_ACC_TERRAFORM_PATH").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        // A bare name is looked up on PATH, like a shell would.
        let found = if p.components().count() == 1 {
            find_in_path(p.as_os_str(), env("PATH").as_deref())
        } else {
            is_executable(&p).then_some(p.clone())
        };
        return found.ok_or_else(|| {
            anyhow!(
                "TF_ACC_TERRAFORM_PATH={} is not an executable file. {NO_CLI_HELP}",
                p.display()
            )
        });
    }
    let path = env("PATH");
    for name in ["tofu", "terraform"] {
        if let Some(p) = find_in_path(OsStr::new(name), path.as_deref()) {
            return Ok(p);
        }
    }
    bail!("{NO_CLI_HELP}")
}

/// The first executable called `name` in the `PATH`-style list `path`.
pub fn find_in_path(name: &OsStr, path: Option<&OsStr>) -> Option<PathBuf> {
    std::env::split_paths(path?)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(p) else {
        return false;
    };
    if !meta.is_file() {
        return false;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        true
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use std::collections::HashMap;

    fn fake_exe(dir: &Path, name: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, "#!/bin/sh\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        p
    }

    fn env_of(vars: &[(&str, OsString)]) -> impl Fn(&str) -> Option<OsString> + use<> {
        let map: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn explicit_path_wins() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let explicit = fake_exe(a.path(), "my-terraform");
        fake_exe(b.path(), "tofu");
        fake_exe(b.path(), "terraform");
        let env = env_of(&[
            ("TF_ACC_TERRAFORM_PATH", explicit.clone().into()),
            ("PATH", b.path().into()),
        ]);
        assert_eq!(discover(env).unwrap(), explicit);
    }

    #[test]
    fn explicit_bare_name_is_searched_on_path() {
        let b = tempfile::tempdir().unwrap();
        let t = fake_exe(b.path(), "terraform");
        fake_exe(b.path(), "tofu");
        let env = env_of(&[
            ("TF_ACC_TERRAFORM_PATH", "terraform".into()),
            ("PATH", b.path().into()),
        ]);
        assert_eq!(discover(env).unwrap(), t);
    }

    #[test]
    fn explicit_path_that_is_missing_is_an_error() {
        let b = tempfile::tempdir().unwrap();
        fake_exe(b.path(), "terraform");
        let env = env_of(&[
            ("TF_ACC_TERRAFORM_PATH", "/nonexistent/terraform".into()),
            ("PATH", b.path().into()),
        ]);
        let err = discover(env).unwrap_err().to_string();
        assert!(
            err.contains("TF_ACC_TERRAFORM_PATH=/nonexistent/terraform"),
            "{err}"
        );
    }

    #[test]
    fn tofu_before_terraform_across_path_entries() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        fake_exe(a.path(), "terraform");
        let tofu = fake_exe(b.path(), "tofu");
        let path = std::env::join_paths([a.path(), b.path()]).unwrap();
        assert_eq!(discover(env_of(&[("PATH", path)])).unwrap(), tofu);
    }

    #[test]
    fn terraform_when_no_tofu_and_non_executables_skipped() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        std::fs::write(a.path().join("tofu"), "not executable").unwrap();
        let t = fake_exe(b.path(), "terraform");
        let path = std::env::join_paths([a.path(), b.path()]).unwrap();
        let env = env_of(&[("PATH", path), ("TF_ACC_TERRAFORM_PATH", "".into())]);
        assert_eq!(discover(env).unwrap(), t);
    }

    #[test]
    fn nothing_found_explains_how_to_fix() {
        let a = tempfile::tempdir().unwrap();
        let err = discover(env_of(&[("PATH", a.path().into())]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("TF_ACC_TERRAFORM_PATH"), "{err}");
        assert!(discover(env_of(&[])).is_err());
    }

    #[test]
    fn version_parsing() {
        let json = r#"{"terraform_version":"1.11.4","platform":"linux_amd64","provider_selections":{},"terraform_outdated":false}"#;
        assert_eq!(
            parse_version(json, "Terraform v1.11.4\non linux_amd64\n").unwrap(),
            (Flavor::Terraform, "1.11.4".to_owned())
        );
        let json =
            r#"{"terraform_version":"1.9.0","platform":"linux_amd64","provider_selections":{}}"#;
        assert_eq!(
            parse_version(json, "OpenTofu v1.9.0\non linux_amd64\n").unwrap(),
            (Flavor::OpenTofu, "1.9.0".to_owned())
        );
        assert!(parse_version("{}", "").is_err());
        assert_eq!(
            Flavor::OpenTofu.default_registry_host(),
            "registry.opentofu.org"
        );
    }
}
