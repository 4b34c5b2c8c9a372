//! `logferry replay`: sends a dead-letter directory again once its cause is fixed.
//!
//! Three kinds of dead letters come back differently:
//! - rows the sink refused (`row`, e.g. a 400 for a column the DCR did not declare): sent as
//!   they are, once the DCR or the table was fixed;
//! - CloudTrail and GuardDuty records that could not be mapped (`record`): mapped again with
//!   this build's mappers (the fix is a newer logferry), then sent;
//! - whole objects (a corrupt gzip, a truncated body) and VPC lines (a line means nothing
//!   without its object's header) hold no rows to send: they are counted and listed, and the
//!   fix is to read the object again from the bucket (`--source s3:BUCKET/PREFIX`).
//!
//! Rows go through the same batching, encoding and sink as a run; each request holds a ticket,
//! so a request the sink gives up on is known. Only when every request was settled are the
//! files renamed `*.replayed` (running replay twice does not send twice); rows refused again,
//! and every entry replay cannot send, are written to `DIR/replay-rejects/` first, so nothing
//! is dropped with the rename. Files a killed run left unfinished (`*.partial`) are read with
//! `--include-partial`, up to where they were cut.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::ack::{AckListener, Outcome, Ticket};
use crate::batch::Batch;
use crate::sink::dead_letter::{self, DeadLetter, DeadLetters};
use crate::sink::{Request, Settle, Sink, SinkError};
use crate::stats::{Counters, Stats, Tally};
use crate::table::{self, Framing, ObjectState, PerTable, Record, Scratch, Table};

#[derive(Debug, Default)]
pub struct Report {
    /// Rows in settled requests, by table (accepted, or refused again and dead-lettered).
    pub rows_sent: PerTable<u64>,
    pub requests: u64,
    /// Of the settled rows, those refused again (the rest were accepted).
    pub rows_refused_again: u64,
    /// Files that ended early (a killed writer); their letters before the cut were replayed.
    pub cut_files: Vec<PathBuf>,
    /// Entries that were not sent, by why.
    pub not_replayed: Counters,
    pub files_done: Vec<PathBuf>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (t, &rows) in self.rows_sent.iter() {
            if rows > 0 {
                writeln!(f, "{:<13} {} rows sent", t.name(), rows)?;
            }
        }
        if self.rows_refused_again > 0 {
            writeln!(
                f,
                "of which {} were refused again (dead-lettered again)",
                self.rows_refused_again
            )?;
        }
        for c in &self.cut_files {
            writeln!(f, "cut short:    {} (replayed up to the cut)", c.display())?;
        }
        writeln!(f, "requests:     {}", self.requests)?;
        for (why, n) in &self.not_replayed.0 {
            writeln!(f, "not replayed: {n} {why}")?;
        }
        write!(
            f,
            "files done:   {} (renamed *.replayed)",
            self.files_done.len()
        )
    }
}

struct Counted {
    requests: AtomicU64,
    rows: PerTable<AtomicU64>,
}

impl Settle for Counted {
    fn accepted(&self, req: Request) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.rows[req.table].fetch_add(req.batch.rows() as u64, Ordering::Relaxed);
        req.tickets.into_iter().for_each(Ticket::release);
    }
}

/// Appends one row given as a JSON object of the table's columns.
fn push_row(batch: &mut Batch, table: Table, row: &str) -> Result<(), String> {
    let fields: BTreeMap<String, Box<serde_json::value::RawValue>> =
        serde_json::from_str(row).map_err(|e| format!("not a JSON object: {e}"))?;
    for (k, v) in &fields {
        let col = table
            .columns()
            .iter()
            .position(|c| c.name == k)
            .ok_or_else(|| format!("{k} is not a column of {table}"))?;
        batch.value_buf(col).extend_from_slice(v.get().as_bytes());
    }
    if batch.pending_is_empty() {
        return Err("an empty row".into());
    }
    Ok(())
}

/// Maps a record again with this build's mapper. A line of a table framed with a header
/// means nothing without its object's header, which a dead letter does not keep.
fn map_record(
    batch: &mut Batch,
    table: Table,
    rec: &[u8],
    scratch: &mut Scratch,
    tally: &mut Tally,
) -> Result<(), String> {
    let object = ObjectState::new(table);
    if object.wants_header() {
        return Err("a VPC line needs its object's header".into());
    }
    table::map(
        &object,
        Record::unchecked(rec),
        scratch,
        batch,
        &mut tally.notes,
    )
    .map_err(|e| e.to_string())
}

/// Counts whether every request ended settled: a request the sink gave up on drops its ticket
/// unreleased.
struct Outcomes {
    failed: AtomicU64,
}

