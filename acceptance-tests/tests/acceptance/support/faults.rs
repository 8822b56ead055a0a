//! The fault matrix engine (`faults/`): one small configuration per backend,
//! applied from empty with a fault injected at a chosen position of the
//! request sequence a clean apply makes, then checked against the
//! simulator's own objects.
//!
//! Each case:
//! 1. `apply` with one fault armed at position *p* (the n-th request of that
//!    method and route, counted as the clean apply counted them);
//! 2. no orphans: every object on the backend is in the state file;
//! 3. if the apply failed, its error matches the fault kind's "what
//!    happened" words and the backend's "what to do" words;
//! 4. a second `apply` converges, then `plan -detailed-exitcode` is empty and
//!    the backend holds exactly the configured objects, each in state;
//! 5. `destroy` leaves nothing on the backend.
//!
//! Positions: by default the first write, a middle read and the last write
//! of the clean sequence (every fault kind at each); `FAULTS_ALL_POSITIONS=1`
//! runs every position of the sequence.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use labforge_acceptance_tests::{Provider, Workdir};
use labforge_simulators::common::{Counters, Fault, Faults};
use regex::Regex;
use serde_json::Value;

/// The "what to do" words most backends' errors carry.
pub const ADVICE: &str = r"(?i)run `?terraform apply`? again|check|wait";

/// One fault kind of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// HTTP 500 without running the handler.
    Status500,
    /// 429 with `Retry-After: 1`.
    RateLimited,
    /// Connection closed before the server handled the request.
    Reset,
    /// The server handled the request, then the connection closed: answer lost.
    ResetAfterHandling,
    /// A slow answer (2 s; the HTTP clients' own timeouts are 59 s and more
    /// and cannot be configured, so a slow answer must just be waited for).
    Slow,
}

impl Kind {
    /// Every kind, in the order the matrix runs them.
    pub const ALL: [Kind; 5] = [
        Kind::Status500,
        Kind::RateLimited,
        Kind::Reset,
        Kind::ResetAfterHandling,
        Kind::Slow,
    ];

    fn fault(self) -> Fault {
        match self {
            Kind::Status500 => Fault::Status(500),
            Kind::RateLimited => Fault::RateLimited {
                retry_after_secs: 1,
            },
            Kind::Reset => Fault::Reset,
            Kind::ResetAfterHandling => Fault::ResetAfterHandling,
            Kind::Slow => Fault::Delay(Duration::from_secs(2)),
        }
    }

    /// Words an error caused by this fault must contain (what happened),
    /// as the HTTP backends say it.
    pub fn happened(self) -> &'static str {
        match self {
            Kind::Status500 => r"(?i)500|internal server error|server error",
            Kind::RateLimited => r"(?i)429|rate.?limit|too many requests",
            Kind::Reset | Kind::ResetAfterHandling => {
                r"(?i)connection|no answer|closed|reset|sent|unreachable|error sending|incomplete"
            }
            Kind::Slow => r"(?i)tim(e|ed) ?out|slow",
        }
    }
}

/// What a backend gives the matrix.
pub struct Target {
    /// Backend name (for messages and figures).
    pub name: &'static str,
    /// The whole root module of the small configuration.
    pub config: String,
    /// The same module with changes (updates) for the out-of-band case.
    pub changed: String,
    /// How many objects the configuration makes on the backend.
    pub objects: usize,
    /// The simulator's fault rules and counters.
    pub faults: Faults,
    /// The simulator's request counters.
    pub counters: Counters,
    /// Whether `(method, route)` changes something.
    pub is_write: fn(&str, &str) -> bool,
    /// Keys of the managed objects on the backend, read from the simulator.
    pub on_backend: Box<dyn Fn() -> Vec<String>>,
    /// Keys of the same objects from the state file's resources
    /// (`type`, `attributes`).
    pub in_state: fn(&str, &Value) -> Option<String>,
    /// For resources that own several backend objects (rulesets): their
    /// keys from the state's attributes.
    pub in_state_many: Option<fn(&str, &Value) -> Vec<String>>,
    /// Changes one managed object and deletes another on the backend behind
    /// Terraform's back (between a plan and its apply).
    pub out_of_band: Box<dyn Fn() -> Result<()>>,
    /// "What to do" words every failed apply's error must contain.
    pub advice: &'static str,
    /// Lock contention (Proxmox): starts holding the backend's lock on a
    /// managed object for a while (released by itself) just before the
    /// changed configuration is applied.
    pub contention: Option<Box<dyn Fn()>>,
}

