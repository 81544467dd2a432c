//! Runs the checks over an inventory and applies configuration: enabled checks, severity
//! overrides, exemptions, suppression annotations and baselines. Nothing is dropped silently:
//! every suppressed finding is kept in [`ScanOutcome::suppressed`] with the reason.

use std::collections::HashSet;

use kubevigil_model::{Finding, Inventory, Object};
use serde::Serialize;

use crate::{Check, Config, Context, Emitter};

/// Annotation listing check ids (comma-separated, or `*`) that do not apply to the object.
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
}

/// Runs `checks` over the inventory, then applies suppressions and the optional baseline
/// (fingerprints of findings already known).
pub fn run_scan(
    inventory: &Inventory,
    config: &Config,
    checks: &[&dyn Check],
    extra_findings: Vec<Finding>,
    baseline: Option<&HashSet<String>>,
) -> ScanOutcome {
    let mut all = extra_findings;
    all.retain(|f| config.is_enabled(&f.check_id));
    all.extend(run_checks(inventory, config, checks));
    for f in &mut all {
        if let Some(sev) = config.severity.get(&f.check_id) {
            f.severity = *sev;
        }
    }
    all.sort_by(|a, b| {
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
    let mut outcome = ScanOutcome::default();
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

/// The raw findings of the enabled `checks` (before severity overrides and suppression).
pub fn run_checks(inventory: &Inventory, config: &Config, checks: &[&dyn Check]) -> Vec<Finding> {
    let enabled: Vec<&dyn Check> = checks
        .iter()
        .copied()
        .filter(|c| config.is_enabled(c.meta().id))
        .collect();
    let run = |chunk: &[&dyn Check]| {
        let cx = Context { inventory, config };
        let mut out = Vec::new();
        for check in chunk {
            let mut emitter = Emitter::new(check.meta());
            check.run(&cx, &mut emitter);
            out.extend(emitter.findings);
        }
        out
    };
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(enabled.len());
    if workers <= 1 || inventory.objects.len() < PARALLEL_MIN_OBJECTS {
        return run(&enabled);
    }
    // Order does not matter: run_scan sorts the findings.
    let chunk = enabled.len().div_ceil(workers);
    std::thread::scope(|scope| {
        let handles: Vec<_> = enabled
            .chunks(chunk)
            .map(|c| scope.spawn(move || run(c)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("check thread panicked"))
            .collect()
    })
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
        .any(|id| id == check_id || id == "*")
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
    map: std::collections::HashMap<(&'a str, &'a str, &'a str, &'a str), &'a Object>,
}

impl<'a> ObjectIndex<'a> {
    fn new(inventory: &'a Inventory) -> Self {
        let map = inventory
            .objects
            .iter()
            .map(|o| {
                (
                    (
                        &*o.source.file,
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
            f.location.file.as_str(),
            f.object.kind.as_str(),
            f.object.namespace.as_deref().unwrap_or(""),
            f.object.name.as_str(),
        );
        self.map.get(&key).copied()
    }
}
