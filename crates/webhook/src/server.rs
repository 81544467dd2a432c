//! The HTTPS server: axum routes on hyper, TLS by rustls with the serving certificate reloaded
//! when its files change.
//!
//! Endpoints: `POST /validate` (every enabled policy), `POST /validate/<policy>`,
//! `POST /mutate`, `GET /healthz`, `GET /readyz`, `GET /metrics`.
//!
//! Failure behaviour (the API server is waiting on every call):
//! * a body declared (`Content-Length`) above `max_body_bytes` gets 413 before a byte of it is
//!   read, one that turns out larger while read 413, bodies not received within the deadline
//!   408, malformed reviews 400 with the reason;
//! * when `max_in_flight` requests are already being served, or the memory a request will take
//!   (its body, then [`crate::budget::cost`] of its objects) does not fit in what is left of
//!   `max_in_flight_bytes`, it is refused at once with 503 (`Retry-After: 1`), so the API server
//!   applies the webhook's `failurePolicy` immediately instead of waiting for its timeout. The
//!   refused request's body is then read and discarded, so the connection stays usable and the
//!   client reads the 503 (closing with unread data would reset the connection);
//! * a review that alone needs more than `max_in_flight_bytes` is denied (413
//!   `RequestEntityTooLarge` in the AdmissionReview): it can never be evaluated, and failing
//!   open on it would let anyone bypass the policies with a large enough object;
//! * connections: the limits of `kubevigil-httpd` (handshake, header and idle timeouts, at most
//!   `max_connections` open, the rest waiting in the kernel's accept queue);
//! * on SIGTERM/SIGINT readiness turns false, the listener closes, and open connections are
//!   drained for up to `shutdown_grace`.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path as UrlPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kubevigil_httpd::body::{BodyLimits, BodyRefused};
use kubevigil_httpd::{ConnOptions, ReloadingCert};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::Webhook;
use crate::budget;
use crate::metrics::{CertificateReloaded, Metrics, RequestShed};
use crate::policy::PolicyId;
use crate::review::{AdmissionResponse, ReviewResponse, Status, parse_envelope, parse_review};
use kubevigil_telemetry::InternalEvent;

/// The API server refuses request bodies above 3 MiB (`MaxRequestBodyBytes`,
/// k8s.io/apiserver `pkg/server/config.go`: `MaxRequestBodyBytes: int64(3 * 1024 * 1024)`), so
/// an object is at most that; a review carries object and oldObject, plus its envelope.
pub const DEFAULT_MAX_BODY_BYTES: usize = 7 << 20;

/// Memory the requests in flight may take together ([`budget::cost`] of each); with the
/// process's baseline it stays within the generated Deployment's memory limit (see the README).
pub const DEFAULT_MAX_IN_FLIGHT_BYTES: usize = 192 << 20;

#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub listen: SocketAddr,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub max_body_bytes: usize,
    /// Per-request deadline (body received and answered); keep it below the webhook timeout.
    pub deadline: Duration,
    pub max_in_flight: usize,
    /// Byte budget of the requests in flight (see [`budget`]).
    pub max_in_flight_bytes: usize,
    /// TLS handshake.
    pub handshake_timeout: Duration,
    /// From the handshake to the first request; HTTP/1.1: every request head.
    pub header_timeout: Duration,
    /// A connection with no request in flight is closed after this long.
    pub idle_timeout: Duration,
    /// Connections open at once (each costs a descriptor and TLS and HTTP buffers).
    pub max_connections: usize,
    pub reload_interval: Duration,
    pub shutdown_grace: Duration,
}

