//! Where finished request bodies go. A sink takes each request with the tickets of the objects
//! whose rows it carries and settles it when every row in it was accepted (or dead-lettered):
//! [`Settle::accepted`] releases the tickets and recycles the buffers. A request the sink drops
//! without settling fails its objects (see [`crate::ack`]), so a lost request can never look
//! delivered. The dir sink settles at once, after writing the file; the Azure sink settles from
//! its delivery tasks, many requests in flight, in whatever order the service answers.

pub mod args;
pub mod azure;
pub mod dead_letter;
pub mod dir;

use std::sync::Arc;

use crate::ack::Ticket;
use crate::batch::Batch;
use crate::table::Table;

/// One Logs Ingestion API request: a gzip-compressed JSON array of rows of one table.
pub struct Request {
    pub table: Table,
    /// The rows, kept so that a rejected request can be split without re-parsing.
    pub batch: Batch,
    /// The gzip-compressed JSON array of all rows of `batch`.
    pub body: Vec<u8>,
    /// Uncompressed size of the JSON array.
    pub raw_bytes: usize,
    pub tickets: Vec<Ticket>,
    /// When the sink got it (for the sink latency histogram).
    pub handed: Option<std::time::Instant>,
    /// Where rows without tickets came from (a replayed dead-letter file), for dead letters.
    pub origin: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("writing {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The sink cannot deliver anything until an operator fixes its configuration (a 403 or
    /// 404 from Azure, a token endpoint that refuses the credentials).
    #[error("{0}")]
    Config(String),
}

/// What the pipeline does with a request whose rows were all accepted or dead-lettered.
pub trait Settle: Send + Sync {
    fn accepted(&self, req: Request);
}

pub trait Sink: Send {
    /// Takes one request; calls `settle.accepted` once every row in it was accepted, now or
    /// later. `Err` means the sink cannot go on (the run stops).
    fn send(&mut self, req: Request, settle: &Arc<dyn Settle>) -> Result<(), SinkError>;
    /// Called once after the last request; returns when every request was settled or given up.
    fn finish(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}
