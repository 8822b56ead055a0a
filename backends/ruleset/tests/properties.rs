//! Property tests of the ruleset planner against a model firewall: rules
//! decide some packets of a small universe (accept, drop, return) or only
//! log them, and a chain gives a packet the verdict of the first rule that
//! decides it, else its policy.
//!
//! Checked for random old chains (owned, foreign, fixed rules) and random
//! wanted blocks: after every single request, every packet gets the old
//! chain's verdict or the new chain's (so what both deny stays denied, even
//! if the apply stops right there); the final chain is the wanted block on
//! top, foreign rules below in their old order, fixed rules untouched; and
//! the number of requests stays within its bounds.

use std::collections::HashMap;

use labforge_ruleset::{Cost, Kind, Likeness, Op, Slot, Want, apply, assign, plan};
use proptest::prelude::*;

const PACKETS: u8 = 6;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Accept,
    Drop,
    Return,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    /// The packets it matches (bit i: packet i).
    matches: u8,
    /// `None`: a rule that only logs (matches, decides nothing).
    action: Option<Verdict>,
    /// A cosmetic field (a comment): decides nothing.
    note: u8,
}

fn eval(chain: &[&Rule], packet: u8, policy: Verdict) -> Verdict {
    chain
        .iter()
        .filter(|r| r.matches & (1 << packet) != 0)
        .find_map(|r| r.action)
        .unwrap_or(policy)
}

fn like(a: &Rule, b: &Rule) -> Likeness {
    if a.matches != b.matches || a.action != b.action {
        Likeness::Different
    } else if a.note != b.note {
        Likeness::Cosmetic
    } else {
        Likeness::Same
    }
}

fn verdict() -> impl Strategy<Value = Verdict> {
    prop_oneof![
        Just(Verdict::Accept),
        Just(Verdict::Drop),
        Just(Verdict::Return)
    ]
}

fn rule() -> impl Strategy<Value = Rule> {
    (
        0u8..(1 << PACKETS),
        prop_oneof![3 => verdict().prop_map(Some), 1 => Just(None)],
        0u8..3,
    )
        .prop_map(|(matches, action, note)| Rule {
            matches,
            action,
            note,
        })
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![6 => Just(Kind::Owned), 2 => Just(Kind::Foreign), 1 => Just(Kind::Fixed)]
}

/// A wanted rule: a copy of an old rule's content (maybe with another
/// note), or a new rule.
#[derive(Debug, Clone)]
enum Pick {
    Copy(usize, Option<u8>),
    New(Rule),
}

fn pick() -> impl Strategy<Value = Pick> {
    prop_oneof![
        3 => (0usize..16, proptest::option::of(0u8..3)).prop_map(|(i, n)| Pick::Copy(i, n)),
        1 => rule().prop_map(Pick::New),
    ]
}

#[derive(Debug, Clone)]
struct Case {
    old: Vec<(Rule, Kind)>,
    wanted: Vec<Rule>,
    policy: Verdict,
}

fn case() -> impl Strategy<Value = Case> {
    (
        0usize..3,
        proptest::collection::vec((rule(), kind()), 0..12),
        proptest::collection::vec(pick(), 0..12),
        verdict(),
    )
        .prop_map(|(lead, body, picks, policy)| {
            let mut old: Vec<(Rule, Kind)> = (0..lead)
                .map(|i| {
                    (
                        Rule {
                            matches: 1 << i,
                            action: None,
                            note: 0,
                        },
                        Kind::Fixed,
                    )
                })
                .collect();
            old.extend(body);
            let wanted = picks
                .into_iter()
                .map(|p| match p {
                    Pick::Copy(i, note) if !old.is_empty() => {
                        let mut r = old[i % old.len()].0.clone();
                        if let Some(n) = note {
                            r.note = n;
                        }
                        r
                    }
                    Pick::Copy(..) => Rule {
                        matches: 0b11,
                        action: Some(Verdict::Drop),
                        note: 0,
                    },
                    Pick::New(r) => r,
                })
                .collect();
            Case {
                old,
                wanted,
                policy,
            }
        })
}

const CREATED: u32 = 1000;

