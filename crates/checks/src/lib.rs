//! kubevigil's posture checks.
//!
//! One file per check under `src/rules/<theme>/`, its documentation beside it as Markdown, and
//! fixtures under `fixtures/<check-id>/{pass,fail}/`. [`registry()`] lists every check; the CLI's
//! `checks list` and `checks explain` read from it. Checks are pure: inventory in, findings out.

pub mod catalog;
pub mod config;
pub mod rules;
pub mod scan;
pub mod selector;

pub use kubevigil_model::Ref;
use kubevigil_model::{FieldPath, Finding, Inventory, Object, Severity};

pub use catalog::{CatalogEntry, catalog, engine_findings, find_entry};
pub use config::{Config, ConfigError};
pub use scan::{ScanOutcome, Suppressed, SuppressedBy, run_checks, run_scan};

/// The theme a check belongs to (the guide's sections).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    Images,
    SensitiveData,
    Resources,
    Exposure,
    Placement,
    PodSecurity,
    Network,
    Audit,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Images => "images",
            Category::SensitiveData => "sensitive-data",
            Category::Resources => "resources",
            Category::Exposure => "exposure",
            Category::Placement => "placement",
            Category::PodSecurity => "pod-security",
            Category::Network => "network",
            Category::Audit => "audit",
        }
    }
}

pub const CIS: &str = "CIS Kubernetes Benchmark";
pub const NSA: &str = "NSA/CISA Kubernetes Hardening Guide";
pub const MITRE: &str = "MITRE ATT&CK";

/// Everything known about a check, printed by `checks list` / `checks explain`.
#[derive(Debug)]
pub struct CheckMeta {
    /// A self-explanatory slug, e.g. `image-tag-latest`.
    pub id: &'static str,
    pub title: &'static str,
    pub severity: Severity,
    pub category: Category,
    /// Markdown documentation: what it checks, why it matters, failing and fixed examples.
    pub doc: &'static str,
    pub remediation: &'static str,
    pub references: &'static [Ref],
}

/// What a check sees.
pub struct Context<'a> {
    pub inventory: &'a Inventory,
    pub config: &'a Config,
}

/// A check: a pure function from the inventory to findings.
pub trait Check: Send + Sync {
    fn meta(&self) -> &'static CheckMeta;
    fn run(&self, cx: &Context<'_>, out: &mut Emitter);
}

/// Collects the findings of one check, filling in its metadata.
pub struct Emitter {
    meta: &'static CheckMeta,
    pub findings: Vec<Finding>,
}

impl Emitter {
    pub fn new(meta: &'static CheckMeta) -> Self {
        Emitter {
            meta,
            findings: Vec::new(),
        }
    }

    /// Reports a finding about `object` at `path` (the offending field, or where it belongs).
    pub fn emit(&mut self, object: &Object, path: &FieldPath, message: String) {
        let m = self.meta;
        self.findings.push(Finding::at(
            m.id,
            m.severity,
            m.title,
            message,
            object,
            path,
            m.remediation,
            m.references.iter().map(|r| r.to_reference()).collect(),
        ));
    }
}

/// Every built-in check, in a stable order.
pub fn registry() -> &'static [&'static dyn Check] {
    rules::ALL
}

/// Looks a check up by id.
pub fn find_check(id: &str) -> Option<&'static dyn Check> {
    registry().iter().copied().find(|c| c.meta().id == id)
}
