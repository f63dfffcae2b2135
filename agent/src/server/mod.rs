//! Serving the API, over plain HTTP or TLS (rustls), until lockdown: one loop for both.
//!
//! Connection hygiene, so that nothing unauthenticated can hold the agent's file descriptors
//! or memory and the conductor always gets through:
//! - HTTP/1.1 only (IPA speaks nothing else; no cleartext HTTP/2 with prior knowledge).
//! - A request's headers must arrive within [`HEADER_READ_TIMEOUT`] of the connection being
//!   ready for it, on accept and after each response: this is also the idle keep-alive timeout.
//! - A TLS handshake must end within [`TLS_HANDSHAKE_TIMEOUT`].
//! - At most [`conns::MAX_CONNECTIONS`] connections (fewer under a low open-file limit); a new
//!   one pushes out an idle or unauthenticated one (`conns.rs`).
//! - The open-file limit is raised to its hard limit at start-up ([`raise_open_file_limit`]).
//! - A client that half-closes after sending its request still gets the answer.
//!
//! The token is checked before a body is read, and bodies have a size limit and a read
//! timeout: `api/body.rs`.

pub mod conns;

use axum::Router;
use conns::{ConnTable, Slot};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::ServiceExt;

/// How long a connection may take to deliver a request's headers, counted from when it is
/// ready for one (accept, or the end of the previous response). Also the idle keep-alive
/// timeout. The conductor sends its headers at once.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a TLS handshake may take.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The most bytes hyper buffers for one connection (request line and headers included).
const MAX_BUF_SIZE: usize = 64 * 1024;

/// Binds the listening socket. Without an explicit host: `::` (dual stack) when the kernel has
/// IPv6, else `0.0.0.0`, as IPA does.
pub async fn bind(host: Option<IpAddr>, port: u16) -> std::io::Result<TcpListener> {
    match host {
        Some(h) => TcpListener::bind(SocketAddr::new(h, port)).await,
        None => match TcpListener::bind(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port))
            .await
        {
            Ok(l) => Ok(l),
            Err(_) => {
                TcpListener::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)).await
            }
        },
    }
}

/// Raises the soft open-file limit to the hard one (the ramdisk's default soft limit, 1024,
/// is what idle connections used to exhaust), and returns the limit now in force.
pub fn raise_open_file_limit() -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut lim = getrlimit(Resource::Nofile);
    let before = lim.current;
    if lim.current != lim.maximum {
        lim.current = lim.maximum;
        if let Err(e) = setrlimit(Resource::Nofile, lim) {
            tracing::warn!("cannot raise the open-file limit: {e}");
            return before;
        }
    }
    let now = getrlimit(Resource::Nofile).current;
    tracing::info!(soft_before = ?before, now = ?now, "open-file limit");
    now
}

/// What the API learns about the connection a request came on.
#[derive(Clone)]
pub struct ConnInfo(pub Arc<conns::Conn>);

async fn stopped(mut shutdown: watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Serves until `shutdown` turns true. `nofile` is the open-file limit in force (see
/// [`raise_open_file_limit`]); it sizes the connection cap.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    nofile: Option<u64>,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let table = ConnTable::new(nofile.map_or(conns::MAX_CONNECTIONS, conns::cap_for));
    tracing::info!(
        max_connections = table.cap(),
        header_timeout_s = HEADER_READ_TIMEOUT.as_secs(),
        "serving the API (HTTP/1.1)"
    );
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let stop = stopped(shutdown);
    tokio::pin!(stop);
    loop {
        let (tcp, peer) = tokio::select! {
            _ = &mut stop => return Ok(()),
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors (or another transient failure): make room and
                    // pause briefly instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    table.shed_one();
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(slot) = table.admit(peer) else {
            tracing::warn!(%peer, "connection refused: every connection serves an authenticated request");
            continue;
        };
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            let shed = slot.conn.clone();
            tokio::select! {
                _ = connection(tcp, acceptor, app, &slot) => {}
                _ = shed.shed() => tracing::debug!(%peer, "connection closed to make room"),
            }
        });
    }
}

/// One connection: the TLS handshake if any, then HTTP/1.1 until either side closes.
async fn connection(
    tcp: TcpStream,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    app: Router,
    slot: &Slot,
) {
    let peer = slot.conn.peer;
    let _ = tcp.set_nodelay(true);
    let Some(acceptor) = acceptor else {
        return serve_http(tcp, app, slot).await;
    };
    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(stream)) => serve_http(stream, app, slot).await,
        Ok(Err(e)) => tracing::warn!(%peer, "TLS handshake failed: {e}"),
        Err(_) => tracing::warn!(%peer, "TLS handshake timed out"),
    }
}

async fn serve_http<S>(io: S, app: Router, slot: &Slot)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let conn = slot.conn.clone();
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        let busy = conn.request_started();
        req.extensions_mut().insert(ConnInfo(conn.clone()));
        let app = app.clone();
        async move {
            let resp = app.oneshot(req.map(axum::body::Body::new)).await;
            drop(busy);
            resp
        }
    });
    let served = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .half_close(true)
        .max_buf_size(MAX_BUF_SIZE)
        .serve_connection(TokioIo::new(io), svc)
        .await;
    if let Err(e) = served {
        tracing::debug!(peer = %slot.conn.peer, "connection ended: {e}");
    }
}
