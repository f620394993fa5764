//! Whole-run figures for the read models, on logs of 10,000, 100,000 and 1,000,000 events.
//!
//! `cargo bench -p stocktake-projections --bench projections`
//!
//! For each size the benchmark writes a realistic log through the real domain deciders and the
//! real `stocktake_log::Log` (one plan, 1,000 actions in 10 priority areas, measures, visits,
//! then two years of status changes, progress notes, rebaselines and evidence; one action in
//! twenty is reported on late, so about 5% of the events are recorded 1 to 14 days after they
//! took effect), then measures, in a fresh process per size:
//!
//! - full projection rebuild (`runner::rebuild`: read, decode, upcast, fold) against a
//!   decode-only scan of the same log (`StoredEvent` to `Event::decode`, no projection), in
//!   alternating rounds, as the median of each round's ratio, on the process's CPU time (the
//!   work, of both threads: a rebuild reads and decodes on one while it folds on the other) and
//!   on the wall clock (what the machine made of it), with the CPU each of the two threads spent
//!   per event beside decode-only's;
//! - a start from a checkpoint (`Checkpoints::save`, then `Projector::start`, which loads it,
//!   checks it against the log and folds what came after);
//!
//! then, in another fresh process that rebuilds the model as a server does when it starts:
//!
//! - the read model's resident memory (VmRSS before and after);
//! - `plan_overview` latency, p50 and p99, for random moments: as of, known at, both, and now,
//!   on this thread's CPU time and on the wall clock.
//!
//! It prints a table, and one `RESULT {json}` line per figure for the runner that collects them.
//! `STOCKTAKE_BENCH_SIZES=10000,100000` limits the sizes, `STOCKTAKE_BENCH_QUERIES` sets the
//! queries per kind (2,000) and `STOCKTAKE_BENCH_DIR` where the logs are written. Generating a
//! log is not part of any figure.

use std::collections::HashMap;
use std::future::Future;
use std::hint::black_box;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Command as Process, Stdio};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use stocktake_domain::{
    aggregates, effective_time, AggregateState, Command, Event, Facts, TimeInput,
    CURRENT_SCHEMA_VERSION,
};
use stocktake_log::{AppendError, AppendRequest, ExpectedVersion, Log, LogOptions, NewEvent};
use stocktake_projections::runner::{rebuild, StartedFrom};
use stocktake_projections::views::overview::plan_overview;
use stocktake_projections::{checkpoint, At, DomainUpcaster, Projector, ReadModel};
use uuid::Uuid;

/// The allocator of the `stocktake` binary (see its `main.rs`), so the figures are the product's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DEFAULT_SIZES: [u64; 3] = [10_000, 100_000, 1_000_000];
const AREAS: usize = 10;
const ACTIONS: usize = 1_000;
const MEASURES: usize = 5;
const VISITS: usize = 3;
const FINDINGS_PER_VISIT: usize = 4;
/// Days of effective time the log covers; the plan and its actions are set up in the first 30.
const SPAN_DAYS: i64 = 730;
const SETUP_DAYS: i64 = 30;
/// One action in this many is reported on late, 1 to 14 days after each change.
const LATE_REPORTER_EVERY: usize = 20;
/// The target the brief sets for `plan_overview` at any moment.
const P99_TARGET_MS: f64 = 25.0;
/// The target for a full rebuild, as a share of a decode-only scan.
const REBUILD_TARGET: f64 = 0.60;
/// Appends handed to the log's writer at once (they share group commits).
const APPEND_WINDOW: usize = 8192;

const CHILD_ENV: &str = "STOCKTAKE_BENCH_CHILD";

fn main() {
    if let Ok(child) = std::env::var(CHILD_ENV) {
        let mut parts = child.splitn(3, ':');
        let role = parts.next().unwrap_or_default().to_owned();
        let size: u64 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .expect("child size");
        let dir = PathBuf::from(parts.next().expect("child dir"));
        match role.as_str() {
            "measure" => measure(size, &dir),
            "model" => model(size, &dir),
            "queries" => queries(size, &dir),
            other => panic!("unknown child role {other}"),
        }
        return;
    }
    parent();
}

// ---------------------------------------------------------------------------------------------
// The parent: one fresh process per size and per memory figure, then the table.

fn parent() {
    // `cargo bench` passes `--bench`; anything else (e.g. `cargo test --benches`) gets a smoke
    // run on a small log.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let sizes: Vec<u64> = if smoke {
        vec![2_000]
    } else {
        std::env::var("STOCKTAKE_BENCH_SIZES")
            .ok()
            .map(|s| {
                s.split(',')
                    .map(|n| n.trim().parse().expect("STOCKTAKE_BENCH_SIZES: numbers"))
                    .collect()
            })
            .unwrap_or_else(|| DEFAULT_SIZES.to_vec())
    };
    let base = std::env::var_os("STOCKTAKE_BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    println!(
        "projections benchmark in {} ({} cores), sizes {:?}{}\n",
        base.display(),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        sizes,
        if smoke { " (smoke run)" } else { "" }
    );
    let exe = std::env::current_exe().expect("the benchmark's own path");
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut results: Vec<Value> = Vec::new();
    for &size in &sizes {
        let dir = tempfile::tempdir_in(&base).expect("temp dir");
        for role in ["measure", "model"] {
            let mut child = Process::new(&exe)
                .args(&args)
                .env(CHILD_ENV, format!("{role}:{size}:{}", dir.path().display()))
                .stdout(Stdio::piped())
                .spawn()
                .expect("re-execute the benchmark");
            let out = BufReader::new(child.stdout.take().expect("child stdout"));
            for line in out.lines() {
                let line = line.expect("child output");
                println!("{line}");
                if let Some(json) = line.strip_prefix("RESULT ") {
                    results.push(serde_json::from_str(json).expect("RESULT line is JSON"));
                }
            }
            let status = child.wait().expect("child");
            assert!(status.success(), "the {role} run at {size} events failed");
        }
    }
    for figure in growth(&results, &sizes) {
        figure.print();
        results.push(serde_json::from_str(&figure.json()).expect("RESULT line is JSON"));
    }
    table(&results, &sizes);
}

