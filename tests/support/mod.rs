//! Test helpers for the AWS sources: a real moto server (S3, SQS, SNS, EventBridge wire
//! protocols) on a free loopback port, and runs of the `logferry` binary against it.
//!
//! moto is installed, pinned, into a virtual environment under `target/` the first time it is
//! needed (about 30 s; PyPI must be reachable). When it cannot be installed or started the
//! test fails with the reason: these tests never skip.

#![allow(dead_code)]

pub mod emulator;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The moto release the tests pin: the notification bodies in `tests/aws_sources.rs` were
/// observed on it.
pub const MOTO_VERSION: &str = "5.2.5";

/// Where cargo put the binaries: `target/debug/` (or a custom target dir).
pub fn target_dir() -> PathBuf {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_logferry"));
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("target"))
}

/// A scratch directory under `target/tmp`, empty.
pub fn scratch(name: &str) -> PathBuf {
    let dir = target_dir()
        .join("tmp")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

fn venv_python() -> PathBuf {
    target_dir().join("moto-venv").join("bin").join("python")
}

fn moto_installed(python: &Path) -> bool {
    Command::new(python)
        .args([
            "-c",
            &format!(
                "import moto, sys; sys.exit(0 if moto.__version__ == '{MOTO_VERSION}' else 1)"
            ),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Installs moto into `target/moto-venv` unless it is there already. Test binaries run one at a
/// time and tests within one share the server, so a process-wide lock is enough.
fn install_moto() -> PathBuf {
    let python = venv_python();
    if moto_installed(&python) {
        return python;
    }
    let venv = target_dir().join("moto-venv");
    eprintln!(
        "installing moto {MOTO_VERSION} into {} (once)",
        venv.display()
    );
    let status = Command::new("python3")
        .args(["-m", "venv", "--clear"])
        .arg(&venv)
        .status();
    assert!(
        status.as_ref().is_ok_and(|s| s.success()),
        "cannot create a Python virtual environment at {} ({status:?}): install python3 with the venv module",
        venv.display()
    );
    let out = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            &format!("moto[server]=={MOTO_VERSION}"),
        ])
        .output()
        .expect("run pip");
    assert!(
        out.status.success(),
        "pip could not install moto {MOTO_VERSION} (PyPI must be reachable): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        moto_installed(&python),
        "moto still not importable after pip install"
    );
    python
}

/// One moto server for the whole test binary. Tests give their buckets and queues unique
/// names, so they do not see each other's state, and keep queues shallow (moto's receive cost
/// grows with queue depth).
pub struct Moto {
    pub endpoint: String,
    pub log: PathBuf,
    io: Mutex<(ChildStdin, BufReader<ChildStdout>)>,
    _child: Child,
}

pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(Moto::start)
}

impl Moto {
    fn start() -> Moto {
        let python = install_moto();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/moto_fixture.py");
        let log = target_dir().join(format!("moto-{}.log", std::process::id()));
        let mut child = Command::new(python)
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(File::create(&log).expect("create moto log"))
            .spawn()
            .expect("start moto");
        let stdin = child.stdin.take().expect("moto stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("moto stdout"));
        let mut line = String::new();
        let n = stdout.read_line(&mut line).unwrap_or(0);
        let hello: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        let Some(endpoint) = hello["endpoint"].as_str() else {
            let log_text = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("moto did not start (read {n} bytes: {line:?}); its log:\n{log_text}");
        };
        Moto {
            endpoint: endpoint.to_string(),
            log,
            io: Mutex::new((stdin, stdout)),
            _child: child,
        }
    }

    /// Runs one set-up operation of `moto_fixture.py` (through boto3, over the wire).
    pub fn call(&self, op: &str, args: Value) -> Value {
        let mut req = args;
        req["op"] = json!(op);
        let mut io = self.io.lock().unwrap_or_else(|e| e.into_inner());
        writeln!(io.0, "{req}").expect("write to moto fixture");
        io.0.flush().expect("flush moto fixture");
        let mut line = String::new();
        io.1.read_line(&mut line).expect("read from moto fixture");
        let answer: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("moto fixture answered {line:?}: {e}"));
        if let Some(err) = answer.get("error") {
            panic!("moto {op} failed: {err}");
        }
        answer["ok"].clone()
    }

    pub fn create_bucket(&self, bucket: &str) {
        self.call("create_bucket", json!({ "bucket": bucket }));
    }

    /// Returns (url, arn, dead-letter queue url when `max_receives` is set).
    pub fn create_queue(
        &self,
        name: &str,
        visibility: u64,
        max_receives: Option<u32>,
    ) -> (String, String, Option<String>) {
        let r = self.call(
            "create_queue",
            json!({ "name": name, "visibility": visibility, "max_receives": max_receives }),
        );
        (
            r["url"].as_str().unwrap_or_default().to_string(),
            r["arn"].as_str().unwrap_or_default().to_string(),
            r["dlq_url"].as_str().map(str::to_string),
        )
    }

    pub fn notify(&self, bucket: &str, queue_arn: &str, mode: &str) {
        self.call(
            "notify",
            json!({ "bucket": bucket, "queue_arn": queue_arn, "mode": mode }),
        );
    }

    pub fn put(&self, bucket: &str, key: &str, path: &Path) {
        self.call(
            "put",
            json!({ "bucket": bucket, "key": key, "path": path.to_string_lossy() }),
        );
    }

    /// Uploads every file under `dir`, its key the relative path with `prefix` in front.
    pub fn put_tree(&self, bucket: &str, prefix: &str, dir: &Path) -> usize {
        let files = files_under(dir);
        for (key, path) in &files {
            self.put(bucket, &format!("{prefix}{key}"), path);
        }
        files.len()
    }

    pub fn send(&self, url: &str, body: &str) {
        self.call("send", json!({ "url": url, "body": body }));
    }

    /// (visible, in flight) message counts.
    pub fn counts(&self, url: &str) -> (u64, u64) {
        let r = self.call("counts", json!({ "url": url }));
        (
            r["visible"].as_u64().unwrap_or(u64::MAX),
            r["in_flight"].as_u64().unwrap_or(u64::MAX),
        )
    }

    pub fn receive(&self, url: &str, wait: u64) -> Vec<Value> {
        match self.call("receive", json!({ "url": url, "wait": wait })) {
            Value::Array(a) => a,
            other => panic!("receive answered {other}"),
        }
    }

    /// The tail of moto's request log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

/// Every file under `dir`, keyed by its relative path with `/` separators, in key order.
pub fn files_under(dir: &Path) -> Vec<(String, PathBuf)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
        for entry in std::fs::read_dir(dir).expect("read dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).expect("under root");
                let key = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                out.push((key, path));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// A `logferry` command pointed at moto, with nothing inherited from the caller's AWS or
/// logferry settings.
pub fn logferry(args: &[&str]) -> Command {
    logferry_at(&moto().endpoint, args)
}

/// [`logferry`] with another endpoint (a fault-injecting proxy in front of moto).
pub fn logferry_at(endpoint: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_logferry"));
    // Defaults relative to the working directory (the azure sink's ./dead-letters) land in a
    // scratch directory, not in the checkout.
    static CWD: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    let cwd = CWD.get_or_init(|| tempfile::tempdir().expect("scratch working directory"));
    cmd.current_dir(cwd.path());
    for (k, _) in std::env::vars() {
        if k.starts_with("LOGFERRY_") || k.starts_with("AWS_") || k.starts_with("AZURE_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("RUST_LOG", "info,aws_config=warn,aws_smithy_runtime=warn")
        .env("LOGFERRY_LOG_FORMAT", "human")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .arg("run")
        .args(["--aws-endpoint", endpoint])
        .args(args);
    cmd
}

/// Runs to the end with a time limit; panics (with the output) when it does not end in time.
pub fn run_to_end(mut cmd: Command, limit: Duration) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start logferry");
    wait_output(child, limit)
}

/// Waits for a spawned child (with piped output) up to `limit`, then kills it and panics.
pub fn wait_output(mut child: Child, limit: Duration) -> Output {
    let started = Instant::now();
    // Drain both pipes on threads so a chatty child never blocks on a full pipe.
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        if let Some(o) = out.as_mut() {
            let _ = o.read_to_end(&mut v);
        }
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        if let Some(e) = err.as_mut() {
            let _ = e.read_to_end(&mut v);
        }
        v
    });
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait logferry") {
            break s;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = t_err.join().unwrap_or_default();
            panic!(
                "logferry ran longer than {limit:?}; stderr:\n{}\nmoto log tail:\n{}",
                String::from_utf8_lossy(&stderr),
                moto().log_tail()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: t_out.join().unwrap_or_default(),
        stderr: t_err.join().unwrap_or_default(),
    }
}

pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub const TABLES: [&str; 3] = ["AWSCloudTrail", "AWSGuardDuty", "AWSVPCFlow"];

/// Every row of every request body under `out/<Table>/`, as canonical JSON text, with how many
/// times it occurs.
pub fn rows(out: &Path) -> BTreeMap<String, usize> {
    let mut rows = BTreeMap::new();
    for table in TABLES {
        let dir = out.join(table);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("dir entry").path();
            if path.extension().is_none_or(|e| e != "gz") {
                continue;
            }
            let mut json = Vec::new();
            flate2::read::GzDecoder::new(File::open(&path).expect("open body"))
                .read_to_end(&mut json)
                .expect("gunzip body");
            let Value::Array(a) = serde_json::from_slice(&json).expect("body is JSON") else {
                panic!("{} is not a JSON array", path.display());
            };
            for row in a {
                *rows.entry(format!("{table} {row}")).or_insert(0) += 1;
            }
        }
    }
    rows
}

/// Runs the dir source over `dir` and returns its rows: the oracle for the same objects read
/// through S3 (the dir path itself is checked against hand-written rows by the golden tests).
pub fn dir_rows(dir: &Path, out: &Path) -> BTreeMap<String, usize> {
    let o = Command::new(env!("CARGO_BIN_EXE_logferry"))
        .env("RUST_LOG", "warn")
        .args(["run", "--quiet", "--source"])
        .arg(format!("dir:{}", dir.display()))
        .arg("--sink")
        .arg(format!("dir:{}", out.display()))
        .output()
        .expect("run logferry on a dir");
    assert!(o.status.code().is_some(), "{}", text(&o));
    rows(out)
}

/// The summary a run wrote with `--summary-json`.
pub fn summary(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("no summary at {}: {e}", path.display()));
    serde_json::from_str(&text).expect("summary is JSON")
}

