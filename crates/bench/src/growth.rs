//! Growth: a log grown to 10k, 100k and 1M events, and a peer table beside it grown to the
//! same sizes, with append latency at 1, 16 and 64 writers, bytes on disk and (the log's)
//! start-up time and resident memory measured at each size.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use stocktake_log::{Log, LogOptions};
use uuid::Uuid;

use crate::drive::{self, Run};
use crate::figure::Figure;
use crate::peer::{self, Postgres, Writer};
use crate::startup;
use crate::stocktake::append;
use crate::workload::{progress_payload, Event, Plan};

/// Bytes written, nothing kept.
#[derive(Debug, Default)]
struct Count(u64);

impl Write for Count {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[derive(Debug)]
pub struct Growth<'a> {
    pub base: &'a Path,
    /// Log sizes to measure at, ascending.
    pub marks: &'a [u64],
    /// Appends per writer in each latency window, over all rounds.
    pub window_per_writer: u64,
    /// Appends in each latency window at the least, over all rounds.
    pub window_events: u64,
    /// Rounds each window is split into, the logs taking turns.
    pub rounds: u64,
    /// The writer counts whose appends are timed at each size, as in the side-by-side runs.
    /// The first also grows each log to its size.
    pub writers: &'a [usize],
    /// The `stocktake` binary, for start-up times and resident memory.
    pub server: Option<&'a Path>,
    /// The PostgreSQL peer, whose tables grow beside the logs, their windows taken right after
    /// the log's of the same size and writers.
    pub peer: Option<&'a Postgres>,
}

/// A log grown to one of the sizes, and what it was set up with.
struct Sized {
    mark: u64,
    /// Before `dir`, so that a dropped log is closed before its directory is removed.
    log: Log,
    dir: tempfile::TempDir,
    plan: Plan,
    versions: Vec<u64>,
}

/// A peer table grown to one of the sizes: `events_<size>`, its streams (each with its
/// payload) and their versions, and the writers' inserts into it.
struct PeerSized {
    table: String,
    streams: Vec<(Uuid, String)>,
    versions: Vec<u64>,
    writers: Vec<Writer>,
}

