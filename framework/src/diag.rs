//! Diagnostics: what a provider tells Terraform about errors and warnings.
//!
//! Resource code returns [`Result<T>`] and uses `?` on any error type; the
//! framework turns the error into a diagnostic with a summary such as
//! "Unable to create zone" (the type named in words, without provider and
//! backend prefixes) unless the code gave one.
//! Attach an attribute path with [`Error::at`] so Terraform points at the
//! offending line of configuration.

use std::fmt;

use labforge_cty::AttributePath;

/// Error or warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The operation failed; Terraform stops and shows it.
    Error,
    /// Shown to the user; the operation goes on.
    Warning,
}

/// One diagnostic, as Terraform shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The headline, e.g. "Unable to create VM". Empty until the framework
    /// (or [`Error::context`]) fills one in.
    pub summary: String,
    /// The explanation shown under the summary; may span several lines.
    pub detail: String,
    /// The attribute Terraform points at; `None` for the resource as a whole.
    pub attribute: Option<AttributePath>,
}

impl Diagnostic {
    /// An error not tied to an attribute.
    pub fn error(summary: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            summary: summary.into(),
            detail: detail.into(),
            attribute: None,
        }
    }

    /// A warning not tied to an attribute.
    pub fn warning(summary: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(summary, detail)
        }
    }

    /// Point the diagnostic at an attribute.
    pub fn at(mut self, path: AttributePath) -> Self {
        self.attribute = Some(path);
        self
    }
}

/// A list of diagnostics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// No diagnostics.
    pub fn new() -> Self {
        Self::default()
    }

    /// Append one diagnostic.
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    /// Append an error not tied to an attribute.
    pub fn error(&mut self, summary: impl Into<String>, detail: impl Into<String>) {
        self.push(Diagnostic::error(summary, detail));
    }

    /// Append an error pointing at the attribute at `path`.
    pub fn attribute_error(
        &mut self,
        path: AttributePath,
        summary: impl Into<String>,
        detail: impl Into<String>,
    ) {
        self.push(Diagnostic::error(summary, detail).at(path));
    }

    /// Append a warning not tied to an attribute.
    pub fn warning(&mut self, summary: impl Into<String>, detail: impl Into<String>) {
        self.push(Diagnostic::warning(summary, detail));
    }

    /// Append all of `other`, in order.
    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }

    /// Whether any diagnostic is an error (warnings alone do not fail an RPC).
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|d| d.severity == Severity::Error)
    }

    /// Whether there are no diagnostics at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The diagnostics, in the order they were added.
    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Self(vec![d])
    }
}

impl From<Error> for Diagnostics {
    fn from(e: Error) -> Self {
        e.diagnostics
    }
}

/// The error type of resource, data source and provider code.
///
/// Any `std::error::Error` converts into it with `?` (its `source()` chain
/// becomes the detail). It deliberately does not implement
/// `std::error::Error` itself, which is what makes that blanket conversion
/// possible (the same trick as `anyhow`).
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    diagnostics: Diagnostics,
    kind: ErrorKind,
    partial_state: Option<Box<labforge_cty::Value>>,
}

/// What kind of failure, where the framework treats it specially.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ErrorKind {
    Other,
    /// The provider configuration is not known yet (it depends on other
    /// resources): refresh keeps prior state, planning goes on.
    ConfigUnknown,
}

impl Error {
    /// An error with a summary and a detail.
    pub fn new(summary: impl Into<String>, detail: impl Into<String>) -> Self {
        Diagnostic::error(summary, detail).into()
    }

    /// An error with only a detail; the framework fills in a summary such as
    /// "Unable to create VM".
    pub fn msg(detail: impl Into<String>) -> Self {
        Self::new("", detail)
    }

    /// Point the error at an attribute.
    pub fn at(mut self, path: AttributePath) -> Self {
        for d in &mut self.diagnostics.0 {
            if d.attribute.is_none() {
                d.attribute = Some(path.clone());
            }
        }
        self
    }

    /// Set the summary of diagnostics that have none, e.g. "Unable to clone VM".
    pub fn context(mut self, summary: impl Into<String>) -> Self {
        let summary = summary.into();
        for d in &mut self.diagnostics.0 {
            if d.summary.is_empty() {
                d.summary = summary.clone();
            }
        }
        self
    }

    /// The provider configuration this operation needs is not known until
    /// apply (it comes from other resources). Refresh keeps the prior state.
    pub fn config_unknown(what: impl Into<String>) -> Self {
        let mut e = Self::new(
            "Provider configuration not known yet",
            format!("{} depends on values known only after apply.", what.into()),
        );
        e.kind = ErrorKind::ConfigUnknown;
        e
    }

    /// Whether this came from [`Error::config_unknown`].
    pub fn is_config_unknown(&self) -> bool {
        self.kind == ErrorKind::ConfigUnknown
    }

    /// Report what exists after a failed create, as a value, so Terraform
    /// keeps it in state (tainted) instead of forgetting it. Resource code
    /// passes its model to `Error::with_partial_state` (in [`crate::model`]).
    pub fn with_partial_value(mut self, state: labforge_cty::Value) -> Self {
        self.partial_state = Some(Box::new(state));
        self
    }

    /// The state recorded by [`Error::with_partial_state`]; `None` when there
    /// is none or the model could not be converted.
    pub fn partial_state(&self) -> Option<&labforge_cty::Value> {
        self.partial_state.as_deref()
    }

    /// The diagnostics this error carries.
    pub fn diagnostics(&self) -> &Diagnostics {
        &self.diagnostics
    }

    /// The diagnostics this error carries, taken out.
    pub fn into_diagnostics(self) -> Diagnostics {
        self.diagnostics
    }
}

impl From<Diagnostic> for Error {
    fn from(d: Diagnostic) -> Self {
        Diagnostics(vec![d]).into()
    }
}

impl From<Diagnostics> for Error {
    fn from(diagnostics: Diagnostics) -> Self {
        Self {
            diagnostics,
            kind: ErrorKind::Other,
            partial_state: None,
        }
    }
}

impl<E: std::error::Error> From<E> for Error {
    fn from(e: E) -> Self {
        let mut detail = e.to_string();
        let mut source = e.source();
        while let Some(s) = source {
            let text = s.to_string();
            if !detail.contains(&text) {
                detail.push_str(": ");
                detail.push_str(&text);
            }
            source = s.source();
        }
        Self::msg(detail)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            match (&d.summary[..], &d.attribute) {
                ("", _) => {}
                (s, _) => write!(f, "{s}: ")?,
            }
            f.write_str(&d.detail)?;
            if let Some(p) = &d.attribute {
                write!(f, " (at {p})")?;
            }
        }
        Ok(())
    }
}

/// Shorthand for results of provider code.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Inner;
    impl fmt::Display for Inner {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("connection reset")
        }
    }
    impl std::error::Error for Inner {}

    #[derive(Debug)]
    struct Outer(Inner);
    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("request failed")
        }
    }
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn any_error_converts_with_its_source_chain() {
        let e: Error = Outer(Inner).into();
        let d = &e.diagnostics().0[0];
        assert_eq!(d.detail, "request failed: connection reset");
        assert_eq!(d.summary, "");
        let e = e
            .context("Unable to create zone")
            .at(AttributePath::attr("name"));
        let d = &e.diagnostics().0[0];
        assert_eq!(d.summary, "Unable to create zone");
        assert_eq!(d.attribute, Some(AttributePath::attr("name")));
    }
}
