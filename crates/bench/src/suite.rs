//! The suite: runs every section in order on this machine and writes the
//! report.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use stocktake_log::{Log, LogOptions};
use uuid::Uuid;

use crate::drive::{self, Run};
use crate::figure::Figure;
use crate::growth::Growth;
use crate::machine::{LoadSampler, Machine};
use crate::peer::{self, Postgres};
use crate::profile;
use crate::report::{Measured, Report};
use crate::stocktake;
use crate::subbench::{Ran, SubBench};
use crate::workload::{progress_payload, Event};

/// Writers and commands per side-by-side run, as in the log's own bench.
const SIDE_BY_SIDE: [(usize, u64); 3] = [(1, 3_000), (16, 40_000), (64, 120_000)];
/// Log sizes for the growth figures.
const GROWTH_MARKS: [u64; 3] = [10_000, 100_000, 1_000_000];
/// Appends per writer in each growth latency window. A group commit answers its appends
/// together (about 16 to a group at 64 writers), so a window of 200 per writer put its p99 in
/// its slowest eight or so groups, and the 1M figure read 0.8 to 1.9 times the 10k one in four
/// runs of the same build. So each window is a thousand appends per writer, in
/// [`GROWTH_ROUNDS`] rounds, and the windows "at 10k" time a log growing from 10,000 to
/// 95,000 events (64, 16 and 1 writers).
const GROWTH_WINDOW_PER_WRITER: u64 = 1_000;
/// Appends in each growth latency window at the least: a single writer's 1,000 put its p99 at
/// the tenth-slowest, and in the rotating rounds its 1M p99 read 0.99 to 1.55 times its 10k
/// value across seven runs.
const GROWTH_WINDOW_EVENTS: u64 = 5_000;
/// Rounds each growth window is split into, the logs of each size taking turns.
const GROWTH_ROUNDS: u64 = 5;
const WRITERS: usize = 64;

#[derive(Debug)]
pub struct Options {
    pub scale: u64,
    pub skip: Vec<String>,
    pub dry: bool,
    pub root: PathBuf,
    pub base: PathBuf,
    pub server: PathBuf,
    pub command: String,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Options, String> {
        let mut scale = std::env::var("STOCKTAKE_BENCH_SCALE")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1u64);
        let mut skip = Vec::new();
        let mut dry = false;
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--scale" => {
                    scale = args
                        .next()
                        .and_then(|s| s.parse().ok())
                        .ok_or("--scale takes a whole number")?
                }
                "--skip" => skip.extend(
                    args.next()
                        .ok_or("--skip takes a list of sections")?
                        .split(',')
                        .map(str::to_owned),
                ),
                "--dry" => dry = true,
                other => return Err(format!("unknown argument `{other}`; see the crate's docs")),
            }
        }
        let known = ["log", "side", "growth", "projections", "http", "profile"];
        if let Some(s) = skip.iter().find(|s| !known.contains(&s.as_str())) {
            return Err(format!("unknown section `{s}`; the sections are {known:?}"));
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .nth(2)
            .expect("crates/bench is two levels down")
            .to_owned();
        let target =
            std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
        let server = std::env::var_os("STOCKTAKE_BIN")
            .map_or_else(|| target.join("release").join("stocktake"), PathBuf::from);
        let base =
            std::env::var_os("STOCKTAKE_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from);
        let command = std::env::var("STOCKTAKE_BENCH_COMMAND")
            .map(|c| c.trim().to_owned())
            .unwrap_or_else(|_| {
                let args: Vec<String> = std::env::args().skip(1).collect();
                format!(
                    "cargo run --release -p stocktake-bench -- {}",
                    args.join(" ")
                )
                .trim_end()
                .to_owned()
            });
        Ok(Options {
            scale: scale.max(1),
            skip,
            dry,
            root,
            base,
            server,
            command,
        })
    }

    fn runs(&self, section: &str) -> bool {
        !self.skip.iter().any(|s| s == section)
    }

    fn scaled(&self, n: u64) -> u64 {
        n / self.scale
    }
}

