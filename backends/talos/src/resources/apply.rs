//! `homelab_talos_machine_configuration_apply`: a machine configuration
//! applied to one Talos node, with real drift detection.
//!
//! Also the pieces the node-facing resources share ([`ClientConfig`],
//! [`Timeouts`], the `node`/`endpoint` attributes, durations, and how a
//! [`TalosError`] becomes a diagnostic).
//!
//! How it behaves (facts from `siderolabs/talos`
//! `internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go`
//! `ApplyConfiguration`, tags v1.13.9 and v1.14.0-rc.1):
//! - a node in maintenance mode takes the configuration over an insecure
//!   connection, installs and reboots; the resource waits until the node
//!   answers with mutual TLS and runs the configuration;
//! - a configured node takes it over mutual TLS; every apply is verified by
//!   reading the running configuration back (COSI `MachineConfigs`, ID
//!   `v1alpha1`; `persistent` for a staged one);
//! - refresh compares the running configuration with the applied one
//!   (normalized), so a change made behind Terraform's back plans an update,
//!   and a node wiped back to maintenance plans a new apply.

use std::time::{Duration, Instant};

use labforge_framework::schema::{Attribute, Nesting, Schema, modifiers, validators};
use labforge_framework::{
    AttributePath, Ctx, Diagnostics, Error, PlanChange, Resource, Result, Value,
};
use serde::{Deserialize, Serialize};
use tonic::Code;

use crate::client::{
    ApplyMode, ApplyRequest, Auth, Client, Credentials, ErrorKind, NodeState, TalosError, Target,
};
use crate::config;

// ---------------------------------------------------------------------------
// Shared by the node-facing resources.
// ---------------------------------------------------------------------------

/// The default of every `timeouts` entry.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// `client_configuration`: the admin client certificate, as
/// `homelab_talos_machine_secrets` gives it (each value base64 of PEM; raw
/// PEM is accepted too). No `Debug`: it holds a private key.
#[derive(Clone, Serialize, Deserialize)]
pub struct ClientConfig {
    /// The Talos API CA certificate (`os` CA).
    pub ca_certificate: String,
    /// The client certificate (role `os:admin`).
    pub client_certificate: String,
    /// The client certificate's private key.
    pub client_key: String,
}

impl ClientConfig {
    /// The credentials the client uses; an error points at `client_configuration`.
    pub(crate) fn credentials(&self) -> Result<Credentials> {
        Credentials::from_client_configuration_b64(
            &self.ca_certificate,
            &self.client_certificate,
            &self.client_key,
        )
        .map_err(|e| {
            Error::new(
                "Invalid client configuration",
                format!(
                    "client_configuration: {e}. Use the client_configuration of \
                     homelab_talos_machine_secrets (base64 of PEM, or PEM)."
                ),
            )
            .at(AttributePath::attr("client_configuration"))
        })
    }
}

/// `timeouts`: how long an operation may take (Go durations such as `10m`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Timeouts {
    /// For create.
    pub create: Option<String>,
    /// For update.
    pub update: Option<String>,
    /// For delete (only where the schema has it: the apply resource's reset on destroy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete: Option<String>,
}

impl Timeouts {
    /// The create timeout (default 10 minutes).
    pub(crate) fn create(t: &Option<Timeouts>) -> Duration {
        t.as_ref()
            .and_then(|t| t.create.as_deref())
            .and_then(|s| parse_duration(s).ok())
            .unwrap_or(DEFAULT_TIMEOUT)
    }
    /// The update timeout (default 10 minutes).
    pub(crate) fn update(t: &Option<Timeouts>) -> Duration {
        t.as_ref()
            .and_then(|t| t.update.as_deref())
            .and_then(|s| parse_duration(s).ok())
            .unwrap_or(DEFAULT_TIMEOUT)
    }
    /// The delete timeout (default 10 minutes).
    pub(crate) fn delete(t: &Option<Timeouts>) -> Duration {
        t.as_ref()
            .and_then(|t| t.delete.as_deref())
            .and_then(|s| parse_duration(s).ok())
            .unwrap_or(DEFAULT_TIMEOUT)
    }
}

/// A Go duration (`300ms`, `1.5h`, `2h45m`, `10m`): a sequence of decimal
/// numbers with a unit each (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`).
pub(crate) fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let bad = || format!("{s:?} is not a duration such as `90s`, `10m` or `1h30m`");
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        if num_len == 0 {
            return Err(bad());
        }
        let n: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let secs = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += n * secs;
        rest = &rest[unit_len..];
    }
    if !total.is_finite() || total > 1e9 {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(total))
}

/// A validator for a duration string.
pub(crate) fn duration_validator() -> impl validators::Validator {
    validators::from_fn(
        "A duration such as `90s`, `10m` or `1h30m`.",
        |v: &Value| match v.as_str() {
            Some(s) => parse_duration(s).map(|_| ()),
            None => Ok(()),
        },
    )
}

