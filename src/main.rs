//! The `logferry` command line: parse arguments, build the pipeline, run a command.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use logferry::frame::Limits;
use logferry::metrics::{self, Metrics};
use logferry::pipeline::Source;
use logferry::pipeline::{self, BatchSettings, Settings};
use logferry::route::{Router, Rule};
use logferry::run_context::RunContext;
use logferry::sink::azure::args::AzureArgs;
use logferry::sink::azure::AzureSink;
use logferry::sink::dead_letter::DeadLetters;
use logferry::sink::dir::DirSink;
use logferry::sink::Sink;
use logferry::source::aws::{self, AwsOptions, S3Clients};
use logferry::source::backfill::{self, BackfillSettings, BackfillSource};
use logferry::source::dir::DirSource;
use logferry::source::fetch::{FetchSettings, Fetcher};
use logferry::source::sqs::{SqsSettings, SqsSource};
use logferry::source::Stoppable;
use logferry::table::Table;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "logferry",
    version,
    about = "Moves AWS security logs (CloudTrail, GuardDuty, VPC Flow Logs) into Microsoft Sentinel tables."
)]
struct Cli {
    /// Log format: auto (human on a terminal, JSON otherwise), human or json. Log level from RUST_LOG (default info).
    #[arg(long, global = true, default_value = "auto", env = "LOGFERRY_LOG_FORMAT", value_parser = ["auto", "human", "json"])]
    log_format: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Read objects from a source, map them to Sentinel rows, and deliver request bodies to a sink.
    Run(Box<RunArgs>),
    /// Measure each stage and the whole CPU path on a generated corpus, next to the codec floor.
    Bench(logferry::bench::BenchArgs),
    /// Print the data collection rule (ARM template) for the Sentinel tables; deploy/azure/dcr.json holds the same.
    Dcr(DcrArgs),
    /// Send a dead-letter directory again once the cause is fixed: refused rows as they are, unmappable CloudTrail and GuardDuty records mapped again. Files done are renamed *.replayed.
    Replay(Box<ReplayArgs>),
    /// Run a strict local Azure Monitor Logs Ingestion API (and token endpoint) for tests and trials.
    Emulator(logferry::emulator::EmulatorArgs),
}

#[derive(Args)]
struct ReplayArgs {
    /// The dead-letter directory of a run (its --dead-letters).
    #[arg(long, env = "LOGFERRY_DEAD_LETTERS")]
    dead_letters: PathBuf,
    /// Where the rows go: azure, or dir:OUT.
    #[arg(long, env = "LOGFERRY_SINK")]
    sink: String,
    /// TOML file of settings (as for run; the keys replay has no option for are ignored).
    #[arg(long, env = "LOGFERRY_CONFIG")]
    config: Option<PathBuf>,
    /// Largest request body in bytes of uncompressed JSON.
    #[arg(long, env = "LOGFERRY_MAX_REQUEST_BYTES", default_value_t = 1_048_576)]
    max_request_bytes: usize,
    /// gzip level of request bodies, 0-9.
    #[arg(long, env = "LOGFERRY_GZIP_LEVEL", default_value_t = 1)]
    gzip_level: u32,
    /// Also replay unfinished `*.ndjson.zst.partial` files, which a killed run leaves (up to where they were cut). Never while a run is writing to the directory.
    #[arg(long)]
    include_partial: bool,
    #[command(flatten)]
    azure: AzureArgs,
}

#[derive(Args)]
struct DcrArgs {
    /// Only this table (cloudtrail, guardduty or vpcflow). Default: all three in one DCR.
    #[arg(long = "table")]
    table: Option<String>,
}