impl ServerOptions {
    pub fn new(listen: SocketAddr, cert_file: PathBuf, key_file: PathBuf) -> Self {
        ServerOptions {
            listen,
            cert_file,
            key_file,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            deadline: Duration::from_millis(2500),
            max_in_flight: 512,
            max_in_flight_bytes: DEFAULT_MAX_IN_FLIGHT_BYTES,
            handshake_timeout: Duration::from_secs(5),
            header_timeout: Duration::from_secs(10),
            // Longer than the API server's idle timeout for its webhook connections (Go's
            // `http.DefaultTransport` `IdleConnTimeout`, 90 s, which k8s.io/apimachinery
            // `utilnet.SetTransportDefaults` keeps), so the client closes first and never
            // sends a request on a connection the server is closing.
            idle_timeout: Duration::from_secs(120),
            // The API servers talk HTTP/2 and multiplex: a handful of connections each.
            max_connections: 1024,
            reload_interval: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

struct AppState {
    webhook: Arc<Webhook>,
    metrics: Arc<Metrics>,
    in_flight: Arc<Semaphore>,
    body: BodyLimits,
    ready: AtomicBool,
    opts: ServerOptions,
}

pub use kubevigil_httpd::load_certified_key;

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
        let cert = Arc::new(ReloadingCert::new(key));
        let tls = kubevigil_httpd::tls_acceptor(cert.clone())?;
        let listener = TcpListener::bind(opts.listen).await?;
        let state = Arc::new(AppState {
            webhook,
            metrics: Arc::new(Metrics::default()),
            in_flight: Arc::new(Semaphore::new(opts.max_in_flight)),
            body: BodyLimits::new(opts.max_body_bytes, opts.max_in_flight_bytes, opts.deadline),
            ready: AtomicBool::new(true),
            opts,
        });
        Ok(Server {
            listener,
            state,
            tls,
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
        let conn = ConnOptions {
            handshake_timeout: state.opts.handshake_timeout,
            header_timeout: state.opts.header_timeout,
            idle_timeout: state.opts.idle_timeout,
            max_connections: state.opts.max_connections,
            shutdown_grace: state.opts.shutdown_grace,
        };
        let ready = state.clone();
        let shutdown = async move {
            shutdown.await;
            ready.ready.store(false, Ordering::SeqCst);
        };
        kubevigil_httpd::serve(listener, Some(tls), router(state.clone()), conn, shutdown).await;
        reload.abort();
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
                cert.set(key);
                CertificateReloaded {
                    cert: &opts.cert_file,
                }
                .emit(&state.metrics);
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
    review(state, Endpoint::Validate(None), req).await
}

async fn validate_one(
    State(state): State<Arc<AppState>>,
    UrlPath(policy): UrlPath<String>,
    req: Request,
) -> Response {
    match PolicyId::parse(&policy) {
        Some(id) if state.webhook.enabled(id) => {
            review(state, Endpoint::Validate(Some(id)), req).await
        }
        _ => (
            StatusCode::NOT_FOUND,
            format!("no enabled policy {policy:?}\n"),
        )
            .into_response(),
    }
}

async fn mutate(State(state): State<Arc<AppState>>, req: Request) -> Response {
    review(state, Endpoint::Mutate, req).await
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

async fn review(state: Arc<AppState>, endpoint: Endpoint, req: Request) -> Response {
    let start = Instant::now();
    let label = endpoint.label();
    let (code, response) = answer(&state, endpoint, req, start).await;
    state
        .metrics
        .record_request(label, code.as_u16(), start.elapsed());
    response
}

fn plain(code: StatusCode, msg: String) -> (StatusCode, Response) {
    (code, (code, msg).into_response())
}

/// 503 with `Retry-After`.
fn shed(state: &AppState, body: Option<Body>, why: &str) -> (StatusCode, Response) {
    RequestShed { why }.emit(&state.metrics);
    if let Some(body) = body {
        state.body.discard(body);
    }
    let mut r = plain(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("overloaded ({why}), retry later\n"),
    );
    r.1.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    r
}

/// 413. A body declared too large is not read beyond the limit (then the connection closes).
fn too_large(state: &AppState, body: Option<Body>) -> (StatusCode, Response) {
    if let Some(body) = body {
        state.body.discard(body);
    }
    plain(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "request body larger than {} bytes\n",
            state.opts.max_body_bytes
        ),
    )
}

fn review_response(response: AdmissionResponse) -> (StatusCode, Response) {
    let body =
        serde_json::to_vec(&ReviewResponse::new(response)).expect("responses always serialize");
    (
        StatusCode::OK,
        ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
    )
}

async fn answer(
    state: &AppState,
    endpoint: Endpoint,
    req: Request,
    start: Instant,
) -> (StatusCode, Response) {
    let (parts, body) = req.into_parts();
    let declared = BodyLimits::declared(&parts.headers);
    if state.body.declared_too_large(declared) {
        return too_large(state, Some(body));
    }
    let Ok(_permit) = state.in_flight.clone().try_acquire_owned() else {
        return shed(state, Some(body), "requests in flight");
    };
    // The body's bytes, before reading it: the declared length, or the most a body may have.
    let declared = declared.map_or(state.opts.max_body_bytes, |n| n as usize);
    let Some(_body_bytes) = state.body.reserve(declared) else {
        return shed(state, Some(body), "bytes in flight");
    };
    let bytes = match state.body.read_reserved(body).await {
        Ok(b) => b,
        Err(BodyRefused::TooLarge) => return too_large(state, None),
        Err(e @ BodyRefused::TimedOut) => {
            return plain(StatusCode::REQUEST_TIMEOUT, format!("{e}\n"));
        }
        Err(e) => return plain(StatusCode::BAD_REQUEST, format!("{e}\n")),
    };
    // What evaluating it takes, measured without building it.
    let envelope = match parse_envelope(&bytes) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "bad admission review");
            return plain(StatusCode::BAD_REQUEST, format!("{e}\n"));
        }
    };
    let wants = |id: PolicyId| match endpoint {
        Endpoint::Validate(only) => state.webhook.enabled(id) && only.is_none_or(|o| o == id),
        Endpoint::Mutate => false,
    };
    let work = budget::Work {
        pod_security: wants(PolicyId::PodSecurity),
        checks: wants(PolicyId::Checks),
        patch: matches!(endpoint, Endpoint::Mutate) && state.webhook.mutation.is_some(),
    };
    let cost = budget::cost(bytes.len(), &envelope.object, &envelope.old_object, work);
    if cost > state.opts.max_in_flight_bytes {
        tracing::warn!(uid = %envelope.uid, op = envelope.operation.as_str(), resource = %envelope.resource.resource,
            namespace = %envelope.namespace, name = %envelope.name, cost, "denied: too large to evaluate");
        state
            .metrics
            .record_decision("budget", "deny", envelope.operation.as_str());
        let message = format!(
            "admission review too large to evaluate: it needs about {} MiB, the webhook's budget is {} MiB",
            cost.div_ceil(1 << 20),
            state.opts.max_in_flight_bytes >> 20
        );
        return review_response(AdmissionResponse {
            uid: envelope.uid,
            allowed: false,
            status: Some(Status::failure(413, "RequestEntityTooLarge", message)),
            ..Default::default()
        });
    }
    drop(envelope);
    let Some(_eval_bytes) = state.body.reserve(cost.saturating_sub(declared)) else {
        return shed(state, None, "bytes in flight");
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
    review_response(outcome.response)
}
