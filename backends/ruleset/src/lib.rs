//! # labforge-ruleset: change an ordered ruleset without opening a window
//!
//! A firewall chain is an ordered list of rules; the first rule that decides
//! a packet (accept, drop, return, ...) gives its verdict, and a packet no
//! rule decides gets the chain's policy. Turning one chain into another with
//! single-rule requests (add, move, edit, remove) passes through intermediate
//! chains, and a careless order opens windows: drop the old "deny ssh" before
//! the new one is in place and ssh is open for a moment (or for good, if the
//! apply fails right there).
//!
//! [`plan`] orders the requests so that **for every packet, every
//! intermediate chain gives either the old chain's verdict or the new
//! chain's**. Traffic that both the old and the new ruleset deny is denied
//! throughout, and a final default-deny that both have stays in place. It
//! holds for any rule semantics (matchers, jumps, logging rules that do not
//! decide), because the plan only ever visits chains of the form
//!
//! ```text
//! [ P , O minus P ]      P: a prefix of the final chain, built top-down
//!                        O minus P: the rest of the old chain, in old order
//! ```
//!
//! A packet some rule of `P` decides gets the new verdict (that prefix is
//! the top of the new chain); a packet no rule of `P` decides was not decided
//! by the old rules moved into `P` either, so the rest gives it the old
//! verdict. Rules to remove are never moved: the block is built around them
//! (every rule above one of them in the old chain is above it still, so a
//! packet it decides gets the old verdict) and they go last, bottom-up,
//! which keeps the property. Every intermediate state is therefore also a
//! safe place for an apply to fail. The property tests check all of this
//! against a model firewall after every single request.
//!
//! ## What the caller provides
//!
//! - the current chain, top to bottom, as [`Slot`]s: each rule's id and
//!   [`Kind`]: `Owned` (the ruleset's: may be moved, edited, removed),
//!   `Foreign` (another tool's or hand-made: never edited or removed, but may
//!   be moved below the block), `Fixed` (built-in or dynamic: never moved,
//!   and nothing is ever placed before it);
//! - the wanted block, top to bottom, as [`Want`]s: keep an owned rule (with
//!   a cosmetic edit, e.g. a comment, if `update`), or create a new one.
//!   [`assign`] derives them from rule contents.
//!
//! The block goes to the top of the chain, below the leading fixed rules.
//! Foreign rules end up below it in their old order; a fixed rule met while
//! building the block stays where it is.
//!
//! ## Requests
//!
//! A kept rule costs nothing if it is already in place, else one move
//! (sometimes one move of another rule puts several in place at once: the
//! plan is a shortest path over the safe states). A changed rule (anything
//! but a cosmetic edit) is a create plus a remove, never an in-place edit,
//! which could open a window. Reordering `n` rules takes at most `n - 1`
//! moves (reversal; `n - 1` is also the least any single-move plan needs
//! then), so at most **49 requests for a 50-rule chain**.
//!
//! No vendor knowledge lives here: RouterOS (`place-before`, `move`) and
//! pfSense use the same plans.

#![warn(missing_docs, unreachable_pub)]

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::Hash;

/// Who a rule of the current chain belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// The ruleset's own rule: may be moved, edited and removed.
    Owned,
    /// Another tool's or a hand-made rule: never edited or removed; may be
    /// moved below the ruleset's block.
    Foreign,
    /// A built-in or dynamic rule: never moved, and nothing is placed
    /// before it.
    Fixed,
}

/// One rule of the current chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot<Id> {
    /// The caller's id of the rule (e.g. RouterOS's `.id`, pfSense's tracker).
    pub id: Id,
    /// Whose rule it is, which decides what the plan may do with it.
    pub kind: Kind,
}

impl<Id> Slot<Id> {
    /// A rule `id` of kind `kind`.
    pub fn new(id: Id, kind: Kind) -> Self {
        Self { id, kind }
    }
}

/// One rule of the wanted block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want<Id> {
    /// Keep this owned rule here; `update`: it needs a cosmetic edit (one
    /// that changes no verdict, such as its comment).
    Keep {
        /// The id of an [`Kind::Owned`] rule of the current chain.
        id: Id,
        /// `true`: emit an [`Op::Update`] for it (its cosmetic edit).
        update: bool,
    },
    /// Create the caller's new rule number `n`.
    Create(usize),
}

