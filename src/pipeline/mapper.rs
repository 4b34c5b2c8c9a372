//! The CPU work on records, owned by one worker thread: map each record of a chunk into that
//! table's open batch, seal batches that reach the request limit, encode and gzip them. Every
//! worker has its own batches, so rows of many small objects share requests without locks.

use std::sync::Arc;
use std::time::Duration;

use crate::ack::Ticket;
use crate::batch::gzip::Gzip;
use crate::batch::Batch;
use crate::frame::{Check, Chunk, Span};
use crate::json::MemberSpan;
use crate::pool::Pools;
use crate::sink::dead_letter::DeadLetter;
use crate::sink::Request;
use crate::stats::Tally;
use crate::table::{cloudtrail, guardduty, vpcflow, RecordError, Table};

/// Records of one object, cut by the framer, with what mapping them needs.
pub struct Job {
    pub table: Table,
    pub chunk: Chunk,
    pub key: Arc<str>,
    pub ticket: Option<Ticket>,
    /// VPC: the layout of the object's header.
    pub layout: Option<Arc<vpcflow::Layout>>,
}

#[derive(Debug, Clone, Copy)]
pub struct BatchSettings {
    pub max_request_bytes: usize,
    pub gzip_level: u32,
}

impl BatchSettings {
    /// The Logs Ingestion API's limit on a request body (uncompressed JSON):
    /// https://learn.microsoft.com/azure/azure-monitor/logs/logs-ingestion-api-overview#limits-and-restrictions
    pub const MAX_REQUEST_BYTES: usize = 1_048_576;
    pub const MIN_REQUEST_BYTES: usize = 1024;
    /// Level 1 gives the most rows per second per core (README, Performance).
    pub const DEFAULT_GZIP_LEVEL: u32 = 1;
    pub const MAX_GZIP_LEVEL: u32 = 9;
}

impl Default for BatchSettings {
    fn default() -> Self {
        BatchSettings {
            max_request_bytes: Self::MAX_REQUEST_BYTES,
            gzip_level: Self::DEFAULT_GZIP_LEVEL,
        }
    }
}

/// One record as the framer handed it over: its bytes, what the framer checked, and its
/// member index when the framer made one.
struct Framed<'a> {
    bytes: &'a [u8],
    check: Check,
    members: Option<&'a [MemberSpan]>,
}

/// Where a mapper's output goes.
pub trait Output {
    fn request(&mut self, req: Request);
    /// Stores a dead letter; false when it could not be stored (the object then fails).
    fn dead_letter(&mut self, dl: DeadLetter) -> bool;
}

pub struct Mapper {
    settings: BatchSettings,
    pools: Arc<Pools>,
    batches: [Batch; 3],
    lines: vpcflow::LineState,
    pub tally: Tally,
    /// The request-body compressor, reused from body to body.
    gzip: Gzip,
    /// A dead letter of the job being mapped could not be stored.
    dead_failed: bool,
}

impl Mapper {
    pub fn new(settings: BatchSettings, pools: Arc<Pools>) -> Self {
        Mapper {
            settings,
            batches: Table::ALL.map(|t| pools.batch(t)),
            pools,
            lines: vpcflow::LineState::default(),
            tally: Tally::default(),
            gzip: Gzip::new(settings.gzip_level),
            dead_failed: false,
        }
    }

    pub fn run(&mut self, job: Job, out: &mut dyn Output) {
        let Job {
            table,
            chunk,
            key,
            ticket,
            layout,
        } = job;
        for (i, span) in chunk.spans.iter().enumerate() {
            let index = chunk.first_record + i as u64;
            let (start, end, check, members) = match *span {
                Span::Record {
                    start,
                    end,
                    check,
                    members,
                } => (start as usize, end as usize, check, members),
                Span::Oversized { bytes } => {
                    self.tally.records += 1;
                    let e = RecordError::TooLarge(bytes as usize);
                    let mut dl = DeadLetter::new(&key, e.reason(), e.to_string());
                    dl.table = Some(table.name().into());
                    dl.record_index = Some(index);
                    self.dead(dl, out);
                    continue;
                }
            };
            let rec = &chunk.data[start..end];
            self.tally.records += 1;
            let members = match check {
                Check::Unchecked => None,
                _ => chunk.members.get(members.0 as usize..members.1 as usize),
            };
            let framed = Framed {
                bytes: rec,
                check,
                members,
            };
            let result = self.map_record(table, framed, layout.as_deref(), ticket.as_ref(), out);
            if let Err(e) = result {
                if table == Table::GuardDuty
                    && matches!(e, RecordError::Json(_))
                    && rec.contains(&b'\n')
                    && self.resync_lines(
                        rec,
                        &key,
                        index,
                        chunk.offset + start as u64,
                        ticket.as_ref(),
                        out,
                    )
                {
                    continue;
                }
                let mut dl = DeadLetter::new(&key, e.reason(), e.to_string()).with_record(rec);
                dl.table = Some(table.name().into());
                dl.record_index = Some(index);
                dl.byte_offset = Some(chunk.offset + start as u64);
                self.dead(dl, out);
            }
        }
        self.pools.give_chunk_buffer(chunk.data);
        self.pools.give_members(chunk.members);
        // Every record of the chunk is now in a batch (whose own ticket clone stands for its
        // delivery) or in the dead-letter store: this chunk's part is done.
        if let Some(t) = ticket {
            if std::mem::take(&mut self.dead_failed) {
                t.fail();
            }
            t.release();
        }
    }

