//! `netpol connectivity -o dot` output: structurally sound always, and rendered by Graphviz
//! (`dot -Tsvg`) when it is installed. In CI (`CI=true`) a missing `dot` fails the test
//! (`.ci/run` installs the Debian `graphviz` package and fails if it cannot).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use kubevigil_model::{LoadOptions, load_paths};
use kubevigil_netpol::{Cluster, named};
use kubevigil_report::{Dot, Emitter};

/// Whether the tests run in CI (`CI` set to anything but empty, `0` or `false`, as CI services
/// set `CI=true`): there a missing tool fails a test instead of skipping it.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.as_str(), "" | "0" | "false"))
}

fn inputs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../netpol");
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
    let mut out = Vec::new();
    Dot.emit(&mut out, &named::connectivity(&cluster, None))
        .unwrap();
    String::from_utf8(out).unwrap()
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
        dot.contains("\"0.0.0.0/0\" [label=\"any IPv4\\n0.0.0.0/0\""),
        "{dot}"
    );
    assert!(!dot.contains("0.0.0.0/5, 8.0.0.0/7"), "{dot}");
    assert!(
        dot.contains("\"default/db\" -> \"10.0.0.0/24\" [label=\"TCP 5978\", penwidth=2];"),
        "{dot}"
    );
}

#[test]
fn graphviz_renders_dot_when_installed() {
    if Command::new("dot").arg("-V").output().is_err() {
        assert!(
            !in_ci(),
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
