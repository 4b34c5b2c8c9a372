//! `sqs:QUEUE_URL`: S3 notifications received from an SQS queue, objects fetched from S3.
//!
//! Tasks on the I/O runtime, none of them waiting on another:
//! - **receivers** (several) long-poll the queue, 10 messages a call, and stop polling while
//!   the in-flight budget (messages and object bytes held) is spent: that is how a slow sink
//!   stops receiving, instead of messages piling up unseen until their visibility runs out.
//!   Errors back off exponentially with jitter; an empty queue costs one long poll per
//!   `--wait-seconds`, never a busy loop.
//! - the **acker** turns settled messages into `DeleteMessageBatch` calls (delivered) or
//!   `ChangeMessageVisibilityBatch` calls (not delivered: returned after a delay that grows
//!   with the receive count, or at once during shutdown), batched by 10 and sent without the
//!   receivers or the workers waiting for them (Filebeat's and Vector's throughput trap);
//! - the **heartbeat** extends every held message at half its visibility timeout, batched, up
//!   to `--max-hold`, so an object that takes longer than the timeout is not handed to a
//!   second reader.
//!
//! The calling thread hands the objects to the pipeline (it blocks when the workers are busy).
//! A message is settled by [`MessageAck`] once every object it names ended: deleted only if
//! all were delivered (every row accepted by the sink or dead-lettered).
//!
//! Shutdown (SIGINT/SIGTERM, or `--stop-when-idle`: the run's graceful token, see
//! `src/run_context.rs`): receivers stop after their current poll (messages it returns are
//! released at once), objects not yet started are released, the work in hand gets
//! `--shutdown-timeout` to finish, then the run is aborted (its abort token: reads and
//! deliveries in hand give up) and whatever is still held is made visible again (visibility 0)
//! for another instance to take at once.
//!
//! Nothing here polls for a stop or for the held messages to drain: the tasks and the calling
//! thread await the tokens, and every change to what is held (a message settled, an object
//! ended) notifies `State::settled`, which the budget and drain waits are woken by.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry,
    MessageSystemAttributeName, QueueAttributeName,
};
use backon::{BackoffBuilder, ExponentialBuilder};
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::fetch::{Fetcher, Location};
use super::notification::{self, Notification, ObjectRef};
use super::recent::{ObjectId, Recent, Seen};
use super::SourceStats;
use crate::ack::{AckListener, MessageAck, Outcome};
use crate::pipeline::{Object, Source};
use crate::run_context::RunContext;
use crate::stats::{Counters, Latency};

#[derive(Debug, Clone)]
pub struct SqsSettings {
    pub queue_url: String,
    /// Receivers polling in parallel.
    pub receivers: usize,
    /// Long-poll wait, 0-20 s.
    pub wait_seconds: i32,
    /// Visibility timeout asked for on receive; `None`: the queue's own.
    pub visibility_timeout: Option<Duration>,
    /// No visibility extension past this time since receipt.
    pub max_hold: Duration,
    pub max_messages_in_flight: usize,
    /// Bytes of the objects named by held messages (as stored, i.e. compressed).
    pub max_bytes_in_flight: u64,
    /// Delay before a message whose objects failed is visible again (times 2 per earlier
    /// receive, at most 15 min).
    pub retry_delay: Duration,
    pub shutdown_timeout: Duration,
    /// Stop (as on SIGTERM) when no message came for this long and nothing is held.
    pub stop_when_idle: Option<Duration>,
    /// Object versions remembered as finished, to acknowledge repeats.
    pub dedupe_capacity: usize,
}

impl SqsSettings {
    pub const DEFAULT_RECEIVERS: usize = 4;
    pub const MAX_RECEIVERS: usize = 256;
    pub const DEFAULT_WAIT_SECONDS: i32 = 20;
    pub const DEFAULT_MAX_HOLD_S: u64 = 4 * 3600;
    pub const DEFAULT_MAX_MESSAGES_IN_FLIGHT: usize = 1000;
    /// One receive returns up to 10 messages.
    pub const MIN_MESSAGES_IN_FLIGHT: usize = 10;
    pub const DEFAULT_MAX_BYTES_IN_FLIGHT: u64 = 1 << 30;
    pub const DEFAULT_RETRY_DELAY_S: u64 = 30;
    /// The longest delay a returned message is given (15 minutes).
    pub const MAX_RETRY_DELAY_S: u64 = 900;
    pub const DEFAULT_SHUTDOWN_TIMEOUT_S: u64 = 30;
    pub const DEFAULT_DEDUPE_CAPACITY: usize = 100_000;

