//! Bearer tokens for the Logs Ingestion API: client secret, workload identity and managed
//! identity, cached until shortly before they expire.
//!
//! Each flow is one HTTP call with a documented shape (Microsoft identity platform "client
//! credentials flow", its `client_assertion` variant for federated credentials, and the
//! Azure Instance Metadata Service), so this is a small provider on the sink's own HTTP client
//! rather than `azure_identity`: that crate brings `azure_core`'s second HTTP pipeline, retry
//! policy and TLS configuration into a process that already has one of each, and its managed
//! identity credential cannot be pointed at a local endpoint, which the tests need (the
//! emulator serves all three shapes). What it would add beyond the three calls, a cache and
//! single-flight refresh, is the ~50 lines of [`TokenProvider::token`].
//!
//! Refresh happens before expiry (5 minutes, or a fifth of a short lifetime), by one caller
//! while the others keep using the still-valid token. A 401 from the API invalidates the
//! token it was sent with, so a token revoked or expired early is replaced once.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::Deserialize;

/// A secret that never appears in logs, errors or `Debug` output.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Self {
        Secret(s)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

/// How the sink proves who it is.
#[derive(Debug, Clone)]
pub enum Credential {
    /// An app registration's client secret (client credentials grant).
    ClientSecret {
        authority: String,
        tenant_id: String,
        client_id: String,
        secret: Secret,
    },
    /// A federated token in a file (AKS workload identity writes and rotates it), exchanged with
    /// the client credentials grant as a `client_assertion`.
    WorkloadIdentity {
        authority: String,
        tenant_id: String,
        client_id: String,
        token_file: PathBuf,
    },
    /// The VM's or pod's managed identity, from the instance metadata endpoint.
    ManagedIdentity {
        endpoint: String,
        client_id: Option<String>,
    },
}

