//! Runs the checks over an inventory and applies configuration: enabled checks, severity
//! overrides, exemptions, suppression annotations and baselines. Nothing is dropped silently:
//! every suppressed finding is kept in [`ScanOutcome::suppressed`] with the reason.

use std::collections::{HashMap, HashSet};

use kubevigil_model::{DiagLevel, Diagnostic, Finding, Inventory, Object};
use serde::Serialize;

use crate::{Check, Config, Emitter, Scope, catalog, engine_findings, ids, registry};

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
    /// Findings to report, sorted by file, line, check.
    pub findings: Vec<Finding>,
    pub suppressed: Vec<Suppressed>,
    /// Objects an engine could not read (an audit Policy that does not validate, say).
    pub diagnostics: Vec<Diagnostic>,
}

/// Everything `kubevigil scan` reports on an inventory: the enabled built-in checks and engine
/// findings (Pod Security, NetworkPolicy, audit-policy lint), with severity overrides,
/// suppressions and the optional baseline applied.
pub fn scan(
    inventory: &Inventory,
    config: &Config,
    baseline: Option<&HashSet<String>>,
) -> ScanOutcome {
    // The engines and the built-in checks are independent: run them side by side.
    let ((mut findings, diagnostics), builtin) = std::thread::scope(|scope| {
        let engines = scope.spawn(|| engine_findings(inventory, config));
        let builtin = run_checks(inventory, config, registry());
        (engines.join().expect("engine thread panicked"), builtin)
    });
    findings.extend(builtin);
    let mut outcome = run_scan(inventory, config, &[], findings, baseline);
    outcome.diagnostics = diagnostics;
    let known: Vec<&str> = catalog().iter().map(|r| r.id).collect();
    outcome
        .diagnostics
        .extend(ignore_annotation_diagnostics(inventory, &known));
    outcome
}

/// A warning for every entry of a `kubevigil.io/ignore` annotation that names no check in
/// `known_ids` (an unknown id, with the closest known one; a glob that matches nothing; an
/// invalid glob), at the annotation's line: such an entry suppresses nothing, which is rarely
/// what its author meant.
pub fn ignore_annotation_diagnostics(inventory: &Inventory, known_ids: &[&str]) -> Vec<Diagnostic> {
    let path =
        kubevigil_model::FieldPath::parse_keys("metadata.annotations").key(IGNORE_ANNOTATION);
    let mut out = Vec::new();
    for object in &inventory.objects {
        let Some(value) = object.annotations().get(IGNORE_ANNOTATION) else {
            continue;
        };
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
            continue;
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
    out
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
        if let Some(sev) = config.severity_of(&f.check_id) {
            f.severity = sev;
        }
    }
    // Unstable: findings equal in the whole key share a fingerprint and are deduplicated below.
    // (A stable sort allocates a buffer of half the findings.)
    all.sort_unstable_by(|a, b| {
        (
            &a.location.file,
            a.location.line,
            a.location.col,
            &a.check_id,
            &a.fingerprint,
        )
            .cmp(&(
                &b.location.file,
                b.location.line,
                b.location.col,
                &b.check_id,
                &b.fingerprint,
            ))
    });
    all.dedup_by(|a, b| a.fingerprint == b.fingerprint);

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
        for check in &cluster_checks {
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
    map: HashMap<&'a str, Vec<&'a dyn Check<Config>>>,
}

impl<'a> ChecksByKind<'a> {
    fn new(checks: &[&'a dyn Check<Config>], objects: &'a [Object]) -> Self {
        let mut map: HashMap<&'a str, Vec<&'a dyn Check<Config>>> = HashMap::new();
        for object in objects {
            map.entry(object.kind.as_str()).or_insert_with(|| {
                checks
                    .iter()
                    .copied()
                    .filter(|c| c.reads(&object.kind))
                    .collect()
            });
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
