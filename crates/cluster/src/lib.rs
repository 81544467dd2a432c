//! Live clusters: a kube-rs client from a kubeconfig (`KUBECONFIG`, `--kubeconfig`,
//! `--context`) or the in-cluster service account, a snapshot of every kind kubevigil's checks
//! and engines read (paginated lists, bounded concurrency, discovery of optional API groups,
//! Secrets as metadata only), and kube-runtime watchers.
//!
//! The engines stay free of I/O: this crate fills the same [`kubevigil_model::Inventory`] as
//! the file loader, with cluster-origin objects ([`kubevigil_model::Origin::Cluster`]: context,
//! uid, resourceVersion).

mod api;
mod connect;
mod input;
mod kinds;
mod pull_secrets;
mod role;
mod snapshot;
pub mod watch;

pub use api::ApiError;
pub use connect::{Connection, IN_CLUSTER_CONTEXT, Target};
pub use input::ClusterInput;
pub use kinds::{KINDS, WantedKind};
pub use pull_secrets::{DockerConfig, pull_secret_refs, pull_secrets};
pub use role::{Rule, SECRETS_NOTE, cluster_role_rules, cluster_role_yaml};
pub use snapshot::{Problem, Scope, Snapshot, SnapshotOptions, snapshot};
pub use watch::{EventsChange, ObjectEvent, Watches, watch_events};

/// What can go wrong talking to a cluster. Every variant names the context, and those about a
/// request name its API path.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read the kubeconfig: {0}")]
    Kubeconfig(String),
    #[error("context {context:?}: {message}")]
    Config { context: String, message: String },
    #[error(transparent)]
    Api(#[from] ApiError),
}

/// The error chain of `e`, one cause after the other (kube-rs and hyper nest the useful part:
/// "connection refused", "invalid peer certificate").
pub(crate) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
