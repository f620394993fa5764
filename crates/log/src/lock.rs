//! One process per data directory: an exclusive advisory lock on
//! `<dir>/LOCK`, held for as long as any handle to the log lives.
//!
//! sled takes its own lock too, but only after it has started recovering,
//! and its error does not say which directory is busy. Locking first turns a
//! second process into an immediate, clear [`LogError::Locked`].

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use fs4::fs_std::FileExt;

use crate::LogError;

/// Holds the lock until dropped (closing the file releases it, also when
/// the process is killed).
#[derive(Debug)]
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    pub(crate) fn acquire(dir: &Path) -> Result<DirLock, LogError> {
        let path = dir.join("LOCK");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| LogError::io("could not open the lock file", &path, e))?;
        let locked = FileExt::try_lock_exclusive(&file)
            .map_err(|e| LogError::io("could not lock", &path, e))?;
        if !locked {
            return Err(LogError::Locked {
                dir: dir.to_path_buf(),
                holder: read_holder(&mut file),
            });
        }
        // Who holds the lock is only a hint for the error message of the
        // next opener, so failing to write it is not worth failing the open.
        let _ = file.set_len(0).and_then(|()| {
            file.seek(SeekFrom::Start(0))?;
            writeln!(file, "held by process {}", std::process::id())
        });
        Ok(DirLock { _file: file })
    }
}

fn read_holder(file: &mut File) -> Option<String> {
    let mut s = String::new();
    file.read_to_string(&mut s).ok()?;
    let s = s.trim();
    (!s.is_empty() && s.len() < 200).then(|| s.to_owned())
}

/// Creates the data directory (mode 0700 on unix: it holds personal data
/// about children's services) if it does not exist.
pub(crate) fn create_dir(dir: &Path) -> Result<PathBuf, LogError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| LogError::io("could not create the data directory", dir, e))?;
    Ok(dir.to_path_buf())
}
