//! `stocktake serve`: the HTTP API on an embedded store, until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::Path;

use chrono::Utc;
use stocktake_gateway::tokens::{private_file, Role, TokenStore};
use stocktake_gateway::{app, AppState};
use stocktake_log::Log;
use tracing_subscriber::EnvFilter;

use crate::data_dir;

pub fn run(data_dir: &Path, listen: SocketAddr, demo: bool) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
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
    let tokens = ensure_a_director_token(data_dir)?;
    let projector = data_dir::project(&log, data_dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(log, projector, tokens, listen))
}

/// A fresh data directory gets a director token, written owner-only beside the data, so the
/// first user can start at once. The token never goes to the logs.
fn ensure_a_director_token(data_dir: &Path) -> anyhow::Result<TokenStore> {
    let mut tokens = TokenStore::load(data_dir)?;
    if !tokens.has_active() {
        let token = tokens.add("director", Role::Director, Utc::now())?;
        let path = data_dir::director_token_path(data_dir);
        let mut file = private_file(&path)?;
        std::io::Write::write_all(&mut file, format!("{token}\n").as_bytes())?;
        file.sync_all()?;
        println!("Created a director token in {}", path.display());
    }
    Ok(tokens)
}

async fn serve(
    log: Log,
    projector: stocktake_projections::Projector,
    tokens: TokenStore,
    listen: SocketAddr,
) -> anyhow::Result<()> {
    let follower = projector.follow(log.clone());
    let state = AppState::new(log.clone(), projector.clone(), tokens);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let address = listener.local_addr()?;
    // Listen for the signals before saying where we listen: a SIGTERM sent as soon as the
    // address is printed must stop the server cleanly, not kill it.
    let shutdown = shutdown_signal();
    println!("Stocktake is listening on http://{address}");
    tracing::info!(%address, events = log.head().last_seq, "serving");
    axum_serve(listener, state, shutdown).await?;
    // Every acknowledged append was already durable; this makes the last group and the
    // read models' checkpoint safe too, so the next start is quick.
    follower.abort();
    log.flush()?;
    projector.save_checkpoint(&log)?;
    tracing::info!("stopped cleanly");
    Ok(())
}

async fn axum_serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
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
