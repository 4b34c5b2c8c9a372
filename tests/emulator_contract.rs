//! `logferry emulator` against the documented Logs Ingestion API contract
//! (<https://learn.microsoft.com/azure/azure-monitor/logs/logs-ingestion-api-overview>,
//! <https://learn.microsoft.com/azure/azure-monitor/service-limits>,
//! <https://learn.microsoft.com/azure/azure-monitor/logs/tutorial-logs-ingestion-code>):
//! one test per status code and rule, written from the Microsoft documents, not from
//! logferry's sink. Each test starts the real binary on a free loopback port and talks to it
//! with a real HTTP client.
//!
//! Fixtures: `testdata/azure/narrow-dcr.json` (one stream, one column of each declared type,
//! immutable id `dcr-narrow`, table `Narrow_CL`) and the shipped `deploy/azure/dcr.json`.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, Response};
use serde_json::{json, Value};

const NARROW: &str = "testdata/azure/narrow-dcr.json";
const SHIPPED: &str = "deploy/azure/dcr.json";
const STREAM: &str = "Custom-Narrow";
const SCOPE: &str = "https://monitor.azure.com//.default";

/// A running emulator; killed on drop.
struct Emu {
    child: Child,
    url: String,
    http: Client,
    store: tempfile::TempDir,
}

impl Drop for Emu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Emu {
    /// The narrow DCR and the shipped one (as `dcr-shipped`), plus `extra` arguments.
    fn start(extra: &[&str]) -> Emu {
        let mut args = vec![
            "--dcr".to_string(),
            NARROW.to_string(),
            "--dcr".to_string(),
            format!("dcr-shipped={SHIPPED}"),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        Self::start_with(&args)
    }

    fn start_with(args: &[String]) -> Emu {
        let store = tempfile::tempdir().expect("tempdir");
        let log = std::fs::File::create(store.path().join("emulator.log")).expect("log file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_logferry"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["emulator", "--listen", "127.0.0.1:0", "--store"])
            .arg(store.path().join("rows"))
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start logferry emulator");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the listening line");
        let url = line
            .trim()
            .strip_prefix("logferry emulator listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        let http = Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client");
        Emu {
            child,
            url,
            http,
            store,
        }
    }

    fn token_as(&self, client: &str, secret: &str) -> String {
        let r = self
            .http
            .post(format!("{}/my-tenant/oauth2/v2.0/token", self.url))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form(&[
                ("client_id", client),
                ("client_secret", secret),
                ("grant_type", "client_credentials"),
                ("scope", SCOPE),
            ]))
            .send()
            .expect("token request");
        assert_eq!(r.status(), 200);
        let v = body_json(r);
        v["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    fn token(&self) -> String {
        self.token_as("logferry-emulator", "emulator-secret")
    }

    fn ingest_url(&self, dcr: &str, stream: &str) -> String {
        format!(
            "{}/dataCollectionRules/{dcr}/streams/{stream}?api-version=2023-01-01",
            self.url
        )
    }

    /// A request as a well-behaved client sends it, to be changed by the test.
    fn request(&self, dcr: &str, stream: &str, token: &str) -> reqwest::blocking::RequestBuilder {
        self.http
            .post(self.ingest_url(dcr, stream))
            .bearer_auth(token)
            .header("Content-Type", "application/json")
    }

    fn post(&self, token: &str, body: impl Into<Vec<u8>>) -> Response {
        self.request("dcr-narrow", STREAM, token)
            .body(body.into())
            .send()
            .expect("ingestion request")
    }

    fn post_gzip(&self, token: &str, body: &[u8]) -> Response {
        self.request("dcr-narrow", STREAM, token)
            .header("Content-Encoding", "gzip")
            .body(gzip(body))
            .send()
            .expect("ingestion request")
    }

    fn counts(&self) -> Value {
        body_json(
            self.http
                .get(format!("{}/emulator/counts", self.url))
                .send()
                .expect("counts"),
        )
    }

    fn rows(&self, table: &str) -> Vec<Value> {
        let r = self
            .http
            .get(format!("{}/emulator/rows/{table}", self.url))
            .send()
            .expect("rows");
        assert_eq!(r.status(), 200);
        let text = r.text().expect("rows text");
        let from_file = std::fs::read_to_string(
            self.store
                .path()
                .join("rows")
                .join(format!("{table}.ndjson")),
        )
        .unwrap_or_default();
        assert_eq!(text, from_file, "the endpoint serves the store file");
        text.lines()
            .map(|l| serde_json::from_str(l).expect("stored line is JSON"))
            .collect()
    }

