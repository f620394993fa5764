//! `stocktake serve`: the HTTP API on an embedded store, until SIGINT or SIGTERM.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use stocktake_gateway::tokens::{private_file, Role, TokenStore};
use stocktake_gateway::{app, runtime_builder, AppState};
use stocktake_log::Log;
use stocktake_projections::Projector;
use tokio::sync::watch;
use tracing_subscriber::EnvFilter;

use crate::data_dir;

/// How long the server waits for its clients.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// For connections still open when a stop begins.
    pub shutdown_grace: Duration,
    /// For a request's head, from a connection's opening or the end of its last response.
    pub header_read: Duration,
}

pub fn run(
    data_dir: &Path,
    listen: SocketAddr,
    demo: bool,
    timeouts: Timeouts,
) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal: not for journald or a log file, and
        // not paid for on every line when nobody will see them.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let log = data_dir::open_log(data_dir, "the API of the server already running on it")?;
    if demo && log.head().last_seq == 0 {
        let steps = super::demo::load(&log)?;
        log.flush()?;
        tracing::info!(
            steps,
            events = log.head().last_seq,
            "loaded the demo journey"
        );
    }
    ensure_a_director_token(data_dir)?;
    let projector = data_dir::project(&log, data_dir)?;
    let runtime = runtime_builder().build()?;
    runtime.block_on(serve(data_dir, log, projector, listen, timeouts))
}

/// A fresh data directory gets a director token, written owner-only beside the data, so the
/// first user can start at once. The token never goes to the logs.
fn ensure_a_director_token(data_dir: &Path) -> anyhow::Result<()> {
    let mut tokens = TokenStore::load(data_dir)?;
    if !tokens.has_active() {
        let token = tokens.add("director", Role::Director, Utc::now())?;
        let path = data_dir::director_token_path(data_dir);
        let mut file = private_file(&path)?;
        std::io::Write::write_all(&mut file, format!("{token}\n").as_bytes())?;
        file.sync_all()?;
        println!("Created a director token in {}", path.display());
    }
    Ok(())
}

/// Why one round of serving ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RoundEnd {
    /// SIGINT or SIGTERM: stop.
    Signal,
    /// The log stopped accepting writes and the disk takes writes again: reopen it.
    Reopen,
}

/// Serves until SIGINT or SIGTERM. When a write or fsync fails (a full disk), the log refuses
/// writes (503) while reads go on; once a probe write to the data directory succeeds again, the
/// server stops taking requests for a moment, reopens the log as a restart would, and serves
/// writes again. The listening socket stays open throughout, so clients only wait.
async fn serve(
    data_dir: &Path,
    mut log: Log,
    mut projector: Projector,
    listen: SocketAddr,
    timeouts: Timeouts,
) -> anyhow::Result<()> {
    let socket = std::net::TcpListener::bind(listen)?;
    socket.set_nonblocking(true)?;
    let address = socket.local_addr()?;
    // Listen for the signals before saying where we listen: a SIGTERM sent as soon as the
    // address is printed must stop the server cleanly, not kill it.
    let (signalled, _) = watch::channel(false);
    let shutdown = shutdown_signal();
    let on_signal = signalled.clone();
    tokio::spawn(async move {
        shutdown.await;
        on_signal.send_replace(true);
    });
    println!("Stocktake is listening on http://{address}");
    let mut reopens_without_progress = 0u32;
    loop {
        tracing::info!(%address, events = log.head().last_seq, "serving");
        let head_at_start = log.head().last_seq;
        let follower = projector.follow(log.clone());
        let state = AppState::new(log.clone(), projector.clone(), TokenStore::load(data_dir)?);
        let listener = tokio::net::TcpListener::from_std(socket.try_clone()?)?;
        let (ended, mut end) = watch::channel(None);
        let round = {
            let (state, log, mut signal) = (state.clone(), log.clone(), signalled.subscribe());
            let data_dir = data_dir.to_owned();
            let backoff = PROBE_EVERY * 2u32.pow(reopens_without_progress.min(4));
            async move {
                let why = tokio::select! {
                    _ = signal.wait_for(|s| *s) => RoundEnd::Signal,
                    () = space_returned(&log, &data_dir, backoff) => RoundEnd::Reopen,
                };
                if why == RoundEnd::Reopen {
                    tracing::warn!("the disk takes writes again: reopening the event log");
                }
                ended.send_replace(Some(why));
                state.close();
            }
        };
        let serving =
            stocktake_gateway::serve::serve(listener, app(state), timeouts.header_read, round);
        let mut stopping = end.clone();
        tokio::select! {
            served = serving => served?,
            () = async {
                let _ = stopping.wait_for(Option::is_some).await;
                tokio::time::sleep(timeouts.shutdown_grace).await;
            } => tracing::warn!(
                grace = ?timeouts.shutdown_grace,
                "connections still open when the stop's grace ran out; going without them"
            ),
        }
        follower.abort();
        let _ = follower.await;
        let why = end.borrow_and_update().unwrap_or(RoundEnd::Signal);
        if why == RoundEnd::Signal {
            break;
        }
        reopens_without_progress = if log.head().last_seq > head_at_start {
            0
        } else {
            reopens_without_progress + 1
        };
        (log, projector) = reopen(data_dir, log, projector, &signalled).await?;
    }
    // Every acknowledged append was already durable; this makes the last group and the
    // read models' checkpoint safe too, so the next start is quick.
    if log.write_failure().is_none() {
        log.flush()?;
    }
    if let Err(e) = projector.save_checkpoint(&log) {
        // Only a cache: the next start rebuilds what it lacks.
        tracing::warn!(error = %e, "could not save the projection checkpoint");
    }
    tracing::info!("stopped cleanly");
    Ok(())
}

