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

/// Reads, rebuilds and requests allocate a few small strings per event. glibc's malloc slowed
/// them by up to a third as its heap fragmented under a long-running log (a `read_all` scan
/// 0.77 to 1.18M events/s from run to run, against 1.35 to 1.63M with mimalloc); mimalloc's
/// per-page free lists do not fragment that way. Built without transparent huge pages (see the
/// workspace `Cargo.toml`). See docs/PERFORMANCE.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
