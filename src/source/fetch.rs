//! Fetching S3 objects into the synchronous decoder.
//!
//! The CPU workers read objects through [`std::io::Read`]; S3 is asynchronous. [`Fetcher::open`]
//! bridges the two: it spawns the download on the I/O runtime, which sends the body's pieces
//! through a small bounded channel, and returns a reader that blocks on that channel. The
//! channel is the backpressure: a worker that maps slowly leaves the download waiting instead
//! of buffering the object, so memory does not grow with object size.
//!
//! - **Big objects** (at least `range_threshold` bytes) are fetched as ranged GETs of
//!   `part_size`, `parts_in_flight` at a time, and fed to the decoder in order. Every part is
//!   conditional on the ETag the `HeadObject` saw, so a part of a newer version of the object
//!   can never be spliced into an older one.
//! - **Truncated bodies** are detected against `Content-Length` (a connection cut short ends
//!   the body early without an error on some paths) and resumed with a ranged GET from the
//!   first missing byte, conditional on the same ETag.
//! - **Errors are classified**: throttling, 5xx, timeouts and connection failures are retried
//!   with exponential backoff and jitter (`backon`) on top of the SDK's own retries; anything
//!   else (missing object, access denied, a changed object) fails the read at once. A failed
//!   read fails the object, so its SQS message is not deleted and comes back.
//! - The stream ends with an explicit end marker: a download task that vanished (a panic, a
//!   dropped runtime) reads as an error, never as a short object that looked complete.

use std::io::{self, Read};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use backon::{ExponentialBuilder, Retryable};
use bytes::{Bytes, BytesMut};
use futures_util::{stream, StreamExt};
use tokio::sync::mpsc;

use super::aws::S3Clients;
use super::SourceStats;
use crate::run_context::RunContext;

#[derive(Debug, Clone, Copy)]
pub struct FetchSettings {
    /// Objects of at least this many bytes are fetched as parallel ranged GETs.
    pub range_threshold: u64,
    pub part_size: u64,
    /// Ranged GETs in flight per object.
    pub parts_in_flight: usize,
    /// Attempts per request (and per resume of a cut body), with backoff between them.
    pub attempts: usize,
}

impl FetchSettings {
    pub const DEFAULT_RANGE_THRESHOLD: u64 = 8 << 20;
    pub const DEFAULT_PART_SIZE: u64 = 8 << 20;
    /// Smaller parts would make the per-request cost dominate.
    pub const MIN_PART_SIZE: u64 = 1 << 20;
    pub const DEFAULT_PARTS_IN_FLIGHT: usize = 4;
    pub const MAX_PARTS_IN_FLIGHT: usize = 64;
    pub const DEFAULT_ATTEMPTS: usize = 4;
}

impl Default for FetchSettings {
    fn default() -> Self {
        FetchSettings {
            range_threshold: Self::DEFAULT_RANGE_THRESHOLD,
            part_size: Self::DEFAULT_PART_SIZE,
            parts_in_flight: Self::DEFAULT_PARTS_IN_FLIGHT,
            attempts: Self::DEFAULT_ATTEMPTS,
        }
    }
}

/// Where an object is.
#[derive(Debug, Clone)]
pub struct Location {
    pub bucket: String,
    pub key: String,
    pub region: Option<String>,
    /// The size the notification or listing gave, if any.
    pub size: Option<u64>,
    pub version_id: Option<String>,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

enum Piece {
    Data(Bytes),
    End,
}

type Tx = mpsc::Sender<io::Result<Piece>>;

/// A fetch error: whether retrying may help, and what to tell the operator.
#[derive(Debug)]
struct FetchError {
    transient: bool,
    message: String,
}

impl FetchError {
    fn permanent(message: String) -> Self {
        FetchError {
            transient: false,
            message,
        }
    }
}

fn classify<E, R>(what: &str, loc: &Location, e: SdkError<E, R>) -> FetchError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug + HasStatus,
{
    let transient = match &e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(s) => {
            let status = s.raw().status_code();
            status >= 500 || status == 429
        }
        _ => false,
    };
    FetchError {
        transient,
        message: format!("{what} {loc}: {}", DisplayErrorContext(&e)),
    }
}

/// The HTTP status of a raw response, whatever its type.
pub trait HasStatus {
    fn status_code(&self) -> u16;
}

impl HasStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

/// Sent when the reader went away (the worker stopped reading): not an error of the object.
const GONE: &str = "reader gone";

pub struct Fetcher {
    clients: Arc<S3Clients>,
    rt: tokio::runtime::Handle,
    settings: FetchSettings,
    stats: Arc<SourceStats>,
    latency: crate::stats::Latency,
}

