//! The engines as checks: the monitor's evaluator, carrying the Pod Security controls and the
//! audit-policy lint rules (`evaluator_checks()`), finds exactly what the batch scan's engines
//! find (`engine_findings`), diagnostics included, and follows changes to one object.

use kubevigil_checks::{Config, Evaluator, engine_findings, evaluator_checks};
use kubevigil_model::load::{LoadOptions, Loaded, load_text_into};
use kubevigil_model::{Change, Diagnostic, Finding, Inventory, Object, load_paths};
use kubevigil_pss::{Level, LevelVersion, Version};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// The objects of `paths` (relative to the repository root), read without errors.
fn load(paths: &[&str]) -> Inventory {
    let paths: Vec<String> = paths.iter().map(|p| format!("{ROOT}/{p}")).collect();
    for p in &paths {
        assert!(std::path::Path::new(p).exists(), "missing input {p}");
    }
    let loaded = load_paths(&paths, &LoadOptions::default());
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
    loaded.inventory
}

fn objects(text: &str) -> Vec<Object> {
    let mut loaded = Loaded::default();
    load_text_into("shop.yaml", text, &LoadOptions::default(), &mut loaded);
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    loaded.inventory.objects
}

/// Whether a finding comes from Pod Security or audit-policy lint.
fn is_engine(f: &Finding) -> bool {
    kubevigil_pss::scan::rules()
        .chain(kubevigil_audit::lint::rules())
        .any(|r| r.id == f.check_id)
}

fn sorted(mut findings: Vec<Finding>) -> Vec<Finding> {
    findings.sort_by(|a, b| {
        (&a.check_id, &a.fingerprint, &a.message).cmp(&(&b.check_id, &b.fingerprint, &b.message))
    });
    findings
}

fn sorted_diagnostics(mut diagnostics: Vec<Diagnostic>) -> Vec<Diagnostic> {
    diagnostics.sort_by(|a, b| {
        (&a.file, a.line, a.col, &a.message).cmp(&(&b.file, b.line, b.col, &b.message))
    });
    diagnostics
}

/// Asserts that an evaluator loaded with `inventory` (one change per object) has the batch
/// path's Pod Security and audit-lint findings and diagnostics; returns how many findings.
fn assert_agrees(inventory: &Inventory, config: fn() -> Config) -> usize {
    let (batch, batch_diagnostics) = engine_findings(inventory, &config());
    let batch = sorted(batch.into_iter().filter(is_engine).collect());
    let checks = evaluator_checks();
    let mut evaluator = Evaluator::new(config(), &checks);
    let diff = evaluator.apply(inventory.objects.iter().cloned().map(Change::Upsert));
    assert_eq!(
        evaluator.store().len(),
        inventory.objects.len(),
        "one key per object"
    );
    let evaluated = sorted(
        evaluator
            .findings()
            .filter(|f| is_engine(f))
            .cloned()
            .collect(),
    );
    assert_eq!(evaluated, batch);
    assert_eq!(
        sorted(diff.new.into_iter().filter(is_engine).collect()),
        batch
    );
    assert_eq!(
        sorted_diagnostics(evaluator.diagnostics().cloned().collect()),
        sorted_diagnostics(batch_diagnostics),
    );
    batch.len()
}

/// Inputs with one key per object each: the examples (hardened and insecure name the same
/// objects, so they are separate inputs) and real manifests copied from the corpus
/// (`tests/data/SOURCES.md`).
const INPUTS: &[&[&str]] = &[
    &["examples/insecure", "examples/audit/guide-policy.yaml"],
    &["examples/hardened"],
    &["crates/checks/tests/data/calico-no-crds.yaml"],
    &["crates/checks/tests/data/linkerd-emojivoto.yaml"],
    &["crates/checks/tests/data/external-secrets-cloak-proxy.yaml"],
];

/// An audit policy that does not validate, a template the API server would not decode, and a
/// Pod that needs the Pod-only API defaults: what the batch path reports besides findings.
const ODD: &str = "
apiVersion: audit.k8s.io/v1
kind: Policy
metadata: {name: broken}
rules:
- level: Loud
---
apiVersion: audit.k8s.io/v1
kind: Policy
metadata: {name: quiet}
rules:
- level: None
  resources: [{group: '', resources: [secrets]}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: bad, namespace: shop}