/// How a backend's matrix differs from the HTTP backends' default (small
/// hooks for the Talos gRPC backend; [`Options::default`] is the HTTP one).
pub struct Options {
    /// The fault kinds to inject at each position.
    pub kinds: Vec<Kind>,
    /// Words an error caused by a fault kind must contain.
    pub happened: fn(Kind) -> &'static str,
    /// Words the error of the lock contention case must contain.
    pub contention_happened: &'static str,
    /// The sampled positions (indexes into the clean apply's sequence of
    /// requests) when `FAULTS_ALL_POSITIONS` is not `1`; `None`: the first
    /// write, a middle read and the last write.
    pub sample: Option<Sample>,
}

/// Picks positions from a clean apply's `(method, route)` sequence.
pub type Sample = fn(&[(String, String)]) -> Vec<usize>;

impl Default for Options {
    fn default() -> Self {
        Options {
            kinds: Kind::ALL.to_vec(),
            happened: Kind::happened,
            contention_happened: r"(?i)lock",
            sample: None,
        }
    }
}

/// Figures of one backend's run.
#[derive(Debug, Default)]
pub struct Figures {
    /// Faults injected (cases run).
    pub injected: usize,
    /// Applies that failed with the fault (the rest absorbed it by retrying).
    pub failed: usize,
    /// Cases whose second apply converged with an empty plan after it.
    pub converged: usize,
    /// Objects on the backend but not in state after a case (must be 0).
    pub orphaned: usize,
    /// Objects configured but missing after the second apply (must be 0).
    pub lost: usize,
    /// Length of the clean apply's request sequence.
    pub sequence: usize,
    /// Injected faults the apply actually hit (the rest found the
    /// sequence different at that position, e.g. served from a cache).
    pub fired: usize,
}

fn objects_in_state(wd: &Workdir, t: &Target) -> Result<BTreeSet<String>> {
    let path = wd.path().join("terraform.tfstate");
    let text = match std::fs::read_to_string(&path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeSet::new()),
        Err(e) => return Err(e.into()),
    };
    let v: Value = serde_json::from_str(&text).context("state file")?;
    let mut keys = BTreeSet::new();
    for r in v["resources"].as_array().into_iter().flatten() {
        if r["mode"] != "managed" {
            continue;
        }
        let ty = r["type"].as_str().unwrap_or_default();
        for i in r["instances"].as_array().into_iter().flatten() {
            if let Some(k) = (t.in_state)(ty, &i["attributes"]) {
                keys.insert(k);
            }
            if let Some(many) = t.in_state_many {
                keys.extend(many(ty, &i["attributes"]));
            }
        }
    }
    Ok(keys)
}

fn backend_keys(t: &Target) -> BTreeSet<String> {
    (t.on_backend)().into_iter().collect()
}

/// Orphans: on the backend, not in state.
fn orphans(wd: &Workdir, t: &Target) -> Result<Vec<String>> {
    let state = objects_in_state(wd, t)?;
    Ok(backend_keys(t).difference(&state).cloned().collect())
}

fn apply(wd: &Workdir) -> Result<labforge_acceptance_tests::CmdOutput> {
    wd.run_unchecked(&["apply", "-no-color", "-input=false", "-auto-approve"])
}

/// After a faulted apply: no orphan; the error (if any) says what happened
/// and what to do; a second apply converges, the plan after it is empty and
/// the backend holds exactly the configured objects.
fn settle(
    wd: &Workdir,
    t: &Target,
    out: &labforge_acceptance_tests::CmdOutput,
    happened: Option<&str>,
    label: &str,
    fig: &mut Figures,
) -> Result<()> {
    t.faults.clear();
    let orphaned = orphans(wd, t)?;
    fig.orphaned += orphaned.len();
    ensure!(
        orphaned.is_empty(),
        "[{label}] objects on the backend but not in state: {orphaned:?}\n{}",
        out.combined()
    );
    if !out.success() {
        fig.failed += 1;
        // Only the diagnostics: the plan printed before them says nothing.
        let all = out.combined();
        let text = all.find("Error:").map_or(all.as_str(), |i| &all[i..]);
        // Terraform wraps diagnostics at 78 columns.
        let text = &text.split_whitespace().collect::<Vec<_>>().join(" ");
        if let Some(h) = happened {
            ensure!(
                Regex::new(h)?.is_match(text),
                "[{label}] the error does not say what happened (/{h}/):\n{text}"
            );
        }
        ensure!(
            Regex::new(t.advice)?.is_match(text),
            "[{label}] the error does not say what to do (/{}/):\n{text}",
            t.advice
        );
        eprintln!(
            "[faults] {label}: apply failed as expected: {}",
            first_error(text)
        );
    } else {
        eprintln!("[faults] {label}: apply absorbed the fault");
    }
    let second = apply(wd)?;
    ensure!(
        second.success(),
        "[{label}] the second apply did not converge:\n{}",
        second.combined()
    );
    let (empty, plan) = wd.plan_is_empty(true)?;
    ensure!(
        empty,
        "[{label}] plan after the second apply is not empty:\n{}",
        plan.combined()
    );
    let state = objects_in_state(wd, t)?;
    let backend = backend_keys(t);
    let lost: Vec<&String> = state.difference(&backend).collect();
    fig.lost += lost.len();
    ensure!(
        lost.is_empty(),
        "[{label}] in state but not on the backend: {lost:?}"
    );
    let orphaned: Vec<&String> = backend.difference(&state).collect();
    fig.orphaned += orphaned.len();
    ensure!(orphaned.is_empty(), "[{label}] orphans: {orphaned:?}");
    ensure!(
        backend.len() == t.objects,
        "[{label}] expected {} objects on the backend, found {backend:?}",
        t.objects
    );
    fig.converged += 1;
    Ok(())
}

