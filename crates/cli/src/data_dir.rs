//! The data directory: the log (`LOCK`, `journal`, `sled/`), `tokens.json`, `director.token` and
//! `projections/`. Opening it takes the log's lock, so one process owns it at a time.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use stocktake_log::{Log, LogError, LogOptions};
use stocktake_projections::{DomainUpcaster, Projector};

use crate::exit;
use crate::progress::Progress;

pub fn projections_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("projections")
}

pub fn director_token_path(data_dir: &Path) -> PathBuf {
    data_dir.join("director.token")
}

/// Opens the log. When a server holds the directory, says so and names the API call that
/// does the same job (`api_alternative`).
pub fn open_log(data_dir: &Path, api_alternative: &str) -> anyhow::Result<Log> {
    let options = LogOptions {
        upcaster: Some(Arc::new(DomainUpcaster)),
        ..LogOptions::default()
    };
    match Log::open(data_dir, options) {
        Ok(log) => Ok(log),
        Err(LogError::Locked { dir, .. }) => Err(exit::fail(
            exit::IN_USE,
            format!(
                "{} is in use: a Stocktake server is running on it. Stop the server, or ask it instead: {api_alternative}",
                dir.display()
            ),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Builds the read models from the log (and its checkpoint), showing progress on a terminal.
pub fn project(log: &Log, data_dir: &Path) -> anyhow::Result<Projector> {
    let progress = Progress::new("reading the log", log.head().last_seq);
    let projector = Projector::start(log, Some(&projections_dir(data_dir)), &mut |done, total| {
        progress.update(done, total)
    })?;
    progress.finish();
    Ok(projector)
}
