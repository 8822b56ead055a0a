//! `TestCase` and `Step`: the terraform-plugin-testing model.
//!
//! A test case runs its steps in order in one working dir, then destroys everything and
//! runs `check_destroy`. Destroy is attempted even when a step fails, and the temp dir is
//! removed unless `TF_ACC_PERSIST_WORKING_DIR` is set.
//!
//! Step kinds:
//! * [`Step::config`]: write `main.tf`, `init` (once), `plan -out`, plan checks on
//!   `show -json tfplan`, `apply` of the saved plan, state checks on `show -json`, then
//!   `plan -refresh-only -detailed-exitcode` must exit 0 (always), and `plan -refresh=false`
//!   and `plan` must both be empty (unless
//!   [`expect_non_empty_plan`](Step::expect_non_empty_plan)).
//! * [`Step::plan_only`]: `plan -out` and the plan checks; with no plan checks the plan must
//!   be empty (or non-empty with `expect_non_empty_plan`).
//! * [`Step::refresh`]: `apply -refresh-only`, state checks, then the refresh-only plan
//!   must exit 0 and the plan must be empty.
//!
//! The refresh-only plan after every apply is the drift check users run in CI
//! (`terraform plan -refresh-only -detailed-exitcode`): exit 0 right after apply proves
//! that the state apply saved equals a fresh read of every object, which is the rule
//! "create and update return the object as read back from the API". A resource that
//! returns its plan instead, or an API that normalises a value (case, order, defaults)
//! after create, fails it; so does a provider whose ReadResource answers the same values
//! in another form (Terraform 1.10 to 1.14 compare states exactly, hashicorp/terraform#36403;
//! the labforge framework answers ReadResource in JSON for this). Root outputs are compared
//! the same way: an output holding a number Terraform computed itself (`length(...)`) fails
//! the check whatever the providers (reproduced with `terraform_data` alone), so test
//! configurations give such outputs as strings (`tostring(length(...))`).
//! * [`Step::import`]: in a fresh working dir with the last config, `import ADDR ID` (or an
//!   `import {}` block with [`import_block`](Step::import_block)), checks on the imported
//!   state and, with [`import_state_verify`](Step::import_state_verify), equality with the
//!   previous step's state minus ignored attributes.
//!
//! Any step can [`expect_error`](Step::expect_error): the step must fail and the failure's
//! text (the failing command's stdout and stderr) must match the regex.

use std::fmt::Write as _;

use anyhow::{Context, Result, anyhow, bail};
use regex::Regex;
use serde_json::Value;

use super::json::{Action, Plan, State, flatten, is_marked, lookup, split_path, values_equal};
use super::mirror::{Provider, hcl_string};
use super::workdir::{CommandError, Workdir, require_empty};

/// What hooks receive: the step number and the main working dir.
#[derive(Debug)]
pub struct Ctx<'a> {
    /// 1-based index of the step being run (for `check_destroy`: one past the last).
    pub step: usize,
    /// The test's working dir (for ad-hoc commands such as `wd.state_json()`).
    pub workdir: &'a Workdir,
    /// The state after the previous step (for `check_destroy`: the state before destroy).
    pub state: Option<&'a State>,
}

type StateCheckFn = Box<dyn Fn(&State) -> Result<()>>;
type PlanCheckFn = Box<dyn Fn(&Plan) -> Result<()>>;
type HookFn = Box<dyn Fn(&Ctx<'_>) -> Result<()>>;
type IdFn = Box<dyn Fn(&State) -> Result<String>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Config,
    PlanOnly,
    Refresh,
    Import,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Config => "config",
            Kind::PlanOnly => "plan-only",
            Kind::Refresh => "refresh",
            Kind::Import => "import",
        }
    }
}

/// One step of a [`TestCase`]; build with [`Step::config`], [`Step::plan_only`],
/// [`Step::refresh`] or [`Step::import`], then add expectations.
pub struct Step {
    kind: Kind,
    config: Option<String>,
    pre_step: Option<HookFn>,
    plan_checks: Vec<PlanCheckFn>,
    state_checks: Vec<StateCheckFn>,
    expect_non_empty_plan: bool,
    expect_error: Option<Regex>,
    apply_output: Vec<Regex>,
    import_address: String,
    import_id: Option<IdFn>,
    import_block: bool,
    import_verify: bool,
    import_verify_ignore: Vec<String>,
}