#[derive(Args)]
struct RunArgs {
    /// Where objects come from. `dir:PATH`: every file under PATH, its key the path relative to PATH (a local copy of a bucket), read once. `sqs:QUEUE_URL`: S3 notifications (direct, via SNS or EventBridge) from an SQS queue; runs until SIGINT/SIGTERM (or --stop-when-idle). `s3:BUCKET/PREFIX`: backfill of the objects already under PREFIX, read once (see --checkpoint, --since, --until).
    #[arg(long, env = "LOGFERRY_SOURCE")]
    source: String,
    /// Where request bodies go. `azure`: the Azure Monitor Logs Ingestion API (see the Azure options). `dir:OUT`: writes OUT/<Table>/*.json.gz, exactly the bodies the Azure sink would send.
    #[arg(long, env = "LOGFERRY_SINK")]
    sink: String,
    /// TOML file of settings: every key is an option of this command (`threads = 4`, `[aws] receivers = 8`, `[azure] endpoint = "https://…"`, `dcr = ["dcr-…"]`). Flags and LOGFERRY_ variables override it.
    #[arg(long, env = "LOGFERRY_CONFIG")]
    config: Option<PathBuf>,
    /// Dead-letter directory (zstd NDJSON of rejected records, rows and objects with their reason). Default: OUT/dead-letters for a dir sink, ./dead-letters for the azure sink.
    #[arg(long, env = "LOGFERRY_DEAD_LETTERS")]
    dead_letters: Option<PathBuf>,
    /// CPU worker threads (decode, frame, map, encode, gzip). Default: all cores.
    #[arg(long, env = "LOGFERRY_THREADS")]
    threads: Option<usize>,
    /// Largest request body in bytes of uncompressed JSON (the Logs Ingestion API allows 1 MiB).
    #[arg(long, env = "LOGFERRY_MAX_REQUEST_BYTES", default_value_t = 1_048_576)]
    max_request_bytes: usize,
    /// gzip level of request bodies, 0-9. 1 gives the most rows per second per core (see README).
    #[arg(long, env = "LOGFERRY_GZIP_LEVEL", default_value_t = 1)]
    gzip_level: u32,
    /// Route objects by key: PREFIX=TYPE, or ^REGEX=TYPE; TYPE is cloudtrail, guardduty, vpcflow or skip. Repeat the flag for several rules (the variable holds one); rules are checked in order, before the AWS key layout.
    #[arg(long = "route", env = "LOGFERRY_ROUTE")]
    routes: Vec<String>,
    /// Treat every object of the source as this type (cloudtrail, guardduty or vpcflow) instead of routing by key.
    #[arg(long = "type", env = "LOGFERRY_TYPE")]
    pinned: Option<String>,
    /// Records larger than this (decompressed bytes) are dead-lettered without being buffered.
    #[arg(long, env = "LOGFERRY_MAX_RECORD_BYTES", default_value_t = 8 << 20)]
    max_record_bytes: usize,
    /// Records are handed between threads in chunks of about this many decompressed bytes.
    #[arg(long, env = "LOGFERRY_CHUNK_BYTES", default_value_t = 1 << 20)]
    chunk_bytes: usize,
    /// A batch that is not full is sent after this many milliseconds.
    #[arg(long, env = "LOGFERRY_LINGER_MS", default_value_t = 1000)]
    linger_ms: u64,
    /// Also write the run summary as JSON to this file.
    #[arg(long, env = "LOGFERRY_SUMMARY_JSON")]
    summary_json: Option<PathBuf>,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
    /// Serve Prometheus metrics at http://ADDR/metrics and liveness at /healthz (e.g. 127.0.0.1:9898).
    #[arg(long, env = "LOGFERRY_METRICS")]
    metrics: Option<std::net::SocketAddr>,
    #[command(flatten)]
    aws: AwsArgs,
    #[command(flatten)]
    azure: AzureArgs,
}

