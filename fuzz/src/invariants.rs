//! Invariant checks shared by the fuzz targets (through `logferry_fuzz::invariants`) and by
//! `tests/fuzz_regressions.rs` (which includes this file with `#[path]`, so the same checks run
//! in `cargo test`). Every check panics with a message when an invariant is broken; that panic
//! is the fuzzers' crash oracle.
//!
//! Only `logferry`, `serde`, `serde_json` and `flate2` are used here: the parent crate has all
//! four as normal dependencies, so the integration test needs no extra dev-dependency.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use logferry::decode::{self, Encoding};
use logferry::frame::Limits;
use logferry::json::{self, Cursor, Fields, Kind};
use logferry::pipeline::{map_object, BatchSettings, Mapped, ObjectEnd};
use logferry::sink::dead_letter::DeadLetter;
use logferry::table::{is_iso8601, ColType, RecordError, Table, FIELD_LIMIT};
use serde_json::Value;

/// Small request limit, so that batching and sealing run on small inputs.
pub const MAX_REQUEST_BYTES: usize = 4096;

pub const SETTINGS: BatchSettings = BatchSettings {
    max_request_bytes: MAX_REQUEST_BYTES,
    gzip_level: 1,
};

/// Small chunks and a small record limit, so that chunk boundaries and the oversize paths run.
pub fn limits() -> Limits {
    Limits {
        chunk_bytes: 4096,
        max_record_bytes: 2048,
    }
}

/// Decompressed output is cut here (zip bombs).
pub const DECODE_CAP: u64 = 16 << 20;

/// The framer reads this many bytes at a time (`frame::READ_BYTES`, private there). Padding an
/// input so that its content starts just before this offset makes records straddle reads.
pub const READ_BYTES: usize = 128 * 1024;

/// The key the objects are mapped under.
pub const KEY: &str = "fuzz/object";

/// Reasons of record-level dead letters (`RecordError::reason`).
pub fn record_reasons() -> Vec<&'static str> {
    let j = json::Error {
        kind: json::ErrorKind::UnexpectedEnd,
        offset: 0,
    };
    [
        RecordError::Json(j),
        RecordError::Utf8(0),
        RecordError::NotAnObject("x"),
        RecordError::NoFields,
        RecordError::RowTooLarge { size: 0, limit: 0 },
        RecordError::FieldCount {
            expected: 0,
            got: 0,
        },
        RecordError::BadNumber {
            field: String::new(),
            expected: "x",
            value: String::new(),
        },
        RecordError::TooLarge(0),
    ]
    .iter()
    .map(RecordError::reason)
    .collect()
}

/// Reasons of object-level dead letters (`FrameError::reason`, and the VPC header).
pub const OBJECT_REASONS: &[&str] = &[
    "truncated_object",
    "corrupt_compression",
    "read_error",
    "not_json",
    "truncated_json",
    "trailing_data",
    "invalid_json",
    "missing_header",
];

/// Decodes `reader` as `logferry::decode` does, up to `cap` bytes. Returns the encoding, the
/// bytes decoded (those before an error included) and the error, if any.
pub fn decode_capped<R: Read>(reader: R, cap: u64) -> (Encoding, Vec<u8>, Option<io::Error>) {
    let (enc, dec) = match decode::open(reader) {
        Ok(x) => x,
        Err(e) => return (Encoding::Plain, Vec::new(), Some(e)),
    };
    let mut out = Vec::new();
    let err = match dec {
        Some(d) => d.take(cap).read_to_end(&mut out).err(),
        None => None,
    };
    (enc, out, err)
}

/// A reader that hands out at most `n` bytes per call (as network streams do).
pub struct Trickle<'a> {
    pub data: &'a [u8],
    pub n: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let k = self.n.min(buf.len()).min(self.data.len());
        buf[..k].copy_from_slice(&self.data[..k]);
        self.data = &self.data[k..];
        Ok(k)
    }
}

