//! `homelab_pfsense_firewall_alias`: a host, network or port alias.
//!
//! Found by its name (unique, not editable: a new name replaces the alias);
//! its position is looked up again before every write. pfSense-pkg-RESTAPI
//! v2.10 does not refuse deleting an alias that rules still use (the next
//! filter reload then fails), so the delete checks the rules and aliases
//! that name it first.

use labforge_framework::schema::{Attribute, Schema, modifiers, validators};
use labforge_framework::{
    AttributePath, Ctx, Diagnostics, Error, Nesting, PlanChange, Resource, Result, Value,
};
use serde::{Deserialize, Serialize};

use super::common::{api, applied_attribute, apply_failed};
use crate::client::Client;
use crate::model::{self, ALIAS_TYPES, Alias, AliasSpec, MAX_TEXT, Rule};

/// The resource.
#[derive(Debug, Clone, Copy, Default)]
pub struct FirewallAlias;

/// How long a delete waits for the rules that use the alias to change.
const REFERENCE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// One entry: an address (or port) and its description.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// An IP address or host name (host), a subnet or host name (network), a
    /// port or `start:end` range (port), or another alias's name.
    pub address: String,
    /// The entry's description (no `||`); `None`: empty.
    pub description: Option<String>,
}

/// The alias, as configured and stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AliasModel {
    /// The alias name.
    pub id: Option<String>,
    /// The name rules refer to the alias by (letters, digits, `_`; at most 31).
    pub name: String,
    /// `type`: `host`, `network` or `port`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The alias description; `None`: empty.
    pub description: Option<String>,
    /// The entries, in order.
    pub entries: Vec<Entry>,
    /// Whether the last apply made the changes live; `false`: the apply
    /// failed and the next plan applies again. `None`: not yet known.
    pub applied: Option<bool>,
}

impl AliasModel {
    fn spec(&self) -> AliasSpec {
        AliasSpec {
            name: self.name.clone(),
            kind: self.kind.clone(),
            descr: self.description.clone().unwrap_or_default(),
            address: self.entries.iter().map(|e| e.address.clone()).collect(),
            detail: self
                .entries
                .iter()
                .map(|e| e.description.clone().unwrap_or_default())
                .collect(),
        }
    }

    fn of(a: &AliasSpec, applied: bool) -> AliasModel {
        AliasModel {
            id: Some(a.name.clone()),
            name: a.name.clone(),
            kind: a.kind.clone(),
            description: Some(a.descr.clone()),
            entries: a
                .address
                .iter()
                .enumerate()
                .map(|(i, address)| Entry {
                    address: address.clone(),
                    description: Some(a.detail.get(i).cloned().unwrap_or_default()),
                })
                .collect(),
            applied: Some(applied),
        }
    }
}

/// Whether the rule uses alias `name` (as an address or a port).
fn rule_uses(r: &Rule, name: &str) -> bool {
    let s = &r.spec;
    [&s.source, &s.destination]
        .iter()
        .any(|a| a.strip_prefix('!').unwrap_or(a) == name)
        || [&s.source_port, &s.destination_port]
            .iter()
            .any(|p| p.as_deref() == Some(name))
}

/// What still uses alias `name`: rules and other aliases, for people.
fn users(name: &str, rules: &[Rule], aliases: &[Alias]) -> Vec<String> {
    let mut out: Vec<String> = rules
        .iter()
        .filter(|r| rule_uses(r, name))
        .map(|r| {
            format!(
                "rule {} on {} ({:?})",
                r.tracker
                    .map_or_else(|| format!("#{}", r.id), |t| t.to_string()),
                r.interfaces.join(","),
                r.spec.descr
            )
        })
        .collect();
    out.extend(
        aliases
            .iter()
            .filter(|a| a.spec.name != name && a.spec.address.iter().any(|x| x == name))
            .map(|a| format!("alias {}", a.spec.name)),
    );
    out
}

fn fail(verb: &str, e: impl std::fmt::Display) -> Error {
    Error::new(format!("Unable to {verb} firewall alias"), e.to_string())
}

