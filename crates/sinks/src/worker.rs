//! Delivery: one worker per sink takes its queue from the outbox, oldest first, delivers, and
//! marks what was delivered, what to retry (with exponential backoff) and what was rejected.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use kubevigil_model::Escaped;
use tokio::sync::watch;

use crate::notification::Notification;
use crate::outbox::{Outbox, Pending};
use crate::{Result, SinkError, now_ms};

/// Why a delivery did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The sink may accept it later: a 5xx, a 429, a timeout, a refused connection.
    #[error("{reason}")]
    Retry {
        reason: String,
        /// What the sink asked for (`Retry-After`).
        retry_after: Option<Duration>,
    },
    /// The sink will never accept it as it is (a 4xx other than 408 and 429): retrying would
    /// only repeat the answer.
    #[error("{reason}")]
    Reject { reason: String },
}

/// A destination of notifications.
pub trait Sink: Send + Sync + 'static {
    /// How many notifications one [`deliver`](Sink::deliver) call may carry.
    fn max_batch(&self) -> usize {
        1
    }

    /// Delivers `batch` (in order); all of it is delivered, or the error applies to all of it.
    fn deliver(
        &self,
        batch: &[Notification],
    ) -> impl Future<Output = std::result::Result<(), DeliveryError>> + Send;
}

/// Delays between attempts: exponential from `initial`, capped at `max`, with jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    /// A sink's `Retry-After` is honoured up to this long.
    pub max_retry_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(300),
            max_retry_after: Duration::from_secs(3600),
        }
    }
}

impl Backoff {
    /// The delay after the `attempts`-th failed attempt (1 for the first): `initial * 2^(n-1)`
    /// capped at `max`, then a random point of its upper half, so that workers that failed
    /// together do not retry together.
    pub fn delay(&self, attempts: u32) -> Duration {
        let exp = attempts.saturating_sub(1).min(32);
        let full = self
            .initial
            .saturating_mul(1u32 << exp.min(31))
            .min(self.max);
        let half = full / 2;
        let jitter_ms = fastrand::u64(0..=half.as_millis().min(u64::MAX as u128) as u64);
        half + Duration::from_millis(jitter_ms)
    }

    /// The delay before retrying after `error`: the backoff, or longer when the sink asked.
    pub fn after(&self, attempts: u32, retry_after: Option<Duration>) -> Duration {
        let backoff = self.delay(attempts);
        match retry_after {
            Some(asked) => backoff.max(asked.min(self.max_retry_after)),
            None => backoff,
        }
    }
}

/// Delivers one sink's queue until stopped.
pub struct Worker<S> {
    outbox: Arc<Outbox>,
    name: String,
    sink: S,
    backoff: Backoff,
}

impl<S: Sink> Worker<S> {
    /// A worker for the route named `name` of `outbox`: one per sink (two would send the same
    /// notifications twice).
    pub fn new(outbox: Arc<Outbox>, name: &str, sink: S, backoff: Backoff) -> Result<Worker<S>> {
        if !outbox.routes().iter().any(|r| r.sink == name) {
            return Err(SinkError::UnknownSink(name.to_string()));
        }
        Ok(Worker {
            outbox,
            name: name.to_string(),
            sink,
            backoff,
        })
    }

