//! `homelab_pfsense_firewall_ruleset`: one interface's firewall rules, in
//! order, managed as one.
//!
//! **Ownership.** The ruleset owns the rules of its interface (not floating)
//! whose description starts with its marker `[<owner>]` (`[homelab]` by
//! default); each rule's own `description` follows the marker. Every other
//! rule of the interface (made by hand or by another tool) is never edited
//! or deleted: those rules keep their order below the ruleset's block,
//! which sits at the top of the interface's rules; one found above or among
//! the ruleset's rules shows in `foreign_rules`, and the next apply moves
//! the ruleset's rules above it (or it below them). The rules pfSense made
//! for NAT port forwards (`associated_rule_id`) are never written at all,
//! not even moved: they stay where pfSense put them and the block flows
//! around them (nothing is placed right before one).
//! An `exclusive` ruleset (internally the owner [`EVERY_RULE`], import id
//! `LAN/*`) owns every rule of the interface, descriptions as they are,
//! except those pfSense made for NAT port forwards, which stay where
//! pfSense put them: how a hand-built interface is adopted
//! (`homelab-discover` imports it so).
//!
//! **Identity.** pfSense addresses rules by position in its whole list, and
//! positions shift with every change; a rule's `tracker` (its creation time)
//! is its identity, but rules made in the same second share one. The
//! ruleset therefore matches rules by tracker and settings, keeps every
//! position in a [`Board`], and lists the rules again before every write:
//! if anything changed behind its back the write is not sent.
//!
//! **Order.** Changes are planned by `labforge-ruleset`: new and changed
//! rules go in (`placement`) before old ones go, reorders are moves, removed
//! rules go last, bottom-up; after every single write each packet gets the
//! old ruleset's verdict or the new one's, in the configuration and so in
//! any filter reload pfSense runs meanwhile.
//!
//! **Apply.** The writes are made live by one apply at the end (shared with
//! the other pfSense resources of the run, see `client::commit`).

use std::collections::{BTreeMap, HashSet};

use labforge_framework::schema::{Attribute, Schema, modifiers, validators};
use labforge_framework::{
    AttributePath, Ctx, Diagnostics, Error, Nesting, PlanChange, Resource, Result, Type, Value,
};
use labforge_ruleset::{Kind, Likeness, Op, Slot, Want, assign_hinted, plan as plan_ops};
use serde::{Deserialize, Serialize};

use super::board::{Board, Expect, Label, move_target};
use super::common::{
    RuleAttrs, api, applied_attribute, apply_failed, check_names, check_rule, rule_attributes,
};
use crate::client::{ApiError, Client, Session};
use crate::model::{Rule, RuleSpec};

/// The resource.
#[derive(Debug, Clone, Copy, Default)]
pub struct FirewallRuleset;

const DEFAULT_OWNER: &str = "homelab";

/// The owner of an `exclusive` ruleset, as its id and import id spell it
/// (`LAN/*`): it owns every rule of the interface (no marker), but those
/// pfSense made for NAT port forwards.
pub const EVERY_RULE: &str = "*";

/// The ruleset, as configured and stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RulesetModel {
    /// The interface (`interface/owner` with another owner than the default,
    /// `interface/*` when exclusive).
    pub id: Option<String>,
    /// The interface, as pfSense's REST API names it (`LAN` by default).
    pub interface: String,
    /// The marker `[<owner>]` that starts the descriptions of the ruleset's
    /// rules; `None`: `homelab`.
    pub owner: Option<String>,
    /// Own every rule of the interface, descriptions as they are (no
    /// marker); `None`: `false`.
    pub exclusive: Option<bool>,
    /// The rules, top to bottom (first match wins).
    pub rules: Vec<RuleAttrs>,
    /// Rules the ruleset does not own that sit above or among its rules, as
    /// last read (tracker and description); planned empty.
    pub foreign_rules: Option<Vec<String>>,
    /// Whether the last apply made the changes live; `false`: the apply
    /// failed and the next plan applies again. `None`: not yet known.
    pub applied: Option<bool>,
}

fn marker(owner: &str) -> String {
    format!("[{owner}]")
}

/// The description pfSense gets: the marker, then the rule's own (the
/// rule's own only, for [`EVERY_RULE`]).
pub fn marked(owner: &str, description: &str) -> String {
    if owner == EVERY_RULE {
        description.to_string()
    } else if description.is_empty() {
        marker(owner)
    } else {
        format!("{} {description}", marker(owner))
    }
}

/// The rule's own description, if the marker of `owner` starts it (any
/// description, for [`EVERY_RULE`]).
pub fn owned_description(owner: &str, descr: &str) -> Option<String> {
    if owner == EVERY_RULE {
        return Some(descr.to_string());
    }
    let rest = descr.strip_prefix(&marker(owner))?;
    if !(rest.is_empty() || rest.starts_with(' ')) {
        return None;
    }
    Some(rest.trim_start().to_string())
}

/// Which interface, and whose rules.
#[derive(Debug, Clone)]
struct Place {
    interface: String,
    owner: String,
}

impl Place {
    fn of(m: &RulesetModel) -> Place {
        Place {
            interface: m.interface.clone(),
            owner: if m.exclusive == Some(true) {
                EVERY_RULE.into()
            } else {
                m.owner.clone().unwrap_or_else(|| DEFAULT_OWNER.into())
            },
        }
    }

    fn id(&self) -> String {
        if self.owner == DEFAULT_OWNER {
            self.interface.clone()
        } else {
            format!("{}/{}", self.interface, self.owner)
        }
    }

    fn what(&self) -> String {
        if self.owner == EVERY_RULE {
            return format!("the rules of interface {:?} (all)", self.interface);
        }
        format!(
            "the rules of interface {:?} ({})",
            self.interface,
            marker(&self.owner)
        )
    }

