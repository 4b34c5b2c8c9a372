//! Encoding source values into columns: the `rules` of `testdata/sentinel-tables.json` that all
//! mappers share (absent means no key, 64 KB truncation on a character boundary, JSON-text and
//! dynamic columns, lenient booleans, ISO 8601 pass-through).

use super::{note, Check, ColType, Column, Table, FIELD_LIMIT};
use crate::batch::Batch;
use crate::counters::Counters;
use crate::json::{self, Kind, Value};

/// Why one record could not become a row. Each goes to the dead-letter store; the other
/// records of the object go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("invalid JSON: {0}")]
    Json(#[from] json::Error),
    #[error("invalid UTF-8 at byte {0}")]
    Utf8(usize),
    #[error("record is a JSON {0}, not an object")]
    NotAnObject(&'static str),
    #[error("record has none of the table's source fields")]
    NoFields,
    #[error("row is {size} bytes of JSON, above the request limit of {limit}")]
    RowTooLarge { size: usize, limit: usize },
    #[error("line has {got} fields, the header names {expected}")]
    FieldCount { expected: usize, got: usize },
    #[error("field '{field}' is not a valid {expected}: '{value}'")]
    BadNumber {
        field: String,
        expected: &'static str,
        value: String,
    },
    #[error("record is {0} bytes, above the record size limit")]
    TooLarge(usize),
}

impl RecordError {
    /// Short, stable reason for counters and dead letters.
    pub fn reason(&self) -> &'static str {
        match self {
            RecordError::Json(_) => "invalid_json",
            RecordError::Utf8(_) => "invalid_utf8",
            RecordError::NotAnObject(_) => "not_an_object",
            RecordError::NoFields => "no_mapped_fields",
            RecordError::RowTooLarge { .. } => "row_too_large",
            RecordError::FieldCount { .. } => "field_count",
            RecordError::BadNumber { .. } => "bad_number",
            RecordError::TooLarge(_) => "record_too_large",
        }
    }
}

/// Checks UTF-8 once per record so that the cursor and the writers can slice freely.
pub(crate) fn check_utf8(rec: &[u8]) -> Result<(), RecordError> {
    // Logs are almost always ASCII, which is checked a word at a time.
    if rec.is_ascii() {
        return Ok(());
    }
    std::str::from_utf8(rec)
        .map(|_| ())
        .map_err(|e| RecordError::Utf8(e.valid_up_to()))
}

/// Walks the top-level members of a record that must be a JSON object, with `visit`
/// descending where the table flattens nested objects. An unchecked record is validated
/// whole on the way (every value the visitor leaves is validated as it is skipped, and
/// nothing may follow the object); a record the framer validated is walked trusting it.
pub(crate) fn walk_record<'a>(
    rec: &'a [u8],
    check: Check,
    index: Option<&[json::MemberSpan]>,
    visit: &mut dyn FnMut(&'a [u8], &mut json::Member<'_, 'a>),
) -> Result<(), RecordError> {
    if check != Check::Unchecked {
        // The framer validated the record, and usually indexed its members while doing so.
        return match index {
            Some(index) => {
                json::walk_index(rec, index, visit);
                Ok(())
            }
            None => json::Cursor::trusted(rec).object(visit).map_err(Into::into),
        };
    }
    check_utf8(rec)?;
    if rec.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        let v = json::Cursor::document(rec)?;
        return Err(RecordError::NotAnObject(kind_name(v.kind)));
    }
    let mut c = json::Cursor::new(rec);
    c.object(visit)?;
    c.skip_ws();
    if c.pos() != rec.len() {
        return Err(json::Error {
            kind: json::ErrorKind::TrailingData,
            offset: c.pos(),
        }
        .into());
    }
    Ok(())
}

pub(crate) fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Object => "object",
        Kind::Array => "array",
        Kind::String => "string",
        Kind::Number => "number",
        Kind::Bool => "boolean",
        Kind::Null => "null",
    }
}

