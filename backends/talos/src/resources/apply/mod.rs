//! `homelab_talos_machine_configuration_apply`: a machine configuration
//! applied to one Talos node, with real drift detection.
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

mod read;
mod send;

use labforge_framework::Ctx;
use labforge_framework::schema::{Attribute, Schema, modifiers, validators};
use labforge_framework::{AttributePath, Diagnostics, Error, PlanChange, Resource, Result, Value};
use serde::{Deserialize, Serialize};

use crate::client::{ApplyMode, Client, NodeState};
use crate::config;
use crate::resources::node::{
    ClientConfig, client_config_of, endpoint_attr, import_node, node_attrs, plan_endpoint, target,
    version_of,
};
use crate::resources::timeouts::{Operation, Timeouts, timeouts_attr};

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
    /// The admin client configuration (null only right after an import:
    /// the configuration sets it).
    pub client_configuration: Option<ClientConfig>,
    /// The machine configuration to apply, before patches (null only right
    /// after an import: the configuration sets it).
    pub machine_configuration_input: Option<String>,
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

/// An attribute that is null in the plan or state: only right after an
/// import, before the configuration set it.
pub(crate) fn missing(attribute: &str) -> Error {
    Error::new(
        "Missing value",
        format!(
            "{attribute} is not set: after an import, set it in the configuration \
             (client_configuration = homelab_talos_machine_secrets.<name>.client_configuration, \
             machine_configuration_input = \
             data.homelab_talos_machine_configuration.<name>.machine_configuration)."
        ),
    )
    .at(AttributePath::attr(attribute))
}

/// The input of `m`, or the error saying to set it.
pub(crate) fn input_of(m: &ApplyModel) -> Result<&str> {
    m.machine_configuration_input
        .as_deref()
        .ok_or_else(|| missing("machine_configuration_input"))
}

/// The credentials of `m`, or the error saying to set them.
pub(crate) fn creds_of(m: &ApplyModel) -> Result<crate::client::Credentials> {
    m.client_configuration
        .as_ref()
        .ok_or_else(|| missing("client_configuration"))?
        .credentials()
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
        let mut s = node_attrs(s, true);
        if let Some(a) = s.attributes.get_mut("client_configuration") {
            a.import_hint = Some(crate::resources::node::CLIENT_CONFIGURATION_AFTER_IMPORT.into());
        }
        s.attribute(
            "machine_configuration_input",
            Attribute::string()
                .required()
                .sensitive()
                .describe(
                    "The machine configuration (YAML), e.g. from the \
                         `homelab_talos_machine_configuration` data source.",
                )
                .after_import(
                    "the configuration the node runs: \
                         `data.homelab_talos_machine_configuration.<name>.machine_configuration`, \
                         or `file(\"<the config you applied>.yaml\")`. If it equals what the node \
                         runs, the first apply only records it (nothing is sent).",
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
            // The same hash is the same configuration (the hash is of its
            // normalized form): what the node runs is kept, as written when it
            // was applied or imported, and nothing is to be sent.
            let same = !plan.creating() && prior_hash.as_deref() == Some(&hash);
            match prior_sent {
                Some(prior) if same || prior == sent => {
                    plan.set("machine_configuration", Value::string(prior));
                }
                // Known after apply (it is sensitive: the hash shows the change).
                _ => plan.set("machine_configuration", Value::unknown()),
            }
            if !plan.creating() && !same {
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
        let timeout = Timeouts::of(&plan.timeouts, Operation::Create);
        match send::write(ctx, plan.clone(), timeout, None).await {
            Ok(applied) => Ok(applied),
            Err(e) => Err(send::keep_if_installed(ctx, &plan, e).await),
        }
    }

    async fn read(&self, ctx: &Ctx<Client>, state: ApplyModel) -> Result<Option<ApplyModel>> {
        read::refresh(ctx, state).await
    }

    async fn update(
        &self,
        ctx: &Ctx<Client>,
        prior: ApplyModel,
        plan: ApplyModel,
    ) -> Result<ApplyModel> {
        let timeout = Timeouts::of(&plan.timeouts, Operation::Update);
        send::write(ctx, plan, timeout, prior.resolved_apply_mode.as_deref()).await
    }

    fn import_id_format(&self) -> Option<&'static str> {
        Some(
            "the node's address as the resource's `node` takes it, e.g. `10.0.0.11` (the \
             imported resource holds neither the configuration nor the credentials: set \
             `client_configuration` and `machine_configuration_input`; the first apply then \
             only records them when the node already runs that configuration)",
        )
    }

    async fn import(&self, ctx: &Ctx<Client>, id: &str) -> Result<ApplyModel> {
        let node = import_node(ctx.client(), id, |node| {
            Error::new(
                "Unable to import the machine configuration",
                format!(
                    "{node} is in maintenance mode: it runs no machine configuration yet, so \
                     there is nothing to import. Create the resource instead."
                ),
            )
        })
        .await?;
        let mut m = ApplyModel {
            id: Some(node.to_string()),
            node: node.to_string(),
            endpoint: Some(node.to_string()),
            client_configuration: None,
            machine_configuration_input: None,
            config_patches: None,
            apply_mode: Some("auto".into()),
            timeouts: None,
            on_destroy: None,
            machine_configuration: None,
            machine_configuration_hash: None,
            resolved_apply_mode: None,
        };
        // With a talosconfig (TALOSCONFIG), the node's running configuration
        // and that client certificate: a configuration setting the same
        // values then imports with no change at all.
        const SUMMARY: &str = "Unable to import the machine configuration";
        let Some(cc) = crate::resources::node::talosconfig_client(ctx.client())? else {
            return Ok(m);
        };
        let creds = cc.credentials()?;
        let running = ctx
            .client()
            .machine_config(&target(node, None), &creds, "v1alpha1")
            .await
            .map_err(|e| crate::resources::node::node_error(SUMMARY, node, &e))?;
        if let Some(text) = running {
            m.machine_configuration_hash = Some(config_hash(&text));
            m.machine_configuration = Some(text.clone());
            m.machine_configuration_input = Some(text);
            m.client_configuration = Some(cc);
        }
        Ok(m)
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
            || match &state.client_configuration {
                Some(cc) => cc.credentials(),
                None => Err(missing("client_configuration")),
            },
            state.on_destroy.as_ref(),
            Timeouts::of(&state.timeouts, Operation::Delete),
        )
        .await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn talos_1_14_refuses_reboot() {
        assert!(refuses_reboot("v1.14.0"));
        assert!(refuses_reboot("v2.0.0"));
        assert!(!refuses_reboot("v1.13.9"));
        assert!(!refuses_reboot("garbage"));
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
}
