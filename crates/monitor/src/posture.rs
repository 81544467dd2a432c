//! The cluster's posture, followed change by change: kube-runtime watchers on every kind the
//! checks read (`kubevigil_cluster::Watches`: list, then watch with bookmarks, resumed from the
//! last resourceVersion, listed again after `410 Gone`, with kube-runtime's backoff), and an
//! [`Evaluator`] that reports as a scan does.
//!
//! - A changed object is evaluated at once by the object checks and engines; the
//!   whole-inventory engines (NetworkPolicy, namespace coverage, RBAC) run again at most every
//!   [`Timing::debounce`] (or twice as long as they took last time, so that they never take more
//!   than a third of a core) when a kind they read changed.
//! - What appears and disappears is recorded in the history as it happens
//!   ([`HistoryStore::record_changes`]) and told to the sinks, before the store commits it: a
//!   crash in between tells it again after the restart, never loses it.
//! - Once every kind has been listed, the whole evaluation is recorded as a run: when every kind
//!   is watched, it resolves what is open in the history and no longer found (what changed
//!   while the monitor was down). A restart therefore tells nothing already known. Every
//!   [`Timing::resync`], the open findings are marked seen; the whole evaluation is recorded
//!   again only when the last one was incomplete or recording changes failed since.
//! - A kind whose watch keeps failing for [`Timing::failure_grace`] makes the runs incomplete
//!   (they resolve nothing), turns `/readyz` red and is told to the sinks
//!   (`KubevigilWatchFailing`).
//!
//! The evaluation runs on a thread of its own: the checks are CPU work, the watchers are I/O.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kubevigil_checks::{ClusterJob, ClusterResults, Config, Evaluator, FindingsDiff};
use kubevigil_cluster::{Connection, KINDS, ObjectEvent, Problem, Scope, Watches};
use kubevigil_model::{Change, Finding, ObjectKey, Severity};
use kubevigil_sinks::{Context, Notification, Outbox};
use kubevigil_store::{Changes, HistoryStore, Run, SqliteStore, Transition, Transitions};
use kubevigil_telemetry::{CounterVec, GaugeVec, HistogramVec};
use tokio::sync::mpsc;

/// Watch events waiting for the evaluation; past it, watchers wait (backpressure).
const CHANNEL: usize = 4096;
/// Events evaluated together at most.
const MAX_BATCH: usize = 2048;
/// A failing watch is retried by kube-runtime at most every 30 s (its default backoff, with
/// jitter): failures further apart than this are separate episodes.
const QUIET: Duration = Duration::from_secs(75);
/// How often the gauges (open findings, watched objects) are computed again after changes.
const GAUGES_EVERY: Duration = Duration::from_secs(1);

