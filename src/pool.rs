//! Recycling of the large buffers that flow through the pipeline: chunk buffers (framer ->
//! worker), batches and request bodies (worker -> sink). A fresh 1 MiB buffer per chunk or
//! batch costs page faults (with transparent huge pages, zeroing 2 MB at a time), which showed
//! as a quarter of all cycles in `perf`. A buffer returns to its pool when its stage is done
//! with it; the pools are small and bounded, so they cap reuse, never memory.

use crossbeam_channel::{bounded, Receiver, Sender};

use crate::ack::Ticket;
use crate::batch::Batch;
use crate::json::MemberSpan;
use crate::sink::Request;
use crate::table::{PerTable, Table};

pub struct Pool<T> {
    tx: Sender<T>,
    rx: Receiver<T>,
}

impl<T> Pool<T> {
    pub fn new(capacity: usize) -> Self {
        let (tx, rx) = bounded(capacity);
        Pool { tx, rx }
    }

    pub fn take(&self) -> Option<T> {
        self.rx.try_recv().ok()
    }

    /// Keeps `item` for reuse, or drops it when the pool is full.
    pub fn give(&self, item: T) {
        let _ = self.tx.try_send(item);
    }
}

pub struct Pools {
    /// Framer buffers (a chunk and a read ahead, over a megabyte each) and request bodies (a
    /// quarter of a batch or less) are kept apart: a body taken for a chunk was grown, its
    /// old bytes copied, and its new pages faulted in, on every chunk.
    chunks: Pool<Vec<u8>>,
    bodies: Pool<Vec<u8>>,
    /// Chunks' member indexes (a few hundred kilobytes each: growing a fresh one per chunk
    /// showed in `perf` as copies and page faults).
    members: Pool<Vec<MemberSpan>>,
    batches: PerTable<Pool<Batch>>,
    /// Buffers that grew beyond this (a huge record) are not kept.
    max_keep: usize,
}

impl Pools {
    pub fn new(threads: usize, chunk_bytes: usize) -> Self {
        Pools {
            chunks: Pool::new(threads * 2 + 2),
            bodies: Pool::new(threads * 2 + 2),
            members: Pool::new(threads * 2 + 2),
            batches: PerTable::from_fn(|_| Pool::new(threads + 1)),
            max_keep: chunk_bytes.max(1 << 20) * 4,
        }
    }

    /// An empty framer buffer with at least `capacity` bytes of room.
    pub fn chunk_buffer(&self, capacity: usize) -> Vec<u8> {
        take_with(&self.chunks, capacity)
    }

    pub fn give_chunk_buffer(&self, v: Vec<u8>) {
        self.keep(&self.chunks, v);
    }

    /// An empty request body buffer with at least `capacity` bytes of room.
    pub fn body(&self, capacity: usize) -> Vec<u8> {
        take_with(&self.bodies, capacity)
    }

    /// An empty member index.
    pub fn members(&self) -> Vec<MemberSpan> {
        let mut v = self.members.take().unwrap_or_default();
        v.clear();
        v
    }

    pub fn give_members(&self, v: Vec<MemberSpan>) {
        self.keep(&self.members, v);
    }

    /// Keeps `v` in `pool` unless it has no room at all or grew past `max_keep`.
    fn keep<T>(&self, pool: &Pool<Vec<T>>, v: Vec<T>) {
        let bytes = v.capacity() * std::mem::size_of::<T>();
        if bytes > 0 && bytes <= self.max_keep {
            pool.give(v);
        }
    }

    pub fn batch(&self, table: Table) -> Batch {
        self.batches[table].take().unwrap_or_else(|| table.batch())
    }

    /// Takes back a delivered request's buffers, releasing its tickets: its rows were
    /// accepted. Call it only for a request the sink accepted.
    pub fn recycle(&self, req: Request) {
        let Request {
            table,
            mut batch,
            body,
            tickets,
            ..
        } = req;
        tickets.into_iter().for_each(Ticket::release);
        batch.reset();
        self.batches[table].give(batch);
        self.keep(&self.bodies, body);
    }
}

/// An empty buffer from `pool`, or a new one, with at least `capacity` bytes of room.
fn take_with(pool: &Pool<Vec<u8>>, capacity: usize) -> Vec<u8> {
    match pool.take() {
        Some(mut v) => {
            v.clear();
            v.reserve(capacity);
            v
        }
        None => Vec::with_capacity(capacity),
    }
}
