//! Where finished request bodies go. A sink gets each request with the tickets of the objects
//! whose rows it carries; accepting it (returning `Ok`) releases them. The Azure sink of a
//! later stage implements the same trait; the dir sink writes the bodies as files.

pub mod azure;
pub mod dead_letter;
pub mod dir;

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
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("writing {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

pub trait Sink: Send {
    /// Delivers one request. `Ok` means every row in it was accepted.
    fn send(&mut self, req: &Request) -> Result<(), SinkError>;
    /// Called once after the last request.
    fn finish(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}
