//! The pipeline's options of `run` (and the request options `replay` shares), turned into
//! [`Settings`]. Defaults are the constants of the settings types (`BatchSettings::*`,
//! `Limits::*`, `Settings::*`), so `--help`, the config file and `Default` agree; ranges are
//! checked here and the error names the flag.

use std::time::Duration;

use anyhow::bail;
use clap::Args;

use super::{BatchSettings, Settings};
use crate::frame::Limits;
use crate::route::{Router, Rule};
use crate::table::Table;

/// What a request body may hold: shared by `run` and `replay`.
#[derive(Args, Debug, Clone)]
pub struct BatchArgs {
    /// Largest request body in bytes of uncompressed JSON (the Logs Ingestion API allows 1 MiB).
    #[arg(long, env = "LOGFERRY_MAX_REQUEST_BYTES", default_value_t = BatchSettings::MAX_REQUEST_BYTES)]
    pub max_request_bytes: usize,
    /// gzip level of request bodies, 0-9. 1 gives the most rows per second per core (see README).
    #[arg(long, env = "LOGFERRY_GZIP_LEVEL", default_value_t = BatchSettings::DEFAULT_GZIP_LEVEL)]
    pub gzip_level: u32,
}

impl BatchArgs {
    pub fn settings(&self) -> anyhow::Result<BatchSettings> {
        let (min, max) = (
            BatchSettings::MIN_REQUEST_BYTES,
            BatchSettings::MAX_REQUEST_BYTES,
        );
        if !(min..=max).contains(&self.max_request_bytes) {
            bail!(
                "--max-request-bytes must be between {min} and {max} (the API's limit), not {}",
                self.max_request_bytes
            );
        }
        if self.gzip_level > BatchSettings::MAX_GZIP_LEVEL {
            bail!(
                "--gzip-level must be 0-{}, not {}",
                BatchSettings::MAX_GZIP_LEVEL,
                self.gzip_level
            );
        }
        Ok(BatchSettings {
            max_request_bytes: self.max_request_bytes,
            gzip_level: self.gzip_level,
        })
    }
}

/// `--type`'s values.
fn parse_table(s: &str) -> Result<Table, String> {
    Table::from_short(s)
        .ok_or_else(|| "not a log type: use cloudtrail, guardduty or vpcflow".to_string())
}

#[derive(Args, Debug, Clone)]
pub struct PipelineArgs {
    /// CPU worker threads (decode, frame, map, encode, gzip). Default: all cores.
    #[arg(long, env = "LOGFERRY_THREADS")]
    pub threads: Option<usize>,
    #[command(flatten)]
    pub batch: BatchArgs,
    /// Route objects by key: PREFIX=TYPE, or ^REGEX=TYPE; TYPE is cloudtrail, guardduty, vpcflow or skip. Repeat the flag for several rules (the variable holds one); rules are checked in order, before the AWS key layout.
    #[arg(long = "route", env = "LOGFERRY_ROUTE", value_name = "RULE")]
    pub routes: Vec<Rule>,
    /// Treat every object of the source as this type (cloudtrail, guardduty or vpcflow) instead of routing by key.
    #[arg(long = "type", env = "LOGFERRY_TYPE", value_name = "TYPE", value_parser = parse_table)]
    pub pinned: Option<Table>,
    /// Records larger than this (decompressed bytes) are dead-lettered without being buffered.
    #[arg(long, env = "LOGFERRY_MAX_RECORD_BYTES", default_value_t = Limits::DEFAULT_MAX_RECORD_BYTES)]
    pub max_record_bytes: usize,
    /// Records are handed between threads in chunks of about this many decompressed bytes.
    #[arg(long, env = "LOGFERRY_CHUNK_BYTES", default_value_t = Limits::DEFAULT_CHUNK_BYTES)]
    pub chunk_bytes: usize,
    /// A batch that is not full is sent after this many milliseconds.
    #[arg(long, env = "LOGFERRY_LINGER_MS", default_value_t = Settings::DEFAULT_LINGER_MS)]
    pub linger_ms: u64,
}

