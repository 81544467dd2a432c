//! Incremental evaluation, the core loop of a monitor: objects change one at a time (a watch
//! event, an admission), and only what a change can affect is evaluated again. An object-scope
//! check runs again on the changed objects of the kinds it reads; a cluster-scope check runs
//! again when an object of a kind it reads changed. The answer is the findings diff.
//!
//! Objects a check could not read (a pod template the API server would not decode, an audit
//! Policy that does not validate) are kept as [diagnostics](Evaluator::diagnostics) until they
//! change, one copy per object however many checks report it.
//!
//! Findings here are the checks' raw findings: configuration decides which checks run, but
//! severity overrides and suppressions are the reporting side's (see [`crate::run_scan`]),
//! unless the evaluator [reports](Evaluator::reporting): then its findings are those a scan
//! reports (severity overrides applied, exempted and `kubevigil.io/ignore`d findings left out),
//! and a change to an object's annotations changes them, as any change does.
//!
//! Cluster-scope checks can be [deferred](Evaluator::apply_objects): a monitor evaluates the
//! changed objects at once and the whole-inventory engines at most so often.

use std::collections::{HashMap, HashSet};

use kubevigil_model::{Change, Diagnostic, Finding, Object, ObjectKey, Store};

use crate::{Check, Config, Emitter, Scope};

/// What a batch of changes did to the findings.
#[derive(Debug, Default)]
pub struct FindingsDiff {
    /// Findings that did not exist before the changes.
    pub new: Vec<Finding>,
    /// Findings that no longer exist after the changes.
    pub resolved: Vec<Finding>,
}

/// Objects and the current findings of a set of checks over them.
pub struct Evaluator<'c> {
    config: std::sync::Arc<Config>,
    object_checks: Vec<&'c dyn Check<Config>>,
    cluster_checks: Vec<&'c dyn Check<Config>>,
    store: Store,
    /// Findings of the object-scope checks, per object.
    by_object: HashMap<ObjectKey, Vec<Kept>>,
    /// Diagnostics of the object-scope checks, per object, without repeats.
    diagnostics_by_object: HashMap<ObjectKey, Vec<Diagnostic>>,
    /// Findings of each cluster-scope check, in `cluster_checks` order.
    by_cluster_check: Vec<Vec<Kept>>,
    /// Diagnostics of each cluster-scope check, in `cluster_checks` order.
    cluster_diagnostics: Vec<Vec<Diagnostic>>,
    /// Cluster-scope checks to run again: a kind they read changed since they last ran.
    pending: Vec<bool>,
    /// Whether severity overrides and suppressions are applied.
    reporting: bool,
    /// Whether findings are kept [lean](Evaluator::make_lean).
    lean: bool,
}

/// A finding as an evaluator keeps it: whole, or, lean, only what tells it apart, counts it
/// and says it is resolved (a tenth of the memory: a monitor holds ten findings per object).
#[derive(Debug, Clone)]
enum Kept {
    Whole(Box<Finding>),
    Lean(LeanFinding),
}

/// What a lean evaluator keeps of a finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeanFinding {
    pub fingerprint: Box<str>,
    pub check_id: std::borrow::Cow<'static, str>,
    pub severity: kubevigil_model::Severity,
    /// Shared with the object's other findings.
    pub object: std::sync::Arc<kubevigil_model::ObjectRef>,
}

impl LeanFinding {
    fn of(f: &Finding) -> Self {
        LeanFinding {
            fingerprint: f.fingerprint.as_str().into(),
            check_id: f.check_id.clone(),
            severity: f.severity,
            object: f.object.clone(),
        }
    }

    /// [`LeanFinding::of`], sharing `shared` (the object's own reference) when the finding
    /// is about that object and holds a copy of its reference (an engine may make one per
    /// finding: kept, they would weigh more than the rest).
    fn of_held(f: &Finding, shared: Option<&std::sync::Arc<kubevigil_model::ObjectRef>>) -> Self {
        let mut lean = LeanFinding::of(f);
        if let Some(shared) = shared
            && !std::sync::Arc::ptr_eq(shared, &lean.object)
            && **shared == *lean.object
        {
            lean.object = shared.clone();
        }
        lean
    }

