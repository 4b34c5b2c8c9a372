//! Splits JSON by structure. When a whole record (an object) is in the buffer, the validating
//! JSON cursor reads it: that finds its end, validates it and indexes its top-level members in
//! one pass, and the record is handed on marked [`Check::Valid`] or [`Check::Minified`] so the
//! mapper never reads it twice. Everything else (records cut by the end of a read, broken
//! records, bytes between records) goes through a byte loop that tracks strings (skipped with
//! a word-at-a-time search) and nesting depth (a counter: depth costs nothing and cannot
//! overflow a stack); such records are validated by the mapper, which reports what is wrong.
//!
//! Two modes:
//! - [`Mode::Records`]: one JSON document; the records are the elements of its top-level
//!   `Records` array (CloudTrail). The key may come after other keys, the document may be
//!   pretty-printed, and a document without the key is reported as [`End::NoRecords`] (digest
//!   files). Bytes outside `Records` are scanned and released.
//! - [`Mode::Values`]: a sequence of top-level values, separated by whitespace or not at all
//!   (GuardDuty JSON Lines, Firehose's concatenated objects). Because JSON Lines puts one
//!   record per line, a line that starts with `{` while a value is still open means the open
//!   value was broken: it is cut there (the mapper will reject it) and splitting resumes, so
//!   one bad line does not swallow the good lines after it.

use memchr::memchr3;

use crate::json::{has_controls, quote_or_backslash, Cursor, MemberSpan};

use super::{Check, End, FrameError, Span, Splitter};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Records,
    Values,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Before,
    Inside,
    After,
}

pub struct JsonSplitter {
    mode: Mode,
    pos: usize,
    in_str: bool,
    depth: u32,
    phase: Phase,
    /// Inside the top-level object, the next string is a key.
    expect_key: bool,
    key_start: Option<usize>,
    value_is_records: bool,
    in_records: bool,
    saw_records: bool,
    elem_start: Option<usize>,
    elem_scalar: bool,
    skipping: bool,
    skipped: u64,
    prev_newline: bool,
    /// Where data after the document starts, as an offset in the object.
    trailing_at: Option<u64>,
    /// Bytes released before `buf[0]`, for error offsets.
    base: u64,
    /// Whether any byte below 0x20 was seen in the object so far (sticky), and up to where
    /// the buffer was checked. Minified objects have none, which lets validation skip the
    /// per-string control check.
    controls: bool,
    controls_checked: usize,
    /// Top-level member spans of the records validated since the last chunk.
    members: Vec<MemberSpan>,
    /// Top-level keys whose object values are indexed too (see [`JsonSplitter::descending`]).
    descend: &'static [&'static [u8]],
}

impl JsonSplitter {
    pub fn new(mode: Mode) -> Self {
        JsonSplitter {
            mode,
            pos: 0,
            in_str: false,
            depth: 0,
            phase: if mode == Mode::Values {
                Phase::Inside
            } else {
                Phase::Before
            },
            expect_key: false,
            key_start: None,
            value_is_records: false,
            in_records: mode == Mode::Values,
            saw_records: false,
            elem_start: None,
            elem_scalar: false,
            skipping: false,
            skipped: 0,
            prev_newline: false,
            trailing_at: None,
            base: 0,
            controls: false,
            controls_checked: 0,
            members: Vec::new(),
            descend: &[],
        }
    }

