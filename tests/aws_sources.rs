//! The SQS and S3 sources against a real wire-protocol server (moto, started by
//! `support::moto()`), through the `logferry` binary: notifications of every shape, ranged
//! fetches, acknowledgements, the visibility heartbeat, failures, shutdown, restarts after a
//! kill, backfill with a checkpoint, and the metrics endpoint.
//!
//! The expected rows of an object are what the dir source makes of the same file: that path
//! is checked field by field against rows written from the AWS documents by the golden tests,
//! so here the question is only whether the S3/SQS path delivers each of them, exactly once
//! where the contract says so, at least once where a crash allows a repeat.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;
use support::*;

/// Flags every SQS run here uses: short polls, and a stop once the queue is drained.
const SQS_FLAGS: &[&str] = &["--quiet", "--wait-seconds", "1"];

/// Copies the sample tree's `sample` to `tree/key`; returns its path.
fn place(tree: &Path, key: &str, sample: &str) -> PathBuf {
    let dest = tree.join(key);
    std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
    std::fs::copy(Path::new(SAMPLES).join(sample), &dest).expect("copy");
    dest
}

/// A VPC Flow Logs object of about `lines` random records: big enough (gzip does not shrink
/// random numbers much) to be fetched as ranged parts.
fn big_vpc_object(path: &Path, lines: usize) {
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut text = String::from(
        "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n",
    );
    for _ in 0..lines {
        let r = next();
        let s = next();
        text.push_str(&format!(
            "2 123456789012 eni-{:017x} 10.{}.{}.{} 172.{}.{}.{} {} {} 6 {} {} {} {} {} OK\n",
            r & 0xffff_ffff_ffff,
            r >> 56,
            (r >> 48) & 0xff,
            (r >> 40) & 0xff,
            s >> 56,
            (s >> 48) & 0xff,
            (s >> 40) & 0xff,
            s & 0xffff,
            (s >> 16) & 0xffff,
            (r >> 8) & 0xfff,
            s & 0xff_ffff,
            1_764_000_000 + (r & 0xffff),
            1_764_000_060 + (r & 0xffff),
            if r & 1 == 0 { "ACCEPT" } else { "REJECT" },
        ));
    }
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(path).expect("create"),
        flate2::Compression::fast(),
    );
    gz.write_all(text.as_bytes()).expect("write");
    gz.finish().expect("finish");
}

fn sqs_source(url: &str) -> String {
    format!("sqs:{url}")
}

fn dir_sink(out: &Path) -> String {
    format!("dir:{}", out.display())
}

/// What a run of the sqs source left behind.
struct Drained {
    out: PathBuf,
    summary: serde_json::Value,
    stderr: String,
}

