//! `homelab_pfsense_firewall_rule`: one firewall rule, found by its tracker.
//!
//! A new rule goes to the end of its interface's rules (pfSense appends
//! it). The rule is found again by its `tracker` and, where trackers
//! collide (rules made in the same second), by its settings; its position
//! is looked up again right before every write.

use labforge_framework::schema::{Attribute, Schema, modifiers, validators};
use labforge_framework::{
    AttributePath, Ctx, Diagnostics, Error, PlanChange, Resource, Result, Value,
};
use serde::{Deserialize, Serialize};

use super::common::{
    RuleAttrs, api, applied_attribute, apply_failed, check_names, check_rule, rule_attributes,
};
use crate::client::Client;
use crate::model::{Rule, RuleSpec};

/// The resource.
#[derive(Debug, Clone, Copy, Default)]
pub struct FirewallRule;

/// One rule, as configured and stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RuleModel {
    /// The rule's tracker, as a string.
    pub id: Option<String>,
    /// The interface, as pfSense's REST API names it (`LAN` by default).
    pub interface: String,
    /// `type`: `pass`, `block` (drop silently) or `reject`; `None`: unset (`pass` is sent).
    #[serde(rename = "type")]
    pub action: Option<String>,
    /// IP version: `inet` (IPv4), `inet6` (IPv6) or `inet46` (both); `None`: `inet`.
    pub ipprotocol: Option<String>,
    /// The protocol (one of [`PROTOCOLS`](crate::model::PROTOCOLS)); `None`: any protocol.
    pub protocol: Option<String>,
    /// ICMP types, with `protocol = "icmp"` only; `None`: any (pfSense stores `["any"]`).
    pub icmptype: Option<Vec<String>>,
    /// An IP address, subnet, alias, interface (`LAN`, `LAN:ip`), `any`, `(self)`,
    /// `l2tp` or `pppoe`; `!` in front inverts. `None`: `any`.
    pub source: Option<String>,
    /// A port, a range `start:end` or a port alias, with `tcp`, `udp` or
    /// `tcp/udp` only; `None`: any port.
    pub source_port: Option<String>,
    /// As `source`, for the destination.
    pub destination: Option<String>,
    /// As `source_port`, for the destination.
    pub destination_port: Option<String>,
    /// The rule's description (pfSense's `descr`).
    pub description: Option<String>,
    /// Keep the rule but do not use it; `None`: `false`.
    pub disabled: Option<bool>,
    /// Log the packets the rule matches; `None`: `false`.
    pub log: Option<bool>,
    /// State tracking (one of [`STATE_TYPES`](crate::model::STATE_TYPES)); `None`: `keep state`.
    pub statetype: Option<String>,
    /// A gateway or gateway group for policy routing; `None`: the default route.
    pub gateway: Option<String>,
    /// A firewall schedule that limits when the rule applies; `None`: always.
    pub sched: Option<String>,
    /// pfSense's tracker: the Unix time (seconds) of the rule's creation, its
    /// identity; `None` until the rule exists.
    pub tracker: Option<i64>,
    /// Whether the last apply made the changes live; `false`: the apply
    /// failed and the next plan applies again. `None`: not yet known.
    pub applied: Option<bool>,
}

impl RuleModel {
    fn attrs(&self) -> RuleAttrs {
        RuleAttrs {
            action: self.action.clone(),
            ipprotocol: self.ipprotocol.clone(),
            protocol: self.protocol.clone(),
            icmptype: self.icmptype.clone(),
            source: self.source.clone(),
            source_port: self.source_port.clone(),
            destination: self.destination.clone(),
            destination_port: self.destination_port.clone(),
            description: self.description.clone(),
            disabled: self.disabled,
            log: self.log,
            statetype: self.statetype.clone(),
            gateway: self.gateway.clone(),
            sched: self.sched.clone(),
            tracker: self.tracker,
        }
    }

    fn spec(&self) -> RuleSpec {
        self.attrs().spec(
            &self.interface,
            self.description.clone().unwrap_or_default(),
        )
    }

