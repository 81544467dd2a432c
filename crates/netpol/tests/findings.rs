//! Finding kinds: `tests/findings/<id>/fail/*.yaml` must produce findings of that kind, exactly
//! those listed in the `.expected` file beside it (`line:col field.path: message`);
//! `pass/*.yaml` none of that kind. `UPDATE_FIXTURES=1` rewrites the `.expected` files.

mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use kubevigil_model::{LoadOptions, load_paths};
use kubevigil_netpol::findings::{self, kinds};

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "{} has no fixtures", dir.display());
    v
}

#[test]
fn every_kind_fails_and_passes_its_fixtures() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/findings");
    let update = common::update_fixtures();
    let mut failures = Vec::new();
    for kind in kinds() {
        assert!(
            kind.doc.starts_with(&format!("# {}\n", kind.id)),
            "{} doc heading",
            kind.id
        );
        assert!(
            !kind.references.is_empty() && !kind.remediation.is_empty(),
            "{}",
            kind.id
        );
        for (sub, expect) in [("fail", true), ("pass", false)] {
            for file in yaml_files(&root.join(kind.id).join(sub)) {
                let loaded = load_paths(&[&file], &LoadOptions::default());
                assert!(
                    loaded.diagnostics.is_empty(),
                    "{}: {:?}",
                    file.display(),
                    loaded.diagnostics
                );
                let mine: Vec<_> = findings::findings(&loaded.inventory)
                    .into_iter()
                    .filter(|f| f.check_id == kind.id)
                    .collect();
                if !expect {
                    if !mine.is_empty() {
                        failures.push(format!(
                            "{}: unexpected {:?}",
                            file.display(),
                            mine[0].message
                        ));
                    }
                    continue;
                }
                let mut got = String::new();
                for f in &mine {
                    assert_eq!(f.severity, kind.severity);
                    assert!(f.location.line > 0 && f.fingerprint.len() == 32);
                    let _ = writeln!(
                        got,
                        "{}:{} {}: {}",
                        f.location.line, f.location.col, f.location.field_path, f.message
                    );
                }
                let expected_path = file.with_extension("expected");
                if update {
                    std::fs::write(&expected_path, &got).unwrap();
                } else if mine.is_empty()
                    || std::fs::read_to_string(&expected_path).unwrap_or_default() != got
                {
                    failures.push(format!("{}: got\n{got}", file.display()));
                }
            }
        }
    }
    for entry in std::fs::read_dir(&root).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            findings::kind(&name).is_some(),
            "fixtures for unknown kind {name}"
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn all_kinds_on_one_inventory_is_the_union() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/findings/netpol-named-port-not-exposed/fail/renamed.yaml");
    let loaded = load_paths(&[&root], &LoadOptions::default());
    let all = findings::findings(&loaded.inventory);
    let one = findings::findings_of(&loaded.inventory, Some(&["netpol-named-port-not-exposed"]));
    assert!(one.len() < all.len());
    assert!(one.iter().all(|f| all.contains(f)));
}

/// Each finding kind as a rule `Check` finds what the shared analysis finds: exactly the same
/// findings on an inventory, and the same fingerprints on a keyed store of the same objects.
#[test]
fn checks_one_at_a_time_find_what_the_shared_analysis_finds() {
    use kubevigil_model::{Finding, Objects, Store};
    use kubevigil_rule::{Check, Emitter, Scope};

    let run = |objects: &dyn Objects| -> Vec<Finding> {
        findings::checks::<()>()
            .flat_map(|c: &dyn Check<()>| {
                assert_eq!(c.scope(), Scope::Cluster);
                let mut out = Emitter::new(c.meta());
                c.check_cluster(&(), objects, &mut out);
                out.findings
            })
            .collect()
    };
    let fingerprints = |v: &[Finding]| {
        let mut v: Vec<String> = v.iter().map(|f| f.fingerprint.clone()).collect();
        v.sort();
        v
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/findings");
    let mut compared = 0;
    for kind in kinds() {
        for sub in ["fail", "pass"] {
            for file in yaml_files(&root.join(kind.id).join(sub)) {
                let loaded = load_paths(&[&file], &LoadOptions::default());
                let batch = findings::findings(&loaded.inventory);
                assert_eq!(run(&loaded.inventory), batch, "{}", file.display());
                let store = Store::from_inventory(loaded.inventory.clone());
                if store.len() == loaded.inventory.objects.len() {
                    assert_eq!(
                        fingerprints(&run(&store)),
                        fingerprints(&batch),
                        "{}",
                        file.display()
                    );
                    compared += 1;
                }
            }
        }
    }
    assert!(compared > 20, "{compared}");
    let reads = |kind: &str| findings::checks::<()>().all(|c| c.reads(kind));
    for kind in [
        "Namespace",
        "NetworkPolicy",
        "Deployment",
        "DaemonSet",
        "CronJob",
        "Pod",
    ] {
        assert!(reads(kind), "{kind}");
    }
    for kind in [
        "CiliumNetworkPolicy",
        "GlobalNetworkPolicy",
        "AdminNetworkPolicy",
    ] {
        assert!(reads(kind), "{kind}");
    }
    for kind in ["ConfigMap", "Service", "PodTemplate", "Secret"] {
        assert!(!findings::checks::<()>().any(|c| c.reads(kind)), "{kind}");
    }
}