    fn set_faults(&self, specs: &[&str]) {
        let r = self
            .http
            .post(format!("{}/emulator/faults", self.url))
            .header("Content-Type", "application/json")
            .body(serde_json::to_string(specs).unwrap())
            .send()
            .expect("set faults");
        assert_eq!(r.status(), 200, "{}", r.text().unwrap_or_default());
    }
}

fn body_json(r: Response) -> Value {
    let bytes = r.bytes().expect("response body");
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)))
}

/// A form-encoded body (RFC 3986 unreserved characters kept, the rest percent-encoded).
fn form(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

/// Asserts an error answer: status, `x-ms-error-code`, body `{"error":{"code","message"}}`;
/// returns the message.
fn expect_error(r: Response, status: u16, code: &str) -> String {
    assert_eq!(r.status().as_u16(), status, "status");
    let header = r
        .headers()
        .get("x-ms-error-code")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body: Value = body_json(r);
    assert_eq!(body["error"]["code"], code, "{body}");
    assert_eq!(header.as_deref(), Some(code), "x-ms-error-code");
    body["error"]["message"]
        .as_str()
        .expect("error message")
        .to_string()
}

fn good_rows() -> Value {
    json!([
        {"TimeGenerated": "2024-05-01T12:00:00Z", "Name": "a", "Count": 1, "Big": 9007199254740993_i64,
         "Ratio": 0.5, "Flag": true, "Extra": {"k": [1, 2]}},
        {"TimeGenerated": "2024-05-01T12:00:01.5+02:00", "Name": null, "Count": -2147483648_i64,
         "Ratio": 3, "Flag": false, "Extra": "text"}
    ])
}

#[test]
fn accepts_plain_and_gzip_json_and_stores_rows_as_posted() {
    let emu = Emu::start(&[]);
    let token = emu.token();
    let rows = good_rows();
    let r = emu.post(&token, rows.to_string());
    assert_eq!(r.status(), 204);
    assert_eq!(r.text().unwrap(), "", "204 has an empty body");
    let more = json!([{"Name": "gz", "TimeGenerated": "2024-05-01T12:00:02Z"}]);
    let r = emu.post_gzip(&token, more.to_string().as_bytes());
    assert_eq!(r.status(), 204);
    // Pretty-printed input is stored compact, one object per line, keys in the posted order.
    let pretty = "[\n  {\n    \"Name\": \"pretty\",\n    \"Count\": 7\n  }\n]\n";
    assert_eq!(emu.post(&token, pretty).status(), 204);

    let stored = emu.rows("Narrow_CL");
    let mut expected: Vec<Value> = rows.as_array().unwrap().clone();
    expected.extend(more.as_array().unwrap().iter().cloned());
    expected.push(json!({"Name": "pretty", "Count": 7}));
    assert_eq!(stored, expected);
    let raw = std::fs::read_to_string(emu.store.path().join("rows/Narrow_CL.ndjson")).unwrap();
    assert!(
        raw.ends_with("{\"Name\":\"pretty\",\"Count\":7}\n"),
        "{raw}"
    );

    let c = emu.counts();
    assert_eq!(c["rows"]["Narrow_CL"], 4);
    assert_eq!(c["requests"]["204"], 3);
    assert_eq!(c["dcrs"]["dcr-narrow"]["rows"], 4);
    assert_eq!(c["dcrs"]["dcr-narrow"]["requests"]["204"], 3);
    assert_eq!(c["dcrs"]["dcr-shipped"]["rows"], 0);
}

#[test]
fn shipped_dcr_accepts_a_cloudtrail_row_and_refuses_an_undeclared_column() {
    let emu = Emu::start_with(&[]); // no --dcr: the shipped file as dcr-logferry-emulator
    let token = emu.token();
    let row = json!([{"TimeGenerated": "2022-02-21T10:20:00Z", "EventName": "ConsoleLogin",
                      "AWSRegion": "eu-west-2"}]);
    let r = emu
        .request(
            "dcr-logferry-emulator",
            "Custom-LogferryAWSCloudTrail",
            &token,
        )
        .body(row.to_string())
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(emu.rows("AWSCloudTrail"), row.as_array().unwrap().clone());
    let r = emu
        .request("dcr-logferry-emulator", "Custom-LogferryAWSVPCFlow", &token)
        .body(json!([{"TimeGenerated": "2022-02-21T10:20:00Z", "NoSuchColumn": 1}]).to_string())
        .send()
        .unwrap();
    let m = expect_error(r, 400, "InvalidPayload");
    assert!(m.contains("NoSuchColumn") && m.contains("Row 0"), "{m}");
    assert_eq!(emu.counts()["rows"]["AWSVPCFlow"], 0);
}

#[test]
fn rejected_requests_store_nothing() {
    let emu = Emu::start(&[]);
    let token = emu.token();
    // The first row is good, the second is not: nothing of the request is kept.
    let body = json!([{"Name": "good"}, {"Name": 5}]).to_string();
    expect_error(emu.post(&token, body), 400, "InvalidPayload");
    expect_error(emu.post(&token, "[{\"Name\":\"x\"}"), 400, "InvalidPayload");
    assert_eq!(emu.rows("Narrow_CL"), Vec::<Value>::new());
    let c = emu.counts();
    assert_eq!(c["rows"]["Narrow_CL"], 0);
    assert_eq!(c["requests"]["400"], 2);
    assert!(c["requests"].get("204").is_none());
}

#[test]
fn unauthorized_without_a_valid_token() {
    let emu = Emu::start(&[]);
    let body = good_rows().to_string();
    let r = emu
        .http
        .post(emu.ingest_url("dcr-narrow", STREAM))
        .header("Content-Type", "application/json")
        .body(body.clone())
        .send()
        .unwrap();
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    expect_error(r, 401, "InvalidAuthenticationToken");
    let r = emu.post("garbage", body.clone());
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    expect_error(r, 401, "InvalidAuthenticationToken");
    let r = emu
        .request("dcr-narrow", STREAM, "x")
        .header("Authorization", "Basic dXNlcjpwYXNz")
        .body(body.clone())
        .send()
        .unwrap();
    expect_error(r, 401, "InvalidAuthenticationToken");

    // A token that worked stops working once the emulator expires every token.
    let token = emu.token();
    assert_eq!(emu.post(&token, body.clone()).status(), 204);
    let r = emu
        .http
        .post(format!("{}/emulator/expire-tokens", emu.url))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    expect_error(
        emu.post(&token, body.clone()),
        401,
        "ExpiredAuthenticationToken",
    );
    // A new one works again.
    assert_eq!(emu.post(&emu.token(), body).status(), 204);
    assert_eq!(emu.counts()["requests"]["401"], 4);
}

#[test]
fn unauthorized_once_the_token_lifetime_is_over() {
    let emu = Emu::start(&["--token-lifetime", "1"]);
    let r = emu
        .http
        .post(format!("{}/t/oauth2/v2.0/token", emu.url))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("client_id", "logferry-emulator"),
            ("client_secret", "emulator-secret"),
            ("grant_type", "client_credentials"),
            ("scope", SCOPE),
        ]))
        .send()
        .unwrap();
    let v = body_json(r);
    assert_eq!(v["expires_in"], 1);
    assert_eq!(v["token_type"], "Bearer");
    let token = v["access_token"].as_str().unwrap().to_string();
    let issued = Instant::now();
    assert_eq!(emu.post(&token, "[]").status(), 204);
    std::thread::sleep(Duration::from_millis(1100).saturating_sub(issued.elapsed()));
    expect_error(emu.post(&token, "[]"), 401, "ExpiredAuthenticationToken");
}

