//! The two kinds of failure the emulator has: a configuration it refuses at start
//! ([`ConfigError`], exit code 2 in the CLI), and an answer to a client ([`ApiError`]).
//!
//! Error answers of the Logs Ingestion API have the shape of the REST specification
//! (`Azure/azure-rest-api-specs`, `specification/monitor/data-plane/ingestion/stable/2023-01-01/
//! DataCollectionRules.json`): a JSON body `{"error":{"code":"...","message":"..."}}` and the
//! same code in the `x-ms-error-code` response header. The specification fixes the shape, not
//! the codes: only `OperationFailed` (403, from the .NET SDK's troubleshooting guide) and
//! `ContentLengthLimitExceeded` (413, from the tutorial's troubleshooting table and a real
//! response quoted in `JulianHayward/AzADServicePrincipalInsights#30`) are documented. The
//! other codes here are the emulator's choice, named after the Azure Resource Manager codes
//! for the same situation where one exists.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Response, StatusCode};

/// A configuration the emulator cannot start with: a bad flag value or DCR file. The CLI
/// reports it as a usage error.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("--dcr {spec}: cannot read {path}: {source}")]
    ReadDcr {
        spec: String,
        path: String,
        source: std::io::Error,
    },
    #[error("--dcr {spec}: {reason}")]
    BadDcr { spec: String, reason: String },
    #[error("two data collection rules have the immutable id '{0}': give one of them another with --dcr ID=FILE")]
    DuplicateDcr(String),
    #[error("{flag} '{value}': {reason}")]
    BadFlag {
        flag: &'static str,
        value: String,
        reason: String,
    },
}

/// An error answer of the ingestion API: status, code (body and `x-ms-error-code`) and a
/// message meant for the person reading the client's log.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// `Retry-After` seconds (429 only).
    pub retry_after: Option<u64>,
    /// Extra `WWW-Authenticate` value (401 only).
    pub www_authenticate: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
            www_authenticate: None,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn too_many(retry_after: u64, message: impl Into<String>) -> Self {
        ApiError {
            retry_after: Some(retry_after.max(1)),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests", message)
        }
    }

    /// The HTTP answer. The body is built with serde_json so any message text is escaped.
    pub fn into_response(self) -> Response<Full<Bytes>> {
        let body = serde_json::json!({ "error": { "code": self.code, "message": self.message } });
        let mut resp = json_response(self.status, &body);
        let h = resp.headers_mut();
        h.insert(
            HeaderName::from_static("x-ms-error-code"),
            HeaderValue::from_static(self.code),
        );
        if let Some(secs) = self.retry_after {
            h.insert(hyper::header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(v) = self.www_authenticate {
            if let Ok(v) = HeaderValue::from_str(&v) {
                h.insert(hyper::header::WWW_AUTHENTICATE, v);
            }
        }
        resp
    }
}

/// A JSON answer with the given status.
pub fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}
