//! `homelab_routeros_firewall_ruleset`: one chain's filter or NAT rules, in
//! order, managed as one.
//!
//! **Ownership.** The ruleset owns the rules of its chain whose comment
//! starts with its marker, `[<owner>]` (`[homelab]` by default); the rule's
//! own `comment` follows the marker. It never edits or removes any other
//! rule: dynamic rules (RouterOS's own, e.g. the fasttrack counter rule)
//! are never moved and nothing is placed before them; rules of other tools
//! or made by hand keep their order below the ruleset's block (the ruleset
//! moves them there if they sit above or inside it, which a plan shows as
//! `foreign_rules`).
//! An `exclusive` ruleset (import id `table/chain/*`) owns every static rule
//! of its chain instead, comments as they are (no marker): how a chain built
//! by hand or by defconf is adopted (`homelab-discover` imports it so, in
//! the router's order).
//!
//! **Order.** The block sits at the top of the chain, below the dynamic
//! rules, in configuration order. Changes are planned by `labforge-ruleset`:
//! new and changed rules go in (`place-before`) before old ones go, rules
//! are reordered with `move`, rules the configuration no longer has are
//! removed last, bottom-up. After every single request every packet gets
//! the verdict of the old ruleset or of the new one, so what both deny stays
//! denied throughout, and an apply that fails half-way leaves such a chain,
//! with the state showing what is on the router.
//!
//! **Cost.** Refresh is one listing of the chain. A reorder takes at most
//! one `move` per rule less one (49 for a 50-rule chain, when reversed); an
//! edited rule is a create and a remove (an in-place edit could open a
//! window), except comments and logging, which are edited in place.

use std::collections::BTreeMap;
use std::sync::Arc;

use labforge_framework::schema::{Attribute, Schema, modifiers, validators};
use labforge_framework::{
    AttributePath, Ctx, Diagnostics, Error, Nesting, PlanChange, Raw, Resource, Result, Type, Value,
};
use labforge_ruleset::{
    Kind as SlotKind, Likeness, Op, Slot, Want, assign_hinted, plan as plan_ops,
};

use crate::client::{ApiError, Client, Item, Props, Table};
use crate::fields::{self, get, put, text};
use crate::props::{self, Kind, Prop};

/// The resource.
#[derive(Debug, Clone, Copy, Default)]
pub struct FirewallRuleset;

const DEFAULT_OWNER: &str = "homelab";

/// The last part of an `exclusive` ruleset's id: `filter/input/*`.
pub const EXCLUSIVE_ID: &str = "*";

/// The rule properties of a table (its props without `chain`).
fn rule_props(table: Table) -> Vec<Prop> {
    let all = if table == Table::Nat {
        props::NAT
    } else {
        props::FILTER
    };
    all.iter().filter(|p| p.attr != "chain").copied().collect()
}

/// Every rule attribute of both tables, for the schema (`action` allows
/// both tables' actions; validation narrows them).
fn schema_props() -> Vec<Prop> {
    let mut out: Vec<Prop> = Vec::new();
    for p in props::FILTER.iter().chain(props::NAT) {
        if p.attr == "chain" || out.iter().any(|o| o.attr == p.attr) {
            continue;
        }
        let mut p = *p;
        if p.attr == "action" {
            p.kind = Kind::Choice(props::RULE_ACTIONS);
        }
        out.push(p);
    }
    out
}

fn table_of(name: &str) -> Option<Table> {
    match name {
        "filter" => Some(Table::Filter),
        "nat" => Some(Table::Nat),
        _ => None,
    }
}

fn marker(owner: &str) -> String {
    format!("[{owner}]")
}

/// The comment RouterOS gets: the marker, then the rule's own comment.
fn marked(owner: &str, comment: Option<&str>) -> String {
    match comment.filter(|c| !c.is_empty()) {
        Some(c) => format!("{} {c}", marker(owner)),
        None => marker(owner),
    }
}

/// Which rules of the chain a ruleset owns.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Owner {
    /// Those whose comment starts with `[<owner>]` (the marker is not part
    /// of the rule's `comment` attribute).
    Marked(String),
    /// `exclusive`: every static rule of the chain, comments as they are
    /// (a chain adopted as it was built by hand).
    All,
}

impl Owner {
    /// The rule as the ruleset sees it (marker off), if it owns it.
    fn view(&self, item: &Item) -> Option<Item> {
        if item.dynamic() {
            return None;
        }
        let Owner::Marked(owner) = self else {
            return Some(item.clone());
        };
        let rest = item.get("comment")?.strip_prefix(&marker(owner))?;
        if !(rest.is_empty() || rest.starts_with(' ')) {
            return None;
        }
        let mut out = item.clone();
        let c = rest.trim_start();
        if c.is_empty() {
            out.props.remove("comment");
        } else {
            out.props.insert("comment".into(), c.to_string());
        }
        Some(out)
    }