fn first_error(text: &str) -> String {
    text.lines()
        .skip_while(|l| !l.contains("Error:"))
        .take(12)
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" | ")
}

fn destroy_clean(wd: &Workdir, t: &Target, label: &str) -> Result<()> {
    let out = wd.run_unchecked(&["destroy", "-no-color", "-input=false", "-auto-approve"])?;
    ensure!(
        out.success(),
        "[{label}] destroy failed:\n{}",
        out.combined()
    );
    let left = backend_keys(t);
    ensure!(left.is_empty(), "[{label}] left after destroy: {left:?}");
    Ok(())
}

/// The positions to fault: `(method, route, skip)` with a label.
fn positions(
    t: &Target,
    o: &Options,
    seq: &[(String, String)],
) -> Vec<(usize, String, String, usize)> {
    let all = std::env::var("FAULTS_ALL_POSITIONS").is_ok_and(|v| v == "1");
    let writes: Vec<usize> = (0..seq.len())
        .filter(|&i| (t.is_write)(&seq[i].0, &seq[i].1))
        .collect();
    let reads: Vec<usize> = (0..seq.len())
        .filter(|&i| !(t.is_write)(&seq[i].0, &seq[i].1))
        .collect();
    let mut picked: Vec<usize> = if all {
        (0..seq.len()).collect()
    } else if let Some(sample) = o.sample {
        sample(seq)
    } else {
        let mut p = Vec::new();
        p.extend(writes.first());
        p.extend(reads.get(reads.len() / 2));
        p.extend(writes.last());
        p
    };
    picked.sort_unstable();
    picked.dedup();
    picked
        .into_iter()
        .map(|i| {
            let (m, r) = &seq[i];
            let skip = seq[..i].iter().filter(|x| x.0 == *m && x.1 == *r).count();
            (i, m.clone(), r.clone(), skip)
        })
        .collect()
}

/// Runs the matrix for one backend and returns its figures.
pub fn run_matrix(t: &Target) -> Result<Figures> {
    run_matrix_with(t, &Options::default())
}

/// Runs the matrix for one backend with these [`Options`].
pub fn run_matrix_with(t: &Target, o: &Options) -> Result<Figures> {
    let started = Instant::now();
    let mut fig = Figures::default();
    let mut wd = Workdir::new(&Provider::homelab())?;
    wd.write_config(&t.config)?;
    wd.ensure_init()?;
    // The clean apply: the sequence of requests.
    t.counters.reset();
    let out = apply(&wd)?;
    ensure!(out.success(), "clean apply failed:\n{}", out.combined());
    let seq = t.counters.sequence();
    fig.sequence = seq.len();
    eprintln!(
        "[faults] {}: clean apply made {} requests: {:?}",
        t.name,
        seq.len(),
        seq.iter()
            .map(|(m, r)| format!("{m} {r}"))
            .collect::<Vec<_>>()
    );
    ensure!(
        backend_keys(t).len() == t.objects,
        "clean apply: {:?}",
        backend_keys(t)
    );
    destroy_clean(&wd, t, "clean")?;

    for (i, method, route, skip) in positions(t, o, &seq) {
        for &kind in &o.kinds {
            let label = format!("{} #{i} {method} {route} (+{skip}) {kind:?}", t.name);
            t.faults.clear();
            t.faults.inject_nth(&method, &route, skip, kind.fault());
            let out = apply(&wd)?;
            fig.injected += 1;
            if t.faults.pending() == 0 {
                fig.fired += 1;
            } else {
                eprintln!("[faults] {label}: the position was not reached (sequence differs)");
            }
            settle(&wd, t, &out, Some((o.happened)(kind)), &label, &mut fig)?;
            destroy_clean(&wd, t, &label)?;
        }
    }

    out_of_band(&wd, t, &mut fig)?;
    if let Some(contend) = &t.contention {
        let label = format!("{} lock contention", t.name);
        wd.write_config(&t.config)?;
        let out = apply(&wd)?;
        ensure!(out.success(), "[{label}] apply: {}", out.combined());
        wd.write_config(&t.changed)?;
        contend();
        let out = apply(&wd)?;
        fig.injected += 1;
        fig.fired += 1;
        settle(&wd, t, &out, Some(o.contention_happened), &label, &mut fig)?;
        destroy_clean(&wd, t, &label)?;
        wd.write_config(&t.config)?;
    }
    sigint(&wd, t, &mut fig)?;
    eprintln!(
        "[faults] {}: {} faults injected ({} hit), {} applies failed with the fault, \
         {} converged, {} orphaned, {} lost, sequence of {} requests, {:.1}s",
        t.name,
        fig.injected,
        fig.fired,
        fig.failed,
        fig.converged,
        fig.orphaned,
        fig.lost,
        fig.sequence,
        started.elapsed().as_secs_f64()
    );
    Ok(fig)
}