/// The `decode` target: sniffing, and decoding with whole and trickled reads, never panics
/// and agrees with itself.
pub fn check_decode(data: &[u8]) {
    let (enc, out, err) = decode_capped(data, DECODE_CAP);
    assert_eq!(enc, Encoding::sniff(data), "open() and sniff() disagree");
    match enc {
        Encoding::Plain => {
            assert!(err.is_none(), "plain read failed: {err:?}");
            assert_eq!(out, data, "plain data changed");
        }
        Encoding::Parquet => assert!(out.is_empty()),
        Encoding::Gzip | Encoding::Zstd => {}
    }
    let n = 1 + data.last().map_or(0, |&b| b as usize % 7);
    let (enc2, out2, err2) = decode_capped(Trickle { data, n }, DECODE_CAP);
    assert_eq!(enc, enc2, "encoding depends on read sizes");
    assert_eq!(
        err.is_some(),
        err2.is_some(),
        "success depends on read sizes ({n} bytes per read): {err:?} vs {err2:?}"
    );
    if err.is_none() {
        assert!(
            out == out2,
            "decoded bytes depend on read sizes ({n} bytes per read)"
        );
    } else {
        let k = out.len().min(out2.len());
        assert!(
            out[..k] == out2[..k],
            "decoded bytes depend on read sizes ({n} bytes per read)"
        );
    }
}

/// What one mapped object gave, in a form that can be compared across encodings of the same
/// content (plain, gzip, padded).
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub end: ObjectEnd,
    pub rows: Vec<Value>,
    pub records: u64,
    pub record_dead: Vec<RecordDead>,
    /// Object-level dead letters: reason, byte offset.
    pub object_dead: Vec<(String, Option<u64>)>,
    pub notes: BTreeMap<String, u64>,
}

/// A record-level dead letter, as compared across encodings.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordDead {
    pub reason: String,
    pub detail: String,
    pub index: Option<u64>,
    pub offset: Option<u64>,
    pub record: Option<Vec<u8>>,
}

impl Outcome {
    /// The same outcome with every byte offset moved back by `pad` (for padded inputs).
    pub fn unpadded(mut self, pad: u64) -> Outcome {
        for d in &mut self.record_dead {
            d.offset = d.offset.map(|o| {
                o.checked_sub(pad)
                    .expect("record offset inside the padding")
            });
        }
        for d in &mut self.object_dead {
            d.1 = d.1.map(|o| {
                o.checked_sub(pad)
                    .expect("object fault offset inside the padding")
            });
        }
        self
    }
}

/// Checks one value of a row against its column's type.
fn check_value(table: Table, col: &str, ty: ColType, v: &Value) {
    let ok = match ty {
        ColType::String => v.as_str().is_some_and(|s| s.len() <= FIELD_LIMIT),
        ColType::DateTime => v.as_str().is_some_and(|s| is_iso8601(s.as_bytes())),
        ColType::Int => v.as_i64().is_some_and(|i| i32::try_from(i).is_ok()),
        ColType::Long => v.as_i64().is_some(),
        ColType::Bool => v.is_boolean(),
        ColType::Dynamic => !v.is_null(),
    };
    assert!(ok, "{}.{col} ({}) holds {v}", table.name(), ty.kql());
}

fn check_row(table: Table, row: &Value) {
    let obj = row
        .as_object()
        .unwrap_or_else(|| panic!("row is not an object: {row}"));
    assert!(!obj.is_empty(), "empty row in a request");
    for (k, v) in obj {
        let Some(col) = table.columns().iter().find(|c| c.name == k) else {
            panic!("row key {k:?} is not a column of {}", table.name());
        };
        check_value(table, col.name, col.ty, v);
    }
}

/// Checks everything `map_object` returned for one object whose bytes (as stored, maybe
/// compressed) are `input`, and returns it as an [`Outcome`].
pub fn check_mapped(table: Table, input: &[u8], m: &Mapped) -> Outcome {
    check_mapped_with(table, input, m, MAX_REQUEST_BYTES)
}

