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
//! Memory is bounded by the channel capacities times the chunk size and request size, plus
//! one read buffer and one record per object being read: it does not depend on object size.

pub mod mapper;

use std::io::{self, Read};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, select, Receiver, Sender, TrySendError};
use tokio_util::sync::CancellationToken;

pub use mapper::{BatchSettings, Job, Mapper, Output};

use crate::ack::{AckListener, Outcome, Ticket};
use crate::decode::{self, Encoding};
use crate::frame::{self, End, FrameError, Limits, Span};
use crate::pool::Pools;
use crate::route::{Route, Router};
use crate::run_context::RunContext;
use crate::sink::dead_letter::{DeadLetter, DeadLetters};
use crate::sink::{Request, Settle, Settler, Sink};
use crate::stats::{FailureKind, Stats, Tally};
use crate::table::{ObjectState, Table};

pub mod args;
pub mod summary;
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
    pub share: &'a dyn Fn() -> bool,
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
        share,
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
    let end = frame::frame_table(table, decoder, limits, pools, share, &mut count, &mut emit);
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

/// What one object gives when mapped on the calling thread: for tests, fuzzing and benches.
pub struct Mapped {
    pub requests: Vec<Request>,
    pub dead_letters: Vec<DeadLetter>,
    pub end: ObjectEnd,
    pub tally: Tally,
}

impl Mapped {
    /// All rows of all requests, parsed back from the request bodies.
    pub fn rows(&self) -> Vec<serde_json::Value> {
        let mut rows = Vec::new();
        for r in &self.requests {
            let mut json = Vec::new();
            let mut d = flate2::read::GzDecoder::new(&r.body[..]);
            if d.read_to_end(&mut json).is_ok() {
                if let Ok(serde_json::Value::Array(a)) = serde_json::from_slice(&json) {
                    rows.extend(a);
                }
            }
        }
        rows
    }
}

struct Collect<'a> {
    requests: &'a mut Vec<Request>,
    dead: &'a mut Vec<DeadLetter>,
}

impl Output for Collect<'_> {
    fn request(&mut self, req: Request) {
        self.requests.push(req);
    }
    fn dead_letter(&mut self, dl: DeadLetter) -> bool {
        self.dead.push(dl);
        true
    }
}

/// Maps objects on the calling thread through the same decode, frame, map, batch and encode
/// stages as a run, keeping its buffers from one object to the next.
pub struct ObjectMapper {
    mapper: Mapper,
    pools: Arc<Pools>,
    limits: Limits,
    stats: Stats,
}

impl ObjectMapper {
    pub fn new(settings: BatchSettings, limits: Limits) -> Self {
        let pools = Arc::new(Pools::new(1, limits.chunk_bytes));
        ObjectMapper {
            mapper: Mapper::new(settings, pools.clone()),
            pools,
            limits,
            stats: Stats::default(),
        }
    }

    /// Maps one object's bytes as `table`; every request of the object is sealed before this
    /// returns.
    pub fn map(&mut self, table: Table, key: &str, bytes: &[u8]) -> Mapped {
        let mut requests = Vec::new();
        let mut dead_letters = Vec::new();
        let key: Arc<str> = key.into();
        let mut tally = Tally::default();
        let mapper = &mut self.mapper;
        let env = ReadEnv {
            limits: &self.limits,
            pools: &self.pools,
            stats: &self.stats,
            share: &|| false,
        };
        let (end, object_dead) =
            read_object(&env, table, &key, bytes, None, &mut tally, &mut |job| {
                mapper.run(
                    job,
                    &mut Collect {
                        requests: &mut requests,
                        dead: &mut dead_letters,
                    },
                );
                true
            });
        dead_letters.extend(object_dead);
        self.mapper.flush_all(&mut Collect {
            requests: &mut requests,
            dead: &mut dead_letters,
        });
        let mut t = std::mem::take(&mut self.mapper.tally);
        t.notes.merge(&tally.notes);
        Mapped {
            requests,
            dead_letters,
            end,
            tally: t,
        }
    }
}

