//! Edge cases and bad input, one object at a time through `pipeline::map_object` (the same
//! decode, frame, map, batch and encode stages as a run). Expected rows are written here from
//! `testdata/sentinel-tables.json`, field by field; fixtures are under `testdata/edge/` (see its
//! README), large inputs are generated below.

#![recursion_limit = "256"]

use std::collections::BTreeMap;
use std::io::{Read, Write};

use logferry::frame::Limits;
use logferry::pipeline::{map_object, BatchSettings, Mapped, ObjectEnd};
use logferry::sink::dead_letter::DeadLetter;
use logferry::table::Table;
use serde_json::{json, Value};

const EDGE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/edge");

fn fixture(rel: &str) -> Vec<u8> {
    let path = format!("{EDGE}/{rel}");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn default_limits() -> Limits {
    Limits {
        chunk_bytes: 1 << 20,
        max_record_bytes: 8 << 20,
    }
}

fn map_with(table: Table, bytes: &[u8], max_request_bytes: usize, limits: &Limits) -> Mapped {
    let settings = BatchSettings {
        max_request_bytes,
        gzip_level: 1,
    };
    let m = map_object(table, "edge/test-object", bytes, settings, limits);
    check_bodies(table, &m, max_request_bytes);
    m
}

fn map(table: Table, bytes: &[u8]) -> Mapped {
    map_with(table, bytes, 1_048_576, &default_limits())
}

/// The uncompressed JSON text of every request body.
fn bodies_text(m: &Mapped) -> Vec<String> {
    m.requests
        .iter()
        .map(|r| {
            let mut s = String::new();
            flate2::read::GzDecoder::new(&r.body[..])
                .read_to_string(&mut s)
                .expect("request body is gzip of UTF-8 text");
            s
        })
        .collect()
}

/// Every body is a non-empty JSON array of objects within the size limit, whose keys are
/// columns of the table, never a reserved or never-send name. `Mapped::rows()` drops bodies it
/// cannot parse, so this is what makes a bad body visible.
fn check_bodies(table: Table, m: &Mapped, max_request_bytes: usize) {
    let columns: Vec<&str> = table.columns().iter().map(|c| c.name).collect();
    for (i, text) in bodies_text(m).iter().enumerate() {
        assert!(
            text.len() <= max_request_bytes,
            "body {i} is {} bytes of JSON, above {max_request_bytes}",
            text.len()
        );
        let v: Value = serde_json::from_str(text).unwrap_or_else(|e| {
            panic!(
                "body {i} is not valid JSON ({e}): {}",
                &text[..text.len().min(300)]
            )
        });
        let rows = v
            .as_array()
            .unwrap_or_else(|| panic!("body {i} is not a JSON array"));
        assert!(!rows.is_empty(), "body {i} is an empty array");
        for row in rows {
            let obj = row
                .as_object()
                .unwrap_or_else(|| panic!("row is not an object: {row}"));
            for k in obj.keys() {
                assert!(
                    columns.contains(&k.as_str()),
                    "{table}: key {k} is not a column"
                );
                assert!(
                    ![
                        "TenantId",
                        "Type",
                        "_ResourceId",
                        "_SubscriptionId",
                        "UniqueId",
                        "id",
                        "AwsRequestId",
                        "Start"
                    ]
                    .contains(&k.as_str()),
                    "{table}: never-send key {k}"
                );
            }
            for (k, v) in obj {
                assert!(
                    !v.is_null(),
                    "{table}: key {k} is null (absent values must be omitted)"
                );
            }
        }
    }
}

/// Rows keyed by one string column (which must be unique among them).
fn by_key(rows: &[Value], col: &str) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for r in rows {
        let k = r[col]
            .as_str()
            .unwrap_or_else(|| panic!("row without {col}: {r}"))
            .to_string();
        assert!(
            out.insert(k.clone(), r.clone()).is_none(),
            "duplicate {col} {k}"
        );
    }
    out
}

fn ids(rows: &[Value], col: &str) -> Vec<String> {
    rows.iter()
        .map(|r| r[col].as_str().unwrap_or("<none>").to_string())
        .collect()
}

