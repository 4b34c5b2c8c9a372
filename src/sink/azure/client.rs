//! One Logs Ingestion API call and what its answer means for the batch.
//!
//! The call is the documented one ("Logs Ingestion API in Azure Monitor",
//! <https://learn.microsoft.com/azure/azure-monitor/logs/logs-ingestion-api-overview>): `POST
//! {endpoint}/dataCollectionRules/{dcr}/streams/{stream}?api-version=2023-01-01` with a bearer
//! token, `Content-Type: application/json`, `Content-Encoding: gzip` and a fresh
//! `x-ms-client-request-id` so a failure in our log can be found in the DCR's `DCRLogErrors`.
//! The answer is sorted into what the caller must do (see `src/sink/azure/mod.rs`): done,
//! split, wait, bisect, refresh the token, retry, or stop for the operator.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use bytes::Bytes;

use super::auth::error_chain;
use super::concurrency::{HasLimiter, Limiter};
use crate::table::Table;

pub const API_VERSION: &str = "2023-01-01";

/// One DCR stream that rows of a table can be sent to.
pub struct Target {
    pub table: Table,
    pub endpoint: String,
    pub dcr: String,
    pub stream: String,
    /// The full ingestion URL.
    pub url: String,
    pub limiter: Limiter,
    /// Rows this target accepted, and rows it refused one by one (400 after bisecting): a
    /// target that refuses every row does not match them (see the sink's stop rule).
    pub rows_accepted: AtomicU64,
    pub rows_refused: AtomicU64,
}

impl Target {
    pub fn new(table: Table, endpoint: &str, dcr: &str, stream: &str, limiter: Limiter) -> Self {
        let endpoint = endpoint.trim_end_matches('/').to_string();
        let url = format!(
            "{endpoint}/dataCollectionRules/{dcr}/streams/{stream}?api-version={API_VERSION}"
        );
        Target {
            table,
            endpoint,
            dcr: dcr.to_string(),
            stream: stream.to_string(),
            url,
            limiter,
            rows_accepted: AtomicU64::new(0),
            rows_refused: AtomicU64::new(0),
        }
    }
}

impl HasLimiter for Target {
    fn limiter(&self) -> &Limiter {
        &self.limiter
    }
}

/// What an answer means for the request.
#[derive(Debug)]
pub enum Reply {
    /// 204: every row accepted.
    Accepted,
    /// 413: the body is over the call limit; split it.
    TooLarge(String),
    /// 429: wait `Retry-After` (when given) and send again.
    Throttled(Option<Duration>, String),
    /// 400: something in the rows; bisect to find them.
    BadRequest(String),
    /// 401: the token is not (or no longer) good.
    Unauthorized(String),
    /// 403, 404, other 4xx, and any answer but 204 in 2xx/3xx: configuration (role assignment, DCR id, stream name); stop.
    Refused(u16, String),
    /// 408, 5xx, timeouts, connection errors: retry with backoff (at least `Retry-After`
    /// when the answer gave one).
    Transient(Option<Duration>, String),
}

/// Sends `body` to `target`; returns the reply and the HTTP status (if one came back).
pub async fn post(
    http: &reqwest::Client,
    target: &Target,
    token: &str,
    body: Bytes,
    request_id: &str,
) -> (Reply, Option<u16>) {
    let sent = http
        .post(&target.url)
        .bearer_auth(token)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(reqwest::header::CONTENT_ENCODING, "gzip")
        .header("x-ms-client-request-id", request_id)
        .body(body)
        .send()
        .await;
    let resp = match sent {
        Ok(r) => r,
        Err(e) => return (Reply::Transient(None, error_chain(&e)), None),
    };
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    let code = resp
        .headers()
        .get("x-ms-error-code")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    // The body of a failure is the service's explanation: keep (the start of) it.
    let text = match resp.bytes().await {
        Ok(b) => String::from_utf8_lossy(&b[..b.len().min(4096)]).into_owned(),
        Err(e) if status == 204 => {
            // The rows were accepted; a broken empty body does not change that.
            tracing::debug!(error = %error_chain(&e), "reading a 2xx body");
            String::new()
        }
        Err(e) if status == 429 => {
            return (Reply::Throttled(retry_after, error_chain(&e)), Some(status))
        }
        Err(e) => return (Reply::Transient(retry_after, error_chain(&e)), Some(status)),
    };
    let detail = match code {
        Some(c) if !text.contains(&c) => format!("{c}: {text}"),
        _ => text,
    };
    let reply = match status {
        204 => Reply::Accepted,
        // The API answers 204 and nothing else on success; a 200 or a redirect comes from
        // something else at that address (a proxy, a login page): never count it as delivered.
        200..=399 => Reply::Refused(
            status,
            format!("expected 204 from the Logs Ingestion API, got {status} (is the endpoint the DCR's logsIngestion endpoint, reached without a redirecting proxy?): {detail}"),
        ),
        413 => Reply::TooLarge(detail),
        429 => Reply::Throttled(retry_after, detail),
        400 => Reply::BadRequest(detail),
        401 => Reply::Unauthorized(detail),
        408 | 500..=599 => Reply::Transient(retry_after, format!("HTTP {status}: {detail}")),
        _ => Reply::Refused(status, detail),
    };
    (reply, Some(status))
}

/// `Retry-After` as seconds or an HTTP date.
fn parse_retry_after(v: &str) -> Option<Duration> {
    if let Ok(secs) = v.trim().parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::from_secs_f64(secs.min(3600.0)));
    }
    let when =
        time::OffsetDateTime::parse(v.trim(), &time::format_description::well_known::Rfc2822)
            .ok()?;
    let secs = (when - time::OffsetDateTime::now_utc()).as_seconds_f64();
    Some(Duration::from_secs_f64(secs.clamp(0.0, 3600.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_both_forms() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn the_url_is_the_documented_one() {
        let t = Target::new(
            Table::VpcFlow,
            "https://x.eastus-1.ingest.monitor.azure.com/",
            "dcr-0123",
            "Custom-LogferryAWSVPCFlow",
            Limiter::new(super::super::concurrency::Bounds {
                initial: 1.0,
                max: 1.0,
            }),
        );
        assert_eq!(
            t.url,
            "https://x.eastus-1.ingest.monitor.azure.com/dataCollectionRules/dcr-0123/streams/Custom-LogferryAWSVPCFlow?api-version=2023-01-01"
        );
    }
}
