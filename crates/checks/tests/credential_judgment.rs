//! The credential checks against a hand judgment of real manifests (`tests/data/credentials/`,
//! copied from `../shared/corpus`, see `tests/data/SOURCES.md`): every finding must be judged in
//! `judgment.tsv` (an unjudged finding is new noise or a new detection to review), every entry
//! judged TRUE must be found (recall 100%), and precision must stay at 95% or more.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use kubevigil_checks::{Config, registry, run_scan};
use kubevigil_model::{LoadOptions, load_paths};

const CHECKS: &[&str] = &[
    "env-literal-credential",
    "configmap-credential",
    "secret-literal-values",
    "annotation-credential",
];

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "yaml") {
            out.push(p);
        }
    }
}

#[test]
fn credential_findings_match_the_hand_judgment() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/credentials");
    let judgment = std::fs::read_to_string(root.join("judgment.tsv")).unwrap();
    // (file, object, field path) -> TRUE?
    let mut judged = std::collections::BTreeMap::new();
    for line in judgment
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(cols.len(), 5, "{line}");
        assert!(root.join(cols[0]).exists(), "missing file {}", cols[0]);
        let verdict = match cols[3] {
            "TRUE" => true,
            "FALSE" => false,
            v => panic!("bad verdict {v} in {line}"),
        };
        let key = (
            cols[0].to_string(),
            cols[1].to_string(),
            cols[2].to_string(),
        );
        assert!(
            judged.insert(key, verdict).is_none(),
            "judged twice: {line}"
        );
    }

    let mut files = Vec::new();
    yaml_files(&root, &mut files);
    files.sort();
    // One scan per file: the copies hold objects of the same name (one inventory would merge them).
    let findings: Vec<_> = files
        .iter()
        .flat_map(|file| {
            let loaded = load_paths(&[file], &LoadOptions::default());
            run_scan(
                &loaded.inventory,
                &Config::default(),
                registry(),
                Vec::new(),
                None,
            )
            .findings
        })
        .collect();
    let mut found = BTreeSet::new();
    let mut unjudged = Vec::new();
    for f in findings.iter().filter(|f| CHECKS.contains(&&*f.check_id)) {
        let file = f.location.file.as_deref().unwrap();
        let rel = Path::new(file)
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .to_string();
        let object = format!(
            "{}/{}/{}",
            f.object.kind,
            f.object.namespace.as_deref().unwrap_or("-"),
            f.object.name
        );
        let key = (rel, object, f.location.field_path.clone());
        if !judged.contains_key(&key) {
            unjudged.push(format!("{}\t{}\t{}\t({})", key.0, key.1, key.2, f.check_id));
        }
        found.insert(key);
    }
    assert!(
        unjudged.is_empty(),
        "findings missing from judgment.tsv:\n{}",
        unjudged.join("\n")
    );
    let tp = found.iter().filter(|k| judged[*k]).count();
    let fp = found.len() - tp;
    let missed: Vec<_> = judged
        .iter()
        .filter(|(k, v)| **v && !found.contains(*k))
        .map(|(k, _)| format!("{}\t{}\t{}", k.0, k.1, k.2))
        .collect();
    let precision = tp as f64 / found.len().max(1) as f64;
    let recall = tp as f64 / (tp + missed.len()).max(1) as f64;
    println!(
        "credential findings: TP {tp}, FP {fp}, FN {}; precision {:.1}%, recall {:.1}%",
        missed.len(),
        precision * 100.0,
        recall * 100.0
    );
    assert!(
        missed.is_empty(),
        "true credentials missed:\n{}",
        missed.join("\n")
    );
    assert!(precision >= 0.95, "precision {precision:.3} < 0.95");
}