/// What the posture's evaluation counts, for `/metrics`.
pub struct PostureMetrics {
    /// Open findings by severity (most severe first is [`Severity::ALL`] reversed).
    pub open: [AtomicU64; 5],
    by_namespace: GaugeVec<(String, &'static str)>,
    by_check: GaugeVec<(String, &'static str)>,
    watched: GaugeVec<String>,
    pub evaluations: CounterVec<&'static str>,
    pub duration: HistogramVec<&'static str>,
    pub transitions: CounterVec<&'static str>,
    watch_failures: CounterVec<String>,
    relists: CounterVec<String>,
    /// Images resolved by `--images`, by what became of them (see [`crate::images`]).
    pub image_scans: CounterVec<&'static str>,
    /// Watches failing past the grace period: (kind, last error). `/readyz` is red while any.
    failing: Mutex<Vec<(String, String)>>,
}

const BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

impl Default for PostureMetrics {
    fn default() -> Self {
        PostureMetrics {
            open: Default::default(),
            by_namespace: GaugeVec::new(&["namespace", "severity"]),
            by_check: GaugeVec::new(&["check", "severity"]),
            watched: GaugeVec::new(&["kind"]),
            evaluations: CounterVec::new(&["result"]),
            duration: HistogramVec::new(&["stage"], BUCKETS),
            transitions: CounterVec::new(&["change"]),
            watch_failures: CounterVec::new(&["kind"]),
            relists: CounterVec::new(&["kind"]),
            image_scans: CounterVec::new(&["result"]),
            failing: Mutex::new(Vec::new()),
        }
    }
}

impl PostureMetrics {
    /// The watches failing past their grace period, with their last error.
    pub fn failing(&self) -> Vec<(String, String)> {
        self.failing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn render(&self, out: &mut String) {
        use std::fmt::Write as _;
        let _ = writeln!(
            out,
            "# HELP kubevigil_findings Open findings of the cluster, by severity.\n# TYPE kubevigil_findings gauge"
        );
        for (i, s) in Severity::ALL.iter().rev().enumerate() {
            let _ = writeln!(
                out,
                "kubevigil_findings{{severity=\"{}\"}} {}",
                s.as_str(),
                self.open[i].load(Ordering::Relaxed)
            );
        }
        self.by_namespace.render(
            "kubevigil_namespace_findings",
            "Open findings of the cluster by namespace (\"\" for cluster-scoped objects) and severity.",
            out,
        );
        self.by_check.render(
            "kubevigil_check_findings",
            "Open findings of the cluster by check and severity.",
            out,
        );
        self.watched.render(
            "kubevigil_watched_objects",
            "Objects held from the cluster's watches, by kind.",
            out,
        );
        self.evaluations.render(
            "kubevigil_evaluations_total",
            "Whole evaluations recorded, by result (complete; incomplete: some kind is not watched, so nothing is resolved).",
            out,
        );
        self.duration.render(
            "kubevigil_evaluation_duration_seconds",
            "Time to evaluate, by stage (objects: changed objects; cluster: whole-inventory engines; changes: what changed recorded; record: a whole evaluation recorded; touch: open findings marked seen).",
            out,
        );
        self.transitions.render(
            "kubevigil_finding_transitions_total",
            "Findings that appeared, reopened or were resolved.",
            out,
        );
        self.watch_failures.render(
            "kubevigil_watch_failures_total",
            "Watch or list requests that failed, by kind; kube-runtime retries them with a backoff.",
            out,
        );
        self.relists.render(
            "kubevigil_watch_relists_total",
            "Lists of a kind after the first, by kind: its watch could not resume (410 Gone, a broken stream).",
            out,
        );
        self.image_scans.render(
            "kubevigil_image_scans_total",
            "Images of the cluster's workloads looked at by --images, by result (scanned: pulled and matched; cached: a scan of the same digest at the database's generation reused; rematched: the packages kept from an earlier scan of the digest matched again after an import, without a pull; unchanged: digest and database as at the last look; failed: not resolved, pulled or scanned).",
            out,
        );
        let failing = self.failing();
        let _ = writeln!(
            out,
            "# HELP kubevigil_watch_failing Kinds whose watch has kept failing past the grace period.\n# TYPE kubevigil_watch_failing gauge\nkubevigil_watch_failing {}",
            failing.len()
        );
    }
}

/// How often, how soon.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// How often the open findings are marked seen (and an incomplete whole evaluation is
    /// recorded again).
    pub resync: Duration,
    /// Least time between two runs of the whole-inventory engines.
    pub debounce: Duration,
    /// How long a watch may keep failing before `/readyz` turns red and the sinks are told.
    pub failure_grace: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            resync: Duration::from_secs(300),
            debounce: Duration::from_secs(1),
            failure_grace: Duration::from_secs(30),
        }
    }
}