    pub fn new(queue_url: &str) -> Self {
        SqsSettings {
            queue_url: queue_url.to_string(),
            receivers: Self::DEFAULT_RECEIVERS,
            wait_seconds: Self::DEFAULT_WAIT_SECONDS,
            visibility_timeout: None,
            max_hold: Duration::from_secs(Self::DEFAULT_MAX_HOLD_S),
            max_messages_in_flight: Self::DEFAULT_MAX_MESSAGES_IN_FLIGHT,
            max_bytes_in_flight: Self::DEFAULT_MAX_BYTES_IN_FLIGHT,
            retry_delay: Duration::from_secs(Self::DEFAULT_RETRY_DELAY_S),
            shutdown_timeout: Duration::from_secs(Self::DEFAULT_SHUTDOWN_TIMEOUT_S),
            stop_when_idle: None,
            dedupe_capacity: Self::DEFAULT_DEDUPE_CAPACITY,
        }
    }
}

/// A message this instance holds.
struct Held {
    receipt: String,
    received: Instant,
    visible_until: Instant,
    /// Past `--max-hold`: no longer extended.
    expired: bool,
}

enum Settle {
    Delete {
        id: u64,
    },
    /// Not delivered: make it visible again after `delay`.
    Return {
        id: u64,
        delay: Duration,
    },
    /// Delete a message that was never held (a test event, a notification naming nothing).
    DeleteUnheld {
        receipt: String,
    },
}

struct State {
    settings: SqsSettings,
    sqs: aws_sdk_sqs::Client,
    visibility: Duration,
    held: Mutex<HashMap<u64, Held>>,
    next_id: AtomicU64,
    recent: Mutex<Recent>,
    /// Something was settled or an object ended (`held` or the bytes in flight went down): a
    /// receiver waiting for budget may go on, a wait for the held messages to drain looks
    /// again. Waiters register with [`Notify::notified`] and `enable` it before they check,
    /// so a notification between the check and the wait is not missed.
    settled: Notify,
    settle_tx: mpsc::UnboundedSender<Settle>,
    stats: Arc<SourceStats>,
    latency: Latency,
    /// The run's graceful stop: receive nothing more.
    graceful: CancellationToken,
    last_message: Mutex<Instant>,
    /// The acker and heartbeat end when this is cancelled and nothing is left to do.
    closing: CancellationToken,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl State {
    fn over_budget(&self) -> bool {
        lock(&self.held).len() >= self.settings.max_messages_in_flight
            || self.stats.bytes_in_flight.load(Ordering::Acquire)
                >= i64::try_from(self.settings.max_bytes_in_flight).unwrap_or(i64::MAX)
    }

    fn held_count(&self) -> usize {
        lock(&self.held).len()
    }

    /// Waits until no message is held, or until `deadline`; true when none is held.
    async fn drained(&self, deadline: Instant) -> bool {
        let deadline = tokio::time::Instant::from_std(deadline);
        loop {
            let settled = self.settled.notified();
            tokio::pin!(settled);
            settled.as_mut().enable();
            if self.held_count() == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, settled).await.is_err() {
                return self.held_count() == 0;
            }
        }
    }

    /// Waits until `--stop-when-idle` applies: no message came for `idle` and none is held.
    async fn idle(&self, idle: Duration) {
        loop {
            let settled = self.settled.notified();
            tokio::pin!(settled);
            settled.as_mut().enable();
            let quiet_until = *lock(&self.last_message) + idle;
            if Instant::now() < quiet_until {
                // A message received meanwhile moves `quiet_until`: looked at again then.
                tokio::time::sleep_until(tokio::time::Instant::from_std(quiet_until)).await;
                continue;
            }
            if self.held_count() == 0 {
                return;
            }
            settled.await;
        }
    }
}

pub struct SqsSource {
    rt: tokio::runtime::Handle,
    state: Arc<State>,
    fetcher: Arc<Fetcher>,
    /// The run's abort, cancelled when the shutdown deadline passes with messages held.
    abort: CancellationToken,
    objects_rx: Option<mpsc::Receiver<Object>>,
    objects_tx: Option<mpsc::Sender<Object>>,
    settle_rx: Option<mpsc::UnboundedReceiver<Settle>>,
    receivers: JoinSet<()>,
    background: JoinSet<()>,
}