fn reasons(dls: &[DeadLetter]) -> Vec<&str> {
    dls.iter().map(|d| d.reason.as_str()).collect()
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn ct_doc(records: &[String]) -> Vec<u8> {
    format!("{{\"Records\":[{}]}}", records.join(",")).into_bytes()
}

/// A small CloudTrail record and the row it must give.
fn ct_small(i: usize) -> (String, Value) {
    let rec = format!(
        r#"{{"eventVersion":"1.08","eventTime":"2024-01-02T03:04:05Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"us-east-1","eventID":"ct-{i:06}","readOnly":true}}"#
    );
    let row = json!({
        "TimeGenerated": "2024-01-02T03:04:05Z",
        "AwsEventId": format!("ct-{i:06}"),
        "EventVersion": "1.08",
        "EventSource": "s3.amazonaws.com",
        "EventName": "GetObject",
        "AWSRegion": "us-east-1",
        "ReadOnly": true,
    });
    (rec, row)
}

fn vpc_line(i: usize) -> String {
    format!("2 123456789012 eni-{i:08} 10.0.0.1 10.0.0.2 {} 443 6 10 840 1418530010 1418530070 ACCEPT OK", i % 65536)
}
const VPC_DEFAULT_HEADER: &str =
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";

fn gd_line(i: usize) -> String {
    format!(
        r#"{{"schemaVersion":"2.0","accountId":"111122223333","id":"gd-{i:06}","severity":5.0,"service":{{"count":{i}}}}}"#
    )
}

// ---------------------------------------------------------------------------------------------
// CloudTrail framing
// ---------------------------------------------------------------------------------------------

#[test]
fn ct_records_key_after_other_keys_in_a_pretty_printed_file() {
    let m = map(
        Table::CloudTrail,
        &fixture("cloudtrail/records_after_other_keys_pretty.json"),
    );
    assert_eq!(m.end, ObjectEnd::Complete);
    assert!(m.dead_letters.is_empty(), "{:?}", m.dead_letters);
    assert_eq!(
        m.rows(),
        vec![
            json!({
                "TimeGenerated": "2024-01-02T03:04:05Z",
                "AwsEventId": "ct-pretty-0001",
                "EventVersion": "1.08",
                "EventSource": "ec2.amazonaws.com",
                "EventName": "DescribeInstances",
                "AWSRegion": "us-east-1",
            }),
            json!({
                "TimeGenerated": "2024-01-02T03:04:06.123Z",
                "AwsEventId": "ct-pretty-0002",
                "EventName": "GetObject",
                "ReadOnly": true,
            }),
        ]
    );
    assert_eq!(m.tally.records, 2);
}

#[test]
fn ct_document_without_records_is_skipped() {
    let m = map(
        Table::CloudTrail,
        &fixture("cloudtrail/no_records_key.json"),
    );
    assert_eq!(m.end, ObjectEnd::Skipped("no_records_key"));
    assert!(m.rows().is_empty());
    assert!(m.requests.is_empty());
    assert!(m.dead_letters.is_empty(), "{:?}", m.dead_letters);
}

#[test]
fn ct_elements_that_are_not_objects_or_not_json_are_dead_lettered_alone() {
    let bytes = fixture("cloudtrail/not_objects.json");
    let text = String::from_utf8(bytes.clone()).unwrap();
    let m = map(Table::CloudTrail, &bytes);
    assert_eq!(m.end, ObjectEnd::Complete);
    assert_eq!(
        m.rows(),
        vec![
            json!({"AwsEventId": "ct-elem-0001", "EventName": "A"}),
            json!({"AwsEventId": "ct-elem-0002", "EventName": "B"}),
            json!({"AwsEventId": "ct-elem-0003", "EventName": "C"}),
        ]
    );
    let expected = [
        ("not_an_object", "42", 1u64),
        ("not_an_object", "\"just a string\"", 2),
        ("not_an_object", "[1,{\"eventID\":\"in-array\"}]", 3),
        ("invalid_json", "{\"eventID\": }", 5),
    ];
    assert_eq!(
        m.dead_letters.len(),
        expected.len(),
        "{:#?}",
        m.dead_letters
    );
    for (dl, (reason, record, index)) in m.dead_letters.iter().zip(expected) {
        assert_eq!(dl.reason, reason, "{dl:?}");
        assert_eq!(dl.record.as_deref(), Some(record), "{dl:?}");
        assert_eq!(dl.record_base64, None);
        assert_eq!(dl.record_index, Some(index), "{dl:?}");
        let at = text.find(&format!(",{record}")).unwrap() as u64 + 1;
        assert_eq!(dl.byte_offset, Some(at), "{dl:?}");
        assert_eq!(dl.key, "edge/test-object");
        assert_eq!(dl.table.as_deref(), Some("AWSCloudTrail"));
    }
    assert_eq!(m.tally.records, 7);
    assert_eq!(m.tally.dead_letters.get("not_an_object"), 3);
    assert_eq!(m.tally.dead_letters.get("invalid_json"), 1);
    assert_eq!(m.tally.rows, [3, 0, 0]);
}

#[test]
fn invalid_utf8_in_a_record_is_dead_lettered_with_base64() {
    let bad_ct = b"{\"eventID\":\"u2\",\"userAgent\":\"caf\xe9 \xff\"}".to_vec();
    let surrogate = b"{\"eventID\":\"u3\",\"userAgent\":\"\xed\xa0\x80\"}".to_vec();
    let mut doc = b"{\"Records\":[{\"eventID\":\"u1\"},".to_vec();
    doc.extend_from_slice(&bad_ct);
    doc.push(b',');
    doc.extend_from_slice(&surrogate);
    doc.extend_from_slice(b",{\"eventID\":\"u4\"}]}");
    let m = map(Table::CloudTrail, &doc);
    assert_eq!(m.end, ObjectEnd::Complete);
    assert_eq!(ids(&m.rows(), "AwsEventId"), ["u1", "u4"]);
    assert_eq!(reasons(&m.dead_letters), ["invalid_utf8", "invalid_utf8"]);
    for (dl, raw) in m.dead_letters.iter().zip([&bad_ct, &surrogate]) {
        assert_eq!(dl.record, None);
        assert!(dl.record_base64.is_some());
        assert_eq!(dl.record_bytes().as_ref(), Some(raw));
    }

    // The same in a GuardDuty line and a VPC line.
    let mut gd = b"{\"id\":\"g1\"}\n".to_vec();
    let bad_gd = b"{\"id\":\"g2\",\"title\":\"\xc3\x28\"}".to_vec();
    gd.extend_from_slice(&bad_gd);
    gd.extend_from_slice(b"\n{\"id\":\"g3\"}\n");
    let m = map(Table::GuardDuty, &gd);
    assert_eq!(ids(&m.rows(), "Id"), ["g1", "g3"]);
    assert_eq!(reasons(&m.dead_letters), ["invalid_utf8"]);
    assert_eq!(m.dead_letters[0].record_bytes(), Some(bad_gd));

    let mut vpc = format!("{VPC_DEFAULT_HEADER}\n{}\n", vpc_line(1)).into_bytes();
    let bad_vpc =
        b"2 123456789012 eni-\xff 10.0.0.1 10.0.0.2 1 443 6 10 840 1418530010 1418530070 ACCEPT OK"
            .to_vec();
    vpc.extend_from_slice(&bad_vpc);
    vpc.extend_from_slice(format!("\n{}\n", vpc_line(3)).as_bytes());
    let m = map(Table::VpcFlow, &vpc);
    assert_eq!(
        ids(&m.rows(), "InterfaceId"),
        ["eni-00000001", "eni-00000003"]
    );
    assert_eq!(reasons(&m.dead_letters), ["invalid_utf8"]);
    assert_eq!(m.dead_letters[0].record_bytes(), Some(bad_vpc));
}

#[test]
fn deep_nesting_is_dead_lettered_without_overflowing_the_stack() {
    const DEPTH: usize = 10_000;
    let arrays = format!(
        r#"{{"eventID":"deep-a","x":{}{}}}"#,
        "[".repeat(DEPTH),
        "]".repeat(DEPTH)
    );
    let objects = format!(
        r#"{{"eventID":"deep-o","x":{}1{}}}"#,
        r#"{"a":"#.repeat(DEPTH),
        "}".repeat(DEPTH)
    );
    let in_params = format!(
        r#"{{"eventID":"deep-p","requestParameters":{}{}}}"#,
        r#"{"a":["#.repeat(DEPTH / 2),
        "]}".repeat(DEPTH / 2)
    );
    let doc = ct_doc(&[
        r#"{"eventID":"ok-1"}"#.into(),
        arrays.clone(),
        objects.clone(),
        in_params.clone(),
        r#"{"eventID":"ok-2"}"#.into(),
    ]);
    let gd = format!(
        "{{\"id\":\"g1\"}}\n{{\"id\":\"g-deep\",\"resource\":{}{}}}\n{{\"id\":\"g2\"}}\n",
        "[".repeat(DEPTH),
        "]".repeat(DEPTH)
    );
    // A small stack: any recursion over the nesting would overflow it.
    let (ct, gd) = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || {
            let ct = map_object(
                Table::CloudTrail,
                "deep",
                &doc,
                BatchSettings::default(),
                &default_limits(),
            );
            let gd = map_object(
                Table::GuardDuty,
                "deep",
                gd.as_bytes(),
                BatchSettings::default(),
                &default_limits(),
            );
            (ct, gd)
        })
        .unwrap()
        .join()
        .expect("mapping deeply nested records must not crash");
    assert_eq!(ct.end, ObjectEnd::Complete);
    assert_eq!(ids(&ct.rows(), "AwsEventId"), ["ok-1", "ok-2"]);
    assert_eq!(reasons(&ct.dead_letters), ["invalid_json"; 3]);
    assert_eq!(ct.dead_letters[0].record.as_deref(), Some(arrays.as_str()));
    assert_eq!(ct.dead_letters[1].record.as_deref(), Some(objects.as_str()));
    assert_eq!(
        ct.dead_letters[2].record.as_deref(),
        Some(in_params.as_str())
    );
    assert_eq!(ids(&gd.rows(), "Id"), ["g1", "g2"]);
    assert_eq!(reasons(&gd.dead_letters), ["invalid_json"]);
}

