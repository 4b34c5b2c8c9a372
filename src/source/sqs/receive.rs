//! The receivers: long-poll the queue, hold each message, and hand the objects it names to
//! the pipeline; [`ObjectDone`] ends one object and counts it towards its message.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use backon::{BackoffBuilder, ExponentialBuilder};
use tokio::sync::mpsc;

use super::{Disposition, Held, SqsSettings, State};
use crate::ack::{AckListener, MessageAck, Outcome};
use crate::pipeline::Object;
use crate::source::fetch::{Fetcher, Location};
use crate::source::notification::{self, Notification, ObjectRef};
use crate::source::recent::{ObjectId, Seen};
use crate::source::SourceStats;

/// Backoff between failed receives: from half a second to 30 s, with jitter, never giving up.
fn receive_backoff() -> impl Iterator<Item = Duration> {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(500))
        .with_max_delay(Duration::from_secs(30))
        .without_max_times()
        .with_jitter()
        .build()
}

pub(super) async fn receiver(state: Arc<State>, fetcher: Arc<Fetcher>, tx: mpsc::Sender<Object>) {
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
        *state.last_message.lock() = Instant::now();
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
            let _ = state.settle_tx.send(Disposition::DeleteUnheld { receipt });
            return vec![];
        }
        Notification::Objects { objects, ignored } => (objects, ignored),
    };
    SourceStats::add(&stats.ignored_records, ignored as u64);
    if objects.is_empty() {
        let _ = state.settle_tx.send(Disposition::DeleteUnheld { receipt });
        return vec![];
    }
    let id = state.next_id.fetch_add(1, Ordering::Relaxed);
    let now = Instant::now();
    state.held.lock().insert(
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
            Disposition::Delete { id }
        } else {
            let delay = if graceful.is_cancelled() {
                Duration::ZERO
            } else {
                (retry * 2u32.saturating_pow(receive_count.saturating_sub(1).min(10)))
                    .min(Duration::from_secs(SqsSettings::MAX_RETRY_DELAY_S))
            };
            Disposition::Return { id, delay }
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
        let seen = state.recent.lock().begin(&oid, ack.clone());
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
        let waiters = state.recent.lock().end(&self.id, outcome);
        for w in waiters {
            w.object_done(key, outcome);
        }
        self.ack.object_done(key, outcome);
        state.settled.notify_waiters();
    }
}