impl SqsSource {
    /// Checks that the queue answers (and reads its visibility timeout) before anything runs,
    /// so a wrong URL or missing permission is a clear error at start. From `ctx` it takes the
    /// source counters, the latency histograms and both stop tokens.
    pub fn new(
        rt: tokio::runtime::Handle,
        sqs: aws_sdk_sqs::Client,
        settings: SqsSettings,
        fetcher: Arc<Fetcher>,
        ctx: &RunContext,
    ) -> anyhow::Result<Self> {
        let attrs = rt
            .block_on(
                sqs.get_queue_attributes()
                    .queue_url(&settings.queue_url)
                    .attribute_names(QueueAttributeName::VisibilityTimeout)
                    .send(),
            )
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot reach queue {}: {} (check the queue URL, the region and the credentials' sqs:GetQueueAttributes permission)",
                    settings.queue_url,
                    DisplayErrorContext(&e)
                )
            })?;
        let queue_visibility = attrs
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::VisibilityTimeout))
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_secs)
            .unwrap_or(Duration::from_secs(30));
        let visibility = settings.visibility_timeout.unwrap_or(queue_visibility);
        let (settle_tx, settle_rx) = mpsc::unbounded_channel();
        let (objects_tx, objects_rx) = mpsc::channel(64);
        let dedupe = settings.dedupe_capacity;
        tracing::info!(queue = %settings.queue_url, visibility_s = visibility.as_secs(), "receiving");
        Ok(SqsSource {
            rt,
            state: Arc::new(State {
                settings,
                sqs,
                visibility,
                held: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(0),
                recent: Mutex::new(Recent::new(dedupe)),
                settled: Notify::new(),
                settle_tx,
                stats: ctx.source_stats.clone(),
                latency: ctx.stats.latency.clone(),
                graceful: ctx.graceful.clone(),
                last_message: Mutex::new(Instant::now()),
                closing: CancellationToken::new(),
            }),
            fetcher,
            abort: ctx.abort.clone(),
            objects_rx: Some(objects_rx),
            objects_tx: Some(objects_tx),
            settle_rx: Some(settle_rx),
            receivers: JoinSet::new(),
            background: JoinSet::new(),
        })
    }

    fn start(&mut self) {
        let _guard = self.rt.enter();
        if let Some(tx) = self.objects_tx.take() {
            for _ in 0..self.state.settings.receivers.max(1) {
                let state = self.state.clone();
                let fetcher = self.fetcher.clone();
                let tx = tx.clone();
                self.receivers
                    .spawn(async move { receiver(state, fetcher, tx).await });
            }
        }
        if let Some(rx) = self.settle_rx.take() {
            self.background.spawn(acker(self.state.clone(), rx));
            self.background.spawn(heartbeat(self.state.clone()));
        }
    }

    /// Fails every object that was received but not handed out, so their messages return.
    fn release_pending(&mut self) {
        if let Some(rx) = &mut self.objects_rx {
            rx.close();
            while let Ok(object) = rx.try_recv() {
                if let Some(done) = &object.done {
                    done.object_done(&object.key, Outcome::Failed);
                }
            }
        }
    }
}

