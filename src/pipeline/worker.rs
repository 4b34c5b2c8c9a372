//! The worker threads: each takes an object, reads it (`read.rs`), maps its chunks into its own
//! batches, and hands a chunk to another worker only while one is idle. What they share is
//! [`Shared`]; a worker's mapper writes requests to the sink thread and dead letters to the
//! store through [`WorkerOut`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crossbeam_channel::{select, Receiver, Sender, TrySendError};
use tokio_util::sync::CancellationToken;

use super::{read_object, BatchSettings, Job, Mapper, Object, ObjectEnd, Output, ReadEnv};
use crate::ack::{AckListener, Outcome, Ticket};
use crate::frame::Limits;
use crate::pool::Pools;
use crate::sink::dead_letter::{DeadLetter, DeadLetters};
use crate::sink::Request;
use crate::stats::{FailureKind, Stats, Tally};
use crate::table::Table;

/// Counts outcomes, and passes them on to the object's own listener when it has one.
pub(super) struct Listener {
    pub(super) stats: Arc<Stats>,
    pub(super) done: Option<Arc<dyn AckListener>>,
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

pub(super) struct Shared {
    pub(super) settings: BatchSettings,
    pub(super) limits: Limits,
    pub(super) pools: Arc<Pools>,
    pub(super) linger: Duration,
    pub(super) stats: Arc<Stats>,
    pub(super) dead: Arc<DeadLetters>,
    pub(super) chunk_tx: Sender<Job>,
    pub(super) chunk_rx: Receiver<Job>,
    pub(super) idle: AtomicUsize,
    /// Idle workers whose object channel has closed: the readers then cut small chunks.
    pub(super) draining: AtomicUsize,
    pub(super) reading: AtomicUsize,
    /// The run's abort: the threads check it between units of work.
    pub(super) abort: CancellationToken,
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

pub(super) struct Task {
    pub(super) table: Table,
    pub(super) object: Object,
    pub(super) ticket: Ticket,
}

pub(super) fn worker(shared: &Shared, objects: Receiver<Task>, sink_tx: Sender<Request>) {
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
    let worker_idle = || shared.draining.load(Ordering::Relaxed) > 0;
    let env = ReadEnv {
        limits: &shared.limits,
        pools: &shared.pools,
        stats: &shared.stats,
        worker_idle: &worker_idle,
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
pub(super) struct AbortOnPanic<'a>(pub(super) &'a CancellationToken);

impl Drop for AbortOnPanic<'_> {
    fn drop(&mut self) {
        if thread::panicking() {
            self.0.cancel();
        }
    }
}
