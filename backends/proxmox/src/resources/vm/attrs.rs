//! Attribute kinds and checks the VM's schema and its parts share.

use labforge_framework::Value;
use labforge_framework::schema::{Attribute, PlanModifier, Validator, modifiers, validators};

use crate::pveconf;

/// Computed attribute whose value stays once known.
pub(crate) fn computed(a: Attribute) -> Attribute {
    a.computed().plan_modifier(keep_state())
}

/// Like `use_state_for_unknown`, but also keeps a null prior value: an unset
/// inherited value is never changed by an update, so it stays what it was.
pub(crate) fn keep_state() -> impl PlanModifier {
    modifiers::from_fn(
        "Unless set in configuration, the value stays as it is.",
        |req, resp| {
            if req.creating || !resp.plan.is_unknown() || !req.config.is_null() {
                return;
            }
            resp.plan = req.state.clone();
        },
    )
}

/// Optional, and inherited (from the template or Proxmox VE defaults) when unset.
pub(crate) fn inherited(a: Attribute) -> Attribute {
    a.optional().computed().plan_modifier(keep_state())
}

/// Replace only when a value recorded before changes (not when it is first
/// recorded, e.g. after import).
pub(crate) fn replace_if_was_set(what: &str) -> impl PlanModifier + use<> {
    modifiers::requires_replace_if(
        format!("Changing {what} forces a new resource."),
        |req, _| !req.state.is_null(),
    )
}

pub(crate) fn list_of(pattern: &'static str, what: &'static str) -> impl Validator {
    validators::from_fn(format!("Each element must be {what}."), move |v| {
        for e in v.elements().unwrap_or(&[]) {
            if let Some(s) = e.as_str() {
                let ok = match pattern {
                    "boot" => {
                        pveconf::is_disk_slot(s) || pveconf::is_net_slot(s) || s == "efidisk0"
                    }
                    _ => s.parse::<std::net::IpAddr>().is_ok(),
                };
                if !ok {
                    return Err(format!("{s:?} is not {what}"));
                }
            }
        }
        Ok(())
    })
}

/// The value at `path` when it is known and not null.
pub(crate) fn known<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    (!cur.is_null() && !cur.is_unknown()).then_some(cur)
}
