//! Every example under `examples/` is `terraform fmt` clean and valid
//! configuration for the provider as built, and every `import.sh` imports a
//! resource of its own directory's type. (The docs embed these files.)
//! `examples/modules/site` is validated as a module on its own, and
//! `examples/multi-site` with the module beside it, as in the repository.

use std::fs;
use std::path::{Path, PathBuf};

use labforge_acceptance_tests::{Provider, Workdir, workspace_root};

const VERSIONS: &str = r#"terraform {
  required_providers {
    homelab = { source = "labforge/homelab" }
  }
}
"#;

fn example_dirs(root: &Path) -> Vec<PathBuf> {
    let mut dirs = vec![
        root.join("provider"),
        root.join("lab"),
        root.join("modules/site"),
    ];
    for kind in ["resources", "data-sources"] {
        if let Ok(entries) = fs::read_dir(root.join(kind)) {
            dirs.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
        }
    }
    dirs.sort();
    dirs
}

#[test]
fn examples_are_formatted_and_valid() {
    let examples = workspace_root().join("examples");
    let provider = Provider::homelab();
    let mut checked = 0;
    for dir in example_dirs(&examples) {
        let mut wd = Workdir::new(&provider).unwrap();
        let mut has_versions = false;
        for entry in fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "tf") {
                let text = fs::read_to_string(&path).unwrap();
                has_versions |= text.contains("required_providers");
                wd.write_file(&entry.file_name().to_string_lossy(), &text)
                    .unwrap();
            }
        }
        if !has_versions {
            wd.write_file("versions_test.tf", VERSIONS).unwrap();
        }
        let fmt = wd.run_unchecked(&["fmt", "-check", "-diff"]).unwrap();
        assert!(
            fmt.success(),
            "{} is not terraform fmt clean:\n{}",
            dir.display(),
            fmt.combined()
        );
        wd.init().unwrap();
        let v = wd.run_unchecked(&["validate", "-no-color"]).unwrap();
        assert!(
            v.success(),
            "{} does not validate:\n{}",
            dir.display(),
            v.combined()
        );

        let import = dir.join("import.sh");
        if let Ok(sh) = fs::read_to_string(&import) {
            let ty = dir.file_name().unwrap().to_string_lossy().to_string();
            let line = sh
                .lines()
                .find(|l| l.starts_with("terraform import "))
                .unwrap_or_else(|| panic!("{} has no `terraform import` line", import.display()));
            assert!(
                line.starts_with(&format!("terraform import {ty}.")),
                "{}: imports another type: {line}",
                import.display()
            );
        }
        checked += 1;
    }
    assert!(checked >= 8, "found only {checked} example directories");
}

/// The `.tf` files of `dir` (links followed: the site module's are the lab's).
fn tf_files(dir: &Path) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "tf"))
        .map(|e| {
            let text = fs::read_to_string(e.path())
                .unwrap_or_else(|err| panic!("reading {}: {err}", e.path().display()));
            (e.file_name().to_string_lossy().into_owned(), text)
        })
        .collect();
    files.sort();
    files
}

/// The site module is the lab without its root module's own files: every
/// file of the module but `versions.tf` is the lab's file of that name, and
/// the lab has only `main.tf` and `variables.tf` besides.
#[test]
fn site_module_is_the_lab() {
    let examples = workspace_root().join("examples");
    let lab: std::collections::BTreeMap<String, String> =
        tf_files(&examples.join("lab")).into_iter().collect();
    let module = tf_files(&examples.join("modules/site"));
    let mut shared = Vec::new();
    for (name, text) in &module {
        if name == "versions.tf" {
            assert!(
                !text.contains("provider \""),
                "the module configures a provider"
            );
            continue;
        }
        assert_eq!(
            lab.get(name),
            Some(text),
            "modules/site/{name} is not examples/lab/{name}"
        );
        shared.push(name.clone());
    }
    let mut root_only: Vec<&String> = lab.keys().filter(|n| !shared.contains(n)).collect();
    root_only.sort();
    assert_eq!(
        root_only,
        ["main.tf", "variables.tf"],
        "lab files missing from the module"
    );
    for name in [
        "talos.tf",
        "proxmox.tf",
        "edge.tf",
        "dns.tf",
        "metallb.tf",
        "site.tf",
    ] {
        assert!(shared.iter().any(|n| n == name), "the module has no {name}");
    }
}

/// `examples/multi-site` with `../modules/site` beside it: fmt clean, and
/// valid with both provider aliases passed to the module.
#[test]
fn multi_site_example_is_formatted_and_valid() {
    let examples = workspace_root().join("examples");
    let mut wd = Workdir::new(&Provider::homelab()).unwrap();
    // The working dir is <tmp>/work: the module goes to <tmp>/modules/site.
    let module_dir = wd.path().parent().unwrap().join("modules/site");
    fs::create_dir_all(&module_dir).unwrap();
    for (name, text) in tf_files(&examples.join("modules/site")) {
        fs::write(module_dir.join(name), text).unwrap();
    }
    for (name, text) in tf_files(&examples.join("multi-site")) {
        wd.write_file(&name, &text).unwrap();
    }
    let fmt = wd.run_unchecked(&["fmt", "-check", "-diff"]).unwrap();
    assert!(
        fmt.success(),
        "multi-site is not fmt clean:\n{}",
        fmt.combined()
    );
    wd.init().unwrap();
    let v = wd.run_unchecked(&["validate", "-no-color"]).unwrap();
    assert!(
        v.success(),
        "multi-site does not validate:\n{}",
        v.combined()
    );
}
