//! The monitor's event pipeline as a service: `POST /audit` (kube-apiserver's audit webhook
//! backend) into the spool, detection over the spool into the history store, each new alert
//! written as a JSON line to the alert output, and `/metrics`, `/healthz`, `/readyz` and the
//! dashboard ([`crate::dashboard`]).
//!
//! `POST /audit` answers:
//! * 200 once the batch's events are in the spool (synced to disk); items that are not audit
//!   events are counted and left out;
//! * 400 for a body that is not an `EventList` (the API server does not retry it);
//! * 413 for a body over the limit (declared or read), before more of it is read;
//! * 503 with `Retry-After` when the spool is full or cannot be written (a full disk): the API
//!   server keeps the batch and retries, so nothing accepted is ever dropped.
//!
//! `POST /falco` and `POST /hubble` (on the same listener) take Falco's alerts
//! ([`crate::falco`]) and Hubble's flows ([`crate::hubble`]) into spools of their own, each read
//! by a detection thread with its pack: 200 once spooled, 400 for a body without any alert or
//! flow, 413 and 503 as above.

use std::fmt::Write as _;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kubevigil_detect::rules::LoadedRules;
use kubevigil_detect::{DetectionAlert, Detector, Mode};
use kubevigil_httpd::ConnOptions;
use kubevigil_store::SqliteStore;
use kubevigil_telemetry::{Counter, CounterVec, render_counter, render_counters, render_gauge};
use tokio::net::TcpListener;

use crate::detection::SpoolSource;
use crate::follow::{FollowStats, Follower};
use crate::intake::{Batch, IntakeError, read_event_list};
use crate::spool::{Spool, SpoolError};
use kubevigil_httpd::body::{BodyLimits, BodyRefused};

/// The API server's audit batches: 400 events (`--audit-webhook-batch-max-size`) of at most a
/// few hundred KiB each at `RequestResponse` level.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 << 20;

/// The POST bodies read at once may hold this many times `max_body_bytes` together; past
/// that, 503 with `Retry-After` (kube-apiserver retries its batch). With the copy a batch is
/// split into, that stays within the generated Deployment's 512 MiB memory limit at the default
/// body limit.
pub const IN_FLIGHT_BODIES: usize = 2;

/// Spool bound.
pub const DEFAULT_SPOOL_BYTES: u64 = 1 << 30;

#[derive(Debug, Clone)]
pub struct Options {
    /// `/metrics`, `/healthz`, `/readyz` (plain HTTP).
    pub listen: SocketAddr,
    /// `POST /audit`, when given.
    pub audit_listen: Option<SocketAddr>,
    /// The certificate and key `POST /audit` is served with; `None`: plain HTTP.
    pub audit_tls: Option<(PathBuf, PathBuf)>,
    pub state_dir: PathBuf,
    pub spool_max_bytes: u64,
    pub max_body_bytes: usize,
    /// A POST body must be received within this long (408 after).
    pub body_timeout: std::time::Duration,
    /// Audit log files followed across rotation (`--audit-log`).
    pub audit_logs: Vec<PathBuf>,
    /// Where notifications go, and which (each named in the outbox by kind and order).
    pub sinks: Vec<SinkOptions>,
    /// How often open findings are sent again to Alertmanager sinks (with a cluster).
    pub refresh_interval: std::time::Duration,
    /// What every notification carries (the `cluster` label, links).
    pub context: kubevigil_sinks::Context,
    /// The cluster to evaluate, if any (`--no-cluster`: none).
    pub cluster: Option<ClusterOptions>,
    /// PolicyReports kept in the cluster (with a cluster only); `None`: none.
    pub policy_reports: Option<crate::reports::ReportOptions>,
    /// The dashboard on `listen` and who may read it; `None`: no dashboard.
    pub dashboard: Option<crate::dashboard::Auth>,
    /// Pods whose logs are followed (with a cluster), `None`: none.
    pub pod_logs: Option<crate::pod_logs::LogOptions>,
    /// How often the metrics API is read, and how long hogging lasts before it is told (with a
    /// cluster); `None`: resource abuse is not judged.
    pub resources: Option<(std::time::Duration, std::time::Duration)>,
    /// The cluster's images kept scanned into the table the `image-vulnerable` check reads
    /// (with a cluster); `None`: images are not scanned.
    pub images: Option<(
        crate::images::ImageOptions,
        Arc<kubevigil_checks::ImageScanTable>,
    )>,
}

/// Which cluster, which part of it, how often, and the checks' configuration.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    pub target: kubevigil_cluster::Target,
    pub scope: kubevigil_cluster::Scope,
    pub timing: crate::posture::Timing,
    pub config: Arc<kubevigil_checks::Config>,
}

/// A sink and which notifications it receives.
#[derive(Debug, Clone)]
pub struct SinkOptions {
    pub spec: SinkSpec,
    /// `refreshes` is set here for Alertmanager sinks, whatever it says.
    pub filter: kubevigil_sinks::Filter,
}

/// A sink: its kind and where it is.
#[derive(Debug, Clone)]
pub enum SinkSpec {
    Alertmanager(kubevigil_sinks::AlertmanagerConfig),
    Slack(kubevigil_sinks::SlackConfig),
    Webhook(kubevigil_sinks::WebhookConfig),
}

impl SinkSpec {
    fn kind(&self) -> &'static str {
        match self {
            SinkSpec::Alertmanager(_) => "alertmanager",
            SinkSpec::Slack(_) => "slack",
            SinkSpec::Webhook(_) => "webhook",
        }
    }
}

