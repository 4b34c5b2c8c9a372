//! Fault injection for reliability tests: latency, error rates, connection resets and 429
//! storms, on ingestion requests only, optionally for one DCR.
//!
//! A spec is `[DCR_ID/]KIND=VALUE`:
//! - `latency=MS` or `latency=MIN-MAX`: wait that long (uniform in the range) before answering;
//! - `500=P`, `503=P`: answer that status with probability P (0..1);
//! - `429=P`: answer 429 `Retry-After: 1` with probability P;
//! - `reset=P`: close the connection without an answer, with probability P (the client sees a
//!   connection error, as when a load balancer drops a connection);
//! - `storm=SECS`: answer every request 429 `Retry-After: 1` for SECS seconds, starting at the
//!   first ingestion request after the fault is set (so a test need not race the clock).
//!
//! Faults act after the request passed the checks that need no body (api-version, token,
//! DCR and stream, access): a client with a bad token still gets its 401, which is what a
//! test of token refresh needs. The 500/503 bodies carry the error shape of the REST
//! specification; what Azure really sends with them is not documented.

use parking_lot::Mutex;
use std::time::{Duration, Instant};

/// One fault.
#[derive(Debug, Clone)]
pub struct Fault {
    /// Only requests to this DCR; all when `None`.
    pub dcr: Option<String>,
    pub kind: Kind,
    /// The spec as given, for `/emulator/counts` and logs.
    pub spec: String,
}

#[derive(Debug, Clone)]
pub enum Kind {
    Latency { min_ms: u64, max_ms: u64 },
    Status { status: u16, p: f64 },
    Reset { p: f64 },
    Storm { secs: u64, started: Option<Instant> },
}

/// What the faults say about one request.
#[derive(Debug, Default, PartialEq)]
pub struct Decision {
    pub latency: Duration,
    pub outcome: Option<Outcome>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Close the connection without answering.
    Reset,
    /// Answer this status (429 with `Retry-After: 1`).
    Status(u16),
    /// A storm's 429.
    Storm,
}

/// Parses one spec. `known` are the DCR ids a scope may name.
pub fn parse(spec: &str, known: &[&str]) -> Result<Fault, String> {
    let (lhs, value) = spec.split_once('=').ok_or("expected [DCR_ID/]KIND=VALUE")?;
    let (dcr, kind) = match lhs.rsplit_once('/') {
        Some((dcr, kind)) => {
            if !known.contains(&dcr) {
                return Err(format!(
                    "no data collection rule has the id '{dcr}' (known: {})",
                    known.join(", ")
                ));
            }
            (Some(dcr.to_string()), kind)
        }
        None => (None, lhs),
    };
    let prob = || -> Result<f64, String> {
        value
            .parse::<f64>()
            .ok()
            .filter(|p| (0.0..=1.0).contains(p))
            .ok_or_else(|| format!("'{value}' is not a probability between 0 and 1"))
    };
    let kind = match kind {
        "latency" => {
            let ms = |s: &str| {
                s.trim()
                    .parse::<u64>()
                    .map_err(|_| format!("'{s}' is not a number of milliseconds"))
            };
            let (min_ms, max_ms) = match value.split_once('-') {
                Some((a, b)) => (ms(a)?, ms(b)?),
                None => (ms(value)?, ms(value)?),
            };
            if min_ms > max_ms || max_ms > 600_000 {
                return Err(format!(
                    "latency '{value}': expected MS or MIN-MAX, at most 600000"
                ));
            }
            Kind::Latency { min_ms, max_ms }
        }
        "500" | "503" | "429" => Kind::Status {
            status: if kind == "500" {
                500
            } else if kind == "503" {
                503
            } else {
                429
            },
            p: prob()?,
        },
        "reset" => Kind::Reset { p: prob()? },
        "storm" => Kind::Storm {
            secs: value
                .parse()
                .map_err(|_| format!("storm '{value}' is not a number of seconds"))?,
            started: None,
        },
        other => {
            return Err(format!(
                "unknown fault kind '{other}': use latency, 500, 503, 429, reset or storm"
            ))
        }
    };
    Ok(Fault {
        dcr,
        kind,
        spec: spec.to_string(),
    })
}

/// The faults in force; replaced as a whole by `POST /emulator/faults`.
#[derive(Default)]
pub struct Faults {
    list: Mutex<Vec<Fault>>,
}

impl Faults {
    pub fn new(list: Vec<Fault>) -> Self {
        Faults {
            list: Mutex::new(list),
        }
    }

    pub fn replace(&self, list: Vec<Fault>) {
        *self.list.lock() = list;
    }

    /// The specs in force, for logs and `/emulator/counts`.
    pub fn describe(&self) -> Vec<String> {
        self.list.lock().iter().map(|f| f.spec.clone()).collect()
    }

    /// Rolls the faults that apply to a request to `dcr`. The first fault (in the order given)
    /// that fires decides the outcome; latencies add up.
    pub fn decide(&self, dcr: &str) -> Decision {
        let now = Instant::now();
        let mut d = Decision::default();
        for f in self.list.lock().iter_mut() {
            if f.dcr.as_deref().is_some_and(|only| only != dcr) {
                continue;
            }
            let fired = match &mut f.kind {
                Kind::Latency { min_ms, max_ms } => {
                    d.latency += Duration::from_millis(fastrand::u64(*min_ms..=*max_ms));
                    None
                }
                Kind::Status { status, p } => roll(*p).then_some(Outcome::Status(*status)),
                Kind::Reset { p } => roll(*p).then_some(Outcome::Reset),
                Kind::Storm { secs, started } => {
                    let start = *started.get_or_insert(now);
                    (now.duration_since(start) < Duration::from_secs(*secs))
                        .then_some(Outcome::Storm)
                }
            };
            if d.outcome.is_none() {
                d.outcome = fired;
            }
        }
        d
    }
}

fn roll(p: f64) -> bool {
    p > 0.0 && fastrand::f64() < p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_specs() {
        let known = ["dcr-a"];
        assert!(matches!(
            parse("latency=5-10", &known).unwrap().kind,
            Kind::Latency {
                min_ms: 5,
                max_ms: 10
            }
        ));
        let f = parse("dcr-a/503=1", &known).unwrap();
        assert_eq!(f.dcr.as_deref(), Some("dcr-a"));
        assert!(matches!(f.kind, Kind::Status { status: 503, .. }));
        assert!(parse("dcr-b/503=1", &known).is_err());
        assert!(parse("503=1.5", &known).is_err());
        assert!(parse("boom=1", &known).is_err());
        assert!(parse("latency=10-5", &known).is_err());
    }

    #[test]
    fn scope_and_storm() {
        let f = Faults::new(vec![
            parse("dcr-a/500=1", &["dcr-a"]).unwrap(),
            parse("storm=3600", &[]).unwrap(),
        ]);
        assert_eq!(f.decide("dcr-a").outcome, Some(Outcome::Status(500)));
        assert_eq!(f.decide("dcr-b").outcome, Some(Outcome::Storm));
        f.replace(vec![parse("storm=0", &[]).unwrap()]);
        assert_eq!(f.decide("dcr-b"), Decision::default());
    }
}
