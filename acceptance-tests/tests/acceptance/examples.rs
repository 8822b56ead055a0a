//! Every example under `examples/` is `terraform fmt` clean and valid
//! configuration for the provider as built, and every `import.sh` imports a
//! resource of its own directory's type. (The docs embed these files.)

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
    let mut dirs = vec![root.join("provider"), root.join("lab")];
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
    assert!(checked >= 7, "found only {checked} example directories");
}
