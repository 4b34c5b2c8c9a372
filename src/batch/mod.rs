//! Batches of rows for one table, stored as the request body they become and cut exactly
//! below the request size limit.
//!
//! A row is built in one of two ways, and committed rows are always bytes of the final JSON:
//! - **Directly** (the mappers): a row is written as `,"Key":value` pieces straight into the
//!   body, in the order the record has its fields, each column once; the first comma becomes
//!   `{`. Nothing is copied again.
//! - **By column** (replay, and a record whose mapping writes a column twice, such as a
//!   duplicated key): each value, already encoded as JSON (`"text"`, `12`, `true`, `{...}`),
//!   goes to its column's pending buffer, where a later value replaces it, and a bitmap (one
//!   `u64`: a table has at most 64 columns) says which columns the row has. Committing writes
//!   `{"Key":value,...}` in schema order.
//!
//! The body holds each committed row followed by a comma, `{...},{...},`, with the end of
//! every row recorded. The JSON array of any row range is then `[`, one slice, `]`: sealing a
//! batch gzips that slice in place (no encoding pass, no copy), and a request the API refuses
//! is split by row ranges without re-parsing. Because every row's size is known when it is
//! built, a batch is cut exactly below the request limit (the row that would overflow starts
//! the next batch). Columnar storage with per-column arenas was measured first: the encoding
//! pass that gathered rows back from 14-48 arenas cost 10-20% of the CPU path, and committing
//! CloudTrail rows from pending columns still cost 4%.

pub mod gzip;
mod key;

use std::ops::Range;
use std::time::Instant;

pub use key::Key;

use crate::ack::Ticket;

/// The rows of one table. A batch knows its table only by the table's keys (see
/// `Table::batch` in `src/table/mod.rs`): the tables sit above it and write into it.
pub struct Batch {
    /// `,"Name":` per column, in schema order: the first comma of a row becomes its `{`.
    keys: &'static [Key],
    /// The pending row's value per column; meaningful for the columns in `pending`, empty
    /// for the others.
    values: Vec<Vec<u8>>,
    /// Columns written for the pending row.
    pending: u64,
    /// Where a directly written pending row starts in `body`.
    direct: Option<usize>,
    /// Committed rows, each followed by a comma; then a directly written pending row.
    body: Vec<u8>,
    /// End of each committed row in `body`, after its comma.
    row_ends: Vec<u32>,
    tickets: Vec<Ticket>,
    opened: Option<Instant>,
    /// Where a value that is thrown away is written.
    scratch: Vec<u8>,
}

impl Batch {
    /// An empty batch of the table whose columns' keys are `keys` (see `Table::batch`).
    pub fn new(keys: &'static [Key]) -> Self {
        assert!(keys.len() <= 64, "a table has at most 64 columns");
        Batch {
            keys,
            values: vec![Vec::new(); keys.len()],
            pending: 0,
            direct: None,
            body: Vec::new(),
            row_ends: Vec::new(),
            tickets: Vec::new(),
            opened: None,
            scratch: Vec::new(),
        }
    }

    pub fn rows(&self) -> usize {
        self.row_ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.row_ends.is_empty()
    }

    /// End of the committed rows in `body` (after the last row's comma).
    fn committed_end(&self) -> usize {
        self.row_ends.last().map_or(0, |&e| e as usize)
    }

    /// Bytes of the JSON array of all committed rows.
    pub fn json_bytes(&self) -> usize {
        // `[` + rows with their commas, the last comma becoming `]`.
        self.committed_end().max(1) + 1
    }

    /// When the first row was committed (for flushing batches that wait too long).
    pub fn opened(&self) -> Option<Instant> {
        self.opened
    }

    /// Starts (or restarts) the pending row's value for `col` and returns the buffer to append
    /// its encoded JSON to.
    #[inline]
    pub fn value_buf(&mut self, col: usize) -> &mut Vec<u8> {
        debug_assert!(
            self.direct.is_none(),
            "a row is built by column or directly"
        );
        let bit = 1u64 << col;
        let v = &mut self.values[col];
        if self.pending & bit != 0 {
            v.clear();
        }
        self.pending |= bit;
        v
    }

