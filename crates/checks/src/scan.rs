//! Runs the checks over an inventory and applies configuration: enabled checks, severity
//! overrides, exemptions, suppression annotations and baselines. Nothing is dropped silently:
//! every suppressed finding is kept in [`ScanOutcome::suppressed`] with the reason.

use std::collections::{HashMap, HashSet};

use kubevigil_model::load::{Identity, LoadOptions, Loaded};
use kubevigil_model::{DiagLevel, Diagnostic, Finding, Inventory, Object, ObjectRef};
use serde::Serialize;

use crate::{Check, Config, Emitter, Scope, catalog, ids, registry};

/// Annotation listing check ids or globs over them (comma-separated: `pss-*,image-tag-latest`,
/// or `*`) that do not apply to the object.
pub const IGNORE_ANNOTATION: &str = "kubevigil.io/ignore";
/// Optional annotation saying why.
pub const IGNORE_REASON_ANNOTATION: &str = "kubevigil.io/ignore-reason";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "by", rename_all = "lowercase")]
pub enum SuppressedBy {
    Annotation { reason: String },
    Exemption { reason: String },
    Baseline,
}

#[derive(Debug, Clone, Serialize)]
pub struct Suppressed {
    pub finding: Finding,
    #[serde(flatten)]
    pub by: SuppressedBy,
}

#[derive(Debug, Default)]
pub struct ScanOutcome {
    /// Findings to report, sorted by place (file or `cluster:` locator), line, check.
    pub findings: Vec<Finding>,
    pub suppressed: Vec<Suppressed>,
    /// Objects an engine could not read (an audit Policy that does not validate, say).
    pub diagnostics: Vec<Diagnostic>,
}

/// What [`scan_paths`] read and found.
#[derive(Debug, Default)]
pub struct PathsScan {
    /// What loading said (every input, then duplicate objects). `inventory` holds only the
    /// objects that checks over all objects read; the others were checked and dropped as
    /// soon as their file was read.
    pub loaded: Loaded,
    /// Every object checked, in input order (an identical duplicate is not checked again).
    pub objects: Vec<ObjectRef>,
    pub outcome: ScanOutcome,
}

/// Everything `kubevigil scan` reports on the manifests at `paths`: the enabled built-in checks
/// and engine findings (Pod Security, NetworkPolicy, audit-policy lint), with severity
/// overrides, suppressions and the optional baseline applied.
///
/// The input is checked as it is read: each file's objects go through the object-scope checks
/// on the thread that parsed them, and only the objects of the kinds that a check over all
/// objects reads (workloads, namespaces, policies, ...) are kept for those checks. Memory
/// follows the largest files in flight and those kept objects, not the whole input.
pub fn scan_paths<P: AsRef<std::path::Path>>(
    paths: &[P],
    opts: &LoadOptions,
    config: &Config,
    baseline: Option<&HashSet<String>>,
) -> PathsScan {
    let plan = Plan {
        identify: true,
        ..Plan::new(config)
    };
    let (mut loaded, files) =
        kubevigil_model::load::load_paths_each(paths, opts, &|part: &mut Loaded| {
            plan.check_objects(std::mem::take(&mut part.inventory.objects))
        });
    // At its final size: a vector grown by doubling would copy every pass, up to twice over.
    let mut passes: Vec<ObjectPass> = Vec::with_capacity(files.iter().map(Vec::len).sum());
    for file in files {
        passes.extend(file);
    }
    let mut identical = vec![false; passes.len()];
    let identities = passes.iter().map(|p| {
        p.identity
            .as_ref()
            .expect("scan_paths identifies every object")
    });
    for d in kubevigil_model::load::find_duplicates(identities) {
        identical[d.index] = d.identical;
        loaded.diagnostics.push(d.diagnostic);
    }
    let mut i = 0;
    passes.retain(|_| {
        i += 1;
        !identical[i - 1]
    });
    let (objects, inventory, outcome) = plan.finish(passes, baseline);
    loaded.inventory = inventory;
    PathsScan {
        loaded,
        objects,
        outcome,
    }
}

/// [`scan_paths`] on objects already loaded (and already free of duplicates).
pub fn scan(
    inventory: &Inventory,
    config: &Config,
    baseline: Option<&HashSet<String>>,
) -> ScanOutcome {
    let plan = Plan::new(config);
    let passes = plan.check_objects(inventory.objects.clone());
    plan.finish(passes, baseline).2
}

