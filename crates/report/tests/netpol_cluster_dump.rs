//! `netpol connectivity` on a cluster dump (`examples/cluster-dump`: `kubectl get pods -A -o
//! yaml` plus the policies), in every format: pods shown as their owning workload
//! (`shop/web[Deployment]`), one owner's differing pods kept apart, address ranges as CIDRs,
//! and the note listing rule peers that select nothing in the input.

use std::path::Path;

use kubevigil_model::{LoadOptions, Loaded, load_paths};
use kubevigil_netpol::{Cluster, Connections, diff, named};
use kubevigil_report::{Csv, Dot, Emitter, Json, Markdown, Table, Text};

fn dump() -> Loaded {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/cluster-dump");
    let loaded = load_paths(&[dir], &LoadOptions::default());
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    loaded
}

fn connectivity() -> Connections {
    let loaded = dump();
    let cluster = Cluster::from_inventory(&loaded.inventory);
    assert!(cluster.problems.is_empty(), "{:?}", cluster.problems);
    named::connectivity(&cluster, None)
}

fn emit<T: ?Sized>(format: &dyn Emitter<T>, result: &T) -> String {
    let mut out = Vec::new();
    format.emit(&mut out, result).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn cluster_dump_table() {
    let out = emit(&Table, &connectivity());
    // The pieces each behaviour adds, so a regression names itself before the snapshot does.
    for needle in [
        "shop/api[Deployment]",
        "shop/web[Deployment] (pod-template-hash=5d8f7c9b6)",
        "shop/web[Deployment] (pod-template-hash=7b9c4d5f8)",
        "shop/db[StatefulSet]",
        "shop/db-migrate[Job]",
        "monitoring/node-exporter[DaemonSet]",
        "10.2.0.0/15, 10.4.0.0/14, 10.8.0.0/13, 10.16.0.0/12, 10.32.0.0/11, 10.64.0.0/10, 10.128.0.0/9",
        "note: NetworkPolicy shop/web ingress[0].from[0] (namespaceSelector kubernetes.io/metadata.name=ingress-nginx) matches no namespace in the input",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
    assert!(!out.contains("10.0.0.0-"), "a FIRST-LAST range:\n{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn cluster_dump_json() {
    let out = emit(&Json, &connectivity());
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["unmatchedPeers"].as_array().unwrap().len(), 3, "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn cluster_dump_csv() {
    insta::assert_snapshot!(emit(&Csv, &connectivity()));
}

#[test]
fn cluster_dump_markdown() {
    insta::assert_snapshot!(emit(&Markdown, &connectivity()));
}

#[test]
fn cluster_dump_dot() {
    insta::assert_snapshot!(emit(&Dot, &connectivity()));
}

/// `netpol diff` from the manifests' view to the dump's: ranges as CIDRs there too.
#[test]
fn cluster_dump_diff_text() {
    let loaded = dump();
    let cluster = Cluster::from_inventory(&loaded.inventory);
    let new = named::connectivity(&cluster, None);
    let changes = diff::diff(&[], &new.conns);
    let out = emit(&Text, &changes[..]);
    assert!(
        out.contains("+ shop/api[Deployment] -> 10.0.0.0/16 : TCP 443\n"),
        "{out}"
    );
    insta::assert_snapshot!(out);
}