/// A source counter from the summary (0 when absent).
pub fn source_counter(summary: &Value, name: &str) -> u64 {
    summary["source"][name].as_u64().unwrap_or(0)
}

/// Polls `check` every 50 ms until it is true or `limit` passed.
pub fn wait_until(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Sends a signal to a child process.
pub fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill")
        .args([&format!("-{sig}"), &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{sig} failed");
}

/// A free loopback port (bound and released: a small race, fine on a test machine).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind a free port")
}

/// A plain HTTP/1.0 GET on loopback: (status code, body).
pub fn http_get(port: u16, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").expect("send");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read");
    let code = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

/// The repository's own AWS-shaped sample tree (every log type, plus objects to skip and
/// objects with faults).
pub const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/aws");

pub fn copy_tree(from: &Path, to: &Path) {
    for (key, path) in files_under(from) {
        let dest = to.join(&key);
        std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
        std::fs::copy(&path, &dest).expect("copy");
    }
}

/// Every row of `expected` is in `got` exactly `times` times, and nothing else is.
pub fn assert_rows(
    got: &BTreeMap<String, usize>,
    expected: &BTreeMap<String, usize>,
    times: usize,
) {
    let mut missing = Vec::new();
    let mut wrong = Vec::new();
    for (row, n) in expected {
        match got.get(row) {
            None => missing.push(row),
            Some(g) if *g != n * times => wrong.push((row, *g, n * times)),
            _ => {}
        }
    }
    let extra: Vec<_> = got.keys().filter(|r| !expected.contains_key(*r)).collect();
    assert!(
        missing.is_empty() && wrong.is_empty() && extra.is_empty(),
        "{} rows missing (first: {:?}), {} with a wrong count (first: {:?}), {} unexpected (first: {:?})",
        missing.len(),
        missing.first(),
        wrong.len(),
        wrong.first(),
        extra.len(),
        extra.first()
    );
}

/// Every row of `expected` is in `got` (repeats allowed: at least once), and nothing else is.
pub fn assert_rows_at_least_once(
    got: &BTreeMap<String, usize>,
    expected: &BTreeMap<String, usize>,
) {
    let missing: Vec<_> = expected.keys().filter(|r| !got.contains_key(*r)).collect();
    assert!(
        missing.is_empty(),
        "{} rows lost: {:?}",
        missing.len(),
        missing.first()
    );
    let extra: Vec<_> = got.keys().filter(|r| !expected.contains_key(*r)).collect();
    assert!(extra.is_empty(), "unexpected rows: {:?}", extra.first());
}

pub fn total(rows: &BTreeMap<String, usize>) -> usize {
    rows.values().sum()
}

/// The sample tree under `copies` different prefixes: distinct keys with known rows.
pub fn prefixed_tree(work: &Path, copies: usize) -> PathBuf {
    let tree = work.join("tree");
    for i in 0..copies {
        copy_tree(Path::new(SAMPLES), &tree.join(format!("p{i}")));
    }
    tree
}