spec:
  template:
    spec:
      containers:
      - {name: app, image: nginx, ports: [{containerPort: http}]}
---
apiVersion: v1
kind: Pod
metadata: {name: root, namespace: shop}
spec:
  hostNetwork: true
  containers:
  - {name: app, image: nginx, ports: [{containerPort: 80}], securityContext: {runAsUser: 0}}
";

#[test]
fn evaluator_finds_what_the_batch_engines_find() {
    let odd = Inventory {
        objects: objects(ODD),
    };
    let inventories: Vec<Inventory> = INPUTS
        .iter()
        .map(|paths| load(paths))
        .chain([odd])
        .collect();
    let baseline_old = || Config {
        pod_security: LevelVersion::new(Level::Baseline, Version::Minor(23)),
        ..Config::default()
    };
    let restricted_1_24 = || Config {
        pod_security: LevelVersion::new(Level::Restricted, Version::Minor(24)),
        disable: vec![
            "pss-runAsNonRoot".into(),
            "audit-policy-no-catch-all".into(),
        ],
        ..Config::default()
    };
    let configs: [fn() -> Config; 3] = [Config::default, baseline_old, restricted_1_24];
    for config in configs {
        let mut total = 0;
        for inventory in &inventories {
            total += assert_agrees(inventory, config);
        }
        assert!(total > 0, "the inputs exercise the engines");
    }
    // The odd objects exercise both kinds of diagnostics and both engines.
    let (findings, diagnostics) = engine_findings(&inventories[INPUTS.len()], &Config::default());
    assert!(
        diagnostics
            .iter()
            .any(|d| d.message.contains("Pod Security not evaluated"))
    );
    assert!(diagnostics.len() >= 2, "{diagnostics:?}");
    assert!(
        findings
            .iter()
            .any(|f| f.check_id.starts_with("audit-policy-"))
    );
    assert!(findings.iter().any(|f| f.check_id.starts_with("pss-")));
}

const WEB: &str = "
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: app
        image: nginx
        securityContext: {}
";

fn web(security_context: &str) -> Object {
    objects(&WEB.replace("securityContext: {}", security_context))
        .pop()
        .unwrap()
}

/// The ids of the engines' findings (the built-in checks also see the Deployment).
fn ids(findings: &[Finding]) -> Vec<&str> {
    let mut v: Vec<&str> = findings
        .iter()
        .filter(|f| is_engine(f))
        .map(|f| f.check_id.as_ref())
        .collect();
    v.sort();
    v
}

