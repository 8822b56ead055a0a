//! A temporary Terraform working dir and the commands run in it.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

use super::cli::Cli;
use super::json::{Plan, State};
use super::mirror::{DEFAULT_NAMESPACE, Mirror, Provider, cli_config, temp_root};

/// Default limit for one CLI command; `TF_ACC_COMMAND_TIMEOUT` (seconds) overrides it.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// The saved plan file name used by [`Workdir::plan`].
pub const PLAN_FILE: &str = "tfplan";

/// What a finished command printed.
#[derive(Debug, Clone)]
pub struct CmdOutput {
    /// The command line, for messages (`terraform plan -out=tfplan …`).
    pub command: String,
    /// The working dir it ran in.
    pub dir: PathBuf,
    /// Exit code (`None` if killed by a signal or the timeout).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl CmdOutput {
    /// Whether the command exited with 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// Stdout and stderr together, for matching error messages.
    pub fn combined(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// A command that did not do what was expected; its `Display` shows everything needed to
/// understand why: the command, dir, exit code, stdout and stderr.
#[derive(Debug, Clone)]
pub struct CommandError {
    /// What went wrong, e.g. `exited with 1`.
    pub reason: String,
    /// The command's output.
    pub output: CmdOutput,
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.output;
        writeln!(f, "`{}` {}", o.command, self.reason)?;
        writeln!(f, "  in {}", o.dir.display())?;
        writeln!(f, "--- stdout ---")?;
        writeln!(f, "{}", o.stdout.trim_end())?;
        writeln!(f, "--- stderr ---")?;
        write!(f, "{}", o.stderr.trim_end())
    }
}

impl std::error::Error for CommandError {}

/// Whether `TF_ACC_PERSIST_WORKING_DIR` asks to keep working dirs.
pub fn persist_requested() -> bool {
    std::env::var_os("TF_ACC_PERSIST_WORKING_DIR").is_some_and(|v| !v.is_empty() && v != "0")
}

/// A fresh temp dir with its own CLI config, in which `terraform`/`tofu` commands run.
///
/// Removed on drop unless [`persist`](Self::persist) was called or
/// `TF_ACC_PERSIST_WORKING_DIR` is set.
#[derive(Debug)]
pub struct Workdir {
    root: Option<tempfile::TempDir>,
    dir: PathBuf,
    cli_config: PathBuf,
    cli: &'static Cli,
    env: Vec<(String, String)>,
    initialized: bool,
    providers: Vec<Provider>,
}

impl Workdir {
    /// A working dir that can use `provider` (installed into the process's mirror).
    pub fn new(provider: &Provider) -> Result<Workdir> {
        Workdir::with_providers(std::slice::from_ref(provider))
    }

    /// A working dir that can use all `providers` (may be empty: built-ins such as
    /// `terraform_data` need none).
    pub fn with_providers(providers: &[Provider]) -> Result<Workdir> {
        let cli = Cli::get()?;
        let mirror = Mirror::global()?;
        let mirror_dir = {
            let mut m = mirror.lock().unwrap_or_else(|e| e.into_inner());
            for p in providers {
                m.install(p)?;
            }
            m.dir().to_path_buf()
        };
        let root_dir = temp_root();
        std::fs::create_dir_all(&root_dir)
            .with_context(|| format!("creating {}", root_dir.display()))?;
        let root = tempfile::Builder::new()
            .prefix("labforge-acc-")
            .tempdir_in(&root_dir)
            .context("creating a working dir")?;
        let dir = root.path().join("work");
        std::fs::create_dir(&dir)?;
        let mut namespaces: Vec<&str> = vec![DEFAULT_NAMESPACE];
        for p in providers {
            if !namespaces.contains(&p.namespace.as_str()) {
                namespaces.push(&p.namespace);
            }
        }
        let cli_config_path = root.path().join("terraform.rc");
        std::fs::write(&cli_config_path, cli_config(&mirror_dir, &namespaces))?;
        let mut wd = Workdir {
            root: Some(root),
            dir,
            cli_config: cli_config_path,
            cli,
            env: Vec::new(),
            initialized: false,
            providers: providers.to_vec(),
        };
        if persist_requested() {
            wd.persist();
        }
        Ok(wd)
    }

    /// The dir commands run in (holds `main.tf`, `.terraform/`, state).
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The CLI config file every command gets as `TF_CLI_CONFIG_FILE`.
    pub fn cli_config_path(&self) -> &Path {
        &self.cli_config
    }

    /// The CLI being driven.
    pub fn cli(&self) -> &'static Cli {
        self.cli
    }

    /// The providers this dir was made for.
    pub fn providers(&self) -> &[Provider] {
        &self.providers
    }