/// The outbox names of `sinks`: `alertmanager-1`, `slack-1`, `alertmanager-2`... by kind and
/// order, so that a restart with the same options resumes the same queues.
fn sink_names(sinks: &[SinkOptions]) -> Vec<String> {
    let mut seen: std::collections::BTreeMap<&str, usize> = Default::default();
    sinks
        .iter()
        .map(|s| {
            let n = seen.entry(s.spec.kind()).or_default();
            *n += 1;
            format!("{}-{n}", s.spec.kind())
        })
        .collect()
}

/// What the monitor counts, for `/metrics`.
pub struct Metrics {
    received: Counter,
    spooled: Counter,
    rejected_events: CounterVec<&'static str>,
    rejected_batches: CounterVec<&'static str>,
    alerts: CounterVec<(String, String)>,
    processed: Arc<AtomicU64>,
    spool: Spool,
    body: BodyLimits,
    /// The sources posted besides audit events (Falco, Hubble).
    sides: Vec<Arc<Side>>,
    /// (file, its follower's counts)
    followed: Vec<(String, Arc<FollowStats>)>,
    outbox: Option<Arc<kubevigil_sinks::Outbox>>,
    posture: Option<Arc<crate::posture::PostureMetrics>>,
}

impl Metrics {
    /// The Prometheus text exposition (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.received.render(
            "kubevigil_audit_events_received_total",
            "Audit events received in POST /audit bodies.",
            &mut out,
        );
        self.spooled.render(
            "kubevigil_audit_events_spooled_total",
            "Audit events written to the spool and acknowledged.",
            &mut out,
        );
        render_counter(
            "kubevigil_audit_events_processed_total",
            "Audit events read from the spool and evaluated by detection.",
            self.processed.load(Ordering::Relaxed),
            &mut out,
        );
        self.rejected_events.render(
            "kubevigil_audit_events_rejected_total",
            "Items of accepted batches that are not audit events, left out.",
            &mut out,
        );
        self.rejected_batches.render(
            "kubevigil_audit_batches_rejected_total",
            "POST /audit bodies refused, by reason (not_event_list, too_large, overloaded, timeout, read_error, spool_full, spool_error).",
            &mut out,
        );
        for side in &self.sides {
            side.render(&mut out);
        }
        render_gauge(
            "kubevigil_spool_bytes",
            "Bytes in the audit spool.",
            self.spool.used_bytes() as f64,
            &mut out,
        );
        render_gauge(
            "kubevigil_spool_limit_bytes",
            "The audit spool's bound.",
            self.spool.max_bytes() as f64,
            &mut out,
        );
        render_gauge(
            "kubevigil_request_body_bytes_in_flight",
            "Bytes of POST bodies being received (each its Content-Length, or the body limit).",
            self.body.in_flight_bytes() as f64,
            &mut out,
        );
        render_gauge(
            "kubevigil_request_body_limit_bytes",
            "What POST bodies being received may hold together; past it, 503.",
            self.body.max_in_flight_bytes() as f64,
            &mut out,
        );
        type Get = fn(&FollowStats) -> u64;
        let families: [(&str, &str, Get); 3] = [
            (
                "kubevigil_audit_log_events_total",
                "Audit events read from --audit-log files into the spool.",
                |s| s.events.load(Ordering::Relaxed),
            ),
            (
                "kubevigil_audit_log_lines_rejected_total",
                "Lines of --audit-log files that are not audit events, reported and skipped.",
                |s| s.rejected.load(Ordering::Relaxed),
            ),
            (
                "kubevigil_audit_log_rotations_total",
                "Rotations (renamed or truncated files) of --audit-log files followed.",
                |s| s.rotations.load(Ordering::Relaxed),
            ),
        ];
        for (name, help, get) in families {
            let values: Vec<(&str, u64)> = self
                .followed
                .iter()
                .map(|(file, stats)| (file.as_str(), get(stats)))
                .collect();
            render_counters(name, help, "file", &values, &mut out);
        }
        self.alerts.render(
            "kubevigil_alerts_total",
            "Alerts raised (new or repeated), by rule and severity.",
            &mut out,
        );
        if let Some(p) = &self.posture {
            p.render(&mut out);
        }
        if let Some(stats) = self.outbox.as_ref().and_then(|o| o.stats().ok()) {
            type Get = fn(&kubevigil_sinks::SinkStats) -> u64;
            let families: [(&str, &str, Get); 4] = [
                (
                    "kubevigil_sink_delivered_total",
                    "Notifications a sink accepted.",
                    |s| s.delivered,
                ),
                (
                    "kubevigil_sink_retried_total",
                    "Deliveries that failed and will be tried again (5xx, 429, timeouts, connection errors).",
                    |s| s.retried,
                ),
                (
                    "kubevigil_sink_failed_total",
                    "Notifications a sink refused (4xx other than 408 and 429): not retried.",
                    |s| s.failed,
                ),
                (
                    "kubevigil_sink_dropped_total",
                    "Notifications dropped because a sink's queue was full.",
                    |s| s.dropped,
                ),
            ];
            for (name, help, get) in families {
                let values: Vec<(&str, u64)> =
                    stats.iter().map(|(k, v)| (k.as_str(), get(v))).collect();
                render_counters(name, help, "sink", &values, &mut out);
            }
            let _ = writeln!(
                out,
                "# HELP kubevigil_sink_queue_depth Notifications waiting for a sink.\n# TYPE kubevigil_sink_queue_depth gauge"
            );
            for (k, v) in &stats {
                let _ = writeln!(
                    out,
                    "kubevigil_sink_queue_depth{{sink=\"{k}\"}} {}",
                    v.depth
                );
            }
        }
        out
    }
}