impl Source for SqsSource {
    fn run(&mut self, emit: &mut dyn FnMut(Object) -> bool) -> io::Result<()> {
        self.start();
        let state = self.state.clone();
        let Some(mut rx) = self.objects_rx.take() else {
            return Ok(());
        };
        /// What the calling thread woke up for.
        enum Next {
            Object(Object),
            Stop,
            /// `--stop-when-idle` applies (its duration).
            Idle(Duration),
        }
        loop {
            let next = self.rt.block_on(async {
                let idle = async {
                    match state.settings.stop_when_idle {
                        Some(idle) => {
                            state.idle(idle).await;
                            idle
                        }
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    biased;
                    () = state.graceful.cancelled() => Next::Stop,
                    object = rx.recv() => object.map_or(Next::Stop, Next::Object),
                    idle = idle => Next::Idle(idle),
                }
            });
            match next {
                Next::Object(object) => {
                    if !emit(object) {
                        // The pipeline stopped (a failure): stop receiving too.
                        state.graceful.cancel();
                        break;
                    }
                }
                Next::Stop => break,
                Next::Idle(idle) => {
                    if rx.is_empty() {
                        tracing::info!(idle_s = idle.as_secs_f64(), "queue idle: stopping");
                        state.graceful.cancel();
                    }
                }
            }
        }
        self.objects_rx = Some(rx);
        // Shutdown: let the receivers finish their polls (what they bring is released), then
        // release what never reached a worker.
        let deadline = Instant::now() + state.settings.shutdown_timeout;
        let receivers = std::mem::take(&mut self.receivers);
        let rt = self.rt.clone();
        rt.block_on(async {
            let mut receivers = receivers;
            let left = deadline.saturating_duration_since(Instant::now());
            if tokio::time::timeout(left, async {
                while receivers.join_next().await.is_some() {}
            })
            .await
            .is_err()
            {
                receivers.abort_all();
            }
        });
        self.release_pending();
        // The work in hand finishes on its own (the pipeline flushes lingering batches); wait
        // for it up to the deadline, then abort the reads so their messages return now.
        if !rt.block_on(state.drained(deadline)) {
            tracing::warn!(
                held = state.held_count(),
                "shutdown deadline passed: aborting the reads in hand; their messages are returned"
            );
            self.abort.cancel();
        }
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        // Every object handed out has ended by now (the pipeline joined its workers), so every
        // settle is queued: let the acker send them, then return anything still held.
        self.release_pending();
        let state = self.state.clone();
        let background = std::mem::take(&mut self.background);
        self.rt.block_on(async move {
            let mut background = background;
            state
                .drained(Instant::now() + Duration::from_secs(10))
                .await;
            let left: Vec<u64> = lock(&state.held).keys().copied().collect();
            for id in left {
                let _ = state.settle_tx.send(Settle::Return {
                    id,
                    delay: Duration::ZERO,
                });
            }
            state.closing.cancel();
            if tokio::time::timeout(Duration::from_secs(15), async {
                while background.join_next().await.is_some() {}
            })
            .await
            .is_err()
            {
                tracing::warn!("SQS calls did not finish in 15 s; the messages left return when their visibility runs out");
                background.abort_all();
            }
        });
        Ok(())
    }

    fn counters(&self) -> Counters {
        self.state.stats.counters()
    }
}

/// Backoff between failed receives: from half a second to 30 s, with jitter, never giving up.
fn receive_backoff() -> impl Iterator<Item = Duration> {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(500))
        .with_max_delay(Duration::from_secs(30))
        .without_max_times()
        .with_jitter()
        .build()
}

async fn receiver(state: Arc<State>, fetcher: Arc<Fetcher>, tx: mpsc::Sender<Object>) {
    let s = &state.settings;
    let mut backoff = receive_backoff();
    loop {
        if state.graceful.is_cancelled() {
            return;
        }
        // Registered before the budget check, so a settle between the two is not missed.
        let settled = state.settled.notified();
        tokio::pin!(settled);
        settled.as_mut().enable();
        if state.over_budget() {
            tokio::select! {
                () = settled => {}
                () = state.graceful.cancelled() => {}
            }
            continue;
        }
        let started = Instant::now();
        let mut call = state
            .sqs
            .receive_message()
            .queue_url(&s.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(s.wait_seconds)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount);
        if let Some(v) = s.visibility_timeout {
            call = call.visibility_timeout(v.as_secs() as i32);
        }
        let result = call.send().await;
        state
            .latency
            .receive
            .observe(started.elapsed().as_secs_f64());
        let out = match result {
            Ok(out) => {
                backoff = receive_backoff();
                out
            }
            Err(e) => {
                SourceStats::add(&state.stats.receive_errors, 1);
                let wait = backoff.next().unwrap_or(Duration::from_secs(30));
                tracing::warn!(error = %DisplayErrorContext(&e), retry_in_ms = wait.as_millis() as u64, "ReceiveMessage failed");
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = state.graceful.cancelled() => {}
                }
                continue;
            }
        };
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            if s.wait_seconds == 0 {
                // No long poll: wait a second for messages to come, or for the stop.
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    () = state.graceful.cancelled() => {}
                }
            }
            continue;
        }
        *lock(&state.last_message) = Instant::now();
        SourceStats::add(&state.stats.messages_received, messages.len() as u64);
        for m in messages {
            let Some(receipt) = m.receipt_handle else {
                continue;
            };
            let receive_count = m
                .attributes
                .as_ref()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .and_then(|c| c.parse().ok())
                .unwrap_or(1);
            let body = m.body.unwrap_or_default();
            let message_id = m.message_id.unwrap_or_default();
            for object in accept(&state, &fetcher, &message_id, receipt, receive_count, &body) {
                if state.graceful.is_cancelled() {
                    // Received during shutdown: give it back now.
                    if let Some(done) = &object.done {
                        done.object_done(&object.key, Outcome::Failed);
                    }
                    continue;
                }
                if let Err(mpsc::error::SendError(object)) = tx.send(object).await {
                    if let Some(done) = &object.done {
                        done.object_done(&object.key, Outcome::Failed);
                    }
                }
            }
        }
    }
}

