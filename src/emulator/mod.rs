//! `logferry emulator`: a strict local Azure Monitor Logs Ingestion API, with the token
//! endpoints its clients need, for tests, benchmarks and trials.
//!
//! Azure cannot be reached from where logferry is tested, so this module implements the
//! documented contract of the API, from these documents:
//! - "Logs Ingestion API in Azure Monitor",
//!   <https://learn.microsoft.com/azure/azure-monitor/logs/logs-ingestion-api-overview>;
//! - "Azure Monitor service limits", <https://learn.microsoft.com/azure/azure-monitor/service-limits>;
//! - the troubleshooting section of the ingestion tutorial,
//!   <https://learn.microsoft.com/azure/azure-monitor/logs/tutorial-logs-ingestion-code>;
//! - the REST specification `DataCollectionRules.json` 2023-01-01,
//!   <https://github.com/Azure/azure-rest-api-specs/blob/main/specification/monitor/data-plane/ingestion/stable/2023-01-01/DataCollectionRules.json>.
//!
//! It is written from those documents, never from logferry's sink: it knows the tables only
//! through the DCR JSON files users deploy ([`dcr`]), and it shares no code with the engine.
//!
//! Where Azure is documented (or known) to be more lenient, the emulator is strict, so a test
//! fails where real data would be lost quietly: undeclared columns and values of the wrong type
//! are a 400 (Azure drops or converts them), and a bare JSON object is a 400 (Azure answers 204
//! and ingests nothing). Where the documents fix nothing (401 and 404 bodies, how a minute is
//! measured), the choice is stated in the module that makes it.
//!
//! One file per job: [`dcr`] reads rules, [`auth`] issues and checks tokens, [`ingest`] runs
//! the checks of an ingestion request, [`validate`] checks rows against a stream declaration,
//! [`limits`] keeps the per-DCR rate limits, [`fault`] injects faults, [`store`] keeps counts
//! and rows, [`control`] serves `/emulator/...`, [`server`] listens and routes.

pub mod auth;
pub mod control;
pub mod dcr;
pub mod error;
pub mod fault;
pub mod ingest;
pub mod limits;
pub mod server;
pub mod store;
pub mod validate;

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

pub use error::ConfigError;

/// The DCR the project ships (`deploy/azure/dcr.json`), loaded when no `--dcr` is given.
pub const SHIPPED_DCR: &str = include_str!("../../deploy/azure/dcr.json");

/// The immutable id of the shipped DCR in the emulator.
pub const DEFAULT_DCR_ID: &str = "dcr-logferry-emulator";

