//! kubevigil's RBAC engine: the API server's RBAC authorizer over manifests (or a cluster's
//! objects), exactly as it decides. Pure: objects in, answers out; no I/O.
//!
//! - [`rule`]: one `PolicyRule` and the matching functions (evaluation_helpers.go, rbac.go).
//! - [`graph`]: Roles, ClusterRoles (aggregation resolved), bindings and subjects.
//! - [`answer`]: the answers of `kubevigil rbac` (JSON contracts, rows of tables).
//! - [`authz`]: [`Rbac::authorize`], [`Rbac::who_can`], the rules of a subject.
//! - [`risk`]: risky capabilities and the paths by which a rule reaches subjects.
//! - [`usage`]: grants audit logs never exercised, least-privilege proposals.

#![forbid(unsafe_code)]

pub mod answer;
pub mod authz;
pub mod graph;
pub mod risk;
pub mod rule;
pub mod usage;

pub use authz::{Decision, Denial, Grant, Holder, User};
pub use graph::{Binding, Key, Rbac, Role, RuleSource, Subject};
pub use rule::{PolicyRule, Request, Target};