#[derive(Args)]
#[command(next_help_heading = "AWS (sqs: and s3: sources)")]
struct AwsArgs {
    /// AWS region of the queue, and of buckets whose region a notification does not name. Default: the region in the queue URL, else the standard chain (AWS_REGION, profile).
    #[arg(long, env = "LOGFERRY_AWS_REGION")]
    region: Option<String>,
    /// Endpoint for SQS and S3 (an S3-compatible store, or moto in tests); S3 is then addressed path-style. AWS_ENDPOINT_URL works too.
    #[arg(long, env = "LOGFERRY_AWS_ENDPOINT")]
    aws_endpoint: Option<String>,
    /// Assume this IAM role (cross-account buckets) on top of the standard credential chain.
    #[arg(long, env = "LOGFERRY_ROLE_ARN")]
    role_arn: Option<String>,
    /// External ID for --role-arn, when the role's trust policy asks for one.
    #[arg(long, env = "LOGFERRY_EXTERNAL_ID", requires = "role_arn")]
    external_id: Option<String>,
    /// SQS receivers polling in parallel (10 messages per call each).
    #[arg(long, env = "LOGFERRY_RECEIVERS", default_value_t = 4)]
    receivers: usize,
    /// Long-poll wait of each ReceiveMessage call, 0-20 seconds. Also bounds how long a shutdown waits for a poll in progress.
    #[arg(long, env = "LOGFERRY_WAIT_SECONDS", default_value_t = 20)]
    wait_seconds: i32,
    /// Visibility timeout (seconds) asked for on receive. Default: the queue's own. Held messages are extended at half of it.
    #[arg(long, env = "LOGFERRY_VISIBILITY_TIMEOUT")]
    visibility_timeout: Option<u64>,
    /// Stop extending a message's visibility this many seconds after it was received (SQS allows at most 43200).
    #[arg(long, env = "LOGFERRY_MAX_HOLD", default_value_t = 14_400)]
    max_hold: u64,
    /// At most this many messages held at once; receiving pauses above it.
    #[arg(long, env = "LOGFERRY_MAX_MESSAGES_IN_FLIGHT", default_value_t = 1000)]
    max_messages_in_flight: usize,
    /// At most this many bytes (as stored) of objects named by held messages; receiving pauses above it.
    #[arg(long, env = "LOGFERRY_MAX_BYTES_IN_FLIGHT", default_value_t = 1 << 30)]
    max_bytes_in_flight: u64,
    /// Seconds before a message whose objects could not be delivered is visible again; doubled for each earlier receive, at most 900.
    #[arg(long, env = "LOGFERRY_RETRY_DELAY", default_value_t = 30)]
    retry_delay: u64,
    /// On SIGINT/SIGTERM, seconds to finish the work in hand before returning the rest to the queue.
    #[arg(long, env = "LOGFERRY_SHUTDOWN_TIMEOUT", default_value_t = 30)]
    shutdown_timeout: u64,
    /// Stop (as on SIGTERM) once no message arrived for this many seconds and nothing is held: drains a queue and exits.
    #[arg(long, env = "LOGFERRY_STOP_WHEN_IDLE")]
    stop_when_idle: Option<u64>,
    /// Objects of at least this many bytes are fetched as parallel ranged GETs.
    #[arg(long, env = "LOGFERRY_RANGE_THRESHOLD", default_value_t = 8 << 20)]
    range_threshold: u64,
    /// Size of each ranged GET.
    #[arg(long, env = "LOGFERRY_PART_SIZE", default_value_t = 8 << 20)]
    part_size: u64,
    /// Ranged GETs in flight per big object.
    #[arg(long, env = "LOGFERRY_PARTS_IN_FLIGHT", default_value_t = 4)]
    parts_in_flight: usize,
    /// s3: source: resumable checkpoint file (created if missing; an interrupted backfill resumed with it reads every object once).
    #[arg(long, env = "LOGFERRY_CHECKPOINT")]
    checkpoint: Option<PathBuf>,
    /// s3: source: only objects whose key date (…/YYYY/MM/DD/… or year=/month=/day=) is on or after this day (YYYY-MM-DD).
    #[arg(long, env = "LOGFERRY_SINCE")]
    since: Option<String>,
    /// s3: source: only objects whose key date is on or before this day (YYYY-MM-DD).
    #[arg(long, env = "LOGFERRY_UNTIL")]
    until: Option<String>,
}

