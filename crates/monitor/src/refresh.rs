//! Open findings sent again to Alertmanager, so that a finding open for days stays firing there.
//!
//! Alertmanager resolves an alert by itself at its `endsAt`, and keeps alerts in memory only (a
//! restart forgets them: prometheus/alertmanager#2370); Prometheus therefore sends every firing
//! alert again and again, each time with `endsAt` a few resend intervals ahead
//! (`rules/alerting.go`, `sendAlerts`: `ValidUntil = ts + 4 * max(interval, resendDelay)`), and
//! "clients are expected to continuously re-send alerts as long as they are still active"
//! (<https://prometheus.io/docs/alerting/clients/>).
//!
//! Here every `interval` (default [`DEFAULT_INTERVAL`], one hour) each open finding of the
//! history is queued as a [refresh](Notification::refresh) in the outbox (durable, retried like
//! any notification), which routes it to the sinks whose filter takes refreshes: Alertmanager
//! only, so Slack and webhooks are not told the same finding again. Alertmanager sends it on
//! with `endsAt` [`finding_ttl`] ahead (a day at the default): a day of missed refreshes (the
//! monitor down, Alertmanager unreachable) before Alertmanager would tell its receivers that a
//! finding still open is resolved; an hour at most for a restarted Alertmanager to have its
//! open findings back. Findings are resolved explicitly (the monitor sends `endsAt` the
//! resolution time), so the long `endsAt` only matters when the monitor is gone for good.
//!
//! A refresh is not a transition: it is not in the history, nor counted as an alert.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kubevigil_sinks::{Context, Notification, Outbox};
use kubevigil_store::{HistoryStore, StoreError};

/// How often open findings are sent again.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(3600);

/// How many refreshes may be missed before Alertmanager resolves a finding by itself.
const MISSED_REFRESHES: u32 = 24;

