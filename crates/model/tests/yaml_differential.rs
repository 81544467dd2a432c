//! Differential test of the YAML reader against an independent implementation: PyYAML's C loader
//! (libyaml), Debian's python3-yaml, driven by `tests/yaml_reference/reference.py`, which resolves
//! scalars as kubectl does (go-yaml v2 through sigs.k8s.io/yaml) and lists every documented
//! YAML 1.1 difference where kubectl's answer is kept.
//!
//! Inputs: the manifests committed under `tests/yaml_reference/corpus/` (real files from public
//! repositories, see `tests/yaml_reference/SOURCES.md`), the repository's examples, `../shared/corpus` beside the
//! project when it is there (and directories named in `KUBEVIGIL_YAML_CORPUS`), and documents
//! generated with proptest from the constructs kubectl accepts. Each file is cut into documents
//! as kubectl cuts it; every document the reference reads must be read by the project to the same
//! value (numbers compared by value). A document the reference refuses may be refused or read.
//!
//! The test needs `python3` with PyYAML built with libyaml; without it the test fails.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use kubevigil_model::load::split_documents;
use kubevigil_model::yaml::{Limits, parse_document_at};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::Value;

const REFERENCE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/yaml_reference/reference.py"
);

/// An interpreter whose PyYAML has libyaml: Debian's first (what `.ci/run` installs).
fn python() -> &'static str {
    for candidate in ["/usr/bin/python3", "python3"] {
        let ok = Command::new(candidate)
            .args([
                "-c",
                "import sys, yaml; sys.exit(0 if yaml.__with_libyaml__ else 1)",
            ])
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return candidate;
        }
    }
    panic!("no python3 with PyYAML built with libyaml: install Debian's python3-yaml");
}

/// The reference's reading of each text, and the counts of documented differences it applied.
fn reference(texts: &[&str]) -> (Vec<Result<Value, String>>, Value) {
    let mut child = Command::new(python())
        .arg(REFERENCE)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run the reference");
    let input = serde_json::to_vec(texts).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "reference failed");
    let mut results: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let differences = results.pop().unwrap()["differences"].take();
    let results = results
        .into_iter()
        .map(|r| match r {
            Value::Object(mut m) if m.contains_key("ok") => Ok(m.remove("ok").unwrap()),
            other => Err(other["err"].as_str().unwrap_or("?").to_string()),
        })
        .collect();
    (results, differences)
}

/// Equal as JSON values, numbers by value (`1000` and `1000.0` are the same number to kubectl).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => match (x.as_u64(), y.as_u64()) {
                (Some(x), Some(y)) => x == y,
                _ => x.as_f64() == y.as_f64(),
            },
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

struct Outcome {
    documents: usize,
    accepted_by_reference: usize,
    refused_by_both: usize,
    read_only_here: usize,
    failures: Vec<String>,
}

/// Compares the two readings of every document of `files` (name, text).
fn compare(files: &[(String, String)]) -> (Outcome, Value) {
    let mut chunks = Vec::new();
    for (name, text) in files {
        // kubectl reads a stream that starts with `{` as JSON: not a YAML question.
        if text.trim_start().starts_with('{') {
            continue;
        }
        for chunk in split_documents(text, 0) {
            chunks.push((name.as_str(), chunk));
        }
    }
    let texts: Vec<&str> = chunks.iter().map(|(_, c)| c.text).collect();
    let (theirs, differences) = reference(&texts);
    let mut outcome = Outcome {
        documents: chunks.len(),
        accepted_by_reference: 0,
        refused_by_both: 0,
        read_only_here: 0,
        failures: Vec::new(),
    };
    for ((name, chunk), theirs) in chunks.iter().zip(theirs) {
        let ours = parse_document_at(chunk.text, chunk.start, Limits::default())
            .map(|d| d.map_or(Value::Null, |(v, _)| v));
        let at = format!("{name}:{}:{}", chunk.start.line, chunk.start.col);
        match (ours, theirs) {
            (Ok(ours), Ok(theirs)) => {
                outcome.accepted_by_reference += 1;
                if !same(&ours, &theirs) {
                    outcome.failures.push(format!(
                        "{at}: read differently\n  here:      {ours}\n  reference: {theirs}\n  text: {:?}",
                        chunk.text
                    ));
                }
            }
            (Err(e), Ok(_)) => {
                outcome.accepted_by_reference += 1;
                outcome.failures.push(format!(
                    "{at}: refused here ({e}) but read by the reference\n  text: {:?}",
                    chunk.text
                ));
            }
            (Ok(_), Err(_)) => outcome.read_only_here += 1,
            (Err(_), Err(_)) => outcome.refused_by_both += 1,
        }
    }
    (outcome, differences)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            out.push(path);
        }
    }
}