/// How the p99 of each kind of question grows with the log: against the smallest size, with
/// logarithmic growth (log2 N / log2 N0) as the bound.
fn growth(results: &[Value], sizes: &[u64]) -> Vec<Figure> {
    let Some(&smallest) = sizes.iter().min() else {
        return Vec::new();
    };
    let p99 = |kind: &str, size: u64| {
        results
            .iter()
            .find(|r| {
                r["name"] == format!("plan_overview p99 on-CPU, {kind}")
                    && r["size"].as_u64() == Some(size)
            })
            .and_then(|r| r["value"].as_f64())
    };
    let mut figures = Vec::new();
    for kind in ["now", "as_of", "known_at", "as_of and known_at"] {
        let Some(base) = p99(kind, smallest) else {
            continue;
        };
        for &size in sizes.iter().filter(|&&s| s > smallest) {
            let Some(value) = p99(kind, size) else {
                continue;
            };
            let bound = (size as f64).log2() / (smallest as f64).log2();
            let ratio = value / base;
            figures.push(Figure {
                name: format!("plan_overview p99 on-CPU growth, {kind}"),
                value: ratio,
                unit: "x".into(),
                reference: Some((
                    format!("plan_overview p99 on-CPU, {kind}, at {smallest} events"),
                    base,
                )),
                ratio: Some(ratio),
                target: Some((
                    format!("<= {bound:.2}x (log2 {size} / log2 {smallest})"),
                    ratio <= bound,
                )),
                size,
            });
        }
    }
    figures
}

fn table(results: &[Value], sizes: &[u64]) {
    println!(
        "\n{:<44} {:>8} {:>14} {:>8}  {:<34} met",
        "figure", "events", "value", "ratio", "target"
    );
    let mut names: Vec<&str> = Vec::new();
    for r in results {
        if let Some(name) = r["name"].as_str() {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    for name in names {
        for &size in sizes {
            let Some(r) = results
                .iter()
                .find(|r| r["name"] == name && r["size"].as_u64() == Some(size))
            else {
                continue;
            };
            let value = r["value"].as_f64().unwrap_or(f64::NAN);
            let unit = r["unit"].as_str().unwrap_or("");
            let ratio = r["ratio"]
                .as_f64()
                .map_or_else(|| "-".to_owned(), |x| format!("{x:.2}"));
            let target = r["target"].as_str().unwrap_or("-");
            let met = match r["met"].as_bool() {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "-",
            };
            println!(
                "{name:<44} {size:>8} {:>14} {ratio:>8}  {target:<34} {met}",
                format!("{} {unit}", human(value))
            );
        }
    }
}

fn human(value: f64) -> String {
    if value >= 1000.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.3}")
    }
}

// ---------------------------------------------------------------------------------------------
// One figure, printed as a `RESULT` line.

struct Figure {
    name: String,
    value: f64,
    unit: String,
    reference: Option<(String, f64)>,
    ratio: Option<f64>,
    /// The target as text and whether it was met.
    target: Option<(String, bool)>,
    size: u64,
}

impl Figure {
    fn info(name: &str, value: f64, unit: &str, size: u64) -> Self {
        Figure {
            name: name.to_owned(),
            value,
            unit: unit.to_owned(),
            reference: None,
            ratio: None,
            target: None,
            size,
        }
    }

    fn json(&self) -> String {
        let text = |s: &str| serde_json::to_string(s).expect("a string serializes");
        let number = |x: f64| {
            let rounded = if x.abs() >= 100.0 {
                (x * 10.0).round() / 10.0
            } else {
                (x * 10_000.0).round() / 10_000.0
            };
            serde_json::to_string(&rounded).expect("a finite number serializes")
        };
        let or_null = |o: Option<String>| o.unwrap_or_else(|| "null".to_owned());
        format!(
            "{{\"name\": {}, \"value\": {}, \"unit\": {}, \"reference_name\": {}, \"reference_value\": {}, \"ratio\": {}, \"target\": {}, \"met\": {}, \"size\": {}}}",
            text(&self.name),
            number(self.value),
            text(&self.unit),
            or_null(self.reference.as_ref().map(|(n, _)| text(n))),
            or_null(self.reference.as_ref().map(|&(_, v)| number(v))),
            or_null(self.ratio.map(number)),
            or_null(self.target.as_ref().map(|(t, _)| text(t))),
            or_null(self.target.as_ref().map(|&(_, met)| met.to_string())),
            self.size,
        )
    }

    fn print(&self) {
        println!("RESULT {}", self.json());
    }
}

// ---------------------------------------------------------------------------------------------
// The measuring child: generate the log, then rebuild, checkpoint and query it.

fn open_log(dir: &Path) -> Log {
    Log::open(
        dir.join("log"),
        LogOptions {
            upcaster: Some(Arc::new(DomainUpcaster)),
            ..LogOptions::default()
        },
    )
    .expect("open the log")
}