#[derive(Debug, Default)]
struct Collected {
    figures: Vec<Measured>,
    notes: Vec<String>,
    peer: Option<String>,
}

impl Collected {
    fn add(&mut self, source: &str, figure: Figure) {
        println!("{}", figure.result_line());
        self.figures.push(Measured {
            source: source.to_owned(),
            figure,
        });
    }
}

pub fn run(options: &Options) -> Result<(), String> {
    let started = chrono::Utc::now();
    let clock = Instant::now();
    let machine = Machine::describe(&options.base);
    println!(
        "Stocktake performance suite: {} cores, {}, {}, {}",
        machine.cores, machine.cpu, machine.kernel, machine.disk
    );
    let load = LoadSampler::start(Duration::from_secs(5));
    // The suite itself was just built.
    crate::machine::write_back_dirty_pages();
    let mut c = Collected::default();
    let logs = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| options.root.join("target"), PathBuf::from)
        .join("bench-logs");
    std::fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;

    if options.runs("log") {
        section("the log's own bench: limits, 1/16/64 appenders, import, decode");
        sub_bench(
            options,
            &mut c,
            &logs,
            "stocktake-log",
            "append",
            "log bench",
        );
    }
    let peer = (options.runs("side") || options.runs("growth"))
        .then(|| start_peer(options, &mut c))
        .flatten();
    if options.runs("side") {
        section(
            "side by side: Stocktake's log and the PostgreSQL peer, same commands, same writers",
        );
        if let Err(e) = side_by_side(options, &mut c, peer.as_ref()) {
            c.notes
                .push(format!("The side-by-side run stopped early: {e}"));
        }
    }
    if options.runs("growth") {
        section("growth: append latency at 64, 16 and 1 writers (the log's and the peer's), bytes on disk, start-up and the server's memory at 10k, 100k, 1M events");
        let marks: Vec<u64> = GROWTH_MARKS
            .iter()
            .map(|m| options.scaled(*m).max(WRITERS as u64 * 10))
            .collect();
        let server = options.server.exists().then_some(options.server.as_path());
        if server.is_none() {
            c.notes.push(format!(
                "No `stocktake` binary at {} (build it with `cargo build --release -p stocktake`, or set STOCKTAKE_BIN): no start-up times.",
                options.server.display()
            ));
        }
        let writers: Vec<usize> = SIDE_BY_SIDE.iter().rev().map(|(w, _)| *w).collect();
        let growth = Growth {
            base: &options.base,
            marks: &marks,
            window_per_writer: options.scaled(GROWTH_WINDOW_PER_WRITER).max(10),
            window_events: options.scaled(GROWTH_WINDOW_EVENTS),
            rounds: GROWTH_ROUNDS,
            writers: &writers,
            server,
            peer: peer.as_ref(),
        };
        let mut figures = Vec::new();
        let result = growth.run(&mut figures, &mut c.notes);
        for f in figures {
            c.add("growth", f);
        }
        if let Err(e) = result {
            c.notes.push(format!("The growth run stopped early: {e}"));
        }
        c.notes.push(
            "sled's `use_compression` (zstd, per page) is behind sled's cargo feature `compression`, which the log does not enable; \
             `disk.zstd3_bytes_per_event_estimate` (whole-file `zstd -3` of sled's file; the workload repeats one note, so this flatters compression) bounds what it could save. \
             Enabling it is the log crate's decision (Cargo feature + `Config::use_compression(true)`), not the suite's."
                .to_owned(),
        );
    }
    // Stopped before the other benches, so that it holds none of the machine while they run.
    drop(peer);
    if options.runs("projections") {
        section("projections bench (another crate's; its RESULT lines)");
        sub_bench(
            options,
            &mut c,
            &logs,
            "stocktake-projections",
            "projections",
            "projections bench",
        );
    }
    if options.runs("http") {
        section("HTTP load bench (another crate's; its RESULT lines)");
        sub_bench(
            options,
            &mut c,
            &logs,
            "stocktake-gateway",
            "http_load",
            "http_load bench",
        );
    }

    let log_missed = c.figures.iter().any(|m| {
        m.figure.met == Some(false)
            && ["log bench", "side by side", "growth"].contains(&m.source.as_str())
    });
    let mut profile = None;
    if options.runs("profile") && log_missed {
        section("profile of the append path (a log target was missed)");
        let work = tempfile::tempdir_in(&options.base).map_err(|e| e.to_string())?;
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        match profile::append_path(&exe, work.path()) {
            Ok(p) => {
                for line in p.inclusive.iter().take(15) {
                    println!("  {line}");
                }
                profile = Some(p);
            }
            Err(e) => c.notes.push(format!("No profile: {e}")),
        }
    }

    let load = load.finish();
    let minutes = clock.elapsed().as_secs_f64() / 60.0;
    let report = Report {
        command: &options.command,
        started,
        minutes,
        commit: commit(&options.root),
        machine: &machine,
        load,
        peer: c.peer.clone(),
        figures: &c.figures,
        notes: &c.notes,
        profile: profile.as_ref(),
        scale: options.scale,
    };
    if let Some(l) = load {
        println!(
            "\nload average during the run: min {:.2}, mean {:.2}, max {:.2}",
            l.min, l.mean, l.max
        );
    }
    for note in &c.notes {
        println!("note: {note}");
    }
    if options.dry {
        println!(
            "\n--dry: the report is not written. It would read:\n\n{}",
            report.markdown()
        );
    } else {
        let md = options.root.join("docs/PERFORMANCE.md");
        let json = options.root.join("docs/perf/results.json");
        report.write(&md, &json)?;
        println!(
            "\nwrote {} and {} ({minutes:.1} minutes)",
            md.display(),
            json.display()
        );
    }
    Ok(())
}