impl std::fmt::Debug for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Step")
            .field("kind", &self.kind)
            .field("config", &self.config)
            .field("expect_error", &self.expect_error)
            .finish_non_exhaustive()
    }
}

impl Step {
    fn new(kind: Kind, config: Option<String>) -> Step {
        Step {
            kind,
            config,
            pre_step: None,
            plan_checks: Vec::new(),
            state_checks: Vec::new(),
            expect_non_empty_plan: false,
            expect_error: None,
            apply_output: Vec::new(),
            import_address: String::new(),
            import_id: None,
            import_block: false,
            import_verify: false,
            import_verify_ignore: Vec::new(),
        }
    }

    /// Apply `hcl` (the whole root module, written to `main.tf`).
    pub fn config(hcl: impl Into<String>) -> Step {
        Step::new(Kind::Config, Some(hcl.into()))
    }

    /// Only plan `hcl` (e.g. after drift) and run the plan checks.
    pub fn plan_only(hcl: impl Into<String>) -> Step {
        Step::new(Kind::PlanOnly, Some(hcl.into()))
    }

    /// Refresh the state (`apply -refresh-only`) with the last applied config.
    pub fn refresh() -> Step {
        Step::new(Kind::Refresh, None)
    }

    /// Import `address` in a fresh working dir with the last applied config. The ID is the
    /// resource's `id` attribute in the previous state unless set with
    /// [`import_id`](Self::import_id) or [`import_id_with`](Self::import_id_with).
    pub fn import(address: impl Into<String>) -> Step {
        let mut s = Step::new(Kind::Import, None);
        s.import_address = address.into();
        s
    }

    /// Uses `hcl` instead of the last applied config (refresh and import steps).
    pub fn with_config(mut self, hcl: impl Into<String>) -> Step {
        self.config = Some(hcl.into());
        self
    }