/// One request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op<Id> {
    /// Create new rule `index`, placed before `before` (at the end if `None`).
    Create {
        /// The `n` of the [`Want::Create`] this request creates.
        index: usize,
        /// The current rule it goes before; `None`: the end of the chain.
        before: Option<Id>,
    },
    /// Move `id` to just before `before` (to the end if `None`).
    Move {
        /// The rule to move (owned or foreign, never fixed).
        id: Id,
        /// The rule it goes before; `None`: the end of the chain.
        before: Option<Id>,
    },
    /// Apply the cosmetic edit of a kept rule.
    Update {
        /// The kept rule to edit in place.
        id: Id,
    },
    /// Remove an owned rule the block no longer has.
    Remove {
        /// The owned rule to remove.
        id: Id,
    },
}

/// Why no plan can be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError<Id> {
    /// A kept id is not in the current chain.
    Unknown(Id),
    /// A kept id is not an owned rule.
    NotOwned(Id),
    /// An id is kept twice.
    Duplicate(Id),
    /// A create index appears twice.
    DuplicateCreate(usize),
}

impl<Id: fmt::Debug> fmt::Display for PlanError<Id> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::Unknown(id) => write!(f, "rule {id:?} is not in the chain"),
            PlanError::NotOwned(id) => write!(f, "rule {id:?} is not owned by the ruleset"),
            PlanError::Duplicate(id) => write!(f, "rule {id:?} is kept twice"),
            PlanError::DuplicateCreate(n) => write!(f, "new rule {n} is created twice"),
        }
    }
}

impl<Id: fmt::Debug> std::error::Error for PlanError<Id> {}

/// How a current rule compares with a wanted one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Likeness {
    /// Identical.
    Same,
    /// Same verdicts; differs only in what decides nothing (comment, logging).
    Cosmetic,
    /// Decides some packet differently, or may.
    Different,
}

/// The wanted block from rule contents: each wanted rule keeps an unclaimed
/// owned rule that is the [`Likeness::Same`] (first in chain order), else one
/// that differs only cosmetically (kept with `update`), else is created.
/// `owned` is the owned rules in chain order; `like(current, wanted)`.
pub fn assign<Id: Clone + PartialEq, R, W>(
    owned: &[(Id, R)],
    wanted: &[W],
    like: impl Fn(&R, &W) -> Likeness,
) -> Vec<Want<Id>> {
    assign_hinted(owned, wanted, &[], like)
}

/// [`assign`], but wanted rule `i` first keeps the owned rule `hints[i]`
/// names (e.g. the id it had in the last state), if that one still is the
/// same or differs only cosmetically. Identical rules then keep their ids.
pub fn assign_hinted<Id: Clone + PartialEq, R, W>(
    owned: &[(Id, R)],
    wanted: &[W],
    hints: &[Option<Id>],
    like: impl Fn(&R, &W) -> Likeness,
) -> Vec<Want<Id>> {
    let mut claimed = vec![false; owned.len()];
    let mut out: Vec<Option<Want<Id>>> = vec![None; wanted.len()];
    for (i, w) in wanted.iter().enumerate() {
        let Some(Some(h)) = hints.get(i) else {
            continue;
        };
        if let Some(j) = (0..owned.len()).find(|&j| !claimed[j] && owned[j].0 == *h) {
            let l = like(&owned[j].1, w);
            if l != Likeness::Different {
                claimed[j] = true;
                out[i] = Some(Want::Keep {
                    id: h.clone(),
                    update: l == Likeness::Cosmetic,
                });
            }
        }
    }
    for pass in [Likeness::Same, Likeness::Cosmetic] {
        for (i, w) in wanted.iter().enumerate() {
            if out[i].is_some() {
                continue;
            }
            if let Some(j) = (0..owned.len()).find(|&j| !claimed[j] && like(&owned[j].1, w) == pass)
            {
                claimed[j] = true;
                out[i] = Some(Want::Keep {
                    id: owned[j].0.clone(),
                    update: pass == Likeness::Cosmetic,
                });
            }
        }
    }
    out.into_iter()
        .enumerate()
        .map(|(i, w)| w.unwrap_or(Want::Create(i)))
        .collect()
}

