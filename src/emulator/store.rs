//! What the emulator keeps: counts (always, in memory) and, with `--store DIR`, the accepted
//! rows as `DIR/<Table>.ndjson`.
//!
//! Counts are what tests use to prove that every record arrived: rows per table, requests per
//! status code overall and per DCR, rows per DCR. A request is all-or-nothing (a 4xx stores
//! nothing of it): its rows are written with one `write_all` per table under the store's lock,
//! after every check passed, so concurrent requests never interleave lines.
//!
//! Rows are stored as received, one compact JSON object per line: the element's own text with
//! the whitespace between tokens removed, so key order and number spelling are the client's.
//! A row that reaches several tables (a stream in several data flows) is written to each.

use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;

use serde_json::{json, Value};

/// Counts and row files.
pub struct Store {
    dir: Option<PathBuf>,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    rows: BTreeMap<String, u64>,
    requests: BTreeMap<String, u64>,
    dcrs: BTreeMap<String, DcrCounts>,
    files: HashMap<String, File>,
}

#[derive(Default)]
struct DcrCounts {
    requests: BTreeMap<String, u64>,
    rows: u64,
}

impl Store {
    /// `tables` and `dcrs` start at zero so a count that stayed zero is visible.
    pub fn new(dir: Option<PathBuf>, tables: &[String], dcrs: &[String]) -> std::io::Result<Self> {
        if let Some(d) = &dir {
            std::fs::create_dir_all(d)?;
        }
        let mut inner = Inner::default();
        for t in tables {
            inner.rows.insert(t.clone(), 0);
        }
        for d in dcrs {
            inner.dcrs.insert(d.clone(), DcrCounts::default());
        }
        Ok(Store {
            dir,
            inner: Mutex::new(inner),
        })
    }

    /// Counts one answer to an ingestion request; `dcr` is `None` when the DCR is unknown.
    /// `status` is the code, or `reset` for a dropped connection.
    pub fn count_request(&self, dcr: Option<&str>, status: &str) {
        let mut inner = self.inner.lock();
        *inner.requests.entry(status.to_string()).or_default() += 1;
        if let Some(d) = dcr {
            if let Some(c) = inner.dcrs.get_mut(d) {
                *c.requests.entry(status.to_string()).or_default() += 1;
            }
        }
    }

    /// Keeps the accepted rows of one request: `ndjson` holds `rows` lines.
    pub fn accept(
        &self,
        dcr: &str,
        tables: &[String],
        ndjson: &[u8],
        rows: u64,
    ) -> std::io::Result<()> {
        let mut inner = self.inner.lock();
        if let Some(dir) = &self.dir {
            for t in tables {
                let file = match inner.files.entry(t.clone()) {
                    std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::hash_map::Entry::Vacant(e) => e.insert(
                        OpenOptions::new()
                            .create(true)
                            .append(true)
                            .open(dir.join(format!("{t}.ndjson")))?,
                    ),
                };
                file.write_all(ndjson)?;
            }
        }
        for t in tables {
            *inner.rows.entry(t.clone()).or_default() += rows;
        }
        if let Some(c) = inner.dcrs.get_mut(dcr) {
            c.rows += rows;
        }
        Ok(())
    }

    /// `GET /emulator/counts`.
    pub fn counts(&self) -> Value {
        let inner = self.inner.lock();
        let dcrs: serde_json::Map<String, Value> = inner
            .dcrs
            .iter()
            .map(|(id, c)| {
                (
                    id.clone(),
                    json!({ "requests": c.requests, "rows": c.rows }),
                )
            })
            .collect();
        json!({ "rows": inner.rows, "requests": inner.requests, "dcrs": dcrs })
    }

    /// The stored rows of `table` (`GET /emulator/rows/{Table}`): `None` without `--store`;
    /// empty when the table had no rows yet.
    pub fn rows(&self, table: &str) -> Option<std::io::Result<Vec<u8>>> {
        let dir = self.dir.as_ref()?;
        // Hold the lock so no request is half-written into what we read.
        let _inner = self.inner.lock();
        Some(match std::fs::read(dir.join(format!("{table}.ndjson"))) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            other => other,
        })
    }
}