#[test]
fn ct_truncated_document_ships_the_complete_records() {
    let m = map(
        Table::CloudTrail,
        &fixture("cloudtrail/truncated_third_record.json"),
    );
    assert_eq!(
        m.rows(),
        vec![
            json!({"AwsEventId": "ct-trunc-0001", "EventName": "A"}),
            json!({"AwsEventId": "ct-trunc-0002", "EventName": "B"}),
        ]
    );
    assert_eq!(m.end, ObjectEnd::DeadLettered("truncated_json"));
    assert_eq!(reasons(&m.dead_letters), ["truncated_json"]);
    let dl = &m.dead_letters[0];
    assert_eq!(dl.key, "edge/test-object");
    assert_eq!(dl.record_index, None, "an object-level dead letter");
    assert_eq!(m.tally.records, 2);
}

#[test]
fn not_json_and_empty_objects() {
    let m = map(Table::CloudTrail, &fixture("cloudtrail/not_json.txt"));
    assert_eq!(m.end, ObjectEnd::DeadLettered("not_json"));
    assert!(m.rows().is_empty());
    assert_eq!(reasons(&m.dead_letters), ["not_json"]);

    for table in Table::ALL {
        let m = map(table, &fixture("cloudtrail/empty.json"));
        assert_eq!(m.end, ObjectEnd::Skipped("empty_object"), "{table}");
        assert!(m.rows().is_empty() && m.dead_letters.is_empty(), "{table}");
        // A compressed stream that holds nothing is empty too.
        let m = map(table, &gz(b""));
        assert_eq!(m.end, ObjectEnd::Skipped("empty_object"), "{table} gzip");
        let m = map(table, &zstd::encode_all(&b""[..], 3).unwrap());
        assert_eq!(m.end, ObjectEnd::Skipped("empty_object"), "{table} zstd");
    }
}

// ---------------------------------------------------------------------------------------------
// Compression
// ---------------------------------------------------------------------------------------------

#[test]
fn multi_member_gzip_gives_the_rows_of_every_member() {
    let (recs, rows): (Vec<String>, Vec<Value>) = (0..10).map(ct_small).unzip();
    let doc = ct_doc(&recs);
    // Members cut at arbitrary places, even inside a string.
    for cuts in [
        vec![doc.len() / 2],
        vec![1, 37, doc.len() - 3],
        vec![5, 6, 7, 200],
    ] {
        let mut bytes = Vec::new();
        let mut from = 0;
        for c in cuts.iter().copied().chain([doc.len()]) {
            bytes.extend(gz(&doc[from..c]));
            from = c;
        }
        let m = map(Table::CloudTrail, &bytes);
        assert_eq!(m.end, ObjectEnd::Complete, "cuts {cuts:?}");
        assert_eq!(m.rows(), rows, "cuts {cuts:?}");
    }

    // GuardDuty as Firehose writes it: one member per batch of lines.
    let mut bytes = gz(format!("{}\n{}\n", gd_line(1), gd_line(2)).as_bytes());
    bytes.extend(gz(format!("{}\n", gd_line(3)).as_bytes()));
    let m = map(Table::GuardDuty, &bytes);
    assert_eq!(
        ids(&m.rows(), "Id"),
        ["gd-000001", "gd-000002", "gd-000003"]
    );
}

#[test]
fn truncated_gzip_ships_the_rows_before_the_cut() {
    let (recs, rows): (Vec<String>, Vec<Value>) = (0..4000).map(ct_small).unzip();
    let full = gz(&ct_doc(&recs));
    let m = map(Table::CloudTrail, &full[..full.len() / 2]);
    assert_eq!(m.end, ObjectEnd::DeadLettered("truncated_object"));
    assert_eq!(reasons(&m.dead_letters), ["truncated_object"]);
    let got = m.rows();
    assert!(
        !got.is_empty() && got.len() < rows.len(),
        "{} rows",
        got.len()
    );
    assert_eq!(
        got[..],
        rows[..got.len()],
        "the rows shipped are the first records, in order"
    );

    let text: String = std::iter::once(VPC_DEFAULT_HEADER.to_string())
        .chain((0..20_000).map(vpc_line))
        .collect::<Vec<_>>()
        .join("\n");
    let full = gz(text.as_bytes());
    let m = map(Table::VpcFlow, &full[..full.len() * 2 / 3]);
    assert_eq!(m.end, ObjectEnd::DeadLettered("truncated_object"));
    assert_eq!(reasons(&m.dead_letters), ["truncated_object"]);
    let got = ids(&m.rows(), "InterfaceId");
    assert!(!got.is_empty() && got.len() < 20_000);
    let want: Vec<String> = (0..got.len()).map(|i| format!("eni-{i:08}")).collect();
    assert_eq!(got, want);

    let text: String = (0..20_000).map(|i| gd_line(i) + "\n").collect();
    let full = gz(text.as_bytes());
    let m = map(Table::GuardDuty, &full[..full.len() / 2]);
    assert_eq!(m.end, ObjectEnd::DeadLettered("truncated_object"));
    assert_eq!(
        reasons(&m.dead_letters),
        ["truncated_object"],
        "no partial line is dead-lettered on its own"
    );
    let got = ids(&m.rows(), "Id");
    assert!(!got.is_empty() && got.len() < 20_000);
    assert_eq!(
        got,
        (0..got.len())
            .map(|i| format!("gd-{i:06}"))
            .collect::<Vec<_>>()
    );
}

#[test]
fn zstd_objects_are_read() {
    let (recs, rows): (Vec<String>, Vec<Value>) = (0..50).map(ct_small).unzip();
    let m = map(
        Table::CloudTrail,
        &zstd::encode_all(&ct_doc(&recs)[..], 3).unwrap(),
    );
    assert_eq!(m.end, ObjectEnd::Complete);
    assert_eq!(m.rows(), rows);

    let text = format!("{VPC_DEFAULT_HEADER}\n{}\n{}\n", vpc_line(1), vpc_line(2));
    let m = map(
        Table::VpcFlow,
        &zstd::encode_all(text.as_bytes(), 3).unwrap(),
    );
    assert_eq!(
        ids(&m.rows(), "InterfaceId"),
        ["eni-00000001", "eni-00000002"]
    );

    let text = format!("{}\n{}", gd_line(1), gd_line(2));
    let m = map(
        Table::GuardDuty,
        &zstd::encode_all(text.as_bytes(), 3).unwrap(),
    );
    assert_eq!(ids(&m.rows(), "Id"), ["gd-000001", "gd-000002"]);
}

