//! The JSON splitter's states, offsets and edge cases, driven directly.
//!
//! `frame()` fills 128 KiB per read whatever its reader hands out, so small inputs reach the
//! splitter in one piece there. [`drive`] plays the framer's moves instead (`frame_chunks` in
//! `src/frame/mod.rs`: scan, ship complete records, skip a record over the limit, release
//! bytes that belong to no record) with reads of chosen sizes, so that every read boundary
//! and every release point can be tried.

use super::*;

/// What the framer ships for one record: its absolute offset and bytes, or its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Got {
    Record {
        at: u64,
        bytes: Vec<u8>,
        check: Check,
        members: Vec<MemberSpan>,
    },
    Oversized(u64),
}

/// The framer's moves with reads of `reads()` bytes (at least one while input is left);
/// `share()` after each read says whether to ship the complete records now whatever their
/// size. Returns what was shipped and how the stream ended (the error's `Debug`, offsets
/// included).
pub(super) fn drive<S: Splitter>(
    s: &mut S,
    input: &[u8],
    chunk_bytes: usize,
    max_record: usize,
    reads: &mut dyn FnMut() -> usize,
    share: &mut dyn FnMut() -> bool,
) -> (Vec<Got>, Result<End, String>) {
    let mut buf: Vec<u8> = Vec::new();
    let mut spans: Vec<Span> = Vec::new();
    let mut got = Vec::new();
    let mut offset = 0u64;
    let mut rest = input;

    let flush = |buf: &mut Vec<u8>,
                 spans: &mut Vec<Span>,
                 s: &mut S,
                 offset: &mut u64,
                 got: &mut Vec<Got>,
                 all: bool| {
        if spans.is_empty() {
            return;
        }
        let cut = if all {
            buf.len()
        } else {
            spans
                .iter()
                .rev()
                .find_map(|sp| match sp {
                    Span::Record { end, .. } => Some(*end as usize),
                    Span::Oversized { .. } => None,
                })
                .unwrap_or(0)
        };
        let members = s.take_members(Vec::new());
        for sp in spans.drain(..) {
            got.push(match sp {
                Span::Record {
                    start,
                    end,
                    check,
                    members: (a, b),
                } => Got::Record {
                    at: *offset + start as u64,
                    bytes: buf[start as usize..end as usize].to_vec(),
                    check,
                    members: members[a as usize..b as usize].to_vec(),
                },
                Span::Oversized { bytes } => Got::Oversized(bytes),
            });
        }
        buf.drain(..cut);
        *offset += cut as u64;
        s.rebase(cut);
    };

    loop {
        if rest.is_empty() {
            let end = s.finish(&buf, &mut spans);
            flush(&mut buf, &mut spans, s, &mut offset, &mut got, true);
            return (got, end.map_err(|e| format!("{e:?}")));
        }
        let n = reads().clamp(1, rest.len());
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        let before = spans.len();
        let scanned = s.scan(&buf, &mut spans);
        for sp in &mut spans[before..] {
            if let Span::Record { start, end, .. } = *sp {
                if (end - start) as usize > max_record {
                    *sp = Span::Oversized {
                        bytes: (end - start) as u64,
                    };
                }
            }
        }
        if let Err(e) = scanned {
            flush(&mut buf, &mut spans, s, &mut offset, &mut got, false);
            return (got, Err(format!("{e:?}")));
        }
        let complete = spans
            .iter()
            .rev()
            .find_map(|sp| match sp {
                Span::Record { end, .. } => Some(*end as usize),
                _ => None,
            })
            .unwrap_or(0);
        if complete >= chunk_bytes || (complete > 0 && share()) {
            flush(&mut buf, &mut spans, s, &mut offset, &mut got, false);
        }
        let keep = s.keep_from();
        if buf.len() - keep > max_record {
            flush(&mut buf, &mut spans, s, &mut offset, &mut got, false);
            let (from, len) = s.skip_current(&buf);
            buf.drain(..from + len);
            offset += (from + len) as u64;
            s.rebase(from);
        } else if keep > chunk_bytes {
            flush(&mut buf, &mut spans, s, &mut offset, &mut got, false);
            let keep = s.keep_from();
            buf.drain(..keep);
            offset += keep as u64;
            s.rebase(keep);
        }
    }
}

