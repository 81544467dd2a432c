//! kubevigil-signal: what the CLI, the webhook and the monitor share to move what kubevigil
//! learns to where people and tools read it.
//!
//! * Event sources ([`EventSource`], re-exported): in `kubevigil-detect`, whose detector
//!   runs on them.
//! * [`Signal`]: the envelope over a finding (state) or an alert (events): time, severity,
//!   subject, and a key that identifies it (a finding's fingerprint, an alert's dedup key), so
//!   history, sinks and metrics handle both alike.
//! * [`sinks`]: [`Sink`] and its implementations, each in its own folder with its
//!   configuration and tests: [`sinks::stdout`] (one human line per signal) and
//!   [`sinks::jsonl`] (one JSON object per line, to a file or stdout).
//!
//! Severity is [`kubevigil_model::Severity`] for both findings and alerts: Sigma's `level`
//! maps onto it (`informational` → `info`, no level → `medium`).

pub mod signal;
pub mod sinks;

pub use kubevigil_detect::{AuditLogSource, EventSource, SourceEvent, SourceSummary};
pub use kubevigil_model::Severity;
pub use signal::{Body, Signal};
pub use sinks::Sink;