/// [`check_mapped`] for a run with another request limit.
pub fn check_mapped_with(
    table: Table,
    input: &[u8],
    m: &Mapped,
    max_request_bytes: usize,
) -> Outcome {
    let (enc, decoded, _) = decode_capped(input, DECODE_CAP);
    assert!(
        !matches!(m.end, ObjectEnd::Failed(_)),
        "an object held in memory cannot fail transiently, yet it ended {:?} (it would be retried forever)",
        m.end
    );
    if enc == Encoding::Parquet {
        assert_eq!(m.end, ObjectEnd::Skipped("parquet"));
    }

    // Requests: gzip of a JSON array of rows, sized as the batch says, under the limit.
    let mut rows = Vec::new();
    for r in &m.requests {
        assert_eq!(r.table, table, "request for another table");
        let mut body = Vec::new();
        flate2::read::GzDecoder::new(&r.body[..])
            .read_to_end(&mut body)
            .expect("request body is not valid gzip");
        assert_eq!(body.len(), r.raw_bytes, "raw_bytes is not the body's size");
        assert!(
            r.raw_bytes <= max_request_bytes,
            "request of {} bytes",
            r.raw_bytes
        );
        assert_eq!(
            r.batch.json_bytes(),
            body.len(),
            "batch size accounting is off"
        );
        let mut again = Vec::new();
        r.batch.encode_json(0..r.batch.rows(), &mut again);
        assert!(again == body, "re-encoding the batch gives another body");
        let v: Value = serde_json::from_slice(&body).unwrap_or_else(|e| {
            panic!(
                "request body is not valid JSON ({e}): {}",
                String::from_utf8_lossy(&body)
            )
        });
        let Value::Array(arr) = v else {
            panic!("request body is not a JSON array")
        };
        assert!(!arr.is_empty(), "empty request");
        assert_eq!(arr.len(), r.batch.rows(), "rows in body vs batch");
        for row in &arr {
            check_row(table, row);
        }
        rows.extend(arr);
    }
    for t in Table::ALL {
        let want = if t == table { rows.len() as u64 } else { 0 };
        assert_eq!(
            m.tally.rows[t],
            want,
            "tally.rows[{}] vs rows in bodies",
            t.name()
        );
    }

    // Dead letters: record-level (with an index, or GuardDuty's per-line resync ones, which
    // carry the line but no index) and object-level (no record).
    let record_reasons = record_reasons();
    let mut indexed = 0u64;
    let mut resync = 0u64;
    let mut last_index = None;
    let mut by_reason = BTreeMap::<String, u64>::new();
    let mut out = Outcome {
        end: m.end.clone(),
        rows,
        records: m.tally.records,
        record_dead: Vec::new(),
        object_dead: Vec::new(),
        notes: m.tally.notes.0.clone(),
    };
    for dl in &m.dead_letters {
        assert_eq!(
            dl.table.as_deref(),
            Some(table.name()),
            "dead letter without its table: {dl:?}"
        );
        let record = dl.record_bytes();
        if dl.record_index.is_some() || record.is_some() {
            assert!(
                record_reasons.contains(&dl.reason.as_str()),
                "record dead letter with reason {:?}",
                dl.reason
            );
            *by_reason.entry(dl.reason.clone()).or_default() += 1;
            check_record_dead_letter(table, dl, record.as_deref(), &decoded, &mut last_index);
            if dl.record_index.is_some() {
                indexed += 1;
            } else {
                resync += 1;
            }
            out.record_dead.push(RecordDead {
                reason: dl.reason.clone(),
                detail: dl.detail.clone(),
                index: dl.record_index,
                offset: dl.byte_offset,
                record,
            });
        } else {
            assert!(
                OBJECT_REASONS.contains(&dl.reason.as_str()),
                "object dead letter with reason {:?}",
                dl.reason
            );
            assert_eq!(dl.key, KEY);
            if let Some(off) = dl.byte_offset {
                check_fault_offset(&dl.reason, off, &decoded);
            }
            out.object_dead.push((dl.reason.clone(), dl.byte_offset));
        }
    }
    assert!(
        out.object_dead.len() <= 1,
        "several object faults: {:?}",
        out.object_dead
    );
    match &m.end {
        ObjectEnd::DeadLettered(reason) => assert_eq!(
            out.object_dead
                .iter()
                .map(|d| d.0.as_str())
                .collect::<Vec<_>>(),
            [*reason],
            "end vs object dead letters"
        ),
        _ => assert!(
            out.object_dead.is_empty(),
            "object dead letter but end {:?}",
            m.end
        ),
    }
    assert_eq!(
        m.tally.dead_letters.0, by_reason,
        "tally.dead_letters vs record dead letters"
    );

    // Every record became a row or a dead letter. GuardDuty may split one framed record
    // into its lines (resync); each line then becomes a row or an unindexed dead letter, so
    // there the outcomes can only outnumber the records.
    let rows = out.rows.len() as u64;
    if table == Table::GuardDuty {
        assert!(
            rows + indexed + resync >= m.tally.records,
            "{} records but {rows} rows + {indexed} + {resync} dead letters",
            m.tally.records
        );
        assert!(indexed <= m.tally.records);
    } else {
        assert_eq!(resync, 0, "dead letters without a record index");
        assert_eq!(
            m.tally.records,
            rows + indexed,
            "records vs rows + record dead letters"
        );
    }
    out
}