/// The requests that turn `current` into the chain with `want` as its block,
/// in an order that never opens a window (see the crate docs).
pub fn plan<Id: Clone + Eq + Hash>(
    current: &[Slot<Id>],
    want: &[Want<Id>],
) -> Result<Vec<Op<Id>>, PlanError<Id>> {
    let kinds: HashMap<&Id, Kind> = current.iter().map(|s| (&s.id, s.kind)).collect();
    // Where each kept id sits in the block.
    let mut keep_at: HashMap<&Id, usize> = HashMap::new();
    let mut creates = HashSet::new();
    for (k, w) in want.iter().enumerate() {
        match w {
            Want::Keep { id, .. } => {
                match kinds.get(id) {
                    None => return Err(PlanError::Unknown(id.clone())),
                    Some(Kind::Owned) => {}
                    Some(_) => return Err(PlanError::NotOwned(id.clone())),
                }
                if keep_at.insert(id, k).is_some() {
                    return Err(PlanError::Duplicate(id.clone()));
                }
            }
            Want::Create(n) => {
                if !creates.insert(*n) {
                    return Err(PlanError::DuplicateCreate(*n));
                }
            }
        }
    }

    // The block is built below the leading fixed rules; `rest` is the
    // remainder of the old chain, in old order.
    let lead = current.iter().take_while(|s| s.kind == Kind::Fixed).count();
    let rest = &current[lead..];
    let m = want.len();
    // State k: the first k wanted rules are in place at the top; still in
    // the rest are the rules not kept before k.
    let present = |i: usize, k: usize| keep_at.get(&rest[i].id).is_none_or(|&at| at >= k);
    // Rules to remove: they stay where they are until the end.
    let stale = |i: usize| rest[i].kind == Kind::Owned && !keep_at.contains_key(&rest[i].id);
    // What to place before in state k: the first rule of the rest that is
    // neither fixed nor to be removed. Fixed rules met there stay above the
    // block's remainder; so do rules to be removed (until they are), which
    // is safe: every rule above them in the old chain is above them still.
    let front = |k: usize| {
        (0..rest.len()).find(|&i| present(i, k) && rest[i].kind != Kind::Fixed && !stale(i))
    };
    let is_want = |i: usize, k: usize| match &want[k] {
        Want::Keep { id, .. } => rest[i].id == *id,
        Want::Create(_) => false,
    };

    // Shortest path over the states 0..=m. Edges: the wanted rule is in
    // front (free); put it there (one create or move); or move the front
    // rule down past the run of wanted rules that follows it (one move).
    let mut dist = vec![usize::MAX; m + 1];
    let mut step: Vec<Option<(usize, Option<Op<Id>>)>> = vec![None; m + 1];
    dist[0] = 0;
    for k in 0..m {
        if dist[k] == usize::MAX {
            continue;
        }
        let f = front(k);
        let before = f.map(|i| rest[i].id.clone());
        let mut relax = |to: usize, cost: usize, op: Option<Op<Id>>| {
            if dist[k] + cost < dist[to] {
                dist[to] = dist[k] + cost;
                step[to] = Some((k, op));
            }
        };
        match (&want[k], f) {
            (_, Some(i)) if is_want(i, k) => relax(k + 1, 0, None),
            (Want::Keep { id, .. }, _) => relax(
                k + 1,
                1,
                Some(Op::Move {
                    id: id.clone(),
                    before,
                }),
            ),
            (Want::Create(n), _) => relax(k + 1, 1, Some(Op::Create { index: *n, before })),
        }
        let Some(x) = f else { continue };
        if is_want(x, k) {
            continue;
        }
        // The run of wanted rules right behind the front rule.
        let mut j = k;
        let mut dest = None;
        for i in (x + 1)..rest.len() {
            if !present(i, k) {
                continue;
            }
            if j < m && is_want(i, j) {
                j += 1;
            } else {
                dest = Some(i);
                break;
            }
        }
        let placeable = dest.is_none_or(|i| rest[i].kind != Kind::Fixed);
        if j > k && placeable {
            relax(
                j,
                1,
                Some(Op::Move {
                    id: rest[x].id.clone(),
                    before: dest.map(|i| rest[i].id.clone()),
                }),
            );
        }
    }

    let mut ops = Vec::new();
    let mut k = m;
    while k > 0 {
        let Some((from, op)) = step[k].take() else {
            break;
        };
        ops.extend(op);
        k = from;
    }
    ops.reverse();
    for w in want {
        if let Want::Keep { id, update: true } = w {
            ops.push(Op::Update { id: id.clone() });
        }
    }
    // Owned rules the block no longer has: bottom-up.
    ops.extend(
        current
            .iter()
            .rev()
            .filter(|s| s.kind == Kind::Owned && !keep_at.contains_key(&s.id))
            .map(|s| Op::Remove { id: s.id.clone() }),
    );
    Ok(ops)
}

