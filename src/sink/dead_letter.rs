//! The dead-letter store: records and objects that cannot be delivered as they are, with the
//! reason, written as zstd-compressed NDJSON under `DIR/`. One line per dead letter; the raw
//! record is kept (as text when it is UTF-8, else base64) so it can be replayed once the cause
//! is fixed.

use parking_lot::Mutex;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

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

/// A file is written as `NAME.ndjson.zst.partial` and renamed `NAME.ndjson.zst` once its zstd
/// frame is finished and synced: at the end of the run, or when a letter arrives more than
/// [`ROTATE_AFTER`] after the file was opened (so a long-running service does not keep its
/// letters in an unfinished file for days). A `.partial` file is one being written or one
/// a killed process left; its letters up to the cut are readable ([`read_file_lenient`]).
pub struct DeadLetters {
    dir: PathBuf,
    writer: Mutex<Option<Open>>,
}

struct Open {
    encoder: zstd::stream::write::Encoder<'static, BufWriter<File>>,
    partial: PathBuf,
    opened: std::time::Instant,
}

pub const PARTIAL: &str = ".partial";
const ROTATE_AFTER: std::time::Duration = std::time::Duration::from_secs(300);

impl Open {
    /// Finishes the frame, syncs the file and gives it its final name.
    fn finish(self) -> io::Result<()> {
        let file = self
            .encoder
            .finish()?
            .into_inner()
            .map_err(|e| e.into_error())?;
        file.sync_all()?;
        let done = self.partial.with_extension("");
        fs::rename(&self.partial, done)
    }
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
        let mut guard = self.writer.lock();
        if guard
            .as_ref()
            .is_some_and(|o| o.opened.elapsed() > ROTATE_AFTER)
        {
            if let Some(old) = guard.take() {
                old.finish()?;
            }
        }
        if guard.is_none() {
            fs::create_dir_all(&self.dir)?;
            let stamp = time::OffsetDateTime::now_utc()
                .format(time::macros::format_description!(
                    "[year][month][day]T[hour][minute][second]Z"
                ))
                .unwrap_or_else(|_| "run".into());
            let partial = self.dir.join(format!(
                "{stamp}-{}.ndjson.zst{PARTIAL}",
                std::process::id()
            ));
            let file = BufWriter::new(File::create(&partial)?);
            *guard = Some(Open {
                encoder: zstd::Encoder::new(file, 3)?,
                partial,
                opened: std::time::Instant::now(),
            });
        }
        match guard.as_mut() {
            // Flushed per letter (they are rare): a process that dies loses none that was
            // acknowledged (the OS has it); the file is synced when it is finished.
            Some(o) => {
                o.encoder.write_all(&line)?;
                o.encoder.flush()
            }
            None => Ok(()),
        }
    }

    /// Finishes the zstd stream, syncs and renames the file, reporting any error.
    pub fn close(&self) -> io::Result<()> {
        let mut guard = self.writer.lock();
        match guard.take() {
            Some(o) => o.finish(),
            None => Ok(()),
        }
    }
}

/// Reads every dead letter under `dir` (all finished `*.ndjson.zst` files, in name order).
pub fn read_dir(dir: &Path) -> io::Result<Vec<DeadLetter>> {
    let mut out = Vec::new();
    for f in files(dir, false)? {
        out.extend(read_file(&f)?);
    }
    Ok(out)
}

/// The dead-letter files under `dir`, oldest first (names start with their time); with
/// `partial`, also the unfinished ones.
pub fn files(dir: &Path, partial: bool) -> io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = match fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let name = p.to_string_lossy();
                name.ends_with(".ndjson.zst")
                    || (partial && name.ends_with(&format!(".ndjson.zst{PARTIAL}")))
            })
            .collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    files.sort();
    Ok(files)
}

/// The dead letters of one finished file.
pub fn read_file(f: &Path) -> io::Result<Vec<DeadLetter>> {
    let (letters, cut) = read_file_lenient(f)?;
    match cut {
        None => Ok(letters),
        Some(e) => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {e}", f.display()),
        )),
    }
}

/// The dead letters of a file up to where it ends or is cut (a file a killed process left
/// unfinished), and what cut it.
pub fn read_file_lenient(f: &Path) -> io::Result<(Vec<DeadLetter>, Option<String>)> {
    let mut out = Vec::new();
    let reader = BufReader::new(zstd::Decoder::new(File::open(f)?)?);
    for line in reader.lines() {
        let line = match line {
            Ok(l) => l,
            Err(e) => return Ok((out, Some(e.to_string()))),
        };
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(&line) {
            Ok(dl) => out.push(dl),
            // A line cut in the middle by the kill.
            Err(e) => return Ok((out, Some(e.to_string()))),
        }
    }
    Ok((out, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_of_a_killed_writer_are_readable_up_to_the_cut() {
        let dir = tempfile::tempdir().unwrap();
        let store = DeadLetters::new(dir.path());
        store
            .write(&DeadLetter::new("a", "r", "one".into()))
            .unwrap();
        store
            .write(&DeadLetter::new("b", "r", "two".into()))
            .unwrap();
        // Killed: the frame is never finished, the file keeps its partial name.
        let open = store.writer.lock().take().unwrap();
        std::mem::forget(open);
        assert!(files(dir.path(), false).unwrap().is_empty());
        let partial = files(dir.path(), true).unwrap();
        assert_eq!(partial.len(), 1);
        let (letters, cut) = read_file_lenient(&partial[0]).unwrap();
        assert_eq!(
            letters.iter().map(|l| l.key.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert!(cut.is_some());

        // A finished file reads whole under its final name.
        let store = DeadLetters::new(dir.path());
        store
            .write(&DeadLetter::new("c", "r", "three".into()))
            .unwrap();
        store.close().unwrap();
        assert_eq!(read_dir(dir.path()).unwrap().len(), 1);
    }
}