fn check_record_dead_letter(
    table: Table,
    dl: &DeadLetter,
    record: Option<&[u8]>,
    decoded: &[u8],
    last_index: &mut Option<u64>,
) {
    let Some(index) = dl.record_index else {
        assert_eq!(
            table,
            Table::GuardDuty,
            "record dead letter without index: {dl:?}"
        );
        assert!(dl.byte_offset.is_none());
        return;
    };
    assert_eq!(dl.key, KEY);
    assert!(
        last_index.is_none_or(|l| index > l),
        "record indexes not increasing: {last_index:?} then {index}"
    );
    *last_index = Some(index);
    if dl.reason == "record_too_large" {
        assert!(record.is_none() && dl.byte_offset.is_none(), "{dl:?}");
        return;
    }
    let record = record.unwrap_or_else(|| panic!("record dead letter without its record: {dl:?}"));
    let off = dl
        .byte_offset
        .unwrap_or_else(|| panic!("record dead letter without offset: {dl:?}"))
        as usize;
    let end = off + record.len();
    assert!(
        end <= decoded.len(),
        "dead letter record at {off}..{end} beyond the {} decoded bytes",
        decoded.len()
    );
    assert!(
        &decoded[off..end] == record,
        "dead letter byte_offset {off} does not point at its record {:?} (found {:?})",
        String::from_utf8_lossy(record),
        String::from_utf8_lossy(&decoded[off..end])
    );
}

fn check_fault_offset(reason: &str, off: u64, decoded: &[u8]) {
    let off = off as usize;
    assert!(
        off <= decoded.len(),
        "{reason} at byte {off} of {}",
        decoded.len()
    );
    if reason == "trailing_data" {
        assert!(
            decoded.get(off).is_some_and(|b| !b.is_ascii_whitespace()),
            "trailing_data offset {off} does not point at the trailing data (byte {:?}, {} bytes decoded)",
            decoded.get(off),
            decoded.len()
        );
    }
}

/// `map_object` with the fuzzing settings, checked.
pub fn map_checked(table: Table, input: &[u8]) -> Outcome {
    let m = map_object(table, KEY, input, SETTINGS, &limits());
    check_mapped(table, input, &m)
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("writing to a Vec");
    e.finish().expect("writing to a Vec")
}