/// [`scan`] on objects it owns (a cluster snapshot): each object is dropped as soon as it is
/// checked unless a check over all objects reads its kind, as [`scan_paths`] does with each
/// file's objects. Returns every object checked, in input order, and the outcome.
pub fn scan_objects(
    objects: Vec<Object>,
    config: &Config,
    baseline: Option<&HashSet<String>>,
) -> (Vec<ObjectRef>, ScanOutcome) {
    let scan = ObjectScan::new(config);
    let part = scan.check(objects);
    scan.finish([part], baseline)
}

/// A scan of objects that arrive in parts (the pages of a cluster's lists, say), each part
/// checked as soon as it arrives, on any thread ([`ObjectScan::check`]), then the checks over
/// all objects and the suppressions once every part is in ([`ObjectScan::finish`]). Each object
/// is dropped once checked unless a check over all objects reads its kind, as in
/// [`scan_paths`]. The objects must be free of duplicates (a cluster's are): they are not
/// compared.
pub struct ObjectScan<'c> {
    plan: Plan<'c>,
}

/// What [`ObjectScan::check`] made of one part.
pub struct CheckedPart {
    passes: Vec<ObjectPass>,
}

impl<'c> ObjectScan<'c> {
    pub fn new(config: &'c Config) -> Self {
        ObjectScan {
            plan: Plan::new(config),
        }
    }

    /// The object-scope checks and engines on one part (on all cores for a large one).
    pub fn check(&self, objects: Vec<Object>) -> CheckedPart {
        CheckedPart {
            passes: self.plan.check_objects(objects),
        }
    }

    /// Every object checked (in the order of `parts`) and the outcome: the checks over all
    /// objects, severity overrides, suppressions and the baseline, as [`scan_paths`] reports
    /// them.
    pub fn finish(
        &self,
        parts: impl IntoIterator<Item = CheckedPart>,
        baseline: Option<&HashSet<String>>,
    ) -> (Vec<ObjectRef>, ScanOutcome) {
        let passes = parts.into_iter().flat_map(|p| p.passes).collect();
        let (objects, _, outcome) = self.plan.finish(passes, baseline);
        (objects, outcome)
    }
}

/// What a scan runs, decided once from the configuration.
struct Plan<'c> {
    config: &'c Config,
    /// Whether each object's [`Identity`] is computed (a digest of its whole value), for the
    /// duplicate check of [`scan_paths`].
    identify: bool,
    object_checks: Vec<&'static dyn Check<Config>>,
    cluster_checks: Vec<&'static dyn Check<Config>>,
    /// The enabled NetworkPolicy findings (the engine analyses all objects at once).
    netpol: Vec<&'static str>,
    known_ids: Vec<&'static str>,
}

/// One object's share of a scan, computed as soon as its file is read.
struct ObjectPass {
    /// With [`Plan::identify`].
    identity: Option<Identity>,
    object: ObjectRef,
    /// Findings of the object-scope checks and engines, severity overrides applied.
    findings: Vec<Finding>,
    suppressed: Vec<Suppressed>,
    pss_diagnostic: Option<Diagnostic>,
    audit_diagnostics: Vec<Diagnostic>,
    ignore_diagnostics: Vec<Diagnostic>,
    /// The object itself, when a check over all objects reads its kind.
    retained: Option<Object>,
}

impl<'c> Plan<'c> {
    fn new(config: &'c Config) -> Self {
        let (object_checks, cluster_checks) = registry()
            .iter()
            .copied()
            .filter(|c| config.is_enabled(c.meta().id))
            .partition(|c| c.scope() == Scope::Object);
        Plan {
            config,
            identify: false,
            object_checks,
            cluster_checks,
            netpol: kubevigil_netpol::findings::kinds()
                .map(|k| k.id)
                .filter(|id| config.is_enabled(id))
                .collect(),
            known_ids: catalog().iter().map(|r| r.id).collect(),
        }
    }

    fn retains(&self, kind: &str) -> bool {
        self.cluster_checks.iter().any(|c| c.reads(kind))
            || (!self.netpol.is_empty() && kubevigil_netpol::findings::reads(kind))
    }