    /// Delivers until `stop` changes (or its sender is dropped). Stopping mid-delivery
    /// abandons the attempt: its notifications stay queued and are delivered again later (at
    /// least once).
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let Some(wake) = self.outbox.wake(&self.name) else {
            return;
        };
        let max_batch = self.sink.max_batch().max(1);
        loop {
            if *stop.borrow() {
                return;
            }
            let batch = match self.blocking(move |o, s| o.pending(s, max_batch)).await {
                Ok(batch) => batch,
                Err(e) => {
                    self.outbox_error(&e);
                    if sleep_or_stop(Duration::from_secs(1), &mut stop).await {
                        return;
                    }
                    continue;
                }
            };
            let Some(head) = batch.first() else {
                tokio::select! {
                    _ = wake.notified() => continue,
                    _ = stop.changed() => return,
                }
            };
            // The queue is in order: until its head is due, nothing behind it is sent.
            let wait_ms = head.next_attempt_ms - now_ms();
            if wait_ms > 0 {
                if sleep_or_stop(Duration::from_millis(wait_ms as u64), &mut stop).await {
                    return;
                }
                continue;
            }
            let notifications: Vec<Notification> =
                batch.iter().map(|p| p.notification.clone()).collect();
            let result = tokio::select! {
                r = self.sink.deliver(&notifications) => r,
                _ = stop.changed() => return,
            };
            let recorded = match result {
                // One bad notification must not fail the others of its batch: each is sent
                // alone, and only what the sink rejects alone is marked failed.
                Err(DeliveryError::Reject { .. }) if batch.len() > 1 => {
                    self.deliver_one_by_one(&batch, &mut stop).await
                }
                result => self.record(&batch, result).await,
            };
            if let Err(e) = recorded {
                if matches!(e, SinkError::Stopped) {
                    return;
                }
                self.outbox_error(&e);
                if sleep_or_stop(Duration::from_secs(1), &mut stop).await {
                    return;
                }
            }
        }
    }

    async fn deliver_one_by_one(
        &self,
        batch: &[Pending],
        stop: &mut watch::Receiver<bool>,
    ) -> Result<()> {
        for pending in batch {
            let result = tokio::select! {
                r = self.sink.deliver(std::slice::from_ref(&pending.notification)) => r,
                _ = stop.changed() => return Err(SinkError::Stopped),
            };
            let retry = matches!(result, Err(DeliveryError::Retry { .. }));
            self.record(std::slice::from_ref(pending), result).await?;
            // The sink went down meanwhile: what follows waits its turn, in order.
            if retry {
                break;
            }
        }
        Ok(())
    }

    async fn record(
        &self,
        batch: &[Pending],
        result: std::result::Result<(), DeliveryError>,
    ) -> Result<()> {
        let seqs: Vec<i64> = batch.iter().map(|p| p.seq).collect();
        let attempts = batch.iter().map(|p| p.attempts).max().unwrap_or(0) + 1;
        match result {
            Ok(()) => {
                tracing::debug!(sink = %Escaped(&self.name), count = seqs.len(), "delivered");
                self.blocking(move |o, s| o.delivered(s, &seqs)).await
            }
            Err(DeliveryError::Retry {
                reason,
                retry_after,
            }) => {
                let delay = self.backoff.after(attempts, retry_after);
                tracing::warn!(
                    sink = %Escaped(&self.name),
                    count = seqs.len(),
                    attempts,
                    retry_in_ms = delay.as_millis() as u64,
                    reason = %Escaped(&reason),
                    "delivery failed; will retry"
                );
                let next = now_ms() + delay.as_millis() as i64;
                self.blocking(move |o, s| o.retry_later(s, &seqs, next, &reason))
                    .await
            }
            Err(DeliveryError::Reject { reason }) => {
                tracing::error!(
                    sink = %Escaped(&self.name),
                    count = seqs.len(),
                    reason = %Escaped(&reason),
                    "sink rejected notifications; not retrying"
                );
                self.blocking(move |o, s| o.failed(s, &seqs, &reason, now_ms()))
                    .await
            }
        }
    }

    /// Runs an outbox call off the async threads (SQLite blocks, and fsyncs).
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Outbox, &str) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let outbox = Arc::clone(&self.outbox);
        let name = self.name.clone();
        tokio::task::spawn_blocking(move || f(&outbox, &name))
            .await
            .map_err(|e| SinkError::Task(e.to_string()))?
    }

    fn outbox_error(&self, e: &SinkError) {
        tracing::error!(sink = %Escaped(&self.name), error = %e, "outbox error; retrying in 1s");
    }
}

/// Sleeps; true when stopped meanwhile.
async fn sleep_or_stop(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap_within_the_upper_half() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(1000),
            max_retry_after: Duration::from_secs(60),
        };
        for _ in 0..50 {
            for (attempts, full) in [
                (1, 100),
                (2, 200),
                (3, 400),
                (4, 800),
                (5, 1000),
                (60, 1000),
            ] {
                let d = b.delay(attempts).as_millis() as u64;
                assert!((full / 2..=full).contains(&d), "attempt {attempts}: {d} ms");
            }
        }
        // Jittered: not always the same delay.
        let delays: std::collections::BTreeSet<_> = (0..20).map(|_| b.delay(4)).collect();
        assert!(delays.len() > 1);
    }

    #[test]
    fn retry_after_is_honoured_up_to_its_cap() {
        let b = Backoff {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(20),
            max_retry_after: Duration::from_secs(60),
        };
        assert_eq!(
            b.after(1, Some(Duration::from_secs(5))),
            Duration::from_secs(5)
        );
        assert_eq!(
            b.after(1, Some(Duration::from_secs(7200))),
            Duration::from_secs(60)
        );
        assert!(b.after(1, Some(Duration::ZERO)) <= Duration::from_millis(10));
    }
}