/// Runs the sqs source on `url` through `endpoint` until the queue was idle for 3 s, with
/// `extra` flags; asserts that it exited 0.
fn drain(endpoint: &str, url: &str, work: &Path, extra: &[&str], limit: Duration) -> Drained {
    let out = work.join("out");
    let summary_path = work.join("summary.json");
    let mut cmd = logferry_at(endpoint, SQS_FLAGS);
    cmd.args(["--source", &sqs_source(url), "--sink", &dir_sink(&out)])
        .args(["--stop-when-idle", "3"])
        .args(extra)
        .arg("--summary-json")
        .arg(&summary_path);
    let o = run_to_end(cmd, limit);
    eprintln!("{}", text(&o));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    Drained {
        out,
        summary: summary(&summary_path),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

#[test]
fn notifications_of_every_shape_deliver_exactly_the_expected_rows_and_empty_the_queue() {
    let m = moto();
    let work = scratch("e2e");
    let tree = work.join("tree");
    copy_tree(Path::new(SAMPLES), &tree);
    let big_key = "AWSLogs/123456789012/vpcflowlogs/eu-west-1/2026/11/24/123456789012_vpcflowlogs_eu-west-1_fl-0123456789abcdef0_20261124T1300Z_big00001.log.gz";
    big_vpc_object(&tree.join(big_key), 70_000);
    let big_size = std::fs::metadata(tree.join(big_key)).expect("big").len();
    assert!(big_size > 2 << 20, "the big object is {big_size} bytes");
    let expected = dir_rows(&tree, &work.join("dir-out"));
    assert!(expected.keys().any(|r| r.starts_with("AWSCloudTrail ")));
    assert!(expected.keys().any(|r| r.starts_with("AWSGuardDuty ")));
    assert!(expected.keys().any(|r| r.starts_with("AWSVPCFlow ")));

    let (url, arn, _) = m.create_queue("e2e-queue", 30, None);
    let modes = ["direct", "sns", "sns_raw", "eventbridge"];
    for mode in modes {
        let bucket = format!("e2e-{}", mode.replace('_', "-"));
        m.create_bucket(&bucket);
        m.notify(&bucket, &arn, mode);
        for (key, path) in files_under(&tree) {
            if key == big_key {
                // Multipart: moto announces it twice, as AWS may (at least once).
                m.call(
                    "put_multipart",
                    json!({"bucket": bucket, "key": key, "path": path.to_string_lossy()}),
                );
            } else {
                m.put(&bucket, &key, &path);
            }
        }
    }

    let out = work.join("out");
    let summary_path = work.join("summary.json");
    let mut cmd = logferry(SQS_FLAGS);
    cmd.args(["--source", &sqs_source(&url), "--sink", &dir_sink(&out)])
        .args(["--stop-when-idle", "3", "--range-threshold", "1048576"])
        .args(["--part-size", "1048576", "--summary-json"])
        .arg(&summary_path);
    let o = run_to_end(cmd, Duration::from_secs(180));
    eprintln!("{}", text(&o));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    assert_rows(&rows(&out), &expected, modes.len());
    assert_eq!(m.counts(&url), (0, 0), "every message was deleted");

    let s = summary(&summary_path);
    let received = source_counter(&s, "messages_received");
    assert_eq!(
        source_counter(&s, "messages_deleted"),
        received,
        "{}",
        text(&o)
    );
    assert!(
        source_counter(&s, "ranged_parts") >= 3 * modes.len() as u64,
        "{s}"
    );
    // One test event per notification configuration saved (EventBridge sends none).
    assert!(source_counter(&s, "messages_test_event") >= 3, "{s}");
    // The multipart upload's second notification, once per bucket.
    assert!(
        source_counter(&s, "duplicate_objects") >= modes.len() as u64,
        "{s}"
    );
    // EventBridge's Object Tags Added events are not objects to read.
    assert!(source_counter(&s, "ignored_records") >= 1, "{s}");
    assert_eq!(source_counter(&s, "messages_poison"), 0, "{s}");
    // The sample tree's truncated object and bad record, dead-lettered once per bucket.
    let dead = s["dead_letters"].as_object().expect("dead letters");
    assert!(!dead.is_empty(), "{s}");
}

#[test]
fn a_run_killed_midway_and_restarted_delivers_every_row_at_least_once() {
    let m = moto();
    let work = scratch("kill");
    let tree = prefixed_tree(&work, 4);
    let expected = dir_rows(&tree, &work.join("dir-out"));
    let bucket = "kill-bucket";
    m.create_bucket(bucket);
    let (url, arn, _) = m.create_queue("kill-queue", 30, None);
    m.notify(bucket, &arn, "direct");
    let objects = m.put_tree(bucket, "", &tree);
    let messages = objects as u64 + 1; // and the test event

    let out = work.join("out");
    // A long linger keeps objects held (their batches unsealed) for a while: the kill finds
    // work in flight.
    let mut first = logferry(SQS_FLAGS);
    first
        .args(["--source", &sqs_source(&url), "--sink", &dir_sink(&out)])
        .args(["--visibility-timeout", "3", "--threads", "1"])
        .args(["--max-messages-in-flight", "10", "--linger-ms", "400"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = first.spawn().expect("start logferry");
    let some_done = wait_until(Duration::from_secs(60), || {
        let (visible, in_flight) = m.counts(&url);
        visible + in_flight < messages && in_flight > 0
    });
    signal(&child, "KILL");
    let _ = child.wait();
    assert!(some_done, "the first run never had work in flight");
    let (visible, in_flight) = m.counts(&url);
    assert!(
        visible + in_flight > 0,
        "the kill came too late to test anything"
    );

    // The killed run's messages come back when their visibility (3 s) runs out.
    let summary_path = work.join("summary.json");
    let mut second = logferry(SQS_FLAGS);
    second
        .args(["--source", &sqs_source(&url), "--sink", &dir_sink(&out)])
        .args(["--stop-when-idle", "5", "--summary-json"])
        .arg(&summary_path);
    let o = run_to_end(second, Duration::from_secs(120));
    eprintln!("{}", text(&o));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(m.counts(&url), (0, 0));

    let got = rows(&out);
    assert_rows_at_least_once(&got, &expected);
    // Repeats come only from messages in flight at the kill: at most the in-flight limit
    // plus one receive's worth of objects, each of at most the largest object's rows.
    let duplicates = total(&got) - total(&expected);
    let largest = files_under(&tree)
        .iter()
        .map(|(key, path)| {
            let one = work.join("one").join(key.replace('/', "_"));
            std::fs::create_dir_all(&one).expect("mkdir");
            let dest = one.join(key);
            std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
            std::fs::copy(path, &dest).expect("copy");
            total(&dir_rows(&one, &one.join("out")))
        })
        .max()
        .unwrap_or(0);
    eprintln!(
        "duplicate rows after the kill: {duplicates} (bound {})",
        20 * largest
    );
    assert!(duplicates <= 20 * largest, "{duplicates} duplicate rows");
}

#[test]
fn an_object_slower_than_the_visibility_timeout_is_not_processed_twice() {
    let m = moto();
    let work = scratch("heartbeat");
    let tree = work.join("tree");
    let key = "AWSLogs/123456789012/GuardDuty/eu-west-1/2026/11/24/27aa280f-c7d5-494a-ad63-57f0bc40f1f1.jsonl.gz";
    let dest = place(&tree, key, key);
    let expected = dir_rows(&tree, &work.join("dir-out"));
    let bucket = "heartbeat-bucket";
    m.create_bucket(bucket);
    let (url, arn, _) = m.create_queue("heartbeat-queue", 2, None);
    m.notify(bucket, &arn, "direct");
    m.put(bucket, key, &dest);

    // The object's only batch is sealed after 5 s: the message is held 2.5 visibility
    // timeouts, so without the heartbeat it would be received again (by this instance or
    // any other on the queue) and read twice.
    let run = drain(
        &m.endpoint,
        &url,
        &work,
        &["--linger-ms", "5000"],
        Duration::from_secs(60),
    );
    assert_rows(&rows(&run.out), &expected, 1);
    let s = run.summary;
    // The object's message and the configuration's test event, each received once.
    assert_eq!(source_counter(&s, "messages_received"), 2, "{s}");
    assert!(source_counter(&s, "visibility_extensions") >= 2, "{s}");
    assert_eq!(source_counter(&s, "duplicate_objects"), 0, "{s}");
    assert_eq!(m.counts(&url), (0, 0));
}

/// An S3 event notification as AWS writes it, for messages the tests send themselves.
fn s3_event(bucket: &str, keys: &[&str]) -> String {
    let records: Vec<_> = keys
        .iter()
        .map(|k| {
            json!({
                "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
                "eventTime": "2026-11-24T12:00:00.000Z", "eventName": "ObjectCreated:Put",
                "s3": {"s3SchemaVersion": "1.0", "configurationId": "logs",
                       "bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
                       "object": {"key": k, "size": 100, "eTag": format!("etag-{k}")}}
            })
        })
        .collect();
    json!({ "Records": records }).to_string()
}

#[test]
fn a_corrupt_object_is_dead_lettered_and_a_missing_one_is_retried_later() {
    let m = moto();
    let work = scratch("faults");
    let tree = work.join("tree");
    let good = "AWSLogs/123456789012/CloudTrail/eu-west-1/2026/11/24/123456789012_CloudTrail_eu-west-1_20261124T1200Z_0000000000000001.json.gz";
    let truncated = "AWSLogs/123456789012/CloudTrail/eu-west-1/2026/11/24/123456789012_CloudTrail_eu-west-1_20261124T1210Z_truncated0000000.json.gz";
    let missing = "AWSLogs/123456789012/CloudTrail/eu-west-1/2026/11/24/123456789012_CloudTrail_eu-west-1_20261124T1220Z_missing00000000.json.gz";
    for key in [good, truncated] {
        place(&tree, key, key);
    }
    let expected = dir_rows(&tree, &work.join("dir-out"));
    let bucket = "faults-bucket";
    m.create_bucket(bucket);
    m.put_tree(bucket, "", &tree);
    let (url, _, _) = m.create_queue("faults-queue", 30, None);
    m.send(&url, &s3_event(bucket, &[good, truncated]));
    m.send(&url, &s3_event(bucket, &[missing]));

    let run = drain(
        &m.endpoint,
        &url,
        &work,
        &["--retry-delay", "60"],
        Duration::from_secs(60),
    );
    let out = run.out;

    // The truncated object's rows before the fault, and the good object's rows.
    assert_rows(&rows(&out), &expected, 1);
    let dead =
        logferry::sink::dead_letter::read_dir(&out.join("dead-letters")).expect("dead letters");
    assert!(
        dead.iter()
            .any(|d| d.key == truncated && d.reason == "truncated_json"),
        "{dead:?}"
    );
    let s = run.summary;
    assert_eq!(source_counter(&s, "messages_deleted"), 1, "{s}");
    assert!(source_counter(&s, "fetch_errors") >= 1, "{s}");
    // The missing object's message was not deleted: it is back in 60 s for another try.
    assert_eq!(m.counts(&url), (0, 1));
    let log = run.stderr;
    assert!(
        log.contains(missing),
        "the failure names the object:\n{log}"
    );
}

#[test]
fn s3_503s_are_retried_and_an_object_that_keeps_failing_keeps_its_message() {
    let m = moto();
    let work = scratch("s3-503");
    let sample = "AWSLogs/123456789012/GuardDuty/eu-west-1/2026/11/24/27aa280f-c7d5-494a-ad63-57f0bc40f1f1.jsonl.gz";
    let flaky = format!("fail-twice/{sample}");
    let broken = format!("fail-always/{sample}");
    let tree = work.join("tree");
    let dest = place(&tree, &flaky, sample);
    let expected = dir_rows(&tree, &work.join("dir-out"));
    let bucket = "s3-503-bucket";
    m.create_bucket(bucket);
    m.put(bucket, &flaky, &dest);
    m.put(bucket, &broken, &dest);
    let (url, _, _) = m.create_queue("s3-503-queue", 30, None);
    m.send(&url, &s3_event(bucket, &[&flaky]));
    m.send(&url, &s3_event(bucket, &[&broken]));
    let proxy = m.call("fault_proxy", json!({}));
    let proxy = proxy.as_str().expect("proxy endpoint");

    let run = drain(
        proxy,
        &url,
        &work,
        &["--retry-delay", "60"],
        Duration::from_secs(120),
    );
    // The object that failed twice was read once it answered; the other never was.
    assert_rows(&rows(&run.out), &expected, 1);
    let s = run.summary;
    assert!(source_counter(&s, "fetch_retries") >= 2, "{s}");
    assert!(source_counter(&s, "fetch_errors") >= 1, "{s}");
    assert_eq!(source_counter(&s, "messages_deleted"), 1, "{s}");
    assert_eq!(
        m.counts(&url),
        (0, 1),
        "the failing object's message waits for a retry"
    );
}

#[test]
fn a_poison_message_is_never_deleted_and_ends_in_the_dead_letter_queue() {
    let m = moto();
    let work = scratch("poison");
    let (url, _, dlq) = m.create_queue("poison-queue", 1, Some(2));
    let dlq = dlq.expect("dead-letter queue");
    m.send(&url, "this is not a notification");
    let s = drain(&m.endpoint, &url, &work, &[], Duration::from_secs(60)).summary;
    assert!(source_counter(&s, "messages_poison") >= 2, "{s}");
    assert_eq!(source_counter(&s, "messages_deleted"), 0, "{s}");
    assert_eq!(m.counts(&url), (0, 0));
    let moved = m.receive(&dlq, 1);
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert_eq!(moved[0]["body"], "this is not a notification");
}

#[test]
fn sigterm_exits_within_the_deadline_and_returns_unfinished_messages_at_once() {
    let m = moto();
    let work = scratch("sigterm");
    let tree = prefixed_tree(&work, 3);
    let expected = dir_rows(&tree, &work.join("dir-out"));
    let bucket = "sigterm-bucket";
    m.create_bucket(bucket);
    let (url, arn, _) = m.create_queue("sigterm-queue", 120, None);
    m.notify(bucket, &arn, "direct");
    m.put_tree(bucket, "", &tree);

    let out = work.join("out");
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let summary_path = work.join("summary.json");
    // Batches linger 30 s, far past the 2 s shutdown deadline: the work in hand cannot all
    // be delivered before the deadline... except that shutdown seals them at once.
    let mut cmd = logferry(SQS_FLAGS);
    cmd.args(["--source", &sqs_source(&url), "--sink", &dir_sink(&out)])
        .args(["--shutdown-timeout", "2", "--linger-ms", "30000"])
        .args(["--metrics", &addr, "--summary-json"])
        .arg(&summary_path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().expect("start logferry");
    assert!(
        wait_until(Duration::from_secs(30), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        }),
        "the metrics endpoint never answered"
    );
    let (code, _) = http_get(port, "/healthz");
    assert_eq!(code, 200);
    assert!(
        wait_until(Duration::from_secs(30), || m.counts(&url).1 > 0),
        "nothing was received"
    );
    let (code, metrics) = http_get(port, "/metrics");
    assert_eq!(code, 200);
    for name in [
        "logferry_messages_received_total",
        "logferry_messages_in_flight",
        "logferry_objects_fetched_total",
        "logferry_bytes_fetched_total",
        "logferry_queue_depth",
        "logferry_receive_seconds_bucket",
        "logferry_fetch_seconds_bucket",
    ] {
        assert!(metrics.contains(name), "no {name} in:\n{metrics}");
    }

    signal(&child, "TERM");
    let asked = Instant::now();
    let o = wait_output(child, Duration::from_secs(30));
    let took = asked.elapsed();
    // Deadline 2 s, plus a poll in progress (1 s), plus slack for a loaded machine.
    assert!(took < Duration::from_secs(8), "exit took {took:?}");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let (_, in_flight) = m.counts(&url);
    assert_eq!(in_flight, 0, "messages still held after exit");

    // A second run takes whatever was returned; together, nothing is lost.
    let mut second = logferry(SQS_FLAGS);
    second
        .args(["--source", &sqs_source(&url), "--sink", &dir_sink(&out)])
        .args(["--stop-when-idle", "3"]);
    let o2 = run_to_end(second, Duration::from_secs(120));
    eprintln!("{}", text(&o2));
    assert_eq!(o2.status.code(), Some(0), "{}", text(&o2));
    assert_eq!(m.counts(&url), (0, 0));
    let got = rows(&out);
    let missing = expected.keys().filter(|r| !got.contains_key(*r)).count();
    assert_eq!(missing, 0, "rows lost across the shutdown");
    let s = summary(&summary_path);
    assert!(source_counter(&s, "messages_received") > 0, "{s}");
}

/// A minimal CloudTrail file of `n` records whose event ids name the object.
fn cloudtrail_file(path: &Path, object: usize, n: usize) {
    let records: Vec<_> = (0..n)
        .map(|i| {
            json!({
                "eventVersion": "1.08", "eventTime": "2026-11-24T12:00:00Z",
                "eventSource": "s3.amazonaws.com", "eventName": "GetObject",
                "awsRegion": "eu-west-1", "sourceIPAddress": "192.0.2.1",
                "eventID": format!("00000000-0000-4000-8000-{object:06}{i:06}"),
                "eventType": "AwsApiCall", "recipientAccountId": "123456789012",
                "readOnly": true, "managementEvent": false
            })
        })
        .collect();
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(path).expect("create"),
        flate2::Compression::fast(),
    );
    gz.write_all(json!({ "Records": records }).to_string().as_bytes())
        .expect("write");
    gz.finish().expect("finish");
}

#[test]
fn an_interrupted_backfill_resumed_from_its_checkpoint_reads_every_object_once() {
    let m = moto();
    let work = scratch("backfill");
    let tree = work.join("tree");
    let bucket = "backfill-bucket";
    m.create_bucket(bucket);
    let in_range = work.join("in-range");
    let mut uploads = Vec::new();
    let mut wanted = 0;
    // Objects big enough that reading them takes a few seconds: the interruption below
    // must find the run in its middle.
    for i in 0..100 {
        let day = 20 + i % 5;
        let key = format!(
            "logs/AWSLogs/123456789012/CloudTrail/eu-west-1/2026/11/{day}/123456789012_CloudTrail_eu-west-1_202611{day}T0000Z_{i:016}.json.gz"
        );
        let path = tree.join(&key);
        cloudtrail_file(&path, i, 1000);
        if (21..=23).contains(&day) {
            wanted += 1;
            let dest = in_range.join(&key);
            std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
            std::fs::copy(&path, dest).expect("copy");
        }
        uploads.push(json!([key, path.to_string_lossy()]));
    }
    m.call("put_many", json!({ "bucket": bucket, "objects": uploads }));
    let expected = dir_rows(&in_range, &work.join("dir-out"));

    let out = work.join("out");
    let checkpoint = work.join("checkpoint.json");
    let source = format!("s3:{bucket}/logs/");
    let common = [
        "--quiet",
        "--threads",
        "1",
        "--since",
        "2026-11-21",
        "--until",
        "2026-11-23",
    ];
    // One run of the backfill with the checkpoint, its summary written to `summary_path`.
    let backfill = |summary_path: &Path| {
        let mut cmd = logferry(&common);
        cmd.args([
            "--source",
            &source,
            "--sink",
            &dir_sink(&out),
            "--checkpoint",
        ])
        .arg(&checkpoint)
        .arg("--summary-json")
        .arg(summary_path);
        cmd
    };
    let s1 = work.join("summary1.json");
    let mut first = backfill(&s1);
    first.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = first.spawn().expect("start logferry");
    // The checkpoint is first saved a second into the run: interrupt then.
    let saved = wait_until(Duration::from_secs(60), || checkpoint.exists());
    signal(&child, "INT");
    let o1 = wait_output(child, Duration::from_secs(60));
    assert!(saved, "no checkpoint was written: {}", text(&o1));
    assert_eq!(o1.status.code(), Some(130), "{}", text(&o1));

    let s2 = work.join("summary2.json");
    let o2 = run_to_end(backfill(&s2), Duration::from_secs(120));
    eprintln!("{}", text(&o2));
    assert_eq!(o2.status.code(), Some(0), "{}", text(&o2));

    assert_rows(&rows(&out), &expected, 1);
    let delivered = |p: &Path| summary(p)["objects_delivered"].as_u64().unwrap_or(0);
    let (d1, d2) = (delivered(&s1), delivered(&s2));
    eprintln!("objects delivered: first run {d1}, second {d2}");
    assert!(d1 > 0 && d2 > 0, "first run {d1}, second {d2}");
    assert_eq!(d1 + d2, wanted, "objects delivered by the two runs");

    // Resuming with a wider date range would skip the keys the checkpoint passed over by
    // date: refused, naming the flags.
    let mut wider = logferry(&["--quiet", "--since", "2026-11-20"]);
    wider
        .args([
            "--source",
            &source,
            "--sink",
            &dir_sink(&out),
            "--checkpoint",
        ])
        .arg(&checkpoint);
    let o3 = run_to_end(wider, Duration::from_secs(60));
    assert_eq!(o3.status.code(), Some(2), "{}", text(&o3));
    assert!(text(&o3).contains("--since/--until"), "{}", text(&o3));
}
