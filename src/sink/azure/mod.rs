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
//! Splitting re-encodes and re-compresses rows, which is CPU work: it runs on the blocking
//! pool, never on the I/O threads.

pub mod args;
pub mod auth;
pub mod client;
pub mod concurrency;
pub mod dcr;

use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::{Duration, Instant};

use backon::BackoffBuilder;
use bytes::Bytes;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use tokio_util::sync::CancellationToken;

use self::auth::{AuthError, TokenProvider};
use self::client::{Reply, Target};
use self::concurrency::{Bounds, Group, Limiter};
use super::dead_letter::{DeadLetter, DeadLetters};
use super::{Request, Settle, Sink, SinkError};
use crate::run_context::RunContext;
use crate::stats::{Counters, FailureKind, Stats};
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
pub type LatencyFamily = Family<Vec<(String, String)>, Histogram, fn() -> Histogram>;

/// Per-target call outcomes and latency, for metrics and the summary.
#[derive(Debug)]
pub struct SinkStats {
    /// `dcr|stream|status` -> calls.
    calls: Mutex<Counters>,
    /// Call latency by DCR and stream.
    pub latency: LatencyFamily,
    pub rows_accepted: PerTable<std::sync::atomic::AtomicU64>,
    pub splits: std::sync::atomic::AtomicU64,
    pub retries: std::sync::atomic::AtomicU64,
    pub token_refreshes: std::sync::atomic::AtomicU64,
    /// Current adaptive limit per target, `dcr|stream` -> limit.
    limits: Mutex<std::collections::BTreeMap<String, u64>>,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

impl Default for SinkStats {
    fn default() -> Self {
        SinkStats {
            calls: Mutex::default(),
            latency: Family::new_with_constructor(latency_histogram),
            rows_accepted: Default::default(),
            splits: Default::default(),
            retries: Default::default(),
            token_refreshes: Default::default(),
            limits: Mutex::default(),
        }
    }
}

impl SinkStats {
    fn call(&self, t: &Target, status: &str, secs: f64) {
        let key = format!("{}|{}|{status}", t.dcr, t.stream);
        self.calls.lock().add(&key, 1);
        self.latency
            .get_or_create(&vec![
                ("dcr".to_string(), t.dcr.clone()),
                ("stream".to_string(), t.stream.clone()),
            ])
            .observe(secs);
        self.limits.lock().insert(
            format!("{}|{}", t.dcr, t.stream),
            t.limiter.limit().floor() as u64,
        );
    }

    /// Calls by (dcr, stream, status).
    pub fn calls(&self) -> Vec<(String, String, String, u64)> {
        let calls = self.calls.lock();
        calls
            .0
            .iter()
            .filter_map(|(k, &v)| {
                let mut it = k.splitn(3, '|');
                Some((
                    it.next()?.to_string(),
                    it.next()?.to_string(),
                    it.next()?.to_string(),
                    v,
                ))
            })
            .collect()
    }

    /// The counters a run summary shows: calls as `dcr/stream:status`, then retries, splits
    /// and token refreshes.
    pub fn summary(&self) -> Counters {
        let mut c = Counters::default();
        for (dcr, stream, status, n) in self.calls() {
            c.add(&format!("{dcr}/{stream}:{status}"), n);
        }
        for (k, v) in [
            ("retries", &self.retries),
            ("splits", &self.splits),
            ("token_refreshes", &self.token_refreshes),
        ] {
            let n = Stats::get(v);
            if n > 0 {
                c.add(k, n);
            }
        }
        c
    }

