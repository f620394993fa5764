//! What every handler shares: the log, the read models, the tokens, the metrics, the clock.

use std::sync::{Arc, RwLockReadGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use stocktake_log::Log;
use stocktake_projections::{Projector, ReadModel};
use tokio::sync::watch;

use crate::locks::StreamLocks;
use crate::metrics::Metrics;
use crate::overview_cache::OverviewCache;
use crate::service::{self, CommandError, CommandOutcome, CommandRequest, StreamStates};
use crate::tokens::TokenStore;

/// How long a read waits for the read models to fold what the log had made durable when it
/// arrived. Reads are served either way; this only bounds the wait.
const READ_YOUR_WRITES_WAIT: Duration = Duration::from_secs(5);

/// The gateway's state. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    log: Log,
    projector: Projector,
    tokens: TokenStore,
    metrics: Metrics,
    streams: StreamLocks,
    states: StreamStates,
    overviews: OverviewCache,
    closing: watch::Sender<bool>,
    clock: fn() -> DateTime<Utc>,
}

impl AppState {
    pub fn new(log: Log, projector: Projector, tokens: TokenStore) -> Self {
        AppState {
            inner: Arc::new(Inner {
                log,
                projector,
                tokens,
                metrics: Metrics::default(),
                streams: StreamLocks::default(),
                states: StreamStates::default(),
                overviews: OverviewCache::default(),
                closing: watch::Sender::new(false),
                clock: Utc::now,
            }),
        }
    }

    pub fn log(&self) -> &Log {
        &self.inner.log
    }

    pub fn projector(&self) -> &Projector {
        &self.inner.projector
    }

    /// The read models, once they have folded every event the log had made durable when this
    /// was called: a command is acknowledged only once durable, so whoever has seen a command
    /// acknowledged, by any client, reads it. Reads do this waiting rather than commands,
    /// because a read rarely has anything to wait for, and a command always would.
    pub async fn read_model(&self) -> RwLockReadGuard<'_, ReadModel> {
        let (log, projector) = (self.log(), self.projector());
        let durable = log.last_seq();
        if projector.last_seq() < durable {
            let _ =
                tokio::time::timeout(READ_YOUR_WRITES_WAIT, projector.reach(log, durable)).await;
        }
        projector.read()
    }

    pub fn tokens(&self) -> &TokenStore {
        &self.inner.tokens
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Commands on one stream take turns.
    pub fn streams(&self) -> &StreamLocks {
        &self.inner.streams
    }

    /// Runs a command in its stream's turn, recorded at the moment the turn began, so that one
    /// stream's recorded times follow its order.
    pub async fn execute(
        &self,
        request: &mut CommandRequest,
    ) -> Result<CommandOutcome, CommandError> {
        let target = request.command.target().map(|t| t.id).unwrap_or_default();
        let _turn = self.streams().turn(target).await;
        request.recorded_at = self.now();
        service::execute_remembering(self.log(), self.stream_states(), request).await
    }

    /// The decided states of the streams commands last touched.
    pub fn stream_states(&self) -> &StreamStates {
        &self.inner.states
    }

    /// The current plan overviews, as last answered.
    pub fn overviews(&self) -> &OverviewCache {
        &self.inner.overviews
    }

    /// Tells the requests that never end by themselves (the event stream) to end: the server
    /// is stopping, and its graceful shutdown waits for every request.
    pub fn close(&self) {
        self.inner.closing.send_replace(true);
    }

    /// Resolves once [`AppState::close`] has been called.
    pub async fn closed(&self) {
        let mut closing = self.inner.closing.subscribe();
        let _ = closing.wait_for(|closed| *closed).await;
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.inner.clock)()
    }
}