/// Apply `op` to a chain of ids, as the device would (`created(index)` is
/// the id a create gets). `false` if the op does not fit the chain (an
/// unknown id, or a move before itself).
pub fn apply<Id: Clone + Eq>(
    chain: &mut Vec<Id>,
    op: &Op<Id>,
    created: impl FnOnce(usize) -> Id,
) -> bool {
    let pos = |chain: &Vec<Id>, id: &Id| chain.iter().position(|x| x == id);
    match op {
        Op::Create { index, before } => {
            let at = match before {
                None => chain.len(),
                Some(b) => match pos(chain, b) {
                    Some(p) => p,
                    None => return false,
                },
            };
            chain.insert(at, created(*index));
            true
        }
        Op::Move { id, before } => {
            if before.as_ref() == Some(id) {
                return false;
            }
            let Some(from) = pos(chain, id) else {
                return false;
            };
            let item = chain.remove(from);
            let at = match before {
                None => chain.len(),
                Some(b) => match pos(chain, b) {
                    Some(p) => p,
                    None => {
                        chain.insert(from, item);
                        return false;
                    }
                },
            };
            chain.insert(at, item);
            true
        }
        Op::Update { id } => pos(chain, id).is_some(),
        Op::Remove { id } => match pos(chain, id) {
            Some(p) => {
                chain.remove(p);
                true
            }
            None => false,
        },
    }
}

/// How many requests of each kind a plan makes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cost {
    /// [`Op::Create`] requests.
    pub creates: usize,
    /// [`Op::Move`] requests.
    pub moves: usize,
    /// [`Op::Update`] requests.
    pub updates: usize,
    /// [`Op::Remove`] requests.
    pub removes: usize,
}

impl Cost {
    /// Counts the requests of `ops` by kind.
    pub fn of<Id>(ops: &[Op<Id>]) -> Self {
        let mut c = Cost::default();
        for op in ops {
            match op {
                Op::Create { .. } => c.creates += 1,
                Op::Move { .. } => c.moves += 1,
                Op::Update { .. } => c.updates += 1,
                Op::Remove { .. } => c.removes += 1,
            }
        }
        c
    }

