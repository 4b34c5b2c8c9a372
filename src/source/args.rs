//! `--source` and the AWS options of `run` (`[aws]` in the config file, `LOGFERRY_...`
//! variables), turned into the settings each source stage owns: [`SqsSettings`],
//! [`FetchSettings`], [`BackfillSettings`] and the SDK's [`AwsOptions`].
//!
//! Every default is the constant its settings type declares (`SqsSettings::DEFAULT_*`,
//! `FetchSettings::DEFAULT_*`), so `--help`, the config file and a library user building the
//! settings by hand all get the same value. Every range is checked here, at start, before
//! anything is contacted, and the error names the flag and the fix.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;

use super::aws::{self, AwsOptions};
use super::backfill::{self, BackfillSettings};
use super::fetch::FetchSettings;
use super::sqs::SqsSettings;

/// What `--source` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// `dir:PATH`: a local copy of a bucket, read once.
    Dir(PathBuf),
    /// `sqs:QUEUE_URL`: S3 notifications from a queue, until stopped.
    Sqs(String),
    /// `s3:BUCKET/PREFIX`: the objects already under a prefix, read once.
    S3 { bucket: String, prefix: String },
}

impl SourceSpec {
    /// The forms `--source` takes, for messages.
    const FORMS: &'static str = "dir:PATH, sqs:QUEUE_URL, s3:BUCKET/PREFIX";

    /// A source that is read once and then ends (as opposed to a queue, which runs until it
    /// is stopped).
    pub fn is_read_once(&self) -> bool {
        !matches!(self, SourceSpec::Sqs(_))
    }

    /// The source reads from AWS (and so has source counters and AWS settings).
    pub fn is_aws(&self) -> bool {
        !matches!(self, SourceSpec::Dir(_))
    }
}

impl FromStr for SourceSpec {
    type Err = anyhow::Error;

    /// Errors say what is wrong, not the value: clap prints the value before them.
    fn from_str(value: &str) -> anyhow::Result<Self> {
        let forms = SourceSpec::FORMS;
        match value.split_once(':') {
            Some(("dir", path)) if !path.is_empty() => Ok(SourceSpec::Dir(PathBuf::from(path))),
            Some(("sqs", url)) if !url.is_empty() => {
                if !url.starts_with("http://") && !url.starts_with("https://") {
                    bail!("the queue URL must start with https:// (as GetQueueUrl or the console shows it)");
                }
                Ok(SourceSpec::Sqs(url.to_string()))
            }
            Some(("s3", location)) if !location.is_empty() => {
                let (bucket, prefix) = backfill::parse_location(location)
                    .with_context(|| format!("s3:{location}: use s3:BUCKET or s3:BUCKET/PREFIX"))?;
                Ok(SourceSpec::S3 { bucket, prefix })
            }
            Some(("lookup", _)) => {
                bail!("the lookup connector is not in this build yet; use {forms}")
            }
            _ => bail!("not understood: use {forms}"),
        }
    }
}

