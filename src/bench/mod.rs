//! `logferry bench`: each stage and the whole CPU path on a generated corpus, next to the
//! codec floor measured in the same run.
//!
//! The codec floor is the physical cost of the job: gunzip of the input plus gzip of the
//! output at the same level. Everything logferry does beyond that (framing, parsing, mapping,
//! encoding, moving data between threads) is overhead, so the headline figure is the end-to-end
//! rate as a fraction of the floor's rate. Each measurement is the best of `--repeat` rounds, and
//! each round times every stage once (see `run`).

pub mod corpus;

use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::batch::Batch;
use crate::frame::{self, Check, Limits, Span};
use crate::json::MemberSpan;
use crate::pipeline::{self, BatchSettings, Object, ObjectMapper, Settings, Source};
use crate::route::Router;
use crate::sink::dead_letter::DeadLetters;
use crate::sink::{Request, Settle, Sink, SinkError};
use crate::stats::Tally;
use crate::table::{self, ObjectState, Record, Scratch, Table};

#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// Log type to measure: cloudtrail, vpcflow, guardduty or all.
    #[arg(long = "type", default_value = "all", value_parser = ["cloudtrail", "vpcflow", "guardduty", "all"])]
    pub ty: String,
    /// Records generated per log type.
    #[arg(long, default_value_t = 100_000)]
    pub records: usize,
    /// Threads for the all-threads pipeline measurement. Default: all cores.
    #[arg(long)]
    pub threads: Option<usize>,
    /// gzip level of the request bodies (and of the floor's compression).
    #[arg(long, default_value_t = BatchSettings::DEFAULT_GZIP_LEVEL)]
    pub gzip_level: u32,
    /// Rounds; each times every stage once, and the best time of each stage is reported.
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// Also compare gzip levels 1-9 on the encoded output (ratio and speed).
    #[arg(long)]
    pub levels: bool,
    /// Write the generated corpus as gzip objects under DIR (an `AWSLogs/...` tree for
    /// `logferry run --source dir:DIR`) instead of measuring.
    #[arg(long, value_name = "DIR")]
    pub write_corpus: Option<std::path::PathBuf>,
}

/// Runs `f`, keeping in `best` the shortest time seen.
fn timed<T>(best: &mut Duration, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let v = f();
    *best = (*best).min(t.elapsed());
    v
}

pub fn gunzip_into(gz: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let _ = flate2::read::MultiGzDecoder::new(gz).read_to_end(out);
}

/// A record's span in a decompressed object, what the framer checked, and the range of its
/// member index in the object's [`Framed::members`].
pub type RecordSpan = (usize, usize, Check, (usize, usize));

/// An object framed in memory.
pub struct Framed {
    pub spans: Vec<RecordSpan>,
    pub members: Vec<MemberSpan>,
}

/// Frames `data` in memory and returns the record spans. The framer's buffers are recycled
/// from one call to the next, as the pipeline recycles them.
pub fn frame_all(table: Table, data: &[u8]) -> Framed {
    thread_local! {
        static POOLS: crate::pool::Pools = crate::pool::Pools::new(1, Limits::default().chunk_bytes);
    }
    POOLS.with(|pools| {
        let mut spans = Vec::new();
        let mut members = Vec::new();
        let mut collect = |c: frame::Chunk| {
            let base = members.len();
            for s in &c.spans {
                if let Span::Record {
                    start,
                    end,
                    check,
                    members: (m0, m1),
                } = *s
                {
                    spans.push((
                        c.offset as usize + start as usize,
                        c.offset as usize + end as usize,
                        check,
                        (base + m0 as usize, base + m1 as usize),
                    ));
                }
            }
            members.extend_from_slice(&c.members);
            pools.give_chunk_buffer(c.data);
            pools.give_members(c.members);
            true
        };
        let limits = Limits::default();
        let _ = frame::frame_table(
            table,
            data,
            &limits,
            pools,
            &|| false,
            &mut |_| {},
            &mut collect,
        );
        Framed { spans, members }
    })
}

/// Maps pre-framed records into batches: the parse+map stage. Batches are taken from `spare`
/// when it has any (emptied), as the pipeline recycles them.
pub fn map_all(
    table: Table,
    data: &[u8],
    framed: &Framed,
    limit: usize,
    spare: &mut Vec<Batch>,
) -> Vec<Batch> {
    let mut fresh = || match spare.pop() {
        Some(mut b) => {
            b.reset();
            b
        }
        None => table.batch(),
    };
    let mut batches = Vec::new();
    let mut batch = fresh();
    let mut tally = Tally::default();
    let mut scratch = Scratch::default();
    let mut object = ObjectState::new(table);
    for &(s, e, check, (m0, m1)) in &framed.spans {
        let members = (check != Check::Unchecked).then(|| &framed.members[m0..m1]);
        let bytes = &data[s..e];
        if object.wants_header() {
            let _ = object.read_header(bytes, &mut tally.notes);
            continue;
        }
        let rec = Record {
            bytes,
            check,
            members,
        };
        let ok = table::map(&object, rec, &mut scratch, &mut batch, &mut tally.notes).is_ok();
        if !ok {
            batch.rollback_row();
            continue;
        }
        if !batch.fits(batch.pending_row_bytes(), limit) {
            batches.push(batch.split_off_committed(fresh()));
        }
        batch.commit_row(None);
    }
    batches.push(batch);
    batches
}

