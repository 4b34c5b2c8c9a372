//! Splits JSON by structure. When a whole record (an object) is in the buffer, the validating
//! JSON cursor reads it: that finds its end, validates it and indexes its top-level members in
//! one pass, and the record is handed on marked [`Check::Valid`] or [`Check::Minified`] so the
//! mapper never reads it twice. Everything else (records cut by the end of a read, broken
//! records, bytes between records) goes through a byte loop that tracks strings (skipped with
//! a word-at-a-time search) and nesting depth (a counter that saturates: depth costs nothing
//! and cannot overflow a stack); such records are validated by the mapper, which reports what
//! is wrong.
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
//!
//! # Design: two small state machines over one scanner
//!
//! The splitter does not parse JSON (the cursor does, record by record); it only has to know
//! where records start and end, so its state is small and explicit:
//! - the *lexical* state [`Lex`]: structure, inside a string, or (JSON Lines) at the start of
//!   a line; with the scan position `pos` and the nesting `depth`, this is the scanner both
//!   modes share;
//! - the *layout* state [`State`]: for [`Mode::Values`] a single state (every value at depth 0
//!   is a record); for [`Mode::Records`] where the scan is in the document (before it, at a
//!   key, in a member's value, in the `Records` array, after it);
//! - the record in progress, [`Open`] (where it starts, whether it is a bare number or
//!   literal, whether it is being skipped as too large).
//!
//! The scan loop is compiled once per mode (a const generic), so the per-byte handlers
//! ([`JsonSplitter::values_byte`], [`JsonSplitter::document_byte`]) carry no mode checks.
//! This replaced a struct of nine loose flags (`in_str`, `expect_key`, `in_records`, ...)
//! whose legal combinations were implicit; the behaviour is the same, byte for byte (the
//! tests in `src/frame/tests.rs`, `src/frame/json/tests.rs` and `tests/fuzz_regressions.rs`,
//! and the fuzz targets in `fuzz/`, pin it).
//!
//! Offsets kept across reads (`pos`, a record's or key's start, the control-byte watermark)
//! are positions in the framer's buffer: [`Splitter::rebase`] moves them when the framer
//! releases the buffer's head, and never past what [`Splitter::keep_from`] asked to keep
//! (checked with `debug_assert!`). Offsets reported in errors are absolute (`base` + buffer
//! position), so releasing bytes never changes them.

use memchr::memchr3;

use crate::json::{has_controls, quote_or_backslash, Cursor, MemberSpan};

use super::{Check, End, FrameError, Span, Splitter};

/// What the records of an object are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The elements of the top-level `Records` array of one JSON document (CloudTrail).
    Records,
    /// Every top-level value of a sequence of JSON values (GuardDuty JSON Lines).
    Values,
}

/// The lexical state of the byte scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lex {
    /// Outside strings.
    Code,
    /// Outside strings, just after a newline ([`Mode::Values`] only: a `{` here while a value
    /// is open resynchronises, see the module doc). Never entered in [`Mode::Records`].
    LineStart,
    /// Inside a string: the next unescaped `"` ends it (in [`Mode::Values`], a raw newline
    /// ends it too: it cannot be in a valid string, the line is broken).
    Str,
}

/// Where the scan is in the object's layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// [`Mode::Values`], the only state of that mode: the records are the values at depth 0.
    Values,
    /// [`Mode::Records`], before the document's opening `{` (depth 0). Whitespace, `,` and `:`
    /// are passed over; any other byte is a fault.
    Before,
    /// [`Mode::Records`], inside the top-level object (depth >= 1).
    In(Member),
    /// [`Mode::Records`], after the document's closing `}` (depth 0). `trailing_at`: the
    /// absolute offset of the first byte after it that is not whitespace, a fault reported
    /// at the end.
    After { trailing_at: Option<u64> },
}

/// Where the scan is among the top-level object's members ([`State::In`]). Keys and the
/// `Records` array are recognised at depth 1 only; deeper, this state just waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Member {
    /// The next string at depth 1 is a key: after the `{` or a `,`, or after a key that was
    /// too long and was forgotten (see [`Splitter::skip_current`]).
    Key,
    /// In a key whose text starts at buffer offset `start` (just after its `"`); the lexical
    /// state is [`Lex::Str`].
    InKey { start: usize },
    /// After a key, in or before its value. `records`: the key was `Records`, so a `[` at
    /// depth 1 opens the records array (until a `,` at depth 1).
    Value { records: bool },
    /// In the `Records` array: depth >= 2, the records are the values at depth 2.
    Records,
}