impl Growth<'_> {
    /// One log per size, each grown to its size first and measured there (bytes on disk,
    /// start-up, resident memory), and a peer table beside it; then the latency windows in rounds,
    /// the logs taking turns in a rotating order, so that the host's slow minutes fall on every
    /// size alike rather than on whichever was measured then (one window per size, measured
    /// one size after another, put a 1M p99 from 0.6 to 2.3 times the 10k one between runs of
    /// the same build).
    pub fn run(&self, figures: &mut Vec<Figure>, notes: &mut Vec<String>) -> Result<(), String> {
        let most = self.writers.iter().copied().max().unwrap_or(1);
        let runtime = drive::runtime();
        // A window's worth of appends on a log of its own, thrown away: the first appends a
        // process makes (its threads, its allocator's pages, the disk's first flushes) were
        // slower than any later ones, and would otherwise all fall on the first size timed.
        drop(self.grow(&runtime, self.window_per_writer * most as u64, most)?);
        let mut logs = Vec::with_capacity(self.marks.len());
        for &mark in self.marks {
            let grown = self.grow(&runtime, mark, most)?;
            // At its size, before the windows add to it.
            logs.push(self.size_and_start(grown, figures, notes)?);
        }
        let mut tables = match self.peer {
            Some(peer) => runtime.block_on(self.grow_peer(peer, most, figures))?,
            None => Vec::new(),
        };

        let rounds = self.rounds.max(1);
        let mut windows: Vec<Vec<Vec<Run>>> =
            vec![vec![Vec::new(); self.writers.len()]; logs.len()];
        let mut peer_windows = windows.clone();
        for round in 0..rounds as usize {
            for (slot, &writers) in self.writers.iter().enumerate() {
                for turn in 0..logs.len() {
                    let at = (turn + round) % logs.len();
                    let sized = &mut logs[at];
                    // Every window starts from a log made durable: a window that began while
                    // sled wrote back what the growing left it measured that, not the size.
                    sized.log.flush().map_err(|e| e.to_string())?;
                    let run = appends(
                        &runtime,
                        &sized.log,
                        &sized.plan,
                        &mut sized.versions,
                        writers,
                        self.per_writer(writers) / rounds,
                    )?;
                    windows[at][slot].push(run);
                    if let (Some(peer), Some(table)) = (self.peer, tables.get_mut(at)) {
                        let run = runtime.block_on(peer_appends(
                            peer,
                            table,
                            writers,
                            self.per_writer(writers) / rounds,
                        ))?;
                        peer_windows[at][slot].push(run);
                    }
                }
            }
        }
        // Per writer count: the log's and the peer's p99 on the smallest log.
        let mut firsts = vec![Firsts::default(); self.writers.len()];
        for (at, (sized, by_writers)) in logs.iter().zip(windows).enumerate() {
            let mark = sized.mark;
            // The issue bounds the growth at 1M; between, the ratio shows its shape.
            let bounded = Some(&mark) == self.marks.last();
            for (slot, runs) in by_writers.into_iter().enumerate() {
                let ours = Run::merge(runs);
                let theirs = std::mem::take(&mut peer_windows[at][slot]);
                let theirs = (!theirs.is_empty()).then(|| Run::merge(theirs));
                firsts[slot].figures(figures, mark, bounded, &ours, theirs.as_ref());
            }
        }

        Ok(())
    }

    /// One peer table per size, `events_<size>`, filled to its size by `writers` streams, with
    /// its bytes per event then, and `writers` connections with the insert prepared on each for
    /// each table.
    async fn grow_peer(
        &self,
        peer: &Postgres,
        writers: usize,
        figures: &mut Vec<Figure>,
    ) -> Result<Vec<PeerSized>, String> {
        let clients = peer.connections(writers).await?;
        let mut tables = Vec::with_capacity(self.marks.len());
        for &mark in self.marks {
            let table = format!("events_{mark}");
            peer.create_table(&table).await?;
            let streams: Vec<(Uuid, String)> = (0..writers)
                .map(|_| {
                    let id = Uuid::new_v4();
                    (id, progress_payload(id))
                })
                .collect();
            let per_stream = mark.div_ceil(writers as u64);
            peer.fill(&table, &streams, per_stream).await?;
            let (per_event, rows) = peer.bytes_per_event(&table).await?;
            println!("  postgres {rows:>8} rows: {per_event:.0} bytes per event");
            figures
                .push(Figure::new("disk.postgres_bytes_per_event", per_event, "bytes").size(rows));
            tables.push(PeerSized {
                writers: peer::prepare(&clients, &table).await?,
                table,
                streams,
                versions: vec![per_stream; writers],
            });
        }
        Ok(tables)
    }

    /// Appends per writer in a size's window: `window_per_writer`, and at least
    /// `window_events` in all. A p99 is a window's hundredth-slowest append; a single writer's
    /// thousand put it at the tenth, one slow `fdatasync` of the shared disk.
    fn per_writer(&self, writers: usize) -> u64 {
        self.window_per_writer
            .max(self.window_events.div_ceil(writers as u64))
            .max(self.rounds)
    }

    /// A log of its own grown to `mark` events by `writers` writers, made durable.
    fn grow(
        &self,
        runtime: &tokio::runtime::Runtime,
        mark: u64,
        writers: usize,
    ) -> Result<Sized, String> {
        let dir = tempfile::tempdir_in(self.base).map_err(|e| e.to_string())?;
        let log = Log::open(dir.path(), LogOptions::default()).map_err(|e| e.to_string())?;
        let plan = Plan::new(writers);
        for event in plan.setup() {
            log.append_blocking(event.to_request())
                .map_err(|e| format!("setting up the plan: {e}"))?;
        }
        let mut versions = vec![1u64; writers];
        let have = log.head().last_seq;
        let per_writer = mark.saturating_sub(have).div_ceil(writers as u64);
        appends(runtime, &log, &plan, &mut versions, writers, per_writer)?;
        log.flush().map_err(|e| e.to_string())?;
        Ok(Sized {
            mark,
            dir,
            log,
            plan,
            versions,
        })
    }

    /// A log's bytes on disk against its JSON Lines export, then the server started on it
    /// twice (rebuilding its read models, then from their checkpoint); the log reopened for
    /// the windows.
    fn size_and_start(
        &self,
        sized: Sized,
        figures: &mut Vec<Figure>,
        notes: &mut Vec<String>,
    ) -> Result<Sized, String> {
        let Sized {
            mark,
            dir,
            log,
            plan,
            versions,
        } = sized;
        log.flush().map_err(|e| e.to_string())?;
        let stored = log.head().last_seq;
        let on_disk = log.size_on_disk().map_err(|e| e.to_string())?;
        let mut jsonl = Count::default();
        log.export(&mut jsonl, &mut |_| {})
            .map_err(|e| e.to_string())?;
        let per_event = on_disk as f64 / stored as f64;
        let jsonl_per_event = jsonl.0 as f64 / stored as f64;
        println!(
            "  at {stored:>8} events: {per_event:.0} bytes on disk per event, {jsonl_per_event:.0} in the JSON Lines export"
        );
        figures.push(
            Figure::new("disk.bytes_per_event", per_event, "bytes")
                .against("disk.jsonl_bytes_per_event", jsonl_per_event)
                .size(stored),
        );
        figures
            .push(Figure::new("disk.jsonl_bytes_per_event", jsonl_per_event, "bytes").size(stored));
        figures.push(
            Figure::new("disk.bytes_per_event_vs_jsonl", per_event, "bytes")
                .against("disk.jsonl_bytes_per_event", jsonl_per_event)
                .ratio_at_most(2.5, "the JSON Lines export's bytes per event")
                .size(stored),
        );
        if Some(&mark) == self.marks.last() {
            match zstd_bytes(&dir.path().join("sled").join("db")) {
                Some(z) => figures.push(
                    Figure::new(
                        "disk.zstd3_bytes_per_event_estimate",
                        z as f64 / stored as f64,
                        "bytes",
                    )
                    .against("disk.jsonl_bytes_per_event", jsonl_per_event)
                    .size(stored),
                ),
                None => notes.push(
                    "zstd is not installed: no estimate of what sled's compression would save"
                        .to_owned(),
                ),
            }
        }
        drop(log);
        if let Some(server) = self.server {
            start(server, dir.path(), stored, figures, notes)?;
        }
        let log = Log::open(dir.path(), LogOptions::default()).map_err(|e| e.to_string())?;
        Ok(Sized {
            mark,
            log,
            dir,
            plan,
            versions,
        })
    }
}

