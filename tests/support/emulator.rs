//! The Logs Ingestion emulator (`logferry emulator`) as a child process on a free loopback
//! port, and the settings that point a `logferry` run at it.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// The emulator's built-in principal and DCR.
pub const CLIENT_ID: &str = "logferry-emulator";
pub const CLIENT_SECRET: &str = "emulator-secret";
pub const DCR: &str = "dcr-logferry-emulator";

pub struct Emulator {
    child: Child,
    pub port: u16,
    pub store: PathBuf,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Emulator {
    /// Starts `logferry emulator` with `args`, storing rows under `store`.
    pub fn start(store: &Path, args: &[&str]) -> Emulator {
        std::fs::create_dir_all(store).expect("store dir");
        let mut child = Command::new(env!("CARGO_BIN_EXE_logferry"))
            .env("RUST_LOG", "warn")
            .args(["emulator", "--listen", "127.0.0.1:0", "--store"])
            .arg(store)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start logferry emulator");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read the emulator's first line");
        let port = line
            .trim()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the emulator did not say where it listens: {line:?}"));
        Emulator {
            child,
            port,
            store: store.to_path_buf(),
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Options pointing a run at this emulator with client-secret authentication on `dcrs`
    /// (each `DCR` or `TABLE=DCR`); the secret goes in through the environment.
    pub fn sink_args(&self, dcrs: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = [
            "--sink",
            "azure",
            "--azure-endpoint",
            &self.url(),
            "--azure-authority",
            &self.url(),
            "--azure-tenant-id",
            "emulator-tenant",
            "--azure-client-id",
            CLIENT_ID,
            "--azure-auth",
            "client-secret",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for d in dcrs {
            v.push("--azure-dcr".into());
            v.push(d.to_string());
        }
        v
    }

    fn request(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).ok();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .expect("send");
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).expect("read");
        let resp = String::from_utf8_lossy(&resp).into_owned();
        let code = resp
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(body)
        } else {
            body.to_string()
        };
        (code, body)
    }

    /// `GET /emulator/counts`.
    pub fn counts(&self) -> Value {
        let (code, body) = self.request("GET", "/emulator/counts", "");
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).expect("counts are JSON")
    }

    /// Replaces the fault specs.
    pub fn set_faults(&self, faults: &[&str]) {
        let body = serde_json::to_string(faults).expect("json");
        let (code, text) = self.request("POST", "/emulator/faults", &body);
        assert!((200..300).contains(&code), "{code} {text}");
    }

    pub fn expire_tokens(&self) {
        let (code, text) = self.request("POST", "/emulator/expire-tokens", "");
        assert!((200..300).contains(&code), "{code} {text}");
    }

    /// Every stored row, as `"<Table> <canonical JSON>"` with its count (the shape of
    /// `support::rows`).
    pub fn rows(&self) -> BTreeMap<String, usize> {
        let mut rows = BTreeMap::new();
        for table in super::TABLES {
            let path = self.store.join(format!("{table}.ndjson"));
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                let v: Value = serde_json::from_str(line).expect("stored row is JSON");
                *rows.entry(format!("{table} {v}")).or_insert(0) += 1;
            }
        }
        rows
    }
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}
