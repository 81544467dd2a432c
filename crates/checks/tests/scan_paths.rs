//! `scan_paths`, the streaming scan: each file's objects are checked as soon as the file is
//! read and dropped unless a check over all objects reads their kind. It must find exactly what
//! a scan of the whole inventory finds (findings, suppressions, diagnostics, in order), and keep
//! only what it needs.

use std::path::{Path, PathBuf};

use kubevigil_checks::{
    Check, Config, ScanOutcome, Scope, catalog, engine_findings, registry, run_scan, scan_paths,
};
use kubevigil_model::{LoadOptions, load_paths};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The scan as it was before streaming: every check and engine over the whole inventory.
fn whole_inventory_scan(inventory: &kubevigil_model::Inventory, config: &Config) -> ScanOutcome {
    let (engines, mut diagnostics) = engine_findings(inventory, config);
    let mut outcome = run_scan(inventory, config, registry(), engines, None);
    let known: Vec<&str> = catalog().iter().map(|r| r.id).collect();
    diagnostics.extend(kubevigil_checks::scan::ignore_annotation_diagnostics(
        inventory, &known,
    ));
    outcome.diagnostics = diagnostics;
    outcome
}

fn same_as_whole_inventory(paths: &[PathBuf], config: &Config) {
    let opts = LoadOptions::default();
    let whole = load_paths(paths, &opts);
    let expected = whole_inventory_scan(&whole.inventory, config);
    let streamed = scan_paths(paths, &opts, config, None);
    assert_eq!(streamed.loaded.diagnostics, whole.diagnostics);
    assert_eq!(streamed.objects.len(), whole.inventory.objects.len());
    assert_eq!(streamed.outcome.findings, expected.findings);
    let suppressed = |o: &ScanOutcome| -> Vec<String> {
        o.suppressed
            .iter()
            .map(|s| format!("{} {:?}", s.finding.fingerprint, s.by))
            .collect()
    };
    assert_eq!(suppressed(&streamed.outcome), suppressed(&expected));
    assert_eq!(streamed.outcome.diagnostics, expected.diagnostics);
    // Only the kinds that a check over all objects reads are kept.
    let cluster: Vec<&dyn Check<Config>> = registry()
        .iter()
        .copied()
        .filter(|c| c.scope() == Scope::Cluster)
        .collect();
    for o in &streamed.loaded.inventory.objects {
        assert!(
            cluster.iter().any(|c| c.reads(&o.kind)) || kubevigil_netpol::findings::reads(&o.kind),
            "{} kept",
            o.kind
        );
    }
    assert!(streamed.loaded.inventory.objects.len() < whole.inventory.objects.len());
}

#[test]
fn streaming_finds_what_the_whole_inventory_scan_finds_on_every_fixture_and_example() {
    let paths = [
        repo().join("crates/checks/fixtures"),
        repo().join("examples"),
    ];
    same_as_whole_inventory(&paths, &Config::default());
}

#[test]
fn duplicates_across_files_are_found_and_an_identical_copy_is_checked_once() {
    let dir = tempfile::tempdir().unwrap();
    let deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\nspec:\n  template:\n    spec:\n      containers:\n      - {name: c, image: 'nginx:latest', securityContext: {privileged: true}}\n";
    let cm = |v: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cfg, namespace: shop}}\ndata: {{password: {v}}}\n"
        )
    };
    std::fs::write(
        dir.path().join("a.yaml"),
        format!("{deploy}---\n{}", cm("hunter2-Xq9")),
    )
    .unwrap();
    // The same Deployment written differently (flow style), and a ConfigMap that differs.
    let same = "{apiVersion: apps/v1, kind: Deployment, metadata: {namespace: shop, name: web}, spec: {template: {spec: {containers: [{securityContext: {privileged: true}, name: c, image: 'nginx:latest'}]}}}}\n";
    std::fs::write(
        dir.path().join("b.yaml"),
        format!("{same}---\n{}", cm("other-Zt4")),
    )
    .unwrap();
    let paths = [dir.path().to_path_buf()];
    same_as_whole_inventory(&paths, &Config::default());
    let streamed = scan_paths(&paths, &LoadOptions::default(), &Config::default(), None);
    let warnings: Vec<&str> = streamed
        .loaded
        .diagnostics
        .iter()
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings[0].contains("already defined at") && warnings[0].contains("this copy is ignored")
    );
    assert!(warnings[1].contains("already defined differently"));
    assert_eq!(
        streamed.objects.len(),
        3,
        "the identical copy is not checked again"
    );
    assert!(
        streamed.outcome.findings.iter().all(|f| !f
            .location
            .file
            .as_deref()
            .unwrap()
            .ends_with("b.yaml")
            || f.object.kind == "ConfigMap"),
        "no finding on the identical copy"
    );
}
