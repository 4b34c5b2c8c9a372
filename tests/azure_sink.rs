//! The Azure sink against the Logs Ingestion emulator (`logferry emulator`, a child process),
//! through the `logferry` binary: rows arrive exactly as the dir sink writes them, with the
//! SQS source (moto) end to end, under injected faults and a kill, with a wrong-typed row
//! bisected out and replayed, over two DCRs, and with every way the configuration can be
//! wrong stopping with the fix.
//!
//! The expected rows are what the dir sink writes for the same objects (the golden tests
//! check those field by field against rows written from the AWS documents).

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::emulator::{Emulator, CLIENT_ID, CLIENT_SECRET, DCR};
use support::*;

/// No AWS endpoint is used by a dir source; this one refuses connections if it were.
const NO_AWS: &str = "http://127.0.0.1:9";

fn shipped_dcr() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/azure/dcr.json").to_string()
}

/// A dir-source run into the emulator on `dcrs`, with `extra` options.
fn dir_run(emu: &Emulator, tree: &Path, dcrs: &[&str], extra: &[&str]) -> Command {
    let mut cmd = logferry_at(NO_AWS, &["--quiet"]);
    cmd.arg("--source")
        .arg(format!("dir:{}", tree.display()))
        .args(emu.sink_args(dcrs))
        .args(extra)
        .env("LOGFERRY_AZURE_CLIENT_SECRET", CLIENT_SECRET);
    cmd
}

fn ok(cmd: Command) -> std::process::Output {
    let o = run_to_end(cmd, Duration::from_secs(120));
    eprintln!("{}", text(&o));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    o
}

fn sink_counter(summary: &Value, name: &str) -> u64 {
    summary["sink"][name].as_u64().unwrap_or(0)
}