/// The map targets. Maps `data` as `table` and checks it; then, chosen by the first byte,
/// maps the same content again and requires the same outcome:
/// - `data[0] % 4 == 1`: gzip-compressed;
/// - `data[0] % 4 == 2`: after `\n` padding that puts the READ_BYTES read boundary at a
///   position inside the content chosen by `data[1]`, so records straddle reads.
pub fn check_object(table: Table, data: &[u8]) {
    let plain = map_checked(table, data);
    let Some(&first) = data.first() else { return };
    if Encoding::sniff(data) != Encoding::Plain {
        return;
    }
    match first % 4 {
        1 => check_gzipped(table, data, &plain),
        2 => {
            let at = data.get(1).map_or(0, |&b| b as usize * 4099) % (data.len() + 1);
            check_padded(table, data, at, &plain);
        }
        _ => {}
    }
}

/// The gzip-compressed `data` maps as `plain` (the outcome of `data`) says.
pub fn check_gzipped(table: Table, data: &[u8], plain: &Outcome) {
    let again = map_checked(table, &gzip(data));
    assert_eq!(&again, plain, "gzip-compressed content maps differently");
}

/// `data` after blank lines that put the framer's first read boundary at `data[at]` maps as
/// `plain` says (offsets aside).
pub fn check_padded(table: Table, data: &[u8], at: usize, plain: &Outcome) {
    let pad = READ_BYTES - at.min(data.len());
    let mut padded = vec![b'\n'; pad];
    padded.extend_from_slice(data);
    let again = map_checked(table, &padded).unpadded(pad as u64);
    assert_eq!(
        &again, plain,
        "content maps differently after {pad} bytes of blank lines"
    );
}

