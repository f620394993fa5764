//! Checkpoints: the read model's events and the last sequence folded, saved so that a restart
//! does not replay the whole log. A checkpoint is only a cache: when its projection version is
//! not this build's, or it does not match the log, it is ignored and the model rebuilt.

use std::fs;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use stocktake_domain::StreamRef;

use crate::model::ReadModel;
use crate::timeline::Entry;

/// Bump whenever a fold or the checkpoint's shape changes: old checkpoints are then rebuilt.
pub const PROJECTION_VERSION: u32 = 1;

const FILE_NAME: &str = "checkpoint.json";

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("could not {action} the projection checkpoint {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the projection checkpoint {} is unreadable: {source}", path.display())]
    Format {
        path: PathBuf,
        source: serde_json::Error,
    },
}

#[derive(Serialize, Deserialize)]
struct StoredEntry {
    stream: StreamRef,
    #[serde(flatten)]
    entry: Entry,
}

/// What a checkpoint file holds.
#[derive(Serialize, Deserialize)]
struct CheckpointFile {
    projection_version: u32,
    last_seq: u64,
    /// The log's hash of event `last_seq`: proves the checkpoint was made from this log.
    last_hash: String,
    entries: Vec<StoredEntry>,
}

/// A checkpoint read back: the model and the hash it must match in the log.
#[derive(Debug)]
pub struct Loaded {
    pub model: ReadModel,
    pub last_hash: String,
}

pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// Writes the model atomically: to a temporary file, synced, then renamed over the old one.
pub fn save(dir: &Path, model: &ReadModel, last_hash: &str) -> Result<(), CheckpointError> {
    let io = |action, path: &Path| {
        let path = path.to_owned();
        move |source| CheckpointError::Io {
            action,
            path,
            source,
        }
    };
    fs::create_dir_all(dir).map_err(io("create the directory of", dir))?;
    let mut entries: Vec<StoredEntry> = model
        .timelines()
        .flat_map(|t| {
            t.entries().iter().map(move |e| StoredEntry {
                stream: t.stream(),
                entry: e.clone(),
            })
        })
        .collect();
    entries.sort_by_key(|e| e.entry.seq);
    let file = CheckpointFile {
        projection_version: PROJECTION_VERSION,
        last_seq: model.last_seq(),
        last_hash: last_hash.to_owned(),
        entries,
    };
    let final_path = path(dir);
    let temp_path = dir.join(format!("{FILE_NAME}.tmp"));
    let temp = fs::File::create(&temp_path).map_err(io("create", &temp_path))?;
    let mut writer = BufWriter::new(temp);
    serde_json::to_writer(&mut writer, &file).map_err(|source| CheckpointError::Format {
        path: temp_path.clone(),
        source,
    })?;
    writer.flush().map_err(io("write", &temp_path))?;
    writer
        .get_ref()
        .sync_all()
        .map_err(io("sync", &temp_path))?;
    fs::rename(&temp_path, &final_path).map_err(io("replace", &final_path))?;
    Ok(())
}

/// Reads the checkpoint, if there is one of this build's projection version.
pub fn load(dir: &Path) -> Result<Option<Loaded>, CheckpointError> {
    let file_path = path(dir);
    let file = match fs::File::open(&file_path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(CheckpointError::Io {
                action: "open",
                path: file_path,
                source,
            })
        }
    };
    let checkpoint: CheckpointFile =
        serde_json::from_reader(BufReader::new(file)).map_err(|source| {
            CheckpointError::Format {
                path: file_path,
                source,
            }
        })?;
    if checkpoint.projection_version != PROJECTION_VERSION {
        return Ok(None);
    }
    let mut model = ReadModel::default();
    for stored in checkpoint.entries {
        model.apply_entry(stored.stream, stored.entry);
    }
    if model.last_seq() != checkpoint.last_seq {
        return Ok(None);
    }
    Ok(Some(Loaded {
        model,
        last_hash: checkpoint.last_hash,
    }))
}
