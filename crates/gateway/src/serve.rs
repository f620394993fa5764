//! Serving the router on a listener, as `axum::serve` does (HTTP/1.1, every connection on its
//! own task, a graceful stop that lets requests in flight finish), with one thing it cannot be
//! told: how long a client may take to send a request's head. Without that limit a client
//! that sends its head a byte at a time, or never finishes it, holds a connection and its task
//! for as long as it likes, and enough of them exhaust the server's sockets (a slowloris).

use std::future::Future;
use std::io;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

/// How long a client has to send a request's head, from the connection's opening or the end
/// of its previous response (so a keep-alive connection idle that long is closed too): hyper's
/// own default, which takes effect only with a timer, and `axum::serve` sets none.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `router` on `listener` until `shutdown` resolves; then stops accepting, lets every
/// open connection finish the request it is serving (idle ones close at once), and returns
/// when all have closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    header_read_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let connections = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // Out of file descriptors, say: wait rather than spin, as axum does.
                tracing::error!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(header_read_timeout);
        let connection = builder.serve_connection(
            TokioIo::new(stream),
            TowerToHyperService::new(router.clone()),
        );
        let connection = connections.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                // A client that went away, or took too long over a head: its loss alone.
                tracing::debug!(error = %e, "a connection ended with an error");
            }
        });
    }
    drop(listener);
    connections.shutdown().await;
    Ok(())
}

/// Errors of one connection that the listener itself survives, as `axum::serve` reads them.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