fn measure(size: u64, dir: &Path) {
    let log = open_log(dir);
    let start = Instant::now();
    let generated = Generator::new(size).write(&log);
    let elapsed = start.elapsed();
    println!(
        "[{size} events] generated in {:.1} s ({:.0} events/s through the log): {} actions, {} measures, {} visits; {:.1}% recorded late, by {:.1} days on average",
        elapsed.as_secs_f64(),
        size as f64 / elapsed.as_secs_f64(),
        generated.actions,
        MEASURES,
        VISITS,
        100.0 * generated.late as f64 / size as f64,
        generated.late_days / generated.late.max(1) as f64,
    );
    assert_eq!(
        log.head().last_seq,
        size,
        "the log holds exactly {size} events"
    );

    // Decode-only and rebuild take turns, and each round's pair is compared, so drift on a
    // shared machine touches both alike. Nothing else runs in this process meanwhile, so its CPU
    // time is the work done (by every thread), whatever else the machine is running.
    // A round at 100,000 events takes a third of a second, within reach of this VM's noise
    // (single rounds read 0.4 to 0.8 of decode-only), so the smaller sizes take nine rounds;
    // at 1,000,000 each takes seconds, and the first pays page faults across the new model (it
    // read up to a tenth below the rounds after it), so five rounds, so that a slow first one
    // does not set the median.
    let rounds = if size >= 1_000_000 { 5 } else { 9 };
    let mut passes: Vec<[Pass; 2]> = Vec::new();
    let mut model = ReadModel::default();
    for round in 0..rounds {
        let decode = Pass::time(|| assert_eq!(decode_only(&log), size));
        drop(model);
        let mut rebuilt = None;
        let build = Pass::time(|| rebuilt = Some(rebuild(&log, &mut |_, _| {}).expect("rebuild")));
        model = rebuilt.expect("rebuilt");
        assert_eq!(model.last_seq(), size);
        println!(
            "[{size} events] round {}: decode-only {:.2} s ({:.2} s on-CPU, {} page faults), rebuild {:.2} s ({:.2} s on-CPU: {:.2} reading, {:.2} folding; {} page faults): {:.2} of decode-only on-CPU",
            round + 1,
            decode.wall.as_secs_f64(),
            decode.cpu.as_secs_f64(),
            decode.page_faults,
            build.wall.as_secs_f64(),
            build.cpu.as_secs_f64(),
            build.cpu.saturating_sub(build.this_thread).as_secs_f64(),
            build.this_thread.as_secs_f64(),
            build.page_faults,
            decode.cpu.as_secs_f64() / build.cpu.as_secs_f64(),
        );
        passes.push([decode, build]);
    }
    let rate = |d: Duration| size as f64 / d.as_secs_f64();
    let median = |mut xs: Vec<f64>| {
        xs.sort_by(f64::total_cmp);
        let mid = xs.len() / 2;
        if xs.len() % 2 == 0 {
            (xs[mid - 1] + xs[mid]) / 2.0
        } else {
            xs[mid]
        }
    };
    let mut rebuild_rate = 0.0;
    for (clock, pick) in [
        ("on-CPU", (|p: &Pass| p.cpu) as fn(&Pass) -> Duration),
        ("wall clock", |p: &Pass| p.wall),
    ] {
        let decode_rate = median(passes.iter().map(|[d, _]| rate(pick(d))).collect());
        let build_rate = median(passes.iter().map(|[_, b]| rate(pick(b))).collect());
        let ratio = median(
            passes
                .iter()
                .map(|[d, b]| pick(d).as_secs_f64() / pick(b).as_secs_f64())
                .collect(),
        );
        Figure::info(
            &format!("decode-only scan, {clock}"),
            decode_rate,
            "events/s",
            size,
        )
        .print();
        Figure {
            name: format!("full projection rebuild, {clock}"),
            value: build_rate,
            unit: "events/s".into(),
            reference: Some((format!("decode-only scan, {clock}"), decode_rate)),
            ratio: Some(ratio),
            target: Some((
                format!(">= {REBUILD_TARGET:.2} of decode-only (median of paired rounds)"),
                ratio >= REBUILD_TARGET,
            )),
            size,
        }
        .print();
        if clock == "wall clock" {
            rebuild_rate = build_rate;
        }
    }

    // Where a rebuild's CPU goes, per event, beside decode-only's: the reading thread does what
    // decode-only does and hands the entries on, the calling thread folds them.
    let per_event = |d: Duration| d.as_secs_f64() * 1e6 / size as f64;
    let decode_cost = median(passes.iter().map(|[d, _]| per_event(d.cpu)).collect());
    for (part, cost) in [
        (
            "reading and decoding thread",
            median(
                passes
                    .iter()
                    .map(|[_, b]| per_event(b.cpu.saturating_sub(b.this_thread)))
                    .collect(),
            ),
        ),
        (
            "folding thread",
            median(
                passes
                    .iter()
                    .map(|[_, b]| per_event(b.this_thread))
                    .collect(),
            ),
        ),
    ] {
        Figure {
            name: format!("full projection rebuild, {part}, on-CPU per event"),
            value: cost,
            unit: "µs".into(),
            reference: Some(("decode-only scan, on-CPU per event".into(), decode_cost)),
            ratio: Some(cost / decode_cost),
            target: None,
            size,
        }
        .print();
    }

    // The memory a rebuild takes from the kernel, which decode-only (freeing each event before
    // it decodes the next) does not: the first round's model is all new pages; later rounds
    // reuse what the round before freed, as far as the allocator still holds it.
    let faults_per_thousand = |p: &Pass| p.page_faults as f64 * 1000.0 / size as f64;
    let decode_faults = median(passes.iter().map(|[d, _]| faults_per_thousand(d)).collect());
    let build_faults = median(passes.iter().map(|[_, b]| faults_per_thousand(b)).collect());
    Figure {
        name: "full projection rebuild, page faults per 1,000 events".into(),
        value: build_faults,
        unit: "faults".into(),
        reference: Some((
            "decode-only scan, page faults per 1,000 events".into(),
            decode_faults,
        )),
        ratio: None,
        target: None,
        size,
    }
    .print();

    checkpoint_figures(&log, &model, size, dir, rebuild_rate);
}

