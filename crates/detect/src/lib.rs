//! kubevigil-detect: threat detection over Kubernetes audit logs, as a library the CLI
//! (`kubevigil audit detect`) and the monitor share.
//!
//! * [`rules`]: the rules to run: the built-in pack plus rule files and directories, minus
//!   disabled ones.
//! * [`audit`]: the Kubernetes audit source: the Sigma field mapping of audit events, the
//!   redacted sample an alert carries, which fields hold secrets.
//! * [`Detector`]: events from every input, in order, through the engine; alerts out.
//! * [`alert`]: the alert contract (`{rule, title, severity, time, tags, group, count,
//!   events[]}`).
//!
//! The Sigma engine itself (`kubevigil-sigma`) knows nothing of Kubernetes.

pub mod alert;
pub mod audit;
mod pipeline;
pub mod rules;

pub use alert::DetectionAlert;
pub use pipeline::{Detector, Summary};
