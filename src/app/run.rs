//! `logferry run`: builds the source and the sink that `--source` and `--sink` name, runs the
//! pipeline between them, and reports.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::{runtime, Failure, FailureExt, Outcome};
use crate::metrics::{self, Metrics};
use crate::pipeline::args::PipelineArgs;
use crate::pipeline::{self, Source};
use crate::run_context::RunContext;
use crate::sink::args::SinkSpec;
use crate::sink::azure::args::AzureArgs;
use crate::sink::azure::{AzureSettings, AzureSink};
use crate::sink::dead_letter::DeadLetters;
use crate::sink::dir::DirSink;
use crate::sink::Sink;
use crate::source::args::{AwsArgs, SourceSpec};
use crate::source::aws::{self, AwsOptions, S3Clients};
use crate::source::backfill::BackfillSource;
use crate::source::dir::DirSource;
use crate::source::fetch::Fetcher;
use crate::source::sqs::SqsSource;
use crate::source::Stoppable;

#[derive(Args)]
pub struct RunArgs {
    /// Where objects come from. `dir:PATH`: every file under PATH, its key the path relative to PATH (a local copy of a bucket), read once. `sqs:QUEUE_URL`: S3 notifications (direct, via SNS or EventBridge) from an SQS queue; runs until SIGINT/SIGTERM (or --stop-when-idle). `s3:BUCKET/PREFIX`: backfill of the objects already under PREFIX, read once (see --checkpoint, --since, --until).
    #[arg(long, env = "LOGFERRY_SOURCE")]
    pub source: SourceSpec,
    /// Where request bodies go. `azure`: the Azure Monitor Logs Ingestion API (see the Azure options). `dir:OUT`: writes OUT/<Table>/*.json.gz, exactly the bodies the Azure sink would send.
    #[arg(long, env = "LOGFERRY_SINK")]
    pub sink: SinkSpec,
    /// TOML file of settings: every key is an option of this command (`threads = 4`, `[aws] receivers = 8`, `[azure] endpoint = "https://…"`, `dcr = ["dcr-…"]`). Flags and LOGFERRY_ variables override it.
    #[arg(long, env = "LOGFERRY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Dead-letter directory (zstd NDJSON of rejected records, rows and objects with their reason). Default: OUT/dead-letters for a dir sink, ./dead-letters for the azure sink.
    #[arg(long, env = "LOGFERRY_DEAD_LETTERS")]
    pub dead_letters: Option<PathBuf>,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    /// Also write the run summary as JSON to this file.
    #[arg(long, env = "LOGFERRY_SUMMARY_JSON")]
    pub summary_json: Option<PathBuf>,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
    /// Serve Prometheus metrics at http://ADDR/metrics and liveness at /healthz (e.g. 127.0.0.1:9898).
    #[arg(long, env = "LOGFERRY_METRICS")]
    pub metrics: Option<std::net::SocketAddr>,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub azure: AzureArgs,
}

pub fn run(args: RunArgs) -> Result<Outcome, Failure> {
    let settings = args.pipeline.settings().usage()?;
    args.aws.check_for(&args.source).usage()?;
    // Checked before anything is contacted, so a bad option never costs a connection.
    let plan = SinkPlan::new(&args.sink, &args.azure, settings.batch.gzip_level)?;
    let azure = matches!(plan, SinkPlan::Azure(_));
    let rt = runtime(settings.threads)?;
    let ctx = settings.ctx.clone();
    ctx.listen_for_signals(rt.handle());
    let mut source = source(&args, &rt, &ctx)?;
    let metrics = match args.metrics {
        None => None,
        Some(addr) => {
            let m = Metrics::new(
                ctx.stats.clone(),
                args.source.is_aws().then(|| ctx.source_stats.clone()),
                azure.then(|| ctx.sink_stats.clone()),
            );
            let bound = metrics::serve(rt.handle(), addr, m.clone())
                .with_context(|| format!("--metrics {addr}: cannot listen"))
                .usage()?;
            tracing::info!(addr = %bound, "serving /metrics and /healthz");
            m.running.store(true, Ordering::Relaxed);
            Some(m)
        }
    };
    let dead_dir = args
        .dead_letters
        .clone()
        .unwrap_or_else(|| match &args.sink {
            SinkSpec::Azure => PathBuf::from("dead-letters"),
            SinkSpec::Dir(out) => out.join("dead-letters"),
        });
    let dead = Arc::new(DeadLetters::new(&dead_dir));
    if azure {
        tracing::info!(dead_letters = %dead_dir.display(), "dead letters of the azure sink");
    }
    let sink = plan.build(&rt, &dead, &ctx)?;
    // A queue is never "done": its progress bar would mislead, the log says what happens.
    let progress = !args.quiet && args.source.is_read_once();
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
        let json = serde_json::to_vec_pretty(&summary).runtime()?;
        std::fs::write(path, json)
            .with_context(|| format!("writing --summary-json {}", path.display()))
            .runtime()?;
    }
    // A queue's objects that failed are returned to it and retried: that is the normal course
    // of a long-running source, not a failed run. Read-once sources fail when one failed.
    let ok = if args.source.is_read_once() {
        summary.succeeded()
    } else {
        summary.succeeded_as_a_queue()
    };
    Ok(if !ok {
        Outcome::Failed
    } else if args.source.is_read_once() && ctx.graceful.is_cancelled() {
        eprintln!("interrupted: the objects not read yet were left for the next run");
        Outcome::Interrupted
    } else {
        Outcome::Success
    })
}

