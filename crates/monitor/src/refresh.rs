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