    /// Indexes the members of the records' top-level object values under these keys as well
    /// (and of the objects in them), for a table that flattens them: its mapper then walks
    /// them from the index without scanning them again.
    pub fn descending(mut self, keys: &'static [&'static [u8]]) -> Self {
        self.descend = keys;
        self
    }

    /// Depth at which the records are.
    fn elem_depth(&self) -> u32 {
        match self.mode {
            Mode::Records => 2,
            Mode::Values => 0,
        }
    }

    fn at_elem_level(&self) -> bool {
        self.in_records && self.depth == self.elem_depth()
    }

    fn emit(&mut self, end: usize, out: &mut Vec<Span>) {
        if let Some(start) = self.elem_start.take() {
            let end = end.max(start);
            if self.skipping {
                out.push(Span::Oversized {
                    bytes: self.skipped + (end - start) as u64,
                });
                self.skipping = false;
                self.skipped = 0;
            } else {
                out.push(Span::Record {
                    start: start as u32,
                    end: end as u32,
                    check: Check::Unchecked,
                    members: (0, 0),
                });
            }
        }
        self.elem_scalar = false;
    }

    fn start_elem(&mut self, at: usize, scalar: bool) {
        if self.elem_start.is_none() {
            self.elem_start = Some(at);
            self.elem_scalar = scalar;
        }
    }

    fn abs(&self, at: usize) -> u64 {
        self.base + at as u64
    }

    /// A record starts at `at`: when all of it is in the buffer, validate it with the JSON
    /// cursor, which finds its end in the same pass, and hand it on as validated so that the
    /// mapper walks it without checking again. Returns false (the byte-level path takes over
    /// and the mapper validates, reporting any error) when the record is incomplete or invalid.
    fn validate_record(&mut self, buf: &[u8], at: usize, out: &mut Vec<Span>) -> bool {
        // JSON Lines: the newlines between records would mark the whole buffer as holding
        // control bytes, so validate within the record's own line first, where a minified
        // finding has none. A record that goes on past its line takes the general path.
        let line_end = match self.mode {
            Mode::Values => memchr::memchr(b'\n', &buf[at..]),
            Mode::Records => None,
        };
        let window = match line_end {
            Some(nl) => &buf[at..at + nl],
            None => &buf[at..],
        };
        let first_member = self.members.len();
        // The SIMD path handles plain valid records; anything else is the cursor's.
        if let Some(ix) = crate::json::fast_index_object(window, self.descend, &mut self.members) {
            if !ix.ascii && std::str::from_utf8(&window[..ix.end]).is_err() {
                self.members.truncate(first_member);
                return false;
            }
            self.accept(at, at + ix.end, ix.whitespace, first_member, out);
            return true;
        }
        self.members.truncate(first_member);
        let controls = match line_end {
            Some(_) => has_controls(window),
            // One document, or objects concatenated without newlines: each byte is checked
            // once per object, not once per record.
            None => {
                if self.controls_checked < buf.len() {
                    let from = self.controls_checked.max(at);
                    self.controls |= has_controls(&buf[from..]);
                    self.controls_checked = buf.len();
                }
                self.controls
            }
        };
        let mut c = Cursor::with_controls(window, controls);
        match c.index_object(self.descend, &mut self.members) {
            Ok(v) => {
                if !v.raw.is_ascii() && std::str::from_utf8(v.raw).is_err() {
                    self.members.truncate(first_member);
                    return false;
                }
                self.accept(at, at + c.pos(), c.saw_whitespace(), first_member, out);
                true
            }
            Err(_) => {
                self.members.truncate(first_member);
                false
            }
        }
    }

    /// Hands on the validated record `at..end`, whose members were indexed from
    /// `first_member` on.
    fn accept(
        &mut self,
        at: usize,
        end: usize,
        whitespace: bool,
        first_member: usize,
        out: &mut Vec<Span>,
    ) {
        out.push(Span::Record {
            start: at as u32,
            end: end as u32,
            check: if whitespace {
                Check::Valid
            } else {
                Check::Minified
            },
            members: (first_member as u32, self.members.len() as u32),
        });
        self.pos = end;
        self.prev_newline = false;
    }

    /// Inside a record's nested values only strings and brackets matter: a tight loop for
    /// them. Returns at the record's end, at a place the general loop must see (a newline in
    /// JSON Lines, a string broken by one), or at the end of the buffer.
    fn skip_nested(&mut self, buf: &[u8], out: &mut Vec<Span>) {
        let values = self.mode == Mode::Values;
        let ed = self.elem_depth();
        let mut pos = self.pos;
        while pos < buf.len() {
            match buf[pos] {
                b'"' => {
                    let mut p = pos + 1;
                    loop {
                        let rest = &buf[p..];
                        let hit = if values {
                            memchr3(b'"', b'\\', b'\n', rest)
                        } else {
                            quote_or_backslash(rest)
                        };
                        let Some(i) = hit else {
                            self.in_str = true;
                            self.pos = buf.len();
                            return;
                        };
                        let at = p + i;
                        match buf[at] {
                            b'\\' if at + 1 < buf.len() => p = at + 2,
                            b'"' => {
                                pos = at + 1;
                                break;
                            }
                            // An escape cut by the buffer end, or a raw newline: the general
                            // loop resumes inside the string.
                            _ => {
                                self.in_str = true;
                                self.pos = at;
                                return;
                            }
                        }
                    }
                    continue;
                }
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth -= 1;
                    if self.depth == ed {
                        self.emit(pos + 1, out);
                        self.pos = pos + 1;
                        return;
                    }
                }
                b'\n' if values => break,
                _ => {}
            }
            pos += 1;
        }
        self.pos = pos;
    }
}