struct App {
    spool: Spool,
    falco: Arc<Side>,
    hubble: Arc<Side>,
    /// The cluster's objects as last read, for enriching Falco's alerts and judging flows.
    live: Arc<crate::dashboard::LiveObjects>,
    metrics: Arc<Metrics>,
    /// The bodies of `POST /audit`, `/falco` and `/hubble`, read within one byte budget.
    body: BodyLimits,
    ready: AtomicBool,
    /// Where the monitor's own problems are told, besides the log and the metrics.
    outbox: Option<Arc<kubevigil_sinks::Outbox>>,
    context: kubevigil_sinks::Context,
}

impl App {
    /// Tells the sinks that the spool refused a batch (at most once per ten minutes).
    fn spool_refused(&self, error: &SpoolError) {
        let Some(outbox) = &self.outbox else {
            return;
        };
        let now = kubevigil_store::now_ms();
        let n = kubevigil_sinks::Notification::monitor(
            &self.context,
            "KubevigilAuditSpoolFull",
            kubevigil_model::Severity::High,
            "kubevigil's audit spool refuses batches",
            &format!(
                "{error}. kube-apiserver keeps the batches and retries them, but its audit buffer is bounded: enlarge --spool-max-bytes or the state volume, or find why detection is behind."
            ),
            now,
        );
        if let Err(e) = outbox.enqueue(&n, now) {
            tracing::error!(error = %e, "monitor alert not queued for the sinks");
        }
    }
}

fn plain(code: StatusCode, message: impl Into<String>) -> Response {
    let mut m = message.into();
    m.push('\n');
    (
        code,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        m,
    )
        .into_response()
}

async fn post_audit(State(app): State<Arc<App>>, req: Request) -> Response {
    let (body, _share) =
        match read_body(&app, req, |reason| app.metrics.rejected_batches.inc(reason)).await {
            Ok(read) => read,
            Err(refused) => return refused,
        };
    let work = app.clone();
    // Parsing a large batch and syncing the spool block: off the async workers.
    let outcome = tokio::task::spawn_blocking(move || {
        let batch = read_event_list(&body)?;
        let lines: Vec<&[u8]> = batch.events.iter().map(Vec::as_slice).collect();
        let appended = work.spool.append(&lines);
        if let Err(e) = &appended {
            work.spool_refused(e);
        }
        Ok::<_, IntakeError>((batch.events.len(), batch.rejected, appended))
    })
    .await;
    let m = &app.metrics;
    match outcome {
        Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Ok(Err(e)) => {
            m.rejected_batches.inc("not_event_list");
            plain(StatusCode::BAD_REQUEST, e.to_string())
        }
        Ok(Ok((events, rejected, appended))) => {
            m.received.add((events + rejected.len()) as u64);
            if !rejected.is_empty() {
                m.rejected_events.add("malformed", rejected.len() as u64);
                for r in rejected.iter().take(3) {
                    tracing::warn!(item = %kubevigil_model::Escaped(r), "audit event left out");
                }
            }
            match appended {
                Ok(()) => {
                    m.spooled.add(events as u64);
                    plain(StatusCode::OK, "ok")
                }
                Err(e) => {
                    let reason = match e {
                        SpoolError::Full { .. } => "spool_full",
                        _ => "spool_error",
                    };
                    m.rejected_batches.inc(reason);
                    tracing::error!(error = %e, "audit batch refused: the API server will retry it");
                    let mut r = plain(StatusCode::SERVICE_UNAVAILABLE, e.to_string());
                    r.headers_mut()
                        .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
                    r
                }
            }
        }
    }
}

/// What a side source's body gave: its events (one line each) and what was left out; `Err`
/// when it held none.
type SideRead = fn(&[u8], Option<&kubevigil_model::Store>) -> Result<Batch, String>;

/// A source posted to the intake listener besides audit events: its spool, how a body is read,
/// what it counts.
pub struct Side {
    /// `falco`, `hubble`: the path (`POST /falco`) and the source's name in logs.
    name: &'static str,
    /// The metrics' prefix (`kubevigil_falco_alerts`) and what it counts (`Falco alerts`).
    metric: &'static str,
    what: &'static str,
    spool: Spool,
    /// How a POSTed body is read; `None` for a source the monitor reads itself (Events).
    read: Option<SideRead>,
    received: Counter,
    rejected: CounterVec<&'static str>,
    processed: Arc<AtomicU64>,
}

impl Side {
    fn render(&self, out: &mut String) {
        self.received.render(
            &format!("{}_received_total", self.metric),
            &match self.read {
                Some(_) => format!(
                    "{} received in POST /{} bodies and spooled.",
                    self.what, self.name
                ),
                None => format!("{} received from the cluster and spooled.", self.what),
            },
            out,
        );
        self.rejected.render(
            &format!("{}_rejected_total", self.metric),
            &format!(
                "{} of POST /{} left out or refused, by reason (malformed, none, too_large, overloaded, timeout, read_error, spool_full, spool_error).",
                self.what, self.name
            ),
            out,
        );
        render_counter(
            &format!("{}_processed_total", self.metric),
            &format!(
                "{} read from their spool and evaluated by detection.",
                self.what
            ),
            self.processed.load(Ordering::Relaxed),
            out,
        );
    }
}

/// A source besides audit events, as [`SIDES`] lists them.
pub struct SideSpec {
    /// `POST /NAME` when posted; in logs and metrics.
    pub name: &'static str,
    /// Its spool under the state directory.
    dir: &'static str,
    /// Its events' kind, their name in messages, and what an alert keeps of one.
    kind: &'static str,
    input: &'static str,
    sampler: kubevigil_detect::source::Sampler,
    /// The prefix of its metrics and what they count.
    metric: &'static str,
    what: &'static str,
    /// How a POSTed body is read; `None` for a source the monitor reads itself.
    read: Option<SideRead>,
    /// Its detection thread.
    thread: &'static str,
    /// The rules it runs.
    pub events: kubevigil_detect::rules::Events,
}

