//! kubevigil's posture checks.
//!
//! One file per check under `src/rules/<theme>/`, its documentation beside it as Markdown, and
//! fixtures under `fixtures/<check-id>/{pass,fail}/`. [`registry()`] lists every check; the
//! [`catalog()`] adds the engines' rules (Pod Security, NetworkPolicy, audit-policy lint) for
//! `checks list`, `checks explain` and report rule lists. Checks are pure: inventory in, findings
//! out. [`scan()`] is `kubevigil scan`'s pipeline: checks and engines, configuration,
//! suppressions, [`baseline`].

pub mod baseline;
pub mod catalog;
pub mod config;
pub mod config_monitor;
pub mod evaluate;
pub mod ids;
pub mod rules;
pub mod scan;
pub mod selector;

pub use kubevigil_rule::refs::{CIS, MITRE, NSA};
pub use kubevigil_rule::{Category, Check, Emitter, Ref, RuleMeta, Scope};

pub use catalog::{catalog, engine_findings, find_rule};
pub use config::{Config, ConfigError, ImageScanTable, ImageScans};
pub use evaluate::{ClusterJob, ClusterResults, Evaluator, FindingsDiff, LeanFinding};
pub use scan::{
    CheckedPart, ObjectScan, PathsScan, ScanOutcome, Suppressed, SuppressedBy, run_checks,
    run_scan, scan, scan_objects, scan_paths,
};

/// Every built-in check, in a stable order.
pub fn registry() -> &'static [&'static dyn Check<Config>] {
    rules::ALL
}

/// Every check the monitor's [`Evaluator`] carries: the built-in checks, then the Pod Security
/// controls, the audit-policy lint rules and the NetworkPolicy findings (one cluster-scope check
/// per finding kind). The batch scan runs the engines through [`engine_findings`] (one shared
/// analysis) and finds the same.
pub fn evaluator_checks() -> Vec<&'static dyn Check<Config>> {
    registry()
        .iter()
        .copied()
        .chain(kubevigil_pss::CONTROL_CHECKS.iter().map(|c| c as _))
        .chain(kubevigil_audit::lint::LINT_CHECKS.iter().map(|c| c as _))
        .chain(kubevigil_netpol::findings::checks())
        .collect()
}

/// Looks a check up by id.
pub fn find_check(id: &str) -> Option<&'static dyn Check<Config>> {
    registry().iter().copied().find(|c| c.meta().id == id)
}