    /// Sets an environment variable for every later command (e.g. a provider credential).
    pub fn set_env(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let key = key.into();
        self.env.retain(|(k, _)| *k != key);
        self.env.push((key, value.into()));
    }

    /// The extra environment set with [`set_env`](Self::set_env).
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// Keeps the dir after drop and prints where it is.
    pub fn persist(&mut self) {
        if let Some(root) = self.root.take() {
            let kept = root.keep();
            eprintln!("[labforge-acc] keeping working dir {}", kept.display());
        }
    }

    /// Whether `init` has run here.
    pub fn is_initialized(&self) -> bool {
        self.initialized
    }

    /// Writes `main.tf`.
    pub fn write_config(&self, hcl: &str) -> Result<()> {
        self.write_file("main.tf", hcl)
    }

    /// Writes a file in the working dir.
    pub fn write_file(&self, name: &str, content: &str) -> Result<()> {
        let p = self.dir.join(name);
        std::fs::write(&p, content).with_context(|| format!("writing {}", p.display()))
    }

    /// Removes a file from the working dir if present.
    pub fn remove_file(&self, name: &str) -> Result<()> {
        match std::fs::remove_file(self.dir.join(name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Reads `main.tf`.
    pub fn config(&self) -> Option<String> {
        std::fs::read_to_string(self.dir.join("main.tf")).ok()
    }

    /// A `Command` for the CLI with the harness's environment, not yet run.
    pub fn command<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Command {
        let mut cmd = Command::new(&self.cli.path);
        cmd.args(args).current_dir(&self.dir);
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy();
            if k.starts_with("TF_CLI_ARGS")
                || k.starts_with("TF_LOG")
                || matches!(
                    k.as_ref(),
                    "TF_PLUGIN_CACHE_DIR"
                        | "TF_REATTACH_PROVIDERS"
                        | "TF_DATA_DIR"
                        | "TF_WORKSPACE"
                        | "TF_VAR_FILE"
                        | "TERRAFORM_CONFIG"
                )
            {
                cmd.env_remove(k.as_ref());
            }
        }
        cmd.env("TF_CLI_CONFIG_FILE", &self.cli_config)
            .env("CHECKPOINT_DISABLE", "1")
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_INPUT", "0");
        if let Some(level) = std::env::var_os("TF_ACC_LOG").filter(|v| !v.is_empty()) {
            cmd.env("TF_LOG", level);
            if let Some(path) = std::env::var_os("TF_ACC_LOG_PATH").filter(|v| !v.is_empty()) {
                cmd.env("TF_LOG_PATH", path);
            }
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null());
        cmd
    }

    /// Runs the CLI with exactly `args` and returns its output whatever the exit code.
    pub fn run_unchecked<S: AsRef<str>>(&self, args: &[S]) -> Result<CmdOutput> {
        let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
        let shown = format!(
            "{} {}",
            self.cli
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            args.join(" ")
        );
        eprintln!("[labforge-acc] {}: {shown}", self.dir.display());
        let mut cmd = self.command(&args);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().with_context(|| format!("starting `{shown}`"))?;
        let mut stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow!("no stdout pipe"))?;
        let mut stderr = child
            .stderr
            .take()
            .ok_or_else(|| anyhow!("no stderr pipe"))?;
        let out_reader = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = stdout.read_to_end(&mut buf);
            buf
        });
        let err_reader = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = stderr.read_to_end(&mut buf);
            buf
        });
        let timeout = command_timeout();
        let start = Instant::now();
        let mut timed_out = false;
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if start.elapsed() > timeout {
                timed_out = true;
                let _ = child.kill();
                break child.wait()?;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let stdout = String::from_utf8_lossy(&out_reader.join().unwrap_or_default()).into_owned();
        let mut stderr =
            String::from_utf8_lossy(&err_reader.join().unwrap_or_default()).into_owned();
        if timed_out {
            stderr.push_str(&format!(
                "\n[labforge-acc] killed after {}s (TF_ACC_COMMAND_TIMEOUT)",
                timeout.as_secs()
            ));
        }
        Ok(CmdOutput {
            command: shown,
            dir: self.dir.clone(),
            code: status.code(),
            stdout,
            stderr,
        })
    }

    /// Runs the CLI with exactly `args`; a non-zero exit is a [`CommandError`].
    pub fn run<S: AsRef<str>>(&self, args: &[S]) -> Result<CmdOutput> {
        let out = self.run_unchecked(args)?;
        if out.success() {
            Ok(out)
        } else {
            Err(command_error(out).into())
        }
    }

    /// `init` (offline: providers come from the mirror).
    pub fn init(&mut self) -> Result<CmdOutput> {
        let out = self.run(&["init", "-no-color", "-input=false"])?;
        self.initialized = true;
        Ok(out)
    }

    /// `init` unless it already ran here.
    pub fn ensure_init(&mut self) -> Result<()> {
        if !self.initialized {
            self.init()?;
        }
        Ok(())
    }

    /// `validate`.
    pub fn validate(&self) -> Result<CmdOutput> {
        self.run(&["validate", "-no-color"])
    }

    /// `plan -out=tfplan` (with refresh), plus `extra` arguments.
    pub fn plan(&self, extra: &[&str]) -> Result<CmdOutput> {
        let mut args = vec!["plan", "-no-color", "-input=false", "-out", PLAN_FILE];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    /// `show -json tfplan` of the last [`plan`](Self::plan).
    pub fn saved_plan_json(&self) -> Result<Plan> {
        let out = self.run(&["show", "-no-color", "-json", PLAN_FILE])?;
        Plan::parse(&out.stdout)
    }

    /// `plan -out=tfplan` then `show -json tfplan`.
    pub fn plan_json(&self) -> Result<Plan> {
        self.plan(&[])?;
        self.saved_plan_json()
    }

    /// `plan -detailed-exitcode` (no plan file): `Ok((true, out))` when there is nothing to
    /// do, `Ok((false, out))` when there are changes. `refresh = false` adds
    /// `-refresh=false`.
    pub fn plan_is_empty(&self, refresh: bool) -> Result<(bool, CmdOutput)> {
        self.detailed_plan(if refresh {
            None
        } else {
            Some("-refresh=false")
        })
    }

    /// `plan -refresh-only -detailed-exitcode`, the drift check: `Ok((true, out))` when
    /// refreshing would not change the state, `Ok((false, out))` when it would.
    ///
    /// Terraform compares the refreshed state with the state file exactly (1.10 to 1.14:
    /// `reflect.DeepEqual`), so it exits 2 even when it prints "No changes" if the provider
    /// answered the same values in another form (hashicorp/terraform#36403).
    pub fn plan_refresh_only_is_empty(&self) -> Result<(bool, CmdOutput)> {
        self.detailed_plan(Some("-refresh-only"))
    }

    fn detailed_plan(&self, mode: Option<&str>) -> Result<(bool, CmdOutput)> {
        let mut args = vec!["plan", "-no-color", "-input=false", "-detailed-exitcode"];
        args.extend(mode);
        let out = self.run_unchecked(&args)?;
        match out.code {
            Some(0) => Ok((true, out)),
            Some(2) => Ok((false, out)),
            _ => Err(command_error(out).into()),
        }
    }

    /// Fails with the plan output unless `plan -refresh-only -detailed-exitcode` exits 0:
    /// the state as the last apply saved it must equal a fresh read of every object.
    /// `what` says when, e.g. "after apply".
    pub fn require_refresh_only_empty(&self, what: &str) -> Result<()> {
        let (empty, out) = self.plan_refresh_only_is_empty()?;
        if empty {
            return Ok(());
        }
        if out.stdout.contains("No changes") && self.refresh_reorders_sensitive_paths_only()? {
            eprintln!(
                "[labforge-acc] {what}: the refresh-only plan exits 2 only because Terraform \
                 ordered a resource's sensitive paths differently (hashicorp/terraform#36403); \
                 the refreshed state is otherwise identical"
            );
            return Ok(());
        }
        let hint = if out.stdout.contains("No changes") {
            " (it prints \"No changes\" but exits 2: a refreshed value differs from the saved \
             one only in form, e.g. numbers a provider answers in msgpack, or a root output \
             holding a number Terraform computed itself such as length(); see \
             hashicorp/terraform#36403)"
        } else {
            ": the state saved differs from a fresh read (create and update must return \
             the object as read back from the API)"
        };
        bail!(CommandError {
            reason: format!("shows changes {what}; expected an empty refresh-only plan{hint}"),
            output: out,
        });
    }

    /// Whether refreshing changes the saved state at most in the order of some
    /// resource instance's `sensitive_attributes`. Terraform 1.10 and 1.11
    /// collect sensitive paths by walking Go maps (go-cty `walk.go`), so their
    /// order is random on every encode, and the refresh-only exit code
    /// compares them in order: a resource with sensitive values under two or
    /// more attributes exits 2 at random (hashicorp/terraform#36403, fixed
    /// by #36465, which sorts them). No provider can avoid it.
    ///
    /// Only when the state has such an instance: the refresh is applied once
    /// to a copy (`-state-out`; the state file is untouched) and the answer
    /// is yes when the copy equals the state with every instance's
    /// `sensitive_attributes` sorted. Any other difference is no. (The
    /// in-memory encode Terraform compared is not the one written, so seeing
    /// the reorder in the copy is not required: that made the check flaky.)
    fn refresh_reorders_sensitive_paths_only(&self) -> Result<bool> {
        const COPY: &str = "refreshed.tfstate.labforge";
        let Ok(before) = std::fs::read_to_string(self.dir.join("terraform.tfstate")) else {
            return Ok(false);
        };
        let Some((_, sorted_before)) = normalized_state(&before) else {
            return Ok(false);
        };
        let several = sorted_before["resources"].as_array().is_some_and(|rs| {
            rs.iter().any(|r| {
                r["instances"].as_array().is_some_and(|is| {
                    is.iter().any(|i| {
                        i["sensitive_attributes"]
                            .as_array()
                            .is_some_and(|p| p.len() >= 2)
                    })
                })
            })
        });
        if !several {
            return Ok(false);
        }
        let out = self.run_unchecked(&[
            "apply",
            "-refresh-only",
            "-auto-approve",
            "-no-color",
            "-input=false",
            "-lock=false",
            &format!("-state-out={COPY}"),
        ])?;
        let copy_path = self.dir.join(COPY);
        let after = std::fs::read_to_string(&copy_path).unwrap_or_default();
        let _ = std::fs::remove_file(&copy_path);
        let _ = std::fs::remove_file(self.dir.join(format!("{COPY}.backup")));
        if !out.success() {
            return Ok(false);
        }
        Ok(normalized_state(&after).is_some_and(|(_, sorted_after)| sorted_after == sorted_before))
    }

    /// `apply -auto-approve` (plans and applies in one go).
    pub fn apply(&self) -> Result<CmdOutput> {
        self.run(&["apply", "-no-color", "-input=false", "-auto-approve"])
    }

    /// `apply tfplan`: applies the plan saved by [`plan`](Self::plan).
    pub fn apply_plan(&self) -> Result<CmdOutput> {
        self.run(&["apply", "-no-color", "-input=false", PLAN_FILE])
    }

    /// `apply -refresh-only -auto-approve`: updates state from the real objects.
    pub fn refresh(&self) -> Result<CmdOutput> {
        self.run(&[
            "apply",
            "-no-color",
            "-input=false",
            "-refresh-only",
            "-auto-approve",
        ])
    }

    /// `destroy -auto-approve`.
    pub fn destroy(&self) -> Result<CmdOutput> {
        self.run(&["destroy", "-no-color", "-input=false", "-auto-approve"])
    }

    /// `import ADDR ID`.
    pub fn import(&self, address: &str, id: &str) -> Result<CmdOutput> {
        self.run(&["import", "-no-color", "-input=false", address, id])
    }

    /// `show -json` of the current state.
    pub fn state_json(&self) -> Result<State> {
        let out = self.run(&["show", "-no-color", "-json"])?;
        State::parse(&out.stdout)
    }

    /// Whether a local state file with at least one resource exists (cheap; no CLI call).
    pub fn has_state(&self) -> bool {
        std::fs::read_to_string(self.dir.join("terraform.tfstate"))
            .ok()
            .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
            .and_then(|v| v["resources"].as_array().map(|r| !r.is_empty()))
            .unwrap_or(false)
    }

    /// `output -json` as a JSON object of `name -> {value, type, sensitive}`.
    pub fn outputs(&self) -> Result<serde_json::Value> {
        let out = self.run(&["output", "-no-color", "-json"])?;
        serde_json::from_str(&out.stdout).context("parsing `output -json`")
    }
}

