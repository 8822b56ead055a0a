//! Installing provider binaries the way users do: a filesystem mirror plus a CLI config.
//!
//! One mirror per test process (a temp dir, filled lazily and only ever added to), with the
//! unpacked layout under both registry hosts, so `source = "labforge/homelab"` resolves for
//! Terraform (`registry.terraform.io`) and OpenTofu (`registry.opentofu.org`) alike:
//!
//! ```text
//! <mirror>/registry.terraform.io/labforge/homelab/0.1.0/linux_amd64/terraform-provider-homelab_v0.1.0
//! <mirror>/registry.opentofu.org/labforge/homelab/0.1.0/linux_amd64/terraform-provider-homelab_v0.1.0
//! ```
//!
//! Every working dir gets a fresh `init`, so the lock file is always computed from the binary
//! in the mirror (no stale `.terraform.lock.hcl` after a rebuild).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use anyhow::{Context, Result, anyhow, bail};

/// Both registry hosts a mirror serves: Terraform's and OpenTofu's default.
pub const REGISTRY_HOSTS: [&str; 2] = ["registry.terraform.io", "registry.opentofu.org"];

/// The namespace of our providers.
pub const DEFAULT_NAMESPACE: &str = "labforge";

/// A provider binary to install: `labforge/<name>` at `version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    /// Registry namespace, `labforge` unless changed with [`Provider::namespace`].
    pub namespace: String,
    /// Provider type name, e.g. `homelab` (the binary is `terraform-provider-homelab`).
    pub name: String,
    /// Version to install as, e.g. `0.1.0`.
    pub version: String,
    /// Path of the built executable.
    pub binary: PathBuf,
}

impl Provider {
    /// `labforge/<name>` `version`, served by the executable at `binary`.
    pub fn new(
        name: impl Into<String>,
        version: impl Into<String>,
        binary: impl Into<PathBuf>,
    ) -> Self {
        Provider {
            namespace: DEFAULT_NAMESPACE.to_owned(),
            name: name.into(),
            version: version.into(),
            binary: binary.into(),
        }
    }

    /// Changes the registry namespace (default `labforge`).
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// A provider built from this workspace: the binary `terraform-provider-<name>` (built
    /// by [`provider_binary`](crate::harness::provider_binary) if missing or stale), at the
    /// workspace version.
    ///
    /// Panics with the build error if the binary cannot be built.
    pub fn workspace(name: &str) -> Self {
        match crate::harness::provider_binary(name) {
            Ok(binary) => Provider::new(name, env!("CARGO_PKG_VERSION"), binary),
            Err(e) => panic!("provider binary terraform-provider-{name}: {e:#}"),
        }
    }

    /// `labforge/homelab` from this workspace.
    pub fn homelab() -> Self {
        Provider::workspace("homelab")
    }

    /// `labforge/corner`, the test-only provider of this crate.
    pub fn corner() -> Self {
        Provider::workspace("corner")
    }

    /// `<namespace>/<name>`, the short `source` for `required_providers`.
    pub fn source(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// The executable's path inside `mirror` for `host` and `platform` (e.g. `linux_amd64`).
    pub fn mirror_path(&self, mirror: &Path, host: &str, platform: &str) -> PathBuf {
        mirror
            .join(host)
            .join(&self.namespace)
            .join(&self.name)
            .join(&self.version)
            .join(platform)
            .join(format!(
                "terraform-provider-{}_v{}",
                self.name, self.version
            ))
    }

    /// A `terraform { required_providers { … } }` block for this provider.
    pub fn required_providers_block(&self) -> String {
        required_providers_block(std::slice::from_ref(self))
    }
}

/// A `terraform { required_providers { … } }` block pinning each provider's exact version.
pub fn required_providers_block(providers: &[Provider]) -> String {
    let mut s = String::from("terraform {\n  required_providers {\n");
    for p in providers {
        s.push_str(&format!(
            "    {} = {{\n      source  = \"{}\"\n      version = \"{}\"\n    }}\n",
            p.name,
            p.source(),
            p.version
        ));
    }
    s.push_str("  }\n}\n");
    s
}

/// Terraform's name of the platform this process runs on, e.g. `linux_amd64`.
pub fn platform() -> String {
    let os = match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    };
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        other => other,
    };
    format!("{os}_{arch}")
}