/// The row being written.
///
/// A row is written straight into the batch's body in the record's key order (see
/// [`Batch::begin_direct`]) unless a column comes twice (a duplicated key): then the record is
/// mapped again by column, where the last value wins as before. Notes wait for the row to be
/// kept, so that a record mapped twice is noted once.
///
/// The writers take a table's `Col` ([`Column`]); each checks in debug builds that the
/// column is declared with the type it writes, then writes by position.
pub(crate) struct Row<'b> {
    batch: &'b mut Batch,
    notes: &'b mut Counters,
    /// The record's bytes, which the values are slices of.
    rec: &'b [u8],
    /// The record has no insignificant whitespace: nested values are copied as they are.
    minified: bool,
    /// Writing directly: the columns written so far.
    direct: Option<u64>,
    /// A column came twice while writing directly.
    again: bool,
    pending_notes: Vec<(&'static str, usize)>,
}

fn floor_char_boundary(s: &[u8], max: usize) -> usize {
    if s.len() <= max {
        return s.len();
    }
    let mut i = max;
    // UTF-8 continuation bytes are 0b10xxxxxx.
    while i > 0 && (s[i] & 0xC0) == 0x80 {
        i -= 1;
    }
    i
}

/// Maps one record with `fill`, writing directly and, when a column comes twice, again by
/// column. On error the caller rolls the batch's row back.
pub(crate) fn map_row(
    batch: &mut Batch,
    notes: &mut Counters,
    table: Table,
    rec: &[u8],
    minified: bool,
    mut fill: impl FnMut(&mut Row) -> Result<(), RecordError>,
) -> Result<(), RecordError> {
    let mut row = Row::new(batch, notes, rec, minified, true);
    fill(&mut row)?;
    if row.again {
        row.batch.rollback_row();
        row = Row::new(row.batch, row.notes, rec, minified, false);
        fill(&mut row)?;
    }
    let Row {
        batch,
        notes,
        pending_notes,
        ..
    } = row;
    for (what, col) in pending_notes {
        note(notes, what, table, table.columns()[col].name);
    }
    if !batch.end_row() {
        return Err(RecordError::NoFields);
    }
    Ok(())
}

/// Writes plain (unescaped, valid UTF-8) text as a JSON string, truncated on a character
/// boundary at the field limit; true if it was truncated.
pub(crate) fn write_text(text: &[u8], out: &mut Vec<u8>) -> bool {
    let end = floor_char_boundary(text, FIELD_LIMIT);
    json::write_json_str(&text[..end], out);
    end < text.len()
}

impl<'b> Row<'b> {
    fn new(
        batch: &'b mut Batch,
        notes: &'b mut Counters,
        rec: &'b [u8],
        minified: bool,
        direct: bool,
    ) -> Self {
        if direct {
            batch.begin_direct();
        }
        Row {
            batch,
            notes,
            rec,
            minified,
            direct: direct.then_some(0),
            again: false,
            pending_notes: Vec::new(),
        }
    }

    /// Appends `col`'s key and `raw`, a slice of the record. Values up to 32 bytes with 32
    /// bytes of record behind them are copied with one fixed-size copy and a length change: a
    /// `memcpy` call per short value (ids, names, regions, times) showed in `perf`.
    #[inline]
    fn put_raw(&mut self, col: usize, raw: &[u8]) {
        let rec = self.rec;
        let out = self.out(col);
        if raw.len() <= 32 {
            // Where `raw` is in the record; a value from elsewhere wraps to an offset past it.
            let off = (raw.as_ptr() as usize).wrapping_sub(rec.as_ptr() as usize);
            if let Some(block) = rec.get(off..).and_then(|r| r.first_chunk::<32>()) {
                let at = out.len();
                out.extend_from_slice(block);
                out.truncate(at + raw.len());
                return;
            }
        }
        out.extend_from_slice(raw);
    }

    /// Drops what was written and starts the row over (in the same mode).
    pub fn restart(&mut self) {
        self.batch.rollback_row();
        self.pending_notes.clear();
        self.again = false;
        if let Some(written) = &mut self.direct {
            *written = 0;
            self.batch.begin_direct();
        }
    }

    fn note(&mut self, what: &'static str, col: usize) {
        self.pending_notes.push((what, col));
    }

    /// The buffer to append the encoded value of `col` to; a value must follow.
    #[inline]
    fn out(&mut self, col: usize) -> &mut Vec<u8> {
        let Some(written) = &mut self.direct else {
            return self.batch.value_buf(col);
        };
        let bit = 1u64 << col;
        if *written & bit != 0 {
            // Mapped again by column; this value goes nowhere.
            self.again = true;
            return self.batch.scratch();
        }
        *written |= bit;
        self.batch.direct_key(col)
    }