    /// Current concurrency limit by (dcr, stream).
    pub fn limits(&self) -> Vec<(String, String, u64)> {
        let limits = self.limits.lock();
        limits
            .iter()
            .filter_map(|(k, &v)| {
                let (d, s) = k.split_once('|')?;
                Some((d.to_string(), s.to_string(), v))
            })
            .collect()
    }
}

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

/// A table whose first this many rows, each sent alone, were all refused while none was ever
/// accepted has a DCR that does not match the rows: stop rather than dead-letter everything
/// one request per row.
const REFUSED_BEFORE_STOP: u64 = 100;

/// One part of a request on its way: a range of the batch's rows and its body.
struct Part {
    rows: Range<usize>,
    body: Bytes,
}

/// A part was given up (retries exhausted, run aborted, sink stopped): its request drops
/// unsettled, so its objects fail.
struct GaveUp;

async fn deliver(shared: &Arc<Shared>, mut req: Request, settle: &Arc<dyn Settle>) {
    let rows = req.batch.rows();
    let body = Bytes::from(std::mem::take(&mut req.body));
    let mut todo = vec![Part {
        rows: 0..rows,
        body: body.clone(),
    }];
    let request = Arc::new(req);
    while let Some(part) = todo.pop() {
        match send_part(shared, &request, part).await {
            Ok(Sent::Done) => {}
            Ok(Sent::Split(halves)) => todo.extend(halves),
            Err(GaveUp) => return, // the request drops unsettled: its objects fail
        }
    }
    match Arc::try_unwrap(request) {
        Ok(mut req) => {
            // The body's buffer goes back to the pool (the client no longer holds it).
            req.body = body
                .try_into_mut()
                .map(Vec::from)
                .unwrap_or_else(|b| b.to_vec());
            settle.accepted(req)
        }
        Err(_) => tracing::error!("a request is still shared after its delivery"),
    }
}

enum Sent {
    Done,
    /// The part must be sent as these smaller parts (413, or 400 being bisected).
    Split(Vec<Part>),
}

fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

async fn send_part(shared: &Arc<Shared>, req: &Arc<Request>, part: Part) -> Result<Sent, GaveUp> {
    let Some(group) = &shared.groups[req.table] else {
        return Err(GaveUp);
    };
    let started = Instant::now();
    let mut backoff = backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(30))
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .build();
    let mut refreshed = false;
    loop {
        if shared.abort.is_cancelled() {
            return Err(GaveUp);
        }
        // Waiting for a slot (a paused DCR) and the call itself end early when the run aborts
        // (a failure, or the shutdown deadline): the request is then given up.
        let slot = tokio::select! {
            slot = group.acquire() => slot,
            () = shared.abort.cancelled() => return Err(GaveUp),
        };
        let target = slot.target.clone();
        // The token is taken after the wait for a slot, which can outlast it.
        let token = match shared.auth.token().await {
            Ok(t) => t,
            Err(e) if e.is_transient() => {
                drop(slot);
                tracing::warn!(error = %e, "cannot get an Azure token; retrying");
                wait_retry(shared, &mut backoff, None, started).await?;
                continue;
            }
            Err(e) => return Err(stop_for(shared, auth_fix(&e))),
        };
        let id = request_id();
        let sent = Instant::now();
        let (reply, status) = tokio::select! {
            r = client::post(&shared.http, &target, &token, part.body.clone(), &id) => r,
            () = shared.abort.cancelled() => return Err(GaveUp),
        };
        let rtt = sent.elapsed();
        let label = status.map_or_else(|| "error".to_string(), |s| s.to_string());
        shared.sink_stats.call(&target, &label, rtt.as_secs_f64());
        match reply {
            Reply::Accepted => {
                target.limiter.succeeded(rtt);
                target
                    .rows_accepted
                    .fetch_add(part.rows.len() as u64, Ordering::Relaxed);
                Stats::add(
                    &shared.sink_stats.rows_accepted[req.table],
                    part.rows.len() as u64,
                );
                return Ok(Sent::Done);
            }
            Reply::Throttled(retry_after, detail) => {
                // A zero or missing Retry-After must not turn into a tight loop.
                let wait = retry_after
                    .unwrap_or(Duration::from_secs(1))
                    .max(Duration::from_millis(100));
                tracing::info!(dcr = %target.dcr, request_id = %id, ?wait, %detail, "429: throttled; waiting Retry-After");
                target.limiter.throttled(wait);
                Stats::add(&shared.sink_stats.retries, 1);
                drop(slot);
                // The group waits for the pause (or picks another DCR of the table).
                if started.elapsed() > shared.retry_for {
                    tracing::warn!(dcr = %target.dcr, request_id = %id, "still throttled after the retry budget; giving the request up (its objects will be read again)");
                    return Err(GaveUp);
                }
            }
            Reply::Transient(retry_after, detail) => {
                target.limiter.failed();
                drop(slot);
                tracing::warn!(dcr = %target.dcr, stream = %target.stream, request_id = %id, error = %detail, "Logs Ingestion call failed; retrying");
                Stats::add(&shared.sink_stats.retries, 1);
                wait_retry(shared, &mut backoff, retry_after, started).await?;
            }
            Reply::Unauthorized(detail) => {
                drop(slot);
                if refreshed {
                    return Err(stop_for(
                        shared,
                        format!(
                            "Azure answered 401 to a fresh token for DCR {} (request id {id}): {detail}. Check that the token's audience is the Logs Ingestion API (--azure-scope) and the tenant is the DCR's",
                            target.dcr
                        ),
                    ));
                }
                tracing::info!(dcr = %target.dcr, request_id = %id, "401: getting a new token");
                shared.auth.invalidate(&token);
                Stats::add(&shared.sink_stats.token_refreshes, 1);
                refreshed = true;
            }
            Reply::TooLarge(detail) => {
                drop(slot);
                tracing::info!(dcr = %target.dcr, request_id = %id, rows = part.rows.len(), bytes = part.body.len(), %detail, "413: splitting the request");
                if part.rows.len() == 1 {
                    dead_letter_row(shared, req, part.rows.start, "azure_413", &detail, &id)
                        .await?;
                    return Ok(Sent::Done);
                }
                return split(shared, req, part.rows).await.map(Sent::Split);
            }
            Reply::BadRequest(detail) => {
                drop(slot);
                if part.rows.len() == 1 {
                    let refused = target.rows_refused.fetch_add(1, Ordering::Relaxed) + 1;
                    let accepted = target.rows_accepted.load(Ordering::Relaxed);
                    if refused >= REFUSED_BEFORE_STOP && accepted == 0 {
                        return Err(stop_for(
                            shared,
                            format!(
                                "DCR {} stream {} refused each of the first {refused} rows of {} it was sent one by one and accepted none (request id {id}): {detail}. The DCR does not match this logferry's rows: deploy deploy/azure/dcr.json of this version (logferry dcr)",
                                target.dcr, target.stream, req.table
                            ),
                        ));
                    }
                    tracing::warn!(dcr = %target.dcr, request_id = %id, error = %detail, "400: a row was refused; dead-lettered");
                    dead_letter_row(shared, req, part.rows.start, "azure_400", &detail, &id)
                        .await?;
                    return Ok(Sent::Done);
                }
                tracing::info!(dcr = %target.dcr, request_id = %id, rows = part.rows.len(), error = %detail, "400: bisecting the request to find the refused rows");
                return split(shared, req, part.rows).await.map(Sent::Split);
            }
            Reply::Refused(code, detail) => {
                let fix = match code {
                    403 => "give the application the Monitoring Metrics Publisher role on the DCR (it can take 30 minutes to apply)",
                    404 => "check the endpoint, the DCR immutable id and the stream name (logferry dcr shows the streams)",
                    _ => "check the [azure] configuration",
                };
                return Err(stop_for(
                    shared,
                    format!(
                        "Azure refused requests to DCR {} stream {} with HTTP {code} (request id {id}): {detail}. Fix: {fix}",
                        target.dcr, target.stream
                    ),
                ));
            }
        }
    }
}