#[test]
fn forbidden_for_a_principal_without_access_to_the_dcr() {
    let emu = Emu::start(&[
        "--client",
        "logferry-emulator=emulator-secret",
        "--client",
        "narrow-only=s3cret",
        "--allow",
        "narrow-only=dcr-narrow",
    ]);
    let token = emu.token_as("narrow-only", "s3cret");
    assert_eq!(emu.post(&token, good_rows().to_string()).status(), 204);
    let r = emu
        .request("dcr-shipped", "Custom-LogferryAWSGuardDuty", &token)
        .body("[]")
        .send()
        .unwrap();
    let m = expect_error(r, 403, "OperationFailed");
    assert_eq!(
        m,
        "The authentication token provided does not have access to ingest data for the data collection rule with immutable Id 'dcr-shipped'."
    );
    // The principal without --allow entries may use every DCR.
    let r = emu
        .request("dcr-shipped", "Custom-LogferryAWSGuardDuty", &emu.token())
        .body("[]")
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
}

#[test]
fn not_found_for_an_unknown_dcr_or_stream() {
    let emu = Emu::start(&[]);
    let token = emu.token();
    let r = emu
        .request("dcr-00000000000000000000000000000000", STREAM, &token)
        .body("[]")
        .send()
        .unwrap();
    expect_error(r, 404, "NotFound");
    let r = emu
        .request("dcr-narrow", "Custom-Wide", &token)
        .body("[]")
        .send()
        .unwrap();
    let m = expect_error(r, 404, "NotFound");
    assert!(
        m.contains("Custom-Wide") && m.contains("Custom-Narrow"),
        "{m}"
    );
    // The output stream is not an input stream.
    let r = emu
        .request("dcr-narrow", "Custom-Narrow_CL", &token)
        .body("[]")
        .send()
        .unwrap();
    expect_error(r, 404, "NotFound");
}