impl Credential {
    pub fn kind(&self) -> &'static str {
        match self {
            Credential::ClientSecret { .. } => "client-secret",
            Credential::WorkloadIdentity { .. } => "workload-identity",
            Credential::ManagedIdentity { .. } => "managed-identity",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The identity platform refused the credentials: an operator must fix them.
    #[error("the token endpoint {url} refused the {kind} credentials (HTTP {status}): {detail}")]
    Refused {
        kind: &'static str,
        url: String,
        status: u16,
        detail: String,
    },
    /// Network failure or a 5xx/429 from the token endpoint: worth retrying.
    #[error("cannot get a token from {url}: {detail}")]
    Unavailable { url: String, detail: String },
    #[error("reading the federated token file {path}: {source}")]
    TokenFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl AuthError {
    pub fn is_transient(&self) -> bool {
        matches!(self, AuthError::Unavailable { .. })
    }
}

struct Cached {
    token: Arc<str>,
    refresh_at: Instant,
    expires_at: Instant,
}

pub struct TokenProvider {
    credential: Credential,
    /// Scope (`.../.default`) for the client credentials grant; the managed identity endpoint
    /// takes the resource, which is the scope without `/.default`.
    scope: String,
    http: reqwest::Client,
    cache: Mutex<Option<Cached>>,
    /// Held by the one caller that refreshes; also remembers the last transient failure, so
    /// the callers queued behind a failed refresh share its answer instead of each asking
    /// the endpoint again (an outage would otherwise get one call per waiting request).
    refresh: tokio::sync::Mutex<Option<(Instant, String, String)>>,
}

/// How long a transient token failure is shared with the callers that wait for it.
const SHARE_FAILURE: Duration = Duration::from_secs(1);

/// What the token endpoints answer. IMDS sends `expires_in` as a string, Entra ID as a number.
#[derive(Deserialize)]
struct TokenReply {
    access_token: String,
    expires_in: NumberOrString,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrString {
    Number(u64),
    String(String),
}

impl NumberOrString {
    fn secs(&self) -> Option<u64> {
        match self {
            NumberOrString::Number(n) => Some(*n),
            NumberOrString::String(s) => s.trim().parse().ok(),
        }
    }
}

/// How long before expiry a token is replaced: 5 minutes, or a fifth of a short lifetime.
fn refresh_margin(lifetime: Duration) -> Duration {
    (lifetime / 5).min(Duration::from_secs(300))
}

impl TokenProvider {
    pub fn new(credential: Credential, scope: String, http: reqwest::Client) -> Self {
        TokenProvider {
            credential,
            scope,
            http,
            cache: Mutex::new(None),
            refresh: tokio::sync::Mutex::new(None),
        }
    }

    pub fn credential(&self) -> &Credential {
        &self.credential
    }

    fn cached(&self) -> Option<Arc<str>> {
        let cache = self.cache.lock();
        let c = cache.as_ref()?;
        (Instant::now() < c.refresh_at).then(|| c.token.clone())
    }

    /// A valid token, fetched when the cached one is due for refresh. While one caller
    /// refreshes, a token that has not expired yet is still handed out.
    pub async fn token(&self) -> Result<Arc<str>, AuthError> {
        if let Some(t) = self.cached() {
            return Ok(t);
        }
        let mut one = match self.refresh.try_lock() {
            Ok(g) => g,
            Err(_) => {
                {
                    let cache = self.cache.lock();
                    if let Some(c) = cache.as_ref() {
                        if Instant::now() < c.expires_at {
                            return Ok(c.token.clone());
                        }
                    }
                }
                self.refresh.lock().await
            }
        };
        if let Some(t) = self.cached() {
            return Ok(t);
        }
        let fetched = match one.as_ref() {
            Some((when, url, detail)) if when.elapsed() < SHARE_FAILURE => {
                Err(AuthError::Unavailable {
                    url: url.clone(),
                    detail: detail.clone(),
                })
            }
            _ => {
                let r = self.fetch().await;
                *one = match &r {
                    Err(AuthError::Unavailable { url, detail }) => {
                        Some((Instant::now(), url.clone(), detail.clone()))
                    }
                    _ => None,
                };
                r
            }
        };
        let (token, lifetime) = match fetched {
            Ok(t) => t,
            Err(e) => {
                // Refreshing early leaves time to fail: a token that has not expired yet is
                // still good, so use it and try again on the next call.
                let cache = self.cache.lock();
                if let Some(c) = cache.as_ref().filter(|c| Instant::now() < c.expires_at) {
                    tracing::warn!(error = %e, "cannot refresh the Azure token; the current one is still valid");
                    return Ok(c.token.clone());
                }
                return Err(e);
            }
        };
        let token: Arc<str> = token.into();
        let now = Instant::now();
        *self.cache.lock() = Some(Cached {
            token: token.clone(),
            refresh_at: now + lifetime - refresh_margin(lifetime),
            expires_at: now + lifetime,
        });
        tracing::debug!(
            kind = self.credential.kind(),
            lifetime_s = lifetime.as_secs(),
            "got an Azure token"
        );
        Ok(token)
    }

    /// Forgets `token` (the API refused it), so the next call fetches a new one.
    pub fn invalidate(&self, token: &str) {
        let mut cache = self.cache.lock();
        if cache.as_ref().is_some_and(|c| &*c.token == token) {
            *cache = None;
        }
    }

    async fn fetch(&self) -> Result<(String, Duration), AuthError> {
        let (url, request) = match &self.credential {
            Credential::ClientSecret {
                authority,
                tenant_id,
                client_id,
                secret,
            } => {
                let url = token_url(authority, tenant_id);
                let form = [
                    ("grant_type", "client_credentials"),
                    ("client_id", client_id.as_str()),
                    ("client_secret", secret.expose()),
                    ("scope", self.scope.as_str()),
                ];
                let req = self.http.post(&url).form(&form);
                (url, req)
            }
            Credential::WorkloadIdentity {
                authority,
                tenant_id,
                client_id,
                token_file,
            } => {
                // Read on every refresh: the kubelet rotates the file.
                let assertion =
                    std::fs::read_to_string(token_file).map_err(|source| AuthError::TokenFile {
                        path: token_file.display().to_string(),
                        source,
                    })?;
                let url = token_url(authority, tenant_id);
                let form = [
                    ("grant_type", "client_credentials"),
                    ("client_id", client_id.as_str()),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", assertion.trim()),
                    ("scope", self.scope.as_str()),
                ];
                let req = self.http.post(&url).form(&form);
                (url, req)
            }
            Credential::ManagedIdentity {
                endpoint,
                client_id,
            } => {
                let resource = self.scope.trim_end_matches("/.default");
                let mut query = vec![("api-version", "2018-02-01"), ("resource", resource)];
                if let Some(id) = client_id {
                    query.push(("client_id", id.as_str()));
                }
                let req = self
                    .http
                    .get(endpoint)
                    .query(&query)
                    .header("Metadata", "true");
                (endpoint.clone(), req)
            }
        };
        let unavailable = |detail: String| AuthError::Unavailable {
            url: url.clone(),
            detail,
        };
        let resp = request
            .send()
            .await
            .map_err(|e| unavailable(error_chain(&e)))?;
        let status = resp.status().as_u16();
        let body = resp
            .bytes()
            .await
            .map_err(|e| unavailable(error_chain(&e)))?;
        // 429 and 5xx are transient anywhere; the instance metadata service also answers 404
        // while it is updating and 410 for up to 70 s after a start, both to be retried
        // (Microsoft's "How to use managed identities on a VM to acquire an access token").
        let imds = matches!(self.credential, Credential::ManagedIdentity { .. });
        if status == 429 || status == 408 || status >= 500 || (imds && matches!(status, 404 | 410))
        {
            return Err(unavailable(format!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(500)])
            )));
        }
        if status != 200 {
            return Err(AuthError::Refused {
                kind: self.credential.kind(),
                url,
                status,
                detail: refusal_detail(&body),
            });
        }
        let reply: TokenReply = serde_json::from_slice(&body).map_err(|e| AuthError::Refused {
            kind: self.credential.kind(),
            url: url.clone(),
            status,
            detail: format!("the reply is not a token: {e}"),
        })?;
        // A day at most: a larger value would be a bug on the other side (and an Instant
        // overflow here).
        let secs = reply.expires_in.secs().unwrap_or(300).clamp(1, 86_400);
        Ok((reply.access_token, Duration::from_secs(secs)))
    }
}