/// A record as `"at:text"`, an oversized one as `"<oversized N>"`.
fn show(got: &[Got]) -> Vec<String> {
    got.iter()
        .map(|g| match g {
            Got::Record { at, bytes, .. } => format!("{at}:{}", String::from_utf8_lossy(bytes)),
            Got::Oversized(n) => format!("<oversized {n}>"),
        })
        .collect()
}

/// Splits `input` whole, then with every two-read split, then with reads of every size up
/// to 40 bytes (shipping after every read, and only by size, in turn), with a chunk size of
/// 7 bytes; asserts that all agree (records, offsets, end) and returns the answer.
fn split(mode: Mode, input: &str, max_record: usize) -> (Vec<String>, Result<End, String>) {
    let input = input.as_bytes();
    let run = |reads: &mut dyn FnMut() -> usize, share: bool| {
        let (got, end) = drive(
            &mut JsonSplitter::new(mode),
            input,
            7,
            max_record,
            reads,
            &mut || share,
        );
        (show(&got), end)
    };
    let whole = run(&mut || usize::MAX, false);
    for cut in 0..=input.len() {
        let mut first = true;
        let mut reads = || {
            if std::mem::take(&mut first) {
                cut
            } else {
                usize::MAX
            }
        };
        assert_eq!(run(&mut reads, false), whole, "reads cut at {cut}");
    }
    for step in 1..input.len().min(40) {
        for share in [false, true] {
            assert_eq!(
                run(&mut || step, share),
                whole,
                "reads of {step} bytes, share {share}"
            );
        }
    }
    whole
}

fn records(input: &str) -> (Vec<String>, Result<End, String>) {
    split(Mode::Records, input, 1 << 20)
}

fn values(input: &str) -> Vec<String> {
    let (r, end) = split(Mode::Values, input, 1 << 20);
    assert_eq!(end, Ok(End::Complete));
    r
}

/// The states a splitter goes through while `input` arrives one byte at a time, without
/// repeats.
fn states(mode: Mode, input: &str) -> Vec<(State, Lex)> {
    let mut s = JsonSplitter::new(mode);
    let mut seen = vec![(s.state, s.lex)];
    let mut out = Vec::new();
    for n in 1..=input.len() {
        let _ = s.scan(&input.as_bytes()[..n], &mut out);
        if seen.last() != Some(&(s.state, s.lex)) {
            seen.push((s.state, s.lex));
        }
    }
    seen
}