#[test]
fn unsupported_media_type_unless_application_json() {
    let emu = Emu::start(&[]);
    let token = emu.token();
    let body = good_rows().to_string();
    for ctype in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/jsonl",
        "application/x-ndjson",
    ] {
        let r = emu
            .http
            .post(emu.ingest_url("dcr-narrow", STREAM))
            .bearer_auth(&token)
            .header("Content-Type", ctype)
            .body(body.clone())
            .send()
            .unwrap();
        expect_error(r, 415, "UnsupportedMediaType");
    }
    let r = emu
        .http
        .post(emu.ingest_url("dcr-narrow", STREAM))
        .bearer_auth(&token)
        .body(body.clone())
        .send()
        .unwrap();
    expect_error(r, 415, "UnsupportedMediaType");
    // Two Content-Type headers are not one application/json.
    let r = emu
        .request("dcr-narrow", STREAM, &token)
        .header("Content-Type", "text/plain")
        .body(body.clone())
        .send()
        .unwrap();
    expect_error(r, 415, "UnsupportedMediaType");
    let r = emu
        .http
        .post(emu.ingest_url("dcr-narrow", STREAM))
        .bearer_auth(&token)
        .header("Content-Type", "Application/JSON; charset=utf-8")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
}

#[test]
fn bad_request_for_api_version() {
    let emu = Emu::start(&[]);
    let token = emu.token();
    let base = format!(
        "{}/dataCollectionRules/dcr-narrow/streams/{STREAM}",
        emu.url
    );
    for (url, code) in [
        (base.clone(), "MissingApiVersionParameter"),
        (
            format!("{base}?api-version=2099-01-01"),
            "InvalidApiVersionParameter",
        ),
    ] {
        // Checked before the token: no token at all still gets the 400.
        let r = emu
            .http
            .post(url)
            .header("Content-Type", "application/json")
            .body("[]")
            .send()
            .unwrap();
        expect_error(r, 400, code);
    }
    let r = emu
        .http
        .post(format!("{base}?api-version=2021-11-01-preview"))
        .bearer_auth(&token)
        .header("Content-Type", "application/json")
        .body("[]")
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
}

