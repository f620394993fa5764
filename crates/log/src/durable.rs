//! Making sled's writes reach stable storage.
//!
//! sled 0.34.7's `flush` writes its log buffers with `pwrite` and then calls
//! `sync_file_range(WAIT_BEFORE | WRITE | WAIT_AFTER)` on Linux
//! (spacejam/sled#1452). That waits for the data pages to be handed to the
//! device, but it persists no metadata (a grown file size, newly allocated
//! extents) and does not flush the device's volatile write cache, so an
//! acknowledged write could still vanish in a power cut. sled also writes
//! oversized values to `blobs/<lsn>` files without any sync, and renames
//! snapshot files into place without syncing the directory.
//!
//! So whenever sled must hold its writes durably (at a journal checkpoint,
//! an import, graceful shutdown; see [`crate::journal`]), its `flush` is
//! followed by [`Syncer::sync`], which `fdatasync`s sled's main file and
//! `fsync`s every file and directory entry that appeared since the last
//! call.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};

use crate::LogError;

#[derive(Debug)]
pub(crate) struct Syncer {
    db_file: File,
    db_path: PathBuf,
    /// Directories whose new entries must be made durable, with the entries
    /// already synced.
    dirs: Vec<(PathBuf, HashSet<OsString>)>,
}

impl Syncer {
    /// Syncs everything sled has created so far, including the directory
    /// entries leading to it, so that a fresh data directory survives a
    /// power cut once `open` has returned.
    pub(crate) fn new(data_dir: &Path, sled_dir: &Path) -> Result<Syncer, LogError> {
        let db_path = sled_dir.join("db");
        let db_file = File::open(&db_path)
            .map_err(|e| LogError::io("could not open sled's main file", &db_path, e))?;
        let mut syncer = Syncer {
            db_file,
            db_path,
            dirs: vec![
                (sled_dir.to_path_buf(), HashSet::new()),
                (sled_dir.join("blobs"), HashSet::new()),
            ],
        };
        syncer.sync()?;
        sync_dir(data_dir)?;
        if let Some(parent) = data_dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
        Ok(syncer)
    }

    /// Runs after sled's `flush`: data pages are written, this makes them
    /// and the metadata needed to read them back durable.
    pub(crate) fn sync(&mut self) -> Result<(), LogError> {
        self.db_file
            .sync_data()
            .map_err(|e| LogError::io("could not fsync", &self.db_path, e))?;
        for (dir, known) in &mut self.dirs {
            sync_new_entries(dir, known)?;
        }
        Ok(())
    }
}

fn sync_new_entries(dir: &Path, known: &mut HashSet<OsString>) -> Result<(), LogError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(LogError::io("could not list", dir, e)),
    };
    let mut present = HashSet::with_capacity(known.len());
    let mut changed = false;
    for entry in entries {
        let entry = entry.map_err(|e| LogError::io("could not list", dir, e))?;
        let name = entry.file_name();
        if !known.contains(&name) {
            let path = entry.path();
            match File::open(&path) {
                Ok(f) => f
                    .sync_all()
                    .map_err(|e| LogError::io("could not fsync", &path, e))?,
                // sled removes superseded snapshots and blobs concurrently.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(LogError::io("could not open for fsync", &path, e)),
            }
            changed = true;
        }
        present.insert(name);
    }
    changed |= present.len() != known.len();
    *known = present;
    if changed {
        sync_dir(dir)?;
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<(), LogError> {
    #[cfg(unix)]
    {
        let f = File::open(dir)
            .map_err(|e| LogError::io("could not open directory for fsync", dir, e))?;
        f.sync_all()
            .map_err(|e| LogError::io("could not fsync directory", dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
