//! Engine answers that the fixtures do not pin down: the connection count used by the
//! benchmarks, the coarsest IP-range partition (adjacent blocks with the same ports are one
//! range), and which third-party policies `can_reach` names as caveats (found by cargo-mutants,
//! issue 11).

use std::path::Path;

use kubevigil_model::load::load_text_into;
use kubevigil_model::{LoadOptions, Loaded};
use kubevigil_netpol::engine::Target;
use kubevigil_netpol::{Cluster, Endpoint, Engine, Protocol, can_reach, named};

/// The cluster borrows its objects: a test's few objects are leaked to live as long as it.
fn cluster(text: &str) -> Cluster<'static> {
    let mut loaded = Loaded::default();
    load_text_into("t.yaml", text, &LoadOptions::default(), &mut loaded);
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    Cluster::from_inventory(Box::leak(Box::new(loaded.inventory)))
}

fn pod(ns: &str, name: &str, app: &str) -> String {
    format!(
        "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {ns}, labels: {{app: {app}}}}}\nspec: {{containers: [{{name: c, image: x}}]}}\n"
    )
}

fn workload_pairs(c: &Cluster) -> usize {
    Engine::new(c)
        .connectivity()
        .connections
        .iter()
        .filter(|x| {
            matches!(
                (&x.src, &x.dst),
                (Endpoint::Workload(_), Endpoint::Workload(_))
            )
        })
        .count()
}

/// Three pods with no policy: every ordered pair of distinct pods, 3 × 2 = 6 (a pod is not
/// its own peer).
#[test]
fn count_connections_is_ordered_pairs_of_distinct_workloads() {
    let text = [
        pod("ns", "a", "x"),
        pod("ns", "b", "x"),
        pod("ns", "c", "x"),
    ]
    .concat();
    let c = cluster(&text);
    assert_eq!(Engine::new(&c).count_connections(), 6);
    assert_eq!(workload_pairs(&c), 6);
}

/// Two classes of different sizes (3 web, 2 db); db only admits web: web→web 6, web→db 6,
/// db→db 0 (isolated, not from db), db→web 6 — 18 in all.
#[test]
fn count_connections_across_classes_of_different_sizes() {
    let mut text = [
        pod("ns", "w1", "web"),
        pod("ns", "w2", "web"),
        pod("ns", "w3", "web"),
        pod("ns", "d1", "db"),
        pod("ns", "d2", "db"),
    ]
    .concat();
    text.push_str("---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: db, namespace: ns}\nspec:\n  podSelector: {matchLabels: {app: db}}\n  ingress:\n  - from: [{podSelector: {matchLabels: {app: web}}}]\n");
    let c = cluster(&text);
    assert_eq!(Engine::new(&c).count_connections(), 18);
    assert_eq!(workload_pairs(&c), 18);
    // Two equivalence classes: web (selected by no policy, matched by the rule's peer) and db
    // (selected by the policy); pods of one app are treated alike.
    assert_eq!(Engine::new(&c).class_count(), 2);
    assert_eq!(Engine::new(&c).connectivity().classes, 2);
}

/// Pods that no selector tells apart are one class, however many there are.
#[test]
fn pods_no_selector_distinguishes_form_one_class() {
    let text = [
        pod("ns", "a", "x"),
        pod("ns", "b", "y"),
        pod("ns", "c", "z"),
    ]
    .concat();
    assert_eq!(Engine::new(&cluster(&text)).class_count(), 1);
}

/// The count agrees with the materialised answer on every fixture.
#[test]
fn count_connections_agrees_with_connectivity_on_every_fixture() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut nonzero = 0;
    for entry in std::fs::read_dir(root).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path().join("input.yaml")).unwrap();
        let mut loaded = Loaded::default();
        load_text_into("t.yaml", &text, &LoadOptions::default(), &mut loaded);
        let c = Cluster::from_inventory(&loaded.inventory);
        let n = workload_pairs(&c);
        assert_eq!(Engine::new(&c).count_connections(), n);
        nonzero += usize::from(n > 0);
    }
    assert!(nonzero >= 5, "{nonzero}");
}

/// Two adjacent /9 blocks opening the same ports are one range in the answer: the output
/// partition is the coarsest one (neighbouring segments with equal traffic merge).
#[test]
fn adjacent_ip_blocks_with_equal_ports_are_one_range() {
    let mut text = pod("ns", "db", "db");
    text.push_str("---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: db, namespace: ns}\nspec:\n  podSelector: {}\n  policyTypes: [Ingress, Egress]\n  ingress:\n  - from: [{ipBlock: {cidr: 10.0.0.0/9}}]\n    ports: [{port: 5432}]\n  - from: [{ipBlock: {cidr: 10.128.0.0/9}}]\n    ports: [{port: 5432}]\n");
    let c = cluster(&text);
    let r = Engine::new(&c).connectivity();
    assert_eq!(
        named::lines(&named::resolve(&c, &r.ranges, &r.connections)),
        "10.0.0.0/8 -> ns/db : TCP 5432\n"
    );
}

/// A namespaced Calico or Cilium policy may change an answer only when one end is in its
/// namespace; a cluster-wide one always may.
#[test]
fn foreign_policy_caveat_only_for_its_namespace() {
    let foreign = "---\napiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: calico-deny, namespace: other}\nspec: {selector: all(), types: [Ingress]}\n";
    let text = [
        pod("ns", "a", "a"),
        pod("ns", "b", "b"),
        pod("other", "o", "o"),
        foreign.to_string(),
    ]
    .concat();
    let c = cluster(&text);
    let w = |s: &str| Target::Workload(c.find_workload(s).unwrap());
    let caveats = |from: &str, to: &str| {
        can_reach(&c, w(from), w(to), Protocol::Tcp, 80)
            .caveats
            .len()
    };
    assert_eq!(caveats("ns/a", "ns/b"), 0);
    assert_eq!(caveats("other/o", "ns/b"), 1);
    assert_eq!(caveats("ns/a", "other/o"), 1);
    let ip = Target::Ip("10.0.0.1".parse().unwrap());
    assert_eq!(
        can_reach(&c, ip, w("ns/b"), Protocol::Tcp, 80)
            .caveats
            .len(),
        0
    );
    assert_eq!(
        can_reach(&c, w("other/o"), ip, Protocol::Tcp, 80)
            .caveats
            .len(),
        1
    );
}
