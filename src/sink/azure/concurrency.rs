//! How many requests each DCR target gets at once, and which target a request goes to.
//!
//! Azure's limits are per DCR (requests and bytes per minute) and it says so with 429 and
//! `Retry-After`; latency rises before that when the ingestion front end is busy. Each target
//! therefore has its own limit, adjusted the way TCP and Vector's adaptive request concurrency
//! do it (additive increase, multiplicative decrease):
//! - a request accepted while the target's latency is near its best: the limit grows by
//!   `1/limit` (one more request per round of answers);
//! - 429, 5xx, a timeout or a dropped connection: the limit halves, at most once per round
//!   trip so one burst of failures counts once; a 429 also pauses the target until its
//!   `Retry-After` has passed;
//! - latency (a moving average) above twice its best (a slowly forgiving minimum): the limit
//!   shrinks by a tenth, once per round trip.
//!
//! A request takes a slot on the target with the most free room that is not paused, so load
//! shifts away from a throttled or slow DCR to the others of the same table, and comes back
//! as its limit recovers. Waiting for a slot is async; a release or the end of a pause wakes
//! the waiters.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::Notify;

#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub initial: f64,
    pub max: f64,
}

struct State {
    limit: f64,
    in_flight: usize,
    paused_until: Option<Instant>,
    /// Moving average of round-trip times (seconds).
    rtt: Option<f64>,
    /// The best moving average seen, drifting up slowly so an old best is forgotten.
    best_rtt: Option<f64>,
    last_decrease: Option<Instant>,
}

/// One target's adaptive limit.
pub struct Limiter {
    state: Mutex<State>,
    bounds: Bounds,
}

impl Limiter {
    pub fn new(bounds: Bounds) -> Self {
        Limiter {
            state: Mutex::new(State {
                limit: bounds.initial.clamp(1.0, bounds.max),
                in_flight: 0,
                paused_until: None,
                rtt: None,
                best_rtt: None,
                last_decrease: None,
            }),
            bounds,
        }
    }

    pub fn limit(&self) -> f64 {
        self.state.lock().limit
    }

    pub fn in_flight(&self) -> usize {
        self.state.lock().in_flight
    }

    /// Free room as a share of the limit; `None` when paused or full.
    fn room(&self, now: Instant) -> Option<f64> {
        let s = self.state.lock();
        if s.paused_until.is_some_and(|p| now < p) {
            return None;
        }
        let limit = s.limit.floor().max(1.0);
        let free = limit - s.in_flight as f64;
        (free >= 1.0).then_some(free / limit)
    }

    fn pause_end(&self, now: Instant) -> Option<Instant> {
        self.state.lock().paused_until.filter(|&p| p > now)
    }

    /// Takes a slot if there is still room (checked again under the same lock, so two
    /// callers that both saw room cannot both exceed the limit).
    fn try_take(&self, now: Instant) -> bool {
        let mut s = self.state.lock();
        if s.paused_until.is_some_and(|p| now < p) {
            return false;
        }
        if (s.in_flight as f64) + 1.0 > s.limit.floor().max(1.0) {
            return false;
        }
        s.in_flight += 1;
        true
    }

    fn release(&self) {
        let mut s = self.state.lock();
        s.in_flight = s.in_flight.saturating_sub(1);
    }

    fn decrease(s: &mut State, factor: f64, now: Instant) {
        let round = Duration::from_secs_f64(s.rtt.unwrap_or(0.05).max(0.01));
        if s.last_decrease
            .is_some_and(|t| now.duration_since(t) < round)
        {
            return;
        }
        s.limit = (s.limit * factor).max(1.0);
        s.last_decrease = Some(now);
    }

    /// An accepted request and its round trip.
    pub fn succeeded(&self, rtt: Duration) {
        let now = Instant::now();
        let mut s = self.state.lock();
        let x = rtt.as_secs_f64();
        let avg = match s.rtt {
            None => x,
            Some(a) => 0.8 * a + 0.2 * x,
        };
        s.rtt = Some(avg);
        let best = match s.best_rtt {
            None => avg,
            // Drift up by 1% per answer so a best from a quieter time is forgotten.
            Some(b) => (b * 1.01).min(avg),
        };
        s.best_rtt = Some(best);
        if avg > 2.0 * best && avg > 0.005 {
            Self::decrease(&mut s, 0.9, now);
        } else {
            s.limit = (s.limit + 1.0 / s.limit).min(self.bounds.max);
        }
    }

    /// 429: pause for `retry_after` and halve.
    pub fn throttled(&self, retry_after: Duration) {
        let now = Instant::now();
        let mut s = self.state.lock();
        let until = now + retry_after;
        s.paused_until = Some(s.paused_until.map_or(until, |p| p.max(until)));
        Self::decrease(&mut s, 0.5, now);
    }

    /// 5xx, timeout, connection error: halve.
    pub fn failed(&self) {
        let now = Instant::now();
        Self::decrease(&mut self.state.lock(), 0.5, now);
    }
}

/// The targets of one table and the waiters for a slot on any of them.
pub struct Group<T> {
    targets: Vec<Arc<T>>,
    wake: Notify,
    next: std::sync::atomic::AtomicUsize,
}