    /// A rule of this interface's list (not floating, this interface only).
    fn on_interface(&self, r: &Rule) -> bool {
        !r.floating && r.interfaces.len() == 1 && r.interfaces[0] == self.interface
    }

    /// The rule's own description if the ruleset owns it. A rule pfSense
    /// made for a NAT port forward (`associated_rule_id`) is never owned:
    /// pfSense keeps it in step with the port forward.
    fn owned(&self, r: &Rule) -> Option<String> {
        if !self.on_interface(r) || r.associated {
            return None;
        }
        owned_description(&self.owner, &r.spec.descr)
    }
}

/// The interface's rules as the planner sees them.
struct Layout {
    slots: Vec<Slot<Label>>,
    /// Owned rules, in order: label, settings (marker on), tracker.
    owned: Vec<(Label, RuleSpec, Option<i64>)>,
    /// Rules not owned above or among the owned ones.
    misplaced: Vec<String>,
}

fn layout(place: &Place, rules: &[Rule]) -> Layout {
    let mut slots = Vec::new();
    let mut owned = Vec::new();
    let mut foreign = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        if !place.on_interface(r) {
            continue;
        }
        let label = Label::Old(i);
        if place.owned(r).is_some() {
            owned.push((label, r.spec.clone(), r.tracker));
            slots.push(Slot::new(label, Kind::Owned));
        } else if r.associated {
            // pfSense's NAT rules stay where pfSense (or the GUI) put them,
            // in both modes (fixed: never moved, nothing placed before one):
            // moving one is a PATCH of it (pfSense rewrites it, its
            // `updated_time` with it), and the planner would move a foreign
            // rule when that is cheaper than moving the block around it. So
            // an adopted interface with port forwards plans empty, and the
            // ruleset never writes the port forward's rule.
            slots.push(Slot::new(label, Kind::Fixed));
        } else {
            foreign.push((slots.len(), r));
            slots.push(Slot::new(label, Kind::Foreign));
        }
    }
    let last = slots.iter().rposition(|s| s.kind == Kind::Owned);
    let misplaced = foreign
        .iter()
        .filter(|(k, _)| last.is_some_and(|l| *k < l))
        .map(|(_, r)| describe(r))
        .collect();
    Layout {
        slots,
        owned,
        misplaced,
    }
}

/// A rule for people: `1700000000 "Default allow LAN to any rule"`.
fn describe(r: &Rule) -> String {
    match r.tracker {
        Some(t) => format!("{t} {:?}", r.spec.descr),
        None => format!("#{} {:?}", r.id, r.spec.descr),
    }
}

/// The state for what pfSense has; `reference` (prior state or plan) gives
/// spellings and tells which rule is which.
fn state_of(place: &Place, rules: &[Rule], reference: &[RuleAttrs], applied: bool) -> RulesetModel {
    let lay = layout(place, rules);
    let mut used = HashSet::new();
    let attrs = rules
        .iter()
        .filter_map(|r| place.owned(r).map(|d| (r, d)))
        .enumerate()
        .map(|(k, (r, description))| {
            let by_tracker = reference
                .iter()
                .enumerate()
                .find(|(j, a)| !used.contains(j) && a.tracker.is_some() && a.tracker == r.tracker);
            let found = by_tracker.or_else(|| {
                reference
                    .get(k)
                    .filter(|a| a.tracker.is_none() && !used.contains(&k))
                    .map(|a| (k, a))
            });
            if let Some((j, _)) = found {
                used.insert(j);
            }
            RuleAttrs::from_spec(&r.spec, description, r.tracker, found.map(|(_, a)| a))
        })
        .collect();
    RulesetModel {
        id: Some(place.id()),
        interface: place.interface.clone(),
        owner: Some(if place.owner == EVERY_RULE {
            DEFAULT_OWNER.into()
        } else {
            place.owner.clone()
        }),
        exclusive: Some(place.owner == EVERY_RULE),
        rules: attrs,
        foreign_rules: Some(lay.misplaced),
        applied: Some(applied),
    }
}

fn likeness(current: &RuleSpec, wanted: &RuleSpec) -> Likeness {
    let (a, b) = (current.normalized(), wanted.normalized());
    if a == b {
        Likeness::Same
    } else if a.same_verdicts(&b) {
        Likeness::Cosmetic
    } else {
        Likeness::Different
    }
}

/// Why a converge stopped.
enum Stop {
    Api(ApiError),
    /// The rules are not what the board expects: someone else changed them.
    Changed(String),
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stop::Api(e) => write!(f, "{e}"),
            Stop::Changed(what) => write!(
                f,
                "the firewall rules changed while the provider was working on them ({what}); \
                 nothing was written after that point"
            ),
        }
    }
}

/// Requests made, for the logs.
#[derive(Debug, Default)]
struct Tally {
    creates: usize,
    moves: usize,
    updates: usize,
    removes: usize,
    listings: usize,
}

struct Run<'a> {
    c: &'a Client,
    session: &'a mut Session,
    board: Board,
    tally: Tally,
}

