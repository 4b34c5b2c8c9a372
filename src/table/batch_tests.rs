//! The batch's tests (`src/batch/mod.rs`), written with the VPC table's columns: they live
//! here, above the batch, which knows no table.

use std::ops::Range;

use crate::batch::Batch;
use crate::table::vpcflow::Col;
use crate::table::Table;

fn encoded_len(b: &Batch, rows: Range<usize>) -> usize {
    let mut out = Vec::new();
    b.encode_json(rows, &mut out);
    out.len()
}

fn put(b: &mut Batch, col: Col, v: &str) {
    b.value_buf(col as usize).extend_from_slice(v.as_bytes());
}

#[test]
fn sizes_are_exact_and_cut_below_the_limit() {
    let mut b = Table::VpcFlow.batch();
    put(&mut b, Col::Version, "2");
    put(&mut b, Col::Action, "\"ACCEPT\"");
    let size = b.pending_row_bytes();
    b.commit_row(None);
    put(&mut b, Col::LogStatus, "\"OK\"");
    put(&mut b, Col::LogStatus, "\"NODATA\""); // overwrite within the row
    b.commit_row(None);
    put(&mut b, Col::Version, "3");
    b.rollback_row();
    let mut out = Vec::new();
    b.encode_json(0..b.rows(), &mut out);
    assert_eq!(
        std::str::from_utf8(&out).unwrap(),
        r#"[{"Version":2,"Action":"ACCEPT"},{"LogStatus":"NODATA"}]"#
    );
    assert_eq!(out.len(), b.json_bytes());
    assert_eq!(size, r#"{"Version":2,"Action":"ACCEPT"}"#.len());
    let mut one = Vec::new();
    b.encode_json(1..2, &mut one);
    assert_eq!(one, br#"[{"LogStatus":"NODATA"}]"#);
    assert_eq!(one.len(), encoded_len(&b, 1..2));
    // A pending row that does not fit moves to the next batch on its own.
    put(&mut b, Col::Version, "4");
    assert!(!b.fits(b.pending_row_bytes(), out.len()));
    let full = b.split_off_committed(Table::VpcFlow.batch());
    assert_eq!(full.rows(), 2);
    assert_eq!(b.rows(), 0);
    b.commit_row(None);
    let mut rest = Vec::new();
    b.encode_json(0..1, &mut rest);
    assert_eq!(rest, br#"[{"Version":4}]"#);
    // Rows with different columns, encoded from a later start.
    put(&mut b, Col::Action, "\"REJECT\"");
    b.commit_row(None);
    put(&mut b, Col::Version, "5");
    put(&mut b, Col::Action, "\"ACCEPT\"");
    b.commit_row(None);
    let mut tail = Vec::new();
    b.encode_ndjson(1..3, &mut tail);
    assert_eq!(
        tail,
        b"{\"Action\":\"REJECT\"}\n{\"Version\":5,\"Action\":\"ACCEPT\"}\n"
    );
    assert_eq!(b.json_bytes(), encoded_len(&b, 0..3));
    assert_eq!(encoded_len(&b, 1..1), 2);
}

/// A row with no column at all is `{}` (the mappers refuse them, the batch stays exact).
#[test]
fn an_empty_row_is_an_empty_object() {
    let mut b = Table::VpcFlow.batch();
    assert_eq!(b.pending_row_bytes(), 2);
    b.commit_row(None);
    let mut out = Vec::new();
    b.encode_json(0..1, &mut out);
    assert_eq!(out, b"[{}]");
    assert_eq!(b.json_bytes(), 4);
}

/// Direct rows are written in the caller's order, exactly sized, and move to the next
/// batch whole when they do not fit.
#[test]
fn direct_rows() {
    let keys = Table::VpcFlow.encoded_keys();
    let mut b = Table::VpcFlow.batch();
    let body = b.begin_direct();
    keys[Col::Action as usize].write(body);
    body.extend_from_slice(b"\"ACCEPT\"");
    keys[Col::Version as usize].write(body);
    body.extend_from_slice(b"2");
    assert!(b.end_direct());
    let size = b.pending_row_bytes();
    assert_eq!(size, r#"{"Action":"ACCEPT","Version":2}"#.len());
    b.commit_row_sized(size, None);
    b.begin_direct();
    assert!(!b.end_direct(), "no column");
    assert!(b.pending_is_empty());
    b.rollback_row();
    let body = b.begin_direct();
    keys[Col::Version as usize].write(body);
    body.extend_from_slice(b"3");
    assert!(b.end_direct());
    let size = b.pending_row_bytes();
    assert!(!b.fits(size, b.json_bytes() + size));
    assert!(b.fits(size, b.json_bytes() + size + 1));
    let full = b.split_off_committed(Table::VpcFlow.batch());
    b.commit_row_sized(size, None);
    let (mut one, mut two) = (Vec::new(), Vec::new());
    full.encode_json(0..full.rows(), &mut one);
    b.encode_json(0..b.rows(), &mut two);
    assert_eq!(one, br#"[{"Action":"ACCEPT","Version":2}]"#);
    assert_eq!(two, br#"[{"Version":3}]"#);
    assert_eq!(one.len(), full.json_bytes());
}
