//! The application behind the command line: `run`, `replay` and `dcr` build their sources and
//! sinks here from parsed options, so that `src/main.rs` only parses, sets up logging and turns
//! an [`Outcome`] or a [`Failure`] into an exit code.
//!
//! Where things go: a source is a [`crate::source::args::SourceSpec`] variant plus its
//! construction in [`run`]; a sink is a [`crate::sink::args::SinkSpec`] variant plus its
//! construction in [`run::sink`]; options live with the stage that reads them
//! (`src/source/args.rs`, `src/pipeline/args.rs`, `src/sink/azure/args.rs`).

pub mod dcr;
pub mod replay;
pub mod run;

use std::process::ExitCode;

use anyhow::Context;

/// How a command that ran ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every object was shipped or dead-lettered (exit 0).
    Success,
    /// Some object failed, or the sink or source stopped the run (exit 1).
    Failed,
    /// A read-once source was stopped by a signal; what was not read is left for the next run
    /// (exit 130, as a shell reports an interrupted command).
    Interrupted,
}

impl Outcome {
    pub fn exit_code(self) -> ExitCode {
        match self {
            Outcome::Success => ExitCode::SUCCESS,
            Outcome::Failed => ExitCode::from(1),
            Outcome::Interrupted => ExitCode::from(130),
        }
    }
}

/// Why a command could not do its job.
#[derive(Debug)]
pub enum Failure {
    /// Bad options or configuration: the message names the flag and the fix (exit 2).
    Usage(anyhow::Error),
    /// Something failed while running: an unreadable file, a full disk (exit 1).
    Runtime(anyhow::Error),
}

impl Failure {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Failure::Usage(_) => ExitCode::from(2),
            Failure::Runtime(_) => ExitCode::from(1),
        }
    }

    pub fn error(&self) -> &anyhow::Error {
        match self {
            Failure::Usage(e) | Failure::Runtime(e) => e,
        }
    }
}

/// Tags an error with the kind of failure it is.
pub trait FailureExt<T> {
    /// A configuration error (exit 2).
    fn usage(self) -> Result<T, Failure>;
    /// A runtime error (exit 1).
    fn runtime(self) -> Result<T, Failure>;
}

impl<T, E: Into<anyhow::Error>> FailureExt<T> for Result<T, E> {
    fn usage(self) -> Result<T, Failure> {
        self.map_err(|e| Failure::Usage(e.into()))
    }
    fn runtime(self) -> Result<T, Failure> {
        self.map_err(|e| Failure::Runtime(e.into()))
    }
}

/// The I/O runtime: signals, the metrics server, and the SQS, S3 and Azure calls. The CPU work
/// runs on the pipeline's own threads; the runtime only waits on sockets and runs the SDKs'
/// request code (about half a millisecond of CPU per GET). One I/O thread per four workers:
/// measured on 2 cores, a second I/O thread only added thread wake-ups (5% more CPU per
/// record).
pub fn runtime(workers: usize) -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.div_ceil(4).max(1))
        .thread_name("logferry-io")
        .enable_all()
        .build()
        .context("starting the I/O runtime")
        .runtime()
}
