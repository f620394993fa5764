//! Stocktake's performance suite: every figure next to its limit, the
//! PostgreSQL event-store peer side by side, growth to a million events,
//! start-up time and bytes on disk; then `docs/PERFORMANCE.md`'s summary and
//! `docs/perf/results.json`.
//!
//! ```text
//! just bench                                   # scripts/bench.sh: the whole suite
//! cargo run --release -p stocktake-bench -- --scale 100 --skip projections,http --dry
//! ```
//!
//! Options: `--scale N` divides every workload by N (also
//! `STOCKTAKE_BENCH_SCALE`); `--skip a,b` skips sections (`log`, `side`,
//! `growth`, `projections`, `http`, `profile`); `--dry` writes no files.
//! `STOCKTAKE_BENCH_DIR` is where logs are made (default: the temp dir),
//! `STOCKTAKE_BIN` the `stocktake` binary for start-up times,
//! `STOCKTAKE_PG_BIN` the PostgreSQL binaries.

mod drive;
mod figure;
mod growth;
mod machine;
mod peer;
mod profile;
mod report;
mod startup;
mod stocktake;
mod subbench;
mod suite;
mod workload;

use std::process::ExitCode;

/// The allocator of the `stocktake` binary (see its `main.rs`), so the figures are the product's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("profile-append") => {
            let total = args
                .get(1)
                .and_then(|n| n.parse().ok())
                .unwrap_or(profile::PROFILED_APPENDS);
            suite::profile_append(total)
        }
        _ => suite::Options::parse(&args).and_then(|options| suite::run(&options)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stocktake-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
