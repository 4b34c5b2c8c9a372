//! One request's way to the service: a slot on a target of its table, a token, the call, and
//! what the answer leads to (settle, split on 413, bisect on 400, retry, pause, stop), as the
//! table at the top of `src/sink/azure/mod.rs` lists.

use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::BackoffBuilder;
use bytes::Bytes;

use super::client::{self, Reply};
use super::{auth_fix, Shared};
use crate::sink::dead_letter::DeadLetter;
use crate::sink::{Request, Settle};
use crate::stats::{FailureKind, Stats};

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

pub(super) async fn deliver(shared: &Arc<Shared>, mut req: Request, settle: &Arc<dyn Settle>) {
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