    /// Runs `f` before the step (e.g. to change a simulator behind Terraform's back).
    pub fn pre_step(mut self, f: impl Fn(&Ctx<'_>) -> Result<()> + 'static) -> Step {
        self.pre_step = Some(Box::new(f));
        self
    }

    /// The step must fail, with output matching `regex`. Panics on an invalid regex.
    pub fn expect_error(mut self, regex: &str) -> Step {
        match Regex::new(regex) {
            Ok(r) => self.expect_error = Some(r),
            Err(e) => panic!("invalid expect_error regex {regex:?}: {e}"),
        }
        self
    }

    /// The apply's output (stdout and stderr, e.g. a provider's warnings) must
    /// match `regex`. Panics on an invalid regex.
    pub fn expect_apply_output(mut self, regex: &str) -> Step {
        match Regex::new(regex) {
            Ok(r) => self.apply_output.push(r),
            Err(e) => panic!("invalid expect_apply_output regex {regex:?}: {e}"),
        }
        self
    }

    /// After apply (or refresh) the plans may show changes; on a plan-only step, the plan
    /// must show changes.
    pub fn expect_non_empty_plan(mut self) -> Step {
        self.expect_non_empty_plan = true;
        self
    }

    // ---- plan checks (pre-apply on config steps; the plan of plan-only steps) ----

    /// Adds a custom check of the saved plan.
    pub fn plan_check(mut self, f: impl Fn(&Plan) -> Result<()> + 'static) -> Step {
        self.plan_checks.push(Box::new(f));
        self
    }

    /// The plan must do `action` to `address` ([`Action::Replace`] matches both orders;
    /// [`Action::NoOp`] also matches a resource the plan does not mention).
    pub fn expect_action(self, address: &str, action: Action) -> Step {
        let address = address.to_owned();
        self.plan_check(move |plan| {
            let actual = plan.action(&address)?;
            if !action.matches(actual) {
                bail!(
                    "expected {address} to {action}, but the plan does {actual} (plan: {})",
                    plan.summary()
                );
            }
            Ok(())
        })
    }

    /// The plan must change nothing.
    pub fn expect_empty_plan(self) -> Step {
        self.plan_check(|plan| {
            if !plan.is_empty()? {
                bail!("expected an empty plan, got: {}", plan.summary());
            }
            Ok(())
        })
    }

    /// `address`'s planned value at `path` must be unknown (known after apply).
    pub fn expect_unknown(self, address: &str, path: &str) -> Step {
        let (address, path) = (address.to_owned(), path.to_owned());
        self.plan_check(move |plan| {
            let c = plan
                .change(&address)
                .ok_or_else(|| anyhow!("{address} is not in the plan ({})", plan.summary()))?;
            if !c.is_unknown(&path) {
                bail!(
                    "expected {address}.{path} to be unknown in the plan, it is {:?}",
                    lookup(c.after(), &path)
                );
            }
            Ok(())
        })
    }

    /// `address`'s planned value at `path` must equal `value`.
    pub fn expect_planned(self, address: &str, path: &str, value: impl Into<Value>) -> Step {
        let (address, path, value) = (address.to_owned(), path.to_owned(), value.into());
        self.plan_check(move |plan| {
            let c = plan
                .change(&address)
                .ok_or_else(|| anyhow!("{address} is not in the plan ({})", plan.summary()))?;
            let actual = lookup(c.after(), &path);
            if !actual.is_some_and(|a| values_equal(a, &value)) || c.is_unknown(&path) {
                bail!("expected planned {address}.{path} = {value}, got {actual:?}");
            }
            Ok(())
        })
    }

    // ---- state checks (after apply/refresh/import) ----

    /// Adds a custom check of the state (`show -json`).
    pub fn check(mut self, f: impl Fn(&State) -> Result<()> + 'static) -> Step {
        self.state_checks.push(Box::new(f));
        self
    }

    /// `address`'s attribute at `path` must equal `value` (numbers compare by value).
    pub fn expect_attr(self, address: &str, path: &str, value: impl Into<Value>) -> Step {
        let (address, path, value) = (address.to_owned(), path.to_owned(), value.into());
        self.check(move |state| {
            let actual = state.attr(&address, &path)?;
            if !values_equal(actual, &value) {
                bail!("expected {address}.{path} = {value}, got {actual}");
            }
            Ok(())
        })
    }

    /// `address`'s attribute at `path` must be present and not null.
    pub fn expect_attr_set(self, address: &str, path: &str) -> Step {
        let (address, path) = (address.to_owned(), path.to_owned());
        self.check(move |state| {
            let actual = state.attr(&address, &path)?;
            if actual.is_null() {
                bail!("expected {address}.{path} to be set, it is null");
            }
            Ok(())
        })
    }

    /// `address`'s attribute at `path` must be null or absent.
    pub fn expect_attr_null(self, address: &str, path: &str) -> Step {
        let (address, path) = (address.to_owned(), path.to_owned());
        self.check(move |state| {
            let r = state.get(&address)?;
            match r.attr(&path) {
                None | Some(Value::Null) => Ok(()),
                Some(v) => bail!("expected {address}.{path} to be null, it is {v}"),
            }
        })
    }

    /// `address`'s attribute at `path` must match `regex`, as a string.
    pub fn expect_attr_matches(self, address: &str, path: &str, regex: &str) -> Step {
        let re = match Regex::new(regex) {
            Ok(r) => r,
            Err(e) => panic!("invalid regex {regex:?}: {e}"),
        };
        let (address, path) = (address.to_owned(), path.to_owned());
        self.check(move |state| {
            let s = state.attr_str(&address, &path)?;
            if !re.is_match(&s) {
                bail!("expected {address}.{path} to match /{re}/, got {s:?}");
            }
            Ok(())
        })
    }

    /// `address`'s attribute at `path` must be marked sensitive in state.
    pub fn expect_sensitive(self, address: &str, path: &str) -> Step {
        let (address, path) = (address.to_owned(), path.to_owned());
        self.check(move |state| {
            let r = state.get(&address)?;
            if !is_marked(r.sensitive_values(), &split_path(&path)) {
                bail!(
                    "expected {address}.{path} to be sensitive; sensitive_values: {}",
                    r.sensitive_values()
                );
            }
            Ok(())
        })
    }

    /// `address`'s attribute at `path` must not be marked sensitive.
    pub fn expect_not_sensitive(self, address: &str, path: &str) -> Step {
        let (address, path) = (address.to_owned(), path.to_owned());
        self.check(move |state| {
            let r = state.get(&address)?;
            if is_marked(r.sensitive_values(), &split_path(&path)) {
                bail!("expected {address}.{path} not to be sensitive");
            }
            Ok(())
        })
    }

    /// The state must contain `address`.
    pub fn expect_resource(self, address: &str) -> Step {
        let address = address.to_owned();
        self.check(move |state| state.get(&address).map(|_| ()))
    }

    /// The state must not contain `address`.
    pub fn expect_no_resource(self, address: &str) -> Step {
        let address = address.to_owned();
        self.check(move |state| {
            if state.resource(&address).is_some() {
                bail!("expected no {address} in state");
            }
            Ok(())
        })
    }

    /// Root output `name` must equal `value`.
    pub fn expect_output(self, name: &str, value: impl Into<Value>) -> Step {
        let (name, value) = (name.to_owned(), value.into());
        self.check(move |state| match state.output(&name) {
            Some(v) if values_equal(v, &value) => Ok(()),
            other => bail!("expected output {name} = {value}, got {other:?}"),
        })
    }

    // ---- import options ----

    /// The import ID to use.
    pub fn import_id(mut self, id: impl Into<String>) -> Step {
        let id = id.into();
        self.import_id = Some(Box::new(move |_| Ok(id.clone())));
        self
    }

    /// Computes the import ID from the previous step's state.
    pub fn import_id_with(mut self, f: impl Fn(&State) -> Result<String> + 'static) -> Step {
        self.import_id = Some(Box::new(f));
        self
    }

    /// Imports with a config-driven `import { to = ADDR, id = ID }` block (`plan`, which
    /// must import `address` with no other change to it) instead of `terraform import`.
    pub fn import_block(mut self) -> Step {
        self.import_block = true;
        self
    }

    /// Compares the imported attributes with the previous step's state.
    pub fn import_state_verify(mut self) -> Step {
        self.import_verify = true;
        self
    }

    /// Attributes (dotted paths; a path also covers everything below it) not compared by
    /// [`import_state_verify`](Self::import_state_verify), e.g. write-only passwords.
    pub fn import_state_verify_ignore(mut self, paths: &[&str]) -> Step {
        self.import_verify_ignore
            .extend(paths.iter().map(|s| (*s).to_owned()));
        self
    }
}

/// A whole acceptance test: providers, extra environment, steps, destroy check.
#[derive(Default)]
pub struct TestCase {
    providers: Vec<Provider>,
    env: Vec<(String, String)>,
    steps: Vec<Step>,
    check_destroy: Option<HookFn>,
}

impl std::fmt::Debug for TestCase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCase")
            .field("providers", &self.providers)
            .field("steps", &self.steps)
            .finish_non_exhaustive()
    }
}

