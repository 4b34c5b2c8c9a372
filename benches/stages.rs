//! Criterion benches for each stage on the generated corpus (`logferry::bench::corpus`), with
//! byte throughput of decompressed input. `logferry bench` prints the same stages next to the
//! codec floor; these give Criterion's statistics and history for one stage at a time.

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use serde_json::value::RawValue;

use logferry::batch::gzip::Gzip;
use logferry::batch::Batch;
use logferry::bench::{corpus, frame_all, gunzip_into, map_all};
use logferry::frame::Limits;
use logferry::json::{fast_index_object, Cursor};
use logferry::pipeline::{BatchSettings, ObjectMapper};
use logferry::table::Table;

const RECORDS: usize = 2_000;

fn stages(c: &mut Criterion) {
    for table in Table::ALL {
        let corpus = corpus::generate(table, RECORDS, 7);
        let decoded = corpus.decoded();
        let spans: Vec<_> = decoded.iter().map(|d| frame_all(table, d)).collect();
        let batches: Vec<Batch> = decoded
            .iter()
            .zip(&spans)
            .flat_map(|(d, s)| map_all(table, d, s, 1 << 20, &mut Vec::new()))
            .collect();
        let mut g = c.benchmark_group(table.name());
        g.throughput(Throughput::Bytes(corpus.plain_bytes() as u64));
        g.sample_size(20);
        let mut scratch = Vec::new();
        g.bench_function("decode", |b| {
            b.iter(|| {
                for o in &corpus.objects {
                    gunzip_into(&o.gz, &mut scratch);
                }
            })
        });
        g.bench_function("frame", |b| {
            b.iter(|| {
                decoded
                    .iter()
                    .map(|d| frame_all(table, d).spans.len())
                    .sum::<usize>()
            })
        });
        g.bench_function("parse_map", |b| {
            b.iter_batched(
                || (),
                |()| {
                    decoded
                        .iter()
                        .zip(&spans)
                        .map(|(d, s)| map_all(table, d, s, 1 << 20, &mut Vec::new()).len())
                        .sum::<usize>()
                },
                BatchSize::PerIteration,
            )
        });
        // Rows are written as JSON by the mapping (`parse_map`); a full batch is gzipped in
        // place, as sealing does.
        let mut gzip = Gzip::new(1);
        g.bench_function("compress", |b| {
            b.iter(|| {
                for batch in &batches {
                    scratch.clear();
                    gzip.compress(
                        &[b"[", batch.rows_json(0..batch.rows()), b"]"],
                        &mut scratch,
                    );
                }
            })
        });
        let mut mapper = ObjectMapper::new(BatchSettings::default(), Limits::default());
        g.bench_function("end_to_end", |b| {
            b.iter(|| {
                corpus
                    .objects
                    .iter()
                    .map(|o| mapper.map(table, &o.key, &o.gz).requests.len())
                    .sum::<usize>()
            })
        });
        g.finish();
    }
}

/// The top-level members of a CloudTrail record as borrowed source text: what serde_json
/// offers in place of the cursor's member index (the figures are in `src/json/mod.rs`).
#[derive(serde::Deserialize)]
#[allow(non_snake_case, dead_code)]
struct RawRecord<'a> {
    #[serde(borrow)]
    eventVersion: Option<&'a RawValue>,
    #[serde(borrow)]
    userIdentity: Option<&'a RawValue>,
    #[serde(borrow)]
    eventTime: Option<&'a RawValue>,
    #[serde(borrow)]
    eventSource: Option<&'a RawValue>,
    #[serde(borrow)]
    eventName: Option<&'a RawValue>,
    #[serde(borrow)]
    awsRegion: Option<&'a RawValue>,
    #[serde(borrow)]
    sourceIPAddress: Option<&'a RawValue>,
    #[serde(borrow)]
    userAgent: Option<&'a RawValue>,
    #[serde(borrow)]
    errorCode: Option<&'a RawValue>,
    #[serde(borrow)]
    errorMessage: Option<&'a RawValue>,
    #[serde(borrow)]
    requestParameters: Option<&'a RawValue>,
    #[serde(borrow)]
    responseElements: Option<&'a RawValue>,
    #[serde(borrow)]
    additionalEventData: Option<&'a RawValue>,
    #[serde(borrow)]
    requestID: Option<&'a RawValue>,
    #[serde(borrow)]
    eventID: Option<&'a RawValue>,
    #[serde(borrow)]
    readOnly: Option<&'a RawValue>,
    #[serde(borrow)]
    resources: Option<&'a RawValue>,
    #[serde(borrow)]
    eventType: Option<&'a RawValue>,
    #[serde(borrow)]
    managementEvent: Option<&'a RawValue>,
    #[serde(borrow)]
    recipientAccountId: Option<&'a RawValue>,
    #[serde(borrow)]
    eventCategory: Option<&'a RawValue>,
    #[serde(borrow)]
    tlsDetails: Option<&'a RawValue>,
}

/// Validating and indexing CloudTrail records (already framed) with the cursor, as the
/// framer does (SIMD path, then the cursor), and with serde_json into borrowed `RawValue`s.
fn json_index(c: &mut Criterion) {
    let table = Table::CloudTrail;
    let decoded = corpus::generate(table, RECORDS, 7).decoded();
    let records: Vec<&[u8]> = decoded
        .iter()
        .flat_map(|d| {
            frame_all(table, d)
                .spans
                .into_iter()
                .map(|(s, e, ..)| &d[s..e])
        })
        .collect();
    // Both parse every record (serde_json's struct would refuse a duplicate key).
    assert!(records
        .iter()
        .all(|r| serde_json::from_slice::<RawRecord>(r).is_ok()));
    let descend = table.nested_objects();
    let mut g = c.benchmark_group("json_index_cloudtrail");
    g.throughput(Throughput::Elements(records.len() as u64));
    g.sample_size(20);
    let mut members = Vec::new();
    g.bench_function("cursor", |b| {
        b.iter(|| {
            for r in &records {
                members.clear();
                match fast_index_object(r, descend, &mut members) {
                    Some(ix) => {
                        black_box(ix.ascii || std::str::from_utf8(r).is_ok());
                    }
                    None => {
                        members.clear();
                        black_box(Cursor::new(r).index_object(descend, &mut members).is_ok());
                    }
                }
            }
        })
    });
    g.bench_function("cursor_no_simd", |b| {
        b.iter(|| {
            for r in &records {
                members.clear();
                black_box(Cursor::new(r).index_object(descend, &mut members).is_ok());
            }
        })
    });
    g.bench_function("raw_value_struct", |b| {
        b.iter(|| {
            for r in &records {
                black_box(serde_json::from_slice::<RawRecord>(r).is_ok());
            }
        })
    });
    g.bench_function("raw_value_map", |b| {
        b.iter(|| {
            for r in &records {
                black_box(serde_json::from_slice::<HashMap<&str, &RawValue>>(r).is_ok());
            }
        })
    });
    g.finish();
}

criterion_group!(benches, stages, json_index);
criterion_main!(benches);