fn queries_per_kind(size: u64) -> usize {
    std::env::var("STOCKTAKE_BENCH_QUERIES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if size < 5_000 { 50 } else { 2_000 })
}

/// Reads every event from the log and decodes its payload, with no projection work.
fn decode_only(log: &Log) -> u64 {
    let mut count = 0;
    for stored in log.iter_all(0) {
        let stored = stored.expect("read the log");
        let event = Event::decode(&stored.event_type, stored.data.get()).expect("decode");
        black_box(&event);
        count += 1;
    }
    count
}

/// A checkpoint as the runner writes it, some way behind the head (it writes one every
/// 50,000 events), then a start from it: load, check against the log, fold the rest.
fn checkpoint_figures(log: &Log, full: &ReadModel, size: u64, dir: &Path, rebuild_rate: f64) {
    let behind = (size / 10).min(50_000);
    let upto = size - behind;
    let checkpoint_dir = dir.join("checkpoint");
    let t = Instant::now();
    checkpoint::Checkpoints::new(&checkpoint_dir)
        .save(log, upto)
        .expect("save the checkpoint");
    let save = t.elapsed();
    let bytes = std::fs::metadata(checkpoint::path(&checkpoint_dir)).map_or(0, |m| m.len());
    Figure::info("checkpoint save", save.as_secs_f64() * 1000.0, "ms", size).print();
    Figure::info("checkpoint size", bytes as f64 / 1e6, "MB", size).print();

    let t = Instant::now();
    let projector = Projector::start(log, Some(&checkpoint_dir), &mut |_, _| {}).expect("start");
    let started = t.elapsed();
    assert_eq!(
        projector.started_from(),
        StartedFrom::Checkpoint {
            checkpoint_seq: upto
        }
    );
    assert_eq!(projector.last_seq(), size);
    assert_eq!(
        projector.read().state_hash(),
        full.state_hash(),
        "a start from the checkpoint answers as the full rebuild does"
    );
    let rate = size as f64 / started.as_secs_f64();
    println!(
        "[{size} events] start from a checkpoint at {upto} ({behind} behind): {:.2} s",
        started.as_secs_f64()
    );
    Figure {
        name: format!("start from checkpoint ({behind} events behind)"),
        value: rate,
        unit: "events/s".into(),
        reference: Some(("full projection rebuild, wall clock".into(), rebuild_rate)),
        ratio: Some(rate / rebuild_rate),
        target: None,
        size,
    }
    .print();
}

/// The querying thread's CPU time: what a question costs, without the time the scheduler gave
/// to the other processes of a busy machine.
fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// This process's CPU time, across its threads.
fn process_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// A kind of question: the moment asked about, from two random times.
type Question = fn(DateTime<Utc>, DateTime<Utc>) -> At;

fn query_figures(model: &ReadModel, size: u64, queries: usize) {
    let plan = model.plan_ids().next().expect("the plan");
    let first = origin();
    let last = origin() + chrono::Duration::days(SPAN_DAYS + 30);
    let now = origin() + chrono::Duration::days(SPAN_DAYS + 31);
    let mut rng = StdRng::seed_from_u64(size ^ 0x5eed);
    let moment = |rng: &mut StdRng| {
        let span = (last - first).num_seconds();
        first + chrono::Duration::seconds(rng.random_range(0..span))
    };
    let kinds: [(&str, Question); 4] = [
        ("now", |_, _| At::NOW),
        ("as_of", |a, _| At::as_of(a)),
        ("known_at", |_, k| At {
            as_of: None,
            known_at: Some(k),
        }),
        ("as_of and known_at", |a, k| At::as_of(a).known_at(k)),
    ];
    let only = std::env::var("STOCKTAKE_BENCH_KINDS").ok();
    // Warm up: the first questions pay for page faults in the model.
    for _ in 0..5 {
        let at = At::as_of(moment(&mut rng));
        black_box(plan_overview(model, plan, &at, now).expect("overview"));
    }
    let mut now_p99: Option<(f64, f64)> = None;
    for (kind, make) in kinds {
        if only
            .as_deref()
            .is_some_and(|o| !o.split(',').any(|k| k == kind))
        {
            continue;
        }
        let (mut wall, mut cpu) = (Vec::with_capacity(queries), Vec::with_capacity(queries));
        let mut actions = 0;
        for _ in 0..queries {
            let at = make(moment(&mut rng), moment(&mut rng));
            let (t, c) = (Instant::now(), thread_cpu());
            let overview = plan_overview(model, plan, &at, now);
            if let Ok(overview) = &overview {
                actions = actions.max(overview.counts.actions);
            }
            drop(black_box(overview));
            cpu.push(thread_cpu().saturating_sub(c));
            wall.push(t.elapsed());
        }
        let (wall, cpu) = (Percentiles::of(wall), Percentiles::of(cpu));
        println!(
            "[{size} events] plan_overview, {kind} ({queries} questions, up to {actions} actions): on-CPU p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms; wall clock p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
            cpu.p50, cpu.p99, cpu.max, wall.p50, wall.p99, wall.max
        );
        for (clock, figures, reference) in [
            ("on-CPU", &cpu, now_p99.map(|(c, _)| c)),
            ("wall clock", &wall, now_p99.map(|(_, w)| w)),
        ] {
            Figure::info(
                &format!("plan_overview p50 {clock}, {kind}"),
                figures.p50,
                "ms",
                size,
            )
            .print();
            let reference = reference.map(|v| (format!("plan_overview p99 {clock}, now"), v));
            Figure {
                name: format!("plan_overview p99 {clock}, {kind}"),
                value: figures.p99,
                unit: "ms".into(),
                ratio: reference.as_ref().map(|(_, v)| figures.p99 / v),
                reference,
                target: Some((format!("< {P99_TARGET_MS} ms"), figures.p99 < P99_TARGET_MS)),
                size,
            }
            .print();
        }
        if kind == "now" {
            now_p99 = Some((cpu.p99, wall.p99));
        }
    }
}

/// The wall-clock, the process's CPU time and the calling thread's CPU time of one pass.
#[derive(Debug, Clone, Copy)]
struct Pass {
    wall: Duration,
    cpu: Duration,
    /// Of `cpu`, what the calling thread spent: in a rebuild, the fold; the rest is the
    /// reading thread's.
    this_thread: Duration,
    /// The process's minor page faults: here almost all of them its first touch of a page of
    /// memory the kernel has just given it.
    page_faults: u64,
}

impl Pass {
    fn time(f: impl FnOnce()) -> Pass {
        let (faults, wall, cpu, this_thread) =
            (minor_faults(), Instant::now(), process_cpu(), thread_cpu());
        f();
        Pass {
            cpu: process_cpu().saturating_sub(cpu),
            this_thread: thread_cpu().saturating_sub(this_thread),
            wall: wall.elapsed(),
            page_faults: minor_faults().saturating_sub(faults),
        }
    }
}

/// This process's minor page faults so far (`minflt`, the tenth field of `/proc/self/stat`;
/// counted after the command name, which may hold spaces).
fn minor_faults() -> u64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            let (_, fields) = stat.rsplit_once(')')?;
            fields.split_whitespace().nth(7)?.parse().ok()
        })
        .unwrap_or(0)
}