    /// The object-scope work on one input's objects (on all cores for a large one).
    fn check_objects(&self, objects: Vec<Object>) -> Vec<ObjectPass> {
        let by_kind = ChecksByKind::new(&self.object_checks, &objects);
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        if workers <= 1 || objects.len() < PARALLEL_MIN_OBJECTS {
            return objects
                .into_iter()
                .map(|o| self.check_object(&by_kind, o))
                .collect();
        }
        let chunk = objects.len().div_ceil(workers);
        let mut objects = objects.into_iter();
        let chunks: Vec<Vec<Object>> = std::iter::from_fn(|| {
            let c: Vec<Object> = objects.by_ref().take(chunk).collect();
            (!c.is_empty()).then_some(c)
        })
        .collect();
        std::thread::scope(|scope| {
            let handles: Vec<_> = chunks
                .into_iter()
                .map(|c| {
                    let by_kind = &by_kind;
                    scope.spawn(move || {
                        c.into_iter()
                            .map(|o| self.check_object(by_kind, o))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("check thread panicked"))
                .collect()
        })
    }

    /// Gathers the object passes (in input order), runs the checks over all objects on the
    /// objects kept for them, and applies suppressions and the baseline: the objects checked,
    /// the objects kept, and the outcome.
    fn finish(
        &self,
        mut passes: Vec<ObjectPass>,
        baseline: Option<&HashSet<String>>,
    ) -> (Vec<ObjectRef>, Inventory, ScanOutcome) {
        let config = self.config;
        let mut objects = Vec::with_capacity(passes.len());
        let mut kept = Inventory::default();
        let mut suppressed = Vec::new();
        let (mut pss, mut audit, mut ignore) = (Vec::new(), Vec::new(), Vec::new());
        // The findings stay in their passes until the checks over all objects have run, so
        // that the one vector of all findings is allocated once at its final size: a scan
        // holds about five findings per object, and every copy of them is memory touched.
        let mut object_findings = 0;
        kept.objects
            .reserve_exact(passes.iter().filter(|p| p.retained.is_some()).count());
        for pass in &mut passes {
            object_findings += pass.findings.len();
            suppressed.append(&mut pass.suppressed);
            pss.extend(pass.pss_diagnostic.take());
            audit.append(&mut pass.audit_diagnostics);
            ignore.append(&mut pass.ignore_diagnostics);
            kept.objects.extend(pass.retained.take());
        }
        let mut cluster = run_checks(&kept, config, &self.cluster_checks);
        if !self.netpol.is_empty() {
            cluster.extend(kubevigil_netpol::findings::findings_of(
                &kept,
                Some(&self.netpol),
            ));
        }
        let mut findings = Vec::with_capacity(object_findings + cluster.len());
        for pass in passes {
            objects.push(pass.object);
            findings.extend(pass.findings);
        }
        let by_identity = ObjectIndex::new(&kept);
        for mut f in cluster {
            override_severity(config, &mut f);
            match by_identity
                .get(&f)
                .and_then(|o| suppression(config, &f.check_id, o))
            {
                Some(by) => suppressed.push(Suppressed { finding: f, by }),
                None => findings.push(f),
            }
        }
        sort_findings(&mut findings, |f| f);
        // Filtered in place (the kept findings reuse the vector's buffer).
        let findings = match baseline {
            None => findings,
            Some(baseline) => findings
                .into_iter()
                .filter_map(|f| {
                    if baseline.contains(&f.fingerprint) {
                        suppressed.push(Suppressed {
                            finding: f,
                            by: SuppressedBy::Baseline,
                        });
                        None
                    } else {
                        Some(f)
                    }
                })
                .collect(),
        };
        let mut outcome = ScanOutcome {
            findings,
            ..ScanOutcome::default()
        };
        // Suppressed findings in the findings' order, whatever suppressed them.
        sort_findings(&mut suppressed, |s| &s.finding);
        outcome.suppressed = suppressed;
        outcome.diagnostics = pss.into_iter().chain(audit).chain(ignore).collect();
        (objects, kept, outcome)
    }

    fn check_object(&self, by_kind: &ChecksByKind<'_>, object: Object) -> ObjectPass {
        let config = self.config;
        let mut raw = Vec::new();
        for check in by_kind.reading(&object.kind) {
            let mut emitter = Emitter::new(check.meta());
            check.check_object(config, &object, &mut emitter);
            raw.extend(emitter.findings);
        }
        let lv = config.pod_security;
        let pss_diagnostic =
            match kubevigil_pss::scan::object_findings(&object, lv.level, lv.version) {
                Ok(found) => {
                    raw.extend(found.into_iter().filter(|f| config.is_enabled(&f.check_id)));
                    None
                }
                Err(d) => Some(d),
            };
        let (mut lint, mut audit_diagnostics) = (Vec::new(), Vec::new());
        kubevigil_audit::lint::object_findings(&object, &mut lint, &mut audit_diagnostics);
        raw.extend(lint.into_iter().filter(|f| config.is_enabled(&f.check_id)));
        let mut suppressed = Vec::new();
        // In place: the findings reuse the buffer of the raw ones.
        let findings = raw
            .into_iter()
            .filter_map(|mut f| {
                override_severity(config, &mut f);
                match suppression(config, &f.check_id, &object) {
                    Some(by) => {
                        suppressed.push(Suppressed { finding: f, by });
                        None
                    }
                    None => Some(f),
                }
            })
            .collect();
        let mut ignore_diagnostics = Vec::new();
        ignore_annotation_diagnostic(&object, &self.known_ids, &mut ignore_diagnostics);
        ObjectPass {
            identity: self.identify.then(|| Identity::of(&object)),
            object: ObjectRef::of(&object),
            findings,
            suppressed,
            pss_diagnostic,
            audit_diagnostics,
            ignore_diagnostics,
            retained: self.retains(&object.kind).then_some(object),
        }
    }
}

/// A finding as a scan reports it: with the configuration's severity, or `None` when an
/// exemption or the object's `kubevigil.io/ignore` suppresses it.
pub(crate) fn reported(config: &Config, f: Finding, object: &Object) -> Option<Finding> {
    let f = with_severity(config, f);
    suppression(config, &f.check_id, object)
        .is_none()
        .then_some(f)
}

/// A finding with the configuration's severity for its check.
pub(crate) fn with_severity(config: &Config, mut f: Finding) -> Finding {
    override_severity(config, &mut f);
    f
}

fn override_severity(config: &Config, f: &mut Finding) {
    if let Some(sev) = config.severity_of(&f.check_id) {
        f.severity = sev;
    }
}

/// Sorts by place (file, or `cluster:` locator), line, column and check, and drops repeats
/// (equal in all of it and in the fingerprint). Unstable: items equal in the whole key are
/// repeats. The findings of one object end up together, in the order of the objects' places.
fn sort_findings<T>(items: &mut Vec<T>, finding: impl Fn(&T) -> &Finding) {
    items.sort_unstable_by(|a, b| {
        let (a, b) = (finding(a), finding(b));
        compare_places(a.location.place(), b.location.place())
            .then(a.location.line.cmp(&b.location.line))
            .then(a.location.col.cmp(&b.location.col))
            .then_with(|| a.check_id.cmp(&b.check_id))
            .then_with(|| a.fingerprint.cmp(&b.fingerprint))
    });
    items.dedup_by(|a, b| finding(a).fingerprint == finding(b).fingerprint);
}

/// Places in their order as strings. The findings of one file share its name (one `Arc<str>`),
/// so most comparisons are of a string with itself: those are equal without reading it.
fn compare_places(a: Option<&str>, b: Option<&str>) -> std::cmp::Ordering {
    match (a, b) {
        (Some(x), Some(y)) if std::ptr::eq(x, y) => std::cmp::Ordering::Equal,
        _ => a.cmp(&b),
    }
}

/// A warning for every entry of a `kubevigil.io/ignore` annotation that names no check in
/// `known_ids` (an unknown id, with the closest known one; a glob that matches nothing; an
/// invalid glob), at the annotation's line: such an entry suppresses nothing, which is rarely
/// what its author meant.
pub fn ignore_annotation_diagnostics(inventory: &Inventory, known_ids: &[&str]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for object in &inventory.objects {
        ignore_annotation_diagnostic(object, known_ids, &mut out);
    }
    out
}

fn ignore_annotation_diagnostic(object: &Object, known_ids: &[&str], out: &mut Vec<Diagnostic>) {
    let Some(value) = object.annotations().get(IGNORE_ANNOTATION) else {
        return;
    };
    let path =
        kubevigil_model::FieldPath::parse_keys("metadata.annotations").key(IGNORE_ANNOTATION);
    let Some(list) = value.as_str() else {
        out.push(Diagnostic::at_field(
            object,
            &path,
            DiagLevel::Warning,
            format!(
                "{}: annotation {IGNORE_ANNOTATION} is not a string; it suppresses nothing",
                object.display_name()
            ),
        ));
        return;
    };
    for pattern in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if let Some(problem) = ids::problem(pattern, known_ids) {
            out.push(Diagnostic::at_field(
                object,
                &path,
                DiagLevel::Warning,
                format!(
                    "{}: annotation {IGNORE_ANNOTATION}: {problem} (see `kubevigil checks list`)",
                    object.display_name()
                ),
            ));
        }
    }
}

/// Runs `checks` over the inventory, then applies suppressions and the optional baseline
/// (fingerprints of findings already known).
pub fn run_scan(
    inventory: &Inventory,
    config: &Config,
    checks: &[&dyn Check<Config>],
    extra_findings: Vec<Finding>,
    baseline: Option<&HashSet<String>>,
) -> ScanOutcome {
    let mut all = extra_findings;
    all.retain(|f| config.is_enabled(&f.check_id));
    all.extend(run_checks(inventory, config, checks));
    for f in &mut all {
        override_severity(config, f);
    }
    sort_findings(&mut all, |f| f);

    let by_identity = ObjectIndex::new(inventory);
    let mut outcome = ScanOutcome {
        findings: Vec::with_capacity(all.len()),
        ..ScanOutcome::default()
    };
    for f in all {
        let object = by_identity.get(&f);
        if let Some(by) = object.and_then(|o| suppression(config, &f.check_id, o)) {
            outcome.suppressed.push(Suppressed { finding: f, by });
        } else if baseline.is_some_and(|b| b.contains(&f.fingerprint)) {
            outcome.suppressed.push(Suppressed {
                finding: f,
                by: SuppressedBy::Baseline,
            });
        } else {
            outcome.findings.push(f);
        }
    }
    outcome
}

/// Inventories at least this large are checked on all cores; smaller ones (an admission
/// request's single object) stay on the calling thread.
const PARALLEL_MIN_OBJECTS: usize = 2_000;

/// The raw findings of the enabled `checks` (before severity overrides and suppression), in one
/// pass over the inventory: each object is given to the object-scope checks that read its kind,
/// then each cluster-scope check sees the whole inventory once.
pub fn run_checks(
    inventory: &Inventory,
    config: &Config,
    checks: &[&dyn Check<Config>],
) -> Vec<Finding> {
    let enabled = checks
        .iter()
        .copied()
        .filter(|c| config.is_enabled(c.meta().id));
    let (object_checks, cluster_checks): (Vec<&dyn Check<Config>>, Vec<&dyn Check<Config>>) =
        enabled.partition(|c| c.scope() == Scope::Object);
    let by_kind = ChecksByKind::new(&object_checks, &inventory.objects);
    let check_objects = |objects: &[Object]| {
        let mut out = Vec::new();
        for object in objects {
            for check in by_kind.reading(&object.kind) {
                let mut emitter = Emitter::new(check.meta());
                check.check_object(config, object, &mut emitter);
                out.extend(emitter.findings);
            }
        }
        out
    };
    let check_cluster = || {
        let mut out = Vec::new();
        // The RBAC checks share one graph of the roles and bindings.
        let mut rbac_checks = Vec::new();
        let mut others = Vec::new();
        for check in &cluster_checks {
            match crate::rules::rbac::as_rbac_check(*check) {
                Some(shared) => rbac_checks.push(shared),
                None => others.push(*check),
            }
        }
        if !rbac_checks.is_empty() {
            let rbac = kubevigil_rbac::Rbac::from_objects(inventory);
            for check in rbac_checks {
                let mut emitter = Emitter::new(check.meta());
                check.check_rbac(&rbac, inventory, &mut emitter);
                out.extend(emitter.findings);
            }
        }
        for check in others {
            let mut emitter = Emitter::new(check.meta());
            check.check_cluster(config, inventory, &mut emitter);
            out.extend(emitter.findings);
        }
        out
    };
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    if workers <= 1 || inventory.objects.len() < PARALLEL_MIN_OBJECTS {
        let mut out = check_objects(&inventory.objects);
        out.extend(check_cluster());
        return out;
    }
    // Order does not matter: run_scan sorts the findings.
    let chunk = inventory.objects.len().div_ceil(workers);
    std::thread::scope(|scope| {
        let handles: Vec<_> = inventory
            .objects
            .chunks(chunk)
            .map(|c| scope.spawn(move || check_objects(c)))
            .collect();
        let mut out = check_cluster();
        for h in handles {
            out.extend(h.join().expect("check thread panicked"));
        }
        out
    })
}

/// The object-scope checks that read each kind present in the inventory, in registry order.
struct ChecksByKind<'a> {
    map: HashMap<String, Vec<&'a dyn Check<Config>>>,
}

impl<'a> ChecksByKind<'a> {
    fn new(checks: &[&'a dyn Check<Config>], objects: &[Object]) -> Self {
        let mut map: HashMap<String, Vec<&'a dyn Check<Config>>> = HashMap::new();
        for object in objects {
            if !map.contains_key(&object.kind) {
                let reading = checks
                    .iter()
                    .copied()
                    .filter(|c| c.reads(&object.kind))
                    .collect();
                map.insert(object.kind.clone(), reading);
            }
        }
        ChecksByKind { map }
    }

    fn reading(&self, kind: &str) -> &[&'a dyn Check<Config>] {
        self.map.get(kind).map_or(&[], Vec::as_slice)
    }
}

fn suppression(config: &Config, check_id: &str, object: &Object) -> Option<SuppressedBy> {
    if let Some(e) = config
        .exemptions
        .iter()
        .find(|e| e.matches(check_id, object))
    {
        return Some(SuppressedBy::Exemption {
            reason: e.reason.clone(),
        });
    }
    if config.is_strict(check_id) {
        return None;
    }
    let annotations = object.annotations();
    let ignored = annotations.get(IGNORE_ANNOTATION)?.as_str()?;
    ignored
        .split(',')
        .map(str::trim)
        .any(|pattern| ids::matches(pattern, check_id))
        .then(|| SuppressedBy::Annotation {
            reason: annotations
                .get(IGNORE_REASON_ANNOTATION)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string(),
        })
}

/// Finds the object a finding is about (by file and identity), for annotation lookups.
struct ObjectIndex<'a> {
    map: HashMap<(&'a str, &'a str, &'a str, &'a str), &'a Object>,
}

impl<'a> ObjectIndex<'a> {
    fn new(inventory: &'a Inventory) -> Self {
        let map = inventory
            .objects
            .iter()
            .map(|o| {
                (
                    (
                        o.source.file_name().unwrap_or(""),
                        o.kind.as_str(),
                        o.namespace.as_deref().unwrap_or(""),
                        o.name.as_str(),
                    ),
                    o,
                )
            })
            .collect();
        ObjectIndex { map }
    }