/// The server started on a closed log twice, rebuilding its read models and then from their
/// checkpoint: the time until it serves, and its resident memory then.
fn start(
    server: &Path,
    dir: &Path,
    stored: u64,
    figures: &mut Vec<Figure>,
    notes: &mut Vec<String>,
) -> Result<(), String> {
    let _ = std::fs::remove_dir_all(dir.join("projections"));
    let cold = startup::time_to_healthy(server, dir)?;
    let warm = startup::time_to_healthy(server, dir)?;
    println!(
            "  at {stored:>8} events: serving after {:.0} ms (read models rebuilt), {:.0} ms (from their checkpoint)",
            cold.elapsed.as_secs_f64() * 1e3,
            warm.elapsed.as_secs_f64() * 1e3
        );
    figures
        .push(Figure::new("startup.rebuild", cold.elapsed.as_secs_f64() * 1e3, "ms").size(stored));
    figures.push(
        Figure::new("startup.checkpoint", warm.elapsed.as_secs_f64() * 1e3, "ms").size(stored),
    );
    for (name, start) in [("rebuilt", cold), ("from_checkpoint", warm)] {
        match start.resident_bytes {
            Some(bytes) => {
                println!(
                    "  at {stored:>8} events: the server holds {:.1} MB resident ({name})",
                    bytes as f64 / 1e6
                );
                figures.push(
                    Figure::new(
                        format!("memory.server_resident.{name}"),
                        bytes as f64 / 1e6,
                        "MB",
                    )
                    .size(stored),
                );
            }
            None => notes.push(format!(
                "No resident memory for the server at {stored} events: /proc/PID/status unreadable"
            )),
        }
    }
    Ok(())
}

/// The p99 at `now` against the p99 at `first`: the value is the p99 in ms, the ratio its
/// growth, which the target bounds when `bounded`.
fn p99_growth(name: &str, now: (u64, f64), first: (u64, f64), bounded: bool) -> Figure {
    let growth = Figure::new(format!("{name}.p99_vs_{}", first.0), now.1, "ms")
        .against(&format!("{name}.p99 at {}", first.0), first.1)
        .size(now.0);
    if !bounded {
        return growth;
    }
    growth.ratio_at_most(1.5, &format!("the p99 at {} events", first.0))
}

