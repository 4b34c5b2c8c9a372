//! Who may acknowledge which object, and when.
//!
//! Every object read gets a [`Ticket`]. Clones of it travel with the record chunks cut from the
//! object and with every batch that holds one of its rows. The object is finished when the
//! last clone is dropped. This is reference counting rather than a ledger of row counts, so no
//! stage needs to know how many rows an object will give before it has read them, and a batch
//! mixing rows of many small objects (the normal case: CloudTrail files are a few KB) settles
//! them all at once when it is accepted.
//!
//! Failure is the default. Each clone stands for work not yet done: the reader's for reading
//! the object, a chunk's for mapping its records, a batch's for delivering its rows. A holder
//! that finished its part calls [`Ticket::release`]; a clone dropped any other way (an aborted
//! run, a queue dropped at shutdown, a panic unwinding, a sink that failed) marks the object
//! failed. So an object is reported delivered only if every part of it positively completed,
//! and the listener (for SQS: the message delete) never acts on an object whose rows were lost.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every row was accepted by the sink or dead-lettered.
    Delivered,
    /// Some row could not be delivered; the object must be read again later.
    Failed,
}

/// Told once per object when its last ticket is gone.
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

/// One holder's share of an object. Release it when the holder's part is done; dropping it
/// unreleased fails the object.
pub struct Ticket {
    inner: Arc<Inner>,
    released: bool,
}

impl Clone for Ticket {
    fn clone(&self) -> Self {
        Ticket {
            inner: self.inner.clone(),
            released: false,
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if !self.released {
            self.inner.failed.store(true, Ordering::Release);
        }
    }
}

impl Ticket {
    pub fn new(key: &str, listener: Arc<dyn AckListener>) -> Self {
        Ticket {
            inner: Arc::new(Inner {
                key: key.into(),
                failed: AtomicBool::new(false),
                listener,
            }),
            released: false,
        }
    }

    pub fn key(&self) -> &str {
        &self.inner.key
    }

    /// This holder's part is done.
    pub fn release(mut self) {
        self.released = true;
    }

    /// Marks the object as not delivered. Sticky: a later success does not undo it.
    pub fn fail(&self) {
        self.inner.failed.store(true, Ordering::Release);
    }

    pub fn same_object(&self, other: &Ticket) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl std::fmt::Debug for Ticket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ticket({})", self.inner.key)
    }
}

/// Settles one queue message from the outcomes of the objects it names: `settle` is called
/// once, after the last of them ended, with whether every one was delivered. An SQS source
/// deletes the message then, and only then; otherwise it leaves (or releases) it so that it
/// comes back. Give each of the message's objects this listener.
pub struct MessageAck {
    remaining: std::sync::atomic::AtomicUsize,
    failed: AtomicBool,
    settle: Box<dyn Fn(bool) + Send + Sync>,
}

impl MessageAck {
    /// A message naming `objects` objects (at least one: a message naming none is settled by
    /// its source directly).
    pub fn new(objects: usize, settle: impl Fn(bool) + Send + Sync + 'static) -> Arc<Self> {
        debug_assert!(objects > 0);
        Arc::new(MessageAck {
            remaining: std::sync::atomic::AtomicUsize::new(objects),
            failed: AtomicBool::new(false),
            settle: Box::new(settle),
        })
    }
}

impl AckListener for MessageAck {
    fn object_done(&self, _key: &str, outcome: Outcome) {
        if outcome == Outcome::Failed {
            self.failed.store(true, Ordering::Release);
        }
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            (self.settle)(!self.failed.load(Ordering::Acquire));
        }
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
    fn a_message_settles_once_after_its_last_object() {
        let settled = Arc::new(Mutex::new(Vec::new()));
        let s = settled.clone();
        let msg = MessageAck::new(3, move |ok| s.lock().unwrap().push(ok));
        msg.object_done("a", Outcome::Delivered);
        msg.object_done("b", Outcome::Failed);
        assert!(settled.lock().unwrap().is_empty());
        msg.object_done("c", Outcome::Delivered);
        assert_eq!(*settled.lock().unwrap(), vec![false]);

        let s = settled.clone();
        let msg = MessageAck::new(2, move |ok| s.lock().unwrap().push(ok));
        msg.object_done("a", Outcome::Delivered);
        msg.object_done("b", Outcome::Delivered);
        assert_eq!(*settled.lock().unwrap(), vec![false, true]);
    }

    #[test]
    fn delivered_only_when_every_clone_was_released() {
        let log = Arc::new(Log::default());
        let t = Ticket::new("a", log.clone());
        let t2 = t.clone();
        t.release();
        assert!(log.0.lock().unwrap().is_empty());
        t2.release();
        assert_eq!(
            *log.0.lock().unwrap(),
            vec![("a".to_string(), Outcome::Delivered)]
        );

        // A clone dropped without release (a lost batch, an aborted read) fails the object.
        let t = Ticket::new("b", log.clone());
        let lost = t.clone();
        drop(lost);
        t.release();
        assert_eq!(log.0.lock().unwrap()[1], ("b".to_string(), Outcome::Failed));

        let t = Ticket::new("c", log.clone());
        t.fail();
        t.release();
        assert_eq!(log.0.lock().unwrap()[2], ("c".to_string(), Outcome::Failed));
    }
}
