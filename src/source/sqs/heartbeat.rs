//! The heartbeat: extends every held message at half its visibility timeout, batched, up to
//! `--max-hold`, so an object that takes longer than the timeout is not handed to a second
//! reader.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::acknowledge::change_visibility;
use super::State;
use crate::source::SourceStats;

/// Extends held messages at half their visibility timeout, up to the maximum hold.
pub(super) async fn heartbeat(state: Arc<State>) {
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
            let mut held = state.held.lock();
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
                let mut held = state.held.lock();
                for (id, _) in batch {
                    if let Some(h) = held.get_mut(id) {
                        h.visible_until = until;
                    }
                }
            }
        }
    }
}
