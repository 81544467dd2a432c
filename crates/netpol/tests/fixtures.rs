//! Data-driven semantics tests: each `tests/fixtures/<case>/input.yaml` is analysed and the
//! connection list (plus problems and caveats) must equal `expected.txt`.
//! `UPDATE_FIXTURES=1 cargo test -p kubevigil-netpol --test fixtures` rewrites the expectations
//! (review the diff: each one was checked by hand against the semantics it covers).

mod common;

use std::fmt::Write as _;
use std::path::Path;

use kubevigil_model::load::load_text_into;
use kubevigil_model::{LoadOptions, Loaded};
use kubevigil_netpol::{Cluster, Engine, named};

fn analyse(input: &str) -> String {
    let mut loaded = Loaded::default();
    load_text_into("input.yaml", input, &LoadOptions::default(), &mut loaded);
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    let cluster = Cluster::from_inventory(&loaded.inventory);
    let connectivity = Engine::new(&cluster).connectivity();
    let mut out = named::lines(&named::resolve(
        &cluster,
        &connectivity.ranges,
        &connectivity.connections,
    ));
    for p in &cluster.problems {
        let o = p.object;
        let _ = writeln!(
            out,
            "problem: {} {} {:?}: {}",
            o.kind, o.name, p.problem.level, p.problem
        );
    }
    for c in &connectivity.caveats {
        let _ = writeln!(out, "caveat: {c}");
    }
    out
}

#[test]
fn fixtures() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    let update = common::update_fixtures();
    let mut failures = Vec::new();
    for dir in &dirs {
        let input = std::fs::read_to_string(dir.join("input.yaml")).unwrap();
        let got = analyse(&input);
        let expected_path = dir.join("expected.txt");
        if update {
            std::fs::write(&expected_path, &got).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if got != expected {
            failures.push(format!(
                "== {}\n-- expected\n{expected}-- got\n{got}",
                dir.display()
            ));
        }
    }
    assert!(dirs.len() >= 15, "fixtures missing");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
