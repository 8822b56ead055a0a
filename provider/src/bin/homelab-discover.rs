//! `homelab-discover`: list what already runs in the lab as `import` blocks
//! (`homelab::discover`), or tidy generated configuration (`tidy FILE...`).
//! Writes the import blocks to `--out` or standard output; everything else
//! goes to standard error.

use std::io::Write as _;
use std::process::ExitCode;

use homelab::discover::{self, Command};
use labforge_framework::Env;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut err = std::io::stderr();
    let command = match discover::parse_args(&args) {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(err, "homelab-discover: {e}");
            return ExitCode::from(2);
        }
    };
    match command {
        Command::Help => {
            let _ = writeln!(err, "{}", discover::USAGE);
            ExitCode::SUCCESS
        }
        Command::Tidy(files) => tidy(&files),
        Command::Discover(o) => match run(&o) {
            Ok(code) => code,
            Err(e) => {
                let _ = writeln!(err, "homelab-discover: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn run(o: &discover::Options) -> Result<ExitCode, String> {
    let config = match &o.config {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| format!("--config {}: {e}", path.display()))?,
        ),
        None => None,
    };
    let config = discover::provider_config(config.as_deref())?;
    let env = Env::from_process(homelab::backends().env_vars());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let (hcl, summary, failed) = runtime.block_on(discover::run(o, &env, &config))?;
    let mut err = std::io::stderr();
    for line in summary {
        let _ = writeln!(err, "{line}");
    }
    match &o.out {
        Some(path) => {
            std::fs::write(path, &hcl).map_err(|e| format!("--out {}: {e}", path.display()))?;
            let _ = writeln!(err, "wrote {}", path.display());
        }
        None => {
            let mut out = std::io::stdout();
            out.write_all(hcl.as_bytes())
                .map_err(|e| format!("standard output: {e}"))?;
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn tidy(files: &[std::path::PathBuf]) -> ExitCode {
    let mut err = std::io::stderr();
    let mut code = ExitCode::SUCCESS;
    for path in files {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                let _ = writeln!(err, "homelab-discover tidy: {}: {e}", path.display());
                code = ExitCode::FAILURE;
                continue;
            }
        };
        let t = discover::tidy(&text);
        if let Err(e) = std::fs::write(path, &t.text) {
            let _ = writeln!(err, "homelab-discover tidy: {}: {e}", path.display());
            code = ExitCode::FAILURE;
            continue;
        }
        let _ = writeln!(
            err,
            "{}: removed {} lines (nulls and defaults), {} to fill in",
            path.display(),
            t.removed,
            t.todos.len()
        );
        for todo in &t.todos {
            let _ = writeln!(err, "  TODO {todo}");
        }
    }
    code
}
