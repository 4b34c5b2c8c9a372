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
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::QueueAttributeName;
use parking_lot::Mutex;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::fetch::Fetcher;
use super::recent::Recent;
use super::SourceStats;
use crate::ack::Outcome;
use crate::pipeline::{Object, Source};
use crate::run_context::RunContext;
use crate::stats::{Counters, Latency};

mod acknowledge;
mod heartbeat;
mod receive;

use acknowledge::acker;
use heartbeat::heartbeat;
use receive::receiver;

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

/// What the acker does with a message whose objects all ended.
enum Disposition {
    /// Delivered: delete it.
    Delete { id: u64 },
    /// Not delivered: make it visible again after `delay`.
    Return { id: u64, delay: Duration },
    /// Delete a message that was never held (a test event, a notification naming nothing).
    DeleteUnheld { receipt: String },
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
    settle_tx: mpsc::UnboundedSender<Disposition>,
    stats: Arc<SourceStats>,
    latency: Latency,
    /// The run's graceful stop: receive nothing more.
    graceful: CancellationToken,
    last_message: Mutex<Instant>,
    /// The acker and heartbeat end when this is cancelled and nothing is left to do.
    closing: CancellationToken,
}

impl State {
    fn over_budget(&self) -> bool {
        self.held.lock().len() >= self.settings.max_messages_in_flight
            || self.stats.bytes_in_flight.load(Ordering::Acquire)
                >= i64::try_from(self.settings.max_bytes_in_flight).unwrap_or(i64::MAX)
    }

    fn held_count(&self) -> usize {
        self.held.lock().len()
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
            let quiet_until = *self.last_message.lock() + idle;
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
    settle_rx: Option<mpsc::UnboundedReceiver<Disposition>>,
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
            let left: Vec<u64> = state.held.lock().keys().copied().collect();
            for id in left {
                let _ = state.settle_tx.send(Disposition::Return {
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
