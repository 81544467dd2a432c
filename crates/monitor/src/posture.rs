//! The cluster's posture, evaluated again and again: a snapshot of every kind the checks read
//! (`kubevigil_cluster::snapshot`, as `scan --cluster` reads it), the scan's checks, engines and
//! suppressions over it, and the findings recorded as one run in the history store, whose
//! transitions (new, reopened, resolved) go to the sinks.
//!
//! This first version re-reads the cluster every `interval` (a resync); change-driven
//! evaluation from kube-runtime watchers comes next. What it already guarantees: a finding is
//! told once when it appears and once when it is resolved, a restart tells nothing already
//! known, and a snapshot that could not read everything (a forbidden or failed list) resolves
//! nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kubevigil_checks::Config;
use kubevigil_cluster::{Connection, Problem, SnapshotOptions, snapshot};
use kubevigil_model::Severity;
use kubevigil_sinks::{Context, Notification, Outbox};
use kubevigil_store::{HistoryStore, Run, Scope, SqliteStore, Transition, Transitions};
use kubevigil_telemetry::{CounterVec, HistogramVec};

/// What the evaluations count, for `/metrics`.
pub struct PostureMetrics {
    /// Open findings by severity after the last complete evaluation.
    pub open: [AtomicU64; 5],
    pub evaluations: CounterVec<&'static str>,
    pub duration: HistogramVec<&'static str>,
    pub transitions: CounterVec<&'static str>,
}

const BUCKETS: &[f64] = &[0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

impl Default for PostureMetrics {
    fn default() -> Self {
        PostureMetrics {
            open: Default::default(),
            evaluations: CounterVec::new(&["result"]),
            duration: HistogramVec::new(&["result"], BUCKETS),
            transitions: CounterVec::new(&["change"]),
        }
    }
}

impl PostureMetrics {
    pub fn render(&self, out: &mut String) {
        use std::fmt::Write as _;
        let _ = writeln!(
            out,
            "# HELP kubevigil_findings Open findings of the cluster after the last complete evaluation, by severity.\n# TYPE kubevigil_findings gauge"
        );
        for (i, s) in Severity::ALL.iter().rev().enumerate() {
            let _ = writeln!(
                out,
                "kubevigil_findings{{severity=\"{}\"}} {}",
                s.as_str(),
                self.open[i].load(Ordering::Relaxed)
            );
        }
        self.evaluations.render(
            "kubevigil_evaluations_total",
            "Evaluations of the cluster, by result (complete, incomplete: some kind could not be read, failed: no snapshot).",
            out,
        );
        self.duration.render(
            "kubevigil_evaluation_duration_seconds",
            "Time to read the cluster and evaluate it.",
            out,
        );
        self.transitions.render(
            "kubevigil_finding_transitions_total",
            "Findings that appeared, reopened or were resolved.",
            out,
        );
    }
}

/// What evaluating a cluster needs.
pub struct Posture {
    pub conn: Connection,
    pub options: SnapshotOptions,
    pub config: Arc<Config>,
    pub store: SqliteStore,
    pub outbox: Option<Arc<Outbox>>,
    pub context: Context,
    pub metrics: Arc<PostureMetrics>,
    pub interval: Duration,
}

/// Evaluates the cluster every `interval` until the returned future is dropped.
pub async fn run(posture: Posture) {
    let Posture {
        conn,
        options,
        config,
        mut store,
        outbox,
        context,
        metrics,
        interval,
    } = posture;
    loop {
        let started = Instant::now();
        let result = match snapshot(&conn, &options).await {
            Err(e) => {
                tracing::error!(context = %conn.context, error = %e, "cluster not read");
                "failed"
            }
            Ok(snap) => {
                // Anything not read makes the run incomplete: it then resolves nothing.
                let complete = snap
                    .problems
                    .iter()
                    .all(|p| matches!(p, Problem::NotServed { .. }));
                for p in &snap.problems {
                    if !matches!(p, Problem::NotServed { .. }) {
                        tracing::warn!(context = %conn.context, problem = ?p, "cluster partly read");
                    }
                }
                let objects = snap.objects;
                let cfg = config.clone();
                let findings = tokio::task::spawn_blocking(move || {
                    kubevigil_checks::scan_objects(objects, &cfg, None)
                        .1
                        .findings
                })
                .await
                .unwrap_or_default();
                let now = kubevigil_store::now_ms();
                let scope = Scope::everything();
                match store.record_run(&Run {
                    time_ms: now,
                    scope: &scope,
                    complete,
                    findings: &findings,
                }) {
                    Ok(t) => {
                        tell(&t, outbox.as_deref(), &context, &metrics, now);
                        if complete {
                            let mut open = [0u64; 5];
                            for f in &findings {
                                let i = Severity::ALL.iter().rev().position(|s| *s == f.severity);
                                open[i.unwrap_or(0)] += 1;
                            }
                            for (slot, n) in metrics.open.iter().zip(open) {
                                slot.store(n, Ordering::Relaxed);
                            }
                        }
                        tracing::info!(
                            context = %conn.context,
                            findings = findings.len(),
                            new = t.new.len(),
                            reopened = t.reopened.len(),
                            resolved = t.resolved.len(),
                            complete,
                            "cluster evaluated"
                        );
                        if complete { "complete" } else { "incomplete" }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "evaluation not recorded");
                        "failed"
                    }
                }
            }
        };
        metrics.evaluations.inc(result);
        metrics.duration.observe(result, started.elapsed());
        tokio::time::sleep(interval.saturating_sub(started.elapsed())).await;
    }
}

/// Queues a notification per transition, in one transaction.
fn tell(
    t: &Transitions,
    outbox: Option<&Outbox>,
    ctx: &Context,
    metrics: &PostureMetrics,
    now: i64,
) {
    let mut notifications = Vec::new();
    for (records, change) in [
        (&t.new, Transition::New),
        (&t.reopened, Transition::Reopened),
        (&t.resolved, Transition::Resolved),
    ] {
        for r in records.iter() {
            metrics.transitions.inc(change.as_str());
            notifications.push(Notification::finding(ctx, r, change, now));
        }
    }
    if let (Some(outbox), false) = (outbox, notifications.is_empty())
        && let Err(e) = outbox.enqueue_all(&notifications, now)
    {
        tracing::error!(error = %e, "findings not queued for the sinks");
    }
}
