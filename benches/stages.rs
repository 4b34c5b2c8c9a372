//! Criterion benches for each stage on the generated corpus (`logferry::bench::corpus`), with
//! byte throughput of decompressed input. `logferry bench` prints the same stages next to the
//! codec floor; these give Criterion's statistics and history for one stage at a time.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

use logferry::batch::gzip::Gzip;
use logferry::batch::Batch;
use logferry::bench::{corpus, frame_all, gunzip_into, map_all};
use logferry::frame::Limits;
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

criterion_group!(benches, stages);
criterion_main!(benches);