/// A configuration error: reported with exit code 2.
struct UsageError(anyhow::Error);

/// Parses the command line, with `--config FILE`'s settings as the defaults of `run`.
fn parse() -> Result<Cli, UsageError> {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let mut cmd = Cli::command();
    // Only run and replay read a config file (LOGFERRY_CONFIG must not break `logferry dcr`).
    let sub = argv
        .iter()
        .skip(1)
        .map(|a| a.to_string_lossy())
        .find(|a| cmd.find_subcommand(a.as_ref()).is_some());
    let reads_config = matches!(sub.as_deref(), Some("run" | "replay"));
    if let Some(path) = logferry::config::config_path(&argv).filter(|_| reads_config) {
        let mut settings = usage(logferry::config::read(&path))?;
        // The one global option is set on the top-level command.
        if let Some(pos) = settings.iter().position(|s| s.long == "log-format") {
            let s = settings.remove(pos);
            let v = s.values.first().cloned().unwrap_or_default();
            cmd = cmd.mut_arg("log_format", |a| a.default_value(v));
        }
        for (name, lenient) in [("run", false), ("replay", true)] {
            let sub = cmd
                .find_subcommand(name)
                .cloned()
                .ok_or_else(|| UsageError(anyhow::anyhow!("no {name} command")))?;
            let sub = usage(
                logferry::config::apply(sub, &settings, lenient)
                    .with_context(|| format!("--config {}", path.display())),
            )?;
            cmd = cmd.mut_subcommand(name, |_| sub);
        }
    }
    let matches = cmd.get_matches_from(argv);
    Cli::from_arg_matches(&matches).map_err(|e| e.exit())
}

