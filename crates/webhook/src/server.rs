//! The HTTPS server: axum routes on hyper, TLS by rustls with the serving certificate reloaded
//! when its files change.
//!
//! Endpoints: `POST /validate` (every enabled policy), `POST /validate/<policy>`,
//! `POST /mutate`, `GET /healthz`, `GET /readyz`, `GET /metrics`.
//!
//! Failure behaviour (the API server is waiting on every call):
//! * bodies above `max_body_bytes` get 413, bodies not received within the deadline 408,
//!   malformed reviews 400 with the reason;
//! * when `max_in_flight` requests are already being served, a new one is refused at once with
//!   503 (`Retry-After: 1`), so the API server applies the webhook's `failurePolicy` immediately
//!   instead of waiting for its timeout;
//! * on SIGTERM/SIGINT readiness turns false, the listener closes, and open connections are
//!   drained for up to `shutdown_grace`.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path as UrlPath, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::Webhook;
use crate::metrics::Metrics;
use crate::policy::PolicyId;
use crate::review::{ReviewResponse, parse_review};

#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub listen: SocketAddr,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub max_body_bytes: usize,
    /// Per-request deadline (body received and answered); keep it below the webhook timeout.
    pub deadline: Duration,
    pub max_in_flight: usize,
    pub reload_interval: Duration,
    pub shutdown_grace: Duration,
}

