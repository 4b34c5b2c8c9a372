//! Columnar batches of rows for one table, cut exactly below the request size limit.
//!
//! Mapping appends each value, already encoded as JSON (`"text"`, `12`, `true`, `{...}`), to
//! its column's arena, and each row records which columns it has in a presence bitmap (one
//! `u64`: a table has at most 64 columns). A column keeps end offsets only for the rows that
//! have it, so committing and encoding a row cost as much as the columns it has, not as many
//! as the table declares (a VPC row has 14 of 39, a CloudTrail row about 25 of 48). Because
//! every value is encoded when it is appended, the batch knows each row's size in the request
//! body before anything is serialised: `{`, the `"Key":` prefixes and values, commas, `}`.
//! That gives three things the Azure side needs:
//! - a batch is cut exactly below the request limit (the row that would overflow starts the
//!   next batch; nothing is encoded twice);
//! - a rejected request can be split by row ranges and re-encoded without re-parsing;
//! - the same rows can be encoded as the API's JSON array or as NDJSON for local output.
//!
//! Encoding walks the rows in order with one cursor per column and copies key and value bytes
//! per present column.

use std::ops::Range;
use std::time::Instant;

use crate::ack::Ticket;
use crate::table::Table;

struct Column {
    data: Vec<u8>,
    /// End offset in `data` of each committed value (rows without the column have none).
    ends: Vec<u32>,
}

impl Column {
    fn committed_len(&self) -> usize {
        self.ends.last().map_or(0, |&e| e as usize)
    }
}

/// Per column, the next value to encode: its index in `ends` and its first byte in `data`.
/// Carrying the start (the previous value's end) saves a lookup and a branch per value.
struct Cursors {
    idx: [u32; 64],
    start: [u32; 64],
}

pub struct Batch {
    table: Table,
    keys: &'static [Box<[u8]>],
    cols: Vec<Column>,
    /// Per committed row: the columns it has.
    masks: Vec<u64>,
    row_bytes: Vec<u32>,
    /// Size of the JSON array of the committed rows.
    json_bytes: usize,
    /// Columns written for the row in progress.
    pending: u64,
    tickets: Vec<Ticket>,
    opened: Option<Instant>,
}

impl Batch {
    pub fn new(table: Table) -> Self {
        let keys = table.encoded_keys();
        assert!(keys.len() <= 64, "a table has at most 64 columns");
        Batch {
            table,
            keys,
            cols: (0..keys.len())
                .map(|_| Column {
                    data: Vec::new(),
                    ends: Vec::new(),
                })
                .collect(),
            masks: Vec::new(),
            row_bytes: Vec::new(),
            json_bytes: 2,
            pending: 0,
            tickets: Vec::new(),
            opened: None,
        }
    }

    pub fn table(&self) -> Table {
        self.table
    }

    pub fn rows(&self) -> usize {
        self.row_bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.row_bytes.is_empty()
    }

    /// Bytes of the JSON array of all committed rows.
    pub fn json_bytes(&self) -> usize {
        self.json_bytes
    }

    /// When the first row was committed (for flushing batches that wait too long).
    pub fn opened(&self) -> Option<Instant> {
        self.opened
    }

    /// Starts (or restarts) the pending row's value for `col` and returns the buffer to append
    /// its encoded JSON to.
    #[inline]
    pub fn value_buf(&mut self, col: usize) -> &mut Vec<u8> {
        let bit = 1u64 << col;
        let c = &mut self.cols[col];
        if self.pending & bit != 0 {
            let start = c.committed_len();
            c.data.truncate(start);
        }
        self.pending |= bit;
        &mut c.data
    }

    /// Removes the pending row's value for `col`: the key will be absent.
    pub fn clear_value(&mut self, col: usize) {
        let bit = 1u64 << col;
        if self.pending & bit != 0 {
            let c = &mut self.cols[col];
            let start = c.committed_len();
            c.data.truncate(start);
            self.pending &= !bit;
        }
    }

    /// Whether the pending row has a value for `col`.
    pub fn has_value(&self, col: usize) -> bool {
        let c = &self.cols[col];
        self.pending & (1 << col) != 0 && c.data.len() > c.committed_len()
    }

    /// The pending row's size in the JSON array: `{...}` with its keys and commas.
    pub fn pending_row_bytes(&self) -> usize {
        let mut size = 2;
        let mut present = 0usize;
        let mut mask = self.pending;
        while mask != 0 {
            let col = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            let c = &self.cols[col];
            let len = c.data.len() - c.committed_len();
            if len > 0 {
                size += self.keys[col].len() + len;
                present += 1;
            }
        }
        size + present.saturating_sub(1)
    }

    /// Whether the pending row has any value at all. Every encoded JSON value is at least
    /// one byte, so a column marked written has a value.
    pub fn pending_is_empty(&self) -> bool {
        self.pending == 0
    }

