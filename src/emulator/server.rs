//! The HTTP side: listener, connections and routing.
//!
//! Plain HTTP/1.1 with keep-alive (hyper), as clients reuse connections to the real endpoint;
//! TLS is left out because the emulator is a loopback tool and a test must not need a
//! certificate. One task per connection on a small multi-thread runtime.
//!
//! Routes:
//! - `POST /{tenant}/oauth2/v2.0/token` and `GET /metadata/identity/oauth2/token`: [`super::auth`];
//! - `POST /dataCollectionRules/{id}/streams/{stream}`: [`super::ingest`] (path segment names
//!   compare without case, ids and stream names exactly, after percent-decoding);
//! - `/emulator/...`: [`super::control`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use percent_encoding::percent_decode_str;

use super::auth::Auth;
use super::dcr::Dcr;
use super::error::ApiError;
use super::fault::Faults;
use super::limits::RateLimits;
use super::store::Store;
use super::{control, ingest};

/// Everything the handlers share.
pub struct State {
    pub dcrs: HashMap<String, Dcr>,
    /// Every table a loaded DCR writes.
    pub tables: Vec<String>,
    pub auth: Auth,
    pub limits: RateLimits,
    pub faults: Faults,
    pub store: Store,
    pub max_body_bytes: usize,
    pub max_raw_bytes: usize,
}

/// Returned by a handler to close the connection without an answer (the `reset` fault):
/// hyper drops a connection whose service fails.
#[derive(Debug, thiserror::Error)]
#[error("connection reset by fault injection")]
pub struct Reset;

/// Serves on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<State>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, say: wait rather than spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let state = state.clone();
                async move { route(&state, req).await }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(io, service)
                .await
            {
                tracing::debug!(error = %e, "connection ended");
            }
        });
    }
}

async fn route(state: &State, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Reset> {
    let path = req.uri().path().to_string();
    let segments: Vec<String> = path
        .split('/')
        .skip(1)
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
    let method = req.method().clone();
    let eq = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    match seg.as_slice() {
        [dcrs, id, streams, stream] if eq(dcrs, "dataCollectionRules") && eq(streams, "streams") => {
            if method != Method::POST {
                return Ok(method_not_allowed(&method, "POST"));
            }
            let (id, stream) = (id.to_string(), stream.to_string());
            ingest::handle(state, req, &id, &stream).await
        }
        [tenant, "oauth2", "v2.0", "token"] if !tenant.is_empty() => {
            if method != Method::POST {
                return Ok(method_not_allowed(&method, "POST"));
            }
            let ctype = req
                .headers()
                .get(hyper::header::CONTENT_TYPE)
                .map(|v| v.as_bytes().to_vec());
            let body = match Limited::new(req.into_body(), 1 << 20).collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => Bytes::new(),
            };
            Ok(state.auth.token_endpoint(ctype.as_deref(), &body))
        }
        ["metadata", "identity", "oauth2", "token"] => {
            if method != Method::GET {
                return Ok(method_not_allowed(&method, "GET"));
            }
            let metadata = req.headers().get("metadata").map(|v| v.as_bytes());
            Ok(state.auth.imds(metadata, req.uri().query().unwrap_or("")))
        }
        ["emulator", ..] => {
            let rest = path.trim_start_matches("/emulator/").to_string();
            Ok(control::handle(state, req, &rest).await)
        }
        _ => Ok(ApiError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!(
                "No route for {method} {path}: ingestion is POST /dataCollectionRules/{{dcrImmutableId}}/streams/{{streamName}}?api-version=2023-01-01."
            ),
        )
        .into_response()),
    }
}

fn method_not_allowed(method: &Method, allowed: &'static str) -> Response<Full<Bytes>> {
    let mut r = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        format!("{method} is not allowed here; use {allowed}."),
    )
    .into_response();
    r.headers_mut().insert(
        hyper::header::ALLOW,
        hyper::header::HeaderValue::from_static(allowed),
    );
    r
}

/// The local address and what the start-up log says.
pub fn describe(addr: SocketAddr, state: &State) {
    tracing::info!(
        token_url = %format!("http://{addr}/<tenant>/oauth2/v2.0/token"),
        managed_identity_url = %format!("http://{addr}/metadata/identity/oauth2/token"),
        "token endpoints"
    );
    let mut ids: Vec<&String> = state.dcrs.keys().collect();
    ids.sort();
    for id in ids {
        for (name, s) in &state.dcrs[id].streams {
            tracing::info!(
                dcr = %id,
                stream = %name,
                tables = %s.tables.join(","),
                columns = s.columns.len(),
                url = %format!("http://{addr}/dataCollectionRules/{id}/streams/{name}?api-version=2023-01-01"),
                "ingestion stream"
            );
        }
    }
}