/// The p99s of the smallest log and table at one writer count, which the larger ones' are read
/// against.
#[derive(Debug, Clone, Default)]
struct Firsts {
    ours: Option<(u64, f64)>,
    theirs: Option<(u64, f64)>,
}

impl Firsts {
    /// The figures of one size at one writer count: the log's pooled windows, and the peer's
    /// beside them when it ran.
    fn figures(
        &mut self,
        figures: &mut Vec<Figure>,
        mark: u64,
        bounded: bool,
        ours: &Run,
        theirs: Option<&Run>,
    ) {
        println!(
            "  from {mark:>8} events, rounds pooled: {}",
            ours.describe()
        );
        let writers = ours.writers;
        let name = format!("growth.append.{writers}w");
        let peer_name = format!("growth.postgres.append.{writers}w");
        let peer_figures = theirs.map(|t| t.figures(&peer_name).map(|f| f.size(mark)));
        for (i, f) in ours.figures(&name).into_iter().enumerate() {
            let f = f.size(mark);
            figures.push(match &peer_figures {
                Some(p) => f.against(&p[i].name, p[i].value),
                None => f,
            });
        }
        let p99 = ours.quantile_ms(0.99);
        let first = *self.ours.get_or_insert((mark, p99));
        if first.0 != mark {
            figures.push(p99_growth(&name, (mark, p99), first, bounded));
        }
        let (Some(theirs), Some(peer_figures)) = (theirs, peer_figures) else {
            return;
        };
        println!(
            "  postgres {mark:>8} rows, rounds pooled: {}",
            theirs.describe()
        );
        figures.extend(peer_figures);
        let p99 = theirs.quantile_ms(0.99);
        let first = *self.theirs.get_or_insert((mark, p99));
        if first.0 != mark {
            // The peer's growth is shown, not held to the bound.
            figures.push(p99_growth(&peer_name, (mark, p99), first, false));
        }
        figures.push(against_peer(&name, ours, &peer_name, theirs, writers, mark));
    }
}

/// The log's appends/s at a size against the peer's at the same size and writers; at 16 and
/// 64 writers the "at least twice the peer" holds at every size.
fn against_peer(
    name: &str,
    ours: &Run,
    peer_name: &str,
    theirs: &Run,
    writers: usize,
    mark: u64,
) -> Figure {
    let vs = Figure::new(format!("{name}_vs_postgres"), ours.rate(), "events/s")
        .against(peer_name, theirs.rate())
        .size(mark);
    if writers >= 16 {
        vs.ratio_at_least(2.0, "the peer's events/s at the same size")
    } else {
        vs
    }
}

/// `per_writer` inserts by each of the first `writers` of a peer table's streams, from a
/// checkpoint (as the log's windows start from a flush).
async fn peer_appends(
    peer: &Postgres,
    table: &mut PeerSized,
    writers: usize,
    per_writer: u64,
) -> Result<Run, String> {
    peer.checkpoint().await?;
    let streams = table.streams[..writers].to_vec();
    let versions = table.versions[..writers].to_vec();
    let append = peer::append(table.writers[..writers].to_vec(), move |w, i| {
        Event::progress(streams[w].0, versions[w] + i, &streams[w].1)
    });
    let run = drive::drive(writers, per_writer, append).await?;
    if run.conflicts > 0 {
        return Err(format!(
            "{} unexpected version conflicts in {}",
            run.conflicts, table.table
        ));
    }
    for v in &mut table.versions[..writers] {
        *v += per_writer;
    }
    Ok(run)
}

/// `per_writer` appends by each of the first `writers` of the plan's actions.
fn appends(
    runtime: &tokio::runtime::Runtime,
    log: &Log,
    plan: &Plan,
    versions: &mut [u64],
    writers: usize,
    per_writer: u64,
) -> Result<Run, String> {
    let append = append(log.clone(), &plan.actions[..writers], &versions[..writers]);
    let run = runtime.block_on(drive::drive(writers, per_writer, append))?;
    if run.conflicts > 0 {
        return Err(format!("{} unexpected version conflicts", run.conflicts));
    }
    for v in &mut versions[..writers] {
        *v += per_writer;
    }
    Ok(run)
}

