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
    by_object: HashMap<ObjectKey, Vec<Finding>>,
    /// Diagnostics of the object-scope checks, per object, without repeats.
    diagnostics_by_object: HashMap<ObjectKey, Vec<Diagnostic>>,
    /// Findings of each cluster-scope check, in `cluster_checks` order.
    by_cluster_check: Vec<Vec<Finding>>,
    /// Diagnostics of each cluster-scope check, in `cluster_checks` order.
    cluster_diagnostics: Vec<Vec<Diagnostic>>,
    /// Cluster-scope checks to run again: a kind they read changed since they last ran.
    pending: Vec<bool>,
    /// Whether severity overrides and suppressions are applied.
    reporting: bool,
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

    /// Every current finding.
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.by_object
            .values()
            .chain(&self.by_cluster_check)
            .flatten()
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
            let mut now = Vec::new();
            let mut diagnostics: Vec<Diagnostic> = Vec::new();
            if let Some(object) = self.store.get(&key) {
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
            }
            push_diff(&old, &now, &mut diff);
            if !now.is_empty() {
                self.by_object.insert(key.clone(), now);
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
            self.by_cluster_check[i] = findings;
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
fn push_diff(old: &[Finding], now: &[Finding], diff: &mut FindingsDiff) {
    let before: HashSet<&str> = old.iter().map(|f| f.fingerprint.as_str()).collect();
    let after: HashSet<&str> = now.iter().map(|f| f.fingerprint.as_str()).collect();
    diff.new.extend(
        now.iter()
            .filter(|f| !before.contains(f.fingerprint.as_str()))
            .cloned(),
    );
    diff.resolved.extend(
        old.iter()
            .filter(|f| !after.contains(f.fingerprint.as_str()))
            .cloned(),
    );
}
