//! Each NetworkPolicy result in each format, once: the connectivity map as `netpol
//! connectivity` prints it (table, JSON, CSV, Markdown, DOT) and the answer of `netpol
//! can-reach` (text, JSON); and the renderers never panic on mutated fixtures.

use std::path::Path;

use kubevigil_model::load::load_text_into;
use kubevigil_model::{Inventory, LoadOptions, Loaded};
use kubevigil_netpol::{Cluster, Connections, Engine, Reachability, diff, named};
use kubevigil_report::{Csv, Dot, Emitter, Json, Markdown, Table, Text};
use serde_json::Value;

#[path = "../../netpol/tests/common/mod.rs"]
mod common;

/// Two namespaces, a default deny with exceptions by label, namespace and address block, a
/// named port, a Calico policy (a caveat), and a workload name with a comma and a quote.
const MANIFESTS: &str = r#"apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {team: shop}}
---
apiVersion: v1
kind: Namespace
metadata: {name: ops, labels: {team: ops}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: web
        ports: [{name: http, containerPort: 8080}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: shop}
spec:
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
      - {name: db, image: db}
---
apiVersion: v1
kind: Pod
metadata: {name: "probe,\"x\"", namespace: ops, labels: {app: probe}}
spec:
  containers:
  - {name: probe, image: probe}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: shop}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress, Egress]
  ingress:
  - from:
    - ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8]}
    - namespaceSelector: {matchLabels: {team: ops}}
    ports: [{port: http}]
  egress:
  - to: [{podSelector: {matchLabels: {app: db}}}]
    ports: [{port: 5432}, {protocol: UDP, port: 53, endPort: 54}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db, namespace: shop}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: web}}}]
    ports: [{port: 5432}]
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: calico-deny, namespace: ops}
spec: {selector: all()}
"#;

fn loaded() -> Loaded {
    let mut loaded = Loaded::default();
    load_text_into("all.yaml", MANIFESTS, &LoadOptions::default(), &mut loaded);
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    loaded
}

fn emit<T: ?Sized>(format: &dyn Emitter<T>, result: &T) -> String {
    let mut out = Vec::new();
    format.emit(&mut out, result).unwrap();
    String::from_utf8(out).unwrap()
}

fn connectivity() -> Connections {
    let loaded = loaded();
    let cluster = Cluster::from_inventory(&loaded.inventory);
    assert!(cluster.problems.is_empty(), "{:?}", cluster.problems);
    let result = named::connectivity(&cluster, None);
    assert!(!result.caveats.is_empty() && !result.conns.is_empty());
    result
}

#[test]
fn connectivity_table() {
    insta::assert_snapshot!(emit(&Table, &connectivity()));
}

#[test]
fn connectivity_json() {
    insta::assert_snapshot!(emit(&Json, &connectivity()));
}

#[test]
fn connectivity_csv() {
    insta::assert_snapshot!(emit(&Csv, &connectivity()));
}

#[test]
fn connectivity_markdown() {
    insta::assert_snapshot!(emit(&Markdown, &connectivity()));
}

#[test]
fn connectivity_dot() {
    insta::assert_snapshot!(emit(&Dot, &connectivity()));
}

#[test]
fn connectivity_focus_keeps_one_workloads_connections() {
    let loaded = loaded();
    let cluster = Cluster::from_inventory(&loaded.inventory);
    let db = cluster.find_workload("shop/db").unwrap();
    let focused = named::connectivity(&cluster, Some(db));
    assert!(!focused.conns.is_empty());
    for c in &focused.conns {
        assert!(c.src.to_string() == "shop/db" || c.dst.to_string() == "shop/db");
    }
    assert!(focused.conns.len() < connectivity().conns.len());
}

#[test]
fn can_reach_text_and_json() {
    let loaded = loaded();
    let cluster = Cluster::from_inventory(&loaded.inventory);
    let mut both = String::new();
    for (from, to, port) in [
        ("shop/web", "shop/db", "5432/TCP"),
        ("203.0.113.9", "shop/web", "http"),
        ("10.1.2.3", "shop/web", "8080"),
        ("shop/db", "shop/web", "8080"),
    ] {
        let answer = Reachability::ask(&cluster, from, to, port).unwrap();
        both += &emit(&Text, &answer);
        both += &emit(&Json, &answer);
    }
    insta::assert_snapshot!(both);
}

