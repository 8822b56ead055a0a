//! Request counters keyed by (method, route pattern).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::faults::lock;

/// Counts requests by `(METHOD, route pattern)`. The route pattern is the
/// simulator's route (`/client/v4/zones/{zone_id}/dns_records/{dns_record_id}`),
/// or the raw path for requests that matched no route. Cloning shares counts.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    map: Arc<Mutex<BTreeMap<(String, String), u64>>>,
    log: Arc<Mutex<Vec<(String, String)>>>,
}

impl Counters {
    pub(crate) fn hit(&self, method: &str, pattern: &str) {
        let key = (method.to_ascii_uppercase(), pattern.to_string());
        lock(&self.log).push(key.clone());
        *lock(&self.map).entry(key).or_insert(0) += 1;
    }

    /// Every request seen since the last [`Counters::reset`], in arrival
    /// order, as `(METHOD, route pattern)`.
    pub fn sequence(&self) -> Vec<(String, String)> {
        lock(&self.log).clone()
    }

    /// Requests seen for this method and route pattern.
    pub fn get(&self, method: &str, pattern: &str) -> u64 {
        lock(&self.map)
            .get(&(method.to_ascii_uppercase(), pattern.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// Requests seen for this route pattern, any method.
    pub fn get_any_method(&self, pattern: &str) -> u64 {
        lock(&self.map)
            .iter()
            .filter(|((_, p), _)| p == pattern)
            .map(|(_, n)| n)
            .sum()
    }

    /// All requests seen.
    pub fn total(&self) -> u64 {
        lock(&self.map).values().sum()
    }

    /// Every `((method, pattern), count)`, sorted.
    pub fn snapshot(&self) -> Vec<((String, String), u64)> {
        lock(&self.map)
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }

    /// Forgets every count.
    pub fn reset(&self) {
        lock(&self.log).clear();
        lock(&self.map).clear();
    }
}