/// The sources besides audit events: Falco's alerts and Hubble's flows (posted), the cluster's
/// Events, the followed pod logs and resource abuse (read by the monitor).
pub const SIDES: [SideSpec; 5] = [
    SideSpec {
        name: "falco",
        dir: "falco-spool",
        kind: "falco",
        input: crate::falco::INPUT,
        sampler: |text, _| kubevigil_detect::falco::sample(text),
        metric: "kubevigil_falco_alerts",
        what: "Falco alerts",
        read: Some(crate::falco::read_alerts),
        thread: "falco-detection",
        events: kubevigil_detect::rules::Events::Falco,
    },
    SideSpec {
        name: "hubble",
        dir: "hubble-spool",
        kind: "hubble",
        input: crate::hubble::INPUT,
        sampler: |text, _| kubevigil_detect::hubble::sample(text),
        metric: "kubevigil_hubble_flows",
        what: "Hubble flows",
        read: Some(crate::hubble::read_flows),
        thread: "hubble-detection",
        events: kubevigil_detect::rules::Events::Hubble,
    },
    SideSpec {
        name: "events",
        dir: "events-spool",
        kind: "events",
        input: EVENTS_INPUT,
        sampler: |text, _| kubevigil_detect::k8s_events::sample(text),
        metric: "kubevigil_kubernetes_events",
        what: "Kubernetes Events",
        read: None,
        thread: "events-detection",
        events: kubevigil_detect::rules::Events::K8sEvents,
    },
    SideSpec {
        name: "logs",
        dir: "logs-spool",
        kind: "pod-logs",
        input: LOGS_INPUT,
        sampler: |text, _| kubevigil_detect::pod_logs::sample(text),
        metric: "kubevigil_pod_log_lines",
        what: "Pod log lines",
        read: None,
        thread: "logs-detection",
        events: kubevigil_detect::rules::Events::PodLogs,
    },
    SideSpec {
        name: "resources",
        dir: "resources-spool",
        kind: "resources",
        input: RESOURCES_INPUT,
        sampler: |text, _| kubevigil_detect::resources::sample(text),
        metric: "kubevigil_resource_events",
        what: "Resource events",
        read: None,
        thread: "resources-detection",
        events: kubevigil_detect::rules::Events::Resources,
    },
];

/// Indexes into [`SIDES`].
const FALCO: usize = 0;
const HUBBLE: usize = 1;
const EVENTS: usize = 2;
const LOGS: usize = 3;
const RESOURCES: usize = 4;