fn main() -> ExitCode {
    let cli = match parse() {
        Ok(c) => c,
        Err(UsageError(e)) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    init_logging(&cli.log_format);
    let result = match cli.command {
        Command::Run(args) => run(*args),
        Command::Bench(args) => logferry::bench::run(&args).map_err(Failure::Runtime),
        Command::Dcr(args) => print_dcr(&args),
        Command::Replay(args) => replay(*args),
        Command::Emulator(args) => logferry::emulator::run(args)
            .map(|()| ExitCode::SUCCESS)
            .map_err(|e| {
                if e.is::<logferry::emulator::ConfigError>() {
                    Failure::Usage(UsageError(e))
                } else {
                    Failure::Runtime(e)
                }
            }),
    };
    match result {
        Ok(code) => code,
        Err(Failure::Usage(UsageError(e))) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn replay(args: ReplayArgs) -> Result<ExitCode, Failure> {
    if !(1024..=1_048_576).contains(&args.max_request_bytes) || args.gzip_level > 9 {
        return Err(UsageError(anyhow::anyhow!(
            "--max-request-bytes must be 1024-1048576 and --gzip-level 0-9"
        ))
        .into());
    }
    if !args.dead_letters.is_dir() {
        return Err(UsageError(anyhow::anyhow!(
            "--dead-letters {}: not a directory",
            args.dead_letters.display()
        ))
        .into());
    }
    // Rows refused again go to a directory of their own, not among the files being replayed.
    let rejects = args.dead_letters.join("replay-rejects");
    let dead = Arc::new(DeadLetters::new(&rejects));
    let stats = Arc::new(logferry::stats::Stats::default());
    let rt = runtime(1).map_err(Failure::Runtime)?;
    let sink: Box<dyn Sink> = if args.sink == "azure" {
        let az = usage(args.azure.settings(args.gzip_level))?;
        let sink = AzureSink::new(
            az,
            rt.handle().clone(),
            dead.clone(),
            &RunContext::with_stats(stats.clone()),
        )
        .map_err(|e| Failure::Runtime(e.into()))?;
        sink.check_credentials()
            .map_err(|e| UsageError(anyhow::Error::new(e)))?;
        Box::new(sink)
    } else {
        let (_, out) =
            usage(spec("--sink", &args.sink, &["dir"]).context("--sink takes azure or dir:OUT"))?;
        Box::new(DirSink::new(out.as_ref()).map_err(|e| Failure::Runtime(e.into()))?)
    };
    let result = logferry::replay::replay(
        &args.dead_letters,
        sink,
        &logferry::replay::ReplaySettings {
            max_request_bytes: args.max_request_bytes,
            gzip_level: args.gzip_level,
            include_partial: args.include_partial,
        },
        &stats,
        &dead,
    );
    let closed = dead.close();
    rt.shutdown_timeout(Duration::from_secs(1));
    let report = result.map_err(|e| Failure::Runtime(e.into()))?;
    closed
        .with_context(|| format!("writing {}", rejects.display()))
        .map_err(Failure::Runtime)?;
    println!("{report}");
    Ok(ExitCode::SUCCESS)
}

fn print_dcr(args: &DcrArgs) -> Result<ExitCode, Failure> {
    let tables = match &args.table {
        None => Table::ALL.to_vec(),
        Some(t) => vec![Table::from_short(t).ok_or_else(|| {
            Failure::Usage(UsageError(anyhow::anyhow!(
                "--table {t}: expected cloudtrail, guardduty or vpcflow"
            )))
        })?],
    };
    print!("{}", logferry::sink::azure::dcr::render(&tables));
    Ok(ExitCode::SUCCESS)
}

enum Failure {
    Usage(UsageError),
    Runtime(anyhow::Error),
}

impl From<UsageError> for Failure {
    fn from(e: UsageError) -> Self {
        Failure::Usage(e)
    }
}

fn usage<T>(r: anyhow::Result<T>) -> Result<T, UsageError> {
    r.map_err(UsageError)
}

fn init_logging(format: &str) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let json = match format {
        "json" => true,
        "human" => false,
        _ => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn settings(args: &RunArgs) -> anyhow::Result<Settings> {
    if !(1024..=1_048_576).contains(&args.max_request_bytes) {
        bail!(
            "--max-request-bytes must be between 1024 and 1048576 (the API's limit), not {}",
            args.max_request_bytes
        );
    }
    if args.gzip_level > 9 {
        bail!("--gzip-level must be 0-9, not {}", args.gzip_level);
    }
    if args.threads == Some(0) {
        bail!("--threads must be at least 1");
    }
    // The framer's buffer holds at most about a chunk plus a record; offsets in it are 32-bit.
    if !(4096..=256 << 20).contains(&args.chunk_bytes) {
        bail!(
            "--chunk-bytes must be between 4096 and 268435456, not {}",
            args.chunk_bytes
        );
    }
    if !(1024..=1 << 30).contains(&args.max_record_bytes) {
        bail!(
            "--max-record-bytes must be between 1024 and 1073741824, not {}",
            args.max_record_bytes
        );
    }
    if args.linger_ms < 10 {
        bail!("--linger-ms must be at least 10, not {}", args.linger_ms);
    }
    let rules = args
        .routes
        .iter()
        .map(|r| r.parse::<Rule>().context("--route"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let pinned = match &args.pinned {
        None => None,
        Some(t) => Some(Table::from_short(t).with_context(|| {
            format!("--type '{t}' is not a log type: use cloudtrail, guardduty or vpcflow")
        })?),
    };
    Ok(Settings {
        threads: args
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        batch: BatchSettings {
            max_request_bytes: args.max_request_bytes,
            gzip_level: args.gzip_level,
        },
        limits: Limits {
            chunk_bytes: args.chunk_bytes,
            max_record_bytes: args.max_record_bytes,
        },
        linger: Duration::from_millis(args.linger_ms),
        router: Router { rules, pinned },
        ..Settings::default()
    })
}

fn spec<'a>(flag: &str, value: &'a str, kinds: &[&str]) -> anyhow::Result<(&'a str, &'a str)> {
    let forms = || {
        kinds
            .iter()
            .map(|k| match *k {
                "dir" => "dir:PATH",
                "sqs" => "sqs:QUEUE_URL",
                "s3" => "s3:BUCKET/PREFIX",
                other => other,
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    match value.split_once(':') {
        Some((kind, rest)) if kinds.contains(&kind) && !rest.is_empty() => Ok((kind, rest)),
        Some((kind, _)) if kind == "lookup" => bail!(
            "{flag} '{value}': the {kind} connector is not in this build yet; use {}",
            forms()
        ),
        _ => bail!("{flag} '{value}' is not understood: use {}", forms()),
    }
}

/// The I/O runtime: signals, the metrics server, and the SQS and S3 calls. The CPU work runs on
/// the pipeline's own threads; the runtime only waits on sockets and runs the SDK's request
/// code (about half a millisecond of CPU per GET). One I/O thread per four workers: measured
/// on 2 cores, a second I/O thread only added thread wake-ups (5% more CPU per record).
fn runtime(workers: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.div_ceil(4).max(1))
        .thread_name("logferry-io")
        .enable_all()
        .build()
        .context("starting the I/O runtime")
}

fn aws_options(a: &AwsArgs, queue_url: Option<&str>) -> AwsOptions {
    AwsOptions {
        region: a
            .region
            .clone()
            .or_else(|| queue_url.and_then(aws::region_of_queue_url)),
        endpoint: a.aws_endpoint.clone(),
        role_arn: a.role_arn.clone(),
        external_id: a.external_id.clone(),
    }
}

fn fetch_settings(a: &AwsArgs) -> anyhow::Result<FetchSettings> {
    if a.part_size < 1 << 20 {
        bail!(
            "--part-size must be at least 1048576 bytes, not {}",
            a.part_size
        );
    }
    if a.parts_in_flight == 0 || a.parts_in_flight > 64 {
        bail!("--parts-in-flight must be 1-64, not {}", a.parts_in_flight);
    }
    Ok(FetchSettings {
        range_threshold: a.range_threshold,
        part_size: a.part_size,
        parts_in_flight: a.parts_in_flight,
        ..FetchSettings::default()
    })
}

fn sqs_settings(a: &AwsArgs, url: &str) -> anyhow::Result<SqsSettings> {
    if !(0..=20).contains(&a.wait_seconds) {
        bail!(
            "--wait-seconds must be 0-20 (SQS's long-poll limit), not {}",
            a.wait_seconds
        );
    }
    if a.visibility_timeout.is_some_and(|v| v > 43_200) {
        bail!("--visibility-timeout must be at most 43200 seconds (SQS's limit)");
    }
    if a.max_hold > 43_200 {
        bail!(
            "--max-hold must be at most 43200 seconds (SQS's limit), not {}",
            a.max_hold
        );
    }
    if a.receivers == 0 || a.receivers > 256 {
        bail!("--receivers must be 1-256, not {}", a.receivers);
    }
    if a.max_messages_in_flight < 10 {
        bail!(
            "--max-messages-in-flight must be at least 10 (one receive), not {}",
            a.max_messages_in_flight
        );
    }
    if a.retry_delay > 900 {
        bail!(
            "--retry-delay must be at most 900 seconds, not {}",
            a.retry_delay
        );
    }
    if !url.starts_with("http://") && !url.starts_with("https://") {
        bail!("--source sqs:{url}: the queue URL must start with https:// (as GetQueueUrl or the console shows it)");
    }
    Ok(SqsSettings {
        receivers: a.receivers,
        wait_seconds: a.wait_seconds,
        visibility_timeout: a.visibility_timeout.map(Duration::from_secs),
        max_hold: Duration::from_secs(a.max_hold),
        max_messages_in_flight: a.max_messages_in_flight,
        max_bytes_in_flight: a.max_bytes_in_flight,
        retry_delay: Duration::from_secs(a.retry_delay),
        shutdown_timeout: Duration::from_secs(a.shutdown_timeout),
        stop_when_idle: a.stop_when_idle.map(Duration::from_secs),
        ..SqsSettings::new(url)
    })
}

fn backfill_settings(a: &AwsArgs, location: &str) -> anyhow::Result<BackfillSettings> {
    let (bucket, prefix) = backfill::parse_location(location)
        .with_context(|| format!("--source s3:{location}: use s3:BUCKET or s3:BUCKET/PREFIX"))?;
    let date = |flag: &str, v: &Option<String>| -> anyhow::Result<Option<u32>> {
        v.as_deref()
            .map(|s| {
                backfill::parse_date(s)
                    .with_context(|| format!("{flag} '{s}' is not a date: use YYYY-MM-DD"))
            })
            .transpose()
    };
    let since = date("--since", &a.since)?;
    let until = date("--until", &a.until)?;
    if let (Some(s), Some(u)) = (since, until) {
        if s > u {
            bail!("--since is after --until: nothing would be read");
        }
    }
    Ok(BackfillSettings {
        bucket,
        prefix,
        region: a.region.clone(),
        since,
        until,
        checkpoint: a.checkpoint.clone(),
    })
}

fn run(args: RunArgs) -> Result<ExitCode, Failure> {
    let settings = usage(settings(&args))?;
    let (kind, location) = usage(spec("--source", &args.source, &["dir", "sqs", "s3"]))?;
    let azure = args.sink == "azure";
    let azure_settings = if azure {
        Some(usage(args.azure.settings(args.gzip_level))?)
    } else {
        None
    };
    let out_path = if azure {
        ""
    } else {
        usage(spec("--sink", &args.sink, &["dir"]).context("--sink takes azure or dir:OUT"))?.1
    };
    if kind != "s3"
        && (args.aws.checkpoint.is_some() || args.aws.since.is_some() || args.aws.until.is_some())
    {
        return Err(UsageError(anyhow::anyhow!(
            "--checkpoint, --since and --until apply to an s3: source only"
        ))
        .into());
    }
    let rt = runtime(settings.threads).map_err(Failure::Runtime)?;
    let ctx = settings.ctx.clone();
    ctx.listen_for_signals(rt.handle());
    // The AWS configuration and the S3 fetcher both AWS sources read objects with.
    let aws = |queue_url: Option<&str>| -> Result<_, Failure> {
        let fetch = usage(fetch_settings(&args.aws))?;
        let config = aws_config(&rt, &aws_options(&args.aws, queue_url))?;
        let clients = Arc::new(S3Clients::new(config.clone()));
        let fetcher = Fetcher::new(clients.clone(), rt.handle().clone(), fetch, &ctx);
        Ok((config, clients, fetcher))
    };
    let mut source: Box<dyn Source> = match kind {
        "dir" => Box::new(Stoppable {
            inner: usage(DirSource::new(location.as_ref()).context("--source"))?,
            graceful: ctx.graceful.clone(),
        }),
        "sqs" => {
            let sqs_settings = usage(sqs_settings(&args.aws, location))?;
            let (config, _, fetcher) = aws(Some(location))?;
            let sqs = aws_sdk_sqs::Client::new(&config);
            Box::new(
                SqsSource::new(rt.handle().clone(), sqs, sqs_settings, fetcher, &ctx)
                    .map_err(Failure::Runtime)?,
            )
        }
        _ => {
            let backfill = usage(backfill_settings(&args.aws, location))?;
            let (_, clients, fetcher) = aws(None)?;
            let s3 = clients.get(backfill.region.as_deref());
            let inner = BackfillSource::new(rt.handle().clone(), s3, fetcher, backfill, &ctx)
                .map_err(|e| UsageError(e.context("--checkpoint")))?;
            Box::new(Stoppable {
                inner,
                graceful: ctx.graceful.clone(),
            })
        }
    };
    let metrics = match args.metrics {
        None => None,
        Some(addr) => {
            let m = Metrics::new(
                ctx.stats.clone(),
                (kind != "dir").then(|| ctx.source_stats.clone()),
                azure.then(|| ctx.sink_stats.clone()),
            );
            let bound = metrics::serve(rt.handle(), addr, m.clone())
                .with_context(|| format!("--metrics {addr}: cannot listen"))
                .map_err(UsageError)?;
            tracing::info!(addr = %bound, "serving /metrics and /healthz");
            m.running.store(true, Ordering::Relaxed);
            Some(m)
        }
    };
    let out = PathBuf::from(out_path);
    let dead_dir = args.dead_letters.clone().unwrap_or_else(|| {
        if azure {
            PathBuf::from("dead-letters")
        } else {
            out.join("dead-letters")
        }
    });
    let dead = Arc::new(DeadLetters::new(&dead_dir));
    let sink: Box<dyn Sink> = match azure_settings {
        Some(az) => {
            let targets: Vec<String> = az
                .targets
                .iter()
                .map(|t| format!("{}={}/{}", t.table.short(), t.dcr, t.stream))
                .collect();
            let endpoint = az.targets.first().map(|t| t.endpoint.clone());
            let auth = az.credential.kind();
            let sink = AzureSink::new(az, rt.handle().clone(), dead.clone(), &ctx)
                .map_err(|e| Failure::Runtime(e.into()))?;
            sink.check_credentials()
                .map_err(|e| UsageError(anyhow::Error::new(e)))?;
            tracing::info!(?endpoint, ?targets, auth, dead_letters = %dead_dir.display(), "sending to Azure Monitor Logs Ingestion");
            Box::new(sink)
        }
        None => Box::new(DirSink::new(&out).map_err(|e| Failure::Runtime(e.into()))?),
    };
    // A queue is never "done": its progress bar would mislead, the log says what happens.
    let progress = !args.quiet && kind != "sqs";
    let mut summary = pipeline::run(source.as_mut(), &settings, sink, dead, progress);
    summary.sink = ctx.sink_stats.summary();
    if let Some(m) = &metrics {
        m.running.store(false, Ordering::Relaxed);
    }
    drop(source);
    // Pending SDK calls are abandoned rather than awaited: every settle was sent in finish().
    rt.shutdown_timeout(Duration::from_secs(1));
    println!("{summary}");
    if let Some(path) = &args.summary_json {
        let json = serde_json::to_vec_pretty(&summary).map_err(|e| Failure::Runtime(e.into()))?;
        std::fs::write(path, json)
            .with_context(|| format!("writing --summary-json {}", path.display()))
            .map_err(Failure::Runtime)?;
    }
    // A queue's objects that failed are returned to it and retried: that is the normal course
    // of a long-running source, not a failed run. Read-once sources fail when one failed.
    let ok = if kind == "sqs" {
        summary.failures.0.keys().all(|k| k == "read_error")
    } else {
        summary.succeeded()
    };
    Ok(if !ok {
        ExitCode::from(1)
    } else if kind != "sqs" && ctx.graceful.is_cancelled() {
        eprintln!("interrupted: the objects not read yet were left for the next run");
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}

fn aws_config(
    rt: &tokio::runtime::Runtime,
    opts: &AwsOptions,
) -> Result<aws_config::SdkConfig, Failure> {
    let config = rt.block_on(aws::load(opts));
    if config.region().is_none() {
        return Err(UsageError(anyhow::anyhow!(
            "no AWS region: pass --region (or set AWS_REGION)"
        ))
        .into());
    }
    Ok(config)
}