    /// Starts a row written directly: the caller appends `,"Key":value` pieces (the keys of
    /// table's `encoded_keys`) to the returned body, each column at most once, then calls
    /// [`Batch::end_direct`].
    #[inline]
    pub fn begin_direct(&mut self) -> &mut Vec<u8> {
        debug_assert!(self.pending == 0 && self.direct.is_none());
        self.direct = Some(self.body.len());
        &mut self.body
    }

    /// In a directly written row: appends the key of `col` and returns the body to append its
    /// value to. The caller writes each column at most once.
    #[inline]
    pub fn direct_key(&mut self, col: usize) -> &mut Vec<u8> {
        debug_assert!(self.direct.is_some());
        self.keys[col].write(&mut self.body);
        &mut self.body
    }

    /// A buffer for a value that goes nowhere.
    pub fn scratch(&mut self) -> &mut Vec<u8> {
        self.scratch.clear();
        &mut self.scratch
    }

    /// Closes the pending row however it was written; false if it has no column.
    pub fn end_row(&mut self) -> bool {
        if self.direct.is_some() {
            self.end_direct()
        } else {
            !self.pending_is_empty()
        }
    }

    /// Closes a directly written row; false if it has no column (then it is empty).
    #[inline]
    pub fn end_direct(&mut self) -> bool {
        let Some(start) = self.direct else {
            return false;
        };
        if self.body.len() == start {
            return false;
        }
        // The first piece's comma opens the object.
        self.body[start] = b'{';
        self.body.push(b'}');
        true
    }

    /// The pending row's size in the JSON array: `{...}` with its keys and commas.
    pub fn pending_row_bytes(&self) -> usize {
        if let Some(start) = self.direct {
            return self.body.len() - start;
        }
        // Each present column is `,"Key":value`; the first comma becomes `{`, plus `}`.
        let mut size = 1;
        let mut mask = self.pending;
        while mask != 0 {
            let col = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            let len = self.values[col].len();
            if len > 0 {
                size += self.keys[col].len() + len;
            }
        }
        size.max(2)
    }

    /// Whether the pending row has any value at all.
    pub fn pending_is_empty(&self) -> bool {
        match self.direct {
            Some(start) => self.body.len() == start,
            None => self.pending == 0,
        }
    }

    /// Whether a row of `row_bytes` still fits under `limit` bytes of JSON.
    pub fn fits(&self, row_bytes: usize, limit: usize) -> bool {
        let comma = usize::from(!self.is_empty());
        self.json_bytes() + comma + row_bytes <= limit
    }

    /// Commits the pending row, whose size the caller got from [`Batch::pending_row_bytes`];
    /// its rows belong to the object of `ticket`.
    pub fn commit_row_sized(&mut self, size: usize, ticket: Option<&Ticket>) {
        debug_assert_eq!(size, self.pending_row_bytes());
        if self.direct.take().is_none() {
            let start = self.body.len();
            self.body.reserve(size + 1);
            let mut mask = self.pending;
            while mask != 0 {
                let col = mask.trailing_zeros() as usize;
                mask &= mask - 1;
                let v = &mut self.values[col];
                if !v.is_empty() {
                    self.keys[col].write(&mut self.body);
                    self.body.extend_from_slice(v);
                    v.clear();
                }
            }
            match self.body.get_mut(start) {
                Some(first) => *first = b'{',
                None => self.body.push(b'{'),
            }
            self.body.push(b'}');
            self.pending = 0;
        }
        self.body.push(b',');
        debug_assert_eq!(self.body.len() - self.committed_end(), size + 1);
        self.row_ends.push(self.body.len() as u32);
        if self.opened.is_none() {
            self.opened = Some(Instant::now());
        }
        if let Some(t) = ticket {
            if !self.tickets.last().is_some_and(|l| l.same_object(t)) {
                self.tickets.push(t.clone());
            }
        }
    }

    /// Commits the pending row; its rows belong to the object of `ticket`.
    pub fn commit_row(&mut self, ticket: Option<&Ticket>) {
        let size = self.pending_row_bytes();
        self.commit_row_sized(size, ticket);
    }