    /// All requests, of every kind.
    pub fn total(&self) -> usize {
        self.creates + self.moves + self.updates + self.removes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(ids: &[u32]) -> Vec<Slot<u32>> {
        ids.iter().map(|&i| Slot::new(i, Kind::Owned)).collect()
    }

    fn keep(ids: &[u32]) -> Vec<Want<u32>> {
        ids.iter()
            .map(|&id| Want::Keep { id, update: false })
            .collect()
    }

    fn run(current: &[Slot<u32>], want: &[Want<u32>]) -> (Vec<u32>, Vec<Op<u32>>) {
        let ops = plan(current, want).unwrap();
        let mut chain: Vec<u32> = current.iter().map(|s| s.id).collect();
        for op in &ops {
            assert!(
                apply(&mut chain, op, |n| 1000 + n as u32),
                "{op:?} on {chain:?}"
            );
        }
        (chain, ops)
    }

    #[test]
    fn nothing_to_do_is_no_request() {
        let (chain, ops) = run(&owned(&[1, 2, 3]), &keep(&[1, 2, 3]));
        assert_eq!(chain, [1, 2, 3]);
        assert!(ops.is_empty());
    }

    #[test]
    fn a_rotation_is_one_move() {
        let (chain, ops) = run(&owned(&[5, 1, 2, 3, 4]), &keep(&[1, 2, 3, 4, 5]));
        assert_eq!(chain, [1, 2, 3, 4, 5]);
        assert_eq!(
            ops,
            [Op::Move {
                id: 5,
                before: None
            }]
        );
        let (chain, ops) = run(&owned(&[2, 3, 4, 1]), &keep(&[1, 2, 3, 4]));
        assert_eq!(chain, [1, 2, 3, 4]);
        assert_eq!(ops.len(), 1);
    }

    #[test]
    fn a_stray_rule_on_top_is_moved_below_in_one_request() {
        let mut cur = vec![Slot::new(9, Kind::Foreign)];
        cur.extend(owned(&[1, 2, 3, 4]));
        let (chain, ops) = run(&cur, &keep(&[1, 2, 3, 4]));
        assert_eq!(chain, [1, 2, 3, 4, 9]);
        assert_eq!(
            ops,
            [Op::Move {
                id: 9,
                before: None
            }]
        );
    }

    #[test]
    fn new_rules_go_in_before_old_ones_go() {
        // Replace the default deny (1) with a logging one: create first, remove last.
        let (chain, ops) = run(
            &owned(&[7, 1]),
            &[
                Want::Keep {
                    id: 7,
                    update: false,
                },
                Want::Create(0),
            ],
        );
        assert_eq!(chain, [7, 1000]);
        assert_eq!(
            ops,
            [
                Op::Create {
                    index: 0,
                    before: None
                },
                Op::Remove { id: 1 }
            ]
        );
    }

    #[test]
    fn fixed_rules_are_never_a_destination() {
        let cur = vec![
            Slot::new(0, Kind::Fixed),
            Slot::new(1, Kind::Owned),
            Slot::new(2, Kind::Owned),
        ];
        let (chain, ops) = run(
            &cur,
            &[
                Want::Create(0),
                Want::Keep {
                    id: 2,
                    update: false,
                },
            ],
        );
        assert_eq!(chain, [0, 1000, 2]);
        for op in &ops {
            match op {
                Op::Create { before, .. } | Op::Move { before, .. } => assert_ne!(*before, Some(0)),
                _ => {}
            }
        }
    }

    #[test]
    fn bad_wants_are_refused() {
        let cur = vec![Slot::new(1, Kind::Owned), Slot::new(2, Kind::Foreign)];
        assert_eq!(plan(&cur, &keep(&[3])), Err(PlanError::Unknown(3)));
        assert_eq!(plan(&cur, &keep(&[2])), Err(PlanError::NotOwned(2)));
        assert_eq!(plan(&cur, &keep(&[1, 1])), Err(PlanError::Duplicate(1)));
        assert_eq!(
            plan(&cur, &[Want::Create(0), Want::Create(0)]),
            Err(PlanError::DuplicateCreate(0))
        );
    }

    #[test]
    fn hints_keep_ids_of_identical_rules() {
        let like = |a: &&str, b: &&str| {
            if a == b {
                Likeness::Same
            } else {
                Likeness::Different
            }
        };
        let owned = [(1, "drop"), (2, "drop")];
        let w = assign_hinted(&owned, &["drop", "drop"], &[Some(2), None], like);
        assert_eq!(
            w,
            [
                Want::Keep {
                    id: 2,
                    update: false
                },
                Want::Keep {
                    id: 1,
                    update: false
                }
            ]
        );
        // A hint at a rule that changed is ignored.
        let w = assign_hinted(&owned, &["accept"], &[Some(1)], like);
        assert_eq!(w, [Want::Create(0)]);
    }

    #[test]
    fn assign_prefers_identical_then_cosmetic() {
        #[derive(Debug)]
        struct R(&'static str, &'static str);
        let like = |a: &R, b: &R| {
            if a.0 != b.0 {
                Likeness::Different
            } else if a.1 != b.1 {
                Likeness::Cosmetic
            } else {
                Likeness::Same
            }
        };
        let owned = [
            (1, R("ssh", "old")),
            (2, R("ssh", "new")),
            (3, R("web", "")),
        ];
        let wanted = [R("ssh", "x"), R("ssh", "new"), R("dns", "")];
        let w = assign(&owned, &wanted, like);
        assert_eq!(
            w,
            [
                Want::Keep {
                    id: 1,
                    update: true
                },
                Want::Keep {
                    id: 2,
                    update: false
                },
                Want::Create(2)
            ]
        );
    }
}