#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "AWS (sqs: and s3: sources)")]
pub struct AwsArgs {
    /// AWS region of the queue, and of buckets whose region a notification does not name. Default: the region in the queue URL, else the standard chain (AWS_REGION, profile).
    #[arg(long, env = "LOGFERRY_AWS_REGION")]
    pub region: Option<String>,
    /// Endpoint for SQS and S3 (an S3-compatible store, or moto in tests); S3 is then addressed path-style. AWS_ENDPOINT_URL works too.
    #[arg(long, env = "LOGFERRY_AWS_ENDPOINT")]
    pub aws_endpoint: Option<String>,
    /// Assume this IAM role (cross-account buckets) on top of the standard credential chain.
    #[arg(long, env = "LOGFERRY_ROLE_ARN")]
    pub role_arn: Option<String>,
    /// External ID for --role-arn, when the role's trust policy asks for one.
    #[arg(long, env = "LOGFERRY_EXTERNAL_ID", requires = "role_arn")]
    pub external_id: Option<String>,
    /// SQS receivers polling in parallel (10 messages per call each).
    #[arg(long, env = "LOGFERRY_RECEIVERS", default_value_t = SqsSettings::DEFAULT_RECEIVERS)]
    pub receivers: usize,
    /// Long-poll wait of each ReceiveMessage call, 0-20 seconds. Also bounds how long a shutdown waits for a poll in progress.
    #[arg(long, env = "LOGFERRY_WAIT_SECONDS", default_value_t = SqsSettings::DEFAULT_WAIT_SECONDS)]
    pub wait_seconds: i32,
    /// Visibility timeout (seconds) asked for on receive. Default: the queue's own. Held messages are extended at half of it.
    #[arg(long, env = "LOGFERRY_VISIBILITY_TIMEOUT")]
    pub visibility_timeout: Option<u64>,
    /// Stop extending a message's visibility this many seconds after it was received (SQS allows at most 43200).
    #[arg(long, env = "LOGFERRY_MAX_HOLD", default_value_t = SqsSettings::DEFAULT_MAX_HOLD_S)]
    pub max_hold: u64,
    /// At most this many messages held at once; receiving pauses above it.
    #[arg(long, env = "LOGFERRY_MAX_MESSAGES_IN_FLIGHT", default_value_t = SqsSettings::DEFAULT_MAX_MESSAGES_IN_FLIGHT)]
    pub max_messages_in_flight: usize,
    /// At most this many bytes (as stored) of objects named by held messages; receiving pauses above it.
    #[arg(long, env = "LOGFERRY_MAX_BYTES_IN_FLIGHT", default_value_t = SqsSettings::DEFAULT_MAX_BYTES_IN_FLIGHT)]
    pub max_bytes_in_flight: u64,
    /// Seconds before a message whose objects could not be delivered is visible again; doubled for each earlier receive, at most 900.
    #[arg(long, env = "LOGFERRY_RETRY_DELAY", default_value_t = SqsSettings::DEFAULT_RETRY_DELAY_S)]
    pub retry_delay: u64,
    /// On SIGINT/SIGTERM, seconds to finish the work in hand before returning the rest to the queue.
    #[arg(long, env = "LOGFERRY_SHUTDOWN_TIMEOUT", default_value_t = SqsSettings::DEFAULT_SHUTDOWN_TIMEOUT_S)]
    pub shutdown_timeout: u64,
    /// Stop (as on SIGTERM) once no message arrived for this many seconds and nothing is held: drains a queue and exits.
    #[arg(long, env = "LOGFERRY_STOP_WHEN_IDLE")]
    pub stop_when_idle: Option<u64>,
    /// Objects of at least this many bytes are fetched as parallel ranged GETs.
    #[arg(long, env = "LOGFERRY_RANGE_THRESHOLD", default_value_t = FetchSettings::DEFAULT_RANGE_THRESHOLD)]
    pub range_threshold: u64,
    /// Size of each ranged GET.
    #[arg(long, env = "LOGFERRY_PART_SIZE", default_value_t = FetchSettings::DEFAULT_PART_SIZE)]
    pub part_size: u64,
    /// Ranged GETs in flight per big object.
    #[arg(long, env = "LOGFERRY_PARTS_IN_FLIGHT", default_value_t = FetchSettings::DEFAULT_PARTS_IN_FLIGHT)]
    pub parts_in_flight: usize,
    /// s3: source: resumable checkpoint file (created if missing; an interrupted backfill resumed with it reads every object once).
    #[arg(long, env = "LOGFERRY_CHECKPOINT")]
    pub checkpoint: Option<PathBuf>,
    /// s3: source: only objects whose key date (…/YYYY/MM/DD/… or year=/month=/day=) is on or after this day (YYYY-MM-DD).
    #[arg(long, env = "LOGFERRY_SINCE")]
    pub since: Option<String>,
    /// s3: source: only objects whose key date is on or before this day (YYYY-MM-DD).
    #[arg(long, env = "LOGFERRY_UNTIL")]
    pub until: Option<String>,
}

/// SQS's limits (seconds): a long poll waits at most 20 s, a message stays invisible at most
/// 12 hours (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html).
const SQS_MAX_WAIT_SECONDS: i32 = 20;
const SQS_MAX_VISIBILITY_S: u64 = 43_200;

impl AwsArgs {
    /// Refuses the options that only one source reads when another is named.
    pub fn check_for(&self, source: &SourceSpec) -> anyhow::Result<()> {
        let backfill_only =
            self.checkpoint.is_some() || self.since.is_some() || self.until.is_some();
        if backfill_only && !matches!(source, SourceSpec::S3 { .. }) {
            bail!("--checkpoint, --since and --until apply to an s3: source only");
        }
        Ok(())
    }

    /// Region, endpoint and role for the SDK; the region defaults to the queue URL's.
    pub fn aws_options(&self, queue_url: Option<&str>) -> AwsOptions {
        AwsOptions {
            region: self
                .region
                .clone()
                .or_else(|| queue_url.and_then(aws::region_of_queue_url)),
            endpoint: self.aws_endpoint.clone(),
            role_arn: self.role_arn.clone(),
            external_id: self.external_id.clone(),
        }
    }