    /// A finding with only these fields (no title, message or field path): what a lean
    /// evaluator tells of a resolved finding, which its fingerprint identifies.
    fn to_finding(&self) -> Finding {
        Finding {
            check_id: self.check_id.clone(),
            severity: self.severity,
            title: std::borrow::Cow::Borrowed(""),
            message: String::new(),
            object: self.object.clone(),
            location: kubevigil_model::Location::field_only(String::new()),
            remediation: std::borrow::Cow::Borrowed(""),
            references: std::borrow::Cow::Borrowed(&[]),
            fingerprint: self.fingerprint.to_string(),
        }
    }
}

impl Kept {
    fn new(
        f: Finding,
        lean: bool,
        shared: Option<&std::sync::Arc<kubevigil_model::ObjectRef>>,
    ) -> Self {
        if lean {
            Kept::Lean(LeanFinding::of_held(&f, shared))
        } else {
            Kept::Whole(Box::new(f))
        }
    }

    fn fingerprint(&self) -> &str {
        match self {
            Kept::Whole(f) => &f.fingerprint,
            Kept::Lean(l) => &l.fingerprint,
        }
    }

    fn to_finding(&self) -> Finding {
        match self {
            Kept::Whole(f) => (**f).clone(),
            Kept::Lean(l) => l.to_finding(),
        }
    }
}

impl<'c> Evaluator<'c> {
    /// An evaluator of the enabled `checks` over an empty store.
    pub fn new(config: Config, checks: &[&'c dyn Check<Config>]) -> Self {
        let (object_checks, cluster_checks): (Vec<_>, Vec<_>) = checks
            .iter()
            .copied()
            .filter(|c| config.is_enabled(c.meta().id))
            .partition(|c| c.scope() == Scope::Object);
        let by_cluster_check = vec![Vec::new(); cluster_checks.len()];
        let cluster_diagnostics = vec![Vec::new(); cluster_checks.len()];
        let pending = vec![false; cluster_checks.len()];
        Evaluator {
            pending,
            reporting: false,
            lean: false,
            config: std::sync::Arc::new(config),
            object_checks,
            cluster_checks,
            store: Store::default(),
            by_object: HashMap::new(),
            diagnostics_by_object: HashMap::new(),
            by_cluster_check,
            cluster_diagnostics,
        }
    }

    /// Findings as a scan reports them from now on: the configuration's severity overrides
    /// applied, exempted and `kubevigil.io/ignore`d findings left out. Set it before the
    /// first change.
    pub fn reporting(mut self) -> Self {
        self.reporting = true;
        self
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Every current finding kept whole: all of them, unless the evaluator is
    /// [lean](Evaluator::make_lean) (see [`Evaluator::lean_findings`] and
    /// [`Evaluator::evaluate_whole`]).
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.kept().filter_map(|k| match k {
            Kept::Whole(f) => Some(&**f),
            Kept::Lean(_) => None,
        })
    }

    /// Every current finding, as a lean evaluator keeps it (a whole one made lean).
    pub fn lean_findings(&self) -> impl Iterator<Item = std::borrow::Cow<'_, LeanFinding>> {
        self.kept().map(|k| match k {
            Kept::Whole(f) => std::borrow::Cow::Owned(LeanFinding::of(f)),
            Kept::Lean(l) => std::borrow::Cow::Borrowed(l),
        })
    }

    fn kept(&self) -> impl Iterator<Item = &Kept> {
        self.by_object
            .values()
            .chain(&self.by_cluster_check)
            .flatten()
    }

    /// `findings` as kept. A new vector: collecting in place would keep the findings' buffer,
    /// four times the size.
    fn keep(
        &self,
        findings: Vec<Finding>,
        shared: Option<&std::sync::Arc<kubevigil_model::ObjectRef>>,
    ) -> Vec<Kept> {
        let mut kept = Vec::with_capacity(findings.len());
        kept.extend(
            findings
                .into_iter()
                .map(|f| Kept::new(f, self.lean, shared)),
        );
        kept
    }

    /// From now on, keeps only each finding's fingerprint, check, severity and object
    /// ([`LeanFinding`]): [`FindingsDiff::resolved`] then holds only those fields. For a
    /// monitor, once the whole findings are recorded.
    pub fn make_lean(&mut self) {
        self.lean = true;
        let store = &self.store;
        for (key, kept) in self.by_object.iter_mut() {
            let shared = store.get(key).map(Object::object_ref);
            for k in kept {
                if let Kept::Whole(f) = k {
                    *k = Kept::Lean(LeanFinding::of_held(f, shared.as_ref()));
                }
            }
        }
        for k in self.by_cluster_check.iter_mut().flatten() {
            if let Kept::Whole(f) = k {
                *k = Kept::Lean(LeanFinding::of(f));
            }
        }
        self.by_object.shrink_to_fit();
    }