fn token_url(authority: &str, tenant_id: &str) -> String {
    format!(
        "{}/{}/oauth2/v2.0/token",
        authority.trim_end_matches('/'),
        tenant_id
    )
}

/// Entra ID's `error_description` (it names the AADSTS code and the fix), else the body.
fn refusal_detail(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Refusal {
        error: Option<String>,
        error_description: Option<String>,
    }
    match serde_json::from_slice::<Refusal>(body) {
        Ok(Refusal {
            error: Some(e),
            error_description,
        }) => match error_description {
            Some(d) => format!("{e}: {d}"),
            None => e,
        },
        _ => String::from_utf8_lossy(&body[..body.len().min(500)]).into_owned(),
    }
}

/// A reqwest error with its causes ("error sending request: connection refused").
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let c_s = c.to_string();
        if !s.contains(&c_s) {
            s.push_str(": ");
            s.push_str(&c_s);
        }
        cause = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn margins_leave_time_to_refresh() {
        assert_eq!(
            refresh_margin(Duration::from_secs(3599)),
            Duration::from_secs(300)
        );
        assert_eq!(
            refresh_margin(Duration::from_secs(10)),
            Duration::from_secs(2)
        );
    }

    /// An unreachable endpoint is asked once for all the callers waiting on the refresh, not
    /// once each.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn callers_waiting_on_a_failed_refresh_share_its_answer() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = calls.clone();
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            for s in listener.incoming() {
                let Ok(mut s) = s else { break };
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(50));
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                let _ = s.write_all(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        let p = Arc::new(TokenProvider::new(
            Credential::ManagedIdentity {
                endpoint: format!("http://{addr}/metadata/identity/oauth2/token"),
                client_id: None,
            },
            "https://monitor.azure.com//.default".into(),
            reqwest::Client::new(),
        ));
        let waiters: Vec<_> = (0..16)
            .map(|_| {
                let p = p.clone();
                tokio::spawn(async move { p.token().await })
            })
            .collect();
        for w in waiters {
            let e = w.await.unwrap().unwrap_err();
            assert!(e.is_transient(), "{e}");
        }
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn secrets_do_not_print() {
        let c = Credential::ClientSecret {
            authority: "https://login.microsoftonline.com".into(),
            tenant_id: "t".into(),
            client_id: "c".into(),
            secret: Secret::new("hunter2".into()),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn token_replies_of_both_shapes() {
        let entra: TokenReply =
            serde_json::from_str(r#"{"token_type":"Bearer","expires_in":3599,"access_token":"a"}"#)
                .unwrap();
        assert_eq!(entra.expires_in.secs(), Some(3599));
        let imds: TokenReply = serde_json::from_str(
            r#"{"access_token":"b","expires_in":"86399","expires_on":"1","resource":"r","token_type":"Bearer"}"#,
        )
        .unwrap();
        assert_eq!(imds.expires_in.secs(), Some(86399));
        assert_eq!(
            refusal_detail(br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}"#),
            "invalid_client: AADSTS7000215: Invalid client secret provided."
        );
    }
}
