//! `s3:BUCKET/PREFIX`: backfill of the objects already in a bucket, which no notification will
//! ever announce.
//!
//! Objects are listed with `ListObjectsV2` (key order) page by page as the pipeline takes them,
//! optionally kept to a date range read from the key (`/YYYY/MM/DD/` as CloudTrail, VPC Flow
//! Logs and GuardDuty write it, or Hive-style `year=YYYY/month=MM/day=DD`).
//!
//! **Checkpoint.** Objects finish out of order, so the checkpoint is the last key before which
//! every listed object was delivered (resumed with `StartAfter`), plus the keys after it that
//! were delivered already (skipped on resume). An interrupted run resumed with the same file
//! therefore reads every object exactly once as long as the file was written after the last
//! delivery: it is written at most once a second while running and at the end. A failed object
//! holds the checkpoint back, so a later run retries it.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_s3::error::DisplayErrorContext;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::fetch::{Fetcher, Location};
use super::SourceStats;
use crate::ack::{AckListener, Outcome};
use crate::pipeline::{Object, Source};
use crate::run_context::RunContext;
use crate::stats::Counters;

#[derive(Debug, Clone)]
pub struct BackfillSettings {
    pub bucket: String,
    pub prefix: String,
    pub region: Option<String>,
    /// Inclusive date range (`YYYYMMDD` as a number) read from the key.
    pub since: Option<u32>,
    pub until: Option<u32>,
    pub checkpoint: Option<PathBuf>,
}

/// Parses `s3:BUCKET/PREFIX`'s part after `s3:`.
pub fn parse_location(s: &str) -> Option<(String, String)> {
    let s = s.strip_prefix("//").unwrap_or(s);
    let (bucket, prefix) = s.split_once('/').unwrap_or((s, ""));
    (!bucket.is_empty()).then(|| (bucket.to_string(), prefix.to_string()))
}

/// Parses `YYYY-MM-DD` into `YYYYMMDD`.
pub fn parse_date(s: &str) -> Option<u32> {
    let d = time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).ok()?;
    Some(d.year() as u32 * 10_000 + u8::from(d.month()) as u32 * 100 + d.day() as u32)
}