/// Runs the planner on `case` and checks every property; returns the plan.
fn check(case: &Case) -> Result<Vec<Op<u32>>, TestCaseError> {
    let slots: Vec<Slot<u32>> = case
        .old
        .iter()
        .enumerate()
        .map(|(i, (_, k))| Slot::new(i as u32, *k))
        .collect();
    let owned: Vec<(u32, Rule)> = case
        .old
        .iter()
        .enumerate()
        .filter(|(_, (_, k))| *k == Kind::Owned)
        .map(|(i, (r, _))| (i as u32, r.clone()))
        .collect();
    let want = assign(&owned, &case.wanted, like);
    let ops = plan(&slots, &want).map_err(|e| TestCaseError::fail(e.to_string()))?;

    // Contents by id, as the device holds them.
    let mut content: HashMap<u32, Rule> = case
        .old
        .iter()
        .enumerate()
        .map(|(i, (r, _))| (i as u32, r.clone()))
        .collect();
    for (n, r) in case.wanted.iter().enumerate() {
        content.insert(CREATED + n as u32, r.clone());
    }
    let kind_of = |id: u32| -> Option<Kind> { case.old.get(id as usize).map(|(_, k)| *k) };

    let block: Vec<u32> = want
        .iter()
        .map(|w| match w {
            Want::Keep { id, .. } => *id,
            Want::Create(n) => CREATED + *n as u32,
        })
        .collect();

    let old_chain: Vec<u32> = (0..case.old.len() as u32).collect();
    let mut chain = old_chain.clone();
    let mut states = vec![chain.clone()];
    for op in &ops {
        match op {
            Op::Move { id, before } => {
                prop_assert_ne!(kind_of(*id), Some(Kind::Fixed), "moved a fixed rule");
                if let Some(b) = before {
                    prop_assert_ne!(kind_of(*b), Some(Kind::Fixed), "placed before a fixed rule");
                }
            }
            Op::Create {
                before: Some(b), ..
            } => {
                prop_assert_ne!(kind_of(*b), Some(Kind::Fixed), "placed before a fixed rule");
            }
            Op::Remove { id } | Op::Update { id } => {
                prop_assert_eq!(kind_of(*id), Some(Kind::Owned), "touched a rule not owned");
            }
            Op::Create { before: None, .. } => {}
        }
        prop_assert!(
            apply(&mut chain, op, |n| CREATED + n as u32),
            "{:?} does not apply to {:?}",
            op,
            chain
        );
        states.push(chain.clone());
    }
    let final_chain = chain;

    // The final chain: the block in order, foreign and fixed rules in their
    // old order, no foreign rule above the block's last rule.
    let ours: Vec<u32> = final_chain
        .iter()
        .copied()
        .filter(|&id| id >= CREATED || kind_of(id) == Some(Kind::Owned))
        .collect();
    prop_assert_eq!(&ours, &block, "block");
    for k in [Kind::Foreign, Kind::Fixed] {
        let before: Vec<u32> = old_chain
            .iter()
            .copied()
            .filter(|&i| kind_of(i) == Some(k))
            .collect();
        let after: Vec<u32> = final_chain
            .iter()
            .copied()
            .filter(|&i| i < CREATED && kind_of(i) == Some(k))
            .collect();
        prop_assert_eq!(before, after, "{:?} rules kept their order", k);
    }
    if let Some(last) = block.last() {
        let end = final_chain.iter().position(|x| x == last).unwrap_or(0);
        prop_assert!(
            final_chain[..end]
                .iter()
                .all(|&i| i >= CREATED || kind_of(i) != Some(Kind::Foreign)),
            "a foreign rule above the block's end: {:?}",
            final_chain
        );
    }

    // No window: for every packet, every state gives the old or the new verdict.
    let rules = |ids: &[u32]| -> Vec<Rule> { ids.iter().map(|i| content[i].clone()).collect() };
    let old_rules = rules(&old_chain);
    let new_rules = rules(&final_chain);
    for p in 0..PACKETS {
        let old = eval(&old_rules.iter().collect::<Vec<_>>(), p, case.policy);
        let new = eval(&new_rules.iter().collect::<Vec<_>>(), p, case.policy);
        for (i, s) in states.iter().enumerate() {
            let rs = rules(s);
            let v = eval(&rs.iter().collect::<Vec<_>>(), p, case.policy);
            prop_assert!(
                v == old || v == new,
                "after request {} ({:?}) packet {} gets {:?}; old {:?}, new {:?}\nstate {:?}",
                i,
                ops.get(i.wrapping_sub(1)),
                p,
                v,
                old,
                new,
                s
            );
        }
    }

    // Bounds: every create or move advances the block by at least one rule.
    let cost = Cost::of(&ops);
    let keeps = want
        .iter()
        .filter(|w| matches!(w, Want::Keep { .. }))
        .count();
    let creates = want.len() - keeps;
    let updates = want
        .iter()
        .filter(|w| matches!(w, Want::Keep { update: true, .. }))
        .count();
    prop_assert_eq!(cost.creates, creates);
    prop_assert_eq!(cost.updates, updates);
    prop_assert_eq!(cost.removes, owned.len() - keeps);
    prop_assert!(cost.creates + cost.moves <= want.len());
    Ok(ops)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn no_window_and_the_right_final_chain(c in case()) {
        check(&c)?;
    }

    /// Pure reorders of owned rules: at most n - 1 moves, none when in order.
    #[test]
    fn reorders_take_at_most_n_minus_one_moves(perm in Just((0u32..20).collect::<Vec<_>>()).prop_shuffle()) {
        let slots: Vec<Slot<u32>> = (0..20).map(|i| Slot::new(i, Kind::Owned)).collect();
        let want: Vec<Want<u32>> = perm.iter().map(|&id| Want::Keep { id, update: false }).collect();
        let ops = plan(&slots, &want).unwrap();
        let mut chain: Vec<u32> = (0..20).collect();
        for op in &ops {
            prop_assert!(matches!(op, Op::Move { .. }), "not a move: {:?}", op);
            prop_assert!(apply(&mut chain, op, |_| 0));
        }
        prop_assert_eq!(&chain, &perm);
        prop_assert!(ops.len() <= 19);
        // At least n minus the longest run that can stay put.
        prop_assert!(ops.len() >= 20 - longest_increasing(&perm));
    }
}