#[test]
fn one_changed_deployment_changes_its_pod_security_findings_and_diagnostics() {
    let checks = evaluator_checks();
    let config = || Config {
        pod_security: LevelVersion::new(Level::Baseline, Version::Latest),
        ..Config::default()
    };
    let mut evaluator = Evaluator::new(config(), &checks);
    let first = evaluator.apply([Change::Upsert(web("securityContext: {}"))]);
    assert!(!first.new.iter().any(|f| f.check_id.starts_with("pss-")));

    // Privileged: exactly the new Pod Security finding, at the field.
    let privileged = web("securityContext: {privileged: true}");
    let diff = evaluator.apply([Change::Upsert(privileged.clone())]);
    assert_eq!(ids(&diff.new), ["pss-privileged"], "{:#?}", diff.new);
    assert!(diff.resolved.is_empty(), "{:#?}", diff.resolved);
    let pss: Vec<Finding> = diff.new.into_iter().filter(is_engine).collect();
    let f = &pss[0];
    assert_eq!(
        f.location.field_path,
        "spec.template.spec.containers[0].securityContext.privileged"
    );
    assert_eq!(
        f.message,
        "Deployment shop/web violates PodSecurity \"baseline:latest\": privileged (container \"app\" must not set securityContext.privileged=true) [breaks baseline]"
    );
    assert_eq!(f.severity, kubevigil_model::Severity::Critical);
    let inventory = Inventory {
        objects: vec![privileged],
    };
    let (batch, _) = engine_findings(&inventory, &config());
    assert_eq!(pss, batch.into_iter().filter(is_engine).collect::<Vec<_>>());

    // Reverted: resolved.
    let diff = evaluator.apply([Change::Upsert(web("securityContext: {}"))]);
    assert!(diff.new.is_empty(), "{:#?}", diff.new);
    assert_eq!(ids(&diff.resolved), ["pss-privileged"]);

    // A template the API server would not decode: one diagnostic (not one per control), no
    // Pod Security finding; fixed, it goes away.
    let diff = evaluator.apply([Change::Upsert(web(
        "securityContext: {privileged: true, runAsUser: root}",
    ))]);
    assert!(diff.new.is_empty(), "{:#?}", diff.new);
    let diagnostics: Vec<&Diagnostic> = evaluator.diagnostics().collect();
    assert_eq!(diagnostics.len(), 1, "{diagnostics:#?}");
    assert!(
        diagnostics[0]
            .message
            .starts_with("Deployment shop/web: spec.template.spec.containers[0].securityContext.runAsUser: pod spec: "),
        "{diagnostics:#?}"
    );
    assert!(
        diagnostics[0]
            .message
            .contains("Pod Security not evaluated")
    );
    assert_eq!(diagnostics[0].file, "shop.yaml");
    let diff = evaluator.apply([Change::Upsert(web("securityContext: {privileged: true}"))]);
    assert_eq!(evaluator.diagnostics().count(), 0);
    assert_eq!(ids(&diff.new), ["pss-privileged"]);

    // Deleted: resolved, and nothing left.
    let key = web("securityContext: {}").key();
    let diff = evaluator.apply([Change::Delete(key)]);
    assert_eq!(ids(&diff.resolved), ["pss-privileged"]);
    assert_eq!(evaluator.findings().filter(|f| is_engine(f)).count(), 0);
}

/// A reporting evaluator (the monitor's) finds what a scan reports over the same objects: same
/// fingerprints and severities, with the configuration's severity overrides, exemptions and
/// `kubevigil.io/ignore` annotations applied; and an annotation added later suppresses, as a
/// change.
#[test]
fn a_reporting_evaluator_finds_what_a_scan_reports() {
    let mut inventory = load(&[
        "examples/insecure",
        "examples/hardened",
        "examples/cluster-dump",
    ]);
    let ignored = objects(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: ignored\n  namespace: shop\n  annotations:\n    kubevigil.io/ignore: \"*\"\nspec:\n  hostNetwork: true\n  containers:\n  - name: c\n    image: nginx:latest\n    securityContext: {privileged: true}\n",
    );
    inventory.objects.extend(ignored);
    // One object per key, as a cluster holds them (the examples reuse names across folders).
    let mut seen = std::collections::HashSet::new();
    inventory.objects.retain(|o| seen.insert(o.key()));
    let known: Vec<&str> = kubevigil_checks::catalog().iter().map(|r| r.id).collect();
    let config = || {
        let value = serde_json::json!({
            "severity": {"pss-privileged": "low", "service-nodeport": "critical"},
            "exemptions": [{"checks": ["image-*"], "namespaces": ["*"], "reason": "test"}],
        });
        Config::from_value(value, &known).unwrap()
    };
    let scanned = kubevigil_checks::scan_objects(inventory.objects.clone(), &config(), None)
        .1
        .findings;
    let key = |f: &Finding| {
        (
            f.check_id.to_string(),
            f.object.name.clone(),
            f.fingerprint.clone(),
            f.severity,
        )
    };
    let mut want: Vec<_> = scanned.iter().map(key).collect();
    want.sort();
    assert!(
        want.len() > 50,
        "the examples have findings: {}",
        want.len()
    );
    assert!(
        scanned.iter().all(|f| !f.check_id.starts_with("image-")),
        "the exemption applies"
    );
    let checks = evaluator_checks();
    let mut evaluator = Evaluator::new(config(), &checks).reporting();
    evaluator.apply(inventory.objects.iter().cloned().map(Change::Upsert));
    let mut got: Vec<_> = evaluator.findings().map(key).collect();
    got.sort();
    assert_eq!(got, want);

    // Annotating an object suppresses its findings, cluster-scope checks' included.
    let pod = inventory
        .objects
        .iter()
        .find(|o| o.kind == "Pod" && evaluator.findings().any(|f| f.object.name == o.name))
        .unwrap()
        .clone();
    let mut annotated = pod.value.clone();
    annotated["metadata"]["annotations"] = serde_json::json!({"kubevigil.io/ignore": "*"});
    let annotated = Object::from_cluster(annotated, "test").unwrap();
    let diff = evaluator.apply([Change::Upsert(annotated)]);
    assert!(diff.new.is_empty());
    assert!(!diff.resolved.is_empty());
    assert!(
        evaluator
            .findings()
            .all(|f| !(f.object.name == pod.name && f.object.kind == "Pod"))
    );
}