    /// The comment RouterOS gets for a rule whose own comment is `comment`
    /// (`None`: no comment at all).
    fn comment(&self, comment: Option<&str>) -> Option<String> {
        match self {
            Owner::Marked(owner) => Some(marked(owner, comment)),
            Owner::All => comment.filter(|c| !c.is_empty()).map(str::to_string),
        }
    }
}

/// The chain as the planner sees it, and the owned rules (marker off).
struct Layout {
    slots: Vec<Slot<String>>,
    owned: Vec<Item>,
    /// Rules not owned (and not dynamic) above or among the owned ones.
    misplaced: Vec<String>,
}

fn layout(owner: &Owner, items: &[Item]) -> Layout {
    let mut slots = Vec::new();
    let mut owned = Vec::new();
    for i in items {
        let kind = if i.dynamic() {
            SlotKind::Fixed
        } else if let Some(o) = owner.view(i) {
            owned.push(o);
            SlotKind::Owned
        } else {
            SlotKind::Foreign
        };
        slots.push(Slot::new(i.id.clone(), kind));
    }
    let last_owned = slots.iter().rposition(|s| s.kind == SlotKind::Owned);
    let misplaced = match last_owned {
        None => Vec::new(),
        Some(end) => slots[..end]
            .iter()
            .filter(|s| s.kind == SlotKind::Foreign)
            .map(|s| s.id.clone())
            .collect(),
    };
    Layout {
        slots,
        owned,
        misplaced,
    }
}

/// Where the ruleset is: table, chain, owner.
#[derive(Debug, Clone)]
struct Place {
    table: Table,
    table_name: String,
    chain: String,
    /// The `owner` attribute (unused when `exclusive`).
    owner: String,
    /// The `exclusive` attribute: the ruleset owns every static rule.
    exclusive: bool,
}

impl Place {
    fn of(obj: &Value) -> Result<Place> {
        let table_name = text(obj, "table").unwrap_or("filter").to_string();
        let table = table_of(&table_name).ok_or_else(|| {
            Error::msg(format!("table {table_name:?} is not \"filter\" or \"nat\""))
                .at(AttributePath::attr("table"))
        })?;
        let chain = text(obj, "chain")
            .ok_or_else(|| Error::msg("the ruleset has no chain").at(AttributePath::attr("chain")))?
            .to_string();
        let owner = text(obj, "owner").unwrap_or(DEFAULT_OWNER).to_string();
        let exclusive = get(obj, "exclusive").as_bool() == Some(true);
        Ok(Place {
            table,
            table_name,
            chain,
            owner,
            exclusive,
        })
    }

    /// Which rules of the chain the ruleset owns.
    fn ownership(&self) -> Owner {
        if self.exclusive {
            Owner::All
        } else {
            Owner::Marked(self.owner.clone())
        }
    }

    fn id(&self) -> String {
        if self.exclusive {
            format!("{}/{}/{EXCLUSIVE_ID}", self.table_name, self.chain)
        } else if self.owner == DEFAULT_OWNER {
            format!("{}/{}", self.table_name, self.chain)
        } else {
            format!("{}/{}/{}", self.table_name, self.chain, self.owner)
        }
    }

    fn what(&self) -> String {
        let whose = if self.exclusive {
            "every static rule".to_string()
        } else {
            marker(&self.owner)
        };
        format!("{} chain {:?} ({whose})", self.table_name, self.chain)
    }

    async fn list(&self, c: &Client, fresh: bool) -> Result<Arc<Vec<Item>>, ApiError> {
        let filter = Some(("chain", self.chain.as_str()));
        if fresh {
            c.list_fresh(self.table, filter).await
        } else {
            c.list(self.table, filter).await
        }
    }
}

fn elements(v: &Value) -> &[Value] {
    get(v, "rules").elements().unwrap_or(&[])
}

/// The state for what the router has: `reference` (prior state or plan)
/// gives spellings and tells which rule is which.
fn state_of(place: &Place, items: &[Item], reference: &Value) -> Value {
    let props = rule_props(place.table);
    let lay = layout(&place.ownership(), items);
    let refs = elements(reference);
    let rules: Vec<Value> = lay
        .owned
        .iter()
        .enumerate()
        .map(|(k, item)| {
            let r = refs
                .iter()
                .find(|r| text(r, "id") == Some(item.id.as_str()))
                .or_else(|| {
                    refs.get(k)
                        .filter(|r| !get(r, "id").is_known() || get(r, "id").is_null())
                })
                .unwrap_or(&Value::Null);
            let mut m = fields::read(&props, item, r);
            // Attributes of the other table stay null.
            for p in schema_props() {
                m.entry(p.attr.to_string()).or_insert(Value::Null);
            }
            m.insert("id".into(), Value::string(&item.id));
            Value::Object(m)
        })
        .collect();
    let mut out: BTreeMap<String, Value> = BTreeMap::new();
    out.insert("id".into(), Value::string(place.id()));
    out.insert("table".into(), Value::string(&place.table_name));
    out.insert("chain".into(), Value::string(&place.chain));
    out.insert("owner".into(), Value::string(&place.owner));
    out.insert("exclusive".into(), Value::Bool(place.exclusive));
    out.insert("rules".into(), Value::list(rules));
    out.insert(
        "foreign_rules".into(),
        Value::list(lay.misplaced.into_iter().map(Value::string)),
    );
    Value::Object(out)
}