fn read_files(dirs: &[PathBuf]) -> Vec<(String, String)> {
    let mut paths = Vec::new();
    for d in dirs {
        collect(d, &mut paths);
    }
    paths.sort();
    paths
        .into_iter()
        .filter_map(|p| {
            let text = String::from_utf8(std::fs::read(&p).ok()?).ok()?;
            Some((p.display().to_string(), text))
        })
        .collect()
}

fn report(what: &str, outcome: &Outcome, differences: &Value) {
    eprintln!(
        "{what}: {} documents, {} read by the reference, {} refused by both, {} read only here; documented differences applied: {differences}",
        outcome.documents,
        outcome.accepted_by_reference,
        outcome.refused_by_both,
        outcome.read_only_here
    );
    assert!(
        outcome.failures.is_empty(),
        "{} of {} documents differ from the reference:\n{}",
        outcome.failures.len(),
        outcome.documents,
        outcome.failures.join("\n")
    );
}

#[test]
fn real_manifests_read_as_the_reference_reads_them() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut dirs = vec![
        root.join("tests/yaml_reference/corpus"),
        root.join("../../examples"),
        root.join("tests/fixtures"),
    ];
    let shared = root.join("../../../shared/corpus");
    if shared.is_dir() {
        dirs.push(shared);
    }
    for d in std::env::var("KUBEVIGIL_YAML_CORPUS")
        .unwrap_or_default()
        .split(':')
        .filter(|d| !d.is_empty())
    {
        dirs.push(PathBuf::from(d));
    }
    let files = read_files(&dirs);
    assert!(files.len() >= 20, "inputs missing: {} files", files.len());
    let (outcome, differences) = compare(&files);
    assert!(outcome.accepted_by_reference >= 100);
    report(&format!("{} files", files.len()), &outcome, &differences);
}

// ---- generated documents ----

/// Scalars that exercise resolution: YAML 1.1 words, numbers in every notation go-yaml and PyYAML
/// read differently, tags, quoting.
const SCALARS: &[&str] = &[
    "web",
    "nginx:1.25",
    "v1.2.3",
    "yes",
    "y",
    "N",
    "on",
    "Off",
    "~",
    "null",
    "true",
    "False",
    "0",
    "-0",
    "+12",
    "12_000",
    "0777",
    "08",
    "0o17",
    "0x1F",
    "0b101",
    "-0b101",
    "1e3",
    "1.0e5",
    "1.5E-3",
    "-.5",
    ".5",
    "1.",
    "1:20",
    "190:20:30.15",
    "2001-12-14",
    "2001-12-14T21:59:43.10Z",
    "9999999999999999999999",
    "18446744073709551615",
    ".inf",
    "-.INF",
    ".NaN",
    "'single'",
    "'it''s'",
    "\"double\"",
    "\"esc \\u00e9 \\t \\x41\"",
    "\"\"",
    "''",
    "!!str 12",
    "!!int \"12\"",
    "!!float 1",
    "!!bool yes",
    "!!null ''",
    "!!binary aGVsbG8=",
    "!Ref name",
    "\"<<\"",
    "a b  c",
    "key=value",
    "http://x:80/p?q=1#f",
    "--flag=1",
    "*",
    "@",
    "100m",
    "1Gi",
];

