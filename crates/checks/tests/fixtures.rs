//! Data-driven tests: for every registered check, `fixtures/<id>/fail/*` must produce at least one
//! finding of that check, `fixtures/<id>/pass/*` none. An optional `fixtures/<id>/config.yaml` is
//! the configuration used for both, and an optional `fixtures/<id>/scans.json` the image scans
//! (`images.scans`, by image reference) that `kubevigil scan --images` would have made. The findings of the failing fixtures are snapshotted, with
//! their severity. `catalogue_ids_severities_and_categories` snapshots the whole catalogue.

use std::path::{Path, PathBuf};

use kubevigil_checks::{Config, registry, run_scan};
use kubevigil_model::{LoadOptions, load_paths, yaml};

fn fixture_dir(id: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(id)
}

fn config_for(id: &str) -> Config {
    let mut config = config_file(id);
    if let Ok(text) = std::fs::read_to_string(fixture_dir(id).join("scans.json")) {
        config.images.scans = Some(std::sync::Arc::new(kubevigil_checks::ImageScanTable::new(
            serde_json::from_str(&text).unwrap(),
        )));
        // Ages in the snapshot stay put: 2026-12-01.
        config.images.now_ms = Some(1_796_083_200_000);
    }
    config
}

fn config_file(id: &str) -> Config {
    let ids: Vec<&str> = registry().iter().map(|c| c.meta().id).collect();
    let path = fixture_dir(id).join("config.yaml");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let value = yaml::parse_document(&text, 0, Default::default())
                .unwrap()
                .map(|d| d.0)
                .unwrap_or_default();
            Config::from_value(value, &ids).unwrap()
        }
        Err(_) => Config::default(),
    }
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    out.sort();
    assert!(!out.is_empty(), "{} has no fixtures", dir.display());
    out
}

#[test]
fn every_check_passes_and_fails_its_fixtures() {
    for check in registry() {
        let id = check.meta().id;
        let config = config_for(id);
        let mut snapshot = String::new();
        for (kind, expect_findings) in [("fail", true), ("pass", false)] {
            for file in files(&fixture_dir(id).join(kind)) {
                let loaded = load_paths(&[&file], &LoadOptions::default());
                assert!(
                    !loaded.has_errors(),
                    "{}: {:?}",
                    file.display(),
                    loaded.diagnostics
                );
                let outcome = run_scan(&loaded.inventory, &config, &[*check], Vec::new(), None);
                let mine: Vec<_> = outcome
                    .findings
                    .iter()
                    .filter(|f| f.check_id == id)
                    .collect();
                let name = file.file_name().unwrap().to_string_lossy().to_string();
                assert_eq!(
                    !mine.is_empty(),
                    expect_findings,
                    "{id}: {kind}/{name} gave {} findings: {:#?}",
                    mine.len(),
                    mine
                );
                for f in mine {
                    snapshot.push_str(&format!(
                        "{kind}/{name}:{}:{} {} {} {}/{} [{}]\n  {}\n",
                        f.location.line,
                        f.location.col,
                        f.severity,
                        f.object.kind,
                        f.object.namespace.as_deref().unwrap_or("-"),
                        f.object.name,
                        f.location.field_path,
                        f.message
                    ));
                }
            }
        }
        insta::assert_snapshot!(id, snapshot);
    }
}

#[test]
fn every_check_is_documented() {
    let mut ids = std::collections::HashSet::new();
    for check in registry() {
        let m = check.meta();
        assert!(ids.insert(m.id), "duplicate check id {}", m.id);
        assert!(
            m.id.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{}",
            m.id
        );
        assert!(
            m.doc.starts_with(&format!("# {}\n", m.id)),
            "{}: doc must start with its id",
            m.id
        );
        for section in [
            "**What it checks.**",
            "**Why it matters.**",
            "**Failing example**",
            "**Fixed example**",
            "**References.**",
        ] {
            assert!(m.doc.contains(section), "{}: doc lacks {section}", m.id);
        }
        assert!(
            !m.remediation.is_empty() && !m.references.is_empty(),
            "{}",
            m.id
        );
    }
}

/// Every catalogue entry's severity (built-in checks, Pod Security, NetworkPolicy, audit policy
/// lint) is part of the contract: `--fail-on`, SARIF levels and exit codes derive from it.
/// A change of severity must show up in review as a change of this snapshot.
#[test]
fn catalogue_ids_severities_and_categories() {
    let text: String = kubevigil_checks::catalog()
        .iter()
        .map(|e| format!("{} {} {}\n", e.id, e.severity, e.category.as_str()))
        .collect();
    insta::assert_snapshot!(text);
}
