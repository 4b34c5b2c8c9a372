//! The Azure Monitor Logs Ingestion sink: request bodies from the data plane's batches, sent
//! to one or more DCR targets per table, settled when the service accepted every row.
//!
//! The pipeline's sink thread hands each sealed request to [`AzureSink::send`], which waits
//! only for room in a bounded set of outstanding deliveries (that wait is the backpressure the
//! CPU workers feel) and spawns the delivery on the I/O runtime. Deliveries run concurrently,
//! each on the target of its table with the most free room (see [`concurrency`]), and settle
//! their request when done, in whatever order the service answers; the request's tickets
//! then let the source delete the SQS messages. Nothing is settled early: a delivery that
//! gives up drops its request, which fails its objects, and their messages come back.
//!
//! What each answer leads to (the codes are those of the REST specification,
//! <https://github.com/Azure/azure-rest-api-specs/blob/main/specification/monitor/data-plane/ingestion/stable/2023-01-01/DataCollectionRules.json>,
//! and of the troubleshooting section of
//! <https://learn.microsoft.com/azure/azure-monitor/logs/tutorial-logs-ingestion-code>):
//! - 204: settled.
//! - 413: split the rows in halves and send each (the batch keeps rows, so no re-parsing).
//! - 400: bisect the same way until the refused rows are alone; those are dead-lettered with
//!   the service's error body, every other row is sent. When the first 100 rows of a table
//!   isolated this way were all refused and none was ever accepted, the DCR does not match the
//!   rows at all (an old DCR, a wrong stream): that is a configuration error, not 100 bad rows.
//! - 429: the target pauses for `Retry-After` and its concurrency halves; the request takes
//!   the next free slot, on another DCR of the table if there is one.
//! - 5xx, timeouts, connection errors: retry with exponential backoff and jitter (`backon`),
//!   for up to `retry_for`, then give up on the request (its messages come back later).
//! - 401: fetch a new token and retry, once per request; a second 401 means the credentials
//!   cannot write there: stop.
//! - 403, 404, other 4xx, a token endpoint refusing the credentials: stop the run with a
//!   configuration error naming the DCR and the fix. Retrying cannot help, and deleting
//!   nothing while an operator fixes the role assignment is what "no lost data" needs.
//!
//! A run that aborts (a failure elsewhere, or the SQS source's shutdown deadline: the run's
//! abort token, see `src/run_context.rs`) ends the deliveries still waiting for a slot, an
//! answer or a retry at once: their requests fail and their messages come back. A
//! configuration error found here aborts the run the same way.
//!
//! The parts: `delivery.rs` takes one request through its answers as listed above,
//! `stats.rs` counts calls per target, `client.rs` makes one call and reads its answer,
//! `auth.rs` gets tokens, `concurrency.rs` sizes each target's concurrency and picks the
//! target, `dcr.rs` renders the DCR, `args.rs` holds the options.
//!
//! Splitting re-encodes and re-compresses rows, which is CPU work: it runs on the blocking
//! pool, never on the I/O threads.

pub mod args;
pub mod auth;
pub mod client;
pub mod concurrency;
pub mod dcr;
mod delivery;
mod stats;

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

use self::auth::{AuthError, TokenProvider};
use self::client::Target;
use self::concurrency::{Bounds, Group, Limiter};
use self::delivery::deliver;
pub use self::stats::{LatencyFamily, SinkStats};
use super::dead_letter::DeadLetters;
use super::{Request, Settle, Sink, SinkError};
use crate::run_context::RunContext;
use crate::stats::Stats;
use crate::table::{PerTable, Table};

/// Where one table's rows may go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSpec {
    pub table: Table,
    pub endpoint: String,
    pub dcr: String,
    pub stream: String,
}

#[derive(Debug, Clone)]
pub struct AzureSettings {
    pub targets: Vec<TargetSpec>,
    pub credential: auth::Credential,
    pub scope: String,
    /// Per-call timeout.
    pub timeout: Duration,
    pub concurrency: Bounds,
    /// How long a request is retried on transient failures before it is given up.
    pub retry_for: Duration,
    /// gzip level for bodies re-encoded after a split.
    pub gzip_level: u32,
}

/// Histograms labelled with DCR and stream.
struct Shared {
    http: reqwest::Client,
    auth: TokenProvider,
    groups: PerTable<Option<Group<Target>>>,
    dead: Arc<DeadLetters>,
    stats: Arc<Stats>,
    sink_stats: Arc<SinkStats>,
    /// The configuration error that stopped the sink.
    fatal: Mutex<Option<String>>,
    /// The run's abort (a failure, the shutdown deadline, or this sink's configuration error):
    /// stop waiting and retrying.
    abort: CancellationToken,
    retry_for: Duration,
    gzip_level: u32,
}