/// Calls with `status` to any target, from a run summary's sink counters.
fn calls_with(summary: &Value, status: &str) -> u64 {
    summary["sink"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| k.ends_with(&format!(":{status}")))
                .filter_map(|(_, v)| v.as_u64())
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn a_dir_source_delivers_exactly_the_dir_sinks_rows_configured_from_a_file() {
    let work = scratch("az-dir");
    let tree = prefixed_tree(&work, 2);
    let expected = dir_rows(&tree, &work.join("dir-out"));
    let emu = Emulator::start(&work.join("store"), &[]);
    let config = work.join("logferry.toml");
    std::fs::write(
        &config,
        format!(
            r#"
sink = "azure"
threads = 2
[azure]
endpoint = "{url}"
authority = "{url}"
tenant-id = "emulator-tenant"
client_id = "{CLIENT_ID}"
dcr = ["{DCR}"]
"#,
            url = emu.url()
        ),
    )
    .expect("write config");
    let summary_path = work.join("summary.json");
    let mut cmd = logferry_at(NO_AWS, &["--quiet"]);
    cmd.arg("--config")
        .arg(&config)
        .arg("--source")
        .arg(format!("dir:{}", tree.display()))
        .arg("--dead-letters")
        .arg(work.join("dead"))
        .arg("--summary-json")
        .arg(&summary_path)
        .env("LOGFERRY_AZURE_CLIENT_SECRET", CLIENT_SECRET);
    ok(cmd);
    assert_rows(&emu.rows(), &expected, 1);
    let s = summary(&summary_path);
    assert!(calls_with(&s, "204") > 0, "{s}");
    assert_eq!(calls_with(&s, "400"), 0, "{s}");
    // The sample tree's bad record and truncated object are dead-lettered as with the dir sink.
    assert!(
        s["dead_letters"]["truncated_json"].as_u64().unwrap_or(0) >= 2,
        "{s}"
    );
}

#[test]
fn an_sqs_queue_drains_into_the_emulator_and_ends_empty() {
    let m = moto();
    let work = scratch("az-sqs");
    let tree = work.join("tree");
    copy_tree(Path::new(SAMPLES), &tree);
    let expected = dir_rows(&tree, &work.join("dir-out"));
    let bucket = "az-e2e";
    m.create_bucket(bucket);
    let (url, arn, _) = m.create_queue("az-e2e-queue", 30, None);
    m.notify(bucket, &arn, "sns");
    m.put_tree(bucket, "", &tree);
    let emu = Emulator::start(&work.join("store"), &[]);
    let mut cmd = logferry(&["--quiet", "--wait-seconds", "1"]);
    cmd.args(["--source", &format!("sqs:{url}"), "--stop-when-idle", "3"])
        .args(emu.sink_args(&[DCR]))
        .arg("--dead-letters")
        .arg(work.join("dead"))
        .env("LOGFERRY_AZURE_CLIENT_SECRET", CLIENT_SECRET);
    ok(cmd);
    assert_rows(&emu.rows(), &expected, 1);
    assert_eq!(m.counts(&url), (0, 0), "every message was deleted");
}

#[test]
fn faults_on_both_sides_and_a_kill_lose_no_row() {
    let m = moto();
    let work = scratch("az-faults");
    let tree = prefixed_tree(&work, 6);
    let expected = dir_rows(&tree, &work.join("dir-out"));
    let bucket = "az-faults";
    m.create_bucket(bucket);
    let (url, arn, _) = m.create_queue("az-faults-queue", 30, None);
    m.notify(bucket, &arn, "direct");
    let objects = m.put_tree(bucket, "", &tree) as u64;
    let messages = objects + 1; // and the test event
                                // 30% 503s, 5% dropped connections, added latency, tokens that live 3 s.
    let emu = Emulator::start(
        &work.join("store"),
        &[
            "--fault",
            "503=0.3",
            "--fault",
            "reset=0.05",
            "--fault",
            "latency=5-40",
            "--token-lifetime",
            "3",
        ],
    );
    let sink = emu.sink_args(&[DCR]);
    let sqs = |extra: &[&str]| {
        let mut cmd = logferry(&["--quiet", "--wait-seconds", "1"]);
        cmd.args(["--source", &format!("sqs:{url}")])
            .args(&sink)
            .args(["--max-request-bytes", "65536", "--visibility-timeout", "5"])
            .arg("--dead-letters")
            .arg(work.join("dead"))
            .args(extra)
            .env("LOGFERRY_AZURE_CLIENT_SECRET", CLIENT_SECRET);
        cmd
    };

    // First run: killed once some messages are done and others are in flight.
    let mut first = sqs(&["--threads", "1", "--max-messages-in-flight", "10"]);
    first.stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = first.spawn().expect("start logferry");
    let some_done = wait_until(Duration::from_secs(90), || {
        let (visible, in_flight) = m.counts(&url);
        visible + in_flight < messages - 3 && in_flight > 0
    });
    signal(&child, "KILL");
    let _ = child.wait();
    assert!(some_done, "the first run never had work in flight");
    let (visible, in_flight) = m.counts(&url);
    assert!(visible + in_flight > 0, "the kill came too late");
    let accepted_before_kill: u64 = emu.rows().values().map(|&n| n as u64).sum();

    // Second run: a 429 storm on top, and every token revoked once mid-run.
    emu.set_faults(&["503=0.3", "reset=0.05", "latency=5-40", "storm=2"]);
    let summary_path = work.join("summary.json");
    let mut second = sqs(&["--stop-when-idle", "6", "--summary-json"]);
    second.arg(&summary_path);
    let child = second
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start logferry");
    let grew = wait_until(Duration::from_secs(60), || {
        emu.rows().values().map(|&n| n as u64).sum::<u64>() > accepted_before_kill
    });
    emu.expire_tokens();
    let o = wait_output(child, Duration::from_secs(240));
    eprintln!("{}", text(&o));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(grew, "the second run delivered nothing");
    assert_eq!(m.counts(&url), (0, 0), "the queue ends empty");

    let got = emu.rows();
    assert_rows_at_least_once(&got, &expected);
    // Repeats come from messages in flight at the kill (at most 10 + one receive of objects)
    // and from requests whose 204 was lost with a reset connection after the emulator stored
    // them; bounded well below a second copy of everything.
    let duplicates = total(&got) - total(&expected);
    eprintln!(
        "rows {} expected, {} stored, {duplicates} duplicates",
        total(&expected),
        total(&got)
    );
    assert!(
        duplicates < total(&expected),
        "{duplicates} duplicate rows for {} expected",
        total(&expected)
    );
    let s = summary(&summary_path);
    assert!(sink_counter(&s, "retries") > 0, "{s}");
    assert!(
        calls_with(&s, "503") > 0 && calls_with(&s, "429") > 0,
        "{s}"
    );
}

#[test]
fn a_revoked_token_is_replaced_once_and_nothing_is_lost() {
    let work = scratch("az-token");
    let tree = prefixed_tree(&work, 2);
    let expected = dir_rows(&tree, &work.join("dir-out"));
    let emu = Emulator::start(&work.join("store"), &["--fault", "latency=30"]);
    let summary_path = work.join("summary.json");
    let mut cmd = dir_run(
        &emu,
        &tree,
        &[DCR],
        &["--max-request-bytes", "4096", "--azure-concurrency", "2"],
    );
    cmd.arg("--summary-json").arg(&summary_path);
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start logferry");
    assert!(wait_until(Duration::from_secs(30), || !emu
        .rows()
        .is_empty()));
    emu.expire_tokens();
    let o = wait_output(child, Duration::from_secs(120));
    eprintln!("{}", text(&o));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_rows(&emu.rows(), &expected, 1);
    let s = summary(&summary_path);
    assert!(sink_counter(&s, "token_refreshes") >= 1, "{s}");
    assert!(calls_with(&s, "401") >= 1, "{s}");
}

#[test]
fn requests_over_the_services_limit_are_split_until_they_fit() {
    let work = scratch("az-413");
    let tree = prefixed_tree(&work, 1);
    let expected = dir_rows(&tree, &work.join("dir-out"));
    let emu = Emulator::start(&work.join("store"), &["--max-raw-bytes", "60000"]);
    let summary_path = work.join("summary.json");
    let mut cmd = dir_run(&emu, &tree, &[DCR], &["--summary-json"]);
    cmd.arg(&summary_path);
    ok(cmd);
    assert_rows(&emu.rows(), &expected, 1);
    let s = summary(&summary_path);
    assert!(calls_with(&s, "413") > 0, "{s}");
    assert!(sink_counter(&s, "splits") > 0, "{s}");
}

/// `n` GuardDuty findings; only finding `odd` has a `partition`.
fn guardduty_tree(work: &Path, n: usize, odd: usize) -> std::path::PathBuf {
    let tree = work.join("tree");
    let dir = tree.join("AWSLogs/123456789012/GuardDuty/eu-west-1/2026/11/24");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let mut text = String::new();
    for i in 0..n {
        let partition = if i == odd {
            r#""partition":"aws","#
        } else {
            ""
        };
        text.push_str(&format!(
            r#"{{"schemaVersion":"2.0","accountId":"123456789012","region":"eu-west-1",{partition}"id":"f{i:04}","arn":"arn:aws:guardduty:eu-west-1:123456789012:detector/d/finding/f{i:04}","type":"Recon:EC2/PortProbeUnprotectedPort","resource":{{"resourceType":"Instance"}},"service":{{"count":{i}}},"severity":5,"createdAt":"2026-11-24T10:00:00.000Z","updatedAt":"2026-11-24T10:{:02}:00.000Z","title":"t{i}","description":"d{i}"}}"#,
            i % 60
        ));
        text.push('\n');
    }
    std::fs::write(dir.join("findings.jsonl"), text).expect("write");
    tree
}

#[test]
fn a_row_of_a_wrong_type_is_dead_lettered_alone_and_replayed_after_the_fix() {
    let work = scratch("az-400");
    let tree = guardduty_tree(&work, 40, 17);
    let expected = dir_rows(&tree, &work.join("dir-out"));
    assert_eq!(total(&expected), 40);
    // A DCR that declares Partition as int: only finding 17's row breaks it.
    let mut dcr: Value =
        serde_json::from_str(&std::fs::read_to_string(shipped_dcr()).expect("dcr")).expect("json");
    let cols = dcr["resources"][0]["properties"]["streamDeclarations"]
        ["Custom-LogferryAWSGuardDuty"]["columns"]
        .as_array_mut()
        .expect("columns");
    for c in cols.iter_mut() {
        if c["name"] == "Partition" {
            c["type"] = "int".into();
        }
    }
    let narrow = work.join("narrow-dcr.json");
    std::fs::write(&narrow, dcr.to_string()).expect("write dcr");
    let store = work.join("store");
    let dead = work.join("dead");
    let summary_path = work.join("summary.json");
    {
        let emu = Emulator::start(
            &store,
            &["--dcr", &format!("dcr-narrow={}", narrow.display())],
        );
        let mut cmd = dir_run(&emu, &tree, &["dcr-narrow"], &["--summary-json"]);
        cmd.arg(&summary_path).arg("--dead-letters").arg(&dead);
        ok(cmd);
        let got = emu.rows();
        assert_eq!(total(&got), 39, "every other row was accepted");
        let odd: Vec<_> = expected.keys().filter(|r| !got.contains_key(*r)).collect();
        assert_eq!(odd.len(), 1);
        assert!(odd[0].contains(r#""Partition":"aws""#), "{}", odd[0]);
        let s = summary(&summary_path);
        assert_eq!(s["dead_letters"]["azure_400"], 1, "{s}");
        assert!(sink_counter(&s, "splits") >= 5, "{s}");
    }
    let letters = logferry::sink::dead_letter::read_dir(&dead).expect("dead letters");
    assert_eq!(letters.len(), 1, "{letters:?}");
    let dl = &letters[0];
    assert_eq!(dl.reason, "azure_400");
    assert_eq!(dl.table.as_deref(), Some("AWSGuardDuty"));
    assert!(dl.detail.contains("Partition"), "{}", dl.detail);
    assert!(
        dl.detail.contains("x-ms-client-request-id"),
        "{}",
        dl.detail
    );

    let replay_cmd = |emu: &Emulator, extra: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_logferry"));
        for (k, _) in std::env::vars() {
            if k.starts_with("LOGFERRY_") || k.starts_with("AZURE_") {
                cmd.env_remove(k);
            }
        }
        cmd.arg("replay")
            .arg("--dead-letters")
            .arg(&dead)
            .args(&emu.sink_args(&["dcr-narrow"])[..])
            .args(extra)
            .env("LOGFERRY_AZURE_CLIENT_SECRET", CLIENT_SECRET);
        cmd
    };
    // Azure down (503 to everything) and a short retry budget: the replay fails and keeps
    // its file for the next one.
    {
        let emu = Emulator::start(
            &work.join("store-down"),
            &[
                "--dcr",
                &format!("dcr-narrow={}", shipped_dcr()),
                "--fault",
                "503=1.0",
            ],
        );
        let o = run_to_end(
            replay_cmd(&emu, &["--azure-retry-for", "2"]),
            Duration::from_secs(60),
        );
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(text(&o).contains("were not delivered"), "{}", text(&o));
        assert_eq!(
            logferry::sink::dead_letter::read_dir(&dead)
                .expect("dead letters")
                .len(),
            1,
            "the file is kept"
        );
    }

    // The DCR fixed (the shipped one under the same id): replay sends the row, once.
    let emu = Emulator::start(&store, &["--dcr", &format!("dcr-narrow={}", shipped_dcr())]);
    let replay = |expect_rows: u64| {
        let o = run_to_end(replay_cmd(&emu, &[]), Duration::from_secs(60));
        eprintln!("{}", text(&o));
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        if expect_rows > 0 {
            assert!(
                out.contains(&format!("AWSGuardDuty  {expect_rows} rows sent")),
                "{out}"
            );
        } else {
            assert!(!out.contains("rows sent"), "{out}");
        }
    };
    replay(1);
    assert_rows(&emu.rows(), &expected, 1);
    // The file was marked done: a second replay sends nothing.
    replay(0);
    assert_rows(&emu.rows(), &expected, 1);
}

#[test]
fn a_dcr_that_refuses_every_row_stops_the_run_instead_of_dead_lettering_everything() {
    let work = scratch("az-all-400");
    let tree = guardduty_tree(&work, 150, 0);
    // Id declared int: no GuardDuty row can match.
    let mut dcr: Value =
        serde_json::from_str(&std::fs::read_to_string(shipped_dcr()).expect("dcr")).expect("json");
    for c in dcr["resources"][0]["properties"]["streamDeclarations"]["Custom-LogferryAWSGuardDuty"]
        ["columns"]
        .as_array_mut()
        .expect("columns")
    {
        if c["name"] == "Id" {
            c["type"] = "int".into();
        }
    }
    let wrong = work.join("wrong-dcr.json");
    std::fs::write(&wrong, dcr.to_string()).expect("write dcr");
    let emu = Emulator::start(
        &work.join("store"),
        &["--dcr", &format!("dcr-wrong={}", wrong.display())],
    );
    let mut cmd = dir_run(&emu, &tree, &["dcr-wrong"], &[]);
    cmd.arg("--dead-letters").arg(work.join("dead"));
    let o = run_to_end(cmd, Duration::from_secs(60));
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("deploy deploy/azure/dcr.json"), "{t}");
    assert!(emu.rows().is_empty());
}

/// Rows accepted per DCR id, from the emulator's counts.
fn rows_by_dcr(emu: &Emulator) -> BTreeMap<String, u64> {
    emu.counts()["dcrs"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v["rows"].as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn two_dcrs_share_a_table_and_a_throttled_one_gives_its_load_to_the_other() {
    let work = scratch("az-two");
    let tree = prefixed_tree(&work, 2);
    let expected = dir_rows(&tree, &work.join("dir-out"));
    let dcr = shipped_dcr();
    let emu = Emulator::start(
        &work.join("store"),
        &[
            "--dcr",
            &format!("dcr-a={dcr}"),
            "--dcr",
            &format!("dcr-b={dcr}"),
            "--fault",
            "latency=10",
        ],
    );
    let small = ["--max-request-bytes", "8192"];
    ok(dir_run(&emu, &tree, &["dcr-a", "dcr-b"], &small));
    assert_rows(&emu.rows(), &expected, 1);
    let first = rows_by_dcr(&emu);
    assert!(
        first.get("dcr-a").copied().unwrap_or(0) > 0
            && first.get("dcr-b").copied().unwrap_or(0) > 0,
        "both DCRs receive rows: {first:?}"
    );

    // dcr-a answers every request with 429: everything goes to dcr-b.
    emu.set_faults(&["dcr-a/429=1.0", "latency=10"]);
    let summary_path = work.join("summary.json");
    let mut cmd = dir_run(&emu, &tree, &["dcr-a", "dcr-b"], &small);
    cmd.arg("--summary-json").arg(&summary_path);
    ok(cmd);
    assert_rows(&emu.rows(), &expected, 2);
    let second = rows_by_dcr(&emu);
    assert_eq!(
        second.get("dcr-a"),
        first.get("dcr-a"),
        "a throttled DCR accepts nothing"
    );
    assert_eq!(
        second.get("dcr-b").copied().unwrap_or(0) - first.get("dcr-b").copied().unwrap_or(0),
        total(&expected) as u64
    );
    let s = summary(&summary_path);
    assert!(calls_with(&s, "429") > 0, "{s}");
    // The throttled DCR was probed, not hammered: far fewer calls than the other's.
    let on = |dcr: &str, status: &str| {
        s["sink"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| k.starts_with(&format!("{dcr}/")) && k.ends_with(status))
                    .filter_map(|(_, v)| v.as_u64())
                    .sum::<u64>()
            })
            .unwrap_or(0)
    };
    assert!(on("dcr-a", ":429") < on("dcr-b", ":204"), "{s}");
}

#[test]
fn managed_identity_and_workload_identity_get_tokens() {
    let work = scratch("az-identity");
    let tree = prefixed_tree(&work, 1);
    let expected = dir_rows(&tree, &work.join("dir-out"));
    let emu = Emulator::start(&work.join("store"), &[]);
    // Managed identity: the instance metadata endpoint's shape, served by the emulator.
    let mut cmd = logferry_at(NO_AWS, &["--quiet"]);
    cmd.arg("--source")
        .arg(format!("dir:{}", tree.display()))
        .args(["--sink", "azure", "--azure-endpoint", &emu.url()])
        .args(["--azure-dcr", DCR, "--azure-auth", "managed-identity"])
        .arg("--azure-identity-endpoint")
        .arg(format!("{}/metadata/identity/oauth2/token", emu.url()));
    ok(cmd);
    assert_rows(&emu.rows(), &expected, 1);
    // Workload identity: the federated token file, with the standard variables only.
    let token_file = work.join("federated-token");
    std::fs::write(&token_file, CLIENT_SECRET).expect("token file");
    let mut cmd = logferry_at(NO_AWS, &["--quiet"]);
    cmd.arg("--source")
        .arg(format!("dir:{}", tree.display()))
        .args(["--sink", "azure", "--azure-endpoint", &emu.url()])
        .args(["--azure-dcr", DCR])
        .env("AZURE_TENANT_ID", "emulator-tenant")
        .env("AZURE_CLIENT_ID", CLIENT_ID)
        .env("AZURE_FEDERATED_TOKEN_FILE", &token_file)
        .env("AZURE_AUTHORITY_HOST", emu.url());
    ok(cmd);
    assert_rows(&emu.rows(), &expected, 2);
}

#[test]
fn a_wrong_configuration_stops_with_the_fix() {
    let work = scratch("az-config");
    let tree = prefixed_tree(&work, 1);
    let emu = Emulator::start(
        &work.join("store"),
        &[
            "--client",
            &format!("{CLIENT_ID}={CLIENT_SECRET}"),
            "--client",
            "intruder=intruder-secret",
            "--dcr",
            &format!("{DCR}={}", shipped_dcr()),
            "--dcr",
            &format!("dcr-elsewhere={}", shipped_dcr()),
            "--allow",
            "intruder=dcr-elsewhere",
        ],
    );
    let fails = |mut cmd: Command, code: i32, needle: &str| {
        cmd.arg("--dead-letters").arg(work.join("dead"));
        let o = run_to_end(cmd, Duration::from_secs(60));
        let t = text(&o);
        assert_eq!(o.status.code(), Some(code), "{t}");
        assert!(t.contains(needle), "expected {needle:?} in:\n{t}");
    };
    // A wrong secret: refused at start, exit 2, the secret never printed.
    let mut cmd = dir_run(&emu, &tree, &[DCR], &[]);
    cmd.env("LOGFERRY_AZURE_CLIENT_SECRET", "not-the-secret");
    fails(cmd, 2, "refused the client-secret credentials");
    let mut cmd = dir_run(&emu, &tree, &[DCR], &[]);
    cmd.env("LOGFERRY_AZURE_CLIENT_SECRET", "not-the-secret");
    let o = run_to_end(cmd, Duration::from_secs(60));
    assert!(!text(&o).contains("not-the-secret"), "{}", text(&o));
    // A principal without the role on the DCR: 403, stop, exit 1, nothing stored.
    let mut cmd = logferry_at(NO_AWS, &["--quiet"]);
    cmd.arg("--source")
        .arg(format!("dir:{}", tree.display()))
        .args(emu.sink_args(&[DCR]).into_iter().map(|a| {
            if a == CLIENT_ID {
                "intruder".into()
            } else {
                a
            }
        }))
        .env("LOGFERRY_AZURE_CLIENT_SECRET", "intruder-secret");
    fails(cmd, 1, "Monitoring Metrics Publisher");
    // An unknown DCR: 404, stop, exit 1.
    fails(
        dir_run(&emu, &tree, &["dcr-nowhere"], &[]),
        1,
        "DCR immutable id",
    );
    assert!(emu.rows().is_empty(), "nothing was stored");
    // Plain http to a remote endpoint: refused at start.
    fails(
        dir_run(&emu, &tree, &[DCR, "vpcflow=dcr-x@http://example.com"], &[]),
        2,
        "plain http",
    );
    // Something at the endpoint that redirects (a proxy's login page): never counted as
    // delivered, the run stops.
    let fake = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let fake_url = format!("http://{}", fake.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for stream in fake.incoming() {
            let Ok(mut stream) = stream else { break };
            use std::io::{Read, Write};
            let mut buf = [0u8; 65536];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(
                b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:9/login\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    fails(
        dir_run(&emu, &tree, &[&format!("{DCR}@{fake_url}")], &[]),
        1,
        "expected 204",
    );
    // The example configuration is made of known keys only.
    let o = logferry_at(NO_AWS, &["--help"])
        .arg("--config")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/deploy/azure/logferry.toml"
        ))
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", text(&o));
    // A config file with a typo names the key.
    let config = work.join("typo.toml");
    std::fs::write(&config, "[azure]\nendpont = \"https://x\"\n").expect("write");
    let mut cmd = dir_run(&emu, &tree, &[DCR], &[]);
    cmd.arg("--config").arg(&config);
    fails(cmd, 2, "azure.endpont");
}

#[test]
fn sigterm_during_a_429_storm_exits_within_the_deadline_and_returns_the_messages() {
    let m = moto();
    let work = scratch("az-sigterm");
    let tree = prefixed_tree(&work, 2);
    let expected = dir_rows(&tree, &work.join("dir-out"));
    let bucket = "az-sigterm";
    m.create_bucket(bucket);
    let (url, arn, _) = m.create_queue("az-sigterm-queue", 120, None);
    m.notify(bucket, &arn, "direct");
    m.put_tree(bucket, "", &tree);
    // Every call is answered 429 (Retry-After 1) for a minute: nothing can be delivered.
    let emu = Emulator::start(&work.join("store"), &["--fault", "storm=60"]);
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut cmd = logferry(&["--quiet", "--wait-seconds", "1"]);
    cmd.args(["--source", &format!("sqs:{url}"), "--shutdown-timeout", "2"])
        .args(emu.sink_args(&[DCR]))
        .args(["--metrics", &addr, "--linger-ms", "100"])
        .arg("--dead-letters")
        .arg(work.join("dead"))
        .env("LOGFERRY_AZURE_CLIENT_SECRET", CLIENT_SECRET)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().expect("start logferry");
    assert!(
        wait_until(Duration::from_secs(30), || {
            emu.counts()["requests"]["429"].as_u64().unwrap_or(0) > 0
        }),
        "no request reached the emulator"
    );
    let (code, metrics) = http_get(port, "/metrics");
    assert_eq!(code, 200);
    for name in [
        "logferry_azure_calls_total",
        "logferry_azure_call_seconds_bucket",
        "logferry_azure_concurrency_limit",
    ] {
        assert!(metrics.contains(name), "no {name} in:\n{metrics}");
    }
    assert!(metrics.contains("status=\"429\""), "{metrics}");

    signal(&child, "TERM");
    let asked = std::time::Instant::now();
    let o = wait_output(child, Duration::from_secs(60));
    let took = asked.elapsed();
    eprintln!("{}", text(&o));
    // Deadline 2 s, a poll in progress (1 s), the abort (deliveries end at once), slack for
    // the machine.
    assert!(took < Duration::from_secs(8), "exit took {took:?}");
    let (_, in_flight) = m.counts(&url);
    assert_eq!(in_flight, 0, "messages still held after exit");
    assert!(
        emu.rows().is_empty(),
        "nothing was accepted during the storm"
    );

    // Once the storm is over, a second run delivers everything and empties the queue.
    emu.set_faults(&[]);
    let mut second = logferry(&["--quiet", "--wait-seconds", "1"]);
    second
        .args(["--source", &format!("sqs:{url}"), "--stop-when-idle", "3"])
        .args(emu.sink_args(&[DCR]))
        .arg("--dead-letters")
        .arg(work.join("dead"))
        .env("LOGFERRY_AZURE_CLIENT_SECRET", CLIENT_SECRET);
    ok(second);
    assert_eq!(m.counts(&url), (0, 0));
    assert_rows(&emu.rows(), &expected, 1);
}

/// The strict emulator accepts every row logferry makes of the edge-case fixtures and of
/// values past the 64 KB field limit (which logferry cuts first): no mapped value breaks the
/// documented contract, and the rows are exactly the dir sink's.
#[test]
fn edge_cases_and_oversized_values_pass_the_strict_emulator() {
    let work = scratch("az-edge");
    let tree = work.join("tree");
    copy_tree(
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/edge")),
        &tree,
    );
    let big = "é".repeat(50_000); // 100,000 bytes of UTF-8
    let record = serde_json::json!({
        "eventVersion": "1.09", "eventTime": "2026-11-24T12:00:00Z",
        "eventSource": "s3.amazonaws.com", "eventName": "PutObject",
        "awsRegion": "eu-west-1", "userAgent": big,
        "requestParameters": {"bucketName": "b", "key": big},
        "eventID": "7f1c0ad4-7a36-4c9a-a5c0-6b0e1e2d9a01", "recipientAccountId": "123456789012"
    });
    std::fs::write(
        tree.join("cloudtrail/oversized.json"),
        serde_json::json!({ "Records": [record] }).to_string(),
    )
    .expect("write");
    let routes = [
        "--route",
        "cloudtrail/=cloudtrail",
        "--route",
        "guardduty/=guardduty",
        "--route",
        "vpcflow/=vpcflow",
    ];
    let oracle_out = work.join("dir-out");
    let o = Command::new(env!("CARGO_BIN_EXE_logferry"))
        .env("RUST_LOG", "warn")
        .args(["run", "--quiet", "--source"])
        .arg(format!("dir:{}", tree.display()))
        .arg("--sink")
        .arg(format!("dir:{}", oracle_out.display()))
        .args(routes)
        .output()
        .expect("run");
    assert!(o.status.code().is_some(), "{}", text(&o));
    let expected = rows(&oracle_out);
    assert!(
        expected.keys().any(|r| r.contains(&"é".repeat(1000))),
        "the oversized record was mapped"
    );
    let emu = Emulator::start(&work.join("store"), &[]);
    let summary_path = work.join("summary.json");
    let mut cmd = dir_run(&emu, &tree, &[DCR], &routes);
    cmd.arg("--dead-letters")
        .arg(work.join("dead"))
        .arg("--summary-json")
        .arg(&summary_path);
    let o = run_to_end(cmd, Duration::from_secs(120));
    let s = summary(&summary_path);
    assert_eq!(calls_with(&s, "400"), 0, "{s}\n{}", text(&o));
    assert_rows(&emu.rows(), &expected, 1);
}
