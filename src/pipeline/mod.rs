//! The pipeline: source -> workers (decode, frame, map, batch, encode, gzip) -> sink.
//!
//! Threads and channels, all bounded:
//! - the source runs on the calling thread and sends objects into `objects` (capacity: a few
//!   per worker); when workers are busy it blocks, which is the backpressure that stops
//!   reading (and, for SQS, receiving);
//! - `threads` workers each take an object, decode and frame it, and map its chunks. A chunk is
//!   handed to the shared `chunks` channel only when another worker is idle, so one huge object
//!   is spread over all cores while many small objects stay on the thread that read them
//!   (no cross-thread traffic in the common case). When the channel is full the worker maps
//!   the chunk itself, so no worker ever blocks on another. Once the objects run out (the end
//!   of a run), an idle worker makes the readers cut their chunks at every 128 KiB read, so
//!   the last objects are shared in small pieces rather than left to whoever read them;
//! - one sink thread delivers the sealed requests, in order of sealing, and releases their
//!   tickets on success.
//!
//! The parts: `read.rs` reads one object (decode, frame, hand chunks on), `mapper.rs` maps
//! chunks into a worker's batches, `worker.rs` runs the worker threads, this file the run
//! (channels, the sink thread, the source loop), `inline.rs` the same stages on the calling
//! thread for tests and benches, `args.rs` the options, `summary.rs` the report.
//!
//! Memory is bounded by the channel capacities times the chunk size and request size, plus
//! one read buffer and one record per object being read: it does not depend on object size.

use std::io::{self, Read};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::bounded;

pub use mapper::{BatchSettings, Job, Mapper, Output};

use crate::ack::{AckListener, Outcome, Ticket};
use crate::frame::Limits;
use crate::pool::Pools;
use crate::route::{Route, Router};
use crate::run_context::RunContext;
use crate::sink::dead_letter::DeadLetters;
use crate::sink::{Request, Settle, Sink};
use crate::stats::{FailureKind, Stats};

pub mod args;
mod inline;
pub mod mapper;
mod read;
pub mod summary;
mod worker;

use worker::{worker, AbortOnPanic, Listener, Shared, Task};

pub use inline::{map_object, Mapped, ObjectMapper};
pub use read::{read_object, ObjectEnd, ReadEnv};
pub use summary::Summary;

/// An object to read: its key and how to open it.
pub struct Object {
    pub key: String,
    pub size: Option<u64>,
    pub open: Box<dyn FnOnce() -> io::Result<Box<dyn Read + Send>> + Send>,
    /// Told how the object ended, for a source that must settle something per object (an SQS
    /// message naming it). An object skipped by its key ends delivered: there is nothing to do.
    pub done: Option<Arc<dyn AckListener>>,
}

/// Where objects come from.
pub trait Source {
    /// Total bytes to read, when known up front (for progress).
    fn total_bytes(&self) -> Option<u64> {
        None
    }
    /// Hands every object to `emit`; stops early when `emit` returns false.
    fn run(&mut self, emit: &mut dyn FnMut(Object) -> bool) -> io::Result<()>;
    /// Called once after every object handed out has ended (delivered or failed): a source
    /// that settles work asynchronously (SQS deletes) finishes it here, before the summary.
    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
    /// The source's own counters (messages received, deleted, ...) for the summary.
    fn counters(&self) -> crate::stats::Counters {
        crate::stats::Counters::default()
    }
}

pub struct Settings {
    pub threads: usize,
    pub batch: BatchSettings,
    pub limits: Limits,
    /// A batch is sent after this long even when not full.
    pub linger: Duration,
    pub router: Router,
    /// What the run's stages share: the counters (`ctx.stats`, which metrics read while it
    /// runs) and the abort (`ctx.abort`). Once the abort is cancelled (a failure, or a shutdown
    /// deadline passed), reading stops at once and the objects being read fail, to be retried
    /// later by their source; the pipeline cancels it itself when the sink fails, a dead
    /// letter cannot be written or a thread panics.
    pub ctx: RunContext,
}

impl Settings {
    pub const DEFAULT_LINGER_MS: u64 = 1000;
    /// Shorter lingers would send requests of a handful of rows.
    pub const MIN_LINGER_MS: u64 = 10;
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            threads: thread::available_parallelism().map_or(1, |n| n.get()),
            batch: BatchSettings::default(),
            limits: Limits::default(),
            linger: Duration::from_millis(Settings::DEFAULT_LINGER_MS),
            router: Router::default(),
            ctx: RunContext::default(),
        }
    }
}

/// Counts a request the sink accepted and gives its buffers back to the pools.
struct CountAndRecycle {
    stats: Arc<Stats>,
    pools: Arc<Pools>,
}

impl Settle for CountAndRecycle {
    fn accepted(&self, req: Request) {
        if let Some(handed) = req.handed {
            self.stats
                .latency
                .sink
                .observe(handed.elapsed().as_secs_f64());
        }
        let t = req.table;
        Stats::add(&self.stats.requests[t], 1);
        Stats::add(&self.stats.request_bytes[t], req.body.len() as u64);
        Stats::add(&self.stats.request_raw_bytes[t], req.raw_bytes as u64);
        self.pools.recycle(req);
    }
}