/// Latency percentiles in milliseconds.
struct Percentiles {
    p50: f64,
    p99: f64,
    max: f64,
}

impl Percentiles {
    fn of(mut latencies: Vec<Duration>) -> Self {
        latencies.sort_unstable();
        let pick = |q: f64| {
            let i = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1;
            latencies[i].as_secs_f64() * 1000.0
        };
        Percentiles {
            p50: pick(0.50),
            p99: pick(0.99),
            max: pick(1.0),
        }
    }
}

/// A child for profiling: questions only, on a log an earlier `measure` child left in `dir`.
fn queries(size: u64, dir: &Path) {
    let log = open_log(dir);
    let model = rebuild(&log, &mut |_, _| {}).expect("rebuild");
    query_figures(&model, size, queries_per_kind(size));
}

// ---------------------------------------------------------------------------------------------
// The model child: a fresh process that builds the read model from the log written before, as
// a server does when it starts, measures its memory, then asks it questions.

fn model(size: u64, dir: &Path) {
    let log = open_log(dir);
    // One pass first, so the log's own page cache has grown before the first reading.
    assert_eq!(decode_only(&log), size);
    let before = resident_bytes();
    let model = rebuild(&log, &mut |_, _| {}).expect("rebuild");
    let after = resident_bytes();
    assert_eq!(model.last_seq(), size);
    let grown = after.saturating_sub(before) as f64;
    println!(
        "[{size} events] resident memory {:.1} MB before the read model, {:.1} MB after",
        before as f64 / 1e6,
        after as f64 / 1e6
    );
    Figure::info("read model resident memory", grown / 1e6, "MB", size).print();
    Figure::info(
        "read model memory per event",
        grown / size as f64,
        "bytes",
        size,
    )
    .print();
    query_figures(&model, size, queries_per_kind(size));
}

fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

// ---------------------------------------------------------------------------------------------
// The log: commands decided by the real domain, appended through the real log.

fn origin() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2017, 4, 3, 9, 0, 0).unwrap()
}

fn date(t: DateTime<Utc>) -> String {
    t.date_naive().to_string()
}

const OWNERS: [&str; 8] = [
    "Head of Early Help",
    "Head of the Front Door",
    "Head of Children in Need and Child Protection",
    "Head of Children Looked After",
    "Head of Workforce Development",
    "Head of Performance and Business Intelligence",
    "Principal Social Worker",
    "Head of Commissioning",
];

const NOTES: [&str; 6] = [
    "Audit of twenty cases completed; findings shared with team managers and actions agreed at the practice forum.",
    "Recruitment campaign continues; three permanent social workers start next month and agency use is falling.",
    "Supervision compliance is 84% this month against a target of 90%; team managers have been reminded of the standard.",
    "Partners agreed the revised threshold document at the safeguarding partnership meeting.",
    "Training delivered to 45 practitioners; feedback positive and follow-up sessions booked.",
    "Slippage because of staff sickness in the team; a recovery plan has been agreed with the lead.",
];

const RAGS: [&str; 3] = ["red", "amber", "green"];

struct Stream {
    state: AggregateState,
    last_effective: Option<DateTime<Utc>>,
    version: u64,
}

/// What the generator wrote.
struct Generated {
    actions: usize,
    late: u64,
    late_days: f64,
}