impl Fetcher {
    /// Counts into the run's source counters and fetch latency (`ctx.source_stats`,
    /// `ctx.stats.latency`).
    pub fn new(
        clients: Arc<S3Clients>,
        rt: tokio::runtime::Handle,
        settings: FetchSettings,
        ctx: &RunContext,
    ) -> Arc<Self> {
        Arc::new(Fetcher {
            clients,
            rt,
            settings,
            stats: ctx.source_stats.clone(),
            latency: ctx.stats.latency.clone(),
        })
    }

    /// Starts fetching `loc` and returns a reader of its bytes. Call it from a worker thread,
    /// never from the runtime: the reader blocks.
    pub fn open(self: &Arc<Self>, loc: Location) -> Box<dyn Read + Send> {
        let (tx, rx) = mpsc::channel(4);
        let me = self.clone();
        self.rt.spawn(async move {
            let started = Instant::now();
            match me.fetch(&loc, &tx).await {
                Ok(()) => {
                    SourceStats::add(&me.stats.objects_fetched, 1);
                    me.latency.fetch.observe(started.elapsed().as_secs_f64());
                }
                Err(e) if e.message == GONE => {}
                Err(e) => {
                    SourceStats::add(&me.stats.fetch_errors, 1);
                    let _ = tx.send(Err(io::Error::other(e.message))).await;
                }
            }
        });
        Box::new(ChannelReader {
            rx,
            current: Bytes::new(),
            ended: false,
        })
    }

    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(200))
            .with_max_delay(Duration::from_secs(10))
            .with_max_times(self.settings.attempts.saturating_sub(1))
            .with_jitter()
    }

    /// Runs `op` until it succeeds or fails permanently, retrying transient errors with
    /// [`Fetcher::backoff`] and counting each retry.
    async fn retried<T, Fut>(&self, op: impl FnMut() -> Fut) -> Result<T, FetchError>
    where
        Fut: std::future::Future<Output = Result<T, FetchError>>,
    {
        op.retry(self.backoff())
            .when(|e: &FetchError| e.transient)
            .notify(|e: &FetchError, _| {
                SourceStats::add(&self.stats.fetch_retries, 1);
                tracing::debug!(error = %e.message, "retrying");
            })
            .await
    }

    async fn fetch(&self, loc: &Location, tx: &Tx) -> Result<(), FetchError> {
        let client = self.clients.get(loc.region.as_deref());
        match loc.size {
            Some(size) if size >= self.settings.range_threshold => {
                self.fetch_ranged(&client, loc, tx).await
            }
            _ => self.fetch_streaming(&client, loc, tx).await,
        }
    }

    /// One GET, streamed; a body cut short is resumed from where it stopped.
    async fn fetch_streaming(
        &self,
        client: &aws_sdk_s3::Client,
        loc: &Location,
        tx: &Tx,
    ) -> Result<(), FetchError> {
        let mut offset = 0u64;
        let mut total: Option<u64> = None;
        let mut etag: Option<String> = None;
        let mut resumes = 0;
        loop {
            let range = (offset > 0).then(|| format!("bytes={offset}-"));
            let resp = self
                .retried(|| async {
                    client
                        .get_object()
                        .bucket(&loc.bucket)
                        .key(&loc.key)
                        .set_version_id(loc.version_id.clone())
                        .set_range(range.clone())
                        .set_if_match(etag.clone())
                        .send()
                        .await
                        .map_err(|e| classify("GetObject", loc, e))
                })
                .await?;
            let length = resp.content_length().and_then(|l| u64::try_from(l).ok());
            if total.is_none() {
                // Without a Content-Length (some S3-compatible stores), the size the
                // notification or listing gave still detects a body cut short.
                total = length.or(loc.size);
            }
            if etag.is_none() {
                etag = resp.e_tag().map(str::to_owned);
            }
            let mut body = resp.body;
            let mut cut = None;
            let mut pending = BytesMut::new();
            loop {
                match body.next().await {
                    Some(Ok(b)) => {
                        offset += b.len() as u64;
                        SourceStats::add(&self.stats.bytes_fetched, b.len() as u64);
                        if pending.is_empty() && b.len() >= COALESCE {
                            send(tx, b).await?;
                        } else {
                            pending.extend_from_slice(&b);
                            if pending.len() >= COALESCE {
                                send(tx, pending.split().freeze()).await?;
                            }
                        }
                    }
                    Some(Err(e)) => {
                        cut = Some(e.to_string());
                        break;
                    }
                    None => break,
                }
            }
            send(tx, pending.freeze()).await?;
            match (total, cut) {
                // All the bytes came; an error after the last one loses nothing.
                (Some(t), _) if offset == t => break,
                (None, None) => break,
                (Some(t), None) if offset > t => {
                    return Err(FetchError::permanent(format!(
                        "{loc}: got {offset} bytes, more than its Content-Length {t}"
                    )))
                }
                (t, why) => {
                    resumes += 1;
                    let detail = format!(
                        "{loc}: body ended at byte {offset} of {} ({})",
                        t.map_or("?".into(), |t| t.to_string()),
                        why.as_deref().unwrap_or("connection closed early")
                    );
                    if resumes >= self.settings.attempts || t.is_none() {
                        return Err(FetchError::permanent(format!(
                            "{detail}; gave up after {resumes} attempts"
                        )));
                    }
                    SourceStats::add(&self.stats.fetch_retries, 1);
                    tracing::warn!("{detail}; resuming");
                    tokio::time::sleep(Duration::from_millis(200 << resumes.min(5))).await;
                }
            }
        }
        end(tx).await
    }

    /// Parallel ranged GETs of a big object, delivered in order.
    async fn fetch_ranged(
        &self,
        client: &aws_sdk_s3::Client,
        loc: &Location,
        tx: &Tx,
    ) -> Result<(), FetchError> {
        let head = self
            .retried(|| async {
                client
                    .head_object()
                    .bucket(&loc.bucket)
                    .key(&loc.key)
                    .set_version_id(loc.version_id.clone())
                    .send()
                    .await
                    .map_err(|e| classify("HeadObject", loc, e))
            })
            .await?;
        let size = head
            .content_length()
            .and_then(|l| u64::try_from(l).ok())
            .ok_or_else(|| FetchError::permanent(format!("{loc}: HeadObject gave no size")))?;
        let etag = head.e_tag().map(str::to_owned);
        let part = self.settings.part_size.max(1);
        let ranges: Vec<(u64, u64)> = (0..size.div_ceil(part))
            .map(|i| (i * part, ((i + 1) * part).min(size) - 1))
            .collect();
        let mut parts = stream::iter(ranges)
            .map(|(first, last)| {
                let etag = etag.clone();
                async move { self.fetch_part(client, loc, first, last, etag).await }
            })
            .buffered(self.settings.parts_in_flight.max(1));
        while let Some(bytes) = parts.next().await {
            send(tx, bytes?).await?;
        }
        end(tx).await
    }

    async fn fetch_part(
        &self,
        client: &aws_sdk_s3::Client,
        loc: &Location,
        first: u64,
        last: u64,
        etag: Option<String>,
    ) -> Result<Bytes, FetchError> {
        let want = last - first + 1;
        let bytes = self
            .retried(|| async {
                let resp = client
                    .get_object()
                    .bucket(&loc.bucket)
                    .key(&loc.key)
                    .set_version_id(loc.version_id.clone())
                    .range(format!("bytes={first}-{last}"))
                    .set_if_match(etag.clone())
                    .send()
                    .await
                    .map_err(|e| classify("GetObject (range)", loc, e))?;
                let bytes = resp
                    .body
                    .collect()
                    .await
                    .map_err(|e| FetchError {
                        transient: true,
                        message: format!("{loc} bytes {first}-{last}: {e}"),
                    })?
                    .into_bytes();
                if bytes.len() as u64 != want {
                    return Err(FetchError {
                        transient: true,
                        message: format!(
                            "{loc} bytes {first}-{last}: got {} bytes instead of {want}",
                            bytes.len()
                        ),
                    });
                }
                Ok(bytes)
            })
            .await?;
        SourceStats::add(&self.stats.ranged_parts, 1);
        SourceStats::add(&self.stats.bytes_fetched, want);
        Ok(bytes)
    }
}

