//! `stocktake import-plan`: a plan from a spreadsheet, all rows or none.

use std::fs::File;
use std::path::Path;

use chrono::Utc;
use serde_json::Value;
use stocktake_gateway::service::{self, CommandRequest};
use uuid::Uuid;

use crate::import_plan::{check, commands_from_csv};
use crate::{data_dir, exit};

const ACTOR: &str = "spreadsheet import";

pub fn run(data_dir: &Path, file: &Path, title: &str, organisation: &str) -> anyhow::Result<()> {
    let refused = |e: &dyn std::fmt::Display| {
        exit::fail(
            exit::INPUT_REFUSED,
            format!("{}: {e}; nothing was imported", file.display()),
        )
    };
    let input = File::open(file).map_err(|e| refused(&e))?;
    let planned = commands_from_csv(input, title, organisation, &mut Uuid::now_v7)
        .map_err(|e| refused(&e))?;
    let now = Utc::now();
    // Every row is checked against the rules before anything is written, so a bad row
    // leaves the log untouched.
    check(&planned, now).map_err(|e| refused(&e))?;
    let log = data_dir::open_log(data_dir, "POST /api/v1/commands, one command per row")?;
    let mut plan_id = None;
    for planned in &planned {
        let body: Value = serde_json::to_value(&planned.command)?;
        let request = CommandRequest {
            request_digest: service::request_digest(ACTOR, &body),
            command_id: Uuid::now_v7(),
            correlation_id: Uuid::now_v7(),
            command: planned.command.clone(),
            actor: ACTOR.to_owned(),
            recorded_at: now,
            effective_at: None,
            expected_version: None,
        };
        let recorded = service::execute_blocking(&log, &request)?;
        plan_id.get_or_insert(recorded.stream.id);
    }
    log.flush()?;
    println!(
        "imported plan {} from {}: {} commands recorded",
        plan_id.map_or("?".into(), |id| id.to_string()),
        file.display(),
        planned.len()
    );
    Ok(())
}
