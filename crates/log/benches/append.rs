//! Event log throughput, with the disk's own limits measured in the same
//! run on the same file system, so the ratios mean something.
//!
//! `cargo bench -p stocktake-log --bench append`
//!
//! Prints whole-run figures (not per-iteration statistics): durable appends
//! per second and latency percentiles at 1, 16 and 64 concurrent appenders;
//! raw sled `apply_batch` + `flush` + `fdatasync` at the group size the log
//! reached with 64 appenders; bare `write` + `fdatasync` per event, in
//! rounds alternating with the single appender's, both as a tokio task
//! awaiting `append` and as a thread calling `append_blocking` (the
//! target's figure: a lone sequential appender, like the CLI's loaders, has
//! no runtime to wake); batched import and a one-core `read_all` decoding
//! scan, each the median of three rounds.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::value::RawValue;
use stocktake_log::{AppendRequest, ExpectedVersion, Log, LogOptions, NewEvent, StreamRef};
use uuid::Uuid;

/// The allocator of the `stocktake` binary (see its `main.rs`), so the figures are the product's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Appends per run, per concurrency level.
const RUNS: [(usize, usize); 3] = [(1, 3_000), (16, 40_000), (64, 120_000)];

fn main() {
    // `cargo bench` passes `--bench`; anything else (e.g. `cargo test
    // --benches`) gets a smoke run.
    let smoke = !std::env::args().any(|a| a == "--bench");
    // STOCKTAKE_BENCH_SCALE=N divides every workload by N (quick looks).
    let scale = std::env::var("STOCKTAKE_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1usize);
    let scale = if smoke { 100 } else { scale.max(1) };
    let base = std::env::var_os("STOCKTAKE_BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    println!(
        "event log benchmark in {} ({} cores)",
        base.display(),
        num_cpus()
    );
    let payload = payload();
    println!(
        "payload: {} bytes of JSON per event, one event per append\n",
        payload.len()
    );

    let record_len = stored_record_len(&base, &payload);
    println!("one stored record: {record_len} bytes\n");

    // The limits next to the runs they bound: the disk's latency drifts
    // on a shared machine.

    let raw_one = raw_sled(&base, 1, (2_000 / scale).max(1), record_len);
    println!(
        "limit: raw sled apply_batch + flush + fdatasync, batches of 1:  {:>9.0} events/s ({:.0} µs per batch)",
        raw_one.0,
        micros(raw_one.1)
    );

    // STOCKTAKE_BENCH_APPENDERS=64 runs only that concurrency (profiling).
    let only: Option<usize> = std::env::var("STOCKTAKE_BENCH_APPENDERS")
        .ok()
        .and_then(|s| s.parse().ok());
    let runs: Vec<(usize, usize)> = RUNS
        .into_iter()
        .filter(|(a, _)| only.is_none_or(|o| o == *a))
        .collect();
    let mut results = Vec::new();
    let mut limits = Vec::new();
    let mut last_log = None;
    let mut bare = None;
    for (appenders, total) in runs.iter().copied() {
        let dir = tempfile::tempdir_in(&base).expect("temp dir");
        let log = Log::open(dir.path(), LogOptions::default()).expect("open");
        let total = (total / scale).max(appenders);
        let r = if appenders == 1 {
            let (run, paired) = one_against_bare(&log, total, &payload, &base, record_len);
            bare = Some(paired);
            run
        } else {
            durable_appends(&log, appenders, total, &payload)
        };
        println!(
            "durable appends, {appenders:>2} appenders: {:>9.0} events/s  p50 {:>7.0} µs  p99 {:>7.0} µs  ({} events in {:.2} s, mean group {:.1} appends, {:.1} events per fdatasync)",
            r.rate,
            micros(r.p50),
            micros(r.p99),
            r.events,
            r.elapsed.as_secs_f64(),
            r.mean_group,
            r.events_per_sync
        );
        if appenders > 1 {
            // What the disk and sled do with batches of the size this run made durable at once.
            let batch = r.events_per_sync.round().max(1.0) as usize;
            let events = (40_000 / scale).max(batch);
            let sled = raw_sled(&base, batch, events, record_len);
            let disk = bare_group_fdatasync(&base, batch, events, record_len);
            println!(
                "  limits at batches of {batch}: raw sled apply_batch + flush + fdatasync {:>9.0} events/s ({:.0} µs per batch); bare write + fdatasync {:>9.0} events/s ({:.0} µs per batch)",
                sled.0,
                micros(sled.1),
                disk.0,
                micros(disk.1)
            );
            limits.push(BatchLimits {
                appenders,
                batch,
                events,
                sled: sled.0,
                disk: disk.0,
            });
        }
        results.push(r);
        last_log = Some((dir, log));
    }
    let (log_dir, log) = last_log.expect("at least one run");
    let mut export = Vec::new();
    log.export(&mut export, &mut |_| {}).expect("export");
    // Whole-run figures of a second or so vary by tens of percent with the
    // allocator's and the page cache's state: the median of a few rounds.
    let mut imports = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let dir = tempfile::tempdir_in(&base).expect("temp dir");
        let target = Log::open(dir.path(), LogOptions::default()).expect("open");
        let start = Instant::now();
        let head = target
            .import(&mut export.as_slice(), &mut |_| {})
            .expect("import");
        imports.push((
            head.last_seq as f64 / start.elapsed().as_secs_f64(),
            dir,
            target,
        ));
    }
    imports.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (import_rate, import_dir, target) = imports.swap_remove(ROUNDS / 2);
    drop(imports);
    let head = target.head();
    println!(
        "\nbatched import: {import_rate:>9.0} events/s ({} events, {:.1} MB of JSON Lines; median of {ROUNDS})",
        head.last_seq,
        export.len() as f64 / 1e6
    );

    let mut scans: Vec<(f64, u64)> = (0..ROUNDS).map(|_| scan(&target)).collect();
    scans.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (scan_rate, scanned) = scans[ROUNDS / 2];
    println!("read_all decode, one core: {scan_rate:>9.0} events/s ({scanned} events; median of {ROUNDS})");
    drop(target);
    let raw_scan = raw_sled_scan(&import_dir.path().join("sled"));
    println!("limit: raw sled scan of the same events, one core: {raw_scan:>9.0} events/s");
    drop((import_dir, log, log_dir));

    let (one, many) = (&results[0], results.last().expect("at least one run"));
    let bare = bare.unwrap_or_else(|| {
        // Only other concurrencies ran (profiling): one unpaired round.
        let events = (3_000 / scale).max(10);
        let (rate, each) = bare_fdatasync(&base, events, record_len);
        let dir = tempfile::tempdir_in(&base).expect("temp dir");
        let log = Log::open(dir.path(), LogOptions::default()).expect("open");
        let blocking = blocking_appends(&log, events, &payload);
        Paired {
            bare_rate: rate,
            bare_each: each,
            ratio: one.rate / rate,
            blocking_ratio: events as f64 / blocking.as_secs_f64() / rate,
        }
    });
    println!(
        "limit: bare write + fdatasync per event ({record_len} bytes):   {:>9.0} events/s ({:.0} µs each)",
        bare.bare_rate,
        micros(bare.bare_each)
    );
    println!("\nratios and targets:");
    report(
        &format!("{} appenders", runs.last().expect("a run").0),
        many.rate,
        50_000.0,
        "events/s",
    );
    for (l, r) in limits.iter().zip(&results[results.len() - limits.len()..]) {
        report(
            &format!(
                "{} appenders / raw sled, batches of {}",
                l.appenders, l.batch
            ),
            r.rate / l.sled * 100.0,
            50.0,
            "%",
        );
        println!(
            "  {:<56} {:>11.1} %",
            format!(
                "{} appenders / bare write+fdatasync, batches of {}",
                l.appenders, l.batch
            ),
            r.rate / l.disk * 100.0
        );
    }
    println!(
        "  {:<56} {:>11.1} %",
        "1 appender (a tokio task) / bare write+fdatasync",
        bare.ratio * 100.0
    );
    report(
        "1 appender (a thread) / bare write+fdatasync",
        bare.blocking_ratio * 100.0,
        80.0,
        "%",
    );
    report("batched import", import_rate, 100_000.0, "events/s");
    report("read_all decode", scan_rate, 1_000_000.0, "events/s");

    // One machine-readable line per figure, for the suite (crates/bench).
    println!();
    let n = |events: usize| Some(events as u64);
    result(
        "log.limit.write_fdatasync",
        bare.bare_rate,
        "events/s",
        None,
        None,
        n((3_000 / scale).max(10)),
    );
    result(
        "log.limit.sled_batch_1",
        raw_one.0,
        "events/s",
        None,
        None,
        n((2_000 / scale).max(1)),
    );
    for l in &limits {
        result(
            &format!("log.limit.sled_batch_{}w", l.appenders),
            l.sled,
            "events/s",
            None,
            None,
            n(l.events),
        );
        result(
            &format!("log.limit.write_fdatasync_{}w", l.appenders),
            l.disk,
            "events/s",
            None,
            None,
            n(l.events),
        );
    }
    for ((appenders, _), r) in runs.iter().zip(&results) {
        let name = format!("log.append.{appenders}w");
        let limit = limits.iter().find(|l| l.appenders == *appenders);
        let target = (*appenders == 64).then_some(50_000.0);
        let disk = match limit {
            Some(l) => (format!("log.limit.write_fdatasync_{appenders}w"), l.disk),
            None => ("log.limit.write_fdatasync".to_owned(), bare.bare_rate),
        };
        result(
            &name,
            r.rate,
            "events/s",
            Some((&disk.0, disk.1)),
            target,
            Some(r.events),
        );
        result(
            &format!("{name}.p50"),
            millis(r.p50),
            "ms",
            None,
            None,
            Some(r.events),
        );
        result(
            &format!("{name}.p99"),
            millis(r.p99),
            "ms",
            None,
            None,
            Some(r.events),
        );
        result(
            &format!("{name}.events_per_fdatasync"),
            r.events_per_sync,
            "events",
            None,
            None,
            Some(r.events),
        );
        if let Some(l) = limit {
            ratio_result(
                &format!("{name}_vs_sled"),
                (r.rate, "events/s"),
                (&format!("log.limit.sled_batch_{appenders}w"), l.sled),
                0.5,
                Some(r.events),
            );
        }
    }
    result(
        "log.append.1w_vs_write_fdatasync",
        bare.ratio,
        "ratio",
        None,
        None,
        Some(one.events),
    );
    result(
        "log.append.1w_blocking_vs_write_fdatasync",
        bare.blocking_ratio,
        "ratio",
        None,
        Some(0.8),
        Some(one.events),
    );
    result(
        "log.import",
        import_rate,
        "events/s",
        None,
        Some(100_000.0),
        Some(head.last_seq),
    );
    result(
        "log.read_all_decode",
        scan_rate,
        "events/s",
        Some(("log.limit.sled_scan", raw_scan)),
        Some(1_000_000.0),
        Some(scanned),
    );
    result(
        "log.limit.sled_scan",
        raw_scan,
        "events/s",
        None,
        None,
        Some(scanned),
    );
}

