//! The Azure sink's own counters: calls by DCR, stream and status, retries, splits, refused
//! rows, and call latency per target, for the summary's `sink:` line and the metrics endpoint.

use parking_lot::Mutex;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};

use super::client::Target;
use crate::counters::Counters;
use crate::stats::Stats;
use crate::table::PerTable;

pub type LatencyFamily = Family<Vec<(String, String)>, Histogram, fn() -> Histogram>;

/// Per-target call outcomes and latency, for metrics and the summary.
#[derive(Debug)]
pub struct SinkStats {
    /// `dcr|stream|status` -> calls.
    calls: Mutex<Counters>,
    /// Call latency by DCR and stream.
    pub latency: LatencyFamily,
    pub rows_accepted: PerTable<std::sync::atomic::AtomicU64>,
    pub splits: std::sync::atomic::AtomicU64,
    pub retries: std::sync::atomic::AtomicU64,
    pub token_refreshes: std::sync::atomic::AtomicU64,
    /// Current adaptive limit per target, `dcr|stream` -> limit.
    limits: Mutex<std::collections::BTreeMap<String, u64>>,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

impl Default for SinkStats {
    fn default() -> Self {
        SinkStats {
            calls: Mutex::default(),
            latency: Family::new_with_constructor(latency_histogram),
            rows_accepted: Default::default(),
            splits: Default::default(),
            retries: Default::default(),
            token_refreshes: Default::default(),
            limits: Mutex::default(),
        }
    }
}

impl SinkStats {
    pub(super) fn call(&self, t: &Target, status: &str, secs: f64) {
        let key = format!("{}|{}|{status}", t.dcr, t.stream);
        self.calls.lock().add(&key, 1);
        self.latency
            .get_or_create(&vec![
                ("dcr".to_string(), t.dcr.clone()),
                ("stream".to_string(), t.stream.clone()),
            ])
            .observe(secs);
        self.limits.lock().insert(
            format!("{}|{}", t.dcr, t.stream),
            t.limiter.limit().floor() as u64,
        );
    }

    /// Calls by (dcr, stream, status).
    pub fn calls(&self) -> Vec<(String, String, String, u64)> {
        let calls = self.calls.lock();
        calls
            .0
            .iter()
            .filter_map(|(k, &v)| {
                let mut it = k.splitn(3, '|');
                Some((
                    it.next()?.to_string(),
                    it.next()?.to_string(),
                    it.next()?.to_string(),
                    v,
                ))
            })
            .collect()
    }

    /// The counters a run summary shows: calls as `dcr/stream:status`, then retries, splits
    /// and token refreshes.
    pub fn summary(&self) -> Counters {
        let mut c = Counters::default();
        for (dcr, stream, status, n) in self.calls() {
            c.add(&format!("{dcr}/{stream}:{status}"), n);
        }
        for (k, v) in [
            ("retries", &self.retries),
            ("splits", &self.splits),
            ("token_refreshes", &self.token_refreshes),
        ] {
            let n = Stats::get(v);
            if n > 0 {
                c.add(k, n);
            }
        }
        c
    }

    /// Current concurrency limit by (dcr, stream).
    pub fn limits(&self) -> Vec<(String, String, u64)> {
        let limits = self.limits.lock();
        limits
            .iter()
            .filter_map(|(k, &v)| {
                let (d, s) = k.split_once('|')?;
                Some((d.to_string(), s.to_string(), v))
            })
            .collect()
    }
}