/// A state file's JSON without `serial` and `lineage`, as written and with
/// every instance's `sensitive_attributes` sorted.
fn normalized_state(text: &str) -> Option<(serde_json::Value, serde_json::Value)> {
    let mut v: serde_json::Value = serde_json::from_str(text).ok()?;
    let obj = v.as_object_mut()?;
    obj.remove("serial");
    obj.remove("lineage");
    let raw = v.clone();
    for r in v["resources"].as_array_mut()? {
        for i in r["instances"].as_array_mut()? {
            if let Some(paths) = i["sensitive_attributes"].as_array_mut() {
                paths.sort_by_key(|p| p.to_string());
            }
        }
    }
    Some((raw, v))
}

fn command_error(out: CmdOutput) -> CommandError {
    let reason = match out.code {
        Some(c) => format!("exited with {c}"),
        None => "was killed".to_owned(),
    };
    CommandError {
        reason,
        output: out,
    }
}

fn command_timeout() -> Duration {
    std::env::var("TF_ACC_COMMAND_TIMEOUT")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TIMEOUT)
}

/// Fails with the plan output when `plan_is_empty` reported changes.
pub(crate) fn require_empty(wd: &Workdir, refresh: bool, what: &str) -> Result<()> {
    let (empty, out) = wd.plan_is_empty(refresh)?;
    if !empty {
        bail!(CommandError {
            reason: format!("shows changes {what}; expected an empty plan"),
            output: out,
        });
    }
    Ok(())
}
