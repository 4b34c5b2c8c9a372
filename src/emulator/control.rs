//! The emulator's own endpoints under `/emulator/`, for tests and people: counts, stored rows,
//! faults and token expiry. They take no token: the emulator is a loopback tool, and a test
//! must be able to look at what arrived without being a client of the API it checks.
//!
//! - `GET /emulator/counts`: `{"rows":{table:n}, "requests":{status:n},
//!   "dcrs":{id:{"requests":{status:n},"rows":n}}}` (`reset` counts dropped connections).
//! - `GET /emulator/rows/{Table}`: the table's NDJSON (404 without `--store`).
//! - `POST /emulator/faults` with a JSON array of fault specs replaces the faults in force;
//!   `DELETE /emulator/faults` removes them.
//! - `POST /emulator/expire-tokens`: every token issued so far is expired from now on.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::json;

use super::error::{json_response, ApiError};
use super::fault;
use super::server::State;

pub async fn handle(state: &State, req: Request<Incoming>, rest: &str) -> Response<Full<Bytes>> {
    match (req.method().clone(), rest) {
        (Method::GET, "counts") => {
            let mut counts = state.store.counts();
            counts["faults"] = json!(state.faults.describe());
            json_response(StatusCode::OK, &counts)
        }
        (Method::GET, r) if r.starts_with("rows/") => rows(state, &r["rows/".len()..]),
        (Method::POST, "faults") => set_faults(state, req).await,
        (Method::DELETE, "faults") => {
            state.faults.replace(Vec::new());
            tracing::info!("faults cleared");
            json_response(StatusCode::OK, &json!({ "faults": [] }))
        }
        (Method::POST, "expire-tokens") => {
            let n = state.auth.expire_all();
            tracing::info!(tokens = n, "every token issued so far is expired now");
            json_response(StatusCode::OK, &json!({ "expired": n }))
        }
        _ => ApiError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            "Emulator endpoints: GET /emulator/counts, GET /emulator/rows/{Table}, POST|DELETE /emulator/faults, POST /emulator/expire-tokens.",
        )
        .into_response(),
    }
}

fn rows(state: &State, table: &str) -> Response<Full<Bytes>> {
    if !state.tables.iter().any(|t| t == table) {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("No loaded data collection rule writes table '{table}'."),
        )
        .into_response();
    }
    match state.store.rows(table) {
        None => ApiError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            "Rows are kept only with --store DIR; counts are at /emulator/counts.",
        )
        .into_response(),
        Some(Err(e)) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            format!("Cannot read the stored rows: {e}."),
        )
        .into_response(),
        Some(Ok(bytes)) => {
            let mut r = Response::new(Full::new(Bytes::from(bytes)));
            r.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("application/x-ndjson"),
            );
            r
        }
    }
}

async fn set_faults(state: &State, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let bad = |m: String| ApiError::bad_request("InvalidFaults", m).into_response();
    let body = match Limited::new(req.into_body(), 1 << 20).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return bad(format!("Cannot read the body: {e}.")),
    };
    let specs: Vec<String> = match serde_json::from_slice(&body) {
        Ok(s) => s,
        Err(e) => return bad(format!("Expected a JSON array of fault spec strings: {e}.")),
    };
    let known: Vec<&str> = state.dcrs.keys().map(String::as_str).collect();
    let mut list = Vec::with_capacity(specs.len());
    for s in &specs {
        match fault::parse(s, &known) {
            Ok(f) => list.push(f),
            Err(e) => return bad(format!("Fault '{s}': {e}.")),
        }
    }
    state.faults.replace(list);
    tracing::info!(faults = ?specs, "faults replaced");
    json_response(StatusCode::OK, &json!({ "faults": specs }))
}
