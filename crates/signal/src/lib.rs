//! kubevigil-signal: what the CLI, the webhook and the monitor share to move what kubevigil
//! learns to where people and tools read it.
//!
//! * [`source`]: [`EventSource`], a stream of events with what a signal may keep of each (a
//!   redacted sample); [`source::audit::AuditLogSource`] reads audit logs with the one audit
//!   reader. Pod logs, Falco and Hubble will be sources too.
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
pub mod source;

pub use kubevigil_model::Severity;
pub use signal::{Body, Signal};
pub use sinks::Sink;
pub use source::{EventSource, SourceEvent, SourceSummary};