#[derive(Debug, Clone)]
enum Node {
    Scalar(&'static str),
    /// A double-quoted scalar broken over lines, continued at `extra` columns past the key.
    MultiLineQuoted(u8),
    /// `|`, `|-`, `>`, `>+` with lines.
    Block(u8, Vec<&'static str>),
    Map(Vec<(&'static str, Node)>, u8),
    Seq(Vec<Node>, u8),
}

const KEYS: &[&str] = &[
    "name",
    "image",
    "args",
    "env",
    "value",
    "ports",
    "a",
    "b",
    "c",
    "data",
    "1",
    "true",
    "~",
    "'quoted key'",
    "\"dq key\"",
];

fn node() -> impl Strategy<Value = Node> {
    let leaf = prop_oneof![
        6 => prop::sample::select(SCALARS).prop_map(Node::Scalar),
        1 => (0u8..3).prop_map(Node::MultiLineQuoted),
        1 => (0u8..4, prop::collection::vec(prop::sample::select(&["x", "y z", "", "  indented"][..]), 1..4))
            .prop_map(|(s, l)| Node::Block(s, l)),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            (
                prop::collection::vec((prop::sample::select(KEYS), inner.clone()), 1..4),
                0u8..6
            )
                .prop_map(|(e, s)| Node::Map(e, s)),
            (prop::collection::vec(inner, 0..4), 0u8..6).prop_map(|(i, s)| Node::Seq(i, s)),
        ]
    })
}

fn pad(n: usize) -> String {
    " ".repeat(n)
}

/// Renders `node` as the value after `key:` (or `- `) at indentation `indent`.
fn render_value(node: &Node, indent: usize, out: &mut String) {
    match node {
        Node::Scalar(s) => {
            out.push(' ');
            out.push_str(s);
            out.push('\n');
        }
        Node::MultiLineQuoted(extra) => {
            out.push_str(&format!(
                " \"first\n{}second\n{}third\"\n",
                pad(indent + *extra as usize),
                pad(indent)
            ));
        }
        Node::Block(style, lines) => {
            out.push_str([" |\n", " |-\n", " >\n", " >+\n"][*style as usize % 4]);
            for l in lines {
                out.push_str(&pad(indent + 2));
                out.push_str(l);
                out.push('\n');
            }
        }
        Node::Map(entries, style) | Node::Map(entries, style) if entries.is_empty() => {
            let _ = style;
            out.push_str(" {}\n");
        }
        Node::Map(entries, style) => match style % 3 {
            // Block.
            0 | 1 => {
                out.push('\n');
                render_map(entries, indent + 2, out);
            }
            // Flow, one entry per line, closed at the key's indentation.
            _ => {
                out.push_str(" {\n");
                for (k, v) in entries {
                    out.push_str(&pad(indent + 2));
                    out.push_str(k);
                    out.push(':');
                    render_flow(v, out);
                    out.push_str(",\n");
                }
                out.push_str(&pad(indent));
                out.push_str("}\n");
            }
        },
        Node::Seq(items, _) if items.is_empty() => out.push_str(" []\n"),
        Node::Seq(items, style) => match style % 6 {
            // Block, at the key's indentation (kubectl's own output) or indented.
            0 | 1 => {
                out.push('\n');
                render_seq(items, indent + 2 * (*style as usize % 2), out);
            }
            // Flow on one line.
            2 => {
                out.push(' ');
                render_flow(node, out);
                out.push('\n');
            }
            // Flow, one item per line, trailing comma, `]` at the key's indentation.
            3 | 4 => {
                out.push_str(" [\n");
                for item in items {
                    out.push_str(&pad(indent + 2));
                    render_flow(item, out);
                    out.push_str(",\n");
                }
                out.push_str(&pad(indent * (*style as usize - 3)));
                out.push_str("]\n");
            }
            // Flow, broken after the first item, continued at the key's indentation.
            _ => {
                out.push_str(" [");
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(",\n");
                        out.push_str(&pad(indent + 2));
                    }
                    render_flow(item, out);
                }
                out.push_str("]\n");
            }
        },
    }
}