/// How an owned rule compares with a wanted one.
fn likeness(props: &[Prop], current: &Value, wanted: &Value) -> Likeness {
    let mut cosmetic = false;
    for p in props {
        if fields::same(p, get(current, p.attr), get(wanted, p.attr)) {
            continue;
        }
        if !p.cosmetic {
            return Likeness::Different;
        }
        cosmetic = true;
    }
    if cosmetic {
        Likeness::Cosmetic
    } else {
        Likeness::Same
    }
}

/// What to send to create wanted rule `w` in the place's chain.
fn create_props(place: &Place, props: &[Prop], w: &Value) -> Props {
    let mut out = fields::add_props(props, w);
    out.set.retain(|(k, _)| k != "comment");
    out.set.insert(0, ("chain".into(), place.chain.clone()));
    if let Some(c) = place.ownership().comment(text(w, "comment")) {
        out.set.push(("comment".into(), c));
    }
    out
}

/// The cosmetic edit from `current` to `wanted` (comment, log, log prefix).
fn cosmetic_props(place: &Place, props: &[Prop], current: &Value, wanted: &Value) -> Props {
    let cosmetic: Vec<Prop> = props.iter().filter(|p| p.cosmetic).copied().collect();
    let mut out = fields::change_props(&cosmetic, current, wanted);
    out.set.retain(|(k, _)| k != "comment");
    if !fields::same(
        props::find(props::FILTER, "comment").unwrap_or(&cosmetic[0]),
        get(current, "comment"),
        get(wanted, "comment"),
    ) {
        // No comment at all (`exclusive`) is cleared with an empty one.
        let c = place.ownership().comment(text(wanted, "comment"));
        out.set.push(("comment".into(), c.unwrap_or_default()));
    }
    out
}

/// Requests made, by kind, for the logs.
#[derive(Debug, Default)]
struct Tally {
    creates: usize,
    moves: usize,
    updates: usize,
    removes: usize,
}

/// One round: plan from `items` (the chain as listed) and run the requests.
/// Stops at the first failure.
async fn run_round(
    c: &Client,
    place: &Place,
    props: &[Prop],
    want: &[Value],
    items: &[Item],
    tally: &mut Tally,
) -> Result<usize, String> {
    let lay = layout(&place.ownership(), items);
    let owned: Vec<(String, Value)> = lay
        .owned
        .iter()
        .map(|i| {
            (
                i.id.clone(),
                Value::Object(fields::read(props, i, &Value::Null)),
            )
        })
        .collect();
    let hints: Vec<Option<String>> = want
        .iter()
        .map(|w| text(w, "id").map(str::to_string))
        .collect();
    let wants = assign_hinted(&owned, want, &hints, |cur, w| likeness(props, cur, w));
    let ops = plan_ops(&lay.slots, &wants).map_err(|e| e.to_string())?;
    let current = |id: &str| owned.iter().find(|(i, _)| i == id).map(|(_, v)| v);
    let wanted_for = |id: &str| {
        wants
            .iter()
            .position(|w| matches!(w, Want::Keep { id: k, .. } if k == id))
    };
    for op in &ops {
        let step: Result<(), ApiError> = match op {
            Op::Create { index, before } => {
                tally.creates += 1;
                let w = &want[*index];
                let body = create_props(place, props, w);
                let owner = place.ownership();
                let m = owner.comment(text(w, "comment"));
                c.add(place.table, &body, before.as_deref(), |i| {
                    i.get("chain") == Some(place.chain.as_str())
                        && i.get("comment").filter(|c| !c.is_empty()) == m.as_deref()
                        && owner.view(i).is_some_and(|o| fields::matches(props, w, &o))
                })
                .await
                .map(|_| ())
            }
            Op::Move { id, before } => {
                tally.moves += 1;
                c.move_before(place.table, id, before.as_deref()).await
            }
            Op::Update { id } => {
                tally.updates += 1;
                match (current(id), wanted_for(id)) {
                    (Some(cur), Some(k)) => {
                        let body = cosmetic_props(place, props, cur, &want[k]);
                        c.set(place.table, id, &body).await.map(|_| ())
                    }
                    _ => Ok(()),
                }
            }
            Op::Remove { id } => {
                tally.removes += 1;
                c.remove(place.table, id).await.map(|_| ())
            }
        };
        step.map_err(|e| e.to_string())?;
    }
    Ok(ops.len())
}

