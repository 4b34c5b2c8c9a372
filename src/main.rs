//! The `logferry` command line: parses the arguments (with `--config FILE` as defaults), sets
//! up logging, runs a command of [`logferry::app`] and maps how it ended to an exit code: 0
//! done, 1 a runtime failure, 2 bad usage or configuration, 130 interrupted.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use logferry::app::{self, Failure, Outcome};

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
    Run(Box<app::run::RunArgs>),
    /// Measure each stage and the whole CPU path on a generated corpus, next to the codec floor.
    Bench(logferry::bench::BenchArgs),
    /// Print the data collection rule (ARM template) for the Sentinel tables; deploy/azure/dcr.json holds the same.
    Dcr(app::dcr::DcrArgs),
    /// Send a dead-letter directory again once the cause is fixed: refused rows as they are, unmappable CloudTrail and GuardDuty records mapped again. Files done are renamed *.replayed.
    Replay(Box<app::replay::ReplayArgs>),
    /// Run a strict local Azure Monitor Logs Ingestion API (and token endpoint) for tests and trials.
    Emulator(logferry::emulator::EmulatorArgs),
}

/// Parses the command line, with `--config FILE`'s settings as the defaults of `run` and
/// `replay`. A bad config file is a usage error; clap's own errors exit here (status 2).
fn parse() -> Result<Cli, Failure> {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cmd = logferry::config::with_config_file(Cli::command(), &argv).map_err(Failure::Usage)?;
    let matches = cmd.get_matches_from(argv);
    Cli::from_arg_matches(&matches).map_err(|e| e.exit())
}

fn execute(command: Command) -> Result<Outcome, Failure> {
    match command {
        Command::Run(args) => app::run::run(*args),
        Command::Bench(args) => logferry::bench::run(&args)
            .map(|_| Outcome::Success)
            .map_err(Failure::Runtime),
        Command::Dcr(args) => app::dcr::dcr(&args),
        Command::Replay(args) => app::replay::replay(*args),
        Command::Emulator(args) => logferry::emulator::run(args)
            .map(|()| Outcome::Success)
            .map_err(|e| {
                if e.is::<logferry::emulator::ConfigError>() {
                    Failure::Usage(e)
                } else {
                    Failure::Runtime(e)
                }
            }),
    }
}

fn main() -> ExitCode {
    let result = parse().and_then(|cli| {
        init_logging(&cli.log_format);
        execute(cli.command)
    });
    match result {
        Ok(outcome) => outcome.exit_code(),
        Err(failure) => {
            eprintln!("error: {:#}", failure.error());
            failure.exit_code()
        }
    }
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
