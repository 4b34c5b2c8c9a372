//! Framing: cutting the decompressed stream of one object into records without materialising
//! the object, and handing the records on in chunks.
//!
//! A [`Splitter`] knows one format's record boundaries and scans incrementally (it resumes
//! where the last read ended, so a record may straddle any number of reads). The [`Framer`]
//! drives it: it reads into one buffer, and once the complete records in it reach the chunk
//! size it moves them out as a [`Chunk`] (the buffer itself, no copy) and keeps only the
//! partial record at the end. Memory per object is therefore about one chunk plus the
//! largest record, whatever the object's size; a record above the record limit is skipped
//! while it streams past and reported, never buffered.
//!
//! Faults end the object but not what was read before them: the framer emits every complete
//! record it has before it returns the error.

mod json;
mod lines;

use std::io::{self, Read};

use crate::json::MemberSpan;
use crate::pool::Pools;
use crate::table::{Framing, Table};

pub use crate::table::Check;
pub use json::{JsonSplitter, Mode as JsonMode};
pub use lines::LineSplitter;

/// One unit of framed output: either a record's byte span or a record that was too large.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    /// A record's bytes. `members`: for a record the framer validated, the range of
    /// [`Chunk::members`] that indexes its top-level members.
    Record {
        start: u32,
        end: u32,
        check: Check,
        members: (u32, u32),
    },
    Oversized {
        bytes: u64,
    },
}

/// Complete records cut from one object, in order.
#[derive(Debug)]
pub struct Chunk {
    pub data: Vec<u8>,
    pub spans: Vec<Span>,
    /// Top-level member spans of the validated records (each record's range is in its span).
    pub members: Vec<MemberSpan>,
    /// Ordinal of the first record in the object (for dead-letter positions).
    pub first_record: u64,
    /// Offset of `data[0]` in the decompressed object.
    pub offset: u64,
}

/// How an object's framing ended without a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Complete,
    /// A JSON document without the `Records` key (a CloudTrail digest or another document).
    NoRecords,
    /// The consumer asked to stop (shutdown or abort) before the end: the object is unfinished.
    Stopped,
}

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("reading the object failed: {0}")]
    Read(#[from] io::Error),
    #[error("the object is not a JSON object (starts with '{0}')")]
    NotAnObject(char),
    #[error("the object ends in the middle of a JSON value (at byte {0})")]
    Truncated(u64),
    #[error("unexpected data after the JSON document at byte {0}")]
    TrailingData(u64),
    #[error("unbalanced '{0}' at byte {1}")]
    Unbalanced(char, u64),
}

impl FrameError {
    /// The dead-letter reason, for a fault in the object. A read error that did not come from
    /// the source (the caller knows, see `pipeline::read_object`) came from the decoder: the
    /// compressed bytes are broken, and reading them again will not help.
    pub fn reason(&self) -> &'static str {
        match self {
            FrameError::Read(e) if e.kind() == io::ErrorKind::UnexpectedEof => "truncated_object",
            FrameError::Read(_) => "corrupt_compression",
            FrameError::NotAnObject(_) => "not_json",
            FrameError::Truncated(_) => "truncated_json",
            FrameError::TrailingData(_) => "trailing_data",
            FrameError::Unbalanced(..) => "invalid_json",
        }
    }
}

/// A format's record boundaries. Offsets are positions in the framer's buffer.
pub trait Splitter {
    /// Scans `buf` from where the last call stopped; pushes completed records to `out`.
    fn scan(&mut self, buf: &[u8], out: &mut Vec<Span>) -> Result<(), FrameError>;
    /// The first byte that must be kept: the start of a record or key in progress, else the
    /// scan position. Everything before it may be released.
    fn keep_from(&self) -> usize;
    /// The buffer's first `n` bytes were released.
    fn rebase(&mut self, n: usize);
    /// The record in progress is too large: skip the rest of it. Returns the range of scanned
    /// bytes `(from, len)` the framer must drop from its buffer.
    fn skip_current(&mut self, buf: &[u8]) -> (usize, usize);
    /// The member index of the records pushed since the last call (see [`Span::Record`]);
    /// `fresh` (empty) takes its place.
    fn take_members(&mut self, fresh: Vec<MemberSpan>) -> Vec<MemberSpan> {
        fresh
    }
    /// The stream ended; `buf` holds the unreleased bytes.
    fn finish(&mut self, buf: &[u8], out: &mut Vec<Span>) -> Result<End, FrameError>;
}