/// Nesting depth of brackets outside strings (an upper bound for valid JSON).
pub fn nesting(data: &[u8]) -> usize {
    let (mut depth, mut max, mut in_str, mut esc) = (0usize, 0usize, false, false);
    for &b in data {
        if in_str {
            if esc {
                esc = false;
            } else if b == b'\\' {
                esc = true;
            } else if b == b'"' {
                in_str = false;
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

fn kind_of(v: &Value) -> Kind {
    match v {
        Value::Null => Kind::Null,
        Value::Bool(_) => Kind::Bool,
        Value::Number(_) => Kind::Number,
        Value::String(_) => Kind::String,
        Value::Array(_) => Kind::Array,
        Value::Object(_) => Kind::Object,
    }
}

/// Whether a `\u` escape of a string in `data` is an unpaired UTF-16 surrogate (valid JSON
/// syntax, invalid Unicode: the cursor rejects it, as serde_json does when it builds a string).
pub fn has_lone_surrogate(data: &[u8]) -> bool {
    fn hex4(h: Option<&[u8]>) -> Option<u32> {
        let h = std::str::from_utf8(h?).ok()?;
        if !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u32::from_str_radix(h, 16).ok()
    }
    let (mut i, mut in_str) = (0, false);
    while i < data.len() {
        match (in_str, data[i]) {
            (false, b'"') => in_str = true,
            (true, b'"') => in_str = false,
            (true, b'\\') if data.get(i + 1) == Some(&b'u') => {
                let Some(unit) = hex4(data.get(i + 2..i + 6)) else {
                    i += 2;
                    continue;
                };
                i += 6;
                if (0xDC00..0xE000).contains(&unit) {
                    return true;
                }
                if (0xD800..0xDC00).contains(&unit) {
                    let low = match data.get(i..i + 2) {
                        Some(b"\\u") => hex4(data.get(i + 2..i + 6)),
                        _ => None,
                    };
                    if !low.is_some_and(|l| (0xDC00..0xE000).contains(&l)) {
                        return true;
                    }
                    i += 6;
                }
                continue;
            }
            (true, b'\\') => {
                i += 2;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    false
}

/// The `json_cursor` target: `Cursor::document` accepts exactly the documents serde_json
/// accepts as syntax (`IgnoredAny`, which like the cursor does not care about number range)
/// and that have no unpaired surrogate escape; and the writers built on it round-trip through
/// serde_json.
/// The SIMD fast path for indexing a record either declines or agrees with the cursor
/// exactly: same validity, end, member spans, whitespace and ASCII answers. Checked on any
/// bytes (the framer calls it before the UTF-8 check), from the first `{`.
pub fn check_fast_index(data: &[u8]) {
    let Some(at) = data.iter().position(|&b| b == b'{') else {
        return;
    };
    let doc = &data[at..];
    // Nested objects are indexed under these keys (short ones, which mutations make).
    let descend: &[&[u8]] = &[b"userIdentity", b"sessionContext", b"a", b"b", b""];
    let mut fast = Vec::new();
    let Some(got) = json::fast_index_object(doc, descend, &mut fast) else {
        return;
    };
    assert!(
        got.ascii == doc[..got.end].is_ascii(),
        "fast path ASCII answer wrong"
    );
    if !got.ascii && std::str::from_utf8(&doc[..got.end]).is_err() {
        // The framer refuses the record on its UTF-8 check; the cursor assumes UTF-8.
        return;
    }
    let mut slow = Vec::new();
    let mut c = Cursor::new(doc);
    let want = c.index_object(descend, &mut slow);
    assert!(
        want.is_ok(),
        "fast path accepted what the cursor rejects ({want:?}): {:?}",
        String::from_utf8_lossy(doc)
    );
    assert_eq!(got.end, c.pos(), "record end");
    assert_eq!(fast, slow, "member index");
    assert_eq!(got.whitespace, c.saw_whitespace(), "whitespace");
    // Walking the nested objects from the index meets the same members as scanning them.
    let walked = |index: &[json::MemberSpan]| {
        let mut keys = Vec::new();
        json::walk_index(doc, index, &mut |k, m| walk_keys(k, m, 0, &mut keys));
        keys
    };
    let unnested: Vec<_> = json::top_level(&fast)
        .map(|m| json::MemberSpan {
            nested: json::NOT_INDEXED,
            ..*m
        })
        .collect();
    assert_eq!(walked(&fast), walked(&unnested), "walk of the nested index");
}

/// Descends into every object member, recording each key with its depth.
fn walk_keys<'a>(
    key: &'a [u8],
    m: &mut json::Member<'_, 'a>,
    depth: usize,
    keys: &mut Vec<(usize, &'a [u8])>,
) {
    keys.push((depth, key));
    let _ = m.object(&mut |k, m| walk_keys(k, m, depth + 1, keys));
}

pub fn check_json(data: &[u8]) {
    let ours = Cursor::document(data);
    check_fast_index(data);
    let Ok(text) = std::str::from_utf8(data) else {
        // The cursor's contract is UTF-8 input (callers check it first); not panicking is all.
        return;
    };
    // Writers on plain text: escaping round-trips.
    let mut esc = Vec::new();
    json::write_json_str(data, &mut esc);
    let back: String =
        serde_json::from_slice(&esc).expect("write_json_str output is a JSON string");
    assert_eq!(back, text, "write_json_str does not round-trip");

    if nesting(data) > 100 {
        // Both reject documents nested deeper than 128, but not at the same depth
        // (serde_json at 128, the cursor at 129); stay away from the boundary.
        return;
    }
    let syntax = serde_json::from_slice::<serde::de::IgnoredAny>(data);
    let lone = syntax.is_ok() && has_lone_surrogate(data);
    assert_eq!(
        ours.is_ok(),
        syntax.is_ok() && !lone,
        "cursor {ours:?} vs serde_json {syntax:?} (lone surrogate: {lone}) on {text:?}"
    );
    if lone {
        assert_eq!(
            ours.err().map(|e| e.kind),
            Some(json::ErrorKind::LoneSurrogate)
        );
    }
    let value = serde_json::from_slice::<Value>(data);
    let Ok(v) = ours else {
        assert!(value.is_err());
        return;
    };
    assert_eq!(
        v.raw,
        text.trim_matches([' ', '\t', '\n', '\r']).as_bytes(),
        "raw span"
    );

    // Minify: same value, no whitespace left outside strings.
    let mut min = Vec::new();
    json::minify_into(v.raw, &mut min);
    assert!(min.len() <= v.raw.len());
    let min_doc = Cursor::document(&min).expect("minified text is a JSON document");
    assert_eq!(min_doc.kind, v.kind);
    assert_eq!(nesting(&min), nesting(v.raw));
    // JSON-text column: a JSON string whose content is the minified text.
    let mut col = vec![b'"'];
    let n = json::minify_escaped_into(v.raw, &mut col);
    col.push(b'"');
    let col_text: String = serde_json::from_slice(&col)
        .unwrap_or_else(|e| panic!("minify_escaped_into output is not a JSON string ({e})"));
    assert_eq!(
        col_text.as_bytes(),
        &min[..],
        "minify_escaped_into vs minify_into"
    );
    assert_eq!(n, min.len(), "minify_escaped_into's returned length");

    if let Ok(val) = &value {
        assert_eq!(kind_of(val), v.kind);
        let reparsed: Value = serde_json::from_slice(&min).expect("minified text parses");
        assert_eq!(&reparsed, val, "minify changed the value");
        if let Value::String(s) = val {
            let mut un = Vec::new();
            json::unescape_into(v.str_content().expect("string"), &mut un);
            assert_eq!(un, s.as_bytes(), "unescape_into vs serde_json");
        }
    }
    if v.kind == Kind::Object {
        let mut keys = Vec::new();
        for f in Fields::new(v.raw) {
            let (k, fv) = f.expect("fields of a validated object");
            assert!(v.get(k).is_some(), "get() misses a key Fields gave");
            keys.push((k, fv.kind));
        }
        if let Ok(Value::Object(map)) = &value {
            // Without escapes in keys, the last value of each key is what serde_json keeps.
            if keys.iter().all(|(k, _)| !k.contains(&b'\\')) {
                let mut last = BTreeMap::new();
                for (k, kind) in &keys {
                    last.insert(std::str::from_utf8(k).expect("utf-8 key"), *kind);
                }
                assert_eq!(last.len(), map.len(), "distinct keys");
                for (k, kind) in last {
                    assert_eq!(map.get(k).map(kind_of), Some(kind), "key {k:?}");
                }
            }
        }
    }
    if v.kind == Kind::Array {
        if let Ok(Value::Array(a)) = &value {
            let first = v.first_element();
            assert_eq!(
                first.map(|f| f.kind),
                a.first().map(kind_of),
                "first_element"
            );
        }
    }
}

/// The emulator's body check (`logferry::emulator::validate::rows`: an HTTP body from anyone,
/// after gzip decoding) on a stream of the shipped DCR chosen by the first byte. It never
/// panics, and what it accepts is exactly one NDJSON line per row, each an object whose every
/// key is a declared column of the stream with a value of the declared type.
pub fn check_emulator_rows(data: &[u8]) {
    use logferry::emulator::{dcr, validate};
    use std::sync::OnceLock;
    static DCRS: OnceLock<Vec<dcr::Dcr>> = OnceLock::new();
    let dcrs = DCRS.get_or_init(|| {
        dcr::parse(logferry::emulator::SHIPPED_DCR, true, "dcr-fuzz")
            .expect("the shipped DCR loads")
    });
    let streams: Vec<(&String, &dcr::Stream)> =
        dcrs.iter().flat_map(|d| d.streams.iter()).collect();
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let (name, stream) = streams[sel as usize % streams.len()];
    let Ok(rows) = validate::rows(body, name, stream) else {
        return;
    };
    let text = std::str::from_utf8(&rows.ndjson).expect("stored rows are UTF-8");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len() as u64, rows.count, "one line per row");
    for line in lines {
        let Value::Object(row) = serde_json::from_str::<Value>(line).expect("a stored row is JSON")
        else {
            panic!("a stored row is not an object: {line}");
        };
        for (k, v) in &row {
            let ty = stream
                .columns
                .get(k)
                .unwrap_or_else(|| panic!("{k} is not a column of {name}"));
            assert!(validate::fits(*ty, v), "{k}={v} does not fit {}", ty.name());
        }
    }
}