pub trait HasLimiter {
    fn limiter(&self) -> &Limiter;
}

/// A slot on one target; released on drop.
pub struct Slot<'a, T: HasLimiter> {
    pub target: Arc<T>,
    group: &'a Group<T>,
}

impl<T: HasLimiter> Drop for Slot<'_, T> {
    fn drop(&mut self) {
        self.target.limiter().release();
        self.group.wake.notify_waiters();
    }
}

impl<T: HasLimiter> Group<T> {
    pub fn new(targets: Vec<Arc<T>>) -> Self {
        Group {
            targets,
            wake: Notify::new(),
            next: Default::default(),
        }
    }

    pub fn targets(&self) -> &[Arc<T>] {
        &self.targets
    }

    /// A slot on the target with the most free room now, if any; ties go round-robin. The
    /// room is read without holding every lock, so the chosen target may fill meanwhile: then
    /// the next best is tried.
    fn try_pick(&self) -> Option<Arc<T>> {
        let now = Instant::now();
        let n = self.targets.len();
        let start = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut ranked: Vec<(f64, usize)> = (0..n)
            .filter_map(|i| {
                let idx = (start + i) % n;
                self.targets[idx].limiter().room(now).map(|r| (r, idx))
            })
            .collect();
        // Stable: equal rooms keep the round-robin order.
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
        ranked
            .into_iter()
            .map(|(_, idx)| &self.targets[idx])
            .find(|t| t.limiter().try_take(now))
            .cloned()
    }

    /// Waits for a slot on some target.
    pub async fn acquire(&self) -> Slot<'_, T> {
        loop {
            let notified = self.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(target) = self.try_pick() {
                return Slot {
                    target,
                    group: self,
                };
            }
            // A pause ends without anyone releasing: wake up for it.
            let now = Instant::now();
            let pause_end = self
                .targets
                .iter()
                .filter_map(|t| t.limiter().pause_end(now))
                .min();
            let wait = pause_end.map_or(Duration::from_millis(250), |p| p - now);
            let _ = tokio::time::timeout(wait.max(Duration::from_millis(1)), notified).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct T(Limiter);
    impl HasLimiter for T {
        fn limiter(&self) -> &Limiter {
            &self.0
        }
    }

    fn bounds() -> Bounds {
        Bounds {
            initial: 4.0,
            max: 16.0,
        }
    }

    #[test]
    fn grows_when_healthy_and_halves_on_failure() {
        let l = Limiter::new(bounds());
        for _ in 0..100 {
            l.succeeded(Duration::from_millis(10));
        }
        assert!(l.limit() > 10.0, "{}", l.limit());
        assert!(l.limit() <= 16.0);
        let before = l.limit();
        l.failed();
        l.failed(); // same round trip: counted once
        assert!((l.limit() - before / 2.0).abs() < 1e-9, "{}", l.limit());
    }

    #[test]
    fn latency_far_above_its_best_shrinks_the_limit() {
        let l = Limiter::new(bounds());
        for _ in 0..20 {
            l.succeeded(Duration::from_millis(10));
        }
        let before = l.limit();
        std::thread::sleep(Duration::from_millis(30));
        for _ in 0..10 {
            l.succeeded(Duration::from_millis(200));
        }
        assert!(l.limit() < before, "{} !< {before}", l.limit());
    }

    #[test]
    fn slots_never_exceed_the_limit_under_contention() {
        let g = Arc::new(Group::new(vec![Arc::new(T(Limiter::new(Bounds {
            initial: 3.0,
            max: 3.0,
        })))]));
        let taken = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..1000 {
                        if g.try_pick().is_some() {
                            taken.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        // Nothing was released: exactly the limit was handed out.
        assert_eq!(taken.into_inner(), 3);
        assert_eq!(g.targets()[0].0.in_flight(), 3);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_throttled_target_gives_its_load_to_the_other() {
        let g = Group::new(vec![
            Arc::new(T(Limiter::new(bounds()))),
            Arc::new(T(Limiter::new(bounds()))),
        ]);
        g.targets()[0].0.throttled(Duration::from_secs(60));
        for _ in 0..4 {
            let s = g.acquire().await;
            assert!(Arc::ptr_eq(&s.target, &g.targets()[1]));
        }
        // Both free: the slots spread over both.
        let g = Group::new(vec![
            Arc::new(T(Limiter::new(bounds()))),
            Arc::new(T(Limiter::new(bounds()))),
        ]);
        let slots: Vec<_> = futures_util::future::join_all((0..8).map(|_| g.acquire())).await;
        let on_first = slots
            .iter()
            .filter(|s| Arc::ptr_eq(&s.target, &g.targets()[0]))
            .count();
        assert_eq!(on_first, 4);
        // Full: the next waits until one is released.
        let waiter = g.acquire();
        tokio::pin!(waiter);
        assert!(tokio::time::timeout(Duration::from_millis(20), &mut waiter)
            .await
            .is_err());
        drop(slots);
        tokio::time::timeout(Duration::from_secs(1), waiter)
            .await
            .expect("a released slot wakes the waiter");
    }
}