    /// A string column: see [`Row::string_at`].
    #[inline(always)]
    pub fn string(&mut self, col: impl Column, v: Value) {
        debug_assert_eq!(col.ty(), ColType::String, "{col:?}");
        self.string_at(col.index(), v);
    }

    /// A JSON-text string column: see [`Row::json_text_at`].
    #[inline(always)]
    pub fn json_text(&mut self, col: impl Column, v: Value) {
        debug_assert_eq!(col.ty(), ColType::String, "{col:?}");
        self.json_text_at(col.index(), v);
    }

    /// A dynamic column: see [`Row::dynamic_at`].
    #[inline(always)]
    pub fn dynamic(&mut self, col: impl Column, v: Value) {
        debug_assert_eq!(col.ty(), ColType::Dynamic, "{col:?}");
        self.dynamic_at(col.index(), v);
    }

    /// A bool column: see [`Row::boolean_at`].
    #[inline(always)]
    pub fn boolean(&mut self, col: impl Column, v: Value) {
        debug_assert_eq!(col.ty(), ColType::Bool, "{col:?}");
        self.boolean_at(col.index(), v);
    }

    /// A datetime column: see [`Row::datetime_at`].
    #[inline(always)]
    pub fn datetime(&mut self, col: impl Column, v: Value) {
        debug_assert_eq!(col.ty(), ColType::DateTime, "{col:?}");
        self.datetime_at(col.index(), v);
    }

    /// An int column: see [`Row::int_truncated_at`].
    #[inline(always)]
    pub fn int_truncated(&mut self, col: impl Column, v: Value) {
        debug_assert_eq!(col.ty(), ColType::Int, "{col:?}");
        self.int_truncated_at(col.index(), v);
    }

    /// A string column. JSON strings are copied still escaped; other scalars become their
    /// text; objects and arrays their minified JSON text; null means absent.
    fn string_at(&mut self, col: usize, v: Value) {
        match v.kind {
            Kind::Null => {}
            Kind::String => {
                let content = &v.raw[1..v.raw.len() - 1];
                // Escaped length is never below the unescaped length, so a short raw value
                // cannot need truncation.
                if content.len() <= FIELD_LIMIT {
                    self.put_raw(col, v.raw);
                } else {
                    let mut text = Vec::with_capacity(content.len());
                    json::unescape_into(content, &mut text);
                    self.text_at(col, &text);
                }
            }
            Kind::Number if v.raw.len() > FIELD_LIMIT => self.text_at(col, v.raw),
            Kind::Number | Kind::Bool => {
                let out = self.out(col);
                out.push(b'"');
                out.extend_from_slice(v.raw);
                out.push(b'"');
            }
            Kind::Object | Kind::Array => self.json_text_at(col, v),
        }
    }

    /// A string column from plain (unescaped, valid UTF-8) text, truncated at the field limit.
    fn text_at(&mut self, col: usize, text: &[u8]) {
        if write_text(text, self.out(col)) {
            self.note("truncated", col);
        }
    }

    /// A JSON-text string column: the value's minified JSON text, as a JSON string.
    fn json_text_at(&mut self, col: usize, v: Value) {
        if v.is_null() {
            return;
        }
        if v.raw.len() <= FIELD_LIMIT {
            let minified = self.minified;
            let out = self.out(col);
            out.push(b'"');
            if minified {
                json::escape_minified_into(v.raw, out);
            } else {
                json::minify_escaped_into(v.raw, out);
            }
            out.push(b'"');
        } else {
            let mut text = Vec::with_capacity(v.raw.len());
            json::minify_into(v.raw, &mut text);
            self.text_at(col, &text);
        }
    }

    /// A dynamic column: the value itself, minified.
    fn dynamic_at(&mut self, col: usize, v: Value) {
        if v.is_null() {
            return;
        }
        if self.minified {
            self.out(col).extend_from_slice(v.raw);
        } else {
            json::minify_into(v.raw, self.out(col));
        }
    }