impl AckListener for Outcomes {
    fn object_done(&self, key: &str, outcome: Outcome) {
        if outcome == Outcome::Failed {
            tracing::warn!(file = key, "a replayed request was not delivered");
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// What replay reads and where what it cannot send goes.
pub struct ReplaySettings {
    pub max_request_bytes: usize,
    pub gzip_level: u32,
    /// Also read `.partial` files (left by a killed run; never while a run writes there).
    pub include_partial: bool,
}

/// Replays every dead letter under `dir` into `sink`. `stats` is the sink's: the rows it
/// refuses again are counted there, and written to `rejects` with the entries replay cannot
/// send, so renaming a file `*.replayed` never loses one.
pub fn replay(
    dir: &Path,
    mut sink: Box<dyn Sink>,
    settings: &ReplaySettings,
    stats: &Stats,
    rejects: &DeadLetters,
) -> Result<Report, SinkError> {
    let io = |source| SinkError::Io {
        path: dir.display().to_string(),
        source,
    };
    let files = dead_letter::files(dir, settings.include_partial).map_err(io)?;
    let counted = Arc::new(Counted {
        requests: AtomicU64::new(0),
        rows: Default::default(),
    });
    let outcomes = Arc::new(Outcomes {
        failed: AtomicU64::new(0),
    });
    let settle: Arc<dyn Settle> = counted.clone();
    let mut report = Report::default();
    let mut batches: PerTable<Batch> = PerTable::from_fn(Table::batch);
    let mut scratch = Scratch::default();
    let mut tally = Tally::default();
    let mut cut_files = Vec::new();
    let send = |sink: &mut Box<dyn Sink>,
                table: Table,
                batch: Batch,
                file: &Path|
     -> Result<(), SinkError> {
        let (body, raw_bytes) = batch.request_body(0..batch.rows(), settings.gzip_level);
        let origin = file.display().to_string();
        let listener: Arc<dyn AckListener> = outcomes.clone();
        sink.send(
            Request {
                table,
                raw_bytes,
                body,
                batch,
                tickets: vec![Ticket::new(&origin, listener)],
                handed: None,
                origin: Some(origin),
            },
            &settle,
        )
    };
    let keep = |dl: &DeadLetter, why: &str, report: &mut Report| -> Result<(), SinkError> {
        report.not_replayed.add(why, 1);
        rejects.write(dl).map_err(|source| SinkError::Io {
            path: rejects.dir().display().to_string(),
            source,
        })
    };
    for file in &files {
        let (entries, cut) = dead_letter::read_file_lenient(file).map_err(io)?;
        if let Some(e) = cut {
            tracing::warn!(file = %file.display(), error = %e, letters = entries.len(), "the file ends early (its writer was killed?): replaying the letters before the cut");
            cut_files.push(file.clone());
        }
        for dl in entries {
            let table = dl
                .table
                .as_deref()
                .and_then(|n| Table::ALL.into_iter().find(|t| t.name() == n));
            let Some(table) = table else {
                keep(
                    &dl,
                    "objects (read them again from the bucket)",
                    &mut report,
                )?;
                continue;
            };
            let batch = &mut batches[table];
            let pushed = if let Some(row) = &dl.row {
                push_row(batch, table, row)
            } else if let Some(rec) = dl.record_bytes() {
                map_record(batch, table, &rec, &mut scratch, &mut tally)
            } else {
                Err("no record".into())
            };
            if let Err(why) = pushed {
                batch.rollback_row();
                tracing::info!(key = %dl.key, %why, "not replayed");
                let why = if table.framing() == Framing::LinesWithHeader && dl.row.is_none() {
                    "VPC lines (read their objects again from the bucket)"
                } else {
                    "entries that still cannot be mapped"
                };
                keep(&dl, why, &mut report)?;
                continue;
            }
            let size = batch.pending_row_bytes();
            if size + 2 > settings.max_request_bytes {
                batch.rollback_row();
                keep(&dl, "rows larger than --max-request-bytes", &mut report)?;
                continue;
            }
            if !batch.fits(size, settings.max_request_bytes) && !batch.is_empty() {
                let full = batch.split_off_committed(table.batch());
                send(&mut sink, table, full, file)?;
            }
            batches[table].commit_row_sized(size, None);
        }
        // Send what this file left in the batches, so a request never mixes files.
        for (t, b) in batches.iter_mut() {
            if !b.is_empty() {
                let full = std::mem::replace(b, t.batch());
                send(&mut sink, t, full, file)?;
            }
        }
    }
    sink.finish()?;
    report.requests = counted.requests.load(Ordering::Relaxed);
    let mut settled = 0;
    for t in Table::ALL {
        report.rows_sent[t] = counted.rows[t].load(Ordering::Relaxed);
        settled += report.rows_sent[t];
    }
    // A settled request's rows were accepted or refused again (and dead-lettered): the sent
    // ones are the difference. Per table, refusals are not split; the total is exact.
    report.rows_refused_again = stats.dead_letter_counts().total().min(settled);
    let failed = outcomes.failed.load(Ordering::Relaxed);
    if failed > 0 {
        return Err(SinkError::Config(format!(
            "{failed} requests were not delivered (the sink gave up on them); the dead-letter files are kept for another replay"
        )));
    }
    // Everything was sent, or is kept in the rejects directory: mark the files.
    for f in files {
        let mut done = f.clone().into_os_string();
        done.push(".replayed");
        std::fs::rename(&f, &done).map_err(|source| SinkError::Io {
            path: f.display().to_string(),
            source,
        })?;
        report.files_done.push(f);
    }
    report.cut_files = cut_files;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_come_back_as_they_were() {
        let mut b = Table::VpcFlow.batch();
        push_row(
            &mut b,
            Table::VpcFlow,
            r#"{"Version":2,"Action":"ACCEPT","TimeGenerated":"2026-11-24T00:00:00Z"}"#,
        )
        .unwrap();
        b.commit_row(None);
        let mut out = Vec::new();
        b.encode_json(0..1, &mut out);
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#"[{"TimeGenerated":"2026-11-24T00:00:00Z","Version":2,"Action":"ACCEPT"}]"#
        );
        assert!(push_row(&mut b, Table::VpcFlow, r#"{"Nope":1}"#).is_err());
        assert!(push_row(&mut b, Table::VpcFlow, r#"[1]"#).is_err());
    }
}
