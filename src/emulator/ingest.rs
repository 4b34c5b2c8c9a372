//! `POST /dataCollectionRules/{dcrImmutableId}/streams/{streamName}?api-version=2023-01-01`.
//!
//! The checks run in a fixed order, so that each test of one status code is not masked by
//! another: api-version (400), bearer token (401), DCR and stream (404), access to the DCR
//! (403), faults, `Content-Type` (415), size as sent (413, from `Content-Length` and from the
//! bytes read), `Content-Encoding` (400), gzip (400), decoded size (413), rate limits (429),
//! body and rows (400, see [`super::validate`]). Then the rows are stored and the answer is
//! 204 with an empty body (REST specification, 2023-01-01).
//!
//! Documented inputs (<https://learn.microsoft.com/azure/azure-monitor/logs/logs-ingestion-api-overview>,
//! <https://learn.microsoft.com/azure/azure-monitor/service-limits>):
//! `Content-Type: application/json` (parameters such as `charset` allowed);
//! `Content-Encoding: gzip` optional, and "always 'gzip'" when present, so anything else is
//! refused; 1 MB per call, "both compressed and uncompressed data", with the 413 text Azure
//! sends ("Maximum allowed content length: 1048576 bytes (1 MB)"). Accepted api-versions are
//! the two the REST specification has: `2023-01-01` and `2021-11-01-preview`.
//!
//! Every answer echoes `x-ms-client-request-id` when the client sent one, and every failure is
//! logged with it, as Azure's `DCRLogErrors` table records it as `ClientRequestId`. Before an
//! error answer the rest of the request body is read and dropped (up to a bound), so the client
//! reads the answer instead of a reset from a socket closed under its upload, and keeps its
//! connection.

use std::io::Read;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::http::request::Parts;
use hyper::{Request, Response, StatusCode};

use super::auth::{form_get, form_pairs};
use super::auth::{Auth, Bearer};
use super::error::ApiError;
use super::fault::Outcome;
use super::server::{Reset, State};
use super::validate;

/// The api-versions of the REST specification.
pub const API_VERSIONS: [&str; 2] = ["2023-01-01", "2021-11-01-preview"];

/// At most this much of a refused body is read before answering; past it the connection is
/// closed after the answer.
const DRAIN_LIMIT: usize = 64 << 20;

const CLIENT_REQUEST_ID: &str = "x-ms-client-request-id";

/// How a request ends.
enum Answer {
    Accepted,
    Failed(ApiError),
    Reset,
}

/// Answers one ingestion request; `Err` closes the connection without an answer.
pub async fn handle(
    state: &State,
    req: Request<Incoming>,
    dcr_id: &str,
    stream: &str,
) -> Result<Response<Full<Bytes>>, Reset> {
    let (parts, body) = req.into_parts();
    let mut body = Some(body);
    let request_id = parts
        .headers
        .get(CLIENT_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (outcome, latency) = process(state, &parts, &mut body, dcr_id, stream).await;
    if let Some(b) = body.take() {
        drain(b).await;
    }
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let known = state.dcrs.contains_key(dcr_id).then_some(dcr_id);
    let rid = request_id.as_deref().unwrap_or("");
    let mut resp = match outcome {
        Answer::Accepted => {
            state.store.count_request(known, "204");
            let mut r = Response::new(Full::new(Bytes::new()));
            *r.status_mut() = StatusCode::NO_CONTENT;
            r
        }
        Answer::Failed(e) => {
            state.store.count_request(known, e.status.as_str());
            tracing::warn!(
                status = e.status.as_u16(),
                code = e.code,
                dcr = dcr_id,
                stream,
                client_request_id = rid,
                error = %e.message,
                "ingestion request refused"
            );
            e.into_response()
        }
        Answer::Reset => {
            state.store.count_request(known, "reset");
            tracing::warn!(
                dcr = dcr_id,
                stream,
                client_request_id = rid,
                "fault: connection reset without an answer"
            );
            return Err(Reset);
        }
    };
    if let Some(v) = request_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
        resp.headers_mut().insert(CLIENT_REQUEST_ID, v);
    }
    Ok(resp)
}

async fn process(
    state: &State,
    parts: &Parts,
    body: &mut Option<Incoming>,
    dcr_id: &str,
    stream_name: &str,
) -> (Answer, Duration) {
    // Checks that need no body; no fault applies yet.
    let (stream, latency, fault) = match preflight(state, parts, dcr_id, stream_name) {
        Ok(ok) => ok,
        Err(e) => return (Answer::Failed(e), Duration::ZERO),
    };
    let outcome = match fault {
        Some(Outcome::Reset) => {
            if let Some(b) = body.take() {
                drain(b).await;
            }
            Answer::Reset
        }
        Some(Outcome::Status(500)) => Answer::Failed(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "Injected fault: internal server error.",
        )),
        Some(Outcome::Status(503)) => Answer::Failed(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "Injected fault: the service is unavailable.",
        )),
        Some(Outcome::Status(_)) => Answer::Failed(ApiError::too_many(
            1,
            "Injected fault: too many requests, retry after 1 second.",
        )),
        Some(Outcome::Storm) => Answer::Failed(ApiError::too_many(
            1,
            "Injected fault (storm): too many requests, retry after 1 second.",
        )),
        None => match accept(state, parts, body, dcr_id, stream_name, stream).await {
            Ok(()) => Answer::Accepted,
            Err(Some(e)) => Answer::Failed(e),
            Err(None) => Answer::Reset,
        },
    };
    (outcome, latency)
}

type Preflight<'a> = (&'a super::dcr::Stream, Duration, Option<Outcome>);

