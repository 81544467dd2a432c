//! kubevigil-detect: threat detection over Kubernetes audit logs, as a library the CLI
//! (`kubevigil audit detect`) and the monitor share.
//!
//! * [`rules`]: the rules to run: the built-in pack plus rule files and directories, minus
//!   disabled ones.
//! * [`audit`]: the Kubernetes audit source: the Sigma field mapping of audit events, the
//!   redacted sample an alert carries, which fields hold secrets.
//! * [`source`]: [`EventSource`], a stream of events with what a signal may keep of each (a
//!   redacted sample); [`AuditLogSource`] reads audit logs with the one audit reader,
//!   [`PodLogSource`] saved pod logs ([`pod_logs`]), [`K8sEventSource`] saved Kubernetes
//!   Events ([`k8s_events`]), [`FalcoSource`] Falco alerts ([`falco`]). Hubble will be a
//!   source too.
//! * [`Detector`]: the events of a source, in order, through the engine; alerts out.
//! * [`alert`]: the alert contract (rule, explanation, actor, action, facts, dedup key and
//!   count, events).
//! * [`sample`]: an alert's sample events, kept as the JSON text their source wrote and read
//!   from it (parsed into a `Value` only when asked for).
//! * [`dedup`]: repeats fold into the first alert (a key and a period per rule).
//! * [`tuning`]: the configuration's exceptions and dedup defaults.
//! * [`stats`]: per-rule counts with the top actors and objects (`--stats`).
//!
//! The Sigma engine itself (`kubevigil-sigma`) knows nothing of Kubernetes.

pub mod alert;
pub mod audit;
mod audit_source;
pub mod dedup;
pub mod falco;
pub mod hubble;
pub mod incident;
pub mod indicators;
pub mod k8s_events;
mod pipeline;
pub mod pod_logs;
pub mod resources;
pub mod rules;
pub mod sample;
pub mod source;
pub mod stats;
pub mod tuning;

pub use alert::DetectionAlert;
pub use audit_source::AuditLogSource;
pub use dedup::Mode;
pub use falco::FalcoSource;
pub use hubble::HubbleSource;
pub use k8s_events::K8sEventSource;
pub use pipeline::{Detector, Summary};
pub use pod_logs::{PodLogSource, PodRef};
pub use source::{EventSource, SourceEvent, SourceSummary};