async fn commit(
    c: &Client,
    session: crate::client::Session,
    force: bool,
    model: AliasModel,
    verb: &str,
) -> Result<AliasModel> {
    match c.commit(session, force).await {
        Ok(_) => Ok(model),
        Err(msg) => {
            let mut st = model;
            st.applied = Some(false);
            Err(Error::new(
                format!("Unable to apply firewall alias ({verb})"),
                format!("alias {:?}: {}", st.name, apply_failed(&msg)),
            )
            .with_partial_state(&st))
        }
    }
}

impl Resource for FirewallAlias {
    type Client = Client;
    type Model = AliasModel;
    const NAME: &'static str = "pfsense_firewall_alias";

    fn schema(&self) -> Schema {
        Schema::new(
            "A firewall alias: a named list of hosts, networks or ports that rules use as an \
             address or port. Found by its name; renaming replaces it. Deleting an alias that \
             rules or other aliases still use is refused after waiting 5 seconds for them to change \
             in the same run (pfSense-pkg-RESTAPI would accept it, and the next filter reload would \
             fail). Changes are applied once per run with the other \
             pfSense resources whose writes end together (see \
             `homelab_pfsense_firewall_ruleset`).",
        )
        .attribute(
            "id",
            Attribute::string()
                .computed()
                .describe("The alias name.")
                .plan_modifier(modifiers::use_state_for_unknown()),
        )
        .attribute(
            "name",
            Attribute::string()
                .required()
                .describe(
                    "The name: letters, digits and `_`, at most 31, not all digits, not starting \
                     with `pkg_`, not a reserved word or an interface name. Changing it replaces \
                     the alias.",
                )
                .validator(validators::from_fn(
                    "A valid pfSense alias name.",
                    |v| match v.as_str().and_then(model::alias_name_problem) {
                        Some(p) => Err(p),
                        None => Ok(()),
                    },
                ))
                .plan_modifier(modifiers::requires_replace()),
        )
        .attribute(
            "type",
            Attribute::string()
                .required()
                .describe(
                    "`host` (IP addresses and host names), `network` (subnets and host names) or \
                     `port` (ports and `start:end` ranges). pfSense's URL aliases are not in the \
                     REST API (v2.10 refuses them).",
                )
                .validator(validators::from_fn(
                    "One of `host`, `network`, `port`.",
                    |v| match v.as_str() {
                        Some(t) if ALIAS_TYPES.contains(&t) => Ok(()),
                        Some(t) if t.starts_with("url") => Err(format!(
                            "{t:?}: pfSense-pkg-RESTAPI v2.10 has no URL aliases (its FirewallAlias type \
                             is host, network or port and refuses {t:?}); manage URL aliases in the GUI"
                        )),
                        Some(t) => Err(format!("{t:?} is not host, network or port")),
                        None => Ok(()),
                    },
                )),
        )
        .attribute(
            "description",
            Attribute::string()
                .default("")
                .describe("The alias description.")
                .validator(validators::length_between(0, MAX_TEXT)),
        )
        .attribute(
            "entries",
            Attribute::nested(
                Nesting::List,
                [
                    (
                        "address",
                        Attribute::string().required().describe(
                            "An IP address or host name (host), a subnet or host name (network), \
                             a port or `start:end` range (port), or another alias's name.",
                        ),
                    ),
                    (
                        "description",
                        Attribute::string()
                            .default("")
                            .describe("The entry's description (no `||`).")
                            .validator(validators::from_fn("No `||`.", |v| {
                                match v.as_str() {
                                    Some(s) if s.contains("||") => Err(
                                        "pfSense stores entry descriptions joined by `||`".into(),
                                    ),
                                    _ => Ok(()),
                                }
                            })),
                    ),
                ],
            )
            .required()
            .describe("The entries, in order."),
        )
        .attribute("applied", applied_attribute())
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        let mut d = Diagnostics::new();
        let Some(kind) = config.get("type").and_then(Value::as_str) else {
            return d;
        };
        for (i, e) in config
            .get("entries")
            .and_then(Value::elements)
            .unwrap_or(&[])
            .iter()
            .enumerate()
        {
            let at = AttributePath::attr("entries")
                .join_index(i as i64)
                .join_attr("address");
            if let Some(a) = e.get("address").and_then(Value::as_str)
                && let Some(p) = model::alias_entry_problem(kind, a)
            {
                d.attribute_error(at.clone(), "Invalid attribute value", format!("{at}: {p}"));
            }
        }
        d
    }