impl Splitter for JsonSplitter {
    fn scan(&mut self, buf: &[u8], out: &mut Vec<Span>) -> Result<(), FrameError> {
        let values = self.mode == Mode::Values;
        while self.pos < buf.len() {
            if !self.in_str
                && self.in_records
                && self.depth > self.elem_depth()
                && !self.prev_newline
            {
                let before = self.pos;
                self.skip_nested(buf, out);
                if self.pos != before || self.pos >= buf.len() {
                    continue;
                }
            }
            if self.in_str {
                let rest = &buf[self.pos..];
                let hit = if values {
                    memchr3(b'"', b'\\', b'\n', rest)
                } else {
                    quote_or_backslash(rest)
                };
                let Some(i) = hit else {
                    self.pos = buf.len();
                    break;
                };
                let at = self.pos + i;
                match buf[at] {
                    b'\\' => {
                        if at + 1 >= buf.len() {
                            // The escaped byte has not arrived yet.
                            self.pos = at;
                            break;
                        }
                        self.pos = at + 2;
                    }
                    b'\n' => {
                        // A raw newline is never inside a valid JSON string: in JSON Lines the
                        // line is broken. Resume at the next line; a top-level string value
                        // ends here as a (bad) record.
                        self.in_str = false;
                        self.pos = at;
                        if self.depth == 0 {
                            self.emit(at, out);
                        }
                    }
                    _ => {
                        self.in_str = false;
                        self.pos = at + 1;
                        if let Some(ks) = self.key_start.take() {
                            self.value_is_records = &buf[ks..at] == b"Records";
                            self.expect_key = false;
                        } else if self.at_elem_level() && !self.elem_scalar {
                            self.emit(at + 1, out);
                        }
                    }
                }
                continue;
            }
            let at = self.pos;
            let b = buf[at];
            self.pos += 1;
            if values && self.prev_newline && b == b'{' && self.depth > 0 {
                // Resynchronise at a line that starts a new object.
                self.emit(at.saturating_sub(1), out);
                self.depth = 0;
            }
            self.prev_newline = b == b'\n';
            if self.phase == Phase::After {
                if !b.is_ascii_whitespace() && self.trailing_at.is_none() {
                    self.trailing_at = Some(self.abs(at));
                }
                continue;
            }
            match b {
                b'"' => {
                    if self.phase == Phase::Before {
                        return Err(FrameError::NotAnObject('"'));
                    }
                    if self.elem_scalar && self.at_elem_level() {
                        self.emit(at, out);
                    }
                    self.in_str = true;
                    if self.mode == Mode::Records && self.depth == 1 && self.expect_key {
                        self.key_start = Some(at + 1);
                    } else if self.at_elem_level() {
                        self.start_elem(at, false);
                    }
                }
                b'{' | b'[' => {
                    if self.phase == Phase::Before {
                        if b != b'{' {
                            return Err(FrameError::NotAnObject('['));
                        }
                        self.phase = Phase::Inside;
                        self.expect_key = true;
                        self.depth = 1;
                        continue;
                    }
                    if self.elem_scalar && self.at_elem_level() {
                        self.emit(at, out);
                    }
                    if self.mode == Mode::Records
                        && self.depth == 1
                        && self.value_is_records
                        && b == b'['
                    {
                        self.in_records = true;
                        self.saw_records = true;
                    } else if self.at_elem_level() {
                        if b == b'{'
                            && self.elem_start.is_none()
                            && self.validate_record(buf, at, out)
                        {
                            continue;
                        }
                        self.start_elem(at, false);
                    }
                    self.depth = self.depth.saturating_add(1);
                }
                b'}' | b']' => {
                    if self.elem_scalar && self.at_elem_level() {
                        self.emit(at, out);
                    }
                    if self.depth == 0 {
                        if values {
                            // A stray closer between records: report it as a bad record,
                            // after whatever broken value was still open before it.
                            self.emit(at, out);
                            out.push(Span::Record {
                                start: at as u32,
                                end: at as u32 + 1,
                                check: Check::Unchecked,
                                members: (0, 0),
                            });
                            continue;
                        }
                        return Err(FrameError::Unbalanced(b as char, self.abs(at)));
                    }
                    self.depth -= 1;
                    if self.at_elem_level() {
                        self.emit(at + 1, out);
                    } else if self.mode == Mode::Records {
                        if self.depth == 1 && self.in_records {
                            self.in_records = false;
                            self.value_is_records = false;
                        } else if self.depth == 0 {
                            self.phase = Phase::After;
                        }
                    }
                }
                b',' => {
                    if self.elem_scalar && self.at_elem_level() {
                        self.emit(at, out);
                    }
                    if self.mode == Mode::Records && self.depth == 1 {
                        self.expect_key = true;
                        self.value_is_records = false;
                    }
                }
                b' ' | b'\t' | b'\r' | b'\n' => {
                    if self.elem_scalar && self.at_elem_level() {
                        self.emit(at, out);
                    }
                }
                b':' => {}
                _ => {
                    if self.phase == Phase::Before {
                        return Err(FrameError::NotAnObject(b as char));
                    }
                    if self.at_elem_level() {
                        self.start_elem(at, true);
                    }
                }
            }
        }
        Ok(())
    }