/// The record in progress: its first byte is in the buffer (or was, while it is skipped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Open {
    /// Buffer offset of its first byte.
    start: usize,
    /// A bare number or literal (or garbage): it ends at the next delimiter (whitespace, `,`,
    /// a quote, a bracket), not at a closer of its own.
    scalar: bool,
    /// `Some(n)`: the record is too large and is being skipped while it streams past; `n`
    /// bytes of it were already dropped. It is reported as [`Span::Oversized`].
    skipped: Option<u64>,
}

/// The [`Splitter`] for JSON objects, in either [`Mode`] (see the module doc).
pub struct JsonSplitter {
    /// The layout state; its mode is fixed at construction.
    state: State,
    /// The lexical state at `pos`.
    lex: Lex,
    /// Buffer offset of the next byte to scan.
    pos: usize,
    /// Nesting depth at `pos` (open `{`/`[` outside strings). Saturates at `u32::MAX` rather
    /// than overflow, as the cursor bounds its own (`src/json/cursor.rs`).
    depth: u32,
    /// The record in progress, if any (at depth 0 in [`Mode::Values`], 2 in
    /// [`Mode::Records`] and deeper).
    record: Option<Open>,
    /// [`Mode::Records`]: a `Records` array was seen (else the document ends
    /// [`End::NoRecords`]).
    saw_records: bool,
    /// Bytes released before `buf[0]`, for absolute (error) offsets.
    base: u64,
    /// Whether any byte below 0x20 was seen in the object so far (sticky). Minified objects
    /// have none, which lets validation skip the per-string control check.
    controls: bool,
    /// Up to which buffer offset `controls` was checked: a watermark (bytes released
    /// before it need no check; it stops at 0), not a position that must be kept.
    controls_checked: usize,
    /// Top-level member spans of the records validated since the last chunk.
    members: Vec<MemberSpan>,
    /// Top-level keys whose object values are indexed too (see [`JsonSplitter::descending`]).
    descend: &'static [&'static [u8]],
}