impl TestCase {
    /// An empty test case (built-in resources only until a provider is added).
    pub fn new() -> TestCase {
        TestCase::default()
    }

    /// Makes `provider` installable by the configs (may be called more than once).
    pub fn provider(mut self, provider: Provider) -> TestCase {
        self.providers.push(provider);
        self
    }

    /// Sets an environment variable for every command (e.g. `TECHNITIUM_URL`).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> TestCase {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Appends a step.
    pub fn step(mut self, step: Step) -> TestCase {
        self.steps.push(step);
        self
    }

    /// Runs after the final destroy; `ctx.state` is the state before destroy.
    pub fn check_destroy(mut self, f: impl Fn(&Ctx<'_>) -> Result<()> + 'static) -> TestCase {
        self.check_destroy = Some(Box::new(f));
        self
    }

    /// Runs the test case and panics with a readable report on failure.
    pub fn run(self) {
        if let Err(e) = self.try_run() {
            panic!("acceptance test failed: {e:#}");
        }
    }

    /// Runs the test case.
    pub fn try_run(self) -> Result<()> {
        if self.steps.is_empty() {
            bail!("a TestCase needs at least one step");
        }
        let mut wd = Workdir::with_providers(&self.providers)?;
        for (k, v) in &self.env {
            wd.set_env(k.clone(), v.clone());
        }
        let mut run = Run {
            wd,
            state: None,
            last_config: None,
            applied_config: None,
        };
        let total = self.steps.len();
        let mut failure = None;
        for (i, step) in self.steps.iter().enumerate() {
            let n = i + 1;
            eprintln!("[labforge-acc] step {n}/{total} ({})", step.kind.name());
            if let Err(e) = run.step(n, step) {
                failure =
                    Some(e.context(format!("step {n}/{total} ({}) failed", step.kind.name())));
                break;
            }
        }
        let destroyed = run.destroy();
        let result = match (failure, destroyed) {
            (Some(e), Ok(())) => Err(e),
            (Some(e), Err(d)) => Err(e.context(format!(
                "cleanup destroy failed too; resources may be left behind:\n{d:#}"
            ))),
            (None, Err(d)) => Err(d.context("destroy after the last step failed")),
            (None, Ok(())) => match &self.check_destroy {
                Some(check) => check(&Ctx {
                    step: total + 1,
                    workdir: &run.wd,
                    state: run.state.as_ref(),
                })
                .context("check_destroy failed"),
                None => Ok(()),
            },
        };
        if result.is_err() {
            eprintln!(
                "[labforge-acc] working dir: {} (set TF_ACC_PERSIST_WORKING_DIR=1 to keep it)",
                run.wd.path().display()
            );
        }
        result
    }
}

struct Run {
    wd: Workdir,
    state: Option<State>,
    /// The config currently in `main.tf`.
    last_config: Option<String>,
    /// The last config that planned successfully (used for destroy).
    applied_config: Option<String>,
}

impl Run {
    fn step(&mut self, n: usize, step: &Step) -> Result<()> {
        if let Some(hook) = &step.pre_step {
            hook(&Ctx {
                step: n,
                workdir: &self.wd,
                state: self.state.as_ref(),
            })
            .context("pre_step failed")?;
        }
        let result = match step.kind {
            Kind::Config => self.config_step(step),
            Kind::PlanOnly => self.plan_only_step(step),
            Kind::Refresh => self.refresh_step(step),
            Kind::Import => self.import_step(step),
        };
        match (&step.expect_error, result) {
            (None, r) => r,
            (Some(re), Ok(())) => {
                bail!("expected an error matching /{re}/, but the step succeeded")
            }
            (Some(re), Err(e)) => {
                let text = error_text(&e);
                if re.is_match(&text) {
                    eprintln!("[labforge-acc] step {n}: got the expected error /{re}/");
                    Ok(())
                } else {
                    Err(e.context(format!("expected an error matching /{re}/, got another")))
                }
            }
        }
    }