/// The `endsAt` of a firing finding, after its delivery, for refreshes every `interval`.
pub fn finding_ttl(interval: Duration) -> Duration {
    interval.saturating_mul(MISSED_REFRESHES)
}

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("history store: {0}")]
    Store(#[from] StoreError),
    #[error("outbox: {0}")]
    Outbox(#[from] kubevigil_sinks::SinkError),
}

/// Queues a refresh of every open finding of `store`; returns how many were queued for some
/// sink.
///
/// The history is read, then the refreshes queued: a finding resolved in between (by an
/// evaluation, which records its run and then queues the resolution) could have its resolution
/// queued before the refresh, and Alertmanager would fire it again until the refresh's
/// `endsAt`. So the history is read again after the queueing, and each refreshed finding no
/// longer open gets its resolution queued again, behind the refresh, for the same sinks.
pub fn refresh_once(
    store: &dyn HistoryStore,
    outbox: &Outbox,
    context: &Context,
    now_ms: i64,
) -> Result<usize, RefreshError> {
    let mut refreshes = Vec::new();
    store.open_findings(&mut |f| {
        refreshes.push(Notification::refresh(context, &f));
        Ok(())
    })?;
    if refreshes.is_empty() {
        return Ok(0);
    }
    let queued = outbox.enqueue_all(&refreshes, now_ms)?;
    let refreshed: Vec<&str> = refreshes
        .iter()
        .zip(&queued)
        .filter(|(_, sinks)| !sinks.is_empty())
        .filter_map(|(n, _)| n.labels.get("fingerprint").map(String::as_str))
        .collect();
    let mut still_open = std::collections::HashSet::new();
    store.open_findings(&mut |f| {
        still_open.insert(f.fingerprint);
        Ok(())
    })?;
    let mut overtaken = Vec::new();
    for fp in refreshed.iter().filter(|fp| !still_open.contains(**fp)) {
        if let Some(f) = store.finding(fp)?
            && !f.is_open()
        {
            overtaken.push(Notification::refresh_resolved(context, &f));
        }
    }
    if !overtaken.is_empty() {
        outbox.enqueue_all(&overtaken, now_ms)?;
    }
    Ok(refreshed.len())
}

/// Refreshes now, then every `interval`, until the task is dropped or aborted.
pub async fn run<S: HistoryStore + Send + 'static>(
    store: S,
    outbox: Arc<Outbox>,
    context: Context,
    interval: Duration,
) {
    let store = Arc::new(Mutex::new(store));
    let mut ticks = tokio::time::interval(interval);
    // A refresh that comes late (a suspended host) is not followed by a burst of others.
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let (store, outbox, context) = (store.clone(), outbox.clone(), context.clone());
        // SQLite reads and an fsync'd enqueue: off the async workers.
        let done = tokio::task::spawn_blocking(move || {
            let store = store.lock().unwrap_or_else(|p| p.into_inner());
            refresh_once(&*store, &outbox, &context, kubevigil_store::now_ms())
        })
        .await;
        match done {
            Ok(Ok(n)) => tracing::debug!(findings = n, "open findings refreshed"),
            Ok(Err(e)) => tracing::error!(error = %e, "open findings not refreshed"),
            Err(e) => tracing::error!(error = %e, "refresh task failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::cell::{Cell, RefCell};

    use kubevigil_detect::DetectionAlert;
    use kubevigil_model::{Finding, Location, ObjectRef, Severity};
    use kubevigil_sinks::{Filter, Limits, Route};
    use kubevigil_store::{
        AlertRecord, AlertSeen, Changes, FindingEvent, FindingRecord, HistoryQuery, Pruned, Result,
        Run, Scope, SqliteStore, Transitions,
    };

    use super::*;

    fn finding(fp: &str) -> Finding {
        Finding {
            check_id: Cow::Borrowed("pss-privileged"),
            severity: Severity::High,
            title: Cow::Borrowed("Privileged container"),
            message: "runs privileged".into(),
            object: Arc::new(ObjectRef {
                api_version: "apps/v1".into(),
                kind: "Deployment".into(),
                namespace: Some("shop".into()),
                name: fp.into(),
            }),
            location: Location::field_only("spec".into()),
            remediation: Cow::Borrowed(""),
            references: Cow::Borrowed(&[]),
            fingerprint: fp.into(),
        }
    }

    /// A store whose findings are all resolved (an evaluation) right after the first read of
    /// the open findings: the race a refresh must not lose.
    struct Racing {
        inner: RefCell<SqliteStore>,
        reads: Cell<u32>,
        race: bool,
    }

    impl HistoryStore for Racing {
        fn record_run(&mut self, run: &Run<'_>) -> Result<Transitions> {
            self.inner.get_mut().record_run(run)
        }
        fn record_changes(&mut self, changes: &Changes<'_>) -> Result<Transitions> {
            self.inner.get_mut().record_changes(changes)
        }
        fn touch_open(&mut self, time_ms: i64) -> Result<usize> {
            self.inner.get_mut().touch_open(time_ms)
        }
        fn record_alert(&mut self, alert: &DetectionAlert, now_ms: i64) -> Result<AlertSeen> {
            self.inner.get_mut().record_alert(alert, now_ms)
        }
        fn finding_history(
            &self,
            query: &HistoryQuery,
            visit: &mut dyn FnMut(FindingEvent) -> std::io::Result<()>,
        ) -> Result<()> {
            self.inner.borrow().finding_history(query, visit)
        }
        fn alert_history(
            &self,
            query: &HistoryQuery,
            visit: &mut dyn FnMut(AlertRecord) -> std::io::Result<()>,
        ) -> Result<()> {
            self.inner.borrow().alert_history(query, visit)
        }
        fn finding(&self, fingerprint: &str) -> Result<Option<FindingRecord>> {
            self.inner.borrow().finding(fingerprint)
        }
        fn open_counts(&self) -> Result<Vec<(Option<String>, kubevigil_model::Severity, u64)>> {
            self.inner.borrow().open_counts()
        }
        fn transitions(
            &self,
            visit: &mut dyn FnMut(i64, kubevigil_model::Severity, kubevigil_store::Transition),
        ) -> Result<()> {
            self.inner.borrow().transitions(visit)
        }
        fn findings_of(&self, object: &kubevigil_model::ObjectRef) -> Result<Vec<FindingRecord>> {
            self.inner.borrow().findings_of(object)
        }
        fn findings(
            &self,
            visit: &mut dyn FnMut(FindingRecord) -> std::io::Result<()>,
        ) -> Result<()> {
            self.inner.borrow().findings(visit)
        }
        fn open_findings(
            &self,
            visit: &mut dyn FnMut(FindingRecord) -> std::io::Result<()>,
        ) -> Result<()> {
            self.inner.borrow().open_findings(visit)?;
            self.reads.set(self.reads.get() + 1);
            if self.race && self.reads.get() == 1 {
                self.inner.borrow_mut().record_run(&Run {
                    time_ms: 2_000,
                    scope: &Scope::everything(),
                    complete: true,
                    findings: &[],
                })?;
            }
            Ok(())
        }
        fn prune(&mut self, before_ms: i64) -> Result<Pruned> {
            self.inner.get_mut().prune(before_ms)
        }
    }

    fn setup(race: bool) -> (Racing, Outbox, tempfile::TempDir) {
        let mut store = SqliteStore::open_in_memory().unwrap();
        store
            .record_run(&Run {
                time_ms: 1_000,
                scope: &Scope::everything(),
                complete: true,
                findings: &[finding("a"), finding("b")],
            })
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let routes = vec![
            Route {
                sink: "alertmanager".into(),
                filter: Filter {
                    refreshes: true,
                    ..Filter::default()
                },
            },
            Route {
                sink: "webhook".into(),
                filter: Filter::default(),
            },
        ];
        let outbox = Outbox::open(dir.path(), routes, Limits::default()).unwrap();
        let store = Racing {
            inner: RefCell::new(store),
            reads: Cell::new(0),
            race,
        };
        (store, outbox, dir)
    }

    fn queued(outbox: &Outbox, sink: &str) -> Vec<String> {
        let pending = outbox.pending(sink, 100).unwrap();
        pending.into_iter().map(|p| p.notification.id).collect()
    }

    #[test]
    fn open_findings_go_to_alertmanager_only() {
        let (store, outbox, _dir) = setup(false);
        let ctx = Context::default();
        assert_eq!(refresh_once(&store, &outbox, &ctx, 5_000).unwrap(), 2);
        assert_eq!(
            queued(&outbox, "alertmanager"),
            ["finding/a/refresh/1000", "finding/b/refresh/1000"]
        );
        assert!(queued(&outbox, "webhook").is_empty());
        // Still waiting: the next refresh queues nothing beside them.
        assert_eq!(refresh_once(&store, &outbox, &ctx, 6_000).unwrap(), 0);
        assert_eq!(queued(&outbox, "alertmanager").len(), 2);
    }

    #[test]
    fn a_finding_resolved_during_a_refresh_is_resolved_again_behind_it() {
        let (store, outbox, _dir) = setup(true);
        refresh_once(&store, &outbox, &Context::default(), 5_000).unwrap();
        let pending = outbox.pending("alertmanager", 100).unwrap();
        let got: Vec<(&str, Option<i64>)> = pending
            .iter()
            .map(|p| (p.notification.id.as_str(), p.notification.ends_at_ms))
            .collect();
        assert_eq!(
            got,
            [
                ("finding/a/refresh/1000", None),
                ("finding/b/refresh/1000", None),
                ("finding/a/resolved/2000/after-refresh", Some(2_000)),
                ("finding/b/resolved/2000/after-refresh", Some(2_000)),
            ]
        );
        assert!(queued(&outbox, "webhook").is_empty());
    }
}
