//! What every stage of a run shares: the two ways it is told to stop, and the counters it
//! reports into. Built once per run and handed, by reference, to every constructor that needs
//! part of it (`Fetcher::new`, `SqsSource::new`, `BackfillSource::new`, `AzureSink::new`),
//! rather than each taking its own list of handles.
//!
//! **Two stops, one mechanism.** Both are a `tokio_util::sync::CancellationToken`, because the
//! run has both kinds of code: asynchronous tasks (SQS receivers, Azure deliveries) await
//! [`CancellationToken::cancelled`] in a `select!` and wake the moment it is cancelled, and the
//! synchronous pipeline threads check [`CancellationToken::is_cancelled`] between units of
//! work. An atomic flag polled in sleep loops (how the abort used to work) woke the deliveries
//! up to 250 ms late and cost a timer per waiting task; a `tokio::sync::Notify` needed an
//! atomic beside it for the threads. The token is both.
//! - [`RunContext::graceful`]: stop taking new work and finish what is held (the first SIGINT
//!   or SIGTERM, `--stop-when-idle`, or a source whose pipeline stopped). Sources stop handing
//!   out objects; what they handed out is delivered.
//! - [`RunContext::abort`]: give up the work in hand (a failure: the sink stopped, a dead
//!   letter could not be written, a thread panicked; or the SQS shutdown deadline passed).
//!   Objects being read fail and deliveries waiting for a slot, an answer or a retry end, so
//!   their messages come back to the queue.
//!
//! The two are independent, as they always were: an abort does not by itself request a
//! graceful stop (a source learns of a failure when the pipeline refuses its next object),
//! and a graceful stop never aborts anything until its deadline.
//!
//! **Waits that remain timed.** A few loops still wake on a timer, because what they wait for
//! is work or time, not a stop, and a channel wait would not be clearer:
//! - the pipeline's draining workers (`src/pipeline/mod.rs`, `recv_timeout` of 5 ms) wait for
//!   a chunk *or* for the last reader to finish, and the reader count is an atomic, not a
//!   channel: the timeout is how a worker sees it reach zero. The workers' `default(linger)`
//!   flushes the batches that waited too long;
//! - the SQS heartbeat ticks to extend visibility and the acker waits up to its batch window
//!   (`src/source/sqs.rs`); retries back off (SQS receive, S3 fetch resume, Azure
//!   `Retry-After`); an Azure target group waits for a pause to end
//!   (`src/sink/azure/concurrency.rs`). Those that can last long (the SQS receive backoff,
//!   the Azure waits, the heartbeat) await the matching token beside their timer;
//! - the progress bar (`src/pipeline/summary.rs`) redraws every 100 ms and checks its own
//!   stop flag between redraws: ending it costs at most one redraw, once, after the run.
//!
//! The threads check the abort once per chunk or object, never per record:
//! `CancellationToken::is_cancelled` takes an uncontended lock, which costs nothing at that
//! rate.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::sink::azure::SinkStats;
use crate::source::SourceStats;
use crate::stats::Stats;

/// The run's stop signals and shared counters. Cloning is cheap (handles only), and a clone
/// is the same run: cancelling one clone's token cancels them all.
#[derive(Clone, Default)]
pub struct RunContext {
    /// Stop taking new work; finish what is held.
    pub graceful: CancellationToken,
    /// Give up the work in hand at once.
    pub abort: CancellationToken,
    /// The pipeline's counters and latency histograms (`Stats::latency`), read by the summary
    /// and the metrics endpoint.
    pub stats: Arc<Stats>,
    /// The SQS and S3 sources' counters.
    pub source_stats: Arc<SourceStats>,
    /// The Azure sink's calls and limits.
    pub sink_stats: Arc<SinkStats>,
}

impl RunContext {
    /// A context that reports into `stats` (and fresh source and sink counters).
    pub fn with_stats(stats: Arc<Stats>) -> Self {
        RunContext {
            stats,
            ..RunContext::default()
        }
    }

    /// Cancels [`RunContext::graceful`] on the first SIGINT or SIGTERM and exits the process
    /// (status 130) on the second. Needs a tokio runtime with I/O and time enabled.
    pub fn listen_for_signals(&self, rt: &tokio::runtime::Handle) {
        let graceful = self.graceful.clone();
        rt.spawn(async move {
            let mut count = 0;
            loop {
                wait_for_signal().await;
                count += 1;
                if count == 1 {
                    tracing::warn!(
                        "shutdown requested: finishing the work in hand (signal again to exit at once)"
                    );
                    graceful.cancel();
                } else {
                    tracing::error!("second signal: exiting now");
                    std::process::exit(130);
                }
            }
        });
    }
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM; only SIGINT stops gracefully");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clone_shares_the_tokens_and_the_counters() {
        let ctx = RunContext::default();
        let other = ctx.clone();
        other.graceful.cancel();
        assert!(ctx.graceful.is_cancelled());
        assert!(!ctx.abort.is_cancelled(), "a graceful stop is no abort");
        ctx.abort.cancel();
        assert!(other.abort.is_cancelled());
        assert!(Arc::ptr_eq(&ctx.stats, &other.stats));
    }

    #[test]
    fn an_abort_does_not_request_a_graceful_stop() {
        let ctx = RunContext::default();
        ctx.abort.cancel();
        assert!(!ctx.graceful.is_cancelled());
    }

    #[test]
    fn an_awaited_token_wakes_when_cancelled_from_a_thread() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let ctx = RunContext::default();
        let abort = ctx.abort.clone();
        let t = std::thread::spawn(move || abort.cancel());
        let woke = rt.block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(5), ctx.abort.cancelled()).await
        });
        assert!(woke.is_ok(), "the cancelled token did not wake its waiter");
        t.join().unwrap();
    }
}