/// Whether the chain holds exactly the wanted block, with no foreign rule
/// above or inside it.
fn converged(place: &Place, props: &[Prop], want: &[Value], items: &[Item]) -> bool {
    let lay = layout(&place.ownership(), items);
    lay.misplaced.is_empty()
        && lay.owned.len() == want.len()
        && lay
            .owned
            .iter()
            .zip(want)
            .all(|(o, w)| fields::matches(props, w, o))
}

/// Turn the chain into `want` (the wanted rules, in order) and return the
/// state read back. A rule another tool adds meanwhile is dealt with in a
/// further round (at most three). On failure, the state of what the router
/// has is attached, so Terraform records where the apply stopped.
/// A write round that may have changed the chain could not be read back:
/// on create and update the ruleset stays in the state (with the rules last
/// read), so the rules already written are owned, not orphaned, and the
/// next refresh reads what the chain holds (found by the acceptance fault
/// matrix: a 500 on the read-back of a create left both rules outside any
/// state). A failed delete keeps the prior state anyway.
fn unread(err: Error, place: &Place, items: &[Item], reference: &Value, verb: &str) -> Error {
    if verb == "delete" {
        err
    } else {
        err.with_partial_state(&Raw(state_of(place, items, reference)))
    }
}

async fn converge(ctx: &Ctx<Client>, place: &Place, want: &[Value], verb: &str) -> Result<Value> {
    let c = ctx.client();
    let props = rule_props(place.table);
    let what = place.what();
    let fail = |e: String| {
        Error::new(
            format!("Unable to {verb} firewall ruleset"),
            format!("{what}: {e}"),
        )
    };
    let reference = Value::object([("rules", Value::list(want.iter().cloned()))]);
    let mut items = place.list(c, true).await.map_err(|e| fail(e.to_string()))?;
    let mut tally = Tally::default();
    for _round in 0..3 {
        let ran = run_round(c, place, &props, want, &items, &mut tally).await;
        let read_back = place.list(c, true).await;
        match (ran, read_back) {
            (Ok(n), Ok(now)) => {
                items = now;
                if n == 0 || converged(place, &props, want, &items) {
                    break;
                }
            }
            (Ok(_), Err(e)) => {
                return Err(unread(
                    fail(format!(
                        "the rules were written, but reading the chain back failed: {e}. \
                         Run `terraform apply` again: it reads the chain first and finishes \
                         the change."
                    )),
                    place,
                    &items,
                    &reference,
                    verb,
                ));
            }
            (Err(e), Ok(now)) => {
                let st = state_of(place, &now, &reference);
                return Err(fail(format!(
                    "{e}. The apply stopped there: the chain is in a safe intermediate order \
                     (every packet gets the old or the new verdict), and the state shows it; \
                     run `terraform apply` again to finish."
                ))
                .with_partial_state(&Raw(st)));
            }
            (Err(e), Err(_)) => {
                return Err(unread(
                    fail(format!(
                        "{e}. Reading the chain back failed too; run `terraform apply` again: \
                         it reads the chain first and finishes the change."
                    )),
                    place,
                    &items,
                    &reference,
                    verb,
                ));
            }
        }
    }
    tracing::info!(
        chain = %place.chain,
        creates = tally.creates,
        moves = tally.moves,
        updates = tally.updates,
        removes = tally.removes,
        "routeros ruleset converged"
    );
    let st = state_of(place, &items, &reference);
    if !converged(place, &props, want, &items) {
        return Err(fail(
            "the chain read back differs from the configuration (changed during the apply?); \
             run `terraform apply` again."
                .into(),
        )
        .with_partial_state(&Raw(st)));
    }
    Ok(st)
}