    /// Whether a row of `row_bytes` still fits under `limit` bytes of JSON.
    pub fn fits(&self, row_bytes: usize, limit: usize) -> bool {
        let comma = usize::from(!self.is_empty());
        self.json_bytes + comma + row_bytes <= limit
    }

    /// Commits the pending row, whose size the caller got from [`Batch::pending_row_bytes`];
    /// its rows belong to the object of `ticket`.
    pub fn commit_row_sized(&mut self, size: usize, ticket: Option<&Ticket>) {
        debug_assert_eq!(size, self.pending_row_bytes());
        debug_assert!(
            (0..self.cols.len()).all(|c| self.pending & (1 << c) == 0 || self.has_value(c)),
            "a column marked written has no value"
        );
        let mut mask = self.pending;
        while mask != 0 {
            let col = &mut self.cols[mask.trailing_zeros() as usize];
            mask &= mask - 1;
            col.ends.push(col.data.len() as u32);
        }
        self.masks.push(self.pending);
        self.json_bytes += size + usize::from(!self.row_bytes.is_empty());
        self.row_bytes.push(size as u32);
        self.pending = 0;
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
        let mut mask = self.pending;
        while mask != 0 {
            let col = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            let c = &mut self.cols[col];
            let start = c.committed_len();
            c.data.truncate(start);
        }
        self.pending = 0;
    }

    /// Empties the batch, keeping its buffers' capacity.
    pub fn reset(&mut self) {
        for c in &mut self.cols {
            c.data.clear();
            c.ends.clear();
        }
        self.masks.clear();
        self.row_bytes.clear();
        self.json_bytes = 2;
        self.pending = 0;
        self.tickets.clear();
        self.opened = None;
    }

    /// Sizes the buffers of this (empty) batch for as many rows and value bytes per column as
    /// `like` holds. The batch that replaces a full one is sized like it: a fresh batch (none
    /// recycled yet, or its request not back from the sink) would otherwise grow every arena
    /// from empty by doubling, copying each value once more on average and faulting in every
    /// new block (`finish_grow` and page faults in `perf`). A recycled batch already has the
    /// room, and this does nothing.
    pub fn reserve_like(&mut self, like: &Batch) {
        for (mine, theirs) in self.cols.iter_mut().zip(&like.cols) {
            mine.data
                .reserve(theirs.data.len().saturating_sub(mine.data.len()));
            mine.ends
                .reserve(theirs.ends.len().saturating_sub(mine.ends.len()));
        }
        self.masks
            .reserve(like.masks.len().saturating_sub(self.masks.len()));
        let rows = like.row_bytes.len().saturating_sub(self.row_bytes.len());
        self.row_bytes.reserve(rows);
    }

    /// Takes the committed rows out as a full batch; `self` keeps only the pending row, moved
    /// into `next` (an empty batch of the same table, typically a recycled one, sized like
    /// this one by [`Batch::reserve_like`]).
    pub fn split_off_committed(&mut self, mut next: Batch) -> Batch {
        debug_assert!(next.is_empty() && next.table == self.table);
        next.reserve_like(self);
        for (mine, theirs) in self.cols.iter_mut().zip(next.cols.iter_mut()) {
            let start = mine.committed_len();
            theirs.data.extend_from_slice(&mine.data[start..]);
            mine.data.truncate(start);
        }
        next.pending = self.pending;
        self.pending = 0;
        std::mem::swap(self, &mut next);
        next
    }

    pub fn take_tickets(&mut self) -> Vec<Ticket> {
        std::mem::take(&mut self.tickets)
    }

    /// For each column, the index in its `ends` of the first value at or after `row`.
    fn cursors_at(&self, row: usize) -> [u32; 64] {
        let mut idx = [0u32; 64];
        for &m in &self.masks[..row] {
            let mut m = m;
            while m != 0 {
                idx[m.trailing_zeros() as usize] += 1;
                m &= m - 1;
            }
        }
        idx
    }

    fn value_at(&self, col: usize, i: u32) -> &[u8] {
        let c = &self.cols[col];
        let i = i as usize;
        let start = if i == 0 { 0 } else { c.ends[i - 1] as usize };
        &c.data[start..c.ends[i] as usize]
    }

    /// The encoded JSON value of a committed row's column, if present.
    pub fn value(&self, row: usize, col: usize) -> Option<&[u8]> {
        if self.masks[row] & (1 << col) == 0 {
            return None;
        }
        Some(self.value_at(col, self.cursors_at(row)[col]))
    }

    /// Size of the JSON array of `rows`.
    pub fn json_bytes_of(&self, rows: Range<usize>) -> usize {
        let n = rows.len();
        2 + self.row_bytes[rows]
            .iter()
            .map(|&s| s as usize)
            .sum::<usize>()
            + n.saturating_sub(1)
    }

