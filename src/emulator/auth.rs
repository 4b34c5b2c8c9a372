//! Tokens: the Microsoft Entra ID token endpoint (client credentials), the managed-identity
//! endpoint (IMDS shape), and the bearer check of ingestion requests.
//!
//! The Logs Ingestion API takes a token "obtained through the client credentials flow" for the
//! audience `https://monitor.azure.com`
//! (<https://learn.microsoft.com/azure/azure-monitor/logs/logs-ingestion-api-overview>;
//! request shape from the PowerShell sample of
//! <https://learn.microsoft.com/azure/azure-monitor/logs/tutorial-logs-ingestion-code>):
//! `POST /{tenant}/oauth2/v2.0/token`, form-encoded `client_id`, `client_secret`,
//! `grant_type=client_credentials`, `scope=https://monitor.azure.com//.default` (the double
//! slash of the docs and SDKs; the REST specification's `https://monitor.azure.com/.default`
//! is accepted too). Workload identity (federated credentials) sends
//! `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer` and a signed
//! JWT as `client_assertion`; **the emulator does not verify JWTs**: it compares the assertion
//! with the client's configured secret, so a test sets `--client ID=ASSERTION` and hands the
//! client the same string as its token file. Any tenant in the path is accepted.
//!
//! Error answers copy Entra ID's shape (`error`, `error_description` starting with the AADSTS
//! code, `error_codes`, `timestamp`) and status: `invalid_client` 401 for a wrong secret
//! (AADSTS7000215), `unauthorized_client` 400 for an unknown application (AADSTS700016),
//! `invalid_scope` 400 (AADSTS70011), `unsupported_grant_type` 400 (AADSTS70003),
//! `invalid_request` 400 (AADSTS900144, a missing parameter or a body that is not a form).
//!
//! Managed identity uses the Azure Instance Metadata Service shape:
//! `GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://monitor.azure.com`,
//! header `Metadata: true` required (400 without, as IMDS does to stop SSRF), optional
//! `client_id` (a user-assigned identity; it must be the configured one). IMDS writes
//! `expires_in` and `expires_on` as strings, and so does the emulator, because clients must
//! cope with that.
//!
//! Tokens are opaque random strings, not JWTs: nothing in the Logs Ingestion contract lets a
//! client look inside its token. An unknown token, a missing one and an expired one are all 401
//! with `WWW-Authenticate: Bearer` (RFC 6750 section 3; the ingestion API's 401 body is not
//! documented). Tokens live in memory; those expired for an hour are forgotten when new ones
//! are issued, and then read as invalid rather than expired.

use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use serde_json::json;

use super::error::{json_response, ApiError};

/// The audience of the Logs Ingestion API, and the two spellings of its `.default` scope.
pub const RESOURCE: &str = "https://monitor.azure.com";
const SCOPES: [&str; 2] = [
    "https://monitor.azure.com//.default",
    "https://monitor.azure.com/.default",
];
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Who may get tokens and what they may do with them.
pub struct Auth {
    /// client id -> secret (or, for workload identity, the expected assertion).
    clients: HashMap<String, String>,
    managed_identity: String,
    /// principal -> DCR ids it may use; a principal not in the map may use every DCR.
    allow: HashMap<String, HashSet<String>>,
    lifetime: Duration,
    tokens: Mutex<HashMap<String, Issued>>,
}

struct Issued {
    principal: String,
    expires: Instant,
}

/// The outcome of the bearer check.
pub enum Bearer {
    Valid(String),
    Missing,
    Invalid,
    Expired,
}

impl Auth {
    pub fn new(
        clients: HashMap<String, String>,
        managed_identity: String,
        allow: HashMap<String, HashSet<String>>,
        lifetime: Duration,
    ) -> Self {
        Auth {
            clients,
            managed_identity,
            allow,
            lifetime,
            tokens: Mutex::new(HashMap::new()),
        }
    }

    fn issue(&self, principal: &str) -> String {
        let token = format!("emu1.{}", fastrand_token());
        let now = Instant::now();
        let mut tokens = self.tokens.lock();
        tokens.retain(|_, t| t.expires + Duration::from_secs(3600) > now);
        tokens.insert(
            token.clone(),
            Issued {
                principal: principal.to_string(),
                expires: now + self.lifetime,
            },
        );
        token
    }

    /// Every token issued so far is expired from now on (`POST /emulator/expire-tokens`).
    pub fn expire_all(&self) -> usize {
        let now = Instant::now();
        let mut tokens = self.tokens.lock();
        for t in tokens.values_mut() {
            t.expires = t.expires.min(now);
        }
        tokens.len()
    }