/// Maps one object's bytes as `table` on the calling thread (see [`ObjectMapper`]).
pub fn map_object(
    table: Table,
    key: &str,
    bytes: &[u8],
    settings: BatchSettings,
    limits: &Limits,
) -> Mapped {
    ObjectMapper::new(
        settings,
        Limits {
            chunk_bytes: limits.chunk_bytes,
            max_record_bytes: limits.max_record_bytes,
        },
    )
    .map(table, key, bytes)
}

/// Counts outcomes, and passes them on to the object's own listener when it has one.
struct Listener {
    stats: Arc<Stats>,
    done: Option<Arc<dyn AckListener>>,
}

impl AckListener for Listener {
    fn object_done(&self, key: &str, outcome: Outcome) {
        match outcome {
            Outcome::Delivered => Stats::add(&self.stats.objects_delivered, 1),
            Outcome::Failed => Stats::add(&self.stats.objects_failed, 1),
        }
        if let Some(done) = &self.done {
            done.object_done(key, outcome);
        }
    }
}

struct Shared {
    settings: BatchSettings,
    limits: Limits,
    pools: Arc<Pools>,
    linger: Duration,
    stats: Arc<Stats>,
    dead: Arc<DeadLetters>,
    chunk_tx: Sender<Job>,
    chunk_rx: Receiver<Job>,
    idle: AtomicUsize,
    /// Idle workers whose object channel has closed: the readers then cut small chunks.
    draining: AtomicUsize,
    reading: AtomicUsize,
    /// The run's abort: the threads check it between units of work.
    abort: CancellationToken,
}

struct WorkerOut<'a> {
    shared: &'a Shared,
    sink_tx: &'a Sender<Request>,
}

impl Output for WorkerOut<'_> {
    fn request(&mut self, req: Request) {
        // When the sink stopped (it failed), the request is dropped with its tickets
        // unreleased: the objects fail.
        let _ = self.sink_tx.send(req);
    }
    fn dead_letter(&mut self, dl: DeadLetter) -> bool {
        match self.shared.dead.write(&dl) {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, dir = %self.shared.dead.dir().display(), "cannot write dead letter");
                self.shared.stats.failure(FailureKind::DeadLetterWrite);
                self.shared.abort.cancel();
                false
            }
        }
    }
}

struct Task {
    table: Table,
    object: Object,
    ticket: Ticket,
}

fn worker(shared: &Shared, objects: Receiver<Task>, sink_tx: Sender<Request>) {
    let mut mapper = Mapper::new(shared.settings, shared.pools.clone());
    let mut out = WorkerOut {
        shared,
        sink_tx: &sink_tx,
    };
    let mut objects_open = true;
    loop {
        while let Ok(job) = shared.chunk_rx.try_recv() {
            mapper.run(job, &mut out);
            mapper.flush_older_than(shared.linger, &mut out);
        }
        shared.stats.merge_tally(&mut mapper.tally);
        if !objects_open {
            if shared.reading.load(Ordering::Acquire) == 0 && shared.chunk_rx.is_empty() {
                break;
            }
            // Idle while others still read their last objects: counted, so that they hand
            // their records over, and in small chunks (a worker that sat here uncounted left
            // a whole object's tail to one worker, a sixth of a short run).
            shared.idle.fetch_add(1, Ordering::AcqRel);
            shared.draining.fetch_add(1, Ordering::AcqRel);
            let job = shared.chunk_rx.recv_timeout(Duration::from_millis(5));
            shared.draining.fetch_sub(1, Ordering::AcqRel);
            shared.idle.fetch_sub(1, Ordering::AcqRel);
            if let Ok(job) = job {
                mapper.run(job, &mut out);
            }
            continue;
        }
        shared.idle.fetch_add(1, Ordering::AcqRel);
        select! {
            recv(shared.chunk_rx) -> job => {
                shared.idle.fetch_sub(1, Ordering::AcqRel);
                if let Ok(job) = job {
                    mapper.run(job, &mut out);
                }
            }
            recv(objects) -> task => {
                shared.idle.fetch_sub(1, Ordering::AcqRel);
                match task {
                    Ok(task) => {
                        shared.stats.queue_objects.store(objects.len() as u64, Ordering::Relaxed);
                        shared.stats.queue_chunks.store(shared.chunk_rx.len() as u64, Ordering::Relaxed);
                        read_task(shared, task, &mut mapper, &mut out);
                        // A busy worker never reaches the idle branch below: seal the
                        // batches that waited too long here, so their objects settle.
                        mapper.flush_older_than(shared.linger, &mut out);
                    }
                    Err(_) => objects_open = false,
                }
            }
            default(shared.linger) => {
                shared.idle.fetch_sub(1, Ordering::AcqRel);
                mapper.flush_older_than(shared.linger, &mut out);
            }
        }
        if shared.abort.is_cancelled() {
            objects_open = false;
        }
    }
    mapper.flush_all(&mut out);
    shared.stats.merge_tally(&mut mapper.tally);
}

