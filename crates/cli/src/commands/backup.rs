//! `stocktake export` and `stocktake import`: JSON Lines, one envelope a line, hashes included.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::Path;

use stocktake_log::ImportError;

use crate::data_dir;
use crate::exit;
use crate::progress::Progress;

pub fn export(data_dir: &Path, out: Option<&Path>) -> anyhow::Result<()> {
    let log = data_dir::open_log(
        data_dir,
        "GET /api/v1/events?after=0&limit=1000, page by page",
    )?;
    let progress = Progress::new("exporting", log.head().last_seq);
    let head = match out {
        Some(path) => {
            let mut writer = BufWriter::new(File::create(path)?);
            let head = log.export(&mut writer, &mut |seq| progress.update(seq, 0))?;
            writer.flush()?;
            writer.get_ref().sync_all()?;
            head
        }
        None => {
            let stdout = io::stdout();
            let mut writer = BufWriter::new(stdout.lock());
            let head = log.export(&mut writer, &mut |seq| progress.update(seq, 0))?;
            writer.flush()?;
            head
        }
    };
    progress.finish();
    eprintln!(
        "exported {} events; head hash {}",
        head.last_seq, head.head_hash
    );
    Ok(())
}

pub fn import(data_dir: &Path, file: &Path) -> anyhow::Result<()> {
    let log = data_dir::open_log(data_dir, "import into a stopped, empty data directory")?;
    let mut reader = BufReader::new(File::open(file)?);
    let progress = Progress::new("importing", 0);
    let head = log
        .import(&mut reader, &mut |seq| progress.update(seq, seq))
        .map_err(|e| match e {
            ImportError::Log(e) => anyhow::Error::from(e),
            refused => exit::fail(
                exit::INPUT_REFUSED,
                format!("{}: {refused}; nothing was imported", file.display()),
            ),
        })?;
    progress.finish();
    println!(
        "imported {} events; head hash {}",
        head.last_seq, head.head_hash
    );
    Ok(())
}