/// `RESULT {json}`: the suite's format. A target is a floor on `value`.
fn result(
    name: &str,
    value: f64,
    unit: &str,
    reference: Option<(&str, f64)>,
    target: Option<f64>,
    size: Option<u64>,
) {
    let line = serde_json::json!({
        "name": name,
        "value": value,
        "unit": unit,
        "reference_name": reference.map(|r| r.0),
        "reference_value": reference.map(|r| r.1),
        "ratio": reference.map(|r| value / r.1),
        "target": target,
        "met": target.map(|t| value >= t),
        "size": size,
    });
    println!("RESULT {line}");
}

/// A figure whose target is a floor on its ratio to `reference`.
fn ratio_result(
    name: &str,
    (value, unit): (f64, &str),
    reference: (&str, f64),
    floor: f64,
    size: Option<u64>,
) {
    let ratio = value / reference.1;
    let line = serde_json::json!({
        "name": name,
        "value": value,
        "unit": unit,
        "reference_name": reference.0,
        "reference_value": reference.1,
        "ratio": ratio,
        "target": format!(">= {floor} of {}", reference.0),
        "met": ratio >= floor,
        "size": size,
    });
    println!("RESULT {line}");
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn report(what: &str, value: f64, target: f64, unit: &str) {
    let verdict = if value >= target {
        "met".to_owned()
    } else {
        format!("MISSED by {:.0}%", (1.0 - value / target) * 100.0)
    };
    println!("  {what:<56} {value:>11.1} {unit:<8} target ≥ {target:>9.0}  {verdict}");
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// A realistic ~300-byte status-change payload.
fn payload() -> String {
    let mut p = format!(
        r#"{{"action_id":"{}","status":"in_progress","previous_status":"not_started","rag":"amber","owner":"Head of Service, Children's Social Care","due":"2025-03-31","note":"Audit of supervision records started; first findings due at the next improvement board""#,
        Uuid::new_v4()
    );
    while p.len() < 297 {
        p.push(' ');
    }
    p.push('}');
    p
}

struct Run {
    events: u64,
    elapsed: Duration,
    rate: f64,
    p50: Duration,
    p99: Duration,
    mean_group: f64,
    events_per_sync: f64,
}

/// What the disk and sled do with batches of the size a run of several appenders made durable
/// with each `fdatasync`, measured right after it.
struct BatchLimits {
    appenders: usize,
    batch: usize,
    events: usize,
    /// Raw sled: `apply_batch` + `flush` + `fdatasync` per batch, events/s.
    sled: f64,
    /// One `write` of the batch's records + `fdatasync`, events/s: what the journal's frame
    /// costs the disk, with none of the log's work.
    disk: f64,
}

/// Rounds of one appender and of bare `write` + `fdatasync`, alternating.
const PAIRED_ROUNDS: usize = 5;

/// Rounds of the import and of the decoding scan, of which the median counts.
const ROUNDS: usize = 3;

/// The single appender's limit, measured beside it.
struct Paired {
    /// Median over the rounds.
    bare_rate: f64,
    bare_each: Duration,
    /// Median of each round's appender rate over the bare rate next to it:
    /// the appender a tokio task awaiting `Log::append`.
    ratio: f64,
    /// The same for a plain thread calling `Log::append_blocking`, as a
    /// sequential loader (the CLI's demo and spreadsheet import) does.
    blocking_ratio: f64,
}

/// One appender against bare `write` + `fdatasync` in alternating rounds: a
/// disk's flush latency drifts over seconds on a shared machine, so a ratio
/// of two runs taken apart measures the drift as much as the log.
fn one_against_bare(
    log: &Log,
    total: usize,
    payload: &str,
    base: &Path,
    record_len: usize,
) -> (Run, Paired) {
    let per_round = (total / PAIRED_ROUNDS).max(1);
    let mut latencies = Vec::with_capacity(total);
    let mut elapsed = Duration::ZERO;
    let mut bare = Vec::with_capacity(PAIRED_ROUNDS);
    let mut ratios = Vec::with_capacity(PAIRED_ROUNDS);
    let mut blocking_ratios = Vec::with_capacity(PAIRED_ROUNDS);
    for _ in 0..PAIRED_ROUNDS {
        let (bare_rate, bare_each) = bare_fdatasync(base, per_round, record_len);
        let (round, took) = timed_appends(log, 1, per_round, payload);
        ratios.push(round.len() as f64 / took.as_secs_f64() / bare_rate);
        let blocking = blocking_appends(log, per_round, payload);
        blocking_ratios.push(per_round as f64 / blocking.as_secs_f64() / bare_rate);
        bare.push((bare_rate, bare_each));
        latencies.extend(round);
        elapsed += took;
    }
    bare.sort_by(|a, b| a.0.total_cmp(&b.0));
    ratios.sort_by(f64::total_cmp);
    blocking_ratios.sort_by(f64::total_cmp);
    let (bare_rate, bare_each) = bare[PAIRED_ROUNDS / 2];
    let paired = Paired {
        bare_rate,
        bare_each,
        ratio: ratios[PAIRED_ROUNDS / 2],
        blocking_ratio: blocking_ratios[PAIRED_ROUNDS / 2],
    };
    (summarize(log, latencies, elapsed), paired)
}

/// `total` appends one after the other from this thread, with `append_blocking`.
fn blocking_appends(log: &Log, total: usize, payload: &str) -> Duration {
    let stream_id = Uuid::new_v4();
    let start = Instant::now();
    for version in 0..total as u64 {
        log.append_blocking(request(stream_id, version, payload))
            .expect("append");
    }
    start.elapsed()
}

fn durable_appends(log: &Log, appenders: usize, total: usize, payload: &str) -> Run {
    let (latencies, elapsed) = timed_appends(log, appenders, total, payload);
    summarize(log, latencies, elapsed)
}

/// Each append's latency, and the wall time of them all.
fn timed_appends(
    log: &Log,
    appenders: usize,
    total: usize,
    payload: &str,
) -> (Vec<Duration>, Duration) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let per_task = total / appenders;
    let start = Instant::now();
    let latencies: Vec<Duration> = runtime.block_on(async {
        let tasks: Vec<_> = (0..appenders)
            .map(|_| {
                let log = log.clone();
                let payload = payload.to_owned();
                tokio::spawn(async move {
                    let stream_id = Uuid::new_v4();
                    let mut latencies = Vec::with_capacity(per_task);
                    for version in 0..per_task as u64 {
                        let request = request(stream_id, version, &payload);
                        let t = Instant::now();
                        log.append(request).await.expect("append");
                        latencies.push(t.elapsed());
                    }
                    latencies
                })
            })
            .collect();
        let mut all = Vec::with_capacity(total);
        for t in tasks {
            all.extend(t.await.expect("task"));
        }
        all
    });
    (latencies, start.elapsed())
}

fn summarize(log: &Log, mut latencies: Vec<Duration>, elapsed: Duration) -> Run {
    latencies.sort_unstable();
    let pick = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    let events = latencies.len() as u64;
    Run {
        events,
        elapsed,
        rate: events as f64 / elapsed.as_secs_f64(),
        p50: pick(0.50),
        p99: pick(0.99),
        mean_group: log.metrics().mean_group_size(),
        events_per_sync: log.metrics().mean_events_per_sync(),
    }
}

fn request(stream_id: Uuid, version: u64, payload: &str) -> AppendRequest {
    let now = chrono::Utc::now();
    let command_id = Uuid::new_v4();
    AppendRequest {
        stream: StreamRef {
            stream_type: "action".to_owned(),
            stream_id,
        },
        expected_version: ExpectedVersion::Exactly(version),
        events: vec![NewEvent {
            event_id: Uuid::new_v4(),
            event_type: "ActionStatusChanged".to_owned(),
            schema_version: 1,
            recorded_at: now,
            effective_at: now,
            actor: "director@council.example".to_owned(),
            correlation_id: Uuid::new_v4(),
            data: RawValue::from_string(payload.to_owned()).expect("json"),
        }],
        command_id,
        request_digest: *blake3::hash(command_id.as_bytes()).as_bytes(),
    }
}

/// The ceiling for group commit: sled doing only the batch, the flush and
/// the fsync, with one key of the record's size per event.
fn raw_sled(base: &Path, group: usize, total: usize, record_len: usize) -> (f64, Duration) {
    let dir = tempfile::tempdir_in(base).expect("temp dir");
    let db = sled::Config::new()
        .path(dir.path())
        .flush_every_ms(None)
        .open()
        .expect("sled");
    let db_file = File::open(dir.path().join("db")).expect("sled's file");
    let value = vec![b'x'; record_len];
    let batches = total / group;
    let start = Instant::now();
    for b in 0..batches {
        let mut batch = sled::Batch::default();
        for i in 0..group {
            batch.insert(&((b * group + i) as u64).to_be_bytes(), value.as_slice());
        }
        db.apply_batch(batch).expect("batch");
        db.flush().expect("flush");
        db_file.sync_data().expect("fdatasync");
    }
    let elapsed = start.elapsed();
    (
        (batches * group) as f64 / elapsed.as_secs_f64(),
        elapsed / batches as u32,
    )
}

/// The ceiling for one appender: one `write` and one `fdatasync` per event.
fn bare_fdatasync(base: &Path, events: usize, record_len: usize) -> (f64, Duration) {
    bare_group_fdatasync(base, 1, events, record_len)
}

/// The ceiling for the log's group commit on this disk: one `write` of `batch` records, then
/// one `fdatasync`, as the journal does with a group's frame.
fn bare_group_fdatasync(
    base: &Path,
    batch: usize,
    events: usize,
    record_len: usize,
) -> (f64, Duration) {
    let dir = tempfile::tempdir_in(base).expect("temp dir");
    let mut f = File::create(dir.path().join("frames")).expect("file");
    let frame = vec![b'x'; record_len * batch];
    let batches = (events / batch).max(1);
    let start = Instant::now();
    for _ in 0..batches {
        f.write_all(&frame).expect("write");
        f.sync_data().expect("fdatasync");
    }
    let elapsed = start.elapsed();
    (
        (batches * batch) as f64 / elapsed.as_secs_f64(),
        elapsed / batches as u32,
    )
}

/// The bytes one stored record of this benchmark takes: one appended to a log of its own and
/// read back, so that the limits write records of the log's own size.
fn stored_record_len(base: &Path, payload: &str) -> usize {
    let dir = tempfile::tempdir_in(base).expect("temp dir");
    let log = Log::open(dir.path(), LogOptions::default()).expect("open");
    log.append_blocking(request(Uuid::new_v4(), 0, payload))
        .expect("append");
    log.read_all_as_stored(0, 1).expect("read")[0].stored_len()
}

/// Decodes the whole log page by page on this thread, in pages of 1,024
/// events as `Log::iter_all` (and so a projection rebuild) reads it. Pages of
/// 10,000 measured 20 to 30 % slower in some runs and not in others: freeing
/// a page's multi-megabyte buffer can make glibc's malloc consolidate its
/// free lists, depending on the process's allocation history.
fn scan(log: &Log) -> (f64, u64) {
    // Warm sled's cache so the figure is decoding, not the first disk read.
    let _ = log.iter_all(0).count();
    let start = Instant::now();
    let mut after = 0;
    let mut count = 0u64;
    loop {
        let page = log.read_all(after, 1024).expect("read_all");
        let Some(last) = page.last() else { break };
        after = last.seq;
        count += page.len() as u64;
    }
    (count as f64 / start.elapsed().as_secs_f64(), count)
}

/// The ceiling for `read_all`: sled iterating the event keys, no decoding.
fn raw_sled_scan(sled_dir: &Path) -> f64 {
    let db = sled::Config::new()
        .path(sled_dir)
        .flush_every_ms(None)
        .open()
        .expect("sled");
    let range = || db.range(&b"E"[..]..&b"F"[..]);
    let _ = range().count();
    let start = Instant::now();
    let mut bytes = 0;
    let mut count = 0u64;
    for item in range() {
        bytes += item.expect("item").1.len();
        count += 1;
    }
    assert!(bytes > 0);
    count as f64 / start.elapsed().as_secs_f64()
}