fn section(title: &str) {
    println!("\n== {title}");
}

fn sub_bench(
    options: &Options,
    c: &mut Collected,
    logs: &Path,
    package: &'static str,
    bench: &'static str,
    source: &str,
) {
    match (SubBench { package, bench }).run(&options.root, logs, options.scale) {
        Ran::Figures(figures) => {
            for f in figures {
                c.add(source, f);
            }
        }
        Ran::Skipped(note) => {
            println!("skipped: {note}");
            c.notes.push(note);
        }
    }
}

/// The PostgreSQL peer for the side-by-side and growth sections, with the report's note on it.
fn start_peer(options: &Options, c: &mut Collected) -> Option<Postgres> {
    let Some(bin) = peer::bin_dir() else {
        c.notes.push(
            "PostgreSQL 15 binaries not found (/usr/lib/postgresql/15/bin or STOCKTAKE_PG_BIN; scripts/bench.sh installs them): no peer figures."
                .to_owned(),
        );
        return None;
    };
    let server = match Postgres::start(&bin, &options.base) {
        Ok(server) => server,
        Err(e) => {
            c.notes.push(format!("PostgreSQL did not start: {e}"));
            return None;
        }
    };
    c.peer = Some(format!(
        "{}, started for the run on 127.0.0.1:{}, `synchronous_commit = on`, `fsync = on`, otherwise initdb's defaults; \
         one tokio-postgres connection per writer; a command is one single-`INSERT` transaction",
        server.version, server.port
    ));
    println!("peer: {}", server.version);
    if major_version(&server.version) != Some(15) {
        c.notes.push(format!(
            "The issue asks for PostgreSQL 15 as the peer; this run's is {} (the machine had no 15).",
            server.version
        ));
    }
    Some(server)
}