/// A scheduled event that is not an action update: a measure reading or a visit's steps.
enum Special {
    Reading(usize, u32),
    Visit(usize),
    Finding(usize, usize),
    Link(usize, usize),
    Letter(usize),
}

struct Generator {
    size: u64,
    rng: StdRng,
    streams: HashMap<Uuid, Stream>,
    plan: Uuid,
    areas: Vec<Uuid>,
    actions: Vec<Uuid>,
    measures: Vec<Uuid>,
    visits: Vec<Uuid>,
    findings: Vec<Vec<Uuid>>,
    /// Evidence ids per action, so that impact can be confirmed against them.
    evidence: HashMap<Uuid, usize>,
    window: Vec<AppendRequest>,
    emitted: u64,
    late: u64,
    late_days: f64,
}

impl Generator {
    fn new(size: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(size);
        let mut id = || uuid::Builder::from_random_bytes(rng.random()).into_uuid();
        let plan = id();
        let areas = (0..AREAS).map(|_| id()).collect();
        let actions = (0..ACTIONS).map(|_| id()).collect();
        let measures = (0..MEASURES).map(|_| id()).collect();
        let visits: Vec<Uuid> = (0..VISITS).map(|_| id()).collect();
        let findings = visits
            .iter()
            .map(|_| (0..FINDINGS_PER_VISIT).map(|_| id()).collect())
            .collect();
        Generator {
            size,
            rng,
            streams: HashMap::new(),
            plan,
            areas,
            actions,
            measures,
            visits,
            findings,
            evidence: HashMap::new(),
            window: Vec::with_capacity(APPEND_WINDOW),
            emitted: 0,
            late: 0,
            late_days: 0.0,
        }
    }

    fn id(&mut self) -> Uuid {
        uuid::Builder::from_random_bytes(self.rng.random()).into_uuid()
    }

    fn write(mut self, log: &Log) -> Generated {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        self.setup(log, &runtime);
        let specials = self.specials();
        let mut specials = specials.into_iter().peekable();
        let remaining = self.size - self.emitted;
        let first = origin() + chrono::Duration::days(SETUP_DAYS);
        let step = (SPAN_DAYS - SETUP_DAYS) as f64 * 86_400.0 / remaining as f64;
        let mut k = 0u64;
        while self.emitted < self.size {
            let recorded =
                first + chrono::Duration::milliseconds((k as f64 * step * 1000.0) as i64);
            k += 1;
            if let Some((_, special)) = specials.next_if(|(at, _)| *at <= recorded) {
                self.special(special, recorded);
            } else {
                self.update(recorded);
            }
            self.flush_if_full(log, &runtime);
        }
        self.flush(log, &runtime);
        Generated {
            actions: self.actions.len(),
            late: self.late,
            late_days: self.late_days,
        }
    }

    fn setup(&mut self, log: &Log, runtime: &tokio::runtime::Runtime) {
        let day = |d: f64| origin() + chrono::Duration::seconds((d * 86_400.0) as i64);
        let plan = self.plan;
        self.must(
            json!({"type": "create_plan", "plan_id": plan, "title": "Children's services improvement plan",
                "organisation": "A London borough council", "description": "Improvement plan after the inspection."}),
            day(0.0),
            None,
        );
        for (n, area) in self.areas.clone().into_iter().enumerate() {
            self.must(
                json!({"type": "add_priority_area", "plan_id": plan, "area_id": area, "number": n + 1,
                    "title": format!("Priority area {}: practice, oversight and the workforce", n + 1),
                    "lead": OWNERS[n % OWNERS.len()]}),
                day(0.1 + n as f64 * 0.01),
                None,
            );
        }
        for (n, measure) in self.measures.clone().into_iter().enumerate() {
            self.must(
                json!({"type": "define_measure", "measure_id": measure, "plan_id": plan,
                    "name": format!("Performance measure {}", n + 1), "unit": "%",
                    "direction": if n % 2 == 0 { "higher_is_better" } else { "lower_is_better" },
                    "target": 80, "tolerance": 5}),
                day(0.5 + n as f64 * 0.01),
                None,
            );
        }
        for (n, action) in self.actions.clone().into_iter().enumerate() {
            let at = day(1.0 + (SETUP_DAYS - 3) as f64 * n as f64 / ACTIONS as f64);
            let due = origin() + chrono::Duration::days(self.rng.random_range(120..SPAN_DAYS));
            self.must(
                json!({"type": "add_action", "action_id": action, "plan_id": plan,
                    "area_id": self.areas[n % AREAS],
                    "title": format!("Action {}: strengthen management oversight of casework", n + 1),
                    "description": "Team managers record a clear direction on every case at least monthly.",
                    "owner": OWNERS[n % OWNERS.len()], "start_on": date(at), "due_on": date(due)}),
                at,
                None,
            );
            self.flush_if_full(log, runtime);
        }
        self.must(
            json!({"type": "agree_plan", "plan_id": plan, "agreed_on": date(day(29.0)), "agreed_by": "Cabinet"}),
            day(29.2),
            None,
        );
    }