    /// Where encoding `rows` from `row` on starts in each column (see [`Cursors`]).
    fn encode_cursors_at(&self, row: usize) -> Cursors {
        let idx = self.cursors_at(row);
        let mut start = [0u32; 64];
        for (col, c) in self.cols.iter().enumerate() {
            if let Some(i) = (idx[col] as usize).checked_sub(1) {
                start[col] = c.ends[i];
            }
        }
        Cursors { idx, start }
    }

    /// Appends one row; `cur` holds each column's cursor and moves past the row's values.
    #[inline]
    fn encode_row(&self, row: usize, cur: &mut Cursors, out: &mut Vec<u8>) {
        out.push(b'{');
        let mut mask = self.masks[row];
        let mut first = true;
        while mask != 0 {
            let col = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            if !first {
                out.push(b',');
            }
            first = false;
            let c = &self.cols[col];
            let end = c.ends[cur.idx[col] as usize];
            out.extend_from_slice(&self.keys[col]);
            out.extend_from_slice(&c.data[cur.start[col] as usize..end as usize]);
            cur.start[col] = end;
            cur.idx[col] += 1;
        }
        out.push(b'}');
    }

    /// Appends `rows` as a JSON array: the Logs Ingestion API request body.
    pub fn encode_json(&self, rows: Range<usize>, out: &mut Vec<u8>) {
        out.reserve(self.json_bytes_of(rows.clone()));
        let mut cur = self.encode_cursors_at(rows.start);
        out.push(b'[');
        for row in rows.clone() {
            if row != rows.start {
                out.push(b',');
            }
            self.encode_row(row, &mut cur, out);
        }
        out.push(b']');
    }

    /// Appends `rows` as newline-delimited JSON.
    pub fn encode_ndjson(&self, rows: Range<usize>, out: &mut Vec<u8>) {
        let mut cur = self.encode_cursors_at(rows.start);
        for row in rows {
            self.encode_row(row, &mut cur, out);
            out.push(b'\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::vpcflow::Col;

    fn put(b: &mut Batch, col: Col, v: &str) {
        b.value_buf(col as usize).extend_from_slice(v.as_bytes());
    }

    #[test]
    fn sizes_are_exact_and_cut_below_the_limit() {
        let mut b = Batch::new(Table::VpcFlow);
        put(&mut b, Col::Version, "2");
        put(&mut b, Col::Action, "\"ACCEPT\"");
        let size = b.pending_row_bytes();
        b.commit_row(None);
        put(&mut b, Col::LogStatus, "\"OK\"");
        put(&mut b, Col::LogStatus, "\"NODATA\""); // overwrite within the row
        b.commit_row(None);
        put(&mut b, Col::Version, "3");
        b.rollback_row();
        let mut out = Vec::new();
        b.encode_json(0..b.rows(), &mut out);
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#"[{"Version":2,"Action":"ACCEPT"},{"LogStatus":"NODATA"}]"#
        );
        assert_eq!(out.len(), b.json_bytes());
        assert_eq!(size, r#"{"Version":2,"Action":"ACCEPT"}"#.len());
        let mut one = Vec::new();
        b.encode_json(1..2, &mut one);
        assert_eq!(one, br#"[{"LogStatus":"NODATA"}]"#);
        assert_eq!(one.len(), b.json_bytes_of(1..2));
        assert_eq!(b.value(0, Col::Version as usize), Some(&b"2"[..]));
        assert_eq!(b.value(1, Col::Version as usize), None);
        assert_eq!(
            b.value(1, Col::LogStatus as usize),
            Some(&b"\"NODATA\""[..])
        );

        // A pending row that does not fit moves to the next batch on its own.
        put(&mut b, Col::Version, "4");
        assert!(!b.fits(b.pending_row_bytes(), out.len()));
        let full = b.split_off_committed(Batch::new(Table::VpcFlow));
        assert_eq!(full.rows(), 2);
        assert_eq!(b.rows(), 0);
        b.commit_row(None);
        let mut rest = Vec::new();
        b.encode_json(0..1, &mut rest);
        assert_eq!(rest, br#"[{"Version":4}]"#);
        // Rows with different columns, encoded from a later start.
        put(&mut b, Col::Action, "\"REJECT\"");
        b.commit_row(None);
        put(&mut b, Col::Version, "5");
        put(&mut b, Col::Action, "\"ACCEPT\"");
        b.commit_row(None);
        let mut tail = Vec::new();
        b.encode_ndjson(1..3, &mut tail);
        assert_eq!(
            tail,
            b"{\"Action\":\"REJECT\"}\n{\"Version\":5,\"Action\":\"ACCEPT\"}\n"
        );
    }
}
