use super::*;

/// A reader that hands out at most `.1` bytes per read, so records straddle reads.
struct Slow<'a>(&'a [u8], usize);

impl Read for Slow<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.0.len().min(self.1).min(buf.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

/// Frames `input` with reads of `step` bytes and a tiny chunk size, so records straddle reads
/// and chunks everywhere; returns the records as strings.
fn run<S: Splitter>(
    mut s: S,
    input: &[u8],
    step: usize,
    max_record: usize,
) -> (Vec<String>, Result<End, String>) {
    let limits = Limits {
        chunk_bytes: 7,
        max_record_bytes: max_record,
    };
    let mut got = Vec::new();
    let mut next = 0u64;
    let pools = crate::pool::Pools::new(1, 7);
    let end = frame(
        Slow(input, step),
        &mut s,
        &limits,
        &pools,
        &|| false,
        &mut |_| {},
        &mut |c: Chunk| {
            assert_eq!(c.first_record, next);
            next += c.spans.len() as u64;
            for sp in &c.spans {
                match *sp {
                    Span::Record { start, end, .. } => got.push(
                        String::from_utf8_lossy(&c.data[start as usize..end as usize]).into_owned(),
                    ),
                    Span::Oversized { bytes } => got.push(format!("<oversized {bytes}>")),
                }
            }
            true
        },
    );
    (got, end.map_err(|e| e.reason().to_string()))
}

fn every_step<S: Splitter>(
    new: impl Fn() -> S,
    input: &str,
    max_record: usize,
) -> (Vec<String>, Result<End, String>) {
    let first = run(new(), input.as_bytes(), input.len().max(1), max_record);
    for step in 1..input.len().min(40) {
        assert_eq!(
            run(new(), input.as_bytes(), step, max_record),
            first,
            "step {step}"
        );
    }
    first
}

fn records(input: &str) -> (Vec<String>, Result<End, String>) {
    every_step(|| JsonSplitter::new(JsonMode::Records), input, 1 << 20)
}

#[test]
fn cloudtrail_records_any_key_order_and_layout() {
    let (r, e) = records(r#"{"Records":[{"a":1},{"b":"x}\"]"}]}"#);
    assert_eq!(r, vec![r#"{"a":1}"#, r#"{"b":"x}\"]"}"#]);
    assert_eq!(e, Ok(End::Complete));

    let doc = "{\n  \"other\": {\"Records\": [1]},\n  \"Records\" : [\n    { \"a\" : [1, {\"b\":2}] } ,\n    {}\n  ],\n  \"z\": \"Records\"\n}\n";
    let (r, e) = records(doc);
    assert_eq!(r, vec!["{ \"a\" : [1, {\"b\":2}] }", "{}"]);
    assert_eq!(e, Ok(End::Complete));

    // Non-object elements are handed on (the mapper rejects them, the others go on).
    let (r, _) = records(r#"{"Records":[1, "s", null, [2], {"x":true}]}"#);
    assert_eq!(r, vec!["1", "\"s\"", "null", "[2]", r#"{"x":true}"#]);
}

#[test]
fn cloudtrail_document_faults() {
    assert_eq!(
        records(r#"{"logFiles":[{"s3Object":"a"}],"x":null}"#).1,
        Ok(End::NoRecords)
    );
    assert_eq!(records(r#"{"Records":[]}"#), (vec![], Ok(End::Complete)));
    let (r, e) = records(r#"{"Records":[{"a":1},{"b":"#);
    assert_eq!(r, vec![r#"{"a":1}"#]);
    assert_eq!(e, Err("truncated_json".into()));
    assert_eq!(records(r#"[{"a":1}]"#).1, Err("not_json".into()));
    assert_eq!(records("hello").1, Err("not_json".into()));
    assert_eq!(records("").1, Err("truncated_json".into()));
    let (r, e) = records(r#"{"Records":[{"a":1}]} trailing"#);
    assert_eq!(r, vec![r#"{"a":1}"#]);
    assert_eq!(e, Err("trailing_data".into()));
}

#[test]
fn oversized_records_are_skipped_while_streaming() {
    let big = "x".repeat(300);
    let doc = format!(r#"{{"Records":[{{"a":1}},{{"big":"{big}"}},{{"c":3}}]}}"#);
    let (r, e) = every_step(|| JsonSplitter::new(JsonMode::Records), &doc, 64);
    assert_eq!(r.len(), 3);
    assert_eq!(r[0], r#"{"a":1}"#);
    assert!(r[1].starts_with("<oversized "), "{}", r[1]);
    assert_eq!(r[2], r#"{"c":3}"#);
    assert_eq!(e, Ok(End::Complete));
}

fn values(input: &str) -> Vec<String> {
    let (r, e) = every_step(|| JsonSplitter::new(JsonMode::Values), input, 1 << 20);
    assert_eq!(e, Ok(End::Complete));
    r
}

#[test]
fn guardduty_lines_and_concatenated_objects() {
    assert_eq!(
        values("{\"a\":1}\r\n\r\n{\"b\":{\"c\":[]}}{\"d\":2}\n  {\n \"e\": 3\n}\n"),
        vec![
            r#"{"a":1}"#,
            r#"{"b":{"c":[]}}"#,
            r#"{"d":2}"#,
            "{\n \"e\": 3\n}"
        ]
    );
    // A broken line does not swallow the next ones.
    assert_eq!(
        values("{\"a\":1\n{\"b\":2}\n{\"c\":\"unterminated\n{\"d\":4}\n"),
        vec![
            "{\"a\":1",
            r#"{"b":2}"#,
            "{\"c\":\"unterminated",
            r#"{"d":4}"#
        ]
    );
    assert_eq!(values("{\"a\":1}\n{\"b\":"), vec![r#"{"a":1}"#, "{\"b\":"]);
    assert_eq!(values("garbage\n{\"a\":1}"), vec!["garbage", r#"{"a":1}"#]);
}

#[test]
fn lines_strip_crlf_and_blank_lines() {
    let (r, e) = every_step(
        LineSplitter::new,
        "h1 h2\r\n\r\n1 2\n   \n3  4\n5 6",
        1 << 20,
    );
    assert_eq!(r, vec!["h1 h2", "1 2", "3  4", "5 6"]);
    assert_eq!(e, Ok(End::Complete));
    let long = format!("a b\n{}\nc d\n", "z".repeat(100));
    let (r, _) = every_step(LineSplitter::new, &long, 30);
    assert_eq!(
        r,
        vec!["a b".to_string(), "<oversized 100>".into(), "c d".into()]
    );
}

/// Which records the framer validated, for each read size.
fn validated_flags(mode: JsonMode, input: &str, step: usize) -> Vec<bool> {
    let pools = crate::pool::Pools::new(1, 1 << 20);
    let limits = Limits::default();
    let mut s = JsonSplitter::new(mode);
    let mut flags = Vec::new();
    let _ = frame(
        Slow(input.as_bytes(), step),
        &mut s,
        &limits,
        &pools,
        &|| false,
        &mut |_| {},
        &mut |c: Chunk| {
            for sp in &c.spans {
                if let Span::Record { check, .. } = sp {
                    flags.push(*check != Check::Unchecked);
                }
            }
            true
        },
    );
    flags
}

#[test]
fn complete_valid_objects_are_validated_by_the_framer() {
    let doc = r#"{"Records":[{"a":1},{"b":"\ud800"},{"c":[1,2]},7,{"d":"x"}]}"#;
    // Read whole: valid objects are validated; the lone surrogate and the number are not
    // (the mapper reports them).
    assert_eq!(
        validated_flags(JsonMode::Records, doc, doc.len()),
        vec![true, false, true, false, true]
    );
    // A record cut by the end of a read is never marked validated; the mapper checks it.
    let flags = validated_flags(JsonMode::Records, doc, 5);
    assert_eq!(flags.len(), 5);
    assert!(!flags[1] && !flags[3]);
    let lines = "{\"a\":1}\n{\"b\":\n{\"c\":\"\x01\"}\n{\"d\":2}\n";
    assert_eq!(
        validated_flags(JsonMode::Values, lines, lines.len()),
        vec![true, false, false, true]
    );
}

#[test]
fn minified_records_are_told_apart_from_pretty_ones() {
    let pools = crate::pool::Pools::new(1, 1 << 20);
    let doc =
        "{\"Records\":[{\"a\":{\"b\":1}},{ \"a\" : {\"b\": 1} },{\"s\":\"has spaces inside\"}]}";
    let mut checks = Vec::new();
    let _ = frame(
        doc.as_bytes(),
        &mut JsonSplitter::new(JsonMode::Records),
        &Limits::default(),
        &pools,
        &|| false,
        &mut |_| {},
        &mut |c: Chunk| {
            for sp in &c.spans {
                if let Span::Record { check, .. } = sp {
                    checks.push(*check);
                }
            }
            true
        },
    );
    assert_eq!(checks, vec![Check::Minified, Check::Valid, Check::Minified]);
}

#[test]
fn bytes_that_belong_to_no_record_are_released_whatever_is_pending() {
    // A small record, then far more than a chunk of whitespace and other non-record bytes:
    // the buffer (seen through the chunks) stays about one chunk plus one read.
    let pools = crate::pool::Pools::new(1, 4096);
    let limits = Limits {
        chunk_bytes: 4096,
        max_record_bytes: 2048,
    };
    for (mode, input) in [
        (
            JsonMode::Values,
            format!("{{\"a\":1}}{}{{\"b\":2}}", " ".repeat(3 << 20)),
        ),
        (
            JsonMode::Records,
            format!(
                "{{\"Records\":[{{\"a\":1}}],\"x\":\"{}\"}}",
                "A".repeat(3 << 20)
            ),
        ),
    ] {
        let mut largest = 0;
        let mut records = 0;
        let end = frame(
            input.as_bytes(),
            &mut JsonSplitter::new(mode),
            &limits,
            &pools,
            &|| false,
            &mut |_| {},
            &mut |c: Chunk| {
                largest = largest.max(c.data.len());
                records += c.spans.len();
                true
            },
        );
        assert!(end.is_ok(), "{end:?}");
        assert!(
            largest <= 4096 + 2 * READ_BYTES,
            "a chunk of {largest} bytes"
        );
        assert_eq!(records, if mode == JsonMode::Values { 2 } else { 1 });
    }
}

/// While another worker is idle, records are handed on after every read, not a chunk at a
/// time: the tail of a run is shared in pieces. Either way every record arrives once, in
/// order.
#[test]
fn records_are_handed_on_after_each_read_while_a_worker_is_idle() {
    let pools = crate::pool::Pools::new(1, 1 << 20);
    let line = format!("{{\"a\":\"{}\"}}\n", "x".repeat(90));
    let input = line.repeat(20_000); // 2 MB: 2 chunks, 16 reads
    for (worker_idle, chunks_at_least) in [(false, 2), (true, 15)] {
        let (mut chunks, mut records, mut largest) = (0, 0, 0);
        let end = frame(
            input.as_bytes(),
            &mut JsonSplitter::new(JsonMode::Values),
            &Limits::default(),
            &pools,
            &|| worker_idle,
            &mut |_| {},
            &mut |c: Chunk| {
                assert_eq!(c.first_record, records as u64);
                chunks += 1;
                records += c.spans.len();
                largest = largest.max(c.data.len());
                true
            },
        );
        assert!(end.is_ok(), "{end:?}");
        assert_eq!(records, 20_000);
        assert!(
            chunks >= chunks_at_least,
            "{chunks} chunks (worker_idle {worker_idle})"
        );
        if worker_idle {
            assert!(
                largest <= READ_BYTES + line.len(),
                "a chunk of {largest} bytes"
            );
        } else {
            assert!(chunks <= 3, "{chunks} chunks");
        }
    }
}
