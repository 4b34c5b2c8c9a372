//! `logferry replay`: sends a dead-letter directory again once the cause is fixed (the work
//! itself is in `src/replay.rs`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::{run, runtime, Failure, FailureExt, Outcome};
use crate::pipeline::args::BatchArgs;
use crate::run_context::RunContext;
use crate::sink::args::SinkSpec;
use crate::sink::azure::args::AzureArgs;
use crate::sink::dead_letter::DeadLetters;
use crate::stats::Stats;

#[derive(Args)]
pub struct ReplayArgs {
    /// The dead-letter directory of a run (its --dead-letters).
    #[arg(long, env = "LOGFERRY_DEAD_LETTERS")]
    pub dead_letters: PathBuf,
    /// Where the rows go: azure, or dir:OUT.
    #[arg(long, env = "LOGFERRY_SINK")]
    pub sink: SinkSpec,
    /// TOML file of settings (as for run; the keys replay has no option for are ignored).
    #[arg(long, env = "LOGFERRY_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub batch: BatchArgs,
    /// Also replay unfinished `*.ndjson.zst.partial` files, which a killed run leaves (up to where they were cut). Never while a run is writing to the directory.
    #[arg(long)]
    pub include_partial: bool,
    #[command(flatten)]
    pub azure: AzureArgs,
}

pub fn replay(args: ReplayArgs) -> Result<Outcome, Failure> {
    let batch = args.batch.settings().usage()?;
    if !args.dead_letters.is_dir() {
        return Err(Failure::Usage(anyhow::anyhow!(
            "--dead-letters {}: not a directory",
            args.dead_letters.display()
        )));
    }
    // Rows refused again go to a directory of their own, not among the files being replayed.
    let rejects = args.dead_letters.join("replay-rejects");
    let dead = Arc::new(DeadLetters::new(&rejects));
    let stats = Arc::new(Stats::default());
    let plan = run::SinkPlan::new(&args.sink, &args.azure, batch.gzip_level)?;
    let rt = runtime(1)?;
    let sink = plan.build(&rt, &dead, &RunContext::with_stats(stats.clone()))?;
    let result = crate::replay::replay(
        &args.dead_letters,
        sink,
        &crate::replay::ReplaySettings {
            max_request_bytes: batch.max_request_bytes,
            gzip_level: batch.gzip_level,
            include_partial: args.include_partial,
        },
        &stats,
        &dead,
    );
    let closed = dead.close();
    rt.shutdown_timeout(Duration::from_secs(1));
    let report = result.runtime()?;
    closed
        .with_context(|| format!("writing {}", rejects.display()))
        .runtime()?;
    println!("{report}");
    Ok(Outcome::Success)
}
