//! Growth: the 64-client command phase on servers whose logs hold 10,000, 100,000 and
//! 1,000,000 events, so that the cost of a durable command can be read against the size of the
//! log it lands in.
//!
//! Each size gets a server of its own on its own data directory, grown over HTTP by the same
//! commands the command phases send: a plan of the large plan's size for each 100,000 events
//! (at least one), its actions started, then progress notes and status changes spread over all
//! of their actions until the log holds the size. Then the timed windows, in rounds with the
//! servers taking turns in a rotating order, so that the host's slow minutes fall on every size
//! alike; each server's windows are pooled. The windows are short because they grow the log
//! too: five of 0.4 s take the "10,000" server to about 75,000 events, which the output says.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use tokio::runtime::Runtime;

use crate::{
    each_client, http_commands, next_command, setup_plan, Answer, Connection, Endpoint, Plan,
    Report, Rng, Run, Server, TaskRun, COMMANDS,
};

/// The log sizes, before `STOCKTAKE_BENCH_SCALE` divides them.
const MARKS: [u64; 3] = [10_000, 100_000, 1_000_000];
/// One plan of the large plan's size for each this many events, so that a bigger log spreads
/// its commands over more actions, as a bigger programme would.
const EVENTS_PER_PLAN: u64 = 100_000;
const CLIENTS: usize = 64;
const ROUNDS: usize = 5;
/// Each round's window, and the warm-up before it in which the clients connect.
const WINDOW: Duration = Duration::from_millis(400);
const WARMUP: Duration = Duration::from_millis(100);

/// A server grown to one of the sizes, with every action its commands go to.
struct Sized {
    mark: u64,
    server: Server,
    plan: Plan,
    /// Events in the log before the timed windows.
    grown_to: u64,
    acknowledged: Arc<AtomicU64>,
    /// Kept until the server has stopped.
    _dir: tempfile::TempDir,
}

pub struct Growth {
    pub marks: Vec<u64>,
    pub actions: usize,
    pub window: Duration,
    pub warmup: Duration,
}

impl Growth {
    /// The sizes divided by `scale`, or small ones for a smoke run.
    pub fn new(scale: u64, smoke: bool, actions: usize) -> Growth {
        if smoke {
            return Growth {
                marks: vec![1_000, 3_000],
                actions,
                window: Duration::from_millis(100),
                warmup: Duration::from_millis(50),
            };
        }
        let window = crate::env("STOCKTAKE_LOAD_GROWTH_SECONDS")
            .map_or(WINDOW, |s: f64| Duration::from_secs_f64(s.max(0.05)));
        Growth {
            marks: MARKS.iter().map(|m| m / scale.max(1)).collect(),
            actions,
            window,
            warmup: WARMUP,
        }
    }

    pub fn run(&self, base: &std::path::Path, client_rt: &Runtime, report: &mut Report) {
        let servers: Vec<Sized> = self
            .marks
            .iter()
            .map(|&mark| self.grow(base, client_rt, mark))
            .collect();
        let mut windows: Vec<Vec<Run>> = servers.iter().map(|_| Vec::new()).collect();
        for round in 0..ROUNDS {
            for turn in 0..servers.len() {
                let at = (turn + round) % servers.len();
                let sized = &servers[at];
                windows[at].push(client_rt.block_on(http_commands(
                    Endpoint::gateway(&sized.server),
                    &sized.plan,
                    CLIENTS,
                    self.warmup,
                    self.window,
                    sized.acknowledged.clone(),
                )));
                // Else the checkpoint save the quiet log asks for 2 s later would fall in
                // another server's window.
                sized.server.settle();
            }
        }
        let mut first = None;
        let largest = self.marks.last().copied();
        for (sized, runs) in servers.iter().zip(windows) {
            let run = Run::pool(runs);
            let head = sized.server.log.head().last_seq;
            let acknowledged = sized.acknowledged.load(Ordering::Relaxed);
            assert_eq!(
                head,
                sized.grown_to + acknowledged,
                "the log holds {head} events but {} were there and {acknowledged} acknowledged since",
                sized.grown_to
            );
            // As many clients as actions at the most: each client changes its own actions.
            let clients = CLIENTS.min(sized.plan.actions.len());
            println!(
                "growth: log of {} events ({} to {head} over the windows), {} actions, {clients} clients, {ROUNDS} windows of {:.1} s",
                sized.mark,
                sized.grown_to,
                sized.plan.actions.len(),
                self.window.as_secs_f64()
            );
            println!(
                "  {:>9.0} /s   p50 {:>7.2} ms   p99 {:>7.2} ms   {} ok, {} errors\n",
                run.rate(),
                run.percentile(0.50),
                run.percentile(0.99),
                run.latencies.len(),
                run.errors
            );
            let first = first.get_or_insert(crate::Baseline {
                mark: sized.mark,
                rate: run.rate(),
                p99: run.percentile(0.99),
            });
            let last = Some(sized.mark) == largest;
            report.growth(clients, sized.mark, &run, first, last);
        }
        for sized in servers {
            sized.server.stop();
        }
    }

    /// A server of its own, grown over HTTP to `mark` events.
    fn grow(&self, base: &std::path::Path, client_rt: &Runtime, mark: u64) -> Sized {
        let dir = tempfile::tempdir_in(base).expect("temp dir");
        let server = Server::start(dir.path());
        let plans = (mark / EVENTS_PER_PLAN).max(1);
        let mut plan = client_rt.block_on(setup_plan(&server, "Growth plan 1", self.actions));
        for n in 2..=plans {
            let more = client_rt.block_on(setup_plan(
                &server,
                &format!("Growth plan {n}"),
                self.actions,
            ));
            plan = plan.joined(more);
        }
        let setup = server.log.head().last_seq;
        let fill = mark.saturating_sub(setup);
        client_rt.block_on(send(&server, &plan, fill));
        server.settle();
        let grown_to = server.log.head().last_seq;
        assert_eq!(
            grown_to,
            setup + fill,
            "growing the log: {} commands acknowledged",
            fill
        );
        Sized {
            mark,
            server,
            plan,
            grown_to,
            acknowledged: Arc::new(AtomicU64::new(0)),
            _dir: dir,
        }
    }
}

/// `total` commands from [`CLIENTS`] clients, untimed: the growing of a log.
async fn send(server: &Server, plan: &Plan, total: u64) {
    let remaining = Arc::new(AtomicU64::new(total));
    let clients = CLIENTS.min(plan.actions.len());
    // One window long enough for any growth; the clients stop when the count is sent.
    let forever = Duration::from_secs(24 * 3600);
    each_client(clients, Duration::ZERO, forever, |task, _| {
        let (address, token) = (server.address, server.token.clone());
        let (plan, remaining) = (plan.clone(), remaining.clone());
        async move {
            let mut connection = Connection::open(address, &token).await;
            let mut rng = Rng(0xD1B5_4A32_D192_ED03 ^ ((task as u64 + 1) * 0x1000_0001));
            let mut n = 0u64;
            while remaining
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |r| r.checked_sub(1))
                .is_ok()
            {
                n += 1;
                let body = Bytes::from(next_command(&plan, task, clients, &mut rng, n));
                connection
                    .post(COMMANDS, body)
                    .await
                    .and_then(Answer::ok)
                    .expect("a command growing the log was refused");
            }
            TaskRun::default()
        }
    })
    .await;
}
