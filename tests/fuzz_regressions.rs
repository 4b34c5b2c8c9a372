//! Regression tests from fuzzing (see `fuzz/README.md`): every finding of the fuzz targets as a
//! test, plus hand-written tricky inputs and the seed corpora replayed through the same
//! invariant checks as the fuzz targets (`fuzz/src/invariants.rs`, included below), so the
//! checks also run in `cargo test`.
//!
//! The "Finding N" tests reproduce bugs the fuzzers found in `src/` (all fixed in commit
//! 0a458ac; until then they were `#[ignore = "fuzz finding: ..."]`). A new finding goes here
//! the same way: the minimized input as a test of the behaviour that should hold, marked
//! `#[ignore = "fuzz finding: <one line>"]` until `src/` is fixed.

#[path = "../fuzz/src/invariants.rs"]
#[allow(dead_code)]
mod invariants;

use std::io::Write;
use std::path::Path;

use invariants::{
    check_decode, check_emulator_rows, check_gzipped, check_json, check_mapped, check_mapped_with,
    check_object, check_padded, map_checked, KEY,
};
use logferry::frame::Limits;
use logferry::json::{Cursor, ErrorKind, MAX_DEPTH};
use logferry::pipeline::{map_object, BatchSettings, ObjectEnd};
use logferry::table::Table;
use serde_json::Value;

fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).expect("zstd in memory")
}

fn record_reasons(m: &logferry::pipeline::Mapped) -> Vec<&str> {
    m.dead_letters.iter().map(|d| d.reason.as_str()).collect()
}

// ------------------------------------------------------------------------------------------
// Findings
// ------------------------------------------------------------------------------------------

/// Finding 1 (target `cloudtrail`, minimized to 6 bytes: a zstd frame header asking for a
/// window too large to decode). Any corrupt zstd object (bad checksum, bad block, too large a
/// window) ends `ObjectEnd::Failed`, a transient read failure, so the object is never
/// acknowledged and is retried forever, instead of being dead-lettered as
/// `corrupt_compression` like a corrupt gzip object. The zstd crate reports every decoding
/// error as `io::ErrorKind::Other`, which `FrameError::is_permanent` does not count as a fault
/// of the object.
///
/// Was `#[ignore]`d as a fuzz finding; fixed in 0a458ac.
#[test]
fn corrupt_zstd_object_is_dead_lettered_not_retried() {
    let doc = br#"{"Records":[{"eventName":"A"},{"eventName":"B"}]}"#;
    let mut bad_checksum = zstd(doc);
    let n = bad_checksum.len();
    bad_checksum[n - 1] ^= 0xff;
    let inputs: [(&str, Vec<u8>); 2] = [
        (
            "fuzz-minimized window too large",
            vec![0x28, 0xb5, 0x2f, 0xfd, 0x04, 0xfb],
        ),
        ("checksum flipped", bad_checksum),
    ];
    for (what, input) in inputs {
        let m = map_object(
            Table::CloudTrail,
            KEY,
            &input,
            invariants::SETTINGS,
            &invariants::limits(),
        );
        assert_eq!(
            m.end,
            ObjectEnd::DeadLettered("corrupt_compression"),
            "{what}: a corrupt zstd object must be dead-lettered"
        );
        check_mapped(Table::CloudTrail, &input, &m);
    }
}

