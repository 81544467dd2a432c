//! The HTTP(S) serving kubevigil's servers share (the admission webhook, the monitor): axum
//! routes on hyper, TLS by rustls with a certificate that can be swapped in place, and the
//! connection limits that keep a hostile or broken client from exhausting the server.
//!
//! * the TLS handshake must finish within `handshake_timeout`, the first request must arrive
//!   within `header_timeout` of it (HTTP/1.1: every request head, hyper's header-read timer,
//!   which also runs while a keep-alive connection waits), and a connection with no request in
//!   flight is closed after `idle_timeout`;
//! * at most `max_connections` are open at once: past that, new connections wait in the
//!   kernel's accept queue (as Go's `netutil.LimitListener` does) instead of costing descriptors
//!   and TLS buffers;
//! * on shutdown the listener closes, and open connections are drained for up to
//!   `shutdown_grace`.

#![forbid(unsafe_code)]

pub mod body;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, watch};

/// Limits of the connections a server accepts.
#[derive(Debug, Clone)]
pub struct ConnOptions {
    /// TLS handshake.
    pub handshake_timeout: Duration,
    /// From the handshake to the first request; HTTP/1.1: every request head.
    pub header_timeout: Duration,
    /// A connection with no request in flight is closed after this long.
    pub idle_timeout: Duration,
    /// Connections open at once (each costs a descriptor and TLS and HTTP buffers).
    pub max_connections: usize,
    pub shutdown_grace: Duration,
}

/// Loads a PEM certificate chain and private key.
pub fn load_certified_key(cert: &Path, key: &Path) -> io::Result<CertifiedKey> {
    let bad = |what: &Path, e: &dyn std::fmt::Display| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {e}", what.display()),
        )
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad(cert, &e))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad(cert, &e))?;
    if certs.is_empty() {
        return Err(bad(cert, &"no certificate found"));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| bad(key, &e))?;
    let signing =
        rustls::crypto::ring::sign::any_supported_type(&key_der).map_err(|e| bad(key, &e))?;
    Ok(CertifiedKey::new(certs, signing))
}

/// The serving certificate, swapped in place (when its files change, say).
#[derive(Debug)]
pub struct ReloadingCert(RwLock<Arc<CertifiedKey>>);

impl ReloadingCert {
    pub fn new(key: CertifiedKey) -> Self {
        ReloadingCert(RwLock::new(Arc::new(key)))
    }

    pub fn set(&self, key: CertifiedKey) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(key);
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.read().unwrap_or_else(|p| p.into_inner()).clone())
    }
}

