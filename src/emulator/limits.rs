//! Per-DCR rate limits: requests per minute and bytes per minute.
//!
//! The documented limits ("Azure Monitor service limits", Logs Ingestion API section,
//! <https://learn.microsoft.com/azure/azure-monitor/service-limits>) are per DCR: 12,000
//! requests/min and 2 GB/min, "compressed and uncompressed"; over them the API answers 429 and
//! the client must "retry after the duration listed in the Retry-After header". How Azure
//! measures the minute is not documented; the emulator uses a sliding 60-second window, which
//! is the strictest reading (no burst at a window edge), and answers `Retry-After` with the
//! whole seconds until the window would admit the request (at least 1).
//!
//! Choices the documents leave open:
//! - Bytes are the request's decoded (uncompressed) JSON size: the limit applies to both forms
//!   and the uncompressed one is the larger, so it is the one that binds.
//! - A request counts once it is admitted here, whatever happens to it afterwards (a 400 for a
//!   bad row still cost Azure the work). Requests refused with 429 do not count, so a client
//!   that waits `Retry-After` is admitted.
//! - A single request larger than the whole byte budget can never be admitted; it gets
//!   `Retry-After: 60`.

use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);

/// The limits, and the recent admitted requests of each DCR.
pub struct RateLimits {
    requests_per_minute: u64,
    bytes_per_minute: u64,
    windows: Mutex<HashMap<String, Window>>,
}

#[derive(Default)]
struct Window {
    /// (admitted at, bytes), oldest first.
    entries: VecDeque<(Instant, u64)>,
    bytes: u64,
}

/// Why a request was refused, and when to come back.
#[derive(Debug, PartialEq, Eq)]
pub struct Throttled {
    pub retry_after_secs: u64,
    pub by_bytes: bool,
}

impl RateLimits {
    pub fn new(requests_per_minute: u64, bytes_per_minute: u64) -> Self {
        RateLimits {
            requests_per_minute,
            bytes_per_minute,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Admits a request of `bytes` to `dcr` now, or says when it would be admitted.
    pub fn admit(&self, dcr: &str, bytes: u64) -> Result<(), Throttled> {
        self.admit_at(dcr, bytes, Instant::now())
    }

    fn admit_at(&self, dcr: &str, bytes: u64, now: Instant) -> Result<(), Throttled> {
        let mut windows = self.windows.lock();
        let w = windows.entry(dcr.to_string()).or_default();
        while let Some(&(at, b)) = w.entries.front() {
            if now.duration_since(at) < WINDOW {
                break;
            }
            w.entries.pop_front();
            w.bytes -= b;
        }
        let secs_until = |at: Instant| {
            let left = (at + WINDOW).saturating_duration_since(now);
            left.as_secs() + u64::from(left.subsec_nanos() > 0)
        };
        if w.entries.len() as u64 >= self.requests_per_minute {
            // The request is admitted once enough of the oldest entries have left.
            let excess = w.entries.len() + 1 - self.requests_per_minute as usize;
            let at = w.entries.get(excess - 1).map_or(now, |e| e.0);
            return Err(Throttled {
                retry_after_secs: secs_until(at).max(1),
                by_bytes: false,
            });
        }
        if w.bytes.saturating_add(bytes) > self.bytes_per_minute {
            if bytes > self.bytes_per_minute {
                return Err(Throttled {
                    retry_after_secs: WINDOW.as_secs(),
                    by_bytes: true,
                });
            }
            let mut left = w.bytes;
            let mut at = now;
            for &(t, b) in &w.entries {
                left -= b;
                at = t;
                if left + bytes <= self.bytes_per_minute {
                    break;
                }
            }
            return Err(Throttled {
                retry_after_secs: secs_until(at).max(1),
                by_bytes: true,
            });
        }
        w.entries.push_back((now, bytes));
        w.bytes += bytes;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_window_slides() {
        let l = RateLimits::new(2, u64::MAX);
        let t0 = Instant::now();
        assert!(l.admit_at("d", 1, t0).is_ok());
        assert!(l.admit_at("d", 1, t0 + Duration::from_secs(10)).is_ok());
        let e = l
            .admit_at("d", 1, t0 + Duration::from_secs(20))
            .unwrap_err();
        assert_eq!(e.retry_after_secs, 40);
        assert!(!e.by_bytes);
        // Another DCR has its own window.
        assert!(l.admit_at("other", 1, t0 + Duration::from_secs(20)).is_ok());
        assert!(l.admit_at("d", 1, t0 + Duration::from_secs(60)).is_ok());
    }

    #[test]
    fn bytes_window() {
        let l = RateLimits::new(100, 100);
        let t0 = Instant::now();
        assert!(l.admit_at("d", 60, t0).is_ok());
        assert!(l
            .admit_at("d", 30, t0 + Duration::from_millis(30_500))
            .is_ok());
        let e = l
            .admit_at("d", 50, t0 + Duration::from_secs(31))
            .unwrap_err();
        assert_eq!(
            e,
            Throttled {
                retry_after_secs: 29,
                by_bytes: true
            }
        );
        let e = l
            .admit_at("d", 101, t0 + Duration::from_secs(31))
            .unwrap_err();
        assert_eq!(e.retry_after_secs, 60);
        assert!(l.admit_at("d", 10, t0 + Duration::from_secs(31)).is_ok());
    }
}
