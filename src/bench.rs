//! `logferry bench` (placeholder, replaced below).
#[derive(clap::Args)]
pub struct BenchArgs {}
pub fn run(_: &BenchArgs) -> anyhow::Result<std::process::ExitCode> { Ok(std::process::ExitCode::SUCCESS) }
