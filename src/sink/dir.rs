//! The dir sink: writes exactly the request bodies the Azure sink would send, one file per
//! request under `OUT/<Table>/`, so that a local run exercises the real batching and
//! compression. Files are written under a temporary name and renamed, so a reader never sees
//! a partial body.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Request, Settle, Sink, SinkError};
use crate::table::{PerTable, Table};

pub struct DirSink {
    root: PathBuf,
    next: PerTable<u64>,
    run: String,
}

impl DirSink {
    pub fn new(root: &Path) -> Result<Self, SinkError> {
        for t in Table::ALL {
            let dir = root.join(t.name());
            fs::create_dir_all(&dir).map_err(|source| SinkError::Io {
                path: dir.display().to_string(),
                source,
            })?;
        }
        // A run prefix keeps the files of several runs into one directory apart.
        let run = time::OffsetDateTime::now_utc()
            .format(time::macros::format_description!(
                "[year][month][day]T[hour][minute][second]Z"
            ))
            .unwrap_or_else(|_| "run".into());
        Ok(DirSink {
            root: root.to_path_buf(),
            next: PerTable::default(),
            run: format!("{run}-{}", std::process::id()),
        })
    }
}

impl Sink for DirSink {
    fn send(&mut self, req: Request, settle: &Arc<dyn Settle>) -> Result<(), SinkError> {
        let n = &mut self.next[req.table];
        *n += 1;
        let dir = self.root.join(req.table.name());
        let path = dir.join(format!("{}-{:06}.json.gz", self.run, n));
        let tmp = dir.join(format!(".{}-{:06}.tmp", self.run, n));
        let io = |source| SinkError::Io {
            path: path.display().to_string(),
            source,
        };
        fs::write(&tmp, &req.body).map_err(io)?;
        fs::rename(&tmp, &path).map_err(io)?;
        settle.accepted(req);
        Ok(())
    }
}