/// The text of a CLI config that installs `namespaces`' providers from `mirror` only
/// (for both registry hosts) and everything else directly. No `plugin_cache_dir`.
pub fn cli_config(mirror: &Path, namespaces: &[&str]) -> String {
    let mut patterns = Vec::new();
    for ns in namespaces {
        for host in REGISTRY_HOSTS {
            let p = format!("\"{host}/{ns}/*\"");
            if !patterns.contains(&p) {
                patterns.push(p);
            }
        }
    }
    let patterns = patterns.join(", ");
    format!(
        "# Written by the labforge acceptance-test harness.\n\
         provider_installation {{\n  \
           filesystem_mirror {{\n    \
             path    = {path}\n    \
             include = [{patterns}]\n  \
           }}\n  \
           direct {{\n    \
             exclude = [{patterns}]\n  \
           }}\n\
         }}\n",
        path = quote_hcl1(&mirror.to_string_lossy()),
    )
}

/// Quotes `s` as an HCL (2, `.tf` files) string literal; `${` and `%{` are escaped so the
/// text is taken literally.
pub fn hcl_string(s: &str) -> String {
    let quoted = quote_hcl1(s);
    quoted.replace("${", "$${").replace("%{", "%%{")
}

/// Quotes `s` for the CLI config file, which is HCL 1: no templates, only backslash escapes.
fn quote_hcl1(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Copies `provider` into `mirror` under every host in [`REGISTRY_HOSTS`].
///
/// The copy goes through a temp file renamed into place, so a concurrent `init` never sees
/// a half-written executable.
pub fn install_into(mirror: &Path, provider: &Provider) -> Result<()> {
    let meta = std::fs::metadata(&provider.binary).with_context(|| {
        format!(
            "provider binary {} (build it with `make testacc` or `cargo build`)",
            provider.binary.display()
        )
    })?;
    if !meta.is_file() {
        bail!(
            "provider binary {} is not a file",
            provider.binary.display()
        );
    }
    let platform = platform();
    for host in REGISTRY_HOSTS {
        let dest = provider.mirror_path(mirror, host, &platform);
        let dir = dest.parent().ok_or_else(|| anyhow!("bad mirror path"))?;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let staging = tempfile::NamedTempFile::new_in(mirror)
            .with_context(|| format!("creating a temp file in {}", mirror.display()))?;
        std::fs::copy(&provider.binary, staging.path())
            .with_context(|| format!("copying {} into the mirror", provider.binary.display()))?;
        staging
            .persist(&dest)
            .with_context(|| format!("moving the provider to {}", dest.display()))?;
    }
    Ok(())
}

/// The per-process mirror: a temp dir and the providers installed in it.
#[derive(Debug)]
pub struct Mirror {
    dir: PathBuf,
    installed: HashMap<(String, String, String), PathBuf>,
}

impl Mirror {
    /// The mirror of this test process, created on first use.
    pub fn global() -> Result<&'static Mutex<Mirror>> {
        static MIRROR: OnceLock<std::result::Result<Mutex<Mirror>, String>> = OnceLock::new();
        MIRROR
            .get_or_init(|| {
                Mirror::create()
                    .map(Mutex::new)
                    .map_err(|e| format!("{e:#}"))
            })
            .as_ref()
            .map_err(|e| anyhow!("creating the provider mirror: {e}"))
    }

    fn create() -> Result<Mirror> {
        let root = temp_root();
        std::fs::create_dir_all(&root)?;
        remove_stale_mirrors(&root);
        let dir = tempfile::Builder::new()
            .prefix(&format!("labforge-acc-mirror-{}-", std::process::id()))
            .tempdir_in(&root)
            .context("creating the mirror dir")?
            .keep();
        Ok(Mirror {
            dir,
            installed: HashMap::new(),
        })
    }

    /// The mirror's root dir.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Installs `provider` unless this name and version are already there (from the same
    /// binary path; a different binary for the same version is an error).
    pub fn install(&mut self, provider: &Provider) -> Result<()> {
        let key = (
            provider.namespace.clone(),
            provider.name.clone(),
            provider.version.clone(),
        );
        if let Some(binary) = self.installed.get(&key) {
            if *binary != provider.binary {
                bail!(
                    "{}/{} {} is already installed from {}; cannot install it again from {}",
                    provider.namespace,
                    provider.name,
                    provider.version,
                    binary.display(),
                    provider.binary.display()
                );
            }
            return Ok(());
        }
        install_into(&self.dir, provider)?;
        self.installed.insert(key, provider.binary.clone());
        Ok(())
    }
}

/// Where the harness makes its temp dirs: `TF_ACC_TEMP_DIR`, else the system temp dir.
pub fn temp_root() -> PathBuf {
    match std::env::var_os("TF_ACC_TEMP_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => std::env::temp_dir(),
    }
}