/// Registers one message and returns the objects to read for it.
fn accept(
    state: &Arc<State>,
    fetcher: &Arc<Fetcher>,
    message_id: &str,
    receipt: String,
    receive_count: u32,
    body: &str,
) -> Vec<Object> {
    let stats = &state.stats;
    let (objects, ignored) = match notification::parse(body) {
        Notification::Poison(why) => {
            SourceStats::add(&stats.messages_poison, 1);
            tracing::warn!(
                message_id,
                receive_count,
                "not a notification logferry understands ({why}); left for the queue's redrive policy"
            );
            return vec![];
        }
        Notification::TestEvent => {
            SourceStats::add(&stats.messages_test_event, 1);
            let _ = state.settle_tx.send(Settle::DeleteUnheld { receipt });
            return vec![];
        }
        Notification::Objects { objects, ignored } => (objects, ignored),
    };
    SourceStats::add(&stats.ignored_records, ignored as u64);
    if objects.is_empty() {
        let _ = state.settle_tx.send(Settle::DeleteUnheld { receipt });
        return vec![];
    }
    let id = state.next_id.fetch_add(1, Ordering::Relaxed);
    let now = Instant::now();
    lock(&state.held).insert(
        id,
        Held {
            receipt,
            received: now,
            visible_until: now + state.visibility,
            expired: false,
        },
    );
    stats.messages_in_flight.fetch_add(1, Ordering::Relaxed);
    let tx = state.settle_tx.clone();
    let retry = state.settings.retry_delay;
    let graceful = state.graceful.clone();
    let ack: Arc<MessageAck> = MessageAck::new(objects.len(), move |ok| {
        let settle = if ok {
            Settle::Delete { id }
        } else {
            let delay = if graceful.is_cancelled() {
                Duration::ZERO
            } else {
                (retry * 2u32.saturating_pow(receive_count.saturating_sub(1).min(10)))
                    .min(Duration::from_secs(SqsSettings::MAX_RETRY_DELAY_S))
            };
            Settle::Return { id, delay }
        };
        let _ = tx.send(settle);
    });
    let mut out = Vec::new();
    for o in objects {
        let oid = ObjectId {
            bucket: o.bucket.clone(),
            key: o.key.clone(),
            version: o.version_id.clone().or_else(|| o.etag.clone()),
        };
        let seen = lock(&state.recent).begin(&oid, ack.clone());
        match seen {
            Seen::Done => {
                SourceStats::add(&stats.duplicate_objects, 1);
                ack.object_done(&o.key, Outcome::Delivered);
            }
            Seen::Reading => SourceStats::add(&stats.duplicate_objects, 1),
            Seen::New => out.push(object(state, fetcher, o, oid, ack.clone())),
        }
    }
    out
}

/// The pipeline's view of one object of a message.
fn object(
    state: &Arc<State>,
    fetcher: &Arc<Fetcher>,
    o: ObjectRef,
    id: ObjectId,
    ack: Arc<MessageAck>,
) -> Object {
    // An unknown size counts as 1 MiB, a typical log object.
    let size = o.size.unwrap_or(1 << 20);
    state
        .stats
        .bytes_in_flight
        .fetch_add(size as i64, Ordering::AcqRel);
    let loc = Location {
        bucket: o.bucket,
        key: o.key.clone(),
        region: o.region,
        size: o.size,
        version_id: o.version_id,
    };
    let f = fetcher.clone();
    Object {
        key: o.key,
        size: o.size,
        open: Box::new(move || Ok(f.open(loc))),
        done: Some(Arc::new(ObjectDone {
            state: state.clone(),
            id,
            size,
            ack,
            started: Instant::now(),
        })),
    }
}