fn side_by_side(
    options: &Options,
    c: &mut Collected,
    server: Option<&Postgres>,
) -> Result<(), String> {
    let runtime = drive::runtime();
    for (writers, total) in SIDE_BY_SIDE {
        let per_writer = options.scaled(total).max(writers as u64 * 10) / writers as u64;
        let streams: Vec<Uuid> = (0..writers).map(|_| Uuid::new_v4()).collect();

        let dir = tempfile::tempdir_in(&options.base).map_err(|e| e.to_string())?;
        let log = Log::open(dir.path(), LogOptions::default()).map_err(|e| e.to_string())?;
        let append = stocktake::append(log.clone(), &streams, &vec![0; writers]);
        let ours = runtime.block_on(drive::drive(writers, per_writer, append))?;
        drop(log);
        println!("stocktake  {}", ours.describe());

        let theirs = match server {
            Some(server) => {
                let clients = runtime.block_on(server.writers(writers))?;
                let payloads: Vec<(Uuid, String)> =
                    streams.iter().map(|s| (*s, progress_payload(*s))).collect();
                let append = peer::append(clients, move |w, i| {
                    Event::progress(payloads[w].0, i, &payloads[w].1)
                });
                let run = runtime.block_on(drive::drive(writers, per_writer, append))?;
                println!("postgres   {}", run.describe());
                Some(run)
            }
            None => None,
        };
        side_figures(c, writers, &ours, theirs.as_ref());
        if writers == WRITERS {
            if let Some(server) = server {
                let (per_event, events) = runtime.block_on(server.bytes_per_event("events"))?;
                c.add(
                    "side by side",
                    Figure::new("disk.postgres_bytes_per_event", per_event, "bytes").size(events),
                );
            }
        }
    }
    Ok(())
}

/// The major version in `postgres --version`'s answer ("postgres (PostgreSQL) 15.18 (Debian
/// 15.18-0+deb12u1)" is 15).
fn major_version(version: &str) -> Option<u32> {
    version
        .split_whitespace()
        .find_map(|word| word.split('.').next()?.parse().ok())
}

fn side_figures(c: &mut Collected, writers: usize, ours: &Run, theirs: Option<&Run>) {
    let source = "side by side";
    let name = |who: &str| format!("side.{who}.{writers}w");
    let mut figures = ours.figures(&name("stocktake")).to_vec();
    if writers == WRITERS {
        figures[0] = figures[0].clone().at_least(50_000.0);
    }
    if let Some(theirs) = theirs {
        let peer = theirs.figures(&name("postgres"));
        for (f, p) in figures.iter_mut().zip(&peer) {
            *f = f.clone().against(&p.name, p.value);
        }
        let mut vs = Figure::new(
            format!("{}_vs_postgres", name("stocktake")),
            ours.rate(),
            "events/s",
        )
        .against(&name("postgres"), theirs.rate())
        .size(ours.events);
        if writers >= 16 {
            vs = vs.ratio_at_least(2.0, "the peer's events/s");
        }
        figures.extend(peer);
        figures.push(vs);
        if theirs.conflicts > 0 {
            c.notes.push(format!(
                "The peer reported {} version conflicts at {writers} writers.",
                theirs.conflicts
            ));
        }
    }
    for f in figures {
        c.add(source, f);
    }
}

/// `stocktake-bench profile-append N`: N appends by 64 writers on a fresh
/// log, for a profiler to watch.
pub fn profile_append(total: u64) -> Result<(), String> {
    let base =
        std::env::var_os("STOCKTAKE_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from);
    let dir = tempfile::tempdir_in(base).map_err(|e| e.to_string())?;
    let log = Log::open(dir.path(), LogOptions::default()).map_err(|e| e.to_string())?;
    let streams: Vec<Uuid> = (0..WRITERS).map(|_| Uuid::new_v4()).collect();
    let append = stocktake::append(log.clone(), &streams, &[0; WRITERS]);
    let run = drive::runtime().block_on(drive::drive(
        WRITERS,
        (total / WRITERS as u64).max(1),
        append,
    ))?;
    println!("{}", run.describe());
    Ok(())
}

fn commit(root: &Path) -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(root)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let hash = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".to_owned());
    match git(&["status", "--porcelain", "--untracked-files=no"]) {
        Some(s) if !s.is_empty() => format!("`{hash}` plus uncommitted changes in the work tree"),
        _ => format!("`{hash}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::major_version;

    #[test]
    fn the_peer_s_major_version_is_read_from_its_banner() {
        assert_eq!(
            major_version("postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"),
            Some(15)
        );
        assert_eq!(major_version("postgres (PostgreSQL) 16.4"), Some(16));
        assert_eq!(major_version("postgres"), None);
    }
}
