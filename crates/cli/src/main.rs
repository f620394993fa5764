//! The `stocktake` binary: serve the API on an embedded store, load the demo journey, and do
//! what a board or an inspector asks for (plan as of a date, an audit trail, a board report,
//! a verified export) from the command line. `main` only maps [`run`]'s outcome to an exit code.

mod cli;
mod commands;
mod data_dir;
mod exit;
mod import_plan;
mod progress;
mod report;
mod table;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let code = exit::code_for(&error);
            eprintln!("stocktake: {error:#}");
            ExitCode::from(code)
        }
    }
}
