//! No object is reported delivered unless every row of it was accepted or dead-lettered:
//! a sink that fails mid-run, or a dead-letter store that cannot be written, fails the objects
//! it touches and every object that was not finished, instead of letting them look delivered.

use std::io::Write;
use std::sync::Arc;

use logferry::pipeline::{self, Settings};
use logferry::route::Router;
use logferry::sink::dead_letter::DeadLetters;
use logferry::sink::{Request, Settle, Sink, SinkError};
use logferry::source::dir::DirSource;
use logferry::table::Table;

/// Accepts `ok` requests, then fails every one.
struct FailingSink {
    ok: usize,
}

impl Sink for FailingSink {
    fn send(&mut self, req: Request, settle: &Arc<dyn Settle>) -> Result<(), SinkError> {
        if self.ok == 0 {
            return Err(SinkError::Io {
                path: "test".into(),
                source: std::io::Error::other("injected sink failure"),
            });
        }
        self.ok -= 1;
        settle.accepted(req);
        Ok(())
    }
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// `n` GuardDuty objects of `lines` findings each; every line carries `bad` bad records.
fn tree(n: usize, lines: usize, bad: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let base = dir
        .path()
        .join("AWSLogs/123456789012/GuardDuty/eu-west-1/2026/11/24");
    std::fs::create_dir_all(&base).unwrap();
    for i in 0..n {
        let mut s = String::new();
        for j in 0..lines {
            s.push_str(&format!(
                "{{\"id\":\"f{i}-{j}\",\"type\":\"Recon:EC2/Portscan\",\"severity\":5,\"description\":\"{}\"}}\n",
                "x".repeat(200)
            ));
            if bad && j == 1 {
                s.push_str("{\"id\": }\n");
            }
        }
        std::fs::write(base.join(format!("{i:04}.jsonl.gz")), gz(s.as_bytes())).unwrap();
    }
    dir
}

fn settings(threads: usize) -> Settings {
    Settings {
        threads,
        batch: pipeline::BatchSettings {
            max_request_bytes: 4096,
            gzip_level: 1,
        },
        router: Router {
            rules: vec![],
            pinned: Some(Table::GuardDuty),
        },
        ..Settings::default()
    }
}

#[test]
fn a_failing_sink_fails_the_objects_instead_of_reporting_them_delivered() {
    for threads in [1, 2] {
        let src = tree(20, 50, false);
        let dead = tempfile::tempdir().unwrap();
        let mut source = DirSource::new(src.path()).unwrap();
        let summary = pipeline::run(
            &mut source,
            &settings(threads),
            Box::new(FailingSink { ok: 3 }),
            Arc::new(DeadLetters::new(dead.path())),
            false,
        );
        assert!(!summary.succeeded(), "{summary}");
        assert!(summary.objects_failed > 0, "{summary}");
        // Three requests of 4 KB hold the rows of a handful of objects at most. Every object
        // the source handed over ends delivered or failed; after the abort the source hands
        // over no more (they stay where they are, for the next run).
        assert!(
            summary.objects_delivered <= 3,
            "threads {threads}: {summary}"
        );
        assert_eq!(
            summary.objects_delivered + summary.objects_failed,
            summary.objects_seen,
            "threads {threads}: {summary}"
        );
        assert!(
            summary.objects_seen < 20,
            "the source stops after the abort: {summary}"
        );
    }
}

#[test]
fn an_unwritable_dead_letter_store_fails_the_objects_that_needed_it() {
    let src = tree(20, 5, true);
    let blocker = tempfile::NamedTempFile::new().unwrap();
    // A directory below a regular file cannot be created.
    let dead = blocker.path().join("dead-letters");
    let out = tempfile::tempdir().unwrap();
    let mut source = DirSource::new(src.path()).unwrap();
    let summary = pipeline::run(
        &mut source,
        &settings(1),
        Box::new(logferry::sink::dir::DirSink::new(out.path()).unwrap()),
        Arc::new(DeadLetters::new(&dead)),
        false,
    );
    assert!(!summary.succeeded(), "{summary}");
    assert_eq!(
        summary.objects_delivered, 0,
        "every object had a bad record: {summary}"
    );
    assert!(summary.failures.get("dead_letter_write") > 0, "{summary}");
}

/// A source whose objects belong to "messages": each message settles once all its objects
/// ended, delivered only if all were (what the SQS source deletes messages on).
struct MessageSource {
    messages: Vec<Vec<(String, Option<Vec<u8>>)>>,
    settled: Arc<std::sync::Mutex<Vec<(usize, bool)>>>,
}

impl pipeline::Source for MessageSource {
    fn run(&mut self, emit: &mut dyn FnMut(pipeline::Object) -> bool) -> std::io::Result<()> {
        for (i, objects) in std::mem::take(&mut self.messages).into_iter().enumerate() {
            let settled = self.settled.clone();
            let ack = logferry::ack::MessageAck::new(objects.len(), move |ok| {
                settled.lock().unwrap().push((i, ok))
            });
            for (key, bytes) in objects {
                let open: Box<
                    dyn FnOnce() -> std::io::Result<Box<dyn std::io::Read + Send>> + Send,
                > = match bytes {
                    Some(b) => Box::new(move || {
                        Ok(Box::new(std::io::Cursor::new(b)) as Box<dyn std::io::Read + Send>)
                    }),
                    None => Box::new(|| {
                        Err(std::io::Error::new(
                            std::io::ErrorKind::NotFound,
                            "no such object",
                        ))
                    }),
                };
                let done: Arc<dyn logferry::ack::AckListener> = ack.clone();
                if !emit(pipeline::Object {
                    key,
                    size: None,
                    open,
                    done: Some(done),
                }) {
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

#[test]
fn a_message_is_settled_delivered_only_when_all_its_objects_were() {
    let ct = |i: usize| {
        (
            format!("AWSLogs/1/CloudTrail/eu-west-1/2026/11/24/1_CloudTrail_eu-west-1_20261124T1200Z_{i:016}.json.gz"),
            Some(gz(format!(r#"{{"Records":[{{"eventID":"e{i}","eventTime":"2026-11-24T12:00:00Z"}}]}}"#).as_bytes())),
        )
    };
    let settled = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut source = MessageSource {
        messages: vec![
            vec![ct(1), ct(2)],
            vec![
                ct(3),
                (
                    "AWSLogs/1/CloudTrail/eu-west-1/2026/11/24/missing.json.gz".into(),
                    None,
                ),
            ],
            vec![
                (
                    "AWSLogs/1/CloudTrail-Digest/eu-west-1/2026/11/24/d.json.gz".into(),
                    Some(vec![]),
                ),
                ct(4),
            ],
        ],
        settled: settled.clone(),
    };
    let dead = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let s = Settings {
        router: Router::default(),
        ..settings(2)
    };
    let summary = pipeline::run(
        &mut source,
        &s,
        Box::new(logferry::sink::dir::DirSink::new(out.path()).unwrap()),
        Arc::new(DeadLetters::new(dead.path())),
        false,
    );
    let mut got = settled.lock().unwrap().clone();
    got.sort();
    assert_eq!(got, vec![(0, true), (1, false), (2, true)], "{summary}");
    assert_eq!(summary.rows(), 4, "{summary}");
}
