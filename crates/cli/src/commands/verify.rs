//! `stocktake verify` and `stocktake rebuild`.

use std::path::Path;
use std::time::Instant;

use crate::data_dir;
use crate::exit;
use crate::progress::Progress;

pub fn verify(data_dir: &Path) -> anyhow::Result<()> {
    let log = data_dir::open_log(data_dir, "GET /api/v1/verify")?;
    let progress = Progress::new("verifying", log.head().last_seq);
    let report = log.verify(&mut |seq| progress.update(seq, 0))?;
    progress.finish();
    if report.ok {
        println!(
            "ok: {} events verified; head hash {}",
            report.events, report.head_hash
        );
        Ok(())
    } else {
        Err(exit::fail(
            exit::VERIFY_FAILED,
            format!(
                "the log does not verify: first bad event is seq {}: {}",
                report.first_bad_seq.map_or("?".into(), |s| s.to_string()),
                report.problem.unwrap_or_default()
            ),
        ))
    }
}

pub fn rebuild(data_dir: &Path) -> anyhow::Result<()> {
    let log = data_dir::open_log(
        data_dir,
        "restart the server: it rebuilds what is out of date",
    )?;
    stocktake_projections::checkpoint::remove(&data_dir::projections_dir(data_dir))?;
    let started = Instant::now();
    let projector = data_dir::project(&log, data_dir)?;
    let events = projector.last_seq();
    let seconds = started.elapsed().as_secs_f64();
    projector.save_checkpoint(&log)?;
    println!(
        "rebuilt the read models from {events} events in {seconds:.2}s ({:.0} events/s)",
        events as f64 / seconds.max(1e-9)
    );
    Ok(())
}