    /// The model of what pfSense has; `reference` keeps spellings.
    fn of(r: &Rule, reference: Option<&RuleModel>, applied: bool) -> RuleModel {
        let a = RuleAttrs::from_spec(
            &r.spec,
            r.spec.descr.clone(),
            r.tracker,
            reference.map(RuleModel::attrs).as_ref(),
        );
        RuleModel {
            id: r.tracker.map(|t| t.to_string()),
            interface: r.spec.interface.clone(),
            action: a.action,
            ipprotocol: a.ipprotocol,
            protocol: a.protocol,
            icmptype: a.icmptype,
            source: a.source,
            source_port: a.source_port,
            destination: a.destination,
            destination_port: a.destination_port,
            description: a.description,
            disabled: a.disabled,
            log: a.log,
            statetype: a.statetype,
            gateway: a.gateway,
            sched: a.sched,
            tracker: a.tracker,
            applied: Some(applied),
        }
    }
}

/// The rule with this tracker; where several share it, the one with these
/// settings (or this description). `Err`: several, none telling.
fn find<'a>(rules: &'a [Rule], tracker: i64, like: &RuleSpec) -> Result<Option<&'a Rule>, String> {
    let c: Vec<&Rule> = rules
        .iter()
        .filter(|r| r.tracker == Some(tracker) && !r.floating)
        .collect();
    match c.as_slice() {
        [] => Ok(None),
        // A lone rule with this tracker is ours unless it looks like
        // another rule altogether: rules made in the same second share a
        // tracker, so when ours was deleted outside Terraform the other
        // one is the only candidate left (found by the acceptance fault
        // matrix: it was read back as both and rewritten into ours).
        [one] if plausibly_same(&one.spec, like) => Ok(Some(one)),
        [_] => Ok(None),
        many => {
            let want = like.normalized();
            if let Some(r) = many.iter().find(|r| r.spec.normalized() == want) {
                return Ok(Some(r));
            }
            let same_descr: Vec<&&Rule> =
                many.iter().filter(|r| r.spec.descr == like.descr).collect();
            if let [one] = same_descr.as_slice() {
                return Ok(Some(one));
            }
            // None like ours at all: ours is gone, the others are other
            // rules made in the same second (a ruleset's, another resource's).
            let plausible: Vec<&&Rule> = many
                .iter()
                .filter(|r| plausibly_same(&r.spec, like))
                .collect();
            match plausible.as_slice() {
                [] => return Ok(None),
                [one] => return Ok(Some(one)),
                _ => {}
            }
            Err(format!(
                "{} rules share tracker {tracker} (made in the same second) and none has these \
                 settings: positions {}",
                many.len(),
                many.iter()
                    .map(|r| r.id.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        }
    }
}

/// Whether `found` may be `like` changed outside Terraform: the same
/// description, or the same interface and action (an edit that changes the
/// description and the interface or action too is taken for another rule).
fn plausibly_same(found: &RuleSpec, like: &RuleSpec) -> bool {
    found.descr == like.descr
        || (found.interface == like.interface && found.action == like.action)
        || found.normalized() == like.normalized()
}

fn tracker_of(m: &RuleModel) -> Result<i64> {
    m.tracker
        .or_else(|| m.id.as_deref().and_then(|i| i.parse().ok()))
        .ok_or_else(|| Error::msg("the state has no tracker for this rule"))
}

fn check_marker(description: &str) -> Option<String> {
    let rest = description.strip_prefix('[')?;
    let (name, after) = rest.split_once(']')?;
    let is_marker = !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        && (after.is_empty() || after.starts_with(' '));
    is_marker.then(|| {
        format!(
            "a description starting with `[{name}]` marks the rule as owned by the ruleset of owner \
             {name:?} on its interface, which would take it over; choose another description"
        )
    })
}

async fn commit(
    c: &Client,
    session: crate::client::Session,
    force: bool,
    model: RuleModel,
    verb: &str,
) -> Result<RuleModel> {
    match c.commit(session, force).await {
        Ok(_) => Ok(model),
        Err(msg) => {
            let mut st = model;
            st.applied = Some(false);
            Err(Error::new(
                format!("Unable to apply firewall rule ({verb})"),
                apply_failed(&msg),
            )
            .with_partial_state(&st))
        }
    }
}

fn fail(verb: &str, e: impl std::fmt::Display) -> Error {
    Error::new(format!("Unable to {verb} firewall rule"), e.to_string())
}

impl Resource for FirewallRule {
    type Client = Client;
    type Model = RuleModel;
    const NAME: &'static str = "pfsense_firewall_rule";

    fn schema(&self) -> Schema {
        let mut s = Schema::new(
            "One firewall rule. A new rule goes to the end of its interface's rules (use \
             `homelab_pfsense_firewall_ruleset` to manage an order; not on an interface whose \
             ruleset is `exclusive`, which owns every rule there). The rule is found by its \
             `tracker` (the second it was made) and, where trackers collide, by its settings; its \
             position is looked up again before every write, since positions shift with every \
             change.\n\nChanges are applied once per run together with the other pfSense \
             resources whose writes end together (see `homelab_pfsense_firewall_ruleset`); a \
             failed apply is reported with pfSense's message and recorded as `applied = false`.",
        )
        .attribute(
            "id",
            Attribute::string()
                .computed()
                .describe("The rule's tracker, as a string.")
                .plan_modifier(modifiers::use_state_for_unknown()),
        )
        .attribute(
            "interface",
            Attribute::string()
                .required()
                .describe(
                    "The interface, as pfSense's REST API names it (`LAN` by default). Checked \
                     against pfSense at plan.",
                )
                .validator(validators::matches(
                    "^[A-Za-z0-9_.]{1,64}$",
                    "an interface name (letters, digits, `_`, `.`)",
                )),
        );
        for (name, a) in rule_attributes() {
            let a = if name == "tracker" {
                a.plan_modifier(modifiers::use_state_for_unknown())
            } else {
                a
            };
            s = s.attribute(name, a);
        }
        s.attribute("applied", applied_attribute())
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        let mut d = Diagnostics::new();
        check_rule(config, &AttributePath::root(), &mut d);
        if let Some(p) = config
            .get("description")
            .and_then(Value::as_str)
            .and_then(check_marker)
        {
            d.attribute_error(
                AttributePath::attr("description"),
                "Invalid attribute value",
                format!("description: {p}"),
            );
        }
        d
    }

    fn import_id_format(&self) -> Option<&'static str> {
        Some(
            "The rule's tracker, e.g. `1700000000` (shown by the REST API and the GUI's rule editor).",
        )
    }

    async fn modify_plan(&self, ctx: &Ctx<Client>, plan: &mut PlanChange<'_>) -> Result<()> {
        if plan.destroying() {
            return Ok(());
        }
        plan.set("applied", Value::bool(true));
        let mut names = Vec::new();
        for k in ["source", "destination"] {
            if let Some(v) = plan.config_attr(k).as_str() {
                names.push((v.to_string(), AttributePath::attr(k)));
            }
        }
        let interface = plan.config_attr("interface").as_str().map(str::to_string);
        let mut d = Diagnostics::new();
        check_names(
            ctx.client(),
            interface
                .as_deref()
                .map(|i| (i, AttributePath::attr("interface"))),
            &names,
            &mut d,
        )
        .await;
        plan.diagnostics.extend(d);
        Ok(())
    }

    async fn create(&self, ctx: &Ctx<Client>, plan: RuleModel) -> Result<RuleModel> {
        let c = ctx.client();
        let spec = plan.spec();
        let mut session = c.session();
        let writing = c.exclusive().await;
        let made = match c.create_rule(&mut session, &spec, None).await {
            Ok(r) => r,
            Err(e) if e.is_lost() => {
                // Appended or not at all: the last rule tells.
                let rules = c.rules(true).await.map_err(|e| fail("create", e))?;
                match rules.last() {
                    Some(r) if r.spec.normalized() == spec.normalized() => r.clone(),
                    _ => return Err(fail("create", e)),
                }
            }
            Err(e) => return Err(fail("create", e)),
        };
        drop(writing);
        let model = RuleModel::of(&made, Some(&plan), true);
        commit(c, session, false, model, "create").await
    }

    async fn read(&self, ctx: &Ctx<Client>, state: RuleModel) -> Result<Option<RuleModel>> {
        let tracker = tracker_of(&state)?;
        let rules = ctx
            .client()
            .rules(false)
            .await
            .map_err(|e| fail("read", e))?;
        let found = find(&rules, tracker, &state.spec()).map_err(|e| fail("read", e))?;
        Ok(found.map(|r| RuleModel::of(r, Some(&state), state.applied.unwrap_or(true))))
    }

    async fn update(
        &self,
        ctx: &Ctx<Client>,
        prior: RuleModel,
        plan: RuleModel,
    ) -> Result<RuleModel> {
        let c = ctx.client();
        let tracker = tracker_of(&prior)?;
        let spec = plan.spec();
        let mut session = c.session();
        let writing = c.exclusive().await;
        let rules = c.rules(true).await.map_err(|e| fail("update", e))?;
        let Some(current) = find(&rules, tracker, &prior.spec()).map_err(|e| fail("update", e))?
        else {
            return Err(fail(
                "update",
                super::common::gone(&format!("the rule with tracker {tracker}")),
            ));
        };
        let r = if current.spec.normalized() == spec.normalized() {
            current.clone()
        } else {
            match c.update_rule(&mut session, current.id, &spec, None).await {
                Ok(r) => r,
                Err(e) if e.is_lost() => {
                    let rules = c.rules(true).await.map_err(|e| fail("update", e))?;
                    match find(&rules, tracker, &spec) {
                        Ok(Some(r)) if r.spec.normalized() == spec.normalized() => r.clone(),
                        _ => return Err(fail("update", e)),
                    }
                }
                Err(e) => return Err(fail("update", e)),
            }
        };
        drop(writing);
        let model = RuleModel::of(&r, Some(&plan), true);
        commit(c, session, prior.applied == Some(false), model, "update").await
    }

    async fn delete(&self, ctx: &Ctx<Client>, state: RuleModel) -> Result<()> {
        let c = ctx.client();
        let tracker = tracker_of(&state)?;
        let mut session = c.session();
        let writing = c.exclusive().await;
        let rules = c.rules(true).await.map_err(|e| fail("delete", e))?;
        if let Some(r) = find(&rules, tracker, &state.spec()).map_err(|e| fail("delete", e))? {
            match c.delete_rule(&mut session, r.id).await {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) if e.is_lost() => {
                    let rules = c.rules(true).await.map_err(|e| fail("delete", e))?;
                    // Gone: the delete was made.
                    if rules.iter().any(|x| x.fingerprint == r.fingerprint) {
                        return Err(fail("delete", e));
                    }
                }
                Err(e) => return Err(fail("delete", e)),
            }
        }
        drop(writing);
        c.commit(session, state.applied == Some(false))
            .await
            .map(|_| ())
            .map_err(|msg| Error::new("Unable to apply firewall rule (delete)", apply_failed(&msg)))
    }

    async fn import(&self, ctx: &Ctx<Client>, id: &str) -> Result<RuleModel> {
        let (t, descr) = match id.split_once('/') {
            Some((t, d)) => (t, Some(d)),
            None => (id, None),
        };
        let tracker: i64 = t.trim().parse().map_err(|_| {
            Error::new(
                "Unable to import firewall rule",
                format!(
                    "{id:?} is not `tracker` or `tracker/description` (e.g. 1700000000, or \
                     1700000000/allow ssh where rules share the tracker)."
                ),
            )
        })?;
        let rules =
            ctx.client().rules(false).await.map_err(|e| {
                api("listing the rules", e).context("Unable to import firewall rule")
            })?;
        let matching: Vec<&Rule> = rules
            .iter()
            .filter(|r| r.tracker == Some(tracker) && !r.floating)
            .filter(|r| descr.is_none_or(|d| r.spec.descr == d))
            .collect();
        match matching.as_slice() {
            [one] => {
                if let Some((summary, detail)) = unmanaged_warning(one) {
                    ctx.warn(summary, detail);
                }
                Ok(RuleModel::of(one, None, true))
            }
            [] => Err(Error::new(
                "Unable to import firewall rule",
                format!(
                    "pfSense has no (non-floating) rule {id:?} (tracker{}).",
                    if descr.is_some() {
                        " and description"
                    } else {
                        ""
                    }
                ),
            )),
            many => Err(Error::new(
                "Unable to import firewall rule",
                format!(
                    "{} rules share tracker {tracker} (made in the same second: positions {}); \
                     import `{tracker}/<description>` to name one.",
                    many.len(),
                    many.iter()
                        .map(|r| format!("{} {:?}", r.id, r.spec.descr))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        }
    }
}

/// The warning an import owes when the rule has settings the resource
/// does not manage (`tag`, `tcp_flags_*`, limiters, ...: pfSense-pkg-RESTAPI
/// returns them with the rule): neither the imported state nor the
/// configuration Terraform generates from it holds them, so the empty plan
/// after the import does not mean the configuration describes the rule.
fn unmanaged_warning(r: &Rule) -> Option<(String, String)> {
    if r.unmanaged.is_empty() {
        return None;
    }
    let which = match r.tracker {
        Some(t) => format!("tracker {t}"),
        None => format!("at position {}", r.id),
    };
    Some((
        "Imported firewall rule has settings not managed here".to_string(),
        format!(
            "Firewall rule {which} {:?} has settings this resource does not manage: {}. They \
             stay on pfSense (updates leave them alone) but are neither in the state nor in the \
             configuration: a rule made again (a replacement, or after a deletion by hand) would \
             lack them. Keep them in mind, or manage the rule another way.",
            r.spec.descr,
            r.unmanaged.join(", ")
        ),
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn spec(interface: &str, action: &str, descr: &str) -> RuleSpec {
        RuleSpec {
            action: action.into(),
            interface: interface.into(),
            ipprotocol: "inet".into(),
            protocol: None,
            icmptype: None,
            source: "any".into(),
            source_port: None,
            destination: "any".into(),
            destination_port: None,
            descr: descr.into(),
            disabled: false,
            log: false,
            statetype: "keep state".into(),
            gateway: None,
            sched: None,
        }
    }

    fn rule(id: usize, tracker: i64, spec: RuleSpec) -> Rule {
        Rule {
            id,
            tracker: Some(tracker),
            floating: false,
            interfaces: vec![spec.interface.clone()],
            associated: false,
            spec,
            fingerprint: String::new(),
            unmanaged: Vec::new(),
        }
    }

    #[test]
    fn a_lone_rule_sharing_the_tracker_is_not_taken_for_a_deleted_one() {
        let ssh = spec("lan", "pass", "fm ssh");
        let block = spec("wan", "block", "fm block");
        // Both made in the same second; "block" was deleted outside Terraform.
        let rules = vec![rule(0, 7, ssh.clone())];
        assert!(find(&rules, 7, &block).unwrap().is_none());
        assert_eq!(find(&rules, 7, &ssh).unwrap().map(|r| r.id), Some(0));
        // Drift on ours alone (description, or port) is still found.
        let mut edited = ssh.clone();
        edited.descr = "edited in the GUI".into();
        edited.destination_port = Some("23".into());
        let rules = vec![rule(3, 7, edited)];
        assert_eq!(find(&rules, 7, &ssh).unwrap().map(|r| r.id), Some(3));
        // Several others share it, none like ours: ours is gone.
        let rules = vec![
            rule(0, 7, ssh.clone()),
            rule(1, 7, spec("dmz", "pass", "[homelab] dns")),
        ];
        assert!(find(&rules, 7, &block).unwrap().is_none());
        // Two plausible ones: still refused as ambiguous.
        let rules = vec![
            rule(0, 7, spec("wan", "block", "a")),
            rule(1, 7, spec("wan", "block", "b")),
        ];
        assert!(find(&rules, 7, &block).is_err());
    }

    #[test]
    fn an_import_warns_of_settings_it_does_not_manage() {
        let mut r = rule(4, 1_700_000_000, spec("LAN", "pass", "ssh"));
        assert!(unmanaged_warning(&r).is_none());
        r.unmanaged = vec!["tag".into(), "tcp_flags_set".into()];
        let (summary, detail) = unmanaged_warning(&r).unwrap();
        assert!(summary.contains("not managed"), "{summary}");
        assert!(
            detail.contains("tracker 1700000000 \"ssh\"")
                && detail.contains("does not manage: tag, tcp_flags_set."),
            "{detail}"
        );
        r.tracker = None;
        assert!(unmanaged_warning(&r).unwrap().1.contains("at position 4"));
    }

    #[test]
    fn markers_are_refused_in_descriptions() {
        assert!(check_marker("[homelab] ssh").is_some());
        assert!(check_marker("[ops]").is_some());
        assert!(check_marker("[not a marker] x").is_none());
        assert!(check_marker("ssh [homelab]").is_none());
        let r = FirewallRule;
        assert!(r.schema().definition_errors().is_empty());
    }
}
