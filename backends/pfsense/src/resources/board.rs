//! Rules by position, kept track of across writes.
//!
//! pfSense addresses a rule by its position in the whole rule list (all
//! interfaces), and every insert, move and delete shifts the positions
//! after it. A [`Board`] is the list as the provider expects it to be: one
//! [`Label`] per rule, and what each rule must look like. Before every write
//! the list is read again and compared with the board ([`Board::matches`]):
//! a difference means someone else changed the rules meanwhile, and the
//! write is not sent (it could hit the wrong rule). After the write the
//! board is changed the way pfSense changes the list (`Core/Model.inc`:
//! a create is appended, then moved to `placement`; a move takes the rule
//! out and puts it back at `placement`; a delete closes the gap).

use std::collections::HashMap;

use crate::model::{Rule, RuleSpec};

/// A rule of the board: one that was there (its position when the board
/// was made), or the n-th rule this run creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Label {
    /// A rule listed when the board was made, by its position then.
    Old(usize),
    /// The n-th rule (from 0) this run creates.
    New(usize),
}

/// What a rule must look like.
#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    /// Exactly as listed before (every field, including times).
    Exact(String),
    /// A rule just written: its tracker (if known) and settings.
    Rule {
        /// Its tracker; `None`: not known yet (any tracker matches).
        tracker: Option<i64>,
        /// Its settings, compared normalized.
        spec: Box<RuleSpec>,
    },
}

impl Expect {
    fn matches(&self, r: &Rule) -> bool {
        match self {
            Expect::Exact(fp) => *fp == r.fingerprint,
            Expect::Rule { tracker, spec } => {
                tracker.is_none_or(|t| r.tracker == Some(t))
                    && r.spec.normalized() == spec.normalized()
            }
        }
    }
}

/// The list as expected.
#[derive(Debug, Clone)]
pub struct Board {
    labels: Vec<Label>,
    expect: HashMap<Label, Expect>,
}

impl Board {
    /// The board of a listing.
    pub fn new(rules: &[Rule]) -> Board {
        let labels: Vec<Label> = (0..rules.len()).map(Label::Old).collect();
        let expect = rules
            .iter()
            .enumerate()
            .map(|(i, r)| (Label::Old(i), Expect::Exact(r.fingerprint.clone())))
            .collect();
        Board { labels, expect }
    }

    /// How many rules the list should hold (all interfaces).
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the list should be empty.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The current position of a rule.
    pub fn pos(&self, l: Label) -> Option<usize> {
        self.labels.iter().position(|x| *x == l)
    }

    /// Whether `rules` is the list this board expects.
    pub fn matches(&self, rules: &[Rule]) -> bool {
        rules.len() == self.labels.len()
            && self
                .labels
                .iter()
                .zip(rules)
                .all(|(l, r)| self.expect.get(l).is_some_and(|e| e.matches(r)))
    }

    /// After a successful [`Board::matches`]: expect exactly these rules
    /// from now on.
    pub fn settle(&mut self, rules: &[Rule]) {
        for (l, r) in self.labels.iter().zip(rules) {
            self.expect.insert(*l, Expect::Exact(r.fingerprint.clone()));
        }
    }

    /// A create at `at` (pfSense appends, then moves the rule there).
    pub fn created(&mut self, label: Label, at: usize, expect: Expect) {
        let at = at.min(self.labels.len());
        self.labels.insert(at, label);
        self.expect.insert(label, expect);
    }

    /// A move of the rule at `from` to `to`.
    pub fn moved(&mut self, from: usize, to: usize, expect: Expect) {
        if from >= self.labels.len() {
            return;
        }
        let l = self.labels.remove(from);
        let to = to.min(self.labels.len());
        self.labels.insert(to, l);
        self.expect.insert(l, expect);
    }

    /// A changed rule, in place.
    pub fn changed(&mut self, at: usize, expect: Expect) {
        if let Some(l) = self.labels.get(at) {
            self.expect.insert(*l, expect);
        }
    }

    /// The rule at `at` is deleted.
    pub fn deleted(&mut self, at: usize) {
        if at < self.labels.len() {
            let l = self.labels.remove(at);
            self.expect.remove(&l);
        }
    }
}

/// Where a rule moved "before `before`" (to the end if `None`) lands, as a
/// `placement` (pfSense takes the rule out first, then inserts it).
pub fn move_target(from: usize, before: Option<usize>, len: usize) -> usize {
    match before {
        Some(b) if from < b => b - 1,
        Some(b) => b,
        None => len.saturating_sub(1),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn rule(i: usize, descr: &str) -> Rule {
        Rule {
            id: i,
            tracker: Some(1000 + i as i64),
            floating: false,
            interfaces: vec!["LAN".into()],
            associated: false,
            spec: RuleSpec {
                action: "pass".into(),
                interface: "LAN".into(),
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
            },
            fingerprint: format!("{{{descr}}}"),
            unmanaged: Vec::new(),
        }
    }

    /// What pfSense does to a list for a move (`set_placement`).
    fn pf_move(list: &mut Vec<Rule>, from: usize, to: usize) {
        let r = list.remove(from);
        list.insert(to.min(list.len()), r);
    }

    #[test]
    fn the_board_follows_pfsense_positions() {
        let mut list: Vec<Rule> = ["a", "b", "c", "d"]
            .iter()
            .enumerate()
            .map(|(i, d)| rule(i, d))
            .collect();
        let mut b = Board::new(&list);
        assert!(b.matches(&list));
        // Move a before d: placement 2.
        let to = move_target(0, b.pos(Label::Old(3)), b.len());
        assert_eq!(to, 2);
        pf_move(&mut list, 0, to);
        b.moved(0, to, Expect::Exact(list[to].fingerprint.clone()));
        assert!(b.matches(&list));
        // Move d to the end (it is there already after c? no: b c a d).
        assert_eq!(
            list.iter()
                .map(|r| r.spec.descr.as_str())
                .collect::<Vec<_>>(),
            ["b", "c", "a", "d"]
        );
        let from = b.pos(Label::Old(1)).unwrap();
        let to = move_target(from, None, b.len());
        pf_move(&mut list, from, to);
        b.moved(from, to, Expect::Exact(list[to].fingerprint.clone()));
        assert!(b.matches(&list));
        // Create before c (position 0 now: c a d b).
        let at = b.pos(Label::Old(2)).unwrap();
        let n = rule(9, "new");
        list.insert(at, n.clone());
        b.created(
            Label::New(0),
            at,
            Expect::Rule {
                tracker: None,
                spec: Box::new(n.spec.clone()),
            },
        );
        assert!(b.matches(&list));
        b.settle(&list);
        // Delete a.
        let at = b.pos(Label::Old(0)).unwrap();
        list.remove(at);
        b.deleted(at);
        assert!(b.matches(&list));
        // Someone else's edit is seen.
        list.swap(0, 1);
        assert!(!b.matches(&list));
    }
}
