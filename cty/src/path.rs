//! Attribute paths: where in a value something is (diagnostics, requires_replace).

use std::fmt;

/// One step of an [`AttributePath`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathStep {
    /// An object attribute or block name.
    Attr(String),
    /// A map key.
    Key(String),
    /// A list or tuple index.
    Index(i64),
}

/// A path from the root of a resource's object to a nested value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttributePath {
    /// Steps from the root, outermost first; empty for the root itself.
    pub steps: Vec<PathStep>,
}

impl AttributePath {
    /// The empty path: the whole value.
    pub fn root() -> Self {
        Self::default()
    }

    /// The path of a top-level attribute.
    pub fn attr(name: impl Into<String>) -> Self {
        Self::root().join_attr(name)
    }

    /// This path followed by the attribute (or block) `name`.
    pub fn join_attr(&self, name: impl Into<String>) -> Self {
        self.join(PathStep::Attr(name.into()))
    }

    /// This path followed by the map key `key`.
    pub fn join_key(&self, key: impl Into<String>) -> Self {
        self.join(PathStep::Key(key.into()))
    }

    /// This path followed by the list or tuple index `i`.
    pub fn join_index(&self, i: i64) -> Self {
        self.join(PathStep::Index(i))
    }

    /// This path followed by `step` (a new path; `self` is unchanged).
    pub fn join(&self, step: PathStep) -> Self {
        let mut steps = self.steps.clone();
        steps.push(step);
        Self { steps }
    }

    /// Whether this is the empty path (the whole value).
    pub fn is_root(&self) -> bool {
        self.steps.is_empty()
    }
}

/// HCL-like rendering: `disk["scsi0"].size`, `rule[2]`.
impl fmt::Display for AttributePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.steps.is_empty() {
            return f.write_str("(root)");
        }
        for (i, step) in self.steps.iter().enumerate() {
            match step {
                PathStep::Attr(a) if i == 0 => write!(f, "{a}")?,
                PathStep::Attr(a) => write!(f, ".{a}")?,
                PathStep::Key(k) => write!(f, "[{k:?}]")?,
                PathStep::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// A path under construction while walking a value: a borrowed chain of
/// steps that costs nothing until an error needs the [`AttributePath`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum Trail<'a> {
    Root,
    Attr(&'a Trail<'a>, &'a str),
    Key(&'a Trail<'a>, &'a str),
    Index(&'a Trail<'a>, i64),
}

impl<'a> Trail<'a> {
    pub(crate) fn attr(&'a self, name: &'a str) -> Trail<'a> {
        Trail::Attr(self, name)
    }

    pub(crate) fn key(&'a self, key: &'a str) -> Trail<'a> {
        Trail::Key(self, key)
    }

    pub(crate) fn index(&'a self, i: i64) -> Trail<'a> {
        Trail::Index(self, i)
    }

    /// The path this trail stands for.
    pub(crate) fn to_path(self) -> AttributePath {
        let mut steps = Vec::new();
        let mut t = &self;
        loop {
            match t {
                Trail::Root => break,
                Trail::Attr(p, a) => {
                    steps.push(PathStep::Attr((*a).to_string()));
                    t = p;
                }
                Trail::Key(p, k) => {
                    steps.push(PathStep::Key((*k).to_string()));
                    t = p;
                }
                Trail::Index(p, i) => {
                    steps.push(PathStep::Index(*i));
                    t = p;
                }
            }
        }
        steps.reverse();
        AttributePath { steps }
    }
}