#[test]
fn can_reach_questions_that_cannot_be_asked() {
    let loaded = loaded();
    let cluster = Cluster::from_inventory(&loaded.inventory);
    let err = |from, to, port| Reachability::ask(&cluster, from, to, port).unwrap_err();
    assert_eq!(
        err("10.0.0.1", "10.0.0.2", "80"),
        "at least one of --from and --to must be a workload"
    );
    assert_eq!(
        err("shop/web", "shop/db", "80/ICMP"),
        "--port \"80/ICMP\": protocol must be TCP, UDP or SCTP"
    );
    assert_eq!(
        err("shop/web", "shop/db", "http"),
        "--port \"http\": not a port number, nor a TCP container port name of shop/db"
    );
    assert_eq!(
        err("shop/web", "10.0.0.1", "0"),
        "--port \"0\": must be a number from 1 to 65535"
    );
}

fn render_all(inventory: &Inventory) {
    let cluster = Cluster::from_inventory(inventory);
    let result = named::connectivity(&cluster, None);
    for format in [
        &Table as &dyn Emitter<Connections>,
        &Json,
        &Csv,
        &Markdown,
        &Dot,
    ] {
        let _ = emit(format, &result);
    }
}

/// As `crates/netpol/tests/robustness.rs` does for the engine: every netpol fixture, one node
/// at a time replaced by a value of another JSON type, rendered in every format.
#[test]
fn mutated_fixtures_never_panic_a_renderer() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../netpol/tests/fixtures");
    let runs = common::for_each_mutated_fixture(&root, render_all);
    assert!(runs > 2_000, "{runs}");
}

/// `netpol diff` text and JSON (moved here from `crates/netpol/tests/reach_and_diff.rs` with the
/// renderers).
#[test]
fn diff_text_and_json() {
    let inventory = |text: &str| {
        let mut loaded = Loaded::default();
        load_text_into("in.yaml", text, &LoadOptions::default(), &mut loaded);
        loaded.inventory
    };
    let pods = "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: ns, labels: {app: web}}\nspec: {containers: [{name: c, image: x}]}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: db, namespace: ns, labels: {app: db}}\nspec: {containers: [{name: c, image: x}]}\n";
    let old_policy = "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: db, namespace: ns}\nspec:\n  podSelector: {matchLabels: {app: db}}\n  ingress:\n  - from: [{ipBlock: {cidr: 10.0.0.0/8}}]\n";
    let new_policy = "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: db, namespace: ns}\nspec:\n  podSelector: {matchLabels: {app: db}}\n  ingress:\n  - from: [{podSelector: {matchLabels: {app: web}}}, {ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}}]\n    ports: [{port: 5432}]\n";
    let (old, new) = (
        inventory(&format!("{pods}{old_policy}")),
        inventory(&format!("{pods}{new_policy}")),
    );
    let (old, new) = (Cluster::from_inventory(&old), Cluster::from_inventory(&new));
    let conns = |c: &Cluster| {
        let r = Engine::new(c).connectivity();
        named::resolve(c, &r.ranges, &r.connections)
    };
    let changes = diff::diff(&conns(&old), &conns(&new));
    assert_eq!(
        emit(&Text, &changes[..]),
        "+ ns/web -> ns/db : TCP 5432\n\
         ~ 10.0.0.0/16 -> ns/db : All => TCP 5432\n\
         - 10.1.0.0/16 -> ns/db : All\n\
         ~ 10.2.0.0/15, 10.4.0.0/14, 10.8.0.0/13, 10.16.0.0/12, 10.32.0.0/11, 10.64.0.0/10, 10.128.0.0/9 -> ns/db : All => TCP 5432\n"
    );
    let text = emit(&Json, &changes[..]);
    let json: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["added"][0]["conn"]["ports"][0]["port"], 5432);
    assert_eq!(
        json["removed"][0]["src"]["cidrs"],
        serde_json::json!(["10.1.0.0/16"])
    );
    assert_eq!(json["changed"].as_array().unwrap().len(), 2);
    insta::assert_snapshot!(text);
    assert_eq!(
        emit(&Text, &diff::diff(&conns(&new), &conns(&new))[..]),
        "no connection changed\n"
    );
}
