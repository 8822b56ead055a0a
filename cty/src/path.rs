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
    pub steps: Vec<PathStep>,
}

impl AttributePath {
    pub fn root() -> Self {
        Self::default()
    }

    /// The path of a top-level attribute.
    pub fn attr(name: impl Into<String>) -> Self {
        Self::root().join_attr(name)
    }

    pub fn join_attr(&self, name: impl Into<String>) -> Self {
        self.join(PathStep::Attr(name.into()))
    }

    pub fn join_key(&self, key: impl Into<String>) -> Self {
        self.join(PathStep::Key(key.into()))
    }

    pub fn join_index(&self, i: i64) -> Self {
        self.join(PathStep::Index(i))
    }

    pub fn join(&self, step: PathStep) -> Self {
        let mut steps = self.steps.clone();
        steps.push(step);
        Self { steps }
    }

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