impl JsonSplitter {
    pub fn new(mode: Mode) -> Self {
        JsonSplitter {
            state: match mode {
                Mode::Records => State::Before,
                Mode::Values => State::Values,
            },
            lex: Lex::Code,
            pos: 0,
            depth: 0,
            record: None,
            saw_records: false,
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

    fn abs(&self, at: usize) -> u64 {
        self.base + at as u64
    }

    /// Whether the scan is where records are (depth 0 of the values, depth 2 in `Records`),
    /// so that a value starting here is a record.
    fn at_record_level<const VALUES: bool>(&self) -> bool {
        if VALUES {
            self.depth == 0
        } else {
            self.state == State::In(Member::Records) && self.depth == 2
        }
    }

    /// Whether the scan is inside a record's nested values, where only strings and brackets
    /// matter (see [`JsonSplitter::skip_nested`]).
    fn in_nested<const VALUES: bool>(&self) -> bool {
        self.lex == Lex::Code
            && if VALUES {
                self.depth > 0
            } else {
                self.depth > 2 && self.state == State::In(Member::Records)
            }
    }

    /// A record starts at `at` (unless one is already open: a broken value goes on).
    fn open(&mut self, at: usize, scalar: bool) {
        if self.record.is_none() {
            self.record = Some(Open {
                start: at,
                scalar,
                skipped: None,
            });
        }
    }

    /// A scalar record ends at the delimiter at `at`.
    fn end_scalar(&mut self, at: usize, out: &mut Vec<Span>) {
        if matches!(self.record, Some(Open { scalar: true, .. })) {
            self.emit(at, out);
        }
    }

    /// The record in progress (if any) ends just before `end`: hand it on, unchecked, or as
    /// oversized if it was being skipped.
    fn emit(&mut self, end: usize, out: &mut Vec<Span>) {
        debug_assert!(
            end <= self.pos,
            "record end {end} past the scan at {}",
            self.pos
        );
        let Some(r) = self.record.take() else {
            return;
        };
        // A JSON Lines resync cuts at the newline before the `{`; after a skip released
        // that newline the record may start there (an empty record, as before the skip).
        let end = end.max(r.start);
        match r.skipped {
            Some(skipped) => out.push(Span::Oversized {
                bytes: skipped + (end - r.start) as u64,
            }),
            None => {
                debug_assert!(end <= u32::MAX as usize);
                out.push(Span::Record {
                    start: r.start as u32,
                    end: end as u32,
                    check: Check::Unchecked,
                    members: (0, 0),
                })
            }
        }
    }

    /// A record starts at `at`: when all of it is in the buffer, validate it with the JSON
    /// cursor, which finds its end in the same pass, and hand it on as validated so that the
    /// mapper walks it without checking again. Returns false (the byte-level path takes over
    /// and the mapper validates, reporting any error) when the record is incomplete or invalid.
    fn validate_record<const VALUES: bool>(
        &mut self,
        buf: &[u8],
        at: usize,
        out: &mut Vec<Span>,
    ) -> bool {
        debug_assert!(self.record.is_none() && buf.get(at) == Some(&b'{'));
        // JSON Lines: the newlines between records would mark the whole buffer as holding
        // control bytes, so validate within the record's own line first, where a minified
        // finding has none. A record that goes on past its line takes the general path.
        let line_end = if VALUES {
            memchr::memchr(b'\n', &buf[at..])
        } else {
            None
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
    /// `first_member` on, and resumes the scan after it.
    fn accept(
        &mut self,
        at: usize,
        end: usize,
        whitespace: bool,
        first_member: usize,
        out: &mut Vec<Span>,
    ) {
        debug_assert!(at < end && end <= u32::MAX as usize && self.lex == Lex::Code);
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
    }

    /// Inside a record's nested values only strings and brackets matter: a tight loop for
    /// them. Returns at the record's end, at a place the per-byte handlers must see (a newline
    /// in JSON Lines, a string broken by one or an escape cut by the buffer's end), or at the
    /// end of the buffer. Same outcome as the per-byte handlers, only faster.
    fn skip_nested<const VALUES: bool>(&mut self, buf: &[u8], out: &mut Vec<Span>) {
        let record_depth = if VALUES { 0 } else { 2 };
        let mut pos = self.pos;
        while pos < buf.len() {
            match buf[pos] {
                b'"' => {
                    let mut p = pos + 1;
                    loop {
                        let rest = &buf[p..];
                        let hit = if VALUES {
                            memchr3(b'"', b'\\', b'\n', rest)
                        } else {
                            quote_or_backslash(rest)
                        };
                        let Some(i) = hit else {
                            self.lex = Lex::Str;
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
                            // An escape cut by the buffer end, or a raw newline: the string
                            // handler resumes there.
                            _ => {
                                self.lex = Lex::Str;
                                self.pos = at;
                                return;
                            }
                        }
                    }
                    continue;
                }
                b'{' | b'[' => self.depth = self.depth.saturating_add(1),
                b'}' | b']' => {
                    debug_assert!(self.depth > record_depth);
                    self.depth -= 1;
                    if self.depth == record_depth {
                        self.pos = pos + 1;
                        self.emit(pos + 1, out);
                        return;
                    }
                }
                b'\n' if VALUES => break,
                _ => {}
            }
            pos += 1;
        }
        self.pos = pos;
    }

    /// The scan loop of one mode: nested values in the tight loop, strings with a search for
    /// their end, every other byte through the mode's handler.
    fn scan_mode<const VALUES: bool>(
        &mut self,
        buf: &[u8],
        out: &mut Vec<Span>,
    ) -> Result<(), FrameError> {
        while self.pos < buf.len() {
            if self.in_nested::<VALUES>() {
                let before = self.pos;
                self.skip_nested::<VALUES>(buf, out);
                if self.pos != before {
                    continue;
                }
                // At a newline (JSON Lines): the handler below takes it.
            }
            if self.lex == Lex::Str {
                if !self.string::<VALUES>(buf, out) {
                    break;
                }
                continue;
            }
            let at = self.pos;
            let b = buf[at];
            self.pos += 1;
            if VALUES {
                self.values_byte(buf, at, b, out);
            } else {
                self.document_byte(buf, at, b, out)?;
            }
        }
        Ok(())
    }

    /// In a string at `pos`: finds its end. Returns false when the buffer ends first (an
    /// escape cut by the end is left for the next read).
    fn string<const VALUES: bool>(&mut self, buf: &[u8], out: &mut Vec<Span>) -> bool {
        let rest = &buf[self.pos..];
        let hit = if VALUES {
            memchr3(b'"', b'\\', b'\n', rest)
        } else {
            quote_or_backslash(rest)
        };
        let Some(i) = hit else {
            self.pos = buf.len();
            return false;
        };
        let at = self.pos + i;
        match buf[at] {
            b'\\' => {
                if at + 1 >= buf.len() {
                    // The escaped byte has not arrived yet.
                    self.pos = at;
                    return false;
                }
                self.pos = at + 2;
            }
            b'\n' => {
                // (Values only.) A raw newline is never inside a valid JSON string: in JSON
                // Lines the line is broken. The newline itself is scanned next; a top-level
                // string value ends here as a (bad) record.
                self.lex = Lex::Code;
                self.pos = at;
                if self.depth == 0 {
                    self.emit(at, out);
                }
            }
            _ => {
                self.lex = Lex::Code;
                self.pos = at + 1;
                if let State::In(Member::InKey { start }) = self.state {
                    debug_assert!(start <= at);
                    let records = buf.get(start..at) == Some(&b"Records"[..]);
                    self.state = State::In(Member::Value { records });
                } else if self.at_record_level::<VALUES>() {
                    // A string record (a scalar record ended at the opening quote).
                    debug_assert!(!matches!(self.record, Some(Open { scalar: true, .. })));
                    self.emit(at + 1, out);
                }
            }
        }
        true
    }

    /// [`Mode::Values`]: one byte outside strings (at depth 0, or after a newline).
    fn values_byte(&mut self, buf: &[u8], at: usize, b: u8, out: &mut Vec<Span>) {
        if self.lex == Lex::LineStart && b == b'{' && self.depth > 0 {
            // Resynchronise at a line that starts a new object: the open value ends before
            // the newline.
            self.emit(at.saturating_sub(1), out);
            self.depth = 0;
        }
        self.lex = if b == b'\n' {
            Lex::LineStart
        } else {
            Lex::Code
        };
        let top = self.depth == 0;
        match b {
            b'"' => {
                if top {
                    self.end_scalar(at, out);
                    self.open(at, false);
                }
                self.lex = Lex::Str;
            }
            b'{' | b'[' => {
                if top {
                    self.end_scalar(at, out);
                    if b == b'{'
                        && self.record.is_none()
                        && self.validate_record::<true>(buf, at, out)
                    {
                        return;
                    }
                    self.open(at, false);
                }
                self.depth = self.depth.saturating_add(1);
            }
            b'}' | b']' => {
                if top {
                    // A stray closer between records: report it as a bad record, after
                    // whatever broken value was still open before it.
                    self.emit(at, out);
                    out.push(Span::Record {
                        start: at as u32,
                        end: at as u32 + 1,
                        check: Check::Unchecked,
                        members: (0, 0),
                    });
                    return;
                }
                self.depth -= 1;
                if self.depth == 0 {
                    self.emit(at + 1, out);
                }
            }
            b',' | b' ' | b'\t' | b'\r' | b'\n' => {
                if top {
                    self.end_scalar(at, out);
                }
            }
            b':' => {}
            _ => {
                if top {
                    self.open(at, true);
                }
            }
        }
    }

    /// [`Mode::Records`]: one byte outside strings.
    fn document_byte(
        &mut self,
        buf: &[u8],
        at: usize,
        b: u8,
        out: &mut Vec<Span>,
    ) -> Result<(), FrameError> {
        let member = match self.state {
            State::In(m) => m,
            State::Before => {
                debug_assert!(self.depth == 0);
                return match b {
                    b'{' => {
                        self.state = State::In(Member::Key);
                        self.depth = 1;
                        Ok(())
                    }
                    b'"' | b'[' => Err(FrameError::NotAnObject(b as char)),
                    b'}' | b']' => Err(FrameError::Unbalanced(b as char, self.abs(at))),
                    b',' | b':' | b' ' | b'\t' | b'\r' | b'\n' => Ok(()),
                    _ => Err(FrameError::NotAnObject(b as char)),
                };
            }
            State::After { trailing_at: None } if !b.is_ascii_whitespace() => {
                self.state = State::After {
                    trailing_at: Some(self.abs(at)),
                };
                return Ok(());
            }
            State::After { .. } => return Ok(()),
            State::Values => unreachable!("a records scan in values mode"),
        };
        debug_assert!(self.depth >= 1 && !matches!(member, Member::InKey { .. }));
        let in_records = member == Member::Records;
        let top = in_records && self.depth == 2;
        match b {
            b'"' => {
                if top {
                    self.end_scalar(at, out);
                    self.open(at, false);
                } else if self.depth == 1 && member == Member::Key {
                    self.state = State::In(Member::InKey { start: at + 1 });
                }
                self.lex = Lex::Str;
            }
            b'{' | b'[' => {
                if top {
                    self.end_scalar(at, out);
                    if b == b'{'
                        && self.record.is_none()
                        && self.validate_record::<false>(buf, at, out)
                    {
                        return Ok(());
                    }
                    self.open(at, false);
                } else if self.depth == 1
                    && member == (Member::Value { records: true })
                    && b == b'['
                {
                    self.state = State::In(Member::Records);
                    self.saw_records = true;
                }
                self.depth = self.depth.saturating_add(1);
            }
            b'}' | b']' => {
                if top {
                    self.end_scalar(at, out);
                }
                self.depth -= 1;
                if in_records && self.depth == 2 {
                    self.emit(at + 1, out);
                } else if in_records && self.depth == 1 {
                    self.state = State::In(Member::Value { records: false });
                } else if self.depth == 0 {
                    self.state = State::After { trailing_at: None };
                }
            }
            b',' => {
                if top {
                    self.end_scalar(at, out);
                } else if self.depth == 1 {
                    self.state = State::In(Member::Key);
                }
            }
            b' ' | b'\t' | b'\r' | b'\n' => {
                if top {
                    self.end_scalar(at, out);
                }
            }
            b':' => {}
            _ => {
                if top {
                    self.open(at, true);
                }
            }
        }
        Ok(())
    }
}

impl Splitter for JsonSplitter {
    fn scan(&mut self, buf: &[u8], out: &mut Vec<Span>) -> Result<(), FrameError> {
        debug_assert!(
            self.pos <= buf.len(),
            "scan at {} of {}",
            self.pos,
            buf.len()
        );
        debug_assert!(self.record.is_none_or(|r| r.start <= self.pos));
        if self.state == State::Values {
            self.scan_mode::<true>(buf, out)
        } else {
            self.scan_mode::<false>(buf, out)
        }
    }

    fn take_members(&mut self, fresh: Vec<MemberSpan>) -> Vec<MemberSpan> {
        std::mem::replace(&mut self.members, fresh)
    }

    fn keep_from(&self) -> usize {
        let mut keep = self.pos;
        if let Some(r) = self.record {
            keep = keep.min(r.start);
        }
        if let State::In(Member::InKey { start }) = self.state {
            // From the key's opening quote.
            debug_assert!(start >= 1);
            keep = keep.min(start.saturating_sub(1));
        }
        keep
    }

    fn rebase(&mut self, n: usize) {
        debug_assert!(
            n <= self.keep_from(),
            "releasing {n} bytes, but bytes from {} are still needed",
            self.keep_from()
        );
        self.pos = self.pos.saturating_sub(n);
        // A watermark: bytes released unchecked need no check.
        self.controls_checked = self.controls_checked.saturating_sub(n);
        self.base += n as u64;
        if let Some(r) = &mut self.record {
            r.start = r.start.saturating_sub(n);
        }
        if let State::In(Member::InKey { start }) = &mut self.state {
            *start = start.saturating_sub(n);
        }
    }

    fn skip_current(&mut self, _buf: &[u8]) -> (usize, usize) {
        let from = self.keep_from();
        if let Some(r) = &mut self.record {
            debug_assert!(from == r.start && r.start <= self.pos);
            *r.skipped.get_or_insert(0) += (self.pos - r.start) as u64;
            r.start = from;
        }
        // A gigantic key is garbage: forget it rather than buffer it (its string is still
        // scanned to its end, and the next string at depth 1 is taken for a key).
        match self.state {
            State::In(Member::InKey { .. }) => self.state = State::In(Member::Key),
            State::In(Member::Value { records: true }) => {
                self.state = State::In(Member::Value { records: false })
            }
            _ => {}
        }
        let dropped = self.pos - from;
        self.base += dropped as u64;
        self.pos = from;
        self.controls_checked = self.controls_checked.min(from);
        (from, dropped)
    }

    fn finish(&mut self, buf: &[u8], out: &mut Vec<Span>) -> Result<End, FrameError> {
        self.pos = buf.len();
        match self.state {
            State::Values => {
                // The last value, closed or not: hand it on as a record (if it never
                // closed, the mapper rejects it and retries its lines one by one).
                self.emit(buf.len(), out);
                Ok(End::Complete)
            }
            State::Before => {
                if buf.iter().all(u8::is_ascii_whitespace) {
                    Err(FrameError::Truncated(self.abs(buf.len())))
                } else {
                    Err(FrameError::NotAnObject(' '))
                }
            }
            State::In(_) => {
                // Nothing is kept: no record, no key.
                self.state = State::In(Member::Key);
                self.record = None;
                Err(FrameError::Truncated(self.abs(buf.len())))
            }
            State::After { trailing_at } => {
                if let Some(t) = trailing_at {
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

#[cfg(test)]
mod tests;
