//! Who may acknowledge which object, and when.
//!
//! Every object read gets a [`Ticket`]. Clones of it travel with the record chunks cut from the
//! object and with every batch that holds one of its rows. The object is finished when the
//! last clone is dropped: by then its framing ended and every batch carrying its rows was
//! accepted by the sink (or its records were dead-lettered). This is reference counting rather
//! than a ledger of row counts, so no stage needs to know how many rows an object will give
//! before it has read them, and a batch mixing rows of many small objects (the normal case:
//! CloudTrail files are a few KB) releases them all at once when it is accepted.
//!
//! A sink that cannot deliver a batch marks its tickets failed; the listener then learns that
//! the object must not be acknowledged (for SQS: the message is not deleted and comes back).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every row was accepted by the sink or dead-lettered.
    Delivered,
    /// Some row could not be delivered; the object must be read again later.
    Failed,
}

/// Told once per object when its last ticket is dropped.
pub trait AckListener: Send + Sync {
    fn object_done(&self, key: &str, outcome: Outcome);
}

struct Inner {
    key: Box<str>,
    failed: AtomicBool,
    listener: Arc<dyn AckListener>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let outcome = if self.failed.load(Ordering::Acquire) {
            Outcome::Failed
        } else {
            Outcome::Delivered
        };
        self.listener.object_done(&self.key, outcome);
    }
}

#[derive(Clone)]
pub struct Ticket(Arc<Inner>);

impl Ticket {
    pub fn new(key: &str, listener: Arc<dyn AckListener>) -> Self {
        Ticket(Arc::new(Inner {
            key: key.into(),
            failed: AtomicBool::new(false),
            listener,
        }))
    }

    pub fn key(&self) -> &str {
        &self.0.key
    }

    /// Marks the object as not delivered. Sticky: a later success does not undo it.
    pub fn fail(&self) {
        self.0.failed.store(true, Ordering::Release);
    }

    pub fn same_object(&self, other: &Ticket) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl std::fmt::Debug for Ticket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ticket({})", self.0.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Log(Mutex<Vec<(String, Outcome)>>);
    impl AckListener for Log {
        fn object_done(&self, key: &str, outcome: Outcome) {
            self.0.lock().unwrap().push((key.to_string(), outcome));
        }
    }

    #[test]
    fn fires_once_when_the_last_clone_drops() {
        let log = Arc::new(Log::default());
        let t = Ticket::new("a", log.clone());
        let t2 = t.clone();
        drop(t);
        assert!(log.0.lock().unwrap().is_empty());
        drop(t2);
        assert_eq!(
            *log.0.lock().unwrap(),
            vec![("a".to_string(), Outcome::Delivered)]
        );

        let t = Ticket::new("b", log.clone());
        t.clone().fail();
        drop(t);
        assert_eq!(log.0.lock().unwrap()[1], ("b".to_string(), Outcome::Failed));
    }
}