/// Best effort: deletes mirrors left by test processes that have exited (statics are never
/// dropped, so each process leaves its mirror behind). Only where `/proc` tells liveness.
fn remove_stale_mirrors(root: &Path) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name
            .to_str()
            .and_then(|n| n.strip_prefix("labforge-acc-mirror-"))
        else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn layout_for_both_hosts() {
        let src = tempfile::tempdir().unwrap();
        let bin = src.path().join("terraform-provider-corner");
        std::fs::write(&bin, b"binary").unwrap();
        let mirror = tempfile::tempdir().unwrap();
        let p = Provider::new("corner", "1.2.3", &bin);
        install_into(mirror.path(), &p).unwrap();
        let plat = platform();
        for host in REGISTRY_HOSTS {
            let f = mirror
                .path()
                .join(host)
                .join("labforge/corner/1.2.3")
                .join(&plat)
                .join("terraform-provider-corner_v1.2.3");
            assert_eq!(std::fs::read(&f).unwrap(), b"binary", "{}", f.display());
            assert_eq!(p.mirror_path(mirror.path(), host, &plat), f);
        }
        // Nothing else is left behind (no staging files).
        let mut top: Vec<_> = std::fs::read_dir(mirror.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        top.sort();
        assert_eq!(top, ["registry.opentofu.org", "registry.terraform.io"]);
    }

    #[cfg(unix)]
    #[test]
    fn executable_bit_is_kept() {
        use std::os::unix::fs::PermissionsExt;
        let src = tempfile::tempdir().unwrap();
        let bin = src.path().join("terraform-provider-x");
        std::fs::write(&bin, b"#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mirror = tempfile::tempdir().unwrap();
        let p = Provider::new("x", "0.1.0", &bin);
        install_into(mirror.path(), &p).unwrap();
        let dest = p.mirror_path(mirror.path(), REGISTRY_HOSTS[0], &platform());
        let mode = std::fs::metadata(dest).unwrap().permissions().mode();
        assert_eq!(mode & 0o111, 0o111);
    }

    #[test]
    fn missing_binary_is_a_clear_error() {
        let mirror = tempfile::tempdir().unwrap();
        let p = Provider::new("x", "0.1.0", "/nonexistent/terraform-provider-x");
        let err = format!("{:#}", install_into(mirror.path(), &p).unwrap_err());
        assert!(err.contains("/nonexistent/terraform-provider-x"), "{err}");
    }

    #[test]
    fn mirror_refuses_two_binaries_for_one_version() {
        let src = tempfile::tempdir().unwrap();
        let a = src.path().join("a");
        let b = src.path().join("b");
        std::fs::write(&a, b"a").unwrap();
        std::fs::write(&b, b"b").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut m = Mirror {
            dir: dir.path().to_path_buf(),
            installed: HashMap::new(),
        };
        m.install(&Provider::new("x", "0.1.0", &a)).unwrap();
        m.install(&Provider::new("x", "0.1.0", &a)).unwrap();
        assert!(m.install(&Provider::new("x", "0.1.0", &b)).is_err());
        m.install(&Provider::new("x", "0.2.0", &b)).unwrap();
    }

    #[test]
    fn cli_config_text() {
        let text = cli_config(Path::new("/tmp/m"), &["labforge"]);
        let expected = r#"# Written by the labforge acceptance-test harness.
provider_installation {
  filesystem_mirror {
    path    = "/tmp/m"
    include = ["registry.terraform.io/labforge/*", "registry.opentofu.org/labforge/*"]
  }
  direct {
    exclude = ["registry.terraform.io/labforge/*", "registry.opentofu.org/labforge/*"]
  }
}
"#;
        assert_eq!(text, expected);
        assert!(!text.contains("plugin_cache_dir"));
        let two = cli_config(Path::new("/m"), &["labforge", "other", "labforge"]);
        assert!(two.contains(
            r#"include = ["registry.terraform.io/labforge/*", "registry.opentofu.org/labforge/*", "registry.terraform.io/other/*", "registry.opentofu.org/other/*"]"#
        ));
    }

    #[test]
    fn hcl_quoting() {
        assert_eq!(hcl_string(r#"a"b\c${x}%{y}$5"#), r#""a\"b\\c$${x}%%{y}$5""#);
        assert_eq!(quote_hcl1("/a b/${x}"), r#""/a b/${x}""#);
    }

    #[test]
    fn required_providers() {
        let p = Provider::new("homelab", "0.1.0", "/x");
        assert_eq!(p.source(), "labforge/homelab");
        assert_eq!(
            p.required_providers_block(),
            "terraform {\n  required_providers {\n    homelab = {\n      source  = \"labforge/homelab\"\n      version = \"0.1.0\"\n    }\n  }\n}\n"
        );
    }

    #[test]
    fn platform_name() {
        let p = platform();
        assert!(p.contains('_'), "{p}");
        #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
        assert_eq!(p, "linux_amd64");
    }
}
