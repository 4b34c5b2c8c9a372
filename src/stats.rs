//! Counters. Hot ones live in each worker's [`Tally`] and are merged into the shared [`Stats`]
//! per chunk, so no atomic is touched per record; rare events (a reason, a truncated column)
//! are named counters.

use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};

pub use crate::counters::Counters;
use crate::table::{self, PerTable, Table};

/// One worker's counts since its last merge.
#[derive(Debug, Default)]
pub struct Tally {
    pub records: u64,
    pub rows: PerTable<u64>,
    pub dead_letters: Counters,
    /// Values changed or dropped on the way: truncations, clamps, invalid values, unknown VPC
    /// fields. Named `what:Table.Column`.
    pub notes: Counters,
}

impl Tally {
    pub fn note(&mut self, what: &str, table: Table, column: &str) {
        table::note(&mut self.notes, what, table, column);
    }
}

/// Shared, run-wide counters.
#[derive(Debug, Default)]
pub struct Stats {
    pub objects_seen: AtomicU64,
    pub objects_delivered: AtomicU64,
    pub objects_failed: AtomicU64,
    /// Objects whose reading stopped at a fault; their earlier rows were shipped.
    pub objects_dead_lettered: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_decoded: AtomicU64,
    pub requests: PerTable<AtomicU64>,
    pub request_bytes: PerTable<AtomicU64>,
    pub request_raw_bytes: PerTable<AtomicU64>,
    pub records: AtomicU64,
    pub rows: PerTable<AtomicU64>,
    /// Depths of the stage queues (objects waiting for a worker, chunks waiting to be shared,
    /// requests waiting for the sink), sampled when items pass.
    pub queue_objects: AtomicU64,
    pub queue_chunks: AtomicU64,
    pub queue_requests: AtomicU64,
    pub latency: Latency,
    /// Failures a queue source does not retry by itself (see [`FailureKind`]).
    pub failures_not_retried: AtomicU64,
    named: Mutex<NamedCounters>,
}

/// Why part of a run failed. Each kind is counted under its name (the summary's `failures`,
/// the `logferry_failures` metric); whether a queue retries it decides a queue run's exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// An object could not be read (missing, denied, S3 errors after retries, a local I/O
    /// error).
    ReadError,
    /// A dead letter could not be stored.
    DeadLetterWrite,
    /// The sink stopped (configuration, or retries exhausted).
    Sink,
    WorkerPanic,
    SinkPanic,
    /// The source itself failed (listing, receiving, finishing).
    Source,
}

impl FailureKind {
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::ReadError => "read_error",
            FailureKind::DeadLetterWrite => "dead_letter_write",
            FailureKind::Sink => "sink",
            FailureKind::WorkerPanic => "worker_panic",
            FailureKind::SinkPanic => "sink_panic",
            FailureKind::Source => "source",
        }
    }

    /// A queue source returns the message of an object that could not be read and it comes
    /// back later: the normal course of a long-running source, not a failed run.
    pub fn is_retried_by_a_queue(self) -> bool {
        matches!(self, FailureKind::ReadError)
    }
}

/// Per-stage latency histograms, in seconds. Observed per call or per object, never per
/// record.
#[derive(Debug, Clone)]
pub struct Latency {
    /// SQS ReceiveMessage calls (long polls included).
    pub receive: Histogram,
    /// S3 downloads, whole object.
    pub fetch: Histogram,
    /// From an object entering the pipeline to its outcome (every row delivered or failed).
    pub object: Histogram,
    /// One sink request.
    pub sink: Histogram,
    /// SQS DeleteMessageBatch calls.
    pub delete: Histogram,
}

impl Default for Latency {
    fn default() -> Self {
        // 1 ms to ~33 s.
        let h = || Histogram::new(exponential_buckets(0.001, 2.0, 16));
        Latency {
            receive: h(),
            fetch: h(),
            object: h(),
            sink: h(),
            delete: h(),
        }
    }
}

#[derive(Debug, Default)]
struct NamedCounters {
    skipped: Counters,
    dead_letters: Counters,
    notes: Counters,
    failures: Counters,
}

impl Stats {
    pub fn merge_tally(&self, t: &mut Tally) {
        self.records.fetch_add(t.records, Ordering::Relaxed);
        for (table, r) in t.rows.iter() {
            self.rows[table].fetch_add(*r, Ordering::Relaxed);
        }
        if !t.dead_letters.is_empty() || !t.notes.is_empty() {
            let mut n = self.named.lock();
            n.dead_letters.merge(&t.dead_letters);
            n.notes.merge(&t.notes);
        }
        *t = Tally::default();
    }

    pub fn skipped(&self, reason: &str) {
        self.named.lock().skipped.add(reason, 1);
    }

    pub fn dead_letter(&self, reason: &str) {
        self.named.lock().dead_letters.add(reason, 1);
    }

    pub fn failure(&self, kind: FailureKind) {
        if !kind.is_retried_by_a_queue() {
            self.failures_not_retried.fetch_add(1, Ordering::Relaxed);
        }
        self.named.lock().failures.add(kind.name(), 1);
    }

    pub fn skipped_counts(&self) -> Counters {
        self.named.lock().skipped.clone()
    }
    pub fn dead_letter_counts(&self) -> Counters {
        self.named.lock().dead_letters.clone()
    }
    pub fn note_counts(&self) -> Counters {
        self.named.lock().notes.clone()
    }
    pub fn failure_counts(&self) -> Counters {
        self.named.lock().failures.clone()
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