/// The `timeouts` attribute with the given operations.
pub(crate) fn timeouts_attr(ops: &[&'static str]) -> Attribute {
    Attribute::nested(
        Nesting::Single,
        ops.iter().map(|op| {
            (
                *op,
                Attribute::string()
                    .optional()
                    .describe(format!(
                        "How long {op} may take, a duration such as `10m` (default `10m`)."
                    ))
                    .validator(duration_validator()),
            )
        }),
    )
    .optional()
    .describe("Operation timeouts.")
}

/// `node`, `endpoint` and `client_configuration`, shared by the node-facing types.
pub(crate) fn node_attrs(schema: Schema, node_replaces: bool) -> Schema {
    let mut node = Attribute::string()
        .required()
        .describe(
            "The node's address (IP or name, optionally `:port`; port 50000 by default): \
             the node the operation is for.",
        )
        .validator(validators::length_between(1, 253));
    if node_replaces {
        node = node.plan_modifier(modifiers::requires_replace());
    }
    schema
        .attribute("node", node)
        .attribute(
            "endpoint",
            Attribute::string()
                .optional()
                .computed()
                .describe(
                    "The Talos API endpoint to connect to (default: `node`). When it differs \
                     from `node`, the endpoint's apid proxies to the node (gRPC metadata `node`).",
                )
                .validator(validators::length_between(1, 253)),
        )
        .attribute("client_configuration", client_configuration_attr())
}

/// The `client_configuration` attribute.
pub(crate) fn client_configuration_attr() -> Attribute {
    Attribute::nested(
        Nesting::Single,
        [
            (
                "ca_certificate",
                Attribute::string()
                    .required()
                    .describe("The Talos API CA certificate (base64 of PEM)."),
            ),
            (
                "client_certificate",
                Attribute::string()
                    .required()
                    .describe("The admin client certificate (base64 of PEM)."),
            ),
            (
                "client_key",
                Attribute::string()
                    .required()
                    .sensitive()
                    .describe("The admin client key (base64 of PEM)."),
            ),
        ],
    )
    .required()
    .sensitive()
    .describe(
        "The admin client configuration, e.g. \
         `homelab_talos_machine_secrets.this.client_configuration`.",
    )
}

/// Plan `endpoint` as `node` when it is not configured.
pub(crate) fn plan_endpoint(plan: &mut PlanChange<'_>) {
    if plan.config_attr("endpoint").is_null() {
        let node = plan.planned_attr("node").clone();
        plan.set("endpoint", node);
    }
}

/// Where to connect for `node` through `endpoint`.
pub(crate) fn target(node: &str, endpoint: Option<&str>) -> Target {
    let endpoint = endpoint.filter(|e| !e.is_empty()).unwrap_or(node);
    Target {
        endpoint: endpoint.to_string(),
        node: (endpoint != node).then(|| node.to_string()),
    }
}

/// The attribute naming where the provider connects: `endpoint` when it is
/// set apart from `node`, else `node`.
pub(crate) fn endpoint_attr(node: &str, endpoint: Option<&str>) -> AttributePath {
    match endpoint {
        Some(e) if !e.is_empty() && e != node => AttributePath::attr("endpoint"),
        _ => AttributePath::attr("node"),
    }
}

/// A failed probe of the node, as a diagnostic: where the provider
/// connected when nothing answered, `client_configuration` when TLS failed.
pub(crate) fn unreachable(
    summary: &str,
    node: &str,
    endpoint: Option<&str>,
    e: &TalosError,
) -> Error {
    let t = target(node, endpoint);
    match e.kind() {
        ErrorKind::Tls | ErrorKind::CertificateRejected => Error::new(
            summary,
            format!(
                "{node} (at {}): {e}. Is client_configuration the admin certificate of this \
                 cluster's secrets (homelab_talos_machine_secrets)?",
                t.endpoint
            ),
        )
        .at(AttributePath::attr("client_configuration")),
        ErrorKind::InvalidInput => {
            Error::new(summary, e.to_string()).at(endpoint_attr(node, endpoint))
        }
        ErrorKind::Status => node_error(summary, node, e),
        _ => {
            let at = endpoint_attr(node, endpoint);
            Error::new(
                summary,
                format!(
                    "The Talos API at {} did not answer: {e}. Check `{}` (the node's address, \
                     port 50000 by default) and that the node is up.",
                    t.endpoint,
                    at_name(&at),
                ),
            )
            .at(at)
        }
    }
}

fn at_name(p: &AttributePath) -> String {
    p.to_string()
}

/// A refusal of the node, as a diagnostic naming the node.
pub(crate) fn node_error(summary: &str, node: &str, e: &TalosError) -> Error {
    Error::new(summary, format!("{node}: {e}"))
}

/// Sleep between polls, cancelled when Terraform stops.
pub(crate) async fn pause<C>(ctx: &Ctx<C>, d: Duration) -> Result<()> {
    ctx.until_stopped(async {
        tokio::time::sleep(d).await;
        Ok(())
    })
    .await
}

/// The node's state, fail-fast: one probe (the client's connect timeout).
pub(crate) async fn probe(
    client: &Client,
    summary: &str,
    node: &str,
    endpoint: Option<&str>,
    creds: &Credentials,
) -> Result<NodeState> {
    client
        .node_state(&target(node, endpoint), Some(creds))
        .await
        .map_err(|e| unreachable(summary, node, endpoint, &e))
}

/// `major.minor` of a Talos tag (`v1.14.0-rc.1` -> (1, 14)).
pub(crate) fn version_of(tag: &str) -> Option<(u32, u32)> {
    let t = tag.trim().trim_start_matches('v');
    let mut parts = t.split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

// ---------------------------------------------------------------------------
// The resource.
// ---------------------------------------------------------------------------

/// The apply modes a resource can have: its steady state is what the node
/// keeps running. Talos's `try` is not one (see [`TRY_REFUSED`]).
const MODES: &[&str] = &["auto", "reboot", "no_reboot", "staged"];

/// Why `apply_mode = "try"` is refused at validate. Talos reverts a
/// configuration applied in TRY mode when its timeout ends (siderolabs/talos
/// `v1alpha1_server.go` `ApplyConfiguration`, `Mode_TRY`: the previous
/// config is restored unless another apply confirms it), so the node would
/// run the old configuration a minute after every apply: each refresh would
/// see drift and each plan apply again, forever.
const TRY_REFUSED: &str = "apply_mode = \"try\" cannot be a resource's steady state: Talos \
    rolls a configuration applied in try mode back after its timeout (1 minute by default), \
    so every refresh would find the old configuration and every plan would apply again. \
    To test a change, run `talosctl apply-config --mode=try` by hand; to keep it, use \
    \"auto\" or \"no_reboot\" (\"staged\" to apply it at the next reboot).";

/// The `apply_mode` validator: one of [`MODES`], `try` refused with why.
fn apply_mode_validator() -> impl validators::Validator {
    validators::from_fn(
        "One of `auto`, `reboot`, `no_reboot`, `staged`.",
        |v: &Value| match v.as_str() {
            Some("try") => Err(TRY_REFUSED.to_string()),
            Some(m) if !MODES.contains(&m) => Err(format!(
                "{m:?} is not one of `auto`, `reboot`, `no_reboot`, `staged`"
            )),
            _ => Ok(()),
        },
    )
}

/// The resource.
#[derive(Debug, Clone, Copy, Default)]
pub struct MachineConfigurationApply;

/// One applied configuration. No `Debug`: it holds secrets.
#[derive(Clone, Serialize, Deserialize)]
pub struct ApplyModel {
    /// The node (also the ID).
    pub id: Option<String>,
    /// The node's address.
    pub node: String,
    /// Where to connect (default: `node`).
    pub endpoint: Option<String>,
    /// The admin client configuration.
    pub client_configuration: ClientConfig,
    /// The machine configuration to apply, before patches.
    pub machine_configuration_input: String,
    /// Patches applied to the input, in order.
    pub config_patches: Option<Vec<String>>,
    /// `auto`, `reboot`, `no_reboot`, `staged` or `try`.
    pub apply_mode: Option<String>,
    /// Operation timeouts.
    pub timeouts: Option<Timeouts>,
    /// What destroy does to the node (reset or forget).
    pub on_destroy: Option<super::reset::OnDestroy>,
    /// The configuration sent (after patches).
    pub machine_configuration: Option<String>,
    /// SHA-256 of the normalized configuration (the node's, after drift).
    pub machine_configuration_hash: Option<String>,
    /// The mode the node applied the configuration with.
    pub resolved_apply_mode: Option<String>,
}

/// The configuration to send: the input with the patches applied.
pub(crate) fn desired(input: &str, patches: &[String]) -> Result<String> {
    config::apply_patches(input, patches).map_err(|e| {
        // The input itself did not parse: blame it, not a patch.
        if patches.is_empty()
            || e.message
                .starts_with("the machine configuration to patch is invalid")
        {
            return Error::new(
                "Invalid machine configuration",
                format!("machine_configuration_input: {}", e.message),
            )
            .at(AttributePath::attr("machine_configuration_input"));
        }
        Error::new(
            "Invalid config patch",
            format!("config_patches[{}]: {}", e.index, e.message),
        )
        .at(AttributePath::attr("config_patches").join_index(e.index as i64))
    })
}

/// The normalized form of a configuration, for comparing.
pub(crate) fn normalized(c: &str) -> Result<String> {
    config::normalize(c).map_err(|e| {
        Error::new(
            "Invalid machine configuration",
            format!("machine_configuration_input: {e}"),
        )
        .at(AttributePath::attr("machine_configuration_input"))
    })
}

/// The hash shown in `machine_configuration_hash`: SHA-256 of the
/// normalized text (of the raw text when it does not parse).
pub(crate) fn config_hash(c: &str) -> String {
    match config::normalize(c) {
        Ok(n) => config::sha256_hex(&n),
        Err(_) => config::sha256_hex(c),
    }
}

fn mode_of(s: Option<&str>) -> ApplyMode {
    match s.unwrap_or("auto") {
        "reboot" => ApplyMode::Reboot,
        "no_reboot" => ApplyMode::NoReboot,
        "staged" => ApplyMode::Staged,
        "try" => ApplyMode::Try,
        _ => ApplyMode::Auto,
    }
}

fn mode_name(m: &ApplyMode) -> &'static str {
    match m {
        ApplyMode::Reboot => "reboot",
        ApplyMode::Auto => "auto",
        ApplyMode::NoReboot => "no_reboot",
        ApplyMode::Staged => "staged",
        ApplyMode::Try => "try",
    }
}

/// Whether a node running `tag` refuses `reboot` mode once configured
/// (v1.14: `Unimplemented` `the REBOOT mode is not supported, please use
/// AUTO or NO_REBOOT modes instead`).
fn refuses_reboot(tag: &str) -> bool {
    version_of(tag).is_some_and(|v| v >= (1, 14))
}

fn reboot_refused(node: &str, tag: &str) -> Error {
    Error::new(
        "Apply mode not supported by the node",
        format!(
            "apply_mode = \"reboot\": {node} runs Talos {tag}, which no longer applies a \
             configuration with a reboot once the node is configured (Talos 1.14 refuses REBOOT \
             outside maintenance mode). Use \"auto\" or \"no_reboot\" and reboot the node \
             yourself if the change needs it."
        ),
    )
    .at(AttributePath::attr("apply_mode"))
}

/// What the node runs, read with mutual TLS: (`v1alpha1`, `persistent`).
async fn running(
    client: &Client,
    t: &Target,
    creds: &Credentials,
    staged: bool,
) -> std::result::Result<Option<String>, TalosError> {
    client
        .machine_config(t, creds, if staged { "persistent" } else { "v1alpha1" })
        .await
}

const SUMMARY_APPLY: &str = "Unable to apply the machine configuration";

/// Apply `plan` to its node and verify it; returns the mode the node used.
async fn apply(
    ctx: &Ctx<Client>,
    plan: &ApplyModel,
    timeout: Duration,
    prior_mode: Option<&str>,
) -> Result<String> {
    let client = ctx.client();
    let node = plan.node.as_str();
    let endpoint = plan.endpoint.as_deref();
    let patches = plan.config_patches.clone().unwrap_or_default();
    let wanted = desired(&plan.machine_configuration_input, &patches)?;
    let wanted_norm = normalized(&wanted)?;
    let creds = plan.client_configuration.credentials()?;
    let mode = mode_of(plan.apply_mode.as_deref());
    let staged = matches!(mode, ApplyMode::Staged);
    let t = target(node, endpoint);
    let deadline = Instant::now() + timeout;
    let started = Instant::now();

    let state = probe(client, SUMMARY_APPLY, node, endpoint, &creds).await?;
    let mut resolved: String;
    match state {
        NodeState::Maintenance => {
            // Maintenance mode: insecure, straight to the node; it installs
            // and reboots (REBOOT is mapped to NO_REBOOT there). Only the
            // installing apply may be sent again, and only after the node
            // was seen still in maintenance (it did not take it).
            let direct = Target {
                endpoint: node.to_string(),
                node: None,
            };
            // AUTO whatever `apply_mode` says, as `talosctl apply-config
            // --insecure` does: maintenance mode installs and reboots in any
            // case, and refuses NO_REBOOT and STAGED (siderolabs/talos
            // `internal/app/maintenance/server.go` `ApplyConfiguration`:
            // `apply configuration --mode='no-reboot' is not supported in
            // maintenance mode`). `apply_mode` governs later applies.
            let req = ApplyRequest {
                data: wanted.clone().into_bytes(),
                mode: ApplyMode::Auto,
                dry_run: false,
                try_timeout: None,
            };
            tracing::info!(
                node,
                "applying the machine configuration in maintenance mode (install and reboot)"
            );
            resolved = mode_name(&req.mode).to_string();
            loop {
                match client
                    .apply_configuration(&direct, Auth::Insecure, &req)
                    .await
                {
                    Ok(r) => {
                        resolved = mode_name(&r.mode).to_string();
                        for w in &r.warnings {
                            ctx.warn("Talos warning", format!("{node}: {w}"));
                        }
                        break;
                    }
                    Err(e) if e.is_final() => {
                        return Err(apply_refused(node, &e));
                    }
                    Err(e) if !e.may_have_landed() => {
                        // "Not yet" (another apply in progress): not taken.
                        if Instant::now() >= deadline {
                            return Err(timed_out(node, started, &e.to_string()));
                        }
                        tracing::info!(node, error = %e, "the node cannot take the configuration yet; waiting");
                        pause(ctx, Duration::from_secs(1)).await?;
                    }
                    Err(e) => {
                        tracing::info!(node, error = %e, "no answer to the installing apply; checking the node");
                        // Did it land? A node that took it leaves maintenance.
                        pause(ctx, Duration::from_secs(2)).await?;
                        match client.node_state(&t, Some(&creds)).await {
                            Ok(NodeState::Maintenance) if Instant::now() < deadline => continue,
                            Ok(NodeState::Maintenance) => {
                                return Err(timed_out(
                                    node,
                                    started,
                                    &format!("the node stayed in maintenance mode ({e})"),
                                ));
                            }
                            _ => break,
                        }
                    }
                }
            }
            wait_running(
                ctx,
                &t,
                &creds,
                &wanted_norm,
                false,
                true,
                deadline,
                started,
            )
            .await?;
            return Ok(resolved);
        }
        NodeState::Configured { tag } => {
            if matches!(mode, ApplyMode::Reboot) && refuses_reboot(&tag) {
                return Err(reboot_refused(node, &tag));
            }
        }
    }

    // A configured node: mutual TLS. Already running it? Then nothing to send.
    match running(client, &t, &creds, staged).await {
        Ok(Some(cur)) if config::normalize(&cur).ok().as_deref() == Some(wanted_norm.as_str()) => {
            tracing::info!(
                node,
                "the node already runs this machine configuration; nothing to apply"
            );
            return Ok(prior_mode.unwrap_or("no_reboot").to_string());
        }
        Ok(_) => {}
        Err(e) if e.is_final() => return Err(node_error(SUMMARY_APPLY, node, &e)),
        Err(_) => {}
    }

    let req = ApplyRequest {
        data: wanted.clone().into_bytes(),
        mode,
        dry_run: false,
        try_timeout: None,
    };
    let mut backoff = Duration::from_millis(500);
    tracing::info!(
        node,
        mode = mode_name(&req.mode),
        "applying the machine configuration"
    );
    loop {
        match client
            .apply_configuration(&t, Auth::Mtls(&creds), &req)
            .await
        {
            Ok(r) => {
                resolved = mode_name(&r.mode).to_string();
                for w in &r.warnings {
                    ctx.warn("Talos warning", format!("{node}: {w}"));
                }
                if matches!(r.mode, ApplyMode::Reboot) {
                    tracing::info!(node, "the node applies the configuration with a reboot");
                }
                break;
            }
            Err(e) if e.is_final() => {
                if e.code() == Some(Code::Unimplemented) && matches!(req.mode, ApplyMode::Reboot) {
                    return Err(reboot_refused(node, "1.14 or later"));
                }
                return Err(apply_refused(node, &e));
            }
            Err(e) if !e.may_have_landed() => {
                // "another apply configuration is already in progress", "node is
                // rebooting": not applied; wait and send again.
                if Instant::now() + backoff > deadline {
                    return Err(timed_out(node, started, &e.to_string()));
                }
                tracing::info!(node, error = %e, elapsed_s = started.elapsed().as_secs(), "the node cannot take the configuration yet; waiting");
                pause(ctx, backoff).await?;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            Err(e) => {
                // The answer was lost: the node may have taken it. Look
                // before sending again (never a blind re-apply).
                tracing::info!(node, error = %e, "no answer to the apply; reading the node's configuration to see whether it took it");
                match poll_config(ctx, &t, &creds, staged, deadline, started).await? {
                    Some(cur)
                        if config::normalize(&cur).ok().as_deref()
                            == Some(wanted_norm.as_str()) =>
                    {
                        tracing::info!(
                            node,
                            "the node took the configuration (its answer was lost)"
                        );
                        resolved = mode_name(&req.mode).to_string();
                        break;
                    }
                    _ => {
                        if Instant::now() + backoff > deadline {
                            return Err(timed_out(node, started, &e.to_string()));
                        }
                        tracing::info!(
                            node,
                            "the node did not take the configuration; sending it again"
                        );
                    }
                }
            }
        }
    }
    wait_running(
        ctx,
        &t,
        &creds,
        &wanted_norm,
        staged,
        false,
        deadline,
        started,
    )
    .await?;
    Ok(resolved)
}

fn apply_refused(node: &str, e: &TalosError) -> Error {
    let at = match e.code() {
        Some(Code::InvalidArgument) => Some(AttributePath::attr("machine_configuration_input")),
        Some(Code::PermissionDenied | Code::Unauthenticated) => {
            Some(AttributePath::attr("client_configuration"))
        }
        _ => None,
    };
    let hint = match e.code() {
        Some(Code::InvalidArgument) => {
            " The node refused the configuration (after config_patches): fix the input or the patches."
        }
        Some(Code::PermissionDenied | Code::Unauthenticated) => {
            " Is client_configuration an admin certificate of this cluster's secrets?"
        }
        _ => "",
    };
    let err = Error::new(SUMMARY_APPLY, format!("{node}: {e}.{hint}"));
    match at {
        Some(p) => err.at(p),
        None => err,
    }
}

fn timed_out(node: &str, started: Instant, last: &str) -> Error {
    Error::new(
        SUMMARY_APPLY,
        format!(
            "{node}: gave up after {}s (see `timeouts`); last: {last}",
            started.elapsed().as_secs()
        ),
    )
}

/// Read the node's configuration (`persistent` for staged), waiting while
/// the node does not answer. `None`: the node answered without one.
async fn poll_config(
    ctx: &Ctx<Client>,
    t: &Target,
    creds: &Credentials,
    staged: bool,
    deadline: Instant,
    started: Instant,
) -> Result<Option<String>> {
    let node = t.node.as_deref().unwrap_or(&t.endpoint);
    let mut backoff = Duration::from_millis(250);
    let mut last_log = Instant::now();
    loop {
        match running(ctx.client(), t, creds, staged).await {
            Ok(c) => return Ok(c),
            Err(e) if e.is_final() => return Err(node_error(SUMMARY_APPLY, node, &e)),
            Err(e) => {
                if Instant::now() + backoff > deadline {
                    return Err(timed_out(node, started, &e.to_string()));
                }
                if last_log.elapsed() >= Duration::from_secs(5) {
                    tracing::info!(node, error = %e, elapsed_s = started.elapsed().as_secs(), "waiting for the node to answer");
                    last_log = Instant::now();
                }
                pause(ctx, backoff).await?;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Wait until the node answers with mutual TLS and runs (or, staged, holds)
/// the configuration whose normalized text is `wanted`. `installing`: the
/// node was in maintenance mode and installs and reboots first.
#[allow(clippy::too_many_arguments)]
async fn wait_running(
    ctx: &Ctx<Client>,
    t: &Target,
    creds: &Credentials,
    wanted: &str,
    staged: bool,
    installing: bool,
    deadline: Instant,
    started: Instant,
) -> Result<()> {
    let client = ctx.client();
    let node = t.node.as_deref().unwrap_or(&t.endpoint).to_string();
    let mut backoff = Duration::from_millis(250);
    let mut last_log = Instant::now();
    let mut last: String;
    loop {
        // A node still in (or back to) maintenance mode does not run it yet.
        match client.node_state(t, Some(creds)).await {
            Ok(NodeState::Configured { .. }) => match running(client, t, creds, staged).await {
                Ok(Some(cur)) => {
                    if config::normalize(&cur).ok().as_deref() == Some(wanted) {
                        tracing::info!(node = %node, elapsed_s = started.elapsed().as_secs(), "the node runs the machine configuration");
                        return Ok(());
                    }
                    last = "the node runs a different configuration".into();
                }
                Ok(None) => last = "the node has no machine configuration yet".into(),
                Err(e) if e.code() == Some(Code::PermissionDenied) || !e.is_final() => {
                    last = e.to_string();
                }
                Err(e) => return Err(node_error(SUMMARY_APPLY, &node, &e)),
            },
            Ok(NodeState::Maintenance) => last = "the node is still in maintenance mode".into(),
            // Installing: until it reboots, the node still presents its
            // maintenance certificate (not signed by the cluster's OS CA).
            Err(e)
                if installing
                    && matches!(e.kind(), ErrorKind::Tls | ErrorKind::CertificateRejected) =>
            {
                last = format!("the node has not rebooted into its configuration yet ({e})");
            }
            Err(e) if e.is_final() => return Err(node_error(SUMMARY_APPLY, &node, &e)),
            Err(e) => last = format!("the node does not answer yet ({e})"),
        }
        if Instant::now() + backoff > deadline {
            return Err(Error::new(
                SUMMARY_APPLY,
                format!(
                    "{node}: the configuration was sent but the node did not run it within {}s \
                     (see `timeouts`); last: {last}",
                    started.elapsed().as_secs()
                ),
            ));
        }
        if last_log.elapsed() >= Duration::from_secs(5) {
            tracing::info!(node = %node, elapsed_s = started.elapsed().as_secs(), status = %last, "waiting for the node to run the machine configuration");
            last_log = Instant::now();
        }
        pause(ctx, backoff).await?;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

impl MachineConfigurationApply {
    async fn write(
        &self,
        ctx: &Ctx<Client>,
        mut plan: ApplyModel,
        timeout: Duration,
        prior_mode: Option<&str>,
    ) -> Result<ApplyModel> {
        let resolved = apply(ctx, &plan, timeout, prior_mode).await?;
        let patches = plan.config_patches.clone().unwrap_or_default();
        let sent = desired(&plan.machine_configuration_input, &patches)?;
        plan.machine_configuration_hash = Some(config_hash(&sent));
        plan.machine_configuration = Some(sent);
        plan.resolved_apply_mode = Some(resolved);
        plan.id = Some(plan.node.clone());
        if plan.endpoint.is_none() {
            plan.endpoint = Some(plan.node.clone());
        }
        if plan.apply_mode.is_none() {
            plan.apply_mode = Some("auto".into());
        }
        Ok(plan)
    }
}

impl Resource for MachineConfigurationApply {
    type Client = Client;
    type Model = ApplyModel;
    const NAME: &'static str = "talos_machine_configuration_apply";

    fn schema(&self) -> Schema {
        let s = Schema::new(
            "A machine configuration applied to one Talos node. A node in maintenance mode gets \
             it over an insecure connection, installs and reboots; the apply waits until the \
             node answers with mutual TLS and runs it. A configured node gets it over mutual \
             TLS. Every apply is verified by reading the node's running configuration back.\n\n\
             Refresh compares the node's running configuration with the one applied: a change \
             made behind Terraform's back shows as an update of `machine_configuration_hash` \
             (the apply puts the configuration back), and a node wiped back to maintenance mode \
             is applied again. A staged configuration waiting for a reboot is reported as a \
             warning.\n\n\
             Destroying the resource only removes it from state (Talos has no \"unapply\"), \
             unless `on_destroy = { reset = true }`: then destroy resets the node (wipes its \
             configuration and `/var`) and waits until it is back in maintenance mode \
             (`reboot = true`) or powered off.",
        )
        .attribute(
            "id",
            Attribute::string()
                .computed()
                .describe("The node.")
                .plan_modifier(modifiers::use_state_for_unknown()),
        );
        node_attrs(s, true)
            .attribute(
                "machine_configuration_input",
                Attribute::string().required().sensitive().describe(
                    "The machine configuration (YAML), e.g. from the \
                         `homelab_talos_machine_configuration` data source.",
                ),
            )
            .attribute(
                "config_patches",
                Attribute::list(labforge_framework::Type::String)
                    .optional()
                    .describe(
                        "Patches applied to the input in order: strategic merge patches (YAML \
                         or JSON documents) or JSON6902 patches (single-document configs only). \
                         A bad patch fails at plan, pointing at it.",
                    ),
            )
            .attribute(
                "apply_mode",
                Attribute::string()
                    .default("auto")
                    .describe(
                        "`auto` (the node decides; Talos 1.13 may reboot, 1.14 never does), \
                         `reboot` (refused by Talos 1.14 once the node is configured), \
                         `no_reboot` or `staged` (applied at the next reboot; refresh warns \
                         while it waits). Talos's `try` is refused: the node rolls such a \
                         configuration back after its timeout, so it cannot stay applied.",
                    )
                    .validator(apply_mode_validator()),
            )
            .attribute("timeouts", timeouts_attr(&["create", "update", "delete"]))
            .attribute("on_destroy", super::reset::on_destroy_attr())
            .attribute(
                "machine_configuration",
                Attribute::string()
                    .computed()
                    .sensitive()
                    .describe("The configuration sent to the node (the input after the patches)."),
            )
            .attribute(
                "machine_configuration_hash",
                Attribute::string().computed().describe(
                    "SHA-256 of the normalized configuration. After a refresh that found the \
                     node running something else, the hash of what it runs (so the plan shows \
                     the change back).",
                ),
            )
            .attribute(
                "resolved_apply_mode",
                Attribute::string()
                    .computed()
                    .describe("The mode the node applied the configuration with."),
            )
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        let mut d = Diagnostics::new();
        if let (Some(node), Some(ep)) = (
            config.get("node").and_then(Value::as_str),
            config.get("endpoint").and_then(Value::as_str),
        ) && (node.trim().is_empty() || ep.trim().is_empty())
        {
            d.attribute_error(
                AttributePath::attr("endpoint"),
                "Invalid attribute value",
                "endpoint and node must not be blank",
            );
        }
        d
    }

    async fn modify_plan(&self, ctx: &Ctx<Client>, plan: &mut PlanChange<'_>) -> Result<()> {
        plan_endpoint(plan);
        if plan.planned_attr("id").is_unknown()
            && let Some(n) = plan.planned_attr("node").as_str()
        {
            let n = n.to_string();
            plan.set("id", Value::string(n));
        }
        if plan.planned_attr("apply_mode").is_null() {
            plan.set("apply_mode", Value::string("auto"));
        }
        // The configuration to send and its hash, whenever the inputs are known:
        // a patch change or drift found by refresh plans an update.
        let input = plan.config_attr("machine_configuration_input").clone();
        let patches = plan.config_attr("config_patches").clone();
        let known_patches: Option<Vec<String>> = match &patches {
            Value::Null => Some(Vec::new()),
            v if v.is_unknown() => None,
            v => v
                .elements()
                .and_then(|es| es.iter().map(|e| e.as_str().map(str::to_string)).collect()),
        };
        if let (Some(input), Some(patches)) = (input.as_str(), known_patches) {
            let sent = desired(input, &patches)?;
            normalized(&sent)?;
            let hash = config_hash(&sent);
            let prior_hash = plan
                .prior_attr("machine_configuration_hash")
                .as_str()
                .map(str::to_string);
            let prior_sent = plan
                .prior_attr("machine_configuration")
                .as_str()
                .map(str::to_string);
            plan.set("machine_configuration_hash", Value::string(hash.clone()));
            if prior_sent.as_deref() == Some(sent.as_str()) {
                plan.set("machine_configuration", Value::string(sent.clone()));
            } else {
                // Known after apply (it is sensitive: the hash shows the change).
                plan.set("machine_configuration", Value::unknown());
            }
            if !plan.creating()
                && (prior_hash.as_deref() != Some(&hash) || prior_sent.as_deref() != Some(&sent))
            {
                plan.set("resolved_apply_mode", Value::unknown());
            }
        } else {
            plan.set("machine_configuration", Value::unknown());
            plan.set("machine_configuration_hash", Value::unknown());
            plan.set("resolved_apply_mode", Value::unknown());
        }
        // Talos 1.14 refuses REBOOT on a configured node: say so now when the
        // node can be asked (if not, the apply says it). Only when something
        // is to be applied.
        let applying = plan.creating() || *plan.planned != *plan.prior;
        if applying
            && plan.planned_attr("apply_mode").as_str() == Some("reboot")
            && let (Some(node), Some(cc)) = (
                plan.planned_attr("node").as_str().map(str::to_string),
                client_config_of(plan.planned_attr("client_configuration")),
            )
        {
            let endpoint = plan.planned_attr("endpoint").as_str().map(str::to_string);
            if let Ok(creds) = cc.credentials()
                && let Ok(NodeState::Configured { tag }) = ctx
                    .client()
                    .node_state(&target(&node, endpoint.as_deref()), Some(&creds))
                    .await
                && refuses_reboot(&tag)
            {
                return Err(reboot_refused(&node, &tag));
            }
        }
        Ok(())
    }

    async fn create(&self, ctx: &Ctx<Client>, plan: ApplyModel) -> Result<ApplyModel> {
        let timeout = Timeouts::create(&plan.timeouts);
        self.write(ctx, plan, timeout, None).await
    }

    async fn read(&self, ctx: &Ctx<Client>, mut state: ApplyModel) -> Result<Option<ApplyModel>> {
        const SUMMARY: &str = "Unable to read the machine configuration";
        let client = ctx.client();
        let node = state.node.clone();
        let endpoint = state.endpoint.clone();
        let creds = state.client_configuration.credentials()?;
        let t = target(&node, endpoint.as_deref());
        match probe(client, SUMMARY, &node, endpoint.as_deref(), &creds).await? {
            NodeState::Maintenance => {
                tracing::info!(node = %node, "the node is in maintenance mode (wiped): the configuration is applied again");
                return Ok(None);
            }
            NodeState::Configured { .. } => {}
        }
        let applied = match &state.machine_configuration {
            Some(c) => c.clone(),
            None => desired(
                &state.machine_configuration_input,
                &state.config_patches.clone().unwrap_or_default(),
            )?,
        };
        let applied_norm = config::normalize(&applied).ok();
        let run = client
            .machine_config(&t, &creds, "v1alpha1")
            .await
            .map_err(|e| node_error(SUMMARY, &node, &e))?;
        let persistent = client
            .machine_config(&t, &creds, "persistent")
            .await
            .map_err(|e| node_error(SUMMARY, &node, &e))?;
        let norm = |c: &Option<String>| c.as_deref().and_then(|c| config::normalize(c).ok());
        let (run_n, pers_n) = (norm(&run), norm(&persistent));
        if pers_n.is_some() && pers_n != run_n {
            let what = if pers_n == applied_norm {
                "the configuration this resource applied"
            } else {
                "a configuration other than the one this resource applied"
            };
            ctx.warn(
                "Staged machine configuration pending",
                format!(
                    "{node} holds a staged configuration ({what}) that takes effect at its next \
                     reboot; it runs another one until then."
                ),
            );
        }
        let staged_pending = pers_n.is_some() && pers_n == applied_norm;
        if run_n.is_some() && run_n == applied_norm {
            state.machine_configuration_hash = Some(config_hash(&applied));
        } else if staged_pending && state.apply_mode.as_deref() == Some("staged") {
            // Waiting for the reboot: not drift.
        } else {
            tracing::info!(node = %node, "the node runs a configuration other than the one applied (drift)");
            state.machine_configuration_hash = Some(match &run {
                Some(c) => config_hash(c),
                None => String::new(),
            });
        }
        if state.id.is_none() {
            state.id = Some(node);
        }
        Ok(Some(state))
    }

    async fn update(
        &self,
        ctx: &Ctx<Client>,
        prior: ApplyModel,
        plan: ApplyModel,
    ) -> Result<ApplyModel> {
        let timeout = Timeouts::update(&plan.timeouts);
        self.write(ctx, plan, timeout, prior.resolved_apply_mode.as_deref())
            .await
    }

    async fn delete(&self, ctx: &Ctx<Client>, state: ApplyModel) -> Result<()> {
        // Talos has no "unapply": forget the node, or reset it (on_destroy).
        let endpoint = state.endpoint.as_deref();
        let at = super::reset::Node {
            node: &state.node,
            target: target(&state.node, endpoint),
            endpoint_attr: endpoint_attr(&state.node, endpoint),
        };
        super::reset::on_destroy(
            ctx,
            at,
            || state.client_configuration.credentials(),
            state.on_destroy.as_ref(),
            Timeouts::delete(&state.timeouts),
        )
        .await
    }
}

/// A `client_configuration` value, when wholly known.
pub(crate) fn client_config_of(v: &Value) -> Option<ClientConfig> {
    let get = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    Some(ClientConfig {
        ca_certificate: get("ca_certificate")?,
        client_certificate: get("client_certificate")?,
        client_key: get("client_key")?,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("1.5h").unwrap(), Duration::from_secs(5400));
        assert_eq!(
            parse_duration("720h").unwrap(),
            Duration::from_secs(720 * 3600)
        );
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        for bad in ["", "10", "m", "10x", "1h-5m", "h1", "1..5s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn targets_and_versions() {
        let t = target("10.0.0.5", None);
        assert_eq!(t.endpoint, "10.0.0.5");
        assert!(t.node.is_none());
        let t = target("10.0.0.5", Some("10.0.0.2"));
        assert_eq!(t.endpoint, "10.0.0.2");
        assert_eq!(t.node.as_deref(), Some("10.0.0.5"));
        assert_eq!(target("a", Some("a")).node, None);
        assert_eq!(
            endpoint_attr("a", Some("b")),
            AttributePath::attr("endpoint")
        );
        assert_eq!(endpoint_attr("a", None), AttributePath::attr("node"));
        assert_eq!(version_of("v1.14.0-rc.1"), Some((1, 14)));
        assert_eq!(version_of("v1.13.9"), Some((1, 13)));
        assert_eq!(version_of("garbage"), None);
        assert!(refuses_reboot("v1.14.0"));
        assert!(refuses_reboot("v2.0.0"));
        assert!(!refuses_reboot("v1.13.9"));
    }

    #[test]
    fn modes_round_trip() {
        for m in MODES {
            assert_eq!(mode_name(&mode_of(Some(m))), *m);
        }
        assert_eq!(mode_name(&mode_of(None)), "auto");
    }

    #[test]
    fn try_mode_is_refused_with_the_reason() {
        use validators::Validator as _;
        let v = apply_mode_validator();
        let mut d = Diagnostics::new();
        v.validate(
            &AttributePath::attr("apply_mode"),
            &Value::string("try"),
            &mut d,
        );
        let text = format!("{d:?}");
        assert!(
            text.contains("rolls a configuration applied in try mode back"),
            "{text}"
        );
        for ok in MODES {
            let mut d = Diagnostics::new();
            v.validate(
                &AttributePath::attr("apply_mode"),
                &Value::string(*ok),
                &mut d,
            );
            assert!(!d.has_errors(), "{ok}");
        }
    }

    #[test]
    fn reboot_refusal_points_at_apply_mode() {
        let e = reboot_refused("10.0.0.5", "v1.14.0");
        let d = &e.diagnostics().0[0];
        assert_eq!(d.attribute, Some(AttributePath::attr("apply_mode")));
        assert!(
            d.detail.contains("v1.14.0") && d.detail.contains("no_reboot"),
            "{}",
            d.detail
        );
    }

    #[test]
    fn client_configuration_from_a_value() {
        let v = Value::object([
            ("ca_certificate", Value::string("a")),
            ("client_certificate", Value::string("b")),
            ("client_key", Value::string("c")),
        ]);
        let cc = client_config_of(&v).unwrap();
        assert_eq!(cc.client_key, "c");
        let v = Value::object([("ca_certificate", Value::unknown())]);
        assert!(client_config_of(&v).is_none());
    }
}
