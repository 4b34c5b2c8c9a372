//! The acker: turns settled messages into `DeleteMessageBatch` calls (delivered) and
//! `ChangeMessageVisibilityBatch` calls (returned), batched by 10 and sent concurrently, so
//! neither the receivers nor the workers wait for them.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry,
};
use backon::{BackoffBuilder, ExponentialBuilder};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::{Disposition, State};
use crate::source::SourceStats;

/// Batches settles into SQS calls and sends them concurrently.
pub(super) async fn acker(state: Arc<State>, mut rx: mpsc::UnboundedReceiver<Disposition>) {
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
        let take = |s: Disposition,
                    deletes: &mut Vec<String>,
                    returns: &mut Vec<(String, Duration)>| {
            match s {
                Disposition::DeleteUnheld { receipt } => deletes.push(receipt),
                Disposition::Delete { id } | Disposition::Return { id, .. } => {
                    let Some(held) = state.held.lock().remove(&id) else {
                        return;
                    };
                    state
                        .stats
                        .messages_in_flight
                        .fetch_sub(1, Ordering::Relaxed);
                    match s {
                        Disposition::Return { delay, .. } => returns.push((held.receipt, delay)),
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
pub(super) async fn change_visibility(state: &State, entries: &[(String, Duration)]) -> bool {
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