    fn take_members(&mut self, fresh: Vec<MemberSpan>) -> Vec<MemberSpan> {
        std::mem::replace(&mut self.members, fresh)
    }

    fn keep_from(&self) -> usize {
        let mut keep = self.pos;
        if let Some(e) = self.elem_start {
            keep = keep.min(e);
        }
        if let Some(k) = self.key_start {
            keep = keep.min(k.saturating_sub(1));
        }
        keep
    }

    fn rebase(&mut self, n: usize) {
        self.pos = self.pos.saturating_sub(n);
        self.controls_checked = self.controls_checked.saturating_sub(n);
        self.base += n as u64;
        self.elem_start = self.elem_start.map(|s| s.saturating_sub(n));
        self.key_start = self.key_start.map(|s| s.saturating_sub(n));
    }

    fn skip_current(&mut self, _buf: &[u8]) -> (usize, usize) {
        let from = self.keep_from();
        if let Some(start) = self.elem_start {
            self.skipped += (self.pos - start) as u64;
            self.skipping = true;
            self.elem_start = Some(from);
        }
        // A gigantic key is garbage: forget it rather than buffer it.
        self.key_start = None;
        self.value_is_records = false;
        let dropped = self.pos - from;
        self.base += dropped as u64;
        self.pos = from;
        self.controls_checked = self.controls_checked.min(from);
        (from, dropped)
    }

    fn finish(&mut self, buf: &[u8], out: &mut Vec<Span>) -> Result<End, FrameError> {
        self.key_start = None;
        self.pos = buf.len();
        if self.mode == Mode::Values {
            if self.elem_scalar && !self.in_str {
                self.emit(buf.len(), out);
            } else if self.elem_start.is_some() {
                // The last value never closed: hand it on as a record; the mapper rejects it
                // (and retries its lines one by one).
                self.emit(buf.len(), out);
            }
            return Ok(End::Complete);
        }
        match self.phase {
            Phase::Before => {
                if buf.iter().all(u8::is_ascii_whitespace) {
                    Err(FrameError::Truncated(self.abs(buf.len())))
                } else {
                    Err(FrameError::NotAnObject(' '))
                }
            }
            Phase::Inside => {
                self.elem_start = None;
                Err(FrameError::Truncated(self.abs(buf.len())))
            }
            Phase::After => {
                if let Some(t) = self.trailing_at {
                    Err(FrameError::TrailingData(t))
                } else if self.saw_records {
                    Ok(End::Complete)
                } else {
                    Ok(End::NoRecords)
                }
            }
        }
    }
}