/// A corrupt gzip object, for contrast: dead-lettered, as finding 1 expects for zstd.
#[test]
fn corrupt_gzip_object_is_dead_lettered() {
    let mut gz = invariants::gzip(br#"{"Records":[{"eventName":"A"}]}"#);
    let n = gz.len();
    gz[n - 5] ^= 0xff; // the CRC
    let m = map_object(
        Table::CloudTrail,
        KEY,
        &gz,
        invariants::SETTINGS,
        &invariants::limits(),
    );
    assert!(matches!(m.end, ObjectEnd::DeadLettered(_)), "{:?}", m.end);
    check_mapped(Table::CloudTrail, &gz, &m);
}

/// Finding 2 (target `cloudtrail`): the `byte_offset` of a `trailing_data` dead letter points
/// past the end of the object, not at the trailing data, when more than `chunk_bytes` follow
/// the document. `frame()` releases the scanned bytes of a buffer with no records
/// (`buf.drain(..keep)` + `splitter.rebase(keep)`), and `JsonSplitter::rebase` clamps
/// `trailing_at` with `saturating_sub`, so a trailing position inside the released bytes
/// becomes the buffer start: `FrameError::TrailingData` then reports the offset where the
/// buffer starts (the end of the object here) instead of byte 14.
///
/// Was `#[ignore]`d as a fuzz finding; fixed in 0a458ac.
#[test]
fn trailing_data_offset_points_at_the_trailing_data() {
    let mut input = br#"{"Records":[]}x"#.to_vec();
    input.extend(std::iter::repeat_n(b' ', 5000));
    let m = map_object(
        Table::CloudTrail,
        KEY,
        &input,
        invariants::SETTINGS,
        &invariants::limits(),
    );
    assert_eq!(m.end, ObjectEnd::DeadLettered("trailing_data"));
    assert_eq!(m.dead_letters.len(), 1);
    assert_eq!(m.dead_letters[0].byte_offset, Some(14), "offset of the 'x'");
    check_mapped(Table::CloudTrail, &input, &m);
}

/// Finding 3 (target `cloudtrail`, padded mode): when a record above `max_record_bytes` is
/// still in progress at the end of a read, `frame()` skips it with
/// `buf.drain(from..from + len)` but does not account for the dropped bytes in the chunk's
/// `offset`, so every record after it in the same chunk gets a `byte_offset` short by the
/// bytes dropped (here 2500): dead letters point at the wrong bytes of the object. (When the
/// big record completes within one read it is marked oversized without a drain, and the
/// offsets are right: see `offsets_after_an_oversized_record_within_one_read`.)
///
/// Was `#[ignore]`d as a fuzz finding; fixed in 0a458ac.
#[test]
fn offsets_after_an_oversized_record_skipped_while_streaming() {
    let big = ct_record(3000);
    let doc = format!(r#"{{"Records":[{big},1,{}]}}"#, ct_record(100));
    // The first read (READ_BYTES) ends 2500 bytes into the big record, which starts at 12.
    let pad = invariants::READ_BYTES - (12 + 2500);
    let mut input = vec![b'\n'; pad];
    input.extend_from_slice(doc.as_bytes());
    let m = map_object(
        Table::CloudTrail,
        KEY,
        &input,
        invariants::SETTINGS,
        &invariants::limits(),
    );
    assert_eq!(record_reasons(&m), ["record_too_large", "not_an_object"]);
    let expected = pad + 12 + big.len() + 1;
    assert_eq!(input[expected], b'1');
    assert_eq!(
        m.dead_letters[1].byte_offset,
        Some(expected as u64),
        "offset of the `1` record"
    );
    check_mapped(Table::CloudTrail, &input, &m);
}

/// Finding 3 with VPC lines (`LineSplitter::skip_current`, same drain in `frame()`).
/// Was `#[ignore]`d as a fuzz finding; fixed in 0a458ac.
#[test]
fn vpc_offsets_after_an_oversized_line_skipped_while_streaming() {
    let header = "action log-status interface-id\n";
    let long = format!("ACCEPT OK {}", "e".repeat(2990));
    let data = format!("{header}{long}\nbad line with five fields\n");
    let pad = invariants::READ_BYTES - (header.len() + 2500);
    let mut input = vec![b'\n'; pad];
    input.extend_from_slice(data.as_bytes());
    let m = map_object(
        Table::VpcFlow,
        KEY,
        &input,
        invariants::SETTINGS,
        &invariants::limits(),
    );
    assert_eq!(record_reasons(&m), ["record_too_large", "field_count"]);
    let expected = pad + header.len() + long.len() + 1;
    assert_eq!(
        m.dead_letters[1].byte_offset,
        Some(expected as u64),
        "offset of the bad line"
    );
    check_mapped(Table::VpcFlow, &input, &m);
}

#[test]
fn offsets_after_an_oversized_record_within_one_read() {
    let big = ct_record(3000);
    let doc = format!(r#"{{"Records":[{big},1,{}]}}"#, ct_record(100));
    let m = map_checked_raw(Table::CloudTrail, doc.as_bytes());
    assert_eq!(record_reasons(&m), ["record_too_large", "not_an_object"]);
    assert_eq!(
        m.dead_letters[1].byte_offset,
        Some((12 + big.len() + 1) as u64)
    );
}

/// Finding 4 (target `guardduty`, padded mode; minimized to the 4 bytes `"\x1f\n}`). In
/// `Mode::Values`, a top-level string broken by a raw newline leaves its element open
/// (`JsonSplitter::scan`: `in_str = false` but `elem_start` stays set at depth 0). A stray
/// `}` or `]` after it is then pushed as a record of its own while the element is still open,
/// and the element later ends as a record that starts *before* it and contains it: spans
/// overlap and come out of order, and the closer is dead-lettered twice (alone, and as a line
/// of the broken value). When a chunk is cut after the stray closer (`flush` cuts at the last
/// record's end), `JsonSplitter::rebase` clamps the open element's start to 0
/// (`saturating_sub`), so the broken value's bytes before the cut vanish and a different
/// (here empty) record is dead-lettered: the outcome depends on where reads and chunks end.
///
/// Was `#[ignore]`d as a fuzz finding; fixed in 0a458ac.
#[test]
fn guardduty_stray_closer_after_a_broken_string() {
    let content = b"\"x\n}";
    let m = map_checked_raw(Table::GuardDuty, content);
    let closers = m
        .dead_letters
        .iter()
        .filter(|d| d.record.as_deref() == Some("}"))
        .count();
    assert_eq!(
        closers, 1,
        "the stray `}}` is dead-lettered once: {:?}",
        m.dead_letters
    );
    // And the read boundary does not change the outcome.
    let plain = map_checked(Table::GuardDuty, content);
    check_padded(Table::GuardDuty, content, content.len(), &plain);
}

/// Finding 5 (hand-written while writing the padded check; the `vpcflow` fuzzer did not
/// reach it in its run): a whitespace-only line longer than `max_record_bytes` is dropped as
/// blank when it arrives within one read, but when a read ends inside it, `frame()` finds
/// more than `max_record_bytes` in progress and `LineSplitter::skip_current` marks it
/// skipping, so `LineSplitter::push` reports it as `Span::Oversized` (a `record_too_large`
/// dead letter, counted as a record) without looking at its bytes. Blank lines must not
/// become dead letters depending on where a read ends.
///
/// Was `#[ignore]`d as a fuzz finding; fixed in 0a458ac.
#[test]
fn vpc_long_blank_line_is_blank_wherever_reads_end() {
    let header = "action log-status interface-id\n";
    let data = format!("{header}{}\nACCEPT OK eni-1\n", " ".repeat(3000));
    let plain = map_checked(Table::VpcFlow, data.as_bytes());
    assert_eq!(plain.rows.len(), 1);
    assert!(plain.record_dead.is_empty(), "{:?}", plain.record_dead);
    check_padded(Table::VpcFlow, data.as_bytes(), header.len() + 2500, &plain);
}

/// Finding 2's offset is right while the object is shorter than a chunk.
#[test]
fn trailing_data_offset_in_a_short_object() {
    let input = br#"{"Records":[{"eventName":"A"}]}   x  "#;
    let m = map_checked_raw(Table::CloudTrail, input);
    assert_eq!(m.end, ObjectEnd::DeadLettered("trailing_data"));
    assert_eq!(m.dead_letters[0].byte_offset, Some(34));
    assert_eq!(m.rows().len(), 1, "the record before the fault is shipped");
}

// ------------------------------------------------------------------------------------------
// Tricky inputs through the fuzz invariants
// ------------------------------------------------------------------------------------------

fn map_checked_raw(table: Table, input: &[u8]) -> logferry::pipeline::Mapped {
    let m = map_object(
        table,
        KEY,
        input,
        invariants::SETTINGS,
        &invariants::limits(),
    );
    check_mapped(table, input, &m);
    m
}

/// `data[0] % 4` picks the extra comparison of `check_object`: 1 gzip, 2 padding.
fn all_modes(table: Table, content: &[u8]) {
    for lead in [b' ', b'\t', b'\n'] {
        let mut data = vec![lead];
        data.extend_from_slice(content);
        check_object(table, &data);
    }
    check_object(table, content);
}

#[test]
fn seed_corpora_pass_the_invariants() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut seen = 0;
    for (target, check) in [
        (
            "cloudtrail",
            (|d: &[u8]| check_object(Table::CloudTrail, d)) as fn(&[u8]),
        ),
        ("guardduty", |d| check_object(Table::GuardDuty, d)),
        ("vpcflow", |d| check_object(Table::VpcFlow, d)),
        ("decode", check_decode),
        ("json_cursor", check_json),
        ("emulator_rows", check_emulator_rows),
    ] {
        let dir = root.join(target);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("dir entry").path())
            .collect();
        files.sort();
        for f in files {
            let data = std::fs::read(&f).expect("seed");
            eprintln!("{target}: {}", f.display());
            check(&data);
            seen += 1;
        }
    }
    assert!(seen >= 50, "only {seen} seeds");
}

fn deep(n: usize) -> String {
    "[".repeat(n) + &"]".repeat(n)
}

#[test]
fn nesting_limit_is_128_and_never_overflows_the_stack() {
    assert!(Cursor::document(deep(MAX_DEPTH).as_bytes()).is_ok());
    let too_deep = Cursor::document(deep(MAX_DEPTH + 1).as_bytes()).unwrap_err();
    assert_eq!(too_deep.kind, ErrorKind::TooDeep);
    // serde_json's limit is one level lower: the json_cursor target skips inputs nested > 100.
    assert!(serde_json::from_str::<Value>(&deep(127)).is_ok());
    assert!(serde_json::from_str::<Value>(&deep(128)).is_err());
    for n in [1, 50, 100, 5000] {
        check_json(deep(n).as_bytes());
    }
    // A record nested far too deep is one dead letter; its neighbours are rows.
    let doc = format!(
        r#"{{"Records":[{{"eventName":"A"}},{{"eventName":"B","requestParameters":{}}},{{"eventName":"C"}}]}}"#,
        deep(1000)
    );
    all_modes(Table::CloudTrail, doc.as_bytes());
    let m = map_checked_raw(Table::CloudTrail, doc.as_bytes());
    assert_eq!(m.rows().len(), 2);
    assert_eq!(record_reasons(&m), ["invalid_json"]);
    let gd = format!(
        "{{\"id\":\"a\"}}\n{{\"id\":\"b\",\"service\":{}}}\n{{\"id\":\"c\"}}\n",
        deep(200)
    );
    all_modes(Table::GuardDuty, gd.as_bytes());
}

/// A record of `size` bytes: `{"eventName":"xxx..."}`.
fn ct_record(size: usize) -> String {
    let fixed = r#"{"eventName":""}"#.len();
    format!(r#"{{"eventName":"{}"}}"#, "x".repeat(size - fixed))
}

#[test]
fn records_straddling_the_record_limit() {
    // max_record_bytes is 2048: 2048 maps, 2049 is record_too_large.
    for (size, rows) in [(2047, 1), (2048, 1), (2049, 0)] {
        let doc = format!(r#"{{"Records":[{}]}}"#, ct_record(size));
        all_modes(Table::CloudTrail, doc.as_bytes());
        let m = map_checked_raw(Table::CloudTrail, doc.as_bytes());
        assert_eq!(m.rows().len(), rows, "CloudTrail record of {size} bytes");
        let gd = format!("{}\n", ct_record(size).replace("eventName", "accountId"));
        all_modes(Table::GuardDuty, gd.as_bytes());
        let m = map_checked_raw(Table::GuardDuty, gd.as_bytes());
        assert_eq!(m.rows().len(), rows, "GuardDuty record of {size} bytes");
    }
    // Around the 4096-byte request limit: a row too large for a request is its own dead
    // letter, rows next to it still go.
    let doc = format!(
        r#"{{"Records":[{},{},{}]}}"#,
        ct_record(100),
        ct_record(2048),
        ct_record(2000)
    );
    all_modes(Table::CloudTrail, doc.as_bytes());
    // VPC lines around the limit, blank lines and CRLF around them.
    let header = "action log-status interface-id\n";
    for size in [2047usize, 2048, 2049, 3000] {
        let line = format!("ACCEPT OK {}", "e".repeat(size - 10));
        assert_eq!(line.len(), size);
        let data = format!("{header}{line}\r\n\r\n   \nREJECT OK eni-1\n");
        all_modes(Table::VpcFlow, data.as_bytes());
        let m = map_checked_raw(Table::VpcFlow, data.as_bytes());
        assert_eq!(
            m.rows().len(),
            if size <= 2048 { 2 } else { 1 },
            "VPC line of {size} bytes"
        );
    }
}

#[test]
fn records_straddling_reads_and_chunks() {
    // Many records, so chunks are cut (chunk_bytes 4096) and, in the padded mode, a read
    // boundary falls inside the content.
    let records: Vec<String> = (0..200).map(|i| ct_record(40 + i * 7 % 900)).collect();
    let doc = format!(
        r#"{{"pre":{{"k":[1,2,"]"]}},"Records":[{}],"post":"x"}}"#,
        records.join(",\n ")
    );
    let plain = map_checked(Table::CloudTrail, doc.as_bytes());
    assert_eq!(plain.rows.len(), 200);
    for at in (0..doc.len())
        .step_by(997)
        .chain([1, 2, 10, 11, 12, 13, doc.len() - 2])
    {
        check_padded(Table::CloudTrail, doc.as_bytes(), at, &plain);
    }
    check_gzipped(Table::CloudTrail, doc.as_bytes(), &plain);
    let gd: String = (0..300)
        .map(|i| {
            format!(
                "{{\"id\":\"{i}\",\"title\":\"{}\"}}\r\n",
                "t".repeat(i * 13 % 700)
            )
        })
        .collect();
    all_modes(Table::GuardDuty, gd.as_bytes());
    let mut vpc = String::from("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n");
    for i in 0..400 {
        vpc.push_str(&format!(
            "2 000000000000 eni-{i:08x} 10.0.0.{} 10.0.1.9 443 {} 6 10 8400 1700000000 1700000060 ACCEPT OK\n",
            i % 250,
            40000 + i
        ));
    }
    all_modes(Table::VpcFlow, vpc.as_bytes());
    let m = map_checked_raw(Table::VpcFlow, vpc.as_bytes());
    assert_eq!(m.rows().len(), 400);
    assert!(m.requests.len() > 1, "rows are split over several requests");
}

#[test]
fn vpc_huge_and_odd_numbers() {
    let data = b"version srcport packets bytes start end log-status\n\
        2 1 99999999999 9223372036854775807 0 253402300799 OK\n\
        2 1 1 9223372036854775808 1 1 OK\n\
        2 1 1 -9223372036854775808 1 1 OK\n\
        2 99999999999999999999999999999999 1 1 1 1 OK\n\
        2 -0 -0 -0 1 1 OK\n\
        2 007 -2147483649 1 1 1 OK\n\
        2 1 1 1 253402300800 1 OK\n\
        2 1 1 1 -377705116800 1 OK\n\
        + 1 1 1 1 1 OK\n";
    all_modes(Table::VpcFlow, data);
    let m = map_checked_raw(Table::VpcFlow, data);
    let rows = m.rows();
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(rows[0]["Packets"], i32::MAX, "packets are clamped");
    assert_eq!(rows[0]["Bytes"], i64::MAX);
    assert_eq!(rows[0]["End"], "9999-12-31T23:59:59Z");
    assert_eq!(rows[1]["SrcPort"], 0);
    assert_eq!(rows[1]["Bytes"], 0);
    assert_eq!(rows[2]["SrcPort"], 7);
    assert_eq!(rows[2]["Packets"], i32::MIN);
    // i64::MIN's digits overflow i64 before the sign is applied: rejected like any overflow.
    assert_eq!(record_reasons(&m), ["bad_number"; 6]);
}

#[test]
fn vpc_headers() {
    // No known field in the first line: the object is dead-lettered, nothing is mapped.
    let m = map_checked_raw(
        Table::VpcFlow,
        b"2 000000000000 eni-1 - - - - - - - 1 2 - NODATA\n",
    );
    assert_eq!(m.end, ObjectEnd::DeadLettered("missing_header"));
    assert!(m.requests.is_empty());
    // Blank lines and CRLF before the header; strings with quotes, backslashes and controls.
    let data = b"\r\n  \r\naction log-status interface-id vpc-id\r\n\"q\"\\ \x01\x7f caf\xc3\xa9 -\r\n- - - -\r\n";
    all_modes(Table::VpcFlow, data);
    let m = map_checked_raw(Table::VpcFlow, data);
    let rows = m.rows();
    assert_eq!(rows[0]["Action"], "\"q\"\\");
    assert_eq!(rows[0]["LogStatus"], "\u{1}\u{7f}");
    assert_eq!(rows[1]["Action"], "-");
    // A header that is not UTF-8.
    let m = map_checked_raw(Table::VpcFlow, b"version \xff\n2 1\n");
    assert_eq!(m.end, ObjectEnd::DeadLettered("missing_header"));
}

#[test]
fn guardduty_broken_lines_resync() {
    let data = b"{\"id\":\"a\",\"severity\":8.9}\n{\"id\":\"b\",\"title\":\"cut\n{\"id\":\"c\"}\n}\n42\n{}\n\"s\"\n{\"id\":\"d\"\r\n{\"id\":\"e\"}";
    all_modes(Table::GuardDuty, data);
    let m = map_checked_raw(Table::GuardDuty, data);
    let ids: Vec<_> = m
        .rows()
        .iter()
        .map(|r| r["Id"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(ids, ["a", "c", "e"]);
    assert_eq!(m.rows()[0]["Severity"], 8);
    // A value that never closes at the end of the object: its lines are tried one by one.
    let data = b"{\"id\":\"a\",\"service\":{\"x\":[1,\n{\"id\":\"b\"}\n{\"id\":\"c\"";
    all_modes(Table::GuardDuty, data);
}

#[test]
fn cloudtrail_document_shapes() {
    for doc in [
        &br#"{"Records":[]}"#[..],
        br#"{"a":{"Records":[{"eventName":"nested, not records"}]},"Records":[{"eventName":"A"}],"z":[{}]}"#,
        br#"{"Records":"not an array"}"#,
        br#"{"Records":[1,"s",null,true,[],{},{"eventName":null}]}"#,
        br#"{"logFiles":[{"s3Object":"x"}]}"#,
        b" \r\n\t ",
        br#"{"Records":[{"eventName":"A"}"#,
        br#"{"Records":[{"eventName":"A"}]}]"#,
        b"[1]",
        br#"{"Records":[{"eventName":"\ud800","userAgent":"\udc00 lone low"}]}"#,
        "{\"Records\":[{\"eventName\":\"caf\u{e9} \u{1F600}\"}]}".as_bytes(),
        b"{\"Records\":[{\"eventName\":\"\xff\"},{\"eventName\":\"ok\"}]}",
    ] {
        all_modes(Table::CloudTrail, doc);
    }
}

/// With the production limits (1 MiB requests), a string above the 64 KB field limit is
/// truncated on a character boundary, and the row is still valid.
#[test]
fn field_limit_truncation_with_default_limits() {
    let long = "é".repeat(40_000); // 80,000 bytes
    let doc =
        format!(r#"{{"Records":[{{"eventName":"{long}","requestParameters":{{"k":"{long}"}}}}]}}"#);
    let settings = BatchSettings::default();
    let m = map_object(
        Table::CloudTrail,
        KEY,
        doc.as_bytes(),
        settings,
        &Limits::default(),
    );
    check_mapped_with(
        Table::CloudTrail,
        doc.as_bytes(),
        &m,
        settings.max_request_bytes,
    );
    let rows = m.rows();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["EventName"].as_str().map(str::len), Some(65_536));
    assert!(m.tally.notes.get("truncated:AWSCloudTrail.EventName") == 1);
}

#[test]
fn decode_edge_cases() {
    let text = b"hello\n".repeat(100);
    let mut two = invariants::gzip(&text[..10]);
    two.extend(invariants::gzip(&text[10..]));
    let mut z = zstd(&text[..20]);
    z.extend(zstd(&text[20..]));
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&vec![b'a'; 20 << 20]).expect("vec");
    let bomb = enc.finish().expect("vec"); // 20 MiB of 'a': read up to the 16 MiB cap
    for input in [
        &b""[..],
        b"\x1f",
        b"\x1f\x8b",
        b"\x28\xb5\x2f",
        b"\x28\xb5\x2f\xfd",
        b"PAR1",
        &two,
        &z,
        &two[..two.len() - 3],
        &z[..z.len() - 2],
        &bomb,
    ] {
        check_decode(input);
    }
    for input in [&two[..], &z[..], &text[..]] {
        let (_, out, err) = invariants::decode_capped(input, invariants::DECODE_CAP);
        assert!(err.is_none());
        assert_eq!(out, text);
    }
}

#[test]
fn json_cursor_agrees_with_serde_json() {
    for doc in [
        &br#"{"a":1,"b":[true,false,null,{"c":"d\n\u00e9"}],"e":{},"f":-0.5e+3}"#[..],
        b" [ 1 , -0 , 0.0e0 , 1E+2 ] ",
        b"[1e400, -1e400]",
        br#"["\ud800", "\udc00", "\ud83d\ude00"]"#,
        br#"{"a":1,"a":2}"#,
        br#"{"\u0061":1}"#,
        b"",
        b"   ",
        b"01",
        b"-",
        b"1.",
        b".5",
        b"1e",
        b"[1,]",
        b"{\"a\":1,}",
        b"{\"a\"}",
        b"\"\x1f\"",
        b"\"\\u12\"",
        b"\"\\u12G4\"",
        b"\"\\",
        b"\xef\xbb\xbf{}",
        b"{}\x0c",
        b"nul",
        b"truex",
        b"[1]]",
        b"{\"a\":[1}",
        b"\xff",
    ] {
        check_json(doc);
    }
}

#[test]
fn gzip_and_padding_do_not_change_the_outcome() {
    let gd = b"{\"id\":\"a\"}\n{\"id\":\"b\",\"severity\":\"7\"}\n";
    let plain = map_checked(Table::GuardDuty, gd);
    assert_eq!(plain.rows.len(), 2);
    let gz = map_checked(Table::GuardDuty, &invariants::gzip(gd));
    assert_eq!(gz, plain);
    let z = map_checked(Table::GuardDuty, &zstd(gd));
    assert_eq!(z, plain);
}
