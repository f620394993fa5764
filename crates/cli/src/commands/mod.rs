//! One module per subcommand; [`run`] dispatches.

mod backup;
mod demo;
mod import_plan;
mod inspect;
mod serve;
mod token;
mod verify;

use std::time::Duration;

use crate::cli::{Cli, Command};

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve {
            data,
            listen,
            demo,
            shutdown_grace,
            header_read_timeout,
        } => serve::run(
            &data.data_dir,
            listen,
            demo,
            serve::Timeouts {
                shutdown_grace: Duration::from_secs(shutdown_grace),
                header_read: Duration::from_secs(header_read_timeout),
            },
        ),
        Command::Demo { data } => demo::run(&data.data_dir),
        Command::Token { action } => token::run(action),
        Command::Plan {
            data,
            plan,
            as_of,
            known_at,
            json,
        } => inspect::plan(
            &data.data_dir,
            plan,
            as_of.as_deref(),
            known_at.as_deref(),
            json,
        ),
        Command::History {
            data,
            action_id,
            json,
        } => inspect::history(&data.data_dir, action_id, json),
        Command::Report {
            data,
            plan,
            as_of,
            since,
            format,
            out,
        } => inspect::report(
            &data.data_dir,
            plan,
            as_of.as_deref(),
            since.as_deref(),
            &format,
            out.as_deref(),
        ),
        Command::Export { data, out } => backup::export(&data.data_dir, out.as_deref()),
        Command::Import { data, file } => backup::import(&data.data_dir, &file),
        Command::ImportPlan {
            data,
            file,
            plan_title,
            organisation,
        } => import_plan::run(&data.data_dir, &file, &plan_title, &organisation),
        Command::Verify { data } => verify::verify(&data.data_dir),
        Command::Rebuild { data } => verify::rebuild(&data.data_dir),
    }
}