/// The source `--source` names, ready to run.
fn source(
    args: &RunArgs,
    rt: &tokio::runtime::Runtime,
    ctx: &RunContext,
) -> Result<Box<dyn Source>, Failure> {
    // The AWS configuration and the S3 fetcher both AWS sources read objects with.
    let aws = |queue_url: Option<&str>| -> Result<_, Failure> {
        let fetch = args.aws.fetch_settings().usage()?;
        let config = aws_config(rt, &args.aws.aws_options(queue_url))?;
        let clients = Arc::new(S3Clients::new(config.clone()));
        let fetcher = Fetcher::new(clients.clone(), rt.handle().clone(), fetch, ctx);
        Ok((config, clients, fetcher))
    };
    Ok(match &args.source {
        SourceSpec::Dir(path) => Box::new(Stoppable {
            inner: DirSource::new(path).context("--source").usage()?,
            graceful: ctx.graceful.clone(),
        }),
        SourceSpec::Sqs(url) => {
            let sqs_settings = args.aws.sqs_settings(url).usage()?;
            let (config, _, fetcher) = aws(Some(url))?;
            let sqs = aws_sdk_sqs::Client::new(&config);
            Box::new(
                SqsSource::new(rt.handle().clone(), sqs, sqs_settings, fetcher, ctx).runtime()?,
            )
        }
        SourceSpec::S3 { bucket, prefix } => {
            let backfill = args.aws.backfill_settings(bucket, prefix).usage()?;
            let (_, clients, fetcher) = aws(None)?;
            let s3 = clients.get(backfill.region.as_deref());
            let inner = BackfillSource::new(rt.handle().clone(), s3, fetcher, backfill, ctx)
                .map_err(|e| Failure::Usage(e.context("--checkpoint")))?;
            Box::new(Stoppable {
                inner,
                graceful: ctx.graceful.clone(),
            })
        }
    })
}

/// The sink `--sink` names, its options checked.
pub enum SinkPlan {
    Dir(PathBuf),
    Azure(Box<AzureSettings>),
}

impl SinkPlan {
    pub fn new(spec: &SinkSpec, azure: &AzureArgs, gzip_level: u32) -> Result<Self, Failure> {
        Ok(match spec {
            SinkSpec::Dir(out) => SinkPlan::Dir(out.clone()),
            SinkSpec::Azure => SinkPlan::Azure(Box::new(azure.settings(gzip_level).usage()?)),
        })
    }

    /// The sink. The Azure sink checks its credentials before it is handed back, so a wrong
    /// secret or a missing role stops the run before anything is read.
    pub fn build(
        self,
        rt: &tokio::runtime::Runtime,
        dead: &Arc<DeadLetters>,
        ctx: &RunContext,
    ) -> Result<Box<dyn Sink>, Failure> {
        Ok(match self {
            SinkPlan::Dir(out) => Box::new(DirSink::new(&out).runtime()?),
            SinkPlan::Azure(az) => {
                let targets: Vec<String> = az
                    .targets
                    .iter()
                    .map(|t| format!("{}={}/{}", t.table.short(), t.dcr, t.stream))
                    .collect();
                let endpoint = az.targets.first().map(|t| t.endpoint.clone());
                let auth = az.credential.kind();
                let sink = AzureSink::new(*az, rt.handle().clone(), dead.clone(), ctx).runtime()?;
                sink.check_credentials().usage()?;
                tracing::info!(
                    ?endpoint,
                    ?targets,
                    auth,
                    "sending to Azure Monitor Logs Ingestion"
                );
                Box::new(sink)
            }
        })
    }
}

fn aws_config(
    rt: &tokio::runtime::Runtime,
    opts: &AwsOptions,
) -> Result<aws_config::SdkConfig, Failure> {
    let config = rt.block_on(aws::load(opts));
    if config.region().is_none() {
        return Err(Failure::Usage(anyhow::anyhow!(
            "no AWS region: pass --region (or set AWS_REGION)"
        )));
    }
    Ok(config)
}
