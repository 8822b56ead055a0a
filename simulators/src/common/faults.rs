//! Fault injection: make the next N matching requests fail in a chosen way.
//!
//! Rules match on the HTTP method (`"*"` for any) and on a path pattern. A
//! pattern is either the route pattern of the simulator (for example
//! `/client/v4/zones/{zone_id}/dns_records`) or a glob over the concrete path
//! where `*` matches one segment and a trailing `**` matches the rest
//! (`/client/v4/zones/*/dns_records/**`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What an injected fault does to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this HTTP status (500, 502, 503, ...) without running the
    /// handler. The body is the backend's usual error body for that status.
    Status(u16),
    /// Answer 429 Too Many Requests with a `Retry-After` header (seconds).
    RateLimited {
        /// Value of the `Retry-After` header, in seconds.
        retry_after_secs: u64,
    },
    /// Wait this long, then handle the request normally (a slow answer).
    Delay(Duration),
    /// Close the connection without sending any response, before the
    /// request is handled (nothing changes on the server).
    Reset,
    /// Handle the request fully (the server's state changes), then close the
    /// connection without sending the response: the answer is lost after the
    /// work was done, as when a connection breaks on the way back.
    ResetAfterHandling,
}

#[derive(Debug, Clone)]
struct Rule {
    method: String,
    pattern: String,
    fault: Fault,
    remaining: usize,
    /// Matching requests still to let through before this rule fires.
    skip: usize,
}

/// A shared, cloneable set of fault rules. Cloning shares the rules.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    rules: Arc<Mutex<Vec<Rule>>>,
}

impl Faults {
    /// Makes the next `times` requests matching `method` and `pattern` fail
    /// with `fault`. Rules are tried in the order they were added.
    pub fn inject(&self, method: &str, pattern: &str, fault: Fault, times: usize) {
        if times == 0 {
            return;
        }
        lock(&self.rules).push(Rule {
            method: method.to_ascii_uppercase(),
            pattern: pattern.to_string(),
            fault,
            remaining: times,
            skip: 0,
        });
    }

    /// Lets the first `skip` requests matching `method` and `pattern` through
    /// untouched, then makes the one after them fail with `fault` (once): a
    /// fault at a chosen position of a request sequence. While it waits, the
    /// rule also shadows later rules for the requests it lets through.
    pub fn inject_nth(&self, method: &str, pattern: &str, skip: usize, fault: Fault) {
        lock(&self.rules).push(Rule {
            method: method.to_ascii_uppercase(),
            pattern: pattern.to_string(),
            fault,
            remaining: 1,
            skip,
        });
    }

    /// Shorthand: the next matching request answers with `status`.
    pub fn fail_next(&self, method: &str, pattern: &str, status: u16) {
        self.inject(method, pattern, Fault::Status(status), 1);
    }

    /// Removes every pending rule.
    pub fn clear(&self) {
        lock(&self.rules).clear();
    }

    /// How many faults are still to be delivered, summed over all rules.
    pub fn pending(&self) -> usize {
        lock(&self.rules).iter().map(|r| r.remaining).sum()
    }

    /// Takes one fault for this request, if a rule matches.
    pub(crate) fn take(&self, method: &str, path: &str, route: Option<&str>) -> Option<Fault> {
        let mut rules = lock(&self.rules);
        let index = rules.iter().position(|r| {
            (r.method == "*" || r.method.eq_ignore_ascii_case(method))
                && (route == Some(r.pattern.as_str()) || glob_match(&r.pattern, path))
        })?;
        let rule = &mut rules[index];
        if rule.skip > 0 {
            rule.skip -= 1;
            return None;
        }
        rule.remaining -= 1;
        let fault = rule.fault.clone();
        if rule.remaining == 0 {
            rules.remove(index);
        }
        Some(fault)
    }
}

/// Segment glob: `*` matches one segment, a final `**` matches the rest.
pub(crate) fn glob_match(pattern: &str, path: &str) -> bool {
    let pat: Vec<&str> = pattern.trim_end_matches('/').split('/').collect();
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    for (i, p) in pat.iter().enumerate() {
        if *p == "**" && i + 1 == pat.len() {
            return true;
        }
        match segs.get(i) {
            Some(s) if *p == "*" || p == s => {}
            _ => return false,
        }
    }
    pat.len() == segs.len()
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("/a/*/c", "/a/b/c"));
        assert!(!glob_match("/a/*/c", "/a/b/c/d"));
        assert!(glob_match("/a/**", "/a/b/c/d"));
        assert!(glob_match("/api/zones/list", "/api/zones/list"));
        assert!(!glob_match("/api/zones/list", "/api/zones/create"));
    }

    #[test]
    fn rules_are_consumed() {
        let f = Faults::default();
        f.inject("GET", "/x", Fault::Status(500), 2);
        assert_eq!(f.take("POST", "/x", None), None);
        assert_eq!(f.take("get", "/x", None), Some(Fault::Status(500)));
        assert_eq!(f.pending(), 1);
        assert_eq!(f.take("GET", "/x", None), Some(Fault::Status(500)));
        assert_eq!(f.take("GET", "/x", None), None);
    }

    #[test]
    fn nth_rule_skips_then_fires_once() {
        let f = Faults::default();
        f.inject_nth("POST", "/x", 2, Fault::Reset);
        assert_eq!(f.take("GET", "/x", None), None);
        assert_eq!(f.take("POST", "/x", None), None);
        assert_eq!(f.take("POST", "/x", None), None);
        assert_eq!(f.pending(), 1);
        assert_eq!(f.take("POST", "/x", None), Some(Fault::Reset));
        assert_eq!(f.take("POST", "/x", None), None);
        assert_eq!(f.pending(), 0);
    }
}