pub struct Limits {
    /// Emit a chunk once its complete records reach this many bytes.
    pub chunk_bytes: usize,
    /// Records above this size are skipped and reported.
    pub max_record_bytes: usize,
}

impl Limits {
    pub const DEFAULT_CHUNK_BYTES: usize = 1 << 20;
    /// The framer's buffer holds at most about a chunk plus a record; offsets in it are 32-bit.
    pub const CHUNK_BYTES_RANGE: std::ops::RangeInclusive<usize> = 4096..=256 << 20;
    pub const DEFAULT_MAX_RECORD_BYTES: usize = 8 << 20;
    pub const MAX_RECORD_BYTES_RANGE: std::ops::RangeInclusive<usize> = 1024..=1 << 30;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            chunk_bytes: Self::DEFAULT_CHUNK_BYTES,
            max_record_bytes: Self::DEFAULT_MAX_RECORD_BYTES,
        }
    }
}

const READ_BYTES: usize = 128 * 1024;

/// Reads up to [`READ_BYTES`] more bytes onto `buf`: how many, and the error that stopped it
/// early, if any (the bytes before it are kept).
///
/// One region is zeroed and filled by plain `read` calls. `read_to_end` on a `take` started at
/// 8 KiB reads and doubled: each read of a gzip decoder is one inflate call, and each call
/// copies up to 32 KiB of its output into the inflate window, so small reads copied nearly
/// every byte twice (1-2% of a CloudTrail run in `perf`).
fn fill(reader: &mut impl Read, buf: &mut Vec<u8>) -> (usize, Option<io::Error>) {
    let start = buf.len();
    buf.resize(start + READ_BYTES, 0);
    let mut filled = start;
    let mut err = None;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    buf.truncate(filled);
    (filled - start, err)
}

/// Reads an object of `table` to the end with the splitter its [`Table::framing`] names (see
/// [`frame`] for the rest). A header line is a record like the others: the caller takes it
/// from the first chunk (see `ObjectState::read_header` in `src/table/object.rs`).
pub fn frame_table<R: Read>(
    table: Table,
    reader: R,
    limits: &Limits,
    pools: &Pools,
    worker_idle: &dyn Fn() -> bool,
    bytes_read: &mut dyn FnMut(u64),
    emit: &mut dyn FnMut(Chunk) -> bool,
) -> Result<End, FrameError> {
    let mode = match table.framing() {
        Framing::JsonRecords => JsonMode::Records,
        Framing::JsonValues => JsonMode::Values,
        Framing::LinesWithHeader => {
            let splitter = &mut LineSplitter::new();
            return frame(
                reader,
                splitter,
                limits,
                pools,
                worker_idle,
                bytes_read,
                emit,
            );
        }
    };
    let splitter = &mut JsonSplitter::new(mode).descending(table.nested_objects());
    frame(
        reader,
        splitter,
        limits,
        pools,
        worker_idle,
        bytes_read,
        emit,
    )
}

/// Reads `reader` to the end, cutting it with `splitter` and handing chunks to `emit`. `emit`
/// returns `false` to stop early (shutdown).
///
/// Chunks are about `limits.chunk_bytes`, except while `worker_idle()` says another worker is idle:
/// then the complete records are handed on after every read, so that the last object of a
/// run is shared in pieces rather than left to one worker a megabyte at a time.
pub fn frame<R: Read, S: Splitter>(
    reader: R,
    splitter: &mut S,
    limits: &Limits,
    pools: &Pools,
    worker_idle: &dyn Fn() -> bool,
    bytes_read: &mut dyn FnMut(u64),
    emit: &mut dyn FnMut(Chunk) -> bool,
) -> Result<End, FrameError> {
    // The buffer and the member index are recycled (over a megabyte, and hundreds of
    // kilobytes): taken from the pools at the start, and the ones left at the end given back
    // (dropping them cost a fresh, regrown pair per object).
    let mut buf = pools.chunk_buffer(limits.chunk_bytes + 2 * READ_BYTES);
    // (A splitter without an index hands the fresh one straight back.)
    pools.give_members(splitter.take_members(pools.members()));
    let end = frame_chunks(
        reader,
        &mut buf,
        splitter,
        limits,
        pools,
        worker_idle,
        Out { bytes_read, emit },
    );
    pools.give_members(splitter.take_members(Vec::new()));
    pools.give_chunk_buffer(buf);
    end
}