/// A TLS acceptor serving `cert`, offering HTTP/2 and HTTP/1.1.
pub fn tls_acceptor(cert: Arc<ReloadingCert>) -> io::Result<tokio_rustls::TlsAcceptor> {
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(io::Error::other)?
    .with_no_client_auth()
    .with_cert_resolver(cert);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Serves `router` on `listener` (over TLS when `tls` is given) until `shutdown` completes,
/// then stops accepting and drains the open connections.
pub async fn serve(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    router: Router,
    opts: ConnOptions,
    shutdown: impl Future<Output = ()>,
) {
    // Every connection task holds a sender: when all are gone, the drain is over.
    let (alive, mut drained) = mpsc::channel::<()>(1);
    let (stop, stopping) = watch::channel(false);
    tokio::pin!(shutdown);
    let connections = Arc::new(Semaphore::new(opts.max_connections.max(1)));
    loop {
        // A free connection slot first: until one is, new connections stay queued.
        let slot = tokio::select! {
            _ = &mut shutdown => break,
            slot = connections.clone().acquire_owned() => slot.expect("never closed"),
        };
        let (tcp, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let conn = Conn {
            tls: tls.clone(),
            router: router.clone(),
            opts: opts.clone(),
            stopping: stopping.clone(),
            _alive: alive.clone(),
            _slot: slot,
        };
        tokio::spawn(conn.serve(tcp, peer));
    }
    drop(listener);
    tracing::info!("shutting down: draining open connections");
    let _ = stop.send(true);
    drop(alive);
    if tokio::time::timeout(opts.shutdown_grace, drained.recv())
        .await
        .is_err()
    {
        tracing::warn!("shutdown grace period elapsed with connections still open");
    }
}

/// One accepted connection.
struct Conn {
    tls: Option<tokio_rustls::TlsAcceptor>,
    router: Router,
    opts: ConnOptions,
    stopping: watch::Receiver<bool>,
    _alive: mpsc::Sender<()>,
    _slot: OwnedSemaphorePermit,
}

impl Conn {
    async fn serve(self, tcp: tokio::net::TcpStream, peer: SocketAddr) {
        let Some(tls) = self.tls.clone() else {
            return self.serve_io(tcp, peer).await;
        };
        let stream = match tokio::time::timeout(self.opts.handshake_timeout, tls.accept(tcp)).await
        {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, "TLS handshake timed out");
                return;
            }
        };
        self.serve_io(stream, peer).await
    }

    async fn serve_io<I>(mut self, stream: I, peer: SocketAddr)
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let opts = &self.opts;
        let activity = Arc::new(Activity::new());
        let svc = Tracked {
            inner: TowerToHyperService::new(self.router.clone()),
            activity: activity.clone(),
        };
        let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
        // Slow-header clients must not hold connections open.
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(opts.header_timeout.min(opts.idle_timeout));
        let conn = builder.serve_connection(TokioIo::new(stream), svc);
        tokio::pin!(conn);
        // Set once the connection is asked to close: dropped at this instant if still open.
        let mut close_by: Option<tokio::time::Instant> = None;
        let mut stopping = false;
        loop {
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(%peer, error = %e, "connection closed with error");
                    }
                    return;
                }
                _ = activity.idle(opts.header_timeout, opts.idle_timeout), if close_by.is_none() => {
                    tracing::debug!(%peer, "idle connection closed");
                    conn.as_mut().graceful_shutdown();
                    close_by = Some(tokio::time::Instant::now() + opts.header_timeout);
                }
                changed = self.stopping.changed(), if !stopping => {
                    stopping = true;
                    if changed.is_ok() && *self.stopping.borrow() {
                        // Server shutdown: in-flight requests finish (the server's grace bounds it).
                        conn.as_mut().graceful_shutdown();
                    }
                }
                _ = tokio::time::sleep_until(close_by.unwrap_or_else(tokio::time::Instant::now)), if close_by.is_some() => {
                    tracing::debug!(%peer, "connection did not close in time: dropped");
                    return;
                }
            }
        }
    }
}

/// Requests in flight on one connection, and since when it has had none.
struct Activity {
    /// (requests in flight, requests seen, idle since)
    state: Mutex<(usize, u64, Instant)>,
    changed: Notify,
}

impl Activity {
    fn new() -> Self {
        Activity {
            state: Mutex::new((0, 0, Instant::now())),
            changed: Notify::new(),
        }
    }

    fn update(&self, f: impl FnOnce(&mut (usize, u64, Instant))) {
        f(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()));
        self.changed.notify_waiters();
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        self.update(|s| {
            s.0 += 1;
            s.1 += 1;
        });
        InFlight(self.clone())
    }

    /// Completes once the connection has had no request in flight for `idle` (`first`
    /// before its first request).
    async fn idle(&self, first: Duration, idle: Duration) {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let (active, seen, since) = *self.state.lock().unwrap_or_else(|p| p.into_inner());
            if active > 0 {
                notified.await;
                continue;
            }
            let limit = if seen == 0 { first } else { idle };
            tokio::select! {
                _ = tokio::time::sleep_until((since + limit).into()) => return,
                _ = notified => {}
            }
        }
    }
}

struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.update(|s| {
            s.0 -= 1;
            s.2 = Instant::now();
        });
    }
}

/// The connection's service, counting its requests in flight.
struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, R> hyper::service::Service<R> for Tracked<S>
where
    S: hyper::service::Service<R>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn call(&self, req: R) -> Self::Future {
        let in_flight = self.activity.begin();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let r = fut.await;
            drop(in_flight);
            r
        })
    }
}
