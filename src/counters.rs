//! Named counters (a reason, a truncated column, a source's calls). They sit below every
//! data-plane module because the mappers note what they change in them while knowing nothing
//! of the run-wide stats (`src/stats.rs`) that merge them.

use std::collections::BTreeMap;

/// Named counters, e.g. dead letters by reason.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Counters(pub BTreeMap<String, u64>);

impl Counters {
    pub fn add(&mut self, key: &str, n: u64) {
        if let Some(v) = self.0.get_mut(key) {
            *v += n;
        } else {
            self.0.insert(key.to_string(), n);
        }
    }

    pub fn get(&self, key: &str) -> u64 {
        self.0.get(key).copied().unwrap_or(0)
    }

    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    pub fn merge(&mut self, other: &Counters) {
        for (k, v) in &other.0 {
            self.add(k, *v);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