impl Run<'_> {
    /// List the rules and check they are what the board expects.
    async fn resolve(&mut self, what: &str) -> Result<std::sync::Arc<Vec<Rule>>, Stop> {
        self.tally.listings += 1;
        let rules = self.c.rules(true).await.map_err(Stop::Api)?;
        if !self.board.matches(&rules) {
            return Err(Stop::Changed(format!("before {what}")));
        }
        self.board.settle(&rules);
        Ok(rules)
    }

    /// After a write whose answer was lost: the list as a success would
    /// leave it (`Ok(true)`), as it was (`Ok(false)`: not made), or neither.
    async fn after_lost(&mut self, done: &Board, what: &str) -> Result<bool, Stop> {
        self.tally.listings += 1;
        let rules = self.c.rules(true).await.map_err(Stop::Api)?;
        if done.matches(&rules) {
            self.board = done.clone();
            self.board.settle(&rules);
            return Ok(true);
        }
        if self.board.matches(&rules) {
            return Ok(false);
        }
        Err(Stop::Changed(format!(
            "after {what}, whose answer was lost"
        )))
    }

    async fn create(
        &mut self,
        index: usize,
        spec: &RuleSpec,
        before: Option<Label>,
    ) -> Result<(), Stop> {
        self.tally.creates += 1;
        for attempt in 0..2 {
            self.resolve("a create").await?;
            let placement = match before {
                Some(b) => Some(
                    self.board
                        .pos(b)
                        .ok_or_else(|| Stop::Changed("a rule to insert before is gone".into()))?,
                ),
                None => None,
            };
            let at = placement.unwrap_or(self.board.len());
            let mut done = self.board.clone();
            done.created(
                Label::New(index),
                at,
                Expect::Rule {
                    tracker: None,
                    spec: Box::new(spec.clone()),
                },
            );
            match self.c.create_rule(self.session, spec, placement).await {
                Ok(r) => {
                    if r.id != at {
                        return Err(Stop::Changed(format!(
                            "pfSense put the new rule at position {}, not {at}",
                            r.id
                        )));
                    }
                    self.board.created(
                        Label::New(index),
                        at,
                        Expect::Rule {
                            tracker: r.tracker,
                            spec: Box::new(r.spec),
                        },
                    );
                    return Ok(());
                }
                Err(e) if e.is_lost() && attempt == 0 => {
                    tracing::info!(error = %e, "the answer to a rule create was lost; looking");
                    if self.after_lost(&done, "a create").await? {
                        return Ok(());
                    }
                }
                Err(e) => return Err(Stop::Api(e)),
            }
        }
        Err(Stop::Changed("a create kept losing its answer".into()))
    }

    async fn move_before(&mut self, id: Label, before: Option<Label>) -> Result<(), Stop> {
        self.tally.moves += 1;
        for attempt in 0..2 {
            let rules = self.resolve("a move").await?;
            let from = self
                .board
                .pos(id)
                .ok_or_else(|| Stop::Changed("a rule to move is gone".into()))?;
            let b = match before {
                Some(b) => Some(
                    self.board
                        .pos(b)
                        .ok_or_else(|| Stop::Changed("a rule to move before is gone".into()))?,
                ),
                None => None,
            };
            let to = move_target(from, b, self.board.len());
            if to == from {
                return Ok(());
            }
            let moved = Expect::Rule {
                tracker: rules[from].tracker,
                spec: Box::new(rules[from].spec.clone()),
            };
            let mut done = self.board.clone();
            done.moved(from, to, moved);
            match self.c.move_rule(self.session, from, to).await {
                Ok(r) => {
                    self.board.moved(
                        from,
                        to,
                        Expect::Rule {
                            tracker: r.tracker,
                            spec: Box::new(r.spec),
                        },
                    );
                    return Ok(());
                }
                Err(e) if e.is_lost() && attempt == 0 => {
                    tracing::info!(error = %e, "the answer to a rule move was lost; looking");
                    if self.after_lost(&done, "a move").await? {
                        return Ok(());
                    }
                }
                Err(e) => return Err(Stop::Api(e)),
            }
        }
        Err(Stop::Changed("a move kept losing its answer".into()))
    }

    async fn describe(&mut self, id: Label, wanted: &RuleSpec) -> Result<(), Stop> {
        self.tally.updates += 1;
        self.resolve("an edit").await?;
        let at = self
            .board
            .pos(id)
            .ok_or_else(|| Stop::Changed("a rule to edit is gone".into()))?;
        match self
            .c
            .describe_rule(self.session, at, &wanted.descr, wanted.log)
            .await
        {
            Ok(r) => {
                self.board.changed(
                    at,
                    Expect::Rule {
                        tracker: r.tracker,
                        spec: Box::new(r.spec),
                    },
                );
                Ok(())
            }
            Err(e) if e.is_lost() => {
                // Setting a description twice is harmless: look, then redo.
                let rules = self.c.rules(true).await.map_err(Stop::Api)?;
                let mut done = self.board.clone();
                if let Some(r) = rules.get(at) {
                    let mut spec = r.spec.clone();
                    spec.descr.clone_from(&wanted.descr);
                    spec.log = wanted.log;
                    done.changed(
                        at,
                        Expect::Rule {
                            tracker: r.tracker,
                            spec: Box::new(spec),
                        },
                    );
                }
                if done.matches(&rules) {
                    self.board = done;
                    self.board.settle(&rules);
                    return Ok(());
                }
                Err(Stop::Changed("after an edit whose answer was lost".into()))
            }
            Err(e) => Err(Stop::Api(e)),
        }
    }

    async fn remove(&mut self, id: Label) -> Result<(), Stop> {
        self.tally.removes += 1;
        for attempt in 0..2 {
            self.resolve("a delete").await?;
            let at = self
                .board
                .pos(id)
                .ok_or_else(|| Stop::Changed("a rule to delete is gone".into()))?;
            let mut done = self.board.clone();
            done.deleted(at);
            match self.c.delete_rule(self.session, at).await {
                Ok(()) => {
                    self.board.deleted(at);
                    return Ok(());
                }
                Err(e) if e.is_lost() && attempt == 0 => {
                    tracing::info!(error = %e, "the answer to a rule delete was lost; looking");
                    if self.after_lost(&done, "a delete").await? {
                        return Ok(());
                    }
                }
                Err(e) => return Err(Stop::Api(e)),
            }
        }
        Err(Stop::Changed("a delete kept losing its answer".into()))
    }
}

