//! Serving the router with hyper directly, HTTP/1.1 only. `axum::serve` sets no header-read
//! timeout, and hyper-util's auto builder sniffs for HTTP/2 with none either, so a client that
//! connects and sends nothing, trickles its head, or sends the HTTP/2 preface could hold a
//! socket forever. Here every connection must deliver each request head in time, whatever bytes
//! it sends (an HTTP/2 preface is refused at once), and the number of open connections is
//! capped so a flood of idle sockets cannot use up the file descriptors.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

use crate::http::App;

/// How the accept loop treats its connections.
#[derive(Clone, Copy, Debug)]
pub struct ServeLimits {
    /// Longest a client may take to send a request head, from connecting or from the end of
    /// the previous response: silent and idle connections are closed after it.
    pub header_timeout: Duration,
    /// Connections open at once; beyond, new ones are closed as soon as they are accepted.
    pub max_connections: usize,
    /// Longest wait for requests in flight once shutdown has begun (`SHUTDOWN_TIMEOUT_SECONDS`).
    pub drain_timeout: Duration,
}

/// Accepts connections until `shutdown` completes, then stops listening (new connections are
/// refused) and waits, for at most `limits.drain_timeout`, for open ones to finish.
pub async fn serve(
    listener: TcpListener,
    app: App,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            // Full: close at once, so the refused socket costs nothing and the backlog drains.
            tracing::debug!(%peer, "connection refused: MAX_CONNECTIONS are open");
            drop(stream);
            continue;
        };
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut req: axum::http::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
            app.clone().oneshot(req.map(Body::new))
        });
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let header_timeout = limits.header_timeout;
        tokio::spawn(async move {
            let _slot = slot;
            // hyper's header timer starts with the first byte: a client that sends nothing at
            // all is dropped here instead.
            let mut first = [0u8; 1];
            if !matches!(
                tokio::time::timeout(header_timeout, stream.peek(&mut first)).await,
                Ok(Ok(1))
            ) {
                return;
            }
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            if let Err(e) = watcher.watch(connection).await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.drain_timeout) => {
            tracing::warn!("connections still open after {:?}; closing them", limits.drain_timeout);
        }
    }
}

/// The default cap on open connections: three quarters of the process's file-descriptor
/// limit, leaving the rest for the database pool, Redis, SMTP and logs.
pub fn default_max_connections() -> usize {
    (open_file_limit() / 4 * 3).max(16)
}

/// The process's soft limit on open files, from `/proc/self/limits` where there is one;
/// elsewhere (or "unlimited") 1,024 is assumed.
pub fn open_file_limit() -> usize {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            limits
                .lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|soft| soft.parse::<usize>().ok())
        })
        .unwrap_or(1024)
}
