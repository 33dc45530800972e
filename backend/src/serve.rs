//! Serving `app()` on a socket: HTTP/1.1 through hyper with a header-read timeout (it also closes
//! idle keep-alive connections), a connection limit below the process's file-descriptor limit
//! (the soft limit is raised to the hard one at start), and a graceful shutdown with a deadline.
//! `axum::serve` has none of these: 1,100 idle sockets under a 1,024 descriptor limit stopped
//! every new client there.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

/// Descriptors kept back from connections: the database, its journal, logs, accept itself.
const RESERVED_FDS: u64 = 128;

/// How the server treats connections.
#[derive(Clone)]
pub struct ServeConfig {
    /// A client must send a request's headers within this after connecting or after its last
    /// answer; else the connection is closed (slow or idle clients give their slot back).
    pub header_timeout: Duration,
    /// Connections served at once; more wait in the listen queue. `None`: the descriptor limit
    /// less `RESERVED_FDS`.
    pub max_connections: Option<usize>,
    /// On SIGTERM or SIGINT, requests in flight get this long to finish.
    pub shutdown_deadline: Duration,
    /// Serve HTTPS: every connection does a TLS handshake first (within `header_timeout`).
    pub tls: Option<tokio_rustls::TlsAcceptor>,
}

impl std::fmt::Debug for ServeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeConfig")
            .field("header_timeout", &self.header_timeout)
            .field("max_connections", &self.max_connections)
            .field("shutdown_deadline", &self.shutdown_deadline)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            max_connections: None,
            shutdown_deadline: Duration::from_secs(10),
            tls: None,
        }
    }
}

/// Raise the soft limit of open files to the hard limit where allowed; the soft limit in force
/// after (`None`: unlimited).
pub fn raise_fd_limit() -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => return limit.maximum,
            Err(e) => tracing::warn!(error = %e, "cannot raise the open-files limit"),
        }
    }
    limit.current
}

/// The connection limit for a descriptor limit: below it, with room for everything else.
pub fn connection_limit(fd_limit: Option<u64>, configured: Option<usize>) -> usize {
    let from_fds = fd_limit.map_or(usize::MAX, |n| {
        usize::try_from(n.saturating_sub(RESERVED_FDS).max(16)).unwrap_or(usize::MAX)
    });
    configured.unwrap_or(65_536).min(from_fds)
}

/// Serve `app` on `listener` until `shutdown` resolves; then stop accepting, let requests in
/// flight finish within `config.shutdown_deadline`, and drop what is left.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    config: ServeConfig,
    shutdown: impl Future<Output = ()>,
) {
    let fd_limit = raise_fd_limit();
    let max = connection_limit(fd_limit, config.max_connections);
    tracing::info!(max_connections = max, fd_limit = ?fd_limit, "serving");
    let slots = Arc::new(Semaphore::new(max));
    let (closing, closed) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        while connections.try_join_next().is_some() {}
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(s) => s,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors or a reset before accept: wait a moment, go on.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(app.clone());
        let closed = closed.clone();
        let tls = config.tls.clone();
        let header_timeout = config.header_timeout;
        connections.spawn(async move {
            // The slot is held through the handshake: a client that connects and sends nothing
            // counts against the limit until the timeout closes it.
            let _slot = slot;
            let Some(acceptor) = tls else {
                serve_connection(TokioIo::new(stream), service, header_timeout, closed).await;
                return;
            };
            match tokio::time::timeout(header_timeout, acceptor.accept(stream)).await {
                Ok(Ok(tls_stream)) => {
                    serve_connection(TokioIo::new(tls_stream), service, header_timeout, closed)
                        .await;
                }
                Ok(Err(e)) => tracing::debug!(error = %e, "tls handshake failed"),
                Err(_) => tracing::debug!("tls handshake not done within the header timeout"),
            }
        });
    }
    drop(listener);
    let _ = closing.send(true);
    let drained = tokio::time::timeout(config.shutdown_deadline, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            left = connections.len(),
            "requests still running at the shutdown deadline were dropped"
        );
    }
}

/// One HTTP/1.1 connection (plain or TLS) until it ends or the server closes.
async fn serve_connection<I>(
    io: I,
    service: TowerToHyperService<Router>,
    header_timeout: Duration,
    mut closed: watch::Receiver<bool>,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let conn = http.serve_connection(io, service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended");
            }
        }
        _ = closed.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// Resolves on SIGTERM (systemd's stop) or SIGINT (Ctrl-C).
pub async fn stop_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot wait for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
    tracing::info!("stopping: no new connections, requests in flight finish");
}