/// Turn the interface's rules into `want` and apply; the state read back.
/// On failure the error carries the state of what pfSense has, so
/// Terraform records where the apply stopped.
async fn converge(
    ctx: &Ctx<Client>,
    place: &Place,
    want: &[RuleAttrs],
    force_apply: bool,
    verb: &str,
) -> Result<RulesetModel> {
    let c = ctx.client();
    let what = place.what();
    let summary = format!("Unable to {verb} firewall ruleset");
    let fail = |e: String| Error::new(summary.clone(), format!("{what}: {e}"));
    let specs: Vec<RuleSpec> = want
        .iter()
        .map(|a| {
            a.spec(
                &place.interface,
                marked(&place.owner, a.description.as_deref().unwrap_or("")),
            )
        })
        .collect();
    let mut session = c.session();
    let writing = c.exclusive().await;
    let rules = c.rules(true).await.map_err(|e| fail(e.to_string()))?;
    let lay = layout(place, &rules);
    let owned: Vec<(Label, RuleSpec)> = lay.owned.iter().map(|(l, s, _)| (*l, s.clone())).collect();
    // Hints: the rule each wanted one was in the last state (by tracker).
    let mut taken = HashSet::new();
    let hints: Vec<Option<Label>> = want
        .iter()
        .map(|a| {
            let t = a.tracker?;
            let l = lay
                .owned
                .iter()
                .find(|(l, _, tr)| *tr == Some(t) && !taken.contains(l))
                .map(|(l, _, _)| *l)?;
            taken.insert(l);
            Some(l)
        })
        .collect();
    let wants = assign_hinted(&owned, &specs, &hints, likeness);
    let ops = plan_ops(&lay.slots, &wants).map_err(|e| fail(e.to_string()))?;
    let mut run = Run {
        c,
        session: &mut session,
        board: Board::new(&rules),
        tally: Tally::default(),
    };
    let mut result: Result<(), Stop> = Ok(());
    for op in &ops {
        let step = match op {
            Op::Create { index, before } => run.create(*index, &specs[*index], *before).await,
            Op::Move { id, before } => run.move_before(*id, *before).await,
            Op::Update { id } => match wants
                .iter()
                .position(|w| matches!(w, Want::Keep { id: k, .. } if k == id))
            {
                Some(k) => run.describe(*id, &specs[k]).await,
                None => Ok(()),
            },
            Op::Remove { id } => run.remove(*id).await,
        };
        if let Err(e) = step {
            result = Err(e);
            break;
        }
    }
    let tally = std::mem::take(&mut run.tally);
    tracing::info!(
        interface = %place.interface,
        creates = tally.creates,
        moves = tally.moves,
        updates = tally.updates,
        removes = tally.removes,
        listings = tally.listings,
        "pfsense ruleset converged"
    );
    let wrote = session.has_writes();
    let read_back = c.rules(true).await;
    drop(writing);
    match (result, read_back) {
        (Ok(()), Ok(rules)) => {
            let st = state_of(place, &rules, want, true);
            let got: Vec<RuleSpec> = rules
                .iter()
                .filter(|r| place.owned(r).is_some())
                .map(|r| r.spec.normalized())
                .collect();
            let expected: Vec<RuleSpec> = specs.iter().map(RuleSpec::normalized).collect();
            if got != expected || !st.foreign_rules.as_ref().is_none_or(Vec::is_empty) {
                let mut st = st;
                st.applied = Some(!wrote && !force_apply);
                return Err(fail(
                    "the rules read back differ from the configuration (changed during the apply?); \
                     run `terraform apply` again."
                        .into(),
                )
                .with_partial_state(&st));
            }
            match c.commit(session, force_apply).await {
                Ok(_) => Ok(st),
                Err(msg) => {
                    let mut st = st;
                    st.applied = Some(false);
                    Err(Error::new(
                        format!("Unable to apply firewall ruleset ({verb})"),
                        format!("{what}: {}", apply_failed(&msg)),
                    )
                    .with_partial_state(&st))
                }
            }
        }
        (Ok(()), Err(e)) => Err(unread(
            fail(format!(
                "the rules were written, but reading them back failed: {e}. Run `terraform \
                 apply` again: it reads the rules first and finishes the change."
            )),
            place,
            &rules,
            want,
            verb,
        )),
        (Err(e), Ok(rules)) => {
            drop(session);
            let st = state_of(place, &rules, want, !wrote && !force_apply);
            Err(fail(format!(
                "{e}. The apply stopped there, before applying: pfSense's configuration holds a \
                 safe intermediate order (every packet gets the old or the new verdict) that is not \
                 live yet; the state shows it, and `terraform apply` again finishes the change."
            ))
            .with_partial_state(&st))
        }
        (Err(e), Err(_)) => Err(unread(
            fail(format!(
                "{e}. Reading the rules back failed too; run `terraform apply` again: it reads \
                 the rules first and finishes the change."
            )),
            place,
            &rules,
            want,
            verb,
        )),
    }
}

/// Writes that may have changed the rules could not be read back: on create
/// and update the ruleset stays in the state (the rules last read, not
/// applied), so rules already written are owned, not orphaned, and the next
/// refresh reads what pfSense holds (found by the acceptance fault matrix: a
/// 500 on the create's read-back left both rules outside any state). A
/// failed delete keeps the prior state anyway.
fn unread(err: Error, place: &Place, rules: &[Rule], want: &[RuleAttrs], verb: &str) -> Error {
    if verb == "delete" {
        err
    } else {
        err.with_partial_state(&state_of(place, rules, want, false))
    }
}