pub struct AzureSink {
    rt: tokio::runtime::Handle,
    shared: Arc<Shared>,
    outstanding: Arc<tokio::sync::Semaphore>,
    max_outstanding: u32,
}

impl AzureSink {
    /// Counts into `ctx.stats` (dead letters, failures) and `ctx.sink_stats` (calls), and
    /// gives up its deliveries when `ctx.abort` is cancelled (cancelling it itself on a
    /// configuration error).
    pub fn new(
        settings: AzureSettings,
        rt: tokio::runtime::Handle,
        dead: Arc<DeadLetters>,
        ctx: &RunContext,
    ) -> Result<Self, SinkError> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(Duration::from_secs(10).min(settings.timeout))
            .pool_idle_timeout(Duration::from_secs(60))
            // A redirected POST becomes a GET without a body: never follow one.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("logferry/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SinkError::Config(format!("cannot build the HTTP client: {e}")))?;
        let mut groups: PerTable<Option<Group<Target>>> = PerTable::default();
        let mut max_outstanding = 0u32;
        for table in Table::ALL {
            let targets: Vec<Arc<Target>> = settings
                .targets
                .iter()
                .filter(|t| t.table == table)
                .map(|t| {
                    Arc::new(Target::new(
                        table,
                        &t.endpoint,
                        &t.dcr,
                        &t.stream,
                        Limiter::new(settings.concurrency),
                    ))
                })
                .collect();
            if targets.is_empty() {
                tracing::warn!(
                    table = %table,
                    "no DCR target for this table: an object of it will stop the run"
                );
            } else {
                max_outstanding += (targets.len() as f64 * settings.concurrency.max) as u32;
                groups[table] = Some(Group::new(targets));
            }
        }
        // Room for every slot to be busy plus as many waiting (a throttled table's requests
        // wait here, not in memory without bound).
        let max_outstanding = (2 * max_outstanding).max(2);
        let auth = TokenProvider::new(settings.credential, settings.scope, http.clone());
        Ok(AzureSink {
            rt,
            shared: Arc::new(Shared {
                http,
                auth,
                groups,
                dead,
                stats: ctx.stats.clone(),
                sink_stats: ctx.sink_stats.clone(),
                fatal: Mutex::new(None),
                abort: ctx.abort.clone(),
                retry_for: settings.retry_for,
                gzip_level: settings.gzip_level,
            }),
            outstanding: Arc::new(tokio::sync::Semaphore::new(max_outstanding as usize)),
            max_outstanding,
        })
    }

    /// Gets a token now, so wrong credentials fail the start instead of the first request.
    /// A token endpoint that cannot be reached now is not a configuration error: deliveries
    /// retry it.
    pub fn check_credentials(&self) -> Result<(), SinkError> {
        let shared = self.shared.clone();
        match self
            .rt
            .block_on(async move { shared.auth.token().await.map(drop) })
        {
            Ok(()) => Ok(()),
            Err(e) if e.is_transient() => {
                tracing::warn!(error = %e, "cannot get an Azure token yet; deliveries will retry");
                Ok(())
            }
            Err(e) => Err(SinkError::Config(auth_fix(&e))),
        }
    }

    fn fatal(&self) -> Option<String> {
        self.shared.fatal.lock().clone()
    }
}

/// What to tell the operator about a token failure.
fn auth_fix(e: &AuthError) -> String {
    match e {
        AuthError::Refused { .. } => format!(
            "{e}. Check the tenant id, client id and secret (or the federated credential / managed identity) in the [azure] configuration"
        ),
        _ => e.to_string(),
    }
}

impl Sink for AzureSink {
    fn send(&mut self, req: Request, settle: &Arc<dyn Settle>) -> Result<(), SinkError> {
        if let Some(f) = self.fatal() {
            return Err(SinkError::Config(f));
        }
        if self.shared.groups[req.table].is_none() {
            return Err(SinkError::Config(format!(
                "no DCR target for table {}: add one to [azure] (dcr = [\"{}=dcr-...\"])",
                req.table,
                req.table.short()
            )));
        }
        let permit = match self.rt.block_on(self.outstanding.clone().acquire_owned()) {
            Ok(p) => p,
            Err(_) => return Err(SinkError::Config("the sink is closed".into())),
        };
        let shared = self.shared.clone();
        let settle = settle.clone();
        self.rt.spawn(async move {
            let _permit = permit;
            deliver(&shared, req, &settle).await;
        });
        Ok(())
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        // Every delivery holds a permit: all of them back means all settled or given up.
        let all = self.max_outstanding;
        let _ = self
            .rt
            .block_on(self.outstanding.clone().acquire_many_owned(all));
        match self.fatal() {
            Some(f) => Err(SinkError::Config(f)),
            None => Ok(()),
        }
    }
}