/// What whole-file zstd -3 makes of sled's file: an optimistic bound on what
/// sled's own (per-page) compression could save.
fn zstd_bytes(file: &Path) -> Option<u64> {
    let mut child = Command::new("zstd")
        .args(["-q", "-3", "-T0", "-c"])
        .arg(file)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut out = child.stdout.take()?;
    let bytes = std::io::copy(&mut out, &mut Count::default()).ok()?;
    child.wait().ok()?.success().then_some(bytes)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// `events` appends by `writers` in one second, each taking `millis`.
    fn run(writers: usize, events: u64, millis: u64) -> Run {
        Run {
            writers,
            events,
            conflicts: 0,
            elapsed: Duration::from_secs(1),
            latencies: vec![Duration::from_millis(millis); events as usize],
        }
    }

    fn find<'a>(figures: &'a [Figure], name: &str, size: u64) -> &'a Figure {
        figures
            .iter()
            .find(|f| f.name == name && f.size == Some(size))
            .unwrap_or_else(|| panic!("no {name} at {size}"))
    }

    #[test]
    fn each_size_is_read_against_the_peer_at_that_size_and_the_smallest_size() {
        let mut figures = Vec::new();
        let mut firsts = Firsts::default();
        firsts.figures(
            &mut figures,
            10_000,
            false,
            &run(16, 40_000, 2),
            Some(&run(16, 15_000, 4)),
        );
        firsts.figures(
            &mut figures,
            1_000_000,
            true,
            &run(16, 25_000, 4),
            Some(&run(16, 14_000, 6)),
        );

        let vs = find(&figures, "growth.append.16w_vs_postgres", 10_000);
        assert_eq!((vs.reference_value, vs.met), (Some(15_000.0), Some(true)));
        let vs = find(&figures, "growth.append.16w_vs_postgres", 1_000_000);
        assert_eq!(
            vs.met,
            Some(false),
            "25,000 against 14,000 is less than twice"
        );
        let ours = find(&figures, "growth.append.16w.p99_vs_10000", 1_000_000);
        assert_eq!((ours.ratio, ours.met), (Some(2.0), Some(false)));
        let theirs = find(
            &figures,
            "growth.postgres.append.16w.p99_vs_10000",
            1_000_000,
        );
        assert_eq!((theirs.ratio, theirs.met), (Some(1.5), None));
        assert_eq!(
            find(&figures, "growth.append.16w.p99", 1_000_000)
                .reference_name
                .as_deref(),
            Some("growth.postgres.append.16w.p99")
        );
    }

    #[test]
    fn a_single_writer_is_compared_with_the_peer_but_not_held_to_twice_its_rate() {
        let mut figures = Vec::new();
        Firsts::default().figures(
            &mut figures,
            10_000,
            false,
            &run(1, 3_000, 1),
            Some(&run(1, 4_000, 1)),
        );
        let vs = find(&figures, "growth.append.1w_vs_postgres", 10_000);
        assert_eq!((vs.ratio, vs.target.is_none()), (Some(0.75), true));
    }

    #[test]
    fn without_the_peer_only_the_log_s_figures_are_made() {
        let mut figures = Vec::new();
        Firsts::default().figures(&mut figures, 10_000, false, &run(64, 90_000, 1), None);
        assert_eq!(figures.len(), 3);
        assert!(figures.iter().all(|f| f.reference_name.is_none()));
    }

    #[test]
    fn p99_growth_bounds_the_ratio_not_the_milliseconds() {
        let grew = p99_growth("growth.append.64w", (1_000_000, 3.0), (10_000, 1.5), true);
        assert_eq!(grew.value, 3.0);
        assert_eq!(grew.ratio, Some(2.0));
        assert_eq!(grew.met, Some(false));
        assert!((grew.shortfall().unwrap() - (2.0 / 1.5 - 1.0)).abs() < 1e-9);
        let flat = p99_growth("growth.append.1w", (1_000_000, 1.6), (10_000, 1.5), true);
        assert_eq!(flat.met, Some(true));
        assert_eq!(flat.target_is_floor(), Some(false));
        let between = p99_growth("growth.append.16w", (100_000, 3.0), (10_000, 1.5), false);
        assert_eq!(between.ratio, Some(2.0));
        assert_eq!((between.target, between.met), (None, None));
    }
}