    pub fn fetch_settings(&self) -> anyhow::Result<FetchSettings> {
        if self.part_size < FetchSettings::MIN_PART_SIZE {
            bail!(
                "--part-size must be at least {} bytes, not {}",
                FetchSettings::MIN_PART_SIZE,
                self.part_size
            );
        }
        if !(1..=FetchSettings::MAX_PARTS_IN_FLIGHT).contains(&self.parts_in_flight) {
            bail!(
                "--parts-in-flight must be 1-{}, not {}",
                FetchSettings::MAX_PARTS_IN_FLIGHT,
                self.parts_in_flight
            );
        }
        Ok(FetchSettings {
            range_threshold: self.range_threshold,
            part_size: self.part_size,
            parts_in_flight: self.parts_in_flight,
            ..FetchSettings::default()
        })
    }

    pub fn sqs_settings(&self, url: &str) -> anyhow::Result<SqsSettings> {
        if !(0..=SQS_MAX_WAIT_SECONDS).contains(&self.wait_seconds) {
            bail!(
                "--wait-seconds must be 0-{SQS_MAX_WAIT_SECONDS} (SQS's long-poll limit), not {}",
                self.wait_seconds
            );
        }
        if self
            .visibility_timeout
            .is_some_and(|v| v > SQS_MAX_VISIBILITY_S)
        {
            bail!(
                "--visibility-timeout must be at most {SQS_MAX_VISIBILITY_S} seconds (SQS's limit)"
            );
        }
        if self.max_hold > SQS_MAX_VISIBILITY_S {
            bail!(
                "--max-hold must be at most {SQS_MAX_VISIBILITY_S} seconds (SQS's limit), not {}",
                self.max_hold
            );
        }
        if !(1..=SqsSettings::MAX_RECEIVERS).contains(&self.receivers) {
            bail!(
                "--receivers must be 1-{}, not {}",
                SqsSettings::MAX_RECEIVERS,
                self.receivers
            );
        }
        if self.max_messages_in_flight < SqsSettings::MIN_MESSAGES_IN_FLIGHT {
            bail!(
                "--max-messages-in-flight must be at least {} (one receive), not {}",
                SqsSettings::MIN_MESSAGES_IN_FLIGHT,
                self.max_messages_in_flight
            );
        }
        if self.retry_delay > SqsSettings::MAX_RETRY_DELAY_S {
            bail!(
                "--retry-delay must be at most {} seconds, not {}",
                SqsSettings::MAX_RETRY_DELAY_S,
                self.retry_delay
            );
        }
        Ok(SqsSettings {
            receivers: self.receivers,
            wait_seconds: self.wait_seconds,
            visibility_timeout: self.visibility_timeout.map(Duration::from_secs),
            max_hold: Duration::from_secs(self.max_hold),
            max_messages_in_flight: self.max_messages_in_flight,
            max_bytes_in_flight: self.max_bytes_in_flight,
            retry_delay: Duration::from_secs(self.retry_delay),
            shutdown_timeout: Duration::from_secs(self.shutdown_timeout),
            stop_when_idle: self.stop_when_idle.map(Duration::from_secs),
            ..SqsSettings::new(url)
        })
    }

