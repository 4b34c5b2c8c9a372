//! The CPU work on records, owned by one worker thread: map each record of a chunk into that
//! table's open batch, seal batches that reach the request limit, encode and gzip them. Every
//! worker has its own batches, so rows of many small objects share requests without locks.

use std::sync::Arc;
use std::time::Duration;

use crate::ack::Ticket;
use crate::batch::gzip::Gzip;
use crate::batch::Batch;
use crate::frame::{Check, Chunk, Span};
use crate::pool::Pools;
use crate::sink::dead_letter::DeadLetter;
use crate::sink::Request;
use crate::stats::Tally;
use crate::table::{self, ObjectState, PerTable, Record, RecordError, Scratch, Table};

/// Records of one object, cut by the framer, with what mapping them needs.
pub struct Job {
    /// The object's table and what its header said.
    pub object: ObjectState,
    pub chunk: Chunk,
    pub key: Arc<str>,
    pub ticket: Option<Ticket>,
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

/// Where a mapper's output goes.
pub trait Output {
    fn request(&mut self, req: Request);
    /// Stores a dead letter; false when it could not be stored (the object then fails).
    fn dead_letter(&mut self, dl: DeadLetter) -> bool;
}

pub struct Mapper {
    settings: BatchSettings,
    pools: Arc<Pools>,
    batches: PerTable<Batch>,
    scratch: Scratch,
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
            batches: PerTable::from_fn(|t| pools.batch(t)),
            pools,
            scratch: Scratch::default(),
            tally: Tally::default(),
            gzip: Gzip::new(settings.gzip_level),
            dead_failed: false,
        }
    }

    pub fn run(&mut self, job: Job, out: &mut dyn Output) {
        let Job {
            object,
            chunk,
            key,
            ticket,
        } = job;
        let table = object.table();
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
            let framed = Record {
                bytes: rec,
                check,
                members,
            };
            let result = self.map_record(&object, framed, ticket.as_ref(), out);
            if let Err(e) = result {
                // Lines run together by a broken one: each line becomes a row or its own
                // dead letter.
                if let Some(lines) = object.run_together_lines(rec, &e) {
                    for (at, line) in lines {
                        let line_rec = Record::unchecked(line);
                        if let Err(e) = self.map_record(&object, line_rec, ticket.as_ref(), out) {
                            let mut dl =
                                DeadLetter::new(&key, e.reason(), e.to_string()).with_record(line);
                            dl.table = Some(table.name().into());
                            dl.record_index = Some(index);
                            dl.byte_offset = Some(chunk.offset + (start + at) as u64);
                            self.dead(dl, out);
                        }
                    }
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
        object: &ObjectState,
        rec: Record,
        ticket: Option<&Ticket>,
        out: &mut dyn Output,
    ) -> Result<(), RecordError> {
        let table = object.table();
        let batch = &mut self.batches[table];
        let notes = &mut self.tally.notes;
        let mapped = table::map(object, rec, &mut self.scratch, batch, notes);
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
            self.seal(table, full, out);
        }
        let batch = &mut self.batches[table];
        batch.commit_row_sized(size, ticket);
        self.tally.rows[table] += 1;
        Ok(())
    }

    /// Encodes and compresses a full batch and hands it on.
    fn seal(&mut self, table: Table, mut batch: Batch, out: &mut dyn Output) {
        if batch.is_empty() {
            return;
        }
        let json = batch.rows_json(0..batch.rows());
        let raw_bytes = json.len() + 2;
        let mut body = self.pools.body(raw_bytes / 4 + 64);
        self.gzip.compress(&[b"[", json, b"]"], &mut body);
        let tickets = batch.take_tickets();
        out.request(Request {
            table,
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
            let b = &self.batches[t];
            if b.opened().is_some_and(|o| o.elapsed() >= linger) {
                let mut fresh = self.pools.batch(t);
                fresh.reserve_like(b);
                let full = std::mem::replace(&mut self.batches[t], fresh);
                self.seal(t, full, out);
            }
        }
    }

    pub fn flush_all(&mut self, out: &mut dyn Output) {
        for t in Table::ALL {
            if self.batches[t].is_empty() {
                continue;
            }
            let mut fresh = self.pools.batch(t);
            fresh.reserve_like(&self.batches[t]);
            let full = std::mem::replace(&mut self.batches[t], fresh);
            self.seal(t, full, out);
        }
    }
}

/// A request body for `rows` of `batch` outside the hot path: see [`Batch::request_body`].
pub fn request_body(batch: &Batch, rows: std::ops::Range<usize>, level: u32) -> (Vec<u8>, usize) {
    batch.request_body(rows, level)
}