/// Ends one object: frees its budget, tells the repeats that waited for it, and counts it
/// towards its message.
struct ObjectDone {
    state: Arc<State>,
    id: ObjectId,
    size: u64,
    ack: Arc<MessageAck>,
    started: Instant,
}

impl AckListener for ObjectDone {
    fn object_done(&self, key: &str, outcome: Outcome) {
        let state = &self.state;
        state
            .stats
            .bytes_in_flight
            .fetch_sub(self.size as i64, Ordering::AcqRel);
        state
            .latency
            .object
            .observe(self.started.elapsed().as_secs_f64());
        let waiters = lock(&state.recent).end(&self.id, outcome);
        for w in waiters {
            w.object_done(key, outcome);
        }
        self.ack.object_done(key, outcome);
        state.settled.notify_waiters();
    }
}

/// Batches settles into SQS calls and sends them concurrently.
async fn acker(state: Arc<State>, mut rx: mpsc::UnboundedReceiver<Settle>) {
    let mut calls = JoinSet::new();
    let limit = Arc::new(tokio::sync::Semaphore::new(8));
    loop {
        let first = tokio::select! {
            s = rx.recv() => s,
            () = state.closing.cancelled() => {
                // Closing: take what is queued, then stop.
                rx.try_recv().ok()
            }
        };
        let Some(first) = first else { break };
        let mut deletes = Vec::new();
        let mut returns = Vec::new();
        let take = |s: Settle, deletes: &mut Vec<String>, returns: &mut Vec<(String, Duration)>| {
            match s {
                Settle::DeleteUnheld { receipt } => deletes.push(receipt),
                Settle::Delete { id } | Settle::Return { id, .. } => {
                    let Some(held) = lock(&state.held).remove(&id) else {
                        return;
                    };
                    state
                        .stats
                        .messages_in_flight
                        .fetch_sub(1, Ordering::Relaxed);
                    match s {
                        Settle::Return { delay, .. } => returns.push((held.receipt, delay)),
                        _ => deletes.push(held.receipt),
                    }
                }
            }
            state.settled.notify_waiters();
        };
        take(first, &mut deletes, &mut returns);
        // Gather a batch of up to 10 for up to BATCH_WINDOW: messages settle one at a time,
        // and a call per message is where the SQS path's CPU went.
        let until = tokio::time::Instant::now() + BATCH_WINDOW;
        while deletes.len() < 10 && returns.len() < 10 {
            match tokio::time::timeout_at(until, rx.recv()).await {
                Ok(Some(s)) => take(s, &mut deletes, &mut returns),
                _ => break,
            }
        }
        for batch in deletes.chunks(10) {
            let (state, batch) = (state.clone(), batch.to_vec());
            let permit = limit.clone().acquire_owned().await;
            calls.spawn(async move {
                delete_batch(&state, batch).await;
                drop(permit);
            });
        }
        for batch in returns.chunks(10) {
            let (state, batch) = (state.clone(), batch.to_vec());
            let permit = limit.clone().acquire_owned().await;
            calls.spawn(async move {
                return_batch(&state, batch).await;
                drop(permit);
            });
        }
        while calls.try_join_next().is_some() {}
    }
    while calls.join_next().await.is_some() {}
}

/// How long the acker waits to fill a batch of 10 deletes or returns. Every SDK call costs a
/// few hundred microseconds of CPU (signing, serialising, parsing); at 35 messages/s a 20 ms
/// window sent one message per call, and those calls were most of the CPU the SQS path added
/// over reading the same objects from S3 alone. A visibility timeout is tens of seconds at
/// least, so a quarter second before a delete costs nothing.
const BATCH_WINDOW: Duration = Duration::from_millis(250);

fn batch_backoff() -> impl Iterator<Item = Duration> {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(5))
        .with_max_times(4)
        .with_jitter()
        .build()
}

