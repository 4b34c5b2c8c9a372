//! Which object versions this instance finished recently, or is reading now.
//!
//! S3 notifications are at least once: the same object can be announced twice (a redelivered
//! message, a multipart upload that some stores announce twice, a bucket with two overlapping
//! notification rules). An object version is identified by bucket, key and version id (or
//! ETag). A repeat of one that was delivered is acknowledged without reading it again; a
//! repeat of one being read waits for that read and shares its outcome, so its message is
//! deleted only if the object really was delivered.
//!
//! Memory is bounded: the finished set forgets its oldest entries beyond its capacity, so the
//! guarantee is "recently", which covers redeliveries (minutes) but not a replay of last
//! month's notifications.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use crate::ack::{AckListener, Outcome};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectId {
    pub bucket: String,
    pub key: String,
    /// Version id, else ETag, else nothing (then any repeat of the key is the same object).
    pub version: Option<String>,
}

pub enum Seen {
    /// Not seen: read it.
    New,
    /// Delivered recently: acknowledge it.
    Done,
    /// Being read: the listener was queued and will be told the outcome.
    Reading,
}

pub struct Recent {
    done: HashSet<ObjectId>,
    order: VecDeque<ObjectId>,
    capacity: usize,
    reading: HashMap<ObjectId, Vec<Arc<dyn AckListener>>>,
}

impl Recent {
    pub fn new(capacity: usize) -> Self {
        Recent {
            done: HashSet::new(),
            order: VecDeque::new(),
            capacity,
            reading: HashMap::new(),
        }
    }

    /// Notes that `id` is wanted; when it is being read already, `waiter` is told its
    /// outcome later.
    pub fn begin(&mut self, id: &ObjectId, waiter: Arc<dyn AckListener>) -> Seen {
        if self.done.contains(id) {
            return Seen::Done;
        }
        if let Some(w) = self.reading.get_mut(id) {
            w.push(waiter);
            return Seen::Reading;
        }
        self.reading.insert(id.clone(), Vec::new());
        Seen::New
    }

    /// The read of `id` ended; returns the listeners that waited for it.
    pub fn end(&mut self, id: &ObjectId, outcome: Outcome) -> Vec<Arc<dyn AckListener>> {
        let waiters = self.reading.remove(id).unwrap_or_default();
        if outcome == Outcome::Delivered && self.capacity > 0 && self.done.insert(id.clone()) {
            self.order.push_back(id.clone());
            while self.order.len() > self.capacity {
                if let Some(old) = self.order.pop_front() {
                    self.done.remove(&old);
                }
            }
        }
        waiters
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Log(Mutex<Vec<Outcome>>);
    impl AckListener for Log {
        fn object_done(&self, _: &str, o: Outcome) {
            self.0.lock().unwrap().push(o);
        }
    }

    fn id(k: &str) -> ObjectId {
        ObjectId {
            bucket: "b".into(),
            key: k.into(),
            version: Some("e".into()),
        }
    }

    #[test]
    fn repeats_share_the_outcome_and_finished_ones_are_remembered_up_to_capacity() {
        let mut r = Recent::new(2);
        let log = Arc::new(Log::default());
        assert!(matches!(r.begin(&id("a"), log.clone()), Seen::New));
        assert!(matches!(r.begin(&id("a"), log.clone()), Seen::Reading));
        let waiters = r.end(&id("a"), Outcome::Delivered);
        assert_eq!(waiters.len(), 1);
        assert!(matches!(r.begin(&id("a"), log.clone()), Seen::Done));

        // A failed read is not remembered: the next notification reads it again.
        assert!(matches!(r.begin(&id("f"), log.clone()), Seen::New));
        assert!(r.end(&id("f"), Outcome::Failed).is_empty());
        assert!(matches!(r.begin(&id("f"), log.clone()), Seen::New));
        r.end(&id("f"), Outcome::Delivered);

        // Capacity 2: "a" is forgotten once "b" and "c" finished after it... and "f".
        for k in ["b", "c"] {
            assert!(matches!(r.begin(&id(k), log.clone()), Seen::New));
            r.end(&id(k), Outcome::Delivered);
        }
        assert!(matches!(r.begin(&id("a"), log.clone()), Seen::New));
        assert!(matches!(r.begin(&id("c"), log.clone()), Seen::Done));

        // Another version of the same key is another object.
        let mut v2 = id("c");
        v2.version = Some("e2".into());
        assert!(matches!(r.begin(&v2, log), Seen::New));
    }
}