#[test]
fn document_state_transitions() {
    use Lex::{Code, Str};
    use Member::*;
    use State::*;
    let doc = r#" {"a":1,"Records":[7],"b":{"Records":[]}} x"#;
    assert_eq!(
        states(Mode::Records, doc),
        vec![
            (Before, Code),
            (In(Key), Code),
            (In(InKey { start: 3 }), Str),
            (In(Value { records: false }), Code),
            (In(Key), Code),
            (In(InKey { start: 9 }), Str),
            (In(Value { records: true }), Code),
            (In(Records), Code),
            (In(Value { records: false }), Code),
            (In(Key), Code),
            (In(InKey { start: 23 }), Str),
            (In(Value { records: false }), Code),
            // Keys are recognised at depth 1 only.
            (In(Value { records: false }), Str),
            (In(Value { records: false }), Code),
            (After { trailing_at: None }, Code),
            (
                After {
                    trailing_at: Some(42)
                },
                Code
            ),
        ]
    );
    // A `Records` value that is not an array opens nothing; the key holds until a `,`.
    assert_eq!(
        records(r#"{"Records":{"x":[1]}, "Records" :[2]}"#),
        (vec!["34:2".to_string()], Ok(End::Complete))
    );
    assert_eq!(
        records(r#"{"Records":{}[3]}"#),
        (vec!["14:3".to_string()], Ok(End::Complete))
    );
}

#[test]
fn before_the_document() {
    let err = |input: &str| records(input).1.unwrap_err();
    assert_eq!(err(""), "Truncated(0)");
    assert_eq!(err(" \n\t"), "Truncated(3)");
    assert_eq!(err(" [{}]"), "NotAnObject('[')");
    assert_eq!(err("\"Records\""), "NotAnObject('\"')");
    assert_eq!(err("x{}"), "NotAnObject('x')");
    assert_eq!(err("  }"), "Unbalanced('}', 2)");
    // `,` and `:` are passed over before the document (only a fault if nothing follows).
    assert_eq!(err(" ,:"), "NotAnObject(' ')");
    assert_eq!(
        records(r#",{"Records":[1]}"#),
        (vec!["13:1".to_string()], Ok(End::Complete))
    );
}

#[test]
fn after_the_document() {
    assert_eq!(records("{}\r\n "), (vec![], Ok(End::NoRecords)));
    assert_eq!(records(r#"{"Records":[]}"#), (vec![], Ok(End::Complete)));
    // The offset of the first non-whitespace byte, however much was released before it.
    let doc = format!("{{\"Records\":[1]}}{}x{{", " ".repeat(50));
    assert_eq!(
        records(&doc),
        (vec!["12:1".to_string()], Err("TrailingData(65)".into()))
    );
    assert_eq!(
        records(r#"{"Records":[1]}}"#),
        (vec!["12:1".to_string()], Err("TrailingData(15)".into()))
    );
}

#[test]
fn keys_are_matched_exactly_at_depth_one() {
    assert_eq!(
        records(r#"{"x":{"Records":[1]},"Rec\"ords":[2],"Records ":[3],"records":[4]}"#),
        (vec![], Ok(End::NoRecords))
    );
    // A string value "Records" is not a key.
    assert_eq!(
        records(r#"{"x":"Records","y":[5],"Records":[6]}"#),
        (vec!["34:6".to_string()], Ok(End::Complete))
    );
}

#[test]
fn values_lexical_transitions() {
    use Lex::{Code, LineStart, Str};
    let seen: Vec<Lex> = states(Mode::Values, "\"a\\\"\"\n7 [\"]\"\n]\n")
        .into_iter()
        .map(|(state, lex)| {
            assert_eq!(state, State::Values);
            lex
        })
        .collect();
    assert_eq!(
        seen,
        vec![Code, Str, Code, LineStart, Code, Str, Code, LineStart, Code, LineStart]
    );
    // Records mode never enters `LineStart`.
    assert!(states(Mode::Records, "{\n\"Records\"\n:\n[\n1\n]\n}\n")
        .iter()
        .all(|&(_, lex)| lex != LineStart));
}

#[test]
fn records_at_every_read_boundary() {
    let doc = "{\"Records\":[{\"a\":1},{ \"b\" : [1, {\"c\":null}] },{\"d\":\"\\ud800\"},\
               -1.5e3,true,\"s\",[],{},{\"e\":{\"f\":[[]]}}]}";
    let (r, end) = records(doc);
    assert_eq!(
        r,
        vec![
            "12:{\"a\":1}",
            "20:{ \"b\" : [1, {\"c\":null}] }",
            "46:{\"d\":\"\\ud800\"}",
            "61:-1.5e3",
            "68:true",
            "73:\"s\"",
            "77:[]",
            "80:{}",
            "83:{\"e\":{\"f\":[[]]}}",
        ]
    );
    assert_eq!(end, Ok(End::Complete));
    assert_eq!(
        values("{\"a\":1}{\"b\":[{}]} 7\n\"s\"null{\"c\":\"}\"}"),
        vec![
            "0:{\"a\":1}",
            "7:{\"b\":[{}]}",
            "18:7",
            "20:\"s\"",
            "23:null",
            "27:{\"c\":\"}\"}"
        ]
    );
}

#[test]
fn bare_values_end_at_delimiters_only() {
    // A number or literal ends at whitespace, `,`, a quote or a bracket, not at `:`.
    assert_eq!(
        records(r#"{"Records":[1,2 3"x"4[5]6{"a":1}7:8]}"#).0,
        vec![
            "12:1",
            "14:2",
            "16:3",
            "17:\"x\"",
            "20:4",
            "21:[5]",
            "24:6",
            "25:{\"a\":1}",
            "32:7:8"
        ]
    );
    assert_eq!(values("1 2,3\n4"), vec!["0:1", "2:2", "4:3", "6:4"]);
}

#[test]
fn strings_hide_brackets_braces_and_escaped_quotes() {
    let (r, end) = records(r#"{"x":"]}\"{[","Records":["]}\"{[\\",{"a":"}]\"\\\\[{"},"\\"]}"#);
    assert_eq!(
        r,
        vec![r#"25:"]}\"{[\\""#, r#"36:{"a":"}]\"\\\\[{"}"#, r#"55:"\\""#]
    );
    assert_eq!(end, Ok(End::Complete));
    // Records that the cursor rejects take the byte path: same boundaries.
    let (r, _) = records(r#"{"Records":[{"a":"]\"}" x},{"b":"{\\"}]}"#);
    assert_eq!(r, vec![r#"12:{"a":"]\"}" x}"#, r#"27:{"b":"{\\"}"#]);
    assert_eq!(
        values("{\"a\":\"}\\\"{\" x}\n\"[\\\"\"]"),
        vec!["0:{\"a\":\"}\\\"{\" x}", "15:\"[\\\"\"", "20:]"]
    );
}

#[test]
fn nesting_deeper_than_the_cursor_allows() {
    // The cursor stops at `MAX_DEPTH`; the byte path's counter does not.
    let deep = format!("{{\"a\":{}1{}}}", "[".repeat(200), "]".repeat(200));
    let doc = format!("{{\"Records\":[{deep},{{\"b\":2}}]}}");
    let (r, end) = records(&doc);
    assert_eq!(
        r,
        vec![
            format!("12:{deep}"),
            format!("{}:{{\"b\":2}}", 13 + deep.len())
        ]
    );
    assert_eq!(end, Ok(End::Complete));
    let got = drive(
        &mut JsonSplitter::new(Mode::Records),
        doc.as_bytes(),
        1 << 20,
        1 << 20,
        &mut || usize::MAX,
        &mut || false,
    )
    .0;
    let checks: Vec<Check> = got
        .iter()
        .map(|g| match g {
            Got::Record { check, .. } => *check,
            Got::Oversized(_) => panic!("oversized"),
        })
        .collect();
    assert_eq!(checks, vec![Check::Unchecked, Check::Minified]);
}

#[test]
fn depth_saturates() {
    // In the tight loop for nested values.
    let mut s = JsonSplitter::new(Mode::Values);
    s.depth = u32::MAX - 1;
    s.record = Some(Open {
        start: 0,
        scalar: false,
        skipped: None,
    });
    let mut out = Vec::new();
    s.scan(b"[{[", &mut out).unwrap();
    assert_eq!((s.depth, s.pos), (u32::MAX, 3));
    s.scan(b"[{[]", &mut out).unwrap();
    assert_eq!(s.depth, u32::MAX - 1);
    // In the per-byte handler (a line that starts with `[` inside an open value).
    s.lex = Lex::LineStart;
    s.depth = u32::MAX;
    s.scan(b"[{[][", &mut out).unwrap();
    assert_eq!(s.depth, u32::MAX);
    assert!(out.is_empty());
}

#[test]
fn truncated_documents_and_values() {
    let doc = r#"{"Records":[{"a":"}"},[1,{"b":2}],3]}"#;
    let (all, end) = records(doc);
    assert_eq!(end, Ok(End::Complete));
    for n in 0..doc.len() {
        let (r, end) = records(&doc[..n]);
        // Every complete record before the cut, then the fault at the cut.
        assert!(all.starts_with(&r), "{n}: {r:?}");
        assert_eq!(end, Err(format!("Truncated({n})")), "{n}");
    }
    // The last value of a stream is handed on, closed or not.
    let lines = "{\"a\":1}\n[1,{\"b\":\"x";
    for n in 9..lines.len() {
        assert_eq!(
            values(&lines[..n]),
            vec!["0:{\"a\":1}".to_string(), format!("8:{}", &lines[8..n])]
        );
    }
}

#[test]
fn oversized_records_stream_past() {
    let big = "y".repeat(100);
    let doc = format!(
        "{{\"Records\":[{{\"a\":1}},{{\"big\":[\"{big}\"]}},\"{big}\",1{big},{{\"c\":3}}]}}"
    );
    let (r, end) = split(Mode::Records, &doc, 64);
    assert_eq!(
        r,
        vec![
            "12:{\"a\":1}".to_string(),
            "<oversized 112>".into(),
            "<oversized 102>".into(),
            "<oversized 101>".into(),
            "338:{\"c\":3}".into()
        ]
    );
    assert_eq!(end, Ok(End::Complete));
    let lines = format!("{{\"a\":\"{big}\"}}\n\"{big}\n{{\"b\":2}}\n{{\"c\":[\n{{\"d\":4}}");
    let (r, end) = split(Mode::Values, &lines, 64);
    assert_eq!(
        r,
        vec![
            "<oversized 108>".to_string(),
            "<oversized 101>".into(),
            "211:{\"b\":2}".into(),
            "219:{\"c\":[".into(),
            "226:{\"d\":4}".into()
        ]
    );
    assert_eq!(end, Ok(End::Complete));
}

#[test]
fn a_key_too_long_is_forgotten() {
    let doc = format!(r#"{{"{}":1,"Records":[{{"a":1}}]}}"#, "k".repeat(100));
    assert_eq!(
        split(Mode::Records, &doc, 64),
        (vec!["117:{\"a\":1}".to_string()], Ok(End::Complete))
    );
    // Mid-key, the splitter keeps the key from its quote; skipping forgets it.
    let mut s = JsonSplitter::new(Mode::Records);
    let buf = format!("{{\"x\":1,\"{}", "k".repeat(100));
    s.scan(buf.as_bytes(), &mut Vec::new()).unwrap();
    assert_eq!(s.state, State::In(Member::InKey { start: 8 }));
    assert_eq!(s.keep_from(), 7);
    assert_eq!(s.skip_current(buf.as_bytes()), (7, 101));
    assert_eq!(
        (s.state, s.lex, s.pos, s.base),
        (State::In(Member::Key), Lex::Str, 7, 101)
    );
}

#[test]
fn whitespace_everywhere() {
    let doc =
        "\r\n {\r\n\t\"Records\" \t:\r\n [\r\n  {\"a\": 1} ,\r\n\t2\r\n ,\"s\"\t]\r\n}\r\n\r\n";
    assert_eq!(
        records(doc),
        (
            vec![
                "27:{\"a\": 1}".to_string(),
                "40:2".into(),
                "45:\"s\"".into()
            ],
            Ok(End::Complete)
        )
    );
    assert_eq!(
        values(" \r\n{\"a\":1}\r\n\r\n\t {\"b\":2} \n\n"),
        vec!["3:{\"a\":1}", "16:{\"b\":2}"]
    );
    assert!(values(" \r\n\t ").is_empty());
}

#[test]
fn json_lines_resync_at_a_line_that_opens_an_object() {
    // An open object, array or string is cut at the newline before a `{` line.
    assert_eq!(
        values("{\"a\":[1,\n{\"b\":2}\n[{\"c\":\n{\"d\":\"x\n{\"e\":5}\n"),
        vec![
            "0:{\"a\":[1,",
            "9:{\"b\":2}",
            "17:[{\"c\":",
            "24:{\"d\":\"x",
            "32:{\"e\":5}"
        ]
    );
    // Only a `{` right after the newline resyncs; an indented one or a `[` goes on.
    assert_eq!(
        values("{\"a\":\n {\"b\":1}}\n{\"c\":\n[2]}\n"),
        vec!["0:{\"a\":\n {\"b\":1}}", "16:{\"c\":\n[2]}"]
    );
    // A string broken by a newline at the top level is a record of its own.
    assert_eq!(
        values("\"abc\n{\"d\":1}\n\"x\"\n"),
        vec!["0:\"abc", "5:{\"d\":1}", "13:\"x\""]
    );
    // Stray closers between records are records of their own, after any open value.
    assert_eq!(
        values("]{\"a\":1}}\n\"x\n}"),
        vec!["0:]", "1:{\"a\":1}", "8:}", "10:\"x", "13:}"]
    );
}

#[test]
fn offsets_are_kept_and_rebased() {
    let mut s = JsonSplitter::new(Mode::Records);
    let mut out = Vec::new();
    let buf = br#"  {"Records":[{"a":1},{"b":"#;
    s.scan(buf, &mut out).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(s.record.map(|r| r.start), Some(22));
    assert_eq!(s.keep_from(), 22);
    s.rebase(20);
    assert_eq!((s.pos, s.base, s.keep_from()), (buf.len() - 20, 20, 2));
    let buf = &buf[20..];
    assert_eq!(
        format!("{:?}", s.finish(buf, &mut out)),
        "Err(Truncated(27))"
    );
    // A record being skipped keeps its start; the dropped bytes count towards its size.
    let mut s = JsonSplitter::new(Mode::Values);
    let buf = b"{\"a\":1}\n[1,2";
    s.scan(buf, &mut out).unwrap();
    assert_eq!(s.keep_from(), 8);
    assert_eq!(s.skip_current(buf), (8, 4));
    assert_eq!(s.record.map(|r| (r.start, r.skipped)), Some((8, Some(4))));
    s.rebase(8);
    let mut out = Vec::new();
    s.scan(b"]", &mut out).unwrap();
    assert_eq!(out, vec![Span::Oversized { bytes: 5 }]);
    assert_eq!((s.pos, s.base, s.keep_from()), (1, 12, 1));
}

#[test]
fn validated_records_carry_their_check_and_members() {
    let lines = "{\"a\":1,\"b\":[2]}\n{ \"c\": {\"d\": 3} }\n{\"e\":\"\x01\"}\n";
    let (got, end) = drive(
        &mut JsonSplitter::new(Mode::Values).descending(&[b"c"]),
        lines.as_bytes(),
        1 << 20,
        1 << 20,
        &mut || usize::MAX,
        &mut || false,
    );
    assert_eq!(end, Ok(End::Complete));
    let summary: Vec<(Check, usize)> = got
        .iter()
        .map(|g| match g {
            Got::Record { check, members, .. } => (*check, members.len()),
            Got::Oversized(_) => panic!("oversized"),
        })
        .collect();
    // The newline after a minified record does not make it "not minified"; the member
    // under a `descending` key is indexed with its own members; a raw control byte in a
    // string makes the record invalid (the mapper reports it).
    assert_eq!(
        summary,
        vec![
            (Check::Minified, 2),
            (Check::Valid, 2),
            (Check::Unchecked, 0)
        ]
    );
}