    fn import_id_format(&self) -> Option<&'static str> {
        Some("The alias name, e.g. `web_servers`.")
    }

    async fn modify_plan(&self, ctx: &Ctx<Client>, plan: &mut PlanChange<'_>) -> Result<()> {
        if plan.destroying() {
            return Ok(());
        }
        plan.set("applied", Value::bool(true));
        if let Some(n) = plan.config_attr("name").as_str().map(str::to_string) {
            plan.set("id", Value::string(&n));
            // FilterNameValidator: not an interface's internal name.
            if let Ok(ifs) = ctx.client().interfaces().await
                && ifs.list.iter().any(|i| i.id == n)
            {
                plan.diagnostics.attribute_error(
                    AttributePath::attr("name"),
                    "Invalid attribute value",
                    format!("name: {n:?} is the name of an interface on this pfSense"),
                );
            }
        }
        // A type change between port and address kinds breaks the rules
        // that use the alias: pfSense does not check.
        let (old, new) = (
            plan.prior_attr("type").as_str().map(str::to_string),
            plan.config_attr("type").as_str().map(str::to_string),
        );
        if let (Some(old), Some(new), Some(name)) = (
            old,
            new,
            plan.prior_attr("name").as_str().map(str::to_string),
        ) && (old == "port") != (new == "port")
            && let Ok(rules) = ctx.client().rules(false).await
        {
            let used: Vec<String> = rules
                .iter()
                .filter(|r| rule_uses(r, &name))
                .map(|r| format!("{:?}", r.spec.descr))
                .collect();
            if !used.is_empty() {
                plan.diagnostics.attribute_error(
                    AttributePath::attr("type"),
                    "Invalid attribute value",
                    format!(
                        "type: alias {name:?} is used by rules ({}); changing it from {old} to {new} \
                         would break them",
                        used.join(", ")
                    ),
                );
            }
        }
        Ok(())
    }

    async fn create(&self, ctx: &Ctx<Client>, plan: AliasModel) -> Result<AliasModel> {
        let c = ctx.client();
        let spec = plan.spec();
        let mut session = c.session();
        let writing = c.exclusive().await;
        let made = match c.create_alias(&mut session, &spec).await {
            Ok(a) => a.spec,
            Err(e) if e.is_lost() => {
                let aliases = c.aliases(true).await.map_err(|e| fail("create", e))?;
                match aliases.iter().find(|a| a.spec.name == spec.name) {
                    Some(a) if a.spec.address == spec.address && a.spec.kind == spec.kind => {
                        a.spec.clone()
                    }
                    _ => return Err(fail("create", e)),
                }
            }
            Err(e) => return Err(fail("create", e)),
        };
        drop(writing);
        commit(c, session, false, AliasModel::of(&made, true), "create").await
    }

    async fn read(&self, ctx: &Ctx<Client>, state: AliasModel) -> Result<Option<AliasModel>> {
        let aliases = ctx
            .client()
            .aliases(false)
            .await
            .map_err(|e| fail("read", e))?;
        Ok(aliases
            .iter()
            .find(|a| a.spec.name == state.name)
            .map(|a| AliasModel::of(&a.spec, state.applied.unwrap_or(true))))
    }

    async fn update(
        &self,
        ctx: &Ctx<Client>,
        prior: AliasModel,
        plan: AliasModel,
    ) -> Result<AliasModel> {
        let c = ctx.client();
        let spec = plan.spec();
        let mut session = c.session();
        let writing = c.exclusive().await;
        let aliases = c.aliases(true).await.map_err(|e| fail("update", e))?;
        let Some(current) = aliases.iter().find(|a| a.spec.name == prior.name) else {
            return Err(fail(
                "update",
                super::common::gone(&format!("alias {:?}", prior.name)),
            ));
        };
        let now = if current.spec == spec {
            current.spec.clone()
        } else {
            match c.update_alias(&mut session, current.id, &spec).await {
                Ok(a) => a.spec,
                Err(e) if e.is_lost() => {
                    let aliases = c.aliases(true).await.map_err(|e| fail("update", e))?;
                    match aliases.iter().find(|a| a.spec.name == spec.name) {
                        Some(a) if a.spec == spec => a.spec.clone(),
                        _ => return Err(fail("update", e)),
                    }
                }
                Err(e) => return Err(fail("update", e)),
            }
        };
        drop(writing);
        commit(
            c,
            session,
            prior.applied == Some(false),
            AliasModel::of(&now, true),
            "update",
        )
        .await
    }

    async fn delete(&self, ctx: &Ctx<Client>, state: AliasModel) -> Result<()> {
        let c = ctx.client();
        let mut session = c.session();
        // Rules that use the alias may be changing in this same run (Terraform
        // does not order an update of a ruleset before the destroy of an alias
        // it no longer names): look again for a while before refusing.
        let deadline = std::time::Instant::now() + REFERENCE_WAIT;
        loop {
            let writing = c.exclusive().await;
            let aliases = c.aliases(true).await.map_err(|e| fail("delete", e))?;
            let Some(a) = aliases.iter().find(|a| a.spec.name == state.name) else {
                break;
            };
            let rules = c.rules(true).await.map_err(|e| fail("delete", e))?;
            let used = users(&state.name, &rules, &aliases);
            if !used.is_empty() {
                drop(writing);
                if std::time::Instant::now() < deadline {
                    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                    continue;
                }
                return Err(fail(
                    "delete",
                    format!(
                        "alias {:?} is still used by {}. pfSense would delete it anyway and its next \
                         filter reload would fail. Change or remove those rules first: Terraform \
                         destroys an alias before it updates a ruleset that stops naming it, so apply \
                         the rule change, then remove the alias (destroying a ruleset or rule together \
                         with its alias works in one run).",
                        state.name,
                        used.join("; ")
                    ),
                ));
            }
            match c.delete_alias(&mut session, a.id).await {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) if e.is_lost() => {
                    let after = c.aliases(true).await.map_err(|e| fail("delete", e))?;
                    if after.iter().any(|x| x.spec.name == state.name) {
                        return Err(fail("delete", e));
                    }
                }
                Err(e) => return Err(fail("delete", e)),
            }
            break;
        }
        c.commit(session, state.applied == Some(false))
            .await
            .map(|_| ())
            .map_err(|msg| {
                Error::new(
                    "Unable to apply firewall alias (delete)",
                    format!("alias {:?}: {}", state.name, apply_failed(&msg)),
                )
            })
    }

    async fn import(&self, ctx: &Ctx<Client>, id: &str) -> Result<AliasModel> {
        let aliases = ctx.client().aliases(false).await.map_err(|e| {
            api("listing the aliases", e).context("Unable to import firewall alias")
        })?;
        aliases
            .iter()
            .find(|a| a.spec.name == id)
            .map(|a| AliasModel::of(&a.spec, true))
            .ok_or_else(|| {
                Error::new(
                    "Unable to import firewall alias",
                    format!("pfSense has no alias named {id:?}."),
                )
            })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::client::codec;
    use serde_json::json;

    #[test]
    fn references_are_found_in_rules_and_aliases() {
        let r = codec::rule(&json!({
            "id": 0, "type": "pass", "interface": ["LAN"], "ipprotocol": "inet",
            "protocol": "tcp", "source": "!web", "destination": "any",
            "destination_port": "web_ports", "descr": "x", "tracker": 5
        }))
        .unwrap();
        assert!(rule_uses(&r, "web"));
        assert!(rule_uses(&r, "web_ports"));
        assert!(!rule_uses(&r, "we"));
        let a = codec::alias(&json!({"id": 0, "name": "all_web", "type": "host",
            "address": ["web", "10.0.0.9"], "detail": ["", ""]}))
        .unwrap();
        let u = users("web", &[r], &[a]);
        assert_eq!(u.len(), 2, "{u:?}");
        assert!(FirewallAlias.schema().definition_errors().is_empty());
    }

    #[test]
    fn entries_are_checked_against_the_type() {
        let s = Value::string;
        let config = Value::object([
            ("name", s("web")),
            ("type", s("host")),
            (
                "entries",
                Value::list([
                    Value::object([("address", s("10.0.0.1"))]),
                    Value::object([("address", s("10.0.0.0/24"))]),
                ]),
            ),
        ]);
        let d = FirewallAlias.validate(&config);
        assert_eq!(d.0.len(), 1, "{d:?}");
        assert_eq!(
            d.0[0].attribute.as_ref().unwrap().to_string(),
            "entries[1].address"
        );
    }
}