/// A lean evaluator (the monitor's, once the whole findings are recorded) tells the same
/// changes as a whole one, by fingerprint; what it keeps is what the whole one holds, and
/// evaluating its objects again gives the whole findings back, texts included.
#[test]
fn a_lean_evaluator_tells_what_a_whole_one_tells() {
    let mut seen = std::collections::HashSet::new();
    let mut inventory = load(&[
        "examples/insecure",
        "examples/hardened",
        "examples/cluster-dump",
    ]);
    inventory.objects.retain(|o| seen.insert(o.key()));
    let checks = evaluator_checks();
    let mut whole = Evaluator::new(Config::default(), &checks).reporting();
    let mut lean = Evaluator::new(Config::default(), &checks).reporting();
    let changes = || inventory.objects.iter().cloned().map(Change::Upsert);
    whole.apply(changes());
    lean.apply(changes());
    lean.make_lean();
    assert_eq!(lean.findings().count(), 0, "nothing kept whole");
    let fingerprints = |diff: &kubevigil_checks::FindingsDiff| {
        let set = |v: &[Finding]| {
            let mut fps: Vec<String> = v.iter().map(|f| f.fingerprint.clone()).collect();
            fps.sort();
            fps
        };
        (set(&diff.new), set(&diff.resolved))
    };
    let held = |e: &Evaluator| {
        let mut fps: Vec<(String, kubevigil_model::Severity)> = e
            .lean_findings()
            .map(|f| (f.fingerprint.to_string(), f.severity))
            .collect();
        fps.sort();
        fps
    };
    assert_eq!(held(&lean), held(&whole));
    // Every Pod made privileged, then every Deployment deleted.
    let pods: Vec<Change> = inventory
        .objects
        .iter()
        .filter(|o| o.kind == "Pod")
        .map(|o| {
            let mut v = o.value.clone();
            if let Some(cs) = v
                .pointer_mut("/spec/containers")
                .and_then(|c| c.as_array_mut())
            {
                for c in cs {
                    c["securityContext"] = serde_json::json!({"privileged": true});
                }
            }
            Change::Upsert(Object::from_cluster(v, "test").unwrap())
        })
        .collect();
    let deletions: Vec<Change> = inventory
        .objects
        .iter()
        .filter(|o| o.kind == "Deployment")
        .map(|o| Change::Delete(o.key()))
        .collect();
    assert!(!pods.is_empty() && !deletions.is_empty());
    for batch in [pods, deletions] {
        let (a, b) = (whole.apply(batch.clone()), lean.apply(batch));
        assert_eq!(fingerprints(&b), fingerprints(&a));
        assert!(!a.new.is_empty() || !a.resolved.is_empty());
        assert_eq!(held(&lean), held(&whole));
    }
    let texts = |v: Vec<Finding>| {
        let mut t: Vec<(String, String, String)> = v
            .into_iter()
            .map(|f| (f.fingerprint, f.message, f.location.field_path))
            .collect();
        t.sort();
        t
    };
    assert_eq!(
        texts(lean.evaluate_whole()),
        texts(whole.findings().cloned().collect())
    );
}