    fn get(&self, f: &Finding) -> Option<&'a Object> {
        let key = (
            f.location.file_or_empty(),
            f.object.kind.as_str(),
            f.object.namespace.as_deref().unwrap_or(""),
            f.object.name.as_str(),
        );
        self.map.get(&key).copied()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use kubevigil_model::load::{LoadOptions, Loaded, load_text_into};
    use kubevigil_model::{FieldPath, Objects, Severity};
    use kubevigil_rule::{Category, RuleMeta};

    use super::*;

    static META: RuleMeta = RuleMeta {
        id: "test-counting",
        title: "counts what it is given",
        severity: Severity::Low,
        category: Category::Resources,
        doc: "",
        remediation: "",
        references: &[],
    };

    /// Records the objects (or the inventory) it is given.
    struct Recording {
        scope: Scope,
        seen: Mutex<Vec<String>>,
    }

    impl Check<Config> for Recording {
        fn meta(&self) -> &'static RuleMeta {
            &META
        }
        fn scope(&self) -> Scope {
            self.scope
        }
        fn reads(&self, kind: &str) -> bool {
            kind == "Service"
        }
        fn check_object(&self, _: &Config, object: &Object, out: &mut Emitter) {
            self.seen.lock().unwrap().push(object.name.clone());
            out.emit(object, &FieldPath::root(), String::new());
        }
        fn check_cluster(&self, _: &Config, objects: &dyn Objects, _: &mut Emitter) {
            self.seen
                .lock()
                .unwrap()
                .push(format!("{} objects", objects.all().count()));
        }
    }

    fn inventory() -> Inventory {
        let text = "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\n\
                    apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n---\n\
                    apiVersion: v1\nkind: Service\nmetadata: {name: c}\n";
        let mut loaded = Loaded::default();
        load_text_into("t.yaml", text, &LoadOptions::default(), &mut loaded);
        loaded.inventory
    }

    #[test]
    fn object_checks_see_only_the_kinds_they_read_and_cluster_checks_run_once() {
        let inventory = inventory();
        let object = Recording {
            scope: Scope::Object,
            seen: Mutex::default(),
        };
        let found = run_checks(&inventory, &Config::default(), &[&object]);
        assert_eq!(*object.seen.lock().unwrap(), ["a", "c"]);
        assert_eq!(found.len(), 2);

        let cluster = Recording {
            scope: Scope::Cluster,
            seen: Mutex::default(),
        };
        run_checks(&inventory, &Config::default(), &[&cluster]);
        assert_eq!(*cluster.seen.lock().unwrap(), ["3 objects"]);
    }
}