    /// Monthly readings of every measure, and each visit with its findings, links and letter.
    fn specials(&mut self) -> Vec<(DateTime<Utc>, Special)> {
        let mut specials = Vec::new();
        for month in 1..(SPAN_DAYS / 30) as u32 {
            for m in 0..MEASURES {
                let at = origin()
                    + chrono::Duration::days(month as i64 * 30 + 5)
                    + chrono::Duration::minutes(m as i64);
                specials.push((at, Special::Reading(m, month)));
            }
        }
        for v in 0..VISITS {
            let start = origin() + chrono::Duration::days(120 + v as i64 * 230);
            specials.push((start, Special::Visit(v)));
            for f in 0..FINDINGS_PER_VISIT {
                let at = start + chrono::Duration::days(14) + chrono::Duration::minutes(f as i64);
                specials.push((at, Special::Finding(v, f)));
                let at = start + chrono::Duration::days(15) + chrono::Duration::minutes(f as i64);
                specials.push((at, Special::Link(v, f)));
            }
            specials.push((start + chrono::Duration::days(30), Special::Letter(v)));
        }
        specials.sort_by_key(|(at, _)| *at);
        specials
    }

    fn special(&mut self, special: Special, recorded: DateTime<Utc>) {
        let command = match special {
            Special::Reading(m, month) => {
                let period_end = origin() + chrono::Duration::days(month as i64 * 30);
                json!({"type": "record_measure", "measure_id": self.measures[m],
                    "value": 60.0 + self.rng.random_range(0.0..30.0), "period_end": date(period_end),
                    "source": format!("Monthly performance report, month {month}")})
            }
            Special::Visit(v) => {
                let ended = recorded - chrono::Duration::days(1);
                json!({"type": "record_visit", "visit_id": self.visits[v], "plan_id": self.plan,
                    "number": v + 1, "started_on": date(ended - chrono::Duration::days(1)),
                    "ended_on": date(ended), "theme": "Help and protection at the front door"})
            }
            Special::Finding(v, f) => {
                let kind = [
                    "area_for_improvement",
                    "recommendation",
                    "strength",
                    "area_for_improvement",
                ][f];
                json!({"type": "record_finding", "visit_id": self.visits[v], "finding_id": self.findings[v][f],
                    "kind": kind,
                    "text": "Management oversight of casework is not yet consistent across teams."})
            }
            Special::Link(v, f) => {
                let a = self.rng.random_range(0..ACTIONS);
                let b = (a + 1 + self.rng.random_range(0..ACTIONS - 1)) % ACTIONS;
                json!({"type": "link_finding", "visit_id": self.visits[v], "finding_id": self.findings[v][f],
                    "action_ids": [self.actions[a], self.actions[b]]})
            }
            Special::Letter(v) => {
                json!({"type": "publish_visit_letter", "visit_id": self.visits[v], "published_on": date(recorded)})
            }
        };
        if self.execute(command.clone(), recorded, None).is_err() {
            // A strength is not linked to actions: record a progress note instead.
            self.update(recorded);
        }
    }

    /// One change to a random action, as its owner would make it.
    fn update(&mut self, recorded: DateTime<Utc>) {
        let index = self.rng.random_range(0..ACTIONS);
        // One action in twenty is reported on late: its owner records every change days after
        // it happened. (A busy stream cannot take a backdated change at random: the domain
        // refuses one earlier than the stream's latest.)
        let backdated = (index % LATE_REPORTER_EVERY == 0).then(|| {
            let lag = chrono::Duration::days(1 + (index / LATE_REPORTER_EVERY % 14) as i64)
                + chrono::Duration::minutes(self.rng.random_range(0..360));
            let wanted = recorded - lag;
            let last = self.streams[&self.actions[index]].last_effective;
            last.map_or(wanted, |l| l.max(wanted))
        });
        let action = self.actions[index];
        let Some(AggregateState::Action(state)) = self.streams.get(&action).map(|s| &s.state)
        else {
            unreachable!("every action was added in the setup");
        };
        let current = state.action.as_ref().expect("added");
        let (status, due_on, impact_confirmed) =
            (current.status, current.due_on, current.impact_confirmed);
        let owner = current.owner.to_string();
        let rag = RAGS[self.rng.random_range(0..RAGS.len())];
        let note = NOTES[self.rng.random_range(0..NOTES.len())];
        let roll: f64 = self.rng.random();
        let evidence = self.evidence.get(&action).copied().unwrap_or(0);
        let closed = status.is_closed();
        let command = if !closed {
            match roll {
                r if r < 0.55 => {
                    if self.rng.random_bool(0.7) {
                        json!({"type": "record_progress", "action_id": action, "note": note, "rag": rag})
                    } else {
                        json!({"type": "record_progress", "action_id": action, "note": note})
                    }
                }
                r if r < 0.75 => {
                    use stocktake_domain::ActionStatus::*;
                    let next_roll: f64 = self.rng.random();
                    let next = match status {
                        NotStarted if next_roll < 0.85 => InProgress,
                        NotStarted if next_roll < 0.97 => Blocked,
                        NotStarted => Cancelled,
                        InProgress if next_roll < 0.45 => Blocked,
                        InProgress if next_roll < 0.95 => Completed,
                        InProgress => Cancelled,
                        Blocked if next_roll < 0.95 => InProgress,
                        _ => Cancelled,
                    };
                    if next.is_closed() {
                        json!({"type": "change_action_status", "action_id": action, "status": next,
                            "note": "Closed at the action group: the work is done or no longer needed."})
                    } else {
                        json!({"type": "change_action_status", "action_id": action, "status": next,
                            "rag": rag, "note": note})
                    }
                }
                r if r < 0.83 => {
                    let due = due_on + chrono::Duration::days(self.rng.random_range(14..90));
                    json!({"type": "rebaseline_action", "action_id": action, "due_on": due.to_string(),
                        "reason": "Delayed by recruitment; the board agreed a new date."})
                }
                r if r < 0.92 => self.evidence_command(action, evidence),
                _ => {
                    let i = self.rng.random_range(0..OWNERS.len());
                    let owner = if OWNERS[i] == owner {
                        OWNERS[(i + 1) % OWNERS.len()]
                    } else {
                        OWNERS[i]
                    };
                    json!({"type": "assign_action_owner", "action_id": action, "owner": owner,
                        "reason": "Responsibilities moved in the restructure."})
                }
            }
        } else {
            match roll {
                r if r < 0.55 => {
                    json!({"type": "record_progress", "action_id": action, "note": note})
                }
                r if r < 0.70 => self.evidence_command(action, evidence),
                r if r < 0.80
                    && status == stocktake_domain::ActionStatus::Completed
                    && evidence > 0
                    && !impact_confirmed =>
                {
                    json!({"type": "confirm_impact", "action_id": action,
                        "note": "Audit shows the change has held for three months."})
                }
                _ => json!({"type": "reopen_action", "action_id": action,
                    "reason": "The audit found the change has not held.", "rag": rag}),
            }
        };
        if let Err(e) = self.execute(command.clone(), recorded, backdated) {
            panic!("the generator gave a refused command {command}: {e}");
        }
        if let Some(effective) = backdated {
            let days = (recorded - effective).num_seconds() as f64 / 86_400.0;
            if days >= 1.0 {
                self.late += 1;
                self.late_days += days;
            }
        }
        if let Some(command) = command.get("type") {
            if command == "attach_evidence" {
                *self.evidence.entry(action).or_default() += 1;
            }
        }
    }

