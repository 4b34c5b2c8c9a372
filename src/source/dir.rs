//! `dir:PATH`: every file under PATH is an object whose key is its path relative to PATH (with
//! `/` separators), so a copy of a bucket routes exactly as the bucket would. Files are read in
//! key order, in one pass.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use crate::pipeline::{Object, Source};

pub struct DirSource {
    files: Vec<(String, PathBuf, u64)>,
}

impl DirSource {
    /// Lists the tree now, so that the total size is known for progress.
    pub fn new(root: &Path) -> io::Result<Self> {
        let meta = fs::metadata(root)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", root.display())))?;
        let mut files = Vec::new();
        if meta.is_file() {
            let name = root
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            files.push((name, root.to_path_buf(), meta.len()));
        } else {
            walk(root, root, &mut files)?;
        }
        files.sort();
        Ok(DirSource { files })
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf, u64)>) -> io::Result<()> {
    let entries = fs::read_dir(dir)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        let ty = entry.file_type()?;
        if ty.is_dir() {
            walk(root, &path, out)?;
        } else if ty.is_file() || ty.is_symlink() && path.is_file() {
            let rel = path.strip_prefix(root).unwrap_or(&path);
            let key = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
            out.push((key, path, size));
        }
    }
    Ok(())
}

impl Source for DirSource {
    fn total_bytes(&self) -> Option<u64> {
        Some(self.files.iter().map(|f| f.2).sum())
    }

    fn run(&mut self, emit: &mut dyn FnMut(Object) -> bool) -> io::Result<()> {
        for (key, path, size) in std::mem::take(&mut self.files) {
            let object = Object {
                key,
                size: Some(size),
                open: Box::new(move || {
                    File::open(&path)
                        .map(|f| Box::new(f) as Box<dyn io::Read + Send>)
                        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
                }),
                done: None,
            };
            if !emit(object) {
                break;
            }
        }
        Ok(())
    }
}