/// Sleeps the next backoff delay (or the server's `Retry-After`, if longer), unless the retry budget is spent or the run is aborting.
async fn wait_retry(
    shared: &Shared,
    backoff: &mut impl Iterator<Item = Duration>,
    at_least: Option<Duration>,
    started: Instant,
) -> Result<(), GaveUp> {
    let delay = backoff
        .next()
        .unwrap_or(Duration::from_secs(30))
        .max(at_least.unwrap_or_default());
    if started.elapsed() + delay > shared.retry_for {
        tracing::warn!(
            "a request failed for longer than the retry budget; giving it up (its objects will be read again)"
        );
        return Err(GaveUp);
    }
    // Wake up early when the run aborts.
    tokio::select! {
        () = tokio::time::sleep(delay) => Ok(()),
        () = shared.abort.cancelled() => Err(GaveUp),
    }
}

/// Records the configuration error that stops the sink.
fn stop_for(shared: &Shared, message: String) -> GaveUp {
    let mut fatal = shared.fatal.lock();
    if fatal.is_none() {
        tracing::error!("{message}");
        *fatal = Some(message);
    }
    shared.abort.cancel();
    GaveUp
}

/// The two halves of `rows`, encoded and compressed on the blocking pool.
async fn split(
    shared: &Arc<Shared>,
    req: &Arc<Request>,
    rows: Range<usize>,
) -> Result<Vec<Part>, GaveUp> {
    Stats::add(&shared.sink_stats.splits, 1);
    let mid = rows.start + rows.len() / 2;
    let req = req.clone();
    let level = shared.gzip_level;
    let parts = tokio::task::spawn_blocking(move || {
        [rows.start..mid, mid..rows.end]
            .into_iter()
            .map(|r| Part {
                body: Bytes::from(req.batch.request_body(r.clone(), level).0),
                rows: r,
            })
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|_| GaveUp)?;
    // Sent first half first: `todo` is a stack.
    Ok(parts.into_iter().rev().collect())
}

/// Writes one refused row to the dead-letter store (a file write: on the blocking pool, not on
/// the I/O threads).
async fn dead_letter_row(
    shared: &Arc<Shared>,
    req: &Arc<Request>,
    row: usize,
    reason: &'static str,
    detail: &str,
    request_id: &str,
) -> Result<(), GaveUp> {
    let mut json = Vec::new();
    req.batch.encode_ndjson(row..row + 1, &mut json);
    while json.last() == Some(&b'\n') {
        json.pop();
    }
    let objects: Vec<&str> = req.tickets.iter().map(|t| t.key()).collect();
    let key = match objects.as_slice() {
        [] => req.origin.clone().unwrap_or_default(),
        [one] => one.to_string(),
        many => format!("one of {} objects: {}", many.len(), many.join(", ")),
    };
    let mut dl = DeadLetter::new(
        &key,
        reason,
        format!("{detail} (x-ms-client-request-id {request_id})"),
    );
    dl.table = Some(req.table.name().to_string());
    dl.row = Some(String::from_utf8_lossy(&json).into_owned());
    let store = shared.dead.clone();
    let written = tokio::task::spawn_blocking(move || store.write(&dl))
        .await
        .map_err(|_| GaveUp)?;
    if let Err(e) = written {
        tracing::error!(error = %e, "cannot write a dead letter; the request fails");
        shared.stats.failure(FailureKind::DeadLetterWrite);
        return Err(GaveUp);
    }
    shared.stats.dead_letter(reason);
    Ok(())
}