    fn evidence_command(&mut self, action: Uuid, count: usize) -> Value {
        let evidence_id = self.id();
        json!({"type": "attach_evidence", "action_id": action, "evidence_id": evidence_id,
            "title": format!("Audit report {}", count + 1),
            "reference": format!("https://intranet.example/audits/{evidence_id}")})
    }

    fn must(&mut self, command: Value, recorded: DateTime<Utc>, effective: Option<DateTime<Utc>>) {
        if let Err(e) = self.execute(command.clone(), recorded, effective) {
            panic!("the generator gave a refused command {command}: {e}");
        }
    }

    /// Decides a command against its stream as the gateway does, and queues its events.
    fn execute(
        &mut self,
        command: Value,
        recorded: DateTime<Utc>,
        effective: Option<DateTime<Utc>>,
    ) -> Result<(), stocktake_domain::DomainError> {
        let command: Command = serde_json::from_value(command).expect("command JSON");
        let target = command.target().expect("a target stream");
        let mut facts = Facts::default();
        for context in command.context() {
            if let Some(s) = self.streams.get(&context.id) {
                facts.insert(s.state.clone());
            }
        }
        let stream = self.streams.entry(target.id).or_insert_with(|| Stream {
            state: AggregateState::initial(target.stream_type),
            last_effective: None,
            version: 0,
        });
        let effective_at = effective_time(
            effective.map(TimeInput::Instant),
            recorded,
            stream.last_effective,
        )?;
        let events = aggregates::decide(&command, &stream.state, &facts)?;
        let command_id = uuid::Builder::from_random_bytes(self.rng.random()).into_uuid();
        let expected = stream.version;
        let state = std::mem::replace(
            &mut stream.state,
            AggregateState::initial(target.stream_type),
        );
        stream.state = events.iter().fold(state, AggregateState::evolve);
        stream.version += events.len() as u64;
        stream.last_effective = Some(effective_at);
        self.emitted += events.len() as u64;
        let actor = match &stream.state {
            AggregateState::Action(s) => s.action.as_ref().map(|a| a.owner.to_string()),
            _ => None,
        }
        .unwrap_or_else(|| "Programme Director".to_owned());
        let events = events
            .into_iter()
            .map(|event| NewEvent {
                event_id: uuid::Builder::from_random_bytes(self.rng.random()).into_uuid(),
                event_type: event.type_name().to_owned(),
                schema_version: CURRENT_SCHEMA_VERSION,
                recorded_at: recorded,
                effective_at,
                actor: actor.clone(),
                correlation_id: command_id,
                data: serde_json::value::RawValue::from_string(event.payload_json())
                    .expect("an event payload is JSON"),
            })
            .collect();
        self.window.push(AppendRequest {
            stream: stocktake_log::StreamRef {
                stream_type: target.stream_type.as_str().to_owned(),
                stream_id: target.id,
            },
            expected_version: ExpectedVersion::Exactly(expected),
            events,
            command_id,
            request_digest: *blake3::hash(command_id.as_bytes()).as_bytes(),
        });
        Ok(())
    }

    fn flush_if_full(&mut self, log: &Log, runtime: &tokio::runtime::Runtime) {
        if self.window.len() >= APPEND_WINDOW {
            self.flush(log, runtime);
        }
    }

    /// Hands the window's appends to the log's writer in order, then waits for all of them:
    /// the writer commits them in a few groups instead of one fsync each.
    fn flush(&mut self, log: &Log, runtime: &tokio::runtime::Runtime) {
        type Append<'a> =
            Pin<Box<dyn Future<Output = Result<stocktake_log::AppendOutcome, AppendError>> + 'a>>;
        let mut pending: Vec<Append<'_>> = Vec::with_capacity(self.window.len());
        let mut cx = Context::from_waker(Waker::noop());
        for request in self.window.drain(..) {
            let mut append: Append<'_> = Box::pin(log.append(request));
            // The first poll hands the request to the writer, so the order is this one.
            if let Poll::Ready(outcome) = append.as_mut().poll(&mut cx) {
                outcome.expect("append");
                continue;
            }
            pending.push(append);
        }
        runtime.block_on(async {
            for append in pending {
                append.await.expect("append");
            }
        });
    }
}