impl ServerOptions {
    pub fn new(listen: SocketAddr, cert_file: PathBuf, key_file: PathBuf) -> Self {
        ServerOptions {
            listen,
            cert_file,
            key_file,
            // The API server caps request bodies at 3 MiB; a review carries object and oldObject.
            max_body_bytes: 7 << 20,
            deadline: Duration::from_millis(2500),
            max_in_flight: 512,
            reload_interval: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

struct AppState {
    webhook: Arc<Webhook>,
    metrics: Arc<Metrics>,
    in_flight: Arc<Semaphore>,
    ready: AtomicBool,
    opts: ServerOptions,
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

/// The serving certificate, swapped in place when the files change.
#[derive(Debug)]
struct ReloadingCert(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.read().unwrap_or_else(|p| p.into_inner()).clone())
    }
}

fn mtimes(opts: &ServerOptions) -> (Option<SystemTime>, Option<SystemTime>) {
    let m = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    (m(&opts.cert_file), m(&opts.key_file))
}

/// A bound server, not yet serving.
pub struct Server {
    listener: TcpListener,
    state: Arc<AppState>,
    tls: tokio_rustls::TlsAcceptor,
    cert: Arc<ReloadingCert>,
}

impl Server {
    pub async fn bind(webhook: Arc<Webhook>, opts: ServerOptions) -> io::Result<Server> {
        let key = load_certified_key(&opts.cert_file, &opts.key_file)?;
        let cert = Arc::new(ReloadingCert(RwLock::new(Arc::new(key))));
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_cert_resolver(cert.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let listener = TcpListener::bind(opts.listen).await?;
        let state = Arc::new(AppState {
            webhook,
            metrics: Arc::new(Metrics::default()),
            in_flight: Arc::new(Semaphore::new(opts.max_in_flight)),
            ready: AtomicBool::new(true),
            opts,
        });
        Ok(Server {
            listener,
            state,
            tls: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            cert,
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn metrics(&self) -> Arc<Metrics> {
        self.state.metrics.clone()
    }

    /// Serves until `shutdown` completes, then drains connections.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) -> io::Result<()> {
        let Server {
            listener,
            state,
            tls,
            cert,
        } = self;
        let reload = tokio::spawn(reload_loop(cert, state.clone()));
        let router = router(state.clone());
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        tokio::pin!(shutdown);
        loop {
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
            let tls = tls.clone();
            let svc = TowerToHyperService::new(router.clone());
            let watcher = graceful.watcher();
            tokio::spawn(async move {
                let stream =
                    match tokio::time::timeout(Duration::from_secs(5), tls.accept(tcp)).await {
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
                let mut builder =
                    hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                // Slow-header clients must not hold connections open forever.
                builder
                    .http1()
                    .timer(TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(5));
                let conn = builder.serve_connection(TokioIo::new(stream), svc);
                if let Err(e) = watcher.watch(conn).await {
                    tracing::debug!(%peer, error = %e, "connection closed with error");
                }
            });
        }
        state.ready.store(false, Ordering::SeqCst);
        drop(listener);
        reload.abort();
        tracing::info!("shutting down: draining open connections");
        if tokio::time::timeout(state.opts.shutdown_grace, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("shutdown grace period elapsed with connections still open");
        }
        Ok(())
    }
}

async fn reload_loop(cert: Arc<ReloadingCert>, state: Arc<AppState>) {
    let opts = &state.opts;
    let mut last = mtimes(opts);
    loop {
        tokio::time::sleep(opts.reload_interval).await;
        let now = mtimes(opts);
        if now == last {
            continue;
        }
        last = now;
        match load_certified_key(&opts.cert_file, &opts.key_file) {
            Ok(key) => {
                *cert.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(key);
                state.metrics.record_cert_reload();
                tracing::info!(cert = %opts.cert_file.display(), "serving certificate reloaded");
            }
            Err(e) => {
                tracing::warn!(error = %e, "serving certificate not reloaded; keeping the current one")
            }
        }
    }
}

fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/validate", post(validate_all))
        .route("/validate/{policy}", post(validate_one))
        .route("/mutate", post(mutate))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if !state.ready.load(Ordering::SeqCst) {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response()
    } else if !state.webhook.namespaces.is_synced() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "namespace cache not synced\n",
        )
            .into_response()
    } else {
        "ok".into_response()
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

async fn validate_all(State(state): State<Arc<AppState>>, req: Request) -> Response {
    review(state, Endpoint::Validate(None), req.into_body()).await
}

async fn validate_one(
    State(state): State<Arc<AppState>>,
    UrlPath(policy): UrlPath<String>,
    req: Request,
) -> Response {
    match PolicyId::parse(&policy) {
        Some(id) if state.webhook.enabled(id) => {
            review(state, Endpoint::Validate(Some(id)), req.into_body()).await
        }
        _ => (
            StatusCode::NOT_FOUND,
            format!("no enabled policy {policy:?}\n"),
        )
            .into_response(),
    }
}

async fn mutate(State(state): State<Arc<AppState>>, req: Request) -> Response {
    review(state, Endpoint::Mutate, req.into_body()).await
}

#[derive(Clone, Copy)]
enum Endpoint {
    Validate(Option<PolicyId>),
    Mutate,
}

impl Endpoint {
    fn label(self) -> &'static str {
        match self {
            Endpoint::Validate(None) => "validate",
            Endpoint::Validate(Some(p)) => p.as_str(),
            Endpoint::Mutate => "mutate",
        }
    }
}

async fn review(state: Arc<AppState>, endpoint: Endpoint, body: Body) -> Response {
    let start = Instant::now();
    let label = endpoint.label();
    let (code, response) = answer(&state, endpoint, body, start).await;
    state
        .metrics
        .record_request(label, code.as_u16(), start.elapsed());
    response
}

fn plain(code: StatusCode, msg: String) -> (StatusCode, Response) {
    (code, (code, msg).into_response())
}

async fn answer(
    state: &AppState,
    endpoint: Endpoint,
    body: Body,
    start: Instant,
) -> (StatusCode, Response) {
    let Ok(_permit) = state.in_flight.clone().try_acquire_owned() else {
        state.metrics.record_shed();
        tracing::warn!("overloaded: request shed");
        let mut r = plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded, retry later\n".into(),
        );
        r.1.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        return r;
    };
    let bytes = match tokio::time::timeout(
        state.opts.deadline,
        axum::body::to_bytes(body, state.opts.max_body_bytes),
    )
    .await
    {
        Err(_) => {
            return plain(
                StatusCode::REQUEST_TIMEOUT,
                "request body not received in time\n".into(),
            );
        }
        Ok(Err(e)) => {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            return if too_large {
                plain(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!(
                        "request body larger than {} bytes\n",
                        state.opts.max_body_bytes
                    ),
                )
            } else {
                plain(
                    StatusCode::BAD_REQUEST,
                    format!("reading request body: {e}\n"),
                )
            };
        }
        Ok(Ok(b)) => b,
    };
    let req = match parse_review(&bytes) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "bad admission review");
            return plain(StatusCode::BAD_REQUEST, format!("{e}\n"));
        }
    };
    let outcome = match endpoint {
        Endpoint::Validate(only) => state.webhook.validate(&req, only, Instant::now()),
        Endpoint::Mutate => state.webhook.mutate(&req),
    };
    for (policy, decision) in &outcome.decisions {
        state
            .metrics
            .record_decision(policy, decision, req.operation.as_str());
    }
    let resp = &outcome.response;
    if resp.allowed {
        tracing::debug!(uid = %req.uid, op = req.operation.as_str(), resource = %req.resource.resource,
            namespace = %req.namespace, name = %req.name, warnings = resp.warnings.len(),
            patched = resp.patch.is_some(), elapsed_us = start.elapsed().as_micros() as u64, "admitted");
    } else {
        tracing::info!(uid = %req.uid, op = req.operation.as_str(), resource = %req.resource.resource,
            namespace = %req.namespace, name = %req.name,
            message = resp.status.as_ref().map(|s| s.message.as_str()).unwrap_or(""),
            elapsed_us = start.elapsed().as_micros() as u64, "denied");
    }
    let body = serde_json::to_vec(&ReviewResponse::new(outcome.response))
        .expect("responses always serialize");
    (
        StatusCode::OK,
        ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
    )
}