/// Where [`frame_chunks`] reports to: the bytes it read, and the chunks it cut.
struct Out<'a> {
    bytes_read: &'a mut dyn FnMut(u64),
    emit: &'a mut dyn FnMut(Chunk) -> bool,
}

fn frame_chunks<R: Read, S: Splitter>(
    mut reader: R,
    buf: &mut Vec<u8>,
    splitter: &mut S,
    limits: &Limits,
    pools: &Pools,
    worker_idle: &dyn Fn() -> bool,
    out: Out,
) -> Result<End, FrameError> {
    let Out { bytes_read, emit } = out;
    let mut spans: Vec<Span> = Vec::new();
    let mut offset = 0u64; // of buf[0] in the object
    let mut next_record = 0u64;

    // Moves the complete records out as a chunk, keeping the unfinished tail.
    let mut flush = |buf: &mut Vec<u8>,
                     spans: &mut Vec<Span>,
                     splitter: &mut S,
                     offset: &mut u64,
                     all: bool|
     -> bool {
        if spans.is_empty() {
            return true;
        }
        // Cut after the last complete record (records in progress start later), or after
        // everything at the end of the stream.
        let cut = if all {
            buf.len()
        } else {
            spans
                .iter()
                .rev()
                .find_map(|s| match s {
                    Span::Record { end, .. } => Some(*end as usize),
                    Span::Oversized { .. } => None,
                })
                .unwrap_or(0)
        };
        let mut rest = pools.chunk_buffer(limits.chunk_bytes + 2 * READ_BYTES);
        rest.extend_from_slice(&buf[cut..]);
        buf.truncate(cut);
        let data = std::mem::replace(buf, rest);
        let n = spans.len() as u64;
        let chunk = Chunk {
            data,
            spans: std::mem::take(spans),
            members: splitter.take_members(pools.members()),
            first_record: next_record,
            offset: *offset,
        };
        next_record += n;
        *offset += cut as u64;
        splitter.rebase(cut);
        emit(chunk)
    };

    loop {
        let (n, err) = fill(&mut reader, buf);
        bytes_read(n as u64);
        if let Some(e) = err {
            // Keep what was complete before the fault.
            let _ = splitter.scan(buf, &mut spans);
            flush(buf, &mut spans, splitter, &mut offset, false);
            return Err(e.into());
        }
        if n == 0 {
            let end = splitter.finish(buf, &mut spans);
            flush(buf, &mut spans, splitter, &mut offset, true);
            return end;
        }
        let before = spans.len();
        let scanned = splitter.scan(buf, &mut spans);
        // Records that completed within one read were never seen in progress: check them here.
        for sp in &mut spans[before..] {
            if let Span::Record { start, end, .. } = *sp {
                if (end - start) as usize > limits.max_record_bytes {
                    *sp = Span::Oversized {
                        bytes: (end - start) as u64,
                    };
                }
            }
        }
        if let Err(e) = scanned {
            flush(buf, &mut spans, splitter, &mut offset, false);
            return Err(e);
        }
        let complete_bytes = spans
            .iter()
            .rev()
            .find_map(|s| match s {
                Span::Record { end, .. } => Some(*end as usize),
                _ => None,
            })
            .unwrap_or(0);
        if (complete_bytes >= limits.chunk_bytes
            || spans.len() >= 65_536
            || (complete_bytes > 0 && worker_idle()))
            && !flush(buf, &mut spans, splitter, &mut offset, false)
        {
            return Ok(End::Stopped);
        }
        let keep = splitter.keep_from();
        if buf.len() - keep > limits.max_record_bytes {
            if !flush(buf, &mut spans, splitter, &mut offset, false) {
                return Ok(End::Stopped);
            }
            let (from, len) = splitter.skip_current(buf);
            // Everything before `from` is between records (complete ones were just flushed):
            // release it with the skipped bytes, so `offset` stays exact for what follows.
            buf.drain(..from + len);
            offset += (from + len) as u64;
            splitter.rebase(from);
        } else if keep > limits.chunk_bytes {
            // More than a chunk of bytes that belong to no record in progress (a digest's
            // logFiles, a long run of whitespace, data after the document): ship the complete
            // records and release the rest, so the buffer stays bounded whatever follows.
            if !flush(buf, &mut spans, splitter, &mut offset, false) {
                return Ok(End::Stopped);
            }
            let keep = splitter.keep_from();
            buf.drain(..keep);
            offset += keep as u64;
            splitter.rebase(keep);
        }
    }
}

#[cfg(test)]
mod tests;