    pub fn backfill_settings(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> anyhow::Result<BackfillSettings> {
        let date = |flag: &str, v: &Option<String>| -> anyhow::Result<Option<u32>> {
            v.as_deref()
                .map(|s| {
                    backfill::parse_date(s)
                        .with_context(|| format!("{flag} '{s}' is not a date: use YYYY-MM-DD"))
                })
                .transpose()
        };
        let since = date("--since", &self.since)?;
        let until = date("--until", &self.until)?;
        if let (Some(s), Some(u)) = (since, until) {
            if s > u {
                bail!("--since is after --until: nothing would be read");
            }
        }
        Ok(BackfillSettings {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
            region: self.region.clone(),
            since,
            until,
            checkpoint: self.checkpoint.clone(),
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
        aws: AwsArgs,
    }

    fn args(extra: &[&str]) -> AwsArgs {
        let argv = std::iter::once("t").chain(extra.iter().copied());
        Cli::parse_from(argv).aws
    }

    #[test]
    fn source_specs_parse_into_their_kinds() {
        assert_eq!(
            "dir:some/tree".parse::<SourceSpec>().unwrap(),
            SourceSpec::Dir(PathBuf::from("some/tree"))
        );
        assert_eq!(
            "sqs:https://sqs.eu-west-1.amazonaws.com/1/q"
                .parse::<SourceSpec>()
                .unwrap(),
            SourceSpec::Sqs("https://sqs.eu-west-1.amazonaws.com/1/q".into())
        );
        assert_eq!(
            "s3:bucket/AWSLogs/".parse::<SourceSpec>().unwrap(),
            SourceSpec::S3 {
                bucket: "bucket".into(),
                prefix: "AWSLogs/".into()
            }
        );
        for (bad, mention) in [
            ("sqs:not-a-url", "https://"),
            ("lookup:us-east-1", "lookup connector"),
            ("nonsense", "not understood"),
            ("dir:", "not understood"),
            ("s3:/prefix", "s3:BUCKET"),
        ] {
            let e = bad.parse::<SourceSpec>().unwrap_err();
            assert!(format!("{e:#}").contains(mention), "{bad}: {e:#}");
        }
    }

    #[test]
    fn defaults_are_the_settings_defaults() {
        let a = args(&[]);
        let sqs = a.sqs_settings("https://q").unwrap();
        let default = SqsSettings::new("https://q");
        assert_eq!(sqs.receivers, default.receivers);
        assert_eq!(sqs.wait_seconds, default.wait_seconds);
        assert_eq!(sqs.max_hold, default.max_hold);
        assert_eq!(sqs.max_messages_in_flight, default.max_messages_in_flight);
        assert_eq!(sqs.max_bytes_in_flight, default.max_bytes_in_flight);
        assert_eq!(sqs.retry_delay, default.retry_delay);
        assert_eq!(sqs.shutdown_timeout, default.shutdown_timeout);
        let fetch = a.fetch_settings().unwrap();
        let default = FetchSettings::default();
        assert_eq!(fetch.range_threshold, default.range_threshold);
        assert_eq!(fetch.part_size, default.part_size);
        assert_eq!(fetch.parts_in_flight, default.parts_in_flight);
    }

    #[test]
    fn out_of_range_values_name_their_flag() {
        let cases: &[(&[&str], &str)] = &[
            (&["--wait-seconds", "21"], "--wait-seconds"),
            (&["--max-hold", "50000"], "--max-hold"),
            (&["--visibility-timeout", "50000"], "--visibility-timeout"),
            (&["--receivers", "0"], "--receivers"),
            (
                &["--max-messages-in-flight", "9"],
                "--max-messages-in-flight",
            ),
            (&["--retry-delay", "901"], "--retry-delay"),
        ];
        for (extra, flag) in cases {
            let e = args(extra).sqs_settings("https://q").unwrap_err();
            assert!(e.to_string().contains(flag), "{extra:?}: {e}");
        }
        for (extra, flag) in [
            (["--part-size", "1000"], "--part-size"),
            (["--parts-in-flight", "65"], "--parts-in-flight"),
        ] {
            let e = args(&extra).fetch_settings().unwrap_err();
            assert!(e.to_string().contains(flag), "{extra:?}: {e}");
        }
        let e = args(&["--since", "2026-11-02", "--until", "2026-11-01"])
            .backfill_settings("b", "")
            .unwrap_err();
        assert!(e.to_string().contains("--since is after --until"), "{e}");
        let e = args(&["--until", "tomorrow"])
            .backfill_settings("b", "")
            .unwrap_err();
        assert!(format!("{e:#}").contains("--until"), "{e:#}");
    }

    #[test]
    fn backfill_options_need_an_s3_source() {
        let a = args(&["--since", "2026-11-01"]);
        let e = a
            .check_for(&SourceSpec::Sqs("https://q".into()))
            .unwrap_err();
        assert!(e.to_string().contains("s3: source only"), "{e}");
        a.check_for(&SourceSpec::S3 {
            bucket: "b".into(),
            prefix: String::new(),
        })
        .unwrap();
    }

    #[test]
    fn the_region_defaults_to_the_queue_urls() {
        let a = args(&[]);
        let o = a.aws_options(Some("https://sqs.eu-west-1.amazonaws.com/1/q"));
        assert_eq!(o.region.as_deref(), Some("eu-west-1"));
        let o = args(&["--region", "us-east-2"])
            .aws_options(Some("https://sqs.eu-west-1.amazonaws.com/1/q"));
        assert_eq!(o.region.as_deref(), Some("us-east-2"));
    }
}