impl Resource for FirewallRuleset {
    type Client = Client;
    type Model = RulesetModel;
    const NAME: &'static str = "pfsense_firewall_ruleset";

    fn schema(&self) -> Schema {
        Schema::new(
            "All of one interface's firewall rules that it owns, in order, managed as one.\n\n\
             **Ownership**: the ruleset owns the rules of its interface (not floating rules) whose \
             description starts with `[<owner>]` (`[homelab]`; each rule's `description` follows \
             it). It never edits or deletes any other rule: rules made by hand or by other tools \
             keep their order below the ruleset's rules, which sit at the top of the interface's \
             rules. A rule it does not own found above or among its rules shows in \
             `foreign_rules`, and the next apply moves the ruleset's rules above it (or it below \
             them). The rules pfSense made for NAT port forwards are never written, not even \
             moved: they stay where pfSense put them and the ruleset's rules go around them (none \
             is placed right before one). Rules of `homelab_pfsense_firewall_rule` must not carry \
             the marker.\n\n\
             **Adopting** a hand-built interface: `exclusive = true` owns every rule of the interface \
             (their descriptions as they are, no marker), except the rules pfSense made for NAT \
             port forwards, which follow their port forward and stay where pfSense put them. `homelab-discover` imports an \
             interface that way (`LAN/*`) unless all its rules carry one owner's marker. Do not \
             manage rules of that interface with `homelab_pfsense_firewall_rule` or another \
             ruleset: this one owns them.\n\n\
             **Safe changes**: new and changed rules go in before old ones go, reorders are moves, \
             removals come last, bottom-up (planned by labforge-ruleset). After every single write \
             each packet gets the old ruleset's verdict or the new one's, so a filter reload \
             pfSense runs meanwhile, or a failure half-way, never opens what both deny. Editing a \
             rule's matchers or action replaces it (create, then delete); descriptions and logging \
             are edited in place.\n\n\
             **Identity**: pfSense addresses rules by position (which shifts with every change) \
             and identifies them by `tracker`, the second they were made (rules made in the same \
             second share one). The ruleset matches rules by tracker and settings and lists the \
             rules again before every write; if they changed behind its back it stops before \
             writing and reports it.\n\n\
             **Apply**: pfSense loads changes into the firewall only when applied. The provider \
             applies once, after the writes, for every pfSense resource whose writes end together \
             (and only if something was written): a run that changes rulesets and aliases \
             Terraform handles in parallel applies once; a ruleset that depends on an alias \
             changed in the same run is applied after it, in a second apply (Terraform starts it \
             only once the alias is done). A failed apply is reported with pfSense's message, the \
             state records `applied = false`, and the next plan applies again.\n\n\
             **Cost**: refresh is one listing of the rules, shared with every other pfSense rule \
             resource of the run; each write is preceded by one listing.",
        )
        .attribute(
            "id",
            Attribute::string()
                .computed()
                .describe("The interface (`interface/owner` with another owner, `interface/*` when `exclusive`).")
                .plan_modifier(modifiers::use_state_for_unknown()),
        )
        .attribute(
            "interface",
            Attribute::string()
                .required()
                .describe(
                    "The interface, as pfSense's REST API names it: by description (`LAN`, \
                     `WAN`, `OPT1`) unless its `represent_interfaces_as` setting says otherwise. \
                     Checked against pfSense at plan.",
                )
                .validator(validators::matches(
                    "^[A-Za-z0-9_.]{1,64}$",
                    "an interface name (letters, digits, `_`, `.`)",
                ))
                .plan_modifier(modifiers::requires_replace()),
        )
        .attribute(
            "owner",
            Attribute::string()
                .default(DEFAULT_OWNER)
                .describe(
                    "The marker `[<owner>]` that starts the descriptions of the ruleset's rules. \
                     Give rulesets of one interface managed from different configurations \
                     different owners. Not used when `exclusive`.",
                )
                .validator(validators::matches(
                    "^[A-Za-z0-9_.-]{1,32}$",
                    "letters, digits, `_`, `.` and `-` (1 to 32)",
                ))
                .plan_modifier(modifiers::requires_replace()),
        )
        .attribute(
            "exclusive",
            Attribute::bool()
                .default(false)
                .describe(
                    "Own every rule of the interface, whatever its description, with \
                     descriptions as they are (no `[<owner>]` marker): the way to adopt an \
                     interface whose rules were made by hand or by another tool, in their order \
                     (`homelab-discover` imports such interfaces with the id `interface/*`). \
                     Rules pfSense made for NAT port forwards are not owned and stay where \
                     pfSense put them. Any other rule that appears on the interface is removed \
                     by the next apply, so give no other ruleset or \
                     `homelab_pfsense_firewall_rule` the same interface. `owner` is not used. \
                     Changing it is done in place: the rules the ruleset then owns are turned \
                     into the configured ones.",
                ),
        )
        .attribute(
            "rules",
            Attribute::nested(Nesting::List, rule_attributes())
                .required()
                .describe("The rules, top to bottom (first match wins)."),
        )
        .attribute(
            "foreign_rules",
            Attribute::list(Type::String).computed().describe(
                "Rules the ruleset does not own that sit above or among its rules, as last read \
                 (tracker and description). Always planned empty: apply moves the ruleset's \
                 rules above them.",
            ),
        )
        .attribute("applied", applied_attribute())
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        let mut d = Diagnostics::new();
        // The default owner is accepted: generated configuration writes it
        // back from the state before `homelab-discover tidy` drops it.
        if config.get("exclusive").and_then(Value::as_bool) == Some(true)
            && config
                .get("owner")
                .and_then(Value::as_str)
                .is_some_and(|o| o != DEFAULT_OWNER)
        {
            d.attribute_error(
                AttributePath::attr("owner"),
                "Invalid attribute combination",
                "An `exclusive` ruleset owns every rule of its interface and puts no `[<owner>]` \
                 marker in descriptions: leave `owner` out.",
            );
        }
        let rules = config.get("rules").and_then(Value::elements).unwrap_or(&[]);
        for (i, r) in rules.iter().enumerate() {
            check_rule(
                r,
                &AttributePath::attr("rules").join_index(i as i64),
                &mut d,
            );
        }
        d
    }

