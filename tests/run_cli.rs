//! Whole runs of the `logferry` binary over directory trees: routing, skipping, dead letters,
//! request bodies, the summary, and exit codes. The tree is `testdata/edge/tree/` (see
//! `testdata/edge/README.md`); the expected rows are written here from the generator formulas
//! documented there, not taken from the program.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use logferry::sink::dead_letter::{read_dir, DeadLetter};
use serde_json::{json, Value};

const TREE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/edge/tree");
const TABLES: [&str; 3] = ["AWSCloudTrail", "AWSGuardDuty", "AWSVPCFlow"];

fn logferry(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_logferry"));
    for (k, _) in std::env::vars() {
        if k.starts_with("LOGFERRY_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("RUST_LOG", "warn")
        .args(args)
        .output()
        .expect("start logferry")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// What a run left behind.
struct Run {
    output: Output,
    /// Uncompressed JSON of each body, per table.
    bodies: BTreeMap<&'static str, Vec<String>>,
    /// Compressed sizes of the bodies, per table.
    gz_bytes: BTreeMap<&'static str, u64>,
    dead_letters: Vec<DeadLetter>,
    summary: Value,
}

impl Run {
    fn rows(&self, table: &str) -> Vec<Value> {
        self.bodies[table]
            .iter()
            .flat_map(|b| match serde_json::from_str::<Value>(b) {
                Ok(Value::Array(a)) => a,
                other => panic!("{table} body is not a JSON array: {other:?}"),
            })
            .collect()
    }
}

fn run_tree(src: &Path, extra: &[&str]) -> Run {
    let out = tempfile::tempdir().unwrap();
    let summary_path = out.path().join("summary.json");
    let sink = out.path().join("out");
    let source = format!("dir:{}", src.display());
    let sink_arg = format!("dir:{}", sink.display());
    let summary_arg = summary_path.display().to_string();
    let mut args = vec![
        "run",
        "--source",
        &source,
        "--sink",
        &sink_arg,
        "--summary-json",
        &summary_arg,
        "-q",
    ];
    args.extend_from_slice(extra);
    let output = logferry(&args);
    let mut bodies = BTreeMap::new();
    let mut gz_bytes = BTreeMap::new();
    for t in TABLES {
        let dir = sink.join(t);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|rd| rd.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        files.sort();
        let mut texts = Vec::new();
        let mut gz = 0;
        for f in files {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            assert!(
                name.ends_with(".json.gz") && !name.starts_with('.'),
                "unexpected file {}",
                f.display()
            );
            let bytes = std::fs::read(&f).unwrap();
            gz += bytes.len() as u64;
            let mut text = String::new();
            flate2::read::GzDecoder::new(&bytes[..])
                .read_to_string(&mut text)
                .unwrap_or_else(|e| panic!("{}: not gzip of UTF-8: {e}", f.display()));
            texts.push(text);
        }
        bodies.insert(t, texts);
        gz_bytes.insert(t, gz);
    }
    let dead_letters = read_dir(&sink.join("dead-letters")).expect("dead letters readable");
    let summary = match std::fs::read(&summary_path) {
        Ok(b) => serde_json::from_slice(&b).expect("summary JSON"),
        Err(_) => Value::Null,
    };
    Run {
        output,
        bodies,
        gz_bytes,
        dead_letters,
        summary,
    }
}

/// A row as text with object keys sorted at every level, for multiset comparison.
fn canon(v: &Value) -> String {
    fn sort(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let sorted: BTreeMap<&String, Value> =
                    m.iter().map(|(k, v)| (k, sort(v))).collect();
                Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    serde_json::to_string(&sort(v)).unwrap()
}

fn multiset(rows: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = rows.iter().map(canon).collect();
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------------
// The expected content of testdata/edge/tree (formulas shared with its README)
// ---------------------------------------------------------------------------------------------

const ACCT: &str = "AWSLogs/111122223333";

fn ct_row(i: u32) -> Value {
    json!({
        "TimeGenerated": format!("2024-01-02T00:{:02}:00Z", i % 60),
        "AwsEventId": format!("tree-ct-{i:04}"),
        "EventVersion": "1.08",
        "EventSource": "s3.amazonaws.com",
        "EventTypeName": "AwsApiCall",
        "EventName": "ListBuckets",
        "UserIdentityType": "IAMUser",
        "UserIdentityPrincipalid": "AIDAEXAMPLE",
        "UserIdentityArn": "arn:aws:iam::111122223333:user/alice",
        "UserIdentityAccountId": "111122223333",
        "UserIdentityAccessKeyId": "AKIAEXAMPLE",
        "UserIdentityUserName": "alice",
        "AWSRegion": "us-east-1",
        "SourceIpAddress": format!("192.0.2.{i}"),
        "UserAgent": "aws-cli/2.15",
        "RequestParameters": r#"{"host":["s3.amazonaws.com"]}"#,
        "AwsRequestId_": format!("req-{i:04}"),
        "ReadOnly": true,
        "ManagementEvent": true,
        "RecipientAccountId": "111122223333",
        "Category": "Management",
    })
}

fn gd_row(i: u32, severity: i64, updated: &str) -> Value {
    json!({
        "TimeGenerated": updated,
        "TimeCreated": "2024-01-01T00:00:00.000Z",
        "AccountId": "111122223333",
        "Region": "us-east-1",
        "Partition": "aws",
        "Id": format!("tree-gd-{i:02}"),
        "Arn": format!("arn:aws:guardduty:us-east-1:111122223333:detector/d1/finding/tree-gd-{i:02}"),
        "ActivityType": "Recon:EC2/Portscan",
        "ResourceDetails": {"resourceType": "Instance", "instanceDetails": {"instanceId": format!("i-{i:02}"), "launchTime": 1700000000000u64}},
        "ServiceDetails": {"count": i, "eventFirstSeen": "2024-01-01T00:00:00.000Z", "evidence": null},
        "Severity": severity,
        "SchemaVersion": "2.0",
        "Title": format!("Port scan {i}"),
        "Description": "d",
    })
}

fn vpc_row(i: u32) -> Value {
    json!({
        "Version": 5,
        "AccountId": "111122223333",
        "InterfaceId": format!("eni-tree{:02}", i % 7),
        "SrcAddr": format!("10.1.0.{i}"),
        "DstAddr": format!("10.2.0.{i}"),
        "SrcPort": 40000 + i,
        "DstPort": 443,
        "Protocol": 6,
        "Packets": i,
        "Bytes": i * 100,
        "TimeGenerated": "2014-12-14T04:06:50Z",
        "End": "2014-12-14T04:07:50Z",
        "Action": if i.is_multiple_of(3) { "REJECT" } else { "ACCEPT" },
        "LogStatus": "OK",
    })
}

fn expected_rows() -> BTreeMap<&'static str, Vec<Value>> {
    let mut m = BTreeMap::new();
    m.insert("AWSCloudTrail", (1..=22).map(ct_row).collect());
    let upd = "2024-01-02T00:00:00.000Z";
    m.insert(
        "AWSGuardDuty",
        vec![
            gd_row(1, 8, upd),
            gd_row(2, 2, upd),
            gd_row(3, 5, upd),
            gd_row(4, 5, upd),
            gd_row(5, 3, upd),
            gd_row(1, 8, "2024-01-03T00:00:00.000Z"),
        ],
    );
    m.insert("AWSVPCFlow", (1..=60).map(vpc_row).collect());
    m
}

fn ct_key(region: &str, name: &str) -> String {
    format!(
        "{ACCT}/CloudTrail/{region}/2024/01/02/111122223333_CloudTrail_{region}_20240102T{name}"
    )
}
const GD_KEY: &str = "AWSLogs/111122223333/GuardDuty/us-east-1/2024/01/02/294c9171-4867-3774-9756-f6f6c209616f.jsonl.gz";
fn vpc_key(name: &str) -> String {
    format!("{ACCT}/vpcflowlogs/us-east-1/2024/01/02/111122223333_vpcflowlogs_us-east-1_fl-0123456789abcdef0_20240102T{name}")
}

/// (reason, key, raw record) of every dead letter the tree gives.
fn expected_dead_letters() -> Vec<(String, String, Option<Vec<u8>>)> {
    let bad = ct_key("eu-west-1", "0000Z_badrecords.json");
    let mut v: Vec<(&str, String, Option<&[u8]>)> = vec![
        ("not_an_object", bad.clone(), Some(b"42")),
        ("not_an_object", bad.clone(), Some(b"\"a string\"")),
        ("invalid_json", bad.clone(), Some(b"{\"eventID\": }")),
        ("invalid_utf8", bad, Some(b"{\"eventID\":\"tree-ct-bad-utf8\",\"userAgent\":\"\xff\xfe\"}")),
        ("truncated_json", ct_key("eu-west-1", "0005Z_truncated.json"), None),
        ("not_json", ct_key("eu-west-1", "0010Z_notjson.json"), None),
        ("invalid_json", GD_KEY.to_string(), Some(b"{\"id\":\"x\",")),
        ("field_count", vpc_key("0000Z_a1b2c3d4.log.gz"), Some(b"5 111122223333 eni-short 10.1.0.1 10.2.0.1 1 2")),
        (
            "bad_number",
            vpc_key("0000Z_a1b2c3d4.log.gz"),
            Some(b"5 111122223333 eni-badnum 10.1.0.1 10.2.0.1 http 443 6 1 100 1418530010 1418530070 ACCEPT OK -"),
        ),
        ("missing_header", vpc_key("0005Z_noheader.log"), None),
    ];
    v.sort();
    v.into_iter()
        .map(|(r, k, rec)| (r.to_string(), k, rec.map(<[u8]>::to_vec)))
        .collect()
}

fn counters(pairs: &[(&str, u64)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect(),
    )
}

// ---------------------------------------------------------------------------------------------
// The tree
// ---------------------------------------------------------------------------------------------

#[test]
fn tree_run_ships_every_row_once_in_bodies_within_the_limit() {
    let run = run_tree(
        Path::new(TREE),
        &["--max-request-bytes", "4096", "--threads", "2"],
    );
    assert_eq!(
        run.output.status.code(),
        Some(0),
        "stderr: {}",
        stderr(&run.output)
    );

    // Every body: a non-empty JSON array of objects, at most 4096 bytes of JSON.
    for (t, bodies) in &run.bodies {
        for b in bodies {
            assert!(b.len() <= 4096, "{t} body of {} bytes", b.len());
            let v: Value = serde_json::from_str(b).unwrap();
            let a = v.as_array().unwrap();
            assert!(!a.is_empty() && a.iter().all(Value::is_object), "{t}: {b}");
        }
    }
    assert!(
        run.bodies["AWSVPCFlow"].len() > 1,
        "the limit must have split the VPC rows"
    );
    assert!(
        run.bodies["AWSCloudTrail"].len() > 1,
        "the limit must have split the CloudTrail rows"
    );

    // The rows: exactly the expected multiset per table, nothing lost, nothing duplicated.
    for (t, want) in expected_rows() {
        let got = run.rows(t);
        assert_eq!(got.len(), want.len(), "{t} row count");
        assert_eq!(multiset(&got), multiset(&want), "{t} rows");
    }

    // The dead letters: reasons, keys and the raw records.
    let mut got: Vec<(String, String, Option<Vec<u8>>)> = run
        .dead_letters
        .iter()
        .map(|d| (d.reason.clone(), d.key.clone(), d.record_bytes()))
        .collect();
    got.sort();
    assert_eq!(got, expected_dead_letters());
    for d in &run.dead_letters {
        let table = d.table.as_deref().unwrap_or("");
        assert!(
            TABLES.contains(&table),
            "dead letter without its table: {d:?}"
        );
        if d.reason == "invalid_utf8" {
            assert!(d.record.is_none() && d.record_base64.is_some(), "{d:?}");
        }
    }

    // The summary.
    let s = &run.summary;
    assert_eq!(s["objects_seen"], json!(17));
    assert_eq!(s["objects_failed"], json!(0));
    assert_eq!(s["objects_dead_lettered"], json!(3));
    assert_eq!(
        s["objects_delivered"],
        json!(11),
        "every routed object is acknowledged once"
    );
    assert_eq!(
        s["skipped"],
        counters(&[
            ("config", 1),
            ("digest", 1),
            ("empty_object", 1),
            ("insight", 1),
            ("no_records_key", 1),
            ("test_object", 1),
            ("unknown_layout", 1),
            ("unknown_service", 1),
        ])
    );
    assert_eq!(
        s["dead_letters"],
        counters(&[
            ("bad_number", 1),
            ("field_count", 1),
            ("invalid_json", 2),
            ("invalid_utf8", 1),
            ("missing_header", 1),
            ("not_an_object", 2),
            ("not_json", 1),
            ("truncated_json", 1),
        ])
    );
    // CloudTrail 7 + 2 + 8 + 6 + 3, GuardDuty 7, VPC 62 data lines.
    assert_eq!(s["records"], json!(95));
    assert_eq!(
        s["notes"],
        counters(&[("unknown_field:AWSVPCFlow.reject-reason", 1)])
    );
    assert_eq!(s["failures"], json!({}));
    let tables = s["tables"].as_array().unwrap();
    for t in tables {
        let name = t["table"].as_str().unwrap();
        assert_eq!(t["rows"], json!(expected_rows()[name].len()), "{name} rows");
        assert_eq!(
            t["requests"],
            json!(run.bodies[name].len()),
            "{name} requests"
        );
        let raw: usize = run.bodies[name].iter().map(String::len).sum();
        assert_eq!(t["raw_bytes_out"], json!(raw), "{name} raw bytes");
        assert_eq!(
            t["bytes_out"],
            json!(run.gz_bytes[name]),
            "{name} gzip bytes"
        );
    }
    assert_eq!(tables.len(), 3);
}

#[test]
fn tree_rows_do_not_depend_on_the_thread_count() {
    let one = run_tree(
        Path::new(TREE),
        &["--max-request-bytes", "4096", "--threads", "1"],
    );
    let two = run_tree(
        Path::new(TREE),
        &["--max-request-bytes", "4096", "--threads", "2"],
    );
    let many = run_tree(
        Path::new(TREE),
        &["--threads", "8", "--chunk-bytes", "4096"],
    );
    for r in [&one, &two, &many] {
        assert_eq!(
            r.output.status.code(),
            Some(0),
            "stderr: {}",
            stderr(&r.output)
        );
    }
    let reasons = |r: &Run| {
        let mut v: Vec<(String, String)> = r
            .dead_letters
            .iter()
            .map(|d| (d.reason.clone(), d.key.clone()))
            .collect();
        v.sort();
        v
    };
    for t in TABLES {
        assert_eq!(
            multiset(&one.rows(t)),
            multiset(&two.rows(t)),
            "{t}: --threads 1 vs 2"
        );
        assert_eq!(
            multiset(&one.rows(t)),
            multiset(&many.rows(t)),
            "{t}: --threads 1 vs 8"
        );
    }
    assert_eq!(reasons(&one), reasons(&two));
    assert_eq!(reasons(&one), reasons(&many));
    for key in ["records", "skipped", "dead_letters", "notes"] {
        assert_eq!(one.summary[key], two.summary[key], "{key}");
        assert_eq!(one.summary[key], many.summary[key], "{key}");
    }
}

/// Large generated objects, so that chunks are shared between workers: every row arrives once.
#[test]
fn large_objects_spread_over_threads_lose_and_duplicate_nothing() {
    let src = tempfile::tempdir().unwrap();
    let write = |rel: &str, data: &[u8]| {
        let p = src.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    };
    let gz = |data: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    };
    const N: usize = 40_000;
    let mut vpc = String::from("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n");
    for i in 0..N {
        vpc.push_str(&format!("2 123456789012 eni-{i:08} 10.0.0.1 10.0.0.2 1 443 6 10 840 1418530010 1418530070 ACCEPT OK\n"));
    }
    write(
        &format!("{ACCT}/vpcflowlogs/us-east-1/2024/01/02/big.log.gz"),
        &gz(vpc.as_bytes()),
    );
    let recs: Vec<String> = (0..N)
        .map(|i| format!(r#"{{"eventID":"big-ct-{i:08}","eventName":"GetObject","requestParameters":{{"bucketName":"b","key":"k{i}"}}}}"#))
        .collect();
    write(
        &format!("{ACCT}/CloudTrail/us-east-1/2024/01/02/big.json"),
        format!("{{\"Records\":[{}]}}", recs.join(",\n")).as_bytes(),
    );
    let gd: String = (0..N)
        .map(|i| format!("{{\"id\":\"big-gd-{i:08}\",\"severity\":1}}\n"))
        .collect();
    write(
        &format!("{ACCT}/GuardDuty/us-east-1/2024/01/02/big.jsonl.gz"),
        &gz(gd.as_bytes()),
    );
    // Many small objects beside them.
    for j in 0..50 {
        write(
            &format!("{ACCT}/CloudTrail/us-east-1/2024/01/03/small-{j:02}.json"),
            format!("{{\"Records\":[{{\"eventID\":\"small-ct-{j:02}\"}}]}}").as_bytes(),
        );
    }

    let run = run_tree(
        src.path(),
        &[
            "--threads",
            "4",
            "--chunk-bytes",
            "65536",
            "--max-request-bytes",
            "262144",
        ],
    );
    assert_eq!(
        run.output.status.code(),
        Some(0),
        "stderr: {}",
        stderr(&run.output)
    );
    assert!(
        run.dead_letters.is_empty(),
        "{:?}",
        run.dead_letters.first()
    );
    let check = |table: &str, col: &str, want: Vec<String>| {
        let mut got: Vec<String> = run
            .rows(table)
            .iter()
            .map(|r| r[col].as_str().unwrap().to_string())
            .collect();
        got.sort();
        assert_eq!(got.len(), want.len(), "{table} rows");
        assert!(got == want, "{table}: rows lost or duplicated");
    };
    let mut ct: Vec<String> = (0..N)
        .map(|i| format!("big-ct-{i:08}"))
        .chain((0..50).map(|j| format!("small-ct-{j:02}")))
        .collect();
    ct.sort();
    check("AWSCloudTrail", "AwsEventId", ct);
    check(
        "AWSGuardDuty",
        "Id",
        (0..N).map(|i| format!("big-gd-{i:08}")).collect(),
    );
    check(
        "AWSVPCFlow",
        "InterfaceId",
        (0..N).map(|i| format!("eni-{i:08}")).collect(),
    );
    assert_eq!(run.summary["records"], json!(3 * N + 50));
    for b in run.bodies.values().flatten() {
        assert!(b.len() <= 262_144);
    }
}

#[test]
fn empty_source_directory_is_a_clean_run() {
    let src = tempfile::tempdir().unwrap();
    let run = run_tree(src.path(), &["--max-request-bytes", "1024"]);
    assert_eq!(
        run.output.status.code(),
        Some(0),
        "stderr: {}",
        stderr(&run.output)
    );
    assert!(run.bodies.values().all(Vec::is_empty));
    assert!(run.dead_letters.is_empty());
    assert_eq!(run.summary["objects_seen"], json!(0));
    // The upper bound of the limit is accepted too.
    let run = run_tree(src.path(), &["--max-request-bytes", "1048576"]);
    assert_eq!(
        run.output.status.code(),
        Some(0),
        "stderr: {}",
        stderr(&run.output)
    );
}

// ---------------------------------------------------------------------------------------------
// Bad usage: exit code 2
// ---------------------------------------------------------------------------------------------

fn usage_error(extra: &[&str], source: Option<&str>) -> Output {
    let out = tempfile::tempdir().unwrap();
    let src = format!("dir:{TREE}");
    let sink = format!("dir:{}", out.path().join("out").display());
    let mut args = vec![
        "run",
        "--source",
        source.unwrap_or(&src),
        "--sink",
        &sink,
        "-q",
    ];
    args.extend_from_slice(extra);
    logferry(&args)
}

#[test]
fn bad_flag_values_exit_2() {
    let cases: &[(&[&str], &str)] = &[
        (&["--type", "nope"], "nope"),
        (&["--route", "nosuchformat"], "nosuchformat"),
        (&["--route", "AWSLogs/=nope"], "nope"),
        (&["--route", "^(=vpcflow"], "regex"),
        (&["--max-request-bytes", "10"], "max-request-bytes"),
        (&["--max-request-bytes", "1023"], "max-request-bytes"),
        (&["--max-request-bytes", "1048577"], "max-request-bytes"),
        (&["--threads", "0"], "threads"),
        (&["--gzip-level", "10"], "gzip-level"),
        (&["--no-such-flag"], "no-such-flag"),
    ];
    for (args, mention) in cases {
        let o = usage_error(args, None);
        assert_eq!(o.status.code(), Some(2), "{args:?}: stderr {}", stderr(&o));
        assert!(
            stderr(&o).contains(mention),
            "{args:?}: stderr does not mention {mention}: {}",
            stderr(&o)
        );
    }
}

#[test]
fn unsupported_or_missing_sources_exit_2() {
    let o = usage_error(&[], Some("lookup:us-east-1"));
    assert_eq!(o.status.code(), Some(2), "stderr {}", stderr(&o));
    assert!(stderr(&o).contains("lookup"), "{}", stderr(&o));

    // Checked before anything is contacted, each naming its flag.
    let queue = "sqs:https://sqs.eu-west-1.amazonaws.com/123456789012/logs";
    let cases: &[(&[&str], &str, &str)] = &[
        (&[], "sqs:not-a-url", "https://"),
        (&["--wait-seconds", "21"], queue, "--wait-seconds"),
        (&["--max-hold", "50000"], queue, "--max-hold"),
        (&["--receivers", "0"], queue, "--receivers"),
        (&["--part-size", "1000"], queue, "--part-size"),
        (&["--since", "2026-11-01"], queue, "s3: source only"),
        (&["--since", "yesterday"], "s3:bucket/AWSLogs/", "--since"),
        (
            &["--since", "2026-11-02", "--until", "2026-11-01"],
            "s3:bucket",
            "--since is after --until",
        ),
        (&["--external-id", "x"], queue, "role-arn"),
    ];
    for (args, source, mention) in cases {
        let o = usage_error(args, Some(source));
        assert_eq!(o.status.code(), Some(2), "{args:?}: stderr {}", stderr(&o));
        assert!(
            stderr(&o).contains(mention),
            "{args:?}: stderr does not mention {mention}: {}",
            stderr(&o)
        );
    }

    let o = usage_error(&[], Some("nonsense"));
    assert_eq!(o.status.code(), Some(2), "stderr {}", stderr(&o));

    let missing = tempfile::tempdir().unwrap().path().join("no-such-dir");
    let o = usage_error(&[], Some(&format!("dir:{}", missing.display())));
    assert_eq!(o.status.code(), Some(2), "stderr {}", stderr(&o));
    assert!(
        stderr(&o).contains(&missing.display().to_string()),
        "the message names the path: {}",
        stderr(&o)
    );
}
