//! Mapping objects on the calling thread, through exactly the stages a run uses (decode, frame,
//! map, batch, gzip) but without threads or a sink: for tests, fuzz targets and benches.

use std::io::Read;
use std::sync::Arc;

use super::{read_object, BatchSettings, Mapper, ObjectEnd, Output, ReadEnv};
use crate::frame::Limits;
use crate::pool::Pools;
use crate::sink::dead_letter::DeadLetter;
use crate::sink::Request;
use crate::stats::{Stats, Tally};
use crate::table::Table;

/// What one object gives when mapped on the calling thread: for tests, fuzzing and benches.
pub struct Mapped {
    pub requests: Vec<Request>,
    pub dead_letters: Vec<DeadLetter>,
    pub end: ObjectEnd,
    pub tally: Tally,
}

impl Mapped {
    /// All rows of all requests, parsed back from the request bodies.
    pub fn rows(&self) -> Vec<serde_json::Value> {
        let mut rows = Vec::new();
        for r in &self.requests {
            let mut json = Vec::new();
            let mut d = flate2::read::GzDecoder::new(&r.body[..]);
            if d.read_to_end(&mut json).is_ok() {
                if let Ok(serde_json::Value::Array(a)) = serde_json::from_slice(&json) {
                    rows.extend(a);
                }
            }
        }
        rows
    }
}

struct Collect<'a> {
    requests: &'a mut Vec<Request>,
    dead: &'a mut Vec<DeadLetter>,
}

impl Output for Collect<'_> {
    fn request(&mut self, req: Request) {
        self.requests.push(req);
    }
    fn dead_letter(&mut self, dl: DeadLetter) -> bool {
        self.dead.push(dl);
        true
    }
}

/// Maps objects on the calling thread through the same decode, frame, map, batch and encode
/// stages as a run, keeping its buffers from one object to the next.
pub struct ObjectMapper {
    mapper: Mapper,
    pools: Arc<Pools>,
    limits: Limits,
    stats: Stats,
}

impl ObjectMapper {
    pub fn new(settings: BatchSettings, limits: Limits) -> Self {
        let pools = Arc::new(Pools::new(1, limits.chunk_bytes));
        ObjectMapper {
            mapper: Mapper::new(settings, pools.clone()),
            pools,
            limits,
            stats: Stats::default(),
        }
    }

    /// Maps one object's bytes as `table`; every request of the object is sealed before this
    /// returns.
    pub fn map(&mut self, table: Table, key: &str, bytes: &[u8]) -> Mapped {
        let mut requests = Vec::new();
        let mut dead_letters = Vec::new();
        let key: Arc<str> = key.into();
        let mut tally = Tally::default();
        let mapper = &mut self.mapper;
        let env = ReadEnv {
            limits: &self.limits,
            pools: &self.pools,
            stats: &self.stats,
            worker_idle: &|| false,
        };
        let (end, object_dead) =
            read_object(&env, table, &key, bytes, None, &mut tally, &mut |job| {
                mapper.run(
                    job,
                    &mut Collect {
                        requests: &mut requests,
                        dead: &mut dead_letters,
                    },
                );
                true
            });
        dead_letters.extend(object_dead);
        self.mapper.flush_all(&mut Collect {
            requests: &mut requests,
            dead: &mut dead_letters,
        });
        let mut t = std::mem::take(&mut self.mapper.tally);
        t.notes.merge(&tally.notes);
        Mapped {
            requests,
            dead_letters,
            end,
            tally: t,
        }
    }
}

/// Maps one object's bytes as `table` on the calling thread (see [`ObjectMapper`]).
pub fn map_object(
    table: Table,
    key: &str,
    bytes: &[u8],
    settings: BatchSettings,
    limits: &Limits,
) -> Mapped {
    ObjectMapper::new(
        settings,
        Limits {
            chunk_bytes: limits.chunk_bytes,
            max_record_bytes: limits.max_record_bytes,
        },
    )
    .map(table, key, bytes)
}