/// A POST's body within the limits ([`BodyLimits`]), with its share of the byte budget (held
/// until the batch is spooled); else the answer, its reason counted by `rejected` (`too_large`
/// 413, `overloaded` 503 with `Retry-After`, `timeout` 408, `read_error` 400).
async fn read_body(
    app: &App,
    req: Request,
    rejected: impl Fn(&'static str),
) -> Result<(axum::body::Bytes, tokio::sync::OwnedSemaphorePermit), Response> {
    let (parts, body) = req.into_parts();
    app.body.read(&parts.headers, body).await.map_err(|e| {
        let (reason, code) = match e {
            BodyRefused::TooLarge => ("too_large", StatusCode::PAYLOAD_TOO_LARGE),
            BodyRefused::Overloaded => ("overloaded", StatusCode::SERVICE_UNAVAILABLE),
            BodyRefused::TimedOut => ("timeout", StatusCode::REQUEST_TIMEOUT),
            BodyRefused::Read(_) => ("read_error", StatusCode::BAD_REQUEST),
        };
        rejected(reason);
        let message = match e {
            BodyRefused::TooLarge => format!("body over {} bytes", app.body.max_body_bytes()),
            e => e.to_string(),
        };
        let mut r = plain(code, message);
        if code == StatusCode::SERVICE_UNAVAILABLE {
            r.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
        r
    })
}

async fn post_falco(State(app): State<Arc<App>>, req: Request) -> Response {
    let side = app.falco.clone();
    post_side(app, side, req).await
}

async fn post_hubble(State(app): State<Arc<App>>, req: Request) -> Response {
    let side = app.hubble.clone();
    post_side(app, side, req).await
}

async fn post_side(app: Arc<App>, side: Arc<Side>, req: Request) -> Response {
    let (body, _share) = match read_body(&app, req, |reason| side.rejected.inc(reason)).await {
        Ok(read) => read,
        Err(refused) => return refused,
    };
    let (work, s) = (app.clone(), side.clone());
    let outcome = tokio::task::spawn_blocking(move || {
        let inventory = work.live.latest();
        let read = s.read.ok_or("this source is not posted")?;
        let Batch { events, rejected } = read(&body, inventory.as_deref())?;
        let lines: Vec<&[u8]> = events.iter().map(Vec::as_slice).collect();
        let appended = s.spool.append(&lines);
        Ok::<_, String>((events.len(), rejected, appended))
    })
    .await;
    match outcome {
        Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Ok(Err(why)) => {
            side.rejected.inc("none");
            tracing::warn!(reason = %kubevigil_model::Escaped(&why), source = side.name, "body refused");
            plain(StatusCode::BAD_REQUEST, why)
        }
        Ok(Ok((n, rejected, appended))) => {
            if !rejected.is_empty() {
                side.rejected.add("malformed", rejected.len() as u64);
                for r in rejected.iter().take(3) {
                    tracing::warn!(item = %kubevigil_model::Escaped(r), source = side.name, "left out");
                }
            }
            match appended {
                Ok(()) => {
                    side.received.add(n as u64);
                    plain(StatusCode::OK, "ok")
                }
                Err(e) => {
                    let reason = match e {
                        SpoolError::Full { .. } => "spool_full",
                        _ => "spool_error",
                    };
                    side.rejected.add(reason, n as u64);
                    tracing::error!(error = %e, source = side.name, "body refused");
                    let mut r = plain(StatusCode::SERVICE_UNAVAILABLE, e.to_string());
                    r.headers_mut()
                        .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
                    r
                }
            }
        }
    }
}

/// Red while shutting down, and while a watch of the cluster keeps failing (past the grace
/// period): the monitor then no longer sees what changes.
async fn readyz(State(app): State<Arc<App>>) -> Response {
    if !app.ready.load(Ordering::SeqCst) {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    }
    let failing = app
        .metrics
        .posture
        .as_ref()
        .map(|p| p.failing())
        .unwrap_or_default();
    if failing.is_empty() {
        return plain(StatusCode::OK, "ok");
    }
    let lines: Vec<String> = failing
        .iter()
        .map(|(kind, error)| {
            format!(
                "watch failing: {kind}: {}",
                kubevigil_model::Escaped(error.as_str())
            )
        })
        .collect();
    plain(StatusCode::SERVICE_UNAVAILABLE, lines.join("\n"))
}

async fn serve_metrics(State(app): State<Arc<App>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        app.metrics.render(),
    )
        .into_response()
}

fn conn_options() -> ConnOptions {
    ConnOptions {
        handshake_timeout: std::time::Duration::from_secs(5),
        header_timeout: std::time::Duration::from_secs(10),
        // Longer than the API server's idle timeout for its webhook connections (90 s).
        idle_timeout: std::time::Duration::from_secs(120),
        max_connections: 256,
        shutdown_grace: std::time::Duration::from_secs(10),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error(transparent)]
    Spool(#[from] SpoolError),
    // Transparent: the store's messages name the history database, and a message that also
    // held its source would print it twice in the error chain.
    #[error(transparent)]
    Store(#[from] kubevigil_store::StoreError),
    #[error("{what} {addr}: {source}")]
    Listen {
        what: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("audit TLS certificate: {0}")]
    Tls(std::io::Error),
    #[error("--audit-log: {0}")]
    Follow(std::io::Error),
    // The source follows in the error chain (`sinks: ...`).
    #[error("sinks")]
    Sinks(#[from] kubevigil_sinks::SinkError),
    #[error(transparent)]
    Cluster(#[from] kubevigil_cluster::Error),
}

/// The input name of watched Kubernetes Events in messages.
const EVENTS_INPUT: &str = "Events watch";

/// Appends the lines a watch or a follower sends to `side`'s spool, in batches of what has
/// arrived (an append syncs the disk), until every sender is gone.
fn spool_lines(rx: &std::sync::mpsc::Receiver<Vec<u8>>, side: &Side) {
    while let Ok(first) = rx.recv() {
        let lines: Vec<Vec<u8>> = std::iter::once(first)
            .chain(rx.try_iter().take(1023))
            .collect();
        let refs: Vec<&[u8]> = lines.iter().map(Vec::as_slice).collect();
        match side.spool.append(&refs) {
            Ok(()) => side.received.add(lines.len() as u64),
            Err(e) => {
                side.rejected.add("spool_error", lines.len() as u64);
                tracing::error!(error = %e, source = side.name, "not spooled");
            }
        }
    }
}

/// The input name of followed pod logs in messages.
const LOGS_INPUT: &str = "pod logs";

/// The input name of resource events in messages.
const RESOURCES_INPUT: &str = "metrics API";

/// Where a detection thread's alerts go: the history store (once: an alert it knows is not
/// told again), the metrics, the sinks and the alert output.
struct Recorder {
    store: SqliteStore,
    metrics: Arc<Metrics>,
    outbox: Option<Arc<kubevigil_sinks::Outbox>>,
    context: kubevigil_sinks::Context,
    alerts: Arc<std::sync::Mutex<Box<dyn Write + Send>>>,
    /// Exec alerts and Falco alerts of the same pod, joined into incidents.
    incidents: Arc<std::sync::Mutex<kubevigil_detect::incident::ExecThenFalco>>,
}

impl Recorder {
    /// Records `alert`, then the incident it completes with an alert of the other source.
    fn record(&mut self, alert: &DetectionAlert) -> std::io::Result<()> {
        self.record_one(alert)?;
        let incident = self
            .incidents
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .observe(alert);
        match incident {
            Some(i) => self.record_one(&i),
            None => Ok(()),
        }
    }

    /// Tells `alert` (metrics, sinks, the alert output) unless the store knows it already, and
    /// only then records it in the store: a crash in between tells it again after the restart,
    /// never loses it.
    fn record_one(&mut self, alert: &DetectionAlert) -> std::io::Result<()> {
        self.store
            .record_alert_then(alert, kubevigil_store::now_ms(), |_| {
                self.metrics
                    .alerts
                    .inc((alert.name().to_string(), alert.severity.to_string()));
                if let Some(outbox) = &self.outbox {
                    let now = kubevigil_store::now_ms();
                    let n = kubevigil_sinks::Notification::detection(&self.context, alert, now);
                    if let Err(e) = outbox.enqueue(&n, now) {
                        tracing::error!(error = %e, "alert not queued for the sinks");
                    }
                }
                // One write of the whole line (`write_json_line`): a kill never leaves half of it.
                let mut out = self.alerts.lock().unwrap_or_else(|p| p.into_inner());
                kubevigil_report::alerts::write_json_line(&mut *out, alert)?;
                out.flush()
            })
            .map_err(std::io::Error::other)?;
        Ok(())
    }
}

/// A thread running `rules` over the events of `source` (a spool) as they come, into `recorder`.
fn spawn_detection(
    name: &str,
    mut source: SpoolSource,
    rules: LoadedRules,
    mut recorder: Recorder,
) -> std::thread::JoinHandle<()> {
    let kind = source.kind_name();
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let mut detector = Detector::new(Arc::new(rules.set))
                .with_tuning(rules.tuning)
                .with_mode(Mode::Stream);
            let on_error = |e: &dyn std::fmt::Display| {
                tracing::warn!(error = %kubevigil_model::Escaped(&e.to_string()), source = kind, "event");
            };
            if let Err(e) = detector.run(&mut source, |a| recorder.record(a), on_error) {
                tracing::error!(error = %e, source = kind, "detection stopped");
            }
        })
        .expect("spawning a detection thread")
}

/// Bound listeners and the pipeline's parts, ready to run.
pub struct Monitor {
    opts: Options,
    listener: TcpListener,
    audit: Option<(TcpListener, Option<tokio_rustls::TlsAcceptor>)>,
    app: Arc<App>,
    source: SpoolSource,
    /// The sources besides audit events, in [`SIDES`] order: their spools read by detection,
    /// their intake and counts, their rules.
    side_sources: Vec<SpoolSource>,
    sides: Vec<Arc<Side>>,
    store: SqliteStore,
    rules: LoadedRules,
    side_rules: Vec<LoadedRules>,
    stop: Arc<AtomicBool>,
    followers: Vec<Follower>,
    outbox: Option<Arc<kubevigil_sinks::Outbox>>,
    sink_names: Vec<String>,
    posture: Option<crate::posture::Posture>,
    live: Arc<crate::dashboard::LiveObjects>,
    /// The client and options of the PolicyReports kept in the cluster.
    reports: Option<(kube::Client, crate::reports::ReportOptions)>,
}

impl Monitor {
    /// Opens the state directory (spool, history store) and binds the listeners.
    pub async fn bind(
        opts: Options,
        rules: LoadedRules,
        side_rules: Vec<LoadedRules>,
    ) -> Result<Monitor, MonitorError> {
        assert_eq!(
            side_rules.len(),
            SIDES.len(),
            "one rule set per side source"
        );
        let spool = Spool::open(&opts.state_dir.join("spool"), opts.spool_max_bytes)?;
        let store = SqliteStore::open_dir(&opts.state_dir)?;
        let stop = Arc::new(AtomicBool::new(false));
        let source = SpoolSource::new(&spool, stop.clone());
        let mut sides = Vec::new();
        let mut side_sources = Vec::new();
        for spec in &SIDES {
            let spool = Spool::open(&opts.state_dir.join(spec.dir), opts.spool_max_bytes)?;
            let source = SpoolSource::of(&spool, stop.clone(), spec.kind, spec.input, spec.sampler);
            sides.push(Arc::new(Side {
                name: spec.name,
                metric: spec.metric,
                what: spec.what,
                spool,
                read: spec.read,
                received: Counter::default(),
                rejected: CounterVec::new(&["reason"]),
                processed: source.processed.clone(),
            }));
            side_sources.push(source);
        }
        let followers = opts
            .audit_logs
            .iter()
            .map(|p| Follower::new(p, &opts.state_dir, &spool).map_err(MonitorError::Follow))
            .collect::<Result<Vec<_>, _>>()?;
        let names = sink_names(&opts.sinks);
        let outbox = if opts.sinks.is_empty() {
            None
        } else {
            let routes = names
                .iter()
                .zip(&opts.sinks)
                .map(|(n, s)| kubevigil_sinks::Route {
                    sink: n.clone(),
                    filter: kubevigil_sinks::Filter {
                        // Only Alertmanager resolves a finding that is not sent again.
                        refreshes: matches!(s.spec, SinkSpec::Alertmanager(_)),
                        ..s.filter.clone()
                    },
                })
                .collect();
            Some(Arc::new(kubevigil_sinks::Outbox::open(
                &opts.state_dir,
                routes,
                kubevigil_sinks::Limits::default(),
            )?))
        };
        let live = Arc::new(crate::dashboard::LiveObjects::default());
        let mut reports = None;
        let posture = match &opts.cluster {
            None => None,
            Some(c) => {
                let conn = kubevigil_cluster::Connection::connect(&c.target).await?;
                reports = opts.policy_reports.map(|r| (conn.client.clone(), r));
                tracing::info!(context = %conn.context, "evaluating the cluster");
                let metrics = Arc::new(crate::posture::PostureMetrics::default());
                Some(crate::posture::Posture {
                    conn,
                    scope: c.scope.clone(),
                    config: c.config.clone(),
                    store: SqliteStore::open_dir(&opts.state_dir)?,
                    outbox: outbox.clone(),
                    context: opts.context.clone(),
                    metrics,
                    timing: c.timing,
                    live: live.clone(),
                    images: opts.images.clone(),
                })
            }
        };
        let body = BodyLimits::new(
            opts.max_body_bytes,
            opts.max_body_bytes.saturating_mul(IN_FLIGHT_BODIES),
            opts.body_timeout,
        );
        let metrics = Arc::new(Metrics {
            received: Counter::default(),
            spooled: Counter::default(),
            rejected_events: CounterVec::new(&["reason"]),
            rejected_batches: CounterVec::new(&["reason"]),
            alerts: CounterVec::new(&["rule", "severity"]),
            processed: source.processed.clone(),
            spool: spool.clone(),
            body: body.clone(),
            sides: sides.clone(),
            followed: opts
                .audit_logs
                .iter()
                .zip(&followers)
                .map(|(p, f)| (p.display().to_string(), f.stats.clone()))
                .collect(),
            outbox: outbox.clone(),
            posture: posture.as_ref().map(|p| p.metrics.clone()),
        });
        let listen = |what, addr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|source| MonitorError::Listen { what, addr, source })
        };
        let listener = listen("--listen", opts.listen).await?;
        let audit = match opts.audit_listen {
            None => None,
            Some(addr) => {
                let tls = match &opts.audit_tls {
                    None => None,
                    Some((cert, key)) => {
                        let key = kubevigil_httpd::load_certified_key(cert, key)
                            .map_err(MonitorError::Tls)?;
                        let cert = Arc::new(kubevigil_httpd::ReloadingCert::new(key));
                        Some(kubevigil_httpd::tls_acceptor(cert).map_err(MonitorError::Tls)?)
                    }
                };
                Some((listen("--audit-listen", addr).await?, tls))
            }
        };
        Ok(Monitor {
            app: Arc::new(App {
                spool,
                falco: sides[FALCO].clone(),
                hubble: sides[HUBBLE].clone(),
                live: live.clone(),
                metrics,
                body,
                ready: AtomicBool::new(true),
                outbox: outbox.clone(),
                context: opts.context.clone(),
            }),
            opts,
            listener,
            audit,
            source,
            side_sources,
            sides,
            store,
            rules,
            side_rules,
            stop,
            followers,
            outbox,
            sink_names: names,
            posture,
            live,
            reports,
        })
    }

    /// The addresses bound: `--listen`, then `--audit-listen` if any.
    pub fn local_addrs(&self) -> (SocketAddr, Option<SocketAddr>) {
        (
            self.listener.local_addr().unwrap_or(self.opts.listen),
            self.audit
                .as_ref()
                .and_then(|(l, _)| l.local_addr().ok())
                .or(self.opts.audit_listen),
        )
    }

    /// Runs until `shutdown`: the servers stop accepting and drain, then detection reads the
    /// spool to its end and stops. Each alert the store did not know goes to `alerts` as one
    /// JSON line (the alert contract of `kubevigil audit detect -o json`), flushed at once.
    pub async fn run(
        self,
        alerts: Box<dyn Write + Send>,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), MonitorError> {
        let Monitor {
            listener,
            audit,
            app,
            source,
            side_sources,
            sides,
            store,
            rules,
            side_rules,
            stop,
            followers,
            outbox,
            sink_names,
            opts,
            posture,
            live,
            reports,
        } = self;
        let reporting = reports.map(|(client, r)| {
            tokio::spawn(crate::reports::run(client, opts.state_dir.clone(), r))
        });
        // Open findings are kept firing in Alertmanager while the cluster is evaluated (without
        // it, nothing would ever resolve them).
        let refreshing = match (&posture, &outbox) {
            (Some(_), Some(o)) if o.routes().iter().any(|r| r.filter.refreshes) => {
                Some(tokio::spawn(crate::refresh::run(
                    SqliteStore::open_dir(&opts.state_dir)?,
                    o.clone(),
                    opts.context.clone(),
                    opts.refresh_interval,
                )))
            }
            _ => None,
        };
        // Kubernetes Events, watched into their spool as the rules see them
        // (`k8s_events::normalise`), by a writer thread of their own.
        let (events_tx, events_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(4096);
        let allowed_registries = opts
            .cluster
            .as_ref()
            .map(|c| c.config.images.allowed_registries.clone())
            .unwrap_or_default();
        let watching_events = posture.as_ref().map(|p| {
            let conn = p.conn.clone();
            let tx = events_tx.clone();
            let side = sides[EVENTS].clone();
            tokio::spawn(kubevigil_cluster::watch_events(conn, move |c| {
                let kubevigil_cluster::EventsChange::Event(v) = c else {
                    return;
                };
                match kubevigil_detect::k8s_events::normalise(&v) {
                    Some(mut ev) => {
                        kubevigil_detect::k8s_events::add_pulled_image(
                            &mut ev,
                            &allowed_registries,
                        );
                        let _ = tx.send(ev.to_string().into_bytes());
                    }
                    None => side.rejected.inc("malformed"),
                }
            }))
        });
        drop(events_tx);
        let events_side = sides[EVENTS].clone();
        let events_writer = std::thread::Builder::new()
            .name("events-spool".into())
            .spawn(move || spool_lines(&events_rx, &events_side))
            .expect("spawning the Events writer");
        // The selected pods' logs, followed into their spool.
        let (logs_tx, logs_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(4096);
        let following_logs = match (posture.as_ref(), opts.pod_logs.clone()) {
            (Some(p), Some(options)) => Some(tokio::spawn(crate::pod_logs::run(
                p.conn.client.clone(),
                live.clone(),
                options,
                logs_tx.clone(),
            ))),
            _ => None,
        };
        drop(logs_tx);
        let logs_side = sides[LOGS].clone();
        let logs_writer = std::thread::Builder::new()
            .name("logs-spool".into())
            .spawn(move || spool_lines(&logs_rx, &logs_side))
            .expect("spawning the pod log writer");
        // Resource abuse, judged from the metrics API into its spool.
        let (resources_tx, resources_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(4096);
        let judging_resources = match (posture.as_ref(), opts.resources) {
            (Some(p), Some((interval, window))) => Some(tokio::spawn(crate::resources::run(
                p.conn.client.clone(),
                live.clone(),
                interval,
                window,
                resources_tx.clone(),
            ))),
            _ => None,
        };
        drop(resources_tx);
        let resources_side = sides[RESOURCES].clone();
        let resources_writer = std::thread::Builder::new()
            .name("resources-spool".into())
            .spawn(move || spool_lines(&resources_rx, &resources_side))
            .expect("spawning the resources writer");
        let evaluating = posture.map(|p| tokio::spawn(crate::posture::run(p)));
        // One delivery worker per sink, until the monitor stops.
        let (stop_sinks, sinks_stopped) = tokio::sync::watch::channel(false);
        let mut workers = Vec::new();
        if let Some(outbox) = &outbox {
            for (SinkOptions { spec, .. }, name) in opts.sinks.iter().zip(&sink_names) {
                let backoff = kubevigil_sinks::Backoff::default();
                let rx = sinks_stopped.clone();
                let o = outbox.clone();
                let task = match spec {
                    SinkSpec::Alertmanager(c) => {
                        let w = kubevigil_sinks::Worker::new(
                            o,
                            name,
                            kubevigil_sinks::Alertmanager::new(c.clone())?,
                            backoff,
                        )?;
                        tokio::spawn(w.run(rx))
                    }
                    SinkSpec::Slack(c) => {
                        let w = kubevigil_sinks::Worker::new(
                            o,
                            name,
                            kubevigil_sinks::Slack::new(c.clone())?,
                            backoff,
                        )?;
                        tokio::spawn(w.run(rx))
                    }
                    SinkSpec::Webhook(c) => {
                        let w = kubevigil_sinks::Worker::new(
                            o,
                            name,
                            kubevigil_sinks::Webhook::new(c.clone())?,
                            backoff,
                        )?;
                        tokio::spawn(w.run(rx))
                    }
                };
                workers.push(task);
            }
        }
        let context = opts.context.clone();
        // Followers stop before detection, which then reads what they spooled.
        let following = Arc::new(AtomicBool::new(false));
        let follow_threads: Vec<_> = followers
            .into_iter()
            .map(|f| {
                let stop = following.clone();
                std::thread::Builder::new()
                    .name("audit-log".into())
                    .spawn(move || {
                        f.run(&stop, &mut |e| {
                            tracing::warn!(error = %kubevigil_model::Escaped(e), "--audit-log")
                        })
                    })
                    .expect("spawning a follower thread")
            })
            .collect();
        let metrics = app.metrics.clone();
        let mut rule_docs: Vec<_> = std::iter::once(&rules)
            .chain(&side_rules)
            .flat_map(|r| r.set.rules())
            .map(|r| kubevigil_detect::rules::RuleDoc::from_meta(&r.meta).0)
            .collect();
        rule_docs.push((**kubevigil_detect::incident::DOC).clone());
        // One alert output for every detection thread, a line at a time.
        let alerts = Arc::new(std::sync::Mutex::new(alerts));
        let incidents = Arc::default();
        let recorder = |store| Recorder {
            store,
            metrics: metrics.clone(),
            outbox: outbox.clone(),
            context: context.clone(),
            alerts: alerts.clone(),
            incidents: Arc::clone(&incidents),
        };
        let detection = spawn_detection("detection", source, rules, recorder(store));
        let mut side_detections = Vec::new();
        for ((spec, source), rules) in SIDES.iter().zip(side_sources).zip(side_rules) {
            let recorder = recorder(SqliteStore::open_dir(&opts.state_dir)?);
            side_detections.push(spawn_detection(spec.thread, source, rules, recorder));
        }

        let mut router = Router::new()
            .route("/healthz", get(|| async { "ok\n" }))
            .route("/readyz", get(readyz))
            .route("/metrics", get(serve_metrics))
            .with_state(app.clone());
        if let Some(auth) = &opts.dashboard {
            router = router.merge(crate::dashboard::router(
                &opts.state_dir,
                rule_docs,
                auth.clone(),
                live,
                opts.cluster.as_ref().map(|c| c.config.clone()),
            ));
        }
        let (done, _) = tokio::sync::watch::channel(false);
        let signal = done.subscribe();
        let when = move |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|v| *v).await;
        };
        let mut servers = Vec::new();
        servers.push(tokio::spawn(kubevigil_httpd::serve(
            listener,
            None,
            router,
            conn_options(),
            when(signal.clone()),
        )));
        if let Some((audit_listener, tls)) = audit {
            let audit_router = Router::new()
                .route("/audit", post(post_audit))
                .route("/falco", post(post_falco))
                .route("/hubble", post(post_hubble))
                .with_state(app.clone());
            servers.push(tokio::spawn(kubevigil_httpd::serve(
                audit_listener,
                tls,
                audit_router,
                conn_options(),
                when(signal),
            )));
        }
        shutdown.await;
        app.ready.store(false, Ordering::SeqCst);
        if let Some(e) = evaluating {
            e.abort();
        }
        if let Some(r) = refreshing {
            r.abort();
        }
        if let Some(r) = reporting {
            r.abort();
        }
        let _ = done.send(true);
        for s in servers {
            let _ = s.await;
        }
        following.store(true, Ordering::SeqCst);
        for w in [watching_events, following_logs, judging_resources]
            .into_iter()
            .flatten()
        {
            w.abort();
            let _ = w.await;
        }
        let _ = tokio::task::spawn_blocking(move || {
            for t in follow_threads {
                let _ = t.join();
            }
            // The watch is gone: its sender with it; the writer spools what it holds and ends.
            let _ = events_writer.join();
            let _ = logs_writer.join();
            let _ = resources_writer.join();
        })
        .await;
        // Detection reads what was acknowledged to its end, then stops.
        stop.store(true, Ordering::SeqCst);
        let _ = tokio::task::spawn_blocking(move || {
            let _ = detection.join();
            for d in side_detections {
                let _ = d.join();
            }
        })
        .await;
        // What the sinks did not take stays in the outbox for the next start.
        let _ = stop_sinks.send(true);
        for w in workers {
            let _ = w.await;
        }
        Ok(())
    }
}
