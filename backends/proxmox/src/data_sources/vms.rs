//! `homelab_proxmox_vms`: VMs matching filters, from the cluster list.

use labforge_framework::schema::{Attribute, Nesting, Schema, Validator, validators};
use labforge_framework::{AttributePath, Ctx, DataSource, Diagnostics, Error, Result, Type, Value};
use serde::{Deserialize, Serialize};

use super::{VmInfo, info};
use crate::Client;

/// The data source.
#[derive(Debug, Clone, Copy, Default)]
pub struct Vms;

/// The state model of `homelab_proxmox_vms`: VMs matching all the given
/// filters, sorted by VMID.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct VmsModel {
    /// `node`: only VMs on this node.
    pub node: Option<String>,
    /// `tags`: only VMs having all these tags.
    pub tags: Option<Vec<String>>,
    /// `name_regex`: only VMs whose name matches this regular expression.
    pub name_regex: Option<String>,
    /// `template`: only templates (`true`) or only VMs (`false`).
    pub template: Option<bool>,
    /// `vms` (computed): the matching VMs.
    pub vms: Option<Vec<VmInfo>>,
}

/// `pattern` matches `s` (unanchored), using the framework's regex
/// validators. An invalid pattern is refused at validate
/// ([`validators::regex`]); one only known at apply is refused here, never
/// taken as "matches everything".
fn regex_matches(pattern: &str, s: &str) -> Result<bool> {
    let path = AttributePath::attr("name_regex");
    let mut d = Diagnostics::new();
    validators::regex().validate(&path, &Value::string(pattern), &mut d);
    if let Some(bad) = d.iter().next() {
        return Err(Error::msg(bad.detail.clone()).at(path));
    }
    let v = validators::matches(pattern, "x");
    v.validate(&path, &Value::string(s), &mut d);
    Ok(d.is_empty())
}

impl DataSource for Vms {
    type Client = Client;
    type Model = VmsModel;
    const NAME: &'static str = "proxmox_vms";

    fn schema(&self) -> Schema {
        Schema::new(
            "VMs matching all the given filters, sorted by VMID (one cluster-wide request). The \
             list comes from the cluster status and may lag a few seconds behind changes.",
        )
        .attribute(
            "node",
            Attribute::string()
                .optional()
                .describe("Only VMs on this node."),
        )
        .attribute(
            "tags",
            Attribute::set(Type::String)
                .optional()
                .describe("Only VMs having all these tags."),
        )
        .attribute(
            "name_regex",
            Attribute::string()
                .optional()
                .describe("Only VMs whose name matches this regular expression.")
                .validator(validators::regex()),
        )
        .attribute(
            "template",
            Attribute::bool()
                .optional()
                .describe("Only templates (`true`) or only VMs (`false`)."),
        )
        .attribute(
            "vms",
            Attribute::nested(
                Nesting::List,
                [
                    ("node", Attribute::string().computed().describe("Node.")),
                    ("vm_id", Attribute::int().computed().describe("VMID.")),
                    ("name", Attribute::string().computed().describe("Name.")),
                    (
                        "tags",
                        Attribute::list(Type::String)
                            .computed()
                            .describe("Tags, sorted."),
                    ),
                    ("status", Attribute::string().computed().describe("Status.")),
                    (
                        "template",
                        Attribute::bool()
                            .computed()
                            .describe("Whether it is a template."),
                    ),
                ],
            )
            .computed()
            .describe("The matching VMs."),
        )
    }

    async fn read(&self, ctx: &Ctx<Client>, mut config: VmsModel) -> Result<VmsModel> {
        if let Some(re) = &config.name_regex {
            // A pattern only known now (unknown at validate): refused before
            // any request.
            regex_matches(re, "")?;
        }
        let c = ctx.client();
        let list = c
            .cluster_vms()
            .await
            .map_err(|e| Error::msg(format!("listing VMs: {e}")))?;
        let want: Vec<String> = config
            .tags
            .clone()
            .unwrap_or_default()
            .iter()
            .map(|t| t.to_ascii_lowercase())
            .collect();
        let mut out = Vec::new();
        for v in list.iter().filter_map(info) {
            if config.node.as_ref().is_some_and(|n| &v.node != n)
                || config.template.is_some_and(|t| t != v.template)
                || !want
                    .iter()
                    .all(|t| v.tags.iter().any(|x| x.eq_ignore_ascii_case(t)))
            {
                continue;
            }
            if let Some(re) = &config.name_regex
                && !regex_matches(re, v.name.as_deref().unwrap_or(""))?
            {
                continue;
            }
            out.push(v);
        }
        out.sort_by_key(|v| v.vm_id);
        config.vms = Some(out);
        Ok(config)
    }
}

#[cfg(test)]
mod regex_tests {
    use super::regex_matches;

    #[test]
    fn name_regex_is_unanchored_and_an_invalid_one_is_an_error() {
        assert!(regex_matches("^talos-", "talos-cp1").unwrap());
        assert!(regex_matches("cp", "talos-cp1").unwrap());
        assert!(!regex_matches("^w", "talos-cp1").unwrap());
        let err = regex_matches("(unclosed", "anything")
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not a regular expression"), "{err}");
    }
}