impl PipelineArgs {
    pub fn settings(&self) -> anyhow::Result<Settings> {
        let batch = self.batch.settings()?;
        if self.threads == Some(0) {
            bail!("--threads must be at least 1");
        }
        let range = Limits::CHUNK_BYTES_RANGE;
        if !range.contains(&self.chunk_bytes) {
            bail!(
                "--chunk-bytes must be between {} and {}, not {}",
                range.start(),
                range.end(),
                self.chunk_bytes
            );
        }
        let range = Limits::MAX_RECORD_BYTES_RANGE;
        if !range.contains(&self.max_record_bytes) {
            bail!(
                "--max-record-bytes must be between {} and {}, not {}",
                range.start(),
                range.end(),
                self.max_record_bytes
            );
        }
        if self.linger_ms < Settings::MIN_LINGER_MS {
            bail!(
                "--linger-ms must be at least {}, not {}",
                Settings::MIN_LINGER_MS,
                self.linger_ms
            );
        }
        let defaults = Settings::default();
        Ok(Settings {
            threads: self.threads.unwrap_or(defaults.threads),
            batch,
            limits: Limits {
                chunk_bytes: self.chunk_bytes,
                max_record_bytes: self.max_record_bytes,
            },
            linger: Duration::from_millis(self.linger_ms),
            router: Router {
                rules: self.routes.clone(),
                pinned: self.pinned,
            },
            ..defaults
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        pipeline: PipelineArgs,
    }

    fn parse(extra: &[&str]) -> Result<PipelineArgs, clap::Error> {
        let argv = std::iter::once("t").chain(extra.iter().copied());
        Cli::try_parse_from(argv).map(|c| c.pipeline)
    }

    #[test]
    fn defaults_are_the_settings_defaults() {
        let s = parse(&[]).unwrap().settings().unwrap();
        let d = Settings::default();
        assert_eq!(s.threads, d.threads);
        assert_eq!(s.batch.max_request_bytes, d.batch.max_request_bytes);
        assert_eq!(s.batch.gzip_level, d.batch.gzip_level);
        assert_eq!(s.limits.chunk_bytes, d.limits.chunk_bytes);
        assert_eq!(s.limits.max_record_bytes, d.limits.max_record_bytes);
        assert_eq!(s.linger, d.linger);
    }

    #[test]
    fn out_of_range_values_name_their_flag() {
        for (extra, flag) in [
            (["--max-request-bytes", "1023"], "--max-request-bytes"),
            (["--max-request-bytes", "1048577"], "--max-request-bytes"),
            (["--gzip-level", "10"], "--gzip-level"),
            (["--threads", "0"], "--threads"),
            (["--chunk-bytes", "4095"], "--chunk-bytes"),
            (["--max-record-bytes", "1000"], "--max-record-bytes"),
            (["--linger-ms", "9"], "--linger-ms"),
        ] {
            let Err(e) = parse(&extra).unwrap().settings() else {
                panic!("{extra:?} was accepted");
            };
            assert!(e.to_string().contains(flag), "{extra:?}: {e}");
        }
    }

    #[test]
    fn types_and_routes_are_parsed_by_clap() {
        let a = parse(&["--type", "vpcflow", "--route", "logs/=guardduty"]).unwrap();
        assert_eq!(a.pinned, Some(Table::VpcFlow));
        let s = a.settings().unwrap();
        assert_eq!(s.router.pinned, Some(Table::VpcFlow));
        assert_eq!(s.router.rules.len(), 1);
        let e = parse(&["--type", "nope"]).err().unwrap().to_string();
        assert!(e.contains("nope") && e.contains("cloudtrail"), "{e}");
        let e = parse(&["--route", "^(=vpcflow"]).err().unwrap().to_string();
        assert!(e.contains("regex"), "{e}");
    }
}
