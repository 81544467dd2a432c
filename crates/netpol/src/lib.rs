//! kubevigil-netpol: Kubernetes NetworkPolicy (`networking.k8s.io/v1`) analysis without I/O.
//!
//! Build a [`Cluster`] from objects, then ask an [`Engine`] for [`Connectivity`] (every allowed
//! connection between workloads and the IP space outside the cluster), [`can_reach`] for one
//! explained answer, or [`diff`] two versions. See README.md for the semantics and citations.

pub mod cluster;
pub mod conn;
pub mod diff;
pub mod engine;
pub mod findings;
pub mod ip;
pub mod named;
pub mod policy;
pub mod selector;

pub use cluster::{Cluster, ForeignPolicy, Namespace, ObjectProblem, Workload};
pub use conn::{ConnSet, Protocol};
pub use engine::{Connection, Connectivity, Endpoint, Engine, Target, Verdict, can_reach};
pub use kubevigil_model::{DiagLevel, FieldPath};
pub use named::{Conn, Connections, EndpointRef, Reachability, UnmatchedPeer};
pub use policy::{Direction, NetworkPolicy};

/// A problem with an input object, located by field path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct Problem {
    /// `Error`: the API server would reject the policy, which is left out of the analysis;
    /// `Warning`: accepted, but probably not what was meant.
    pub level: DiagLevel,
    pub path: FieldPath,
    pub message: String,
}

pub(crate) fn problem(path: &FieldPath, message: &str) -> Problem {
    Problem {
        level: DiagLevel::Error,
        path: path.clone(),
        message: message.to_string(),
    }
}