// ---------------------------------------------------------------------------------------------
// Size limits
// ---------------------------------------------------------------------------------------------

#[test]
fn records_above_max_record_bytes_are_dead_lettered_alone() {
    // One just above a small limit (completes within one read), one far above it and larger
    // than a read (streams past the framer).
    for (limit, big_len) in [(1024usize, 5_000usize), (64 * 1024, 300_000)] {
        let limits = Limits {
            chunk_bytes: 4096,
            max_record_bytes: limit,
        };
        let filler = "x".repeat(big_len);
        let (r0, row0) = ct_small(0);
        let (r2, row2) = ct_small(2);
        let big = format!(r#"{{"eventID":"big","userAgent":"{filler}"}}"#);
        let m = map_with(
            Table::CloudTrail,
            &ct_doc(&[r0, big, r2]),
            1_048_576,
            &limits,
        );
        assert_eq!(m.end, ObjectEnd::Complete, "limit {limit}");
        assert_eq!(m.rows(), vec![row0, row2], "limit {limit}");
        assert_eq!(
            reasons(&m.dead_letters),
            ["record_too_large"],
            "limit {limit}"
        );
        assert_eq!(m.dead_letters[0].record_index, Some(1));

        let gd = format!(
            "{}\n{{\"id\":\"big\",\"title\":\"{filler}\"}}\n{}\n",
            gd_line(0),
            gd_line(2)
        );
        let m = map_with(Table::GuardDuty, gd.as_bytes(), 1_048_576, &limits);
        assert_eq!(
            ids(&m.rows(), "Id"),
            ["gd-000000", "gd-000002"],
            "limit {limit}"
        );
        assert_eq!(
            reasons(&m.dead_letters),
            ["record_too_large"],
            "limit {limit}"
        );

        let vpc = format!(
            "{VPC_DEFAULT_HEADER}\n{}\n{} {filler}\n{}\n",
            vpc_line(0),
            vpc_line(1),
            vpc_line(2)
        );
        let m = map_with(Table::VpcFlow, vpc.as_bytes(), 1_048_576, &limits);
        assert_eq!(
            ids(&m.rows(), "InterfaceId"),
            ["eni-00000000", "eni-00000002"],
            "limit {limit}"
        );
        assert_eq!(
            reasons(&m.dead_letters),
            ["record_too_large"],
            "limit {limit}"
        );
    }
}

#[test]
fn string_values_are_truncated_at_64k_on_a_character_boundary() {
    const LIMIT: usize = 65_536;
    let cases: Vec<(&str, String, String)> = vec![
        // (eventID, userAgent as written in JSON, expected UserAgent)
        ("e-acute", "é".repeat(70_000), "é".repeat(LIMIT / 2)),
        (
            "a-e-acute",
            format!("a{}", "é".repeat(70_000)),
            format!("a{}", "é".repeat(LIMIT / 2 - 1)),
        ),
        ("emoji", "😀".repeat(20_000), "😀".repeat(LIMIT / 4)),
        (
            "ab-emoji",
            format!("ab{}", "😀".repeat(20_000)),
            format!("ab{}", "😀".repeat(LIMIT / 4 - 1)),
        ),
        ("ascii-65537", "y".repeat(LIMIT + 1), "y".repeat(LIMIT)),
        ("escaped-newlines", "\\n".repeat(70_000), "\n".repeat(LIMIT)),
        // Not truncated: exactly at the limit, or above it only while escaped.
        ("ascii-65536", "z".repeat(LIMIT), "z".repeat(LIMIT)),
        ("escaped-quotes", "\\\"".repeat(40_000), "\"".repeat(40_000)),
        (
            "escaped-unicode",
            "\\u00e9".repeat(20_000),
            "é".repeat(20_000),
        ),
    ];
    let recs: Vec<String> = cases
        .iter()
        .map(|(id, ua, _)| format!(r#"{{"eventID":"{id}","userAgent":"{ua}"}}"#))
        .chain([format!(
            r#"{{"eventID":"params","requestParameters":{{ "k" : "{}" }}}}"#,
            "p".repeat(70_000)
        )])
        .collect();
    let m = map(Table::CloudTrail, &ct_doc(&recs));
    assert_eq!(m.end, ObjectEnd::Complete);
    assert!(m.dead_letters.is_empty(), "{:?}", reasons(&m.dead_letters));
    let rows = by_key(&m.rows(), "AwsEventId");
    for (id, _, want) in &cases {
        let got = rows[*id]["UserAgent"].as_str().unwrap();
        assert!(got.len() <= LIMIT, "{id}: {} bytes", got.len());
        assert!(
            got == want,
            "{id}: got {} bytes, want {} bytes",
            got.len(),
            want.len()
        );
    }
    let rp = rows["params"]["RequestParameters"].as_str().unwrap();
    let rp_want = format!(r#"{{"k":"{}"#, "p".repeat(LIMIT - 6));
    assert_eq!(rp.len(), LIMIT);
    assert!(
        rp == rp_want,
        "RequestParameters is the first 65,536 bytes of the minified text"
    );
    assert_eq!(
        m.tally.notes.get("truncated:AWSCloudTrail.UserAgent"),
        6,
        "{:?}",
        m.tally.notes
    );
    assert_eq!(
        m.tally
            .notes
            .get("truncated:AWSCloudTrail.RequestParameters"),
        1,
        "{:?}",
        m.tally.notes
    );

    let gd = format!(
        "{{\"id\":\"g\",\"description\":\"{}\"}}\n",
        "é".repeat(70_000)
    );
    let m = map(Table::GuardDuty, gd.as_bytes());
    assert_eq!(
        m.rows()[0]["Description"].as_str(),
        Some("é".repeat(LIMIT / 2).as_str())
    );
    assert_eq!(m.tally.notes.get("truncated:AWSGuardDuty.Description"), 1);
}

#[test]

fn vpc_string_values_are_truncated_at_64k() {
    let long = "a".repeat(70_000);
    let text = format!("interface-id ecs-task-arn\neni-1 {long}\n");
    let m = map(Table::VpcFlow, text.as_bytes());
    assert_eq!(m.end, ObjectEnd::Complete);
    let rows = m.rows();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["EcsTaskArn"].as_str().map(str::len), Some(65_536));
    assert_eq!(
        m.tally.notes.get("truncated:AWSVPCFlow.EcsTaskArn"),
        1,
        "{:?}",
        m.tally.notes
    );
}

#[test]
fn a_row_larger_than_the_request_limit_is_dead_lettered() {
    let (r0, row0) = ct_small(0);
    let (r2, row2) = ct_small(2);
    let big = format!(r#"{{"eventID":"big","userAgent":"{}"}}"#, "u".repeat(5_000));
    let m = map_with(
        Table::CloudTrail,
        &ct_doc(&[r0, big.clone(), r2]),
        4096,
        &default_limits(),
    );
    assert_eq!(m.rows(), vec![row0, row2]);
    assert_eq!(reasons(&m.dead_letters), ["row_too_large"]);
    assert_eq!(m.dead_letters[0].record.as_deref(), Some(big.as_str()));
}

#[test]
fn request_bodies_split_at_the_limit_without_losing_rows() {
    let (recs, rows): (Vec<String>, Vec<Value>) = (0..500).map(ct_small).unzip();
    for limit in [1024, 4096, 65_536] {
        let m = map_with(Table::CloudTrail, &ct_doc(&recs), limit, &default_limits());
        assert_eq!(m.rows(), rows, "limit {limit}");
        assert!(
            m.requests.len() > 1,
            "limit {limit}: {} requests",
            m.requests.len()
        );
        for r in &m.requests {
            assert!(r.raw_bytes <= limit);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// CloudTrail mapping rules
// ---------------------------------------------------------------------------------------------

fn mapping_rows() -> (Mapped, BTreeMap<String, Value>) {
    let m = map(Table::CloudTrail, &fixture("cloudtrail/mapping_rules.json"));
    assert_eq!(m.end, ObjectEnd::Complete);
    assert!(m.dead_letters.is_empty(), "{:#?}", m.dead_letters);
    let rows = by_key(&m.rows(), "AwsEventId");
    assert_eq!(rows.len(), 8);
    (m, rows)
}

#[test]
fn ct_absent_and_null_sources_omit_the_key() {
    let (_, rows) = mapping_rows();
    assert_eq!(
        rows["ct-map-nulls"],
        json!({
            "TimeGenerated": "2024-03-04T05:06:07Z",
            "AwsEventId": "ct-map-nulls",
            "UserIdentityType": "IAMUser",
        })
    );
}

#[test]
fn ct_json_text_columns_are_minified_with_number_spelling_kept() {
    let (m, rows) = mapping_rows();
    let row = &rows["ct-map-json-text"];
    let rp_escaped = concat!(
        r#"{"groupId":"sg-1","ratio":12.0,"big":1e3,"neg":-0.5E-2,"nested":{"list":[1,2.50,"a b",true,null],"#,
        r#""esc":"quote\" back\\ caf\u00e9 é","empty":{}},"ipPermissions":{"items":["#,
        r#"{"ipProtocol":"tcp","fromPort":22,"toPort":23,"ipRanges":{"items":[{"cidrIp":"10.0.0.0/8"},{"cidrIp":"192.168.0.0/16"}]}},"#,
        r#"{"ipProtocol":"udp","fromPort":53,"toPort":53,"ipRanges":{"items":[{"cidrIp":"0.0.0.0/0"}]}}]}}"#
    );
    // A \u escape of a character that needs none may stay or be written as the character.
    let rp_plain = rp_escaped.replace(r"caf\u00e9", "café");
    let rp = row["RequestParameters"].as_str().unwrap();
    assert!(
        rp == rp_escaped || rp == rp_plain,
        "RequestParameters: {rp}"
    );
    assert_eq!(
        serde_json::from_str::<Value>(rp).unwrap()["nested"]["esc"],
        json!("quote\" back\\ café é")
    );
    assert_eq!(row["IpProtocol"], json!("tcp"));
    assert_eq!(row["SourcePort"], json!("22"));
    assert_eq!(row["DestinationPort"], json!("23"));
    assert_eq!(row["CidrIp"], json!("10.0.0.0/8"));
    assert_eq!(row.as_object().unwrap().len(), 6, "{row}");
    // The number spelling is in the body text too (not re-serialized on the way).
    assert!(bodies_text(&m)
        .iter()
        .any(|b| b.contains(r#"\"ratio\":12.0,\"big\":1e3,\"neg\":-0.5E-2"#)));
}

#[test]
fn ct_booleans_are_lenient_and_bad_times_are_dropped_and_counted() {
    let (m, rows) = mapping_rows();
    assert_eq!(
        rows["ct-map-bools"],
        json!({
            "AwsEventId": "ct-map-bools",
            "ReadOnly": false,
            "ManagementEvent": true,
            "UserIdentityType": "AssumedRole",
            "SessionMfaAuthenticated": true,
            "SessionCreationDate": "2024-03-04T01:02:03Z",
        })
    );
    assert_eq!(
        rows["ct-map-bad-bool"],
        json!({
            "AwsEventId": "ct-map-bad-bool",
            "ManagementEvent": false,
            "SessionMfaAuthenticated": false,
        })
    );
    assert_eq!(
        m.tally
            .notes
            .get("invalid_datetime:AWSCloudTrail.TimeGenerated"),
        1,
        "{:?}",
        m.tally.notes
    );
    assert_eq!(
        m.tally.notes.get("invalid_bool:AWSCloudTrail.ReadOnly"),
        1,
        "{:?}",
        m.tally.notes
    );
}

#[test]
fn ct_on_behalf_of_wins_whatever_the_key_order() {
    let (_, rows) = mapping_rows();
    for id in ["ct-map-obo-first", "ct-map-obo-last"] {
        assert_eq!(
            rows[id],
            json!({
                "AwsEventId": id,
                "UserIdentityType": "IdentityCenterUser",
                "UserIdentityUserId": "obo-user",
                "UserIdentityStoreArn": "arn:aws:identitystore::111122223333:identitystore/d-obo",
            }),
            "{id}"
        );
    }
    assert_eq!(
        rows["ct-map-obo-null"],
        json!({
            "AwsEventId": "ct-map-obo-null",
            "UserIdentityUserId": "own-user",
            "UserIdentityStoreArn": "arn:aws:identitystore::111122223333:identitystore/d-own",
        })
    );
}

#[test]
fn ct_every_column_from_one_record() {
    let (_, rows) = mapping_rows();
    let want = json!({
        "TimeGenerated": "2024-05-06T07:18:09Z",
        "AwsEventId": "ct-map-all-columns",
        "EventVersion": "1.09",
        "EventSource": "ec2.amazonaws.com",
        "EventTypeName": "AwsApiCall",
        "EventName": "AuthorizeSecurityGroupIngress",
        "UserIdentityType": "AssumedRole",
        "UserIdentityPrincipalid": "AROAEXAMPLE:alice",
        "UserIdentityArn": "arn:aws:sts::111122223333:assumed-role/Admin/alice",
        "UserIdentityAccountId": "111122223333",
        "UserIdentityInvokedBy": "cloudformation.amazonaws.com",
        "UserIdentityAccessKeyId": "ASIAEXAMPLE",
        "UserIdentityUserName": "alice",
        "SessionMfaAuthenticated": false,
        "SessionCreationDate": "2024-05-06T07:08:09Z",
        "SessionIssuerType": "Role",
        "SessionIssuerPrincipalId": "AROAEXAMPLE",
        "SessionIssuerArn": "arn:aws:iam::111122223333:role/Admin",
        "SessionIssuerAccountId": "111122223333",
        "SessionIssuerUserName": "Admin",
        "AWSRegion": "eu-west-1",
        "SourceIpAddress": "cloudformation.amazonaws.com",
        "UserAgent": "aws-sdk-go/1.44",
        "ErrorCode": "Client.UnauthorizedOperation",
        "ErrorMessage": "You are not authorized.",
        "RequestParameters": r#"{"groupId":"sg-2","ipPermissions":{"items":[{"ipProtocol":"-1","fromPort":"0","toPort":65535,"ipRanges":{"items":[{"cidrIp":"172.16.0.0/12","description":"x"}]}}]}}"#,
        "ResponseElements": r#"{"_return":true}"#,
        "AdditionalEventData": r#"{"bytesTransferredIn":0}"#,
        "AwsRequestId_": "req-1",
        "Resources": r#"[{"ARN":"arn:aws:ec2:eu-west-1:111122223333:security-group/sg-2","accountId":"111122223333"}]"#,
        "APIVersion": "2016-11-15",
        "ReadOnly": false,
        "RecipientAccountId": "111122223333",
        "ServiceEventDetails": r#"{"keyId":"k-1"}"#,
        "SharedEventId": "shared-1",
        "VpcEndpointId": "vpce-1",
        "ManagementEvent": true,
        "Category": "Management",
        "EC2RoleDelivery": "2.0",
        "TlsVersion": "TLSv1.3",
        "CipherSuite": "TLS_AES_128_GCM_SHA256",
        "ClientProvidedHostHeader": "ec2.eu-west-1.amazonaws.com",
        "IpProtocol": "-1",
        "SourcePort": "0",
        "DestinationPort": "65535",
        "CidrIp": "172.16.0.0/12",
        "UserIdentityUserId": "own-user",
        "UserIdentityStoreArn": "arn:aws:identitystore::111122223333:identitystore/d-own",
    });
    assert_eq!(
        want.as_object().unwrap().len(),
        Table::CloudTrail.columns().len()
    );
    assert_eq!(rows["ct-map-all-columns"], want);
}

// ---------------------------------------------------------------------------------------------
// GuardDuty
// ---------------------------------------------------------------------------------------------

#[test]
fn gd_lines_crlf_concatenation_envelope_severity_and_a_broken_line() {
    let bytes = fixture("guardduty/mixed.jsonl");
    let m = map(Table::GuardDuty, &bytes);
    assert_eq!(m.end, ObjectEnd::Complete);
    let rows = m.rows();
    assert_eq!(
        ids(&rows, "Id"),
        ["gd-0001", "gd-0002", "gd-0003", "gd-0004", "gd-0005", "gd-0006", "gd-0001"],
        "every line after the broken one still becomes a row"
    );
    let gd1 = |updated: &str, count: u64| {
        json!({
            "TimeGenerated": updated,
            "TimeCreated": "2024-01-01T00:00:00.000Z",
            "AccountId": "111122223333",
            "Region": "us-east-1",
            "Partition": "aws",
            "Id": "gd-0001",
            "Arn": "arn:aws:guardduty:us-east-1:111122223333:detector/d1/finding/gd-0001",
            "ActivityType": "Recon:EC2/PortProbeUnprotectedPort",
            "ResourceDetails": {"resourceType": "Instance", "instanceDetails": {"instanceId": "i-1", "launchTime": 1700000000000u64, "tags": []}},
            "ServiceDetails": {
                "serviceName": "guardduty",
                "count": count,
                "eventFirstSeen": "2024-01-01T00:00:00.000Z",
                "additionalInfo": {"unusualEpoch": 1.7e12, "ratio": 12.0, "nothing": null},
            },
            "Severity": 8,
            "SchemaVersion": "2.0",
            "Title": "Unprotected port",
            "Description": "Port 22 is being probed.",
        })
    };
    assert_eq!(rows[0], gd1("2024-01-02T00:00:00.000Z", 3));
    assert_eq!(rows[6], gd1("2024-01-07T00:00:00.000Z", 4));
    assert_eq!(
        rows[1],
        json!({
            "TimeGenerated": "2024-01-03T01:00:00Z",
            "TimeCreated": "2024-01-03T00:00:00Z",
            "AccountId": "111122223333",
            "Region": "us-east-1",
            "Id": "gd-0002",
            "ActivityType": "UnauthorizedAccess:EC2/SSHBruteForce",
            "ResourceDetails": {"resourceType": "Instance"},
            "ServiceDetails": {"count": 1},
            "Severity": 5,
            "SchemaVersion": "2.0",
            "Title": "SSH brute force",
        })
    );
    assert_eq!(
        rows[2],
        json!({"Id": "gd-0003", "AccountId": "111122223333", "Severity": 7, "Title": "string severity"})
    );
    assert_eq!(
        rows[3],
        json!({"Id": "gd-0004", "AccountId": "111122223333", "Severity": 2, "Title": "concatenated"})
    );
    assert_eq!(
        rows[4],
        json!({
            "TimeGenerated": "2024-01-05T00:00:00Z",
            "TimeCreated": "2024-01-04T00:00:00Z",
            "AccountId": "111122223333",
            "Region": "eu-west-1",
            "Partition": "aws",
            "Id": "gd-0005",
            "ActivityType": "UnauthorizedAccess:IAMUser/ConsoleLogin",
            "ResourceDetails": {"resourceType": "AccessKey", "accessKeyDetails": {"userName": "bob"}},
            "ServiceDetails": {"count": 1, "eventLastSeen": 1704412800},
            "Severity": 5,
            "SchemaVersion": "2.0",
            "Title": "Console login",
        }),
        "the envelope's detail is the finding; the envelope's own id/region are not used"
    );
    assert_eq!(
        rows[5],
        json!({"Id": "gd-0006", "AccountId": "111122223333", "Severity": 0, "TimeGenerated": "2024-01-06T00:00:00Z", "Title": "low"})
    );

    assert_eq!(reasons(&m.dead_letters), ["invalid_json"]);
    let dl = &m.dead_letters[0];
    assert_eq!(dl.record.as_deref(), Some(r#"{"id":"x","#));
    let text = String::from_utf8(bytes).unwrap();
    assert_eq!(
        dl.byte_offset,
        Some(text.find(r#"{"id":"x","#).unwrap() as u64)
    );
    assert_eq!(m.tally.records, 8);

    // Dynamic columns are JSON objects in the body, numbers with their spelling.
    let body = bodies_text(&m).concat();
    assert!(body.contains(
        r#""ResourceDetails":{"resourceType":"Instance","instanceDetails":{"instanceId":"i-1","launchTime":1700000000000,"tags":[]}}"#
    ));
    assert!(
        body.contains(r#""additionalInfo":{"unusualEpoch":1.7e12,"ratio":12.0,"nothing":null}"#)
    );
}

#[test]
fn gd_severity_is_truncated_toward_zero() {
    let cases = [
        ("8.9", 8),
        ("5", 5),
        ("\"7.2\"", 7),
        ("4.0", 4),
        ("0.99", 0),
        ("10", 10),
        ("2e0", 2),
    ];
    let text: String = cases
        .iter()
        .enumerate()
        .map(|(i, (sev, _))| format!("{{\"id\":\"s{i}\",\"severity\":{sev}}}\n"))
        .collect();
    let m = map(Table::GuardDuty, text.as_bytes());
    let rows = m.rows();
    assert_eq!(rows.len(), cases.len());
    for (row, (sev, want)) in rows.iter().zip(cases) {
        assert_eq!(row["Severity"], json!(want), "severity {sev}");
    }
}

// ---------------------------------------------------------------------------------------------
// VPC Flow Logs
// ---------------------------------------------------------------------------------------------

#[test]
fn vpc_header_driven_mapping_with_bad_lines() {
    let bytes = fixture("vpcflow/custom_order.log");
    let m = map(Table::VpcFlow, &bytes);
    assert_eq!(m.end, ObjectEnd::Complete);
    let t0 = "2014-12-14T04:06:50Z";
    let t1 = "2014-12-14T04:07:50Z";
    assert_eq!(
        m.rows(),
        vec![
            json!({
                "AccountId": "123456789012", "InterfaceId": "eni-aaa", "TimeGenerated": t0, "End": t1,
                "SrcAddr": "10.0.0.1", "DstAddr": "10.0.0.2", "SrcPort": 443, "DstPort": 49152, "Protocol": 6,
                "Packets": 10, "Bytes": 840, "Action": "ACCEPT", "LogStatus": "OK", "Version": 5, "TcpFlags": 18,
                "TrafficType": "IPv4",
            }),
            json!({
                "AccountId": "123456789012", "InterfaceId": "eni-bbb", "TimeGenerated": t0, "End": t1,
                "SrcAddr": "10.0.0.3", "DstAddr": "10.0.0.4", "SrcPort": 22, "DstPort": 50000, "Protocol": 6,
                "Packets": 3, "Bytes": 180, "Action": "REJECT", "LogStatus": "OK", "Version": 5, "TcpFlags": 2,
                "TrafficType": "IPv4",
            }),
            json!({
                "AccountId": "123456789012", "InterfaceId": "eni-ccc", "SrcAddr": "-", "DstAddr": "-",
                "Action": "-", "LogStatus": "OK", "TrafficType": "-",
            }),
            json!({
                "AccountId": "123456789012", "InterfaceId": "eni-ddd", "TimeGenerated": t0, "End": t1,
                "SrcAddr": "-", "DstAddr": "-", "Action": "-", "LogStatus": "NODATA", "Version": 5, "TrafficType": "-",
            }),
            json!({
                "AccountId": "123456789012", "InterfaceId": "eni-big", "TimeGenerated": t0, "End": t1,
                "SrcAddr": "10.0.0.5", "DstAddr": "10.0.0.6", "SrcPort": 123, "DstPort": 456, "Protocol": 17,
                "Packets": 2147483647, "Bytes": 5000000000000u64, "Action": "ACCEPT", "LogStatus": "OK", "Version": 5,
                "TcpFlags": 0, "TrafficType": "IPv6",
            }),
            json!({
                "AccountId": "123456789012", "InterfaceId": "eni-last", "TimeGenerated": "2014-12-14T04:06:51Z",
                "End": "2014-12-14T04:07:51Z", "SrcAddr": "fe80::1", "DstAddr": "fe80::2", "SrcPort": 0, "DstPort": 0,
                "Protocol": 1, "Packets": 1, "Bytes": 84, "Action": "ACCEPT", "LogStatus": "OK", "Version": 5,
                "TcpFlags": 0, "TrafficType": "IPv6",
            }),
        ]
    );
    let text = String::from_utf8(bytes).unwrap();
    let line = |eni: &str| {
        text.lines()
            .find(|l| l.contains(eni))
            .unwrap()
            .trim_end_matches('\r')
            .to_string()
    };
    let got: Vec<(&str, Option<&str>)> = m
        .dead_letters
        .iter()
        .map(|d| (d.reason.as_str(), d.record.as_deref()))
        .collect();
    let (few, many, abc, huge) = (
        line("eni-few "),
        line("eni-many "),
        line("eni-abc "),
        line("eni-huge "),
    );
    assert_eq!(
        got,
        vec![
            ("field_count", Some(few.as_str())),
            ("field_count", Some(many.as_str())),
            ("bad_number", Some(abc.as_str())),
            ("bad_number", Some(huge.as_str())),
        ]
    );
    for dl in &m.dead_letters {
        let rec = dl.record.as_deref().unwrap();
        assert_eq!(
            dl.byte_offset,
            Some(text.find(rec).unwrap() as u64),
            "{rec}"
        );
    }
    assert_eq!(
        m.tally.records, 10,
        "data lines; the header and blank lines are not records"
    );
    assert_eq!(
        m.tally.notes.get("clamped:AWSVPCFlow.Packets"),
        1,
        "{:?}",
        m.tally.notes
    );
    assert_eq!(
        m.tally.notes.get("unknown_field:AWSVPCFlow.reject-reason"),
        1,
        "{:?}",
        m.tally.notes
    );
    assert_eq!(
        m.tally.notes.get("unknown_field:AWSVPCFlow.resource-id"),
        1,
        "{:?}",
        m.tally.notes
    );
    let body = bodies_text(&m).concat();
    assert!(
        !body.contains("NO_ROUTE") && !body.contains("vpc-123"),
        "values of unknown fields are ignored"
    );
}

#[test]
fn vpc_unknown_fields_are_counted_once_per_object() {
    let mut text =
        String::from("version interface-id srcport reject-reason resource-id encryption-status\n");
    for i in 0..200 {
        text.push_str(&format!("5 eni-{i} {i} - vpc-1 0\n"));
    }
    let m = map_with(
        Table::VpcFlow,
        text.as_bytes(),
        1_048_576,
        &Limits {
            chunk_bytes: 512,
            max_record_bytes: 1024,
        },
    );
    assert_eq!(m.rows().len(), 200);
    for f in ["reject-reason", "resource-id", "encryption-status"] {
        assert_eq!(
            m.tally.notes.get(&format!("unknown_field:AWSVPCFlow.{f}")),
            1,
            "{f}: {:?}",
            m.tally.notes
        );
    }
    assert_eq!(
        m.rows()[7],
        json!({"Version": 5, "InterfaceId": "eni-7", "SrcPort": 7})
    );
}

#[test]
fn vpc_object_without_a_header_is_dead_lettered() {
    let m = map(Table::VpcFlow, &fixture("vpcflow/no_header.log"));
    assert_eq!(m.end, ObjectEnd::DeadLettered("missing_header"));
    assert!(m.rows().is_empty());
    assert_eq!(reasons(&m.dead_letters), ["missing_header"]);
}

#[test]
fn vpc_without_a_start_column_has_no_time_generated() {
    let m = map(Table::VpcFlow, &fixture("vpcflow/no_start_column.log"));
    assert_eq!(m.end, ObjectEnd::Complete);
    assert_eq!(
        m.rows(),
        vec![json!({
            "Version": 2, "AccountId": "123456789012", "InterfaceId": "eni-nostart", "SrcAddr": "10.0.0.1",
            "DstAddr": "10.0.0.2", "SrcPort": 443, "DstPort": 49152, "Protocol": 6, "Packets": 10, "Bytes": 840,
            "End": "2014-12-14T04:07:50Z", "Action": "ACCEPT", "LogStatus": "OK",
        })]
    );
}

#[test]
fn vpc_numbers_are_written_as_valid_json() {
    // Leading zeros and signs must not reach the body as they are (0443 is not JSON).
    let text = "version srcport dstport bytes interface-id\n05 0443 0 -12 eni-z\n";
    let m = map(Table::VpcFlow, text.as_bytes());
    assert_eq!(
        m.rows(),
        vec![
            json!({"Version": 5, "SrcPort": 443, "DstPort": 0, "Bytes": -12, "InterfaceId": "eni-z"})
        ]
    );
}

#[test]
fn vpc_header_only_object_is_complete_with_no_rows() {
    let m = map(
        Table::VpcFlow,
        format!("{VPC_DEFAULT_HEADER}\r\n").as_bytes(),
    );
    assert_eq!(m.end, ObjectEnd::Complete);
    assert!(m.rows().is_empty() && m.dead_letters.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Beyond the listed cases: what the service's parser would reject
// ---------------------------------------------------------------------------------------------

#[test]

fn lone_surrogate_escapes_do_not_poison_the_request() {
    let doc = ct_doc(&[
        r#"{"eventID":"s1"}"#.into(),
        r#"{"eventID":"s2","userAgent":"bad \ud800 surrogate"}"#.into(),
        r#"{"eventID":"s3"}"#.into(),
    ]);
    let m = map_object(
        Table::CloudTrail,
        "k",
        &doc,
        BatchSettings::default(),
        &default_limits(),
    );
    for text in bodies_text(&m) {
        serde_json::from_str::<Value>(&text).expect("every body must parse as strict JSON");
    }
    let got = ids(&m.rows(), "AwsEventId");
    assert!(
        got.contains(&"s1".to_string()) && got.contains(&"s3".to_string()),
        "{got:?}"
    );
}

#[test]
fn duplicate_keys_give_one_key_in_the_row() {
    let doc = ct_doc(&[
        r#"{"eventID":"d1","eventName":"A","readOnly":true,"eventName":"B","readOnly":false}"#
            .into(),
    ]);
    let m = map(Table::CloudTrail, &doc);
    let body = bodies_text(&m).concat();
    assert_eq!(body.matches("\"EventName\":").count(), 1, "{body}");
    assert_eq!(body.matches("\"ReadOnly\":").count(), 1, "{body}");
    assert_eq!(
        m.rows(),
        vec![json!({"AwsEventId": "d1", "EventName": "B", "ReadOnly": false})]
    );
}

#[test]
fn ct_empty_records_array_and_trailing_data() {
    let m = map(Table::CloudTrail, b"{\"Records\":[]}\n");
    assert_eq!(m.end, ObjectEnd::Complete);
    assert!(m.rows().is_empty() && m.dead_letters.is_empty());

    let m = map(
        Table::CloudTrail,
        b"{\"Records\":[{\"eventID\":\"t1\"}]}\ngarbage",
    );
    assert_eq!(ids(&m.rows(), "AwsEventId"), ["t1"]);
    assert_eq!(m.end, ObjectEnd::DeadLettered("trailing_data"));
    assert_eq!(reasons(&m.dead_letters), ["trailing_data"]);
}

#[test]
fn gd_invalid_times_are_dropped_and_counted() {
    let m = map(
        Table::GuardDuty,
        br#"{"id":"t","updatedAt":"yesterday","createdAt":1700000000}"#,
    );
    assert_eq!(m.rows(), vec![json!({"Id": "t"})]);
    assert_eq!(
        m.tally
            .notes
            .get("invalid_datetime:AWSGuardDuty.TimeGenerated"),
        1,
        "{:?}",
        m.tally.notes
    );
    assert_eq!(
        m.tally
            .notes
            .get("invalid_datetime:AWSGuardDuty.TimeCreated"),
        1,
        "{:?}",
        m.tally.notes
    );
}

#[test]
fn raw_control_characters_never_reach_a_body_unescaped() {
    // A raw control character inside a JSON string is invalid JSON: the record may be
    // dead-lettered or mapped with the character escaped, but every body must stay valid
    // (check_bodies parses them) and the neighbours must survive.
    let doc = ct_doc(&[
        r#"{"eventID":"c1"}"#.into(),
        "{\"eventID\":\"c2\",\"userAgent\":\"a\u{1}b\"}".into(),
        "{\"eventID\":\"c3\",\"requestParameters\":{\"k\":\"x\ty\"}}".into(),
        r#"{"eventID":"c4","requestParameters":{"k":"esc\u0001aped\t"}}"#.into(),
        r#"{"eventID":"c5"}"#.into(),
    ]);
    let m = map(Table::CloudTrail, &doc);
    let rows = by_key(&m.rows(), "AwsEventId");
    assert!(rows.contains_key("c1") && rows.contains_key("c5"));
    assert_eq!(
        rows["c4"]["RequestParameters"],
        json!(r#"{"k":"esc\u0001aped\t"}"#)
    );
    assert_eq!(rows.len() + m.dead_letters.len(), 5);

    let gd = "{\"id\":\"g1\"}\n{\"id\":\"g2\",\"resource\":{\"k\":\"x\u{1}y\"}}\n{\"id\":\"g3\"}\n";
    let m = map(Table::GuardDuty, gd.as_bytes());
    let rows = by_key(&m.rows(), "Id");
    assert!(rows.contains_key("g1") && rows.contains_key("g3"));
    assert_eq!(rows.len() + m.dead_letters.len(), 3);

    let vpc = "interface-id action\neni-1 A\u{1}B\neni-2 \"q\\\n";
    let m = map(Table::VpcFlow, vpc.as_bytes());
    assert_eq!(
        m.rows(),
        vec![
            json!({"InterfaceId": "eni-1", "Action": "A\u{1}B"}),
            json!({"InterfaceId": "eni-2", "Action": "\"q\\"})
        ]
    );
}
