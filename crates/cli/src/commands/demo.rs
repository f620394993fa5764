//! `stocktake demo`: the Croydon improvement journey, 2017 to 2019, into an empty log.

use std::path::Path;

use serde_json::Value;
use stocktake_domain::demo;
use stocktake_gateway::service::{self, CommandRequest};
use stocktake_log::Log;

use crate::data_dir;
use crate::exit;
use crate::progress::Progress;

pub fn run(data_dir: &Path) -> anyhow::Result<()> {
    let log = data_dir::open_log(
        data_dir,
        "the demo loads only into a stopped, empty data directory",
    )?;
    let steps = load(&log)?;
    log.flush()?;
    let head = log.head();
    println!(
        "Loaded the demo journey: {steps} commands, {} events; head hash {}",
        head.last_seq, head.head_hash
    );
    println!(
        "The recorded times are simulated as if the plan had been kept live from 2017 to 2019."
    );
    Ok(())
}

/// Runs every step of the journey through the same command service the API uses, with the
/// journey's simulated recorded times. Refuses a log that already holds events.
pub fn load(log: &Log) -> anyhow::Result<usize> {
    let events = log.head().last_seq;
    if events > 0 {
        return Err(exit::fail(
            exit::INPUT_REFUSED,
            format!("the demo loads into an empty log, but this one holds {events} events"),
        ));
    }
    let journey = demo::journey()?;
    let progress = Progress::new("loading the demo", journey.steps.len() as u64);
    let mut next_id = demo::ids();
    for (index, step) in journey.steps.iter().enumerate() {
        let mut command = step.command.clone();
        command.fill_missing_ids(&mut next_id);
        let body: Value = serde_json::to_value(&command)?;
        let request = CommandRequest {
            request_digest: service::request_digest(&step.actor, &body),
            command_id: next_id(),
            correlation_id: next_id(),
            command,
            actor: step.actor.clone(),
            recorded_at: step.recorded_at,
            effective_at: step.effective_at,
            expected_version: None,
        };
        service::execute_blocking(log, &request).map_err(|e| {
            anyhow::anyhow!(
                "demo step {index} ({}) was refused: {e}",
                step.command.type_name()
            )
        })?;
        progress.update(index as u64 + 1, journey.steps.len() as u64);
    }
    progress.finish();
    Ok(journey.steps.len())
}
