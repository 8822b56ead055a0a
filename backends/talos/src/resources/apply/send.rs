//! Sending a machine configuration to a node and waiting until it runs it:
//! insecure in maintenance mode (install and reboot), mutual TLS once
//! configured; a lost answer is checked by reading the node's configuration
//! back, never by sending blindly again.

use std::time::{Duration, Instant};

use labforge_framework::{AttributePath, Ctx, Error, Result};
use tonic::Code;

use super::{
    ApplyModel, config_hash, desired, mode_name, mode_of, normalized, reboot_refused,
    refuses_reboot,
};
use crate::client::{
    ApplyMode, ApplyRequest, Auth, Client, Credentials, ErrorKind, NodeState, TalosError, Target,
};
use crate::config;
use crate::resources::node::{node_error, pause, probe, target};

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
    let wanted = desired(super::input_of(plan)?, &patches)?;
    let wanted_norm = normalized(&wanted)?;
    let creds = super::creds_of(plan)?;
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

/// After a failed create: if the node left maintenance mode, it installed
/// the configuration (an apply interrupted by Terraform's stop, or whose
/// wait ran out): keep the resource in state with what was sent (tainted:
/// the next apply resets the node and installs it again), so no configured
/// node is left outside Terraform's state. A node rebooting into the
/// configuration is waited for briefly (10 s); one still in maintenance
/// mode, or never reachable, took nothing.
pub(super) async fn keep_if_installed(ctx: &Ctx<Client>, plan: &ApplyModel, e: Error) -> Error {
    let Ok(creds) = super::creds_of(plan) else {
        return e;
    };
    let t = target(&plan.node, plan.endpoint.as_deref());
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        match ctx.client().node_state(&t, Some(&creds)).await {
            Ok(NodeState::Configured { .. }) => break,
            Err(x) if x.is_retryable() && Instant::now() < until => {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            _ => return e,
        }
    }
    let mut kept = plan.clone();
    let sent = super::input_of(plan)
        .and_then(|input| desired(input, &plan.config_patches.clone().unwrap_or_default()));
    if let Ok(sent) = sent {
        fill(&mut kept, sent, "auto".into());
    }
    tracing::info!(node = %plan.node, "the create failed but the node runs a configuration: kept in state");
    e.with_partial_state(&kept)
}

/// What a successful write computes.
fn fill(plan: &mut ApplyModel, sent: String, resolved: String) {
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
}

/// Apply `plan` (create, update) and fill in what it computes: the
/// configuration sent, its hash, the mode the node used.
pub(super) async fn write(
    ctx: &Ctx<Client>,
    mut plan: ApplyModel,
    timeout: Duration,
    prior_mode: Option<&str>,
) -> Result<ApplyModel> {
    let resolved = apply(ctx, &plan, timeout, prior_mode).await?;
    let patches = plan.config_patches.clone().unwrap_or_default();
    let sent = desired(super::input_of(&plan)?, &patches)?;
    fill(&mut plan, sent, resolved);
    Ok(plan)
}