/// Runs `source` through the pipeline into `sink`. Returns when every object was read and
/// every request was delivered (or the run was aborted by a failure).
pub fn run(
    source: &mut dyn Source,
    settings: &Settings,
    mut sink: Box<dyn Sink>,
    dead: Arc<DeadLetters>,
    show_progress: bool,
) -> Summary {
    let started = Instant::now();
    let stats = settings.ctx.stats.clone();
    let threads = settings.threads.max(1);
    let (obj_tx, obj_rx) = bounded::<Task>(threads * 2);
    let (chunk_tx, chunk_rx) = bounded::<Job>(threads);
    let (sink_tx, sink_rx) = bounded::<Request>(threads);
    let shared = Shared {
        settings: settings.batch,
        limits: Limits {
            chunk_bytes: settings.limits.chunk_bytes,
            max_record_bytes: settings.limits.max_record_bytes,
        },
        pools: Arc::new(Pools::new(threads, settings.limits.chunk_bytes)),
        linger: settings.linger,
        stats: stats.clone(),
        dead: dead.clone(),
        chunk_tx,
        chunk_rx,
        idle: AtomicUsize::new(0),
        draining: AtomicUsize::new(0),
        reading: AtomicUsize::new(0),
        abort: settings.ctx.abort.clone(),
    };
    let listener: Arc<dyn AckListener> = Arc::new(Listener {
        stats: stats.clone(),
        done: None,
    });
    let progress = summary::Progress::start(show_progress, source.total_bytes(), stats.clone());

    let mut source_error = None;
    thread::scope(|s| {
        let sink_stats = stats.clone();
        let shared_ref = &shared;
        let settle: Arc<dyn Settle> = Arc::new(CountAndRecycle {
            stats: stats.clone(),
            pools: shared.pools.clone(),
        });
        let sink_thread = s.spawn(move || {
            // A panic in the sink must stop the run, not leave the workers mapping objects
            // that can never be delivered.
            let _abort_on_panic = AbortOnPanic(&shared_ref.abort);
            let mut failed = false;
            let sink_rx_len = sink_rx.clone();
            for mut req in sink_rx {
                sink_stats
                    .queue_requests
                    .store(sink_rx_len.len() as u64, Ordering::Relaxed);
                if failed {
                    // Dropped unreleased: the objects fail.
                    drop(req);
                    continue;
                }
                req.handed = Some(Instant::now());
                if let Err(e) = sink.send(req, &settle) {
                    tracing::error!(error = %e, "sink failed; stopping");
                    sink_stats.failure(FailureKind::Sink);
                    shared_ref.abort.cancel();
                    failed = true;
                }
            }
            if let Err(e) = sink.finish() {
                tracing::error!(error = %e, "sink failed");
                if !failed {
                    sink_stats.failure(FailureKind::Sink);
                }
            }
        });
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let rx = obj_rx.clone();
                let tx = sink_tx.clone();
                s.spawn(move || worker(shared_ref, rx, tx))
            })
            .collect();
        drop(obj_rx);
        drop(sink_tx);

        let result = source.run(&mut |object| {
            if shared.abort.is_cancelled() {
                return false;
            }
            Stats::add(&stats.objects_seen, 1);
            match settings.router.route(&object.key) {
                Route::Skip(reason) => {
                    stats.skipped(reason);
                    if let Some(done) = &object.done {
                        done.object_done(&object.key, Outcome::Delivered);
                    }
                    true
                }
                Route::Table(table) => {
                    let listener: Arc<dyn AckListener> = match object.done.clone() {
                        None => listener.clone(),
                        Some(done) => Arc::new(Listener {
                            stats: stats.clone(),
                            done: Some(done),
                        }),
                    };
                    let ticket = Ticket::new(&object.key, listener);
                    obj_tx
                        .send(Task {
                            table,
                            object,
                            ticket,
                        })
                        .is_ok()
                }
            }
        });
        if let Err(e) = result {
            source_error = Some(e.to_string());
        }
        drop(obj_tx);
        for w in workers {
            if w.join().is_err() {
                stats.failure(FailureKind::WorkerPanic);
            }
        }
        // Every worker's sender is gone: the sink thread drains and ends.
        drop(shared.chunk_tx.clone());
        if sink_thread.join().is_err() {
            stats.failure(FailureKind::SinkPanic);
        }
    });
    if let Err(e) = dead.close() {
        tracing::error!(error = %e, "cannot finish the dead-letter file");
        stats.failure(FailureKind::DeadLetterWrite);
    }
    if let Some(e) = source_error {
        tracing::error!(error = %e, "source failed");
        stats.failure(FailureKind::Source);
    }
    if let Err(e) = source.finish() {
        tracing::error!(error = %e, "source failed to finish");
        stats.failure(FailureKind::Source);
    }
    progress.finish();
    let mut summary = Summary::collect(&stats, started.elapsed(), dead.dir());
    summary.source = source.counters();
    summary
}