    /// A bool column: JSON booleans, or the strings "true"/"false" in any case.
    fn boolean_at(&mut self, col: usize, v: Value) {
        let b = match v.kind {
            Kind::Null => return,
            Kind::Bool => v.raw == b"true",
            Kind::String => {
                let s = &v.raw[1..v.raw.len() - 1];
                if s.eq_ignore_ascii_case(b"true") {
                    true
                } else if s.eq_ignore_ascii_case(b"false") {
                    false
                } else {
                    return self.note("invalid_bool", col);
                }
            }
            _ => return self.note("invalid_bool", col),
        };
        let out = self.out(col);
        out.extend_from_slice(if b { b"true" } else { b"false" });
    }

    /// A datetime column from an ISO 8601 string, passed through as AWS wrote it.
    fn datetime_at(&mut self, col: usize, v: Value) {
        match v.kind {
            Kind::Null => {}
            Kind::String if is_iso8601(&v.raw[1..v.raw.len() - 1]) => {
                self.put_raw(col, v.raw);
            }
            _ => self.note("invalid_datetime", col),
        }
    }

    /// An int column from a number, truncated toward zero (GuardDuty severity 8.9 is 8).
    fn int_truncated_at(&mut self, col: usize, v: Value) {
        let text = match v.kind {
            Kind::Null => return,
            Kind::Number => v.raw,
            Kind::String => &v.raw[1..v.raw.len() - 1],
            _ => return self.note("invalid_int", col),
        };
        let parsed = std::str::from_utf8(text)
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|f| {
                f.is_finite() && f.trunc() >= i32::MIN as f64 && f.trunc() <= i32::MAX as f64
            });
        match parsed {
            Some(f) => {
                let mut buf = itoa::Buffer::new();
                let text = buf.format(f.trunc() as i64);
                self.out(col).extend_from_slice(text.as_bytes());
            }
            None => self.note("invalid_int", col),
        }
    }
}

/// Whether `s` is an ISO 8601 date-time that Azure accepts. The common AWS shapes
/// (`2014-03-06T21:22:54Z`, with optional fractional seconds) are checked field by field
/// with `time`'s calendar validation; anything else goes to `time`'s RFC 3339 parser.
pub fn is_iso8601(s: &[u8]) -> bool {
    fn num(s: &[u8]) -> Option<u32> {
        let mut v = 0u32;
        for &c in s {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + (c - b'0') as u32;
        }
        Some(v)
    }
    let fast = || -> Option<bool> {
        if s.len() < 20
            || s[4] != b'-'
            || s[7] != b'-'
            || s[10] != b'T'
            || s[13] != b':'
            || s[16] != b':'
        {
            return None;
        }
        let frac_ok = match &s[19..] {
            b"Z" => true,
            [b'.', rest @ .., b'Z'] => !rest.is_empty() && rest.iter().all(u8::is_ascii_digit),
            _ => return None,
        };
        let year = num(&s[0..4])? as i32;
        let month = time::Month::try_from(num(&s[5..7])? as u8).ok()?;
        let day = num(&s[8..10])? as u8;
        let date = time::Date::from_calendar_date(year, month, day).is_ok();
        let t = time::Time::from_hms(
            num(&s[11..13])? as u8,
            num(&s[14..16])? as u8,
            num(&s[17..19])? as u8,
        )
        .is_ok();
        Some(frac_ok && date && t)
    };
    match fast() {
        Some(ok) => ok,
        None => std::str::from_utf8(s).is_ok_and(|s| {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_ok()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601() {
        assert!(is_iso8601(b"2014-03-06T21:22:54Z"));
        assert!(is_iso8601(b"2017-04-21T20:47:57.395Z"));
        assert!(is_iso8601(b"2017-04-21T20:47:57+02:00"));
        assert!(!is_iso8601(b"2022-02-30T00:00:00Z"));
        assert!(!is_iso8601(b"2022-02-10T24:00:00Z"));
        assert!(!is_iso8601(b"Jul 19, 2023 9:25:09 PM"));
        assert!(!is_iso8601(b""));
        assert!(!is_iso8601(b"2014-03-06T21:22:54.Z"));
    }

    #[test]
    fn char_boundary() {
        let s = "aé".as_bytes(); // é is two bytes
        assert_eq!(floor_char_boundary(s, 2), 1);
        assert_eq!(floor_char_boundary(s, 3), 3);
    }
}