/// Options of `logferry emulator`.
#[derive(Args, Debug, Clone)]
#[command(
    after_help = "Strict mode: the emulator refuses with 400 what Azure would silently drop or convert (undeclared columns, values of the wrong type, a body that is a bare object), so a test fails where real data would be lost.\n\nControl endpoints (no token): GET /emulator/counts, GET /emulator/rows/{Table}, POST /emulator/faults (JSON array of specs), DELETE /emulator/faults, POST /emulator/expire-tokens."
)]
pub struct EmulatorArgs {
    /// Address to listen on (plain HTTP/1.1). Port 0 picks a free port; the first line on stdout says which: `logferry emulator listening on http://IP:PORT`.
    #[arg(
        long,
        env = "LOGFERRY_EMULATOR_LISTEN",
        value_name = "ADDR",
        default_value = "127.0.0.1:8089"
    )]
    pub listen: SocketAddr,
    /// Data collection rule to serve, [IMMUTABLE_ID=]FILE: an ARM template (every Microsoft.Insights/dataCollectionRules resource) or one DCR resource JSON. The id is IMMUTABLE_ID, else the file's properties.immutableId, else dcr-<file stem>. Repeatable. Default: the shipped deploy/azure/dcr.json as `dcr-logferry-emulator`.
    #[arg(long = "dcr", env = "LOGFERRY_EMULATOR_DCR", value_name = "[ID=]FILE")]
    pub dcrs: Vec<String>,
    /// Append accepted rows to DIR/<Table>.ndjson (one compact JSON object per line, as received). Default: counts only, in memory.
    #[arg(long, env = "LOGFERRY_EMULATOR_STORE", value_name = "DIR")]
    pub store: Option<PathBuf>,
    /// An application that may get tokens with client credentials, CLIENT_ID=SECRET (the secret is also the expected client_assertion for workload identity; JWTs are not verified). Repeatable.
    #[arg(
        long = "client",
        env = "LOGFERRY_EMULATOR_CLIENT",
        hide_env_values = true,
        value_name = "ID=SECRET",
        default_value = "logferry-emulator=emulator-secret"
    )]
    pub clients: Vec<String>,
    /// Client id of the managed identity that GET /metadata/identity/oauth2/token (IMDS shape, header `Metadata: true`) issues tokens for.
    #[arg(
        long,
        env = "LOGFERRY_EMULATOR_MANAGED_IDENTITY",
        value_name = "CLIENT_ID",
        default_value = "logferry-emulator-mi"
    )]
    pub managed_identity: String,
    /// Grant CLIENT_ID access to DCR_ID, CLIENT_ID=DCR_ID (Monitoring Metrics Publisher on that DCR). A principal with no --allow may use every DCR; one with entries only those (403 elsewhere). Repeatable.
    #[arg(
        long = "allow",
        env = "LOGFERRY_EMULATOR_ALLOW",
        value_name = "CLIENT_ID=DCR_ID"
    )]
    pub allow: Vec<String>,
    /// Lifetime of issued tokens in seconds (expires_in).
    #[arg(
        long,
        env = "LOGFERRY_EMULATOR_TOKEN_LIFETIME",
        value_name = "SECS",
        default_value_t = 3600
    )]
    pub token_lifetime: u64,
    /// Largest request body as sent (compressed), in bytes; 413 above. The API's limit is 1 MB.
    #[arg(
        long,
        env = "LOGFERRY_EMULATOR_MAX_BODY_BYTES",
        value_name = "BYTES",
        default_value_t = 1_048_576
    )]
    pub max_body_bytes: usize,
    /// Largest request body after gzip decoding, in bytes; 413 above. The API's limit is 1 MB.
    #[arg(
        long,
        env = "LOGFERRY_EMULATOR_MAX_RAW_BYTES",
        value_name = "BYTES",
        default_value_t = 1_048_576
    )]
    pub max_raw_bytes: usize,
    /// Requests per DCR in any 60-second window; 429 with Retry-After above. The API's limit is 12,000/min.
    #[arg(
        long,
        env = "LOGFERRY_EMULATOR_REQUESTS_PER_MINUTE",
        value_name = "N",
        default_value_t = 12_000
    )]
    pub requests_per_minute: u64,
    /// Uncompressed body bytes per DCR in any 60-second window; 429 with Retry-After above. The API's limit is 2 GB/min (read as 2,000,000,000 bytes, the stricter reading).
    #[arg(
        long,
        env = "LOGFERRY_EMULATOR_BYTES_PER_MINUTE",
        value_name = "BYTES",
        default_value_t = 2_000_000_000
    )]
    pub bytes_per_minute: u64,
    /// Inject a fault into ingestion requests, [DCR_ID/]KIND=VALUE: latency=MS or latency=MIN-MAX, 500=P, 503=P, 429=P (probability 0..1), reset=P (close the connection without an answer), storm=SECS (every request 429 for SECS seconds from the first one). With DCR_ID/ only requests to that DCR. Faults act after the token, DCR and access checks. Repeatable; replaceable at run time with POST /emulator/faults.
    #[arg(long = "fault", env = "LOGFERRY_EMULATOR_FAULT", value_name = "SPEC")]
    pub faults: Vec<String>,
}

/// Runs the emulator until SIGINT or SIGTERM. A [`ConfigError`] in the result means bad
/// arguments.
pub fn run(args: EmulatorArgs) -> anyhow::Result<()> {
    let state = Arc::new(build(&args)?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("logferry-emulator")
        .enable_all()
        .build()
        .context("starting the emulator's runtime")?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let local = listener.local_addr().context("local address")?;
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "logferry emulator listening on http://{local}")
                .and_then(|()| out.flush())
                .context("writing to stdout")?;
        }
        server::describe(local, &state);
        server::serve(listener, state, shutdown_signal()).await;
        tracing::info!("emulator stopped");
        anyhow::Ok(())
    })?;
    rt.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn pair<'a>(
    flag: &'static str,
    value: &'a str,
    form: &str,
) -> Result<(&'a str, &'a str), ConfigError> {
    match value.split_once('=') {
        Some((a, b)) if !a.is_empty() && !b.is_empty() => Ok((a, b)),
        _ => Err(ConfigError::BadFlag {
            flag,
            value: value.to_string(),
            reason: format!("expected {form}"),
        }),
    }
}

