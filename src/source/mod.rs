//! Where objects come from, each implementing [`crate::pipeline::Source`]:
//! - [`dir`]: a local copy of a bucket, read once;
//! - [`sqs`]: the production source, S3 notifications received from an SQS queue, objects
//!   fetched from S3 ([`fetch`]), messages deleted only when their objects were delivered;
//! - [`backfill`]: objects listed under an S3 prefix, with a resumable checkpoint.
//!
//! [`notification`] reads SQS message bodies (S3, SNS and EventBridge notifications) into the
//! objects they name; [`aws`] builds the SDK clients; [`recent`] remembers which objects this
//! instance finished, so a repeated notification is acknowledged without reading it again.

pub mod args;
pub mod aws;
pub mod backfill;
pub mod dir;
pub mod fetch;
pub mod notification;
pub mod recent;
pub mod sqs;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use crate::stats::Counters;

/// Counters of the SQS and S3 sources, read by the summary and the metrics endpoint.
#[derive(Debug, Default)]
pub struct SourceStats {
    pub messages_received: AtomicU64,
    pub messages_deleted: AtomicU64,
    /// Made visible again (not delivered, or released at shutdown).
    pub messages_returned: AtomicU64,
    pub messages_poison: AtomicU64,
    pub messages_test_event: AtomicU64,
    pub visibility_extensions: AtomicU64,
    /// Held past `--max-hold`: no longer extended, left to come back.
    pub hold_expired: AtomicU64,
    /// Objects announced again after this instance had finished (or was reading) them.
    pub duplicate_objects: AtomicU64,
    /// Notification records that name nothing to read (deletes, tags, ...).
    pub ignored_records: AtomicU64,
    pub receive_errors: AtomicU64,
    pub delete_errors: AtomicU64,
    pub visibility_errors: AtomicU64,
    pub objects_listed: AtomicU64,
    pub objects_fetched: AtomicU64,
    pub bytes_fetched: AtomicU64,
    pub ranged_parts: AtomicU64,
    pub fetch_retries: AtomicU64,
    pub fetch_errors: AtomicU64,
    /// Gauges.
    pub messages_in_flight: AtomicI64,
    pub bytes_in_flight: AtomicI64,
}

impl SourceStats {
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    /// The counters by name (gauges excluded), zeros left out.
    pub fn counters(&self) -> Counters {
        let mut c = Counters::default();
        for (name, v) in self.named() {
            let v = v.load(Ordering::Relaxed);
            if v > 0 {
                c.add(name, v);
            }
        }
        c
    }

    pub fn named(&self) -> [(&'static str, &AtomicU64); 18] {
        [
            ("messages_received", &self.messages_received),
            ("messages_deleted", &self.messages_deleted),
            ("messages_returned", &self.messages_returned),
            ("messages_poison", &self.messages_poison),
            ("messages_test_event", &self.messages_test_event),
            ("visibility_extensions", &self.visibility_extensions),
            ("hold_expired", &self.hold_expired),
            ("duplicate_objects", &self.duplicate_objects),
            ("ignored_records", &self.ignored_records),
            ("receive_errors", &self.receive_errors),
            ("delete_errors", &self.delete_errors),
            ("visibility_errors", &self.visibility_errors),
            ("objects_listed", &self.objects_listed),
            ("objects_fetched", &self.objects_fetched),
            ("bytes_fetched", &self.bytes_fetched),
            ("ranged_parts", &self.ranged_parts),
            ("fetch_retries", &self.fetch_retries),
            ("fetch_errors", &self.fetch_errors),
        ]
    }
}

/// Wraps a read-once source (`dir:`, `s3:`) so that a graceful stop
/// ([`crate::run_context::RunContext::graceful`]) stops it handing out objects: what was handed
/// out finishes and is delivered, the rest is left for the next run (with `--checkpoint`,
/// exactly where this one stopped).
pub struct Stoppable<S> {
    pub inner: S,
    pub graceful: tokio_util::sync::CancellationToken,
}

impl<S: crate::pipeline::Source> crate::pipeline::Source for Stoppable<S> {
    fn total_bytes(&self) -> Option<u64> {
        self.inner.total_bytes()
    }
    fn run(
        &mut self,
        emit: &mut dyn FnMut(crate::pipeline::Object) -> bool,
    ) -> std::io::Result<()> {
        let graceful = self.graceful.clone();
        self.inner
            .run(&mut |object| !graceful.is_cancelled() && emit(object))
    }
    fn finish(&mut self) -> std::io::Result<()> {
        self.inner.finish()
    }
    fn counters(&self) -> Counters {
        self.inner.counters()
    }
}