    /// Checks an `Authorization` header value.
    pub fn bearer(&self, header: Option<&[u8]>) -> Bearer {
        let Some(value) = header else {
            return Bearer::Missing;
        };
        let Ok(value) = std::str::from_utf8(value) else {
            return Bearer::Invalid;
        };
        let token = match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => return Bearer::Invalid,
        };
        match self.tokens.lock().get(token) {
            None => Bearer::Invalid,
            Some(t) if t.expires <= Instant::now() => Bearer::Expired,
            Some(t) => Bearer::Valid(t.principal.clone()),
        }
    }

    /// Whether `principal` may ingest into `dcr` (Monitoring Metrics Publisher on it, in Azure).
    pub fn allowed(&self, principal: &str, dcr: &str) -> bool {
        self.allow
            .get(principal)
            .is_none_or(|set| set.contains(dcr))
    }

    /// `POST /{tenant}/oauth2/v2.0/token`.
    pub fn token_endpoint(
        &self,
        content_type: Option<&[u8]>,
        body: &[u8],
    ) -> Response<Full<Bytes>> {
        match self.client_credentials(content_type, body) {
            Ok(principal) => {
                let token = self.issue(&principal);
                let secs = self.lifetime.as_secs();
                json_response(
                    StatusCode::OK,
                    &json!({
                        "token_type": "Bearer",
                        "expires_in": secs,
                        "ext_expires_in": secs,
                        "access_token": token,
                    }),
                )
            }
            Err(e) => e.into_response(),
        }
    }

    fn client_credentials(
        &self,
        content_type: Option<&[u8]>,
        body: &[u8],
    ) -> Result<String, EntraError> {
        let is_form = content_type
            .and_then(|c| std::str::from_utf8(c).ok())
            .and_then(|c| c.split(';').next())
            .is_some_and(|m| {
                m.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !is_form {
            return Err(EntraError::request(
                900144,
                "The request body must be application/x-www-form-urlencoded and contain the following parameter: 'grant_type'.",
            ));
        }
        let p = form_pairs(body);
        let grant = form_get(&p, "grant_type").ok_or_else(|| missing("grant_type"))?;
        if grant != "client_credentials" {
            return Err(EntraError {
                status: StatusCode::BAD_REQUEST,
                error: "unsupported_grant_type",
                code: 70003,
                description: format!(
                    "The app requested an unsupported grant type '{grant}'; the emulator issues tokens for client_credentials only."
                ),
            });
        }
        let client = form_get(&p, "client_id").ok_or_else(|| missing("client_id"))?;
        let scope = form_get(&p, "scope").ok_or_else(|| missing("scope"))?;
        if !SCOPES.contains(&scope) {
            return Err(EntraError {
                status: StatusCode::BAD_REQUEST,
                error: "invalid_scope",
                code: 70011,
                description: format!(
                    "The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid: the Logs Ingestion API needs {}.",
                    SCOPES[0]
                ),
            });
        }
        let Some(expected) = self.clients.get(client) else {
            return Err(EntraError {
                status: StatusCode::BAD_REQUEST,
                error: "unauthorized_client",
                code: 700016,
                description: format!(
                    "Application with identifier '{client}' was not found in the directory (the emulator knows the --client ids only)."
                ),
            });
        };
        let given = match (
            form_get(&p, "client_secret"),
            form_get(&p, "client_assertion_type"),
            form_get(&p, "client_assertion"),
        ) {
            (Some(secret), None, None) => secret,
            (None, Some(JWT_BEARER), Some(assertion)) => assertion,
            (None, Some(other), Some(_)) => {
                return Err(EntraError::request(
                    900144,
                    &format!("client_assertion_type '{other}' is not supported; use {JWT_BEARER}."),
                ))
            }
            (None, None, None) => {
                return Err(EntraError {
                    status: StatusCode::UNAUTHORIZED,
                    error: "invalid_client",
                    code: 7000218,
                    description: "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.".to_string(),
                })
            }
            _ => {
                return Err(EntraError::request(
                    900144,
                    "Send either client_secret, or client_assertion_type and client_assertion, not a mix.",
                ))
            }
        };
        if given != expected {
            return Err(EntraError {
                status: StatusCode::UNAUTHORIZED,
                error: "invalid_client",
                code: 7000215,
                description: format!(
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client}'."
                ),
            });
        }
        Ok(client.to_string())
    }

    /// `GET /metadata/identity/oauth2/token` (managed identity).
    pub fn imds(&self, metadata: Option<&[u8]>, query: &str) -> Response<Full<Bytes>> {
        let imds_error = |error: &str, description: &str| {
            json_response(
                StatusCode::BAD_REQUEST,
                &json!({ "error": error, "error_description": description }),
            )
        };
        if metadata != Some(b"true".as_slice()) {
            return imds_error("invalid_request", "Required metadata header not specified");
        }
        let p = form_pairs(query.as_bytes());
        if form_get(&p, "api-version").is_none_or(str::is_empty) {
            return imds_error(
                "invalid_request",
                "Required query variable 'api-version' is missing",
            );
        }
        let resource = form_get(&p, "resource").unwrap_or("");
        if resource.trim_end_matches('/') != RESOURCE {
            return imds_error(
                "invalid_resource",
                &format!("AADSTS500011: The resource principal named '{resource}' was not found; the emulator issues tokens for {RESOURCE}."),
            );
        }
        if let Some(id) = form_get(&p, "client_id") {
            if id != self.managed_identity {
                return imds_error("invalid_request", "Identity not found");
            }
        }
        let token = self.issue(&self.managed_identity);
        let secs = self.lifetime.as_secs();
        let expires_on = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            + secs;
        json_response(
            StatusCode::OK,
            &json!({
                "access_token": token,
                "client_id": self.managed_identity,
                "expires_in": secs.to_string(),
                "expires_on": expires_on.to_string(),
                "ext_expires_in": secs.to_string(),
                "not_before": (expires_on - secs).to_string(),
                "resource": resource,
                "token_type": "Bearer",
            }),
        )
    }

    /// The 401 answer for a failed bearer check.
    pub fn unauthorized(check: &Bearer) -> ApiError {
        let (code, message, www) = match check {
            Bearer::Missing => (
                "InvalidAuthenticationToken",
                "The request has no Authorization header with a Bearer token.",
                "Bearer".to_string(),
            ),
            Bearer::Expired => (
                "ExpiredAuthenticationToken",
                "The access token has expired: get a new one from the token endpoint.",
                "Bearer error=\"invalid_token\", error_description=\"The access token expired\""
                    .to_string(),
            ),
            _ => (
                "InvalidAuthenticationToken",
                "The access token is invalid: it was not issued by this emulator's token endpoint.",
                "Bearer error=\"invalid_token\"".to_string(),
            ),
        };
        ApiError {
            www_authenticate: Some(www),
            ..ApiError::new(StatusCode::UNAUTHORIZED, code, message)
        }
    }
}