/// Plan a change, change and delete objects on the backend, apply the saved
/// plan: it may fail (saying so), then the next apply converges.
fn out_of_band(wd: &Workdir, t: &Target, fig: &mut Figures) -> Result<()> {
    let label = format!("{} out-of-band", t.name);
    wd.write_config(&t.config)?;
    let out = apply(wd)?;
    ensure!(out.success(), "[{label}] apply: {}", out.combined());
    wd.write_config(&t.changed)?;
    wd.plan(&[])?;
    (t.out_of_band)()?;
    let out = wd.run_unchecked(&["apply", "-no-color", "-input=false", "tfplan"])?;
    fig.injected += 1;
    fig.fired += 1;
    // The changed configuration is what the second apply converges to.
    let happened = r"(?i)outside terraform|deleted|gone|no such|not found|no longer exists";
    settle(wd, t, &out, Some(happened), &label, fig)?;
    destroy_clean(wd, t, &label)?;
    wd.write_config(&t.config)?;
    Ok(())
}

/// SIGINT to terraform right after the first write of an apply; the
/// interrupted apply leaves no orphan, the next one converges.
fn sigint(wd: &Workdir, t: &Target, fig: &mut Figures) -> Result<()> {
    let label = format!("{} SIGINT", t.name);
    t.counters.reset();
    let writes = |c: &Counters| {
        c.sequence()
            .iter()
            .filter(|(m, r)| (t.is_write)(m, r))
            .count()
    };
    // Slow the writes so the interrupt lands while they run.
    t.faults
        .inject("*", "/**", Fault::Delay(Duration::from_millis(300)), 1000);
    let mut child = wd
        .command(&["apply", "-no-color", "-input=false", "-auto-approve"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while writes(&t.counters) == 0 {
        if Instant::now() > deadline {
            let _ = child.kill();
            bail!("[{label}] no write within 60s");
        }
        if child.try_wait()?.is_some() {
            bail!("[{label}] apply ended before its first write");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = child.id().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()?;
    ensure!(sent.success(), "[{label}] kill -INT {pid} failed");
    let out = child.wait_with_output()?;
    fig.injected += 1;
    fig.fired += 1;
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "[faults] {label}: interrupted after {} write(s), exit {:?}",
        writes(&t.counters),
        out.status.code()
    );
    let out = labforge_acceptance_tests::CmdOutput {
        command: "apply (interrupted)".into(),
        dir: wd.path().to_path_buf(),
        code: out.status.code(),
        stdout: text,
        stderr: String::new(),
    };
    // Terraform says it was interrupted; the provider's own errors (if
    // any) need not carry advice here, so only orphans and convergence.
    t.faults.clear();
    let orphaned = orphans(wd, t)?;
    fig.orphaned += orphaned.len();
    ensure!(
        orphaned.is_empty(),
        "[{label}] objects on the backend but not in state: {orphaned:?}\n{}",
        out.combined()
    );
    let ok = out.success();
    if !ok {
        fig.failed += 1;
        ensure!(
            Regex::new(r"(?i)interrupt|cancel|stop")?.is_match(&out.stdout),
            "[{label}] the interrupted apply does not say so:\n{}",
            out.stdout
        );
    }
    let quiet = labforge_acceptance_tests::CmdOutput {
        code: Some(0),
        ..out
    };
    settle(wd, t, &quiet, None, &label, fig)?;
    destroy_clean(wd, t, &label)?;
    Ok(())
}

/// Fails unless every figure says nothing was lost or orphaned.
pub fn check(fig: &Figures) -> Result<()> {
    if fig.orphaned != 0 || fig.lost != 0 {
        return Err(anyhow!("{fig:?}"));
    }
    Ok(())
}