#[test]
fn bad_request_for_a_body_that_is_not_an_array_of_objects() {
    let emu = Emu::start(&[]);
    let token = emu.token();
    // A bare object: Azure answers 204 and drops it (MicrosoftDocs/azure-docs#112669); strict 400.
    let m = expect_error(emu.post(&token, r#"{"Name":"a"}"#), 400, "InvalidPayload");
    assert!(m.contains("array"), "{m}");
    let m = expect_error(
        emu.post(&token, r#"[{"Name":"a"}, "b", 3]"#),
        400,
        "InvalidPayload",
    );
    assert!(m.contains("Row 1") && m.contains("object"), "{m}");
    expect_error(emu.post(&token, "[[]]"), 400, "InvalidPayload");
    expect_error(emu.post(&token, "not json"), 400, "InvalidPayload");
    expect_error(emu.post(&token, ""), 400, "InvalidPayload");
    expect_error(
        emu.post(&token, b"[{\"Name\":\"\xff\"}]".to_vec()),
        400,
        "InvalidPayload",
    );
    // Bad gzip, gzip of something else, an encoding other than gzip.
    let r = emu
        .request("dcr-narrow", STREAM, &token)
        .header("Content-Encoding", "gzip")
        .body(b"[{\"Name\":\"not gzipped\"}]".to_vec())
        .send()
        .unwrap();
    expect_error(r, 400, "InvalidContentEncoding");
    let mut cut = gzip(good_rows().to_string().as_bytes());
    cut.truncate(cut.len() - 6);
    let r = emu
        .request("dcr-narrow", STREAM, &token)
        .header("Content-Encoding", "gzip")
        .body(cut)
        .send()
        .unwrap();
    expect_error(r, 400, "InvalidContentEncoding");
    let r = emu
        .request("dcr-narrow", STREAM, &token)
        .header("Content-Encoding", "deflate")
        .body(good_rows().to_string())
        .send()
        .unwrap();
    expect_error(r, 400, "UnsupportedContentEncoding");
    assert_eq!(emu.counts()["rows"]["Narrow_CL"], 0);
}

#[test]
fn bad_request_names_row_column_and_declared_type() {
    let emu = Emu::start(&[]);
    let token = emu.token();
    let cases = [
        ("Unknown", json!("x"), "not declared"),
        ("name", json!("x"), "not declared"), // names compare exactly
        ("Name", json!(5), "string"),
        ("Name", json!({"a": 1}), "string"),
        ("Count", json!(2147483648_i64), "int"),
        ("Count", json!(-2147483649_i64), "int"),
        ("Count", json!(1.5), "int"),
        ("Count", json!("1"), "int"),
        ("Big", json!(9223372036854775808_u64), "long"),
        ("Big", json!(1.0), "long"),
        ("Big", json!("12"), "long"),
        ("Ratio", json!("0.5"), "real"),
        ("Ratio", json!(true), "real"),
        ("Flag", json!("true"), "boolean"),
        ("Flag", json!(1), "boolean"),
        ("TimeGenerated", json!("yesterday"), "datetime"),
        ("TimeGenerated", json!("2024-05-01"), "datetime"),
        ("TimeGenerated", json!("2024-13-01T00:00:00Z"), "datetime"),
        ("TimeGenerated", json!(1714564800), "datetime"),
    ];
    for (column, value, needle) in cases {
        let mut bad = serde_json::Map::new();
        bad.insert(column.to_string(), value.clone());
        let body = json!([{"Name": "fine"}, bad]).to_string();
        let m = expect_error(emu.post(&token, body), 400, "InvalidPayload");
        assert!(
            m.contains("Row 1") && m.contains(&format!("'{column}'")) && m.contains(needle),
            "{column}={value}: {m}"
        );
    }
    // Limits of each type are accepted, and null is accepted for every type.
    let edge = json!([
        {"Count": 2147483647, "Big": -9223372036854775808_i64, "Ratio": 1e308, "Extra": null},
        {"TimeGenerated": null, "Name": null, "Count": null, "Big": null, "Ratio": null, "Flag": null},
        {"TimeGenerated": "2024-05-01T12:00:00.1234567Z", "Extra": [1, "two", {"three": 3}]}
    ]);
    assert_eq!(emu.post(&token, edge.to_string()).status(), 204);
    assert_eq!(emu.counts()["rows"]["Narrow_CL"], 3);
    // "Fields longer than 64 KB are truncated": 65,536 bytes pass, one more is refused (a
    // three-byte character counts three).
    let at_limit = json!([{"Name": "x".repeat(65_536)}]).to_string();
    assert_eq!(emu.post(&token, at_limit).status(), 204);
    let over = json!([{"Name": "fine"}, {"Name": "€".repeat(21_846)}]).to_string();
    let m = expect_error(emu.post(&token, over), 400, "InvalidPayload");
    assert!(m.contains("Row 1") && m.contains("64 KB"), "{m}");
}

/// A JSON array of `{"Name":"x…"}` rows of exactly `size` bytes, every value under 64 KB.
fn body_of(size: usize) -> String {
    const VALUE: usize = 60_000;
    let row = |n: usize| format!(r#"{{"Name":"{}"}}"#, "x".repeat(n));
    let frame = row(0).len(); // {"Name":""}
    let mut rows = Vec::new();
    // '[' + ']' and the commas between rows.
    let mut used = 2;
    loop {
        let comma = usize::from(!rows.is_empty());
        let left = size - used - comma - frame;
        if left <= VALUE {
            rows.push(row(left));
            break;
        }
        rows.push(row(VALUE));
        used += comma + frame + VALUE;
    }
    let body = format!("[{}]", rows.join(","));
    assert_eq!(body.len(), size);
    body
}

#[test]
fn payload_too_large_as_sent_and_after_decoding() {
    let emu = Emu::start(&[]);
    let token = emu.token();
    // A body of exactly 1,048,576 bytes is accepted (rows of values under the 64 KB field
    // limit, the last one sized to fill).
    let exact = body_of(1_048_576);
    assert_eq!(exact.len(), 1_048_576);
    assert_eq!(emu.post(&token, exact.clone()).status(), 204);
    // One byte more is refused, with Azure's text.
    let over = body_of(1_048_577);
    let m = expect_error(
        emu.post(&token, over.clone()),
        413,
        "ContentLengthLimitExceeded",
    );
    assert!(
        m.starts_with("Maximum allowed content length: 1048576 bytes (1 MB)"),
        "{m}"
    );
    // Small when compressed, too large when decoded.
    let r = emu.post_gzip(&token, over.as_bytes());
    let m = expect_error(r, 413, "ContentLengthLimitExceeded");
    assert!(m.contains("uncompressed"), "{m}");
    // The connection is still usable and the exact-size body still passes gzipped.
    assert_eq!(emu.post_gzip(&token, exact.as_bytes()).status(), 204);
    let rows = serde_json::from_str::<Vec<Value>>(&exact).unwrap().len();
    assert_eq!(emu.counts()["rows"]["Narrow_CL"], 2 * rows);
    assert_eq!(emu.counts()["requests"]["413"], 2);
}

#[test]
fn payload_too_large_by_configured_limits_and_chunked_upload() {
    let emu = Emu::start(&["--max-body-bytes", "100", "--max-raw-bytes", "200"]);
    let token = emu.token();
    let body = json!([{"Name": "x".repeat(120)}]).to_string();
    // Sent without Content-Length (chunked): the limit counts the bytes read.
    let r = emu
        .request("dcr-narrow", STREAM, &token)
        .body(reqwest::blocking::Body::new(std::io::Cursor::new(
            body.clone().into_bytes(),
        )))
        .send()
        .unwrap();
    let m = expect_error(r, 413, "ContentLengthLimitExceeded");
    assert!(
        m.starts_with("Maximum allowed content length: 100 bytes"),
        "{m}"
    );
    // 120 bytes compressed well under 100; 250 decoded is over the raw limit of 200.
    let big = json!([{"Name": "y".repeat(230)}]).to_string();
    let m = expect_error(
        emu.post_gzip(&token, big.as_bytes()),
        413,
        "ContentLengthLimitExceeded",
    );
    assert!(m.contains("200 bytes"), "{m}");
    assert_eq!(
        emu.post_gzip(&token, body.as_bytes()).status(),
        204,
        "gzip of 140 bytes fits both limits"
    );
}

#[test]
fn too_many_requests_per_minute_with_retry_after() {
    let emu = Emu::start(&["--requests-per-minute", "3"]);
    let token = emu.token();
    for _ in 0..3 {
        assert_eq!(emu.post(&token, "[]").status(), 204);
    }
    let r = emu.post(&token, "[]");
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After is whole seconds");
    assert!((1..=60).contains(&retry), "{retry}");
    expect_error(r, 429, "TooManyRequests");
    // The limit is per DCR: the shipped one is not affected.
    let r = emu
        .request("dcr-shipped", "Custom-LogferryAWSVPCFlow", &token)
        .body("[]")
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    let c = emu.counts();
    assert_eq!(c["dcrs"]["dcr-narrow"]["requests"]["429"], 1);
    assert!(c["dcrs"]["dcr-shipped"]["requests"].get("429").is_none());
}

#[test]
fn too_many_bytes_per_minute_with_retry_after() {
    let emu = Emu::start(&["--bytes-per-minute", "100"]);
    let token = emu.token();
    let body = json!([{"Name": "z".repeat(40)}]).to_string(); // 53 bytes decoded
    assert_eq!(emu.post_gzip(&token, body.as_bytes()).status(), 204);
    let r = emu.post(&token, body.clone());
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let m = expect_error(r, 429, "TooManyRequests");
    assert!(m.contains("bytes"), "{m}");
    // A small one still fits the window.
    assert_eq!(emu.post(&token, "[]").status(), 204);
    assert_eq!(emu.counts()["rows"]["Narrow_CL"], 1);
}

fn token_request(emu: &Emu, ctype: &str, body: &str) -> (u16, Value) {
    let r = emu
        .http
        .post(format!("{}/tenant-id/oauth2/v2.0/token", emu.url))
        .header("Content-Type", ctype)
        .body(body.to_string())
        .send()
        .unwrap();
    (r.status().as_u16(), body_json(r))
}

#[test]
fn token_endpoint_follows_entra_id() {
    let emu = Emu::start(&[
        "--client",
        "logferry-emulator=emulator-secret",
        "--client",
        "wi-app=the-assertion",
    ]);
    let form = "application/x-www-form-urlencoded";
    let scope = "scope=https%3A%2F%2Fmonitor.azure.com%2F%2F.default";
    let ok = format!(
        "client_id=logferry-emulator&{scope}&client_secret=emulator-secret&grant_type=client_credentials"
    );
    let (s, v) = token_request(&emu, form, &ok);
    assert_eq!(s, 200);
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 3600);
    assert_eq!(v["ext_expires_in"], 3600);
    assert!(v["access_token"].as_str().is_some_and(|t| t.len() > 20));
    // The REST specification's single-slash scope is accepted too.
    let (s, _) = token_request(
        &emu,
        form,
        "client_id=logferry-emulator&scope=https://monitor.azure.com/.default&client_secret=emulator-secret&grant_type=client_credentials",
    );
    assert_eq!(s, 200);

    let cases = [
        (
            "application/json",
            ok.clone(),
            400,
            "invalid_request",
            "AADSTS900144",
        ),
        (
            form,
            ok.replace("client_credentials", "password"),
            400,
            "unsupported_grant_type",
            "AADSTS70003",
        ),
        (
            form,
            ok.replace("monitor.azure.com%2F%2F", "graph.microsoft.com%2F"),
            400,
            "invalid_scope",
            "AADSTS70011",
        ),
        (
            form,
            ok.replace("emulator-secret", "wrong"),
            401,
            "invalid_client",
            "AADSTS7000215",
        ),
        (
            form,
            ok.replace("client_id=logferry-emulator", "client_id=nobody"),
            400,
            "unauthorized_client",
            "AADSTS700016",
        ),
        (
            form,
            ok.replace("&client_secret=emulator-secret", ""),
            401,
            "invalid_client",
            "AADSTS7000218",
        ),
        (
            form,
            ok.replace("&grant_type=client_credentials", ""),
            400,
            "invalid_request",
            "AADSTS900144",
        ),
        (
            form,
            ok.replace(&format!("&{scope}"), ""),
            400,
            "invalid_request",
            "AADSTS900144",
        ),
    ];
    for (ctype, body, status, error, aadsts) in cases {
        let (s, v) = token_request(&emu, ctype, &body);
        assert_eq!(s, status, "{body}: {v}");
        assert_eq!(v["error"], error, "{body}: {v}");
        assert!(
            v["error_description"].as_str().unwrap().starts_with(aadsts),
            "{v}"
        );
        assert!(v.get("access_token").is_none());
    }

    // Workload identity: a client assertion (not verified as a JWT: compared with the secret).
    let wi = |assertion: &str| {
        format!(
            "client_id=wi-app&{scope}&grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={assertion}"
        )
    };
    let (s, v) = token_request(&emu, form, &wi("the-assertion"));
    assert_eq!(s, 200, "{v}");
    let token = v["access_token"].as_str().unwrap();
    assert_eq!(emu.post(token, "[]").status(), 204);
    let (s, v) = token_request(&emu, form, &wi("another"));
    assert_eq!((s, v["error"].as_str()), (401, Some("invalid_client")));
}

#[test]
fn managed_identity_needs_the_metadata_header() {
    let emu = Emu::start(&["--managed-identity", "mi-1", "--allow", "mi-1=dcr-narrow"]);
    let url = format!(
        "{}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://monitor.azure.com",
        emu.url
    );
    let r = emu.http.get(&url).send().unwrap();
    assert_eq!(r.status(), 400);
    let v = body_json(r);
    assert_eq!(v["error"], "invalid_request");

    let r = emu
        .http
        .get(&url)
        .header("Metadata", "true")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let v = body_json(r);
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["resource"], "https://monitor.azure.com");
    assert_eq!(v["expires_in"], "3600", "IMDS writes numbers as strings");
    let expires_on: u64 = v["expires_on"].as_str().unwrap().parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(expires_on >= now + 3590 && expires_on <= now + 3610);
    let token = v["access_token"].as_str().unwrap();
    assert_eq!(emu.post(token, good_rows().to_string()).status(), 204);
    let r = emu
        .request("dcr-shipped", "Custom-LogferryAWSVPCFlow", token)
        .body("[]")
        .send()
        .unwrap();
    expect_error(r, 403, "OperationFailed");

    // A user-assigned identity by client_id; another id or resource is refused.
    let r = emu
        .http
        .get(format!("{url}&client_id=mi-1"))
        .header("Metadata", "true")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = emu
        .http
        .get(format!("{url}&client_id=mi-2"))
        .header("Metadata", "true")
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = emu
        .http
        .get(url.replace("monitor.azure.com", "vault.azure.net"))
        .header("Metadata", "true")
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[test]
fn client_request_id_is_echoed() {
    let emu = Emu::start(&[]);
    let token = emu.token();
    let id = "0f8fad5b-d9cb-469f-a165-70867728950e";
    for body in [good_rows().to_string(), "{}".to_string()] {
        let r = emu
            .request("dcr-narrow", STREAM, &token)
            .header("x-ms-client-request-id", id)
            .body(body)
            .send()
            .unwrap();
        assert_eq!(r.headers()["x-ms-client-request-id"], id);
    }
}

#[test]
fn fault_503_at_rate_one() {
    let emu = Emu::start(&["--fault", "503=1"]);
    let token = emu.token();
    for _ in 0..3 {
        expect_error(
            emu.post(&token, good_rows().to_string()),
            503,
            "ServiceUnavailable",
        );
    }
    // Faults apply after the token check.
    expect_error(emu.post("bad", "[]"), 401, "InvalidAuthenticationToken");
    let r = emu
        .http
        .delete(format!("{}/emulator/faults", emu.url))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(emu.post(&token, good_rows().to_string()).status(), 204);
    let c = emu.counts();
    assert_eq!(c["requests"]["503"], 3);
    assert_eq!(c["rows"]["Narrow_CL"], 2);
}

#[test]
fn fault_reset_closes_the_connection_without_an_answer() {
    let emu = Emu::start(&[]);
    let token = emu.token();
    emu.set_faults(&["reset=1"]);
    let err = emu
        .post_result(&token, good_rows().to_string())
        .expect_err("a reset is a connection error, not an answer");
    assert!(!err.is_status(), "{err}");
    emu.set_faults(&[]);
    assert_eq!(emu.post(&token, good_rows().to_string()).status(), 204);
    let c = emu.counts();
    assert_eq!(c["requests"]["reset"], 1);
    assert_eq!(c["rows"]["Narrow_CL"], 2);
}

#[test]
fn fault_storm_then_recovery() {
    let emu = Emu::start(&[]);
    let token = emu.token();
    emu.set_faults(&["storm=1"]);
    // The storm starts at the first request after it was set, not when it was set.
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let r = emu.post(&token, "[]");
    assert_eq!(r.headers()["retry-after"], "1");
    expect_error(r, 429, "TooManyRequests");
    let r = emu.post(&token, "[]");
    assert_eq!(r.status(), 429);
    std::thread::sleep(Duration::from_millis(1050).saturating_sub(started.elapsed()));
    assert_eq!(emu.post(&token, good_rows().to_string()).status(), 204);
    assert_eq!(emu.counts()["rows"]["Narrow_CL"], 2);
}

#[test]
fn fault_scoped_to_one_dcr_and_latency() {
    let emu = Emu::start(&[
        "--fault",
        "dcr-narrow/500=1",
        "--fault",
        "dcr-shipped/latency=300",
    ]);
    let token = emu.token();
    expect_error(emu.post(&token, "[]"), 500, "InternalServerError");
    let t = Instant::now();
    let r = emu
        .request("dcr-shipped", "Custom-LogferryAWSGuardDuty", &token)
        .body("[]")
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
    let c = emu.counts();
    assert_eq!(c["dcrs"]["dcr-narrow"]["requests"]["500"], 1);
    assert_eq!(c["dcrs"]["dcr-shipped"]["requests"]["204"], 1);
    // A fault for an unknown DCR is refused.
    let r = emu
        .http
        .post(format!("{}/emulator/faults", emu.url))
        .body(r#"["dcr-nope/503=1"]"#)
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[test]
fn bad_arguments_exit_with_usage_code() {
    for args in [
        vec!["--fault", "boom=1"],
        vec!["--dcr", "testdata/azure/does-not-exist.json"],
        vec!["--dcr", "Cargo.toml"],
        vec!["--client", "no-secret"],
        vec!["--allow", "nobody=dcr-logferry-emulator"],
        vec!["--token-lifetime", "0"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_logferry"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["emulator", "--listen", "127.0.0.1:0"])
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

impl Emu {
    fn post_result(&self, token: &str, body: String) -> reqwest::Result<Response> {
        self.request("dcr-narrow", STREAM, token).body(body).send()
    }
}

#[cfg(unix)]
#[test]
fn stops_cleanly_on_sigterm() {
    let mut emu = Emu::start(&[]);
    assert_eq!(emu.post(&emu.token(), "[]").status(), 204);
    let status = Command::new("kill")
        .args(["-TERM", &emu.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(s) = emu.child.try_wait().expect("wait") {
            assert_eq!(s.code(), Some(0), "{s:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still running 10 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