    /// Every current finding, whole, evaluated again over the store (the object checks on
    /// every object, every cluster-scope check), without changing the evaluator: what a lean
    /// evaluator holds, with its texts.
    pub fn evaluate_whole(&self) -> Vec<Finding> {
        let mut out = Vec::new();
        for object in self.store.objects() {
            out.extend(self.object_findings(object).0);
        }
        let checks: Vec<(usize, &dyn Check<Config>)> =
            self.cluster_checks.iter().copied().enumerate().collect();
        let found = run_cluster_checks(&self.config, &self.store, &checks, self.reporting);
        out.extend(found.0.into_iter().flat_map(|(_, f, _)| f));
        out
    }

    /// The object-scope checks' findings and diagnostics (without repeats) on one object.
    fn object_findings(&self, object: &Object) -> (Vec<Finding>, Vec<Diagnostic>) {
        let mut now = Vec::new();
        let mut diagnostics: Vec<Diagnostic> = Vec::new();
        for check in self.object_checks.iter().filter(|c| c.reads(&object.kind)) {
            let mut out = Emitter::new(check.meta());
            check.check_object(&self.config, object, &mut out);
            if self.reporting {
                now.extend(
                    out.findings
                        .into_iter()
                        .filter_map(|f| crate::scan::reported(&self.config, f, object)),
                );
            } else {
                now.extend(out.findings);
            }
            // The checks of one engine each report the object they cannot read.
            for d in out.diagnostics {
                if !diagnostics.contains(&d) {
                    diagnostics.push(d);
                }
            }
        }
        (now, diagnostics)
    }

    /// Every current diagnostic: what the checks could not read in the objects as they are now.
    pub fn diagnostics(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics_by_object
            .values()
            .chain(&self.cluster_diagnostics)
            .flatten()
    }

    /// Applies `changes` to the store and evaluates again what they can affect.
    pub fn apply(&mut self, changes: impl IntoIterator<Item = Change>) -> FindingsDiff {
        let mut diff = self.apply_objects(changes);
        let cluster = self.evaluate_pending();
        diff.new.extend(cluster.new);
        diff.resolved.extend(cluster.resolved);
        diff
    }

    /// Whether cluster-scope checks wait to run again (see [`Evaluator::apply_objects`]).
    pub fn has_pending(&self) -> bool {
        self.pending.contains(&true)
    }

    /// Applies `changes` to the store and evaluates the changed objects again; the
    /// cluster-scope checks that read a changed kind only wait for
    /// [`Evaluator::evaluate_pending`].
    pub fn apply_objects(&mut self, changes: impl IntoIterator<Item = Change>) -> FindingsDiff {
        // A key changed several times in one batch is evaluated once, on its final state.
        let mut changed_keys = Vec::new();
        let mut seen = HashSet::new();
        let mut changed_kinds = HashSet::new();
        for change in changes {
            let key = change.key();
            self.store.apply(change);
            changed_kinds.insert(key.kind.clone());
            if seen.insert(key.clone()) {
                changed_keys.push(key);
            }
        }
        let mut diff = FindingsDiff::default();
        for key in changed_keys {
            let old = self.by_object.remove(&key).unwrap_or_default();
            let (now, diagnostics) = match self.store.get(&key) {
                Some(object) => self.object_findings(object),
                None => Default::default(),
            };
            push_diff(&old, &now, &mut diff);
            if !now.is_empty() {
                let shared = self.store.get(&key).map(Object::object_ref);
                let kept = self.keep(now, shared.as_ref());
                self.by_object.insert(key.clone(), kept);
            }
            if diagnostics.is_empty() {
                self.diagnostics_by_object.remove(&key);
            } else {
                self.diagnostics_by_object.insert(key, diagnostics);
            }
        }
        for (i, check) in self.cluster_checks.iter().enumerate() {
            if changed_kinds.iter().any(|k| check.reads(k)) {
                self.pending[i] = true;
            }
        }
        diff
    }

    /// Runs again the cluster-scope checks that read a kind changed since they last ran.
    pub fn evaluate_pending(&mut self) -> FindingsDiff {
        let checks = self.take_pending();
        // On the store itself: no copy of the objects.
        let results = run_cluster_checks(&self.config, &self.store, &checks, self.reporting);
        self.finish_cluster(results)
    }

