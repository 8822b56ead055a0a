//! Regenerate `docs/` from the provider's schemas, `examples/` and the
//! guides' templates in `templates/guides/`.
//!
//! `cargo run -p terraform-provider-homelab --bin homelab-docs` writes the
//! files; with `--check` it only reports stale ones and exits non-zero.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut err = std::io::stderr();
    let check = std::env::args().any(|a| a == "--check");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = labforge_framework::docs::generate(&homelab::Homelab, &root.join("examples"));
    match labforge_framework::docs::guides(&root.join("templates"), &root) {
        Ok(guides) => files.extend(guides),
        Err(e) => {
            let _ = writeln!(err, "cannot build the guides: {e}");
            return ExitCode::FAILURE;
        }
    }
    match labforge_framework::docs::sync(&root.join("docs"), &files, !check) {
        Ok(stale) if stale.is_empty() => {
            let _ = writeln!(err, "docs are up to date ({} files)", files.len());
            ExitCode::SUCCESS
        }
        Ok(stale) => {
            for p in &stale {
                let _ = writeln!(
                    err,
                    "{} docs/{}",
                    if check { "stale:" } else { "wrote:" },
                    p.display()
                );
            }
            if check {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            let _ = writeln!(err, "cannot write docs: {e}");
            ExitCode::FAILURE
        }
    }
}