fn preflight<'a>(
    state: &'a State,
    parts: &Parts,
    dcr_id: &str,
    stream_name: &str,
) -> Result<Preflight<'a>, ApiError> {
    let query = form_pairs(parts.uri.query().unwrap_or("").as_bytes());
    match form_get(&query, "api-version") {
        None => {
            return Err(ApiError::bad_request(
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            ))
        }
        Some(v) if !API_VERSIONS.contains(&v) => {
            return Err(ApiError::bad_request(
                "InvalidApiVersionParameter",
                format!(
                    "The api-version '{v}' is invalid. The supported versions are '{}'.",
                    API_VERSIONS.join("', '")
                ),
            ))
        }
        Some(_) => {}
    }
    let principal = match state.auth.bearer(
        parts
            .headers
            .get(hyper::header::AUTHORIZATION)
            .map(HeaderValue::as_bytes),
    ) {
        Bearer::Valid(p) => p,
        other => return Err(Auth::unauthorized(&other)),
    };
    let Some(dcr) = state.dcrs.get(dcr_id) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!(
                "No data collection rule with immutable Id '{dcr_id}' is loaded in this emulator."
            ),
        ));
    };
    let Some(stream) = dcr.streams.get(stream_name) else {
        let names: Vec<&str> = dcr.streams.keys().map(String::as_str).collect();
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!(
                "The data collection rule with immutable Id '{dcr_id}' has no stream '{stream_name}' (its streams: {}).",
                names.join(", ")
            ),
        ));
    };
    if !state.auth.allowed(&principal, dcr_id) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "OperationFailed",
            format!("The authentication token provided does not have access to ingest data for the data collection rule with immutable Id '{dcr_id}'."),
        ));
    }
    let d = state.faults.decide(dcr_id);
    Ok((stream, d.latency, d.outcome))
}

/// The checks that read the body, then the store. `Err(None)`: the client went away.
async fn accept(
    state: &State,
    parts: &Parts,
    body: &mut Option<Incoming>,
    dcr_id: &str,
    stream_name: &str,
    stream: &super::dcr::Stream,
) -> Result<(), Option<ApiError>> {
    let h = &parts.headers;
    let json = (h.get_all(CONTENT_TYPE).iter().count() == 1)
        .then(|| h.get(CONTENT_TYPE))
        .flatten()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        let got = h
            .get(CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        return Err(Some(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            format!(
                "The Content-Type must be application/json, not {}.",
                got.map_or("absent".to_string(), |g| format!("'{g}'"))
            ),
        )));
    }
    let max_body = state.max_body_bytes;
    let too_big = |what: &str| {
        Some(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "ContentLengthLimitExceeded",
            format!(
                "Maximum allowed content length: {max_body} bytes ({}).{what}",
                mb(max_body)
            ),
        ))
    };
    let declared = h
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max_body as u64) {
        return Err(too_big(""));
    }
    let Some(incoming) = body.take() else {
        return Err(None);
    };
    let sent = match Limited::new(incoming, max_body).collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return Err(too_big("")),
        Err(e) => {
            tracing::info!(error = %e, dcr = dcr_id, "client went away while sending the body");
            return Err(None);
        }
    };
    let gzip = match h.get(CONTENT_ENCODING) {
        None => false,
        Some(v) if v.as_bytes().eq_ignore_ascii_case(b"gzip") => true,
        Some(v) => {
            return Err(Some(ApiError::bad_request(
                "UnsupportedContentEncoding",
                format!(
                    "Content-Encoding '{}' is not supported: send gzip or no Content-Encoding.",
                    String::from_utf8_lossy(v.as_bytes())
                ),
            )))
        }
    };
    let max_raw = state.max_raw_bytes;
    let raw_too_big = || {
        Some(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "ContentLengthLimitExceeded",
            format!(
                "Maximum allowed content length: {max_raw} bytes ({}) of uncompressed data.",
                mb(max_raw)
            ),
        ))
    };
    let raw: Bytes = if gzip {
        let mut out = Vec::with_capacity(sent.len().saturating_mul(8).min(max_raw + 1));
        let mut dec = flate2::read::MultiGzDecoder::new(&sent[..]).take(max_raw as u64 + 1);
        if let Err(e) = dec.read_to_end(&mut out) {
            return Err(Some(ApiError::bad_request(
                "InvalidContentEncoding",
                format!("The body is not valid gzip: {e}."),
            )));
        }
        if out.len() > max_raw {
            return Err(raw_too_big());
        }
        Bytes::from(out)
    } else {
        if sent.len() > max_raw {
            return Err(raw_too_big());
        }
        sent
    };
    if let Err(t) = state.limits.admit(dcr_id, raw.len() as u64) {
        let what = if t.by_bytes { "bytes" } else { "requests" };
        return Err(Some(ApiError::too_many(
            t.retry_after_secs,
            format!(
                "The data collection rule with immutable Id '{dcr_id}' is over its {what} per minute limit; retry after {} seconds.",
                t.retry_after_secs
            ),
        )));
    }
    let rows = validate::rows(&raw, stream_name, stream).map_err(Some)?;
    if let Err(e) = state
        .store
        .accept(dcr_id, &stream.tables, &rows.ndjson, rows.count)
    {
        tracing::error!(error = %e, "cannot write the --store files");
        return Err(Some(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            format!("The emulator cannot store the rows: {e}."),
        )));
    }
    Ok(())
}

fn mb(bytes: usize) -> String {
    if bytes.is_multiple_of(1 << 20) {
        format!("{} MB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

/// Reads and drops the rest of a body, up to [`DRAIN_LIMIT`].
async fn drain(mut body: Incoming) {
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => {
                if let Some(d) = f.data_ref() {
                    seen += d.len();
                }
                if seen > DRAIN_LIMIT {
                    return;
                }
            }
            Err(_) => return,
        }
    }
}