    /// The pending cluster-scope checks as a job that runs on another thread, over a snapshot
    /// of the store (which shares the objects), while changes go on being applied here; `None`
    /// when nothing is pending. Give its result to [`Evaluator::finish_cluster`]. What changed
    /// meanwhile makes the checks that read it pending again.
    pub fn cluster_job(&mut self) -> Option<ClusterJob<'c>> {
        let checks = self.take_pending();
        (!checks.is_empty()).then(|| ClusterJob {
            config: self.config.clone(),
            store: self.store.clone(),
            checks,
            reporting: self.reporting,
        })
    }

    /// Takes in the findings of a cluster job (or of [`Evaluator::evaluate_pending`]).
    pub fn finish_cluster(&mut self, results: ClusterResults) -> FindingsDiff {
        let mut diff = FindingsDiff::default();
        for (i, findings, diagnostics) in results.0 {
            push_diff(&self.by_cluster_check[i], &findings, &mut diff);
            self.by_cluster_check[i] = self.keep(findings, None);
            self.cluster_diagnostics[i] = diagnostics;
        }
        diff
    }

    /// The pending cluster-scope checks, with their index, no longer pending.
    fn take_pending(&mut self) -> Vec<(usize, &'c dyn Check<Config>)> {
        (0..self.cluster_checks.len())
            .filter(|&i| std::mem::take(&mut self.pending[i]))
            .map(|i| (i, self.cluster_checks[i]))
            .collect()
    }
}

/// Cluster-scope checks to run over a snapshot of an evaluator's store
/// ([`Evaluator::cluster_job`]).
pub struct ClusterJob<'c> {
    config: std::sync::Arc<Config>,
    store: Store,
    checks: Vec<(usize, &'c dyn Check<Config>)>,
    reporting: bool,
}

impl ClusterJob<'_> {
    pub fn run(self) -> ClusterResults {
        run_cluster_checks(&self.config, &self.store, &self.checks, self.reporting)
    }
}

/// What cluster-scope checks found: per check (by index), findings and diagnostics.
pub struct ClusterResults(Vec<(usize, Vec<Finding>, Vec<Diagnostic>)>);

/// Runs cluster-scope `checks` over `store`. The RBAC checks share one graph of the roles and
/// bindings.
fn run_cluster_checks(
    config: &Config,
    store: &Store,
    checks: &[(usize, &dyn Check<Config>)],
    reporting: bool,
) -> ClusterResults {
    let mut rbac = None;
    let mut results = Vec::with_capacity(checks.len());
    for &(i, check) in checks {
        let mut out = Emitter::new(check.meta());
        match crate::rules::rbac::as_rbac_check(check) {
            Some(shared) => {
                let graph = rbac.get_or_insert_with(|| kubevigil_rbac::Rbac::from_objects(store));
                shared.check_rbac(graph, store, &mut out);
            }
            None => check.check_cluster(config, store, &mut out),
        }
        if reporting {
            out.findings = out
                .findings
                .into_iter()
                .filter_map(|f| match object_of(store, &f) {
                    Some(o) => crate::scan::reported(config, f, o),
                    // About no object held (a namespace named but not defined): only the
                    // severity override applies.
                    None => Some(crate::scan::with_severity(config, f)),
                })
                .collect();
        }
        results.push((i, out.findings, out.diagnostics));
    }
    ClusterResults(results)
}

/// The object a finding is about, if the store holds it.
fn object_of<'s>(store: &'s Store, f: &Finding) -> Option<&'s Object> {
    let group = f
        .object
        .api_version
        .rsplit_once('/')
        .map_or("", |(group, _)| group);
    store.get(&ObjectKey {
        group: group.to_string(),
        kind: f.object.kind.clone(),
        namespace: f.object.namespace.clone(),
        name: f.object.name.clone(),
    })
}

/// Adds to `diff` the findings of `now` not in `old` and those of `old` not in `now`, by
/// fingerprint.
fn push_diff(old: &[Kept], now: &[Finding], diff: &mut FindingsDiff) {
    let before: HashSet<&str> = old.iter().map(Kept::fingerprint).collect();
    let after: HashSet<&str> = now.iter().map(|f| f.fingerprint.as_str()).collect();
    diff.new.extend(
        now.iter()
            .filter(|f| !before.contains(f.fingerprint.as_str()))
            .cloned(),
    );
    diff.resolved.extend(
        old.iter()
            .filter(|k| !after.contains(k.fingerprint()))
            .map(Kept::to_finding),
    );
}