/// How often a log that stopped accepting writes checks whether the disk takes them again.
const PROBE_EVERY: Duration = Duration::from_secs(5);

/// Resolves when the log has stopped accepting writes because of a failed write and a probe
/// write to the data directory succeeds. Never resolves for a log that refused writes from the
/// start (damage found at open): reopening would find the same damage.
async fn space_returned(log: &Log, data_dir: &Path, every: Duration) {
    if log.write_failure().is_some() {
        return std::future::pending().await;
    }
    log.writes_stopped().await;
    loop {
        tokio::time::sleep(every).await;
        let dir = data_dir.to_owned();
        match tokio::task::spawn_blocking(move || probe_write(&dir)).await {
            Ok(Ok(())) => return,
            Ok(Err(e)) => tracing::info!(error = %e, "the disk still refuses writes"),
            Err(e) => tracing::warn!(error = %e, "the write probe failed to run"),
        }
    }
}

/// Writes, syncs and removes a 1 MiB file: the size of a few groups of appends.
fn probe_write(data_dir: &Path) -> std::io::Result<()> {
    let path = data_dir.join("space-probe");
    let result = (|| {
        let mut file = std::fs::File::create(&path)?;
        std::io::Write::write_all(&mut file, &vec![0u8; 1 << 20])?;
        file.sync_all()
    })();
    let removed = std::fs::remove_file(&path);
    result.and(removed)
}

/// Closes the log and opens it again, as a restart would: the log checks its end and rebuilds
/// its indexes, the read models start from their checkpoint. Retries until it works or a
/// signal asks the server to stop.
async fn reopen(
    data_dir: &Path,
    log: Log,
    projector: Projector,
    signalled: &watch::Sender<bool>,
) -> anyhow::Result<(Log, Projector)> {
    drop(projector);
    drop(log);
    let mut attempt = 0u32;
    loop {
        let dir = data_dir.to_owned();
        let opened = tokio::task::spawn_blocking(move || -> anyhow::Result<(Log, Projector)> {
            let log = data_dir::open_log(&dir, "stop the other process")?;
            let projector = data_dir::project(&log, &dir)?;
            Ok((log, projector))
        })
        .await?;
        match opened {
            Ok(opened) => {
                tracing::info!(events = opened.0.head().last_seq, "reopened the event log");
                return Ok(opened);
            }
            Err(e) if *signalled.borrow() => return Err(e),
            Err(e) => {
                attempt += 1;
                tracing::warn!(error = %e, attempt, "could not reopen the event log; retrying");
                tokio::time::sleep(PROBE_EVERY.min(Duration::from_millis(100) * attempt)).await;
            }
        }
    }
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is called, not when the
/// future is first polled.
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            let (mut interrupt, mut terminate) = match (interrupt, terminate) {
                (Ok(i), Ok(t)) => (i, t),
                (Err(e), _) | (_, Err(e)) => {
                    tracing::warn!(error = %e, "cannot listen for SIGINT or SIGTERM");
                    return std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                _ = interrupt.recv() => {},
                _ = terminate.recv() => {},
            }
            tracing::info!("shutting down: finishing requests in flight");
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down: finishing requests in flight");
    }
}
