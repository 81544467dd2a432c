//! kubevigil's one rule system.
//!
//! Everything `kubevigil scan` can report is a rule with one metadata type, [`RuleMeta`]: the
//! built-in checks (`kubevigil-checks`), the Pod Security findings (`kubevigil-pss`), the
//! NetworkPolicy findings (`kubevigil-netpol`) and the audit-policy lint rules
//! (`kubevigil-audit`). Each of those crates exports its rules; the catalogue (`checks list`,
//! `checks explain`, SARIF rule lists, configuration validation) iterates over them.
//!
//! Checks that read objects implement [`Check`]: they say which kinds they read and whether they
//! look at one object at a time or at the whole inventory, so that a runner can dispatch them per
//! kind in one pass and re-run only what a changed object can affect.

pub mod refs;

use kubevigil_model::{Diagnostic, FieldPath, Finding, Object, Objects, Severity};

pub use kubevigil_model::Ref;

/// The theme a rule belongs to (the guide's sections).
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
    Rbac,
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
            Category::Rbac => "rbac",
        }
    }
}

/// Everything known about a rule, printed by `checks list` / `checks explain` and listed in
/// reports.
#[derive(Debug)]
pub struct RuleMeta {
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

/// What a [`Check`] looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// One object at a time ([`Check::check_object`]), for every object of a kind it
    /// [reads](Check::reads).
    Object,
    /// All the objects at once ([`Check::check_cluster`]); its findings can change whenever
    /// an object of a kind it [reads](Check::reads) changes.
    Cluster,
}

/// A check: pure, from objects to findings. `S` is what the checks of an engine are configured
/// with (for the built-in checks, the scan configuration).
pub trait Check<S: ?Sized>: Send + Sync {
    fn meta(&self) -> &'static RuleMeta;

    fn scope(&self) -> Scope;

    /// Whether objects of `kind` can make this check report (or stop reporting) something.
    /// Kind names only: a check still tells a built-in kind from a CRD of the same name itself.
    fn reads(&self, kind: &str) -> bool;

    /// [`Scope::Object`]: the findings about `object`.
    fn check_object(&self, _settings: &S, _object: &Object, _out: &mut Emitter) {}

    /// [`Scope::Cluster`]: the findings about all the objects at once (an inventory read from
    /// files, or the monitor's store).
    fn check_cluster(&self, _settings: &S, _objects: &dyn Objects, _out: &mut Emitter) {}

    /// [`Scope::Cluster`] checks of a family that works on one costly analysis of the objects
    /// (the RBAC graph, say) return here the family's interface to the check, which a runner
    /// downcasts to build the analysis once for all the family's checks it runs. `None` (the
    /// default): the runner calls [`Check::check_cluster`].
    fn shared_analysis(&self) -> Option<&'static dyn std::any::Any> {
        None
    }
}

/// Collects the findings of one rule, filling in its metadata, and the diagnostics of objects
/// it could not read.
pub struct Emitter {
    meta: &'static RuleMeta,
    pub findings: Vec<Finding>,
    /// Objects the check could not evaluate (a pod template the API server would not decode,
    /// say): reported rather than skipped silently. Several checks of one engine may report the
    /// same diagnostic; runners report it once.
    pub diagnostics: Vec<Diagnostic>,
}

impl Emitter {
    pub fn new(meta: &'static RuleMeta) -> Self {
        Emitter {
            meta,
            findings: Vec::new(),
            diagnostics: Vec::new(),
        }
    }

    /// Reports a finding about `object` at `path` (the offending field, or where it belongs).
    pub fn emit(&mut self, object: &Object, path: &FieldPath, message: String) {
        self.emit_with_severity(object, path, message, self.meta.severity);
    }

    /// [`Emitter::emit`] for a check whose findings differ in severity (the rule's severity is
    /// then the highest it reports).
    pub fn emit_with_severity(
        &mut self,
        object: &Object,
        path: &FieldPath,
        message: String,
        severity: Severity,
    ) {
        let m = self.meta;
        self.findings.push(Finding::at(
            m.id,
            severity,
            m.title,
            message,
            object,
            path,
            m.remediation,
            Ref::static_list(m.references),
        ));
    }
}
