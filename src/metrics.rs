//! `--metrics ADDR`: Prometheus (OpenMetrics text) at `/metrics` and a liveness answer at
//! `/healthz`.
//!
//! The counters already live in [`Stats`] and [`SourceStats`] as atomics the hot path updates
//! anyway, so the exposition is a `prometheus-client` [`Collector`] that reads them at scrape
//! time rather than a second set of counters kept in step. The latency histograms are
//! `prometheus-client` histograms, observed per call or per object.
//!
//! The server is a few lines of hyper on the I/O runtime; it never touches the CPU workers.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::sink::azure::SinkStats;
use crate::source::SourceStats;
use crate::stats::{Counters, Stats};
use crate::table::Table;

#[derive(Debug)]
struct RunCollector {
    stats: Arc<Stats>,
    source: Option<Arc<SourceStats>>,
    sink: Option<Arc<SinkStats>>,
}

fn counter(e: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> std::fmt::Result {
    let c = ConstCounter::new(v);
    let m = e.encode_descriptor(name, help, None, c.metric_type())?;
    c.encode(m)
}

fn gauge(e: &mut DescriptorEncoder, name: &str, help: &str, v: i64) -> std::fmt::Result {
    let g = ConstGauge::new(v);
    let m = e.encode_descriptor(name, help, None, g.metric_type())?;
    g.encode(m)
}

fn by_label(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    label: &str,
    values: &[(String, u64)],
) -> std::fmt::Result {
    let mut m = e.encode_descriptor(
        name,
        help,
        None,
        prometheus_client::metrics::MetricType::Counter,
    )?;
    for (k, v) in values {
        let labels = [(label, k.as_str())];
        ConstCounter::new(*v).encode(m.encode_family(&labels)?)?;
    }
    Ok(())
}

fn pairs(c: &Counters) -> Vec<(String, u64)> {
    c.0.iter().map(|(k, v)| (k.clone(), *v)).collect()
}

fn per_table(f: impl Fn(Table) -> u64) -> Vec<(String, u64)> {
    Table::ALL
        .iter()
        .map(|&t| (t.name().to_string(), f(t)))
        .collect()
}

impl Collector for RunCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> std::fmt::Result {
        let s = &self.stats;
        let g = Stats::get;
        counter(
            &mut e,
            "logferry_objects_seen",
            "Objects the source handed to the pipeline.",
            g(&s.objects_seen),
        )?;
        counter(
            &mut e,
            "logferry_objects_delivered",
            "Objects whose every row was accepted or dead-lettered.",
            g(&s.objects_delivered),
        )?;
        counter(
            &mut e,
            "logferry_objects_failed",
            "Objects not delivered (to be read again).",
            g(&s.objects_failed),
        )?;
        counter(
            &mut e,
            "logferry_objects_dead_lettered",
            "Objects that ended at a fault in their bytes.",
            g(&s.objects_dead_lettered),
        )?;
        counter(
            &mut e,
            "logferry_bytes_in",
            "Object bytes read, as stored.",
            g(&s.bytes_in),
        )?;
        counter(
            &mut e,
            "logferry_bytes_decoded",
            "Object bytes after decompression.",
            g(&s.bytes_decoded),
        )?;
        counter(&mut e, "logferry_records", "Records read.", g(&s.records))?;
        by_label(
            &mut e,
            "logferry_rows",
            "Rows mapped, by table.",
            "table",
            &per_table(|t| g(&s.rows[t])),
        )?;
        by_label(
            &mut e,
            "logferry_requests",
            "Requests accepted by the sink, by table.",
            "table",
            &per_table(|t| g(&s.requests[t])),
        )?;
        by_label(
            &mut e,
            "logferry_request_bytes",
            "Request body bytes (gzip) accepted by the sink, by table.",
            "table",
            &per_table(|t| g(&s.request_bytes[t])),
        )?;
        by_label(
            &mut e,
            "logferry_skipped",
            "Objects skipped, by reason.",
            "reason",
            &pairs(&s.skipped_counts()),
        )?;
        by_label(
            &mut e,
            "logferry_dead_letters",
            "Records and objects dead-lettered, by reason.",
            "reason",
            &pairs(&s.dead_letter_counts()),
        )?;
        by_label(
            &mut e,
            "logferry_failures",
            "Run failures, by kind.",
            "kind",
            &pairs(&s.failure_counts()),
        )?;
        let depth = [
            ("objects".to_string(), g(&s.queue_objects)),
            ("chunks".to_string(), g(&s.queue_chunks)),
            ("requests".to_string(), g(&s.queue_requests)),
        ];
        let mut m = e.encode_descriptor(
            "logferry_queue_depth",
            "Items waiting between stages.",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for (stage, v) in &depth {
            let labels = [("stage", stage.as_str())];
            ConstGauge::new(*v as i64).encode(m.encode_family(&labels)?)?;
        }
        if let Some(sink) = &self.sink {
            let mut m = e.encode_descriptor(
                "logferry_azure_calls",
                "Logs Ingestion API calls, by DCR, stream and HTTP status (error: no answer).",
                None,
                prometheus_client::metrics::MetricType::Counter,
            )?;
            for (dcr, stream, status, n) in sink.calls() {
                let labels = [
                    ("dcr", dcr.as_str()),
                    ("stream", stream.as_str()),
                    ("status", status.as_str()),
                ];
                ConstCounter::new(n).encode(m.encode_family(&labels)?)?;
            }
            let mut m = e.encode_descriptor(
                "logferry_azure_concurrency_limit",
                "Adaptive request concurrency limit, by DCR and stream.",
                None,
                prometheus_client::metrics::MetricType::Gauge,
            )?;
            for (dcr, stream, limit) in sink.limits() {
                let labels = [("dcr", dcr.as_str()), ("stream", stream.as_str())];
                ConstGauge::new(limit as i64).encode(m.encode_family(&labels)?)?;
            }
            by_label(
                &mut e,
                "logferry_azure_rows_accepted",
                "Rows the Logs Ingestion API accepted (204), by table.",
                "table",
                &per_table(|t| g(&sink.rows_accepted[t])),
            )?;
            counter(
                &mut e,
                "logferry_azure_retries",
                "Logs Ingestion calls repeated after 429, 5xx or a network error.",
                g(&sink.retries),
            )?;
            counter(
                &mut e,
                "logferry_azure_splits",
                "Requests split after 413 or while bisecting a 400.",
                g(&sink.splits),
            )?;
            counter(
                &mut e,
                "logferry_azure_token_refreshes",
                "Tokens replaced after a 401.",
                g(&sink.token_refreshes),
            )?;
        }
        if let Some(src) = &self.source {
            for (name, v) in src.named() {
                counter(
                    &mut e,
                    &format!("logferry_{name}"),
                    &format!("Source counter {name}."),
                    v.load(Ordering::Relaxed),
                )?;
            }
            gauge(
                &mut e,
                "logferry_messages_in_flight",
                "SQS messages held (received, not yet deleted or returned).",
                src.messages_in_flight.load(Ordering::Relaxed),
            )?;
            gauge(
                &mut e,
                "logferry_bytes_in_flight",
                "Bytes of the objects of the messages held.",
                src.bytes_in_flight.load(Ordering::Relaxed),
            )?;
        }
        Ok(())
    }
}

/// What `/metrics` shows.
pub struct Metrics {
    registry: Registry,
    /// Set while the pipeline runs; `/healthz` answers 503 otherwise.
    pub running: AtomicBool,
}

impl Metrics {
    pub fn new(
        stats: Arc<Stats>,
        source: Option<Arc<SourceStats>>,
        sink: Option<Arc<SinkStats>>,
    ) -> Arc<Self> {
        let mut registry = Registry::default();
        let lat = &stats.latency;
        for (name, help, h) in [
            (
                "logferry_receive_seconds",
                "SQS ReceiveMessage call time.",
                &lat.receive,
            ),
            (
                "logferry_fetch_seconds",
                "S3 download time per object.",
                &lat.fetch,
            ),
            (
                "logferry_object_seconds",
                "Time from an object entering the pipeline to its outcome.",
                &lat.object,
            ),
            ("logferry_sink_seconds", "Sink request time.", &lat.sink),
            (
                "logferry_delete_seconds",
                "SQS DeleteMessageBatch call time.",
                &lat.delete,
            ),
        ] {
            registry.register(name, help, h.clone());
        }
        if let Some(sink) = &sink {
            registry.register(
                "logferry_azure_call_seconds",
                "Logs Ingestion API call time, by DCR and stream.",
                sink.latency.clone(),
            );
        }
        registry.register_collector(Box::new(RunCollector {
            stats: stats.clone(),
            source,
            sink,
        }));
        Arc::new(Metrics {
            registry,
            running: AtomicBool::new(false),
        })
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Binds `addr` now (so a bad address fails the start) and serves on the runtime.
pub fn serve(
    rt: &tokio::runtime::Handle,
    addr: SocketAddr,
    metrics: Arc<Metrics>,
) -> std::io::Result<SocketAddr> {
    let listener = rt.block_on(tokio::net::TcpListener::bind(addr))?;
    let local = listener.local_addr()?;
    rt.spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, say: wait instead of spinning on the I/O thread.
                    tracing::warn!(error = %e, "metrics endpoint cannot accept a connection");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let m = metrics.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let m = m.clone();
                    async move { Ok::<_, std::convert::Infallible>(answer(&m, &req)) }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    Ok(local)
}

fn answer<B>(m: &Metrics, req: &Request<B>) -> Response<Full<Bytes>> {
    let (status, ctype, body) = match req.uri().path() {
        "/metrics" => (
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            m.render(),
        ),
        "/healthz" if m.running.load(Ordering::Relaxed) => {
            (StatusCode::OK, "text/plain", "ok\n".to_string())
        }
        "/healthz" => (
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "not running\n".to_string(),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "try /metrics or /healthz\n".to_string(),
        ),
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(ctype) {
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    resp
}