/// Counts an object being read, for the workers' exit condition. A guard, so that a panic
/// while reading cannot leave the count up and every other worker waiting forever.
struct Reading<'a>(&'a AtomicUsize);

impl<'a> Reading<'a> {
    fn start(n: &'a AtomicUsize) -> Self {
        n.fetch_add(1, Ordering::AcqRel);
        Reading(n)
    }
}

impl Drop for Reading<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn read_task(shared: &Shared, task: Task, mapper: &mut Mapper, out: &mut WorkerOut) {
    let _reading = Reading::start(&shared.reading);
    let Task {
        table,
        object,
        ticket,
    } = task;
    let key: Arc<str> = object.key.as_str().into();
    let mut tally = Tally::default();
    let share = || shared.draining.load(Ordering::Relaxed) > 0;
    let env = ReadEnv {
        limits: &shared.limits,
        pools: &shared.pools,
        stats: &shared.stats,
        share: &share,
    };
    let (end, object_dead) = match (object.open)() {
        Err(e) => (ObjectEnd::Failed(format!("opening {key}: {e}")), None),
        Ok(reader) => read_object(
            &env,
            table,
            &key,
            reader,
            Some(&ticket),
            &mut tally,
            &mut |job| {
                if shared.idle.load(Ordering::Acquire) > 0 {
                    match shared.chunk_tx.try_send(job) {
                        Ok(()) => {}
                        Err(TrySendError::Full(job) | TrySendError::Disconnected(job)) => {
                            mapper.run(job, &mut *out)
                        }
                    }
                } else {
                    mapper.run(job, &mut *out);
                }
                mapper.flush_older_than(shared.linger, &mut *out);
                !shared.abort.is_cancelled()
            },
        ),
    };
    mapper.tally.notes.merge(&tally.notes);
    // The reader's part is done when the object was read to its end, or skipped, or ended at
    // a fault whose dead letter was stored; otherwise the ticket is dropped unreleased and
    // the object fails.
    match end {
        ObjectEnd::Complete => ticket.release(),
        ObjectEnd::Skipped(reason) => {
            shared.stats.skipped(reason);
            ticket.release();
        }
        ObjectEnd::DeadLettered(reason) => {
            Stats::add(&shared.stats.objects_dead_lettered, 1);
            shared.stats.dead_letter(reason);
            if object_dead.is_some_and(|dl| out.dead_letter(dl)) {
                ticket.release();
            }
        }
        ObjectEnd::Failed(msg) => {
            tracing::warn!("{msg}");
            shared.stats.failure(FailureKind::ReadError);
        }
    }
}

/// Aborts the run when dropped by a panic.
struct AbortOnPanic<'a>(&'a CancellationToken);

impl Drop for AbortOnPanic<'_> {
    fn drop(&mut self) {
        if thread::panicking() {
            self.0.cancel();
        }
    }
}

/// Counts a request the sink accepted and gives its buffers back to the pools.
struct Settled {
    stats: Arc<Stats>,
    pools: Arc<Pools>,
}

impl Settle for Settled {
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
        let settler: Settler = Arc::new(Settled {
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
                if let Err(e) = sink.send(req, &settler) {
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