    fn use_config(&mut self, config: Option<&String>) -> Result<()> {
        let config = match config {
            Some(c) => c.clone(),
            None => self
                .applied_config
                .clone()
                .or_else(|| self.last_config.clone())
                .ok_or_else(|| anyhow!("this step needs a config and no earlier step had one"))?,
        };
        if self.last_config.as_ref() != Some(&config) {
            self.wd.write_config(&config)?;
            self.last_config = Some(config);
        }
        self.wd.ensure_init()
    }

    fn config_step(&mut self, step: &Step) -> Result<()> {
        self.use_config(step.config.as_ref())?;
        self.wd.plan(&[])?;
        // A config that plans is one destroy can use, even if the apply below fails.
        self.applied_config = self.last_config.clone();
        if !step.plan_checks.is_empty() {
            let plan = self.wd.saved_plan_json()?;
            run_plan_checks(step, &plan)?;
        }
        let out = self.wd.apply_plan()?;
        let text = out.combined();
        for re in &step.apply_output {
            if !re.is_match(&text) {
                bail!("expected the apply output to match /{re}/, got:\n{text}");
            }
        }
        let state = self.wd.state_json()?;
        self.state = Some(state.clone());
        run_state_checks(step, &state)?;
        self.wd
            .require_refresh_only_empty("after apply (plan -refresh-only)")?;
        if !step.expect_non_empty_plan {
            require_empty(&self.wd, false, "after apply (plan -refresh=false)")?;
            require_empty(&self.wd, true, "after apply and refresh (plan)")?;
        }
        Ok(())
    }