    fn dead(&mut self, dl: DeadLetter, out: &mut dyn Output) {
        self.tally.dead_letters.add(&dl.reason, 1);
        if !out.dead_letter(dl) {
            self.dead_failed = true;
        }
    }

    /// Maps one record into the open batch of its table, sealing the batch first when the row
    /// does not fit.
    fn map_record(
        &mut self,
        table: Table,
        rec: Framed,
        layout: Option<&vpcflow::Layout>,
        ticket: Option<&Ticket>,
        out: &mut dyn Output,
    ) -> Result<(), RecordError> {
        let batch = &mut self.batches[table.index()];
        let Framed {
            bytes: rec,
            check,
            members,
        } = rec;
        let mapped = match table {
            Table::CloudTrail => cloudtrail::map(rec, check, members, batch, &mut self.tally),
            Table::GuardDuty => guardduty::map(rec, check, members, batch, &mut self.tally),
            Table::VpcFlow => match layout {
                Some(l) => vpcflow::map(rec, l, &mut self.lines, batch, &mut self.tally),
                None => Err(RecordError::NoFields),
            },
        };
        if let Err(e) = mapped {
            batch.rollback_row();
            return Err(e);
        }
        let size = batch.pending_row_bytes();
        if size + 2 > self.settings.max_request_bytes {
            batch.rollback_row();
            return Err(RecordError::RowTooLarge {
                size,
                limit: self.settings.max_request_bytes,
            });
        }
        if !batch.fits(size, self.settings.max_request_bytes) {
            let full = batch.split_off_committed(self.pools.batch(table));
            self.seal(full, out);
        }
        let batch = &mut self.batches[table.index()];
        batch.commit_row_sized(size, ticket);
        self.tally.rows[table.index()] += 1;
        Ok(())
    }

    /// A JSON Lines record that failed may be several lines run together by a broken one:
    /// try each line on its own. Returns whether that explained the failure (each line then
    /// became a row or its own dead letter).
    /// `index` and `offset` locate `rec` in its object, for the dead letters.
    fn resync_lines(
        &mut self,
        rec: &[u8],
        key: &str,
        index: u64,
        offset: u64,
        ticket: Option<&Ticket>,
        out: &mut dyn Output,
    ) -> bool {
        let mut lines: Vec<(usize, &[u8])> = Vec::new();
        let mut at = 0;
        for line in rec.split(|&b| b == b'\n') {
            if line.iter().any(|b| !b.is_ascii_whitespace()) {
                lines.push((at, line));
            }
            at += line.len() + 1;
        }
        // JSON Lines run together: every line starts an object. A pretty-printed object that
        // is broken is one bad record, not one per line.
        if lines.len() < 2 || !lines.iter().all(|(_, l)| l.first() == Some(&b'{')) {
            return false;
        }
        for (at, line) in lines {
            if let Err(e) = self.map_record(
                Table::GuardDuty,
                Framed {
                    bytes: line,
                    check: Check::Unchecked,
                    members: None,
                },
                None,
                ticket,
                out,
            ) {
                let mut dl = DeadLetter::new(key, e.reason(), e.to_string()).with_record(line);
                dl.table = Some(Table::GuardDuty.name().into());
                dl.record_index = Some(index);
                dl.byte_offset = Some(offset + at as u64);
                self.dead(dl, out);
            }
        }
        true
    }

    /// Encodes and compresses a full batch and hands it on.
    fn seal(&mut self, mut batch: Batch, out: &mut dyn Output) {
        if batch.is_empty() {
            return;
        }
        let json = batch.rows_json(0..batch.rows());
        let raw_bytes = json.len() + 2;
        let mut body = self.pools.body(raw_bytes / 4 + 64);
        self.gzip.compress(&[b"[", json, b"]"], &mut body);
        let tickets = batch.take_tickets();
        out.request(Request {
            table: batch.table(),
            raw_bytes,
            body,
            batch,
            tickets,
            handed: None,
            origin: None,
        });
    }

    /// Seals the batches whose first row waited longer than `linger`.
    pub fn flush_older_than(&mut self, linger: Duration, out: &mut dyn Output) {
        for t in Table::ALL {
            let b = &self.batches[t.index()];
            if b.opened().is_some_and(|o| o.elapsed() >= linger) {
                let mut fresh = self.pools.batch(t);
                fresh.reserve_like(b);
                let full = std::mem::replace(&mut self.batches[t.index()], fresh);
                self.seal(full, out);
            }
        }
    }

    pub fn flush_all(&mut self, out: &mut dyn Output) {
        for t in Table::ALL {
            if self.batches[t.index()].is_empty() {
                continue;
            }
            let mut fresh = self.pools.batch(t);
            fresh.reserve_like(&self.batches[t.index()]);
            let full = std::mem::replace(&mut self.batches[t.index()], fresh);
            self.seal(full, out);
        }
    }
}

/// A request body for `rows` of `batch` outside the hot path (a split request, a replay):
/// the gzip-compressed JSON array and the size of the JSON.
pub fn request_body(batch: &Batch, rows: std::ops::Range<usize>, level: u32) -> (Vec<u8>, usize) {
    let json = batch.rows_json(rows);
    let mut body = Vec::new();
    Gzip::new(level).compress(&[b"[", json, b"]"], &mut body);
    (body, json.len() + 2)
}