/// Deletes up to 10 messages; entries that fail for a transient reason are tried again.
async fn delete_batch(state: &State, mut receipts: Vec<String>) {
    let mut backoff = batch_backoff();
    loop {
        let entries: Vec<_> = receipts
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(r)
                    .build()
                    .ok()
            })
            .collect();
        let started = Instant::now();
        let result = state
            .sqs
            .delete_message_batch()
            .queue_url(&state.settings.queue_url)
            .set_entries(Some(entries))
            .send()
            .await;
        state
            .latency
            .delete
            .observe(started.elapsed().as_secs_f64());
        let retry: Vec<String> = match result {
            Ok(out) => {
                SourceStats::add(&state.stats.messages_deleted, out.successful.len() as u64);
                let mut retry = Vec::new();
                for f in &out.failed {
                    if f.sender_fault {
                        SourceStats::add(&state.stats.delete_errors, 1);
                        tracing::warn!(code = %f.code, message = ?f.message, "delete refused; the message will come back and be acknowledged as a repeat");
                    } else if let Some(r) = f.id.parse::<usize>().ok().and_then(|i| receipts.get(i))
                    {
                        retry.push(r.clone());
                    }
                }
                retry
            }
            Err(e) => {
                tracing::warn!(error = %DisplayErrorContext(&e), "DeleteMessageBatch failed");
                receipts.clone()
            }
        };
        if retry.is_empty() {
            return;
        }
        match backoff.next() {
            Some(wait) => tokio::time::sleep(wait).await,
            None => {
                SourceStats::add(&state.stats.delete_errors, retry.len() as u64);
                tracing::warn!(
                    messages = retry.len(),
                    "giving up deleting; they will come back and be acknowledged as repeats"
                );
                return;
            }
        }
        receipts = retry;
    }
}

/// Makes up to 10 messages visible again after their delays.
async fn return_batch(state: &State, receipts: Vec<(String, Duration)>) {
    let n = receipts.len() as u64;
    if change_visibility(state, &receipts).await {
        SourceStats::add(&state.stats.messages_returned, n);
    }
}

/// One `ChangeMessageVisibilityBatch`; true when every entry succeeded.
async fn change_visibility(state: &State, entries: &[(String, Duration)]) -> bool {
    let batch: Vec<_> = entries
        .iter()
        .enumerate()
        .filter_map(|(i, (r, d))| {
            ChangeMessageVisibilityBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(r)
                .visibility_timeout(d.as_secs().min(43_200) as i32)
                .build()
                .ok()
        })
        .collect();
    match state
        .sqs
        .change_message_visibility_batch()
        .queue_url(&state.settings.queue_url)
        .set_entries(Some(batch))
        .send()
        .await
    {
        Ok(out) if out.failed.is_empty() => true,
        Ok(out) => {
            SourceStats::add(&state.stats.visibility_errors, out.failed.len() as u64);
            for f in &out.failed {
                tracing::warn!(code = %f.code, message = ?f.message, "ChangeMessageVisibility refused");
            }
            false
        }
        Err(e) => {
            SourceStats::add(&state.stats.visibility_errors, entries.len() as u64);
            tracing::warn!(error = %DisplayErrorContext(&e), "ChangeMessageVisibilityBatch failed");
            false
        }
    }
}

/// Extends held messages at half their visibility timeout, up to the maximum hold.
async fn heartbeat(state: Arc<State>) {
    let half = state.visibility / 2;
    let tick = (state.visibility / 8).clamp(Duration::from_millis(100), Duration::from_secs(5));
    let extend_to = state.visibility;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            () = state.closing.cancelled() => return,
        }
        let now = Instant::now();
        let mut due = Vec::new();
        {
            let mut held = lock(&state.held);
            for (id, h) in held.iter_mut() {
                if h.expired || h.visible_until.saturating_duration_since(now) > half {
                    continue;
                }
                if now.duration_since(h.received) + extend_to > state.settings.max_hold {
                    h.expired = true;
                    SourceStats::add(&state.stats.hold_expired, 1);
                    tracing::warn!(
                        held_s = now.duration_since(h.received).as_secs(),
                        "message held past --max-hold: no longer extended; it will be read again"
                    );
                    continue;
                }
                due.push((*id, h.receipt.clone()));
            }
        }
        for batch in due.chunks(10) {
            let entries: Vec<(String, Duration)> =
                batch.iter().map(|(_, r)| (r.clone(), extend_to)).collect();
            if change_visibility(&state, &entries).await {
                SourceStats::add(&state.stats.visibility_extensions, batch.len() as u64);
                let until = Instant::now() + extend_to;
                let mut held = lock(&state.held);
                for (id, _) in batch {
                    if let Some(h) = held.get_mut(id) {
                        h.visible_until = until;
                    }
                }
            }
        }
    }
}
