//! `stocktake plan`, `history` and `report`: the read models from the command line.

use std::io::IsTerminal;
use std::path::Path;

use chrono::{DateTime, Utc};
use stocktake_domain::{ActionId, PlanId, TimeInput};
use stocktake_projections::views::report::{board_report, LogHead};
use stocktake_projections::views::{action, overview};
use stocktake_projections::{At, ReadModel};
use uuid::Uuid;

use crate::report::{self, Format};
use crate::{data_dir, exit, table};

fn time(raw: Option<&str>, name: &str, start: bool) -> anyhow::Result<Option<DateTime<Utc>>> {
    raw.map(|raw| {
        let input: TimeInput = raw
            .parse()
            .map_err(|e| exit::fail(exit::INPUT_REFUSED, format!("--{name}: {e}")))?;
        Ok(if start { input.start() } else { input.end() })
    })
    .transpose()
}

/// The plan asked for, or the only plan there is.
fn choose_plan(model: &ReadModel, plan: Option<Uuid>) -> anyhow::Result<PlanId> {
    if let Some(plan) = plan {
        return Ok(PlanId(plan));
    }
    let plans: Vec<PlanId> = model.plan_ids().collect();
    match plans.as_slice() {
        [only] => Ok(*only),
        [] => Err(exit::fail(
            exit::FAILED,
            "the log holds no plan yet (try `stocktake demo`)",
        )),
        _ => Err(exit::fail(
            exit::FAILED,
            format!(
                "the log holds {} plans; choose one with --plan ({})",
                plans.len(),
                plans
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

pub fn plan(
    data_dir: &Path,
    plan: Option<Uuid>,
    as_of: Option<&str>,
    known_at: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    let at = At {
        as_of: time(as_of, "as-of", false)?,
        known_at: time(known_at, "known-at", false)?,
    };
    let log = data_dir::open_log(data_dir, "GET /api/v1/plans/{plan_id}?as_of=&known_at=")?;
    let projector = data_dir::project(&log, data_dir)?;
    let model = projector.read();
    let plan_id = choose_plan(&model, plan)?;
    let overview = overview::plan_overview(&model, plan_id, &at, Utc::now())?;
    if json {
        println!("{}", serde_json::to_string_pretty(&overview)?);
    } else {
        print!(
            "{}",
            table::plan(&overview, std::io::stdout().is_terminal())
        );
    }
    Ok(())
}

pub fn history(data_dir: &Path, action_id: Uuid, json: bool) -> anyhow::Result<()> {
    let log = data_dir::open_log(data_dir, "GET /api/v1/actions/{action_id}/history")?;
    let projector = data_dir::project(&log, data_dir)?;
    let model = projector.read();
    let history = action::action_history(&model, ActionId(action_id), &At::NOW, Utc::now())?;
    if json {
        println!("{}", serde_json::to_string_pretty(&history)?);
    } else {
        print!("{}", table::history(&history));
    }
    Ok(())
}

pub fn report(
    data_dir: &Path,
    plan: Option<Uuid>,
    as_of: Option<&str>,
    since: Option<&str>,
    format: &str,
    out: Option<&Path>,
) -> anyhow::Result<()> {
    let format: Format = format
        .parse()
        .map_err(|e| exit::fail(exit::INPUT_REFUSED, format!("--format: {e}")))?;
    let as_of = time(as_of, "as-of", false)?;
    let since = time(since, "since", true)?;
    let log = data_dir::open_log(
        data_dir,
        "GET /api/v1/plans/{plan_id} and its /changes, /drift, /measures and /visits",
    )?;
    let projector = data_dir::project(&log, data_dir)?;
    let head = log.head();
    let model = projector.read();
    let plan_id = choose_plan(&model, plan)?;
    let log_head = LogHead {
        last_seq: head.last_seq,
        head_hash: head.head_hash,
    };
    let board = board_report(&model, plan_id, as_of, since, Utc::now(), log_head)?;
    let text = report::render(&board, format)?;
    match out {
        Some(path) => {
            std::fs::write(path, text)?;
            eprintln!("wrote {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(())
}
