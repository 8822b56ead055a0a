//! Attribute plan modifiers, declared in the schema: they adjust the planned
//! value of one attribute and may ask for replacement. Their descriptions feed
//! the docs.

use labforge_cty::{AttributePath, Value};

use crate::diag::Diagnostics;

/// What a plan modifier sees.
#[derive(Debug)]
pub struct ModifyRequest<'a> {
    /// Where the attribute is (nested elements included).
    pub path: &'a AttributePath,
    /// The attribute's value in configuration (may be unknown).
    pub config: &'a Value,
    /// The attribute's value in prior state (null when the resource is being created).
    pub state: &'a Value,
    /// Whether there is no prior value to compare with: the resource, or the
    /// nested element holding this attribute, is being created.
    pub creating: bool,
}

/// What a plan modifier may change.
#[derive(Debug)]
pub struct ModifyResponse {
    /// The planned value, to be adjusted.
    pub plan: Value,
    /// Set to true to replace the resource over this attribute; the
    /// framework reports the attribute's path to Terraform.
    pub requires_replace: bool,
    /// Errors and warnings returned with the plan.
    pub diagnostics: Diagnostics,
}

/// A plan modifier for one attribute or block.
pub trait PlanModifier: Send + Sync {
    /// Markdown for the docs, e.g. "Changing this forces a new resource."
    fn description(&self) -> String;
    /// Adjust `resp` given `req`; `resp.plan` starts as the value planned so far.
    fn modify(&self, req: &ModifyRequest<'_>, resp: &mut ModifyResponse);
}

/// Replace the resource when the planned value differs from state.
pub fn requires_replace() -> RequiresReplaceIf<fn(&ModifyRequest<'_>, &Value) -> bool> {
    RequiresReplaceIf {
        condition: |_, _| true,
        description: "Changing this forces a new resource.".to_string(),
    }
}

/// Replace the resource when the planned value differs from state and
/// `condition(request, planned)` holds (e.g. "only when the disk shrinks").
pub fn requires_replace_if<F>(description: impl Into<String>, condition: F) -> RequiresReplaceIf<F>
where
    F: Fn(&ModifyRequest<'_>, &Value) -> bool + Send + Sync,
{
    RequiresReplaceIf {
        condition,
        description: description.into(),
    }
}

/// See [`requires_replace`] and [`requires_replace_if`].
pub struct RequiresReplaceIf<F> {
    condition: F,
    description: String,
}

impl<F> PlanModifier for RequiresReplaceIf<F>
where
    F: Fn(&ModifyRequest<'_>, &Value) -> bool + Send + Sync,
{
    fn description(&self) -> String {
        self.description.clone()
    }

    fn modify(&self, req: &ModifyRequest<'_>, resp: &mut ModifyResponse) {
        // Like terraform-plugin-framework: nothing to replace on create. A
        // value that becomes unknown (e.g. it comes from a resource being
        // replaced) is a change: deciding "update" now and "replace" at apply
        // would be an inconsistent final plan.
        if req.creating {
            return;
        }
        if resp.plan != *req.state && (self.condition)(req, &resp.plan) {
            resp.requires_replace = true;
        }
    }
}

/// Keep the prior state's value instead of showing "(known after apply)" when
/// the configuration does not set the attribute (for values that never change,
/// like ids).
pub fn use_state_for_unknown() -> UseStateForUnknown {
    UseStateForUnknown
}

/// See [`use_state_for_unknown`].
#[derive(Debug, Clone, Copy)]
pub struct UseStateForUnknown;

impl PlanModifier for UseStateForUnknown {
    fn description(&self) -> String {
        "Unless configured, keeps its current value across updates.".to_string()
    }

    fn modify(&self, req: &ModifyRequest<'_>, resp: &mut ModifyResponse) {
        if req.creating || req.state.is_null() || !resp.plan.is_unknown() || req.config.is_unknown()
        {
            return;
        }
        resp.plan = req.state.clone();
    }
}

/// A plan modifier from a closure, for one-off rules.
pub fn from_fn<F>(description: impl Into<String>, f: F) -> FromFn<F>
where
    F: Fn(&ModifyRequest<'_>, &mut ModifyResponse) + Send + Sync,
{
    FromFn {
        f,
        description: description.into(),
    }
}

/// See [`from_fn`].
pub struct FromFn<F> {
    f: F,
    description: String,
}

impl<F> PlanModifier for FromFn<F>
where
    F: Fn(&ModifyRequest<'_>, &mut ModifyResponse) + Send + Sync,
{
    fn description(&self) -> String {
        self.description.clone()
    }
    fn modify(&self, req: &ModifyRequest<'_>, resp: &mut ModifyResponse) {
        (self.f)(req, resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(
        m: &dyn PlanModifier,
        config: Value,
        state: Value,
        plan: Value,
        creating: bool,
    ) -> ModifyResponse {
        let path = AttributePath::attr("a");
        let req = ModifyRequest {
            path: &path,
            config: &config,
            state: &state,
            creating,
        };
        let mut resp = ModifyResponse {
            plan,
            requires_replace: false,
            diagnostics: Diagnostics::new(),
        };
        m.modify(&req, &mut resp);
        resp
    }

    #[test]
    fn requires_replace_only_on_change_of_existing_resource() {
        let m = requires_replace();
        assert!(
            run(
                &m,
                Value::string("b"),
                Value::string("a"),
                Value::string("b"),
                false
            )
            .requires_replace
        );
        assert!(
            !run(
                &m,
                Value::string("a"),
                Value::string("a"),
                Value::string("a"),
                false
            )
            .requires_replace
        );
        assert!(
            !run(
                &m,
                Value::string("b"),
                Value::Null,
                Value::string("b"),
                true
            )
            .requires_replace
        );
        // An unknown value may turn out different: replace now, as Terraform
        // expects (an update now and a replace at apply is an inconsistent plan).
        assert!(
            run(
                &m,
                Value::unknown(),
                Value::string("a"),
                Value::unknown(),
                false
            )
            .requires_replace
        );
        // A computed value that becomes unknown is a change.
        assert!(run(&m, Value::Null, Value::string("a"), Value::unknown(), false).requires_replace);
    }

    #[test]
    fn requires_replace_if_consults_condition() {
        let shrink = requires_replace_if("Shrinking forces replacement.", |req, plan| {
            match (req.state.as_number(), plan.as_number()) {
                (Some(s), Some(p)) => p.as_f64() < s.as_f64(),
                _ => false,
            }
        });
        let n = |i| Value::Number(labforge_cty::Number::from_i64(i));
        assert!(run(&shrink, n(5), n(10), n(5), false).requires_replace);
        assert!(!run(&shrink, n(20), n(10), n(20), false).requires_replace);
    }

    #[test]
    fn use_state_for_unknown_keeps_prior_value() {
        let m = use_state_for_unknown();
        let r = run(
            &m,
            Value::Null,
            Value::string("id-1"),
            Value::unknown(),
            false,
        );
        assert_eq!(r.plan, Value::string("id-1"));
        let r = run(&m, Value::Null, Value::Null, Value::unknown(), true);
        assert!(r.plan.is_unknown());
    }
}
