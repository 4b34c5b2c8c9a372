//! The dead-letter store: records and objects that cannot be delivered as they are, with the
//! reason, written as zstd-compressed NDJSON under `DIR/`. One line per dead letter; the raw
//! record is kept (as text when it is UTF-8, else base64) so it can be replayed once the cause
//! is fixed.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::Engine;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub time: String,
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    pub reason: String,
    pub detail: String,
    /// Ordinal of the record in its object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_index: Option<u64>,
    /// Offset of the record (or of the fault) in the decompressed object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub byte_offset: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_base64: Option<String>,
    /// A mapped row (JSON object of `table`'s columns) the sink refused: `logferry replay`
    /// sends it again as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row: Option<String>,
}

impl DeadLetter {
    pub fn new(key: &str, reason: &str, detail: String) -> Self {
        DeadLetter {
            time: time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            key: key.to_string(),
            table: None,
            reason: reason.to_string(),
            detail,
            record_index: None,
            byte_offset: None,
            record: None,
            record_base64: None,
            row: None,
        }
    }

    pub fn with_record(mut self, bytes: &[u8]) -> Self {
        match std::str::from_utf8(bytes) {
            Ok(s) => self.record = Some(s.to_string()),
            Err(_) => {
                self.record_base64 = Some(base64::engine::general_purpose::STANDARD.encode(bytes))
            }
        }
        self
    }

    /// The raw record bytes, if the dead letter holds a record.
    pub fn record_bytes(&self) -> Option<Vec<u8>> {
        if let Some(r) = &self.record {
            return Some(r.as_bytes().to_vec());
        }
        self.record_base64
            .as_ref()
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
    }
}

pub struct DeadLetters {
    dir: PathBuf,
    writer: Mutex<Option<zstd::stream::write::Encoder<'static, BufWriter<File>>>>,
}

impl DeadLetters {
    pub fn new(dir: &Path) -> Self {
        DeadLetters {
            dir: dir.to_path_buf(),
            writer: Mutex::new(None),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends one dead letter. The file is created on the first one, so a clean run leaves
    /// no file behind.
    pub fn write(&self, dl: &DeadLetter) -> io::Result<()> {
        let mut line = serde_json::to_vec(dl).map_err(io::Error::other)?;
        line.push(b'\n');
        let mut guard = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            fs::create_dir_all(&self.dir)?;
            let stamp = time::OffsetDateTime::now_utc()
                .format(time::macros::format_description!(
                    "[year][month][day]T[hour][minute][second]Z"
                ))
                .unwrap_or_else(|_| "run".into());
            let path = self
                .dir
                .join(format!("{stamp}-{}.ndjson.zst", std::process::id()));
            let file = BufWriter::new(File::create(path)?);
            *guard = Some(zstd::Encoder::new(file, 3)?);
        }
        match guard.as_mut() {
            // Flushed per letter (they are rare): a crash loses none that was acknowledged.
            Some(w) => {
                w.write_all(&line)?;
                w.flush()
            }
            None => Ok(()),
        }
    }

    /// Finishes the zstd stream and syncs the file, reporting any error.
    pub fn close(&self) -> io::Result<()> {
        let mut guard = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(w) = guard.take() {
            let file = w.finish()?.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()?;
        }
        Ok(())
    }
}

/// Reads every dead letter under `dir` (all `*.ndjson.zst` files, in name order).
pub fn read_dir(dir: &Path) -> io::Result<Vec<DeadLetter>> {
    let mut out = Vec::new();
    for f in files(dir)? {
        out.extend(read_file(&f)?);
    }
    Ok(out)
}

/// The dead-letter files under `dir`, oldest first (names start with their time).
pub fn files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = match fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().ends_with(".ndjson.zst"))
            .collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    files.sort();
    Ok(files)
}

/// The dead letters of one file.
pub fn read_file(f: &Path) -> io::Result<Vec<DeadLetter>> {
    let mut out = Vec::new();
    let reader = BufReader::new(zstd::Decoder::new(File::open(f)?)?);
    for line in reader.lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        out.push(serde_json::from_str(&line).map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", f.display()))
        })?);
    }
    Ok(out)
}
