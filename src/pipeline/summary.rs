//! What a run did, for the operator (printed at the end) and for tests.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::stats::{Counters, Stats};
use crate::table::Table;

#[derive(Debug, Clone, Serialize)]
pub struct TableSummary {
    pub table: &'static str,
    pub rows: u64,
    pub requests: u64,
    pub bytes_out: u64,
    pub raw_bytes_out: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub objects_seen: u64,
    pub objects_delivered: u64,
    pub objects_dead_lettered: u64,
    pub objects_failed: u64,
    pub skipped: Counters,
    pub records: u64,
    pub tables: Vec<TableSummary>,
    pub dead_letters: Counters,
    pub notes: Counters,
    pub failures: Counters,
    /// Failures a queue does not retry by itself (see `FailureKind::is_retried_by_a_queue`).
    #[serde(skip)]
    pub failures_not_retried: u64,
    pub bytes_in: u64,
    pub bytes_decoded: u64,
    pub seconds: f64,
    pub dead_letter_dir: PathBuf,
    /// The source's own counters (SQS messages received, deleted, returned, ...).
    pub source: Counters,
    /// The sink's own counters (Azure calls by DCR, stream and status; retries; splits).
    pub sink: Counters,
}

impl Summary {
    pub fn collect(stats: &Stats, elapsed: Duration, dead_dir: &Path) -> Summary {
        let g = Stats::get;
        Summary {
            objects_seen: g(&stats.objects_seen),
            objects_delivered: g(&stats.objects_delivered),
            objects_dead_lettered: g(&stats.objects_dead_lettered),
            objects_failed: g(&stats.objects_failed),
            skipped: stats.skipped_counts(),
            records: g(&stats.records),
            tables: Table::ALL
                .iter()
                .map(|&t| TableSummary {
                    table: t.name(),
                    rows: g(&stats.rows[t]),
                    requests: g(&stats.requests[t]),
                    bytes_out: g(&stats.request_bytes[t]),
                    raw_bytes_out: g(&stats.request_raw_bytes[t]),
                })
                .collect(),
            dead_letters: stats.dead_letter_counts(),
            notes: stats.note_counts(),
            failures: stats.failure_counts(),
            failures_not_retried: g(&stats.failures_not_retried),
            bytes_in: g(&stats.bytes_in),
            bytes_decoded: g(&stats.bytes_decoded),
            seconds: elapsed.as_secs_f64(),
            dead_letter_dir: dead_dir.to_path_buf(),
            source: Counters::default(),
            sink: Counters::default(),
        }
    }

    /// Whether every object was shipped or dead-lettered.
    pub fn succeeded(&self) -> bool {
        self.objects_failed == 0 && self.failures.is_empty()
    }

    /// Whether a queue run went as it should: objects that failed were only those whose
    /// messages come back to be read again.
    pub fn succeeded_as_a_queue(&self) -> bool {
        self.failures_not_retried == 0
    }

    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }
}

fn counters(f: &mut fmt::Formatter<'_>, c: &Counters) -> fmt::Result {
    let parts: Vec<String> = c.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
    f.write_str(&parts.join(", "))
}

pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "objects:      {} seen, {} delivered ({} of them dead-lettered), {} skipped, {} failed",
            self.objects_seen,
            self.objects_delivered,
            self.objects_dead_lettered,
            self.skipped.total(),
            self.objects_failed
        )?;
        if !self.skipped.is_empty() {
            write!(f, "skipped:      ")?;
            counters(f, &self.skipped)?;
            writeln!(f)?;
        }
        if !self.source.is_empty() {
            write!(f, "source:       ")?;
            counters(f, &self.source)?;
            writeln!(f)?;
        }
        if !self.sink.is_empty() {
            write!(f, "sink:         ")?;
            counters(f, &self.sink)?;
            writeln!(f)?;
        }
        writeln!(f, "records:      {}", self.records)?;
        for t in &self.tables {
            if t.rows > 0 || t.requests > 0 {
                writeln!(
                    f,
                    "  {:<13} {} rows in {} requests ({} JSON, {} gzip)",
                    t.table,
                    t.rows,
                    t.requests,
                    human_bytes(t.raw_bytes_out),
                    human_bytes(t.bytes_out)
                )?;
            }
        }
        if !self.dead_letters.is_empty() {
            write!(f, "dead letters: {} (", self.dead_letters.total())?;
            counters(f, &self.dead_letters)?;
            writeln!(f, ") in {}", self.dead_letter_dir.display())?;
        }
        if !self.notes.is_empty() {
            write!(f, "notes:        ")?;
            counters(f, &self.notes)?;
            writeln!(f)?;
        }
        if !self.failures.is_empty() {
            write!(f, "FAILURES:     ")?;
            counters(f, &self.failures)?;
            writeln!(f)?;
        }
        let secs = self.seconds.max(1e-9);
        write!(
            f,
            "bytes:        {} in ({} decompressed), {} out; {:.2} s, {:.0} records/s, {}/s decompressed",
            human_bytes(self.bytes_in),
            human_bytes(self.bytes_decoded),
            human_bytes(self.tables.iter().map(|t| t.bytes_out).sum()),
            self.seconds,
            self.records as f64 / secs,
            human_bytes((self.bytes_decoded as f64 / secs) as u64),
        )
    }
}

/// A progress bar on a terminal, fed from the run's counters.
pub struct Progress {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    pub fn start(show: bool, total: Option<u64>, stats: Arc<Stats>) -> Progress {
        use std::io::IsTerminal;
        let stop = Arc::new(AtomicBool::new(false));
        if !show || !std::io::stderr().is_terminal() {
            return Progress { stop, handle: None };
        }
        let bar = match total {
            Some(t) => indicatif::ProgressBar::new(t),
            None => indicatif::ProgressBar::new_spinner(),
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let s = stop.clone();
        let handle = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                bar.set_position(Stats::get(&stats.bytes_in));
                bar.set_message(format!("{} records", Stats::get(&stats.records)));
                std::thread::sleep(Duration::from_millis(100));
            }
            bar.finish_and_clear();
        });
        Progress {
            stop,
            handle: Some(handle),
        }
    }

    pub fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
