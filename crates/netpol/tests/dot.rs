//! `-o dot` output: structurally sound always, and rendered by Graphviz (`dot -Tsvg`) when it is
//! installed. In CI (`CI=true`) a missing `dot` fails the test (`.ci/run` installs the Debian
//! `graphviz` package and fails if it cannot).

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use kubevigil_model::{LoadOptions, load_paths};
use kubevigil_netpol::{Cluster, Engine, render};

fn inputs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut v = vec![
        root.join("tests/fixtures/17-docs-allow-from-namespace-and-pod/input.yaml"),
        root.join("tests/fixtures/16-calico-cilium-caveats/input.yaml"),
        root.join("tests/fixtures/11-ipblock-except/input.yaml"),
    ];
    for example in ["insecure", "hardened"] {
        let dir = root.join("../../examples").join(example);
        assert!(dir.is_dir(), "{} is missing", dir.display());
        v.push(dir);
    }
    v
}

fn dot_for(path: &Path) -> String {
    let loaded = load_paths(&[path], &LoadOptions::default());
    let cluster = Cluster::from_inventory(&loaded.inventory);
    let result = Engine::new(&cluster).connectivity();
    render::dot(
        &render::resolve(&cluster, &result.ranges, &result.connections),
        &result.caveats,
    )
}

#[test]
fn dot_is_well_formed() {
    for path in inputs() {
        let dot = dot_for(&path);
        assert!(
            dot.starts_with("digraph connectivity {\n") && dot.ends_with("}\n"),
            "{}",
            path.display()
        );
        // Every edge endpoint is a declared node, so Graphviz draws no anonymous boxes.
        let declared: Vec<&str> = dot
            .lines()
            .filter(|l| {
                l.contains(" [label=") && !l.contains(" -> ") || l.contains("[shape=ellipse")
            })
            .map(|l| l.trim().split(" [").next().unwrap())
            .collect();
        for edge in dot.lines().filter(|l| l.contains(" -> ")) {
            let (a, rest) = edge.trim().split_once(" -> ").unwrap();
            let b = rest.split(" [").next().unwrap();
            assert!(
                declared.contains(&a) && declared.contains(&b),
                "{}: undeclared node in {edge}",
                path.display()
            );
        }
        assert_eq!(dot.matches('{').count(), dot.matches('}').count());
    }
}

#[test]
fn dot_merges_a_workloads_neighbouring_ranges() {
    let dot = dot_for(&inputs()[0]);
    // The answer cuts 0.0.0.0/0 into seven ranges (db's ipBlocks); the graph shows one node.
    assert!(
        dot.contains("\"0.0.0.0-255.255.255.255\" [label=\"any IPv4\\n0.0.0.0/0\""),
        "{dot}"
    );
    assert!(!dot.contains("0.0.0.0-9.255.255.255"), "{dot}");
    assert!(
        dot.contains("\"default/db\" -> \"10.0.0.0-10.0.0.255\" [label=\"TCP 5978\", penwidth=2];"),
        "{dot}"
    );
}

#[test]
fn graphviz_renders_dot_when_installed() {
    if Command::new("dot").arg("-V").output().is_err() {
        assert!(
            !common::in_ci(),
            "Graphviz `dot` is not installed, and CI is set: install the `graphviz` package"
        );
        eprintln!("skipped: Graphviz `dot` is not installed (apt-get install graphviz)");
        return;
    }
    for path in inputs() {
        let dot = dot_for(&path);
        let mut child = Command::new("dot")
            .arg("-Tsvg")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(dot.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.trim().is_empty(),
            "{}: {stderr}",
            path.display()
        );
        let svg = String::from_utf8_lossy(&out.stdout);
        assert!(svg.contains("<svg"), "{}", path.display());
        assert_eq!(
            svg.contains("class=\"edge\""),
            dot.contains(" -> "),
            "{}",
            path.display()
        );
    }
}