/// The corpus as a source. Its bytes are shared, not copied per run: copying them on the
/// source thread took a core's time from the workers of a short run.
struct MemSource<'a> {
    objects: &'a [corpus::Object],
    bytes: &'a [Arc<[u8]>],
}

impl Source for MemSource<'_> {
    fn run(&mut self, emit: &mut dyn FnMut(Object) -> bool) -> std::io::Result<()> {
        for (o, bytes) in self.objects.iter().zip(self.bytes) {
            let bytes = bytes.clone();
            let ok = emit(Object {
                key: o.key.clone(),
                size: Some(o.gz.len() as u64),
                open: Box::new(move || {
                    Ok(Box::new(std::io::Cursor::new(bytes)) as Box<dyn Read + Send>)
                }),
                done: None,
            });
            if !ok {
                break;
            }
        }
        Ok(())
    }
}

struct NullSink;
impl Sink for NullSink {
    fn send(&mut self, req: Request, settle: &Arc<dyn Settle>) -> Result<(), SinkError> {
        settle.accepted(req);
        Ok(())
    }
}

struct Line {
    stage: &'static str,
    secs: f64,
}

fn mb(bytes: usize, secs: f64) -> f64 {
    bytes as f64 / secs / 1e6
}

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let tables: Vec<Table> = match args.ty.as_str() {
        "all" => Table::ALL.to_vec(),
        t => vec![Table::from_short(t).ok_or_else(|| anyhow::anyhow!("unknown --type {t}"))?],
    };
    if let Some(dir) = &args.write_corpus {
        let mut total = 0usize;
        for table in &tables {
            let corpus = corpus::generate(*table, args.records, 42);
            for o in &corpus.objects {
                let path = dir.join(&o.key);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::write(&path, &o.gz)?;
                total += o.gz.len();
            }
            println!(
                "{}: {} objects, {} records",
                table.name(),
                corpus.objects.len(),
                corpus.records()
            );
        }
        println!("wrote {:.1} MB under {}", total as f64 / 1e6, dir.display());
        return Ok(());
    }
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let settings = BatchSettings {
        gzip_level: args.gzip_level,
        ..BatchSettings::default()
    };
    println!(
        "logferry bench: {} records per type, gzip level {}, best of {} rounds, {} threads for the pipeline; {} logical CPUs",
        args.records,
        args.gzip_level,
        args.repeat,
        threads,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    for table in tables {
        let corpus = corpus::generate(table, args.records, 42);
        let n = corpus.records();
        let plain = corpus.plain_bytes();
        println!();
        println!(
            "== {} ({} objects, {} records, {:.1} MB decompressed, {:.1} MB gzip, {:.0} B/record)",
            table.name(),
            corpus.objects.len(),
            n,
            plain as f64 / 1e6,
            corpus.gz_bytes() as f64 / 1e6,
            plain as f64 / n as f64
        );
        // Stages, one thread, each fed the previous stage's output (made once here).
        let decoded = corpus.decoded();
        let spans: Vec<_> = decoded.iter().map(|d| frame_all(table, d)).collect();
        let map_pass = |spare: &mut Vec<Batch>| {
            decoded
                .iter()
                .zip(&spans)
                .flat_map(|(d, s)| map_all(table, d, s, settings.max_request_bytes, spare))
                .collect::<Vec<_>>()
        };
        // Mapping writes each row as JSON into its batch's body (there is no encoding pass):
        // the compress stage gzips each full batch's body in place, as sealing does.
        let batches = map_pass(&mut Vec::new());
        let mut spare = Vec::new();
        let rows: usize = batches.iter().map(Batch::rows).sum();
        let json_bytes: usize = batches.iter().map(Batch::json_bytes).sum();
        // The codec stages write into reused buffers, with one reused compressor (as each
        // mapper has): the floor is the codecs' best case.
        let (mut unzipped, mut zipped) = (Vec::new(), Vec::new());
        let mut compress_all = |gzip: &mut crate::batch::gzip::Gzip| {
            batches
                .iter()
                .map(|b| {
                    zipped.clear();
                    gzip.compress(&[b"[", b.rows_json(0..b.rows()), b"]"], &mut zipped);
                    zipped.len()
                })
                .sum::<usize>()
        };
        let mut gzip = crate::batch::gzip::Gzip::new(args.gzip_level);
        let shared: Vec<Arc<[u8]>> = corpus
            .objects
            .iter()
            .map(|o| o.gz.as_slice().into())
            .collect();
        let pipeline_run = |threads: usize| {
            let s = Settings {
                threads,
                batch: settings,
                limits: Limits::default(),
                linger: Duration::from_secs(3600),
                router: Router {
                    rules: vec![],
                    pinned: Some(table),
                },
                ..Settings::default()
            };
            let dead = Arc::new(DeadLetters::new(
                &std::env::temp_dir().join("logferry-bench-dead-letters"),
            ));
            pipeline::run(
                &mut MemSource {
                    objects: &corpus.objects,
                    bytes: &shared,
                },
                &s,
                Box::new(NullSink),
                dead,
                false,
            )
        };
        // Rounds that time every stage once each; the best of each is kept. On a shared
        // machine a slow spell then slows a round, not the stages that happened to run in it,
        // which keeps the ratios to the floor steady from run to run.
        let [mut t_decode, mut t_frame, mut t_map, mut t_gzip, mut t_e2e, mut t_p1, mut t_pn] =
            [Duration::MAX; 7];
        let mut last = None;
        for _ in 0..args.repeat.max(1) {
            timed(&mut t_decode, || {
                for o in &corpus.objects {
                    gunzip_into(&o.gz, &mut unzipped);
                }
            });
            timed(&mut t_frame, || {
                decoded
                    .iter()
                    .map(|d| frame_all(table, d).spans.len())
                    .sum::<usize>()
            });
            spare = timed(&mut t_map, || map_pass(&mut spare));
            let gz_out = timed(&mut t_gzip, || compress_all(&mut gzip));
            let e2e_rows = timed(&mut t_e2e, || {
                let mut m = ObjectMapper::new(settings, Limits::default());
                corpus
                    .objects
                    .iter()
                    .map(|o| m.map(table, &o.key, &o.gz).tally.rows[table])
                    .sum::<u64>()
            });
            let s1 = timed(&mut t_p1, || pipeline_run(1));
            let sn = timed(&mut t_pn, || pipeline_run(threads));
            last = Some((gz_out, e2e_rows, s1, sn));
        }
        let Some((gz_out, e2e_rows, s1, sn)) = last else {
            unreachable!("at least one round")
        };
        if e2e_rows as usize != rows || s1.rows() != e2e_rows || sn.rows() != e2e_rows {
            anyhow::bail!(
                "row counts disagree between stages: staged {rows}, end-to-end {e2e_rows}, pipeline {} / {}",
                s1.rows(),
                sn.rows()
            );
        }
        let floor = t_decode.as_secs_f64() + t_gzip.as_secs_f64();
        let lines = [
            Line {
                stage: "decode (gunzip)",
                secs: t_decode.as_secs_f64(),
            },
            Line {
                stage: "frame (+ validate JSON)",
                secs: t_frame.as_secs_f64(),
            },
            Line {
                stage: "parse + map (rows written as JSON)",
                secs: t_map.as_secs_f64(),
            },
            Line {
                stage: "compress (gzip)",
                secs: t_gzip.as_secs_f64(),
            },
        ];
        println!(
            "{:<34} {:>12} {:>10} {:>10}",
            "stage (1 thread)", "records/s", "MB/s in", "ns/record"
        );
        for l in &lines {
            println!(
                "{:<34} {:>12.0} {:>10.1} {:>10.0}",
                l.stage,
                n as f64 / l.secs,
                mb(plain, l.secs),
                l.secs * 1e9 / n as f64
            );
        }
        let show = |name: &str, secs: f64| {
            println!(
                "{:<34} {:>12.0} {:>10.1} {:>10.0}  {:>5.1}% of floor",
                name,
                n as f64 / secs,
                mb(plain, secs),
                secs * 1e9 / n as f64,
                100.0 * floor / secs
            );
        };
        println!(
            "{:<34} {:>12.0} {:>10.1} {:>10.0}",
            "codec floor (gunzip + gzip)",
            n as f64 / floor,
            mb(plain, floor),
            floor * 1e9 / n as f64
        );
        show("end to end, 1 thread (map_object)", t_e2e.as_secs_f64());
        show("pipeline, 1 thread", t_p1.as_secs_f64());
        show(&format!("pipeline, {threads} threads"), t_pn.as_secs_f64());
        println!(
            "scaling {threads} threads / 1 thread: {:.2}x; output {:.1} MB JSON -> {:.1} MB gzip ({:.1}x), {} requests",
            t_p1.as_secs_f64() / t_pn.as_secs_f64(),
            json_bytes as f64 / 1e6,
            gz_out as f64 / 1e6,
            json_bytes as f64 / gz_out.max(1) as f64,
            sn.tables.iter().map(|t| t.requests).sum::<u64>()
        );
        if args.levels {
            println!("{:<10} {:>10} {:>10}", "gzip level", "MB/s", "ratio");
            for level in 1..=9 {
                let mut gzip = crate::batch::gzip::Gzip::new(level);
                let mut t = Duration::MAX;
                let mut size = 0;
                for _ in 0..args.repeat.max(1) {
                    size = timed(&mut t, || compress_all(&mut gzip));
                }
                println!(
                    "{:<10} {:>10.1} {:>10.2}",
                    level,
                    mb(json_bytes, t.as_secs_f64()),
                    json_bytes as f64 / size as f64
                );
            }
        }
    }
    Ok(())
}