fn rule_attributes() -> Vec<(&'static str, Attribute)> {
    let mut out: Vec<(&'static str, Attribute)> = schema_props()
        .iter()
        .map(|p| {
            let mut a = fields::attribute(p, false);
            // A rule that cannot be edited is replaced within the chain (create,
            // then remove), never by replacing the whole ruleset.
            a.plan_modifiers.clear();
            (p.attr, a)
        })
        .collect();
    out.push((
        "id",
        Attribute::string()
            .computed()
            .describe("RouterOS's id of the rule (`*1A`)."),
    ));
    out
}

impl Resource for FirewallRuleset {
    type Client = Client;
    type Model = Raw;
    const NAME: &'static str = "routeros_firewall_ruleset";

    fn schema(&self) -> Schema {
        Schema::new(
            "All of one chain's firewall rules (filter or NAT), in order, managed as one.\n\n\
             **Ownership**: the ruleset owns the rules of its chain whose comment starts with \
             `[<owner>]` (`[homelab]`; each rule's `comment` follows it), or with `exclusive = true` \
             every static rule of the chain (a chain adopted as built by hand). Other rules are never \
             edited or removed: RouterOS's dynamic rules stay where they are (nothing is placed \
             before them); rules of other tools or made by hand keep their order below the \
             ruleset's rules, which sit at the top of the chain. A rule that is not owned and \
             sits above or among the ruleset's rules shows in `foreign_rules`, and the next \
             apply moves the ruleset's rules above it. Rules of \
             `homelab_routeros_firewall_filter` in the same chain are not owned either.\n\n\
             **Safe changes**: new and changed rules go in before old ones go, reorders use \
             `move`, removals come last, bottom-up. After every single request, every packet \
             gets the verdict of the old ruleset or the new one: traffic both deny (e.g. by a \
             final `drop`) stays denied throughout, also if an apply fails half-way (the state \
             then shows the chain as it is). Editing a rule's matchers or action replaces it \
             (create, then remove); comments and logging are edited in place.\n\n\
             **Cost**: refresh lists the chain once; reordering n rules takes at most n - 1 \
             moves (49 for 50 rules).\n\n\
             End a filter chain with a `drop` rule to make it deny by default.",
        )
        .attribute(
            "id",
            Attribute::string()
                .computed()
                .describe("`table/chain` (`table/chain/owner` with another owner).")
                .plan_modifier(modifiers::use_state_for_unknown()),
        )
        .attribute(
            "table",
            Attribute::string()
                .required()
                .describe("`filter` (`/ip/firewall/filter`) or `nat` (`/ip/firewall/nat`).")
                .validator(validators::one_of(&["filter", "nat"]))
                .plan_modifier(modifiers::requires_replace()),
        )
        .attribute(
            "chain",
            Attribute::string()
                .required()
                .describe(
                    "The chain: `input`, `forward`, `output`, `srcnat`, `dstnat`, or your own.",
                )
                .validator(validators::length_between(1, 255))
                .plan_modifier(modifiers::requires_replace()),
        )
        .attribute(
            "owner",
            Attribute::string()
                .default(DEFAULT_OWNER)
                .describe(
                    "The marker `[<owner>]` that starts the comments of the ruleset's rules. Give \
                     rulesets of one chain managed from different configurations different owners.",
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
                    "Own every static rule of the chain, whatever its comment, with comments as \
                     they are (no `[<owner>]` marker): the way to adopt a chain built by hand or \
                     by another tool, in its order (`homelab-discover` imports such chains with \
                     the id `table/chain/*`). Any other static rule that appears in the chain is \
                     removed by the next apply, so give no other ruleset or \
                     `homelab_routeros_firewall_filter`/`_nat` the same chain. `owner` is not used. \
                     Changing it is done in place: the rules the ruleset then owns are turned into \
                     the configured ones.",
                ),
        )
        .attribute(
            "rules",
            Attribute::nested(Nesting::List, rule_attributes())
                .required()
                .describe(
                    "The rules, top to bottom. The attributes are those of \
                     `homelab_routeros_firewall_filter` (or `_nat` with `table = \"nat\"`) without \
                     `chain`.",
                ),
        )
        .attribute(
            "foreign_rules",
            Attribute::list(Type::String).computed().describe(
                "Ids of rules the ruleset does not own that sit above or among its rules, as \
                 last read. Always planned empty: apply moves the ruleset's rules above them.",
            ),
        )
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        let mut d = Diagnostics::new();
        // The default owner is accepted: generated configuration writes it
        // back from the state before `homelab-discover tidy` drops it.
        if get(config, "exclusive").as_bool() == Some(true)
            && text(config, "owner").is_some_and(|o| o != DEFAULT_OWNER)
        {
            d.attribute_error(
                AttributePath::attr("owner"),
                "Invalid attribute combination",
                "An `exclusive` ruleset owns every static rule of its chain and puts no \
                 `[<owner>]` marker in comments: leave `owner` out.",
            );
        }
        let Some(table) = text(config, "table").and_then(table_of) else {
            return d;
        };
        let props = rule_props(table);
        let (name, other, actions) = if table == Table::Nat {
            ("nat", "filter", props::NAT_ACTIONS)
        } else {
            ("filter", "NAT", props::FILTER_ACTIONS)
        };
        for (i, r) in elements(config).iter().enumerate() {
            let at = AttributePath::attr("rules").join_index(i as i64);
            for p in schema_props() {
                let v = get(r, p.attr);
                let known_here = props.iter().any(|q| q.attr == p.attr);
                if !known_here && v.is_known() && !v.is_null() {
                    d.attribute_error(
                        at.join_attr(p.attr),
                        "Invalid attribute combination",
                        format!(
                            "{}: `{}` is a {other} rule property; this ruleset manages the {name} table.",
                            at.join_attr(p.attr),
                            p.attr
                        ),
                    );
                }
            }
            if let Some(a) = text(r, "action")
                && !actions.contains(&a)
            {
                d.attribute_error(
                    at.join_attr("action"),
                    "Invalid attribute value",
                    format!(
                        "{}: {a:?} is not an action of {name} rules ({})",
                        at.join_attr("action"),
                        actions.join(", ")
                    ),
                );
            }
            fields::check_rule(&props, r, &at, &mut d);
        }
        d
    }

    fn import_id_format(&self) -> Option<&'static str> {
        Some(
            "`table/chain`, e.g. `filter/input` (the rules marked `[homelab]`), \
             `table/chain/owner` for another owner, or `table/chain/*` for every static rule of \
             the chain (`exclusive = true`: a chain built by hand)",
        )
    }

    async fn modify_plan(&self, _: &Ctx<Client>, plan: &mut PlanChange<'_>) -> Result<()> {
        if plan.destroying() {
            return Ok(());
        }
        plan.set("foreign_rules", Value::list([]));
        if let (Some(t), Some(c)) = (
            plan.config_attr("table").as_str(),
            plan.config_attr("chain").as_str(),
        ) {
            let owner = plan
                .planned_attr("owner")
                .as_str()
                .unwrap_or(DEFAULT_OWNER)
                .to_string();
            if let Some(table) = table_of(t) {
                let place = Place {
                    table,
                    table_name: t.to_string(),
                    chain: c.to_string(),
                    owner,
                    exclusive: plan.planned_attr("exclusive").as_bool() == Some(true),
                };
                plan.set("id", Value::string(place.id()));
            }
        }
        let table = plan
            .config_attr("table")
            .as_str()
            .and_then(table_of)
            .unwrap_or(Table::Filter);
        let props = rule_props(table);
        let config = plan.config_attr("rules").clone();
        let prior = plan.prior_attr("rules").clone();
        let mut rules = plan.planned_attr("rules").clone();
        if let Value::List(planned) = &mut rules {
            let cs = config.elements().unwrap_or(&[]);
            let ps = prior.elements().unwrap_or(&[]);
            for (i, p) in planned.iter_mut().enumerate() {
                let (Some(c), Some(old)) = (cs.get(i), ps.get(i)) else {
                    put(p, "id", Value::unknown());
                    continue;
                };
                if fields::all_same(&props, c, old) && !c.contains_unknown() {
                    *p = old.clone();
                    continue;
                }
                // The same rule with a cosmetic edit keeps the prior's spellings;
                // another rule at this position keeps the configuration's.
                if likeness(&props, old, c) == Likeness::Cosmetic {
                    fields::suppress(&props, c, old, p);
                }
                put(p, "id", Value::unknown());
            }
        }
        plan.set("rules", rules);
        Ok(())
    }

    async fn create(&self, ctx: &Ctx<Client>, plan: Raw) -> Result<Raw> {
        let place = Place::of(&plan.0)?;
        converge(ctx, &place, elements(&plan.0), "create")
            .await
            .map(Raw)
    }

    async fn read(&self, ctx: &Ctx<Client>, state: Raw) -> Result<Option<Raw>> {
        let place = Place::of(&state.0)?;
        let items = place.list(ctx.client(), false).await.map_err(|e| {
            Error::new(
                "Unable to read firewall ruleset",
                format!("{}: {e}", place.what()),
            )
        })?;
        Ok(Some(Raw(state_of(&place, &items, &state.0))))
    }

    async fn update(&self, ctx: &Ctx<Client>, _prior: Raw, plan: Raw) -> Result<Raw> {
        let place = Place::of(&plan.0)?;
        converge(ctx, &place, elements(&plan.0), "update")
            .await
            .map(Raw)
    }

    async fn delete(&self, ctx: &Ctx<Client>, state: Raw) -> Result<()> {
        let place = Place::of(&state.0)?;
        converge(ctx, &place, &[], "delete").await.map(|_| ())
    }

    async fn import(&self, ctx: &Ctx<Client>, id: &str) -> Result<Raw> {
        let parts: Vec<&str> = id.split('/').collect();
        let (table, chain, owner, exclusive) = match parts.as_slice() {
            [t, c] => (*t, *c, DEFAULT_OWNER, false),
            [t, c, o] if *o == EXCLUSIVE_ID => (*t, *c, DEFAULT_OWNER, true),
            [t, c, o] => (*t, *c, *o, false),
            _ => {
                return Err(Error::new(
                    "Unable to import firewall ruleset",
                    format!(
                        "{id:?} is not `table/chain`, `table/chain/owner` or `table/chain/*` \
                         (e.g. `filter/input`)."
                    ),
                ));
            }
        };
        let obj = Value::object([
            ("table", Value::string(table)),
            ("chain", Value::string(chain)),
            ("owner", Value::string(owner)),
            ("exclusive", Value::Bool(exclusive)),
        ]);
        let place = Place::of(&obj).map_err(|e| e.context("Unable to import firewall ruleset"))?;
        let items = place.list(ctx.client(), false).await.map_err(|e| {
            Error::new(
                "Unable to import firewall ruleset",
                format!("{}: {e}", place.what()),
            )
        })?;
        if let Some((summary, detail)) = unmanaged_warning(&place, &items) {
            ctx.warn(summary, detail);
        }
        Ok(Raw(state_of(&place, &items, &Value::Null)))
    }
}

