//! Locating (and if needed building) provider binaries of this workspace.
//!
//! `make testacc` builds every binary before running the tests, so normally this only
//! finds them. When a test is run directly (`cargo test -p labforge-acceptance-tests`) and a
//! binary is missing or older than the workspace sources, it runs
//! `cargo build -p <package> --bin terraform-provider-<name>` once per binary and process.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::SystemTime;

use anyhow::{Context, Result, bail};

/// The workspace root (the parent of this crate's manifest dir).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// The cargo package that builds `terraform-provider-<name>`.
pub fn package_of(name: &str) -> String {
    match name {
        "corner" => "labforge-acceptance-tests".to_owned(),
        other => format!("terraform-provider-{other}"),
    }
}

/// The dir holding binaries of the profile the tests were built with, e.g.
/// `<workspace>/target/debug`.
///
/// Taken from the running test executable (`<target>/<profile>/deps/<test>`) when possible,
/// which honours `CARGO_TARGET_DIR`, `--release` and `--target`; otherwise
/// `CARGO_TARGET_DIR` (or `<workspace>/target`) plus `debug`.
pub fn target_profile_dir() -> PathBuf {
    if let Ok(exe) = std::env::current_exe()
        && let Some(deps) = exe.parent()
        && deps.file_name().is_some_and(|n| n == "deps")
        && let Some(profile) = deps.parent()
    {
        return profile.to_path_buf();
    }
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if !d.is_empty() => {
            let d = PathBuf::from(d);
            if d.is_absolute() {
                d
            } else {
                workspace_root().join(d)
            }
        }
        _ => workspace_root().join("target"),
    };
    target.join("debug")
}

/// The path of `terraform-provider-<name>`, building it first if it is missing or older
/// than the workspace sources. Builds run at most once per binary per process.
pub fn provider_binary(name: &str) -> Result<PathBuf> {
    let bin = format!("terraform-provider-{name}");
    binary(&package_of(name), &bin)
}

/// The path of binary `bin` of cargo package `package` (see [`provider_binary`]).
pub fn binary(package: &str, bin: &str) -> Result<PathBuf> {
    static BUILT: Mutex<Option<HashMap<String, PathBuf>>> = Mutex::new(None);
    // Held across the build: concurrent tests wait for one build instead of racing.
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    let built = built.get_or_insert_with(HashMap::new);
    if let Some(p) = built.get(bin) {
        return Ok(p.clone());
    }
    let profile_dir = target_profile_dir();
    let path = profile_dir.join(format!("{bin}{}", std::env::consts::EXE_SUFFIX));
    if needs_build(&path) {
        build(package, bin, &profile_dir)?;
        if !path.is_file() {
            bail!(
                "`cargo build -p {package} --bin {bin}` succeeded but {} does not exist",
                path.display()
            );
        }
    }
    built.insert(bin.to_owned(), path.clone());
    Ok(path)
}

fn needs_build(path: &Path) -> bool {
    let Some(bin_time) = mtime(path) else {
        return true;
    };
    newest_source(&workspace_root()).is_some_and(|src| src > bin_time)
}

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// The newest modification time of the workspace's sources (`*.rs`, `*.toml`, `*.proto`,
/// `Cargo.lock`), skipping `target/`, hidden dirs and terraform working files.
pub fn newest_source(root: &Path) -> Option<SystemTime> {
    let mut newest = None;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let Ok(ft) = entry.file_type() else { continue };
            if ft.is_dir() {
                if !name.starts_with('.') && name != "target" && name != "node_modules" {
                    stack.push(entry.path());
                }
            } else if name.ends_with(".rs")
                || name.ends_with(".toml")
                || name.ends_with(".proto")
                || name == "Cargo.lock"
            {
                let t = mtime(&entry.path());
                if t > newest {
                    newest = t;
                }
            }
        }
    }
    newest
}

fn build(package: &str, bin: &str, profile_dir: &Path) -> Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root())
        .args(["build", "-p", package, "--bin", bin]);
    match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => {}
        Some("release") => {
            cmd.arg("--release");
        }
        Some(other) => {
            cmd.args(["--profile", other]);
        }
    }
    // Same target dir as the tests, when the profile dir sits directly in a target dir
    // (cargo marks target dirs with CACHEDIR.TAG); otherwise CARGO_TARGET_DIR is inherited.
    if let Some(target) = profile_dir.parent()
        && target.join("CACHEDIR.TAG").exists()
    {
        cmd.env("CARGO_TARGET_DIR", target);
    }
    eprintln!("[labforge-acc] building {bin}: {cmd:?}");
    let status = cmd
        .status()
        .with_context(|| format!("running cargo to build {bin}"))?;
    if !status.success() {
        bail!("`cargo build -p {package} --bin {bin}` failed ({status}); see its output above");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn packages() {
        assert_eq!(package_of("homelab"), "terraform-provider-homelab");
        assert_eq!(package_of("corner"), "labforge-acceptance-tests");
    }

    #[test]
    fn profile_dir_of_a_test_binary() {
        // Unit tests run from <target>/debug/deps/<name>.
        let dir = target_profile_dir();
        assert!(dir.join("deps").is_dir(), "{}", dir.display());
    }

    #[test]
    fn newest_source_skips_target() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("a/src")).unwrap();
        std::fs::create_dir_all(root.path().join("target")).unwrap();
        assert_eq!(newest_source(root.path()), None);
        std::fs::write(root.path().join("target/x.rs"), "").unwrap();
        std::fs::write(root.path().join("a/src/notes.txt"), "").unwrap();
        assert_eq!(newest_source(root.path()), None);
        std::fs::write(root.path().join("a/src/lib.rs"), "").unwrap();
        assert!(newest_source(root.path()).is_some());
    }
}