fn fastrand_token() -> String {
    std::iter::repeat_with(fastrand::alphanumeric)
        .take(40)
        .collect()
}

fn missing(param: &str) -> EntraError {
    EntraError::request(
        900144,
        &format!("The request body must contain the following parameter: '{param}'."),
    )
}

/// An Entra ID error answer.
struct EntraError {
    status: StatusCode,
    error: &'static str,
    code: u32,
    description: String,
}

impl EntraError {
    fn request(code: u32, description: &str) -> Self {
        EntraError {
            status: StatusCode::BAD_REQUEST,
            error: "invalid_request",
            code,
            description: description.to_string(),
        }
    }

    fn into_response(self) -> Response<Full<Bytes>> {
        let timestamp = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        tracing::info!(error = self.error, code = self.code, description = %self.description, "token request refused");
        json_response(
            self.status,
            &json!({
                "error": self.error,
                "error_description": format!("AADSTS{}: {}", self.code, self.description),
                "error_codes": [self.code],
                "timestamp": timestamp,
            }),
        )
    }
}

/// The name/value pairs of a token request body or a query string, in order
/// (https://url.spec.whatwg.org/#urlencoded-parsing: `+` is a space, then percent-decoding;
/// malformed escapes and bad UTF-8 are replaced, never an error: the caller checks the values
/// it needs and names what is wrong).
pub(super) fn form_pairs(input: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(input).into_owned().collect()
}

/// The first value of `name`.
pub(super) fn form_get<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_bodies_decode_plus_and_percent() {
        let p = form_pairs(
            b"scope=https%3A%2F%2Fmonitor.azure.com%2F%2F.default&a=b+c&flag&=x&bad=%zz",
        );
        assert_eq!(
            form_get(&p, "scope"),
            Some("https://monitor.azure.com//.default")
        );
        assert_eq!(form_get(&p, "a"), Some("b c"));
        assert_eq!(form_get(&p, "flag"), Some(""));
        assert_eq!(form_get(&p, "bad"), Some("%zz"));
        assert_eq!(form_get(&p, "missing"), None);
    }
}