/// The warning an import owes when rules it takes have properties the
/// ruleset does not manage (`tcp-flags`, `limit`, ...): neither the state
/// nor the configuration Terraform generates holds them, so an empty plan
/// after the import does not mean the configuration describes the chain.
fn unmanaged_warning(place: &Place, items: &[Item]) -> Option<(String, String)> {
    let table = if place.table == Table::Nat {
        props::NAT
    } else {
        props::FILTER
    };
    let rules: Vec<String> = layout(&place.ownership(), items)
        .owned
        .iter()
        .filter_map(|i| {
            let extra = props::unmanaged(table, i.props.keys());
            (!extra.is_empty()).then(|| format!("{} ({})", i.id, extra.join(", ")))
        })
        .collect();
    if rules.is_empty() {
        return None;
    }
    Some((
        "Imported rules have properties not managed here".to_string(),
        format!(
            "{}: rules with properties the ruleset does not manage: {}. They stay on the router \
             but are neither in the state nor in the configuration: a rule made again (a change \
             the ruleset cannot make in place, or a rule removed by hand) would lack them.",
            place.what(),
            rules.join("; ")
        ),
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn item(id: &str, pairs: &[(&str, &str)]) -> Item {
        Item {
            id: id.into(),
            props: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn an_unread_chain_keeps_the_ruleset_in_state_except_on_delete() {
        let obj = Value::object([
            ("table", Value::string("filter")),
            ("chain", Value::string("forward")),
        ]);
        let place = Place::of(&obj).unwrap();
        let reference = Value::object([("rules", Value::list(Vec::new()))]);
        let e = unread(Error::msg("boom"), &place, &[], &reference, "create");
        let partial = e.partial_state().expect("a partial state on create");
        assert_eq!(text(partial, "id"), Some("filter/forward"));
        let e = unread(Error::msg("boom"), &place, &[], &reference, "delete");
        assert!(e.partial_state().is_none());
    }

    #[test]
    fn an_import_warns_of_rule_properties_it_does_not_manage() {
        let place = |table: &str, exclusive: bool| {
            Place::of(&Value::object([
                ("table", Value::string(table)),
                ("chain", Value::string("input")),
                ("exclusive", Value::Bool(exclusive)),
            ]))
            .unwrap()
        };
        let items = [
            // The router's own: not taken, not reported.
            item(
                "*1",
                &[("chain", "input"), ("dynamic", "true"), ("limit", "1,5")],
            ),
            item(
                "*2",
                &[
                    ("chain", "input"),
                    ("action", "accept"),
                    ("bytes", "10"),
                    ("comment", "defconf: accept"),
                ],
            ),
            item(
                "*3",
                &[
                    ("chain", "input"),
                    ("protocol", "tcp"),
                    ("tcp-flags", "syn"),
                    ("connection-limit", "100,32"),
                ],
            ),
        ];
        let (summary, detail) = unmanaged_warning(&place("filter", true), &items).unwrap();
        assert!(summary.contains("not managed"), "{summary}");
        assert!(
            detail.contains("*3 (connection-limit, tcp-flags)") && !detail.contains("*1"),
            "{detail}"
        );
        assert!(!detail.contains("*2"), "{detail}");
        // Not exclusive: none of these rules is the ruleset's (no marker).
        assert!(unmanaged_warning(&place("filter", false), &items).is_none());
        // NAT's own properties are managed in the nat table.
        let nat = [item(
            "*4",
            &[("chain", "input"), ("to-addresses", "10.0.0.1")],
        )];
        assert!(unmanaged_warning(&place("nat", true), &nat).is_none());
    }

    #[test]
    fn ownership_follows_the_marker() {
        let items = [
            item(
                "*1",
                &[
                    ("chain", "forward"),
                    ("dynamic", "true"),
                    ("comment", "special dummy rule to show fasttrack counters"),
                ],
            ),
            item(
                "*2",
                &[("chain", "forward"), ("comment", "defconf: accept")],
            ),
            item(
                "*3",
                &[("chain", "forward"), ("comment", "[homelab] allow dns")],
            ),
            item("*4", &[("chain", "forward"), ("comment", "[homelab]")]),
            item(
                "*5",
                &[("chain", "forward"), ("comment", "[homelabx] not ours")],
            ),
            item("*6", &[("chain", "forward")]),
        ];
        let l = layout(&Owner::Marked("homelab".into()), &items);
        let kinds: Vec<SlotKind> = l.slots.iter().map(|s| s.kind).collect();
        assert_eq!(
            kinds,
            [
                SlotKind::Fixed,
                SlotKind::Foreign,
                SlotKind::Owned,
                SlotKind::Owned,
                SlotKind::Foreign,
                SlotKind::Foreign
            ]
        );
        assert_eq!(l.owned[0].get("comment"), Some("allow dns"));
        assert_eq!(l.owned[1].get("comment"), None);
        // The defconf rule above the block is misplaced; those below are not.
        assert_eq!(l.misplaced, ["*2"]);
        assert_eq!(marked("homelab", Some("x")), "[homelab] x");
        assert_eq!(marked("homelab", None), "[homelab]");
        // Exclusive: every static rule, in order, comments as they are.
        let l = layout(&Owner::All, &items);
        let ids: Vec<&str> = l.owned.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["*2", "*3", "*4", "*5", "*6"]);
        assert_eq!(l.owned[1].get("comment"), Some("[homelab] allow dns"));
        assert!(l.misplaced.is_empty());
        assert_eq!(l.slots[0].kind, SlotKind::Fixed);
        assert_eq!(Owner::All.comment(Some("")), None);
        assert_eq!(Owner::All.comment(Some("x")).as_deref(), Some("x"));
    }

    #[test]
    fn exclusive_rulesets_have_their_own_id_and_exclude_owner() {
        let s = Value::string;
        let obj = Value::object([
            ("table", s("nat")),
            ("chain", s("dstnat")),
            ("exclusive", Value::Bool(true)),
        ]);
        let place = Place::of(&obj).unwrap();
        assert_eq!(place.id(), "nat/dstnat/*");
        assert_eq!(place.ownership(), Owner::All);
        let w = Value::object([("action", s("dst-nat")), ("to_addresses", s("10.0.0.5"))]);
        let body = create_props(&place, &rule_props(Table::Nat), &w);
        assert!(body.set.iter().all(|(k, _)| k != "comment"), "{body:?}");
        let config = Value::object([
            ("table", s("filter")),
            ("chain", s("input")),
            ("owner", s("ops")),
            ("exclusive", Value::Bool(true)),
            ("rules", Value::list([])),
        ]);
        let d = FirewallRuleset.validate(&config);
        assert_eq!(d.0.len(), 1, "{d:?}");
        assert!(d.0[0].detail.contains("leave `owner` out"), "{d:?}");
    }

    #[test]
    fn likeness_separates_cosmetic_edits() {
        let props = rule_props(Table::Filter);
        let s = Value::string;
        let a = Value::object([("action", s("drop")), ("comment", s("x"))]);
        let b = Value::object([
            ("action", s("drop")),
            ("comment", s("y")),
            ("log", Value::Bool(true)),
        ]);
        let c = Value::object([("action", s("accept")), ("comment", s("x"))]);
        assert_eq!(likeness(&props, &a, &a), Likeness::Same);
        assert_eq!(likeness(&props, &a, &b), Likeness::Cosmetic);
        assert_eq!(likeness(&props, &a, &c), Likeness::Different);
    }

    #[test]
    fn validation_names_the_rule_and_attribute() {
        let r = FirewallRuleset;
        let s = Value::string;
        let config = Value::object([
            ("table", s("filter")),
            ("chain", s("input")),
            (
                "rules",
                Value::list([
                    Value::object([("action", s("accept")), ("to_ports", s("80"))]),
                    Value::object([("action", s("masquerade"))]),
                    Value::object([("action", s("accept")), ("dst_port", s("22"))]),
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
            ["rules[0].to_ports", "rules[1].action", "rules[2].dst_port"],
            "{d:?}"
        );
        assert!(r.schema().definition_errors().is_empty());
        let schema = r.schema();
        let (_, rules) = schema.attributes["rules"].nested_schema().unwrap();
        assert!(
            rules
                .attributes
                .values()
                .all(|a| a.plan_modifiers.is_empty()),
            "no rule attribute may replace the whole ruleset"
        );
    }
}