fn at_least_one(flag: &'static str, v: u64) -> Result<(), ConfigError> {
    if v == 0 {
        return Err(ConfigError::BadFlag {
            flag,
            value: "0".into(),
            reason: "must be at least 1".into(),
        });
    }
    Ok(())
}

/// Checks the arguments and loads the DCRs.
pub fn build(args: &EmulatorArgs) -> Result<server::State, ConfigError> {
    at_least_one("--token-lifetime", args.token_lifetime)?;
    at_least_one("--max-body-bytes", args.max_body_bytes as u64)?;
    at_least_one("--max-raw-bytes", args.max_raw_bytes as u64)?;
    at_least_one("--requests-per-minute", args.requests_per_minute)?;
    at_least_one("--bytes-per-minute", args.bytes_per_minute)?;
    let loaded = if args.dcrs.is_empty() {
        dcr::parse(SHIPPED_DCR, true, DEFAULT_DCR_ID).map_err(|reason| ConfigError::BadDcr {
            spec: "(shipped deploy/azure/dcr.json)".into(),
            reason,
        })?
    } else {
        let mut all = Vec::new();
        for spec in &args.dcrs {
            all.extend(dcr::load_spec(spec)?);
        }
        all
    };
    let mut dcrs = HashMap::new();
    let mut tables: Vec<String> = Vec::new();
    for d in loaded {
        for s in d.streams.values() {
            for t in &s.tables {
                if !tables.contains(t) {
                    tables.push(t.clone());
                }
            }
        }
        if dcrs.contains_key(&d.id) {
            return Err(ConfigError::DuplicateDcr(d.id));
        }
        dcrs.insert(d.id.clone(), d);
    }
    tables.sort();
    let mut clients = HashMap::new();
    for c in &args.clients {
        let (id, secret) = pair("--client", c, "CLIENT_ID=SECRET")?;
        clients.insert(id.to_string(), secret.to_string());
    }
    let mut allow: HashMap<String, HashSet<String>> = HashMap::new();
    for a in &args.allow {
        let (who, dcr_id) = pair("--allow", a, "CLIENT_ID=DCR_ID")?;
        if !clients.contains_key(who) && who != args.managed_identity {
            return Err(ConfigError::BadFlag {
                flag: "--allow",
                value: a.clone(),
                reason: format!("'{who}' is neither a --client nor the --managed-identity"),
            });
        }
        if !dcrs.contains_key(dcr_id) {
            return Err(ConfigError::BadFlag {
                flag: "--allow",
                value: a.clone(),
                reason: format!("no loaded data collection rule has the id '{dcr_id}'"),
            });
        }
        allow
            .entry(who.to_string())
            .or_default()
            .insert(dcr_id.to_string());
    }
    let known: Vec<&str> = dcrs.keys().map(String::as_str).collect();
    let faults = args
        .faults
        .iter()
        .map(|f| {
            fault::parse(f, &known).map_err(|reason| ConfigError::BadFlag {
                flag: "--fault",
                value: f.clone(),
                reason,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut ids: Vec<String> = dcrs.keys().cloned().collect();
    ids.sort();
    let store =
        store::Store::new(args.store.clone(), &tables, &ids).map_err(|e| ConfigError::BadFlag {
            flag: "--store",
            value: args
                .store
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            reason: format!("cannot create the directory: {e}"),
        })?;
    Ok(server::State {
        dcrs,
        tables,
        auth: auth::Auth::new(
            clients,
            args.managed_identity.clone(),
            allow,
            Duration::from_secs(args.token_lifetime),
        ),
        limits: limits::RateLimits::new(args.requests_per_minute, args.bytes_per_minute),
        faults: fault::Faults::new(faults),
        store,
        max_body_bytes: args.max_body_bytes,
        max_raw_bytes: args.max_raw_bytes,
    })
}