fn longest_increasing(xs: &[u32]) -> usize {
    let mut tails: Vec<u32> = Vec::new();
    for &x in xs {
        match tails.binary_search(&x) {
            Ok(_) => {}
            Err(i) if i == tails.len() => tails.push(x),
            Err(i) => tails[i] = x,
        }
    }
    tails.len()
}

/// The worst case the docs quote: reordering a 50-rule chain.
#[test]
fn reordering_fifty_rules_takes_at_most_forty_nine_moves() {
    let slots: Vec<Slot<u32>> = (0..50).map(|i| Slot::new(i, Kind::Owned)).collect();
    let plan_for = |perm: &[u32]| {
        let want: Vec<Want<u32>> = perm
            .iter()
            .map(|&id| Want::Keep { id, update: false })
            .collect();
        let ops = plan(&slots, &want).unwrap();
        let mut chain: Vec<u32> = (0..50).collect();
        for op in &ops {
            assert!(apply(&mut chain, op, |_| 0));
        }
        assert_eq!(chain, perm);
        ops.len()
    };
    let reversed: Vec<u32> = (0..50).rev().collect();
    assert_eq!(plan_for(&reversed), 49);
    let mut rotated: Vec<u32> = (1..50).collect();
    rotated.push(0);
    assert_eq!(plan_for(&rotated), 1);
    let mut swapped: Vec<u32> = (0..50).collect();
    swapped.swap(10, 40);
    assert_eq!(plan_for(&swapped), 2);
    // Interleaved halves.
    let interleaved: Vec<u32> = (0..25).flat_map(|i| [i + 25, i]).collect();
    assert!(plan_for(&interleaved) <= 49);
}

/// A default deny that the old and the new chain both end with is in every
/// intermediate chain, through a reorder, inserts and removals.
#[test]
fn the_final_default_deny_stays_throughout() {
    let all = (1u8 << PACKETS) - 1;
    let deny_all = Rule {
        matches: all,
        action: Some(Verdict::Drop),
        note: 0,
    };
    let r = |m: u8, a: Verdict| Rule {
        matches: m,
        action: Some(a),
        note: 0,
    };
    let old = vec![
        (r(0b1, Verdict::Accept), Kind::Owned),
        (r(0b10, Verdict::Accept), Kind::Owned),
        (r(0b100, Verdict::Accept), Kind::Owned),
        (deny_all.clone(), Kind::Owned),
    ];
    let wanted = vec![
        r(0b100, Verdict::Accept),
        r(0b1000, Verdict::Accept),
        r(0b1, Verdict::Accept),
        deny_all.clone(),
    ];
    let case = Case {
        old,
        wanted,
        policy: Verdict::Accept,
    };
    let ops = check(&case).unwrap();
    let mut chain: Vec<u32> = (0..4).collect();
    for op in &ops {
        apply(&mut chain, op, |n| CREATED + n as u32);
        assert!(
            chain.contains(&3),
            "default deny gone after {op:?}: {chain:?}"
        );
        assert_eq!(chain.last(), Some(&3), "default deny not last after {op:?}");
    }
    // The removed accept (packet 2's) goes last; the new one (packet 3's) goes in first.
    assert!(matches!(
        ops.first(),
        Some(Op::Move { .. } | Op::Create { .. })
    ));
    assert_eq!(ops.last(), Some(&Op::Remove { id: 1 }));
}

/// A changed deny is replaced by create-then-remove: the old one is still
/// there when the new one arrives.
#[test]
fn a_changed_deny_is_never_removed_before_its_replacement() {
    let r = |m: u8, a: Verdict| Rule {
        matches: m,
        action: Some(a),
        note: 0,
    };
    let case = Case {
        old: vec![
            (r(0b11, Verdict::Drop), Kind::Owned),
            (r(0b111111, Verdict::Accept), Kind::Owned),
        ],
        wanted: vec![r(0b111, Verdict::Drop), r(0b111111, Verdict::Accept)],
        policy: Verdict::Accept,
    };
    let ops = check(&case).unwrap();
    assert_eq!(
        ops,
        [
            Op::Create {
                index: 0,
                before: Some(1)
            },
            Op::Remove { id: 0 }
        ]
    );
}