    fn import_id_format(&self) -> Option<&'static str> {
        Some(
            "The interface, e.g. `LAN` (the rules marked `[homelab]`), `interface/owner` for \
             another owner, or `interface/*` for every rule of the interface (`exclusive`: \
             adopting rules made by hand, as `homelab-discover` does).",
        )
    }

    async fn modify_plan(&self, ctx: &Ctx<Client>, plan: &mut PlanChange<'_>) -> Result<()> {
        if plan.destroying() {
            return Ok(());
        }
        plan.set("foreign_rules", Value::list([]));
        plan.set("applied", Value::bool(true));
        if let Some(i) = plan.config_attr("interface").as_str() {
            let owner = if plan.planned_attr("exclusive").as_bool() == Some(true) {
                EVERY_RULE
            } else {
                plan.planned_attr("owner").as_str().unwrap_or(DEFAULT_OWNER)
            }
            .to_string();
            let place = Place {
                interface: i.to_string(),
                owner,
            };
            plan.set("id", Value::string(place.id()));
        }
        // A planned rule with the settings of a rule in the prior state keeps
        // it (and its tracker), wherever it moves; the others are new or
        // changed rules, whose tracker is known after apply.
        let prior: Vec<(Value, Option<RuleAttrs>)> = plan
            .prior_attr("rules")
            .elements()
            .unwrap_or(&[])
            .iter()
            .map(|v| (v.clone(), labforge_framework::model::from_value(v).ok()))
            .collect();
        let mut claimed = vec![false; prior.len()];
        let mut rules = plan.planned_attr("rules").clone();
        if let Value::List(planned) = &mut rules {
            for p in planned.iter_mut() {
                let wanted = if p.contains_unknown_settings() {
                    None
                } else {
                    labforge_framework::model::from_value::<RuleAttrs>(p).ok()
                };
                let found = wanted.and_then(|w| {
                    prior.iter().enumerate().position(|(j, (_, a))| {
                        !claimed[j] && a.as_ref().is_some_and(|a| a.same_settings(&w))
                    })
                });
                match found {
                    Some(j) => {
                        claimed[j] = true;
                        *p = prior[j].0.clone();
                    }
                    None => {
                        if let Value::Object(m) = p {
                            m.insert("tracker".into(), Value::unknown());
                        }
                    }
                }
            }
        }
        plan.set("rules", rules);

        // Names checked against the box (when it can be read).
        let mut names = Vec::new();
        for (i, r) in plan
            .config_attr("rules")
            .elements()
            .unwrap_or(&[])
            .iter()
            .enumerate()
        {
            for k in ["source", "destination"] {
                if let Some(v) = r.get(k).and_then(Value::as_str) {
                    names.push((
                        v.to_string(),
                        AttributePath::attr("rules")
                            .join_index(i as i64)
                            .join_attr(k),
                    ));
                }
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

    async fn create(&self, ctx: &Ctx<Client>, plan: RulesetModel) -> Result<RulesetModel> {
        let place = Place::of(&plan);
        converge(ctx, &place, &plan.rules, false, "create").await
    }

    async fn read(&self, ctx: &Ctx<Client>, state: RulesetModel) -> Result<Option<RulesetModel>> {
        let place = Place::of(&state);
        let rules = ctx
            .client()
            .rules(false)
            .await
            .map_err(|e| api(place.what(), e).context("Unable to read firewall ruleset"))?;
        Ok(Some(state_of(
            &place,
            &rules,
            &state.rules,
            state.applied.unwrap_or(true),
        )))
    }

    async fn update(
        &self,
        ctx: &Ctx<Client>,
        prior: RulesetModel,
        plan: RulesetModel,
    ) -> Result<RulesetModel> {
        let place = Place::of(&plan);
        let force = prior.applied == Some(false);
        converge(ctx, &place, &plan.rules, force, "update").await
    }

    async fn delete(&self, ctx: &Ctx<Client>, state: RulesetModel) -> Result<()> {
        let place = Place::of(&state);
        let force = state.applied == Some(false);
        converge(ctx, &place, &[], force, "delete")
            .await
            .map(|_| ())
    }

    async fn import(&self, ctx: &Ctx<Client>, id: &str) -> Result<RulesetModel> {
        let (interface, owner) = match id.split_once('/') {
            Some((i, o)) => (i, o),
            None => (id, DEFAULT_OWNER),
        };
        if interface.is_empty() || owner.is_empty() {
            return Err(Error::new(
                "Unable to import firewall ruleset",
                format!(
                    "{id:?} is not `interface`, `interface/owner` or `interface/*` (e.g. `LAN`)."
                ),
            ));
        }
        let place = Place {
            interface: interface.to_string(),
            owner: owner.to_string(),
        };
        let rules = ctx
            .client()
            .rules(false)
            .await
            .map_err(|e| api(place.what(), e).context("Unable to import firewall ruleset"))?;
        if !rules.iter().any(|r| place.on_interface(r)) {
            let ifs: BTreeMap<&str, ()> = rules
                .iter()
                .flat_map(|r| r.interfaces.iter().map(|i| (i.as_str(), ())))
                .collect();
            return Err(Error::new(
                "Unable to import firewall ruleset",
                format!(
                    "pfSense has no rules on interface {interface:?}; rules exist on: {}.",
                    ifs.keys().copied().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        if let Some((summary, detail)) = unmanaged_warning(&place, &rules) {
            ctx.warn(summary, detail);
        }
        Ok(state_of(&place, &rules, &[], true))
    }
}

/// The warning an import owes when rules it takes have settings the
/// ruleset does not manage (`tag`, `tcp_flags_*`, limiters, ...): neither
/// the state nor the configuration Terraform generates holds them, so an
/// empty plan after the import does not mean the configuration describes
/// the interface's rules.
fn unmanaged_warning(place: &Place, rules: &[Rule]) -> Option<(String, String)> {
    let noted: Vec<String> = rules
        .iter()
        .filter(|r| place.owned(r).is_some() && !r.unmanaged.is_empty())
        .map(|r| format!("{} ({})", describe(r), r.unmanaged.join(", ")))
        .collect();
    if noted.is_empty() {
        return None;
    }
    Some((
        "Imported rules have settings not managed here".to_string(),
        format!(
            "{}: rules with settings the ruleset does not manage: {}. They stay on pfSense but \
             are neither in the state nor in the configuration: a rule made again (a change the \
             ruleset cannot make in place, or a rule removed by hand) would lack them.",
            place.what(),
            noted.join("; ")
        ),
    ))
}

/// Whether a planned rule element has unknown settings (the tracker aside).
trait UnknownSettings {
    fn contains_unknown_settings(&self) -> bool;
}

impl UnknownSettings for Value {
    fn contains_unknown_settings(&self) -> bool {
        match self {
            Value::Object(m) => m
                .iter()
                .any(|(k, v)| k != "tracker" && v.contains_unknown()),
            v => v.contains_unknown(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::client::codec;
    use serde_json::json;

    fn rule(id: usize, iface: &str, descr: &str, tracker: i64) -> Rule {
        codec::rule(&json!({
            "id": id, "type": "pass", "interface": [iface], "ipprotocol": "inet",
            "protocol": null, "source": "any", "destination": "any", "descr": descr,
            "disabled": false, "log": false, "statetype": "keep state", "floating": false,
            "tracker": tracker
        }))
        .unwrap()
    }

    #[test]
    fn an_import_warns_of_rule_settings_it_does_not_manage() {
        let place = |owner: &str| Place {
            interface: "LAN".into(),
            owner: owner.into(),
        };
        let with = |mut r: Rule, extra: &[&str]| {
            r.unmanaged = extra.iter().map(|e| (*e).to_string()).collect();
            r
        };
        let rules = [
            with(rule(0, "WAN", "[homelab] other interface", 1), &["tag"]),
            rule(1, "LAN", "[homelab] plain", 2),
            with(
                rule(2, "LAN", "[homelab] ssh", 3),
                &["tag", "tcp_flags_out_of"],
            ),
            with(rule(3, "LAN", "made by hand", 4), &["dnpipe"]),
        ];
        let (summary, detail) = unmanaged_warning(&place("homelab"), &rules).unwrap();
        assert!(summary.contains("not managed"), "{summary}");
        assert!(
            detail.contains("3 \"[homelab] ssh\" (tag, tcp_flags_out_of)"),
            "{detail}"
        );
        // Neither another interface's rule, nor one the ruleset does not own.
        assert!(
            !detail.contains("other interface") && !detail.contains("made by hand"),
            "{detail}"
        );
        assert!(!detail.contains("plain"), "{detail}");
        // Owning every rule, the hand-made one is taken and reported.
        let (_, all) = unmanaged_warning(&place(EVERY_RULE), &rules).unwrap();
        assert!(all.contains("4 \"made by hand\" (dnpipe)"), "{all}");
        assert!(unmanaged_warning(&place("ops"), &rules).is_none());
    }

    #[test]
    fn unread_rules_keep_the_ruleset_in_state_except_on_delete() {
        let place = Place {
            interface: "DMZ".into(),
            owner: "homelab".into(),
        };
        let rules = [rule(0, "DMZ", "[homelab] dns", 1)];
        let e = unread(Error::msg("boom"), &place, &rules, &[], "create");
        let partial = e.partial_state().expect("a partial state on create");
        assert!(format!("{partial:?}").contains("DMZ"), "{partial:?}");
        let e = unread(Error::msg("boom"), &place, &rules, &[], "delete");
        assert!(e.partial_state().is_none());
    }

    #[test]
    fn ownership_follows_the_marker_and_the_interface() {
        let place = Place {
            interface: "LAN".into(),
            owner: "homelab".into(),
        };
        let rules = [
            rule(0, "WAN", "[homelab] wan rule", 1),
            rule(1, "LAN", "Default allow LAN to any rule", 2),
            rule(2, "LAN", "[homelab] dns", 3),
            rule(3, "LAN", "[homelab]", 4),
            rule(4, "LAN", "[homelabx] not ours", 5),
        ];
        let l = layout(&place, &rules);
        let kinds: Vec<Kind> = l.slots.iter().map(|s| s.kind).collect();
        assert_eq!(
            kinds,
            [Kind::Foreign, Kind::Owned, Kind::Owned, Kind::Foreign]
        );
        assert_eq!(l.misplaced, ["2 \"Default allow LAN to any rule\""]);
        let st = state_of(&place, &rules, &[], true);
        assert_eq!(st.rules.len(), 2);
        assert_eq!(st.rules[0].description.as_deref(), Some("dns"));
        assert_eq!(st.rules[1].description.as_deref(), Some(""));
        assert_eq!(st.rules[0].tracker, Some(3));
        assert_eq!(marked("homelab", "x"), "[homelab] x");
        assert_eq!(owned_description("homelab", "[homelab]x"), None);
    }

    #[test]
    fn a_nat_rule_is_never_moved_nor_reported_foreign() {
        let place = Place {
            interface: "WAN".into(),
            owner: DEFAULT_OWNER.into(),
        };
        // Dragged to the top by hand, above the block.
        let mut nat = rule(0, "WAN", "NAT web", 1);
        nat.associated = true;
        let rules = [
            nat,
            rule(1, "WAN", "[homelab] ssh", 2),
            rule(2, "WAN", "[homelab] smtp", 3),
            rule(3, "WAN", "by hand", 4),
        ];
        let lay = layout(&place, &rules);
        let kinds: Vec<Kind> = lay.slots.iter().map(|s| s.kind).collect();
        assert_eq!(
            kinds,
            [Kind::Fixed, Kind::Owned, Kind::Owned, Kind::Foreign]
        );
        assert!(lay.misplaced.is_empty(), "{:?}", lay.misplaced);
        // Reversed, and a new rule on top: no request names the NAT rule,
        // and nothing goes right before it.
        let (ssh, smtp) = (lay.slots[1].id, lay.slots[2].id);
        let wants = [
            Want::Create(0),
            Want::Keep {
                id: smtp,
                update: false,
            },
            Want::Keep {
                id: ssh,
                update: false,
            },
        ];
        let nat_label = lay.slots[0].id;
        let ops = plan_ops(&lay.slots, &wants).unwrap();
        assert!(!ops.is_empty());
        for op in &ops {
            match op {
                Op::Move { id, before } => {
                    assert_ne!(*id, nat_label, "{ops:?}");
                    assert_ne!(*before, Some(nat_label), "{ops:?}");
                }
                Op::Create { before, .. } => assert_ne!(*before, Some(nat_label), "{ops:?}"),
                Op::Update { id } | Op::Remove { id } => assert_ne!(*id, nat_label),
            }
        }
    }

    #[test]
    fn every_rule_owner_adopts_all_but_nat_rules() {
        let place = Place {
            interface: "WAN".into(),
            owner: EVERY_RULE.into(),
        };
        let mut nat = rule(1, "WAN", "NAT ssh", 3);
        nat.associated = true;
        let rules = [
            rule(0, "WAN", "allow vpn", 1),
            nat,
            rule(2, "WAN", "[homelab] marked", 2),
            rule(3, "LAN", "lan rule", 4),
        ];
        let kinds: Vec<Kind> = layout(&place, &rules)
            .slots
            .iter()
            .map(|s| s.kind)
            .collect();
        assert_eq!(kinds, [Kind::Owned, Kind::Fixed, Kind::Owned]);
        let st = state_of(&place, &rules, &[], true);
        let descrs: Vec<_> = st.rules.iter().map(|r| r.description.clone()).collect();
        assert_eq!(
            descrs,
            [
                Some("allow vpn".to_string()),
                Some("[homelab] marked".into())
            ]
        );
        assert_eq!(st.id.as_deref(), Some("WAN/*"));
        assert_eq!(
            (st.owner.as_deref(), st.exclusive),
            (Some("homelab"), Some(true))
        );
        assert_eq!(Place::of(&st).owner, EVERY_RULE);
        let config = |owner: &str| {
            Value::object([
                ("interface", Value::string("WAN")),
                ("owner", Value::string(owner)),
                ("exclusive", Value::bool(true)),
                ("rules", Value::list([])),
            ])
        };
        assert!(FirewallRuleset.validate(&config("homelab")).0.is_empty());
        let d = FirewallRuleset.validate(&config("ops"));
        assert!(format!("{d:?}").contains("leave `owner` out"), "{d:?}");
        assert_eq!(st.foreign_rules, Some(vec![]));
        assert_eq!(marked(EVERY_RULE, "allow vpn"), "allow vpn");
        assert_eq!(marked(EVERY_RULE, ""), "");
    }

    #[test]
    fn likeness_separates_cosmetic_edits() {
        let a = rule(0, "LAN", "[homelab] a", 1).spec;
        let mut b = a.clone();
        b.descr = "[homelab] b".into();
        b.log = true;
        let mut c = a.clone();
        c.action = "block".into();
        assert_eq!(likeness(&a, &a), Likeness::Same);
        assert_eq!(likeness(&a, &b), Likeness::Cosmetic);
        assert_eq!(likeness(&a, &c), Likeness::Different);
    }

    #[test]
    fn validation_names_the_rule_and_attribute() {
        let r = FirewallRuleset;
        let s = Value::string;
        let config = Value::object([
            ("interface", s("LAN")),
            (
                "rules",
                Value::list([
                    Value::object([
                        ("type", s("pass")),
                        ("protocol", s("icmp")),
                        ("destination_port", s("22")),
                    ]),
                    Value::object([
                        ("type", s("pass")),
                        ("icmptype", Value::list([s("echoreq")])),
                    ]),
                    Value::object([
                        ("type", s("pass")),
                        ("protocol", s("udp")),
                        ("statetype", s("synproxy state")),
                    ]),
                ]),
            ),
        ]);
        let d = r.validate(&config);
        let at: Vec<String> =
            d.0.iter()
                .map(|x| {
                    x.attribute
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default()
                })
                .collect();
        assert_eq!(
            at,
            [
                "rules[0].destination_port",
                "rules[1].icmptype",
                "rules[2].statetype"
            ],
            "{d:?}"
        );
        assert!(r.schema().definition_errors().is_empty());
    }
}