/// The date in an AWS log key, as `YYYYMMDD`.
pub fn key_date(key: &str) -> Option<u32> {
    let parts: Vec<&str> = key.split('/').collect();
    let num = |s: &str, len: usize| -> Option<u32> {
        (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    for w in parts.windows(3) {
        if let (Some(y), Some(m), Some(d)) = (num(w[0], 4), num(w[1], 2), num(w[2], 2)) {
            if (1..=12).contains(&m) && (1..=31).contains(&d) {
                return Some(y * 10_000 + m * 100 + d);
            }
        }
        let hive = |p: &str, name: &str, len| p.strip_prefix(name).and_then(|v| num(v, len));
        if let (Some(y), Some(m), Some(d)) = (
            hive(w[0], "year=", 4),
            hive(w[1], "month=", 2),
            hive(w[2], "day=", 2),
        ) {
            return Some(y * 10_000 + m * 100 + d);
        }
    }
    None
}

#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
struct Checkpoint {
    bucket: String,
    prefix: String,
    /// The date range the run read: a key left out by it and listed before `after` would never
    /// be listed again, so a checkpoint is only resumed with the same range.
    #[serde(default)]
    since: Option<u32>,
    #[serde(default)]
    until: Option<u32>,
    /// Every listed key up to and including this one was delivered.
    after: Option<String>,
    /// Keys after `after` that were delivered too.
    done: BTreeSet<String>,
}

impl Checkpoint {
    fn load(path: &Path) -> anyhow::Result<Option<Checkpoint>> {
        match std::fs::read(path) {
            Ok(b) => Ok(Some(serde_json::from_slice(&b).map_err(|e| {
                anyhow::anyhow!(
                    "checkpoint {} is not a logferry checkpoint ({e}); move it away to start over",
                    path.display()
                )
            })?)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(anyhow::anyhow!(
                "reading checkpoint {}: {e}",
                path.display()
            )),
        }
    }

    /// Written to a temporary file and renamed, so a crash leaves the old one or the new one.
    fn save(&self, path: &Path) -> io::Result<()> {
        let tmp = path.with_extension("tmp");
        let json = serde_json::to_vec(self).map_err(io::Error::other)?;
        std::fs::write(&tmp, json)?;
        std::fs::rename(&tmp, path)
    }
}

#[derive(PartialEq, Eq)]
enum State {
    Reading,
    Done,
    Failed,
}

/// Listed keys not yet covered by `after`, in key order (the order S3 lists them in).
struct Progress {
    checkpoint: Checkpoint,
    window: BTreeMap<String, State>,
    last_saved: Instant,
    path: Option<PathBuf>,
}

impl Progress {
    fn ended(&mut self, key: &str, outcome: Outcome) {
        if let Some(entry) = self.window.get_mut(key) {
            *entry = match outcome {
                Outcome::Delivered => State::Done,
                Outcome::Failed => State::Failed,
            };
        }
        if outcome == Outcome::Delivered {
            self.checkpoint.done.insert(key.to_string());
        }
        while self
            .window
            .first_key_value()
            .is_some_and(|(_, s)| *s == State::Done)
        {
            if let Some((k, _)) = self.window.pop_first() {
                self.checkpoint.done.remove(&k);
                self.checkpoint.after = Some(k);
            }
        }
        if self.last_saved.elapsed() >= Duration::from_secs(1) {
            self.save();
        }
    }

    fn save(&mut self) {
        self.last_saved = Instant::now();
        if let Some(path) = &self.path {
            if let Err(e) = self.checkpoint.save(path) {
                tracing::error!(error = %e, path = %path.display(), "cannot write the checkpoint");
            }
        }
    }
}

struct Ended(Arc<Mutex<Progress>>);

impl AckListener for Ended {
    fn object_done(&self, key: &str, outcome: Outcome) {
        self.0.lock().ended(key, outcome);
    }
}

pub struct BackfillSource {
    rt: tokio::runtime::Handle,
    s3: aws_sdk_s3::Client,
    fetcher: Arc<Fetcher>,
    settings: BackfillSettings,
    stats: Arc<SourceStats>,
    /// The run's graceful stop: no page is listed and no object handed out after it.
    graceful: CancellationToken,
    progress: Arc<Mutex<Progress>>,
}

impl BackfillSource {
    pub fn new(
        rt: tokio::runtime::Handle,
        s3: aws_sdk_s3::Client,
        fetcher: Arc<Fetcher>,
        settings: BackfillSettings,
        ctx: &RunContext,
    ) -> anyhow::Result<Self> {
        let mut checkpoint = Checkpoint {
            bucket: settings.bucket.clone(),
            prefix: settings.prefix.clone(),
            since: settings.since,
            until: settings.until,
            ..Checkpoint::default()
        };
        if let Some(path) = &settings.checkpoint {
            if let Some(saved) = Checkpoint::load(path)? {
                if (saved.since, saved.until) != (settings.since, settings.until) {
                    anyhow::bail!(
                        "checkpoint {} was written with another --since/--until: keys it left out by date would be skipped; use the same dates or another --checkpoint file",
                        path.display()
                    );
                }
                if saved.bucket != settings.bucket || saved.prefix != settings.prefix {
                    anyhow::bail!(
                        "checkpoint {} is for s3:{}/{}, not s3:{}/{}; use another --checkpoint file",
                        path.display(),
                        saved.bucket,
                        saved.prefix,
                        settings.bucket,
                        settings.prefix
                    );
                }
                tracing::info!(after = ?saved.after, done = saved.done.len(), "resuming from checkpoint");
                checkpoint = saved;
            }
        }
        Ok(BackfillSource {
            rt,
            s3,
            fetcher,
            stats: ctx.source_stats.clone(),
            graceful: ctx.graceful.clone(),
            progress: Arc::new(Mutex::new(Progress {
                checkpoint,
                window: BTreeMap::new(),
                last_saved: Instant::now(),
                path: settings.checkpoint.clone(),
            })),
            settings,
        })
    }
}

impl Source for BackfillSource {
    fn run(&mut self, emit: &mut dyn FnMut(Object) -> bool) -> io::Result<()> {
        let (start_after, done) = {
            let p = self.progress.lock();
            (p.checkpoint.after.clone(), p.checkpoint.done.clone())
        };
        let mut pages = self
            .s3
            .list_objects_v2()
            .bucket(&self.settings.bucket)
            .prefix(&self.settings.prefix)
            .set_start_after(start_after)
            .into_paginator()
            .send();
        let listener: Arc<dyn AckListener> = Arc::new(Ended(self.progress.clone()));
        loop {
            if self.graceful.is_cancelled() {
                return Ok(());
            }
            let page = match self.rt.block_on(pages.next()) {
                None => return Ok(()),
                Some(Ok(page)) => page,
                Some(Err(e)) => {
                    return Err(io::Error::other(format!(
                        "listing s3://{}/{}: {}",
                        self.settings.bucket,
                        self.settings.prefix,
                        DisplayErrorContext(&e)
                    )))
                }
            };
            for o in page.contents() {
                let Some(key) = o.key() else { continue };
                SourceStats::add(&self.stats.objects_listed, 1);
                if done.contains(key) {
                    // Delivered by an earlier run: in the window as done, so that `after`
                    // moves past it and the checkpoint stops carrying it.
                    self.progress
                        .lock()
                        .window
                        .insert(key.to_string(), State::Done);
                    continue;
                }
                if key.ends_with('/') {
                    continue;
                }
                if self.settings.since.is_some() || self.settings.until.is_some() {
                    let Some(date) = key_date(key) else { continue };
                    if self.settings.since.is_some_and(|s| date < s)
                        || self.settings.until.is_some_and(|u| date > u)
                    {
                        continue;
                    }
                }
                self.progress
                    .lock()
                    .window
                    .insert(key.to_string(), State::Reading);
                let size = o.size().and_then(|s| u64::try_from(s).ok());
                let loc = Location {
                    bucket: self.settings.bucket.clone(),
                    key: key.to_string(),
                    region: self.settings.region.clone(),
                    size,
                    version_id: None,
                };
                let f = self.fetcher.clone();
                let object = Object {
                    key: key.to_string(),
                    size,
                    open: Box::new(move || Ok(f.open(loc))),
                    done: Some(listener.clone()),
                };
                if !emit(object) || self.graceful.is_cancelled() {
                    return Ok(());
                }
            }
        }
    }

    fn finish(&mut self) -> io::Result<()> {
        let mut p = self.progress.lock();
        // Keys listed but never started (a stop) are simply not done.
        p.save();
        Ok(())
    }

    fn counters(&self) -> Counters {
        self.stats.counters()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_keys() {
        assert_eq!(
            key_date("AWSLogs/1/CloudTrail/us-east-1/2024/03/07/x.json.gz"),
            Some(20240307)
        );
        assert_eq!(
            key_date("p/AWSLogs/aws-account-id=1/aws-service=vpcflowlogs/aws-region=r/year=2023/month=12/day=31/x.log.gz"),
            Some(20231231)
        );
        assert_eq!(key_date("AWSLogs/1/CloudTrail/x.json.gz"), None);
        assert_eq!(parse_date("2024-03-07"), Some(20240307));
        assert_eq!(parse_date("2024-13-07"), None);
        assert_eq!(
            parse_location("bucket/AWSLogs/"),
            Some(("bucket".into(), "AWSLogs/".into()))
        );
        assert_eq!(parse_location("bucket"), Some(("bucket".into(), "".into())));
        assert_eq!(parse_location("/x"), None);
    }

    #[test]
    fn the_checkpoint_advances_over_delivered_keys_only() {
        let mut p = Progress {
            checkpoint: Checkpoint::default(),
            window: ["a", "b", "c", "d"]
                .iter()
                .map(|k| (k.to_string(), State::Reading))
                .collect(),
            last_saved: Instant::now(),
            path: None,
        };
        p.ended("b", Outcome::Delivered);
        assert_eq!(p.checkpoint.after, None);
        assert!(p.checkpoint.done.contains("b"));
        p.ended("a", Outcome::Delivered);
        assert_eq!(p.checkpoint.after.as_deref(), Some("b"));
        assert!(p.checkpoint.done.is_empty());
        p.ended("c", Outcome::Failed);
        p.ended("d", Outcome::Delivered);
        assert_eq!(p.checkpoint.after.as_deref(), Some("b"));
        assert_eq!(p.checkpoint.done.iter().collect::<Vec<_>>(), vec!["d"]);
    }
}