    fn plan_only_step(&mut self, step: &Step) -> Result<()> {
        self.use_config(step.config.as_ref())?;
        self.wd.plan(&[])?;
        let plan = self.wd.saved_plan_json()?;
        run_plan_checks(step, &plan)?;
        if step.expect_non_empty_plan {
            if plan.is_empty()? {
                bail!("expected a non-empty plan, got an empty one");
            }
        } else if step.plan_checks.is_empty() && !plan.is_empty()? {
            bail!("expected an empty plan, got: {}", plan.summary());
        }
        Ok(())
    }

    fn refresh_step(&mut self, step: &Step) -> Result<()> {
        self.use_config(step.config.as_ref())?;
        self.wd.refresh()?;
        let state = self.wd.state_json()?;
        self.state = Some(state.clone());
        run_state_checks(step, &state)?;
        self.wd
            .require_refresh_only_empty("after refresh (plan -refresh-only)")?;
        if !step.expect_non_empty_plan {
            require_empty(&self.wd, true, "after refresh (plan)")?;
        }
        Ok(())
    }

    fn import_step(&mut self, step: &Step) -> Result<()> {
        let address = &step.import_address;
        let config = match &step.config {
            Some(c) => c.clone(),
            None => self
                .applied_config
                .clone()
                .or_else(|| self.last_config.clone())
                .ok_or_else(|| anyhow!("an import step needs an earlier config step"))?,
        };
        let prior = self.state.as_ref();
        let id = match (&step.import_id, prior) {
            (Some(f), Some(s)) => f(s)?,
            (Some(f), None) => f(&State::parse(r#"{"format_version":"1.0"}"#)?)?,
            (None, Some(s)) => s
                .attr_str(address, "id")
                .context("no import ID given and the previous state has no id for it")?,
            (None, None) => bail!("no import ID given (import_id) and no previous state"),
        };
        let mut fresh = Workdir::with_providers(self.wd.providers())?;
        for (k, v) in self.wd.env() {
            fresh.set_env(k.clone(), v.clone());
        }
        fresh.write_config(&config)?;
        let imported: Value;
        if step.import_block {
            fresh.write_file(
                "import.tf",
                &format!(
                    "import {{\n  to = {address}\n  id = {}\n}}\n",
                    hcl_string(&id)
                ),
            )?;
            fresh.init()?;
            fresh.plan(&[])?;
            let plan = fresh.saved_plan_json()?;
            run_plan_checks(step, &plan)?;
            let change = plan
                .change(address)
                .ok_or_else(|| anyhow!("the import plan does not mention {address}"))?;
            if !change.is_importing() {
                bail!("the plan does not import {address}: {}", plan.summary());
            }
            let action = change.action()?;
            if action != Action::NoOp && !step.expect_non_empty_plan {
                bail!("importing {address} plans to {action} it; expected no changes");
            }
            imported = change.after().clone();
            // Applying would create the config's other resources again; the plan already
            // shows what import read. Check the state as the plan would leave it.
            let mut doc = serde_json::json!({
                "format_version": "1.0",
                "values": {"root_module": {"resources": [{
                    "address": address,
                    "mode": "managed",
                    "values": imported,
                    "sensitive_values": change.raw()["change"]["after_sensitive"],
                }]}}
            });
            if doc["values"]["root_module"]["resources"][0]["sensitive_values"].is_null() {
                doc["values"]["root_module"]["resources"][0]["sensitive_values"] =
                    serde_json::json!({});
            }
            run_state_checks(step, &State { raw: doc })?;
        } else {
            fresh.init()?;
            fresh.import(address, &id)?;
            let state = fresh.state_json()?;
            run_state_checks(step, &state)?;
            imported = state.get(address)?.values().clone();
        }
        if step.import_verify {
            let prior =
                prior.ok_or_else(|| anyhow!("import_state_verify needs a previous state"))?;
            let expected = prior.get(address)?.values();
            verify_import(expected, &imported, &step.import_verify_ignore)
                .with_context(|| format!("import_state_verify of {address} (id {id:?})"))?;
        }
        Ok(())
    }

    /// Destroys whatever the test created, with the last applied config (a later invalid
    /// config must not prevent cleanup).
    fn destroy(&mut self) -> Result<()> {
        if !self.wd.is_initialized() || !self.wd.has_state() {
            return Ok(());
        }
        if let Some(cfg) = &self.applied_config
            && self.last_config.as_ref() != Some(cfg)
        {
            self.wd.write_config(cfg)?;
            self.last_config = Some(cfg.clone());
        }
        self.wd.destroy()?;
        Ok(())
    }
}

fn run_plan_checks(step: &Step, plan: &Plan) -> Result<()> {
    for check in &step.plan_checks {
        check(plan).context("plan check failed")?;
    }
    Ok(())
}

fn run_state_checks(step: &Step, state: &State) -> Result<()> {
    for check in &step.state_checks {
        check(state).context("state check failed")?;
    }
    Ok(())
}

/// The text an `expect_error` regex is matched against: every message in the chain, and
/// for a failed command its stdout and stderr.
fn error_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        if let Some(c) = cause.downcast_ref::<CommandError>() {
            let _ = writeln!(text, "{}\n{}", c.output.stdout, c.output.stderr);
        }
        let _ = writeln!(text, "{cause}");
    }
    text
}

/// Compares imported attributes with expected ones, ignoring `ignore` paths and
/// everything under them.
pub fn verify_import(expected: &Value, imported: &Value, ignore: &[String]) -> Result<()> {
    let ignored = |k: &str| {
        ignore
            .iter()
            .any(|i| k == i || k.starts_with(&format!("{i}.")))
    };
    let want = flatten(expected);
    let got = flatten(imported);
    let mut diffs = Vec::new();
    for (k, v) in &want {
        if ignored(k) {
            continue;
        }
        match got.get(k) {
            Some(g) if values_equal(g, v) => {}
            Some(g) => diffs.push(format!("  {k}: applied {v}, imported {g}")),
            None => diffs.push(format!("  {k}: applied {v}, imported <absent>")),
        }
    }
    for (k, g) in &got {
        if !ignored(k) && !want.contains_key(k) {
            diffs.push(format!("  {k}: applied <absent>, imported {g}"));
        }
    }
    if !diffs.is_empty() {
        bail!(
            "imported state differs from the applied state (ignore with \
             import_state_verify_ignore):\n{}",
            diffs.join("\n")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    #[test]
    fn import_verify_diffs_and_ignores() {
        let applied = json!({"id": "1", "name": "a", "password": "x", "disk": {"size": 2}});
        let same = json!({"id": "1", "name": "a", "password": "x", "disk": {"size": 2.0}});
        verify_import(&applied, &same, &[]).unwrap();
        let imported =
            json!({"id": "1", "name": "b", "password": null, "disk": {"size": 2}, "extra": 1});
        let err = verify_import(&applied, &imported, &["password".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("name: applied \"a\", imported \"b\""), "{err}");
        assert!(err.contains("extra: applied <absent>, imported 1"), "{err}");
        assert!(!err.contains("password"), "{err}");
        verify_import(
            &applied,
            &imported,
            &["password".into(), "name".into(), "extra".into()],
        )
        .unwrap();
        // A prefix covers nested keys but not siblings sharing a name prefix.
        let a = json!({"disk": {"size": 1}, "disks": 1});
        let b = json!({"disk": {"size": 2}, "disks": 2});
        let err = verify_import(&a, &b, &["disk".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("disks"), "{err}");
        assert!(!err.contains("disk.size"), "{err}");
    }

    #[test]
    fn error_text_includes_command_output() {
        use super::super::workdir::CmdOutput;
        let e = anyhow::Error::new(CommandError {
            reason: "exited with 1".into(),
            output: CmdOutput {
                command: "terraform plan".into(),
                dir: "/tmp/x".into(),
                code: Some(1),
                stdout: "out text".into(),
                stderr: "Error: Unsupported argument".into(),
            },
        })
        .context("step 1");
        let t = error_text(&e);
        assert!(t.contains("Unsupported argument"));
        assert!(t.contains("out text"));
        assert!(t.contains("step 1"));
        let shown = format!("{e:#}");
        assert!(shown.contains("`terraform plan` exited with 1"), "{shown}");
        assert!(shown.contains("--- stderr ---"), "{shown}");
    }
}