    /// Drops the pending row.
    pub fn rollback_row(&mut self) {
        if let Some(start) = self.direct.take() {
            self.body.truncate(start);
        }
        let mut mask = self.pending;
        while mask != 0 {
            self.values[mask.trailing_zeros() as usize].clear();
            mask &= mask - 1;
        }
        self.pending = 0;
    }

    /// Empties the batch, keeping its buffers' capacity.
    pub fn reset(&mut self) {
        self.rollback_row();
        self.body.clear();
        self.row_ends.clear();
        self.tickets.clear();
        self.opened = None;
    }

    /// Sizes the buffers of this (empty) batch for as many rows and bytes as `like` holds.
    /// The batch that replaces a full one is sized like it: a fresh batch (none recycled yet,
    /// or its request not back from the sink) would otherwise grow its body from empty by
    /// doubling, copying each row once more on average and faulting in every new block
    /// (`finish_grow` and page faults in `perf`). A recycled batch already has the room, and
    /// this does nothing.
    pub fn reserve_like(&mut self, like: &Batch) {
        // A batch fills to just below the limit and then holds the row that did not fit: a
        // sixteenth more than the full one keeps that row from doubling the body (a 1 MB copy).
        let want = like.body.len() + like.body.len() / 16;
        self.body.reserve(want.saturating_sub(self.body.len()));
        let rows = like.row_ends.len().saturating_sub(self.row_ends.len());
        self.row_ends.reserve(rows);
    }

    /// Takes the committed rows out as a full batch; `self` keeps only the pending row, moved
    /// into `next` (an empty batch of the same table, typically a recycled one, sized like
    /// this one by [`Batch::reserve_like`]).
    pub fn split_off_committed(&mut self, mut next: Batch) -> Batch {
        debug_assert!(next.is_empty() && std::ptr::eq(next.keys, self.keys));
        next.reserve_like(self);
        if let Some(start) = self.direct.take() {
            next.body.extend_from_slice(&self.body[start..]);
            self.body.truncate(start);
            next.direct = Some(0);
        }
        std::mem::swap(&mut self.values, &mut next.values);
        next.pending = std::mem::take(&mut self.pending);
        std::mem::swap(self, &mut next);
        next
    }

    pub fn take_tickets(&mut self) -> Vec<Ticket> {
        std::mem::take(&mut self.tickets)
    }

    /// Where committed row `row` starts in `body`.
    fn row_start(&self, row: usize) -> usize {
        match row.checked_sub(1) {
            Some(prev) => self.row_ends[prev] as usize,
            None => 0,
        }
    }

    /// The JSON of `rows` joined by commas, without the brackets: the body of their JSON
    /// array, borrowed (a seal gzips it in place).
    pub fn rows_json(&self, rows: Range<usize>) -> &[u8] {
        if rows.is_empty() {
            return &[];
        }
        &self.body[self.row_start(rows.start)..self.row_ends[rows.end - 1] as usize - 1]
    }

    /// Appends `rows` as a JSON array: the Logs Ingestion API request body.
    pub fn encode_json(&self, rows: Range<usize>, out: &mut Vec<u8>) {
        let json = self.rows_json(rows);
        out.reserve(json.len() + 2);
        out.push(b'[');
        out.extend_from_slice(json);
        out.push(b']');
    }

    /// A request body for `rows` outside the hot path (a split request, a replay): the
    /// gzip-compressed JSON array and the size of the JSON.
    pub fn request_body(&self, rows: Range<usize>, level: u32) -> (Vec<u8>, usize) {
        let json = self.rows_json(rows);
        let mut body = Vec::new();
        gzip::Gzip::new(level).compress(&[b"[", json, b"]"], &mut body);
        (body, json.len() + 2)
    }

    /// Appends `rows` as newline-delimited JSON.
    pub fn encode_ndjson(&self, rows: Range<usize>, out: &mut Vec<u8>) {
        for row in rows {
            out.extend_from_slice(self.rows_json(row..row + 1));
            out.push(b'\n');
        }
    }
}
