//! Reading one object: open it, decode it, frame its records with the table's framing, and
//! hand the chunks on (to the worker's own mapper, or to an idle worker). How it ended is an
//! [`ObjectEnd`]; a fault in the object's bytes is dead-lettered, a failure to read it is not.

use std::io::{self, Read};
use std::sync::Arc;

use super::Job;
use crate::ack::Ticket;
use crate::decode::{self, Encoding};
use crate::frame::{self, End, FrameError, Limits, Span};
use crate::pool::Pools;
use crate::sink::dead_letter::DeadLetter;
use crate::stats::{Stats, Tally};
use crate::table::{ObjectState, Table};

/// How reading one object ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectEnd {
    Complete,
    Skipped(&'static str),
    /// A fault in the object; rows before it were shipped, the object was dead-lettered.
    DeadLettered(&'static str),
    /// Could not be read (transient): not acknowledged, to be retried.
    Failed(String),
}

/// Counts the bytes read from the source and notes whether the source itself failed: a read
/// error that did not come from the source came from the decoder, i.e. from the object's
/// bytes, and retrying will not help.
struct Counting<'a, R> {
    inner: R,
    stats: &'a Stats,
    failed: &'a std::cell::Cell<bool>,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                Stats::add(&self.stats.bytes_in, n as u64);
                Ok(n)
            }
            Err(e) => {
                // An interrupted read is retried by its caller; it is no failure.
                if e.kind() != io::ErrorKind::Interrupted {
                    self.failed.set(true);
                }
                Err(e)
            }
        }
    }
}

/// What reading objects needs from the run.
pub struct ReadEnv<'a> {
    pub limits: &'a Limits,
    pub pools: &'a Pools,
    pub stats: &'a Stats,
    /// Whether another worker has run out of objects (the end of a run): the framer then
    /// hands records on after every read rather than a chunk at a time (see [`frame::frame`]).
    pub worker_idle: &'a dyn Fn() -> bool,
}

/// Decodes and frames one object, handing its records on as jobs. A fault in the object ends
/// it with [`ObjectEnd::DeadLettered`] and the dead letter to write; the records read before
/// the fault have already been dispatched.
pub fn read_object(
    env: &ReadEnv,
    table: Table,
    key: &Arc<str>,
    reader: impl Read,
    ticket: Option<&Ticket>,
    tally: &mut Tally,
    dispatch: &mut dyn FnMut(Job) -> bool,
) -> (ObjectEnd, Option<DeadLetter>) {
    let ReadEnv {
        limits,
        pools,
        stats,
        worker_idle,
    } = *env;
    let source_failed = std::cell::Cell::new(false);
    let reader = Counting {
        inner: reader,
        stats,
        failed: &source_failed,
    };
    let (enc, decoder) = match decode::open(reader) {
        Ok(x) => x,
        Err(e) => return (ObjectEnd::Failed(format!("reading {key}: {e}")), None),
    };
    let Some(decoder) = decoder else {
        debug_assert_eq!(enc, Encoding::Parquet);
        return (ObjectEnd::Skipped("parquet"), None);
    };
    let mut decoded = 0u64;
    let mut header_error: Option<String> = None;
    let mut object = ObjectState::new(table);
    let mut emit = |mut chunk: frame::Chunk| -> bool {
        if object.wants_header() {
            // The object's first line is its header; one too long to buffer is no header.
            let (start, end) = match chunk.spans.first() {
                None => return true,
                Some(Span::Record { start, end, .. }) => (*start, *end),
                Some(Span::Oversized { bytes }) => {
                    header_error = Some(format!(
                        "the first line is {bytes} bytes, above the record size limit"
                    ));
                    return false;
                }
            };
            let header = &chunk.data[start as usize..end as usize];
            if let Err(e) = object.read_header(header, &mut tally.notes) {
                header_error = Some(e.to_string());
                return false;
            }
            chunk.spans.remove(0);
            chunk.first_record += 1;
        }
        dispatch(Job {
            object: object.clone(),
            chunk,
            key: key.clone(),
            ticket: ticket.cloned(),
        })
    };
    let mut count = |n: u64| {
        decoded += n;
        Stats::add(&stats.bytes_decoded, n);
    };
    let end = frame::frame_table(
        table,
        decoder,
        limits,
        pools,
        worker_idle,
        &mut count,
        &mut emit,
    );
    let fault = |reason: &'static str, detail: String, at: Option<u64>| {
        let mut dl = DeadLetter::new(key, reason, detail);
        dl.table = Some(table.name().into());
        dl.byte_offset = at;
        (ObjectEnd::DeadLettered(reason), Some(dl))
    };
    if let Some(detail) = header_error {
        return fault("missing_header", detail, None);
    }
    match end {
        // A zero-byte object, or a compressed stream that holds nothing.
        _ if decoded == 0 && !source_failed.get() => match &end {
            Err(e) if !matches!(e, FrameError::Truncated(_)) => {
                fault(e.reason(), e.to_string(), None)
            }
            _ => (ObjectEnd::Skipped("empty_object"), None),
        },
        Ok(End::Complete) => (ObjectEnd::Complete, None),
        Ok(End::NoRecords) => (ObjectEnd::Skipped("no_records_key"), None),
        Ok(End::Stopped) => (
            ObjectEnd::Failed(format!("reading {key} stopped before its end")),
            None,
        ),
        Err(e) if !source_failed.get() => {
            let at = match e {
                FrameError::Truncated(at) | FrameError::TrailingData(at) => Some(at),
                _ => None,
            };
            fault(e.reason(), e.to_string(), at)
        }
        Err(e) => (ObjectEnd::Failed(format!("reading {key}: {e}")), None),
    }
}