/// What following a cluster needs.
pub struct Posture {
    pub conn: Connection,
    pub scope: Scope,
    pub config: Arc<Config>,
    pub store: SqliteStore,
    pub outbox: Option<Arc<Outbox>>,
    pub context: Context,
    pub metrics: Arc<PostureMetrics>,
    pub timing: Timing,
    /// Where the objects held are published for the dashboard.
    pub live: Arc<crate::dashboard::LiveObjects>,
    /// The images the workloads run kept scanned (`--images`): the scanner hands the workloads
    /// of a rescanned image back to the evaluation.
    pub images: Option<(
        crate::images::ImageOptions,
        Arc<kubevigil_checks::ImageScanTable>,
    )>,
}

/// Follows the cluster until the returned future is dropped (the evaluation thread then ends
/// with the watches).
pub async fn run(posture: Posture) {
    let Posture {
        conn,
        scope,
        config,
        store,
        outbox,
        context,
        metrics,
        timing,
        live,
        images,
    } = posture;
    let mut health = Health::new(timing.failure_grace);
    let mut delay = Duration::from_millis(800);
    let watches = loop {
        match Watches::discover(&conn, KINDS).await {
            Ok(w) => break w,
            Err(e) => {
                let message = e.to_string();
                tracing::error!(context = %conn.context, error = %message, "discovery failed; retrying");
                metrics.watch_failures.inc("discovery".into());
                health.failed("discovery", &message, Instant::now());
                publish_failing(&mut health, &metrics, outbox.as_deref(), &context);
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    };
    health.recovered("discovery");
    for p in &watches.problems {
        match p {
            Problem::NotServed { kind } => {
                tracing::warn!(kind = %kind.display(), "not served by the API server: not watched")
            }
            other => tracing::error!(problem = ?other, "not watched"),
        }
    }
    let (tx, rx) = mpsc::channel(CHANNEL);
    if let Some((options, table)) = images {
        let (live, evaluation, conn) = (live.clone(), tx.downgrade(), conn.clone());
        let metrics = metrics.clone();
        if let Err(e) = std::thread::Builder::new()
            .name("kubevigil-images".into())
            .spawn(move || {
                crate::images::run(options, conn, live, table, &metrics.image_scans, evaluation)
            })
        {
            tracing::error!(error = %e, "cannot start the image scanner");
        }
    }
    let evaluation = Evaluation::new(
        &watches, config, store, outbox, context, metrics, timing, health, live,
    );
    let thread = std::thread::Builder::new()
        .name("kubevigil-evaluate".into())
        .spawn(move || evaluation.run(rx));
    if let Err(e) = thread {
        tracing::error!(error = %e, "cannot start the evaluation thread");
        return;
    }
    if let Err(e) = watches.run(conn, &scope, tx).await {
        tracing::error!(error = %e, "cannot watch the cluster");
    }
}

/// A run of failures of one watch.
#[derive(Debug, Clone)]
struct Streak {
    since: Instant,
    last: Instant,
    message: String,
}

/// Which watches are failing, and since when.
struct Health {
    grace: Duration,
    streaks: BTreeMap<String, Streak>,
    /// When the sinks were last told, and about which kinds.
    told: Option<(Instant, Vec<String>)>,
}

impl Health {
    fn new(grace: Duration) -> Self {
        Health {
            grace,
            streaks: BTreeMap::new(),
            told: None,
        }
    }

    fn failed(&mut self, what: &str, message: &str, now: Instant) {
        match self.streaks.get_mut(what) {
            Some(s) if now.duration_since(s.last) < QUIET => {
                s.last = now;
                s.message = message.to_string();
            }
            _ => {
                self.streaks.insert(
                    what.to_string(),
                    Streak {
                        since: now,
                        last: now,
                        message: message.to_string(),
                    },
                );
            }
        }
    }

    fn recovered(&mut self, what: &str) {
        self.streaks.remove(what);
    }

    /// Whether `what` is in a run of failures (however short).
    fn troubled(&self, what: &str, now: Instant) -> bool {
        self.streaks
            .get(what)
            .is_some_and(|s| now.duration_since(s.last) < QUIET)
    }

    /// The watches failing for longer than the grace period, and still failing.
    fn failing(&self, now: Instant) -> Vec<(String, String)> {
        self.streaks
            .iter()
            .filter(|(_, s)| {
                now.duration_since(s.since) >= self.grace && now.duration_since(s.last) < QUIET
            })
            .map(|(k, s)| (k.clone(), s.message.clone()))
            .collect()
    }
}

/// Least time between two snapshots of the objects for the dashboard.
const PUBLISH_EVERY: Duration = Duration::from_secs(2);

/// How often the sinks are told again about watches that keep failing.
const TELL_AGAIN: Duration = Duration::from_secs(600);

/// Publishes the failing watches for `/readyz` and `/metrics`, and tells the sinks when the
/// set of failing watches changes, and every ten minutes while it lasts.
fn publish_failing(
    health: &mut Health,
    metrics: &PostureMetrics,
    outbox: Option<&Outbox>,
    ctx: &Context,
) {
    let failing = health.failing(Instant::now());
    let kinds: Vec<String> = failing.iter().map(|(k, _)| k.clone()).collect();
    let due = match &health.told {
        None => true,
        Some((at, told)) => *told != kinds || at.elapsed() >= TELL_AGAIN,
    };
    if failing.is_empty() {
        health.told = None;
    } else if due && let Some(outbox) = outbox {
        health.told = Some((Instant::now(), kinds.clone()));
        let now = kubevigil_store::now_ms();
        let detail: Vec<String> = failing.iter().map(|(k, m)| format!("{k}: {m}")).collect();
        let n = Notification::monitor(
            ctx,
            "KubevigilWatchFailing",
            Severity::High,
            &format!("kubevigil cannot watch {}", kinds.join(", ")),
            &format!(
                "{}. Changes to these kinds are not evaluated and nothing about them is resolved until the watch works again: check the monitor's RBAC and the API server.",
                detail.join("; ")
            ),
            now,
        );
        if let Err(e) = outbox.enqueue(&n, now) {
            tracing::error!(error = %e, "monitor alert not queued for the sinks");
        }
    }
    *metrics.failing.lock().unwrap_or_else(|p| p.into_inner()) = failing;
}

/// Findings that appeared and disappeared since the last record, netted: a finding that came
/// and went in between is neither.
#[derive(Default)]
struct Unrecorded {
    appeared: HashMap<String, Finding>,
    gone: HashMap<String, Finding>,
}

impl Unrecorded {
    fn add(&mut self, diff: FindingsDiff) {
        for f in diff.resolved {
            if self.appeared.remove(&f.fingerprint).is_none() {
                self.gone.insert(f.fingerprint.clone(), f);
            }
        }
        for f in diff.new {
            if self.gone.remove(&f.fingerprint).is_none() {
                self.appeared.insert(f.fingerprint.clone(), f);
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.appeared.is_empty() && self.gone.is_empty()
    }
}

/// The evaluation thread's state.
struct Evaluation {
    evaluator: Evaluator<'static>,
    /// Every kind watched (its display name), and whether it has been listed.
    listed: BTreeMap<String, bool>,
    /// Kinds discovery could not locate for another reason than not being served: never
    /// watched, so no run is complete.
    unwatchable: bool,
    store: SqliteStore,
    outbox: Option<Arc<Outbox>>,
    context: Context,
    metrics: Arc<PostureMetrics>,
    timing: Timing,
    health: Health,
    /// Whether the first whole evaluation was recorded: changes are recorded from then on.
    recording: bool,
    /// Whether recording changes failed since the last whole evaluation: the next one is
    /// recorded whole.
    record_failed: bool,
    /// Whether the last whole evaluation recorded was complete.
    whole_complete: bool,
    unrecorded: Unrecorded,
    next_full: Instant,
    /// When the whole-inventory engines may run again.
    next_cluster: Instant,
    /// Where cluster jobs go: a thread of their own, so that changed objects are evaluated
    /// while the whole-inventory engines run.
    cluster_jobs: Option<std::sync::mpsc::Sender<ClusterJob<'static>>>,
    /// Whether a cluster job is running.
    in_flight: bool,
    gauges_dirty: bool,
    next_gauges: Instant,
    /// The dashboard's view of the objects, published again at most every
    /// [`PUBLISH_EVERY`] while objects change.
    live: Arc<crate::dashboard::LiveObjects>,
    live_dirty: bool,
    next_publish: Instant,
}

/// Where the transitions a record makes are told: the sinks and the metrics.
struct Teller<'a> {
    outbox: &'a Option<Arc<Outbox>>,
    context: &'a Context,
    metrics: &'a PostureMetrics,
}

impl Teller<'_> {
    /// Queues a notification per transition, in one transaction.
    fn tell(&self, t: &Transitions, now: i64) {
        let mut notifications = Vec::new();
        for (records, change) in [
            (&t.new, Transition::New),
            (&t.reopened, Transition::Reopened),
            (&t.resolved, Transition::Resolved),
        ] {
            for r in records.iter() {
                self.metrics.transitions.inc(change.as_str());
                notifications.push(Notification::finding(self.context, r, change, now));
            }
        }
        if let (Some(outbox), false) = (&self.outbox, notifications.is_empty())
            && let Err(e) = outbox.enqueue_all(&notifications, now)
        {
            tracing::error!(error = %e, "findings not queued for the sinks");
        }
    }
}

impl Evaluation {
    #[allow(clippy::too_many_arguments)]
    fn new(
        watches: &Watches,
        config: Arc<Config>,
        store: SqliteStore,
        outbox: Option<Arc<Outbox>>,
        context: Context,
        metrics: Arc<PostureMetrics>,
        timing: Timing,
        health: Health,
        live: Arc<crate::dashboard::LiveObjects>,
    ) -> Self {
        let checks = kubevigil_checks::evaluator_checks();
        let now = Instant::now();
        Evaluation {
            evaluator: Evaluator::new((*config).clone(), &checks).reporting(),
            listed: watches
                .kinds()
                .into_iter()
                .map(|(k, _)| (k.display(), false))
                .collect(),
            unwatchable: watches
                .problems
                .iter()
                .any(|p| !matches!(p, Problem::NotServed { .. })),
            store,
            outbox,
            context,
            metrics,
            timing,
            health,
            recording: false,
            record_failed: false,
            whole_complete: false,
            unrecorded: Unrecorded::default(),
            next_full: now,
            next_cluster: now,
            cluster_jobs: None,
            in_flight: false,
            gauges_dirty: true,
            next_gauges: now,
            live,
            live_dirty: true,
            next_publish: now,
        }
    }

    fn run(mut self, mut rx: mpsc::Receiver<ObjectEvent>) {
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                tracing::error!(error = %e, "cannot start the evaluation");
                return;
            }
        };
        let (jobs, job_rx) = std::sync::mpsc::channel::<ClusterJob<'static>>();
        let (results_tx, mut results) = mpsc::unbounded_channel();
        let worker = std::thread::Builder::new()
            .name("kubevigil-cluster-checks".into())
            .spawn(move || {
                for job in job_rx {
                    let started = Instant::now();
                    let found = job.run();
                    if results_tx.send((found, started.elapsed())).is_err() {
                        return;
                    }
                }
            });
        match worker {
            Ok(_) => self.cluster_jobs = Some(jobs),
            // The whole-inventory engines then run on this thread.
            Err(e) => tracing::warn!(error = %e, "no thread for the cluster checks"),
        }
        rt.block_on(async move {
            loop {
                let wait = self
                    .next_deadline()
                    .saturating_duration_since(Instant::now());
                tokio::select! {
                    event = rx.recv() => match event {
                        Some(event) => {
                            let mut batch = vec![event];
                            while batch.len() < MAX_BATCH {
                                match rx.try_recv() {
                                    Ok(e) => batch.push(e),
                                    Err(_) => break,
                                }
                            }
                            self.take(batch);
                        }
                        // The watches ended: the monitor is stopping.
                        None => return,
                    },
                    Some((found, took)) = results.recv(), if self.in_flight => {
                        self.cluster_done(found, took);
                    }
                    _ = tokio::time::sleep(wait) => {}
                }
                self.tick();
            }
        });
    }

    /// Takes in what a cluster job found.
    fn cluster_done(&mut self, found: ClusterResults, took: Duration) {
        self.in_flight = false;
        let diff = self.evaluator.finish_cluster(found);
        self.metrics.duration.observe("cluster", took);
        self.next_cluster = Instant::now() + self.timing.debounce.max(took * 2);
        self.note(diff);
        self.gauges_dirty = true;
    }

    /// The next time something is due without a watch event.
    fn next_deadline(&self) -> Instant {
        let mut at = Instant::now() + Duration::from_secs(1);
        if self.recording {
            at = at.min(self.next_full);
        }
        if self.evaluator.has_pending() && !self.in_flight && self.all_listed_or_failing() {
            at = at.min(self.next_cluster);
        }
        if self.gauges_dirty {
            at = at.min(self.next_gauges);
        }
        if self.live_dirty {
            at = at.min(self.next_publish);
        }
        at
    }

    fn all_listed_or_failing(&self) -> bool {
        let now = Instant::now();
        let failing: HashSet<String> = self
            .health
            .failing(now)
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        self.listed
            .iter()
            .all(|(k, listed)| *listed || failing.contains(k))
    }

    /// Applies a batch of watch events to the evaluator.
    fn take(&mut self, batch: Vec<ObjectEvent>) {
        let started = Instant::now();
        let mut changes = Vec::new();
        for event in batch {
            match event {
                ObjectEvent::Applied(o) => {
                    self.health.recovered(&kind_name(&o.kind, o.group()));
                    changes.push(Change::Upsert(o));
                }
                ObjectEvent::Deleted(o) => {
                    self.health.recovered(&kind_name(&o.kind, o.group()));
                    changes.push(Change::Delete(o.key()));
                }
                ObjectEvent::Listed { kind, objects } => {
                    let name = kind.display();
                    self.health.recovered(&name);
                    if self.listed.insert(name.clone(), true) == Some(true) {
                        self.metrics.relists.inc(name.clone());
                    }
                    tracing::debug!(kind = %name, objects = objects.len(), "listed");
                    // What the list no longer has was deleted meanwhile; the store must see
                    // the changes before this one first.
                    let diff = self.evaluator.apply_objects(changes.drain(..));
                    self.note(diff);
                    let present: HashSet<ObjectKey> = objects.iter().map(|o| o.key()).collect();
                    let gone: Vec<ObjectKey> = self
                        .evaluator
                        .store()
                        .of_kind(kind.kind)
                        .filter(|o| o.group() == kind.group)
                        .map(|o| o.key())
                        .filter(|k| !present.contains(k))
                        .collect();
                    changes.extend(gone.into_iter().map(Change::Delete));
                    changes.extend(objects.into_iter().map(Change::Upsert));
                }
                ObjectEvent::Failed { kind, message } => {
                    let name = kind.display();
                    self.metrics.watch_failures.inc(name.clone());
                    self.health.failed(&name, &message, Instant::now());
                }
            }
        }
        let diff = self.evaluator.apply_objects(changes);
        self.note(diff);
        self.metrics.duration.observe("objects", started.elapsed());
        self.gauges_dirty = true;
        self.live_dirty = true;
    }

    /// Notes what changed, to be recorded; before the first whole evaluation (the first lists:
    /// every finding is new, and that evaluation records them), it is dropped at once.
    fn note(&mut self, diff: FindingsDiff) {
        if self.recording {
            self.unrecorded.add(diff);
        }
    }

    /// What is due: the whole-inventory engines, the record of changes, a whole evaluation,
    /// the gauges and the watches' health.
    fn tick(&mut self) {
        let now = Instant::now();
        publish_failing(
            &mut self.health,
            &self.metrics,
            self.outbox.as_deref(),
            &self.context,
        );
        let ready = self.all_listed_or_failing();
        // The first whole evaluation needs the engines' findings: they run here.
        if ready && !self.recording && !self.in_flight {
            self.record_all();
        }
        if self.recording
            && !self.in_flight
            && self.evaluator.has_pending()
            && now >= self.next_cluster
        {
            match (&self.cluster_jobs, self.evaluator.cluster_job()) {
                (_, None) => {}
                (Some(jobs), Some(job)) => {
                    self.in_flight = jobs.send(job).is_ok();
                }
                (None, Some(job)) => {
                    let started = Instant::now();
                    let found = job.run();
                    self.in_flight = true;
                    self.cluster_done(found, started.elapsed());
                }
            }
        }
        if self.recording && !self.unrecorded.is_empty() {
            self.record_changes();
        }
        if self.recording && now >= self.next_full {
            if (self.record_failed || !self.whole_complete) && !self.in_flight {
                // What could not be recorded, and what an incomplete evaluation could not
                // resolve (changes while the monitor was down, of a kind not watched then),
                // is in the whole evaluation.
                self.record_all();
            } else {
                self.touch();
            }
        }
        if self.gauges_dirty && now >= self.next_gauges {
            self.update_gauges();
        }
        // Once every kind is listed: a partial inventory would show, say, workloads without
        // the policies that isolate them.
        if ready && self.live_dirty && now >= self.next_publish {
            // A snapshot costs the keys, not the objects (they are shared).
            self.live.publish(self.evaluator.store().clone());
            self.live_dirty = false;
            self.next_publish = now + PUBLISH_EVERY;
        }
    }

    /// Whether every kind is watched: listed, and its watch not failing.
    fn complete(&self) -> bool {
        let now = Instant::now();
        !self.unwatchable
            && self
                .listed
                .iter()
                .all(|(k, listed)| *listed && !self.health.troubled(k, now))
    }

    /// Records the whole evaluation as a run: the findings held, consistent with the changes
    /// recorded so far (a cluster job running meanwhile records its changes when it ends).
    fn record_all(&mut self) {
        let started = Instant::now();
        if !self.recording && self.evaluator.has_pending() {
            let diff = self.evaluator.evaluate_pending();
            self.metrics.duration.observe("cluster", started.elapsed());
            self.next_cluster = Instant::now() + self.timing.debounce;
            drop(diff);
        }
        // Lean after the first record: the findings' texts are evaluated again.
        let findings: Vec<Finding> = if self.recording {
            self.evaluator.evaluate_whole()
        } else {
            self.evaluator.findings().cloned().collect()
        };
        let complete = self.complete();
        let time_ms = kubevigil_store::now_ms();
        let scope = kubevigil_store::Scope::everything();
        let teller = Teller {
            outbox: &self.outbox,
            context: &self.context,
            metrics: &self.metrics,
        };
        let run = Run {
            time_ms,
            scope: &scope,
            complete,
            findings: &findings,
        };
        // Told before the store commits them: a crash in between tells them again, not never.
        let result = match self
            .store
            .record_run_then(&run, |t| teller.tell(t, time_ms))
        {
            Ok(t) => {
                tracing::info!(
                    findings = findings.len(),
                    objects = self.evaluator.store().len(),
                    new = t.new.len(),
                    reopened = t.reopened.len(),
                    resolved = t.resolved.len(),
                    complete,
                    "cluster evaluated"
                );
                // The run holds everything found until now; from now on, the evaluator keeps
                // of each finding what tells it apart (the store has the rest).
                self.unrecorded = Unrecorded::default();
                self.recording = true;
                self.evaluator.make_lean();
                self.record_failed = false;
                self.whole_complete = complete;
                if complete { "complete" } else { "incomplete" }
            }
            Err(e) => {
                tracing::error!(error = %e, "evaluation not recorded");
                "failed"
            }
        };
        self.metrics.evaluations.inc(result);
        self.metrics.duration.observe("record", started.elapsed());
        self.next_full = Instant::now() + self.timing.resync;
        self.gauges_dirty = true;
    }

    /// Marks the open findings as seen now: with every change recorded as it happens, that is
    /// all a whole evaluation would record (and it costs one statement, where recording half a
    /// million findings holds the evaluation for seconds).
    fn touch(&mut self) {
        let started = Instant::now();
        match self.store.touch_open(kubevigil_store::now_ms()) {
            Ok(n) => tracing::debug!(open = n, "open findings seen"),
            Err(e) => tracing::error!(error = %e, "open findings not marked seen"),
        }
        self.metrics.duration.observe("touch", started.elapsed());
        self.next_full = Instant::now() + self.timing.resync;
    }

    /// Records what appeared and disappeared since the last record.
    fn record_changes(&mut self) {
        let unrecorded = std::mem::take(&mut self.unrecorded);
        let appeared: Vec<Finding> = unrecorded.appeared.into_values().collect();
        let gone: Vec<Finding> = unrecorded.gone.into_values().collect();
        let time_ms = kubevigil_store::now_ms();
        let started = Instant::now();
        let teller = Teller {
            outbox: &self.outbox,
            context: &self.context,
            metrics: &self.metrics,
        };
        let changes = Changes {
            time_ms,
            appeared: &appeared,
            gone: &gone,
        };
        let recorded = self
            .store
            .record_changes_then(&changes, |t| teller.tell(t, time_ms));
        self.metrics.duration.observe("changes", started.elapsed());
        match recorded {
            Ok(_) => {}
            Err(e) => {
                // The next whole evaluation records them.
                tracing::error!(error = %e, "changes not recorded");
                self.record_failed = true;
            }
        }
    }

    /// Open findings by severity, namespace and check; watched objects by kind.
    fn update_gauges(&mut self) {
        let mut open = [0u64; 5];
        let mut by_namespace: BTreeMap<(String, &'static str), f64> = BTreeMap::new();
        let mut by_check: BTreeMap<(String, &'static str), f64> = BTreeMap::new();
        for f in self.evaluator.lean_findings() {
            let i = Severity::ALL.iter().rev().position(|s| *s == f.severity);
            open[i.unwrap_or(0)] += 1;
            let sev = f.severity.as_str();
            let ns = f.object.namespace.clone().unwrap_or_default();
            *by_namespace.entry((ns, sev)).or_default() += 1.0;
            *by_check.entry((f.check_id.to_string(), sev)).or_default() += 1.0;
        }
        for (slot, n) in self.metrics.open.iter().zip(open) {
            slot.store(n, Ordering::Relaxed);
        }
        self.metrics.by_namespace.replace(by_namespace);
        self.metrics.by_check.replace(by_check);
        let mut watched: BTreeMap<String, f64> = BTreeMap::new();
        for o in self.evaluator.store().objects() {
            *watched.entry(kind_name(&o.kind, o.group())).or_default() += 1.0;
        }
        self.metrics.watched.replace(watched);
        self.gauges_dirty = false;
        self.next_gauges = Instant::now() + GAUGES_EVERY;
    }
}

/// `Kind` or `Kind.group`, as [`kubevigil_cluster::WantedKind::display`] names kinds.
fn kind_name(kind: &str, group: &str) -> String {
    if group.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}.{group}")
    }
}