/// The HTTP body arrives in pieces of a few KiB; handing each to the worker would wake it (a
/// context switch on each side) thousands of times per object, which `perf` showed as most of
/// the S3 path's extra CPU. Pieces are gathered to this size first, at the cost of one copy.
const COALESCE: usize = 256 << 10;

async fn send(tx: &Tx, b: Bytes) -> Result<(), FetchError> {
    if b.is_empty() {
        return Ok(());
    }
    tx.send(Ok(Piece::Data(b)))
        .await
        .map_err(|_| FetchError::permanent(GONE.into()))
}

async fn end(tx: &Tx) -> Result<(), FetchError> {
    tx.send(Ok(Piece::End))
        .await
        .map_err(|_| FetchError::permanent(GONE.into()))
}

/// The worker's side: blocks on the channel the download task fills.
struct ChannelReader {
    rx: mpsc::Receiver<io::Result<Piece>>,
    current: Bytes,
    ended: bool,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            if self.ended {
                return Ok(0);
            }
            match self.rx.blocking_recv() {
                Some(Ok(Piece::Data(b))) => self.current = b,
                Some(Ok(Piece::End)) => self.ended = true,
                Some(Err(e)) => return Err(e),
                None => {
                    return Err(io::Error::other(
                        "the download stopped without finishing the object",
                    ))
                }
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        let _ = self.current.split_to(n);
        Ok(n)
    }
}
