//! kubevigil-sinks: where the monitor's notifications go, and how none is lost on the way.
//!
//! * [`Notification`]: a finding that appeared, reopened or was resolved, or a detection, built
//!   from what the store says changed (so what was known before start is not sent again), with
//!   a stable id for receivers to drop repeats (delivery is at least once).
//! * [`Outbox`]: an on-disk queue per sink (SQLite, WAL); an enqueue is durable when it returns,
//!   each sink has a minimum severity and filters ([`Filter`]), a bounded size with a counted
//!   overflow policy ([`Limits`]), and counters for `/metrics` ([`SinkStats`]).
//! * [`Worker`]: one per sink; delivers its queue in order, retries 5xx, 429 (after its
//!   `Retry-After`), timeouts and connection errors with capped, jittered exponential backoff
//!   ([`Backoff`]), and marks a notification a sink rejects with another 4xx failed with the
//!   reason, never retried.
//! * Sinks ([`Sink`]): [`Alertmanager`] (API v2), [`Slack`] (incoming webhooks, Block Kit),
//!   [`Webhook`] (JSON signed with HMAC-SHA256 in `X-Kubevigil-Signature`), [`Stdout`] (JSON
//!   lines).
//!
//! Notifications carry only fields of findings and alerts, which the checks and the detector
//! have already redacted; untrusted text (object and user names) is escaped by each sink in its
//! own syntax.

#![forbid(unsafe_code)]

pub mod alertmanager;
pub mod http;
pub mod notification;
pub mod outbox;
pub mod slack;
pub mod stdout;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod webhook;
pub mod worker;

use std::path::PathBuf;

pub use alertmanager::{Alertmanager, AlertmanagerConfig};
pub use notification::{Change, Context, Notification, Source, Status};
pub use outbox::{Failed, Filter, Limits, Outbox, Overflow, Pending, Route, RuleFilter, SinkStats};
pub use slack::{Slack, SlackConfig};
pub use stdout::Stdout;
pub use webhook::{Webhook, WebhookConfig};
pub use worker::{Backoff, DeliveryError, Sink, Worker};

/// What can go wrong outside a delivery (a delivery's own failures are [`DeliveryError`]s).
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    // Not a `source`: SQLite's message already says what its source would repeat.
    #[error("outbox database: {0}")]
    Sqlite(rusqlite::Error),
    #[error("cannot create {path}: {source}")]
    StateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "outbox schema version {found} is newer than this kubevigil knows ({known}); upgrade kubevigil"
    )]
    SchemaTooNew { found: i64, known: i64 },
    #[error("no route for sink {0:?} in the outbox")]
    UnknownSink(String),
    #[error("cannot encode a notification: {0}")]
    Encode(String),
    /// The URL itself is not shown: webhook URLs often hold a token.
    #[error("invalid sink URL: {0}")]
    Url(String),
    #[error("invalid header value: {0}")]
    Header(String),
    #[error("TLS setup: {0}")]
    Tls(String),
    #[error("outbox task: {0}")]
    Task(String),
    /// A worker was stopped in the middle of a delivery (what it carried stays queued).
    #[error("stopped")]
    Stopped,
}

impl From<rusqlite::Error> for SinkError {
    fn from(e: rusqlite::Error) -> Self {
        SinkError::Sqlite(e)
    }
}

pub type Result<T> = std::result::Result<T, SinkError>;

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    kubevigil_store::now_ms()
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub(crate) fn prefix(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// An unparsable sink URL, said without the URL (it may hold a token).
pub(crate) fn redacted_url_error(e: &hyper::http::uri::InvalidUri) -> SinkError {
    SinkError::Url(e.to_string())
}