/// A flow rendering (scalars that are not flow-safe are double-quoted).
fn render_flow(node: &Node, out: &mut String) {
    match node {
        Node::Scalar(s)
            if !s.contains([',', '[', ']', '{', '}', '#']) && !s.starts_with(['*', '@', '!']) =>
        {
            out.push(' ');
            out.push_str(s);
        }
        Node::Scalar(s) => out.push_str(&format!(" {:?}", s)),
        Node::MultiLineQuoted(_) | Node::Block(..) => out.push_str(" \"flow\""),
        Node::Map(entries, _) => {
            out.push_str(" {");
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(k);
                out.push(':');
                render_flow(v, out);
            }
            out.push('}');
        }
        Node::Seq(items, _) => {
            out.push_str(" [");
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                render_flow(v, out);
            }
            out.push(']');
        }
    }
}

fn render_map(entries: &[(&str, Node)], indent: usize, out: &mut String) {
    for (i, (k, v)) in entries.iter().enumerate() {
        out.push_str(&pad(indent));
        out.push_str(k);
        // `key:<TAB>value` for some scalars.
        if i % 2 == 1 && matches!(v, Node::Scalar(_)) {
            out.push_str(":\t");
            let mut rest = String::new();
            render_value(v, indent, &mut rest);
            out.push_str(rest.trim_start_matches(' '));
        } else {
            out.push(':');
            render_value(v, indent, out);
        }
    }
}

fn render_seq(items: &[Node], indent: usize, out: &mut String) {
    for item in items {
        out.push_str(&pad(indent));
        out.push('-');
        match item {
            Node::Map(entries, style) if !entries.is_empty() && style % 3 != 2 => {
                // `- key: value` with the rest of the mapping under the first key.
                let mut inner = String::new();
                render_map(entries, indent + 2, &mut inner);
                out.push(' ');
                out.push_str(&inner[indent + 2..]);
            }
            _ => render_value(item, indent, out),
        }
    }
}

/// A manifest-shaped document: a few fixed fields, the generated ones, sometimes anchors and a
/// merge, a comment, and no line break at the end.
fn document(body: &[(&'static str, Node)], variant: u8) -> String {
    let mut out = String::from("apiVersion: v1\nkind: ConfigMap # a comment\n");
    if variant & 1 == 1 {
        out.push_str("base: &base {a: 1, b: two}\nmerged:\n  a: 0\n  <<: *base\n  c: *base\n");
    }
    if variant & 4 == 4 {
        // Of a sequence of merged mappings the first wins; a quoted `"<<"` is an ordinary key.
        out.push_str("one: &one {a: 1, b: 1}\ntwo: &two {b: 2, c: 2}\nboth:\n  <<: [*one, *two]\n  \"<<\": quoted\n");
    }
    render_map(body, 0, &mut out);
    if variant & 2 == 2 {
        out.pop();
    }
    out
}

#[test]
fn generated_documents_read_as_the_reference_reads_them() {
    let cases: usize = std::env::var("KUBEVIGIL_YAML_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);
    let strategy = (
        prop::collection::vec((prop::sample::select(KEYS), node()), 1..5),
        0u8..8,
    );
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    let files: Vec<(String, String)> = (0..cases)
        .map(|i| {
            let (body, variant) = strategy.new_tree(&mut runner).unwrap().current();
            (format!("generated-{i}"), document(&body, variant))
        })
        .collect();
    let (outcome, differences) = compare(&files);
    // The generator writes valid YAML: most documents must be read by the reference, or the
    // test would compare little.
    assert!(
        outcome.accepted_by_reference * 10 >= outcome.documents * 8,
        "only {} of {} generated documents are valid YAML",
        outcome.accepted_by_reference,
        outcome.documents
    );
    report("generated", &outcome, &differences);
}
