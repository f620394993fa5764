//! The reference the gateway's command figures are measured against, in the same run: a bare
//! axum server whose one route makes each request's body durable with a group-committed append
//! and answers once it is.
//!
//! No tokens, no JSON, no domain, no read models, no middleware: what an HTTP server with a
//! durable append does on this machine in this minute. The host's speed moves from minute to
//! minute by more than the margins of the gateway's targets, so the ratio of a Stocktake
//! figure to this one, measured just before it at the same concurrency by the same client,
//! says what Stocktake's own work costs where an absolute figure cannot.
//!
//! The design is the one a first version would have: the handler hands the body to one
//! writer thread and awaits its answer; the thread takes everything waiting, writes it with
//! one `write` to the end of a file, calls `fdatasync` once, and answers the whole group.

use std::fs::File;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use tokio::runtime::Runtime;
use tokio::sync::oneshot;

/// The bare server's one route.
pub const APPEND: &str = "/append";

/// A body waiting to be made durable, and where to send its sequence number once it is.
type Waiting = (Bytes, oneshot::Sender<u64>);

pub struct BareServer {
    runtime: Runtime,
    pub address: SocketAddr,
    writer: JoinHandle<u64>,
}

impl BareServer {
    /// Serves on 127.0.0.1:0 from a runtime built as the gateway's is, appending to `file`.
    pub fn start(file: &Path) -> BareServer {
        let file = File::create(file).expect("the bare server's file");
        let (sender, receiver) = mpsc::channel::<Waiting>();
        let writer = std::thread::Builder::new()
            .name("bare-writer".to_owned())
            .spawn(move || group_commit(file, &receiver))
            .expect("the bare server's writer thread");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("bare-rt")
            .build()
            .expect("the bare server's runtime");
        let address = runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let address = listener.local_addr().expect("address");
            let router = Router::new().route(APPEND, post(append)).with_state(sender);
            tokio::spawn(async move { axum::serve(listener, router).await });
            address
        });
        BareServer {
            runtime,
            address,
            writer,
        }
    }

    /// Stops serving and returns how many appends were written and synced.
    pub fn stop(self) -> u64 {
        // The router holds the writer's only senders: once the runtime drops it, the writer's
        // `recv` ends.
        self.runtime.shutdown_timeout(Duration::from_secs(1));
        self.writer.join().expect("the bare server's writer")
    }
}

async fn append(
    State(writer): State<mpsc::Sender<Waiting>>,
    body: Bytes,
) -> Result<String, StatusCode> {
    let (done, durable) = oneshot::channel();
    writer
        .send((body, done))
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    let seq = durable.await.map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    Ok(format!(r#"{{"seq":{seq}}}"#))
}

/// Writes and syncs everything waiting as one group, answers the group, and starts again;
/// returns the number of appends once every sender is gone.
fn group_commit(mut file: File, waiting: &mpsc::Receiver<Waiting>) -> u64 {
    let mut seq = 0;
    let mut group = Vec::new();
    let mut buffer = Vec::new();
    while let Ok(first) = waiting.recv() {
        group.push(first);
        group.extend(waiting.try_iter());
        buffer.clear();
        for (body, _) in &group {
            buffer.extend_from_slice(body);
            buffer.push(b'\n');
        }
        file.write_all(&buffer).expect("the bare server's write");
        file.sync_data().expect("the bare server's fdatasync");
        for (_, done) in group.drain(..) {
            seq += 1;
            // A client that went away needs no answer.
            let _ = done.send(seq);
        }
    }
    seq
}
